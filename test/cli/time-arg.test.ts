// --since / --until parsing and the received_at format of `query`.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatUs, parseTimeArg } from '../../src/cli/time-arg.js';

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0, 250); // 2026-11-26T12:00:00.250Z, in ms
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const us = (iso: string): number => Date.parse(iso) * 1000;

function rejects(s: string): void {
  expect(() => parseTimeArg(s, NOW), JSON.stringify(s)).toThrow(`expected a time like 2026-11-01, 2026-11-01T12:00:00Z, 2h, 30m, 7d or now, got ${JSON.stringify(s)}`);
}

/** Days of a month computed independently of the code under test (years >= 100). */
const daysIn = (y: number, m: number): number => new Date(Date.UTC(y, m, 0)).getUTCDate();
const p2 = (n: number): string => String(n).padStart(2, '0');

describe('parseTimeArg', () => {
  it('reads ISO dates and times as UTC unless a zone is given', () => {
    expect(parseTimeArg('2026-11-01', NOW)).toBe(us('2026-11-01T00:00:00Z'));
    expect(parseTimeArg('2026-11-01T12:00:00Z', NOW)).toBe(us('2026-11-01T12:00:00Z'));
    expect(parseTimeArg('2026-11-01T12:00', NOW)).toBe(us('2026-11-01T12:00:00Z'));
    expect(parseTimeArg('2026-11-01 12:00:30', NOW)).toBe(us('2026-11-01T12:00:30Z'));
    expect(parseTimeArg('2026-11-01T12:00:00+02:00', NOW)).toBe(us('2026-11-01T10:00:00Z'));
    expect(parseTimeArg('2026-11-01T12:00:00+0200', NOW)).toBe(us('2026-11-01T10:00:00Z'));
    expect(parseTimeArg('2026-11-01T12:00-05:30', NOW)).toBe(us('2026-11-01T17:30:00Z'));
    expect(parseTimeArg('2026-11-01 12:00:00+02:00', NOW)).toBe(us('2026-11-01T10:00:00Z'));
    expect(parseTimeArg('  2026-11-01T12:00:00Z\n', NOW)).toBe(us('2026-11-01T12:00:00Z'));
  });

  it('keeps a fraction to the microsecond (more digits are cut, not rounded)', () => {
    const base = us('2026-11-01T12:00:00Z');
    expect(parseTimeArg('2026-11-01T12:00:00.5Z', NOW)).toBe(base + 500_000);
    expect(parseTimeArg('2026-11-01T12:00:00.123Z', NOW)).toBe(base + 123_000);
    expect(parseTimeArg('2026-11-01T12:00:00.123456Z', NOW)).toBe(base + 123_456);
    expect(parseTimeArg('2026-11-01T12:00:00.1234569Z', NOW)).toBe(base + 123_456);
    expect(parseTimeArg('2026-11-01T12:00:00.000001', NOW)).toBe(base + 1);
  });

  it('reads relative spans back from now, and now itself', () => {
    expect(parseTimeArg('now', NOW)).toBe(NOW * 1000);
    expect(parseTimeArg('0s', NOW)).toBe(NOW * 1000);
    expect(parseTimeArg('90s', NOW)).toBe((NOW - 90_000) * 1000);
    expect(parseTimeArg('30m', NOW)).toBe((NOW - 1_800_000) * 1000);
    expect(parseTimeArg('2h', NOW)).toBe((NOW - 7_200_000) * 1000);
    expect(parseTimeArg('7d', NOW)).toBe((NOW - 7 * 86_400_000) * 1000);
    expect(parseTimeArg('1w', NOW)).toBe((NOW - 604_800_000) * 1000);
    expect(parseTimeArg(' 2h ', NOW)).toBe((NOW - 7_200_000) * 1000);
  });

  it('handles leap years', () => {
    expect(parseTimeArg('2024-02-29', NOW)).toBe(us('2024-02-29T00:00:00Z'));
    expect(parseTimeArg('2000-02-29', NOW)).toBe(us('2000-02-29T00:00:00Z'));
    rejects('2026-02-29');
    rejects('2100-02-29');
  });

  it('refuses what is not a time, naming the forms it expects', () => {
    for (const s of [
      '', ' ', 'yesterday', 'today', '2h ago', '-2h', '+2h', '1.5h', '2H', '2y', 'h', 'Now',
      '2026-02-30', '2026-04-31', '2026-11-31', '2026-13-01', '2026-00-10', '2026-11-00', '2026-1-1', '26-11-01',
      '2026-11-01T25:00Z', '2026-11-01T24:00:00Z', '2026-11-01T12:60Z', '2026-11-01T12:00:60Z', '2026-11-01T12Z',
      '2026-11-01T12:00:00+24:00', '2026-11-01T12:00:00+02:60', '2026-11-01T12:00:00+2', '2026-11-01T12:00:00.Z',
      '2026-11-01T12:00:00z', '2026-11-01Z', '12:00', '1793534400', '99999999999999999999d',
    ]) {
      rejects(s);
    }
  });

  it('property: parses back what formatUs prints, to the microsecond', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (t) => {
        expect(parseTimeArg(formatUs(t), NOW)).toBe(t);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: agrees with Date.parse on millisecond ISO times', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('0100-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
        const iso = d.toISOString();
        expect(parseTimeArg(iso, NOW)).toBe(d.getTime() * 1000);
        // The same instant written with its date and time only (UTC implied).
        expect(parseTimeArg(iso.slice(0, -1).replace('T', ' '), NOW)).toBe(d.getTime() * 1000);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: a zone offset names the same instant as its UTC form', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
        fc.boolean(),
        (ms, offsetMin, colon) => {
          const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, -1);
          const a = Math.abs(offsetMin);
          const zone = `${offsetMin < 0 ? '-' : '+'}${p2(Math.floor(a / 60))}${colon ? ':' : ''}${p2(a % 60)}`;
          expect(parseTimeArg(local + zone, NOW)).toBe(ms * 1000);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('property: relative spans are exactly that long before now', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom(...(Object.keys(UNIT_MS) as (keyof typeof UNIT_MS)[])), (n, u) => {
        expect(parseTimeArg(`${n}${u}`, NOW)).toBe((NOW - n * UNIT_MS[u]) * 1000);
      }),
      { numRuns: 500 },
    );
  });

  it('property: a day past the end of its month is refused, the last day is taken', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), (y, m, d) => {
        const s = `${y}-${p2(m)}-${p2(d)}`;
        if (d <= daysIn(y, m)) expect(parseTimeArg(s, NOW)).toBe(Date.UTC(y, m - 1, d) * 1000);
        else rejects(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: any string either parses to a whole number of microseconds or is refused with "expected"', () => {
    const timeish = fc.stringMatching(/^[0-9:T .Z+-]{0,30}[smhdw]?$/);
    fc.assert(
      fc.property(fc.oneof(fc.string(), timeish), (s) => {
        let v: number;
        try {
          v = parseTimeArg(s, NOW);
        } catch (e) {
          expect((e as Error).message).toContain('expected a time like');
          return;
        }
        expect(Number.isInteger(v)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('formatUs', () => {
  it('prints ISO 8601 UTC with six fraction digits', () => {
    expect(formatUs(0)).toBe('1970-01-01T00:00:00.000000Z');
    expect(formatUs(1)).toBe('1970-01-01T00:00:00.000001Z');
    expect(formatUs(1_793_534_400_123_456)).toBe('2026-11-01T12:00:00.123456Z');
    expect(formatUs(999_999)).toBe('1970-01-01T00:00:00.999999Z');
  });

  it('prints times before 1970 with the fraction counted forward from the whole second', () => {
    expect(formatUs(-1)).toBe('1969-12-31T23:59:59.999999Z');
    expect(formatUs(-500_000)).toBe('1969-12-31T23:59:59.500000Z');
    expect(formatUs(-1_000_000)).toBe('1969-12-31T23:59:59.000000Z');
  });

  it('property: the shape is fixed and the millisecond part agrees with Date', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (t) => {
        const s = formatUs(t);
        expect(s).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
        expect(Date.parse(s)).toBe(Math.floor(t / 1000));
      }),
      { numRuns: 2000 },
    );
  });

  it('property: order of the strings is the order of the times', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8_000_000_000_000_000 }), fc.integer({ min: 0, max: 8_000_000_000_000_000 }), (a, b) => {
        const [x, y] = [formatUs(a), formatUs(b)];
        expect(Math.sign(x < y ? -1 : x > y ? 1 : 0)).toBe(Math.sign(a - b));
      }),
      { numRuns: 1000 },
    );
  });
});
