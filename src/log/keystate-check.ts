import { basename } from 'node:path';
import { publicFromPrivate } from '../chain/keys.js';
import type { KeyState } from '../chain/keystate.js';
import type { Checkpoint } from '../checkpoint/format.js';
import { checkpointSignatureValid } from '../checkpoint/sign.js';
import { OpenLogError } from './identity.js';

/** What the database says about where the log stands, for checkKeyState. */
export interface LogPosition {
  /** The identity key: it signs checkpoint 0. */
  identityPublic: Buffer;
  /** The newest committed checkpoint, or undefined before the first. */
  newest: Checkpoint | undefined;
  /** The highest block row, or undefined when there is none. */
  lastBlock: number | undefined;
}

const short = (b: Buffer): string => b.toString('hex').slice(0, 16);

const NEW_LOG = 'If no matching copy exists, this log cannot be extended: keep the directory for audit (it still verifies) and start a new log in another data directory.';

function checkPair(priv: Buffer, pub: Buffer, privName: string, pubName: string, path: string): void {
  const derived = publicFromPrivate('Ed25519', priv);
  if (!derived.equals(pub)) {
    throw new OpenLogError(
      'KEYSTATE_KEY_PAIR',
      `${path}: ${privName} does not belong to ${pubName}: expected the private key of ${short(pub)}…, got that of ${short(derived)}…. ` +
        `The file is damaged or was edited, and would sign checkpoints that no auditor can verify. Put back the key-state file written with this database. ${NEW_LOG}`,
    );
  }
}

/**
 * Refuses a key state that no crash can leave beside this database. The checkpoint write order
 * (checkpointer.ts) leaves, at any point, either
 *   - the key state of block c+1, where c is the newest checkpoint (none: block 0), with the
 *     signing key checkpoint c certified (the identity key for block 0), next keys pending or
 *     not, and block c+2 already open only when they are pending (the block switch of
 *     checkpoint c+1 ran, its commit did not); or
 *   - the key state of block c itself with next keys pending, when checkpoint c was committed and
 *     the promotion was not: its signing key signed checkpoint c, which certified the pending one.
 * Recovery (recovery.ts) continues from those. Anything else is a restored or edited file, and
 * continuing would break the log for good: a key state ahead of the database (an older database
 * restored) signs checkpoint 613 after 607; one behind it holds keys already disclosed; a signing
 * key that is not the certified one, or a private key that is not its public key's, signs
 * checkpoints that fail verification. Pure: the caller reads the file and the database.
 */
export function checkKeyState(ks: KeyState, log: LogPosition, path: string): void {
  checkPair(ks.signingPrivate, ks.signingPublic, 'signing_private', 'signing_public', path);
  if (ks.next) checkPair(ks.next.signingPrivate, ks.next.signingPublic, 'next_signing_private', 'next_signing_public', path);
  const c = log.newest?.index ?? -1;
  const newestText = log.newest ? `the newest checkpoint in the database is ${c}` : 'the database has no checkpoint yet';

  if (ks.block > c + 1) {
    throw new OpenLogError(
      'KEYSTATE_AHEAD',
      `${path} holds the keys of block ${ks.block}, but ${newestText} (expected block ${c + 1}): the database is older than the key state (restored from a backup?). ` +
        `Serving it would sign checkpoint ${ks.block} right after checkpoint ${c} and break the log for good. Put back the newest copy of the database (immutalog.sqlite with its -wal file); ` +
        `messages received after the older copy was taken are not in it. ${NEW_LOG}`,
    );
  }
  if (ks.block === c + 1) {
    const certified = log.newest ? log.newest.nextSigningKey : log.identityPublic;
    if (!certified.equals(ks.signingPublic)) {
      throw new OpenLogError(
        'KEYSTATE_WRONG_KEY',
        `${path}: signing_public ${short(ks.signingPublic)}… is not the key ${log.newest ? `checkpoint ${c} certified` : 'of the log identity, which signs checkpoint 0'} ` +
          `(${short(certified)}…): this key state belongs to another copy of this log, or was edited, and would sign checkpoint ${ks.block} so that it fails verification. ` +
          `Put back the key-state file written with this database. ${NEW_LOG}`,
      );
    }
    const lastBlock = log.lastBlock ?? ks.block;
    if (lastBlock <= ks.block || (lastBlock === ks.block + 1 && ks.next)) return;
  } else if (ks.block === c && ks.next) {
    // Checkpoint c committed, promotion not: its signer and the key it certified must be these.
    const cp = log.newest!;
    if (cp.nextSigningKey.equals(ks.next.signingPublic) && checkpointSignatureValid(cp, ks.signingPublic)) return;
    throw new OpenLogError(
      'KEYSTATE_WRONG_KEY',
      `${path}: holds block ${c} with pending keys, but checkpoint ${c} was not signed by its signing_public ${short(ks.signingPublic)}… ` +
        `or does not certify its next_signing_public ${short(ks.next.signingPublic)}…: this key state belongs to another copy of this log, or was edited. ` +
        `Put back the key-state file written with this database. ${NEW_LOG}`,
    );
  }
  throw new OpenLogError(
    'KEYSTATE_BEHIND',
    `${path} holds the keys of block ${ks.block}, but ${newestText}${log.lastBlock !== undefined ? ` and its newest block is ${log.lastBlock}` : ''}: ` +
      `the key state is older than the database (an older copy of it restored?), and its keys were already disclosed. ` +
      `Put back the newest ${basename(path)}. ${NEW_LOG}`,
  );
}
