import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './paths.js';
import { parseTaskStat, StallDetector } from '../../src/serve/stall-rule.js';

export interface QueriedEntry {
  seq: number;
  received_at: string;
  transport: string;
  listener: string;
  peer: string;
  flags: number;
  raw: string;
  fields: Record<string, any>;
  /** Entries of RELP listeners only (README "Redelivery"). */
  possible_redelivery?: boolean;
}

export interface RunningDaemon {
  dataDir: string;
  child: ChildProcess;
  /** Reports of starts that hung and were killed by the watchdog before this one came up. */
  hungStarts: string[];
  udpPort: number;
  tcpPort: number;
  tlsPort: number;
  status(): any;
  stderr(): string;
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

const createdDirs = new Set<string>();
// Test data directories go when the test process ends, whatever the test did.
process.on('exit', () => {
  for (const d of createdDirs) rmSync(d, { recursive: true, force: true });
});

export function tempDataDir(prefix = 'immutalog-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  createdDirs.add(d);
  return d;
}

export function runCli(args: string[], opts: { input?: Buffer } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input: opts.input, maxBuffer: 1 << 30 });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

export function query(dataDir: string, extra: string[] = []): QueriedEntry[] {
  const r = runCli(['query', '--data-dir', dataDir, '--json', ...extra]);
  if (r.code !== 0) throw new Error(`query failed (${r.code}): ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as QueriedEntry);
}

/** After the count is reached, how long an extra (unexpected) entry still has to show up: loopback delivers in far less. */
const SETTLE_MS = 400;

/**
 * The entries stored after seq `after` once there are `n` (waiting at most `timeoutMs`, then
 * returning what there is), read again SETTLE_MS later so that one too many would show: the
 * caller compares the count.
 */
export async function settledEntries(d: RunningDaemon, n: number, opts: { after?: number; timeoutMs?: number } = {}): Promise<QueriedEntry[]> {
  const after = opts.after ?? -1;
  const since = (): QueriedEntry[] => query(d.dataDir).filter((e) => e.seq > after);
  await waitFor(since, (r) => r.length >= n, opts.timeoutMs ?? 20_000, 50);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  return since();
}

/**
 * One poll's pause counts for at most this long. A longer gap means that nothing ran here (the
 * machine's VM paused, or its clock jumped): only time the daemon could have used counts
 * against it. CI failed once with a fresh daemon that had printed nothing "within 90 s" (a
 * start takes 0.3-0.4 s here): if that was such a gap, it can no longer fail a test; if it was
 * a hang, it still does, and startDaemon's error now says what each thread was doing.
 */
const MAX_COUNTED_GAP_MS = 1000;

/** How long the last `waitFor` waited, for messages that must tell a hang from a pause. */
export interface WaitStats {
  polls: number;
  wallMs: number;
  countedMs: number;
  longestGapMs: number;
}

/**
 * Polls until `cond` is true or `timeoutMs` of counted time passes (returns the last value either
 * way; `stats`, when given, is filled in).
 */
export async function waitFor<T>(fn: () => T, cond: (v: T) => boolean, timeoutMs = 10_000, stepMs = 25, stats?: WaitStats): Promise<T> {
  const t0 = Date.now();
  let last = t0;
  let counted = 0;
  let polls = 0;
  let longest = 0;
  let v = fn();
  while (!cond(v) && counted < timeoutMs) {
    await new Promise((r) => setTimeout(r, stepMs));
    const now = Date.now();
    const gap = Math.max(0, now - last);
    longest = Math.max(longest, gap);
    counted += Math.min(gap, MAX_COUNTED_GAP_MS);
    last = now;
    polls++;
    v = fn();
  }
  if (stats) Object.assign(stats, { polls, wallMs: Date.now() - t0, countedMs: counted, longestGapMs: longest });
  return v;
}

/** Each thread of a live process: name, scheduler state, kernel wait channel and CPU ticks used. */
export function threadStates(pid: number): string {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map((t) => {
        const dir = `/proc/${pid}/task/${t}`;
        const read = (f: string): string => {
          try {
            return readFileSync(join(dir, f), 'utf8').trim();
          } catch {
            return '?';
          }
        };
        let stat = '? cpu_ticks=?';
        try {
          const { state, cpuTicks } = parseTaskStat(read('stat'));
          stat = `${state} wchan=${read('wchan')} cpu_ticks=${cpuTicks}`;
        } catch {
          // The thread ended between the listing and the read.
        }
        return `${read('comm')}[${t}] ${stat}`;
      })
      .join('; ');
  } catch (e) {
    return `no /proc view: ${(e as Error).message}`;
  }
}

/** What a hung process's threads were doing: /proc's view, then gdb's. */
function hungThreadsReport(pid: number): string {
  return `${threadStates(pid)}\nnative stacks:\n${nativeStacks(pid)}`;
}

/**
 * Each thread's native call stack (function names, innermost first), read by gdb when the host
 * has it: a start that hangs with every thread asleep on a futex says nothing more in /proc, and
 * the stack names the lock.
 */
export function nativeStacks(pid: number): string {
  const r = spawnSync('gdb', ['-nx', '-batch', '-p', String(pid), '-ex', 'thread apply all bt 40'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `no gdb stacks: ${r.error.message}`;
  const threads: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const t = /^Thread \d+ \(.*LWP (\d+)\)/.exec(line);
    if (t) threads.push(`LWP ${t[1]}:`);
    const f = /^#\d+\s+(?:0x[0-9a-f]+ in )?([^ (]+)/.exec(line);
    if (f && threads.length > 0) threads[threads.length - 1] += ` ${f[1]}`;
  }
  return threads.length > 0 ? threads.join('\n') : `no gdb stacks (exit ${r.status}): ${r.stderr.slice(0, 500)}`;
}

/**
 * How long a start may take. A start after a crash runs recovery and a restart checkpoint
 * (several fsyncs); on a loaded CI host that has taken more than 20 s.
 */
export const START_TIMEOUT_MS = 90_000;

/** Samples (one a second) of a sleeping main thread that used no CPU before its stacks are taken: well before the watchdog's 30. */
const HUNG_SAMPLES = 10;

/** What the daemon's watchdog prints before it kills a hung process (src/serve/watchdog-thread.ts). */
const WATCHDOG_MARK = 'immutalog watchdog: the main thread has been asleep';

type StartOptions = { dataDir?: string; args?: string[]; env?: Record<string, string>; timeoutMs?: number };

/**
 * Starts `immutalog serve` on loopback with ephemeral ports (port 0) and waits until its
 * status file names the ports it bound. A start that hangs is killed by the daemon's own
 * watchdog; like systemd (Restart=on-failure), this starts it once more, and says so on the
 * test's stderr with what the hung process's threads were doing.
 */
export async function startDaemon(opts: StartOptions = {}): Promise<RunningDaemon> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const first = await startOnce(dataDir, opts);
  if (first.daemon) return first.daemon;
  if (!first.report.includes(WATCHDOG_MARK)) throw new Error(first.report);
  console.warn(`daemon start hung and its watchdog killed it; starting it again, as systemd would. ${first.report}`);
  // CI prints this file at the end of its output, where it is read; a hang caused on purpose
  // (a fault switch) is not news.
  if (process.env.IMMUTALOG_HUNG_START_LOG && !opts.env?.IMMUTALOG_FAULT) appendFileSync(process.env.IMMUTALOG_HUNG_START_LOG, `${first.report}\n\n`);
  const second = await startOnce(dataDir, opts);
  if (!second.daemon) throw new Error(`${second.report}\n(after a first start killed by the watchdog: ${first.report})`);
  second.daemon.hungStarts.push(first.report);
  return second.daemon;
}

async function startOnce(dataDir: string, opts: StartOptions): Promise<{ daemon: RunningDaemon; report?: undefined } | { daemon?: undefined; report: string }> {
  const args = opts.args ?? ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0'];
  const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const statusPath = join(dataDir, 'status.json');
  const readStatus = (): any => {
    if (!existsSync(statusPath)) return undefined;
    try {
      return JSON.parse(readFileSync(statusPath, 'utf8'));
    } catch {
      return undefined;
    }
  };
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  // Once the main thread has slept HUNG_SAMPLES samples with no CPU used, its threads' stacks
  // are taken (before the watchdog kills it), so that a hang says where it hung.
  const sleeper = new StallDetector(HUNG_SAMPLES);
  let lastSample = 0;
  let hungThreads = '';
  const watch = (): void => {
    if (hungThreads !== '' || gone() || Date.now() - lastSample < 1000) return;
    lastSample = Date.now();
    try {
      const stat = parseTaskStat(readFileSync(`/proc/${child.pid}/task/${child.pid}/stat`, 'utf8'));
      if (sleeper.observe({ beat: 0, ...stat, wchan: '' })) hungThreads = hungThreadsReport(child.pid!);
    } catch {
      // Gone between the check and the read.
    }
  };
  const stats: WaitStats = { polls: 0, wallMs: 0, countedMs: 0, longestGapMs: 0 };
  const s = await waitFor(
    () => (watch(), readStatus()),
    (v) => (v?.pid === child.pid && v.state === 'running') || gone(),
    opts.timeoutMs ?? START_TIMEOUT_MS,
    25,
    stats,
  );
  if (!s || s.pid !== child.pid || s.state !== 'running') {
    const alive = !gone();
    // What the daemon's threads were doing, so that a hang can be told from a slow machine.
    const threads = hungThreads || (alive ? hungThreadsReport(child.pid!) : '');
    child.kill('SIGKILL');
    await exited;
    const waited = `${stats.countedMs} ms counted, ${stats.wallMs} ms by the clock, ${stats.polls} polls, longest gap ${stats.longestGapMs} ms`;
    const how = alive ? 'still running: hung?' : `exit ${child.exitCode}, signal ${child.signalCode}`;
    return { report: `daemon did not start (${waited}; ${how}${threads ? ` threads: ${threads}` : ''}): ${err}` };
  }
  const port = (t: string): number => s.listeners.find((l: any) => l.transport === t)?.port ?? 0;
  const daemon: RunningDaemon = {
    dataDir,
    child,
    hungStarts: [],
    udpPort: port('udp'),
    tcpPort: port('tcp'),
    tlsPort: port('tls'),
    status: readStatus,
    stderr: () => err,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
  return { daemon };
}
