// A private rsyslogd for the tests: its own config, work directory and pid file under a temp
// directory, run in the foreground (-n) and stopped by its own pid. It loads no imuxsock and
// never opens /dev/log; its internal messages are processed by itself (processInternalMessages)
// and written to a file in the temp directory, so the system log is never touched.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RSYSLOGD, requireExecutable, runOk, sleep, spawnTracked, stopChild } from './proc.js';

/** The environment a private rsyslogd runs in: no locale or time zone of the host. */
export const RSYSLOGD_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TZ: 'UTC', LC_ALL: 'C.UTF-8' };

/** How long a private rsyslogd may take to come up (bounds a hang, not a speed). */
const RSYSLOGD_UP_MS = 15_000;

export function requireRsyslog(): void {
  requireExecutable(RSYSLOGD, 'rsyslog');
}

export interface PrivateRsyslogd {
  pid: number;
  /** imudp port on 127.0.0.1 (ephemeral). */
  udpPort: number;
  /** imtcp port on 127.0.0.1 (ephemeral). */
  tcpPort: number;
  dir: string;
  /** rsyslogd's own messages (start, errors), for diagnostics. */
  internalLog(): string;
  output(): string;
  stop(): Promise<void>;
}

export interface RsyslogOptions {
  dir: string;
  /** immutalog's TCP port on 127.0.0.1. */
  forwardPort: number;
  /** global(parser.escapeControlCharactersOnReceive="off"). */
  noEscape?: boolean;
}

/** The whole config; the forwarding action is the one of notes §8.4 (octet-counted RFC 5424). */
export function rsyslogConfig(o: RsyslogOptions): string {
  const d = o.dir;
  return [
    `global(workDirectory="${d}/work"`,
    '       processInternalMessages="on"',
    '       net.enableDNS="off"',
    o.noEscape ? '       parser.escapeControlCharactersOnReceive="off")' : '       )',
    '# one worker: messages leave in the order they came in',
    'main_queue(queue.workerThreads="1")',
    '',
    'module(load="imudp")',
    'module(load="imtcp")',
    'input(type="imudp" address="127.0.0.1" port="0" ruleset="to_immutalog")',
    `input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="${d}/imtcp.port" ruleset="to_immutalog")`,
    '',
    'ruleset(name="to_immutalog") {',
    `    action(type="omfwd" target="127.0.0.1" port="${o.forwardPort}" protocol="tcp"`,
    '           TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")',
    '}',
    '',
    "# rsyslogd's own messages (default ruleset): kept here, never forwarded, never in the system log",
    `*.* action(type="omfile" file="${d}/internal.log")`,
    '',
  ].join('\n');
}

/** Local IPv4 UDP ports bound by a process: its socket inodes matched in /proc/net/udp. */
function udpPortsOf(pid: number): number[] {
  let inodes: Set<string>;
  try {
    inodes = new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((f) => {
          try {
            return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${f}`))?.[1];
          } catch {
            return undefined;
          }
        })
        .filter((x): x is string => x !== undefined),
    );
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address is f[1] (0100007F:PORT for 127.0.0.1), inode is f[9]
    if (f.length > 9 && inodes.has(f[9]!) && f[1]!.startsWith('0100007F:')) ports.push(parseInt(f[1]!.slice(9), 16));
  }
  return ports;
}

export async function startRsyslogd(o: RsyslogOptions): Promise<PrivateRsyslogd> {
  requireRsyslog();
  mkdirSync(join(o.dir, 'work'), { recursive: true });
  const conf = join(o.dir, 'rsyslog.conf');
  writeFileSync(conf, rsyslogConfig(o));
  await runOk(RSYSLOGD, ['-N1', '-f', conf], { env: RSYSLOGD_ENV, timeoutMs: 20_000 });
  let udp: number[] = [];
  const up = await spawnRsyslogd(o.dir, conf, 'internal.log', (pid) => (udp = udpPortsOf(pid)).length === 1, () => `udp ${udp}`);
  return { pid: up.pid, udpPort: udp[0]!, tcpPort: up.tcpPort, dir: o.dir, internalLog: up.log, output: up.output, stop: up.stop };
}

/** A private rsyslogd that came up: its pid, its imtcp port (from listenPortFileName), its output and one of its log files. */
export interface SpawnedRsyslogd {
  pid: number;
  tcpPort: number;
  log(): string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs rsyslogd -n on `conf` (pid file and imtcp.port in `dir`) and waits until it is up: the
 * port file names a port, `logFile` (in `dir`) has its start message, the pid file names it, and
 * `ready(pid)` holds. A restart in the same `dir` removes the port and pid files first.
 * One that does not come up within RSYSLOGD_UP_MS, or whose pid file names another process,
 * is stopped, and the error carries its output, the log and `detail()`.
 */
export async function spawnRsyslogd(dir: string, conf: string, logFile: string, ready: (pid: number) => boolean = () => true, detail: () => string = () => ''): Promise<SpawnedRsyslogd> {
  const pidFile = join(dir, 'rsyslogd.pid');
  const child: ChildProcess = spawnTracked(RSYSLOGD, ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'], env: RSYSLOGD_ENV });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const pid = child.pid!;
  const log = (): string => (existsSync(join(dir, logFile)) ? readFileSync(join(dir, logFile), 'utf8') : '');
  const stop = (): Promise<void> => stopChild(child);
  try {
    const portFile = join(dir, 'imtcp.port');
    const end = Date.now() + RSYSLOGD_UP_MS;
    let tcp = 0;
    let isUp = false;
    while (!isUp && Date.now() < end && child.exitCode === null) {
      if (existsSync(portFile)) tcp = Number(readFileSync(portFile, 'utf8').trim()) || 0;
      // The pid file comes last (after the inputs listen); it also tells a restart from the run before.
      const pidWritten = existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8').trim()) === pid;
      isUp = ready(pid) && tcp > 0 && log().includes('] start') && pidWritten;
      if (!isUp) await sleep(50);
    }
    if (!isUp) throw new Error(`private rsyslogd did not come up (exit ${child.exitCode}; tcp ${tcp}${detail() ? `, ${detail()}` : ''}): ${out}\n${log()}`);
    // -n keeps rsyslogd in the foreground: the pid it writes is the one we spawned.
    const written = Number(readFileSync(pidFile, 'utf8').trim());
    if (written !== pid) throw new Error(`rsyslogd pid file says ${written}, spawned ${pid}`);
    return { pid, tcpPort: tcp, log, output: () => out, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** rsyslog's escaping on receive (the default): each control character becomes `#` + 3 octal digits. */
export function rsyslogEscape(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i]! < 0x20) {
      parts.push(b.subarray(from, i), Buffer.from('#' + b[i]!.toString(8).padStart(3, '0'), 'ascii'));
      from = i + 1;
    }
  }
  parts.push(b.subarray(from));
  return Buffer.concat(parts);
}
