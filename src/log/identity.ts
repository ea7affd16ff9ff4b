import type { LogStore } from '../store/log-store.js';

export class OpenLogError extends Error {
  constructor(
    readonly code: 'NOT_INITIALISED' | 'KEYSTATE_MISMATCH' | 'KEYSTATE_BEHIND' | 'KEYSTATE_AHEAD' | 'KEYSTATE_WRONG_KEY' | 'KEYSTATE_KEY_PAIR' | 'RECOVERY_INCONSISTENT',
    message: string,
  ) {
    super(message);
  }
}

/** The identity facts of a log, read from its database. */
export interface LogIdentity {
  identityPublic: Buffer;
  fingerprint: string;
  auditorPublic: Buffer;
}

export function readIdentity(store: LogStore, where: string): LogIdentity {
  const id = store.meta.get('identity_public');
  const fp = store.meta.get('fingerprint');
  const aud = store.meta.get('auditor_public');
  if (id === undefined || fp === undefined || aud === undefined) {
    throw new OpenLogError('NOT_INITIALISED', `${where}: no log identity; run \`immutalog keys init\` or start \`immutalog serve\` once`);
  }
  return { identityPublic: Buffer.from(id, 'hex'), fingerprint: fp, auditorPublic: Buffer.from(aud, 'hex') };
}
