// Checks src/checkpoint (Merkle tree, checkpoint v1 layout, signing) against
// test/vectors/merkle-v1.json and test/vectors/checkpoint-v1.json, whose expected values come
// from test/vectors/make_checkpoint_vectors.py (python3 + python3-cryptography, RFC 9162 §2.1
// written out as its recursive definitions, the first 8 roots pinned to the published
// Certificate Transparency tree heads), never from this code.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeEntry, type EntryFields } from '../../src/chain/encoding.js';
import { openEscrow } from '../../src/chain/escrow.js';
import { fingerprint, publicFromPrivate } from '../../src/chain/keys.js';
import { chainMac, genesisHash } from '../../src/chain/mac.js';
import {
  CHECKPOINT_BYTES,
  CHECKPOINT_VERSION,
  checkpointHash,
  decodeCheckpoint,
  encodeCheckpoint,
  encodeCheckpointBody,
  GENESIS_PREVIOUS,
  REASONS,
  SIGNATURE_BYTES,
  SIGNING_CONTEXT,
  signingPayload,
  type Checkpoint,
  type CheckpointBody,
  type CheckpointReason,
} from '../../src/checkpoint/format.js';
import {
  EMPTY_TREE_ROOT,
  inclusionProof,
  leafHash,
  MerkleAccumulator,
  merkleRoot,
  nodeHash,
  rootFromInclusionProof,
} from '../../src/checkpoint/merkle.js';
import { checkpointSignatureValid, signCheckpoint } from '../../src/checkpoint/sign.js';
import type { TransportName } from '../../src/chain/entry-format.js';
import { needClients } from '../clients/available.js';
import { codeOf } from '../helpers/throws.js';

/** Regenerating the vectors needs python3-cryptography; the rest of the file reads them. */
const generator = needClients('python3-cryptography');

