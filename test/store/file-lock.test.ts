// The writer lock's primitive (src/store/file-lock.ts): exclusive, released by release() and by
// the holder's death (SIGKILL included), and never waited for. A child process holds it, since
// fcntl locks belong to a process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileLock } from '../../src/store/file-lock.js';
import { REPO_ROOT } from '../helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'immutalog-filelock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A child process that takes the lock (built module in dist/), says so on stdout, then sleeps. */
async function holder(path: string): Promise<{ kill: () => Promise<void> }> {
  const mod = join(REPO_ROOT, 'dist', 'store', 'file-lock.js');
  const child = spawn(process.execPath, ['--input-type=module', '-e', `const { FileLock } = await import(${JSON.stringify(mod)}); globalThis.l = FileLock.tryTake(${JSON.stringify(path)}); console.log(globalThis.l ? 'held' : 'busy'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  expect(said).toBe('held');
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return { kill: async () => void (child.kill('SIGKILL'), await exited) };
}

/** What another process gets when it tries the lock once (it exits at once, releasing it). */
async function probe(path: string): Promise<string> {
  const mod = join(REPO_ROOT, 'dist', 'store', 'file-lock.js');
  const child = spawn(process.execPath, ['--input-type=module', '-e', `const { FileLock } = await import(${JSON.stringify(mod)}); console.log(FileLock.tryTake(${JSON.stringify(path)}) ? 'held' : 'busy');`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.on('exit', r));
  return out.trim();
}

describe('FileLock', () => {
  it('one holder at a time in a process, and a refused attempt there does not drop the lock (closing a descriptor drops fcntl locks); release() lets the next one in', async () => {
    const path = join(dir, 'a.lock');
    const a = FileLock.tryTake(path);
    expect(a).toBeDefined();
    expect(FileLock.tryTake(path)).toBeUndefined();
    expect(await probe(path)).toBe('busy');
    a!.release();
    expect(await probe(path)).toBe('held');
    const b = FileLock.tryTake(path);
    expect(b).toBeDefined();
    b!.release();
  });

  it('is refused at once while another process holds it, and free as soon as that process is SIGKILLed', async () => {
    const path = join(dir, 'b.lock');
    const h = await holder(path);
    expect(FileLock.tryTake(path)).toBeUndefined();
    await h.kill();
    const mine = FileLock.tryTake(path);
    expect(mine).toBeDefined();
    mine!.release();
  });
});
