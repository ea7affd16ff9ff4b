import { existsSync, unlinkSync, chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** The daemon's control socket (`<data-dir>/control.sock`, mode 0600): one JSON request per line. */
export type ControlRequest = { cmd: 'anchor-now' };
export type ControlReply = { ok: true; result: unknown } | { ok: false; error: string; kind?: string };

/** Longest request line accepted; a request is a few dozen bytes. */
const MAX_REQUEST_BYTES = 4096;

export async function startControlServer(path: string, handle: (r: ControlRequest) => Promise<unknown>): Promise<Server> {
  // A socket file left by a killed daemon would make listen fail with EADDRINUSE.
  if (existsSync(path)) unlinkSync(path);
  const server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => undefined);
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.length > MAX_REQUEST_BYTES) return void sock.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      let req: ControlRequest;
      try {
        req = JSON.parse(line) as ControlRequest;
      } catch {
        return void sock.end(JSON.stringify({ ok: false, error: 'expected one JSON request line' } satisfies ControlReply) + '\n');
      }
      handle(req).then(
        (result) => sock.end(JSON.stringify({ ok: true, result } satisfies ControlReply) + '\n'),
        (e: Error & { kind?: string }) => sock.end(JSON.stringify({ ok: false, error: e.message, ...(e.kind ? { kind: e.kind } : {}) } satisfies ControlReply) + '\n'),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return server;
}
