// DESIGN rule under test: bad input never crashes or stalls the receiver, every accepted message
// is kept (flagged when it is not what it claims to be), and each kind of bad input is counted.
// Everything runs against a real daemon: real sockets on loopback, real SQLite.
import Database from 'better-sqlite3';
import { isUtf8 } from 'node:buffer';
import { createSocket, type SocketType } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StreamFramer } from '../../src/receive/framing.js';
import { perTestDaemons } from '../helpers/per-test.js';
import { query, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { rng } from '../receive/helpers.js';

const TRUNCATED = 1;
const INCOMPLETE = 2;
const INVALID_UTF8 = 4;

// ---------------------------------------------------------------------------------------------
// Harness: every daemon and socket a test opens is tracked and cleaned up after it.

const { daemon, track } = perTestDaemons();

/** Stops the daemon (SIGTERM), checks its clean exit and returns its final status.json. */
async function stopped(d: RunningDaemon): Promise<any> {
  expect(await d.stop()).toBe(0);
  const s = d.status();
  expect(s.state).toBe('stopped');
  return s;
}

function counters(status: any, name: string): Record<string, number> {
  const l = status.listeners.find((x: any) => x.name === name);
  if (!l) throw new Error(`no listener ${name} in ${JSON.stringify(status.listeners.map((x: any) => x.name))}`);
  return l.counters;
}

const tcpName = (d: RunningDaemon, host = '127.0.0.1'): string => `tcp://${host.includes(':') ? `[${host}]` : host}:${d.tcpPort}`;
const udpName = (d: RunningDaemon, host = '127.0.0.1'): string => `udp://${host.includes(':') ? `[${host}]` : host}:${d.udpPort}`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const raw = (e: QueriedEntry): Buffer => Buffer.from(e.raw, 'base64');
const utf8Bit = (b: Buffer): number => (isUtf8(b) ? 0 : INVALID_UTF8);

/** Waits (bounded) until at least n entries are stored, then returns all of them. */
async function storedAtLeast(d: RunningDaemon, n: number, timeoutMs = 20_000): Promise<QueriedEntry[]> {
  const rows = await waitFor(() => query(d.dataDir), (r) => r.length >= n, timeoutMs, 50);
  expect(rows.length).toBeGreaterThanOrEqual(n);
  return rows;
}

interface Client {
  sock: Socket;
  closed: Promise<void>;
  isClosed(): boolean;
  /** The daemon ended or reset the connection (before we ended it ourselves). */
  closedByPeer(): boolean;
  errors: Error[];
}

function openClient(port: number, host = '127.0.0.1'): Promise<Client> {
  const sock = connect({ port, host });
  track(sock);
  const errors: Error[] = [];
  let closed = false;
  let byPeer = false;
  let weEnded = false;
  const origEnd = sock.end.bind(sock);
  sock.end = ((...a: any[]) => {
    weEnded = true;
    return origEnd(...a);
  }) as typeof sock.end;
  sock.on('error', (e) => {
    errors.push(e);
    if (!weEnded) byPeer = true;
  });
  sock.on('end', () => {
    if (!weEnded) byPeer = true;
  });
  const closedP = new Promise<void>((resolve) =>
    sock.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  sock.resume();
  return new Promise<Client>((resolve, reject) => {
    sock.once('connect', () =>
      resolve({ sock, closed: closedP, isClosed: () => closed, closedByPeer: () => byPeer, errors }),
    );
    sock.once('error', reject);
  });
}

/** Resolves once the bytes are handed to the kernel. */
function write(sock: Socket, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => sock.write(data, (e) => (e ? reject(e) : resolve())));
}

/** One connection: the bytes as `pieces` separate writes, then a clean close. */
async function sendStream(port: number, pieces: (Buffer | string)[], host = '127.0.0.1'): Promise<void> {
  const c = await openClient(port, host);
  for (const p of pieces) await write(c.sock, p);
  c.sock.end();
  await c.closed;
  expect(c.errors).toEqual([]);
}

async function sendDatagrams(port: number, datagrams: Buffer[], host = '127.0.0.1'): Promise<void> {
  const type: SocketType = host.includes(':') ? 'udp6' : 'udp4';
  const s = createSocket(type);
  try {
    for (const g of datagrams) {
      await new Promise<void>((resolve, reject) => s.send(g, port, host, (e) => (e ? reject(e) : resolve())));
      // Paced so the kernel's receive buffer never overflows: a lost datagram would be a test artefact.
      await sleep(1);
    }
  } finally {
    s.close();
  }
}

const octet = (msg: Buffer | string): Buffer => {
  const b = Buffer.isBuffer(msg) ? msg : Buffer.from(msg);
  return Buffer.concat([Buffer.from(`${b.length} `), b]);
};

function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** True when the parts occur in `whole` in this order without overlapping: nothing was invented. */
function orderedSubstrings(parts: Buffer[], whole: Buffer): boolean {
  let at = 0;
  for (const p of parts) {
    const i = whole.indexOf(p, at);
    if (i < 0) return false;
    at = i + p.length;
  }
  return true;
}

const byTransport = (rows: QueriedEntry[], t: string): QueriedEntry[] => rows.filter((r) => r.transport === t);

// ---------------------------------------------------------------------------------------------

describe('random bytes', () => {
  it('over TCP: the daemon stays up, stores exactly what the framer cuts from the bytes sent, and then takes a good message', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0']);
    const r = rng(0xbad1);
    // The first frame ends in NUL, so the connection's terminator is NUL whatever the reads look like,
    // and the daemon's frames can be predicted by framing the same bytes offline.
    const data = Buffer.concat([Buffer.from('<13>noise follows\0'), randomBytes(r, 400_000)]);
    const framer = new StreamFramer({ maxFrameBytes: 131072, mode: 'auto' });
    const expected = [...framer.push(data), ...framer.end()].map((f) => ({ raw: Buffer.from(f.raw), flags: f.flags | utf8Bit(f.raw) }));
    expect(expected.length).toBeGreaterThan(1000);

    const pieces: Buffer[] = [];
    for (let i = 0; i < data.length; ) {
      const n = 1 + Math.floor(r() * 9000);
      pieces.push(data.subarray(i, i + n));
      i += n;
    }
    await sendStream(d.tcpPort, pieces);
    await storedAtLeast(d, expected.length);
    expect(d.child.exitCode).toBeNull();

    await sendStream(d.tcpPort, ['<13>a good message after the noise\n']);
    await storedAtLeast(d, expected.length + 1);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.length).toBe(expected.length + 1);
    const noise = rows.slice(0, -1);
    expect(noise.map(raw)).toEqual(expected.map((e) => e.raw));
    expect(noise.map((e) => e.flags)).toEqual(expected.map((e) => e.flags));
    expect(orderedSubstrings(noise.map(raw), data)).toBe(true);
    expect(raw(rows.at(-1)!).toString()).toBe('<13>a good message after the noise');
    expect(rows.at(-1)!.flags).toBe(0);

    const c = counters(st, tcpName(d));
    expect(c.received).toBe(expected.length + 1);
    expect(c.invalidUtf8).toBe(expected.filter((e) => e.flags & INVALID_UTF8).length);
    expect(c.incomplete).toBe(expected.filter((e) => e.flags & INCOMPLETE).length);
    expect(c.truncated).toBe(0);
    expect(c.bytes).toBe(data.length + '<13>a good message after the noise\n'.length);
  });

  it('as UDP datagrams: each non-empty datagram is stored whole, empty ones are counted, and a good one follows', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0']);
    const r = rng(0xbad2);
    const grams: Buffer[] = [];
    let total = 0;
    for (let i = 0; i < 320; i++) {
      const n = i % 40 === 7 ? 0 : Math.floor(r() * 2400);
      grams.push(randomBytes(r, n));
      total += n;
    }
    expect(total).toBeGreaterThan(300_000);
    const nonEmpty = grams.filter((g) => g.length > 0);
    await sendDatagrams(d.udpPort, grams);
    await storedAtLeast(d, nonEmpty.length);
    expect(d.child.exitCode).toBeNull();

    await sendDatagrams(d.udpPort, [Buffer.from('<13>a good datagram after the noise')]);
    await storedAtLeast(d, nonEmpty.length + 1);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.length).toBe(nonEmpty.length + 1);
    expect(rows.slice(0, -1).map(raw)).toEqual(nonEmpty);
    expect(rows.slice(0, -1).map((e) => e.flags)).toEqual(nonEmpty.map(utf8Bit));
    expect(raw(rows.at(-1)!).toString()).toBe('<13>a good datagram after the noise');
    const c = counters(st, udpName(d));
    expect(c.received).toBe(nonEmpty.length + 1);
    expect(c.emptyFrames).toBe(grams.length - nonEmpty.length);
    expect(c.invalidUtf8).toBe(nonEmpty.filter((g) => !isUtf8(g)).length);
    expect(c.truncated).toBe(0);
    expect(c.queueDrops).toBe(0);
  });
});

