import type { Db } from './db.js';

/** The meta table: the log's identity and creation facts, a bundle's claim, the schema version. */
export class Meta {
  constructor(private readonly db: Db) {}

  /** Undefined also when the database has no meta table. */
  get(key: string): string | undefined {
    try {
      const r = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
      return r?.value;
    } catch {
      return undefined;
    }
  }

  /** All or none. */
  set(values: Record<string, string>): void {
    const stmt = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(values)) stmt.run(k, v);
    })();
  }
}
