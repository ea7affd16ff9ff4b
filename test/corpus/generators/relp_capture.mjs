#!/usr/bin/env node
// Captures one real RELP session between rsyslog's omrelp (client) and rsyslog's imrelp
// (server), both from Debian's rsyslog-relp, through a recording proxy on loopback:
//
//   logger-style lines -> imtcp [rsyslogd A: omrelp] -> proxy (this script) -> [rsyslogd B: imrelp]
//
//   cd test/corpus && node generators/relp_capture.mjs "$PWD"
//
// writes wire/relp/omrelp-plain.client.bin (every byte omrelp sent: open, syslog x N, close),
// wire/relp/omrelp-plain.server.bin (every byte imrelp answered: rsp ..., serverclose),
// wire/relp/omrelp-plain.json (versions, messages fed, and both directions' chunks in the order
// they crossed the proxy) and the RELP part of INDEX.md (after RELP_MARK, which describe.py
// keeps). Both rsyslogds run in the foreground (-n) with their own config, work directory and
// pid file under a temp directory, load no imuxsock and are stopped by their pid.
// The session is plain TCP: a TLS session's bytes are ciphertext and would show nothing.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const RSYSLOGD = '/usr/sbin/rsyslogd';
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TZ: 'UTC', LC_ALL: 'C.UTF-8' };
/** What is fed into imtcp, one LF-framed line each: numbered, one with UTF-8. */
const MESSAGES = [
  '<134>Nov 26 12:00:00 vm tacker-server: relp capture message 1',
  '<134>Nov 26 12:00:01 vm tacker-server: relp capture message 2',
  '<131>Nov 26 12:00:02 vm tacker-server: relp capture message 3 \u30d1\u30c3\u30b1\u30fc\u30b8 \u2713',
];
/** Where the RELP part of INDEX.md starts; describe.py keeps what follows it. */
const RELP_MARK = '<!-- relp: written by generators/relp_capture.mjs -->\n';
/** Bounds a hang of either rsyslogd, not a speed. */
const UP_MS = 15_000;

const corpus = process.argv[2];
if (!corpus) {
  console.error('usage: relp_capture.mjs CORPUSDIR (test/corpus)');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmp = mkdtempSync(join(tmpdir(), 'immutalog-relp-capture-'));
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

async function until(what, cond) {
  const end = Date.now() + UP_MS;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Writes `conf` under tmp/name, checks it with -N1 and runs rsyslogd -n on it. */
function rsyslogd(name, conf) {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'work'), { recursive: true });
  const file = join(dir, 'rsyslog.conf');
  writeFileSync(file, conf(dir));
  const check = spawnSync(RSYSLOGD, ['-N1', '-f', file], { env: ENV, encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`${name}: rsyslogd -N1 failed: ${check.stderr}`);
  const child = spawn(RSYSLOGD, ['-n', '-f', file, '-i', join(dir, 'rsyslogd.pid')], { env: ENV, stdio: 'inherit' });
  children.push(child);
  const stop = () => {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    return gone;
  };
  return { dir, child, stop, read: (f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '') };
}

const internal = (d) => `*.* action(type="omfile" file="${d}/internal.log")`;

const imrelpPort = await freePort();
const server = rsyslogd('imrelp', (d) =>
  [
    `global(workDirectory="${d}/work" processInternalMessages="on" net.enableDNS="off")`,
    'module(load="imrelp")',
    `input(type="imrelp" address="127.0.0.1" port="${imrelpPort}" ruleset="got")`,
    'template(name="msgonly" type="string" string="%rawmsg%\\n")',
    `ruleset(name="got") { action(type="omfile" file="${d}/received.log" template="msgonly") }`,
    internal(d),
    '',
  ].join('\n'),
);
await until('imrelp to listen', () => server.read('internal.log').includes('] start'));

// The proxy: one upstream connection per accepted one; every chunk recorded in order.
const chunks = [];
const toServer = [];
const toClient = [];
let sessionClosed;
const closed = new Promise((r) => (sessionClosed = r));
const proxy = createServer((down) => {
  const up = connect({ host: '127.0.0.1', port: imrelpPort });
  down.on('data', (b) => {
    toServer.push(b);
    chunks.push({ from: 'client', bytes: b.length });
    up.write(b);
  });
  up.on('data', (b) => {
    toClient.push(b);
    chunks.push({ from: 'server', bytes: b.length });
    down.write(b);
  });
  down.on('end', () => up.end());
  up.on('end', () => down.end());
  let open = 2;
  const one = () => --open === 0 && sessionClosed();
  down.on('close', one);
  up.on('close', one);
  down.on('error', () => {});
  up.on('error', () => {});
});
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const proxyPort = proxy.address().port;

const client = rsyslogd('omrelp', (d) =>
  [
    `global(workDirectory="${d}/work" processInternalMessages="on" net.enableDNS="off")`,
    'main_queue(queue.workerThreads="1")',
    'module(load="imtcp")',
    'module(load="omrelp")',
    `input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="${d}/imtcp.port" ruleset="fwd")`,
    `ruleset(name="fwd") { action(type="omrelp" target="127.0.0.1" port="${proxyPort}") }`,
    internal(d),
    '',
  ].join('\n'),
);
await until('imtcp port file', () => /^\d+/.test(client.read('imtcp.port')) && client.read('internal.log').includes('] start'));
const feed = connect({ host: '127.0.0.1', port: Number(client.read('imtcp.port').trim()) });
await new Promise((r) => feed.once('connect', r));
feed.end(MESSAGES.map((m) => m + '\n').join(''));
await until('imrelp to write all messages', () => server.read('received.log').split('\n').length > MESSAGES.length);
// SIGTERM makes omrelp close its session: `close`, the server's `rsp`, then `serverclose`.
await client.stop();
await Promise.race([closed, sleep(UP_MS).then(() => Promise.reject(new Error('the RELP session did not close')))]);
await server.stop();
proxy.close();

const version = (pkg) => spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' }).stdout || 'unknown';
const dir = join(corpus, 'wire', 'relp');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'omrelp-plain.client.bin'), Buffer.concat(toServer));
writeFileSync(join(dir, 'omrelp-plain.server.bin'), Buffer.concat(toClient));
writeFileSync(
  join(dir, 'omrelp-plain.json'),
  JSON.stringify(
    {
      generated_by: 'generators/relp_capture.mjs',
      client: `rsyslog ${version('rsyslog-relp')} omrelp, librelp ${version('librelp0')}`,
      server: `rsyslog ${version('rsyslog-relp')} imrelp`,
      fed_to_imtcp: MESSAGES,
      received_by_imrelp: server.read('received.log').split('\n').filter((l) => l !== ''),
      chunks,
    },
    null,
    1,
  ) + '\n',
);
writeIndex(Buffer.concat(toServer), Buffer.concat(toClient));
console.log(`wrote ${dir}: client ${Buffer.concat(toServer).length} bytes, server ${Buffer.concat(toClient).length} bytes`);