describe('frames over --max-message-bytes 1000', () => {
  const M = 1000;
  const msg = (lead: string, fill: string, total: number): Buffer => Buffer.from(lead + fill.repeat(total - lead.length));

  it('octet-counted, LF- and NUL-terminated frames and datagrams are stored cut to 1000 bytes with flag 1, and the next frame is intact', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--max-message-bytes', String(M)]);
    const euro = Buffer.concat([Buffer.from('<13>' + 'e'.repeat(M - 5)), Buffer.from('€')]); // 1002 bytes, cut inside '€'
    const oct = [msg('<13>', 'a', 1500), msg('<13>', 'b', M), msg('<13>', 'c', M + 1), euro, Buffer.from('<13>next octet frame')];
    const lf = [msg('<13>', 'd', 1500), msg('<13>', 'f', M), Buffer.from('<13>next lf frame')];
    const nul = [msg('<13>', 'g', 1200), Buffer.from('<13>next nul frame\nwith an LF inside')];
    const grams = [msg('<13>', 'h', 1500), msg('<13>', 'i', M), msg('<13>', 'j', M + 1), Buffer.from('<13>next datagram')];

    await sendStream(d.tcpPort, [Buffer.concat(oct.map(octet))]);
    // Split mid-frame so the over-long frames span reads as well.
    const lfBytes = Buffer.concat(lf.flatMap((f) => [f, Buffer.from('\n')]));
    await sendStream(d.tcpPort, [lfBytes.subarray(0, 700), lfBytes.subarray(700, 1700), lfBytes.subarray(1700)]);
    await sendStream(d.tcpPort, [Buffer.concat(nul.flatMap((f) => [f, Buffer.from([0])]))]);
    await sendDatagrams(d.udpPort, grams);
    const total = oct.length + lf.length + nul.length + grams.length;
    await storedAtLeast(d, total);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.length).toBe(total);
    const cut = (b: Buffer): Buffer => b.subarray(0, M);
    const tcp = byTransport(rows, 'tcp');
    expect(tcp.map(raw)).toEqual([...oct, ...lf, ...nul].map(cut));
    expect(tcp.map((e) => e.flags)).toEqual([
      TRUNCATED, 0, TRUNCATED, TRUNCATED | INVALID_UTF8, 0,
      TRUNCATED, 0, 0,
      TRUNCATED, 0,
    ]);
    const udp = byTransport(rows, 'udp');
    expect(udp.map(raw)).toEqual(grams.map(cut));
    expect(udp.map((e) => e.flags)).toEqual([TRUNCATED, 0, TRUNCATED, 0]);
    for (const e of rows) expect(raw(e).length).toBeLessThanOrEqual(M);

    expect(counters(st, tcpName(d))).toMatchObject({ received: 10, truncated: 5, invalidUtf8: 1, incomplete: 0 });
    expect(counters(st, udpName(d))).toMatchObject({ received: 4, truncated: 2, invalidUtf8: 0 });
  });
});

