// Reading systemd unit files for the tests: a small parser of the unit file syntax (sections,
// `Key=value`, repeated keys kept in order, `#`/`;` comments, backslash continuation), and the
// systemd-analyze binary.
import { readFileSync } from 'node:fs';
import { requireExecutable } from './proc.js';

export const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

/** On Debian 12 /usr/bin/systemd-analyze is in the "systemd" package. */
export function requireSystemdAnalyze(): void {
  requireExecutable(SYSTEMD_ANALYZE, 'systemd');
}

export type Unit = Map<string, Map<string, string[]>>;

export function parseUnit(path: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      section = unit.get(sec[1]!) ?? new Map();
      unit.set(sec[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq <= 0) throw new Error(`${path}:${i + 1}: not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    section.set(key, [...(section.get(key) ?? []), value]);
  }
  return unit;
}

/** Every value of [section] key, in order (empty if never set). */
export function values(u: Unit, section: string, key: string): string[] {
  return u.get(section)?.get(key) ?? [];
}

/** The single value of [section] key; throws unless it is set exactly once. */
export function value(u: Unit, section: string, key: string): string {
  const v = values(u, section, key);
  if (v.length !== 1) throw new Error(`[${section}] ${key} is set ${v.length} times (${JSON.stringify(v)}), expected once`);
  return v[0]!;
}

/** systemd's boolean spellings. */
export function isTrue(v: string): boolean {
  return ['1', 'yes', 'y', 'true', 't', 'on'].includes(v.toLowerCase());
}

/**
 * ExecStart split into argv. Only plain words are accepted (no quotes, specifiers, `$` or
 * prefixes like `-`/`@`/`+`): anything else throws, so the tests never misread the command.
 */
export function execArgv(line: string): string[] {
  if (/["'\\%$]/.test(line) || /^[-@:+!]/.test(line)) throw new Error(`ExecStart uses syntax this parser does not handle: ${line}`);
  return line.split(/\s+/).filter((w) => w !== '');
}

/** Seconds of a systemd time span like `60`, `60s`, `1min`, `1min 30s`, `500ms`. */
export function timespanSeconds(v: string): number {
  const unitSec: Record<string, number> = { '': 1, s: 1, sec: 1, second: 1, seconds: 1, ms: 0.001, msec: 0.001, m: 60, min: 60, minute: 60, minutes: 60, h: 3600, hr: 3600, hour: 3600, hours: 3600 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)\s*([a-z]*)/gy;
  const s = v.trim();
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < s.length && (m = re.exec(s)) !== null) {
    const f = unitSec[m[2]!];
    if (f === undefined) throw new Error(`unknown time unit "${m[2]}" in ${v}`);
    total += Number(m[1]) * f;
    at = re.lastIndex;
    while (s[at] === ' ') at++;
    re.lastIndex = at;
  }
  if (at !== s.length || s === '') throw new Error(`not a time span: ${v}`);
  return total;
}
