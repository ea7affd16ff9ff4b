// A private rsyslogd relaying to immutalog with the forwarding action of notes §8.4:
// omfwd TCP, TCP_Framing="octet-counted", template="RSYSLOG_SyslogProtocol23Format".
// Fed by util-linux logger (to its imudp and imtcp ports) and by real oslo.log (Python
// SysLogHandler over UDP to its imudp port).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { query, settledEntries, startDaemon, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { stopDaemonAndClean } from '../clients/proc.js';
import { bytesOf, escapeRegExp, logger, loggerHost, requireLogger, RFC3339_US, TIME_QUALITY } from '../clients/logger.js';
import { LOCAL0, SCRIPT, emitOslo, expectedContextText, priOf, requireOslo, type Sidecar } from '../clients/oslo.js';
import { requireRsyslog, rsyslogEscape, startRsyslogd, type PrivateRsyslogd } from '../clients/rsyslog.js';
import { needClients } from '../clients/available.js';

/** Every test here runs a private rsyslogd, fed by logger and oslo.log. */
const clients = needClients('rsyslog', 'logger', 'python3-oslo.log');

const TAG = 'tacker-server';
const COMMON = ['-t', TAG, '-p', 'local0.info'];
const MULTI = 'VIM registration result:\n  vim_id: a1b2c3d4\nend of report';
const STDIN_LINES = ['tacker-server started on 0.0.0.0:9890', "Onboarded VNF package '\u30d1\u30c3\u30b1\u30fc\u30b8' \u2713 \u{1F680}", 'tab\there'];
/** rsyslog turns an RFC 3164 timestamp into RFC 3339 without fraction (TZ=UTC for rsyslogd). */
const RFC3339_S = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\+00:00';

const raw = (e: QueriedEntry): Buffer => Buffer.from(e.raw, 'base64');
const latin1 = (e: QueriedEntry): string => raw(e).toString('latin1');

