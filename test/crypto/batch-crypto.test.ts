import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HASH_BYTES, MERKLE_MAX_DEPTH, SKIP_SPAN, type BatchCrypto } from '../../src/crypto/batch-crypto.js';
import { loadAddon } from '../../src/crypto/native-addon.js';
import { nodeBatchCrypto } from '../../src/crypto/node-batch.js';
import { needClients } from '../clients/available.js';
import { REPO_ROOT } from '../helpers/paths.js';

// The two paths of the batch crypto must give the same bytes: the native addon (OpenSSL through
// N-API) and the node:crypto fallback. Both are held to the vectors of test/vectors (expected
// values from python3's hashlib/hmac), to an independent recomputation here, and to each other.

const clients = needClients('crypto-addon');
const loaded = loadAddon();
const paths: [string, BatchCrypto][] = [['node', nodeBatchCrypto]];
if (loaded.crypto) paths.push(['native', loaded.crypto]);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const vectors = (name: string): any => JSON.parse(readFileSync(join(REPO_ROOT, 'test/vectors', name), 'utf8'));

/** Lays entries out as a sealed batch does: each followed by room for its MAC and a gap. */
function layout(entries: Uint8Array[], gap = 3): { buf: Buffer; spans: Uint32Array; macAt: Uint32Array } {
  const spans = new Uint32Array(2 * entries.length);
  const macAt = new Uint32Array(entries.length);
  let size = 0;
  for (const e of entries) size += e.length + HASH_BYTES + gap;
  const buf = Buffer.alloc(size, 0xee);
  let o = 0;
  entries.forEach((e, i) => {
    buf.set(e, o);
    spans[2 * i] = o;
    spans[2 * i + 1] = o + e.length;
    macAt[i] = o + e.length;
    o += e.length + HASH_BYTES + gap;
  });
  return { buf, spans, macAt };
}

/** Independent of both paths: one createHmac per step. */
function referenceChain(key: Uint8Array, head: Uint8Array, entries: Uint8Array[]): Buffer[] {
  let prev = Buffer.from(head);
  return entries.map((e) => (prev = createHmac('sha256', key).update(prev).update(e).digest()));
}

/** RFC 9162 MTH, written recursively from the RFC's definition. */
function referenceRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return createHash('sha256').update(Buffer.from([0x01])).update(referenceRoot(leaves.slice(0, k))).update(referenceRoot(leaves.slice(k))).digest();
}

/** The compact range's root, folded as MerkleAccumulator.root does. */
function rootOf(stack: Uint8Array, depth: number): Buffer {
  if (depth === 0) return createHash('sha256').digest();
  let r = Buffer.from(stack.subarray((depth - 1) * HASH_BYTES, depth * HASH_BYTES));
  for (let k = depth - 2; k >= 0; k--) r = createHash('sha256').update(Buffer.from([0x01])).update(stack.subarray(k * HASH_BYTES, (k + 1) * HASH_BYTES)).update(r).digest();
  return r;
}

function appendAll(c: BatchCrypto, leaves: Buffer[], chunks: number[]): Buffer {
  const stack = new Uint8Array(MERKLE_MAX_DEPTH * HASH_BYTES);
  const heights = new Uint8Array(MERKLE_MAX_DEPTH);
  let depth = 0;
  let at = 0;
  for (const n of chunks) {
    const take = leaves.slice(at, at + n);
    depth = c.merkleAppend(stack, heights, depth, Buffer.concat(take), take.length);
    at += take.length;
  }
  if (at < leaves.length) depth = c.merkleAppend(stack, heights, depth, Buffer.concat(leaves.slice(at)), leaves.length - at);
  return rootOf(stack, depth);
}

