/** A parsed INI value with where it came from, so errors can name the file line. */
export interface IniValue {
  value: string;
  line: number;
}
/** One section's options, with the line of its `[section]` header. */
export type IniSection = Map<string, IniValue> & { line: number };
export type IniDocument = Map<string, IniSection>;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly file: string, readonly line: number | undefined, message: string) {
    super(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
  }
}

/**
 * A `#` or `;` after whitespace inside a value. oslo.config (oslo_config/iniparser.py) takes such
 * text into the value, so `interval = 3600  # hourly` would fail as a number there and a path
 * would silently gain the comment; no OpenStack file relies on it, so it is refused here with
 * the line, rather than read either way.
 */
const INLINE_COMMENT = /\s[#;]/;

/** A value wholly in matching quotes, which oslo.config strips (the way to keep a literal ` #`). */
function unquote(v: string): string | undefined {
  return v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0] ? v.slice(1, -1) : undefined;
}

/**
 * oslo.config-style INI: `[section]`, `key = value`, `#` or `;` comment lines, blank lines.
 * Values are taken as written (trimmed; matching outer quotes stripped, as oslo.config does); a
 * comment after a value and a repeated key are errors rather than silent surprises.
 */
export function parseIni(text: string, file: string): IniDocument {
  const doc: IniDocument = new Map();
  let section: IniSection | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      if (doc.has(name)) throw new ConfigError(file, lineNo, `section [${name}] appears twice`);
      section = Object.assign(new Map<string, IniValue>(), { line: lineNo });
      doc.set(name, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ConfigError(file, lineNo, `expected "key = value" or "[section]", got ${JSON.stringify(line)}`);
    if (!section) throw new ConfigError(file, lineNo, `option before any [section]: ${JSON.stringify(line)}`);
    const key = line.slice(0, eq).trim();
    if (section.has(key)) throw new ConfigError(file, lineNo, `option ${key} is set twice in this section`);
    const written = line.slice(eq + 1).trim();
    const quoted = unquote(written);
    if (quoted === undefined && INLINE_COMMENT.test(written)) {
      const at = INLINE_COMMENT.exec(written)!.index + 1;
      throw new ConfigError(file, lineNo, `option ${key}: expected a value without a comment, got ${JSON.stringify(written)}; put the comment (${JSON.stringify(written.slice(at))}) on a line of its own, or quote the whole value if "${written[at]}" belongs to it`);
    }
    section.set(key, { value: quoted ?? written, line: lineNo });
  }
  return doc;
}
