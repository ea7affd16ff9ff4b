import { connect } from 'node:net';
import type { ControlReply, ControlRequest } from '../serve/control.js';

/** Sends one request to the running daemon's control socket and waits for its reply. */
export function controlRequest(path: string, req: ControlRequest, timeoutMs: number): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from the daemon within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => (buf += d));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new Error(`no running daemon at ${path} (is \`immutalog serve\` running on this data directory?)`) : e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as ControlReply);
      } catch {
        reject(new Error(`unreadable answer from the daemon: ${JSON.stringify(buf.slice(0, 200))}`));
      }
    });
  });
}
