// Connection limits of the TCP and TLS listeners against a real daemon: bare TCP connections on
// the TLS port, a peer outside --allow, hundreds of idle and half-open connections while real
// senders (node:tls, util-linux logger) are served, and the per-source limit. The flooders come
// from other loopback addresses (127.0.0.2-6, all loopback on Linux) than the real senders.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricSample, perTestDaemons } from '../helpers/per-test.js';
import { query, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { makePki, type Pki } from '../clients/certs.js';
import { logger } from '../clients/logger.js';
import { nodeTlsSend, octetFrame } from '../clients/tls.js';
import { needClients } from '../clients/available.js';

/** The TLS listener's certificates come from openssl. */
const tlsClients = needClients('openssl');
const loggerClient = needClients('logger');

const INCOMPLETE = 2;
const FLOOD_SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
/** More than the default max_connections (512); 120 from each source, under the default per-source 128. */
const FLOOD = 600;
/** Connections opened at once: fewer than the listen backlog (511), so no SYN waits for a retry. */
const BATCH = 50;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const raw = (e: QueriedEntry): Buffer => Buffer.from(e.raw, 'base64');

const { daemon, track } = perTestDaemons();

/** Stops the daemon (SIGTERM), checks its clean exit and returns the listener's final counters. */
async function stoppedCounters(d: RunningDaemon, transport: 'tcp' | 'tls'): Promise<Record<string, number>> {
  expect(await d.stop()).toBe(0);
  const s = d.status();
  expect(s.state).toBe('stopped');
  return s.listeners.find((l: any) => l.transport === transport).counters;
}

interface Peer {
  sock: Socket;
  /** Bytes the daemon sent us. */
  received: Buffer[];
  closed: Promise<void>;
  isClosed(): boolean;
  /** The daemon ended or reset the connection (we never end these ourselves). */
  closedByPeer(): boolean;
}

/** A plain TCP connection from `from` that reads what it is sent and never ends on its own. */
function peer(port: number, from: string): Promise<Peer> {
  const sock = connect({ port, host: '127.0.0.1', localAddress: from });
  track(sock);
  const received: Buffer[] = [];
  let closed = false;
  let byPeer = false;
  sock.on('data', (b: Buffer) => received.push(b));
  sock.on('end', () => (byPeer = true));
  sock.on('error', () => (byPeer = true));
  const closedP = new Promise<void>((resolve) => sock.on('close', () => {
    closed = true;
    resolve();
  }));
  return new Promise((resolve, reject) => {
    sock.once('connect', () => resolve({ sock, received, closed: closedP, isClosed: () => closed, closedByPeer: () => byPeer }));
    sock.once('error', reject);
  });
}

/** FLOOD connections spread over FLOOD_SOURCES, in batches; `first` runs on each once connected. */
async function flood(port: number, first?: (p: Peer, i: number) => Promise<void>): Promise<Peer[]> {
  const peers: Peer[] = [];
  for (let i = 0; i < FLOOD; i += BATCH) {
    const batch = await Promise.all(Array.from({ length: BATCH }, (_, j) => peer(port, FLOOD_SOURCES[(i + j) % FLOOD_SOURCES.length]!)));
    if (first) await Promise.all(batch.map((p, j) => first(p, i + j)));
    peers.push(...batch);
  }
  return peers;
}

function write(sock: Socket, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => sock.write(data, (e) => (e ? reject(e) : resolve())));
}

const sample = metricSample;

/** Polls the async `fn` until `cond` holds or `timeoutMs` passes; returns the last value. */
async function until<T>(fn: () => Promise<T>, cond: (v: T) => boolean, timeoutMs: number, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let v = await fn();
  while (!cond(v) && Date.now() < end) {
    await sleep(stepMs);
    v = await fn();
  }
  return v;
}

