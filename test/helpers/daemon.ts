import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './paths.js';

export interface QueriedEntry {
  seq: number;
  received_at: string;
  transport: string;
  listener: string;
  peer: string;
  flags: number;
  raw: string;
  fields: Record<string, any>;
}

export interface RunningDaemon {
  dataDir: string;
  child: ChildProcess;
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

/** Polls until `cond` is true or the deadline passes (returns the last value either way). */
export async function waitFor<T>(fn: () => T, cond: (v: T) => boolean, timeoutMs = 10_000, stepMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = fn();
  while (!cond(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, stepMs));
    v = fn();
  }
  return v;
}

/**
 * Starts `immutalog serve` on loopback with ephemeral ports (port 0) and waits until its
 * status file names the ports it bound.
 */
/**
 * How long a start may take. A start after a crash runs recovery and a restart checkpoint
 * (several fsyncs); on a loaded CI host that has taken more than 20 s.
 */
export const START_TIMEOUT_MS = 90_000;

export async function startDaemon(opts: { dataDir?: string; args?: string[]; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunningDaemon> {
  const dataDir = opts.dataDir ?? tempDataDir();
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
  const t0 = Date.now();
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const s = await waitFor(readStatus, (v) => (v?.pid === child.pid && v.state === 'running') || gone(), opts.timeoutMs ?? START_TIMEOUT_MS);
  if (!s || s.pid !== child.pid || s.state !== 'running') {
    const alive = !gone();
    child.kill('SIGKILL');
    throw new Error(`daemon did not start within ${Date.now() - t0} ms (${alive ? 'still running: hung?' : `exit ${child.exitCode}, signal ${child.signalCode}`}): ${err}`);
  }
  const port = (t: string): number => s.listeners.find((l: any) => l.transport === t)?.port ?? 0;
  return {
    dataDir,
    child,
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
}
