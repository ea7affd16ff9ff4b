// The daemon's watchdog (src/serve/watchdog.ts): a start whose main thread hangs in a futex, as
// one did in CI, is killed after WATCHDOG_STALL_SAMPLES one-second samples with a message saying
// why, and the next start in the same data directory (systemd's Restart=on-failure, which the
// test harness imitates) serves and keeps what it is sent. An idle daemon is never taken for a
// hung one.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WATCHDOG_STALL_SAMPLES } from '../../src/serve/watchdog.js';
import { query, startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { osloMessage, sendTcp, waitCommitted } from '../helpers/tamper-log.js';
import { needClients } from '../clients/available.js';

/** gdb adds the native stacks to a hung start's report (test/helpers/daemon.ts). */
const gdb = needClients('gdb');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let d: RunningDaemon | undefined;
afterEach(async () => {
  if (d && d.child.exitCode === null && d.child.signalCode === null) await d.stop();
  d = undefined;
});

describe('watchdog', () => {
  it(gdb.partTitle('kills a start hung in a futex, says why, and the restart serves', 'the native stacks check'), async () => {
    d = await startDaemon({ env: { IMMUTALOG_FAULT: 'hang-once' } });
    expect(existsSync(join(d.dataDir, 'fault-hang-once'))).toBe(true);
    expect(d.hungStarts).toHaveLength(1);
    const report = d.hungStarts[0]!;
    expect(report).toContain('signal SIGKILL');
    expect(report).toMatch(new RegExp(`watchdog: the main thread has been asleep for ${WATCHDOG_STALL_SAMPLES} samples of 1000 ms with no heartbeat and no CPU used \\(state S, wchan futex_do_wait, \\d+ ticks in all\\)`));
    // The harness took the hung process's stacks before the watchdog killed it: its main thread
    // sat in V8's Atomics.wait, which is what the fault does.
    if (!gdb.missing) expect(report).toMatch(/LWP \d+:[^\n]*FutexEmulation/);
    await sendTcp(d.tcpPort, [osloMessage('after-the-watchdog')]);
    await waitCommitted(d, 0);
    const rows = query(d.dataDir);
    expect(rows.map((r) => Buffer.from(r.raw, 'base64'))).toEqual([osloMessage('after-the-watchdog')]);
    expect(await d.stop()).toBe(0);
  });

  it(`leaves an idle daemon alone past ${WATCHDOG_STALL_SAMPLES} samples`, async () => {
    d = await startDaemon();
    await sleep((WATCHDOG_STALL_SAMPLES + 5) * 1000);
    expect(d.child.exitCode).toBeNull();
    expect(d.child.signalCode).toBeNull();
    expect(d.stderr()).not.toContain('watchdog');
    await sendTcp(d.tcpPort, [osloMessage('still-here')]);
    await waitCommitted(d, 0);
    expect(query(d.dataDir)).toHaveLength(1);
    expect(await d.stop()).toBe(0);
  });
});
