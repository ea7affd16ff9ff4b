import { encodeStoredEntry, EncodingError } from '../chain/encoding.js';
import { chainMac } from '../chain/mac.js';
import { fieldsToJson, parseRecord, PARSER_VERSION } from '../parse/index.js';
import type { Failure } from './failures.js';

const FIELDS_PREFIX = `{"v":${PARSER_VERSION},`;

/** An entry as stored, in the shape the checker needs (the store's row type satisfies it). */
export interface StoredEntry {
  seq: number;
  block: number;
  received_at_us: number;
  transport: number;
  flags: number;
  listener: string;
  peer_address: string;
  peer_port: number;
  raw: Buffer;
  mac: Buffer;
  fields: string;
}

export interface ChainCheckInput {
  /** Entries in stored order, starting at `firstSeq`. */
  entries: Iterable<StoredEntry>;
  firstSeq: number;
  /** MAC of entry firstSeq - 1, or the genesis hash when firstSeq is 0. */
  previousMac: Buffer;
  /** Block key for a block index, or undefined when this checker has none for it. */
  keyFor: (block: number) => Buffer | undefined;
  /** Which block must hold a sequence number (from the block table), for misfiled entries. */
  blockOf: (seq: number) => number | undefined;
}

export interface ChainCheckResult {
  checked: number;
  /** Entries whose fields another parser version wrote (not re-derived). */
  otherParserVersion: number;
  unverifiedBlocks: Set<number>;
  lastSeq: number | undefined;
  lastMac: Buffer;
}

/**
 * Walks the chain in order: continuity, the block each entry is filed under, its MAC, and its
 * parsed fields. After a MAC mismatch it carries on from the stored MAC, so that one edit
 * yields one failure at the edited entry instead of a cascade.
 */
export function checkChain(input: ChainCheckInput, report: (f: Failure) => void): ChainCheckResult {
  let expectSeq = input.firstSeq;
  let prev = input.previousMac;
  let checked = 0;
  let otherParserVersion = 0;
  let lastSeq: number | undefined;
  const unverified = new Set<number>();
  for (const e of input.entries) {
    if (e.seq !== expectSeq) {
      if (e.seq > expectSeq) {
        report({ code: 'SEQ_GAP', seq: expectSeq, expected: String(expectSeq), actual: String(e.seq), detail: `entries ${expectSeq}..${e.seq - 1} are missing` });
      } else {
        report({ code: 'SEQ_OUT_OF_ORDER', seq: e.seq, expected: String(expectSeq), actual: String(e.seq), detail: `entry ${e.seq} appears after ${expectSeq - 1}` });
      }
    }
    const owner = input.blockOf(e.seq);
    if (owner !== e.block) {
      report({ code: 'ENTRY_BLOCK_MISMATCH', seq: e.seq, block: e.block, receivedAtUs: e.received_at_us, expected: String(owner), actual: String(e.block), detail: `entry ${e.seq} is filed under block ${e.block}, the block table puts it in ${owner}` });
    }
    const key = input.keyFor(e.block);
    if (key === undefined) {
      unverified.add(e.block);
    } else {
      let encoded: Buffer | undefined;
      try {
        encoded = encodeStoredEntry(e);
      } catch (err) {
        if (!(err instanceof EncodingError)) throw err;
        report({ code: 'ENTRY_BAD_ENCODING', seq: e.seq, block: e.block, receivedAtUs: e.received_at_us, expected: err.expected, actual: err.actual, detail: err.message });
      }
      if (encoded) {
        const mac = chainMac(key, prev, encoded);
        if (!mac.equals(e.mac)) {
          report({ code: 'ENTRY_MAC_MISMATCH', seq: e.seq, block: e.block, receivedAtUs: e.received_at_us, expected: mac.toString('hex'), actual: Buffer.from(e.mac).toString('hex'), detail: `MAC of entry ${e.seq} does not match its contents and predecessor` });
        }
      }
    }
    // Fields written by another parser version cannot be re-derived here; they are counted, not failed.
    if (!e.fields.startsWith(FIELDS_PREFIX)) {
      otherParserVersion++;
    } else {
      const fields = fieldsToJson(parseRecord(e.raw));
      if (fields !== e.fields) report({ code: 'FIELDS_MISMATCH', seq: e.seq, block: e.block, receivedAtUs: e.received_at_us, expected: fields, actual: e.fields, detail: `parsed fields of entry ${e.seq} differ from its raw bytes` });
    }
    prev = e.mac;
    lastSeq = e.seq;
    expectSeq = e.seq + 1;
    checked++;
  }
  return { checked, otherParserVersion, unverifiedBlocks: unverified, lastSeq, lastMac: prev };
}
