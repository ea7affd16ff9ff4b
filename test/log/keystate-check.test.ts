// checkKeyState: every state the checkpoint write order can leave at a crash is accepted (so
// recovery can continue it), and every other pairing of key state and database is refused with
// its code. The integration tests (keystate-refusal, checkpoint-crash) do the same end to end.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ESCROW_BYTES } from '../../src/chain/escrow.js';
import { fingerprint, generateSigningKeyPair, type RawKeyPair } from '../../src/chain/keys.js';
import type { KeyState } from '../../src/chain/keystate.js';
import { buildCheckpoint } from '../../src/checkpoint/build.js';
import { decodeCheckpoint, GENESIS_PREVIOUS, type Checkpoint } from '../../src/checkpoint/format.js';
import { checkKeyState, type LogPosition } from '../../src/log/keystate-check.js';
import { OpenLogError } from '../../src/log/identity.js';

const identity = generateSigningKeyPair();
const fp = fingerprint(identity.publicKey);
/** signer[j] signs checkpoint j (signer[0] is the identity key); checkpoint j certifies signer[j+1]. */
const signer: RawKeyPair[] = [identity, generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()];

/** With next keys the state is one a checkpoint can be built from (buildCheckpoint needs them). */
function ks(block: number, signing: RawKeyPair): KeyState;
function ks(block: number, signing: RawKeyPair, next: RawKeyPair): KeyState & { next: NonNullable<KeyState['next']> };
function ks(block: number, signing: RawKeyPair, next?: RawKeyPair): KeyState {
  return {
    version: 1, fingerprint: fp, block, blockKey: randomBytes(32), signingPublic: signing.publicKey, signingPrivate: signing.privateKey,
    ...(next ? { next: { blockKey: randomBytes(32), signingPublic: next.publicKey, signingPrivate: next.privateKey } } : {}),
  };
}

/** Checkpoint j as the writer makes it: signed by signer[j], certifying signer[j+1]. */
function checkpoint(j: number): Checkpoint {
  const bytes = buildCheckpoint(fp, { index: j, firstSeq: 0, count: 0, chainHead: Buffer.alloc(32), entryRoot: Buffer.alloc(32) }, ks(j, signer[j]!, signer[j + 1]!), Buffer.alloc(ESCROW_BYTES), GENESIS_PREVIOUS, 1, 'heartbeat').bytes;
  return decodeCheckpoint(bytes);
}

const at = (newest: number | undefined, lastBlock: number): LogPosition => ({ identityPublic: identity.publicKey, newest: newest === undefined ? undefined : checkpoint(newest), lastBlock });

function refusal(k: KeyState, pos: LogPosition): string | undefined {
  try {
    checkKeyState(k, pos, 'keystate.json');
    return undefined;
  } catch (e) {
    if (e instanceof OpenLogError) return e.code;
    throw e;
  }
}

describe('checkKeyState accepts every state a crash leaves', () => {
  const cases: [string, KeyState, LogPosition][] = [
    ['a new log: block 0, the identity key', ks(0, signer[0]!), at(undefined, 0)],
    ['block 0 with next keys chosen at start', ks(0, signer[0]!, signer[1]!), at(undefined, 0)],
    ['checkpoint 0 after its block switch, before its commit', ks(0, signer[0]!, signer[1]!), at(undefined, 1)],
    ['checkpoint 0 committed, key state not yet promoted', ks(0, signer[0]!, signer[1]!), at(0, 1)],
    ['checkpoint 0 promoted, next keys for checkpoint 1 chosen', ks(1, signer[1]!, signer[2]!), at(0, 1)],
    ['after a clean stop (shutdown checkpoint 1, no next keys)', ks(2, signer[2]!), at(1, 2)],
    ['checkpoint 2 after its block switch, before its commit', ks(2, signer[2]!, signer[3]!), at(1, 3)],
  ];
  for (const [name, k, pos] of cases) it(name, () => expect(refusal(k, pos)).toBeUndefined());
});

describe('checkKeyState refuses every other state, before anything is written', () => {
  const stranger = generateSigningKeyPair();
  const mismatched = (pair: RawKeyPair): RawKeyPair => ({ publicKey: pair.publicKey, privateKey: generateSigningKeyPair().privateKey });
  const cases: [string, KeyState, LogPosition, string][] = [
    ['an older database under a newer key state (block 3, newest checkpoint 0)', ks(3, signer[3]!), at(0, 1), 'KEYSTATE_AHEAD'],
    ['a database with no checkpoint under the key state of block 1', ks(1, signer[1]!), at(undefined, 0), 'KEYSTATE_AHEAD'],
    ['an older key state under a newer database (block 0, newest checkpoint 1)', ks(0, signer[0]!), at(1, 2), 'KEYSTATE_BEHIND'],
    ['block 1 beside committed checkpoint 1, with no next keys', ks(1, signer[1]!), at(1, 2), 'KEYSTATE_BEHIND'],
    ['block 2 opened in the database but no next keys in the key state', ks(1, signer[1]!), at(0, 2), 'KEYSTATE_BEHIND'],
    ['a block two past the key state', ks(1, signer[1]!, signer[2]!), at(0, 3), 'KEYSTATE_BEHIND'],
    ['a signing key checkpoint 0 did not certify', ks(1, stranger), at(0, 1), 'KEYSTATE_WRONG_KEY'],
    ['block 0 signed by a key that is not the identity', ks(0, stranger), at(undefined, 0), 'KEYSTATE_WRONG_KEY'],
    ['committed-not-promoted, pending key not the one certified', ks(0, signer[0]!, stranger), at(0, 1), 'KEYSTATE_WRONG_KEY'],
    ['committed-not-promoted, signing key did not sign the checkpoint', ks(1, stranger, signer[2]!), at(1, 2), 'KEYSTATE_WRONG_KEY'],
    ['signing_private not the private key of signing_public', ks(1, mismatched(signer[1]!)), at(0, 1), 'KEYSTATE_KEY_PAIR'],
    ['next_signing_private not the private key of next_signing_public', ks(1, signer[1]!, mismatched(signer[2]!)), at(0, 1), 'KEYSTATE_KEY_PAIR'],
  ];
  for (const [name, k, pos, code] of cases) it(`${name}: ${code}`, () => expect(refusal(k, pos)).toBe(code));

  it('says what it found, what it expected and what to do', () => {
    let message = '';
    try {
      checkKeyState(ks(7, signer[3]!), at(2, 3), '/var/lib/immutalog/keystate.json');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('/var/lib/immutalog/keystate.json holds the keys of block 7');
    expect(message).toContain('newest checkpoint in the database is 2 (expected block 3)');
    expect(message).toContain('Put back the newest copy of the database');
  });
});
