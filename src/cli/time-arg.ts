/** Units of relative times such as `2h` or `30m` (meaning: that long before now). */
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parses `--since`/`--until`: ISO 8601 (`2026-11-01`, `2026-11-01T12:00:00Z`; a date or time
 * without zone is UTC, so an audit means the same range on every machine), a relative span
 * (`90s`, `30m`, `2h`, `7d`, `1w`), or `now`. Returns microseconds since the epoch.
 */
export function parseTimeArg(s: string, now: number = Date.now()): number {
  const t = s.trim();
  if (t === 'now') return now * 1000;
  const rel = /^(\d+)([smhdw])$/.exec(t);
  if (rel) return (now - Number(rel[1]) * UNIT_MS[rel[2]!]!) * 1000;
  let iso = t;
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) iso += 'T00:00:00Z';
  else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(iso)) iso = iso.replace(' ', 'T') + 'Z';
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? Date.parse(iso) : NaN;
  if (Number.isNaN(ms)) {
    throw new Error(`expected a time like 2026-11-01, 2026-11-01T12:00:00Z, 2h, 30m, 7d or now, got ${JSON.stringify(s)}`);
  }
  return ms * 1000;
}

export function formatUs(us: number): string {
  const ms = Math.floor(us / 1000);
  const frac = String(us % 1_000_000).padStart(6, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}
