// The files in etc/ (and the embedded defaults etc/immutalog.conf documents) name
// 127.0.0.1:5514. Tests that use them as they are must bind exactly that port: if it is taken,
// they fail saying so, and never pick another. Test files run in parallel workers, so every test
// that binds 5514 first takes a lock shared across processes (a directory in the temp dir that
// holds the owner's pid); a lock whose owner has died is taken over.
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from './proc.js';

export const ETC_HOST = '127.0.0.1';
export const ETC_PORT = 5514;

const LOCK_DIR = join(tmpdir(), `immutalog-test-port-${ETC_PORT}.lock`);
let held = false;

process.on('exit', () => {
  if (held) rmSync(LOCK_DIR, { recursive: true, force: true });
});

function ownerAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the cross-process lock on port 5514 for this test file (waits while another test file
 * of this suite holds it). Returns the release function.
 */
export async function lockEtcPort(what: string, timeoutMs = 100_000): Promise<() => void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(join(LOCK_DIR, 'owner'), `${process.pid}\n${what}\n`);
      held = true;
      return () => {
        if (!held) return;
        held = false;
        rmSync(LOCK_DIR, { recursive: true, force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let owner = '';
    try {
      owner = readFileSync(join(LOCK_DIR, 'owner'), 'utf8');
    } catch {
      // being written or removed right now
    }
    const pid = Number(owner.split('\n')[0]);
    if (owner !== '' && !ownerAlive(pid)) {
      rmSync(LOCK_DIR, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > end) throw new Error(`port ${ETC_PORT} lock ${LOCK_DIR} still held after ${timeoutMs} ms by: ${owner.trim() || '(unknown)'}`);
    await sleep(100);
  }
}

function busy(proto: string, e: NodeJS.ErrnoException): Error {
  return new Error(
    `${ETC_HOST}:${ETC_PORT}/${proto} is not free (${e.code ?? e.message}). The files in etc/ name this port and this test uses ` +
      `them as they are, so it needs exactly this port and will not pick another: stop whatever listens there ` +
      `(find it with: ss -lnup 'sport = :${ETC_PORT}'; ss -lntp 'sport = :${ETC_PORT}').`,
  );
}

/** Fails with a clear message unless both 127.0.0.1:5514/udp and /tcp can be bound right now. */
export async function assertEtcPortFree(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = createServer();
    s.once('error', (e) => reject(busy('tcp', e)));
    s.listen({ host: ETC_HOST, port: ETC_PORT, exclusive: true }, () => s.close(() => resolve()));
  });
  await new Promise<void>((resolve, reject) => {
    const u = createSocket('udp4');
    u.once('error', (e) => {
      u.close();
      reject(busy('udp', e));
    });
    u.bind({ address: ETC_HOST, port: ETC_PORT, exclusive: true }, () => u.close(() => resolve()));
  });
}
