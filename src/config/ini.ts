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
 * oslo.config-style INI: `[section]`, `key = value`, `#` or `;` comment lines, blank lines.
 * Values are taken as written (trimmed); a repeated key is an error rather than a silent override.
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
    section.set(key, { value: line.slice(eq + 1).trim(), line: lineNo });
  }
  return doc;
}
