import { sealBatch, type ChainPosition, type SealedBatch } from '../chain/batch.js';
import { escrowBlockKey } from '../chain/escrow.js';
import { genesisHash } from '../chain/mac.js';
import { KeyStateError, loadKeyState } from '../chain/keystate.js';
import { fieldsToJson, parseRecord } from '../parse/index.js';
import type { ReceivedFrame } from '../receive/frame.js';
import { LogStore } from '../store/log-store.js';
import { dataPaths } from './data-dir.js';
import { nowUs } from '../receive/stamp.js';

export class OpenLogError extends Error {
  constructor(readonly code: 'NOT_INITIALISED' | 'KEYSTATE_MISMATCH' | 'KEYSTATE_BEHIND', message: string) {
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
  const id = store.getMeta('identity_public');
  const fp = store.getMeta('fingerprint');
  const aud = store.getMeta('auditor_public');
  if (id === undefined || fp === undefined || aud === undefined) {
    throw new OpenLogError('NOT_INITIALISED', `${where}: no log identity; run \`immutalog keys init\` or start \`immutalog serve\` once`);
  }
  return { identityPublic: Buffer.from(id, 'hex'), fingerprint: fp, auditorPublic: Buffer.from(aud, 'hex') };
}

/**
 * Sequencing and MAC step of the write path, on the main thread: parse each frame (index
 * fields), give it the next sequence number, chain its MAC, and hand the sealed batch on.
 */
export class Sequencer {
  private at: ChainPosition;
  readonly identity: LogIdentity;
  sealed = 0;

  private constructor(identity: LogIdentity, at: ChainPosition) {
    this.identity = identity;
    this.at = at;
  }

  /**
   * Recovers the chain position after any stop, clean or not: the next sequence number and head
   * come from the last committed entry; the open block's key from the key-state file. If the
   * key state names a block the database has not recorded yet (a crash between the two
   * writes), the block's escrow row is written now.
   */
  static recover(dir: string): Sequencer {
    const p = dataPaths(dir);
    const store = LogStore.open(p.database, { create: true });
    try {
      const identity = readIdentity(store, dir);
      let ks;
      try {
        ks = loadKeyState(p.keyState);
      } catch (e) {
        if (e instanceof KeyStateError && e.code === 'KEYSTATE_MISSING') {
          throw new OpenLogError('NOT_INITIALISED', `${p.keyState} is missing: the writer's keys are gone, so this log cannot be extended. Restore the file or start a new log in another directory.`);
        }
        throw e;
      }
      if (ks.fingerprint !== identity.fingerprint) {
        throw new OpenLogError('KEYSTATE_MISMATCH', `${p.keyState}: expected fingerprint ${identity.fingerprint}, got ${ks.fingerprint} (key state of another log)`);
      }
      const last = store.lastEntry();
      const lastBlock = store.lastBlock();
      const nextSeq = last ? last.seq + 1 : 0;
      if (lastBlock && lastBlock.block > ks.block) {
        throw new OpenLogError('KEYSTATE_BEHIND', `${p.keyState}: holds block ${ks.block} but the database already has block ${lastBlock.block} (an older copy of the key state?)`);
      }
      if (!lastBlock || lastBlock.block < ks.block) {
        store.insertBlock({
          block: ks.block,
          first_seq: nextSeq,
          opened_at_us: nowUs(),
          escrow: escrowBlockKey(ks.blockKey, identity.auditorPublic, Buffer.from(identity.fingerprint, 'hex'), ks.block),
        });
      }
      const head = last ? last.mac : genesisHash(identity.identityPublic);
      return new Sequencer(identity, { nextSeq, head, block: ks.block, blockKey: ks.blockKey });
    } finally {
      store.close();
    }
  }

  get nextSeq(): number {
    return this.at.nextSeq;
  }

  get block(): number {
    return this.at.block;
  }

  seal(frames: readonly ReceivedFrame[]): SealedBatch {
    const fields = frames.map((f) => fieldsToJson(parseRecord(f.raw)));
    const { batch, next } = sealBatch(this.at, frames, fields);
    this.at = next;
    this.sealed += batch.count;
    return batch;
  }
}
