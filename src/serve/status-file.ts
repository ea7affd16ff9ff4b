import { writeFileAtomic, writeFileAtomicAsync } from '../log/atomic-file.js';
import type { Warn } from '../receive/sink.js';
import type { DaemonStatus } from './status.js';

/** status.json is rewritten this often, for `immutalog status` and for tests that bind port 0. */
const STATUS_INTERVAL_MS = 2000;

/** The daemon's status.json: written at start and stop, and rewritten every STATUS_INTERVAL_MS between. */
export class StatusFile {
  private timer: NodeJS.Timeout | undefined;
  /** The periodic write under way, if any (stop waits for it: both use one temp name). */
  private writing: Promise<void> | undefined;

  /** `snapshot` is taken right before each write. */
  constructor(
    private readonly path: string,
    private readonly snapshot: (state: DaemonStatus['state']) => DaemonStatus,
    private readonly warn: Warn,
  ) {}

  /** At start and stop, when nothing else waits on this thread. */
  write(state: DaemonStatus['state']): void {
    try {
      writeFileAtomic(this.path, JSON.stringify(this.snapshot(state), null, 1) + '\n', 0o640);
    } catch (e) {
      this.warn('status-write', `cannot write status file: ${(e as Error).message}`);
    }
  }

  startPeriodic(): void {
    this.timer = setInterval(() => this.writeInBackground(), STATUS_INTERVAL_MS);
    this.timer.unref();
  }

  /** Ends the periodic rewrite, once the write under way (if any) is done. */
  async stopPeriodic(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.writing;
  }

  /**
   * The periodic rewrite, on the thread pool: its fsyncs, done on this thread while the storage
   * thread kept the disk busy, stalled reception long enough to overflow UDP socket buffers.
   */
  private writeInBackground(): void {
    if (this.writing) return;
    this.writing = writeFileAtomicAsync(this.path, JSON.stringify(this.snapshot('running'), null, 1) + '\n', 0o640)
      .catch((e: Error) => this.warn('status-write', `cannot write status file: ${e.message}`))
      .finally(() => {
        this.writing = undefined;
      });
  }
}
