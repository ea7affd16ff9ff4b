// The RELP relay of test/clients/rsyslog-relp.ts (rsyslog omrelp with a disk-assisted queue)
// proved against rsyslog's own receiver, imrelp, restarted twice under a stream of numbered
// messages: every number arrives. (Over TLS, imrelp restarted this way lost one window, 128
// messages, in about one run of four: on rsyslog's side, so TLS is proved against immutalog
// only, in relp-rsyslog.test.ts.) So when relp-rsyslog.test.ts fails against
// immutalog's listener, the relay and its config are not the suspect. imrelp is stopped with
// SIGTERM, not killed: it acknowledges on enqueue, before its file is written, so a SIGKILL
// would lose messages on imrelp's side (which is why immutalog acknowledges only committed ones).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { needClients } from '../clients/available.js';
import { sleep } from '../clients/proc.js';
import { countNumbers, feedNumbered, freePort, startImrelpServer, startRelpRelay, tally, type ImrelpServer, type RelpRsyslogd } from '../clients/rsyslog-relp.js';
import { waitFor } from '../helpers/daemon.js';

const clients = needClients('rsyslog-relp');

/** Enough to keep the relay's window full across each restart. */
const N = 3000;
/** Restarts of the receiver while the relay forwards. */
const RESTARTS = 2;
/** Bounds a hang: the relay retries once a second (action.resumeInterval). */
const ARRIVE_MS = 60_000;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-relp-imrelp-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function relayAcrossRestarts(name: string): Promise<void> {
  const dir = join(tmp, name);
  const port = await freePort();
  let server: ImrelpServer | undefined = await startImrelpServer({ dir: join(dir, 'imrelp'), port });
  let relay: RelpRsyslogd | undefined;
  try {
    relay = await startRelpRelay({ dir: join(dir, 'relay'), port });
    const feeding = feedNumbered(relay.tcpPort, name, 0, N);
    for (let k = 1; k <= RESTARTS; k++) {
      // Mid-stream: some messages arrived, the rest still queued or in flight.
      const seen = await waitFor(() => server!.received().length, (n) => n >= (k * N) / (RESTARTS + 2), ARRIVE_MS, 20);
      expect(seen, relay.internalLog()).toBeGreaterThanOrEqual((k * N) / (RESTARTS + 2));
      expect(seen).toBeLessThan(N);
      await server.stop();
      server = undefined;
      await sleep(500);
      server = await startImrelpServer({ dir: join(dir, 'imrelp'), port });
    }
    await feeding;
    const got = await waitFor(() => countNumbers(name, server!.received()), (c) => c.size >= N, ARRIVE_MS, 100);
    const t = tally(got, 0, N);
    expect(t.missing, `${relay.internalLog()}\n${server.internalLog()}`).toEqual([]);
    expect(t.strays).toBe(0);
  } finally {
    await relay?.stop();
    await server?.stop();
  }
}

clients.describe('rsyslog omrelp relay (disk-assisted queue) -> rsyslog imrelp, restarted twice', () => {
  clients.it(`all ${N} numbered messages arrive`, async () => {
    await relayAcrossRestarts('relp-plain');
  });
});
