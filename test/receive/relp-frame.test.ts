import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeRelpFrame, nextTxnr, parseOffers, RELP_MAX_CONTROL_DATA_BYTES, RELP_MAX_TXNR, RelpParser, type RelpEvent, type RelpFrame } from '../../src/receive/relp-frame.js';
import { RedeliveryTracker, REDELIVERY_WINDOW } from '../../src/receive/redelivery.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { splitAt } from './helpers.js';

const RUNS = { numRuns: 300 };
const CAPTURE_DIR = join(REPO_ROOT, 'test', 'corpus', 'relp');

function parseAll(chunks: Buffer[], max = 1 << 16): RelpEvent[] {
  const p = new RelpParser(max);
  return chunks.flatMap((c) => p.push(c));
}
const frames = (evs: RelpEvent[]): RelpFrame[] => evs.filter((e): e is Extract<RelpEvent, { kind: 'frame' }> => e.kind === 'frame').map((e) => e.frame);
const errors = (evs: RelpEvent[]): string[] => evs.filter((e): e is Extract<RelpEvent, { kind: 'error' }> => e.kind === 'error').map((e) => e.message);
const show = (fs: RelpFrame[]) => fs.map((f) => ({ txnr: f.txnr, command: f.command, data: f.data.toString('hex'), dataLength: f.dataLength }));

const command = fc.stringMatching(/^[A-Za-z]{1,32}$/);
const anyFrame = fc.record({
  txnr: fc.integer({ min: 0, max: RELP_MAX_TXNR }),
  command,
  data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
});

describe('RelpParser on a real omrelp -> imrelp session (test/corpus/wire/relp, relp_capture.mjs)', () => {
  const dir = join(REPO_ROOT, 'test', 'corpus', 'wire', 'relp');
  const meta = JSON.parse(readFileSync(join(dir, 'omrelp-plain.json'), 'utf8')) as { received_by_imrelp: string[] };

  it("reads the client's side: open, one syslog command per message imrelp received, close", () => {
    const evs = parseAll([readFileSync(join(dir, 'omrelp-plain.client.bin'))]);
    expect(errors(evs)).toEqual([]);
    const fs = frames(evs);
    expect(fs.map((f) => f.command)).toEqual(['open', ...meta.received_by_imrelp.map(() => 'syslog'), 'close']);
    expect(fs.filter((f) => f.command === 'syslog').map((f) => f.data.toString('utf8').replace(/\n$/, ''))).toEqual(meta.received_by_imrelp);
  });

  it("reads rsyslog's own server answers, the shapes our listener sends: rsp 200 OK with offers, per message, to the close, then serverclose", () => {
    const evs = parseAll([readFileSync(join(dir, 'omrelp-plain.server.bin'))]);
    expect(errors(evs)).toEqual([]);
    const fs = frames(evs);
    expect(fs.map((f) => f.command)).toEqual([...meta.received_by_imrelp.map(() => 'rsp'), 'rsp', 'rsp', 'serverclose']);
    expect(fs[0]!.data.toString('utf8').startsWith('200 OK\n')).toBe(true);
    expect(parseOffers(fs[0]!.data.subarray(fs[0]!.data.indexOf(0x0a) + 1)).get('commands')).toEqual(['syslog']);
    for (const f of fs.slice(1, 1 + meta.received_by_imrelp.length)) expect(f.data.toString('utf8')).toBe('200 OK');
  });
});

