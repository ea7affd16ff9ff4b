/**
 * When the daemon's main thread counts as hung: what the watchdog thread decides from what it
 * sees of it once per sample. Pure: the samples come from /proc (see watchdog-thread.ts).
 *
 * Hung means: no heartbeat (its 1 s timer did not run), no CPU used, and asleep (state S), for
 * `stallSamples` samples in a row. Busy JavaScript (a long recovery) uses CPU; waiting on a disk
 * is state D; an idle event loop still beats. What is left is a thread asleep on something that
 * will not wake it: of the two starts that hung in CI, the one whose threads were recorded sat
 * in a futex for 90 s after 0.27 s of CPU, every other thread idle.
 *
 * Samples are counted rather than timed, so that a pause of the whole machine (a VM stopped, a
 * clock jump) is not taken for a hang: the watchdog does not run during it either.
 */
export interface MainThreadSample {
  /** The heartbeat counter the main thread increments. */
  beat: number;
  /** Scheduler state letter from /proc/<pid>/task/<tid>/stat (R, S, D, ...). */
  state: string;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** Kernel wait channel, for the message (e.g. futex_do_wait). */
  wchan: string;
}

export interface Stall {
  samples: number;
  state: string;
  cpuTicks: number;
  wchan: string;
}

export class StallDetector {
  private first: MainThreadSample | undefined;
  private count = 0;

  constructor(private readonly stallSamples: number) {
    if (!Number.isInteger(stallSamples) || stallSamples < 2) throw new Error(`stallSamples: expected an integer >= 2, got ${stallSamples}`);
  }

  /** Returns the stall once it has lasted `stallSamples` samples, else undefined. */
  observe(s: MainThreadSample): Stall | undefined {
    const f = this.first;
    if (f === undefined || s.state !== 'S' || s.beat !== f.beat || s.cpuTicks !== f.cpuTicks) {
      this.first = s.state === 'S' ? s : undefined;
      this.count = this.first ? 1 : 0;
      return undefined;
    }
    this.count++;
    return this.count >= this.stallSamples ? { samples: this.count, state: s.state, cpuTicks: s.cpuTicks, wchan: s.wchan } : undefined;
  }
}

/** State and CPU ticks from the text of /proc/<pid>/task/<tid>/stat. */
export function parseTaskStat(text: string): { state: string; cpuTicks: number } {
  // The command name is in parentheses and may itself hold spaces or parentheses.
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`task stat: expected "pid (comm) state ...", got ${JSON.stringify(text.slice(0, 80))}`);
  const f = text.slice(close + 2).trim().split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (f[0] === undefined || f[0].length !== 1 || !Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new Error(`task stat: expected a state letter and utime/stime, got ${JSON.stringify(text.slice(close + 2, close + 120))}`);
  }
  return { state: f[0], cpuTicks: utime + stime };
}
