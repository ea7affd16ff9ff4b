// The RELP relay of test/clients/rsyslog-relp.ts (rsyslog omrelp with a disk-assisted queue)
// proved against rsyslog's own receiver, imrelp, restarted twice under a stream of numbered
// messages, plain and TLS: every number arrives. So when relp-rsyslog.test.ts fails against
// immutalog's listener, the relay and its config are not the suspect. imrelp is stopped with
// SIGTERM, not killed: it acknowledges on enqueue, before its file is written, so a SIGKILL
// would lose messages on imrelp's side (which is why immutalog acknowledges only committed ones).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { needClients } from '../clients/available.js';
import { makePki, type Pki } from '../clients/certs.js';
import { sleep } from '../clients/proc.js';
import { countNumbers, feedNumbered, freePort, startImrelpServer, startRelpRelay, tally, type ImrelpServer, type RelpRsyslogd, type RelpTls } from '../clients/rsyslog-relp.js';
import { waitFor } from '../helpers/daemon.js';

const clients = needClients('rsyslog-relp', 'openssl');

/** Enough to keep the relay's window full across each restart. */
const N = 3000;
/** Restarts of the receiver while the relay forwards. */
const RESTARTS = 2;
/** Bounds a hang: the relay retries once a second (action.resumeInterval). */
const ARRIVE_MS = 60_000;

let tmp: string;
let pki: Pki;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-relp-imrelp-'));
  if (!clients.missing) pki = await makePki(join(tmp, 'pki'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function relayAcrossRestarts(name: string, tls: boolean): Promise<void> {
  const dir = join(tmp, name);
  const port = await freePort();
  const serverTls: RelpTls | undefined = tls ? { caCert: pki.caCert, myCert: pki.serverCert, myPrivKey: pki.serverKey, permittedPeer: 'tacker-server.test' } : undefined;
  const clientTls: RelpTls | undefined = tls ? { caCert: pki.caCert, myCert: pki.clientCert, myPrivKey: pki.clientKey, permittedPeer: 'immutalog.test' } : undefined;
  let server: ImrelpServer | undefined = await startImrelpServer({ dir: join(dir, 'imrelp'), port, tls: serverTls });
  let relay: RelpRsyslogd | undefined;
  try {
    relay = await startRelpRelay({ dir: join(dir, 'relay'), port, tls: clientTls });
    const feeding = feedNumbered(relay.tcpPort, name, 0, N);
    for (let k = 1; k <= RESTARTS; k++) {
      // Mid-stream: some messages arrived, the rest still queued or in flight.
      const seen = await waitFor(() => server!.received().length, (n) => n >= (k * N) / (RESTARTS + 2), ARRIVE_MS, 20);
      expect(seen, relay.internalLog()).toBeGreaterThanOrEqual((k * N) / (RESTARTS + 2));
      expect(seen).toBeLessThan(N);
      await server.stop();
      server = undefined;
      await sleep(500);
      server = await startImrelpServer({ dir: join(dir, 'imrelp'), port, tls: serverTls });
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
  clients.it(`plain: all ${N} numbered messages arrive`, async () => {
    await relayAcrossRestarts('relp-plain', false);
  });
  clients.it(`tls="on" with client and server certificates: all ${N} arrive`, async () => {
    await relayAcrossRestarts('relp-tls', true);
  });
});