describe('RelpParser on real omrelp bytes (test/corpus/relp, capture_omrelp.py)', () => {
  const session = readFileSync(join(CAPTURE_DIR, 'omrelp-session.bin'));
  const answers = readFileSync(join(CAPTURE_DIR, 'omrelp-answers.bin'));
  const fed = readFileSync(join(CAPTURE_DIR, 'omrelp-messages.txt'), 'utf8').split('\n').filter((l) => l !== '');

  it('reads the session rsyslog sent: open with librelp offers, one syslog command per message, close', () => {
    const evs = parseAll([session]);
    expect(errors(evs)).toEqual([]);
    const fs = frames(evs);
    expect(fs.map((f) => f.command)).toEqual(['open', ...fed.map(() => 'syslog'), 'close']);
    expect(fs.map((f) => f.txnr)).toEqual(fs.map((_, i) => i + 1));
    const offers = parseOffers(fs[0]!.data);
    expect(offers.get('relp_version')).toEqual(['0']);
    expect(offers.get('commands')).toEqual(['syslog']);
    expect(offers.get('relp_software')?.[0]).toBe('librelp');
    // Each message's DATA is what rsyslog's template made of it (escaped control characters, the template's LF).
    const syslog = fs.filter((f) => f.command === 'syslog');
    for (const [i, f] of syslog.entries()) {
      const text = f.data.toString('utf8');
      expect(text.startsWith('<134>1 ')).toBe(true);
      expect(text.endsWith('\n')).toBe(true);
      expect(text).toContain(`relp capture message ${i + 1}`);
      expect(f.data.length).toBe(f.dataLength);
    }
    expect(fs[fs.length - 1]!.dataLength).toBe(0);
  });

  it('reads it the same cut at any bytes', () => {
    const whole = show(frames(parseAll([session])));
    fc.assert(fc.property(fc.array(fc.nat({ max: session.length }), { maxLength: 30 }), (cuts) => {
      expect(show(frames(parseAll(splitAt(session, cuts))))).toEqual(whole);
    }), RUNS);
  });

  it('reads the capture server\'s answers (rsp frames) as librelp wrote them', () => {
    const fs = frames(parseAll([answers]));
    expect(fs.map((f) => f.command)).toEqual(fs.map(() => 'rsp'));
    expect(fs.slice(1).map((f) => f.data.toString())).toEqual(fs.slice(1).map(() => '200 OK'));
  });
});

describe('RelpParser round trips', () => {
  it('any frames, cut anywhere, come out as encoded (syslog data within the limit)', () => {
    fc.assert(fc.property(fc.array(anyFrame, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 20 }), (fs, cuts) => {
      const wire = Buffer.concat(fs.map((f) => encodeRelpFrame(f.txnr, f.command, f.data)));
      const evs = parseAll(splitAt(wire, cuts.map((c) => c % (wire.length + 1))));
      expect(errors(evs)).toEqual([]);
      expect(show(frames(evs))).toEqual(fs.map((f) => ({ txnr: f.txnr, command: f.command, data: f.data.toString('hex'), dataLength: f.data.length })));
    }), RUNS);
  });

  it('a syslog message over the limit keeps its head, declares its length, and the next frame follows intact', () => {
    fc.assert(fc.property(fc.integer({ min: 4, max: 200 }), fc.uint8Array({ minLength: 1, maxLength: 600 }), fc.array(fc.nat(), { maxLength: 10 }), (max, data, cuts) => {
      const d = Buffer.from(data);
      const wire = Buffer.concat([encodeRelpFrame(7, 'syslog', d), encodeRelpFrame(8, 'syslog', 'next')]);
      const fs = frames(parseAll(splitAt(wire, cuts.map((c) => c % (wire.length + 1))), max));
      expect(fs).toHaveLength(2);
      expect(fs[0]!.data.toString('hex')).toBe(d.subarray(0, max).toString('hex'));
      expect(fs[0]!.dataLength).toBe(d.length);
      expect(fs[1]!.data.toString()).toBe('next');
    }), RUNS);
  });

  it('inFrame is true exactly between the first byte of a frame and its trailer', () => {
    const p = new RelpParser(100);
    expect(p.inFrame).toBe(false);
    p.push(Buffer.from('1 sys'));
    expect(p.inFrame).toBe(true);
    p.push(Buffer.from('log 2 ab\n'));
    expect(p.inFrame).toBe(false);
  });
});

