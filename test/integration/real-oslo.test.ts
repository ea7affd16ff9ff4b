// Real oslo.log (Debian python3-oslo.log under /usr/bin/python3), configured exactly as Tacker
// does it with `log_config_append` + logging.handlers.SysLogHandler (notes §4, §8.1-8.3),
// sending straight to immutalog over UDP and TCP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, settledEntries, startDaemon, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { stopDaemonAndClean } from '../clients/proc.js';
import {
  CTX, LOCAL0, LOCAL1, SCRIPT, emitOslo, expectedOsloFields, expectedContextText, expectedJsonTraceback, osloTime, asctime, priOf,
  pythonSyslogBytes, requireOslo, type Sidecar,
} from '../clients/oslo.js';
import { needClients } from '../clients/available.js';

/** Every test here runs real oslo.log. */
const clients = needClients('python3-oslo.log');

const BIG = 20_000;

const raw = (e: QueriedEntry): Buffer => Buffer.from(e.raw, 'base64');
const countLf = (b: Buffer): number => b.reduce((n, c) => n + (c === 0x0a ? 1 : 0), 0);

let tmp: string;
beforeAll(() => {
  requireOslo();
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-real-oslo-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The sidecar must be the script we think it is, or every expectation below is moot. */
function checkScript(s: Sidecar, n: number): void {
  expect(s.records.map((r) => [r.id, r.levelname, r.name])).toEqual(SCRIPT.slice(0, n).map((x) => [x.id, x.level, x.logger]));
  expect(s.records.every((r) => r.process === s.pid)).toBe(true);
}

/** Assertions shared by the UDP and TCP ContextFormatter runs. */
function checkContextRun(rows: QueriedEntry[], s: Sidecar, transport: 'udp' | 'tcp'): void {
  expect(rows.length).toBe(s.records.length);
  rows.forEach((e, i) => {
    const r = s.records[i]!;
    const pri = priOf(r, LOCAL0);
    const wire = pythonSyslogBytes(pri, expectedContextText(r));
    // UDP: the datagram is stored whole, NUL included. TCP: the NUL is the frame terminator.
    const want = transport === 'udp' ? wire : wire.subarray(0, wire.length - 1);
    expect(e.transport, r.id).toBe(transport);
    expect(e.flags, r.id).toBe(0);
    expect(e.peer, r.id).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(raw(e).toString('latin1'), r.id).toBe(want.toString('latin1'));
    expect(raw(e).equals(want), r.id).toBe(true);
    expect(e.fields.fmt, r.id).toBe('bare');
    expect([e.fields.pri, e.fields.facility, e.fields.severity], r.id).toEqual([pri, LOCAL0, pri & 7]);
    expect(e.fields.host, r.id).toBeNull();
    expect(e.fields.app, r.id).toBeNull();
    expect(e.fields.oslo, r.id).toEqual(expectedOsloFields(r, s, 'context'));
  });
  // The PRI of each level, spelled out (local0 = 16): INFO 134, DEBUG 135, WARNING 132, ERROR 131.
  expect(rows.slice(0, 4).map((e) => raw(e).toString('latin1').slice(0, 5))).toEqual(['<134>', '<135>', '<132>', '<131>']);
  // A TCP connection's records all come from one peer port; UDP uses one unconnected socket too.
  expect(new Set(rows.map((e) => e.peer)).size).toBe(1);

  const exc = raw(rows[3]!);
  const r4 = s.records[3]!;
  // LOG.exception(): ONE entry whose raw bytes hold the whole chained traceback with raw LFs,
  // ending in a bare exception prefix (trailing space), then the NUL on UDP.
  const tbLines = r4.exc_lines!.join('').split('\n').length;
  expect(tbLines).toBeGreaterThan(10);
  expect(countLf(exc)).toBe(tbLines);
  const prefix = `${osloTime(r4)} ${s.pid} ERROR tacker.vnfm.plugin `;
  expect(exc.toString('utf8')).toContain(`\n${prefix}The above exception was the direct cause of the following exception:\n`);
  expect(exc.toString('utf8').endsWith(`\n${prefix}${transport === 'udp' ? '\0' : ''}`)).toBe(true);

  // UTF-8 byte-exact: CJK (3-byte), Latin-1 (2-byte), U+2713 and U+1F680 (4-byte), no BOM.
  const utf = raw(rows[4]!);
  const pkg = Buffer.from('e38391e38383e382b1e383bce382b82de697a5e69cace8aa9e', 'hex');
  expect(utf.includes(pkg)).toBe(true);
  expect(utf.includes(Buffer.from('(vendor=B\xc3\xbcro M\xc3\xbcnch\xc3\xa9n) \xe2\x9c\x93 \xf0\x9f\x9a\x80', 'latin1'))).toBe(true);
  expect(utf.includes(Buffer.from('efbbbf', 'hex'))).toBe(false);

  // Embedded LF and TAB stay raw, in one entry.
  expect(raw(rows[5]!).toString('utf8')).toContain('VIM registration result:\n  vim_id: a1b2c3d4-e5f6-4711-8899-aabbccddeeff\n\tstatus: REACHABLE\nend of report');
  expect(countLf(raw(rows[5]!))).toBe(3);
}

clients.describe('oslo.log ContextFormatter -> SysLogHandler UDP (local0) -> immutalog', () => {
  let d: RunningDaemon | undefined;
  let rows: QueriedEntry[] = [];
  let side: Sidecar;
  beforeAll(async () => {
    d = await startDaemon();
    side = await emitOslo({ dir: join(tmp, 'udp'), host: '127.0.0.1', port: d.udpPort, transport: 'udp', formatter: 'context', facility: 'LOG_LOCAL0' });
    rows = await settledEntries(d, 7);
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('stores each of the 7 records once, in order, byte-exact as <PRI>text\\0', () => {
    checkScript(side, 7);
    checkContextRun(rows, side, 'udp');
    // Every datagram ends in the NUL Python appends (append_nul), even on UDP.
    expect(rows.every((e) => raw(e)[raw(e).length - 1] === 0)).toBe(true);
  });

  it('status counts the 7 datagrams on the UDP listener and nothing else', async () => {
    const st = await waitFor(() => d!.status(), (s) => s?.listeners.find((l: any) => l.transport === 'udp')?.counters.received === 7, 5000);
    const udp = st.listeners.find((l: any) => l.transport === 'udp');
    expect(udp.counters).toMatchObject({ received: 7, truncated: 0, invalidUtf8: 0, emptyFrames: 0 });
  });

  it('query --request-id and --level select the right records', () => {
    const byReq = runCli(['query', '--data-dir', d!.dataDir, '--json', '--request-id', CTX.request_id]);
    expect(byReq.code).toBe(0);
    expect(byReq.stdout.trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([rows[6]!.seq]);
    const errors = runCli(['query', '--data-dir', d!.dataDir, '--json', '--level', 'ERROR']);
    expect(errors.stdout.trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([rows[3]!.seq]);
  });
});

clients.describe('oslo.log ContextFormatter -> SysLogHandler TCP (local0, NUL framing) -> immutalog', () => {
  let d: RunningDaemon | undefined;
  let rows: QueriedEntry[] = [];
  let side: Sidecar;
  beforeAll(async () => {
    // The Python TCP handler connects when fileConfig builds it, so immutalog runs first.
    d = await startDaemon();
    side = await emitOslo({ dir: join(tmp, 'tcp'), host: '127.0.0.1', port: d.tcpPort, transport: 'tcp', formatter: 'context', facility: 'LOG_LOCAL0' }, { big: BIG });
    rows = await settledEntries(d, 8);
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('stores each of the 8 records once, in order, byte-exact as <PRI>text (the NUL terminator removed)', () => {
    checkScript(side, 8);
    checkContextRun(rows.slice(0, 7), { ...side, records: side.records.slice(0, 7) }, 'tcp');
    expect(rows.length).toBe(8);
    // No stored TCP frame carries the NUL: it was the framing.
    expect(rows.every((e) => !raw(e).includes(0))).toBe(true);
  });

  it('keeps the ~20 KB record whole, in one entry, untruncated', () => {
    const e = rows[7]!;
    const r = side.records[7]!;
    expect(r.context).not.toBeNull();
    const want = pythonSyslogBytes(134, expectedContextText(r));
    expect(raw(e).equals(want.subarray(0, want.length - 1))).toBe(true);
    expect(raw(e).length).toBeGreaterThan(BIG);
    expect(e.flags).toBe(0);
    expect(e.fields.oslo).toMatchObject({ level: 'INFO', logger: 'tacker.vnfm.plugin', request_id: CTX.request_id, exception: false });
    expect(raw(e).toString('latin1')).toMatch(new RegExp(`BEGIN (ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789){555}ABCDEFGHIJKLMNOPQRST END$`));
  });

  it('all 8 came over one TCP connection, and it was closed cleanly (no incomplete frame)', async () => {
    expect(new Set(rows.map((e) => e.peer)).size).toBe(1);
    const st = await waitFor(() => d!.status(), (s) => s?.listeners.find((l: any) => l.transport === 'tcp')?.counters.received === 8, 5000);
    const tcp = st.listeners.find((l: any) => l.transport === 'tcp');
    expect(tcp.counters).toMatchObject({ received: 8, incomplete: 0, truncated: 0, emptyFrames: 0 });
  });
});

clients.describe('oslo.log JSONFormatter -> SysLogHandler UDP (local1) -> immutalog', () => {
  let d: RunningDaemon | undefined;
  let rows: QueriedEntry[] = [];
  let side: Sidecar;
  beforeAll(async () => {
    d = await startDaemon();
    side = await emitOslo({ dir: join(tmp, 'json'), host: '127.0.0.1', port: d.udpPort, transport: 'udp', formatter: 'json', facility: 'LOG_LOCAL1' });
    rows = await settledEntries(d, 7);
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('stores 7 entries of <PRI>{json}\\0, pure ASCII, one line each, with the record facts', () => {
    checkScript(side, 7);
    expect(rows.length).toBe(7);
    rows.forEach((e, i) => {
      const r = side.records[i]!;
      const pri = priOf(r, LOCAL1);
      const b = raw(e);
      const head = `<${pri}>{`;
      expect(b.toString('latin1').startsWith(head), r.id).toBe(true);
      expect(b[b.length - 1], r.id).toBe(0);
      const json = b.subarray(head.length - 1, b.length - 1);
      // JSONFormatter escapes everything outside ASCII and every control character.
      expect(json.every((c) => c >= 0x20 && c < 0x7f), r.id).toBe(true);
      const o = JSON.parse(json.toString('ascii'));
      expect(o.message, r.id).toBe(r.message);
      expect([o.levelname, o.levelno, o.name, o.process, o.lineno, o.funcname], r.id).toEqual([r.levelname, r.levelno, r.name, side.pid, r.lineno, r.funcName]);
      expect(o.asctime, r.id).toBe(asctime(r.created));
      expect(o.traceback, r.id).toEqual(expectedJsonTraceback(r));
      expect(o.context.request_id ?? null, r.id).toBe(r.context ? CTX.request_id : null);
      expect(e.flags, r.id).toBe(0);
      expect([e.fields.fmt, e.fields.pri, e.fields.facility, e.fields.severity], r.id).toEqual(['bare', pri, LOCAL1, pri & 7]);
      expect(e.fields.oslo, r.id).toEqual(expectedOsloFields(r, side, 'json'));
    });
    // The UTF-8 message survives as JSON escapes, surrogate pair for the emoji.
    expect(raw(rows[4]!).toString('ascii')).toContain('\\u30d1\\u30c3\\u30b1\\u30fc\\u30b8-\\u65e5\\u672c\\u8a9e');
    expect(raw(rows[4]!).toString('ascii')).toContain('\\u2713 \\ud83d\\ude80');
    // The traceback is a list, the embedded LF an escape: no raw LF anywhere.
    expect(rows.every((e) => !raw(e).includes(0x0a))).toBe(true);
    const exc = raw(rows[3]!);
    expect(JSON.parse(exc.subarray('<139>'.length, exc.length - 1).toString('ascii')).traceback.length).toBeGreaterThan(8);
  });
});
