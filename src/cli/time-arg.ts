/** Units of relative times such as `2h` or `30m` (meaning: that long before now). */
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Date, optional time (`T` or a space), optional fraction (to the microsecond) and zone. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Largest distance from the epoch a Date can hold, in microseconds. */
const MAX_ABS_US = 8.64e18;

function daysInMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0); // day 0 of the next month: the last day of this one
  return d.getUTCDate();
}

/** Microseconds since the epoch of an ISO time, or undefined when a field is out of range (2026-02-30). */
function isoUs(t: string): number | undefined {
  const m = ISO.exec(t);
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((x) => (x === undefined ? undefined : Number(x))) as number[];
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysInMonth(y!, mo!) || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMin = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const zh = Number(zone.slice(1, 3));
    const zm = Number(zone.slice(-2));
    if (zh > 23 || zm > 59) return undefined;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(y!, mo! - 1, d!);
  date.setUTCHours(h, mi, s, 0);
  const fracUs = m[7] === undefined ? 0 : Number(m[7].slice(0, 6).padEnd(6, '0'));
  return (date.getTime() - offsetMin * 60_000) * 1000 + fracUs;
}

/**
 * Parses `--since`/`--until`: ISO 8601 (`2026-11-01`, `2026-11-01T12:00:00Z`; a date or time
 * without zone is UTC, so an audit means the same range on every machine), a relative span
 * (`90s`, `30m`, `2h`, `7d`, `1w`), or `now`. Returns microseconds since the epoch; a fraction
 * keeps its microseconds, so a `received_at` printed by `query` selects exactly that instant.
 */
export function parseTimeArg(s: string, now: number = Date.now()): number {
  const t = s.trim();
  let us: number | undefined;
  if (t === 'now') us = now * 1000;
  else {
    const rel = /^(\d+)([smhdw])$/.exec(t);
    us = rel ? (now - Number(rel[1]) * UNIT_MS[rel[2]!]!) * 1000 : isoUs(t);
  }
  if (us === undefined || !Number.isInteger(us) || Math.abs(us) > MAX_ABS_US) {
    throw new Error(`expected a time like 2026-11-01, 2026-11-01T12:00:00Z, 2h, 30m, 7d or now, got ${JSON.stringify(s)}`);
  }
  return us;
}

export function formatUs(us: number): string {
  const ms = Math.floor(us / 1000);
  // Floored, so times before 1970 print their fraction counted forward from the whole second too.
  const frac = String(((us % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}
