// Relay benchmark (run by hand: `npm run build && node test/bench/relp.mjs`): the real rsyslog
// between the sender and immutalog, forwarding with the README's omfwd action (plain TCP,
// octet-counted) or its omrelp action (RELP: acknowledged only once committed), both with the
// disk action queue. The sender (sender.mjs tcp) writes COUNT 256-byte RFC 5424
// messages into a private rsyslogd's imtcp; a message counts once committed in the SQLite chain.
// Rounds alternate omfwd and omrelp, each on a fresh daemon and a fresh rsyslogd.
// Needs rsyslog and rsyslog-relp. Options: --count N (default 200000) --rounds R (default 3)
//   --window W (omrelp windowSize, default 128)
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { CLI, opt, sleep, START_FLAGS } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const COUNT = Number(opt('--count', '200000'));
const ROUNDS = Number(opt('--rounds', '3'));
const WINDOW = Number(opt('--window', '128'));
const RSYSLOGD = '/usr/sbin/rsyslogd';
const RSYSLOGD_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TZ: 'UTC', LC_ALL: 'C.UTF-8' };
/** Bounds a hang of a start, not a speed. */
const UP_MS = 30_000;

async function until(what, fn) {
  const end = Date.now() + UP_MS;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function startDaemon(dir) {
  const child = spawn(process.execPath, [...START_FLAGS, CLI, 'serve', '--data-dir', dir, '--tcp', '127.0.0.1:0', '--relp', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const statusPath = join(dir, 'status.json');
  const s = await until('the daemon to run', () => {
    if (!existsSync(statusPath)) return undefined;
    try {
      const v = JSON.parse(readFileSync(statusPath, 'utf8'));
      return v.pid === child.pid && v.state === 'running' ? v : undefined;
    } catch {
      return undefined;
    }
  });
  const port = (t) => s.listeners.find((l) => l.transport === t).port;
  return { child, tcp: port('tcp'), relp: port('relp') };
}

/** The README's actions ("Through the local rsyslog"), pointed at 127.0.0.1. */
function action(mode, d) {
  const queue = ['queue.type="Disk" queue.filename="fwd_immutalog" queue.maxDiskSpace="1g"', 'action.resumeRetryCount="-1" action.resumeInterval="10")'];
  if (mode === 'omfwd') return [`action(type="omfwd" target="127.0.0.1" port="${d.tcp}" protocol="tcp"`, 'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"', ...queue].join('\n  ');
  return [`action(type="omrelp" target="127.0.0.1" port="${d.relp}"`, `template="RSYSLOG_SyslogProtocol23Format" windowSize="${WINDOW}"`, ...queue].join('\n  ');
}

async function startRsyslogd(dir, mode, d) {
  mkdirSync(join(dir, 'work'), { recursive: true });
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(conf, [
    `global(workDirectory="${dir}/work" processInternalMessages="on" net.enableDNS="off")`,
    'module(load="imtcp")',
    mode === 'omrelp' ? 'module(load="omrelp")' : '',
    `input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="${dir}/imtcp.port" ruleset="fwd")`,
    `ruleset(name="fwd") {\n  ${action(mode, d)}\n}`,
    `*.* action(type="omfile" file="${dir}/internal.log")`,
    '',
  ].join('\n'));
  execFileSync(RSYSLOGD, ['-N1', '-f', conf], { env: RSYSLOGD_ENV, stdio: 'ignore' });
  const child = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { env: RSYSLOGD_ENV, stdio: 'inherit' });
  const port = await until('rsyslogd to listen', () => existsSync(join(dir, 'rsyslogd.pid')) && existsSync(join(dir, 'imtcp.port')) && Number(readFileSync(join(dir, 'imtcp.port'), 'utf8')));
  return { child, port };
}

function runSender(port) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(here, 'sender.mjs'), 'tcp', String(port), String(COUNT)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (x) => (out += x));
    p.on('exit', () => resolve(JSON.parse(out)));
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

async function round(mode) {
  const tmp = mkdtempSync(join(tmpdir(), `immutalog-bench-${mode}-`));
  const dataDir = join(tmp, 'data');
  mkdirSync(dataDir);
  const d = await startDaemon(dataDir);
  const r = await startRsyslogd(join(tmp, 'rsyslog'), mode, d);
  const db = new Database(join(dataDir, 'immutalog.sqlite'), { readonly: true });
  const stored = () => db.prepare('SELECT coalesce(max(seq) + 1, 0) AS n FROM entries').get().n;
  try {
    const t0 = process.hrtime.bigint();
    const sending = runSender(r.port);
    while (stored() < COUNT) await sleep(20);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const s = await sending;
    return { mode, messages: COUNT, durable_seconds: +secs.toFixed(3), durable_msgs_per_s: Math.round(COUNT / secs), sender_seconds: +s.seconds.toFixed(3) };
  } finally {
    db.close();
    await stopChild(r.child);
    await stopChild(d.child);
    rmSync(tmp, { recursive: true, force: true });
  }
}

const gauge = () => JSON.parse(execFileSync(process.execPath, [join(here, 'crypto-floor.mjs'), '1'], { encoding: 'utf8' })).rows.find((r) => r.path.startsWith('node:crypto, one call')).hmac_chain_step_ns;
const results = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version, hmac_step_ns_before: gauge() }, rounds: [] };
for (let i = 0; i < ROUNDS; i++) for (const mode of ['omfwd', 'omrelp']) results.rounds.push(await round(mode));
results.machine.hmac_step_ns_after = gauge();
console.log(JSON.stringify(results, null, 2));
