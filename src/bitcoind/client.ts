// The one module of immutalog that talks to Bitcoin Core, and the only one that imports the npm
// package `bitcoin-core` (5.0.0, CommonJS with an ambient `export =` declaration).
//
// How the package is used (shared/notes/anchoring.md §1):
// - every call goes through `client.command<T>(name, ...positional)`; `version` is never set, so
//   the client neither sends named parameters nor checks method names against its own list;
// - two clients: one for node-level calls (always POST /), one constructed with `wallet`, which
//   the package routes to /wallet/<name> only for methods flagged multiwallet in its methods.js
//   (fundrawtransaction, signrawtransactionwithwallet, bumpfee, gettransaction, getbalances…);
// - errors: `RpcError` with Bitcoin Core's numeric code (legacy JSON-RPC replies come with HTTP 500
//   or 404 and a JSON body), `RpcError` whose code is the HTTP status when the body is not JSON
//   (401, 403, 503), and plain Node errors with a string `code` for transport failures;
// - numbers written with more than 15 characters arrive as strings (json-bigint storeAsString),
//   so every numeric field is read through `num()` and every BTC amount through `btcToSats()`.
//
// Wire shapes were checked against real Bitcoin Core v30.99 exchanges
// (test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl, replayed in test/anchor/rpc-replay.test.ts).

import { readFileSync } from 'node:fs';
import type Client from 'bitcoin-core';

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

export interface BitcoinRpc {
  networkInfo(): Promise<{ version: number; subversion: string }>;
  blockchainInfo(): Promise<{ chain: string; blocks: number; bestblockhash: string; pruned: boolean }>;
  /** `estimatesmartfee confTarget "economical"`, converted from BTC/kvB to sat/vB. */
  estimateSmartFee(confTarget: number): Promise<{ feeRateSatVb?: number; errors?: string[] }>;
  /** `createrawtransaction [] [{"data": root}]`: no inputs, one OP_RETURN <32 bytes> output. */
  createAnchorTx(root32Hex: string): Promise<string>;
  fundRawTransaction(
    hex: string,
    o: { feeRateSatVb: number; changePosition: number; replaceable: true; lockUnspents: true; minconf: number },
  ): Promise<{ hex: string; feeSats: number; changepos: number }>;
  signRawTransactionWithWallet(hex: string): Promise<{ hex: string; complete: boolean; errors?: unknown[] }>;
  testMempoolAccept(
    hex: string,
    maxFeeRateBtcKvb?: number,
  ): Promise<{ txid: string; allowed: boolean; vsize?: number; feeSats?: number; rejectReason?: string }>;
  sendRawTransaction(hex: string, maxFeeRateBtcKvb?: number): Promise<string>;
  /** With `dataHex`, the replacement's outputs are one data output of those bytes (plus the wallet's change). */
  bumpFee(txid: string, feeRateSatVb: number, dataHex?: string): Promise<{ txid: string; origFeeSats: number; feeSats: number }>;
  getTransaction(txid: string): Promise<{
    confirmations: number;
    blockhash?: string;
    blockheight?: number;
    blockindex?: number;
    replacedByTxid?: string;
    walletconflicts: string[];
    hex: string;
  }>;
  getRawTransaction(
    txid: string,
    blockhash?: string,
  ): Promise<{ hex: string; blockhash?: string; confirmations?: number; inActiveChain?: boolean }>;
  getBlockHeader(hash: string): Promise<{
    hash: string;
    height: number;
    confirmations: number;
    merkleroot: string;
    time: number;
    previousblockhash?: string;
  }>;
  getBlockHeaderHex(hash: string): Promise<string>;
  /** `getblock hash 1` → `tx`: txids in display order, in block order. */
  getBlockTxids(hash: string): Promise<string[]>;
  getBlockHash(height: number): Promise<string>;
  getBlockCount(): Promise<number>;
  /** `getbalances` → `mine.trusted` / `mine.untrusted_pending`, in sats. */
  getBalanceSats(): Promise<{ trustedSats: number; pendingSats: number }>;
}

