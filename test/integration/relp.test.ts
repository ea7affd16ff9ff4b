// The RELP listener against a small RELP client written here (test/helpers/relp-client.ts, which
// speaks as librelp does): acknowledgements only after the commit (the storage thread held back
// by another process holding SQLite's write lock), the entries exactly as TCP frames, malformed
// sessions closed and counted, the allowlist and connection limits, TLS, a SIGKILL in the middle
// of a window, the redelivery mark, and serverclose at a stop. The real rsyslog is another file's.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { query, runCli, startDaemon, tempDataDir, waitFor, type RunningDaemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/bitcoind.js';
import { RelpTestClient } from '../helpers/relp-client.js';
import { RELP_MAX_UNANSWERED } from '../../src/receive/relp.js';
import { metricSample } from '../helpers/per-test.js';
import { makePki, type Pki } from '../clients/certs.js';
import { needClients } from '../clients/available.js';
import { osloMessage, sleep, tagOf } from '../helpers/tamper-log.js';

const running: RunningDaemon[] = [];
const clients: RelpTestClient[] = [];
afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const d of running) if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
});

async function daemon(args: string[], dataDir?: string): Promise<RunningDaemon> {
  const d = await startDaemon({ args: [...args, '--checkpoint-interval', '3600'], ...(dataDir ? { dataDir } : {}) });
  running.push(d);
  return d;
}
const listener = (d: RunningDaemon, transport = 'relp'): any => d.status()?.listeners.find((l: any) => l.transport === transport);
const portOf = (d: RunningDaemon, transport = 'relp'): number => listener(d, transport).port;
async function client(port: number, tls?: Parameters<typeof RelpTestClient.connect>[1]): Promise<RelpTestClient> {
  const c = await RelpTestClient.connect(port, tls);
  clients.push(c);
  return c;
}
/** The listener's counters once the status file (rewritten every 2 s) satisfies `cond`. */
const countersWhen = (d: RunningDaemon, cond: (c: any) => boolean, transport = 'relp'): Promise<any> =>
  waitFor(() => listener(d, transport)?.counters, (c) => c !== undefined && cond(c), 10_000, 100);
const answersOf = (c: RelpTestClient): number[] => c.received.filter((f) => f.command === 'rsp').map((f) => f.txnr);

