import type { Failure, ReasonCode } from './failures.js';

/** How many failures a report lists unless asked otherwise; the rest are counted by code. */
export const DEFAULT_MAX_LISTED_FAILURES = 1000;

/**
 * Where a failure sits in the log: blocks in order, a block's own failures (its checkpoint, its
 * escrow, its count) before those of its entries, entries by sequence number. Failures that name
 * no place (identity, freshness) come first. Block order is log order, so no unsigned column is
 * needed to sort.
 */
function placeOf(f: Failure): [number, number, number] {
  const block = f.block ?? f.checkpoint;
  if (block === undefined) return [-1, 0, 0];
  return f.seq === undefined ? [block, 0, 0] : [block, 1, f.seq];
}

function compare(a: { k: [number, number, number]; i: number }, b: { k: [number, number, number]; i: number }): number {
  return a.k[0] - b.k[0] || a.k[1] - b.k[1] || a.k[2] - b.k[2] || a.i - b.i;
}

/**
 * The failures of one verify run, with memory bounded whatever the damage: the first `limit` in
 * log order are kept with their evidence, every one is counted by code. Block checks finish in
 * any order, so the list is trimmed to the `limit` earliest whenever it doubles.
 */
export class FailureLog {
  private kept: { f: Failure; k: [number, number, number]; i: number }[] = [];
  private arrival = 0;
  private readonly byCode = new Map<ReasonCode, number>();
  total = 0;

  constructor(readonly limit: number = DEFAULT_MAX_LISTED_FAILURES) {}

  add(f: Failure): void {
    this.count(f.code, 1);
    this.kept.push({ f, k: placeOf(f), i: this.arrival++ });
    if (this.kept.length >= 2 * this.limit + 64) this.trim();
  }

  /** Failures a block check counted but did not keep (past its own limit). */
  addOmitted(counts: Partial<Record<ReasonCode, number>>): void {
    for (const [code, n] of Object.entries(counts) as [ReasonCode, number][]) this.count(code, n);
  }

  private count(code: ReasonCode, n: number): void {
    this.total += n;
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + n);
  }

  private trim(): void {
    this.kept.sort(compare);
    this.kept.length = Math.min(this.kept.length, this.limit);
  }

  /** The first `limit` failures in log order. */
  listed(): Failure[] {
    this.trim();
    return this.kept.map((x) => x.f);
  }

  countsByCode(): Partial<Record<ReasonCode, number>> {
    return Object.fromEntries(this.byCode) as Partial<Record<ReasonCode, number>>;
  }
}

/**
 * A block check's own bounded list: the first `limit` failures of the block (it walks in log
 * order), and a count by code of the rest. The evidence (hex digests, field JSON) is only built
 * for failures that will be listed: under heavy tampering building it for every entry was most
 * of verify's memory and time.
 */
export class BlockFailures {
  readonly listed: Failure[] = [];
  readonly omitted: Partial<Record<ReasonCode, number>> = {};
  constructor(private readonly limit: number) {}
  push(code: ReasonCode, evidence: () => Failure): void {
    if (this.listed.length < this.limit) this.listed.push(evidence());
    else this.omitted[code] = (this.omitted[code] ?? 0) + 1;
  }
}
