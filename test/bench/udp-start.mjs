// UDP from the first second, and TCP side by side, with syslog-ng's loggen as the sender (run by
// hand: `npm run build && node test/bench/udp-start.mjs --loggen DIR`; never by the suite).
// DIR is where syslog-ng-core and its libraries were unpacked with `dpkg -x` (README, Benchmarks);
// IMMUTALOG_LOGGEN may name it instead.
//   UDP (default): per round and per duration, `serve` on a fresh data directory, and loggen
//   (256-byte datagrams, --rate 50000, its default bursty pacing) started the moment status.json
//   says `running`; then syslog-ng (udp source, plain file) started just before the same loggen
//   run. Counts what was stored against what loggen says it sent, the kernel's drop counter of
//   the socket (/proc/net/udp, read as serve/udp-drops.ts reads it), and where in time the loss
//   falls: per second of the sender (its progress lines) and per second of arrival.
//   TCP (--tcp SECONDS): one loggen connection, no rate limit to speak of, against immutalog's TCP
//   listener and against syslog-ng writing a plain file, in the same run; rates as stored.
// Options: --seconds 10,30 --rate 50000 --size 256 --rounds 3 --against OTHER/dist/cli/main.js
//   (paired, alternating) --serve-args '...' --node-flags '...' --no-syslog-ng --tcp SECONDS
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { args, CLI, opt, sleep, START_FLAGS } from './common.mjs';
import { readUdpKernelDrops } from '../../dist/serve/udp-drops.js';

const LOGGEN_ROOT = opt('--loggen', process.env.IMMUTALOG_LOGGEN);
if (!LOGGEN_ROOT || !existsSync(join(LOGGEN_ROOT, 'usr', 'bin', 'loggen'))) {
  console.error(`expected --loggen DIR (or IMMUTALOG_LOGGEN) naming the folder syslog-ng-core was unpacked into (DIR/usr/bin/loggen), got ${JSON.stringify(LOGGEN_ROOT)}; README, Benchmarks, says how to get it`);
  process.exit(2);
}
const SECONDS = opt('--seconds', '10,30').split(',').map(Number);
const RATE = Number(opt('--rate', '50000'));
const SIZE = Number(opt('--size', '256'));
const ROUNDS = Number(opt('--rounds', '3'));
const TCP_SECONDS = args.includes('--tcp') ? Number(opt('--tcp', '20')) : 0;
// loggen's --rate is per connection; "no limit" for TCP is a rate no sender here reaches.
const TCP_RATE = Number(opt('--tcp-rate', '10000000'));
const AGAINST = opt('--against', undefined);
const EXTRA = opt('--serve-args', '').split(' ').filter(Boolean);
const NODE_FLAGS = args.includes('--node-flags') ? opt('--node-flags', '').split(' ').filter(Boolean) : START_FLAGS;
const WITH_SYSLOG_NG = !args.includes('--no-syslog-ng');
// Asked for by both receivers, so the kernel caps both at the same net.core.rmem_max.
const RCVBUF = 32 * 1024 * 1024;

