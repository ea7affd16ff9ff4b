// Reload and readiness as systemd runs the daemon (Type=notify, ExecReload=kill -HUP): the
// notifications on a NOTIFY_SOCKET this test listens on (test/clients/notify_listener.py speaks
// systemd's side of the protocol, BARRIER=1 included), a certificate rotated under a live TLS
// sender, a rotation that fails, and options that only a restart can change.
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { query, startDaemon, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { makePki, type Pki } from '../clients/certs.js';
import { CLIENTS_DIR, SYSTEM_PYTHON, sleep, spawnTracked, stopDaemonAndClean } from '../clients/proc.js';
import { needClients } from '../clients/available.js';
import { octetFrame } from '../clients/tls.js';

// The notify listener is python3, the sender systemd-notify, the certificates openssl's.
const clients = needClients('python3', 'systemd-notify', 'openssl');

const HDR = '<134>1 2026-12-03T06:00:00.000000+00:00 vm tacker-server - - - ';
const text = (e: QueriedEntry): string => Buffer.from(e.raw, 'base64').toString('utf8');
const fingerprint = (pemFile: string): string => new X509Certificate(readFileSync(pemFile)).fingerprint256;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-reload-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Notification {
  fields: Record<string, string>;
  fds: number;
  pid: number | null;
  tcp_accepts?: boolean;
  tcp_error?: string;
}

/** systemd's end of NOTIFY_SOCKET: every datagram received, in order. */
async function notifyListener(path: string, tcpPort: number): Promise<{ got: Notification[]; child: ChildProcess; err(): string }> {
  const child = spawnTracked(SYSTEM_PYTHON, [join(CLIENTS_DIR, 'notify_listener.py'), path, String(tcpPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const got: Notification[] = [];
  let listening = false;
  let buf = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const m = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (m.listening) listening = true;
      else got.push(m as Notification);
    }
  });
  await waitFor(() => listening, Boolean, 10_000);
  if (!listening) throw new Error(`notify listener did not start: ${err}`);
  return { got, child, err: () => err };
}

/** A port that was free a moment ago (the daemon must bind it by number: READY=1 is checked against it). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

clients.describe('readiness on NOTIFY_SOCKET (Type=notify)', () => {
  let d: RunningDaemon | undefined;
  let l: Awaited<ReturnType<typeof notifyListener>>;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    const sock = join(tmp, 'notify.sock');
    l = await notifyListener(sock, port);
    d = await startDaemon({ args: ['--udp', '127.0.0.1:0', '--tcp', `127.0.0.1:${port}`], env: { NOTIFY_SOCKET: sock } });
  });
  afterAll(async () => {
    if (d && d.child.exitCode === null) await stopDaemonAndClean(d);
    l?.child.kill('SIGKILL');
  });

  it('READY=1 arrives once the listeners accept (the TCP port took a connection the moment it arrived)', async () => {
    const ready = await waitFor(() => l.got.find((m) => m.fields.READY === '1'), Boolean, 20_000);
    expect(ready, `no READY=1; got ${JSON.stringify(l.got)}; daemon: ${d!.stderr()}`).toBeDefined();
    expect(ready!.tcp_accepts, ready!.tcp_error).toBe(true);
    expect(ready!.fields.STATUS).toContain(`tcp://127.0.0.1:${port}`);
    // The status file said "running" before: recovery and the listeners come first.
    expect(d!.status()).toMatchObject({ pid: d!.child.pid, state: 'running' });
    // systemd-notify waited for the message to be processed: BARRIER=1 with one fd, which we closed.
    expect(l.got.some((m) => m.fields.BARRIER === '1' && m.fds === 1)).toBe(true);
    expect(l.got.filter((m) => m.fields.READY === '1')).toHaveLength(1);
  });

  it('SIGHUP: RELOADING=1 (with MONOTONIC_USEC) then READY=1 again, and the daemon keeps running', async () => {
    const before = l.got.length;
    d!.child.kill('SIGHUP');
    const after = (): Notification[] => l.got.slice(before).filter((m) => m.fields.BARRIER === undefined);
    await waitFor(after, (a) => a.some((m) => m.fields.READY === '1'), 20_000);
    const a = after();
    expect(a.map((m) => Object.keys(m.fields).filter((k) => k !== 'STATUS' && k !== 'MONOTONIC_USEC')), JSON.stringify(a) + d!.stderr()).toEqual([['RELOADING'], ['READY']]);
    expect(a[0]!.fields.MONOTONIC_USEC).toMatch(/^\d+$/);
    expect(d!.child.exitCode).toBeNull();
    expect(d!.stderr()).toContain('reload: done');
  });

  it('STOPPING=1 at the start of a stop (SIGTERM), before the process exits 0', async () => {
    const code = await d!.stop();
    expect(code, d!.stderr()).toBe(0);
    const stopping = await waitFor(() => l.got.find((m) => m.fields.STOPPING === '1'), Boolean, 5000);
    expect(stopping, JSON.stringify(l.got)).toBeDefined();
    expect(l.got.findIndex((m) => m.fields.STOPPING === '1')).toBe(l.got.length - 2); // then its BARRIER=1
  });
});

clients.describe('NOTIFY_SOCKET set but no systemd-notify on PATH', () => {
  it('says so once, in the log, and serves (and stops) as usual', async () => {
    const d = await startDaemon({ env: { NOTIFY_SOCKET: join(tmp, 'nobody-listens.sock'), PATH: join(tmp, 'empty-path') } });
    try {
      d.child.kill('SIGHUP');
      await waitFor(() => d.stderr(), (s) => s.includes('reload: done'), 20_000);
      const log = d.stderr();
      expect(log).toContain('NOTIFY_SOCKET is set but systemd-notify is not on PATH');
      expect(log.split('systemd-notify is not on PATH')).toHaveLength(2);
    } finally {
      expect(await stopDaemonAndClean(d)).toBe(0);
    }
  });
});

clients.describe('a certificate rotated under a live TLS sender (SIGHUP)', () => {
  let d: RunningDaemon | undefined;
  let a: Pki;
  let b: Pki;
  let live: { cert: string; key: string };
  const trust = (): Buffer[] => [readFileSync(a.caCert), readFileSync(b.caCert)];
  /** Puts a file in place the way rotation tools do: a new file renamed over the old. */
  const install = (from: string, to: string): void => {
    copyFileSync(from, `${to}.new`);
    renameSync(`${to}.new`, to);
  };
  const connect = (): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: d!.tlsPort, ca: trust() }, () => resolve(s));
      s.once('error', reject);
    });
  /** The certificate a new connection is served, and the connection is closed. */
  const servedFingerprint = async (): Promise<string> => {
    const s = await connect();
    const fp = s.getPeerCertificate().fingerprint256;
    s.end();
    return fp;
  };
  const hup = async (): Promise<string> => {
    const n = d!.stderr().split('reload: done').length;
    d!.child.kill('SIGHUP');
    await waitFor(() => d!.stderr().split('reload: done').length, (k) => k > n, 20_000);
    expect(d!.child.exitCode, d!.stderr()).toBeNull();
    return d!.stderr();
  };

  beforeAll(async () => {
    a = await makePki(join(tmp, 'pki-a'));
    b = await makePki(join(tmp, 'pki-b'));
    mkdirSync(join(tmp, 'live'));
    live = { cert: join(tmp, 'live', 'server.pem'), key: join(tmp, 'live', 'server.key') };
    copyFileSync(a.serverCert, live.cert);
    copyFileSync(a.serverKey, live.key);
    d = await startDaemon({ args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--tls', '127.0.0.1:0', '--tls-cert', live.cert, '--tls-key', live.key] });
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('the old connection sends on without a break, a new one gets the new certificate, no datagram is lost', async () => {
    expect(await servedFingerprint()).toBe(fingerprint(a.serverCert));
    const old = await connect();
    let closedEarly = false;
    let ending = false;
    old.on('close', () => (closedEarly = !ending));
    old.on('error', () => (closedEarly = true));
    let i = 0;
    const tlsTimer = setInterval(() => old.write(octetFrame(`${HDR}live ${i++}`)), 10);
    const udp = createSocket('udp4');
    let j = 0;
    const udpTimer = setInterval(() => udp.send(`${HDR}udp ${j++}`, d!.udpPort, '127.0.0.1'), 5);
    await waitFor(() => i, (n) => n >= 30, 10_000);

    install(b.serverCert, live.cert);
    install(b.serverKey, live.key);
    const atReload = i;
    const log = await hup();
    expect(log).toContain(`reload: TLS certificate for new connections: CN=immutalog.test, SHA-256 ${fingerprint(b.serverCert)}`);
    await waitFor(() => i, (n) => n >= atReload + 30, 10_000);
    expect(await servedFingerprint()).toBe(fingerprint(b.serverCert));
    const fresh = await connect();
    await new Promise<void>((r) => fresh.end(octetFrame(`${HDR}new connection`), () => r()));

    clearInterval(tlsTimer);
    clearInterval(udpTimer);
    const sentTls = i;
    const sentUdp = j;
    ending = true;
    await new Promise<void>((r) => old.end(() => r()));
    udp.close();
    expect(closedEarly, 'the old connection closed or failed before we ended it').toBe(false);

    const want = sentTls + sentUdp + 1;
    const rows = await waitFor(() => query(d!.dataDir), (r) => r.length >= want, 20_000, 100);
    const tls = rows.filter((e) => e.transport === 'tls');
    const oldPeer = tls[0]!.peer;
    expect(tls.filter((e) => e.peer === oldPeer).map(text)).toEqual(Array.from({ length: sentTls }, (_, k) => `${HDR}live ${k}`));
    expect(tls.filter((e) => e.peer !== oldPeer).map(text)).toEqual([`${HDR}new connection`]);
    const udpRows = rows.filter((e) => e.transport === 'udp').map(text);
    expect(new Set(udpRows)).toEqual(new Set(Array.from({ length: sentUdp }, (_, k) => `${HDR}udp ${k}`)));
    expect(udpRows).toHaveLength(sentUdp);
  });

  it('a key that does not match the certificate, a file that is not PEM, a missing file: the previous certificate stays, the log says why', async () => {
    const served = fingerprint(b.serverCert);
    install(a.serverKey, live.key);
    let log = await hup();
    expect(log).toMatch(/reload: TLS certificate, key and client CA not reloaded, still serving the previous ones: .*key values mismatch/);
    expect(await servedFingerprint()).toBe(served);

    install(b.serverKey, live.key);
    writeFileSync(live.cert, 'this is not a certificate\n');
    log = await hup();
    expect(log.split('not reloaded, still serving the previous ones')).toHaveLength(3);
    expect(await servedFingerprint()).toBe(served);

    unlinkSync(live.cert);
    log = await hup();
    expect(log).toContain(`still serving the previous ones: cannot read tls_cert ${live.cert}: ENOENT`);
    expect(await servedFingerprint()).toBe(served);

    // Put right, the next reload takes it.
    install(a.serverCert, live.cert);
    install(a.serverKey, live.key);
    await hup();
    expect(await servedFingerprint()).toBe(fingerprint(a.serverCert));
  });
});

clients.describe('SIGHUP re-reads the configuration file', () => {
  let d: RunningDaemon | undefined;
  let conf: string;
  const write = (lines: string[]): void => writeFileSync(conf, lines.join('\n') + '\n');
  const hup = async (): Promise<string> => {
    const n = d!.stderr().split('reload: done').length;
    d!.child.kill('SIGHUP');
    await waitFor(() => d!.stderr().split('reload: done').length, (k) => k > n, 20_000);
    expect(d!.child.exitCode, d!.stderr()).toBeNull();
    return d!.stderr().split('SIGHUP received').at(-1)!;
  };
  const sendUdp = async (msg: string): Promise<void> => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.send(msg, d!.udpPort, '127.0.0.1', () => r()));
    s.close();
  };
  beforeAll(async () => {
    conf = join(tmp, 'immutalog.conf');
    write(['[syslog]', 'udp = 127.0.0.1:0', 'tcp = 127.0.0.1:0']);
    d = await startDaemon({ args: ['--config', conf] });
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('a listener address or a chain setting changed: logged as taking effect after a restart, and the listener stays as it was', async () => {
    const tcpPort = d!.tcpPort;
    write(['[syslog]', 'udp = 127.0.0.1:0', 'tcp = 127.0.0.1:1', '[chain]', 'commit_delay_ms = 50']);
    let log = await hup();
    expect(log).toContain(`reload: tcp changed in ${conf}; takes effect after a restart`);
    expect(log).toContain(`reload: commit_delay_ms changed in ${conf}; takes effect after a restart`);
    // Still not in effect: the next reload says so again.
    log = await hup();
    expect(log).toContain(`reload: tcp changed in ${conf}; takes effect after a restart`);
    await sleep(2500);
    expect(d!.status().listeners.find((x: any) => x.transport === 'tcp').port).toBe(tcpPort);
  });

  it('the allowlist applies at once: a datagram from a source no longer allowed is dropped and logged', async () => {
    await sendUdp(`${HDR}before the allowlist`);
    await waitFor(() => query(d!.dataDir), (r) => r.length >= 1, 10_000, 50);
    write(['[syslog]', 'udp = 127.0.0.1:0', 'tcp = 127.0.0.1:0', 'allow = 10.0.0.0/8']);
    const log = await hup();
    expect(log).toContain('reload: applied allow');
    await sendUdp(`${HDR}after the allowlist`);
    await waitFor(() => d!.stderr(), (s) => s.includes('datagram from 127.0.0.1 is not in the allowlist; dropped'), 10_000);
    write(['[syslog]', 'udp = 127.0.0.1:0', 'tcp = 127.0.0.1:0']);
    await hup();
    await sendUdp(`${HDR}allowed again`);
    const rows = await waitFor(() => query(d!.dataDir), (r) => r.length >= 2, 10_000, 50);
    expect(rows.map(text)).toEqual([`${HDR}before the allowlist`, `${HDR}allowed again`]);
  });

  it('a configuration that no longer loads: nothing changes, the log names the error, the daemon serves on', async () => {
    write(['[syslog]', 'udp = 127.0.0.1:0', 'tcp = 127.0.0.1:0', 'max_connections = many']);
    const log = await hup();
    expect(log).toMatch(/reload: configuration not reloaded, still running with the previous one: .*max_connections.*expected a whole number, got "many"/);
    await sendUdp(`${HDR}still serving`);
    const rows = await waitFor(() => query(d!.dataDir), (r) => r.length >= 3, 10_000, 50);
    expect(rows.map(text).at(-1)).toBe(`${HDR}still serving`);
  });
});
