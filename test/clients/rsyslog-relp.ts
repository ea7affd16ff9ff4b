// rsyslog's RELP, both ends, as private rsyslogds (see rsyslog.ts: own config, work directory
// and pid file, foreground, stopped by pid, no imuxsock). The relay takes LF-framed lines on
// imtcp (ephemeral loopback port) and forwards them with omrelp (plain or TLS) through a
// disk action queue in its own work directory, retrying forever, so that it rides out
// receiver restarts. The imrelp server writes each message it acknowledged to a file, to prove the relay
// against rsyslog's own receiver.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { RSYSLOGD_ENV, requireRsyslog, spawnRsyslogd } from './rsyslog.js';
import { IMRELP_SO, OMRELP_SO, RSYSLOGD, runOk } from './proc.js';

/**
 * omrelp's window (unacknowledged messages in flight on one session), set explicitly: it is
 * also the bound on what one receiver crash can leave committed but unacknowledged, which
 * omrelp resends after the crash. 128 is librelp's default.
 */
export const RELP_WINDOW = 128;

/**
 * rsyslog's batch for an action queue (queue.dequeueBatchSize, default 128). A batch cut by a
 * broken session is retried whole, resending what the receiver had already acknowledged of it:
 * with RELP_WINDOW, what bounds the copies one receiver crash can make.
 */
export const RSYSLOG_ACTION_BATCH = 128;

/** The last guard inside a test: clear words naming the package (accessSync: a plugin is not executable). */
export function requireRsyslogRelp(): void {
  requireRsyslog();
  for (const so of [OMRELP_SO, IMRELP_SO]) {
    try {
      accessSync(so, constants.R_OK);
    } catch {
      throw new Error(`${so} is missing: install the Debian package "rsyslog-relp" (apt-get install rsyslog-relp); CI installs it`);
    }
  }
}

/** The certificates omrelp/imrelp present and check (tls="on", authMode "name"). */
export interface RelpTls {
  caCert: string;
  myCert: string;
  myPrivKey: string;
  /** The name the peer's certificate must carry (subjectAltName or CN). */
  permittedPeer: string;
}

export interface RelpRelayOptions {
  dir: string;
  /** The RELP receiver on 127.0.0.1. */
  port: number;
  tls?: RelpTls;
}

/**
 * The omrelp action alone (as the README shows it): RFC 5424, a disk queue, retried forever. Not
 * a disk-assisted one (LinkedList with a queue.filename): rsyslog 8.2302's lost messages when it
 * switched to disk while the receiver restarted (its debug log showed them queued, never handed
 * to omrelp: 44 + 87 of 3,000 in 1 of 6 TLS runs); a disk queue lost none in 24 runs.
 */
export function omrelpAction(o: { port: number; tls?: RelpTls; target?: string }): string {
  const tls = o.tls
    ? [
        '       tls="on" tls.authMode="name"',
        `       tls.caCert="${o.tls.caCert}"`,
        `       tls.myCert="${o.tls.myCert}" tls.myPrivKey="${o.tls.myPrivKey}"`,
        `       tls.permittedPeer=["${o.tls.permittedPeer}"]`,
      ]
    : [];
  return [
    `action(type="omrelp" target="${o.target ?? '127.0.0.1'}" port="${o.port}"`,
    `       template="RSYSLOG_SyslogProtocol23Format" windowSize="${RELP_WINDOW}"`,
    ...tls,
    '       queue.type="Disk" queue.filename="fwd_immutalog" queue.maxDiskSpace="1g"',
    '       action.resumeRetryCount="-1" action.resumeInterval="1")',
  ].join('\n');
}

/** The relay's whole config: imtcp (port file in dir) -> omrelp; own messages to internal.log. */
export function relpRelayConfig(o: RelpRelayOptions): string {
  const d = o.dir;
  return [
    `global(workDirectory="${d}/work" processInternalMessages="on" net.enableDNS="off")`,
    '# one worker: messages leave in the order they came in',
    'main_queue(queue.workerThreads="1")',
    'module(load="imtcp")',
    'module(load="omrelp")',
    `input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="${d}/imtcp.port" ruleset="to_immutalog")`,
    'ruleset(name="to_immutalog") {',
    omrelpAction(o),
    '}',
    "# rsyslogd's own messages (default ruleset): kept here, never forwarded, never in the system log",
    `*.* action(type="omfile" file="${d}/internal.log")`,
    '',
  ].join('\n');
}