const libs = ['usr/lib/syslog-ng', 'usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu'].map((d) => join(LOGGEN_ROOT, d));
const SNG_ENV = { ...process.env, LD_LIBRARY_PATH: [...libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'), SYSLOGNG_PREFIX: join(LOGGEN_ROOT, 'usr') };

/** Runs loggen; resolves with what it says it sent and its progress lines, timed by us. */
function loggen(proto, port, seconds, rate) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(join(LOGGEN_ROOT, 'usr', 'bin', 'loggen'), ['--inet', proto === 'udp' ? '--dgram' : '--stream', '--size', String(SIZE), '--rate', String(rate), '--interval', String(seconds), '127.0.0.1', String(port)], { env: SNG_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    const progress = [];
    let text = '';
    const onData = (d) => {
      const t = (performance.now() - t0) / 1000;
      for (const line of d.toString().split('\n')) {
        text += line + '\n';
        const m = /^count=(\d+), rate/.exec(line.trim());
        if (m) progress.push({ t, count: Number(m[1]) });
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', () => {
      const m = /average rate = ([\d.]+) msg\/sec, count=(\d+), time=([\d.]+)/.exec(text);
      if (!m) throw new Error(`expected loggen's "average rate" line, got:\n${text}`);
      resolve({ sent: Number(m[2]), sender_rate: Math.round(Number(m[1])), sender_seconds: Number(m[3]), progress, errors: text.split('\n').filter((l) => /error/i.test(l)).slice(0, 3) });
    });
  });
}

/** A free loopback port for syslog-ng (it cannot bind port 0 and tell us which it got). */
async function freePort(kind) {
  if (kind === 'udp') {
    const s = createSocket('udp4');
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    const { port } = s.address();
    await new Promise((r) => s.close(r));
    return port;
  }
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const seqOf = (buf) => {
  const at = buf.indexOf('seq: ');
  return at < 0 ? -1 : Number(buf.subarray(at + 5, at + 15).toString());
};

/**
 * Where the loss falls: per sender second (loggen's progress lines: the messages counted between
 * two lines against those of them stored) and per second of arrival (stored per second from ready).
 */
function timeline(stored, sent, progress, arrivalsUs, readyUs) {
  const have = new Uint8Array(sent);
  for (const s of stored) if (s >= 0 && s < sent) have[s] = 1;
  const prefix = new Uint32Array(sent + 1);
  for (let i = 0; i < sent; i++) prefix[i + 1] = prefix[i] + have[i];
  const marks = [...progress.filter((p) => p.count <= sent), { t: null, count: sent }];
  const bySender = [];
  let from = 0;
  for (const m of marks) {
    if (m.count <= from) continue;
    const n = m.count - from;
    const lost = n - (prefix[m.count] - prefix[from]);
    bySender.push({ until_s: m.t === null ? 'end' : +m.t.toFixed(2), sent: n, lost, lost_pct: +((100 * lost) / n).toFixed(2) });
    from = m.count;
  }
  const perSecond = [];
  for (const us of arrivalsUs) {
    const s = Math.max(0, Math.floor((us - readyUs) / 1e6));
    perSecond[s] = (perSecond[s] ?? 0) + 1;
  }
  return { by_sender_second: bySender, stored_per_second_from_ready: Array.from(perSecond, (x) => x ?? 0) };
}

async function waitStable(read, quietMs = 600) {
  let n = -1;
  for (let stable = 0; stable * 100 < quietMs; ) {
    await sleep(100);
    const m = read();
    stable = m === n ? stable + 1 : 0;
    n = m;
  }
  return n;
}

/** `serve` on a fresh data directory; resolves once status.json says running. */
async function startImmutalog(cli, transport) {
  const dir = mkdtempSync(join(tmpdir(), 'immutalog-udpstart-'));
  const t0 = performance.now();
  const child = spawn(process.execPath, [...NODE_FLAGS, cli, 'serve', '--data-dir', dir, `--${transport}`, '127.0.0.1:0', '--log-level', 'warn', ...EXTRA], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const statusPath = join(dir, 'status.json');
  for (let i = 0; i < 4000; i++) {
    if (existsSync(statusPath)) {
      try {
        const s = JSON.parse(readFileSync(statusPath, 'utf8'));
        if (s.pid === child.pid && s.state === 'running') {
          return { dir, child, port: s.listeners[0].port, readyUs: Date.now() * 1000, start_ms: Math.round(performance.now() - t0), stderr: () => stderr };
        }
      } catch {} // caught between the rename's two halves is impossible, but a torn read is not worth a failure
    }
    await sleep(2);
  }
  throw new Error(`daemon did not start:\n${stderr}`);
}

/** CPU seconds (user + system, all threads) a process has used so far: /proc/PID/stat fields 14 and 15. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

async function stopChild(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
}

async function runImmutalog(cli, proto, seconds, rate) {
  const d = await startImmutalog(cli, proto);
  const sent = await loggen(proto, d.port, seconds, rate);
  const db = new Database(join(d.dir, 'immutalog.sqlite'), { readonly: true });
  const stored = await waitStable(() => db.prepare('SELECT coalesce(max(seq) + 1, 0) AS n FROM entries').get().n);
  const kernelDrops = proto === 'udp' ? readUdpKernelDrops(d.port, false) : undefined;
  const cpu = cpuSeconds(d.child.pid);
  const rss = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${d.child.pid}/status`, 'utf8'))[1]) / 1024;
  const extra = { start_ms: d.start_ms, kernel_drops: kernelDrops, cpu_s: cpu, peak_rss_mb: Math.round(rss) };
  let result;
  if (proto === 'tcp') {
    // Millions of rows: counted in SQLite, per second of arrival.
    const perSecond = db.prepare('SELECT CAST((received_at_us - ?) / 1000000 AS INTEGER) AS s, count(*) AS n, min(received_at_us) AS a, max(received_at_us) AS b FROM entries GROUP BY s ORDER BY s').all(d.readyUs);
    result = countsOnly(sent, stored, perSecond, extra);
  } else {
    const rows = db.prepare('SELECT received_at_us AS t, raw FROM entries ORDER BY seq').all();
    result = summarise(sent, rows.map((r) => seqOf(r.raw)), rows.map((r) => r.t), d.readyUs, extra);
  }
  db.close();
  await stopChild(d.child);
  rmSync(d.dir, { recursive: true, force: true });
  return result;
}

/** TCP: what was stored against what loggen sent, and the rate from first to last arrival. */
function countsOnly(sent, stored, perSecond, extra) {
  const first = Math.min(...perSecond.map((p) => p.a)), last = Math.max(...perSecond.map((p) => p.b));
  return {
    sent: sent.sent, stored, lost: sent.sent - stored, ...extra, sender_rate: sent.sender_rate, sender_seconds: sent.sender_seconds,
    stored_per_s: Math.round(stored / ((last - first) / 1e6)), sender_errors: sent.errors.length ? sent.errors : undefined,
    stored_per_second_from_ready: perSecond.map((p) => p.n),
  };
}

/** Calls `onLine` with each line of a file too large for one string (syslog-ng's TCP output). */
function scanLines(path, onLine) {
  const fd = openSync(path, 'r');
  const chunk = Buffer.allocUnsafe(16 << 20);
  let rest = Buffer.alloc(0);
  for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0; ) {
    const buf = rest.length ? Buffer.concat([rest, chunk.subarray(0, n)]) : chunk.subarray(0, n);
    let at = 0;
    for (let nl; (nl = buf.indexOf(10, at)) >= 0; at = nl + 1) onLine(buf, at, nl);
    rest = Buffer.from(buf.subarray(at));
  }
  closeSync(fd);
}

function summarise(sent, seqs, times, readyUs, extra) {
  const stored = seqs.length;
  const first = times[0], last = times[times.length - 1];
  return {
    sent: sent.sent, stored, lost: sent.sent - stored, loss_pct: +((100 * (sent.sent - stored)) / sent.sent).toFixed(3), ...extra,
    sender_rate: sent.sender_rate, stored_per_s: stored > 1 ? Math.round(stored / ((last - first) / 1e6)) : null,
    sender_errors: sent.errors.length ? sent.errors : undefined,
    ...timeline(seqs, sent.sent, sent.progress, times, readyUs),
  };
}

/** syslog-ng with one source (udp or tcp on a free loopback port) into a plain file, stamped on receipt. */
async function runSyslogNg(proto, seconds, rate) {
  const dir = mkdtempSync(join(tmpdir(), 'immutalog-syslogng-'));
  const port = await freePort(proto);
  const source = proto === 'udp'
    ? `udp(ip("127.0.0.1") port(${port}) so-rcvbuf(${RCVBUF}))`
    : `network(ip("127.0.0.1") port(${port}) transport("tcp"))`;
  const out = join(dir, 'out.log');
  writeFileSync(join(dir, 'sng.conf'), [
    '@version: 3.38',
    'options { stats_freq(0); };',
    `source s { ${source}; };`,
    `destination d { file("${out}" template("\${R_UNIXTIME}\${R_USEC} \${MSG}\\n")); };`,
    'log { source(s); destination(d); };', '',
  ].join('\n'));
  const t0 = performance.now();
  const child = spawn(join(LOGGEN_ROOT, 'usr', 'sbin', 'syslog-ng'), ['-F', '--no-caps', `--module-path=${join(LOGGEN_ROOT, 'usr/lib/syslog-ng/3.38')}`, '-f', join(dir, 'sng.conf'),
    '-R', join(dir, 'persist'), '-p', join(dir, 'pid'), '-c', join(dir, 'ctl')], { env: SNG_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const table = proto === 'udp' ? '/proc/net/udp' : '/proc/net/tcp';
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  while (!readFileSync(table, 'utf8').includes(`0100007F${hex}`)) {
    if (child.exitCode !== null) throw new Error(`syslog-ng exited:\n${stderr}`);
    await sleep(2);
  }
  const readyUs = Date.now() * 1000;
  const start_ms = Math.round(performance.now() - t0);
  const sent = await loggen(proto, port, seconds, rate);
  await waitStable(() => (existsSync(out) ? statSync(out).size : 0));
  const kernelDrops = proto === 'udp' ? readUdpKernelDrops(port, false) : undefined;
  const cpu = cpuSeconds(child.pid);
  await stopChild(child);
  // Each line: R_UNIXTIME and R_USEC run together (seconds, then six digits of microseconds), then the message.
  const seqs = [], times = [], perSecond = new Map();
  if (existsSync(out)) {
    scanLines(out, (buf, a, b) => {
      const sp = buf.indexOf(32, a);
      const t = Number(buf.toString('latin1', a, sp));
      if (proto === 'udp') {
        times.push(t);
        seqs.push(seqOf(buf.subarray(sp, b)));
      } else {
        const k = Math.floor((t - readyUs) / 1e6);
        const p = perSecond.get(k) ?? { n: 0, a: t, b: t };
        p.n++;
        p.b = t;
        perSecond.set(k, p);
      }
    });
  }
  rmSync(dir, { recursive: true, force: true });
  const extra = { start_ms, kernel_drops: kernelDrops, cpu_s: cpu };
  if (proto === 'tcp') return countsOnly(sent, [...perSecond.values()].reduce((x, p) => x + p.n, 0), [...perSecond.entries()].sort((x, y) => x[0] - y[0]).map(([, p]) => p), extra);
  return summarise(sent, seqs, times, readyUs, extra);
}

const brief = (r) => ({ ...r, by_sender_second: r.by_sender_second.filter((b, i) => i < 4 || b.lost > 0) });
const results = { machine: { node: process.version, rmem_max: readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim(), node_flags: NODE_FLAGS }, rate: RATE, size: SIZE, runs: [] };
const THIS = opt('--cli', CLI);
const builds = AGAINST ? [['other', AGAINST], ['this', THIS]] : [['this', THIS]];
for (let round = 0; round < ROUNDS; round++) {
  // Alternating which build goes first, so a drift in the machine's speed falls on both.
  const order = round % 2 ? [...builds].reverse() : builds;
  if (TCP_SECONDS > 0) {
    for (const [name, cli] of order) results.runs.push({ round, proto: 'tcp', seconds: TCP_SECONDS, receiver: `immutalog:${name}`, ...(await runImmutalog(cli, 'tcp', TCP_SECONDS, TCP_RATE)) });
    if (WITH_SYSLOG_NG) results.runs.push({ round, proto: 'tcp', seconds: TCP_SECONDS, receiver: 'syslog-ng', ...(await runSyslogNg('tcp', TCP_SECONDS, TCP_RATE)) });
    continue;
  }
  for (const seconds of SECONDS) {
    for (const [name, cli] of order) results.runs.push({ round, proto: 'udp', seconds, receiver: `immutalog:${name}`, ...brief(await runImmutalog(cli, 'udp', seconds, RATE)) });
    if (WITH_SYSLOG_NG) results.runs.push({ round, proto: 'udp', seconds, receiver: 'syslog-ng', ...brief(await runSyslogNg('udp', seconds, RATE)) });
  }
}
for (const r of results.runs) console.error(`${r.proto} ${r.seconds}s ${r.receiver}: sent ${r.sent} stored ${r.stored} loss ${r.loss_pct ?? '-'}% sender ${r.sender_rate}/s kernel drops ${r.kernel_drops ?? '-'} stored/s ${r.stored_per_s} start ${r.start_ms} ms cpu ${r.cpu_s} s (${Math.round((r.cpu_s * 1e6) / r.stored)} us/stored)${r.peak_rss_mb ? ` peak RSS ${r.peak_rss_mb} MB` : ''}`);
console.log(JSON.stringify(results, null, 1));
