// A throwaway PKI made with the openssl CLI: a CA, a server certificate for IP:127.0.0.1, a
// client certificate from that CA, and a second CA with its own client certificate.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPENSSL, requireExecutable, runOk } from './proc.js';

export interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCaCert: string;
  otherClientCert: string;
  otherClientKey: string;
  read(path: string): Buffer;
}

export function requireOpenssl(): void {
  requireExecutable(OPENSSL, 'openssl');
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await runOk(OPENSSL, args, { cwd, timeoutMs: 30_000, env: { PATH: '/usr/bin:/bin', OPENSSL_CONF: '/dev/null' } });
}

/** Self-signed CA (EC P-256) valid for 2 days. */
async function makeCa(dir: string, name: string): Promise<void> {
  await openssl([
    'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=immutalog test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], dir);
}

/** Key + certificate signed by `ca`, with the given extensions. */
async function makeLeaf(dir: string, name: string, ca: string, cn: string, ext: string[]): Promise<void> {
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  writeFileSync(join(dir, `${name}.ext`), ext.join('\n') + '\n');
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
}

export async function makePki(dir: string): Promise<Pki> {
  requireOpenssl();
  mkdirSync(dir, { recursive: true });
  await makeCa(dir, 'ca');
  await makeCa(dir, 'other-ca');
  const leaf = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'];
  await makeLeaf(dir, 'server', 'ca', 'immutalog.test', [...leaf, 'extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1']);
  await makeLeaf(dir, 'client', 'ca', 'tacker-server.test', [...leaf, 'extendedKeyUsage=clientAuth']);
  await makeLeaf(dir, 'other-client', 'other-ca', 'tacker-server.test', [...leaf, 'extendedKeyUsage=clientAuth']);
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    caCert: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    otherCaCert: p('other-ca.pem'),
    otherClientCert: p('other-client.pem'),
    otherClientKey: p('other-client.key'),
    read: (path: string) => readFileSync(path),
  };
}
