import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleConfig } from '../../src/config/sample.js';
import { loadServeConfig } from '../../src/config/load.js';
import { OPTIONS } from '../../src/config/options.js';
import { REPO_ROOT } from '../helpers/paths.js';

const SAMPLE = join(REPO_ROOT, 'etc', 'immutalog.conf');

describe('etc/immutalog.conf', () => {
  it('is the generated sample (regenerate with `immutalog sample-config > etc/immutalog.conf`)', () => {
    expect(readFileSync(SAMPLE, 'utf8')).toBe(sampleConfig());
  });

  it('lists every option: the installed value set, every other one commented out with its default', () => {
    const text = readFileSync(SAMPLE, 'utf8');
    for (const o of OPTIONS) {
      if (o.installed !== undefined) expect(text).toContain(`without this file: ${o.default})\n${o.name} = ${o.installed}\n`);
      else expect(text).toContain(`#${o.name} = ${o.default}\n`);
    }
  });

  it('as shipped (/etc/immutalog/immutalog.conf) puts the data in /var/lib/immutalog, the unit\'s StateDirectory', () => {
    expect(loadServeConfig({ file: SAMPLE }).dataDir).toBe('/var/lib/immutalog');
    expect(loadServeConfig({}).dataDir).toBe('./data');
  });

  it('gives the embedded defaults, but for the installed values, when every option is uncommented', () => {
    const uncommented = readFileSync(SAMPLE, 'utf8').replace(/^#(\w+ = )/gm, '$1');
    const tmp = join(mkdtempSync(join(tmpdir(), 'immutalog-sample-')), 'immutalog.conf');
    writeFileSync(tmp, uncommented);
    try {
      expect(loadServeConfig({ file: tmp })).toEqual({ ...loadServeConfig({}), dataDir: '/var/lib/immutalog' });
      expect(loadServeConfig({ file: SAMPLE })).toEqual(loadServeConfig({ file: tmp }));
    } finally {
      rmSync(dirname(tmp), { recursive: true });
    }
  });
});
