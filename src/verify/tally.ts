import type { BlockResult, BlockRunner, BlockTask } from './block-check.js';
import type { FailureLog } from './failure-log.js';
import type { TimeBounds } from './range.js';
import type { ProvedRange, VerifyReport } from './report.js';

/** Folds block results in as they come, so memory does not grow with the number of blocks. */
class Tally {
  entries = 0;
  blocks = 0;
  otherParserVersion = 0;
  private firstSeq = Infinity;
  private lastSeq = -Infinity;
  private firstTimeUs = Infinity;
  private lastTimeUs = -Infinity;
  private proved: ProvedRange | null = null;

  constructor(private readonly failures: FailureLog) {}

  take(r: BlockResult): void {
    this.blocks++;
    this.entries += r.checked;
    this.otherParserVersion += r.otherParserVersion;
    if (r.checked > 0) {
      this.firstSeq = Math.min(this.firstSeq, r.lastSeq! - r.checked + 1);
      this.lastSeq = Math.max(this.lastSeq, r.lastSeq!);
      this.firstTimeUs = Math.min(this.firstTimeUs, r.firstTimeUs!);
      this.lastTimeUs = Math.max(this.lastTimeUs, r.lastTimeUs!);
    }
    for (const f of r.failures) this.failures.add(f);
    this.failures.addOmitted(r.omitted);
  }

  /** A sealed block was checked: its signed range joins what the report says is proved. */
  sealedChecked(block: number, firstSeq: number, count: number, b: TimeBounds): void {
    const p = this.proved;
    if (!p) {
      this.proved = { firstBlock: block, lastBlock: block, firstSeq, endSeq: firstSeq + count, fromUs: b.fromUs, toUs: b.toUs };
      return;
    }
    if (block < p.firstBlock) Object.assign(p, { firstBlock: block, firstSeq, fromUs: b.fromUs });
    if (block > p.lastBlock) Object.assign(p, { lastBlock: block, endSeq: firstSeq + count, toUs: b.toUs });
  }

  get provedRange(): ProvedRange | null {
    return this.proved;
  }

  get found(): VerifyReport['found'] {
    const any = this.entries > 0;
    return { firstSeq: any ? this.firstSeq : null, lastSeq: any ? this.lastSeq : null, firstTimeUs: any ? this.firstTimeUs : null, lastTimeUs: any ? this.lastTimeUs : null };
  }
}

/**
 * Block checks in flight, at most twice the runner's parallelism, folded into the tally as they
 * finish (in any order).
 */
export class BlockQueue {
  readonly tally: Tally;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly runner: BlockRunner,
    failures: FailureLog,
    private readonly o: { bundle: boolean; total: number; onProgress: ((entriesDone: number, entriesTotal: number) => void) | undefined },
  ) {
    this.tally = new Tally(failures);
  }

  /** `expectedCount`: the entries the block's checkpoint signs (undefined for an unsealed block). */
  take(r: BlockResult, expectedCount: number | undefined): void {
    if (this.o.bundle && expectedCount !== undefined && expectedCount > 0 && r.checked === 0) {
      // The bundle holds nothing of a block the range needs: one failure that says so.
      this.tally.take({ ...r, failures: [{ code: 'RANGE_NOT_COVERED', block: r.block, checkpoint: r.block, expected: `${expectedCount} entries`, actual: 'none in the bundle', detail: `the requested range needs block ${r.block}, whose entries this bundle does not hold` }], omitted: {} });
    } else {
      this.tally.take(r);
    }
    this.o.onProgress?.(this.tally.entries, this.o.total);
  }

  async submit(task: BlockTask): Promise<void> {
    const p = this.runner.run(task).then((r) => this.take(r, task.expect?.count));
    const tracked = p.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    if (this.inFlight.size >= this.runner.parallelism * 2) await Promise.race(this.inFlight);
  }

  drain(): Promise<unknown> {
    return Promise.all(this.inFlight);
  }
}
