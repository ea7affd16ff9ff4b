import { EncodingError, StoredEntryEncoder } from '../chain/encoding.js';
import type { PreparedRow, VerifyRow } from '../store/log-store.js';
import { MerkleAccumulator } from '../checkpoint/merkle.js';
import { ChunkHasher } from './chunk-hasher.js';
import { fieldsToJson, NO_ROOM, parseRecord, PARSER_VERSION, writeFieldsJson, type ParsedFields } from '../parse/index.js';
import { BlockFailures } from './failure-log.js';
import type { Failure, ReasonCode } from './failures.js';
import { OPEN_END_US, type TimeBounds } from './range.js';

const FIELDS_PREFIX = `{"v":${PARSER_VERSION},`;

/** The version of fields written by an earlier parser, or undefined for anything else. */
function olderParserVersion(fields: string): number | undefined {
  const m = /^\{"v":([1-9][0-9]{0,5}),/.exec(fields);
  const v = m ? Number(m[1]) : NaN;
  return v >= 1 && v < PARSER_VERSION ? v : undefined;
}

/** The re-derived field JSON of each row, written here (grown when a row needs more). */
let fieldsScratch = Buffer.allocUnsafe(4096);

/** One block (or the open block) to check: its range, key, and what its checkpoint claims. */
export interface BlockTask {
  block: number;
  firstSeq: number;
  /** End of the range (exclusive); for the open block, the end of the log. */
  endSeq: number;
  /** The MAC this block's first entry chains on (previous block's head, or genesis). */
  startHead: Buffer;
  /** Block key; undefined when it is not known (open block, no auditor key). */
  key: Buffer | undefined;
  /** From the checkpoint; undefined for the open block. */
  expect?: { count: number; chainHead: Buffer; entryRoot: Buffer; checkpoint: number };
  /** The signed times every entry of the block must lie within. */
  bounds: TimeBounds;
  /** Failures listed with their evidence; past this they are only counted. */
  maxFailures: number;
}

export interface BlockResult {
  block: number;
  checked: number;
  lastSeq: number | undefined;
  firstTimeUs: number | undefined;
  lastTimeUs: number | undefined;
  otherParserVersion: number;
  failures: Failure[];
  /** Failures past task.maxFailures, counted by code. */
  omitted: Partial<Record<ReasonCode, number>>;
}

/** Runs block checks, inline or on worker threads; results may come back in any order. */
export interface BlockRunner {
  run(task: BlockTask): Promise<BlockResult>;
  /** How many tasks to keep in flight. */
  readonly parallelism: number;
}

/**
 * Walks one block in order: continuity, filing, MAC chain, parsed fields, and (for a sealed
 * block) the count, chain head and Merkle root its checkpoint signed. After a MAC mismatch it
 * goes on from the stored MAC, so one edit yields one failure at the edited entry rather than a
 * cascade down the block.
 */
export function checkBlock(task: BlockTask, rows: Iterable<VerifyRow>): BlockResult {
  const blockFailures = new BlockFailures(task.maxFailures);
  const { fromUs, toUs } = task.bounds;
  const acc = task.expect ? new MerkleAccumulator() : undefined;
  // The MACs and leaf hashes are computed a chunk at a time; the entry checks' failures wait
  // in the hasher so that all reach the block's list in entry order.
  const hasher = new ChunkHasher(task.block, task.key, acc, blockFailures, task.maxFailures, task.startHead);
  const failures = { push: (code: ReasonCode, evidence: () => Failure): void => hasher.push('before-mac', code, evidence) };
  const encoder = new StoredEntryEncoder();
  let json = fieldsScratch;
  let expectSeq = task.firstSeq;
  let prev = task.startHead;
  let checked = 0;
  let otherParserVersion = 0;
  let firstTimeUs: number | undefined;
  let lastTimeUs: number | undefined;
  let lastSeq: number | undefined;
  let chainBroken = false;
  // The reader reuses its prepared row: the last one's MAC is taken when the walk ends.
  let lastPrepared: PreparedRow | undefined;
  for (const e of rows) {
    if (e.seq !== expectSeq) {
      if (e.seq > expectSeq) {
        failures.push('SEQ_GAP', () => ({ code: 'SEQ_GAP', seq: expectSeq, block: task.block, receivedAtUs: e.received_at_us, expected: String(expectSeq), actual: String(e.seq), detail: `entries ${expectSeq}..${e.seq - 1} are missing` }));
      } else {
        failures.push('SEQ_OUT_OF_ORDER', () => ({ code: 'SEQ_OUT_OF_ORDER', seq: e.seq, block: task.block, receivedAtUs: e.received_at_us, expected: String(expectSeq), actual: String(e.seq), detail: `entry ${e.seq} appears after ${expectSeq - 1}` }));
      }
      chainBroken = true;
    }
    if (e.block !== task.block) {
      failures.push('ENTRY_BLOCK_MISMATCH', () => ({ code: 'ENTRY_BLOCK_MISMATCH', seq: e.seq, block: task.block, receivedAtUs: e.received_at_us, expected: String(task.block), actual: String(e.block), detail: `entry ${e.seq} is filed under block ${e.block}; its sequence number is in block ${task.block}` }));
    }
    if (e.received_at_us < fromUs || e.received_at_us > toUs) {
      failures.push('ENTRY_TIME_OUT_OF_BLOCK', () => ({ code: 'ENTRY_TIME_OUT_OF_BLOCK', seq: e.seq, block: task.block, receivedAtUs: e.received_at_us, expected: `${fromUs}..${toUs === OPEN_END_US ? 'now' : toUs}`, actual: String(e.received_at_us), detail: `entry ${e.seq} is dated outside the signed times of block ${task.block}'s checkpoints` }));
    }
    let leafInput: Buffer | undefined;
    if (!e.prepared) {
      try {
        leafInput = encoder.leafInput(e);
      } catch (err) {
        if (!(err instanceof EncodingError)) throw err;
        failures.push('ENTRY_BAD_ENCODING', () => ({ code: 'ENTRY_BAD_ENCODING', seq: e.seq, block: task.block, receivedAtUs: e.received_at_us, expected: err.expected, actual: err.actual, detail: err.message }));
      }
    }
    // A prepared row's stored field JSON is settled when the chunk's C check vouched for it, or
    // when its bytes equal the bytes of the JSON re-derived here: equal bytes are equal strings.
    // Any other row, or bytes that differ, are judged on the stored string exactly as range()
    // reads it.
    let parsed: ParsedFields | undefined;
    let settled = e.prepared && e.fieldsVouched;
    if (e.prepared && !settled) {
      parsed = parseRecord(e.raw);
      let n: number;
      while ((n = writeFieldsJson(json, 0, parsed)) === NO_ROOM) json = Buffer.allocUnsafe(json.length * 2);
      settled = e.fieldsAre(json, n);
    }
    if (!settled) {
      const stored = e.prepared ? e.fieldsText() : e.fields;
      // Fields of an older parser version cannot be re-derived here: counted, not failed. Any
      // other version (unknown, newer, malformed) is itself a sign the column was edited.
      const older = stored.startsWith(FIELDS_PREFIX) ? undefined : olderParserVersion(stored);
      if (older !== undefined) {
        otherParserVersion++;
      } else {
        const fields = fieldsToJson(parsed ?? parseRecord(e.raw));
        if (fields !== stored) {
          hasher.push('after-mac', 'FIELDS_MISMATCH', () => ({ code: 'FIELDS_MISMATCH', seq: e.seq, block: task.block, receivedAtUs: e.received_at_us, expected: fields, actual: stored, detail: `parsed fields of entry ${e.seq} differ from its raw bytes` }));
        }
      }
    }
    if (e.prepared) {
      hasher.addInPlace(e.chunk, e.leafAt, e.macAt, e.macEnd, e.seq, e.received_at_us);
      lastPrepared = e;
    } else {
      hasher.add(leafInput, e.mac, e.seq, e.received_at_us);
      prev = e.mac;
      lastPrepared = undefined;
    }
    firstTimeUs ??= e.received_at_us;
    lastTimeUs = e.received_at_us;
    lastSeq = e.seq;
    expectSeq = e.seq + 1;
    checked++;
  }
  hasher.flush();
  fieldsScratch = json;
  if (lastPrepared) prev = lastPrepared.mac;
  if (task.expect) checkAgainstCheckpoint(task, task.expect, { checked, nextSeq: expectSeq, chainBroken, head: prev, root: acc!.root() }, blockFailures);
  return { block: task.block, checked, lastSeq, firstTimeUs, lastTimeUs, otherParserVersion, failures: blockFailures.listed, omitted: blockFailures.omitted };
}

/** What a block's walk ended on. */
interface WalkEnd {
  checked: number;
  /** The sequence number after the last entry walked. */
  nextSeq: number;
  /** A gap or disorder was already reported: no second SEQ_GAP for the block's end. */
  chainBroken: boolean;
  head: Buffer;
  root: Buffer;
}

/** A sealed block's totals against what its checkpoint signed: its count, chain head and Merkle root. */
function checkAgainstCheckpoint(task: BlockTask, x: NonNullable<BlockTask['expect']>, end: WalkEnd, failures: BlockFailures): void {
  const { checked, nextSeq, chainBroken, head, root } = end;
  const endSeq = task.firstSeq + x.count;
  if (checked !== x.count || nextSeq !== endSeq) {
    if (!chainBroken && nextSeq < endSeq) {
      failures.push('SEQ_GAP', () => ({ code: 'SEQ_GAP', seq: nextSeq, block: task.block, expected: String(endSeq - 1), actual: String(nextSeq - 1), detail: `block ${task.block} ends at entry ${nextSeq - 1}; its checkpoint covers up to ${endSeq - 1}` }));
    }
    failures.push('BLOCK_COUNT_MISMATCH', () => ({ code: 'BLOCK_COUNT_MISMATCH', block: task.block, checkpoint: x.checkpoint, expected: String(x.count), actual: String(checked), detail: `block ${task.block} holds ${checked} entries; checkpoint ${x.checkpoint} says ${x.count}` }));
  }
  if (!head.equals(x.chainHead)) {
    failures.push('BLOCK_HEAD_MISMATCH', () => ({ code: 'BLOCK_HEAD_MISMATCH', block: task.block, checkpoint: x.checkpoint, expected: x.chainHead.toString('hex'), actual: Buffer.from(head).toString('hex'), detail: `block ${task.block} ends on another MAC than checkpoint ${x.checkpoint} signed` }));
  }
  if (!root.equals(x.entryRoot)) {
    failures.push('BLOCK_ROOT_MISMATCH', () => ({ code: 'BLOCK_ROOT_MISMATCH', block: task.block, checkpoint: x.checkpoint, expected: x.entryRoot.toString('hex'), actual: root.toString('hex'), detail: `entries of block ${task.block} do not hash to the Merkle root of checkpoint ${x.checkpoint}` }));
  }
}
