// What a failed call to Bitcoin Core means for the caller, read off what the `bitcoin-core`
// package threw (shared/notes/anchoring.md §1):
// - `RpcError` with Bitcoin Core's numeric code (legacy JSON-RPC replies come with HTTP 500 or
//   404 and a JSON body);
// - `RpcError` whose code is the HTTP status when the body is not JSON (401, 403, 503);
// - plain Node errors with a string `code` for transport failures.
// Pure: the table is tested on its own (test/bitcoind/rpc-classify.test.ts).

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