describe('invalid UTF-8', () => {
  const bad: Buffer[] = [
    Buffer.concat([Buffer.from('<13>bom-like bytes: '), Buffer.from([0xff, 0xfe])]),
    Buffer.concat([Buffer.from('<13>lone continuation bytes: '), Buffer.from([0x80, 0xbf, 0x80])]),
    Buffer.concat([Buffer.from('<13>truncated 4-byte sequence at the end: '), Buffer.from([0xf0, 0x9f, 0x98])]),
    Buffer.concat([Buffer.from('<13>truncated 4-byte sequence '), Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from(' in the middle')]),
    Buffer.concat([Buffer.from('<13>overlong slash: '), Buffer.from([0xc0, 0xaf])]),
    Buffer.concat([Buffer.from('<13>UTF-16 surrogate: '), Buffer.from([0xed, 0xa0, 0x80])]),
  ];
  const good = Buffer.from('<13>valid: ünïcödé 😀 日本語');

  it('is stored byte-exact with flag 4 over TCP (octet and LF) and UDP; valid UTF-8 gets no flag', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0']);
    const all = [...bad, good];
    await sendStream(d.tcpPort, [Buffer.concat(all.map(octet))]);
    await sendStream(d.tcpPort, all.flatMap((b) => [b, Buffer.from('\n')]));
    await sendDatagrams(d.udpPort, all);
    await storedAtLeast(d, all.length * 3);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.length).toBe(all.length * 3);
    const flags = [...bad.map(() => INVALID_UTF8), 0];
    expect(byTransport(rows, 'tcp').map(raw)).toEqual([...all, ...all]);
    expect(byTransport(rows, 'tcp').map((e) => e.flags)).toEqual([...flags, ...flags]);
    expect(byTransport(rows, 'udp').map(raw)).toEqual(all);
    expect(byTransport(rows, 'udp').map((e) => e.flags)).toEqual(flags);
    expect(counters(st, tcpName(d))).toMatchObject({ received: 14, invalidUtf8: 12, truncated: 0, incomplete: 0 });
    expect(counters(st, udpName(d))).toMatchObject({ received: 7, invalidUtf8: 6 });
  });
});