describe('RelpParser refuses what librelp refuses, and takes nothing after', () => {
  const cases: [string, string, RegExp][] = [
    ['not a digit first', 'x syslog 1 a\n', /expected a digit of a transaction number.*got "x"/],
    ['a 10-digit txnr', '1234567890 syslog 1 a\n', /at most 9 digits/],
    ['no command', '1  1 a\n', /expected a letter of a command/],
    ['a 33-letter command', `1 ${'a'.repeat(33)} 0\n`, /at most 32 letters/],
    ['a digit in the command', '1 sys1og 1 a\n', /expected a letter of a command.*got "1"/],
    ['no data length', '1 syslog \n', /expected a digit of the data length/],
    ['a 10-digit data length', '1 syslog 1234567890 a\n', /data length of at most 9 digits/],
    ['data length 0 then SP', '1 close 0 \n', /expected LF after data length 0/],
    ['no SP before data', '1 syslog 1a\n', /expected SP after the data length/],
    ['no LF after data', '1 syslog 1 ab\n', /expected LF after the 1 bytes of data of frame 1, got "b"/],
    ['oversized open offers', `1 open ${RELP_MAX_CONTROL_DATA_BYTES + 1} `, /expected at most 4096 bytes of data for command "open"/],
  ];
  for (const [what, wire, message] of cases) {
    it(what, () => {
      const p = new RelpParser(1000);
      const evs = [...p.push(Buffer.from(wire)), ...p.push(encodeRelpFrame(2, 'syslog', 'after'))];
      expect(frames(evs)).toEqual([]);
      expect(errors(evs)).toHaveLength(1);
      expect(errors(evs)[0]).toMatch(message);
      expect(p.failed).toBe(true);
    });
  }

  it('any bytes after a valid frame either parse as frames or end in one error, never a throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
      const evs = parseAll([encodeRelpFrame(1, 'syslog', 'ok'), Buffer.from(junk)]);
      expect(frames(evs)[0]!.data.toString()).toBe('ok');
      expect(errors(evs).length).toBeLessThanOrEqual(1);
    }), RUNS);
  });
});

describe('transaction numbers', () => {
  it('wrap from 999,999,999 to 1, as librelp does', () => {
    expect(nextTxnr(1)).toBe(2);
    expect(nextTxnr(RELP_MAX_TXNR)).toBe(1);
  });
});

describe('RedeliveryTracker (README "Redelivery")', () => {
  const L = 'relp://127.0.0.1:2514';
  const b = (s: string) => Buffer.from(s);

  it('marks equal bytes from the same address over another connection, not over the same one, another address or listener', () => {
    const t = new RedeliveryTracker();
    expect(t.observe(L, '10.0.0.1', 4000, b('m1'))).toBe(false);
    expect(t.observe(L, '10.0.0.1', 4000, b('m1'))).toBe(false);
    expect(t.observe(L, '10.0.0.2', 4001, b('m1'))).toBe(false);
    expect(t.observe('relp://127.0.0.1:2515', '10.0.0.1', 4002, b('m1'))).toBe(false);
    expect(t.observe(L, '10.0.0.1', 4003, b('m1'))).toBe(true);
    expect(t.observe(L, '10.0.0.1', 4003, b('m2'))).toBe(false);
  });

  it('forgets a message after REDELIVERY_WINDOW later ones from that address', () => {
    const t = new RedeliveryTracker();
    t.observe(L, '10.0.0.1', 4000, b('old'));
    for (let i = 0; i < REDELIVERY_WINDOW - 1; i++) t.observe(L, '10.0.0.1', 4000, b(`m${i}`));
    expect(t.observe(L, '10.0.0.1', 4001, b('m0'))).toBe(true);
    // 'old' has now fallen out of the window.
    expect(t.observe(L, '10.0.0.1', 4001, b('old'))).toBe(false);
  });
});