export interface RelpRsyslogd {
  pid: number;
  /** imtcp port on 127.0.0.1 (ephemeral): LF-framed lines in. */
  tcpPort: number;
  dir: string;
  internalLog(): string;
  output(): string;
  stop(): Promise<void>;
}

async function startWith(dir: string, config: string): Promise<RelpRsyslogd> {
  requireRsyslogRelp();
  mkdirSync(join(dir, 'work'), { recursive: true });
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(conf, config);
  // A restart in the same directory: the last run's port and pid files must not pass for this one's.
  for (const f of ['imtcp.port', 'rsyslogd.pid']) rmSync(join(dir, f), { force: true });
  await runOk(RSYSLOGD, ['-N1', '-f', conf], { env: RSYSLOGD_ENV, timeoutMs: 20_000 });
  const up = await spawnRsyslogd(dir, conf, 'internal.log');
  return { pid: up.pid, tcpPort: up.tcpPort, dir, internalLog: up.log, output: up.output, stop: up.stop };
}

/** A private rsyslogd relaying imtcp to a RELP receiver on 127.0.0.1:port. */
export function startRelpRelay(o: RelpRelayOptions): Promise<RelpRsyslogd> {
  return startWith(o.dir, relpRelayConfig(o));
}

/** `relp-msg-000042`: fixed width, so that no number is a prefix of another. */
export function numbered(prefix: string, i: number): string {
  return `${prefix}-${String(i).padStart(6, '0')}`;
}

/** The numbers in `texts` (each holding `prefix-NNNNNN` once) and how often each occurs. */
export function countNumbers(prefix: string, texts: string[]): Map<number, number> {
  const re = new RegExp(`${prefix}-(\\d{6})`);
  const counts = new Map<number, number>();
  for (const t of texts) {
    const m = re.exec(t);
    if (m) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1);
  }
  return counts;
}

/** What a run of numbered messages came to: missing numbers, and copies beyond the first. */
export function tally(counts: Map<number, number>, from: number, to: number): { missing: number[]; duplicates: number; strays: number } {
  const missing: number[] = [];
  let duplicates = 0;
  for (let i = from; i < to; i++) {
    const c = counts.get(i) ?? 0;
    if (c === 0) missing.push(i);
    else duplicates += c - 1;
  }
  const strays = [...counts.keys()].filter((k) => k < from || k >= to).length;
  return { missing, duplicates, strays };
}

/**
 * Sends messages `from` .. `to`-1 to the relay's imtcp as RFC 3164 lines (`<134>` local0.info,
 * tag tacker-server), LF-framed, in batches of `batch`, waiting whenever the socket pushes back.
 */
export async function feedNumbered(port: number, prefix: string, from: number, to: number, batch = 100): Promise<void> {
  const s = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  for (let i = from; i < to; i += batch) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(to, i + batch); j++) lines.push(`<134>Nov 26 12:00:00 vm tacker-server: ${numbered(prefix, j)}\n`);
    if (!s.write(lines.join(''))) await new Promise<void>((r) => s.once('drain', () => r()));
  }
  await new Promise<void>((r) => s.end(() => r()));
}

/** A loopback port free right now (for listeners that cannot report an ephemeral one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error(`expected a bound port, got ${String(a)}`))));
    });
    s.on('error', reject);
  });
}

export interface ImrelpServer extends RelpRsyslogd {
  relpPort: number;
  /** Each message imrelp acknowledged, as omrelp sent it (%rawmsg%), in order. */
  received(): string[];
}

/**
 * rsyslog's own RELP receiver: imrelp on 127.0.0.1:port (imrelp reports no ephemeral port),
 * plain, writing %rawmsg% a line to received.log. Its imtcp (unused) gives spawnRsyslogd
 * the port file it waits for.
 */
export async function startImrelpServer(o: { dir: string; port: number }): Promise<ImrelpServer> {
  const d = o.dir;
  const conf = [
    `global(workDirectory="${d}/work" processInternalMessages="on" net.enableDNS="off")`,
    'module(load="imrelp")',
    'module(load="imtcp")',
    `input(type="imrelp" address="127.0.0.1" port="${o.port}" ruleset="got")`,
    `input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="${d}/imtcp.port")`,
    'template(name="rawline" type="string" string="%rawmsg%\\n")',
    `ruleset(name="got") { action(type="omfile" file="${d}/received.log" template="rawline") }`,
    `*.* action(type="omfile" file="${d}/internal.log")`,
    '',
  ].join('\n');
  const r = await startWith(d, conf);
  const file = join(d, 'received.log');
  return { ...r, relpPort: o.port, received: () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []) };
}
