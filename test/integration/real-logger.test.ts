// util-linux logger(1) sending straight to immutalog: UDP (RFC 3164 and RFC 5424), TCP with LF
// framing and with octet counting, over 127.0.0.1 and ::1.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { query, startDaemon, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { stopDaemonAndClean } from '../clients/proc.js';
import { bytesOf, logger, loggerHost, loggerMessageRe, requireLogger } from '../clients/logger.js';
import { needClients } from '../clients/available.js';

const clients = needClients('logger');

const TAG = 'tacker-server';
const PRI = 16 * 8 + 6; // local0.info
const COMMON = ['-t', TAG, '-p', 'local0.info'];

const STDIN_LINES = [
  'tacker-server started on 0.0.0.0:9890',
  "Onboarded VNF package '\u30d1\u30c3\u30b1\u30fc\u30b8-\u65e5\u672c\u8a9e' (vendor=B\u00fcro M\u00fcnch\u00e9n) \u2713 \u{1F680}",
  'tab\there',
];
const LONG = `long BEGIN ${'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.repeat(84).slice(0, 3000)} END`;
/** logger's default --size 1024: a longer stdin line is sent as several messages of at most 1024 bytes. */
const LONG_PIECES = [LONG.slice(0, 1024), LONG.slice(1024, 2048), LONG.slice(2048)];
const ARG = 'Instantiate VNF started';
/** The corpus's multi-line argument (corpus README, "util-linux logger"). */
const MULTI = 'VIM registration result:\n  vim_id: a1b2c3d4\nend of report';

async function newEntries(d: RunningDaemon, from: number, n: number): Promise<QueriedEntry[]> {
  await waitFor(() => query(d.dataDir).slice(from), (r) => r.length >= n, 15_000, 50);
  await new Promise((r) => setTimeout(r, 300)); // an extra (wrongly framed) entry would show up now
  return query(d.dataDir).slice(from);
}

const raw = (e: QueriedEntry): string => Buffer.from(e.raw, 'base64').toString('latin1');

/** Checks one stored logger message byte for byte (except the clock) and its parsed header. */
function expectLoggerEntry(e: QueriedEntry, fmt: 'rfc3164' | 'rfc5424', msg: string, label: string): void {
  const m = loggerMessageRe(fmt, TAG, PRI, msg).exec(raw(e));
  expect(m, `${label}: ${JSON.stringify(raw(e))}`).not.toBeNull();
  expect(e.flags, label).toBe(0);
  expect(e.fields.fmt, label).toBe(fmt);
  expect([e.fields.pri, e.fields.facility, e.fields.severity], label).toEqual([PRI, 16, 6]);
  expect(e.fields.ts, label).toBe(m![1]);
  expect(e.fields.host, label).toBe(loggerHost(fmt));
  expect(e.fields.app, label).toBe(TAG);
  expect(e.fields.procid, label).toBeNull();
  if (fmt === 'rfc5424') {
    expect(e.fields.msgid, label).toBeNull();
    expect(e.fields.sd, label).toBe(m![2]);
  }
  expect(e.fields.oslo, label).toBeNull();
}

interface Mode {
  name: string;
  args: string[];
  fmt: 'rfc3164' | 'rfc5424';
  transport: 'udp' | 'tcp';
  framing: 'dgram' | 'lf' | 'octet';
}

const MODES: Mode[] = [
  { name: '--udp --rfc3164', args: ['--udp', '--rfc3164'], fmt: 'rfc3164', transport: 'udp', framing: 'dgram' },
  { name: '--udp --rfc5424', args: ['--udp', '--rfc5424'], fmt: 'rfc5424', transport: 'udp', framing: 'dgram' },
  { name: '--tcp --rfc3164 (LF framing)', args: ['--tcp', '--rfc3164'], fmt: 'rfc3164', transport: 'tcp', framing: 'lf' },
  { name: '--tcp --rfc5424 (LF framing)', args: ['--tcp', '--rfc5424'], fmt: 'rfc5424', transport: 'tcp', framing: 'lf' },
  { name: '--tcp --octet-count --rfc3164', args: ['--tcp', '--octet-count', '--rfc3164'], fmt: 'rfc3164', transport: 'tcp', framing: 'octet' },
  { name: '--tcp --octet-count --rfc5424', args: ['--tcp', '--octet-count', '--rfc5424'], fmt: 'rfc5424', transport: 'tcp', framing: 'octet' },
];

beforeAll(() => {
  requireLogger();
});

