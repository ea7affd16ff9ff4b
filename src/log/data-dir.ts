import { join } from 'node:path';

/** Where one log keeps its files. The key-state file sits beside the database, never inside it. */
export interface DataPaths {
  dir: string;
  database: string;
  keyState: string;
  statusFile: string;
  defaultAuditorKey: string;
  controlSocket: string;
  /** Held by the one process that may write this log (serve, keys init): see writer-lock.ts. */
  lockFile: string;
  /** The lock holder's pid, for the message a second writer prints. */
  pidFile: string;
}

export function dataPaths(dir: string): DataPaths {
  return {
    dir,
    database: join(dir, 'immutalog.sqlite'),
    keyState: join(dir, 'keystate.json'),
    statusFile: join(dir, 'status.json'),
    defaultAuditorKey: join(dir, 'auditor-key.pem'),
    controlSocket: join(dir, 'control.sock'),
    lockFile: join(dir, 'writer.lock'),
    pidFile: join(dir, 'writer.pid'),
  };
}
