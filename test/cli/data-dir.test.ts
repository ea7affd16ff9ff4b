// A data directory the writer cannot use (issue 11 item 2): `keys init` and `serve` exit 2 with
// the path and the fix, never a stack trace. The install section once ran `keys init` as the
// service user on a directory useradd had not made, and got a raw EACCES from mkdir, exit 1.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/paths.js';
import { runCli, tempDataDir } from '../helpers/daemon.js';

/** A uid that owns nothing of ours: Debian's `nobody`. */
const OTHER_UID = 65534;
const SETPRIV = '/usr/bin/setpriv';
const isRoot = process.geteuid?.() === 0;

function expectRefusal(r: { code: number | null; stderr: string }, path: string, fix: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toContain(path);
  expect(r.stderr).toMatch(fix);
  expect(r.stderr, 'no stack trace').not.toMatch(/^\s+at /m);
}

const serveArgs = (dir: string): string[] => ['serve', '--data-dir', dir, '--udp', '127.0.0.1:0'];

/** A serve that accepts the directory runs until stopped; a refusal takes well under a second. */
const SERVE_REFUSAL_TIMEOUT_MS = 30_000;
function runServe(dir: string): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...serveArgs(dir)], { timeout: SERVE_REFUSAL_TIMEOUT_MS, killSignal: 'SIGKILL' });
  return { code: r.status, stderr: r.stderr.toString('utf8') };
}

describe('a data directory that is a file', () => {
  const file = join(tempDataDir(), 'not-a-dir');
  writeFileSync(file, 'x');

  it('keys init exits 2 naming it', () => {
    expectRefusal(runCli(['keys', 'init', '--data-dir', file]), file, /expected a directory/);
  });

  it('serve exits 2 naming it', () => {
    expectRefusal(runServe(file), file, /expected a directory/);
  });
});

describe.skipIf(!isRoot)(`a data directory owned by another user${isRoot ? '' : ' [skipped: needs root to chown]'}`, () => {
  it('keys init (as root) refuses it, names the owner and the chown, and writes nothing there', () => {
    const dir = join(tempDataDir(), 'theirs');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, OTHER_UID, OTHER_UID);
    expectRefusal(runCli(['keys', 'init', '--data-dir', dir]), dir, /owned by .*uid 65534.*chown -R root: /s);
    expect(existsSync(join(dir, 'immutalog.sqlite'))).toBe(false);
    expect(existsSync(join(dir, 'keystate.json'))).toBe(false);
  });

  it('serve (as root) refuses a log whose key state another user owns', () => {
    const dir = tempDataDir();
    expect(runCli(['keys', 'init', '--data-dir', dir]).code).toBe(0);
    chownSync(join(dir, 'keystate.json'), OTHER_UID, OTHER_UID);
    expectRefusal(runServe(dir), join(dir, 'keystate.json'), /owned by .*uid 65534.*chown -R root: /s);
  });
});

describe.skipIf(!isRoot || !existsSync(SETPRIV))(`a data directory the user may not create${isRoot && existsSync(SETPRIV) ? '' : ' [skipped: needs root and setpriv]'}`, () => {
  const asOther = (args: string[]): { code: number | null; stderr: string } => {
    const r = spawnSync(SETPRIV, [`--reuid=${OTHER_UID}`, `--regid=${OTHER_UID}`, '--clear-groups', process.execPath, CLI, ...args], { timeout: SERVE_REFUSAL_TIMEOUT_MS, killSignal: 'SIGKILL' });
    return { code: r.status, stderr: r.stderr.toString('utf8') };
  };
  // Under a root-owned 0755 parent, like /var/lib/immutalog before the install made it.
  const parent = tempDataDir();
  chmodSync(parent, 0o755);
  const dir = join(parent, 'immutalog');

  it('keys init exits 2 with the install -d that makes it', () => {
    expectRefusal(asOther(['keys', 'init', '--data-dir', dir]), dir, /cannot create it \(EACCES\).*install -d -o \S+ -g \S+ -m 0700 /s);
  });

  it('serve exits 2 with the same', () => {
    expectRefusal(asOther(serveArgs(dir)), dir, /cannot create it \(EACCES\).*install -d -o /s);
  });
});
