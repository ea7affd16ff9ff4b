// Ingest benchmark (run by hand: `npm run build && node test/bench/ingest.mjs`).
// Starts `immutalog serve` on loopback, drives it from a separate sender process with 256-byte
// RFC 5424 messages, and counts a message only once it is committed in the SQLite chain.
//   TCP: one octet-counted connection, N messages as fast as possible -> durable msg/s over the
//   whole run, and sustained msg/s once the first tenth is durable (the start-up left out).
//   UDP: paced rates; loss = 1 - stored/sent after a warm-up phase (reported on its own), and
//   the highest rate under 1 % loss.
// Prints the daemon's peak RSS (VmHWM), and the machine's speed before and after (crypto-floor.mjs). Options: --tcp-count N --udp-rates 20000,50000 --udp-seconds S --udp-warmup-seconds S
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { args, CLI, opt, sleep, START_FLAGS } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const TCP_COUNT = Number(opt('--tcp-count', '2000000'));
const UDP_RATES = opt('--udp-rates', '25000,50000,75000,100000').split(',').map(Number);
const UDP_SECONDS = Number(opt('--udp-seconds', '10'));
const UDP_WARMUP = Number(opt('--udp-warmup-seconds', '2'));
// How often the TCP run reads the stored count (each read is a short SQLite read transaction).
const POLL_MS = Number(opt('--poll-ms', '20'));
// Extra daemon flags to compare settings, e.g. --serve-args '--commit-batch 4096'.
const EXTRA = opt('--serve-args', '').split(' ').filter(Boolean);
// node's own flags for the daemon, to compare (default: those of `npm start`); '' for none.
const NODE_FLAGS = args.includes('--node-flags') ? opt('--node-flags', '').split(' ').filter(Boolean) : START_FLAGS;

async function startDaemon(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'immutalog-bench-'));
  const child = spawn(process.execPath, [...NODE_FLAGS, CLI, 'serve', '--data-dir', dir, '--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--log-level', 'warn', ...EXTRA, ...extra], { stdio: ['ignore', 'inherit', 'inherit'] });
  const statusPath = join(dir, 'status.json');
  for (let i = 0; i < 400; i++) {
    if (existsSync(statusPath)) {
      const s = JSON.parse(readFileSync(statusPath, 'utf8'));
      if (s.pid === child.pid && s.state === 'running') {
        const port = (t) => s.listeners.find((l) => l.transport === t).port;
        return { dir, child, udp: port('udp'), tcp: port('tcp') };
      }
    }
    await sleep(25);
  }
  throw new Error('daemon did not start');
}

function peakRss(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(s)[1]) / 1024;
}

function storedCount(db) {
  return db.prepare('SELECT coalesce(max(seq) + 1, 0) AS n FROM entries').get().n;
}

function runSender(argv) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(here, 'sender.mjs'), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', () => resolve(JSON.parse(out)));
  });
}

async function stop(d) {
  d.child.kill('SIGTERM');
  await new Promise((r) => d.child.on('exit', r));
  rmSync(d.dir, { recursive: true, force: true });
}

async function benchTcp() {
  const d = await startDaemon();
  const db = new Database(join(d.dir, 'immutalog.sqlite'), { readonly: true });
  const t0 = process.hrtime.bigint();
  const sending = runSender(['tcp', String(d.tcp), String(TCP_COUNT)]);
  let n = 0;
  // Sustained rate: from the first poll that sees a tenth of the messages durable (V8 has
  // optimised the hot code by then) to the last.
  let mark;
  while (n < TCP_COUNT) {
    await sleep(POLL_MS);
    n = storedCount(db);
    if (mark === undefined && n >= TCP_COUNT / 10) mark = { n, t: process.hrtime.bigint() };
  }
  const tEnd = process.hrtime.bigint();
  const secs = Number(tEnd - t0) / 1e9;
  const sustained = Math.round((TCP_COUNT - mark.n) / (Number(tEnd - mark.t) / 1e9));
  const s = await sending;
  const rss = peakRss(d.child.pid);
  db.close();
  await stop(d);
  return { messages: TCP_COUNT, durable_seconds: +secs.toFixed(3), durable_msgs_per_s: Math.round(TCP_COUNT / secs), sustained_msgs_per_s: sustained, sender_seconds: +s.seconds.toFixed(3), peak_rss_mb: +rss.toFixed(1) };
}

async function settledCount(db) {
  let n = -1;
  for (let stable = 0; stable < 5; ) {
    await sleep(100);
    const m = storedCount(db);
    stable = m === n ? stable + 1 : 0;
    n = m;
  }
  return n;
}

// Each rate runs on a fresh daemon in two phases: the first UDP_WARMUP seconds right after start
// (code not yet optimised by V8, heap still growing: reported as cold_loss_pct), then, after the
// queue has drained, UDP_SECONDS of the same rate (loss_pct, the steady state).
async function benchUdp(rate) {
  const d = await startDaemon();
  const db = new Database(join(d.dir, 'immutalog.sqlite'), { readonly: true });
  const w = await runSender(['udp', String(d.udp), String(rate), String(UDP_WARMUP)]);
  const n0 = await settledCount(db);
  const s = await runSender(['udp', String(d.udp), String(rate), String(UDP_SECONDS)]);
  const n1 = await settledCount(db);
  const rss = peakRss(d.child.pid);
  db.close();
  await stop(d);
  return {
    offered_per_s: rate, sent: s.sent, stored: n1 - n0, loss_pct: +(100 * (1 - (n1 - n0) / s.sent)).toFixed(3),
    cold_sent: w.sent, cold_stored: n0, cold_loss_pct: +(100 * (1 - n0 / w.sent)).toFixed(3), peak_rss_mb: +rss.toFixed(1),
  };
}

const results = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version } };
let rmem = 'unknown';
try { rmem = readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim(); } catch {}
results.machine.rmem_max = rmem;
// This machine's speed drifts by tens of percent within hours: the node:crypto calls timed just
// before the run (see crypto-floor.mjs) say how fast it was while these figures were taken.
const gauge = () => {
  const g = JSON.parse(execFileSync(process.execPath, [join(here, 'crypto-floor.mjs'), '1'], { encoding: 'utf8' }));
  const perCall = g.rows.find((r) => r.path.startsWith('node:crypto, one call'));
  const native = g.rows.find((r) => r.path.startsWith('native'));
  return { hmac_chain_step_ns: perCall.hmac_chain_step_ns, leaf_hash_ns: perCall.leaf_hash_ns, native_crypto_ns_per_entry: native?.crypto_ns_per_entry ?? null };
};
results.machine.speed_before = gauge();
if (TCP_COUNT > 0) results.tcp = await benchTcp();
results.udp = [];
for (const r of UDP_RATES) results.udp.push(await benchUdp(r));
const ok = results.udp.filter((u) => u.loss_pct < 1).map((u) => u.offered_per_s);
results.udp_highest_rate_under_1pct = ok.length ? Math.max(...ok) : null;
results.machine.speed_after = gauge();
console.log(JSON.stringify(results, null, 2));