clients.describe('logger -> immutalog on 127.0.0.1', () => {
  let d: RunningDaemon | undefined;
  let seen = 0;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  for (const mode of MODES) {
    it(`${mode.name}: stdin lines, an argument and a multi-line argument`, async () => {
      const port = mode.transport === 'udp' ? d!.udpPort : d!.tcpPort;
      const to = ['--server', '127.0.0.1', '--port', String(port), ...COMMON, ...mode.args];
      await logger(to, { input: [...STDIN_LINES, LONG].join('\n') + '\n' });
      await logger(to, { message: ARG });
      await logger(to, { message: MULTI });

      // LF framing cannot tell the argument's raw LFs from terminators: the corpus's
      // logger-tcp-*-multiline-arg case, "3 messages" for 1. Datagrams and octet counting keep it whole.
      const multiEntries = mode.framing === 'lf' ? 3 : 1;
      const n = STDIN_LINES.length + LONG_PIECES.length + 1 + multiEntries;
      const rows = await newEntries(d!, seen, n);
      seen += rows.length;
      expect(rows.length).toBe(n);
      expect(rows.every((e) => e.transport === mode.transport && /^127\.0\.0\.1:\d+$/.test(e.peer))).toBe(true);
      expect(rows.every((e) => e.listener === `${mode.transport}://127.0.0.1:${port}`)).toBe(true);

      const whole = [...STDIN_LINES, ...LONG_PIECES, ARG];
      whole.forEach((msg, i) => expectLoggerEntry(rows[i]!, mode.fmt, msg, `${mode.name} #${i}`));
      // stdin: one message per line, the line's bytes exact (UTF-8 incl. 4-byte, raw TAB).
      expect(raw(rows[1]!).endsWith(bytesOf(STDIN_LINES[1]!))).toBe(true);
      expect(raw(rows[1]!)).toContain('\xf0\x9f\x9a\x80');
      expect(raw(rows[2]!)).toContain('tab\there');
      // The long line came as 1024 + 1024 + rest bytes of payload.
      expect(LONG_PIECES.map((p) => p.length)).toEqual([1024, 1024, LONG.length - 2048]);

      const multi = rows.slice(whole.length);
      if (mode.framing === 'lf') {
        // Piece 1 carries the header and the first line; pieces 2 and 3 are bare text.
        expectLoggerEntry(multi[0]!, mode.fmt, 'VIM registration result:', `${mode.name} multi piece 1`);
        expect(multi.slice(1).map(raw)).toEqual(['  vim_id: a1b2c3d4', 'end of report']);
        expect(multi.slice(1).map((e) => [e.fields.fmt, e.fields.pri, e.flags])).toEqual([['nopri', null, 0], ['nopri', null, 0]]);
        // All three pieces came over the one connection of that logger run.
        expect(new Set(multi.map((e) => e.peer)).size).toBe(1);
      } else {
        expectLoggerEntry(multi[0]!, mode.fmt, MULTI, `${mode.name} multi`);
        expect(raw(multi[0]!).split('\n').length).toBe(3);
      }
    });
  }
});

clients.describe('logger -> immutalog on ::1 (IPv6 loopback)', () => {
  let d: RunningDaemon | undefined;
  beforeAll(async () => {
    d = await startDaemon({ args: ['--udp', '[::1]:0', '--tcp', '[::1]:0'] });
  });
  afterAll(async () => {
    if (d) expect(await stopDaemonAndClean(d)).toBe(0);
  });

  it('--udp --server ::1 and --tcp --octet-count --server ::1 are stored with peer [::1]:port', async () => {
    expect(d!.udpPort).toBeGreaterThan(0);
    expect(d!.tcpPort).toBeGreaterThan(0);
    await logger(['--server', '::1', '--port', String(d!.udpPort), ...COMMON, '--udp', '--rfc5424'], { message: 'over udp6' });
    await logger(['--server', '::1', '--port', String(d!.tcpPort), ...COMMON, '--tcp', '--octet-count', '--rfc3164'], { message: MULTI });
    await logger(['--server', '::1', '--port', String(d!.tcpPort), ...COMMON, '--tcp', '--rfc5424'], { input: 'over tcp6 with LF\n' });
    const rows = await newEntries(d!, 0, 3);
    expect(rows.length).toBe(3);
    expect(rows.map((e) => e.transport)).toEqual(['udp', 'tcp', 'tcp']);
    for (const e of rows) expect(e.peer).toMatch(/^\[::1\]:\d{1,5}$/);
    expect(rows.map((e) => e.listener)).toEqual([`udp://[::1]:${d!.udpPort}`, `tcp://[::1]:${d!.tcpPort}`, `tcp://[::1]:${d!.tcpPort}`]);
    expectLoggerEntry(rows[0]!, 'rfc5424', 'over udp6', 'udp6');
    expectLoggerEntry(rows[1]!, 'rfc3164', MULTI, 'tcp6 octet');
    expectLoggerEntry(rows[2]!, 'rfc5424', 'over tcp6 with LF', 'tcp6 lf');
    // Two separate TCP connections: two different source ports.
    expect(rows[1]!.peer).not.toBe(rows[2]!.peer);
  });
});
