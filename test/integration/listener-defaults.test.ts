// Issue 11, items 10 and 11: a listener given on the command line turns the listener defaults
// off (`--tcp` alone binds no UDP 127.0.0.1:5514), and a listener that cannot bind is named in
// the daemon's log, once, with its address.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startDaemon, tempDataDir, type RunningDaemon } from '../helpers/daemon.js';
import { ETC_PORT, assertEtcPortFree, lockEtcPort } from '../clients/etc-port.js';

describe('--tcp alone', () => {
  const daemons: RunningDaemon[] = [];
  let release: (() => void) | undefined;
  beforeAll(async () => {
    // Were the UDP default still on, the daemons below would bind 127.0.0.1:5514: hold that port's lock.
    release = await lockEtcPort('test/integration/listener-defaults.test.ts');
    await assertEtcPortFree();
  });
  afterAll(async () => {
    for (const d of daemons) if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
    release?.();
  });

  it('binds only that TCP listener; a second instance with its own --tcp starts too', async () => {
    for (let i = 0; i < 2; i++) {
      const d = await startDaemon({ args: ['--tcp', '127.0.0.1:0'] });
      daemons.push(d);
      const names = d.status().listeners.map((l: { name: string }) => l.name);
      expect(names).toHaveLength(1);
      expect(names[0]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      expect(names[0]).not.toBe(`tcp://127.0.0.1:${ETC_PORT}`);
    }
    for (const d of daemons) expect(await d.stop()).toBe(0);
  });
});

describe('a listener that cannot bind', () => {
  let taken: Server;
  let port: number;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    port = (taken.address() as { port: number }).port;
  });
  afterAll(() => taken.close());

  it('stops the start (exit 2) with one line naming the listener, never an empty name', () => {
    const r = runCli(['serve', '--data-dir', tempDataDir(), '--tcp', `127.0.0.1:${port}`]);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.includes('EADDRINUSE'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`cannot start: tcp://127.0.0.1:${port}: listen EADDRINUSE`);
    expect(r.stderr).not.toMatch(/immutalog : /);
  });
});