describe('lying octet counts', () => {
  it('auto framing: a count beyond the end is stored incomplete; a short count leaves the rest as the next frames, no byte lost', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0']);
    // Count larger than what follows, then the connection closes.
    await sendStream(d.tcpPort, ['100 <13>only this much arrives']);
    // Count larger than max_message_bytes and than what follows.
    await sendStream(d.tcpPort, ['9999999 <13>tiny']);
    // Counts shorter than the message: the remainder is framed as what comes next.
    await sendStream(d.tcpPort, ['5 <13>hello world\n9 <13>after']);
    await sendStream(d.tcpPort, ['3 <13>abcdef']);
    await storedAtLeast(d, 7);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.map((e) => raw(e).toString())).toEqual([
      '<13>only this much arrives', '<13>tiny',
      '<13>h', 'ello world', '<13>after',
      '<13', '>abcdef',
    ]);
    expect(rows.map((e) => e.flags)).toEqual([INCOMPLETE, INCOMPLETE, 0, 0, 0, 0, INCOMPLETE]);
    // Nothing lost: the short-count frames put back together are the messages as sent.
    expect(rows.slice(2, 4).map(raw).join('')).toBe('<13>hello world');
    expect(rows.slice(5).map(raw).join('')).toBe('<13>abcdef');
    expect(counters(st, tcpName(d))).toMatchObject({ received: 7, incomplete: 3, truncated: 0 });
  });

  it('--framing octet: the bytes after a short count are kept as one frame up to the next valid header', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--framing', 'octet']);
    await sendStream(d.tcpPort, ['5 <13>hello world9 <13>after', '100 <13>cut short']);
    await sendStream(d.tcpPort, ['5 <13>xtrailing bytes, no header']);
    await storedAtLeast(d, 6);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.map((e) => raw(e).toString())).toEqual([
      '<13>h', 'ello world', '<13>after', '<13>cut short',
      '<13>x', 'trailing bytes, no header',
    ]);
    expect(rows.map((e) => e.flags)).toEqual([0, 0, 0, INCOMPLETE, 0, INCOMPLETE]);
    expect(counters(st, tcpName(d))).toMatchObject({ received: 6, incomplete: 2 });
  });
});

