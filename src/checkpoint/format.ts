import { createHash } from 'node:crypto';
import { ESCROW_BYTES } from '../chain/escrow.js';

/**
 * Checkpoint v1: closes block j. All integers big-endian; every field fixed-size, so the
 * layout has exactly one reading.
 *
 *   u8  version = 1
 *   32  log fingerprint (SHA-256 of the identity public key)
 *   u64 index j
 *   32  hash of checkpoint j-1 (c_{j-1}); 32 zero bytes for j = 0
 *   u64 first sequence number of block j
 *   u64 entry count of block j (0 for a heartbeat over an empty block)
 *   32  chain head: the MAC of the block's last entry (for an empty block, the head it started from)
 *   32  RFC 6962 Merkle root over the block's entry encodings (leaf = SHA-256(0x00 || enc))
 *   32  K_j, the block's MAC key, disclosed now that the block is closed
 *   93  escrow of K_{j+1} to the auditor (see "Block-key escrow")
 *   32  Ed25519 public key that will sign checkpoint j+1
 *   u64 time, microseconds since the epoch
 *   u8  reason: 1 entries, 2 interval, 3 heartbeat, 4 shutdown, 5 restart
 *   64  Ed25519 signature by the key certified in checkpoint j-1 (the identity key for j = 0)
 *       over "immutalog checkpoint v1" 0x00 || every byte above
 *
 * c_j = SHA-256(every byte, signature included) is what the next checkpoint and the anchor commit to.
 */
export const CHECKPOINT_VERSION = 1;
export const SIGNATURE_BYTES = 64;
const BODY_BYTES = 1 + 32 + 8 + 32 + 8 + 8 + 32 + 32 + 32 + ESCROW_BYTES + 32 + 8 + 1;
export const CHECKPOINT_BYTES = BODY_BYTES + SIGNATURE_BYTES;
export const SIGNING_CONTEXT = Buffer.from('immutalog checkpoint v1\0', 'latin1');

export const REASONS = { entries: 1, interval: 2, heartbeat: 3, shutdown: 4, restart: 5 } as const;
export type CheckpointReason = keyof typeof REASONS;
const REASON_NAMES = Object.fromEntries(Object.entries(REASONS).map(([k, v]) => [v, k])) as Record<number, CheckpointReason>;

export interface CheckpointBody {
  fingerprint: Buffer;
  index: number;
  previousHash: Buffer;
  firstSeq: number;
  count: number;
  chainHead: Buffer;
  entryRoot: Buffer;
  blockKey: Buffer;
  nextKeyEscrow: Buffer;
  nextSigningKey: Buffer;
  timeUs: number;
  reason: CheckpointReason;
}

export interface Checkpoint extends CheckpointBody {
  signature: Buffer;
}

export class CheckpointFormatError extends Error {
  readonly code = 'CHECKPOINT_MALFORMED';
  constructor(readonly field: string, readonly expected: string, readonly actual: string) {
    super(`checkpoint ${field}: expected ${expected}, got ${actual}`);
  }
}

export const GENESIS_PREVIOUS = Buffer.alloc(32);

function fixed(field: string, b: Buffer, n: number): Buffer {
  if (b.length !== n) throw new CheckpointFormatError(field, `${n} bytes`, `${b.length}`);
  return b;
}

function u64(field: string, v: number): Buffer {
  if (!Number.isSafeInteger(v) || v < 0) throw new CheckpointFormatError(field, 'an integer in 0..2^53-1', String(v));
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(v / 0x1_0000_0000), 0);
  b.writeUInt32BE(v >>> 0, 4);
  return b;
}

export function encodeCheckpointBody(c: CheckpointBody): Buffer {
  const reason = REASONS[c.reason];
  if (reason === undefined) throw new CheckpointFormatError('reason', Object.keys(REASONS).join('|'), String(c.reason));
  return Buffer.concat([
    Buffer.from([CHECKPOINT_VERSION]),
    fixed('fingerprint', c.fingerprint, 32),
    u64('index', c.index),
    fixed('previous hash', c.previousHash, 32),
    u64('first seq', c.firstSeq),
    u64('count', c.count),
    fixed('chain head', c.chainHead, 32),
    fixed('entry root', c.entryRoot, 32),
    fixed('block key', c.blockKey, 32),
    fixed('next key escrow', c.nextKeyEscrow, ESCROW_BYTES),
    fixed('next signing key', c.nextSigningKey, 32),
    u64('time', c.timeUs),
    Buffer.from([reason]),
  ]);
}

export function signingPayload(body: Buffer): Buffer {
  return Buffer.concat([SIGNING_CONTEXT, body]);
}

export function encodeCheckpoint(c: Checkpoint): Buffer {
  return Buffer.concat([encodeCheckpointBody(c), fixed('signature', c.signature, SIGNATURE_BYTES)]);
}

export function checkpointHash(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}

export function decodeCheckpoint(b: Buffer): Checkpoint {
  if (b.length !== CHECKPOINT_BYTES) throw new CheckpointFormatError('length', `${CHECKPOINT_BYTES} bytes`, `${b.length}`);
  if (b[0] !== CHECKPOINT_VERSION) throw new CheckpointFormatError('version', String(CHECKPOINT_VERSION), String(b[0]));
  let o = 1;
  const take = (n: number): Buffer => {
    const s = b.subarray(o, o + n);
    o += n;
    return s;
  };
  const readU64 = (field: string): number => {
    const v = b.readUInt32BE(o) * 0x1_0000_0000 + b.readUInt32BE(o + 4);
    o += 8;
    if (!Number.isSafeInteger(v)) throw new CheckpointFormatError(field, 'at most 2^53-1', String(v));
    return v;
  };
  const fingerprint = take(32);
  const index = readU64('index');
  const previousHash = take(32);
  const firstSeq = readU64('first seq');
  const count = readU64('count');
  const chainHead = take(32);
  const entryRoot = take(32);
  const blockKey = take(32);
  const nextKeyEscrow = take(ESCROW_BYTES);
  const nextSigningKey = take(32);
  const timeUs = readU64('time');
  const reasonCode = b[o++]!;
  const reason = REASON_NAMES[reasonCode];
  if (reason === undefined) throw new CheckpointFormatError('reason', '1..5', String(reasonCode));
  const signature = take(SIGNATURE_BYTES);
  return { fingerprint, index, previousHash, firstSeq, count, chainHead, entryRoot, blockKey, nextKeyEscrow, nextSigningKey, timeUs, reason, signature };
}