/** The daemon's live counters (the metrics endpoint renders them at each scrape). */
async function scrape(d: RunningDaemon): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${d.status().metrics_port}/metrics`);
  expect(r.status).toBe(200);
  return r.text();
}

/** The bytes a node:tls client writes first: its ClientHello, caught without any network. */
async function clientHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const wire = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        resolve(chunk);
        cb();
        setImmediate(() => t.destroy());
      },
    });
    const t = tlsConnect({ socket: wire, rejectUnauthorized: false, servername: 'immutalog.test' });
    t.on('error', () => {});
  });
}

/** Sends `hello` from `from` and collects what the daemon sends back until it closes, or for `ms`. */
async function probe(port: number, from: string, hello: Buffer, ms = 3000): Promise<{ bytes: Buffer; closedByPeer: boolean }> {
  const p = await peer(port, from);
  await write(p.sock, hello);
  await Promise.race([p.closed, sleep(ms)]);
  const r = { bytes: Buffer.concat(p.received), closedByPeer: p.closedByPeer() };
  p.sock.destroy();
  return r;
}

let tmp: string;
let pki: Pki;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-conn-'));
  if (!tlsClients.missing) pki = await makePki(join(tmp, 'pki'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const tlsArgs = (): string[] => ['--udp', '127.0.0.1:0', '--tls', '127.0.0.1:0', '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--metrics', '127.0.0.1:0'];
const HDR = '<134>1 2026-11-26T12:52:01.098193+00:00 vm tacker-server - - - ';

tlsClients.describe('bare TCP connections on the TLS port', () => {
  it(`${FLOOD} connections that never start a handshake hold slots only until --handshake-timeout; a TLS client is served during and after`, async () => {
    const d = await daemon([...tlsArgs(), '--handshake-timeout', '5']);
    const name = d.status().listeners.find((l: any) => l.transport === 'tls').name;
    const peers = await flood(d.tlsPort);

    // Handshakes count toward the limit and show: every bare connection is held (in handshake),
    // was evicted to make room for a newer one, or has timed out. Nothing else.
    // The client sees 'connect' before the daemon's accept: wait until the daemon has seen them all.
    const held = (m: string): { open: number; handshaking: number; evicted: number; timedOut: number } => ({
      open: sample(m, 'immutalog_open_connections', { listener: name }) ?? NaN,
      handshaking: sample(m, 'immutalog_handshaking_connections', { listener: name }) ?? NaN,
      evicted: sample(m, 'immutalog_closed_connections_total', { listener: name, reason: 'evicted' }) ?? NaN,
      timedOut: sample(m, 'immutalog_closed_connections_total', { listener: name, reason: 'handshake_timeout' }) ?? NaN,
    });
    const h = await until(async () => held(await scrape(d)), (x) => x.open + x.evicted + x.timedOut === FLOOD, 10_000);
    expect(h.open + h.evicted + h.timedOut).toBe(FLOOD);
    expect(h.handshaking).toBe(h.open);
    expect(h.open).toBeLessThanOrEqual(512);

    // A real client while the slots are full of bare connections: it takes the place of one.
    const during = [0, 1, 2].map((i) => Buffer.from(`${HDR}during the flood ${i}`));
    const r1 = await nodeTlsSend({ port: d.tlsPort, ca: pki.read(pki.caCert), writes: [Buffer.concat(during.map(octetFrame))] });
    expect(r1).toMatchObject({ secured: true, refused: false, error: null });

    // Every bare connection is closed by the daemon (timed out or evicted), none sent a byte back.
    await waitFor(() => peers.filter((p) => p.isClosed()).length, (n) => n === FLOOD, 30_000, 50);
    expect(peers.filter((p) => !p.closedByPeer()).length).toBe(0);
    expect(peers.filter((p) => p.received.length > 0).length).toBe(0);
    expect(await until(async () => sample(await scrape(d), 'immutalog_open_connections', { listener: name }), (v) => v === 0, 10_000)).toBe(0);

    const after = [0, 1, 2].map((i) => Buffer.from(`${HDR}after the flood ${i}`));
    const r2 = await nodeTlsSend({ port: d.tlsPort, ca: pki.read(pki.caCert), writes: [Buffer.concat(after.map(octetFrame))] });
    expect(r2).toMatchObject({ secured: true, refused: false, error: null });
    await waitFor(() => query(d.dataDir).length, (n) => n >= 6, 15_000, 50);
    const c = await stoppedCounters(d, 'tls');

    expect(query(d.dataDir).map((e) => raw(e).toString())).toEqual([...during, ...after].map((b) => b.toString()));
    expect(c.handshakeTimeouts + c.evictedConnections).toBe(FLOOD);
    expect(c.handshakeTimeouts).toBeGreaterThan(0);
    expect(c).toMatchObject({ received: 6, tlsFailures: 0, rejectedConnections: 0, rejectedPerSource: 0 });
  });
});

tlsClients.describe('--allow on the TLS port', () => {
  it('a peer outside the allowlist is closed before any TLS byte: its ClientHello gets no ServerHello; counted as not allowed', async () => {
    const d = await daemon([...tlsArgs(), '--allow', '127.0.0.1/32']);
    const name = d.status().listeners.find((l: any) => l.transport === 'tls').name;
    const hello = await clientHello();
    expect(hello[0]).toBe(0x16); // a TLS handshake record

    const outside = await probe(d.tlsPort, '127.0.0.2', hello);
    expect(outside.closedByPeer).toBe(true);
    expect(outside.bytes.length).toBe(0);
    // The same bytes from an allowed address do get the server's first flight (the test can fail).
    const inside = await probe(d.tlsPort, '127.0.0.1', hello, 1000);
    expect(inside.bytes.length).toBeGreaterThan(0);
    expect(inside.bytes[0]).toBe(0x16);

    const m = await scrape(d);
    expect(sample(m, 'immutalog_refused_connections_total', { listener: name, reason: 'not_allowed' })).toBe(1);
    expect(sample(m, 'immutalog_rejected_sources_total', { listener: name })).toBe(1);
    const r = await nodeTlsSend({ port: d.tlsPort, ca: pki.read(pki.caCert), writes: [octetFrame(`${HDR}from an allowed source`)] });
    expect(r).toMatchObject({ secured: true, refused: false, error: null });
    await waitFor(() => query(d.dataDir).length, (n) => n >= 1, 15_000, 50);
    const c = await stoppedCounters(d, 'tls');
    expect(query(d.dataDir).map((e) => raw(e).toString())).toEqual([`${HDR}from an allowed source`]);
    expect(c).toMatchObject({ rejectedSources: 1, received: 1 });
  });
});

describe('idle and half-open plain TCP connections', () => {
  loggerClient.it(`${FLOOD} idle, half-frame and half-octet-frame connections while logger --tcp sends 200 messages: all stored, and every half frame too`, async () => {
    // A frame timeout longer than the test: on a slow host the half frames must not time out instead.
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--frame-timeout', '600']);
    const name = d.status().listeners.find((l: any) => l.transport === 'tcp').name;
    // A third send nothing, a third half an LF frame, a third an octet count and fewer bytes.
    const partial = (i: number): string | undefined => (i % 3 === 1 ? `<13>stalled LF frame ${i}` : i % 3 === 2 ? `200 <13>stalled octet frame ${i}` : undefined);
    let sent = 0;
    const peers = await flood(d.tcpPort, async (p, i) => {
      const part = partial(i);
      if (part === undefined) return;
      await write(p.sock, part);
      sent += part.length;
    });
    // Every byte the stallers sent has been read (so an eviction can only flush it, never lose it).
    expect(await until(async () => sample(await scrape(d), 'immutalog_received_bytes_total', { listener: name }), (v) => v === sent, 15_000)).toBe(sent);
    expect(sample(await scrape(d), 'immutalog_open_connections', { listener: name })).toBe(512);

    const lines = (run: number): string[] => Array.from({ length: 40 }, (_, i) => `logger run ${run} line ${i}`);
    for (let run = 0; run < 5; run++) {
      const framing = run % 2 === 0 ? [] : ['--octet-count'];
      await logger(['--server', '127.0.0.1', '--port', String(d.tcpPort), '--tcp', '--rfc3164', ...framing, '-t', 'conn-limits', '-p', 'local0.info'], { input: lines(run).join('\n') + '\n' });
    }
    const fromLogger = (): QueriedEntry[] => query(d.dataDir).filter((e) => raw(e).toString().includes('conn-limits'));
    await waitFor(fromLogger, (r) => r.length >= 200, 20_000, 100);
    expect(peers.filter((p) => p.received.length > 0).length).toBe(0);
    const c = await stoppedCounters(d, 'tcp');

    const rows = query(d.dataDir);
    const loggerRows = rows.filter((e) => e.peer.startsWith('127.0.0.1:'));
    expect(loggerRows.map((e) => raw(e).toString().replace(/^.*conn-limits: /, ''))).toEqual([0, 1, 2, 3, 4].flatMap(lines));
    expect(loggerRows.every((e) => e.flags === 0)).toBe(true);
    // The half frames: flushed, flagged incomplete, when their connection was evicted or at the stop.
    const stalled = rows.filter((e) => !e.peer.startsWith('127.0.0.1:'));
    const expected = Array.from({ length: FLOOD }, (_, i) => partial(i)).filter((p) => p !== undefined).map((p) => p.replace(/^200 /, ''));
    expect(stalled.map((e) => raw(e).toString()).sort()).toEqual(expected.sort());
    expect(stalled.every((e) => e.flags === INCOMPLETE && FLOOD_SOURCES.includes(e.peer.split(':')[0]!))).toBe(true);
    expect(c.evictedConnections).toBeGreaterThanOrEqual(FLOOD - 512);
    expect(c).toMatchObject({ received: 200 + expected.length, rejectedConnections: 0, rejectedPerSource: 0, frameTimeouts: 0 });
  });
});

describe('--max-connections-per-source', () => {
  it('a source past its limit is refused and counted; other sources are served', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--max-connections-per-source', '10']);
    const name = d.status().listeners.find((l: any) => l.transport === 'tcp').name;
    const held = await Promise.all(Array.from({ length: 10 }, () => peer(d.tcpPort, '127.0.0.2')));
    const extra = await Promise.all(Array.from({ length: 5 }, () => peer(d.tcpPort, '127.0.0.2')));
    await waitFor(() => extra.filter((p) => p.isClosed()).length, (n) => n === 5, 10_000, 25);
    expect(extra.every((p) => p.closedByPeer())).toBe(true);
    for (const [i, p] of held.entries()) await write(p.sock, `<13>held ${i}\n`);
    const other = await peer(d.tcpPort, '127.0.0.1');
    await write(other.sock, '<13>another source\n');
    await waitFor(() => query(d.dataDir).length, (n) => n >= 11, 15_000, 50);
    expect(held.filter((p) => p.isClosed()).length).toBe(0);
    expect(sample(await scrape(d), 'immutalog_refused_connections_total', { listener: name, reason: 'source_limit' })).toBe(5);
    const c = await stoppedCounters(d, 'tcp');
    expect(query(d.dataDir).map((e) => raw(e).toString()).sort()).toEqual([...Array.from({ length: 10 }, (_, i) => `<13>held ${i}`), '<13>another source'].sort());
    expect(c).toMatchObject({ rejectedPerSource: 5, rejectedConnections: 0, evictedConnections: 0, received: 11 });
  });
});

describe('--idle-timeout', () => {
  it('closes a connection quiet for that long (its frames kept); off by default', async () => {
    const d = await daemon(['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--idle-timeout', '1']);
    const p = await peer(d.tcpPort, '127.0.0.1');
    await write(p.sock, '<13>one message, then quiet\n');
    await Promise.race([p.closed, sleep(10_000)]);
    expect(p.closedByPeer()).toBe(true);
    const c = await stoppedCounters(d, 'tcp');
    expect(query(d.dataDir).map((e) => [raw(e).toString(), e.flags])).toEqual([['<13>one message, then quiet', 0]]);
    expect(c).toMatchObject({ idleTimeouts: 1, frameTimeouts: 0, received: 1 });
  });
});
