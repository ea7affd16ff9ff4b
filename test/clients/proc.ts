// Running the real clients (python3 + oslo.log, rsyslogd, logger, openssl) from the tests:
// every child is bounded in time and killed by its own pid, never by name.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Debian's python3 with python3-oslo.log, not the pyenv `python3` that may be first on PATH. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
export const RSYSLOGD = '/usr/sbin/rsyslogd';
/** rsyslog-relp's plugins: loaded by rsyslogd from its module directory, not run. */
export const OMRELP_SO = '/usr/lib/x86_64-linux-gnu/rsyslog/omrelp.so';
export const IMRELP_SO = '/usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so';
export const LOGGER = '/usr/bin/logger';
export const OPENSSL = '/usr/bin/openssl';

/**
 * Children started through this module that have not exited yet. If the test process exits
 * anyway (a hook timed out mid-start, an uncaught error), they are SIGKILLed by pid here.
 */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Spawns and tracks a child until it exits (see `live`). */
export function spawnTracked(cmd: string, args: string[], opts: Parameters<typeof spawn>[2]): ChildProcess {
  const child = spawn(cmd, args, opts);
  live.add(child);
  child.on('exit', () => live.delete(child));
  child.on('error', () => live.delete(child));
  return child;
}

/** Folder of the client helpers (this folder). */
export const CLIENTS_DIR = fileURLToPath(new URL('./', import.meta.url));

/**
 * The last guard inside a test that runs a client: a clear message naming the package. Whether
 * the test runs at all without it is test/clients/available.ts's call (skip, or fail in CI).
 */
export function requireExecutable(path: string, debianPackage: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is missing or not executable: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}); CI installs it`);
  }
}

/** Fails clearly unless /usr/bin/python3 can import every module. */
export function requirePythonModules(modules: string[], debianPackage: string): void {
  requireExecutable(SYSTEM_PYTHON, 'python3');
  const r = spawnSync(SYSTEM_PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { timeout: 30_000, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${SYSTEM_PYTHON} cannot import ${modules.join(', ')}: install the Debian package "${debianPackage}" (CI installs it).\n${r.stderr ?? ''}${r.error ? String(r.error) : ''}`);
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs a command to completion without blocking the event loop; SIGKILLs it (by pid) after
 * timeoutMs and rejects. `input` is written to stdin and stdin closed.
 */
export function run(cmd: string, args: string[], opts: { input?: Buffer | string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms; killed. stderr: ${err}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
  });
}

/** Like run(), but a non-zero exit is an error that carries stderr. */
export async function runOk(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code ?? r.signal}: ${r.stderr}`);
  return r;
}

/** Sends SIGTERM to the child's own pid, then SIGKILL if it has not exited after graceMs. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Stops an immutalog daemon started with test/helpers/daemon.ts: SIGTERM, SIGKILL if it has not
 * exited within graceMs, then removes its data directory. Returns the exit code (null if killed).
 */
export async function stopDaemonAndClean(d: { stop(): Promise<number | null>; kill(): Promise<void>; dataDir: string }, graceMs = 20_000): Promise<number | null> {
  const r = await Promise.race([d.stop().then((code) => ({ code })), sleep(graceMs).then(() => undefined)]);
  if (r === undefined) await d.kill();
  rmSync(d.dataDir, { recursive: true, force: true });
  return r === undefined ? null : r.code;
}
