// The one module of immutalog that imports the npm package `bitcoin-core` (5.0.0, CommonJS with
// an ambient `export =` declaration): credentials, routing, and every call to the node.
//
// How the package is used (shared/notes/anchoring.md §1):
// - every call goes through `client.command<T>(name, ...positional)`; `version` is never set, so
//   the client neither sends named parameters nor checks method names against its own list;
// - two clients: one for node-level calls (always POST /), one constructed with `wallet`, which
//   the package routes to /wallet/<name> only for methods flagged multiwallet in its methods.js
//   (fundrawtransaction, signrawtransactionwithwallet, bumpfee, gettransaction, getbalances…);
// - whatever it throws is mapped by classifyRpcError (errors.ts).
//
// The typed calls are in reader.ts (what verify and the anchorer read of the chain) and
// writer.ts (what only the anchorer does: fund, sign, send, bump). Wire shapes were checked
// against real Bitcoin Core v30.99 exchanges (test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl,
// replayed in test/bitcoind/rpc-replay.test.ts).

import { readFileSync } from 'node:fs';
import type Client from 'bitcoin-core';
import { need } from './args.js';
import { BitcoinRpcError, classifyRpcError } from './errors.js';

export interface BitcoinRpcConfig {
  /** Base URL with scheme and port, e.g. http://127.0.0.1:18443 (no path). */
  url: string;
  /** bitcoind's `.cookie` (`__cookie__:<hex>`); takes precedence over user/password. */
  cookieFile?: string;
  user?: string;
  password?: string;
  /** Name of the anchor wallet; wallet RPCs go to /wallet/<wallet>. Absent: node-level calls only. */
  wallet?: string;
  /** Per-request timeout in ms (the package default is 30 000). */
  timeoutMs?: number;
}

/** 'node' posts to /; 'wallet' to /wallet/<name>, for the methods the package flags multiwallet. */
export type RpcLevel = 'node' | 'wallet';

/**
 * One JSON-RPC call with positional params, the cookie handling and the error mapping; every
 * failure is a BitcoinRpcError. Method names and params are the caller's to get right.
 */
export interface RpcTransport {
  call<T = unknown>(level: RpcLevel, method: string, ...params: unknown[]): Promise<T>;
}

/** The package's default request timeout, kept: a node busy validating a block answers late. */
const DEFAULT_TIMEOUT_MS = 30_000;

interface Credentials {
  username: string;
  password: string;
}

function readCookie(file: string): Credentials {
  const text = readFileSync(file, 'utf8').trim();
  const i = text.indexOf(':');
  if (i <= 0) throw new Error(`cookie file ${file} does not hold user:password`);
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

const NOOP_LOGGER = {
  trace(): void {},
  debug(): void {},
  info(): void {},
  warn(): void {},
  error(): void {},
  fatal(): void {},
  child(): unknown {
    return NOOP_LOGGER;
  },
};

/**
 * The package is loaded at the first call, not with this module: it and its dependencies cost
 * every start about 200 ms of CPU and 30 MB of memory (measured, Node 20), for nothing when
 * anchoring is off and for commands that never reach a node.
 */
let clientClass: Promise<typeof Client> | undefined;
const loadClient = (): Promise<typeof Client> => (clientClass ??= import('bitcoin-core').then((m) => m.default));

/** Checks the config and returns at once: nothing is loaded, read or sent before the first call. */
export function openTransport(cfg: BitcoinRpcConfig): RpcTransport {
  return new BitcoindTransport(cfg);
}

class BitcoindTransport implements RpcTransport {
  private readonly host: string;
  private readonly timeout: number;
  private creds: Credentials | undefined;
  private credsError: unknown;
  private clients: Record<RpcLevel, Client> | undefined;

  constructor(private readonly cfg: BitcoinRpcConfig) {
    this.host = cfg.url.replace(/\/+$/, '');
    need(/^https?:\/\/[^/]+$/.test(this.host), 'url (want http://host:port)');
    need(cfg.wallet === undefined || (typeof cfg.wallet === 'string' && cfg.wallet !== ''), 'wallet name');
    this.timeout = cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.loadCredentials();
  }

  async call<T>(level: RpcLevel, method: string, ...params: unknown[]): Promise<T> {
    let retried = false;
    if (level === 'wallet' && this.cfg.wallet === undefined) {
      throw new TypeError(`bitcoind rpc: ${method} needs a wallet, and this connection has none`);
    }
    for (;;) {
      let usedPassword: string | undefined;
      try {
        const c = await this.getClients(method);
        // Read after the await: another call may have re-read the cookie meanwhile.
        usedPassword = this.creds?.password;
        return await c[level].command<T>(method, ...params);
      } catch (err) {
        const e = classifyRpcError(method, err);
        // bitcoind writes a new cookie at every start: on 401/403 re-read it once and, if it
        // changed, try again with the new one.
        if (e.kind === 'auth' && this.cfg.cookieFile !== undefined && !retried) {
          retried = true;
          this.loadCredentials();
          if (this.creds !== undefined && this.creds.password !== usedPassword) continue;
        }
        throw e;
      }
    }
  }

  /** (Re)read the cookie; with user/password, use those. */
  private loadCredentials(): void {
    this.clients = undefined;
    if (this.cfg.cookieFile === undefined) {
      this.creds = { username: this.cfg.user ?? '', password: this.cfg.password ?? '' };
      return;
    }
    try {
      this.creds = readCookie(this.cfg.cookieFile);
      this.credsError = undefined;
    } catch (err) {
      this.creds = undefined;
      this.credsError = err;
    }
  }

  private async getClients(method: string): Promise<Record<RpcLevel, Client>> {
    // First, so that from here on nothing else runs until the clients are made.
    const Ctor = await loadClient();
    if (this.clients) return this.clients;
    if (!this.creds) this.loadCredentials();
    const creds = this.creds;
    if (!creds) {
      const msg = this.credsError instanceof Error ? this.credsError.message : String(this.credsError);
      throw new BitcoinRpcError({
        kind: 'auth',
        method,
        nodeMessage: `cannot read cookie file: ${msg}`,
        transportCode: (this.credsError as { code?: unknown } | undefined)?.code === 'ENOENT' ? 'ENOENT' : undefined,
        cause: this.credsError,
      });
    }
    const base = {
      host: this.host,
      timeout: this.timeout,
      logger: NOOP_LOGGER,
      ...(creds.username !== '' || creds.password !== '' ? { username: creds.username, password: creds.password } : {}),
    };
    const wallet = this.cfg.wallet;
    this.clients = {
      node: new Ctor(base),
      // Core URL-decodes the wallet name in /wallet/<name>; the package does not encode it.
      wallet: new Ctor({ ...base, ...(wallet !== undefined ? { wallet: encodeURIComponent(wallet) } : {}) }),
    };
    return this.clients;
  }
}
