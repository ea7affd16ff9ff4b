// loadServeConfig: embedded defaults < INI file < command-line flags, and every mistake in a file
// is a ConfigError that names the option and the file line.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseIni } from '../../src/config/ini.js';
import { loadServeConfig, type ServeConfig, CONFIG_KEYS } from '../../src/config/load.js';
import { MAX_MESSAGE_BYTES_LIMIT, OPTIONS } from '../../src/config/options.js';
import { runCli } from '../helpers/daemon.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import { spawnSync } from 'node:child_process';
import { DEFAULT_CONFIG_FILE, configFileFor } from '../../src/config/config-file.js';

const dir = mkdtempSync(join(tmpdir(), 'immutalog-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function conf(text: string): string {
  const f = join(dir, `c${n++}.conf`);
  writeFileSync(f, text);
  return f;
}

// The receive-side defaults; the other options have tests of their own.
const DEFAULTS: Partial<ServeConfig> = {
  dataDir: './data',
  logLevel: 'info',
  udp: [{ host: '127.0.0.1', port: 5514 }],
  tcp: [{ host: '127.0.0.1', port: 5514 }],
  tls: [],
  tlsCert: '',
  tlsKey: '',
  tlsClientCa: '',
  allow: [],
  maxMessageBytes: 131072,
  maxConnections: 512,
  frameTimeoutSec: 30,
  framing: 'auto',
  udpReader: 'native',
  commitDelayMs: 10,
  commitBatch: 1024,
  queueHighWaterBytes: 4 * 1024 * 1024,
};

/** The ConfigError thrown by loading `text` (fails the test if nothing is thrown). */
function errorOf(text: string, flags?: Record<string, string | string[]>): { err: ConfigError; file: string } {
  const file = conf(text);
  try {
    loadServeConfig({ file, ...(flags ? { flags } : {}) });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return { err: e as ConfigError, file };
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(text)}`);
}

/** Asserts the error is CONFIG_INVALID at `line` and its message names file:line and every `mentions`. */
function expectAt(text: string, line: number, mentions: string[]): ConfigError {
  const { err, file } = errorOf(text);
  expect(err.code).toBe('CONFIG_INVALID');
  expect(err.line).toBe(line);
  expect(err.file).toBe(file);
  expect(err.message.startsWith(`${file}:${line}: `)).toBe(true);
  for (const m of mentions) expect(err.message).toContain(m);
  return err;
}

describe('loadServeConfig values', () => {
  // toMatchObject: options added later are not this test's business, but each must get a value.
  it('with no file and no flags gives the embedded defaults', () => {
    const cfg = loadServeConfig({}) as unknown as Record<string, unknown>;
    expect(cfg).toMatchObject(DEFAULTS);
    expect(Object.keys(cfg).length).toBe(OPTIONS.length);
    for (const v of Object.values(cfg)) expect(v).toBeDefined();
  });

  it('the shipped sample, as is and with every option uncommented, gives the defaults but for the installed data_dir', () => {
    const sample = readFileSync(join(REPO_ROOT, 'etc', 'immutalog.conf'), 'utf8');
    const installed = { ...loadServeConfig({}), dataDir: '/var/lib/immutalog' };
    expect(loadServeConfig({ file: conf(sample) })).toEqual(installed);
    const uncommented = sample.replace(/^#([a-z_]+ =.*)$/gm, '$1');
    const doc = parseIni(uncommented, 'sample');
    // Every option of the table is in the sample, in its section.
    expect([...doc].flatMap(([s, m]) => [...m.keys()].map((k) => `${s}.${k}`)).sort()).toEqual(OPTIONS.map((o) => `${o.section}.${o.name}`).sort());
    expect(loadServeConfig({ file: conf(uncommented) })).toEqual(installed);
  });

  it('a file overrides the defaults it names and leaves the others', () => {
    const file = conf(
      [
        '# comment',
        '; another comment',
        '[DEFAULT]',
        'data_dir = /var/lib/immutalog',
        'log_level = debug',
        '',
        '[syslog]',
        'udp = 127.0.0.1:514, [::1]:514',
        'tcp =',
        'allow = 10.0.0.0/8 , 192.168.1.7, ::1',
        'max_message_bytes = 65536',
        'max_connections = 64',
        'frame_timeout = 5',
        'framing = nul',
        '[chain]',
        'commit_delay_ms = 50',
        'commit_batch = 100',
        'queue_high_water_bytes = 65536',
      ].join('\n'),
    );
    expect(loadServeConfig({ file })).toMatchObject({
      ...DEFAULTS,
      dataDir: '/var/lib/immutalog',
      logLevel: 'debug',
      udp: [{ host: '127.0.0.1', port: 514 }, { host: '::1', port: 514 }],
      tcp: [],
      allow: ['10.0.0.0/8', '192.168.1.7', '::1'],
      maxMessageBytes: 65536,
      maxConnections: 64,
      frameTimeoutSec: 5,
      framing: 'nul',
      commitDelayMs: 50,
      commitBatch: 100,
      queueHighWaterBytes: 65536,
    });
  });

  it('flags override the file; a repeated flag gives a list', () => {
    const file = conf('[DEFAULT]\ndata_dir = /from/file\n[syslog]\nudp = 127.0.0.1:514\ntcp = 127.0.0.1:601\nmax_message_bytes = 2000\nframing = lf\n');
    const cfg = loadServeConfig({
      file,
      flags: { 'data-dir': '/from/flag', udp: ['127.0.0.1:1514', '[::1]:1514'], 'max-message-bytes': '3000', allow: ['127.0.0.0/8', '::1'], 'frame-timeout': undefined },
    });
    expect(cfg).toMatchObject({
      ...DEFAULTS,
      dataDir: '/from/flag',
      udp: [{ host: '127.0.0.1', port: 1514 }, { host: '::1', port: 1514 }],
      tcp: [{ host: '127.0.0.1', port: 601 }],
      maxMessageBytes: 3000,
      framing: 'lf',
      allow: ['127.0.0.0/8', '::1'],
    });
  });

  it('accepts CRLF line endings, the limits of each int option, and a bare address in allow', () => {
    const file = conf(`[syslog]\r\nmax_message_bytes = 480\r\nmax_connections = 65535\r\nallow = 127.0.0.1\r\n[chain]\r\ncommit_batch = 1\r\n`);
    expect(loadServeConfig({ file })).toMatchObject({ maxMessageBytes: 480, maxConnections: 65535, allow: ['127.0.0.1'], commitBatch: 1 });
    expect(loadServeConfig({ flags: { 'max-message-bytes': String(MAX_MESSAGE_BYTES_LIMIT) } }).maxMessageBytes).toBe(MAX_MESSAGE_BYTES_LIMIT);
  });
});

describe('loadServeConfig errors name the option and file:line', () => {
  it('unknown section (with and without options) points at its header', () => {
    expectAt('[syslog]\nudp = 127.0.0.1:514\n\n[nosuch]\nfoo = 1\n', 4, ['unknown section [nosuch]', 'DEFAULT, syslog, chain']);
    expectAt('# empty unknown section\n[nosuch]\n\n[syslog]\nudp = 127.0.0.1:514\n', 2, ['unknown section [nosuch]']);
  });

  it('unknown option, also an option in the wrong section or with the wrong case', () => {
    expectAt('[syslog]\n\nudp = 127.0.0.1:514\nmax_mesage_bytes = 1000\n', 4, ['unknown option max_mesage_bytes in [syslog]']);
    expectAt('[DEFAULT]\nudp = 127.0.0.1:514\n', 2, ['unknown option udp in [DEFAULT]']);
    expectAt('[syslog]\nUDP = 127.0.0.1:514\n', 2, ['unknown option UDP']);
  });

  it('bad int', () => {
    for (const v of ['12x', '-1', '+5', '1.5', '1e3', '', '0x10']) {
      expectAt(`[syslog]\nmax_connections = ${v}\n`, 2, ['max_connections', '--max-connections', 'expected a whole number', JSON.stringify(v)]);
    }
  });

  it('out of range', () => {
    expectAt('[syslog]\nmax_message_bytes = 479\n', 2, ['max_message_bytes', 'expected a number from 480 to 16777216', '"479"']);
    expectAt('[syslog]\n\nmax_message_bytes = 16777217\n', 3, ['max_message_bytes', 'from 480 to 16777216']);
    expectAt('[syslog]\nmax_connections = 0\n', 2, ['max_connections', 'from 1 to 65535']);
    expectAt('[syslog]\nframe_timeout = 86401\n', 2, ['frame_timeout', 'from 1 to 86400']);
    expectAt('[chain]\ncommit_delay_ms = 0\n', 2, ['commit_delay_ms', 'from 1 to 1000']);
    expectAt('[chain]\nqueue_high_water_bytes = 65535\n', 2, ['queue_high_water_bytes']);
    expectAt('[syslog]\nmax_connections = 99999999999999999999999999\n', 2, ['max_connections', 'from 1 to 65535']);
  });

  it('bad enum', () => {
    expectAt('[syslog]\nframing = octets\n', 2, ['framing', '--framing', 'one of auto, octet, lf, nul', '"octets"']);
    expectAt('[DEFAULT]\nlog_level = INFO\n', 2, ['log_level', 'one of error, warn, info, debug']);
  });

  it('bad HOST:PORT', () => {
    for (const v of ['127.0.0.1', '127.0.0.1:65536', '::1:5514', '[127.0.0.1]:5514', '[::1]5514', 'host:port', ':5514']) {
      expectAt(`[syslog]\ntcp = 127.0.0.1:601\nudp = 127.0.0.1:514, ${v}\n`, 3, ['udp', '--udp', 'HOST:PORT', JSON.stringify(v)]);
    }
  });

  it('bad CIDR names the bad item', () => {
    for (const v of ['10.0.0.0/33', '10.0.0/8', '::1/129', 'fe80::1%eth0', '10.0.0.0/', 'localhost', '10.0.0.0/8/8']) {
      expectAt(`[syslog]\nallow = 127.0.0.0/8, ${v}\n`, 2, ['allow', '--allow', 'network', JSON.stringify(v)]);
    }
  });

  it('duplicate key and duplicate section point at the repeat', () => {
    expectAt('[syslog]\nudp = 127.0.0.1:514\nmax_connections = 5\nudp = 127.0.0.1:515\n', 4, ['udp', 'set twice']);
    expectAt('[syslog]\nudp = 127.0.0.1:514\n[chain]\n[syslog]\ntcp = 127.0.0.1:601\n', 4, ['[syslog]', 'twice']);
  });

  it('malformed lines: no "=", an option before any section, an empty key', () => {
    expectAt('[syslog]\nudp 127.0.0.1:514\n', 2, ['expected "key = value"']);
    expectAt('udp = 127.0.0.1:514\n[syslog]\n', 1, ['before any [section]']);
    expectAt('[syslog]\n= 5\n', 2, ['expected "key = value"']);
    expectAt('[syslog\nudp = 127.0.0.1:514\n', 1, ['expected "key = value" or "[section]"']);
  });

  it('an empty data_dir and TLS listeners without a certificate are refused at their lines', () => {
    expectAt('[DEFAULT]\ndata_dir =\n', 2, ['data_dir', '--data-dir']);
    expectAt('[syslog]\ntls = 127.0.0.1:6514\ntls_key = /k.pem\n', 2, ['tls_cert', 'tls_key']);
    expectAt('[syslog]\nudp = 127.0.0.1:514\nrelp_tls = 127.0.0.1:2514\n', 3, ['relp_tls', 'tls_cert', 'tls_key']);
  });

  it('a flag error names the flag; no listener at all and an unreadable file have no line', () => {
    try {
      loadServeConfig({ flags: { 'max-message-bytes': '479' } });
      expect.fail('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).line).toBeUndefined();
      expect((e as ConfigError).message).toMatch(/^--max-message-bytes: option \[syslog\] max_message_bytes .*expected a number from 480/);
    }
    const none = errorOf('[syslog]\nudp =\ntcp =\n');
    expect(none.err.line).toBeUndefined();
    expect(none.err.message).toContain('no listener configured');
    try {
      loadServeConfig({ file: join(dir, 'does-not-exist.conf') });
      expect.fail('no error');
    } catch (e) {
      expect((e as ConfigError).code).toBe('CONFIG_INVALID');
      expect((e as ConfigError).message).toContain('cannot read the configuration file');
    }
  });

  it('property: the reported line is the bad line, whatever comments and blank lines come before it', () => {
    const filler = fc.constantFrom('', '   ', '# comment', '; comment', '#udp = 1.2.3.4:5', '\t');
    const badLine = fc.constantFrom(
      { text: 'max_connections = 0', mention: 'max_connections' },
      { text: 'framing = LF', mention: 'framing' },
      { text: 'nosuch = 1', mention: 'nosuch' },
      { text: 'udp = 127.0.0.1', mention: 'udp' },
      { text: 'allow = 10.0.0.0/40', mention: 'allow' },
    );
    fc.assert(
      fc.property(fc.array(filler, { maxLength: 8 }), fc.array(filler, { maxLength: 8 }), badLine, fc.boolean(), (before, after, bad, crlf) => {
        const lines = [...before, '[syslog]', ...after, bad.text, 'tcp = 127.0.0.1:601'];
        const { err, file } = errorOf(lines.join(crlf ? '\r\n' : '\n'));
        const line = before.length + after.length + 2;
        expect(err.line).toBe(line);
        expect(err.message.startsWith(`${file}:${line}: `)).toBe(true);
        expect(err.message).toContain(bad.mention);
      }),
      { numRuns: 150 },
    );
  });

  it('property: an int option takes exactly the whole numbers in its range', () => {
    const ints = OPTIONS.filter((o) => o.kind === 'int');
    const base = loadServeConfig({}) as unknown as Record<string, unknown>;
    fc.assert(
      fc.property(fc.constantFrom(...ints), fc.integer({ min: 0, max: 2 ** 33 }), (spec, v) => {
        const text = `[${spec.section}]\n${spec.name} = ${v}\n`;
        const inRange = v >= spec.min! && v <= spec.max!;
        if (inRange) {
          const cfg = loadServeConfig({ file: conf(text) }) as unknown as Record<string, unknown>;
          const field = CONFIG_KEYS[spec.name]!;
          expect(cfg[field]).toBe(v);
          // Nothing else moved.
          expect({ ...cfg, [field]: base[field] }).toEqual(base);
        } else {
          const { err } = errorOf(text);
          expect(err.line).toBe(2);
          expect(err.message).toContain(`from ${spec.min} to ${spec.max}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('immutalog serve with a bad configuration', () => {
  it('exits 2 and prints file:line on stderr', () => {
    const file = conf('[DEFAULT]\ndata_dir = /nonexistent/never-created\n[syslog]\nudp = 127.0.0.1:0\n\nmax_message_bytes = lots\n');
    const r = runCli(['serve', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:6: option [syslog] max_message_bytes (--max-message-bytes): expected a whole number, got "lots"`);
    expect(r.stdout).toBe('');
  });

  it('exits 2 for an unknown section, naming its line', () => {
    const file = conf('[DEFAULT]\n[syslogd]\nudp = 127.0.0.1:0\n');
    const r = runCli(['serve', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:2: unknown section [syslogd]`);
  });

  it('exits 2 for a bad flag, naming the flag', () => {
    const r = runCli(['serve', '--data-dir', join(dir, 'never'), '--udp', '127.0.0.1:0', '--allow', '10.0.0.0/99']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--allow: option [syslog] allow (--allow): expected a network like 127.0.0.0/8 or ::1/128, got "10.0.0.0/99"');
  });

  it('exits 2 for a missing config file', () => {
    const r = runCli(['serve', '--config', join(dir, 'missing.conf')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read the configuration file');
  });
});

describe('comments after a value (README, issue 11 item 3)', () => {
  it('are refused with the file line, never taken into the value (oslo.config would take them)', () => {
    const e1 = expectAt('[anchor]\ninterval = 3600            # one transaction per round\n', 2, ['interval', 'comment', '"# one transaction per round"', 'line of its own']);
    expect(e1.message).not.toContain('whole number');
    expectAt('[DEFAULT]\ndata_dir = /var/lib/immutalog   # state\n', 2, ['data_dir', '"# state"']);
    expectAt('[bitcoin]\nrpc_cookie_file = /var/lib/bitcoind/.cookie\t; readable by immutalog\n', 2, ['rpc_cookie_file', '"; readable by immutalog"']);
  });

  it('a "#" or ";" that is not after whitespace is part of the value; a quoted value keeps " #"', () => {
    const file = conf('[DEFAULT]\ndata_dir = /srv/log#1;a\n[bitcoin]\nrpc_url = http://127.0.0.1:8332\nrpc_user = u\nrpc_password = "p #w; d"\n');
    expect(loadServeConfig({ file })).toMatchObject({ dataDir: '/srv/log#1;a', bitcoinPassword: 'p #w; d' });
    expect(loadServeConfig({ file: conf("[DEFAULT]\ndata_dir = '/srv/a b'\n") }).dataDir).toBe('/srv/a b');
  });
});

describe('every INI block of the README loads', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  // Each ```ini block with the text before it; blocks that configure Tacker name their /etc/tacker file just before.
  const blocks = [...readme.matchAll(/([^\n]*)\n\n?```ini\n([\s\S]*?)```/g)].map((m) => ({ before: m[1]!, text: m[2]! }));

  it('finds the blocks (immutalog and Tacker ones)', () => {
    expect(blocks.filter((b) => !/\/etc\/tacker\//.test(b.before)).length).toBeGreaterThanOrEqual(2);
    expect(blocks.filter((b) => /\/etc\/tacker\//.test(b.before)).length).toBeGreaterThanOrEqual(3);
  });

  it('each immutalog block is a valid configuration (as a file, with a listener flag)', () => {
    for (const b of blocks.filter((x) => !/\/etc\/tacker\//.test(x.before))) {
      const file = conf(b.text);
      expect(() => loadServeConfig({ file, flags: { udp: '127.0.0.1:0' } }), b.text).not.toThrow();
      // No comment slipped into a value: every value is one the file states on its own.
      for (const [, section] of parseIni(b.text, file)) for (const [k, v] of section) expect(v.value, `${k} in\n${b.text}`).not.toMatch(/[#;]/);
    }
  });

  it('each Tacker block is INI that Python reads without inline comments in its values', () => {
    for (const b of blocks.filter((x) => /\/etc\/tacker\//.test(x.before))) {
      for (const [, section] of parseIni(b.text, 'README')) for (const [k, v] of section) expect(v.value, `${k} in\n${b.text}`).not.toMatch(/\s[#;]/);
    }
  });
});

describe('listener defaults (issue 11 item 10)', () => {
  it('hold only while no listener is given: --tcp alone binds no UDP, and so does a file naming tcp', () => {
    expect(loadServeConfig({ flags: { tcp: ['127.0.0.1:6000'] } })).toMatchObject({ udp: [], tcp: [{ host: '127.0.0.1', port: 6000 }], tls: [] });
    expect(loadServeConfig({ flags: { udp: ['127.0.0.1:6000'] } })).toMatchObject({ udp: [{ host: '127.0.0.1', port: 6000 }], tcp: [] });
    expect(loadServeConfig({ file: conf('[syslog]\ntcp = 127.0.0.1:6001\n') })).toMatchObject({ udp: [], tcp: [{ host: '127.0.0.1', port: 6001 }] });
    expect(loadServeConfig({ file: conf('[syslog]\ntls = 127.0.0.1:6514\ntls_cert = /c\ntls_key = /k\n') })).toMatchObject({ udp: [], tcp: [], tls: [{ host: '127.0.0.1', port: 6514 }] });
    expect(loadServeConfig({})).toMatchObject({ udp: [{ host: '127.0.0.1', port: 5514 }], tcp: [{ host: '127.0.0.1', port: 5514 }] });
  });

  it('RELP listeners (relp, relp_tls; --relp, --relp-tls) count as listeners: given alone, nothing else is bound', () => {
    expect(loadServeConfig({ flags: { relp: ['127.0.0.1:2514', '[::1]:2514'] } })).toMatchObject({ udp: [], tcp: [], tls: [], relp: [{ host: '127.0.0.1', port: 2514 }, { host: '::1', port: 2514 }], relpTls: [] });
    expect(loadServeConfig({ file: conf('[syslog]\nrelp_tls = 127.0.0.1:2515\ntls_cert = /c\ntls_key = /k\n') })).toMatchObject({ udp: [], tcp: [], relp: [], relpTls: [{ host: '127.0.0.1', port: 2515 }] });
  });
});

describe('the default configuration file (issue 11 item 4)', () => {
  it('is --config, else $IMMUTALOG_CONFIG (empty: none), else /etc/immutalog/immutalog.conf when it exists', () => {
    const yes = (): boolean => true;
    const no = (): boolean => false;
    expect(configFileFor('/x.conf', { IMMUTALOG_CONFIG: '/y.conf' }, yes)).toBe('/x.conf');
    expect(configFileFor(undefined, { IMMUTALOG_CONFIG: '/y.conf' }, no)).toBe('/y.conf');
    expect(configFileFor(undefined, { IMMUTALOG_CONFIG: '' }, yes)).toBeUndefined();
    expect(configFileFor(undefined, {}, yes)).toBe(DEFAULT_CONFIG_FILE);
    expect(configFileFor(undefined, {}, no)).toBeUndefined();
    expect(DEFAULT_CONFIG_FILE).toBe('/etc/immutalog/immutalog.conf');
  });

  it('is kept away from the tests: test/vitest.config.ts sets IMMUTALOG_CONFIG empty for every test and the daemons they start', () => {
    expect(process.env.IMMUTALOG_CONFIG).toBe('');
  });

  it('every command takes its data_dir from it without --config; --help says so', () => {
    const logDir = join(dir, 'from-default-conf');
    const file = conf(`[DEFAULT]\ndata_dir = ${logDir}\n`);
    const env = { IMMUTALOG_CONFIG: file };
    const init = runCliEnv(['keys', 'init'], env);
    expect(init.code, init.stderr).toBe(0);
    const st = runCliEnv(['status', '--json'], env);
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).data_dir).toBe(logDir);
    expect(runCliEnv(['query'], env).code).toBe(0);
    const v = runCliEnv(['verify', '--since', '1h'], env);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    // No file at all (as on a fresh clone): the embedded ./data, relative to the working directory.
    const bare = runCliEnv(['status'], { IMMUTALOG_CONFIG: '' }, dir);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain(join('data', 'immutalog.sqlite'));
    const help = runCli(['--help']).stdout + runCli(['status', '--help']).stdout + runCli(['serve', '--help']).stdout;
    expect(help.match(/\/etc\/immutalog\/immutalog\.conf when it exists/g)?.length).toBeGreaterThanOrEqual(3);
  });
});

function runCliEnv(args: string[], env: Record<string, string>, cwd?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, ...(cwd ? { cwd } : {}) });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}
