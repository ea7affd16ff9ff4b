import { join } from 'node:path';

/** Where one log keeps its files. The key-state file sits beside the database, never inside it. */
export interface DataPaths {
  dir: string;
  database: string;
  keyState: string;
  statusFile: string;
  defaultAuditorKey: string;
  controlSocket: string;
}

export function dataPaths(dir: string): DataPaths {
  return {
    dir,
    database: join(dir, 'immutalog.sqlite'),
    keyState: join(dir, 'keystate.json'),
    statusFile: join(dir, 'status.json'),
    defaultAuditorKey: join(dir, 'auditor-key.pem'),
    controlSocket: join(dir, 'control.sock'),
  };
}
