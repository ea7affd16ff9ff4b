import { parentPort, workerData } from 'node:worker_threads';
import { LogStore } from '../store/log-store.js';
import { checkBlock, type BlockTask } from './block-check.js';
import { fieldsVouch } from './fields-vouch.js';

const store = LogStore.open((workerData as { database: string }).database, { create: false, readonly: true });
const port = parentPort!;

const buf = (b: Uint8Array | undefined): Buffer | undefined => (b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : undefined);

port.on('message', ({ id, task }: { id: number; task: BlockTask }) => {
  try {
    const t: BlockTask = {
      ...task,
      startHead: buf(task.startHead)!,
      key: buf(task.key),
      ...(task.expect ? { expect: { ...task.expect, chainHead: buf(task.expect.chainHead)!, entryRoot: buf(task.expect.entryRoot)! } } : {}),
    };
    port.postMessage({ id, result: checkBlock(t, store.entries.rangeForVerify(t.firstSeq, t.endSeq, fieldsVouch())) });
  } catch (e) {
    port.postMessage({ id, error: (e as Error).message });
  }
});
