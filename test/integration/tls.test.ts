// The TLS listener (RFC 5425): octet-counted RFC 5424 over TLS from node:tls and from Python's
// ssl module, mutual authentication with --tls-client-ca, and garbage on the TLS port.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { query, settledEntries, startDaemon, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { makePki, type Pki } from '../clients/certs.js';
import { SYSTEM_PYTHON, requireExecutable, stopDaemonAndClean } from '../clients/proc.js';
import { nodeTlsSend, octetFrame, plainSend, pythonTlsSend } from '../clients/tls.js';
import { needClients } from '../clients/available.js';

/** Certificates come from openssl; the second client implementation is Python's ssl module. */
const clients = needClients('openssl', 'python3');

const raw = (e: QueriedEntry): Buffer => Buffer.from(e.raw, 'base64');

const HDR = '<134>1 2026-11-26T12:52:01.098193+00:00 vm tacker-server - - - ';
/** The messages sent over TLS: ordinary, multi-line (raw LFs), UTF-8, and one over several TLS records. */
function messages(tag: string): Buffer[] {
  const long = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.repeat(1000).slice(0, 30_000);
  return [
    `${HDR} 2026-11-26 12:52:01.097 4242 INFO tacker.common.config [-] ${tag} Logging enabled!`,
    `${HDR} 2026-11-26 12:52:01.098 4242 ERROR tacker.vnfm.plugin [-] ${tag} failed\n2026-11-26 12:52:01.098 4242 ERROR tacker.vnfm.plugin Traceback (most recent call last):\n2026-11-26 12:52:01.098 4242 ERROR tacker.vnfm.plugin \n`,
    `${HDR} ${tag} \u30d1\u30c3\u30b1\u30fc\u30b8 B\u00fcro \u2713 \u{1F680}`,
    `${HDR} ${tag} BEGIN ${long} END`,
  ].map((m) => Buffer.from(m, 'utf8'));
}

function tlsCounters(d: RunningDaemon): any {
  return d.status()?.listeners.find((l: any) => l.transport === 'tls')?.counters;
}

/** Waits for the next status.json (rewritten every 2 s) to satisfy cond; returns the TLS counters. */
async function countersWhen(d: RunningDaemon, cond: (c: any) => boolean): Promise<any> {
  return waitFor(() => tlsCounters(d), (c) => c !== undefined && cond(c), 8000, 100);
}

function expectStored(rows: QueriedEntry[], sent: Buffer[], port: number, label: string): void {
  expect(rows.length, label).toBe(sent.length);
  rows.forEach((e, i) => {
    expect(raw(e).equals(sent[i]!), `${label} #${i}`).toBe(true);
    expect(e.transport, label).toBe('tls');
    expect(e.listener, label).toBe(`tls://127.0.0.1:${port}`);
    expect(e.peer, label).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(e.flags, label).toBe(0);
    expect([e.fields.fmt, e.fields.pri, e.fields.host, e.fields.app], label).toEqual(['rfc5424', 134, 'vm', 'tacker-server']);
  });
  expect(new Set(rows.map((e) => e.peer)).size, label).toBe(1);
}

