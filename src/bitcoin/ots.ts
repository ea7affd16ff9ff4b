import { sha256 } from './bytes.js';

/**
 * The OpenTimestamps detached-timestamp file (`.ots`), as python-opentimestamps writes it
 * (opentimestamps/core/timestamp.py DetachedTimestampFile, op.py, notary.py, serialize.py), for
 * one linear chain of operations ending in one Bitcoin block header attestation:
 *
 *   magic (31 bytes) | varuint major version 1 | 0x08 (the file was hashed with SHA-256) | digest (32)
 *   then per operation: 0xf0 append varbytes | 0xf1 prepend varbytes | 0x08 sha256
 *   then 0x00 | attestation tag 0588960d73d71901 | varbytes(varuint block height)
 *
 * varuint is unsigned LEB128; varbytes is a varuint length then the bytes. A timestamp with one
 * operation per message has no 0xff branch markers. The attestation says: the message the
 * operations lead to is the merkle root (internal byte order) of the block at that height.
 */

export const OTS_MAGIC = Buffer.from('004f70656e54696d657374616d7073000050726f6f6600bf89e2e884e89294', 'hex');
const MAJOR_VERSION = 1;
const TAG_SHA256 = 0x08;
const TAG_APPEND = 0xf0;
const TAG_PREPEND = 0xf1;
const TAG_ATTESTATION = 0x00;
export const BITCOIN_ATTESTATION_TAG = Buffer.from('0588960d73d71901', 'hex');

/** op.py's Op.MAX_MSG_LENGTH and MAX_RESULT_LENGTH: a reader refuses a longer message, result or argument. */
export const OTS_MAX_MSG_BYTES = 4096;
/**
 * Timestamp.deserialize nests one call per operation and stops at a recursion limit of 256, so
 * a chain of more than 255 operations cannot be read back.
 */
export const OTS_MAX_OPS = 255;

export type OtsOp = { op: 'append'; arg: Buffer } | { op: 'prepend'; arg: Buffer } | { op: 'sha256' };

export class OtsLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OtsLimitError';
  }
}

/** Unsigned LEB128, as serialize.py's write_varuint. */
export function varuint(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varuint: expected a non-negative safe integer, got ${n}`);
  const out: number[] = [];
  let v = n;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return Buffer.from(out);
}

function varbytes(b: Buffer): Buffer {
  return Buffer.concat([varuint(b.length), b]);
}

/** The message after one operation. */
export function applyOp(msg: Buffer, o: OtsOp): Buffer {
  if (o.op === 'sha256') return sha256(msg);
  return o.op === 'append' ? Buffer.concat([msg, o.arg]) : Buffer.concat([o.arg, msg]);
}

/**
 * The message the operations lead to from `digest`. Throws OtsLimitError where a reader would
 * refuse the chain: too many operations, an empty or too long argument, a too long message.
 */
export function applyOps(digest: Buffer, ops: readonly OtsOp[]): Buffer {
  if (ops.length > OTS_MAX_OPS) throw new OtsLimitError(`expected at most ${OTS_MAX_OPS} operations (a reader's recursion limit), got ${ops.length}`);
  let msg = digest;
  ops.forEach((o, i) => {
    // A reader refuses an empty argument (read_varbytes min_len=1) and any message over the limit.
    if (o.op !== 'sha256' && (o.arg.length === 0 || o.arg.length > OTS_MAX_MSG_BYTES)) {
      throw new OtsLimitError(`operation ${i} (${o.op}): expected an argument of 1..${OTS_MAX_MSG_BYTES} bytes, got ${o.arg.length}`);
    }
    msg = applyOp(msg, o);
    if (msg.length > OTS_MAX_MSG_BYTES) throw new OtsLimitError(`operation ${i} (${o.op}): expected a result of at most ${OTS_MAX_MSG_BYTES} bytes, got ${msg.length}`);
  });
  return msg;
}

/** A 32-byte SHA-256 digest and its operations to the merkle root of the Bitcoin block at `height`. */
export function serializeDetachedTimestamp(digest: Buffer, ops: readonly OtsOp[], height: number): Buffer {
  if (digest.length !== 32) throw new RangeError(`ots: expected a 32-byte SHA-256 digest, got ${digest.length} bytes`);
  const result = applyOps(digest, ops);
  // BitcoinBlockHeaderAttestation.verify_against_blockheader wants a 32-byte message.
  if (result.length !== 32) throw new OtsLimitError(`ots: the operations must end in a 32-byte merkle root, they end in ${result.length} bytes`);
  const parts: Buffer[] = [OTS_MAGIC, varuint(MAJOR_VERSION), Buffer.from([TAG_SHA256]), digest];
  for (const o of ops) {
    if (o.op === 'sha256') parts.push(Buffer.from([TAG_SHA256]));
    else parts.push(Buffer.from([o.op === 'append' ? TAG_APPEND : TAG_PREPEND]), varbytes(o.arg));
  }
  parts.push(Buffer.from([TAG_ATTESTATION]), BITCOIN_ATTESTATION_TAG, varbytes(varuint(height)));
  return Buffer.concat(parts);
}
