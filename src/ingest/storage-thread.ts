import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { StoredEntryEncoder } from '../chain/encoding.js';
import { sealedLeafSpans } from '../chain/batch.js';
import { leafHashOfPrefixed, MerkleAccumulator } from '../checkpoint/merkle.js';
import { HASH_BYTES } from '../crypto/batch-crypto.js';
import { batchCrypto } from '../crypto/select.js';
import { LogStore, type BlockRow } from '../store/log-store.js';
import { RETRY_MAX_MS, RETRY_MIN_MS } from './retry.js';
import type { FromStorage, ToStorage } from './storage-protocol.js';

/*
 * The storage thread (started by storage-client.ts; the messages are in storage-protocol.ts):
 * commits, in the order they arrive, sealed batches, block openings and checkpoints. Running on
 * its own core, it lets the main thread receive, parse and MAC while a commit (and its fsync) is
 * under way. It also hashes each committed entry into its block's Merkle tree, so that sealing a
 * block needs no second pass over it.
 * A failed commit is retried with the same rows until it succeeds: accepted messages are never
 * dropped, and the main thread sees the backlog grow and pushes back.
 */

/**
 * Batches that queued up while a commit (and its fsync) ran are committed together, up to this
 * many rows: the main thread cuts small batches so that its frames die young, and this keeps the
 * number of fsyncs per second from growing with it.
 */
const MAX_ROWS_PER_COMMIT = 16384;

type Task =
  /** A sealed batch, read row by row only when it is committed. */
  | { kind: 'rows'; batch: Buffer; memory: ArrayBuffer }
  | { kind: 'seal'; block: number; next: BlockRow }
  | { kind: 'checkpoint'; idx: number; timeUs: number; bytes: Buffer }
  | { kind: 'close' };

const port = parentPort!;
const store = LogStore.open((workerData as { database: string }).database, { create: false });
const tasks: Task[] = [];
let retryMs = 0;
let retryTimer: NodeJS.Timeout | undefined;

/** The open block's tree, rebuilt from what is already committed when the thread starts. */
const open = (() => {
  const b = store.blocks.last();
  const acc = new MerkleAccumulator();
  const encoder = new StoredEntryEncoder();
  if (b) for (const r of store.entries.range(b.first_seq, Number.MAX_SAFE_INTEGER)) acc.addLeafHash(leafHashOfPrefixed(encoder.leafInput(r)));
  return { block: b?.block ?? 0, firstSeq: b?.first_seq ?? 0, acc };
})();

/** Runs one task other than rows (commitRows takes those); returns the message to send once it is durable. */
function run(t: Exclude<Task, { kind: 'rows' }>): FromStorage | undefined {
  switch (t.kind) {
    case 'seal': {
      if (t.block !== open.block) throw new Error(`seal of block ${t.block}, but block ${open.block} is open`);
      store.blocks.insert(t.next);
      const sealed: FromStorage = { type: 'block-sealed', block: t.block, firstSeq: open.firstSeq, count: open.acc.size, entryRoot: open.acc.root() };
      open.block = t.next.block;
      open.firstSeq = t.next.first_seq;
      open.acc = new MerkleAccumulator();
      return sealed;
    }
    case 'checkpoint':
      store.checkpoints.insert({ idx: t.idx, time_us: t.timeUs, bytes: t.bytes });
      return { type: 'checkpoint-committed', idx: t.idx };
    case 'close':
      store.close();
      return { type: 'closed' };
  }
}

/** SQLite's "database or disk is full", or a failed write underneath it (ENOSPC, EIO). */
function isOutOfSpace(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'));
}

let abandoned = false;

/** Ends the thread without writing what is still queued (see 'abandon'). */
function abandon(): void {
  abandoned = true;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = undefined;
  const left = tasks.length;
  tasks.length = 0;
  try {
    store.close();
  } catch {
    // A database that cannot even be closed rolls back its open transaction at the next open.
  }
  port.postMessage({ type: 'abandoned', tasks: left } satisfies FromStorage);
  port.close();
}

