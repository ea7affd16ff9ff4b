// Reading Bitcoin Core's replies into typed results. Numbers written with more than 15
// characters arrive as strings (the package's json-bigint storeAsString), so every numeric
// field is read through `num()` and every BTC amount through `btcToSats()`. A reply of the
// wrong shape becomes a BitcoinRpcError of kind 'other' (see `shaped`). Pure.

import { BitcoinRpcError } from './errors.js';

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

export function badField(field: string, v: unknown): FieldError {
  return new FieldError(`unexpected ${field} in bitcoind reply: ${JSON.stringify(v)?.slice(0, 80)}`);
}

function num(v: unknown, field: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw badField(field, v);
}

export function int(v: unknown, field: string): number {
  const n = num(v, field);
  if (!Number.isInteger(n)) throw badField(field, v);
  return n;
}

export function str(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  throw badField(field, v);
}

export function bool(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  throw badField(field, v);
}

export function obj(v: unknown, field: string): Record<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  throw badField(field, v);
}

export function strArray(v: unknown, field: string): string[] {
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return [...(v as string[])];
  throw badField(field, v);
}

export function optional<T>(v: unknown, read: (v: unknown, field: string) => T, field: string): T | undefined {
  return v === undefined || v === null ? undefined : read(v, field);
}

/** Copy only the defined properties, so results carry no `key: undefined`. */
export function defined<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** Run `read` on a reply; a reply of the wrong shape becomes kind 'other'. */
export async function shaped<R>(p: Promise<unknown>, method: string, read: (r: unknown) => R): Promise<R> {
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
