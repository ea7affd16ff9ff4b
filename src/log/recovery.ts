import { StoredEntryEncoder } from '../chain/encoding.js';
import { escrowBlockKey } from '../chain/escrow.js';
import { freshNextKeys, KeyStateError, type KeyState } from '../chain/keystate.js';
import { loadKeyState, saveKeyState } from './keystate-file.js';
import { genesisHash } from '../chain/mac.js';
import { buildCheckpoint } from '../checkpoint/build.js';
import { checkpointHash, decodeCheckpoint, GENESIS_PREVIOUS, type Checkpoint } from '../checkpoint/format.js';
import { leafHashOfPrefixed, MerkleAccumulator } from '../checkpoint/merkle.js';
import { nowUs } from '../chain/clock.js';
import { LogStore } from '../store/log-store.js';
import { dataPaths } from './data-dir.js';
import { OpenLogError, readIdentity, type LogIdentity } from './identity.js';
import { checkKeyState } from './keystate-check.js';

/** Everything the write path needs to continue a log after any stop, clean or not. */
export interface RecoveredLog {
  identity: LogIdentity;
  keyState: KeyState;
  nextSeq: number;
  head: Buffer;
  blockFirstSeq: number;
  /** The open block's signed lower time bound (its previous checkpoint's time, or the log's creation). */
  blockFloorUs: number;
  /** The latest receive time already stored in the open block. */
  latestInBlockUs: number;
  previousCheckpointHash: Buffer;
  /** The log had content before this start: a restart checkpoint is due. */
  restarted: boolean;
  /** What recovery had to repair, for the daemon's log. */
  repairs: string[];
}

function promote(ks: KeyState): KeyState {
  const n = ks.next!;
  return { version: 1, fingerprint: ks.fingerprint, block: ks.block + 1, blockKey: n.blockKey, signingPublic: n.signingPublic, signingPrivate: n.signingPrivate };
}

/**
 * Brings the database and the key-state file back into step. The write order of a checkpoint
 * (next keys into the key state first, then block and checkpoint rows, then the key state
 * promoted) means that after a crash at any point one of these holds:
 *   - the key state has no pending keys: nothing to do;
 *   - it has pending keys and checkpoint j is committed: promote them;
 *   - it has pending keys, block j+1 is open and checkpoint j is not committed: finish
 *     checkpoint j from the database (its entries, the keys still in the key state), then promote;
 *   - it has pending keys and block j is still the open one: nothing to do; they were chosen
 *     ahead of checkpoint j (at the previous promotion) and checkpoint j will use them.
 * Any other pairing of key state and database (an older copy of either restored, keys that are
 * not the certified ones) is refused before anything is written: see keystate-check.ts.
 */
export function recoverLog(dir: string): RecoveredLog {
  const p = dataPaths(dir);
  // Checked on a read-only connection: a refused start leaves even the WAL of a crashed run
  // unmerged (a writing connection folds it into the database when it closes).
  const checked = LogStore.open(p.database, { create: false, readonly: true });
  let identity: LogIdentity;
  let ks: KeyState;
  try {
    ({ identity, ks } = readStartState(checked, p.keyState, dir));
  } finally {
    checked.close();
  }
  const store = LogStore.open(p.database, { create: true });
  const repairs: string[] = [];
  try {
    const logId = Buffer.from(identity.fingerprint, 'hex');
    const hadContent = store.entries.last() !== undefined || store.checkpoints.last() !== undefined;

    if (ks.next) {
      const j = ks.block;
      if (store.checkpoints.get(j) !== undefined) {
        repairs.push(`checkpoint ${j} was committed but the key state not yet advanced; advanced it`);
        ks = promote(ks);
      } else if (store.blocks.get(j + 1) !== undefined) {
        finishCheckpoint(store, identity, ks as KeyState & { next: NonNullable<KeyState['next']> }, logId);
        repairs.push(`checkpoint ${j} was interrupted after its block switch; completed it from the stored entries`);
        ks = promote(ks);
      }
      // Otherwise block j is still open and the keys are only chosen: checkpoint j (the restart
      // checkpoint, or a later one) uses them as they are.
    }
    if (!ks.next) {
      // Chosen now, before anything is received, so that no checkpoint while receiving has to
      // wait for a key-state fsync on the receiving thread. One write also saves a promotion
      // above: the promoted state with its next keys.
      ks = { ...ks, next: freshNextKeys() };
      saveKeyState(p.keyState, ks);
    }

    const lastBlock = store.blocks.last();
    if (lastBlock && lastBlock.block > ks.block) {
      throw new OpenLogError('KEYSTATE_BEHIND', `${p.keyState}: holds block ${ks.block} but the database already has block ${lastBlock.block} (an older copy of the key state?)`);
    }
    const last = store.entries.last();
    const nextSeq = last ? last.seq + 1 : 0;
    if (!lastBlock || lastBlock.block < ks.block) {
      store.blocks.insert({ block: ks.block, first_seq: nextSeq, opened_at_us: nowUs(), escrow: escrowBlockKey(ks.blockKey, identity.auditorPublic, logId, ks.block) });
    }
    const open = store.blocks.get(ks.block)!;
    const lastCp = store.checkpoints.last();
    return {
      identity,
      keyState: ks,
      nextSeq,
      head: last ? last.mac : genesisHash(identity.identityPublic),
      blockFirstSeq: open.first_seq,
      blockFloorUs: lastCp ? decodeCheckpoint(lastCp.bytes).timeUs : Number(store.meta.get('created_at_us') ?? 0),
      latestInBlockUs: store.entries.latestReceivedAtFrom(open.first_seq) ?? 0,
      previousCheckpointHash: lastCp ? checkpointHash(lastCp.bytes) : GENESIS_PREVIOUS,
      restarted: hadContent,
      repairs,
    };
  } finally {
    store.close();
  }
}