describe('--frame-timeout 1', () => {
  it('a connection that sends half a frame and stalls is stored incomplete and closed; one idle between frames stays open', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--frame-timeout', '1']);
    const idle = await openClient(d.tcpPort);
    const idlePeer = `127.0.0.1:${idle.sock.localPort}`;
    await write(idle.sock, '<13>first frame, then quiet\n');

    const stall = await openClient(d.tcpPort);
    await write(stall.sock, '<13>half a frame and then nothing');
    await Promise.race([stall.closed, sleep(10_000)]);
    expect(stall.isClosed()).toBe(true);
    expect(stall.closedByPeer()).toBe(true);

    // The idle connection has been quiet for well over the timeout, between frames.
    await sleep(2500);
    expect(idle.isClosed()).toBe(false);
    await write(idle.sock, '<13>second frame on the same socket\n');
    await storedAtLeast(d, 3);
    expect(idle.isClosed()).toBe(false);
    idle.sock.end();
    await idle.closed;
    expect(idle.closedByPeer()).toBe(false);
    expect(idle.errors).toEqual([]);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    const byText = new Map(rows.map((e) => [raw(e).toString(), e.flags]));
    expect(rows.length).toBe(3);
    expect(byText.get('<13>half a frame and then nothing')).toBe(INCOMPLETE);
    expect(byText.get('<13>first frame, then quiet')).toBe(0);
    expect(byText.get('<13>second frame on the same socket')).toBe(0);
    // Both frames of the idle connection came over one connection.
    expect(rows.filter((e) => raw(e).toString().includes('frame on the same') || raw(e).toString().includes('then quiet')).map((e) => e.peer))
      .toEqual([idlePeer, idlePeer]);
    expect(counters(st, tcpName(d))).toMatchObject({ received: 3, frameTimeouts: 1, incomplete: 1 });
  });

  it('a stalled octet frame (count header seen, bytes missing) is stored incomplete and closed', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--frame-timeout', '1']);
    const stall = await openClient(d.tcpPort);
    await write(stall.sock, Buffer.concat([octet('<13>ok!!!!!'), Buffer.from('100 <13>the count says more')]));
    await Promise.race([stall.closed, sleep(10_000)]);
    expect(stall.closedByPeer()).toBe(true);
    await storedAtLeast(d, 2);
    const st = await stopped(d);
    const rows = query(d.dataDir);
    expect(rows.map((e) => [raw(e).toString(), e.flags])).toEqual([
      ['<13>ok!!!!!', 0],
      ['<13>the count says more', INCOMPLETE],
    ]);
    expect(counters(st, tcpName(d))).toMatchObject({ received: 2, frameTimeouts: 1, incomplete: 1 });
  });
});