describe('a RELP session', () => {
  it('answers open with its offers, acknowledges each message only once it is committed, stores it as a TCP frame, and closes on close', async () => {
    const d = await daemon(['--relp', '127.0.0.1:0', '--max-message-bytes', '480']);
    const port = portOf(d);
    expect(listener(d).name).toBe(`relp://127.0.0.1:${port}`);
    const c = await client(port);
    expect(await c.open()).toBe('200 OK\nrelp_version=0\nrelp_software=immutalog\ncommands=syslog');

    const msgs = [osloMessage('relp-0'), osloMessage('relp-1'), Buffer.concat([osloMessage('relp-long'), Buffer.alloc(600, 0x41)]), Buffer.from([0x3c, 0x31, 0x34, 0x3e, 0xff, 0xfe]), Buffer.from('<14>multi\nline\n')];
    // Another process holds SQLite's write lock: the storage thread's commits fail and are retried.
    const blocker = new Database(join(d.dataDir, 'immutalog.sqlite'));
    blocker.exec('BEGIN IMMEDIATE');
    let txnrs: number[];
    try {
      txnrs = msgs.map((m) => c.send('syslog', m));
      const s = await waitFor(() => d.status(), (v) => (v?.queue?.commit_failures ?? 0) >= 1, 30_000, 100);
      expect(s.queue.commit_failures).toBeGreaterThanOrEqual(1);
      await sleep(500);
      // Read, not committed: nothing acknowledged (only the open's answer came).
      expect(answersOf(c)).toEqual([1]);
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    for (const t of txnrs) expect((await c.waitAnswer(t)).data.toString()).toBe('200 OK');
    expect(answersOf(c)).toEqual([1, ...txnrs]);

    const rows = query(d.dataDir);
    expect(rows.map((r) => Buffer.from(r.raw, 'base64').toString('hex'))).toEqual([msgs[0], msgs[1], msgs[2]!.subarray(0, 480), msgs[3], msgs[4]].map((m) => m!.toString('hex')));
    expect(rows.map((r) => r.flags)).toEqual([0, 0, 1, 4, 0]);
    for (const r of rows) {
      expect(r.transport).toBe('tcp');
      expect(r.listener).toBe(`relp://127.0.0.1:${port}`);
      expect(r.possible_redelivery).toBe(false);
    }
    expect(rows[0]!.fields.oslo.level).toBe('INFO');

    const closeTxnr = c.send('close');
    expect((await c.waitAnswer(closeTxnr)).data.toString()).toBe('200 OK');
    await c.waitClosed();
    const counters = await countersWhen(d, (x) => x.received === 5);
    expect([counters.truncated, counters.invalidUtf8, counters.protocolErrors, counters.possibleRedeliveries]).toEqual([1, 1, 0, 0]);
    expect(await d.stop()).toBe(0);
  });

  it('on a stop sends the acknowledgements of the final commit, then the serverclose hint', async () => {
    const d = await daemon(['--relp', '127.0.0.1:0']);
    const c = await client(portOf(d));
    await c.open();
    const blocker = new Database(join(d.dataDir, 'immutalog.sqlite'));
    blocker.exec('BEGIN IMMEDIATE');
    const txnrs = [0, 1, 2].map((i) => c.send('syslog', osloMessage(`stop-${i}`)));
    await waitFor(() => d.status(), (v) => (v?.queue?.commit_failures ?? 0) >= 1, 30_000, 100);
    const stopped = d.stop();
    await sleep(500);
    expect(answersOf(c)).toEqual([1]);
    blocker.exec('ROLLBACK');
    blocker.close();
    expect(await stopped).toBe(0);
    await c.waitClosed();
    expect(c.received.map((f) => `${f.txnr} ${f.command}`)).toEqual(['1 rsp', ...txnrs.map((t) => `${t} rsp`), '0 serverclose']);
    expect(query(d.dataDir).map((r) => tagOf(Buffer.from(r.raw, 'base64')))).toEqual(['stop-0', 'stop-1', 'stop-2']);
  });
});

describe('a client that sends past any window', () => {
  it(`is not read beyond ${RELP_MAX_UNANSWERED} commands unanswered, and loses nothing (batches split at block ends too)`, async () => {
    // Small blocks: the write queue's batches are split where a block fills, and every part's
    // acknowledgements must still go out, in order.
    const d = await daemon(['--relp', '127.0.0.1:0', '--checkpoint-entries', '97']);
    const c = await client(portOf(d));
    await c.open();
    const N = 3000;
    const blocker = new Database(join(d.dataDir, 'immutalog.sqlite'));
    blocker.exec('BEGIN IMMEDIATE');
    let txnrs: number[];
    try {
      txnrs = Array.from({ length: N }, (_, i) => c.send('syslog', osloMessage(`w-${i}`)));
      await waitFor(() => d.status(), (v) => (v?.queue?.commit_failures ?? 0) >= 1, 30_000, 100);
      // Two status rewrites later, still: what was read stopped at the chunk that crossed the limit.
      await sleep(4500);
      const received = listener(d).counters.received;
      expect(received).toBeGreaterThanOrEqual(RELP_MAX_UNANSWERED);
      expect(received).toBeLessThan(N);
      expect(answersOf(c)).toEqual([1]);
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    await c.waitAnswer(txnrs[N - 1]!, 60_000);
    expect(answersOf(c)).toEqual([1, ...txnrs]);
    expect(query(d.dataDir).map((r) => tagOf(Buffer.from(r.raw, 'base64')))).toEqual(txnrs.map((_, i) => `w-${i}`));
    expect(await d.stop()).toBe(0);
    const v = runCli(['verify', '--data-dir', d.dataDir, '--auditor-key', join(d.dataDir, 'auditor-key.pem')]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});

describe('idle_timeout on RELP', () => {
  it('does not close a session whose messages wait for their commit (it waits for us, it is not idle)', async () => {
    const d = await daemon(['--relp', '127.0.0.1:0', '--idle-timeout', '1']);
    const c = await client(portOf(d));
    await c.open();
    const blocker = new Database(join(d.dataDir, 'immutalog.sqlite'));
    blocker.exec('BEGIN IMMEDIATE');
    let t: number;
    try {
      t = c.send('syslog', osloMessage('waiting'));
      await sleep(3000);
      expect(c.closed).toBe(false);
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    expect((await c.waitAnswer(t)).data.toString()).toBe('200 OK');
    // Answered, it is idle again, and closed as any idle connection.
    await c.waitClosed(10_000);
    expect((await countersWhen(d, (x) => x.idleTimeouts === 1)).idleTimeouts).toBe(1);
  });
});

describe('malformed RELP', () => {
  it('is answered with 500 where a command can carry it, closed, counted, and the listener serves the next session', async () => {
    const d = await daemon(['--relp', '127.0.0.1:0']);
    const port = portOf(d);

    const garbage = await client(port);
    garbage.socket.write('GET / HTTP/1.1\r\n\r\n');
    await garbage.waitClosed();
    expect(garbage.received.map((f) => `${f.txnr} ${f.command}`)).toEqual(['0 serverclose']);

    const early = await client(port);
    const t = early.send('syslog', osloMessage('before-open'));
    expect((await early.waitAnswer(t)).data.toString()).toBe('500 expected open before syslog, got syslog');
    await early.waitClosed();

    const unknown = await client(port);
    await unknown.open();
    const s = unknown.send('starttls');
    expect((await unknown.waitAnswer(s)).data.toString()).toMatch(/^500 expected open, syslog or close, got command "starttls"/);
    await unknown.waitClosed();

    const skipped = await client(port);
    await skipped.open();
    const ok = skipped.send('syslog', osloMessage('kept'));
    skipped.txnr = 7;
    skipped.send('syslog', osloMessage('out-of-order'));
    await skipped.waitClosed();
    // What came before the bad frame is stored and acknowledged; nothing after it.
    expect(skipped.answer(ok)?.data.toString()).toBe('200 OK');

    const good = await client(port);
    await good.open();
    expect((await good.waitAnswer(good.send('syslog', osloMessage('after'))))?.data.toString()).toBe('200 OK');
    const counters = await countersWhen(d, (x) => x.protocolErrors === 4);
    expect(counters.protocolErrors).toBe(4);
    expect(query(d.dataDir).map((r) => tagOf(Buffer.from(r.raw, 'base64')))).toEqual(['kept', 'after']);
    expect(d.stderr()).toMatch(/relp:\/\/127\.0\.0\.1:\d+: 127\.0\.0\.1:\d+: expected transaction number 3, got 7; closing the connection/);
    expect(await d.stop()).toBe(0);
  });
});

describe('RELP admission', () => {
  it('applies the allowlist before any byte, and the per-source connection limit', async () => {
    const refused = await daemon(['--relp', '127.0.0.1:0', '--allow', '10.0.0.0/8']);
    const c = await client(portOf(refused));
    c.send('open', 'relp_version=0');
    await c.waitClosed();
    expect(c.received).toEqual([]);
    expect((await countersWhen(refused, (x) => x.rejectedSources === 1)).rejectedSources).toBe(1);

    const limited = await daemon(['--relp', '127.0.0.1:0', '--max-connections-per-source', '1']);
    const first = await client(portOf(limited));
    await first.open();
    const second = await client(portOf(limited));
    second.send('open', 'relp_version=0');
    await second.waitClosed();
    expect(second.received).toEqual([]);
    expect((await first.waitAnswer(first.send('syslog', osloMessage('first')))).data.toString()).toBe('200 OK');
    expect((await countersWhen(limited, (x) => x.rejectedPerSource === 1)).rejectedPerSource).toBe(1);
  });
});

describe('RELP over TLS', () => {
  const tools = needClients('openssl');
  let pki: Pki;
  tools.it('takes a session with the TLS listener\'s certificate and client CA, stored as tls from relp-tls://', async () => {
    pki = await makePki(join(tempDataDir('immutalog-relp-pki-'), 'pki'));
    const d = await daemon(['--relp-tls', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-client-ca', pki.caCert]);
    const port = portOf(d, 'relp-tls');
    const c = await client(port, { ca: pki.read(pki.caCert), cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey) });
    await c.open();
    expect((await c.waitAnswer(c.send('syslog', osloMessage('over-tls')))).data.toString()).toBe('200 OK');
    const [row] = query(d.dataDir);
    expect([row!.transport, row!.listener, tagOf(Buffer.from(row!.raw, 'base64'))]).toEqual(['tls', `relp-tls://127.0.0.1:${port}`, 'over-tls']);
    // Without a client certificate the handshake fails and nothing is read (TLS 1.3 may let the
    // client finish its side first; then the server's alert closes it).
    const refused = await client(port, { ca: pki.read(pki.caCert) }).then((x) => x.waitClosed().then(() => 'closed'), (e: Error) => e.message);
    expect(refused).toBeTruthy();
    expect((await countersWhen(d, (x) => x.tlsFailures >= 1, 'relp-tls')).tlsFailures).toBeGreaterThanOrEqual(1);
  });
});

describe('a SIGKILL in the middle of a window', () => {
  it('loses nothing acknowledged; what the client resends is stored again, marked as a possible redelivery and counted', async () => {
    const port = await freePort();
    const dataDir = tempDataDir();
    const args = ['--relp', `127.0.0.1:${port}`, '--metrics', '127.0.0.1:0'];
    const d = await daemon(args, dataDir);
    const c = await client(port);
    await c.open();
    const WINDOW = 128;
    const N = 2000;
    const tagOfTxnr = new Map<number, string>();
    let sent = 0;
    // Like omrelp: at most WINDOW messages unacknowledged; the daemon is killed part-way.
    while (sent < N && !c.closed) {
      while (sent - (answersOf(c).length - 1) < WINDOW && sent < N) {
        const tag = `k-${sent}`;
        tagOfTxnr.set(c.send('syslog', osloMessage(tag)), tag);
        sent++;
      }
      if (answersOf(c).length > 600 && d.child.exitCode === null && d.child.signalCode === null) await d.kill();
      await sleep(2);
    }
    await c.waitClosed();
    const acked = new Set(answersOf(c).filter((t) => t !== 1).map((t) => tagOfTxnr.get(t)!));
    const unacked = [...tagOfTxnr.values()].filter((t) => !acked.has(t));
    expect(acked.size).toBeGreaterThan(600);
    expect(unacked.length).toBeGreaterThan(0);

    // Everything acknowledged was committed before the kill.
    const afterKill = new Set(query(dataDir).map((r) => tagOf(Buffer.from(r.raw, 'base64'))));
    for (const t of acked) expect(afterKill.has(t), t).toBe(true);
    const committedUnacked = unacked.filter((t) => afterKill.has(t));

    // rsyslog reconnects and resends what it had not seen acknowledged, on a new connection; the
    // last acknowledgements may have been lost with the connection too (sent, never read).
    const lostAcks = [...acked].slice(-5);
    const d2 = await daemon(args, dataDir);
    const c2 = await client(port);
    await c2.open();
    const resent = [...lostAcks, ...unacked].map((t) => c2.send('syslog', osloMessage(t)));
    const fresh = c2.send('syslog', osloMessage('fresh'));
    await c2.waitAnswer(fresh);
    for (const t of resent) expect(c2.answer(t)?.data.toString()).toBe('200 OK');

    const rows = query(dataDir);
    const tags = rows.map((r) => tagOf(Buffer.from(r.raw, 'base64')));
    for (const t of tagOfTxnr.values()) expect(tags.includes(t), t).toBe(true);
    const marked = rows.filter((r) => r.possible_redelivery).map((r) => tagOf(Buffer.from(r.raw, 'base64')));
    // Exactly the messages resent that were already committed, as second copies.
    const twice = [...lostAcks, ...committedUnacked];
    console.log(`relp SIGKILL: ${sent} sent, ${acked.size} acknowledged, ${unacked.length} not, of which ${committedUnacked.length} committed; ${twice.length} stored twice`);
    expect(marked.sort()).toEqual(twice.sort());
    expect(tags.length).toBe(sent + twice.length + 1);
    const text = runCli(['query', '--data-dir', dataDir]).stdout.split('\n').filter((l) => l.includes('[possible redelivery]'));
    expect(text.length).toBe(twice.length);
    const counters = await countersWhen(d2, (x) => x.received === resent.length + 1);
    expect(counters.possibleRedeliveries).toBe(twice.length);
    expect(runCli(['status', '--data-dir', dataDir]).stdout).toContain(`relp://127.0.0.1:${port}: received ${resent.length + 1},`);
    expect(runCli(['status', '--data-dir', dataDir]).stdout).toContain(`RELP: ${twice.length} possible redeliveries, 0 sessions closed for protocol errors`);
    const metrics = await (await fetch(`http://127.0.0.1:${d2.status().metrics_port}/metrics`)).text();
    expect(metricSample(metrics, 'immutalog_relp_possible_redeliveries_total', { listener: `relp://127.0.0.1:${port}`, transport: 'relp' })).toBe(twice.length);
    expect(metricSample(metrics, 'immutalog_open_connections', { listener: `relp://127.0.0.1:${port}` })).toBe(1);

    expect(await d2.stop()).toBe(0);
    const v = runCli(['verify', '--data-dir', dataDir, '--auditor-key', join(dataDir, 'auditor-key.pem')]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});
