// Checks src/chain against test/vectors/chain-v1.json, whose expected values come from
// test/vectors/make_vectors.py (python3 + python3-cryptography, written from the format spec,
// never from this code). Escrow is also checked the other way round: blobs made here by
// escrowBlockKey are decrypted by /usr/bin/python3, an independent implementation.
//
// The cross-check tests need /usr/bin/python3 with python3-cryptography: without it they skip
// on a developer's machine, and fail under .ci/run (IMMUTALOG_REQUIRE_CLIENTS=1), so a CI image
// without it cannot pass silently. The rest of the file reads the committed vectors.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeEntry, type EntryFields } from '../../src/chain/encoding.js';
import { ESCROW_BYTES, escrowBlockKey, openEscrow } from '../../src/chain/escrow.js';
import {
  auditorKeyPairFromPem,
  auditorPrivateKeyPem,
  fingerprint,
  generateAuditorKeyPair,
  publicFromPrivate,
  type RawKeyPair,
} from '../../src/chain/keys.js';
import { chainMac, genesisHash } from '../../src/chain/mac.js';
import type { TransportName } from '../../src/chain/entry-format.js';
import { needClients } from '../clients/available.js';
import { codeOf } from '../helpers/throws.js';

const crossCheck = needClients('python3-cryptography');

