import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedFrames, manifest, streamBytes, type CorpusCase } from '../helpers/corpus.js';
import { query, startDaemon, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { sendStream, sendUdp } from '../helpers/send.js';

describe('the shared wire corpus, replayed over its own transport', () => {
  let d: RunningDaemon;
  let stored = 0;
  const m = manifest();
  const byCase = new Map<string, QueriedEntry[]>();
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    expect(await d.stop()).toBe(0);
  });

  for (const c of m.cases as CorpusCase[]) {
    it(`${c.name} comes back byte-exact`, async () => {
      const expected = expectedFrames(c);
      const first = stored;
      if (c.kind === 'dgram') await sendUdp(d.udpPort, expected, 1); // datagrams of up to 64 KiB: a pause after each
      else await sendStream(d.tcpPort, streamBytes(c));
      const rows = await waitFor(
        () => query(d.dataDir, ['--limit', String(first + expected.length + 1)]).slice(first),
        (r) => r.length >= expected.length,
      );
      // Give a wrongly framed extra entry time to show up, then count exactly.
      await new Promise((r) => setTimeout(r, 100));
      const all = query(d.dataDir).slice(first);
      stored += all.length;
      byCase.set(c.name, all);
      expect(all.length).toBe(expected.length);
      expect(rows.map((r) => r.transport)).toEqual(expected.map(() => (c.kind === 'dgram' ? 'udp' : 'tcp')));
      all.forEach((r, i) => {
        expect(Buffer.from(r.raw, 'base64').equals(expected[i]!), `${c.name} frame ${i}`).toBe(true);
      });
    });
  }

  for (const name of ['oslo-sysloghandler-udp', 'oslo-sysloghandler-tcp', 'oslo-jsonformatter-udp', 'rsyslog-tcp-rfc5424-octet']) {
    it(`parses the oslo.log fields of ${name}`, () => {
      let rows = byCase.get(name)!;
      expect(rows).toBeDefined();
      // The rsyslog cases begin with rsyslogd's own start message.
      if (name.startsWith('rsyslog')) {
        expect(rows[0]!.fields.oslo).toBeNull();
        rows = rows.slice(1);
      }
      // Over UDP, M13 (70 KB) was lost to EMSGSIZE in the sender.
      const script = m.message_script.filter((s) => !(name.includes('udp') && s.id === 'M13'));
      expect(rows.length).toBe(script.length);
      rows.forEach((r, i) => {
        const s = script[i]!;
        expect(r.fields.oslo?.level, s.id).toBe(s.level);
        expect(r.fields.oslo?.logger, s.id).toBe(s.logger);
        expect(r.fields.oslo?.exception, s.id).toBe(s.id === 'M07');
      });
    });
  }
});