let tmp: string;
beforeAll(() => {
  requireRsyslog();
  requireLogger();
  requireOslo();
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-real-rsyslog-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Waits until the log holds `total` entries, then a little longer so an extra one would show. */
async function upTo(d: RunningDaemon, total: number, rs: PrivateRsyslogd): Promise<QueriedEntry[]> {
  const rows = await settledEntries(d, total);
  if (rows.length < total) throw new Error(`immutalog has ${rows.length} of ${total} entries; rsyslogd said:\n${rs.internalLog()}${rs.output()}`);
  return rows;
}

/** An octet-counted RFC 5424 frame as rsyslog forwards a logger RFC 3164 message: MSG keeps its leading space. */
function fromLogger3164(msgOnWire: Buffer): RegExp {
  return new RegExp(`^<134>1 (${RFC3339_S}) ${escapeRegExp(loggerHost('rfc3164'))} ${TAG} - - -  ${escapeRegExp(msgOnWire.toString('latin1'))}\\n$`);
}

function expectForwarded(e: QueriedEntry, re: RegExp, app: string, label: string): RegExpExecArray {
  const m = re.exec(latin1(e));
  expect(m, `${label}: ${JSON.stringify(latin1(e))}`).not.toBeNull();
  expect(e.transport, label).toBe('tcp');
  expect(e.flags, label).toBe(0);
  expect(e.fields.fmt, label).toBe('rfc5424');
  expect(e.fields.app, label).toBe(app);
  expect(e.fields.ts, label).toBe(m![1]);
  expect([e.fields.procid, e.fields.msgid], label).toEqual([null, null]);
  return m!;
}

/**
 * What rsyslog makes of Python's `<PRI>2026-11-26 13:51:03.626 1234 INFO ...\0` on imudp: no
 * RFC 3164 timestamp, so the date is taken as HOSTNAME and `13:` (the hour) as TAG; MSG is the
 * rest (`51:03.626 ...`, no leading space), the trailing NUL is dropped and the timestamp is
 * the reception time. Returns the expected frame (with the template's LF) given that time.
 */
function expectedOsloViaRsyslog(text: string, pri: number, ts: string, escape: boolean): Buffer {
  expect(text).toMatch(/^\d{4}-\d\d-\d\d \d\d:/);
  const msg = Buffer.from(text.slice(14), 'utf8');
  return Buffer.concat([Buffer.from(`<${pri}>1 ${ts} ${text.slice(0, 10)} ${text.slice(11, 13)} - - - `, 'latin1'), escape ? rsyslogEscape(msg) : msg, Buffer.from('\n')]);
}

function checkOsloRun(rows: QueriedEntry[], side: Sidecar, escape: boolean): void {
  expect(side.records.map((r) => r.id)).toEqual(SCRIPT.slice(0, 7).map((s) => s.id));
  expect(rows.length).toBe(7);
  rows.forEach((e, i) => {
    const r = side.records[i]!;
    const text = expectedContextText(r);
    const pri = priOf(r, LOCAL0);
    const m = new RegExp(`^<${pri}>1 (${RFC3339_US}) `).exec(latin1(e));
    expect(m, `${r.id}: ${JSON.stringify(latin1(e))}`).not.toBeNull();
    const want = expectedOsloViaRsyslog(text, pri, m![1]!, escape);
    expect(latin1(e), r.id).toBe(want.toString('latin1'));
    expect(e.flags, r.id).toBe(0);
    expect([e.fields.fmt, e.fields.pri, e.fields.host, e.fields.app], r.id).toEqual(['rfc5424', pri, text.slice(0, 10), text.slice(11, 13)]);
    // The oslo text is all there: HOSTNAME + " " + APP-NAME + ":" + MSG. (fields.oslo is not
    // asserted: MSG starts `mm:ss.mmm`, a shape the README's Parsing section does not cover.)
    const msg = raw(e).subarray(raw(e).indexOf(' - - - ') + 7, raw(e).length - 1);
    const unescaped = escape ? msg.toString('utf8').replace(/#([0-3][0-7]{2})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : msg.toString('utf8');
    expect(`${e.fields.host} ${e.fields.app}:${unescaped}`, r.id).toBe(text);
  });
}

clients.describe('rsyslog (stock escaping) -> omfwd octet-counted RFC 5424 -> immutalog', () => {
  let d: RunningDaemon | undefined;
  let rs: PrivateRsyslogd | undefined;
  beforeAll(async () => {
    d = await startDaemon();
    rs = await startRsyslogd({ dir: join(tmp, 'stock'), forwardPort: d.tcpPort });
  });
  afterAll(async () => {
    await rs?.stop();
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('logger --udp --rfc3164 to imudp: stdin lines and a multi-line argument, escaped, in order', async () => {
    const to = ['--server', '127.0.0.1', '--port', String(rs!.udpPort), ...COMMON, '--udp', '--rfc3164'];
    await logger(to, { input: STDIN_LINES.join('\n') + '\n' });
    await upTo(d!, 3, rs!);
    await logger(to, { message: MULTI });
    const rows = await upTo(d!, 4, rs!);
    expect(rows.length).toBe(4);
    [...STDIN_LINES, MULTI].forEach((msg, i) => {
      expectForwarded(rows[i]!, fromLogger3164(rsyslogEscape(Buffer.from(msg, 'utf8'))), TAG, `line ${i}`);
      expect(rows[i]!.fields.host).toBe(loggerHost('rfc3164'));
    });
    expect(latin1(rows[2]!)).toContain('tab#011here');
    expect(latin1(rows[3]!)).toContain(' VIM registration result:#012  vim_id: a1b2c3d4#012end of report\n');
    expect(latin1(rows[1]!)).toContain(bytesOf('\u2713 \u{1F680}'));
    // One rsyslog -> immutalog connection carries everything.
    expect(new Set(rows.map((e) => e.peer)).size).toBe(1);
  });

  it('logger --tcp --octet-count --rfc5424 to imtcp: forwarded with its timestamp and timeQuality SD', async () => {
    await logger(['--server', '127.0.0.1', '--port', String(rs!.tcpPort), ...COMMON, '--tcp', '--octet-count', '--rfc5424'], { message: 'over imtcp' });
    const rows = (await upTo(d!, 5, rs!)).slice(4);
    expect(rows.length).toBe(1);
    const re = new RegExp(`^<134>1 (${RFC3339_US}) ${escapeRegExp(loggerHost('rfc5424'))} ${TAG} - - (${TIME_QUALITY}) over imtcp\\n$`);
    const m = expectForwarded(rows[0]!, re, TAG, 'imtcp');
    expect(rows[0]!.fields.sd).toBe(m[2]);
  });

  it('oslo.log SysLogHandler UDP to imudp: 7 records, in order, the oslo text intact but split by rsyslog', async () => {
    const sidecar = await emitOslo({ dir: join(tmp, 'stock-oslo'), host: '127.0.0.1', port: rs!.udpPort, transport: 'udp', formatter: 'context', facility: 'LOG_LOCAL0' });
    const rows = (await upTo(d!, 12, rs!)).slice(5);
    checkOsloRun(rows, sidecar, true);
    // Stock rsyslog escapes the traceback's LFs: still one entry, no raw LF but the template's.
    const exc = raw(rows[3]!);
    expect(exc.indexOf(0x0a)).toBe(exc.length - 1);
    expect(exc.toString('latin1').split('#012').length).toBe(sidecar.records[3]!.exc_lines!.join('').split('\n').length + 1);
  });

  it('nothing else was forwarded, and rsyslogd logged no error', async () => {
    expect(query(d!.dataDir).length).toBe(12);
    expect(rs!.internalLog()).toContain('] start');
    expect(rs!.internalLog()).not.toMatch(/error/i);
  });
});

clients.describe('rsyslog with parser.escapeControlCharactersOnReceive="off": raw LFs survive octet counting', () => {
  let d: RunningDaemon | undefined;
  let rs: PrivateRsyslogd | undefined;
  beforeAll(async () => {
    d = await startDaemon();
    rs = await startRsyslogd({ dir: join(tmp, 'noescape'), forwardPort: d.tcpPort, noEscape: true });
  });
  afterAll(async () => {
    await rs?.stop();
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it("logger's multi-line argument arrives as ONE entry with its raw LFs", async () => {
    await logger(['--server', '127.0.0.1', '--port', String(rs!.udpPort), ...COMMON, '--udp', '--rfc3164'], { message: MULTI });
    const rows = await upTo(d!, 1, rs!);
    expect(rows.length).toBe(1);
    expectForwarded(rows[0]!, fromLogger3164(Buffer.from(MULTI)), TAG, 'multi');
    expect(latin1(rows[0]!).endsWith(' VIM registration result:\n  vim_id: a1b2c3d4\nend of report\n')).toBe(true);
  });

  it("oslo.log's traceback record arrives as ONE entry with every raw LF", async () => {
    const sidecar = await emitOslo({ dir: join(tmp, 'noescape-oslo'), host: '127.0.0.1', port: rs!.udpPort, transport: 'udp', formatter: 'context', facility: 'LOG_LOCAL0' });
    const rows = (await upTo(d!, 8, rs!)).slice(1);
    checkOsloRun(rows, sidecar, false);
    const exc = raw(rows[3]!);
    const lfs = exc.reduce((n, c) => n + (c === 0x0a ? 1 : 0), 0);
    // Every traceback line break, plus the template's final LF, inside one octet-counted frame.
    expect(lfs).toBe(sidecar.records[3]!.exc_lines!.join('').split('\n').length + 1);
    expect(raw(rows[5]!).toString('utf8')).toContain('VIM registration result:\n  vim_id: a1b2c3d4-e5f6-4711-8899-aabbccddeeff\n\tstatus: REACHABLE\nend of report\n');
    expect(query(d!.dataDir).length).toBe(8);
  });
});
