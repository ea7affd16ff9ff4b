// The watchdog's rule: a main thread asleep with no heartbeat and no CPU for N samples is hung;
// busy, waiting on a disk, or beating, it is not.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTaskStat, StallDetector, type MainThreadSample } from '../../src/serve/stall-rule.js';

const asleep = (over: Partial<MainThreadSample> = {}): MainThreadSample => ({ beat: 7, state: 'S', cpuTicks: 27, wchan: 'futex_do_wait', ...over });

function feed(d: StallDetector, samples: MainThreadSample[]): (ReturnType<StallDetector['observe']>)[] {
  return samples.map((s) => d.observe(s));
}

describe('StallDetector', () => {
  it('reports a stall at exactly the Nth identical sleeping sample, with its evidence', () => {
    const v = feed(new StallDetector(5), Array.from({ length: 6 }, () => asleep()));
    expect(v.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(v[4]).toEqual({ samples: 5, state: 'S', cpuTicks: 27, wchan: 'futex_do_wait' });
    expect(v[5]?.samples).toBe(6);
  });

  it('a heartbeat starts the count again', () => {
    const d = new StallDetector(3);
    expect(feed(d, [asleep(), asleep(), asleep({ beat: 8 }), asleep({ beat: 8 })])).toEqual([undefined, undefined, undefined, undefined]);
    expect(d.observe(asleep({ beat: 8 }))?.samples).toBe(3);
  });

  it('a busy main thread (CPU used, no heartbeat: a long synchronous recovery) is never hung', () => {
    const d = new StallDetector(3);
    const v = feed(d, Array.from({ length: 100 }, (_, i) => asleep({ cpuTicks: 27 + i })));
    expect(v.every((x) => x === undefined)).toBe(true);
  });

  it('one tick of CPU anywhere in the window starts the count again', () => {
    const d = new StallDetector(3);
    expect(feed(d, [asleep(), asleep(), asleep({ cpuTicks: 28 }), asleep({ cpuTicks: 28 })])).toEqual([undefined, undefined, undefined, undefined]);
    expect(d.observe(asleep({ cpuTicks: 28 }))).toBeDefined();
  });

  it('waiting on a disk (state D) or running (R) is not a hang, however long', () => {
    for (const state of ['D', 'R']) {
      const d = new StallDetector(3);
      expect(feed(d, Array.from({ length: 50 }, () => asleep({ state }))).every((x) => x === undefined)).toBe(true);
    }
  });

  it('a sample in state D between sleeping ones starts the count again', () => {
    const d = new StallDetector(3);
    expect(feed(d, [asleep(), asleep(), asleep({ state: 'D' }), asleep(), asleep()])).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(d.observe(asleep())).toBeDefined();
  });

  it('refuses a window too short to mean anything', () => {
    expect(() => new StallDetector(1)).toThrow(/expected an integer >= 2, got 1/);
    expect(() => new StallDetector(2.5)).toThrow(/got 2.5/);
  });
});

describe('parseTaskStat', () => {
  // Fields as the kernel writes them (proc(5)): pid (comm) state ppid ... utime(14) stime(15) ...
  const line = (comm: string, state: string, utime: number, stime: number): string =>
    `4242 (${comm}) ${state} 1 4242 4242 0 -1 4194560 1234 0 0 0 ${utime} ${stime} 0 0 20 0 11 0 885511 1234567 12345 18446744073709551615`;

  it('reads state and utime + stime', () => {
    expect(parseTaskStat(line('node', 'S', 20, 7))).toEqual({ state: 'S', cpuTicks: 27 });
  });

  it('finds the fields after a command name holding spaces and parentheses', () => {
    expect(parseTaskStat(line('a) b (c', 'D', 3, 4))).toEqual({ state: 'D', cpuTicks: 7 });
  });

  it('reads this very thread from /proc, running', () => {
    const s = parseTaskStat(readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8'));
    expect(s.state).toBe('R');
    expect(s.cpuTicks).toBeGreaterThan(0);
  });

  it('refuses text that is not a task stat line, saying what it got', () => {
    expect(() => parseTaskStat('garbage')).toThrow(/expected "pid \(comm\) state \.\.\.", got "garbage"/);
    expect(() => parseTaskStat('1 (x) S 1 2')).toThrow(/expected a state letter and utime\/stime/);
  });
});