clients.describe('batch crypto: the native addon and node:crypto give the same bytes', () => {
  it('both paths are here (the addon is built and loads)', () => {
    expect(paths.map(([name]) => name)).toEqual(['node', 'native']);
  });

  for (const [name, c] of paths) {
    describe(`${name} path`, () => {
      it('reproduces the MAC chain of test/vectors/chain-v1.json, block by block', () => {
        const v = vectors('chain-v1.json');
        for (const block of v.chain.blocks) {
          const entries = block.steps.map((s: { entry: number }) => Buffer.from(v.entries[s.entry].encoding_hex, 'hex'));
          const { buf, spans, macAt } = layout(entries);
          c.sealMacs(Buffer.from(block.key_hex, 'hex'), Buffer.from(block.steps[0].previous_hex, 'hex'), buf, spans);
          expect(block.steps.map((_: unknown, i: number) => hex(buf.subarray(macAt[i]!, macAt[i]! + 32)))).toEqual(block.steps.map((s: { mac_hex: string }) => s.mac_hex));
          const out = Buffer.alloc(32 * entries.length);
          expect(c.checkMacs(Buffer.from(block.key_hex, 'hex'), Buffer.from(block.steps[0].previous_hex, 'hex'), buf, spans, macAt, out)).toBe(0);
        }
      });

      it('reproduces the leaf hashes and tree heads of test/vectors/merkle-v1.json', () => {
        const v = vectors('merkle-v1.json');
        const inputs = v.leaves.map((l: { data_hex: string }) => Buffer.concat([Buffer.from([0x00]), Buffer.from(l.data_hex, 'hex')]));
        const { buf, spans } = layout(inputs);
        const out = Buffer.alloc(32 * inputs.length);
        c.leafHashes(buf, spans, out);
        const leaves = inputs.map((_: unknown, i: number) => out.subarray(32 * i, 32 * (i + 1)));
        expect(leaves.map(hex)).toEqual(v.leaves.map((l: { leaf_hash_hex: string }) => l.leaf_hash_hex));
        for (const r of v.roots) expect(hex(appendAll(c, leaves.slice(0, r.size), [1, 2, 3]))).toBe(r.root_hex);
      });

      it('entries of 0 to 70,000 bytes: the chain, the leaves and the root match node:crypto called per entry', () => {
        const sizes = [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 1000, 4096, 65_535, 65_536, 70_000];
        const entries = sizes.map((n) => randomBytes(n));
        const key = randomBytes(32);
        const head = randomBytes(32);
        const { buf, spans, macAt } = layout(entries);
        c.sealMacs(key, head, buf, spans);
        expect(entries.map((_, i) => hex(buf.subarray(macAt[i]!, macAt[i]! + 32)))).toEqual(referenceChain(key, head, entries).map(hex));
        const leafInputs = entries.map((e) => Buffer.concat([Buffer.from([0x00]), e]));
        const l = layout(leafInputs);
        const out = Buffer.alloc(32 * entries.length);
        c.leafHashes(l.buf, l.spans, out);
        const want = leafInputs.map((x) => createHash('sha256').update(x).digest());
        expect(hex(out)).toBe(hex(Buffer.concat(want)));
        expect(hex(appendAll(c, want, [5, 0, 7]))).toBe(hex(referenceRoot(want)));
      });

      it('checkMacs chains on the stored MAC: an edited entry is one mismatch, an edited MAC two; a skipped span counts none', () => {
        const entries = Array.from({ length: 20 }, (_, i) => randomBytes(100 + i));
        const key = randomBytes(32);
        const head = randomBytes(32);
        const { buf, spans, macAt } = layout(entries);
        c.sealMacs(key, head, buf, spans);
        const out = Buffer.alloc(32 * 20);
        buf[spans[2 * 4]! + 7]! ^= 1;
        expect(c.checkMacs(key, head, buf, spans, macAt, out)).toBe(1);
        buf[macAt[9]!]! ^= 1;
        expect(c.checkMacs(key, head, buf, spans, macAt, out)).toBe(3);
        const skipped = spans.slice();
        skipped[2 * 4] = SKIP_SPAN;
        skipped[2 * 4 + 1] = SKIP_SPAN;
        expect(c.checkMacs(key, head, buf, skipped, macAt, out)).toBe(2);
        expect(hex(out.subarray(32 * 4, 32 * 5))).toBe('00'.repeat(32));
      });

      it('refuses spans outside the buffer, overlapping MACs and leaf inputs without the 0x00 prefix (RangeError, nothing read past the end)', () => {
        const buf = Buffer.alloc(100);
        const key = randomBytes(32);
        const head = randomBytes(32);
        expect(() => c.sealMacs(key, head, buf, new Uint32Array([0, 80]))).toThrow(RangeError);
        expect(() => c.sealMacs(key, head, buf, new Uint32Array([0, 10, 20, 30]))).toThrow(RangeError);
        expect(() => c.checkMacs(key, head, buf, new Uint32Array([0, 101]), new Uint32Array([0]), Buffer.alloc(32))).toThrow(RangeError);
        expect(() => c.checkMacs(key, head, buf, new Uint32Array([0, 10]), new Uint32Array([90]), Buffer.alloc(32))).toThrow(RangeError);
        buf[50] = 1;
        expect(() => c.leafHashes(buf, new Uint32Array([50, 60]), Buffer.alloc(32))).toThrow(RangeError);
        expect(() => c.leafHashes(buf, new Uint32Array([0, 101]), Buffer.alloc(32))).toThrow(RangeError);
      });
    });
  }

  it('random batches (fast-check): both paths write the same buffer, the same expected MACs and the same leaves and roots', () => {
    if (paths.length < 2) return;
    const [, native] = paths[1]!;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 60 }),
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(fc.nat({ max: 1000 }), { maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { maxLength: 8 }),
        (entries, key, head, flips, chunks) => {
          const a = layout(entries);
          const b = layout(entries);
          nodeBatchCrypto.sealMacs(key, head, a.buf, a.spans);
          native.sealMacs(key, head, b.buf, b.spans);
          expect(hex(b.buf)).toBe(hex(a.buf));
          for (const f of flips) if (a.buf.length > 0) a.buf[f % a.buf.length]! ^= 0x40;
          const outA = Buffer.alloc(32 * entries.length);
          const outB = Buffer.alloc(32 * entries.length);
          expect(native.checkMacs(key, head, a.buf, a.spans, a.macAt, outB)).toBe(nodeBatchCrypto.checkMacs(key, head, a.buf, a.spans, a.macAt, outA));
          expect(hex(outB)).toBe(hex(outA));
          const leafInputs = entries.map((e) => Buffer.concat([Buffer.from([0x00]), e]));
          const l = layout(leafInputs);
          const la = Buffer.alloc(32 * entries.length);
          const lb = Buffer.alloc(32 * entries.length);
          nodeBatchCrypto.leafHashes(l.buf, l.spans, la);
          native.leafHashes(l.buf, l.spans, lb);
          expect(hex(lb)).toBe(hex(la));
          const leaves = entries.map((_, i) => la.subarray(32 * i, 32 * (i + 1)));
          const root = hex(referenceRoot(leaves));
          expect(hex(appendAll(nodeBatchCrypto, leaves, chunks))).toBe(root);
          expect(hex(appendAll(native, leaves, chunks))).toBe(root);
        },
      ),
      { numRuns: 300 },
    );
  });
});