let tmp: string;
let pki: Pki;
beforeAll(async () => {
  requireExecutable(SYSTEM_PYTHON, 'python3');
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-tls-'));
  pki = await makePki(join(tmp, 'pki'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

clients.describe('--tls with a server certificate only', () => {
  let d: RunningDaemon | undefined;
  let stored = 0;
  beforeAll(async () => {
    d = await startDaemon({ args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--tls', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey] });
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('a node:tls client sends octet-counted RFC 5424 frames: stored with transport tls, byte-exact', async () => {
    expect(d!.tlsPort).toBeGreaterThan(0);
    const sent = messages('node');
    const stream = Buffer.concat(sent.map(octetFrame));
    // Writes cut mid-header and mid-message, so frames span TLS records and reads.
    const cuts = [3, 150, 401, 20_000];
    const writes = [0, ...cuts].map((c, i, a) => stream.subarray(c, a[i + 1] ?? stream.length));
    const r = await nodeTlsSend({ port: d!.tlsPort, ca: pki.read(pki.caCert), writes });
    expect(r.error).toBeNull();
    expect(r.refused).toBe(false);
    expect(r.secured).toBe(true);
    expect(r.protocol).toMatch(/^TLSv1\.[23]$/);
    const rows = (await settledEntries(d!, sent.length)).slice(stored);
    stored += rows.length;
    expectStored(rows, sent, d!.tlsPort, 'node');
    expect(raw(rows[1]!).toString('utf8').split('\n').length).toBe(4);
    expect(raw(rows[3]!).length).toBeGreaterThan(30_000);
    const c = await countersWhen(d!, (x) => x.received === 4);
    expect(c).toMatchObject({ received: 4, tlsFailures: 0, incomplete: 0, truncated: 0 });
  });

  it('a Python ssl client (second implementation) is stored the same way', async () => {
    const sent = messages('python').slice(0, 3);
    const r = await pythonTlsSend({ port: d!.tlsPort, ca: pki.caCert, data: Buffer.concat(sent.map(octetFrame)) });
    expect(r).toMatchObject({ ok: true });
    expect(r.version).toMatch(/^TLSv1\.[23]$/);
    const rows = (await settledEntries(d!, stored + sent.length)).slice(stored);
    stored += rows.length;
    expectStored(rows, sent, d!.tlsPort, 'python');
  });

  it('plain TCP on the TLS port is dropped, the daemon survives, and the next TLS client works', async () => {
    const before = query(d!.dataDir).length;
    const plain = await plainSend(d!.tlsPort, octetFrame(`${HDR} cleartext on the TLS port`));
    expect(plain.closedByServer).toBe(true);
    // A second, non-syslog burst too: an HTTP request.
    await plainSend(d!.tlsPort, Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    const c = await countersWhen(d!, (x) => x.tlsFailures >= 2);
    expect(c.tlsFailures).toBe(2);
    expect(d!.child.exitCode).toBeNull();
    expect(d!.status().state).toBe('running');
    expect(query(d!.dataDir).length).toBe(before);

    const sent = messages('after-garbage').slice(0, 2);
    const r = await nodeTlsSend({ port: d!.tlsPort, ca: pki.read(pki.caCert), writes: [Buffer.concat(sent.map(octetFrame))] });
    expect(r).toMatchObject({ secured: true, refused: false, error: null });
    const rows = (await settledEntries(d!, before + 2)).slice(before);
    expectStored(rows, sent, d!.tlsPort, 'after garbage');
  });
});

clients.describe('--tls with --tls-client-ca (mutual authentication)', () => {
  let d: RunningDaemon | undefined;
  beforeAll(async () => {
    d = await startDaemon({
      args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--tls', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-client-ca', pki.caCert],
    });
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('a client without a certificate is refused: nothing stored, tlsFailures counted', async () => {
    const r = await nodeTlsSend({ port: d!.tlsPort, ca: pki.read(pki.caCert), writes: [octetFrame(`${HDR} no client cert`)], verdictMs: 2000 });
    // OpenSSL refuses in the handshake: the client gets the "certificate required" alert.
    expect(r.refused).toBe(true);
    expect(r.error).toMatch(/certificate required/);
    const c = await countersWhen(d!, (x) => x.tlsFailures >= 1);
    expect(c.tlsFailures).toBe(1);
    expect(c.received).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(query(d!.dataDir)).toEqual([]);
  });

  it('a client whose certificate another CA signed is refused', async () => {
    const r = await nodeTlsSend({
      port: d!.tlsPort, ca: pki.read(pki.caCert), cert: pki.read(pki.otherClientCert), key: pki.read(pki.otherClientKey),
      writes: [octetFrame(`${HDR} wrong CA`)], verdictMs: 2000,
    });
    // Node verifies the chain after the handshake and just closes the connection (no alert).
    expect(r.secured).toBe(true);
    expect(r.refused).toBe(true);
    const c = await countersWhen(d!, (x) => x.tlsFailures >= 2);
    expect(c.tlsFailures).toBe(2);
    expect(c.received).toBe(0);
    expect(query(d!.dataDir)).toEqual([]);
  });

  it('the Python client without a certificate is refused as well', async () => {
    const r = await pythonTlsSend({ port: d!.tlsPort, ca: pki.caCert, data: octetFrame(`${HDR} python, no client cert`), verdictSec: 2 });
    // Depending on timing the refusal shows as the server's alert or as the closed connection.
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/certificate required|closed by the server|Broken pipe|reset|EOF/i);
    const c = await countersWhen(d!, (x) => x.tlsFailures >= 3);
    expect(c.tlsFailures).toBe(3);
    expect(query(d!.dataDir)).toEqual([]);
  });

  it('clients with a certificate from the configured CA are stored (node:tls, then Python)', async () => {
    const sentNode = messages('node-mtls');
    const r = await nodeTlsSend({
      port: d!.tlsPort, ca: pki.read(pki.caCert), cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey),
      writes: [Buffer.concat(sentNode.map(octetFrame))],
    });
    expect(r).toMatchObject({ secured: true, refused: false, error: null });
    const rows = await settledEntries(d!, sentNode.length);
    expectStored(rows, sentNode, d!.tlsPort, 'node mtls');

    const sentPy = messages('python-mtls').slice(0, 3);
    const p = await pythonTlsSend({ port: d!.tlsPort, ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey, data: Buffer.concat(sentPy.map(octetFrame)) });
    expect(p).toMatchObject({ ok: true });
    const all = await settledEntries(d!, sentNode.length + sentPy.length);
    expectStored(all.slice(sentNode.length), sentPy, d!.tlsPort, 'python mtls');
    expect(all.length).toBe(7);
    const c = await countersWhen(d!, (x) => x.received === 7);
    expect(c).toMatchObject({ received: 7, tlsFailures: 3 });
  });
});
