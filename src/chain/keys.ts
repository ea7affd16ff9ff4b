import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** Raw key sizes for Ed25519 and X25519 (RFC 8032, RFC 7748). */
export const RAW_KEY_BYTES = 32;

export interface RawKeyPair {
  publicKey: Buffer;
  privateKey: Buffer;
}

function toRaw(pair: { publicKey: KeyObject; privateKey: KeyObject }): RawKeyPair {
  const jwk = pair.privateKey.export({ format: 'jwk' });
  return {
    publicKey: Buffer.from(jwk.x as string, 'base64url'),
    privateKey: Buffer.from(jwk.d as string, 'base64url'),
  };
}

export function generateSigningKeyPair(): RawKeyPair {
  return toRaw(generateKeyPairSync('ed25519'));
}

export function generateAuditorKeyPair(): RawKeyPair {
  return toRaw(generateKeyPairSync('x25519'));
}

type Curve = 'Ed25519' | 'X25519';

function checkRaw(what: string, key: Buffer): void {
  if (key.length !== RAW_KEY_BYTES) {
    throw new Error(`${what}: expected ${RAW_KEY_BYTES} raw bytes, got ${key.length}`);
  }
}

export function privateKeyObject(crv: Curve, pair: RawKeyPair): KeyObject {
  checkRaw(`${crv} private key`, pair.privateKey);
  checkRaw(`${crv} public key`, pair.publicKey);
  return createPrivateKey({
    key: { kty: 'OKP', crv, d: pair.privateKey.toString('base64url'), x: pair.publicKey.toString('base64url') },
    format: 'jwk',
  });
}

export function publicKeyObject(crv: Curve, publicKey: Buffer): KeyObject {
  checkRaw(`${crv} public key`, publicKey);
  return createPublicKey({ key: { kty: 'OKP', crv, x: publicKey.toString('base64url') }, format: 'jwk' });
}

/** Derives the public half, so a stored private key is checked against its recorded public key. */
export function publicFromPrivate(crv: Curve, privateKey: Buffer): Buffer {
  checkRaw(`${crv} private key`, privateKey);
  // JWK import needs x; PKCS#8 does not. The PKCS#8 prefixes are fixed for these curves (RFC 8410).
  const prefix = Buffer.from(crv === 'Ed25519' ? '302e020100300506032b657004220420' : '302e020100300506032b656e04220420', 'hex');
  const key = createPrivateKey({ key: Buffer.concat([prefix, privateKey]), format: 'der', type: 'pkcs8' });
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x as string, 'base64url');
}

/** The identity an auditor pins: SHA-256 of the first signing public key, in hex. */
export function fingerprint(identityPublicKey: Buffer): string {
  return createHash('sha256').update(identityPublicKey).digest('hex');
}

/** PEM (PKCS#8) form of the auditor's private key, readable by openssl and python-cryptography. */
export function auditorPrivateKeyPem(pair: RawKeyPair): string {
  return privateKeyObject('X25519', pair).export({ format: 'pem', type: 'pkcs8' }) as string;
}

export function auditorKeyPairFromPem(pem: string): RawKeyPair {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'x25519') {
    throw new Error(`auditor key: expected an X25519 private key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return toRaw({ privateKey: key, publicKey: createPublicKey(key) });
}

export function auditorPublicFromPem(pem: string): Buffer {
  // createPublicKey would quietly derive the public half of a private key: refuse one, since
  // the point of this path is that the auditor's private key never reaches the receiver.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new Error('auditor public key: expected a PUBLIC key (openssl pkey -pubout), got a private key; keep that one off this host');
  }
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'x25519') {
    throw new Error(`auditor public key: expected X25519, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');
}
