import { accessSync, constants, mkdirSync, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dataPaths } from './data-dir.js';

/** A data directory a writer (serve, keys init) cannot use; the message names the path and the fix. */
export class DataDirError extends Error {
  readonly code = 'DATA_DIR_UNUSABLE';
}

function userName(uid: number): string {
  // Only for the message: /etc/passwd may lack the uid (containers), and then the number says enough.
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid) return `${f[0]} (uid ${uid})`;
    }
  } catch {
    // No passwd file: fall through to the number.
  }
  return `uid ${uid}`;
}

function me(): { uid: number; name: string; login: string } {
  const uid = process.geteuid?.() ?? userInfo().uid;
  let login = String(uid);
  try {
    login = userInfo().username;
  } catch {
    // A uid with no passwd entry: chown takes the number.
  }
  return { uid, name: userName(uid), login };
}

/**
 * Makes sure a writer can use its data directory before it touches anything there: the directory
 * exists (it is created, mode 0700, if missing), is a directory, and it and the log's files belong
 * to this process's user. Files left by another user (root running `keys init` or `serve` by
 * hand) are refused rather than written beside: a root-owned key state or database would stop the
 * service, which runs as its own user, at its next start or rotation.
 */
export function prepareDataDir(dir: string): void {
  const u = me();
  const chownFix = `give it to the user that runs immutalog: chown -R ${u.login}: ${dir} (as root), or set data_dir (--data-dir) to a directory that user owns`;
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new DataDirError(`data directory ${dir}: cannot read it (${code}); ${chownFix}`);
  }
  if (st === undefined) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new DataDirError(
          `data directory ${dir}: ${u.name} cannot create it (${code}). Create it for that user, as root: install -d -o ${u.login} -g ${u.login} -m 0700 ${dir}; or set data_dir (--data-dir) to a directory it may write`,
        );
      }
      throw new DataDirError(`data directory ${dir}: cannot create it (${code}: ${(e as Error).message}); set data_dir (--data-dir) to a directory`);
    }
    return;
  }
  if (!st.isDirectory()) {
    throw new DataDirError(`data directory ${dir}: expected a directory, got a file that is not one. Move it away, or set data_dir (--data-dir) to a directory`);
  }
  if (st.uid !== u.uid) {
    throw new DataDirError(
      `data directory ${dir}: owned by ${userName(st.uid)}, not by ${u.name}, which would leave files there its owner cannot use. ` +
        `Run immutalog as its owner (the service: systemctl start immutalog), or, only if the directory is meant for ${u.name}: chown -R ${u.login}: ${dir}`,
    );
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new DataDirError(`data directory ${dir}: not writable by its owner ${u.name} (mode ${(st.mode & 0o777).toString(8)}): chmod 0700 ${dir}`);
  }
  const p = dataPaths(dir);
  for (const f of [p.database, `${p.database}-wal`, `${p.database}-shm`, p.keyState, p.lockFile, p.pidFile, p.statusFile]) {
    let fst;
    try {
      fst = statSync(f);
    } catch {
      continue;
    }
    if (fst.uid !== u.uid) throw new DataDirError(`data directory ${dir}: ${f} is owned by ${userName(fst.uid)}, not by ${u.name}; ${chownFix}`);
  }
}