export type BitcoinRpcErrorKind =
  | 'unreachable'
  | 'auth'
  | 'warmup'
  | 'insufficient-funds'
  | 'fee-too-high'
  | 'not-found'
  | 'wallet'
  | 'rejected'
  | 'method'
  | 'other';

export interface BitcoinRpcErrorDetails {
  kind: BitcoinRpcErrorKind;
  /** The RPC method that failed (lower case, as sent). */
  method: string;
  /** The message from the node (or from the transport / HTTP status text). */
  nodeMessage: string;
  /** The numeric code the client reported: Bitcoin Core's (negative) code, or an HTTP status. */
  rpcCode?: number;
  /** Set when `rpcCode` is an HTTP status (positive). */
  httpStatus?: number;
  /** Node's errno-style code for transport failures: ECONNREFUSED, ETIMEDOUT, … */
  transportCode?: string;
  /** For kind 'rejected': the node's reject reason (e.g. bad-txns-inputs-missingorspent). */
  rejectReason?: string;
  cause?: unknown;
}

export class BitcoinRpcError extends Error {
  readonly kind: BitcoinRpcErrorKind;
  readonly method: string;
  readonly nodeMessage: string;
  readonly rpcCode: number | undefined;
  readonly httpStatus: number | undefined;
  readonly transportCode: string | undefined;
  readonly rejectReason: string | undefined;

  constructor(d: BitcoinRpcErrorDetails) {
    const code = d.transportCode ?? (d.rpcCode !== undefined ? String(d.rpcCode) : undefined);
    super(`bitcoind ${d.method}: ${d.kind}: ${d.nodeMessage}${code !== undefined ? ` (${code})` : ''}`, {
      cause: d.cause,
    });
    this.name = 'BitcoinRpcError';
    this.kind = d.kind;
    this.method = d.method;
    this.nodeMessage = d.nodeMessage;
    this.rpcCode = d.rpcCode;
    this.httpStatus = d.httpStatus;
    this.transportCode = d.transportCode;
    this.rejectReason = d.rejectReason;
  }
}

/** Transport failures: the node is down, restarting, or too slow. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

const FEE_TOO_HIGH = /fee exceeds maximum|max-fee-exceeded|absurdly-high-fee/i;
const INSUFFICIENT_FUNDS = /insufficient funds/i;

/** Map what the `bitcoin-core` client threw to a BitcoinRpcError. */
export function classifyRpcError(method: string, err: unknown): BitcoinRpcError {
  if (err instanceof BitcoinRpcError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const code = e.code;

  if (typeof code === 'string') {
    const kind: BitcoinRpcErrorKind = UNREACHABLE_CODES.has(code) ? 'unreachable' : 'other';
    return new BitcoinRpcError({ kind, method, nodeMessage: message, transportCode: code, cause: err });
  }
  if (typeof code !== 'number') {
    // e.g. a SyntaxError from json-bigint when a 200 reply is not JSON.
    return new BitcoinRpcError({ kind: 'other', method, nodeMessage: message, cause: err });
  }

  if (code > 0) {
    // The body was not JSON-RPC: the code is the HTTP status.
    const kind: BitcoinRpcErrorKind = code === 401 || code === 403 ? 'auth' : 'other';
    return new BitcoinRpcError({ kind, method, nodeMessage: message, rpcCode: code, httpStatus: code, cause: err });
  }

  let kind: BitcoinRpcErrorKind = 'other';
  let rejectReason: string | undefined;
  if (code === -28) kind = 'warmup';
  else if ((code === -4 || code === -6) && INSUFFICIENT_FUNDS.test(message)) kind = 'insufficient-funds';
  else if ((code === -4 || code === -25 || code === -26) && FEE_TOO_HIGH.test(message)) kind = 'fee-too-high';
  else if (code === -5) kind = 'not-found';
  else if (code === -18 || code === -19 || code === -35 || code === -36) kind = 'wallet';
  else if (code === -25 || code === -26 || code === -27) {
    kind = 'rejected';
    rejectReason = message;
  } else if (code === -32601) kind = 'method';
  return new BitcoinRpcError({ kind, method, nodeMessage: message, rpcCode: code, rejectReason, cause: err });
}

// ---------------------------------------------------------------------------------------------
// Amounts and response fields

/**
 * A BTC amount (JS number, or a decimal string when json-bigint kept it as one) → integer sats.
 * Numbers use Math.round(x * 1e8); strings are converted digit by digit, exactly.
 */
export function btcToSats(v: unknown, field = 'amount'): number {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.round(v * 1e8);
  if (typeof v === 'string') {
    const m = /^(-?)(\d+)(?:\.(\d{1,8}))?$/.exec(v);
    if (m) {
      const sats = Number(m[2]) * 1e8 + Number((m[3] ?? '').padEnd(8, '0'));
      if (Number.isSafeInteger(sats)) return m[1] === '-' ? -sats : sats;
    }
    const n = Number(v);
    if (Number.isFinite(n)) return Math.round(n * 1e8);
  }
  throw badField(field, v);
}

/** BTC/kvB → sat/vB (1 BTC/kvB = 1e8 sat / 1000 vB), kept to 3 decimals as Core's fee_rate. */
export function btcPerKvbToSatPerVb(v: unknown, field = 'feerate'): number {
  return btcToSats(v, field) / 1000;
}

class FieldError extends Error {}

function badField(field: string, v: unknown): FieldError {
  return new FieldError(`unexpected ${field} in bitcoind reply: ${JSON.stringify(v)?.slice(0, 80)}`);
}

function num(v: unknown, field: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw badField(field, v);
}

function int(v: unknown, field: string): number {
  const n = num(v, field);
  if (!Number.isInteger(n)) throw badField(field, v);
  return n;
}

function str(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  throw badField(field, v);
}

function bool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  throw badField(field, v);
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  throw badField(field, v);
}