/** The last attempt failed for want of space. */
let outOfSpace = false;

function drain(): void {
  retryTimer = undefined;
  // Before the retry takes any space that came back, the WAL gives back what it holds beyond the
  // database's own growth (see truncateWal); while the disk is still full this fails, harmlessly.
  if (outOfSpace) store.truncateWal();
  outOfSpace = false;
  while (tasks.length > 0) {
    const t = tasks[0]!;
    let reply: FromStorage | undefined;
    let done = 1;
    try {
      if (t.kind === 'rows') [reply, done] = commitRows();
      else reply = run(t);
    } catch (e) {
      retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, retryMs * 2));
      outOfSpace = isOutOfSpace(e);
      port.postMessage({ type: 'commit-failed', error: (e as Error).message, retryMs, pending: tasks.length } satisfies FromStorage);
      retryTimer = setTimeout(drain, retryMs);
      return;
    }
    retryMs = 0;
    tasks.splice(0, done);
    if (reply) port.postMessage(reply, reply.type === 'committed' ? reply.buffers : []);
    if (t.kind === 'close') {
      port.close();
      return;
    }
  }
}

/**
 * Commits the run of row tasks at the head of the queue in one transaction (all or none) and
 * hashes them into the open block's tree. Returns the reply and how many tasks it covered. The
 * leaves join the tree only once the commit has succeeded: a failed one is retried from the batch.
 */
function commitRows(): [FromStorage, number] {
  const run: Extract<Task, { kind: 'rows' }>[] = [];
  let rows = 0;
  for (const t of tasks) {
    if (t.kind !== 'rows') break;
    const n = t.batch.readUInt32BE(4);
    if (run.length > 0 && rows + n > MAX_ROWS_PER_COMMIT) break;
    run.push(t);
    rows += n;
  }
  store.entries.appendSealed(run.map((t) => t.batch));
  // Each entry's leaf input, hashed into the tree only now that the commit has succeeded.
  let lastSeq = -1;
  const spans = run.map((t) => {
    const s = sealedLeafSpans(t.batch);
    if (s.lastSeq >= 0) lastSeq = s.lastSeq;
    return s.spans;
  });
  let bytes = 0;
  run.forEach((t, b) => {
    const n = spans[b]!.length / 2;
    const leaves = Buffer.allocUnsafe(n * HASH_BYTES);
    batchCrypto.leafHashes(t.batch, spans[b]!, leaves);
    open.acc.addLeafHashes(leaves, n);
  });
  for (const t of run) bytes += t.batch.byteLength;
  return [{ type: 'committed', count: rows, bytes, lastSeq, buffers: run.map((t) => t.memory) }, run.length];
}

function enqueue(m: ToStorage): void {
  if (m.type === 'batch') tasks.push({ kind: 'rows', batch: Buffer.from(m.buffer, m.byteOffset, m.byteLength), memory: m.buffer });
  else if (m.type === 'seal-block') tasks.push({ kind: 'seal', block: m.block, next: { ...m.next, escrow: Buffer.from(m.next.escrow) } });
  else if (m.type === 'checkpoint') tasks.push({ kind: 'checkpoint', idx: m.idx, timeUs: m.timeUs, bytes: Buffer.from(m.bytes) });
  else tasks.push({ kind: 'close' });
}

port.on('message', (m: ToStorage) => {
  if (abandoned) return;
  // Take in everything that arrived while the last commit ran, so it can share one transaction.
  for (let r: { message: ToStorage } | undefined = { message: m }; r !== undefined; r = receiveMessageOnPort(port)) {
    if (r.message.type === 'abandon') {
      abandon();
      return;
    }
    enqueue(r.message);
  }
  // While a retry is scheduled, new tasks wait behind the failed one to keep their order.
  if (retryTimer === undefined) drain();
});
