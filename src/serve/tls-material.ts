// The TLS listeners' certificate, key and client CA, read from the configured files (at start,
// and again on each reload: rotation replaces the files' contents under the same paths).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServeConfig } from '../config/load.js';
import type { TlsMaterial } from '../receive/stream.js';

function read(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${option} ${path}: ${(e as Error).message}`);
  }
}

export function readTlsMaterial(cfg: Pick<ServeConfig, 'tlsCert' | 'tlsKey' | 'tlsClientCa'>): TlsMaterial {
  const cert = read('tls_cert', cfg.tlsCert);
  const key = read('tls_key', cfg.tlsKey);
  return { cert, key, ...(cfg.tlsClientCa ? { clientCa: read('tls_client_ca', cfg.tlsClientCa) } : {}) };
}

/** The leaf certificate as an operator checks it: subject, SHA-256 fingerprint, expiry. */
export function describeCertificate(pem: Buffer): string {
  try {
    const c = new X509Certificate(pem);
    return `${c.subject.replace(/\n/g, ', ')}, SHA-256 ${c.fingerprint256}, valid until ${new Date(c.validTo).toISOString()}`;
  } catch (e) {
    return `(not readable as X.509: ${(e as Error).message})`;
  }
}