describe('--frame-timeout 1 and backpressure', () => {
  /**
   * A daemon with a 1 s frame timeout and a 64 KiB queue high-water mark, and `db` holding
   * SQLite's write lock so commits wait (until `db.exec('ROLLBACK')`): the queue climbs above its
   * high-water mark and the daemon pauses the sender, typically in the middle of a frame.
   */
  async function congestedDaemon(): Promise<{ d: RunningDaemon; db: Database.Database }> {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--frame-timeout', '1', '--queue-high-water-bytes', '65536']);
    const db = new Database(join(d.dataDir, 'immutalog.sqlite'));
    track({ destroy: () => db.open && db.close() } as unknown as Socket);
    db.exec('BEGIN EXCLUSIVE');
    return { d, db };
  }

  it('a connection paused by the daemon itself (write queue congested) is not timed out as a stalled sender', async () => {
    const { d, db } = await congestedDaemon();
    const frames = Array.from({ length: 400 }, (_, i) => `<13>frame ${String(i).padStart(4, '0')} ${'p'.repeat(977)}`);
    const c = await openClient(d.tcpPort);
    c.sock.write(frames.map((f) => f + '\n').join(''));
    // Longer than the frame timeout, while the daemon holds the connection paused.
    await sleep(3000);
    const closedDuringPause = c.isClosed();
    db.exec('ROLLBACK');
    db.close();
    await storedAtLeast(d, frames.length, 30_000);
    c.sock.end();
    await Promise.race([c.closed, sleep(10_000)]);
    const st = await stopped(d);
    expect(closedDuringPause).toBe(false);
    const rows = query(d.dataDir);
    expect(rows.map((e) => raw(e).toString())).toEqual(frames);
    expect(rows.every((e) => e.flags === 0)).toBe(true);
    expect(counters(st, tcpName(d))).toMatchObject({ received: 400, frameTimeouts: 0, incomplete: 0 });
  });

  it('once the congestion clears, a sender that really stalled mid-frame is still timed out', async () => {
    const { d, db } = await congestedDaemon();
    // A bit more than the high-water mark, ending in half a frame: the daemon reads it all, and the
    // read that crosses the mark pauses the connection with the half frame held.
    const frames = Array.from({ length: 80 }, (_, i) => `<13>frame ${String(i).padStart(4, '0')} ${'q'.repeat(977)}`);
    const c = await openClient(d.tcpPort);
    c.sock.write(frames.map((f) => f + '\n').join('') + '<13>half a frame, then the sender stalls');
    await sleep(2500);
    expect(c.isClosed()).toBe(false);
    db.exec('ROLLBACK');
    db.close();
    await Promise.race([c.closed, sleep(15_000)]);
    expect(c.closedByPeer()).toBe(true);
    await storedAtLeast(d, frames.length + 1);
    const st = await stopped(d);
    const rows = query(d.dataDir);
    expect(rows.map((e) => raw(e).toString())).toEqual([...frames, '<13>half a frame, then the sender stalls']);
    expect(rows.map((e) => e.flags)).toEqual([...frames.map(() => 0), INCOMPLETE]);
    expect(counters(st, tcpName(d))).toMatchObject({ received: 81, frameTimeouts: 1, incomplete: 1 });
  });
});

describe('a connection flood against --max-connections 20', () => {
  it('refuses the excess while 20 senders that spoke hold the slots, keeps serving them, and takes new ones afterwards', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--max-connections', '20']);
    // 20 senders that have each delivered a message: a flood may not evict them (they spoke
    // within the last 10 s, and no source holds more connections than the newcomers' own).
    const senders = await Promise.all(Array.from({ length: 20 }, () => openClient(d.tcpPort)));
    for (const [i, c] of senders.entries()) await write(c.sock, `<13>accepted connection ${i}\n`);
    await storedAtLeast(d, 20);
    const flood = await Promise.all(Array.from({ length: 180 }, () => openClient(d.tcpPort)));
    await waitFor(() => flood.filter((c) => c.isClosed()).length, (n) => n >= 180, 20_000, 25);
    await sleep(200);
    expect(senders.filter((c) => c.isClosed())).toEqual([]);
    expect(flood.every((c) => c.closedByPeer())).toBe(true);
    expect(d.child.exitCode).toBeNull();

    for (const [i, c] of senders.entries()) await write(c.sock, `<13>still served ${i}\n`);
    await storedAtLeast(d, 40);
    await Promise.all(senders.map(async (c) => {
      c.sock.end();
      await c.closed;
    }));
    // Once they are gone, a new connection is served.
    await waitFor(() => d.status()?.listeners.find((l: any) => l.transport === 'tcp').connections, (n) => n === 0, 10_000);
    await sendStream(d.tcpPort, ['<13>a new connection after the flood\n']);
    await storedAtLeast(d, 41);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.map((e) => raw(e).toString()).sort()).toEqual(
      [
        ...Array.from({ length: 20 }, (_, i) => `<13>accepted connection ${i}`),
        ...Array.from({ length: 20 }, (_, i) => `<13>still served ${i}`),
        '<13>a new connection after the flood',
      ].sort(),
    );
    expect(rows.every((e) => e.flags === 0)).toBe(true);
    expect(counters(st, tcpName(d))).toMatchObject({ received: 41, rejectedConnections: 180, evictedConnections: 0, rejectedSources: 0 });
  });
});

