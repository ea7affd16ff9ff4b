// The README's reason-code table is the auditor's reference: it lists exactly the codes verify
// can report, each with the meaning the source gives it, so the two cannot drift apart.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REASON_CODES } from '../../src/verify/failures.js';
import { REPO_ROOT } from '../helpers/paths.js';

describe('README reason-code table', () => {
  it('lists every code of src/verify/failures.ts, and only those, with the same meaning', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('| code | meaning |'));
    const lines = table.split('\n').slice(2);
    const rows = lines.slice(0, lines.findIndex((l) => !l.startsWith('| `')));
    const documented = Object.fromEntries(rows.map((l) => {
      const m = /^\| `([A-Z_]+)` \| (.*) \|$/.exec(l);
      if (!m) throw new Error(`unreadable row: ${l}`);
      return [m[1], m[2]];
    }));
    expect(documented).toEqual({ ...REASON_CODES });
  });
});