const PYTHON = '/usr/bin/python3';
const VECTORS_DIR = fileURLToPath(new URL('../vectors/', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

interface MerkleVectors {
  format: string;
  leaves: { index: number; data_hex: string; leaf_hash_hex: string }[];
  roots: { size: number; root_hex: string }[];
  inclusion: { index: number; size: number; path_hex: string[] }[];
}

interface CheckpointVector {
  name: string;
  signer_seed_hex: string;
  signer_public_key_hex: string;
  fields: {
    fingerprint_hex: string;
    index: number;
    previous_hash_hex: string;
    first_seq: number;
    count: number;
    chain_head_hex: string;
    entry_root_hex: string;
    block_key_hex: string;
    next_key_escrow_hex: string;
    next_signing_key_hex: string;
    time_us: number;
    reason: CheckpointReason;
  };
  body_hex: string;
  signature_hex: string;
  bytes_hex: string;
  hash_hex: string;
  block_entries?: number[];
}

interface CheckpointVectors {
  format: string;
  signing_context_hex: string;
  body_bytes: number;
  checkpoint_bytes: number;
  reasons: Record<string, number>;
  identity: { ed25519_private_seed_hex: string; public_key_hex: string; fingerprint_hex: string; genesis_hex: string };
  auditor_x25519_private_key_hex: string;
  chain: CheckpointVector[];
  standalone: CheckpointVector[];
}

interface ChainVectors {
  entries: { seq: number; received_at_us: number; transport: TransportName; flags: number; listener: string; peer_address: string; peer_port: number; raw_hex: string }[];
  chain: { blocks: { block: number; key_hex: string; steps: { entry: number; mac_hex: string }[] }[] };
  auditor: { x25519_private_key_hex: string; x25519_public_key_hex: string };
}

const M = JSON.parse(readFileSync(`${VECTORS_DIR}merkle-v1.json`, 'utf8')) as MerkleVectors;
const C = JSON.parse(readFileSync(`${VECTORS_DIR}checkpoint-v1.json`, 'utf8')) as CheckpointVectors;
const CH = JSON.parse(readFileSync(`${VECTORS_DIR}chain-v1.json`, 'utf8')) as ChainVectors;
const ALL = [...C.chain, ...C.standalone];

const LEAF_HASHES = M.leaves.map((l) => hex(l.leaf_hash_hex));

function body(v: CheckpointVector): CheckpointBody {
  const f = v.fields;
  return {
    fingerprint: hex(f.fingerprint_hex),
    index: f.index,
    previousHash: hex(f.previous_hash_hex),
    firstSeq: f.first_seq,
    count: f.count,
    chainHead: hex(f.chain_head_hex),
    entryRoot: hex(f.entry_root_hex),
    blockKey: hex(f.block_key_hex),
    nextKeyEscrow: hex(f.next_key_escrow_hex),
    nextSigningKey: hex(f.next_signing_key_hex),
    timeUs: f.time_us,
    reason: f.reason,
  };
}

function full(v: CheckpointVector): Checkpoint {
  return { ...body(v), signature: hex(v.signature_hex) };
}

function hexAll(bs: readonly Buffer[]): string[] {
  return bs.map((b) => b.toString('hex'));
}

describe('vector files', () => {
  generator.it('are what make_checkpoint_vectors.py generates (python3 + python3-cryptography)', () => {
    const r = spawnSync(PYTHON, [`${VECTORS_DIR}make_checkpoint_vectors.py`, '--check'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message} (CI must install python3 and python3-cryptography)`);
    expect(r.status, r.stderr).toBe(0);
  });

  it('cover what they promise', () => {
    expect(M.format).toBe('immutalog merkle vectors v1');
    expect(M.roots.map((r) => r.size)).toEqual(Array.from({ length: 18 }, (_, i) => i));
    expect([...new Set(M.inclusion.map((p) => p.size))]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 17]);
    expect(M.inclusion).toHaveLength(45 + 17);
    expect(C.format).toBe('immutalog checkpoint vectors v1');
    expect(C.chain).toHaveLength(3);
    expect(new Set(ALL.map((v) => v.fields.reason))).toEqual(new Set(Object.keys(REASONS)));
    expect(C.reasons).toEqual(REASONS);
  });
});

describe('RFC 6962 Merkle tree (src/checkpoint/merkle.ts)', () => {
  it('leafHash is SHA-256(0x00 || d) for every vector leaf', () => {
    for (const l of M.leaves) expect(leafHash(hex(l.data_hex)).toString('hex'), `leaf ${l.index}`).toBe(l.leaf_hash_hex);
  });

  it('the empty tree is SHA-256 of the empty string', () => {
    expect(EMPTY_TREE_ROOT.toString('hex')).toBe(M.roots[0]!.root_hex);
    expect(merkleRoot([]).toString('hex')).toBe(M.roots[0]!.root_hex);
    expect(new MerkleAccumulator().root().toString('hex')).toBe(M.roots[0]!.root_hex);
  });

  it.each(M.roots.map((r) => [r.size, r.root_hex] as const))('merkleRoot of %i leaves', (size, root) => {
    expect(merkleRoot(LEAF_HASHES.slice(0, size)).toString('hex')).toBe(root);
  });

  it('MerkleAccumulator gives every prefix root as it grows, and counts its leaves', () => {
    const acc = new MerkleAccumulator();
    expect(acc.size).toBe(0);
    for (let n = 1; n < M.roots.length; n++) {
      acc.addLeafHash(LEAF_HASHES[n - 1]!);
      expect(acc.size).toBe(n);
      expect(acc.root().toString('hex'), `size ${n}`).toBe(M.roots[n]!.root_hex);
      expect(acc.root().toString('hex'), `size ${n}, root() twice`).toBe(M.roots[n]!.root_hex);
    }
  });

  it('nodeHash is SHA-256(0x01 || l || r): the size-2 root', () => {
    expect(nodeHash(LEAF_HASHES[0]!, LEAF_HASHES[1]!).toString('hex')).toBe(M.roots[2]!.root_hex);
  });

  it.each(M.inclusion.map((p) => [p.index, p.size, p] as const))('inclusionProof(%i) in a tree of %i is the vector path', (index, size, p) => {
    expect(hexAll(inclusionProof(LEAF_HASHES.slice(0, size), index))).toEqual(p.path_hex);
  });

  it('rootFromInclusionProof reaches the vector root for every vector path', () => {
    for (const p of M.inclusion) {
      const r = rootFromInclusionProof(LEAF_HASHES[p.index]!, p.index, p.size, p.path_hex.map(hex));
      expect(r?.toString('hex'), `index ${p.index} size ${p.size}`).toBe(M.roots[p.size]!.root_hex);
    }
  });

  it('a path one hash too short or too long gives undefined', () => {
    for (const p of M.inclusion) {
      const path = p.path_hex.map(hex);
      const leaf = LEAF_HASHES[p.index]!;
      const where = `index ${p.index} size ${p.size}`;
      expect(rootFromInclusionProof(leaf, p.index, p.size, [...path, Buffer.alloc(32)]), where).toBeUndefined();
      if (path.length > 0) expect(rootFromInclusionProof(leaf, p.index, p.size, path.slice(0, -1)), where).toBeUndefined();
    }
  });

  it('an index outside the tree, or a non-integer index or size, gives undefined', () => {
    const p = M.inclusion.find((x) => x.size === 17 && x.index === 16)!;
    const path = p.path_hex.map(hex);
    const leaf = LEAF_HASHES[16]!;
    expect(rootFromInclusionProof(leaf, 17, 17, path)).toBeUndefined();
    expect(rootFromInclusionProof(leaf, 18, 17, path)).toBeUndefined();
    expect(rootFromInclusionProof(leaf, -1, 17, path)).toBeUndefined();
    expect(rootFromInclusionProof(leaf, 1.5, 17, path)).toBeUndefined();
    expect(rootFromInclusionProof(leaf, 0, 0, [])).toBeUndefined();
    expect(rootFromInclusionProof(leaf, 16, 17.5, path)).toBeUndefined();
  });

  it('a path used at the wrong index never reaches the root', () => {
    for (const size of [5, 8, 9, 17]) {
      const root = M.roots[size]!.root_hex;
      for (const p of M.inclusion.filter((x) => x.size === size)) {
        for (let other = 0; other < size; other++) {
          if (other === p.index) continue;
          const r = rootFromInclusionProof(LEAF_HASHES[p.index]!, other, size, p.path_hex.map(hex));
          expect(r?.toString('hex'), `path of ${p.index} used at ${other}, size ${size}`).not.toBe(root);
        }
      }
    }
  });

  it('a path checked against another tree size gives undefined or another root', () => {
    const p = M.inclusion.find((x) => x.size === 8 && x.index === 5)!;
    for (const size of [6, 7, 9, 17]) {
      const r = rootFromInclusionProof(LEAF_HASHES[5]!, 5, size, p.path_hex.map(hex));
      expect(r?.toString('hex')).not.toBe(M.roots[size]!.root_hex);
    }
    // size 6 and 7 need a shorter path than size 8: the length check alone rejects it
    expect(rootFromInclusionProof(LEAF_HASHES[5]!, 5, 6, p.path_hex.map(hex))).toBeUndefined();
  });

  it('a flipped bit in the leaf or in any path hash changes the root', () => {
    const p = M.inclusion.find((x) => x.size === 17 && x.index === 11)!;
    const root = M.roots[17]!.root_hex;
    const leaf = Buffer.from(LEAF_HASHES[11]!);
    leaf[0]! ^= 1;
    expect(rootFromInclusionProof(leaf, 11, 17, p.path_hex.map(hex))?.toString('hex')).not.toBe(root);
    for (let i = 0; i < p.path_hex.length; i++) {
      const path = p.path_hex.map(hex);
      path[i]![31]! ^= 0x80;
      expect(rootFromInclusionProof(LEAF_HASHES[11]!, 11, 17, path)?.toString('hex')).not.toBe(root);
    }
  });

  it('inclusionProof rejects an index outside the tree with a RangeError', () => {
    expect(() => inclusionProof(LEAF_HASHES.slice(0, 3), 3)).toThrow(RangeError);
    expect(() => inclusionProof(LEAF_HASHES.slice(0, 3), -1)).toThrow(RangeError);
    expect(() => inclusionProof([], 0)).toThrow(RangeError);
  });
});

describe('checkpoint v1 layout (src/checkpoint/format.ts)', () => {
  it('has the documented sizes and signing context', () => {
    expect(CHECKPOINT_BYTES).toBe(C.checkpoint_bytes);
    expect(CHECKPOINT_BYTES - SIGNATURE_BYTES).toBe(C.body_bytes);
    expect(SIGNATURE_BYTES).toBe(64);
    expect(CHECKPOINT_VERSION).toBe(1);
    expect(SIGNING_CONTEXT.toString('hex')).toBe(C.signing_context_hex);
    expect(GENESIS_PREVIOUS.toString('hex')).toBe('00'.repeat(32));
  });

  it.each(ALL.map((v) => [v.name, v] as const))('%s: body, signing payload, full bytes and hash', (_n, v) => {
    const b = encodeCheckpointBody(body(v));
    expect(b.toString('hex')).toBe(v.body_hex);
    expect(signingPayload(b).toString('hex')).toBe(C.signing_context_hex + v.body_hex);
    const bytes = encodeCheckpoint(full(v));
    expect(bytes.toString('hex')).toBe(v.bytes_hex);
    expect(v.bytes_hex).toBe(v.body_hex + v.signature_hex);
    expect(checkpointHash(bytes).toString('hex')).toBe(v.hash_hex);
  });

  it.each(ALL.map((v) => [v.name, v] as const))('%s: decodes to its fields and re-encodes byte-exact', (_n, v) => {
    const bytes = hex(v.bytes_hex);
    const cp = decodeCheckpoint(bytes);
    const f = v.fields;
    expect({
      fingerprint_hex: cp.fingerprint.toString('hex'),
      index: cp.index,
      previous_hash_hex: cp.previousHash.toString('hex'),
      first_seq: cp.firstSeq,
      count: cp.count,
      chain_head_hex: cp.chainHead.toString('hex'),
      entry_root_hex: cp.entryRoot.toString('hex'),
      block_key_hex: cp.blockKey.toString('hex'),
      next_key_escrow_hex: cp.nextKeyEscrow.toString('hex'),
      next_signing_key_hex: cp.nextSigningKey.toString('hex'),
      time_us: cp.timeUs,
      reason: cp.reason,
    }).toEqual(f);
    expect(cp.signature.toString('hex')).toBe(v.signature_hex);
    expect(encodeCheckpoint(cp).equals(bytes)).toBe(true);
  });

  const good = hex(C.chain[0]!.bytes_hex);
  const malformed: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte short', good.subarray(0, CHECKPOINT_BYTES - 1)],
    ['one byte long', Buffer.concat([good, Buffer.from([0])])],
    ['body only (no signature)', good.subarray(0, CHECKPOINT_BYTES - SIGNATURE_BYTES)],
    ['version 0', Buffer.from([0, ...good.subarray(1)])],
    ['version 2', Buffer.from([2, ...good.subarray(1)])],
  ];
  // The reason byte is the last byte of the body.
  const reasonAt = CHECKPOINT_BYTES - SIGNATURE_BYTES - 1;
  for (const r of [0, 6, 255]) {
    const b = Buffer.from(good);
    b[reasonAt] = r;
    malformed.push([`reason ${r}`, b]);
  }
  // u64 fields above 2^53 - 1 cannot be held exactly: index (offset 33), first seq (73), count (81), time (310).
  for (const [field, at] of [['index', 33], ['first seq', 73], ['count', 81], ['time', 310]] as const) {
    const b = Buffer.from(good);
    b.writeBigUInt64BE(2n ** 53n, at);
    malformed.push([`${field} 2^53`, b]);
  }
  it.each(malformed)('decodeCheckpoint rejects %s with CHECKPOINT_MALFORMED', (_n, b) => {
    expect(codeOf(() => decodeCheckpoint(b))).toBe('CHECKPOINT_MALFORMED');
  });

  it('the offsets used above are the vector field offsets', () => {
    const v = C.standalone[0]!;
    const b = hex(v.bytes_hex);
    expect(Number(b.readBigUInt64BE(33))).toBe(v.fields.index);
    expect(Number(b.readBigUInt64BE(73))).toBe(v.fields.first_seq);
    expect(Number(b.readBigUInt64BE(81))).toBe(v.fields.count);
    expect(Number(b.readBigUInt64BE(310))).toBe(v.fields.time_us);
    expect(b[reasonAt]).toBe(REASONS[v.fields.reason]);
  });

  it('encodeCheckpointBody rejects a field of the wrong size or range with CHECKPOINT_MALFORMED', () => {
    const b = body(C.chain[0]!);
    const cases: Partial<CheckpointBody>[] = [
      { fingerprint: Buffer.alloc(31) },
      { previousHash: Buffer.alloc(33) },
      { chainHead: Buffer.alloc(0) },
      { entryRoot: Buffer.alloc(31) },
      { blockKey: Buffer.alloc(16) },
      { nextKeyEscrow: Buffer.alloc(92) },
      { nextSigningKey: Buffer.alloc(33) },
      { index: -1 },
      { index: 2 ** 53 },
      { firstSeq: 1.5 },
      { count: Number.NaN },
      { timeUs: -1 },
      { reason: 'sometimes' as CheckpointReason },
    ];
    for (const c of cases) expect(codeOf(() => encodeCheckpointBody({ ...b, ...c })), JSON.stringify(Object.keys(c))).toBe('CHECKPOINT_MALFORMED');
    expect(codeOf(() => encodeCheckpoint({ ...b, signature: Buffer.alloc(63) }))).toBe('CHECKPOINT_MALFORMED');
  });
});

describe('checkpoint signatures (src/checkpoint/sign.ts)', () => {
  const pairOf = (v: CheckpointVector) => ({ privateKey: hex(v.signer_seed_hex), publicKey: hex(v.signer_public_key_hex) });

  it.each(ALL.map((v) => [v.name, v] as const))('%s: signCheckpoint gives the python signature (Ed25519 is deterministic)', (_n, v) => {
    expect(publicFromPrivate('Ed25519', hex(v.signer_seed_hex)).toString('hex')).toBe(v.signer_public_key_hex);
    const cp = signCheckpoint(body(v), pairOf(v));
    expect(cp.signature.toString('hex')).toBe(v.signature_hex);
    expect(encodeCheckpoint(cp).toString('hex')).toBe(v.bytes_hex);
  });

  it.each(ALL.map((v) => [v.name, v] as const))('%s: checkpointSignatureValid accepts it under its signer only', (_n, v) => {
    const cp = decodeCheckpoint(hex(v.bytes_hex));
    expect(checkpointSignatureValid(cp, hex(v.signer_public_key_hex))).toBe(true);
    const others = ALL.map((o) => o.signer_public_key_hex).filter((k) => k !== v.signer_public_key_hex);
    for (const k of new Set(others)) expect(checkpointSignatureValid(cp, hex(k))).toBe(false);
  });

  it('any flipped bit of the body or signature invalidates the signature (or the decode)', () => {
    const v = C.chain[1]!;
    const bytes = hex(v.bytes_hex);
    const signer = hex(v.signer_public_key_hex);
    let malformed = 0;
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0, 7]) {
        const b = Buffer.from(bytes);
        b[i]! ^= 1 << bit;
        let cp: Checkpoint;
        try {
          cp = decodeCheckpoint(b);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('CHECKPOINT_MALFORMED');
          malformed++;
          continue;
        }
        if (checkpointSignatureValid(cp, signer)) throw new Error(`byte ${i} bit ${bit}: signature still valid`);
      }
    }
    expect(malformed).toBeGreaterThan(0); // version and reason bytes
  });

  it('checkpointSignatureValid is false (does not throw) for a malformed signer key', () => {
    const cp = decodeCheckpoint(hex(C.chain[0]!.bytes_hex));
    expect(checkpointSignatureValid(cp, Buffer.alloc(31))).toBe(false);
    expect(checkpointSignatureValid(cp, Buffer.alloc(0))).toBe(false);
  });
});

describe('the checkpoint chain of 3', () => {
  const identity = hex(C.identity.public_key_hex);

  it('checkpoint 0 is signed by the identity key, and names the log by its fingerprint', () => {
    expect(publicFromPrivate('Ed25519', hex(C.identity.ed25519_private_seed_hex)).toString('hex')).toBe(C.identity.public_key_hex);
    expect(fingerprint(identity)).toBe(C.identity.fingerprint_hex);
    expect(C.chain[0]!.signer_public_key_hex).toBe(C.identity.public_key_hex);
    for (const v of C.chain) expect(v.fields.fingerprint_hex).toBe(C.identity.fingerprint_hex);
  });

  it('walks: index, previous hash, signer from the previous checkpoint, sequence range', () => {
    let previous: Buffer = GENESIS_PREVIOUS;
    let signer: Buffer = identity;
    let firstSeq = 0;
    C.chain.forEach((v, j) => {
      const bytes = hex(v.bytes_hex);
      const cp = decodeCheckpoint(bytes);
      expect(cp.index).toBe(j);
      expect(cp.previousHash.equals(previous)).toBe(true);
      expect(checkpointSignatureValid(cp, signer)).toBe(true);
      if (j > 0) expect(checkpointSignatureValid(cp, identity)).toBe(false);
      expect(cp.firstSeq).toBe(firstSeq);
      previous = checkpointHash(bytes);
      signer = cp.nextSigningKey;
      firstSeq = cp.firstSeq + cp.count;
    });
    expect(firstSeq).toBe(6);
  });

  it('checkpoints 0 and 1 seal blocks 0 and 1 of chain-v1.json: count, chain head, Merkle root, key', () => {
    let head = genesisHash(identity);
    for (const j of [0, 1]) {
      const v = C.chain[j]!;
      const block = CH.chain.blocks[j]!;
      expect(v.fields.block_key_hex).toBe(block.key_hex);
      expect(v.fields.count).toBe(block.steps.length);
      const encs = v.block_entries!.map((i) => {
        const e = CH.entries[i]!;
        const f: EntryFields = { seq: e.seq, receivedAtUs: e.received_at_us, transport: e.transport, flags: e.flags, listener: e.listener, peerAddress: e.peer_address, peerPort: e.peer_port, raw: hex(e.raw_hex) };
        return encodeEntry(f);
      });
      for (const enc of encs) head = chainMac(hex(block.key_hex), head, enc);
      expect(head.toString('hex')).toBe(v.fields.chain_head_hex);
      expect(head.toString('hex')).toBe(block.steps.at(-1)!.mac_hex);
      expect(merkleRoot(encs.map(leafHash)).toString('hex')).toBe(v.fields.entry_root_hex);
    }
  });

  it('checkpoint 2 is a heartbeat over an empty block: chain head carried over, empty root', () => {
    const v = C.chain[2]!;
    expect(v.fields.count).toBe(0);
    expect(v.fields.chain_head_hex).toBe(C.chain[1]!.fields.chain_head_hex);
    expect(v.fields.entry_root_hex).toBe(EMPTY_TREE_ROOT.toString('hex'));
  });

  it("each checkpoint's next-key escrow opens, for block j+1, to the key checkpoint j+1 discloses", () => {
    const auditor = { privateKey: hex(C.auditor_x25519_private_key_hex), publicKey: hex(CH.auditor.x25519_public_key_hex) };
    const logId = hex(C.identity.fingerprint_hex);
    for (let j = 0; j < C.chain.length; j++) {
      const key = openEscrow(hex(C.chain[j]!.fields.next_key_escrow_hex), auditor, logId, j + 1);
      if (j + 1 < C.chain.length) expect(key.toString('hex')).toBe(C.chain[j + 1]!.fields.block_key_hex);
      else expect(key).toHaveLength(32);
    }
    // the 2^32 standalone checkpoint carries chain-v1's escrow of block 2^32 + 1
    const big = C.standalone[0]!;
    expect(openEscrow(hex(big.fields.next_key_escrow_hex), auditor, logId, big.fields.index + 1)).toHaveLength(32);
  });
});