/** Splits a RELP stream into its frames: TXNR SP COMMAND SP DATALEN [SP DATA] LF. */
function relpFrames(b) {
  const frames = [];
  let at = 0;
  while (at < b.length) {
    const head = /^(\d+) (\S+) (\d+)/.exec(b.subarray(at, at + 64).toString('latin1'));
    if (!head) throw new Error(`no RELP frame header at offset ${at}`);
    const len = Number(head[3]);
    const data = len > 0 ? b.subarray(at + head[0].length + 1, at + head[0].length + 1 + len) : Buffer.alloc(0);
    const end = at + head[0].length + (len > 0 ? 1 + len : 0);
    if (b[end] !== 0x0a) throw new Error(`RELP frame at ${at} does not end in LF`);
    frames.push({ at, txnr: head[1], command: head[2], len, data });
    at = end + 1;
  }
  return frames;
}

/** Replaces INDEX.md from RELP_MARK on with one table per direction. */
function writeIndex(client, server) {
  const esc = (b) => [...b].map((c) => (c === 0x0a ? '\\n' : c >= 0x20 && c < 0x7f && c !== 0x60 && c !== 0x7c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
  const table = (name, b) => [
    `### wire/relp/${name} (${b.length} bytes)`,
    '',
    '| offset | txnr | command | datalen | data |',
    '|---:|---:|---|---:|---|',
    ...relpFrames(b).map((f) => `| ${f.at} | ${f.txnr} | ${f.command} | ${f.len} | \`${esc(f.data)}\` |`),
    '',
  ];
  const path = join(corpus, 'INDEX.md');
  const old = readFileSync(path, 'utf8');
  const keep = old.includes(RELP_MARK) ? old.slice(0, old.indexOf(RELP_MARK)) : old.endsWith('\n') ? old : old + '\n';
  const part = [
    RELP_MARK,
    '## relp: omrelp-plain',
    '',
    'One plain RELP session, rsyslog omrelp to rsyslog imrelp (see README.md, "RELP"). Written by',
    '`generators/relp_capture.mjs`, not by describe.py, and not in MANIFEST.json: these are not',
    'syslog streams. One row per RELP frame; data is byte-escaped.',
    '',
    ...table('omrelp-plain.client.bin', client),
    ...table('omrelp-plain.server.bin', server),
  ];
  writeFileSync(path, keep + part.join('\n'));
}
