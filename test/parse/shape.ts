import { expect } from 'vitest';
import type { ParsedFields } from '../../src/parse/index.js';

export const FIELD_KEYS = ['fmt', 'pri', 'facility', 'severity', 'ts', 'host', 'app', 'procid', 'msgid', 'sd', 'oslo'];
export const OSLO_KEYS = [
  'kind', 'time', 'pid', 'level', 'logger', 'request_id', 'global_request_id', 'user', 'project', 'instance', 'exception',
];
const HEADER_STRINGS = ['ts', 'host', 'app', 'procid', 'msgid', 'sd'] as const;
const OSLO_STRINGS = ['time', 'level', 'logger', 'request_id', 'global_request_id', 'user', 'project', 'instance'] as const;

function nullOrNonEmptyString(v: unknown): boolean {
  return v === null || (typeof v === 'string' && v.length > 0);
}

/** Asserts the invariants every parse result must satisfy, whatever the input. */
export function expectWellFormed(f: ParsedFields): void {
  expect(Object.keys(f)).toEqual(FIELD_KEYS);
  expect(['rfc5424', 'rfc3164', 'rfc3339', 'bare', 'nopri']).toContain(f.fmt);
  if (f.fmt === 'nopri') {
    expect([f.pri, f.facility, f.severity, f.ts, f.host, f.app, f.procid, f.msgid, f.sd]).toEqual(Array(9).fill(null));
  } else {
    expect(Number.isInteger(f.pri) && f.pri! >= 0 && f.pri! <= 191).toBe(true);
    expect(f.facility).toBe(f.pri! >> 3);
    expect(f.severity).toBe(f.pri! & 7);
  }
  for (const k of HEADER_STRINGS) expect(nullOrNonEmptyString(f[k]), k).toBe(true);
  if (f.fmt !== 'rfc5424') expect([f.msgid, f.sd]).toEqual([null, null]);
  if (f.fmt === 'bare') expect([f.ts, f.host, f.app, f.procid]).toEqual([null, null, null, null]);
  const o = f.oslo;
  if (o === null) return;
  expect(Object.keys(o)).toEqual(OSLO_KEYS);
  expect(['context', 'json']).toContain(o.kind);
  for (const k of OSLO_STRINGS) expect(nullOrNonEmptyString(o[k]), k).toBe(true);
  expect(o.pid === null || (Number.isSafeInteger(o.pid) && o.pid >= 0)).toBe(true);
  expect(typeof o.exception).toBe('boolean');
  if (o.kind === 'context') {
    // The text form requires these, so they are never missing.
    expect(o.time).not.toBeNull();
    expect(o.pid).not.toBeNull();
    expect(o.level).toMatch(/^[A-Z][A-Z0-9_]*$/);
    expect(o.logger).not.toBeNull();
  }
}

export function headerOf(f: ParsedFields): Omit<ParsedFields, 'oslo'> {
  const { oslo: _oslo, ...rest } = f;
  return rest;
}
