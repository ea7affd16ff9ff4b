// A real Bitcoin Core in regtest for integration tests: private temp datadir, loopback only, no
// peers, free ports. The binary comes from IMMUTALOG_BITCOIND or `bitcoind` on PATH; when neither
// exists, `findBitcoind()` returns undefined and the tests that need a node skip.
//
// Started as
//   bitcoind -regtest -datadir=DIR -server -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1
//            -rpcport=<free> -port=<free> -listen=0 -dnsseed=0 -fixedseeds=0 -connect=0
//            -fallbackfee=0.0002 -daemon=0
// (`-bind` cannot be combined with -listen=0: with no listening socket -port is inert). RPC uses
// the cookie (DIR/regtest/.cookie), which bitcoind rewrites at every start.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** IMMUTALOG_BITCOIND if set (and executable), else the first `bitcoind` on PATH, else undefined. */
export function findBitcoind(): string | undefined {
  const isExe = (f: string): boolean => {
    try {
      if (!statSync(f).isFile()) return false;
      accessSync(f, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const env = process.env.IMMUTALOG_BITCOIND;
  if (env !== undefined && env !== '') return isExe(env) ? env : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const f = join(dir, 'bitcoind');
    if (isExe(f)) return f;
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export class RpcCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: number | undefined,
    readonly httpStatus: number,
    message: string,
  ) {
    super(`bitcoind ${method}: ${message}${code !== undefined ? ` (${code})` : ''} [HTTP ${httpStatus}]`);
  }
}

export interface RegtestNode {
  /** http://127.0.0.1:<rpcport> */
  readonly url: string;
  /** DIR/regtest/.cookie (its content changes at every start). */
  readonly cookieFile: string;
  readonly datadir: string;
  readonly rpcPort: number;
  /** An address of the `immutalog` wallet, where `mine` sends the coinbases. */
  readonly address: string;
  /** One JSON-RPC call; with `wallet`, to /wallet/<wallet>. Throws RpcCallError on an RPC error. */
  rpc<T = any>(method: string, params?: unknown[], wallet?: string): Promise<T>;
  /** `generatetoaddress n <immutalog address>` (or `to`): block hashes, in order. */
  mine(n: number, to?: string): Promise<string[]>;
  /** n blocks with no transaction but the coinbase (`generateblock <address> []`): the mempool stays. */
  mineEmpty(n: number): Promise<string[]>;
  invalidate(hash: string): Promise<void>;
  reconsider(hash: string): Promise<void>;
  tip(): Promise<{ height: number; hash: string }>;
  /** Creates (and keeps loaded across restarts) a descriptor wallet. */
  createWallet(name: string): Promise<void>;
  /** RPC `stop`, then waits for the process to exit (SIGKILL after 30 s). */
  stop(): Promise<void>;
  /** Starts again on the same datadir and ports; waits for RPC (new cookie) and reloads the wallets. */
  restart(): Promise<void>;
  running(): boolean;
  /** Stops (kill -9 as a last resort) and deletes the datadir. Safe to call more than once. */
  cleanup(): Promise<void>;
  /** The tail of debug.log, for failure messages. */
  debugLogTail(lines?: number): string;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
// Whatever happens to the test process, no bitcoind outlives it and no datadir is left behind.
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startRegtest(opts: { bitcoind?: string; wallet?: string; initialBlocks?: number } = {}): Promise<RegtestNode> {
  const bin = opts.bitcoind ?? findBitcoind();
  if (!bin) throw new Error('bitcoind not found: set IMMUTALOG_BITCOIND=/path/to/bitcoind');
  const walletName = opts.wallet ?? 'immutalog';
  const datadir = mkdtempSync(join(tmpdir(), 'immutalog-regtest-'));
  dirs.add(datadir);
  const rpcPort = await freePort();
  let p2pPort = await freePort();
  while (p2pPort === rpcPort) p2pPort = await freePort();
  const url = `http://127.0.0.1:${rpcPort}`;
  const cookieFile = join(datadir, 'regtest', '.cookie');
  const args = [
    '-regtest', `-datadir=${datadir}`, '-server', '-rpcbind=127.0.0.1', '-rpcallowip=127.0.0.1',
    `-rpcport=${rpcPort}`, `-port=${p2pPort}`, '-listen=0', '-dnsseed=0', '-fixedseeds=0', '-connect=0',
    '-fallbackfee=0.0002', '-daemon=0', '-printtoconsole=0', '-rpcworkqueue=64',
  ];
  const wallets = new Set<string>();
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let stderr = '';
  let idN = 0;

  const debugLogTail = (lines = 30): string => {
    try {
      return readFileSync(join(datadir, 'regtest', 'debug.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no debug.log)';
    }
  };

  async function rpc<T = any>(method: string, params: unknown[] = [], wallet?: string): Promise<T> {
    const cookie = readFileSync(cookieFile, 'utf8').trim();
    const res = await fetch(url + (wallet !== undefined ? `/wallet/${encodeURIComponent(wallet)}` : '/'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(cookie).toString('base64')}` },
      body: JSON.stringify({ jsonrpc: '1.0', id: `t${++idN}`, method, params }),
    });
    const text = await res.text();
    let body: { result?: unknown; error?: { code?: number; message?: string } | null } | undefined;
    try {
      body = text ? (JSON.parse(text) as typeof body) : undefined;
    } catch {
      body = undefined;
    }
    if (body?.error) throw new RpcCallError(method, body.error.code, res.status, body.error.message ?? 'error');
    if (!res.ok || !body) throw new RpcCallError(method, undefined, res.status, text.slice(0, 200) || res.statusText);
    return body.result as T;
  }

  function spawnNode(): void {
    stderr = '';
    const c = spawn(bin!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    live.add(c);
    exited = new Promise((resolve) =>
      c.once('exit', (code) => {
        live.delete(c);
        resolve(code);
      }),
    );
    child = c;
  }

  async function waitForRpc(previousCookie: string | undefined): Promise<void> {
    const end = Date.now() + 60_000;
    let last: unknown;
    while (Date.now() < end) {
      if (child?.exitCode !== null && child?.exitCode !== undefined) {
        throw new Error(`bitcoind exited with ${child.exitCode} while starting: ${stderr}\n${debugLogTail()}`);
      }
      if (existsSync(cookieFile) && readFileSync(cookieFile, 'utf8').trim() !== previousCookie) {
        try {
          await rpc('getblockcount');
          return;
        } catch (e) {
          last = e; // -28 warming up, or the RPC server not listening yet
        }
      }
      await sleep(50);
    }
    throw new Error(`bitcoind RPC not ready after 60 s: ${String(last)}\n${debugLogTail()}`);
  }

  async function loadWallets(): Promise<void> {
    const loaded = new Set(await rpc<string[]>('listwallets'));
    for (const w of wallets) {
      if (loaded.has(w)) continue;
      try {
        await rpc('loadwallet', [w]);
      } catch (e) {
        if (!(e instanceof RpcCallError && e.code === -35)) throw e; // -35: already loaded
      }
    }
  }

  async function stop(): Promise<void> {
    const c = child;
    if (!c || c.exitCode !== null) return;
    try {
      await rpc('stop');
    } catch {
      c.kill('SIGTERM');
    }
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  spawnNode();
  try {
    await waitForRpc(undefined);
  } catch (e) {
    child?.kill('SIGKILL');
    await exited;
    rmSync(datadir, { recursive: true, force: true });
    dirs.delete(datadir);
    throw e;
  }

  const node: RegtestNode = {
    url,
    cookieFile,
    datadir,
    rpcPort,
    address: '',
    rpc,
    async mine(n, to) {
      return await rpc<string[]>('generatetoaddress', [n, to ?? node.address]);
    },
    async mineEmpty(n) {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push((await rpc<{ hash: string }>('generateblock', [node.address, []])).hash);
      return out;
    },
    async invalidate(hash) {
      await rpc('invalidateblock', [hash]);
    },
    async reconsider(hash) {
      await rpc('reconsiderblock', [hash]);
    },
    async tip() {
      const i = await rpc<{ blocks: number; bestblockhash: string }>('getblockchaininfo');
      return { height: i.blocks, hash: i.bestblockhash };
    },
    async createWallet(name) {
      // load_on_startup as well; restart() reloads explicitly anyway.
      await rpc('createwallet', [name, false, false, '', false, true, true]);
      wallets.add(name);
    },
    stop,
    async restart() {
      await stop();
      const previous = existsSync(cookieFile) ? readFileSync(cookieFile, 'utf8').trim() : undefined;
      spawnNode();
      await waitForRpc(previous);
      await loadWallets();
    },
    running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async cleanup() {
      try {
        await Promise.race([stop(), sleep(35_000)]);
      } finally {
        if (child && child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
        rmSync(datadir, { recursive: true, force: true });
        dirs.delete(datadir);
      }
    },
    debugLogTail,
  };
  try {
    await node.createWallet(walletName);
    (node as { address: string }).address = await rpc<string>('getnewaddress', ['', 'bech32'], walletName);
    await node.mine(opts.initialBlocks ?? 101);
  } catch (e) {
    await node.cleanup();
    throw e;
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// Recording proxy: 127.0.0.1, between a client (the daemon) and bitcoind. Every exchange is kept
// in the format of test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl (step, path, request, status,
// response) and can be written out as .jsonl. The Authorization header is passed through and
// never recorded.

export interface RecordedLine {
  step: string;
  path: string;
  request: unknown;
  status: number;
  response: unknown;
  /** The request and response bodies exactly as sent (JSON text; the response null when empty). */
  requestText: string;
  responseText: string | null;
}

/**
 * One line as record.py writes it, `"response": ` last, with the bodies' own characters (bitcoind
 * writes amounts as 0.00000330; re-serialising would change what json-bigint hands the client).
 */
function recordedLine(x: RecordedLine): string {
  const asJson = (t: string | null, v: unknown): string => {
    if (t === null) return 'null';
    try {
      JSON.parse(t);
      return t;
    } catch {
      return JSON.stringify(v);
    }
  };
  return `{"step": ${JSON.stringify(x.step)}, "path": ${JSON.stringify(x.path)}, "request": ${asJson(x.requestText, x.request)}, "status": ${x.status}, "response": ${asJson(x.responseText, x.response)}}`;
}

export interface RecordingProxy {
  /** http://127.0.0.1:<port>: give this to the client instead of the node's URL. */
  readonly url: string;
  /** Label stamped on the exchanges that arrive from now on. */
  step: string;
  readonly exchanges: RecordedLine[];
  /** Writes the exchanges as JSON lines; returns how many. */
  write(file: string): number;
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const { createServer: createHttpServer } = await import('node:http');
  const { writeFileSync } = await import('node:fs');
  const exchanges: RecordedLine[] = [];
  const proxy = {
    url: '',
    step: 'start',
    exchanges,
    write(file: string): number {
      writeFileSync(file, exchanges.map(recordedLine).join('\n') + (exchanges.length ? '\n' : ''));
      return exchanges.length;
    },
    close: async (): Promise<void> => undefined,
  };
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const step = proxy.step;
      const path = req.url ?? '/';
      const headers: Record<string, string> = { 'content-type': req.headers['content-type'] ?? 'application/json' };
      if (req.headers.authorization) headers.authorization = req.headers.authorization;
      fetch(target + path, { method: req.method ?? 'POST', headers, body: req.method === 'GET' ? undefined : body }).then(
        async (r) => {
          const text = await r.text();
          let request: unknown;
          let response: unknown;
          try {
            request = JSON.parse(body.toString('utf8'));
          } catch {
            request = body.toString('utf8');
          }
          try {
            response = text ? JSON.parse(text) : null;
          } catch {
            response = text;
          }
          const trimmed = text.trim();
          exchanges.push({ step, path, request, status: r.status, response, requestText: body.toString('utf8').trim(), responseText: trimmed === '' ? null : trimmed });
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(text);
        },
        (e: Error & { cause?: { code?: string } }) => {
          // The node is down: drop the connection, as a dead node would.
          let request: unknown;
          try {
            request = JSON.parse(body.toString('utf8'));
          } catch {
            request = body.toString('utf8');
          }
          const response = { transport_error: e.cause?.code ?? e.message };
          exchanges.push({ step, path, request, status: 0, response, requestText: body.toString('utf8').trim(), responseText: JSON.stringify(response) });
          req.socket.destroy();
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const a = server.address();
  proxy.url = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