describe('source allowlist', () => {
  it('--allow 10.0.0.0/8: a loopback connection is closed and a loopback datagram dropped, nothing stored, both counted', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--allow', '10.0.0.0/8']);
    const c = await openClient(d.tcpPort);
    c.sock.write('<13>from a source outside the allowlist\n');
    await Promise.race([c.closed, sleep(10_000)]);
    expect(c.closedByPeer()).toBe(true);
    await sendDatagrams(d.udpPort, [Buffer.from('<13>dgram 1'), Buffer.from('<13>dgram 2'), Buffer.from('<13>dgram 3')]);
    // status.json is rewritten every 2 s: wait until it has seen all three datagrams.
    await waitFor(() => d.status(), (s) => s && counters(s, udpName(d)).rejectedSources >= 3, 15_000, 100);
    expect(d.child.exitCode).toBeNull();
    const st = await stopped(d);
    expect(query(d.dataDir)).toEqual([]);
    expect(counters(st, tcpName(d))).toMatchObject({ rejectedSources: 1, received: 0, bytes: 0 });
    expect(counters(st, udpName(d))).toMatchObject({ rejectedSources: 3, received: 0, bytes: 0 });
  });

  it('--allow 127.0.0.0/8 admits loopback senders', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--allow', '10.0.0.0/8', '--allow', '127.0.0.0/8']);
    await sendStream(d.tcpPort, ['<13>tcp from loopback\n']);
    await sendDatagrams(d.udpPort, [Buffer.from('<13>udp from loopback')]);
    await storedAtLeast(d, 2);
    const st = await stopped(d);
    expect(query(d.dataDir).map((e) => raw(e).toString()).sort()).toEqual(['<13>tcp from loopback', '<13>udp from loopback']);
    expect(counters(st, tcpName(d))).toMatchObject({ rejectedSources: 0, received: 1 });
    expect(counters(st, udpName(d))).toMatchObject({ rejectedSources: 0, received: 1 });
  });

  it('--allow ::1 admits IPv6 loopback on IPv6 listeners and refuses 127.0.0.1 on IPv4 ones', async () => {
    const d = await daemon(['--udp', '[::1]:0', '--tcp', '[::1]:0', '--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--allow', '::1']);
    const s = d.status();
    const port = (name: string): number => s.listeners.find((l: any) => l.name.startsWith(name)).port;
    const [t6, u6, t4, u4] = [port('tcp://[::1]:'), port('udp://[::1]:'), port('tcp://127.0.0.1:'), port('udp://127.0.0.1:')];
    await sendStream(t6, ['<13>tcp over ::1\n'], '::1');
    await sendDatagrams(u6, [Buffer.from('<13>udp over ::1')], '::1');
    const c4 = await openClient(t4);
    c4.sock.write('<13>tcp over 127.0.0.1\n');
    await Promise.race([c4.closed, sleep(10_000)]);
    expect(c4.closedByPeer()).toBe(true);
    await sendDatagrams(u4, [Buffer.from('<13>udp over 127.0.0.1')]);
    await storedAtLeast(d, 2);
    await waitFor(() => d.status(), (x) => x && counters(x, `udp://127.0.0.1:${u4}`).rejectedSources >= 1, 15_000, 100);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.map((e) => raw(e).toString()).sort()).toEqual(['<13>tcp over ::1', '<13>udp over ::1']);
    expect(rows.every((e) => e.peer.startsWith('[::1]:'))).toBe(true);
    expect(counters(st, `tcp://[::1]:${t6}`)).toMatchObject({ received: 1, rejectedSources: 0 });
    expect(counters(st, `udp://[::1]:${u6}`)).toMatchObject({ received: 1, rejectedSources: 0 });
    expect(counters(st, `tcp://127.0.0.1:${t4}`)).toMatchObject({ received: 0, rejectedSources: 1 });
    expect(counters(st, `udp://127.0.0.1:${u4}`)).toMatchObject({ received: 0, rejectedSources: 1 });
  });
});

