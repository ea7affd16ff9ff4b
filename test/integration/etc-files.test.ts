// Every file in etc/, used AS IT IS (never rewritten) by the real client it is written for:
//  - etc/tacker/logging-udp.conf and logging-tcp.conf: real oslo.log (Debian python3-oslo.log
//    under /usr/bin/python3, set up exactly as Tacker does) with a tacker.conf whose only line is
//    `log_config_append = <repo>/etc/tacker/logging-*.conf`;
//  - etc/tacker/tacker.conf.sample: read by oslo.config (the emitter's CONF);
//  - etc/rsyslog.d/60-tacker-immutalog.conf: include()d verbatim by a private rsyslogd, fed by
//    util-linux logger;
//  - etc/immutalog.conf: `immutalog serve --config etc/immutalog.conf`;
//  - etc/sysctl.d/60-immutalog.conf: read by procps `sysctl --dry-run -p` (nothing written: the
//    setting is the host's, not the test's).
// The files name 127.0.0.1:5514, so immutalog listens there (and only there): a busy port is a
// failure that says so, never a silent switch to another port. Test files run in parallel, so
// the port is held under a cross-process lock (test/clients/etc-port.ts) for this whole file.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, runCli, settledEntries, startDaemon, tempDataDir, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { CLIENTS_DIR, SYSTEM_PYTHON, requireExecutable, run, stopDaemonAndClean } from '../clients/proc.js';
import { UDP_RECV_BUFFER_BYTES } from '../../src/receive/udp.js';
import {
  CTX, LOCAL0, OSLO_EMIT, SCRIPT, expectedOsloFields, expectedContextText, osloTime, priOf, pythonSyslogBytes, runOsloEmitter, type EmittedRecord, type Sidecar,
} from '../clients/oslo.js';
import { escapeRegExp, logger, loggerHost, loggerMessageRe, RFC3339_US, TIME_QUALITY } from '../clients/logger.js';
import { startSnippetRsyslogd, validateRsyslogConfig, writeSnippetWrapper, type SnippetRsyslogd } from '../clients/etc-rsyslog.js';
import { ETC_HOST, ETC_PORT, assertEtcPortFree, lockEtcPort } from '../clients/etc-port.js';
import { needClients } from '../clients/available.js';

const oslo = needClients('python3-oslo.log');
/** The snippet is include()d by a private rsyslogd, fed by logger. */
const rsyslog = needClients('rsyslog', 'logger');
const loggerClient = needClients('logger');
const sysctl = needClients('sysctl');

