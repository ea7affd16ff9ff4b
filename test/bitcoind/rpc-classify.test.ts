// The error table (src/bitcoind/errors.ts) and amount conversions (src/bitcoind/reply.ts), for the codes and
// shapes that the recording (rpc-replay.test.ts) does not contain. The error objects here have the
// shapes the `bitcoin-core` package produces (RpcError {code: number, message}, Node transport
// errors {code: string}); the codes and messages are Bitcoin Core's (src/rpc/protocol.h,
// src/util/error.cpp, src/wallet/rpc/spend.cpp).

import { describe, expect, it } from 'vitest';
import { BitcoinRpcError, classifyRpcError, type BitcoinRpcErrorKind } from '../../src/bitcoind/errors.js';
import { btcPerKvbToSatPerVb, btcToSats } from '../../src/bitcoind/reply.js';

function rpcError(code: number, message: string): Error & { code: number } {
  return Object.assign(new Error(message), { name: 'RpcError', code });
}
function transportError(code: string): Error & { code: string } {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:18443`), { code });
}

describe('classifyRpcError', () => {
  const table: Array<[Error, BitcoinRpcErrorKind]> = [
    [rpcError(-28, 'Loading block index…'), 'warmup'],
    [rpcError(-28, 'Verifying wallet(s)…'), 'warmup'],
    [rpcError(-6, 'Insufficient funds'), 'insufficient-funds'],
    [rpcError(-4, 'Insufficient funds'), 'insufficient-funds'],
    [rpcError(-4, 'Fee estimation failed. Fallbackfee is disabled. Wait a few blocks or enable -fallbackfee.'), 'other'],
    // sendrawtransaction above maxfeerate: TransactionError::MAX_FEE_EXCEEDED → RPC_TRANSACTION_ERROR.
    [rpcError(-25, 'Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)'), 'fee-too-high'],
    [rpcError(-26, 'max-fee-exceeded'), 'fee-too-high'],
    [rpcError(-26, 'absurdly-high-fee'), 'fee-too-high'],
    [rpcError(-26, 'min relay fee not met, 100 < 153'), 'rejected'],
    [rpcError(-26, 'insufficient fee, rejecting replacement'), 'rejected'],
    [rpcError(-26, 'scriptpubkey'), 'rejected'],
    [rpcError(-27, 'Transaction outputs already in utxo set'), 'rejected'],
    [rpcError(-5, 'Invalid or non-wallet transaction id'), 'not-found'],
    [rpcError(-35, 'Wallet "anchor" is already loaded.'), 'wallet'],
    [rpcError(-36, 'Wallet file verification failed.'), 'wallet'],
    [rpcError(-32601, 'Method not found'), 'method'],
    [rpcError(-8, 'Invalid parameter, duplicate key: data'), 'other'],
    [rpcError(401, 'Unauthorized'), 'auth'],
    [rpcError(403, 'Forbidden'), 'auth'],
    [rpcError(503, 'Service Unavailable'), 'other'],
    [transportError('ECONNREFUSED'), 'unreachable'],
    [transportError('ECONNRESET'), 'unreachable'],
    [transportError('ETIMEDOUT'), 'unreachable'],
    [transportError('ESOCKETTIMEDOUT'), 'unreachable'],
    [transportError('EHOSTUNREACH'), 'unreachable'],
    [transportError('ERR_SOMETHING'), 'other'],
    [new SyntaxError('Unexpected token < in JSON'), 'other'],
  ];
  for (const [err, kind] of table) {
    const code = (err as { code?: unknown }).code;
    it(`${String(code ?? err.name)} ${err.message} → ${kind}`, () => {
      const e = classifyRpcError('sendrawtransaction', err);
      expect(e).toBeInstanceOf(BitcoinRpcError);
      expect(e.kind).toBe(kind);
      expect(e.method).toBe('sendrawtransaction');
      expect(e.nodeMessage).toBe(err.message);
      expect(e.cause).toBe(err);
      if (typeof code === 'number') {
        expect(e.rpcCode).toBe(code);
        expect(e.httpStatus).toBe(code > 0 ? code : undefined);
      } else {
        expect(e.rpcCode).toBeUndefined();
        expect(e.transportCode).toBe(code);
      }
      if (kind === 'rejected') expect(e.rejectReason).toBe(err.message);
      else expect(e.rejectReason).toBeUndefined();
    });
  }

  it('passes a BitcoinRpcError through unchanged', () => {
    const e = classifyRpcError('x', rpcError(-5, 'Block not found'));
    expect(classifyRpcError('y', e)).toBe(e);
  });
});

describe('amounts', () => {
  it('BTC numbers → sats with Math.round(x * 1e8)', () => {
    expect(btcToSats(3.3e-6)).toBe(330);
    expect(btcToSats(9.9e-6)).toBe(990);
    expect(btcToSats(-3.3e-6)).toBe(-330);
    expect(btcToSats(449.9999901)).toBe(44_999_999_010);
    expect(btcToSats(0.1 + 0.2)).toBe(30_000_000);
    expect(btcToSats(50)).toBe(5_000_000_000);
  });

  it('amounts json-bigint kept as strings (> 15 characters) are converted exactly', () => {
    expect(btcToSats('20999999.99999999')).toBe(2_099_999_999_999_999);
    expect(btcToSats('1234567.12345678')).toBe(123_456_712_345_678);
    expect(btcToSats('-0.00012345')).toBe(-12_345);
    expect(btcToSats('5000.0000099')).toBe(500_000_000_990);
  });

  it('refuses what is not an amount', () => {
    for (const bad of [undefined, null, 'abc', {}, Number.NaN, Infinity]) expect(() => btcToSats(bad)).toThrow();
  });

  it('BTC/kvB → sat/vB (× 1e5), 3 decimals', () => {
    expect(btcPerKvbToSatPerVb(0.00001)).toBe(1);
    expect(btcPerKvbToSatPerVb(0.00012345)).toBe(12.345);
    expect(btcPerKvbToSatPerVb(0.0002)).toBe(20);
    expect(btcPerKvbToSatPerVb(1e-6)).toBe(0.1);
  });
});
