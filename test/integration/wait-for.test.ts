// The integration tests' polling helper: a pause of the whole machine (a VM paused, a clock
// jump) must not count as the daemon's time, while a condition that never comes true still
// ends the wait after its timeout of counted time.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { nativeStacks, threadStates, waitFor, type WaitStats } from '../helpers/daemon.js';
import { needClients } from '../clients/available.js';

const gdb = needClients('gdb');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('waitFor', () => {
  it('a 100 s jump of the clock counts as one second, so a condition that comes true after it is still seen', async () => {
    const realNow = Date.now.bind(Date);
    let jump = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + jump);
    let calls = 0;
    const stats: WaitStats = { polls: 0, wallMs: 0, countedMs: 0, longestGapMs: 0 };
    const v = await waitFor(
      () => {
        calls++;
        if (calls === 3) jump = 100_000;
        return calls;
      },
      (n) => n >= 10,
      2000,
      5,
      stats,
    );
    expect(v).toBe(10);
    expect(stats.wallMs).toBeGreaterThanOrEqual(100_000);
    expect(stats.longestGapMs).toBeGreaterThanOrEqual(100_000);
    expect(stats.countedMs).toBeLessThan(2000);
  });

  it('a condition that never comes true ends the wait once the counted time reaches the timeout', async () => {
    const stats: WaitStats = { polls: 0, wallMs: 0, countedMs: 0, longestGapMs: 0 };
    const v = await waitFor(() => 'no', (x) => x === 'yes', 200, 10, stats);
    expect(v).toBe('no');
    expect(stats.countedMs).toBeGreaterThanOrEqual(200);
    expect(stats.wallMs).toBeGreaterThanOrEqual(200);
    expect(stats.polls).toBeGreaterThan(1);
  });
});

describe('threadStates', () => {
  it('names each thread of a live process with its state and CPU ticks', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const s = await waitFor(() => threadStates(child.pid!), (x) => /^sleep\[\d+\] S /.test(x), 5000);
      expect(s).toMatch(/^sleep\[\d+\] S wchan=\S+ cpu_ticks=\d+$/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says so when the process is gone', () => {
    expect(threadStates(2 ** 22 + 12345)).toMatch(/^no \/proc view: /);
  });
});

gdb.describe('nativeStacks', () => {
  it('names every thread of a sleeping node process, the main one in its event loop', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => child.once('spawn', r));
      await waitFor(() => threadStates(child.pid!), (x) => x.split('; ').length >= 5, 5000);
      const s = nativeStacks(child.pid!);
      const lines = s.split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(5);
      for (const l of lines) expect(l).toMatch(/^LWP \d+: \S+/);
      expect(lines.find((l) => l.startsWith(`LWP ${child.pid}:`))).toMatch(/ uv_run /);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says so when the process is gone', () => {
    expect(nativeStacks(2 ** 22 + 12345)).toMatch(/^no gdb stacks/);
  });
});
