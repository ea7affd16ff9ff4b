import { checkpointHash, CheckpointFormatError, decodeCheckpoint, GENESIS_PREVIOUS, type Checkpoint } from '../checkpoint/format.js';
import { checkpointSignatureValid } from '../checkpoint/sign.js';
import type { BlockRow, CheckpointRow } from '../store/log-store.js';
import type { Failure } from './failures.js';

/** Where the checkpoint walk starts: the log's beginning, or a checkpoint remembered in a state file. */
export interface ChainStart {
  index: number;
  previousHash: Buffer;
  signer: Buffer;
  firstSeq: number;
  startHead: Buffer;
}

export interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  hash: Buffer;
  /** The MAC the block's first entry chains on. */
  startHead: Buffer;
}

/**
 * Walks the checkpoints in order and checks what they claim about each other: no index
 * missing, each names this log, chains on the previous one's hash, continues its sequence
 * range, and is signed by the key its predecessor certified (the identity key for the first).
 * It yields each decodable checkpoint with the chain head its block starts from; a failed
 * check is reported and the walk goes on with what the checkpoint says, so that one bad
 * checkpoint does not hide the rest.
 */
export function* walkCheckpoints(
  rows: Iterable<CheckpointRow>,
  start: ChainStart,
  fingerprint: Buffer,
  blockRow: (block: number) => BlockRow | undefined,
  report: (f: Failure) => void,
): Generator<VerifiedCheckpoint> {
  let expect = start.index;
  let previousHash = start.previousHash;
  let signer = start.signer;
  let firstSeq = start.firstSeq;
  let head = start.startHead;
  for (const row of rows) {
    if (row.idx !== expect) {
      report({ code: 'CHECKPOINT_MISSING', checkpoint: expect, expected: String(expect), actual: String(row.idx), detail: `checkpoints ${expect}..${row.idx - 1} are missing` });
    }
    let cp: Checkpoint;
    try {
      cp = decodeCheckpoint(Buffer.from(row.bytes));
    } catch (e) {
      if (!(e instanceof CheckpointFormatError)) throw e;
      report({ code: 'CHECKPOINT_MALFORMED', checkpoint: row.idx, expected: e.expected, actual: e.actual, detail: e.message });
      expect = row.idx + 1;
      continue;
    }
    const hash = checkpointHash(Buffer.from(row.bytes));
    const at = { checkpoint: row.idx, receivedAtUs: cp.timeUs };
    if (cp.index !== row.idx || cp.timeUs !== row.time_us) {
      report({ code: 'CHECKPOINT_ROW_MISMATCH', ...at, expected: `index ${cp.index}, time ${cp.timeUs}`, actual: `index ${row.idx}, time ${row.time_us}`, detail: `checkpoint row ${row.idx} does not match its signed bytes` });
    }
    if (!cp.fingerprint.equals(fingerprint)) {
      report({ code: 'CHECKPOINT_FINGERPRINT_MISMATCH', ...at, expected: fingerprint.toString('hex'), actual: cp.fingerprint.toString('hex'), detail: `checkpoint ${row.idx} names another log` });
    }
    if (!cp.previousHash.equals(previousHash)) {
      report({ code: 'CHECKPOINT_PREVIOUS_MISMATCH', ...at, expected: previousHash.toString('hex'), actual: cp.previousHash.toString('hex'), detail: `checkpoint ${row.idx} does not chain on checkpoint ${row.idx - 1}` });
    }
    if (!checkpointSignatureValid(cp, signer)) {
      report({ code: 'CHECKPOINT_SIGNATURE_INVALID', ...at, expected: `signed by ${signer.toString('hex')}`, actual: 'signature does not verify', detail: `checkpoint ${row.idx} is not signed by the key certified ${row.idx === 0 ? 'as the log identity' : `in checkpoint ${row.idx - 1}`}` });
    }
    if (cp.firstSeq !== firstSeq) {
      report({ code: 'CHECKPOINT_RANGE_MISMATCH', ...at, expected: String(firstSeq), actual: String(cp.firstSeq), detail: `checkpoint ${row.idx} starts its block at entry ${cp.firstSeq}; the previous block ended before ${firstSeq}` });
    }
    const own = blockRow(cp.index);
    if (own && own.first_seq !== cp.firstSeq) {
      report({ code: 'CHECKPOINT_RANGE_MISMATCH', block: cp.index, ...at, expected: String(cp.firstSeq), actual: String(own.first_seq), detail: `block ${cp.index}'s row starts at entry ${own.first_seq}; checkpoint ${row.idx} signed ${cp.firstSeq}` });
    }
    // Every checkpoint opens the next block; its row must hold the escrow the checkpoint signed.
    const next = blockRow(cp.index + 1);
    if (!next || !Buffer.from(next.escrow).equals(cp.nextKeyEscrow) || next.first_seq !== cp.firstSeq + cp.count) {
      report({ code: 'BLOCK_ESCROW_MISMATCH', block: cp.index + 1, checkpoint: row.idx, expected: `escrow ${cp.nextKeyEscrow.toString('hex')} from entry ${cp.firstSeq + cp.count}`, actual: next ? `escrow ${Buffer.from(next.escrow).toString('hex')} from entry ${next.first_seq}` : 'no row', detail: `block ${cp.index + 1}'s row is not the one checkpoint ${row.idx} opened` });
    }
    yield { checkpoint: cp, hash, startHead: head };
    previousHash = hash;
    signer = cp.nextSigningKey;
    firstSeq = cp.firstSeq + cp.count;
    head = cp.chainHead;
    expect = row.idx + 1;
  }
}

export function genesisStart(identityPublic: Buffer, genesisHead: Buffer): ChainStart {
  return { index: 0, previousHash: GENESIS_PREVIOUS, signer: identityPublic, firstSeq: 0, startHead: genesisHead };
}