const ETC = join(REPO_ROOT, 'etc');
const LOGGING_UDP = join(ETC, 'tacker', 'logging-udp.conf');
const LOGGING_TCP = join(ETC, 'tacker', 'logging-tcp.conf');
const TACKER_SAMPLE = join(ETC, 'tacker', 'tacker.conf.sample');
const RSYSLOG_SNIPPET = join(ETC, 'rsyslog.d', '60-tacker-immutalog.conf');
const IMMUTALOG_CONF = join(ETC, 'immutalog.conf');
const SYSCTL_CONF = join(ETC, 'sysctl.d', '60-immutalog.conf');
const SYSCTL = '/usr/sbin/sysctl';
const ETC_OSLO_CONF = join(CLIENTS_DIR, 'etc_oslo_conf.py');
const PY_ENV = { PATH: '/usr/bin:/bin', TZ: 'UTC', LC_ALL: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1', PYTHONNOUSERSITE: '1' };
const ADDR = `${ETC_HOST}:${ETC_PORT}`;

const raw = (e: QueriedEntry): Buffer => Buffer.from(e.raw, 'base64');
const latin1 = (e: QueriedEntry): string => raw(e).toString('latin1');
const countLf = (b: Buffer): number => b.reduce((n, c) => n + (c === 0x0a ? 1 : 0), 0);

let tmp: string;
let release: (() => void) | undefined;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-etc-files-'));
  release = await lockEtcPort('test/integration/etc-files.test.ts');
});
afterAll(() => {
  release?.();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** immutalog on exactly 127.0.0.1:5514, UDP and TCP (what the files name), nothing else. */
async function serveOnEtcPort(args = ['--udp', ADDR, '--tcp', ADDR], dataDir?: string): Promise<RunningDaemon> {
  await assertEtcPortFree();
  const d = await startDaemon({ args, ...(dataDir ? { dataDir } : {}) });
  const ls = d.status().listeners.map((l: any) => [l.name, l.transport, l.port]);
  expect(ls).toEqual([[`udp://${ADDR}`, 'udp', ETC_PORT], [`tcp://${ADDR}`, 'tcp', ETC_PORT]]);
  return d;
}

/** A tacker.conf whose only line is log_config_append = <the etc/ file, unchanged>. */
function tackerConf(dir: string, loggingConf: string, extra: string[] = []): string {
  mkdirSync(dir, { recursive: true });
  const f = join(dir, 'tacker.conf');
  writeFileSync(f, ['[DEFAULT]', `log_config_append = ${loggingConf}`, ...extra, ''].join('\n'));
  return f;
}

/** The records the files' `[logger_root] level = INFO` lets through: the script without its DEBUG record. */
function infoAndAbove(n: number): { id: string; level: string; logger: string }[] {
  return SCRIPT.slice(0, n).filter((s) => s.level !== 'DEBUG');
}

function expectOsloEntry(e: QueriedEntry, r: EmittedRecord, s: Sidecar, transport: 'udp' | 'tcp'): void {
  const pri = priOf(r, LOCAL0);
  const wire = pythonSyslogBytes(pri, expectedContextText(r));
  // UDP: the datagram is stored whole, NUL included. TCP: the NUL is the frame terminator.
  const want = transport === 'udp' ? wire : wire.subarray(0, wire.length - 1);
  expect(e.transport, r.id).toBe(transport);
  expect(e.listener, r.id).toBe(`${transport}://${ADDR}`);
  expect(e.flags, r.id).toBe(0);
  expect(e.peer, r.id).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(latin1(e), r.id).toBe(want.toString('latin1'));
  expect([e.fields.fmt, e.fields.pri, e.fields.facility, e.fields.severity], r.id).toEqual(['bare', pri, LOCAL0, pri & 7]);
  expect(e.fields.oslo, r.id).toEqual(expectedOsloFields(r, s, 'context'));
}

/** LOG.exception(): ONE entry holding the whole chained traceback, one LF per traceback line. */
function expectTracebackEntry(e: QueriedEntry, r: EmittedRecord, s: Sidecar): void {
  expect(r.id).toBe('R04');
  const tbLines = r.exc_lines!.join('').split('\n').length;
  expect(tbLines).toBeGreaterThan(10);
  expect(countLf(raw(e))).toBe(tbLines);
  const prefix = `${osloTime(r)} ${s.pid} ERROR tacker.vnfm.plugin `;
  expect(raw(e).toString('utf8')).toContain(`\n${prefix}The above exception was the direct cause of the following exception:\n`);
  expect(raw(e).toString('utf8')).toContain(`${prefix}RuntimeError: VNF `);
}

oslo.describe(`etc/tacker/logging-udp.conf, unchanged: oslo.log -> SysLogHandler UDP -> immutalog on ${ADDR}/udp`, () => {
  let d: RunningDaemon | undefined;
  let rows: QueriedEntry[] = [];
  let side: Sidecar;
  let conf: string;
  beforeAll(async () => {
    d = await serveOnEtcPort();
    conf = tackerConf(join(tmp, 'udp'), LOGGING_UDP);
    side = (await runOsloEmitter(conf, join(tmp, 'udp', 'sidecar.json'))).sidecar;
    rows = await settledEntries(d, 6);
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('tacker.conf holds nothing but log_config_append = <repo>/etc/tacker/logging-udp.conf', () => {
    expect(readFileSync(conf, 'utf8')).toBe(`[DEFAULT]\nlog_config_append = ${LOGGING_UDP}\n`);
  });

  it('stores the 6 records at INFO and above (root level INFO drops DEBUG), in order, byte-exact as <PRI>text\\0, oslo fields parsed', () => {
    expect(side.records.map((r) => [r.id, r.levelname, r.name])).toEqual(infoAndAbove(7).map((x) => [x.id, x.level, x.logger]));
    expect(rows.length).toBe(6);
    rows.forEach((e, i) => expectOsloEntry(e, side.records[i]!, side, 'udp'));
    // local0: INFO 134, WARNING 132, ERROR 131.
    expect(rows.map((e) => latin1(e).slice(0, 5))).toEqual(['<134>', '<132>', '<131>', '<134>', '<134>', '<134>']);
    expect(rows.every((e) => raw(e)[raw(e).length - 1] === 0)).toBe(true);
    expectTracebackEntry(rows[2]!, side.records[2]!, side);
    expect(rows[5]!.fields.oslo.request_id).toBe(CTX.request_id);
  });

  it('query selects by request id, level and logger', () => {
    const seqs = (args: string[]): number[] => {
      const r = runCli(['query', '--data-dir', d!.dataDir, '--json', ...args]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).seq);
    };
    expect(seqs(['--request-id', CTX.request_id])).toEqual([rows[5]!.seq]);
    expect(seqs(['--level', 'ERROR'])).toEqual([rows[2]!.seq]);
    expect(seqs(['--logger', 'tacker.nfvo'])).toEqual([rows[1]!.seq, rows[4]!.seq]);
  });

  it("the file's caveat holds: Python's UDP handler loses a record over 65,507 bytes (and reports it), the others still arrive", async () => {
    const before = rows[rows.length - 1]!.seq;
    const r = await run(SYSTEM_PYTHON, [OSLO_EMIT, '--config-file', conf, '--sidecar', join(tmp, 'udp', 'big.json'), '--big', '70000'], { env: PY_ENV, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('--- Logging error ---');
    expect(r.stderr).toMatch(/OSError: \[Errno 90\] Message too long/);
    const big = JSON.parse(readFileSync(join(tmp, 'udp', 'big.json'), 'utf8')) as Sidecar;
    expect(big.records.map((x) => x.id)).toEqual(infoAndAbove(8).map((x) => x.id));
    const more = await settledEntries(d!, 6, { after: before });
    expect(more.length).toBe(6);
    more.forEach((e, i) => expectOsloEntry(e, big.records[i]!, big, 'udp'));
  });
});

oslo.describe(`etc/tacker/logging-tcp.conf, unchanged: oslo.log -> SysLogHandler TCP (NUL-framed) -> immutalog on ${ADDR}/tcp`, () => {
  let d: RunningDaemon | undefined;
  let rows: QueriedEntry[] = [];
  let side: Sidecar;
  beforeAll(async () => {
    // The TCP handler connects when fileConfig builds it: immutalog must be up first.
    d = await serveOnEtcPort();
    const conf = tackerConf(join(tmp, 'tcp'), LOGGING_TCP);
    side = (await runOsloEmitter(conf, join(tmp, 'tcp', 'sidecar.json'), { big: 20_000 })).sidecar;
    rows = await settledEntries(d, 7);
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('stores one entry per record (7, the DEBUG one dropped by the file), byte-exact as <PRI>text, the NUL terminator removed', () => {
    expect(side.records.map((r) => [r.id, r.levelname, r.name])).toEqual(infoAndAbove(8).map((x) => [x.id, x.level, x.logger]));
    expect(rows.length).toBe(7);
    rows.forEach((e, i) => expectOsloEntry(e, side.records[i]!, side, 'tcp'));
    expect(rows.every((e) => !raw(e).includes(0))).toBe(true);
    // The ~20 KB record is whole and untruncated.
    expect(raw(rows[6]!).length).toBeGreaterThan(20_000);
    expect(rows[6]!.fields.oslo.request_id).toBe(CTX.request_id);
  });

  it('the traceback record is ONE entry with every line of the chained traceback', () => {
    expectTracebackEntry(rows[2]!, side.records[2]!, side);
    // Embedded LF and TAB of another record also stay inside its one entry.
    expect(raw(rows[4]!).toString('utf8')).toContain('VIM registration result:\n  vim_id: a1b2c3d4-e5f6-4711-8899-aabbccddeeff\n\tstatus: REACHABLE\nend of report');
  });

  it('all came over one connection, closed cleanly: 7 frames, none incomplete', async () => {
    expect(new Set(rows.map((e) => e.peer)).size).toBe(1);
    const st = await waitFor(() => d!.status(), (s) => s?.listeners.find((l: any) => l.transport === 'tcp')?.counters.received === 7, 5000);
    expect(st.listeners.find((l: any) => l.transport === 'tcp').counters).toMatchObject({ received: 7, incomplete: 0, truncated: 0, emptyFrames: 0 });
    expect(st.listeners.find((l: any) => l.transport === 'udp').counters.received).toBe(0);
  });
});

oslo.describe("etc/tacker/logging-tcp.conf's caveat: with nothing on the port, oslo.log setup fails (Tacker will not start)", () => {
  it('logging.setup raises LogConfigError: connection refused', async () => {
    await assertEtcPortFree();
    const conf = tackerConf(join(tmp, 'tcp-down'), LOGGING_TCP);
    const r = await run(SYSTEM_PYTHON, [OSLO_EMIT, '--config-file', conf, '--sidecar', join(tmp, 'tcp-down', 'sidecar.json')], { env: PY_ENV, timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`oslo_log.log.LogConfigError: Error loading logging config ${LOGGING_TCP}: [Errno 111] Connection refused`);
    expect(existsSync(join(tmp, 'tcp-down', 'sidecar.json'))).toBe(false);
  });
});

oslo.describe('etc/tacker/tacker.conf.sample, read by oslo.config as Tacker reads tacker.conf', () => {
  /** What oslo.config makes of the files (see test/clients/etc_oslo_conf.py). */
  async function parse(...files: string[]): Promise<{ config_file: string[]; values: Record<string, any>; non_default: Record<string, any>; unknown: string[] }> {
    const r = await run(SYSTEM_PYTHON, [ETC_OSLO_CONF, ...files.flatMap((f) => ['--config-file', f])], { env: PY_ENV, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`oslo.config could not read ${files.join(', ')}: ${r.stderr}`);
    return JSON.parse(r.stdout.toString('utf8'));
  }

  it('(a), as shipped: parses, sets log_config_append = /etc/tacker/logging.conf and nothing else', async () => {
    const c = await parse(TACKER_SAMPLE);
    expect(c.config_file).toEqual([TACKER_SAMPLE]);
    expect(c.unknown).toEqual([]);
    expect(c.non_default).toEqual({ config_file: [TACKER_SAMPLE], log_config_append: '/etc/tacker/logging.conf' });
    // (b) is commented out as shipped.
    expect([c.values.use_syslog, c.values.syslog_log_facility]).toEqual([false, 'LOG_USER']);
  });

  it('(a)\'s path is the one both etc/tacker/logging-*.conf say to install themselves as', () => {
    // The sample names /etc/tacker/logging.conf, which a test cannot create: what is tested with
    // oslo.log end to end (above) is the repo's logging-*.conf through log_config_append.
    for (const f of [LOGGING_UDP, LOGGING_TCP]) {
      const text = readFileSync(f, 'utf8');
      expect(text).toContain('# Install this file as /etc/tacker/logging.conf and set, in /etc/tacker/tacker.conf:\n');
      expect(text).toContain('#   [DEFAULT] log_config_append = /etc/tacker/logging.conf\n');
    }
  });

  it('(b), done as the sample says (comment out (a), uncomment (b)): use_syslog = True, LOG_LOCAL0, no log_config_append', async () => {
    const text = readFileSync(TACKER_SAMPLE, 'utf8');
    const b = text
      .replace(/^log_config_append = /m, '# log_config_append = ')
      .replace(/^# \[DEFAULT\]$/m, '[DEFAULT]')
      .replace(/^# use_syslog = True$/m, 'use_syslog = True')
      .replace(/^# syslog_log_facility = LOG_LOCAL0$/m, 'syslog_log_facility = LOG_LOCAL0');
    expect(b.split('\n').filter((l, i) => l !== text.split('\n')[i]).length).toBe(4);
    const f = join(tmp, 'tacker-b.conf');
    writeFileSync(f, b);
    const c = await parse(f);
    expect(c.unknown).toEqual([]);
    expect(c.non_default).toEqual({ config_file: [f], use_syslog: true, syslog_log_facility: 'LOG_LOCAL0' });
    // The facility the rsyslog snippet filters on.
    expect(readFileSync(RSYSLOG_SNIPPET, 'utf8')).toContain('$syslogfacility-text == "local0"');
  });

  describe("(a)'s comment: with log_config_append, oslo.log ignores use_syslog, syslog_log_facility, use_json, log_file and debug; logging_*_format_string still apply", () => {
    let d: RunningDaemon | undefined;
    beforeAll(async () => {
      d = await serveOnEtcPort();
    });
    afterAll(async () => {
      if (d) expect(await stopDaemonAndClean(d)).toBe(0);
    });

    it('records still go to logging-udp.conf\'s handler at local0, INFO and up, in the configured format strings; no log file', async () => {
      const dir = join(tmp, 'ignored');
      const logFile = join(dir, 'tacker.log');
      const conf = tackerConf(dir, LOGGING_UDP, [
        'debug = True',
        'use_syslog = True',
        'syslog_log_facility = LOG_LOCAL5',
        'use_json = True',
        `log_file = ${logFile}`,
        'logging_default_format_string = DEFAULTFMT %(levelname)s %(name)s %(message)s',
        'logging_context_format_string = CONTEXTFMT %(levelname)s %(name)s [%(request_id)s] %(message)s',
      ]);
      const c = await parse(conf);
      expect(c.non_default).toMatchObject({ debug: true, use_syslog: true, syslog_log_facility: 'LOG_LOCAL5', use_json: true, log_file: logFile });
      const { sidecar } = await runOsloEmitter(conf, join(dir, 'sidecar.json'));
      expect(sidecar.records.map((r) => r.id)).toEqual(infoAndAbove(7).map((x) => x.id));
      const rows = await settledEntries(d!, 6);
      expect(rows.length).toBe(6);
      rows.forEach((e, i) => {
        const r = sidecar.records[i]!;
        const head = `<${priOf(r, LOCAL0)}>`;
        const fmt = r.context ? `CONTEXTFMT ${r.levelname} ${r.name} [${CTX.request_id}] ` : `DEFAULTFMT ${r.levelname} ${r.name} `;
        expect(raw(e).toString('utf8').startsWith(`${head}${fmt}${r.message}`), `${r.id}: ${JSON.stringify(raw(e).toString('utf8').slice(0, 200))}`).toBe(true);
      });
      expect(existsSync(logFile)).toBe(false);
    });
  });
});

/** What rsyslog forwards for `logger --rfc5424 -p local0.info -t TAG -- MSG` with the snippet's template. */
function forwardedRe(tag: string, msg: string): RegExp {
  return new RegExp(`^<134>1 (${RFC3339_US}) ${escapeRegExp(loggerHost('rfc5424'))} ${escapeRegExp(tag)} - - (${TIME_QUALITY}) ${escapeRegExp(msg)}\\n$`);
}

async function sendToRsyslog(rs: SnippetRsyslogd, priority: string, tag: string, msg: string, extra: string[] = []): Promise<void> {
  await logger(['--server', '127.0.0.1', '--port', String(rs.tcpPort), '--tcp', '--octet-count', '--rfc5424', '-p', priority, '-t', tag, ...extra], { message: msg });
}

rsyslog.describe(`etc/rsyslog.d/60-tacker-immutalog.conf, include()d unchanged by a private rsyslogd -> immutalog on ${ADDR}/tcp`, () => {
  let d: RunningDaemon | undefined;
  let rs: SnippetRsyslogd | undefined;
  const dir = (): string => join(tmp, 'rsyslog');
  beforeAll(async () => {
    d = await serveOnEtcPort();
    rs = await startSnippetRsyslogd({ dir: dir(), snippet: RSYSLOG_SNIPPET });
  });
  afterAll(async () => {
    await rs?.stop();
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('rsyslogd -N1 accepts the wrapper that includes the file', async () => {
    const conf = readFileSync(rs!.conf, 'utf8');
    expect(conf).toContain(`include(file="${RSYSLOG_SNIPPET}")`);
    expect(conf).not.toMatch(/omfwd/);
    const r = await validateRsyslogConfig(rs!.conf);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout.toString()).toContain('End of config validation run');
    expect(r.stderr + r.stdout.toString()).not.toMatch(/error|warning|invalid|unknown|not permitted/i);
  });

  it('forwards local0 from tacker-* programs only, as octet-counted RFC 5424 frames stored with app = the program', async () => {
    await sendToRsyslog(rs!, 'local0.info', 'tacker-server', 'VNF 6b0c5a2e instantiation started');
    // Not forwarded: another facility, another program, a program that is "tacker" without the dash.
    await sendToRsyslog(rs!, 'local1.info', 'tacker-server', 'NOT-FORWARDED local1 from tacker-server');
    await sendToRsyslog(rs!, 'local0.info', 'nova-api', 'NOT-FORWARDED local0 from nova-api');
    await sendToRsyslog(rs!, 'local0.info', 'tacker', 'NOT-FORWARDED local0 from tacker');
    await sendToRsyslog(rs!, 'local0.err', 'tacker-conductor', 'VNF 6b0c5a2e instantiation failed');
    const rows = await settledEntries(d!, 2);
    expect(rows.length, `stored: ${rows.map(latin1).join(' | ')}\nrsyslogd saw:\n${rs!.allLog()}`).toBe(2);
    const m0 = forwardedRe('tacker-server', 'VNF 6b0c5a2e instantiation started').exec(latin1(rows[0]!));
    expect(m0, latin1(rows[0]!)).not.toBeNull();
    expect(latin1(rows[1]!)).toMatch(new RegExp(forwardedRe('tacker-conductor', 'VNF 6b0c5a2e instantiation failed').source.replace('^<134>', '^<131>')));
    for (const [e, app, pri] of [[rows[0]!, 'tacker-server', 134], [rows[1]!, 'tacker-conductor', 131]] as const) {
      expect(e.transport).toBe('tcp');
      expect(e.listener).toBe(`tcp://${ADDR}`);
      expect(e.flags).toBe(0);
      expect([e.fields.fmt, e.fields.app, e.fields.pri, e.fields.facility, e.fields.host]).toEqual(['rfc5424', app, pri, LOCAL0, loggerHost('rfc5424')]);
    }
    expect(rows[0]!.fields.ts).toBe(m0![1]);
    // rsyslogd did receive the three it did not forward.
    const all = rs!.allLog();
    for (const s of ['NOT-FORWARDED local1 from tacker-server', 'NOT-FORWARDED local0 from nova-api', 'NOT-FORWARDED local0 from tacker']) expect(all).toContain(s);
    // The frames were octet-counted: the TCP listener saw exactly 2, none incomplete.
    const st = await waitFor(() => d!.status(), (s) => s?.listeners.find((l: any) => l.transport === 'tcp')?.counters.received === 2, 5000);
    expect(st.listeners.find((l: any) => l.transport === 'tcp').counters).toMatchObject({ received: 2, incomplete: 0, truncated: 0 });
  });

  it("rsyslogd's own messages are not forwarded, and it logged no error", () => {
    expect(query(d!.dataDir).length).toBe(2);
    expect(rs!.allLog()).toContain('] start');
    expect(rs!.allLog()).not.toMatch(/error|suspended/i);
    // The snippet's disk-assisted queue works in the wrapper's work directory.
    expect(existsSync(join(dir(), 'work'))).toBe(true);
  });
});

rsyslog.describe("etc/rsyslog.d/60-tacker-immutalog.conf with the global() its comment recommends: tracebacks and long records intact", () => {
  const GLOBAL = 'global(maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off")';
  let d: RunningDaemon | undefined;
  let rs: SnippetRsyslogd | undefined;
  beforeAll(async () => {
    expect(readFileSync(RSYSLOG_SNIPPET, 'utf8')).toContain(`#   ${GLOBAL}\n`);
    d = await serveOnEtcPort();
    const conf = writeSnippetWrapper({ dir: join(tmp, 'rsyslog-64k'), snippet: RSYSLOG_SNIPPET, globalLine: GLOBAL });
    const v = await validateRsyslogConfig(conf);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).not.toMatch(/error|warning/i);
    rs = await startSnippetRsyslogd({ dir: join(tmp, 'rsyslog-64k'), snippet: RSYSLOG_SNIPPET, globalLine: GLOBAL });
  });
  afterAll(async () => {
    await rs?.stop();
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('a multi-line record keeps its raw LFs and a 20,000-byte record arrives whole, each in one entry', async () => {
    const multi = 'Traceback (most recent call last):\n  File "tacker/vnfm/plugin.py", line 1, in x\nRuntimeError: VNF aborted';
    const long = 'L'.repeat(20_000);
    await sendToRsyslog(rs!, 'local0.err', 'tacker-server', multi);
    await sendToRsyslog(rs!, 'local0.info', 'tacker-server', long, ['--size', '65536']);
    const rows = await settledEntries(d!, 2);
    expect(rows.length).toBe(2);
    expect(latin1(rows[0]!)).toMatch(new RegExp(forwardedRe('tacker-server', multi).source.replace('^<134>', '^<131>')));
    expect(countLf(raw(rows[0]!))).toBe(3);
    expect(latin1(rows[1]!)).toMatch(forwardedRe('tacker-server', long));
    expect(rows.every((e) => e.flags === 0 && e.fields.app === 'tacker-server')).toBe(true);
  });
});

describe('etc/immutalog.conf, unchanged: serve --config etc/immutalog.conf runs on the embedded defaults', () => {
  let d: RunningDaemon | undefined;
  beforeAll(async () => {
    // Every option but the installed data_dir is commented out (--data-dir overrides that one here).
    const text = readFileSync(IMMUTALOG_CONF, 'utf8');
    expect(text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#') && !/^\[\w+\]$/.test(l))).toEqual(['data_dir = /var/lib/immutalog']);
    d = await serveOnEtcPort(['--config', IMMUTALOG_CONF], tempDataDir());
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it(`listens on the default ${ADDR} UDP and TCP only; no TLS, no metrics, no anchoring`, () => {
    const s = d!.status();
    expect(s.listeners.map((l: any) => l.name)).toEqual([`udp://${ADDR}`, `tcp://${ADDR}`]);
    expect(s.metrics_port ?? null).toBeNull();
    expect(s.anchor).toBeNull();
    expect(d!.stderr()).toContain('anchoring is off');
  });

  it('warns about the UDP receive buffer exactly when net.core.rmem_max is below what it asks for', () => {
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    const warned = d!.stderr().split('\n').filter((l) => l.includes('receive buffer'));
    if (rmemMax < UDP_RECV_BUFFER_BYTES) {
      expect(warned).toHaveLength(1);
      expect(warned[0]).toContain(`udp://${ADDR}: receive buffer ${+(rmemMax / 1048576).toFixed(2)} MiB, expected 32 MiB`);
      expect(warned[0]).toContain('etc/sysctl.d/60-immutalog.conf');
    } else {
      expect(warned).toEqual([]);
    }
  });

  loggerClient.it('stores what logger sends to the default port over UDP and TCP', async () => {
    await logger(['--server', ETC_HOST, '--port', String(ETC_PORT), '--udp', '--rfc5424', '-p', 'local0.info', '-t', 'tacker-server'], { message: 'defaults over udp' });
    await logger(['--server', ETC_HOST, '--port', String(ETC_PORT), '--tcp', '--octet-count', '--rfc5424', '-p', 'local0.info', '-t', 'tacker-server'], { message: 'defaults over tcp' });
    const rows = await settledEntries(d!, 2);
    expect(rows.length).toBe(2);
    const byTransport = new Map(rows.map((e) => [e.transport, e]));
    for (const t of ['udp', 'tcp']) {
      const e = byTransport.get(t)!;
      expect(latin1(e)).toMatch(loggerMessageRe('rfc5424', 'tacker-server', 134, `defaults over ${t}`));
      expect([e.listener, e.flags, e.fields.fmt, e.fields.app]).toEqual([`${t}://${ADDR}`, 0, 'rfc5424', 'tacker-server']);
    }
  });
});

sysctl.describe('etc/sysctl.d/60-immutalog.conf, read by procps sysctl', () => {
  it('sets net.core.rmem_max to the receive buffer the UDP listeners ask for, and nothing else', async () => {
    requireExecutable(SYSCTL, 'procps');
    const r = await run(SYSCTL, ['--dry-run', '-p', SYSCTL_CONF]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`net.core.rmem_max = ${UDP_RECV_BUFFER_BYTES}\n`);
  });
});
