// Verify benchmark (run by hand: `npm run build && node test/bench/verify.mjs [--entries N] [--dir DIR]`).
// Builds a log of N 256-byte entries through the real daemon (TCP, octet-counted, checkpoints
// every 10,000 entries), stops it cleanly, then times `immutalog verify` over the whole log
// with 1 and with all worker threads, and reports entries/s and peak RSS (from /usr/bin/time).
// --dir keeps the log for later runs (a second run with the same --dir skips the build).
// --against CHECKOUT also times that checkout's build (its dist/cli/main.js) on the same log,
// alternating with this one for --rounds rounds, so a change is compared paired, not hours apart.
// --edit N first edits one byte of N entries (of a copy of the log), to time verify under heavy
// tampering and show that its memory stays bounded whatever the damage.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, opt, sleep, START_FLAGS as NODE_FLAGS } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(opt('--entries', '5000000'));
const keep = opt('--dir', undefined);
const against = opt('--against', undefined);
const rounds = Number(opt('--rounds', '1'));
const edit = Number(opt('--edit', '0'));
const dir = keep ?? mkdtempSync(join(tmpdir(), 'immutalog-verify-bench-'));

function count() {
  const r = spawnSync(process.execPath, [CLI, 'status', '--data-dir', dir, '--json']);
  return r.status === 0 ? JSON.parse(r.stdout).database.entries : 0;
}

async function build() {
  const t0 = Date.now();
  const d = spawn(process.execPath, [...NODE_FLAGS, CLI, 'serve', '--data-dir', dir, '--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  let port;
  for (let i = 0; i < 400 && !port; i++) {
    await sleep(25);
    try {
      const s = JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8'));
      if (s.pid === d.pid && s.state === 'running') port = s.listeners.find((l) => l.transport === 'tcp').port;
    } catch {}
  }
  const sender = spawnSync(process.execPath, [join(here, 'sender.mjs'), 'tcp', String(port), String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.stderr.write(`sent: ${sender.stdout}`);
  for (;;) {
    const s = JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8'));
    if (s.queue.frames === 0 && s.queue.bytes === 0 && s.last_committed_seq >= N - 1) break;
    await sleep(500);
  }
  d.kill('SIGTERM');
  await new Promise((r) => d.on('exit', r));
  process.stderr.write(`built ${N} entries in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

function timedVerify(threads, cli = CLI, onDir = dir) {
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...NODE_FLAGS, cli, 'verify', '--data-dir', onDir, '--json', '--threads', String(threads), '--max-checkpoint-age', '100000000'], { maxBuffer: 1 << 28 });
  const err = r.stderr.toString();
  const wall = /Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)/.exec(err);
  const secs = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : NaN;
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1]);
  const report = JSON.parse(r.stdout.toString());
  return { build: cli === CLI ? 'this' : cli, threads, exit: r.status, entries: report.counts.entries, failures: report.failureCount ?? report.failures.length, seconds: secs, entries_per_s: Math.round(report.counts.entries / secs), peak_rss_mb: +(rssKb / 1024).toFixed(1) };
}

/** A copy of the log with one byte of the first n entries' raw records changed. */
async function editedCopy(n) {
  const { default: Database } = await import('better-sqlite3');
  const copy = mkdtempSync(join(tmpdir(), 'immutalog-verify-bench-edited-'));
  for (const f of ['immutalog.sqlite', 'immutalog.sqlite-wal']) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(copy, f));
  const db = new Database(join(copy, 'immutalog.sqlite'));
  db.prepare('UPDATE entries SET raw = CAST(lower(CAST(raw AS TEXT)) AS BLOB) WHERE seq < ?').run(n);
  db.close();
  return copy;
}

if (count() < N) await build();
const runs = [];
const other = against ? join(against, 'dist', 'cli', 'main.js') : undefined;
const target = edit > 0 ? await editedCopy(edit) : dir;
for (let i = 0; i < rounds; i++) {
  for (const threads of [1, availableParallelism()]) {
    runs.push(timedVerify(threads, CLI, target));
    if (other) runs.push(timedVerify(threads, other, target));
  }
}
console.log(JSON.stringify({ log_entries: count(), edited: edit, runs }, null, 2));
if (target !== dir) rmSync(target, { recursive: true, force: true });
if (!keep) rmSync(dir, { recursive: true, force: true });
