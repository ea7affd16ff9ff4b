// Issue 11, item 9: an entry's received_at is wall-clock microseconds that never precede the
// moment its bytes arrived. A local sender (python3) takes its own microsecond stamp
// (time.time_ns() // 1000, CLOCK_REALTIME like the daemon's) just before each send, over UDP and
// TCP, in bursts after quiet spells of more than a second and in a steady stream across second
// boundaries; every stored receive time must be at or after the sender's stamp, and the first
// stamp after a quiet spell must not be a whole millisecond (the old re-base on Date.now()).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, startDaemon, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';

/** Quiet spells longer than the old one-second re-base. */
const QUIET_ROUNDS = 6;
const SENDER = `
import random, socket, sys, time
udp_port, tcp_port, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t = socket.create_connection(('127.0.0.1', tcp_port))
t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
n = 0
def send(kind, tag):
    global n
    stamp = time.time_ns() // 1000
    msg = b'<13>1 - - - - - - %s n=%d sent_us=%d' % (tag, n, stamp)
    if kind == 'udp':
        u.sendto(msg, ('127.0.0.1', udp_port))
    else:
        t.sendall(msg + b'\\n')
    n += 1
for r in range(rounds):
    time.sleep(1.2)
    send('udp' if r % 2 == 0 else 'tcp', b'first-after-quiet')
    for i in range(4):
        send('tcp' if i % 2 == 0 else 'udp', b'burst')
end = time.time() + 1.5
i = 0
while time.time() < end:
    send('udp' if i % 2 else 'tcp', b'stream')
    time.sleep(random.uniform(0, 0.004))
    i += 1
t.close()
print(n)
`;

const usOf = (iso: string): number => Date.parse(`${iso.slice(0, 23)}Z`) * 1000 + Number(iso.slice(23, 26));

describe('receive times against the sender\'s clock', () => {
  let d: RunningDaemon;
  let rows: QueriedEntry[];
  beforeAll(async () => {
    d = await startDaemon({ args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0'] });
    const r = spawnSync('python3', ['-c', SENDER, String(d.udpPort), String(d.tcpPort), String(QUIET_ROUNDS)], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`sender failed (${r.status}): ${r.stderr}`);
    const sent = Number(r.stdout.trim());
    rows = await waitFor(() => query(d.dataDir), (q) => q.length >= sent, 20_000, 100);
    expect(rows.length).toBe(sent);
  });
  afterAll(async () => {
    if (d) expect(await d.stop()).toBe(0);
  });

  const parsed = (): { tag: string; sentUs: number; receivedUs: number; transport: string; at: string }[] =>
    rows.map((e) => {
      const m = / (\S+) n=\d+ sent_us=(\d+)$/.exec(Buffer.from(e.raw, 'base64').toString('latin1'))!;
      return { tag: m[1]!, sentUs: Number(m[2]), receivedUs: usOf(e.received_at), transport: e.transport, at: e.received_at };
    });

  it('no entry is dated before its sender stamped it', () => {
    const p = parsed();
    expect(p.length).toBeGreaterThan(QUIET_ROUNDS * 5 + 100);
    // Both transports and several seconds are covered.
    expect(new Set(p.map((x) => x.transport))).toEqual(new Set(['udp', 'tcp']));
    expect(new Set(p.map((x) => Math.floor(x.sentUs / 1e6))).size).toBeGreaterThanOrEqual(QUIET_ROUNDS);
    const early = p.filter((x) => x.receivedUs < x.sentUs).map((x) => `${x.tag} ${x.transport}: received_at ${x.at} before the sender's ${x.sentUs}`);
    expect(early).toEqual([]);
  });

  it('stamps are microseconds, also the first after a quiet second (not whole milliseconds)', () => {
    const p = parsed();
    const firsts = p.filter((x) => x.tag === 'first-after-quiet');
    expect(firsts).toHaveLength(QUIET_ROUNDS);
    // A true microsecond stamp is a whole millisecond one time in 1000.
    expect(firsts.filter((x) => x.receivedUs % 1000 === 0).length, firsts.map((x) => x.at).join(' ')).toBeLessThanOrEqual(1);
    expect(p.filter((x) => x.receivedUs % 1000 === 0).length).toBeLessThan(p.length / 20);
  });
});