const PYTHON = '/usr/bin/python3';
const VECTORS_DIR = fileURLToPath(new URL('../vectors/', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface VectorEntry {
  name: string;
  seq: number;
  received_at_us: number;
  transport: TransportName;
  flags: number;
  listener: string;
  peer_address: string;
  peer_port: number;
  raw_hex: string;
  encoding_hex: string;
}

interface VectorEscrow {
  block: number;
  block_key_hex: string;
  ephemeral_private_key_hex: string;
  ephemeral_public_key_hex: string;
  nonce_hex: string;
  wrapping_key_hex: string;
  blob_hex: string;
}

interface Vectors {
  format: string;
  entries: VectorEntry[];
  identity: { ed25519_private_seed_hex: string; public_key_hex: string; fingerprint_hex: string };
  chain: {
    identity_public_key_hex: string;
    genesis_hex: string;
    blocks: {
      block: number;
      key_hex: string;
      steps: { entry: number; seq: number; previous_hex: string; mac_hex: string }[];
    }[];
  };
  auditor: { x25519_private_key_hex: string; x25519_public_key_hex: string; private_key_pem: string };
  escrow: { fingerprint_hex: string; blobs: VectorEscrow[] };
}

const V = JSON.parse(readFileSync(`${VECTORS_DIR}chain-v1.json`, 'utf8')) as Vectors;

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

function fields(e: VectorEntry): EntryFields {
  return {
    seq: e.seq,
    receivedAtUs: e.received_at_us,
    transport: e.transport,
    flags: e.flags,
    listener: e.listener,
    peerAddress: e.peer_address,
    peerPort: e.peer_port,
    raw: hex(e.raw_hex),
  };
}

const AUDITOR: RawKeyPair = {
  privateKey: hex(V.auditor.x25519_private_key_hex),
  publicKey: hex(V.auditor.x25519_public_key_hex),
};
/** The escrow binds the log by its fingerprint as 32 raw bytes (formats.md, escrow v1 info). */
const LOG_ID = hex(V.escrow.fingerprint_hex);

/** Runs /usr/bin/python3; any failure (missing interpreter, missing module, exception) throws. */
function python(script: string, input = ''): string {
  const r = spawnSync(PYTHON, ['-c', script], { input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message} (CI must install python3 and python3-cryptography)`);
  if (r.status !== 0) {
    throw new Error(`${PYTHON} exited with ${r.status ?? r.signal}; CI must install python3-cryptography.\n${r.stderr}`);
  }
  return r.stdout;
}

/** Decrypts escrow v1 blobs, written from the spec; reports each as the key hex or an error. */
const PY_OPEN_ESCROW = `
import json, struct, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
out = []
for item in json.load(sys.stdin):
    try:
        auditor = serialization.load_pem_private_key(item["pem"].encode(), password=None)
        auditor_pub = auditor.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        blob, j = bytes.fromhex(item["blob_hex"]), item["block"]
        if len(blob) != 93 or blob[0] != 1:
            raise ValueError("malformed escrow blob")
        eph_pub, nonce, sealed = blob[1:33], blob[33:45], blob[45:]
        shared = auditor.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        info = b"immutalog escrow v1\\x00" + bytes.fromhex(item["fingerprint_hex"]) + struct.pack(">Q", j)
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pub + auditor_pub, info=info).derive(shared)
        out.append({"ok": True, "key_hex": AESGCM(key).decrypt(nonce, sealed, struct.pack(">Q", j)).hex()})
    except Exception as e:
        out.append({"ok": False, "error": type(e).__name__})
print(json.dumps(out))
`;

interface PyOpenRequest {
  pem: string;
  fingerprint_hex: string;
  block: number;
  blob_hex: string;
}
type PyOpenResult = { ok: true; key_hex: string } | { ok: false; error: string };

function pythonOpenEscrow(requests: PyOpenRequest[]): PyOpenResult[] {
  const results = JSON.parse(python(PY_OPEN_ESCROW, JSON.stringify(requests))) as PyOpenResult[];
  expect(results).toHaveLength(requests.length);
  return results;
}

describe('test vectors file', () => {
  it('is the chain-v1 format with the coverage it promises', () => {
    expect(V.format).toBe('immutalog chain vectors v1');
    expect(V.entries.length).toBeGreaterThanOrEqual(8);
    expect(new Set(V.entries.map((e) => e.transport))).toEqual(new Set(['udp', 'tcp', 'tls']));
    for (const f of [0, 1, 2, 4, 7]) expect(V.entries.some((e) => e.flags === f)).toBe(true);
    expect(V.entries.some((e) => e.raw_hex === '')).toBe(true);
    expect(V.entries.some((e) => e.seq === 0)).toBe(true);
    expect(V.entries.some((e) => e.seq === Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(V.entries.some((e) => e.peer_port === 65535)).toBe(true);
    expect(V.chain.blocks).toHaveLength(2);
  });

  crossCheck.it('is what make_vectors.py generates (python3 + python3-cryptography)', () => {
    const r = spawnSync(PYTHON, [`${VECTORS_DIR}make_vectors.py`, '--check'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw new Error(`cannot run ${PYTHON}: ${r.error.message}`);
    expect(r.status, r.stderr).toBe(0);
  });
});

crossCheck.describe('python3 cross-check prerequisites', () => {
  it(`${PYTHON} imports cryptography (install python3-cryptography; CI fails rather than skip this)`, () => {
    const version = python('import cryptography; print(cryptography.__version__)').trim();
    expect(version).toMatch(/^\d+\.\d+/);
  });
});

describe('entry encoding v1', () => {
  it.each(V.entries.map((e, i) => [i, e.name, e] as const))('entry %i (%s) encodes as the vector', (_i, _name, e) => {
    expect(encodeEntry(fields(e)).toString('hex')).toBe(e.encoding_hex);
  });

  const base = fields(V.entries[0]!);
  const outOfRange: [string, Partial<EntryFields>][] = [
    ['seq -1', { seq: -1 }],
    ['seq 2^53 (not exactly representable)', { seq: 2 ** 53 }],
    ['seq 1.5', { seq: 1.5 }],
    ['seq NaN', { seq: Number.NaN }],
    ['receivedAtUs -1', { receivedAtUs: -1 }],
    ['receivedAtUs 2^53', { receivedAtUs: 2 ** 53 }],
    ['peerPort -1', { peerPort: -1 }],
    ['peerPort 65536', { peerPort: 65536 }],
    ['peerPort 1.5', { peerPort: 1.5 }],
    ['flags 0x8', { flags: 0x8 }],
    ['flags 0x10', { flags: 0x10 }],
    ['flags 0xf', { flags: 0xf }],
    ['flags 0x80000000', { flags: 0x80000000 }],
    ['flags 2^32 + 8', { flags: 2 ** 32 + 8 }],
    ['flags -1', { flags: -1 }],
    ['transport sctp', { transport: 'sctp' as TransportName }],
    ['listener of 65536 bytes', { listener: 'x'.repeat(65536) }],
    ['peer address of 65536 bytes', { peerAddress: 'é'.repeat(32768) }],
  ];
  it.each(outOfRange)('rejects %s with ENCODING_FIELD_OUT_OF_RANGE', (_name, patch) => {
    expect(codeOf(() => encodeEntry({ ...base, ...patch }))).toBe('ENCODING_FIELD_OUT_OF_RANGE');
  });

  it('accepts the boundaries', () => {
    expect(() => encodeEntry({ ...base, seq: Number.MAX_SAFE_INTEGER, peerPort: 65535, flags: 7 })).not.toThrow();
    expect(() => encodeEntry({ ...base, listener: 'x'.repeat(65535), peerAddress: '' })).not.toThrow();
  });

  // Values that are not a u32 integer must not slip through 32-bit bitwise checks.
  const badFlags: [string, number][] = [
    ['2^32 (throws a plain RangeError instead)', 2 ** 32],
    ['NaN (silently encoded as 0)', Number.NaN],
    ['1.5 (silently encoded as 1)', 1.5],
  ];
  it.each(badFlags)('rejects flags %s with ENCODING_FIELD_OUT_OF_RANGE', (_name, flags) => {
    expect(codeOf(() => encodeEntry({ ...base, flags }))).toBe('ENCODING_FIELD_OUT_OF_RANGE');
  });

  // An untyped name that is an Object.prototype member must not encode as transport byte 0.
  it.each(['toString', 'constructor'])('rejects transport %s with ENCODING_FIELD_OUT_OF_RANGE', (transport) => {
    expect(codeOf(() => encodeEntry({ ...base, transport: transport as TransportName }))).toBe('ENCODING_FIELD_OUT_OF_RANGE');
  });
});

describe('identity, genesis and MAC chain', () => {
  const identity = hex(V.identity.public_key_hex);

  it('the identity key is the Ed25519 public key of the fixed seed', () => {
    expect(publicFromPrivate('Ed25519', hex(V.identity.ed25519_private_seed_hex)).toString('hex')).toBe(V.identity.public_key_hex);
    expect(V.chain.identity_public_key_hex).toBe(V.identity.public_key_hex);
  });

  it('fingerprint matches', () => {
    expect(fingerprint(identity)).toBe(V.identity.fingerprint_hex);
    expect(V.escrow.fingerprint_hex).toBe(V.identity.fingerprint_hex);
  });

  it('genesis hash matches', () => {
    expect(genesisHash(identity).toString('hex')).toBe(V.chain.genesis_hex);
  });

  it('every MAC matches, the chain running on across the block boundary', () => {
    let previous = genesisHash(identity);
    let steps = 0;
    for (const block of V.chain.blocks) {
      const key = hex(block.key_hex);
      for (const step of block.steps) {
        const entry = V.entries[step.entry]!;
        expect(entry.seq).toBe(steps); // no gap
        expect(previous.toString('hex')).toBe(step.previous_hex);
        const mac = chainMac(key, previous, encodeEntry(fields(entry)));
        expect(mac.toString('hex'), `block ${block.block} seq ${entry.seq}`).toBe(step.mac_hex);
        previous = mac;
        steps++;
      }
    }
    expect(steps).toBe(6);
  });

  it('the first MAC of block 1 chains on the last MAC of block 0, not on genesis', () => {
    const [b0, b1] = V.chain.blocks;
    expect(b1!.steps[0]!.previous_hex).toBe(b0!.steps.at(-1)!.mac_hex);
    const first1 = V.entries[b1!.steps[0]!.entry]!;
    const restarted = chainMac(hex(b1!.key_hex), genesisHash(identity), encodeEntry(fields(first1)));
    expect(restarted.toString('hex')).not.toBe(b1!.steps[0]!.mac_hex);
  });
});

describe('auditor key', () => {
  it('auditorKeyPairFromPem accepts the python PKCS#8 PEM', () => {
    const pair = auditorKeyPairFromPem(V.auditor.private_key_pem);
    expect(pair.privateKey.toString('hex')).toBe(V.auditor.x25519_private_key_hex);
    expect(pair.publicKey.toString('hex')).toBe(V.auditor.x25519_public_key_hex);
  });

  it('auditorPrivateKeyPem writes the same PKCS#8 key python does', () => {
    const ours = auditorPrivateKeyPem(AUDITOR);
    const der = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, '');
    expect(der(ours)).toBe(der(V.auditor.private_key_pem));
  });
});

describe('escrow v1', () => {
  it.each(V.escrow.blobs.map((b) => [b.block, b] as const))('openEscrow opens the python blob of block %i', (_j, b) => {
    const blob = hex(b.blob_hex);
    expect(blob).toHaveLength(ESCROW_BYTES);
    expect(ESCROW_BYTES).toBe(93);
    expect(openEscrow(blob, AUDITOR, LOG_ID, b.block).toString('hex')).toBe(b.block_key_hex);
  });

  it('the python blobs follow the layout: version | ephemeral public | nonce | ciphertext | tag', () => {
    for (const b of V.escrow.blobs) {
      const blob = hex(b.blob_hex);
      expect(blob[0]).toBe(1);
      expect(blob.subarray(1, 33).toString('hex')).toBe(b.ephemeral_public_key_hex);
      expect(blob.subarray(33, 45).toString('hex')).toBe(b.nonce_hex);
      expect(publicFromPrivate('X25519', hex(b.ephemeral_private_key_hex)).toString('hex')).toBe(b.ephemeral_public_key_hex);
    }
  });

  it('a blob opens only for its own block index and log', () => {
    const [b0, b1] = V.escrow.blobs;
    expect(codeOf(() => openEscrow(hex(b1!.blob_hex), AUDITOR, LOG_ID, b0!.block))).toBe('ESCROW_DECRYPT_FAILED');
    // 2^32 + 1 vs 1: only the high half of the u64 index differs
    const big = V.escrow.blobs.find((b) => b.block > 0xffffffff)!;
    expect(codeOf(() => openEscrow(hex(big.blob_hex), AUDITOR, LOG_ID, big.block % 2 ** 32))).toBe('ESCROW_DECRYPT_FAILED');
    const otherLog = Buffer.from(LOG_ID);
    otherLog[31]! ^= 1;
    expect(codeOf(() => openEscrow(hex(b0!.blob_hex), AUDITOR, otherLog, b0!.block))).toBe('ESCROW_DECRYPT_FAILED');
    const otherAuditor = generateAuditorKeyPair();
    expect(codeOf(() => openEscrow(hex(b0!.blob_hex), otherAuditor, LOG_ID, b0!.block))).toBe('ESCROW_DECRYPT_FAILED');
  });

  it('flipping any single bit of a blob makes openEscrow throw ESCROW_DECRYPT_FAILED or ESCROW_MALFORMED', () => {
    const b = V.escrow.blobs[1]!;
    const blob = hex(b.blob_hex);
    const codes = new Map<unknown, number>();
    for (let bit = 0; bit < blob.length * 8; bit++) {
      const bad = Buffer.from(blob);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const code = codeOf(() => openEscrow(bad, AUDITOR, LOG_ID, b.block));
      if (code !== 'ESCROW_DECRYPT_FAILED' && code !== 'ESCROW_MALFORMED') {
        throw new Error(`bit ${bit} (byte ${bit >> 3}): expected an escrow error code, got ${String(code)}`);
      }
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(codes.get('ESCROW_MALFORMED')).toBe(8); // the version byte
    expect(codes.get('ESCROW_DECRYPT_FAILED')).toBe((ESCROW_BYTES - 1) * 8);
  });

  it('a blob of the wrong length or version is ESCROW_MALFORMED', () => {
    const blob = hex(V.escrow.blobs[0]!.blob_hex);
    const j = V.escrow.blobs[0]!.block;
    expect(codeOf(() => openEscrow(blob.subarray(0, 92), AUDITOR, LOG_ID, j))).toBe('ESCROW_MALFORMED');
    expect(codeOf(() => openEscrow(Buffer.concat([blob, Buffer.from([0])]), AUDITOR, LOG_ID, j))).toBe('ESCROW_MALFORMED');
    expect(codeOf(() => openEscrow(Buffer.alloc(0), AUDITOR, LOG_ID, j))).toBe('ESCROW_MALFORMED');
    const v2 = Buffer.from(blob);
    v2[0] = 2;
    expect(codeOf(() => openEscrow(v2, AUDITOR, LOG_ID, j))).toBe('ESCROW_MALFORMED');
  });

  // A low-order ephemeral key (here all zeros) makes X25519 itself fail inside openEscrow.
  it('a blob with a low-order ephemeral key throws an escrow code', () => {
    const bad = hex(V.escrow.blobs[0]!.blob_hex);
    bad.fill(0, 1, 33);
    expect(['ESCROW_DECRYPT_FAILED', 'ESCROW_MALFORMED']).toContain(codeOf(() => openEscrow(bad, AUDITOR, LOG_ID, 0)));
  });

  it('escrowBlockKey makes 93-byte version-1 blobs with a fresh ephemeral key and nonce each time', () => {
    const key = hex(V.escrow.blobs[0]!.block_key_hex);
    const a = escrowBlockKey(key, AUDITOR.publicKey, LOG_ID, 0);
    const b = escrowBlockKey(key, AUDITOR.publicKey, LOG_ID, 0);
    expect(a).toHaveLength(93);
    expect(a[0]).toBe(1);
    expect(a.subarray(1, 33).equals(b.subarray(1, 33))).toBe(false);
    expect(a.subarray(33, 45).equals(b.subarray(33, 45))).toBe(false);
    expect(openEscrow(a, AUDITOR, LOG_ID, 0).equals(key)).toBe(true);
  });

  crossCheck.it('python3 (python-cryptography) opens blobs made by escrowBlockKey, and only for their block', () => {
    const fresh = generateAuditorKeyPair();
    const freshLog = randomBytes(32);
    const freshKey = randomBytes(32);
    const cases: { pair: RawKeyPair; log: Buffer; block: number; key: Buffer }[] = [
      ...V.escrow.blobs.map((b) => ({ pair: AUDITOR, log: LOG_ID, block: b.block, key: hex(b.block_key_hex) })),
      { pair: fresh, log: freshLog, block: 7, key: freshKey },
      { pair: fresh, log: freshLog, block: Number.MAX_SAFE_INTEGER, key: freshKey },
    ];
    const made = cases.map((c) => ({ ...c, blob: escrowBlockKey(c.key, c.pair.publicKey, c.log, c.block) }));
    // The PEM python loads is the one auditorPrivateKeyPem writes, so that path is checked too.
    const requests: PyOpenRequest[] = made.map((m) => ({
      pem: auditorPrivateKeyPem(m.pair),
      fingerprint_hex: m.log.toString('hex'),
      block: m.block,
      blob_hex: m.blob.toString('hex'),
    }));
    // Negative controls: wrong block index (differs only in the high u32), wrong log, altered tag.
    const tampered = Buffer.from(made[0]!.blob);
    tampered[92]! ^= 0x80;
    const negatives: PyOpenRequest[] = [
      { ...requests[2]!, block: 1 },
      { ...requests[0]!, fingerprint_hex: freshLog.toString('hex') },
      { ...requests[0]!, blob_hex: tampered.toString('hex') },
    ];
    const results = pythonOpenEscrow([...requests, ...negatives]);
    made.forEach((m, i) => {
      expect(results[i], `block ${m.block}`).toEqual({ ok: true, key_hex: m.key.toString('hex') });
    });
    for (const r of results.slice(made.length)) expect(r).toEqual({ ok: false, error: 'InvalidTag' });
  });

  crossCheck.it('the python decryptor used above opens the python vectors (control for the cross-check itself)', () => {
    const results = pythonOpenEscrow(
      V.escrow.blobs.map((b) => ({ pem: V.auditor.private_key_pem, fingerprint_hex: V.escrow.fingerprint_hex, block: b.block, blob_hex: b.blob_hex })),
    );
    results.forEach((r, i) => expect(r).toEqual({ ok: true, key_hex: V.escrow.blobs[i]!.block_key_hex }));
  });
});