describe('SIGTERM while a client is mid-stream', () => {
  it('exits 0, with every complete frame stored and the half-sent one stored incomplete', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0']);
    const c = await openClient(d.tcpPort);
    const frames = Array.from({ length: 50 }, (_, i) => `<13>before the stop ${i}`);
    await write(c.sock, frames.map((f) => f + '\n').join('') + '<13>the last frame is only half');
    await storedAtLeast(d, 50);
    const st = await stopped(d);

    const rows = query(d.dataDir);
    expect(rows.map((e) => raw(e).toString())).toEqual([...frames, '<13>the last frame is only half']);
    expect(rows.map((e) => e.flags)).toEqual([...frames.map(() => 0), INCOMPLETE]);
    expect(counters(st, tcpName(d))).toMatchObject({ received: 51, incomplete: 1 });
    await Promise.race([c.closed, sleep(10_000)]);
    expect(c.closedByPeer()).toBe(true);
  });

  it('exits 0 under a continuous stream; what is stored is exactly a prefix of what was sent', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0']);
    const c = await openClient(d.tcpPort);
    const frame = (i: number): string => `<13>continuous stream frame ${String(i).padStart(8, '0')} ${'x'.repeat(i % 97)}\n`;
    let sent = 0;
    const writer = (async () => {
      const MAX = 5_000_000;
      while (sent < MAX && !c.isClosed() && c.errors.length === 0 && c.sock.writable) {
        let batch = '';
        for (let k = 0; k < 100 && sent < MAX; k++) batch += frame(sent++);
        if (!c.sock.write(batch)) await Promise.race([new Promise((r) => c.sock.once('drain', r)), c.closed]);
        // Throttled so the log stays small enough to read back whole.
        await sleep(5);
      }
    })();
    // Stop once a good number of frames are committed while the stream is still running.
    const before = (await storedAtLeast(d, 3000, 30_000)).length;
    expect(c.isClosed()).toBe(false);
    const st = await stopped(d);
    await Promise.race([c.closed, sleep(10_000)]);
    await writer;
    expect(c.closedByPeer()).toBe(true);

    const rows = query(d.dataDir);
    expect(rows.length).toBeGreaterThanOrEqual(before);
    expect(rows.length).toBeLessThanOrEqual(sent);
    const last = rows.length - 1;
    for (let i = 0; i < last; i++) {
      if (raw(rows[i]!).toString() + '\n' !== frame(i) || rows[i]!.flags !== 0) {
        expect.fail(`entry ${i}: ${JSON.stringify(raw(rows[i]!).toString())} flags ${rows[i]!.flags}, expected ${JSON.stringify(frame(i))}`);
      }
    }
    // The last entry is either the next complete frame or the start of it, flagged incomplete.
    const tail = raw(rows[last]!).toString();
    if (rows[last]!.flags === 0) expect(tail + '\n').toBe(frame(last));
    else {
      expect(rows[last]!.flags).toBe(INCOMPLETE);
      expect(frame(last).startsWith(tail)).toBe(true);
    }
    expect(counters(st, tcpName(d)).received).toBe(rows.length);
  });
});
