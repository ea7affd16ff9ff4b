import { chainEntries, type ChainHead } from '../chain/chainer.js';
import { escrowBlockKey } from '../chain/escrow.js';
import { genesisHash } from '../chain/mac.js';
import { KeyStateError, loadKeyState } from '../chain/keystate.js';
import { fieldsToJson, parseRecord } from '../parse/index.js';
import { TRANSPORT, type ReceivedFrame } from '../receive/frame.js';
import { LogStore, type EntryRow } from '../store/log-store.js';
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
 * Appends frames to the chain: parse (index fields), sequence and MAC, then one SQLite
 * transaction. The head advances only after the commit, so a failed commit is simply retried.
 */
export class ChainWriter {
  private at: ChainHead;
  readonly identity: LogIdentity;
  stored = 0;

  private constructor(private readonly store: LogStore, identity: LogIdentity, at: ChainHead) {
    this.identity = identity;
    this.at = at;
  }

  /**
   * Recovers the chain position after any stop, clean or not: the next sequence number and head
   * come from the last committed entry; the open block's key from the key-state file. If the
   * key state names a block the database has not recorded yet (a crash between the two
   * writes), the block's escrow row is written now.
   */
  static open(dir: string): ChainWriter {
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
      return new ChainWriter(store, identity, { nextSeq, head, block: ks.block, blockKey: ks.blockKey });
    } catch (e) {
      store.close();
      throw e;
    }
  }

  get nextSeq(): number {
    return this.at.nextSeq;
  }

  get block(): number {
    return this.at.block;
  }

  append(frames: readonly ReceivedFrame[]): void {
    const { entries, next } = chainEntries(
      this.at,
      frames.map((f) => ({
        receivedAtUs: f.receivedAtUs, transport: f.transport, flags: f.flags, listener: f.listener,
        peerAddress: f.peerAddress, peerPort: f.peerPort, raw: f.raw,
      })),
    );
    const rows: EntryRow[] = entries.map((e) => ({
      seq: e.fields.seq,
      block: e.block,
      received_at_us: e.fields.receivedAtUs,
      transport: TRANSPORT[e.fields.transport],
      flags: e.fields.flags,
      listener: e.fields.listener,
      peer_address: e.fields.peerAddress,
      peer_port: e.fields.peerPort,
      raw: e.fields.raw,
      mac: e.mac,
      fields: fieldsToJson(parseRecord(e.fields.raw)),
    }));
    this.store.appendEntries(rows);
    this.at = next;
    this.stored += rows.length;
  }

  get storeHandle(): LogStore {
    return this.store;
  }

  close(): void {
    this.store.close();
  }
}
