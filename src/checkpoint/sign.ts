import { sign, verify } from 'node:crypto';
import { privateKeyObject, publicKeyObject, type RawKeyPair } from '../chain/keys.js';
import { encodeCheckpointBody, signingPayload, type Checkpoint, type CheckpointBody } from './format.js';

export function signCheckpoint(body: CheckpointBody, signer: RawKeyPair): Checkpoint {
  const payload = signingPayload(encodeCheckpointBody(body));
  return { ...body, signature: sign(null, payload, privateKeyObject('Ed25519', signer)) };
}

/** True when `signerPublic` signed this checkpoint's body. */
export function checkpointSignatureValid(c: Checkpoint, signerPublic: Buffer): boolean {
  try {
    return verify(null, signingPayload(encodeCheckpointBody(c)), publicKeyObject('Ed25519', signerPublic), c.signature);
  } catch {
    return false;
  }
}
