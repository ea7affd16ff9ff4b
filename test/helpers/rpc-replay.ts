// Replays recorded Bitcoin Core JSON-RPC exchanges (the .jsonl format written by
// test/vectors/bitcoind-rpc/record.py) from an HTTP server on 127.0.0.1.
//
// For each POST the server looks for a recorded exchange with the same path, method and params
// (ids are ignored) and answers with that exchange's HTTP status and body, byte for byte as the
// recording holds it. It never makes an answer up: a request that matches nothing gets HTTP 599
// and is kept in `mismatches`, so a test can assert that none happened.
//
// Modes:
// - 'ordered': the match must come at or after the previous match (recorded exchanges the test
//   does not replay are skipped over);
// - 'any': the first not-yet-used match anywhere in the recording.
// An exchange is used once; give it twice in `exchanges` to serve it twice.
//
// Auth: the server checks HTTP Basic against the cookie it is given (`__cookie__:<hex>`). A
// request with the right credentials can only match recorded exchanges that were not auth
// failures; one with wrong or missing credentials can only match recorded HTTP 401 exchanges
// (the recording made those with a wrong cookie on purpose).

import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';

export interface RecordedExchange {
  /** 0-based line number in the .jsonl file. */
  index: number;
  step: string;
  path: string;
  request: { id: unknown; method: string; params: unknown[] };
  status: number;
  /** The recorded body as JSON (null: the body was empty). */
  response: unknown;
  /** The recorded body's JSON text exactly as the recording wrote it (null: empty body). */
  responseText: string | null;
}

export interface ServedRequest {
  path: string;
  method: string;
  params: unknown;
  authorized: boolean;
  /** The exchange that answered, or undefined when this was a mismatch (HTTP 599). */
  exchange: RecordedExchange | undefined;
}

export interface Mismatch {
  path: string;
  authorized: boolean;
  /** The request body as received. */
  body: string;
  reason: string;
}

export interface ReplayOptions {
  exchanges: RecordedExchange[];
  /** `user:password` (bitcoind's cookie file content) that counts as the right credentials. */
  cookie: string;
  mode?: 'ordered' | 'any';
}

export interface ReplayServer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Every request, in arrival order. */
  served: ServedRequest[];
  mismatches: Mismatch[];
  /** Recorded exchanges not served yet. */
  unused(): RecordedExchange[];
  /** Change the right credentials (a restarted bitcoind writes a new cookie). */
  setCookie(cookie: string): void;
  close(): Promise<void>;
}

/** Read a recording; every line must have step, path, request{method,params}, status, response. */
export function loadRecording(file: string): RecordedExchange[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: RecordedExchange[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const d = JSON.parse(line) as Record<string, unknown>;
    const req = d.request as { id: unknown; method: unknown; params: unknown } | undefined;
    if (
      typeof d.step !== 'string' ||
      typeof d.path !== 'string' ||
      typeof d.status !== 'number' ||
      !('response' in d) ||
      typeof req !== 'object' ||
      req === null ||
      typeof req.method !== 'string' ||
      !Array.isArray(req.params)
    ) {
      throw new Error(`${file}:${index + 1}: not a recorded exchange`);
    }
    out.push({
      index,
      step: d.step,
      path: d.path,
      request: { id: req.id, method: req.method, params: req.params },
      status: d.status,
      response: d.response,
      responseText: rawResponseText(line, d.response),
    });
  });
  return out;
}

/**
 * The text of the line's "response" value, as written (record.py puts it last). Keeping the
 * recorded characters matters for the client: json-bigint turns numbers written with more than
 * 15 characters into strings, so re-serialising could change what the client sees.
 */
function rawResponseText(line: string, response: unknown): string | null {
  if (response === null) return null;
  const key = '"response": ';
  const at = line.lastIndexOf(key);
  const end = line.lastIndexOf('}');
  if (at >= 0 && end > at) {
    const text = line.slice(at + key.length, end).trim();
    try {
      if (isDeepStrictEqual(JSON.parse(text), response)) return text;
    } catch {
      // fall through
    }
  }
  return JSON.stringify(response);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startReplay(opts: ReplayOptions): Promise<ReplayServer> {
  const mode = opts.mode ?? 'ordered';
  const exchanges = opts.exchanges;
  const used = new Set<number>(); // positions in `exchanges`
  let cursor = 0; // ordered mode: where the next match may start
  let expected = basic(opts.cookie);
  const served: ServedRequest[] = [];
  const mismatches: Mismatch[] = [];

  function basic(cookie: string): string {
    return 'Basic ' + Buffer.from(cookie, 'utf8').toString('base64');
  }

  function find(path: string, method: string, params: unknown, authorized: boolean): number {
    const start = mode === 'ordered' ? cursor : 0;
    for (let i = start; i < exchanges.length; i++) {
      const x = exchanges[i]!;
      if (used.has(i)) continue;
      if ((x.status === 401) === authorized) continue;
      if (x.path === path && x.request.method === method && isDeepStrictEqual(x.request.params, params)) return i;
    }
    return -1;
  }

  function answer599(res: ServerResponse, m: Mismatch): void {
    mismatches.push(m);
    res.writeHead(599, 'No Recorded Exchange', { 'Content-Type': 'text/plain' });
    res.end(`no recorded exchange matches: ${m.reason}`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = req.url ?? '';
    const authorized = req.headers.authorization === expected;
    if (req.method !== 'POST') {
      served.push({ path, method: '', params: undefined, authorized, exchange: undefined });
      answer599(res, { path, authorized, body, reason: `HTTP ${req.method ?? '?'}` });
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    const p = parsed as { method?: unknown; params?: unknown } | undefined;
    if (typeof p !== 'object' || p === null || Array.isArray(p) || typeof p.method !== 'string') {
      served.push({ path, method: '', params: undefined, authorized, exchange: undefined });
      answer599(res, { path, authorized, body, reason: 'not a single JSON-RPC request' });
      return;
    }
    const params = p.params === undefined ? [] : p.params;
    const i = find(path, p.method, params, authorized);
    if (i < 0) {
      served.push({ path, method: p.method, params, authorized, exchange: undefined });
      answer599(res, {
        path,
        authorized,
        body,
        reason: `${authorized ? '' : 'unauthorized '}${path} ${p.method} ${JSON.stringify(params).slice(0, 200)}`,
      });
      return;
    }
    used.add(i);
    if (mode === 'ordered') cursor = i + 1;
    const x = exchanges[i]!;
    served.push({ path, method: p.method, params, authorized, exchange: x });
    if (x.responseText === null) {
      // bitcoind's 401 has an empty body; libevent's default content type.
      const headers: Record<string, string> = { 'Content-Type': 'text/html; charset=ISO-8859-1' };
      if (x.status === 401) headers['WWW-Authenticate'] = 'Basic realm="jsonrpc"';
      res.writeHead(x.status, headers);
      res.end();
    } else {
      res.writeHead(x.status, { 'Content-Type': 'application/json' });
      res.end(x.responseText + '\n');
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      mismatches.push({ path: req.url ?? '', authorized: false, body: '', reason: `server error: ${String(err)}` });
      if (!res.headersSent) res.writeHead(599);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    served,
    mismatches,
    unused: () => exchanges.filter((_, i) => !used.has(i)),
    setCookie(cookie: string) {
      expected = basic(cookie);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
