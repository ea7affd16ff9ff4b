// Listener addresses from the config and the command line.
import { isIPv6 } from 'node:net';

const MAX_PORT = 65535;

/** `127.0.0.1:5514`, `[::1]:5514`, `localhost:5514`; port 0 asks the OS for a free port. */
export function parseHostPort(s: string): { host: string; port: number } {
  const t = s.trim();
  const m = /^(?:\[([^\]]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(t);
  const port = m ? Number(m[3]) : NaN;
  // Brackets are only for IPv6, and IPv6 needs them (its colons would swallow the port).
  const host = m ? (m[1] !== undefined ? (isIPv6(m[1]) ? m[1] : undefined) : m[2]) : undefined;
  if (host === undefined || !(port <= MAX_PORT)) {
    throw new Error(`expected HOST:PORT (IPv6 in brackets, e.g. [::1]:5514), got "${s}"`);
  }
  return { host, port };
}