function strArray(v: unknown, field: string): string[] {
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return [...(v as string[])];
  throw badField(field, v);
}

function optional<T>(v: unknown, read: (v: unknown, field: string) => T, field: string): T | undefined {
  return v === undefined || v === null ? undefined : read(v, field);
}

/** Copy only the defined properties, so results carry no `key: undefined`. */
function defined<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

// ---------------------------------------------------------------------------------------------
// Argument checks (done before anything is sent)

const HEX32 = /^[0-9a-fA-F]{64}$/;

function need(ok: boolean, what: string): void {
  if (!ok) throw new TypeError(`bitcoind rpc: invalid ${what}`);
}

/** Core's fee_rate (sat/vB) takes at most 3 decimals. */
function satVb(rate: number, what: string): number {
  need(Number.isFinite(rate) && rate > 0, what);
  return Math.round(rate * 1000) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Cookie / credentials

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

type Level = 'node' | 'wallet';

/**
 * The package is loaded at the first call, not with this module: it and its dependencies cost
 * every start about 200 ms of CPU and 30 MB of memory (measured, Node 20), for nothing when
 * anchoring is off and for commands that never reach a node.
 */
let clientClass: Promise<typeof Client> | undefined;
const loadClient = (): Promise<typeof Client> => (clientClass ??= import('bitcoin-core').then((m) => m.default));

/**
 * Escape hatch for RPCs the interface does not cover (getmempoolinfo, getchaintips, …), with the
 * same routing, cookie handling and error mapping. Positional params only; 'wallet' routes to
 * /wallet/<name> only for methods the package flags multiwallet.
 */
export interface BitcoinRpcCommand {
  command<T = unknown>(level: 'node' | 'wallet', method: string, ...params: unknown[]): Promise<T>;
}

export function connectBitcoind(cfg: BitcoinRpcConfig): BitcoinRpc & BitcoinRpcCommand {
  const host = cfg.url.replace(/\/+$/, '');
  need(/^https?:\/\/[^/]+$/.test(host), 'url (want http://host:port)');
  need(cfg.wallet === undefined || (typeof cfg.wallet === 'string' && cfg.wallet !== ''), 'wallet name');
  const timeout = cfg.timeoutMs ?? 30_000;

  let creds: Credentials | undefined;
  let credsError: unknown;
  let clients: { node: Client; wallet: Client } | undefined;

  /** (Re)read the cookie; with user/password, use those. */
  function loadCredentials(): void {
    clients = undefined;
    if (cfg.cookieFile === undefined) {
      creds = { username: cfg.user ?? '', password: cfg.password ?? '' };
      return;
    }
    try {
      creds = readCookie(cfg.cookieFile);
      credsError = undefined;
    } catch (err) {
      creds = undefined;
      credsError = err;
    }
  }

  async function getClients(method: string): Promise<{ node: Client; wallet: Client }> {
    // First, so that from here on nothing else runs until the clients are made.
    const Ctor = await loadClient();
    if (clients) return clients;
    if (!creds) loadCredentials();
    if (!creds) {
      const msg = credsError instanceof Error ? credsError.message : String(credsError);
      throw new BitcoinRpcError({
        kind: 'auth',
        method,
        nodeMessage: `cannot read cookie file: ${msg}`,
        transportCode: (credsError as { code?: unknown } | undefined)?.code === 'ENOENT' ? 'ENOENT' : undefined,
        cause: credsError,
      });
    }
    const base = {
      host,
      timeout,
      logger: NOOP_LOGGER,
      ...(creds.username !== '' || creds.password !== '' ? { username: creds.username, password: creds.password } : {}),
    };
    clients = {
      node: new Ctor(base),
      // Core URL-decodes the wallet name in /wallet/<name>; the package does not encode it.
      wallet: new Ctor({ ...base, ...(cfg.wallet !== undefined ? { wallet: encodeURIComponent(cfg.wallet) } : {}) }),
    };
    return clients;
  }

  loadCredentials();

  async function call<T>(level: Level, method: string, ...params: unknown[]): Promise<T> {
    let retried = false;
    if (level === 'wallet' && cfg.wallet === undefined) {
      throw new TypeError(`bitcoind rpc: ${method} needs a wallet, and this connection has none`);
    }
    for (;;) {
      let usedPassword: string | undefined;
      try {
        const c = await getClients(method);
        // Read after the await: another call may have re-read the cookie meanwhile.
        usedPassword = creds?.password;
        return await c[level].command<T>(method, ...params);
      } catch (err) {
        const e = classifyRpcError(method, err);
        // bitcoind writes a new cookie at every start: on 401/403 re-read it once and, if it
        // changed, try again with the new one.
        if (e.kind === 'auth' && cfg.cookieFile !== undefined && !retried) {
          retried = true;
          loadCredentials();
          if (creds !== undefined && creds.password !== usedPassword) continue;
        }
        throw e;
      }
    }
  }

  /** Run `read` on a reply; a reply of the wrong shape becomes kind 'other'. */
  async function shaped<R>(p: Promise<unknown>, method: string, read: (r: unknown) => R): Promise<R> {
    const r = await p;
    try {
      return read(r);
    } catch (err) {
      if (err instanceof FieldError) {
        throw new BitcoinRpcError({ kind: 'other', method, nodeMessage: err.message, cause: err });
      }
      throw err;
    }
  }

  const rpc: BitcoinRpc & BitcoinRpcCommand = {
    async command<T = unknown>(level: 'node' | 'wallet', method: string, ...params: unknown[]): Promise<T> {
      need(level === 'node' || level === 'wallet', 'level');
      need(/^[a-z0-9_]+$/.test(method), 'method name');
      return await call<T>(level, method, ...params);
    },

    async networkInfo() {
      const m = 'getnetworkinfo';
      return await shaped(call('node', m), m, (r) => {
        const o = obj(r, 'result');
        return { version: int(o.version, 'version'), subversion: str(o.subversion, 'subversion') };
      });
    },

    async blockchainInfo() {
      const m = 'getblockchaininfo';
      return await shaped(call('node', m), m, (r) => {
        const o = obj(r, 'result');
        return {
          chain: str(o.chain, 'chain'),
          blocks: int(o.blocks, 'blocks'),
          bestblockhash: str(o.bestblockhash, 'bestblockhash'),
          pruned: bool(o.pruned, 'pruned'),
        };
      });
    },

    async estimateSmartFee(confTarget) {
      need(Number.isInteger(confTarget) && confTarget >= 1 && confTarget <= 1008, 'confTarget (1..1008)');
      const m = 'estimatesmartfee';
      return await shaped(call('node', m, confTarget, 'economical'), m, (r) => {
        const o = obj(r, 'result');
        const errors = optional(o.errors, strArray, 'errors');
        const feeRateSatVb = optional(o.feerate, btcPerKvbToSatPerVb, 'feerate');
        return defined({ feeRateSatVb, errors: errors !== undefined && errors.length > 0 ? errors : undefined });
      });
    },

    async createAnchorTx(root32Hex) {
      need(HEX32.test(root32Hex), 'root (want 64 hex digits)');
      const m = 'createrawtransaction';
      return await shaped(call('node', m, [], [{ data: root32Hex.toLowerCase() }]), m, (r) => str(r, 'result'));
    },

    async fundRawTransaction(hex, o) {
      need(Number.isInteger(o.changePosition) && o.changePosition >= 0, 'changePosition');
      need(Number.isInteger(o.minconf) && o.minconf >= 0, 'minconf');
      need(o.replaceable === true && o.lockUnspents === true, 'options (replaceable and lockUnspents must be true)');
      // snake_case spellings, as recorded against v30.99 (fee_rate is sat/vB; feeRate would be
      // BTC/kvB). minconf 0 is Core's default (CCoinControl DEFAULT_MIN_DEPTH), so it is left out
      // and the request is exactly the recorded one; any other value is sent.
      const options: Record<string, unknown> = {
        fee_rate: satVb(o.feeRateSatVb, 'feeRateSatVb'),
        replaceable: true,
        change_position: o.changePosition,
        lock_unspents: true,
      };
      if (o.minconf !== 0) options.minconf = o.minconf;
      const m = 'fundrawtransaction';
      return await shaped(call('wallet', m, hex, options), m, (r) => {
        const x = obj(r, 'result');
        return { hex: str(x.hex, 'hex'), feeSats: btcToSats(x.fee, 'fee'), changepos: int(x.changepos, 'changepos') };
      });
    },

    async signRawTransactionWithWallet(hex) {
      const m = 'signrawtransactionwithwallet';
      return await shaped(call('wallet', m, hex), m, (r) => {
        const x = obj(r, 'result');
        const errors = x.errors;
        if (errors !== undefined && !Array.isArray(errors)) throw badField('errors', errors);
        return defined({
          hex: str(x.hex, 'hex'),
          complete: bool(x.complete, 'complete'),
          errors: errors as unknown[] | undefined,
        });
      });
    },

    async testMempoolAccept(hex, maxFeeRateBtcKvb) {
      const params: unknown[] = [[hex]];
      if (maxFeeRateBtcKvb !== undefined) {
        need(Number.isFinite(maxFeeRateBtcKvb) && maxFeeRateBtcKvb >= 0, 'maxFeeRateBtcKvb');
        params.push(maxFeeRateBtcKvb);
      }
      const m = 'testmempoolaccept';
      return await shaped(call('node', m, ...params), m, (r) => {
        if (!Array.isArray(r) || r.length !== 1) throw badField('result', r);
        const x = obj(r[0], 'result[0]');
        const fees = optional(x.fees, obj, 'fees');
        // `vsize` is deprecated on current master in favour of vsize_adjusted / vsize_bip141.
        const vsize = optional(x.vsize ?? x.vsize_adjusted ?? x.vsize_bip141, int, 'vsize');
        return defined({
          txid: str(x.txid, 'txid'),
          allowed: bool(x.allowed, 'allowed'),
          vsize,
          feeSats: fees ? optional(fees.base, btcToSats, 'fees.base') : undefined,
          rejectReason: optional(x['reject-reason'], str, 'reject-reason'),
        });
      });
    },

    async sendRawTransaction(hex, maxFeeRateBtcKvb) {
      const params: unknown[] = [hex];
      if (maxFeeRateBtcKvb !== undefined) {
        need(Number.isFinite(maxFeeRateBtcKvb) && maxFeeRateBtcKvb >= 0, 'maxFeeRateBtcKvb');
        params.push(maxFeeRateBtcKvb);
      }
      const m = 'sendrawtransaction';
      return await shaped(call('node', m, ...params), m, (r) => str(r, 'result'));
    },

    async bumpFee(txid, feeRateSatVb, dataHex) {
      need(HEX32.test(txid), 'txid');
      if (dataHex !== undefined) need(HEX32.test(dataHex), 'data (32 bytes of hex)');
      const m = 'bumpfee';
      const options = { fee_rate: satVb(feeRateSatVb, 'feeRateSatVb'), ...(dataHex !== undefined ? { outputs: [{ data: dataHex }] } : {}) };
      return await shaped(call('wallet', m, txid, options), m, (r) => {
        const x = obj(r, 'result');
        return {
          txid: str(x.txid, 'txid'),
          origFeeSats: btcToSats(x.origfee, 'origfee'),
          feeSats: btcToSats(x.fee, 'fee'),
        };
      });
    },

    async getTransaction(txid) {
      need(HEX32.test(txid), 'txid');
      const m = 'gettransaction';
      return await shaped(call('wallet', m, txid), m, (r) => {
        const x = obj(r, 'result');
        return defined({
          confirmations: int(x.confirmations, 'confirmations'),
          blockhash: optional(x.blockhash, str, 'blockhash'),
          blockheight: optional(x.blockheight, int, 'blockheight'),
          blockindex: optional(x.blockindex, int, 'blockindex'),
          replacedByTxid: optional(x.replaced_by_txid, str, 'replaced_by_txid'),
          walletconflicts: x.walletconflicts === undefined ? [] : strArray(x.walletconflicts, 'walletconflicts'),
          hex: str(x.hex, 'hex'),
        });
      });
    },

    async getRawTransaction(txid, blockhash) {
      need(HEX32.test(txid), 'txid');
      const params: unknown[] = [txid, true];
      if (blockhash !== undefined) {
        need(HEX32.test(blockhash), 'blockhash');
        params.push(blockhash);
      }
      const m = 'getrawtransaction';
      return await shaped(call('node', m, ...params), m, (r) => {
        const x = obj(r, 'result');
        return defined({
          hex: str(x.hex, 'hex'),
          blockhash: optional(x.blockhash, str, 'blockhash'),
          confirmations: optional(x.confirmations, int, 'confirmations'),
          inActiveChain: optional(x.in_active_chain, bool, 'in_active_chain'),
        });
      });
    },

    async getBlockHeader(hash) {
      need(HEX32.test(hash), 'block hash');
      const m = 'getblockheader';
      return await shaped(call('node', m, hash), m, (r) => {
        const x = obj(r, 'result');
        return defined({
          hash: str(x.hash, 'hash'),
          height: int(x.height, 'height'),
          confirmations: int(x.confirmations, 'confirmations'),
          merkleroot: str(x.merkleroot, 'merkleroot'),
          time: int(x.time, 'time'),
          previousblockhash: optional(x.previousblockhash, str, 'previousblockhash'),
        });
      });
    },

    async getBlockHeaderHex(hash) {
      need(HEX32.test(hash), 'block hash');
      const m = 'getblockheader';
      return await shaped(call('node', m, hash, false), m, (r) => {
        const h = str(r, 'result');
        if (!/^[0-9a-f]{160}$/i.test(h)) throw badField('header hex', r);
        return h;
      });
    },

    async getBlockTxids(hash) {
      need(HEX32.test(hash), 'block hash');
      const m = 'getblock';
      return await shaped(call('node', m, hash, 1), m, (r) => strArray(obj(r, 'result').tx, 'tx'));
    },

    async getBlockHash(height) {
      need(Number.isInteger(height) && height >= 0, 'height');
      const m = 'getblockhash';
      return await shaped(call('node', m, height), m, (r) => str(r, 'result'));
    },

    async getBlockCount() {
      const m = 'getblockcount';
      return await shaped(call('node', m), m, (r) => int(r, 'result'));
    },

    async getBalanceSats() {
      const m = 'getbalances';
      return await shaped(call('wallet', m), m, (r) => {
        const mine = obj(obj(r, 'result').mine, 'mine');
        return {
          trustedSats: btcToSats(mine.trusted, 'mine.trusted'),
          pendingSats: btcToSats(mine.untrusted_pending, 'mine.untrusted_pending'),
        };
      });
    },
  };
  return rpc;
}
