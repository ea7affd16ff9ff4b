// RFC 5425 clients for the TLS listener: node:tls in-process, and Python's ssl module
// (test/clients/tls_client.py) as an independent second implementation.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { CLIENTS_DIR, SYSTEM_PYTHON, requireExecutable, run } from './proc.js';

/** RFC 5425/6587 octet counting: `LEN SP MSG`. */
export function octetFrame(msg: Buffer | string): Buffer {
  const b = typeof msg === 'string' ? Buffer.from(msg, 'utf8') : msg;
  return Buffer.concat([Buffer.from(`${b.length} `, 'ascii'), b]);
}

export interface TlsOutcome {
  /** The client finished its side of the handshake ('secureConnect'). */
  secured: boolean;
  /** TLS version negotiated, e.g. TLSv1.3. */
  protocol: string | null;
  /** First error the client saw, if any. */
  error: string | null;
  /** The server closed, reset or alerted before the client ended the connection. */
  refused: boolean;
}

/**
 * Connects to 127.0.0.1:port, writes `writes` one after the other once secured, then ends
 * the connection (close_notify + FIN) and resolves when the socket has closed. Never rejects;
 * destroys the socket after timeoutMs.
 */
export function nodeTlsSend(o: { port: number; ca: Buffer; cert?: Buffer; key?: Buffer; writes: Buffer[]; timeoutMs?: number; verdictMs?: number }): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    const res: TlsOutcome = { secured: false, protocol: null, error: null, refused: false };
    let ending = false;
    const s = tlsConnect({
      host: '127.0.0.1',
      port: o.port,
      ca: o.ca,
      ...(o.cert ? { cert: o.cert, key: o.key } : {}),
    });
    const timer = setTimeout(() => {
      res.error ??= 'timeout';
      s.destroy();
    }, o.timeoutMs ?? 10_000);
    s.on('secureConnect', async () => {
      res.secured = true;
      res.protocol = s.getProtocol();
      for (const w of o.writes) {
        if (s.destroyed) break;
        await new Promise<void>((r) => s.write(w, () => r()));
        await new Promise((r) => setTimeout(r, 20));
      }
      // In TLS 1.3 the server judges a client certificate after the client's handshake is
      // done: give its verdict (an alert and a close) time to arrive before we close ourselves.
      await new Promise((r) => setTimeout(r, o.verdictMs ?? 300));
      ending = true;
      if (!s.destroyed) s.end();
    });
    s.on('error', (e) => {
      res.error ??= e.message;
      if (!ending) res.refused = true;
    });
    s.on('data', () => {});
    s.on('end', () => {
      if (!ending) res.refused = true;
    });
    s.on('close', () => {
      if (!ending) res.refused = true;
      clearTimeout(timer);
      resolve(res);
    });
  });
}

/** A plain TCP client that writes `data` to the port and resolves when the server closes (or timeout). */
export function plainSend(port: number, data: Buffer, timeoutMs = 10_000): Promise<{ closedByServer: boolean; received: Buffer }> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let closedByServer = false;
    const s = netConnect(port, '127.0.0.1', () => s.write(data));
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.on('data', (d) => got.push(d));
    s.on('end', () => (closedByServer = true));
    s.on('error', () => (closedByServer = true));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ closedByServer, received: Buffer.concat(got) });
    });
  });
}

export const PY_TLS_CLIENT = join(CLIENTS_DIR, 'tls_client.py');

export async function pythonTlsSend(o: { port: number; ca: string; cert?: string; key?: string; data: Buffer; verdictSec?: number }): Promise<{ ok: boolean; version?: string; sent?: number; error?: string }> {
  requireExecutable(SYSTEM_PYTHON, 'python3');
  const args = [PY_TLS_CLIENT, '--port', String(o.port), '--ca', o.ca];
  if (o.cert) args.push('--cert', o.cert, '--key', o.key!);
  if (o.verdictSec) args.push('--verdict', String(o.verdictSec));
  const r = await run(SYSTEM_PYTHON, args, { input: o.data, timeoutMs: 30_000, env: { PATH: '/usr/bin:/bin', PYTHONNOUSERSITE: '1', PYTHONDONTWRITEBYTECODE: '1' } });
  const line = r.stdout.toString('utf8').trim();
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`tls_client.py printed no result (exit ${r.code}): ${line} ${r.stderr}`);
  }
}
