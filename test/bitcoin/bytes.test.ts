// src/bitcoin/bytes.ts: hashing, byte order, strict hex, compact sizes (read by ByteReader, written
// by test/helpers/bitcoin-serialize.ts).
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_COMPACT_SIZE, displayHexToInternal, hexToBytes, internalToDisplayHex, sha256d } from '../../src/bitcoin/bytes.js';
import { BitcoinFormatError } from '../../src/bitcoin/errors.js';
import { compactSizeLength, readCompactSize, writeCompactSize } from '../helpers/bitcoin-serialize.js';

const RUNS = { numRuns: 2000 };

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof BitcoinFormatError) return e.code;
    throw e;
  }
  return undefined;
}

describe('sha256d and byte order', () => {
  it('sha256d is SHA-256 applied twice', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (u) => {
        const once = createHash('sha256').update(u).digest();
        expect(sha256d(u).equals(createHash('sha256').update(once).digest())).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('display hex is the reversed internal bytes, both ways', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (u) => {
        const internal = Buffer.from(u);
        const display = internalToDisplayHex(internal);
        expect(display).toBe(Buffer.from(u).reverse().toString('hex'));
        expect(displayHexToInternal(display).equals(internal)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('displayHexToInternal wants exactly 32 bytes of valid hex', () => {
    expect(codeOf(() => displayHexToInternal('00'.repeat(31)))).toBe('HEX_MALFORMED');
    expect(codeOf(() => displayHexToInternal('00'.repeat(33)))).toBe('HEX_MALFORMED');
    expect(codeOf(() => displayHexToInternal('zz'.repeat(32)))).toBe('HEX_MALFORMED');
  });

  it('hexToBytes refuses what Buffer.from(hex) would silently truncate', () => {
    expect(Buffer.from('00zz11', 'hex').length).toBe(1);
    expect(codeOf(() => hexToBytes('00zz11'))).toBe('HEX_MALFORMED');
    expect(codeOf(() => hexToBytes('abc'))).toBe('HEX_MALFORMED');
    expect(codeOf(() => hexToBytes(' 00'))).toBe('HEX_MALFORMED');
    expect(hexToBytes('').length).toBe(0);
    expect(hexToBytes('AbCd').toString('hex')).toBe('abcd');
  });
});

describe('compact size', () => {
  it('encodes at the documented boundaries', () => {
    const cases: [number | bigint, string][] = [
      [0, '00'],
      [0xfc, 'fc'],
      [0xfd, 'fdfd00'],
      [0xffff, 'fdffff'],
      [0x10000, 'fe00000100'],
      [0xffffffff, 'feffffffff'],
      [0x100000000n, 'ff0000000001000000'],
      [0xffffffffffffffffn, 'ffffffffffffffffff'],
    ];
    for (const [n, hex] of cases) {
      expect(writeCompactSize(n).toString('hex')).toBe(hex);
      expect(compactSizeLength(n)).toBe(hex.length / 2);
    }
    expect(() => writeCompactSize(-1)).toThrow(RangeError);
    expect(() => writeCompactSize(1n << 64n)).toThrow(RangeError);
  });

  it('round-trips every value a reader can hold, and consumes exactly the encoding', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 0x1_0000_0 }), fc.maxSafeNat()), fc.uint8Array({ maxLength: 4 }), (n, tail) => {
        const enc = writeCompactSize(n);
        const { value, next } = readCompactSize(Buffer.concat([enc, tail]), 0, Number.MAX_SAFE_INTEGER);
        expect(value).toBe(n);
        expect(next).toBe(enc.length);
      }),
      RUNS,
    );
  });

  it('writes then reads any 64-bit value, or refuses it as too large for a JS number', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (n) => {
        const enc = writeCompactSize(n);
        if (n <= BigInt(Number.MAX_SAFE_INTEGER)) expect(readCompactSize(enc, 0, Number.MAX_SAFE_INTEGER).value).toBe(Number(n));
        else expect(codeOf(() => readCompactSize(enc, 0, Number.MAX_SAFE_INTEGER))).toBe('TX_MALFORMED');
      }),
      RUNS,
    );
  });

  it('refuses non-minimal encodings, as Core does ("non-canonical ReadCompactSize()")', () => {
    for (const hex of ['fd0000', 'fdfc00', 'fe00000000', 'feffff0000', 'ff0000000000000000', 'ffffffffff00000000']) {
      expect(codeOf(() => readCompactSize(Buffer.from(hex, 'hex'), 0, Number.MAX_SAFE_INTEGER))).toBe('TX_MALFORMED');
    }
  });

  it('refuses sizes above MAX_SIZE by default, and truncated encodings', () => {
    expect(readCompactSize(writeCompactSize(MAX_COMPACT_SIZE)).value).toBe(MAX_COMPACT_SIZE);
    expect(codeOf(() => readCompactSize(writeCompactSize(MAX_COMPACT_SIZE + 1)))).toBe('TX_MALFORMED');
    for (const hex of ['', 'fd', 'fd01', 'fe010203', 'ff01020304050607']) {
      expect(codeOf(() => readCompactSize(Buffer.from(hex, 'hex')))).toBe('TX_MALFORMED');
    }
  });

  it('reading arbitrary bytes either yields the value of a minimal encoding or a coded error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 10 }), (u) => {
        const b = Buffer.from(u);
        let r: { value: number; next: number };
        try {
          r = readCompactSize(b, 0, Number.MAX_SAFE_INTEGER);
        } catch (e) {
          expect(e).toBeInstanceOf(BitcoinFormatError);
          expect((e as BitcoinFormatError).offset).toBeLessThanOrEqual(b.length);
          return;
        }
        expect(writeCompactSize(r.value).equals(b.subarray(0, r.next))).toBe(true);
      }),
      RUNS,
    );
  });
});