function newestCheckpoint(store: LogStore): Checkpoint | undefined {
  const row = store.checkpoints.last();
  if (!row) return undefined;
  try {
    return decodeCheckpoint(row.bytes);
  } catch (e) {
    throw new OpenLogError('RECOVERY_INCONSISTENT', `checkpoint ${row.idx} in the database is malformed (${(e as Error).message}); run \`immutalog verify\` on this data directory`);
  }
}

/**
 * The log's identity and the key state beside it, refused unless they belong together and the
 * key state is one a crash can leave with this database (keystate-check.ts).
 */
function readStartState(store: LogStore, keyStatePath: string, dir: string): { identity: LogIdentity; ks: KeyState } {
  const identity = readIdentity(store, dir);
  let ks: KeyState;
  try {
    ks = loadKeyState(keyStatePath);
  } catch (e) {
    if (e instanceof KeyStateError && e.code === 'KEYSTATE_MISSING') {
      throw new OpenLogError('NOT_INITIALISED', `${keyStatePath} is missing: the writer's keys are gone, so this log cannot be extended. Restore the file or start a new log in another directory.`);
    }
    throw e;
  }
  if (ks.fingerprint !== identity.fingerprint) {
    throw new OpenLogError('KEYSTATE_MISMATCH', `${keyStatePath}: expected fingerprint ${identity.fingerprint}, got ${ks.fingerprint} (key state of another log)`);
  }
  checkKeyState(ks, { identityPublic: identity.identityPublic, newest: newestCheckpoint(store), lastBlock: store.blocks.last()?.block }, keyStatePath);
  return { identity, ks };
}

/** Completes checkpoint j = ks.block from the database, as the live path would have. */
function finishCheckpoint(store: LogStore, identity: LogIdentity, ks: KeyState & { next: NonNullable<KeyState['next']> }, logId: Buffer): void {
  const j = ks.block;
  const row = store.blocks.get(j);
  if (!row) throw new OpenLogError('RECOVERY_INCONSISTENT', `block ${j} named by the key state is not in the database`);
  const nextRow = store.blocks.get(j + 1);
  const end = nextRow ? nextRow.first_seq : Number.MAX_SAFE_INTEGER;
  const acc = new MerkleAccumulator();
  const encoder = new StoredEntryEncoder();
  let head: Buffer | undefined;
  let latestUs = 0;
  for (const e of store.entries.range(row.first_seq, end)) {
    acc.addLeafHash(leafHashOfPrefixed(encoder.leafInput(e)));
    head = e.mac;
    if (e.received_at_us > latestUs) latestUs = e.received_at_us;
  }
  if (head === undefined) {
    const before = row.first_seq > 0 ? [...store.entries.range(row.first_seq - 1, row.first_seq)][0] : undefined;
    head = before ? before.mac : genesisHash(identity.identityPublic);
  }
  const escrow = nextRow ? nextRow.escrow : escrowBlockKey(ks.next.blockKey, identity.auditorPublic, logId, j + 1);
  const prev = j > 0 ? store.checkpoints.get(j - 1) : undefined;
  if (j > 0 && !prev) throw new OpenLogError('RECOVERY_INCONSISTENT', `checkpoint ${j - 1} is missing while block ${j} is open`);
  // Dated as the live path dates it: at the cut, which the block switch stored as block j+1's
  // opening time (block j+1's entries are dated from it on), and never before block j's entries
  // or checkpoint j-1.
  const time = Math.max(nextRow ? nextRow.opened_at_us : nowUs(), latestUs, prev ? decodeCheckpoint(prev.bytes).timeUs : 0);
  const cp = buildCheckpoint(
    identity.fingerprint,
    { index: j, firstSeq: row.first_seq, count: acc.size, chainHead: head, entryRoot: acc.root() },
    ks,
    escrow,
    prev ? checkpointHash(prev.bytes) : GENESIS_PREVIOUS,
    time,
    'restart',
  );
  store.atomically(() => {
    if (!nextRow) store.blocks.insert({ block: j + 1, first_seq: row.first_seq + acc.size, opened_at_us: time, escrow });
    store.checkpoints.insert({ idx: j, time_us: time, bytes: cp.bytes });
  });
}
