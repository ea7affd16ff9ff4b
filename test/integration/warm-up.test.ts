// Before its listeners bind, `serve` pushes synthetic frames through parse, entry encoding and MAC
// (src/ingest/warm-up.ts) so that V8 has optimised the write path before the first datagram of a
// restart. None of them may reach the log: the first real message of a fresh log is seq 0, the
// log holds exactly what was sent, and verify passes. With every UDP reader (udp_reader = main,
// thread: src/serve/udp-reader.ts, native: src/serve/udp-drain.ts) datagrams are stored byte-exact,
// with their peer, in order.
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { query, settledEntries, startDaemon, type RunningDaemon } from '../helpers/daemon.js';
import { expectVerified, sendTcp } from '../helpers/tamper-log.js';
import { WARM_UP_FRAMES } from '../../src/ingest/warm-up.js';
import { FLAG_INVALID_UTF8 } from '../../src/chain/entry-format.js';

let d: RunningDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

/** Sends each datagram from one socket, so that every entry names the same peer port. */
async function sendFromOnePort(port: number, msgs: Buffer[]): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  for (const m of msgs) await new Promise<void>((r, j) => s.send(m, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  const own = s.address().port;
  s.close();
  return own;
}

describe.each(['main', 'thread', 'native'])('the warm-up before the listeners bind (udp_reader = %s)', (reader) => {
  it('stores nothing and uses no sequence number: a fresh log starts at seq 0 with exactly what was sent, and verifies', async () => {
    d = await startDaemon({ args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--udp-reader', reader] });
    const s = d.status();
    expect(s.warm_up.frames).toBe(WARM_UP_FRAMES);
    expect(s.next_seq).toBe(0);
    expect(s.last_committed_seq).toBe(-1);
    expect(query(d.dataDir)).toEqual([]);

    // Not UTF-8, and as large as a datagram gets: the reader thread hands bytes on untouched.
    const udp = [Buffer.from('<13>1 - - - - - - first real message'), Buffer.concat([Buffer.from('<13>not UTF-8 '), Buffer.from([0xff, 0xfe]), Buffer.alloc(65_000, 0x61)]), Buffer.from('<14>third')];
    const peerPort = await sendFromOnePort(d.udpPort, udp);
    const got = await settledEntries(d, udp.length);
    expect(got.map((e) => e.seq)).toEqual([0, 1, 2]);
    expect(got.map((e) => Buffer.from(e.raw, 'base64').equals(udp[e.seq]!))).toEqual([true, true, true]);
    expect(got.map((e) => e.flags)).toEqual([0, FLAG_INVALID_UTF8, 0]);
    expect(got.map((e) => e.peer)).toEqual(udp.map(() => `127.0.0.1:${peerPort}`));
    expect(got.every((e) => e.transport === 'udp' && e.listener === `udp://127.0.0.1:${d!.udpPort}`)).toBe(true);

    await sendTcp(d.tcpPort, [Buffer.from('<13>1 - - - - - - over tcp')]);
    const all = await settledEntries(d, udp.length + 1);
    expect(all.map((e) => e.seq)).toEqual([0, 1, 2, 3]);
    expect(all.some((e) => Buffer.from(e.raw, 'base64').includes('warm-up'))).toBe(false);
    const dir = d.dataDir;
    expect(await d.stop()).toBe(0);
    d = undefined;
    expectVerified(dir);
  });
});
