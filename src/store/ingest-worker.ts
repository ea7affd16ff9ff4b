import { parentPort, workerData } from 'node:worker_threads';
import { decodeEntry } from '../chain/encoding.js';
import { unpackBatch } from '../chain/batch.js';
import { TRANSPORT } from '../receive/frame.js';
import { LogStore, type EntryRow } from './log-store.js';

/**
 * The storage thread: commits sealed batches to SQLite in the order they arrive. Running on
 * its own core, it lets the main thread receive, parse and MAC while a commit (and its fsync)
 * is under way. A failed commit is retried with the same rows until it succeeds: accepted
 * messages are never dropped, and the main thread sees the backlog grow and pushes back.
 */
export type ToWorker = { type: 'batch'; buffer: ArrayBuffer; byteOffset: number; byteLength: number } | { type: 'close' };
export type FromWorker =
  | { type: 'committed'; count: number; bytes: number; lastSeq: number }
  | { type: 'commit-failed'; error: string; retryMs: number; pending: number }
  | { type: 'closed' };

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

const port = parentPort!;
const store = LogStore.open((workerData as { database: string }).database, { create: false });
const pending: { rows: EntryRow[]; bytes: number; lastSeq: number }[] = [];
let retryMs = 0;
let retryTimer: NodeJS.Timeout | undefined;
let closing = false;

function toRows(buf: Buffer): { rows: EntryRow[]; lastSeq: number } {
  const { block, entries } = unpackBatch(buf);
  const rows: EntryRow[] = entries.map((e) => {
    const f = decodeEntry(e.encoding);
    return {
      seq: f.seq, block, received_at_us: f.receivedAtUs, transport: TRANSPORT[f.transport], flags: f.flags,
      listener: f.listener, peer_address: f.peerAddress, peer_port: f.peerPort, raw: f.raw, mac: e.mac, fields: e.fieldsJson,
    };
  });
  return { rows, lastSeq: rows.length ? rows[rows.length - 1]!.seq : -1 };
}

function drain(): void {
  retryTimer = undefined;
  while (pending.length > 0) {
    const p = pending[0]!;
    try {
      store.appendEntries(p.rows);
    } catch (e) {
      retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, retryMs * 2));
      port.postMessage({ type: 'commit-failed', error: (e as Error).message, retryMs, pending: pending.length } satisfies FromWorker);
      retryTimer = setTimeout(drain, retryMs);
      return;
    }
    retryMs = 0;
    pending.shift();
    port.postMessage({ type: 'committed', count: p.rows.length, bytes: p.bytes, lastSeq: p.lastSeq } satisfies FromWorker);
  }
  if (closing) {
    store.close();
    port.postMessage({ type: 'closed' } satisfies FromWorker);
    port.close();
  }
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'batch') {
    const buf = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
    pending.push({ ...toRows(buf), bytes: m.byteLength });
  } else {
    closing = true;
  }
  // While a retry is scheduled, new batches wait behind the failed one to keep seq order.
  if (retryTimer === undefined) drain();
});
