// The command line: keys init, query filters, status, --help; run as a user would (a child process).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEscrow } from '../../src/chain/escrow.js';
import { auditorKeyPairFromPem, generateAuditorKeyPair } from '../../src/chain/keys.js';
import { entryToJson, entryToText } from '../../src/cli/query.js';
import { formatUs } from '../../src/cli/time-arg.js';
import { OPTIONS } from '../../src/config/options.js';
import { fieldsToJson, parseRecord } from '../../src/parse/index.js';
import { LogStore, type EntryRow } from '../../src/store/log-store.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import { spawn } from 'node:child_process';
import { query, runCli, startDaemon, tempDataDir as newTempDir, waitFor, type QueriedEntry, type RunningDaemon } from '../helpers/daemon.js';
import { sendStream, sendUdp } from '../helpers/send.js';
import { needClients } from '../clients/available.js';
import { OPENSSL } from '../clients/proc.js';

/** The auditor's keys made the way the README tells an auditor to make them: with openssl. */
const opensslClient = needClients('openssl');

const tempDirs: string[] = [];
function tempDataDir(prefix?: string): string {
  const d = newTempDir(prefix);
  tempDirs.push(d);
  return d;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mode = (p: string): number => statSync(p).mode & 0o777;
const meta = (dir: string, key: string): string | undefined => {
  const s = LogStore.open(join(dir, 'immutalog.sqlite'), { create: false, readonly: true });
  try {
    return s.meta.get(key);
  } finally {
    s.close();
  }
};

function openssl(args: string[]): Buffer {
  return execFileSync(OPENSSL, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A key pair made by openssl in a fresh directory: its private and public PEM files. */
function opensslKeyPair(algorithm: 'X25519' | 'ED25519'): { dir: string; priv: string; pub: string } {
  const dir = tempDataDir('immutalog-auditor-');
  const priv = join(dir, 'key.pem');
  const pub = join(dir, 'key.pub.pem');
  openssl(['genpkey', '-algorithm', algorithm, '-out', priv]);
  openssl(['pkey', '-in', priv, '-pubout', '-out', pub]);
  return { dir, priv, pub };
}

/** Raw 32-byte key from an X25519/Ed25519 SubjectPublicKeyInfo PEM (the DER ends with the key). */
function rawPublic(pubPem: string): Buffer {
  const der = openssl(['pkey', '-pubin', '-in', pubPem, '-outform', 'DER']);
  return der.subarray(der.length - 32);
}

const daemons: RunningDaemon[] = [];
afterAll(async () => {
  for (const d of daemons) if (d.child.exitCode === null && d.child.signalCode === null) await d.kill();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('keys init', () => {
  it('prints a 64-hex fingerprint and writes the auditor key and key state with mode 0600', () => {
    const dir = tempDataDir();
    const r = runCli(['keys', 'init', '--data-dir', dir]);
    expect(r.code).toBe(0);
    const m = /^identity fingerprint: ([0-9a-f]{64})\n$/.exec(r.stdout);
    expect(m).not.toBeNull();
    const fp = m![1]!;
    const keyPath = join(dir, 'auditor-key.pem');
    expect(r.stderr).toContain(`The auditor's private key is at ${keyPath}.`);
    expect(r.stderr).toContain('OFF THIS HOST');
    expect(mode(keyPath)).toBe(0o600);
    expect(mode(join(dir, 'keystate.json'))).toBe(0o600);

    // The fingerprint is SHA-256 of the identity key, and the key state and database agree on it.
    expect(meta(dir, 'fingerprint')).toBe(fp);
    expect(createHash('sha256').update(Buffer.from(meta(dir, 'identity_public')!, 'hex')).digest('hex')).toBe(fp);
    expect(JSON.parse(readFileSync(join(dir, 'keystate.json'), 'utf8')).fingerprint).toBe(fp);
    // The PEM is the private half of the auditor key the database records.
    const auditor = auditorKeyPairFromPem(readFileSync(keyPath, 'utf8'));
    expect(auditor.publicKey.toString('hex')).toBe(meta(dir, 'auditor_public'));
    expect(readFileSync(keyPath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('refuses to run twice (exit 2) and leaves the keys as they were', () => {
    const dir = tempDataDir();
    expect(runCli(['keys', 'init', '--data-dir', dir]).code).toBe(0);
    const before = [readFileSync(join(dir, 'keystate.json')), readFileSync(join(dir, 'auditor-key.pem'))];
    const again = runCli(['keys', 'init', '--data-dir', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already holds a log');
    expect(again.stderr).toContain(meta(dir, 'fingerprint')!);
    expect(again.stdout).toBe('');
    const other = tempDataDir();
    const withOut = runCli(['keys', 'init', '--data-dir', dir, '--auditor-key-out', join(other, 'k.pem')]);
    expect(withOut.code).toBe(2);
    expect(existsSync(join(other, 'k.pem'))).toBe(false);
    expect([readFileSync(join(dir, 'keystate.json')), readFileSync(join(dir, 'auditor-key.pem'))]).toEqual(before);
  });

  it('--auditor-key-out writes the key there (0600), and refuses to overwrite an existing file', () => {
    const dir = tempDataDir();
    const elsewhere = tempDataDir();
    const existing = join(elsewhere, 'existing.pem');
    writeFileSync(existing, 'do not overwrite me\n');
    const refused = runCli(['keys', 'init', '--data-dir', dir, '--auditor-key-out', existing]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('refusing to overwrite');
    expect(readFileSync(existing, 'utf8')).toBe('do not overwrite me\n');
    expect(existsSync(join(dir, 'keystate.json'))).toBe(false);

    // The refused run left no half-made log behind: a second try succeeds.
    const out = join(elsewhere, 'auditor.pem');
    const r = runCli(['keys', 'init', '--data-dir', dir, '--auditor-key-out', out]);
    expect(r.code).toBe(0);
    expect(mode(out)).toBe(0o600);
    expect(existsSync(join(dir, 'auditor-key.pem'))).toBe(false);
    expect(auditorKeyPairFromPem(readFileSync(out, 'utf8')).publicKey.toString('hex')).toBe(meta(dir, 'auditor_public'));
  });

  it('takes data_dir from --config', () => {
    const dir = tempDataDir();
    const conf = join(tempDataDir(), 'immutalog.conf');
    writeFileSync(conf, `[DEFAULT]\ndata_dir = ${dir}\n`);
    const r = runCli(['keys', 'init', '--config', conf]);
    expect(r.code).toBe(0);
    expect(meta(dir, 'fingerprint')).toBe(/([0-9a-f]{64})/.exec(r.stdout)![1]);
  });

  opensslClient.it('--auditor-public-key with an openssl X25519 key writes no private key, and that key opens the escrowed block keys', async () => {
    const { priv, pub } = opensslKeyPair('X25519');

    const dir = tempDataDir();
    const r = runCli(['keys', 'init', '--data-dir', dir, '--auditor-public-key', pub]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^identity fingerprint: [0-9a-f]{64}\n$/);
    expect(r.stderr).not.toContain('private key');
    expect(existsSync(join(dir, 'auditor-key.pem'))).toBe(false);
    expect(meta(dir, 'auditor_public')).toBe(rawPublic(pub).toString('hex'));

    // End to end: the block keys the daemon escrows open with the openssl private key, and only with it.
    const d = await startDaemon({ dataDir: dir, args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0'] });
    daemons.push(d);
    await sendStream(d.tcpPort, Buffer.from('<13>one\n<13>two\n'));
    await waitFor(() => query(dir).length, (n) => n >= 2);
    expect(await d.stop()).toBe(0);
    expect(existsSync(join(dir, 'auditor-key.pem'))).toBe(false);
    const store = LogStore.open(join(dir, 'immutalog.sqlite'), { create: false, readonly: true });
    const blocks = store.blocks.all();
    store.close();
    expect(blocks.length).toBeGreaterThan(0);
    const logId = Buffer.from(meta(dir, 'fingerprint')!, 'hex');
    const auditor = auditorKeyPairFromPem(readFileSync(priv, 'utf8'));
    const stranger = generateAuditorKeyPair();
    for (const b of blocks) {
      expect(openEscrow(Buffer.from(b.escrow), auditor, logId, b.block).length).toBe(32);
      expect(() => openEscrow(Buffer.from(b.escrow), stranger, logId, b.block)).toThrow('authentication failed');
    }
  });

  opensslClient.it('--auditor-public-key refuses the auditor PRIVATE key (exit 2): it must never reach the receiver', () => {
    const { priv } = opensslKeyPair('X25519');
    const dir = tempDataDir();
    const r = runCli(['keys', 'init', '--data-dir', dir, '--auditor-public-key', priv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected a PUBLIC key');
    expect(existsSync(join(dir, 'keystate.json'))).toBe(false);
  });

  opensslClient.it('--auditor-public-key refuses an Ed25519 key and a missing file (exit 2), creating no log', () => {
    const { dir: keys, pub } = opensslKeyPair('ED25519');
    const dir = tempDataDir();
    const r = runCli(['keys', 'init', '--data-dir', dir, '--auditor-public-key', pub]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--auditor-public-key: auditor public key: expected X25519, got ed25519');
    expect(existsSync(join(dir, 'keystate.json'))).toBe(false);
    const missing = runCli(['keys', 'init', '--data-dir', dir, '--auditor-public-key', join(keys, 'nope.pem')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--auditor-public-key');
    expect(existsSync(join(dir, 'keystate.json'))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------

const G1 = 'req-11111111-1111-4111-8111-111111111111';
const G2 = 'req-22222222-2222-4222-8222-222222222222';
const R1 = 'req-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const R2 = 'req-bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const R3 = 'req-cccccccc-cccc-4ccc-8ccc-cccccccccccc';

const oslo = (level: string, logger: string, ctx: [string, string] | null, text: string): string =>
  `<134>2026-11-26 12:55:45,584.584 22496 ${level} ${logger} [${ctx ? `${ctx[0]} ${ctx[1]} 9a0b4d6e 2c7e9f1a - - default default` : '-'}] ${text}`;

/** The log the query and status tests read: index in this list = seq. */
const MESSAGES = [
  oslo('INFO', 'tacker.vnfm', null, 'm0'),
  oslo('DEBUG', 'tacker.vnfm.plugin', [G1, R1], 'm1'),
  oslo('ERROR', 'tacker.vnfmx', null, 'm2'),
  oslo('ERROR', 'tacker.vnfm.plugin.sub', [G2, R2], 'm3'),
  oslo('WARNING', 'tacker.nfvo.nfvo_plugin', [G1, R3], 'm4'),
  '<13>m5 has no oslo.log fields',
  oslo('INFO', 'tacker.vnfm_x', null, 'm6'),
  oslo('INFO', 'tacker', null, 'm7'),
  oslo('CRITICAL', 'tacker.service', null, 'm8'),
];
/** Sent last, as a datagram: control bytes a text line must not pass through raw. */
const CONTROL = '<13>m9 line one\nline two \x1b[31mred\x1b[0m\ttab\r\x00end';
const ALL = [...MESSAGES, CONTROL];

describe('query and status on a log', () => {
  let dir: string;
  let fingerprint: string;
  let rows: QueriedEntry[];
  let t: string[];
  let tUs: number[];
  let running: any;
  let runningText: string;
  let daemonPid: number;

  const seqs = (extra: string[]): number[] => query(dir, extra).map((r) => r.seq);
  const cliFails = (args: string[]): { code: number | null; stderr: string } => {
    const r = runCli(['query', '--data-dir', dir, ...args]);
    return { code: r.code, stderr: r.stderr };
  };

  beforeAll(async () => {
    dir = tempDataDir();
    fingerprint = /([0-9a-f]{64})/.exec(runCli(['keys', 'init', '--data-dir', dir]).stdout)![1]!;
    const d = await startDaemon({ dataDir: dir, args: ['--udp', '127.0.0.1:0', '--tcp', '127.0.0.1:0'] });
    daemons.push(d);
    daemonPid = d.child.pid!;
    // One TCP connection, one write per message with a pause, so every entry has its own receive time.
    const sock = connect(d.tcpPort, '127.0.0.1');
    sock.setNoDelay(true);
    sock.resume();
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    for (const m of MESSAGES) {
      await new Promise<void>((resolve, reject) => sock.write(m + '\n', (e) => (e ? reject(e) : resolve())));
      await waitFor(() => query(dir).length, (n) => n >= MESSAGES.indexOf(m) + 1);
      await sleep(3);
    }
    await new Promise<void>((resolve) => sock.end(resolve));
    await sendUdp(d.udpPort, [CONTROL]);
    await waitFor(() => query(dir).length, (n) => n >= ALL.length);
    // status.json is rewritten every 2 s: wait for the counters to reach these messages.
    running = await waitFor(
      () => JSON.parse(runCli(['status', '--data-dir', dir, '--json']).stdout),
      (s) => s.daemon?.listeners.find((l: any) => l.transport === 'tcp').counters.received === MESSAGES.length &&
        s.daemon?.listeners.find((l: any) => l.transport === 'udp').counters.received === 1,
      15_000,
      200,
    );
    runningText = runCli(['status', '--data-dir', dir]).stdout;
    expect(await d.stop()).toBe(0);
    rows = query(dir);
    t = rows.map((r) => r.received_at);
    tUs = rows.map((r) => Math.round(Date.parse(r.received_at) * 1000) + Number(r.received_at.slice(23, 26)));
  });

  it('stored the messages in order, each at its own time', () => {
    expect(rows.map((r) => Buffer.from(r.raw, 'base64').toString('latin1'))).toEqual(ALL);
    expect(rows.map((r) => r.seq)).toEqual(ALL.map((_, i) => i));
    for (let i = 1; i < t.length; i++) expect(t[i]! > t[i - 1]!, `${t[i - 1]} < ${t[i]}`).toBe(true);
    expect(rows.map((r) => r.transport)).toEqual([...MESSAGES.map(() => 'tcp'), 'udp']);
    expect(rows[0]!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(rows[1]!.fields.oslo).toMatchObject({ level: 'DEBUG', logger: 'tacker.vnfm.plugin', request_id: R1, global_request_id: G1 });
  });

  it('--level selects that level and more severe (journalctl -p), in any case; entries without an oslo level by syslog severity', () => {
    expect(seqs(['--level', 'ERROR'])).toEqual([2, 3, 8]);
    expect(seqs(['--level', 'error'])).toEqual([2, 3, 8]);
    expect(seqs(['--level', 'err'])).toEqual([2, 3, 8]);
    expect(seqs(['--level', 'WARNING'])).toEqual([2, 3, 4, 8]);
    expect(seqs(['--level', 'warn'])).toEqual([2, 3, 4, 8]);
    // m5 and m9 are <13> (user.notice) without oslo.log fields.
    expect(seqs(['--level', 'notice'])).toEqual([2, 3, 4, 5, 8, 9]);
    expect(seqs(['--level', '5'])).toEqual([2, 3, 4, 5, 8, 9]);
    expect(seqs(['--level', 'INFO'])).toEqual([0, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seqs(['--level', 'CRITICAL'])).toEqual([8]);
    expect(seqs(['--level', 'crit'])).toEqual([8]);
    expect(seqs(['--level', 'emerg'])).toEqual([]);
    expect(seqs(['--level', 'TRACE'])).toEqual(ALL.map((_, i) => i));
    const bad = cliFails(['--level', 'LOUD']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--level: expected an oslo.log level');
    expect(bad.stderr).toContain('got "LOUD"');
  });

  it('--logger selects the logger and its children only', () => {
    expect(seqs(['--logger', 'tacker.vnfm'])).toEqual([0, 1, 3]);
    expect(seqs(['--logger', 'tacker.vnfm.plugin'])).toEqual([1, 3]);
    expect(seqs(['--logger', 'tacker'])).toEqual([0, 1, 2, 3, 4, 6, 7, 8]);
    expect(seqs(['--logger', 'tacker.vnf'])).toEqual([]);
    // LIKE wildcards in the name are literal.
    expect(seqs(['--logger', 'tacker.vnfm_'])).toEqual([]);
    expect(seqs(['--logger', 'tacker.vnfm%'])).toEqual([]);
    expect(seqs(['--logger', 'tacker.vnfm_x'])).toEqual([6]);
    expect(seqs(['--logger', 'tacker.%'])).toEqual([]);
    // Python logger names are case-sensitive.
    expect(seqs(['--logger', 'Tacker.VNFM'])).toEqual([]);
    expect(seqs(['--logger', 'TACKER'])).toEqual([]);
  });

  it('--request-id matches the request id or the global request id', () => {
    expect(seqs(['--request-id', R1])).toEqual([1]);
    expect(seqs(['--request-id', R3])).toEqual([4]);
    expect(seqs(['--request-id', G1])).toEqual([1, 4]);
    expect(seqs(['--request-id', G2])).toEqual([3]);
    expect(seqs(['--request-id', 'req-00000000-0000-4000-8000-000000000000'])).toEqual([]);
  });

  it('filters combine, and --limit keeps the first n in sequence order', () => {
    expect(seqs(['--level', 'ERROR', '--logger', 'tacker.vnfm'])).toEqual([3]);
    expect(seqs(['--logger', 'tacker.vnfm', '--request-id', G1])).toEqual([1]);
    expect(seqs(['--limit', '2'])).toEqual([0, 1]);
    expect(seqs(['--limit', '0'])).toEqual([]);
    expect(seqs(['--limit', '100'])).toEqual(ALL.map((_, i) => i));
    expect(seqs(['--logger', 'tacker.vnfm', '--limit', '2'])).toEqual([0, 1]);
    const bad = cliFails(['--limit', 'ten']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--limit: expected a whole number, got "ten"');
    expect(cliFails(['--limit', '-1']).code).toBe(2);
  });

  it('--since (inclusive) and --until (exclusive) take the printed received_at exactly', () => {
    expect(seqs(['--since', t[4]!])).toEqual([4, 5, 6, 7, 8, 9]);
    expect(seqs(['--until', t[4]!])).toEqual([0, 1, 2, 3]);
    expect(seqs(['--since', t[2]!, '--until', t[5]!])).toEqual([2, 3, 4]);
    expect(seqs(['--since', t[0]!])).toEqual(ALL.map((_, i) => i));
    expect(seqs(['--until', t[0]!])).toEqual([]);
    // One microsecond after an entry excludes it from --since and includes it in --until.
    expect(seqs(['--since', formatUs(tUs[4]! + 1)])).toEqual([5, 6, 7, 8, 9]);
    expect(seqs(['--until', formatUs(tUs[4]! + 1)])).toEqual([0, 1, 2, 3, 4]);
  });

  it('--since and --until take zone offsets, dates, relative times and now', () => {
    // The same instant as t[4], written in +05:30 and -08:00 (no colon).
    const shifted = (us: number, min: number, zone: string): string => formatUs(us + min * 60_000_000).replace('Z', zone);
    expect(seqs(['--since', shifted(tUs[4]!, 330, '+05:30')])).toEqual([4, 5, 6, 7, 8, 9]);
    expect(seqs(['--until', shifted(tUs[4]!, -480, '-0800')])).toEqual([0, 1, 2, 3]);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    expect(seqs(['--since', yesterday])).toEqual(ALL.map((_, i) => i));
    expect(seqs(['--until', yesterday])).toEqual([]);
    expect(seqs(['--since', '1h'])).toEqual(ALL.map((_, i) => i));
    expect(seqs(['--since', '2d', '--until', '1h'])).toEqual([]);
    expect(seqs(['--until', 'now'])).toEqual(ALL.map((_, i) => i));
    expect(seqs(['--since', 'now'])).toEqual([]);
  });

  it('a bad time exits 2 and says what it expected', () => {
    for (const [flag, v] of [['--since', 'yesterday'], ['--until', '2026-02-30'], ['--since', '2h ago'], ['--until', '']] as const) {
      const r = cliFails([flag, v]);
      expect(r.code, `${flag} ${v}`).toBe(2);
      expect(r.stderr).toContain(`immutalog: ${flag}: expected a time like`);
      expect(r.stderr).toContain(JSON.stringify(v));
    }
  });

  it('text output is one line per entry with control bytes escaped', () => {
    const r = runCli(['query', '--data-dir', dir]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.length).toBe(ALL.length);
    expect(lines[9]).toBe(`9\t${t[9]}\t127.0.0.1\t<13>m9 line one\\nline two \\x1b[31mred\\x1b[0m\\ttab\\x0d\\x00end`);
    expect(lines[0]).toBe(`0\t${t[0]}\t127.0.0.1\t${MESSAGES[0]}`);
  });

  it('query on a directory without a log exits 2', () => {
    const r = runCli(['query', '--data-dir', join(tempDataDir(), 'nothing-here')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot open database');
  });

  it('status --json reflects the counts, while running and after the stop', () => {
    expect(running.database).toMatchObject({ fingerprint, entries: ALL.length, last_seq: ALL.length - 1 });
    expect(running.daemon).toMatchObject({ running: true, state: 'running', pid: daemonPid, fingerprint });
    expect(runningText).toContain(`daemon: running (pid ${daemonPid})`);

    const r = runCli(['status', '--data-dir', dir, '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.data_dir).toBe(dir);
    expect(s.database).toMatchObject({ fingerprint, entries: ALL.length, last_seq: ALL.length - 1, last_received_at_us: tUs[9] });
    // Whether the stop closed the block is checkpoint policy; the open block ends at the last entry either way.
    expect(s.database.open_block.first_seq + s.database.open_block.entries).toBe(ALL.length);
    expect(s.daemon).toMatchObject({ running: false, state: 'stopped', next_seq: ALL.length, last_committed_seq: ALL.length - 1 });
    const tcp = s.daemon.listeners.find((l: any) => l.transport === 'tcp');
    const udp = s.daemon.listeners.find((l: any) => l.transport === 'udp');
    expect(tcp.counters).toMatchObject({ received: MESSAGES.length, truncated: 0, incomplete: 0, invalidUtf8: 0, rejectedSources: 0 });
    expect(udp.counters).toMatchObject({ received: 1, invalidUtf8: 0 });
    expect(s.daemon.queue).toMatchObject({ frames: 0, committed: ALL.length, commit_failures: 0 });
    // Anchoring is off: every checkpoint waits, and the database says so with the daemon stopped.
    expect(s.daemon.anchor).toBeNull();
    expect(s.database.checkpoints).toBeGreaterThan(0);
    expect(s.database.anchoring).toMatchObject({ unanchored_checkpoints: s.database.checkpoints, anchors_by_state: {}, fees_spent_sats: 0 });
    expect(s.database.anchoring.oldest_unanchored.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(s.database.anchoring.oldest_unanchored.age_seconds).toBeGreaterThanOrEqual(0);
    expect(running.database.anchoring.unanchored_checkpoints).toBe(running.database.checkpoints);
  });

  it('status text says the same', () => {
    const r = runCli(['status', '--data-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`log ${fingerprint}\n`);
    expect(r.stdout).toContain(`entries stored: ${ALL.length} (last seq ${ALL.length - 1})\n`);
    expect(r.stdout).toContain('daemon: not running (last state stopped at ');
    expect(r.stdout).toMatch(/\nanchors: [1-9]\d* checkpoints unanchored, the oldest from \S+Z \(\d+ s ago\); anchors none\n/);
    expect(runningText).toMatch(/\nanchors: \d+ checkpoints unanchored(, the oldest from \S+Z \(\d+ s ago\))?; anchors none\n/);
    expect(runningText).toContain('\nanchoring: off (no [bitcoin] rpc_url): checkpoints wait, unanchored\n');
    expect(r.stdout).toMatch(new RegExp(`tcp://127\\.0\\.0\\.1:\\d+: received ${MESSAGES.length}, malformed 0 `));
    expect(r.stdout).toMatch(/udp:\/\/127\.0\.0\.1:\d+: received 1, malformed 0 /);
  });

  it('status on a log whose daemon never ran, and on no log', () => {
    const fresh = tempDataDir();
    runCli(['keys', 'init', '--data-dir', fresh]);
    const s = JSON.parse(runCli(['status', '--data-dir', fresh, '--json']).stdout);
    // keys init opens block 0 (its escrow is part of the signed genesis statement).
    expect(s.database).toMatchObject({ entries: 0, last_seq: null, open_block: { block: 0, first_seq: 0, entries: 0 }, newest_checkpoint: null });
    expect(s.daemon).toBeNull();
    expect(runCli(['status', '--data-dir', fresh]).stdout).toContain('daemon: never started here');
    const none = runCli(['status', '--data-dir', join(fresh, 'nothing-here')]);
    expect(none.code).toBe(2);
  });
});

describe('entryToJson and entryToText', () => {
  const row = (over: Partial<EntryRow>): EntryRow => ({
    seq: 7, block: 0, received_at_us: 1_793_534_400_123_456, transport: 2, flags: 5, listener: 'tcp://[::1]:5514',
    peer_address: '::1', peer_port: 40000, raw: Buffer.from('<13>x'), mac: Buffer.alloc(32), fields: fieldsToJson(parseRecord(Buffer.from('<13>x'))), ...over,
  });

  it('formats the peer (IPv6 in brackets), transport, time and raw bytes', () => {
    expect(entryToJson(row({}))).toEqual({
      seq: 7, received_at: '2026-11-01T12:00:00.123456Z', transport: 'tcp', listener: 'tcp://[::1]:5514',
      peer: '[::1]:40000', flags: 5, raw: Buffer.from('<13>x').toString('base64'), fields: parseRecord(Buffer.from('<13>x')),
    });
    expect(entryToJson(row({ peer_address: '127.0.0.1', transport: 1 }))).toMatchObject({ peer: '127.0.0.1:40000', transport: 'udp' });
    expect(entryToJson(row({ transport: 3 })).transport).toBe('tls');
  });

  it('escapes every C0 control byte and DEL, so one entry is one line', () => {
    const all = Buffer.from(Array.from({ length: 32 }, (_, i) => i).concat([0x7f, 0x41]));
    const line = entryToText(row({ raw: all, peer_address: '127.0.0.1' }));
    expect(line.split('\n').length).toBe(1);
    expect(line).toBe(
      `7\t2026-11-01T12:00:00.123456Z\t127.0.0.1\t` +
        Array.from({ length: 32 }, (_, i) => (i === 10 ? '\\n' : i === 9 ? '\\t' : `\\x${i.toString(16).padStart(2, '0')}`)).join('') +
        '\\x7fA',
    );
  });
});

describe('--help', () => {
  const commands = [[], ['serve'], ['keys'], ['keys', 'init'], ['query'], ['status']];
  for (const c of commands) {
    it(`immutalog ${[...c, '--help'].join(' ')} exits 0 with usage`, () => {
      const r = runCli([...c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: immutalog${c.length ? ' ' + c.join(' ') : ''} [options]`);
    });
  }

  it('serve --help lists every option of the table', () => {
    const r = runCli(['serve', '--help']);
    for (const o of OPTIONS) expect(r.stdout).toContain(`--${o.flag} <`);
    expect(r.stdout).toContain('--config <file>');
  });

  it('--version (and -V) prints package.json\'s version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
    }
  });

  it('an unknown command or option exits 2', () => {
    expect(runCli(['frobnicate']).code).toBe(2);
    const r = runCli(['query', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--bogus'");
  });
});

describe('query --level on syslog severities; a reader that goes away (query | head)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDataDir();
    const d = await startDaemon({ dataDir: dir, args: ['--udp', '127.0.0.1:0'] });
    daemons.push(d);
    const lines = [
      '<131>1 2026-11-26T12:00:00Z vm app - - - local0.err, no oslo.log fields',
      '<132>1 2026-11-26T12:00:00Z vm app - - - local0.warning, no oslo.log fields',
      // Python's handler maps levels to severities; when both are there, the oslo.log level counts.
      '<131>2026-11-26 12:55:45,584.584 22496 WARNING tacker.vnfm [-] oslo WARNING sent as local0.err',
      ...Array.from({ length: 300 }, (_, i) => `<134>1 - vm app - - - filler ${i} ${'x'.repeat(200)}`),
    ];
    await sendUdp(d.udpPort, lines);
    await waitFor(() => query(dir).length, (n) => n >= lines.length, 15_000);
    expect(await d.stop()).toBe(0);
  });

  it('local0.err is ERROR, local0.warning WARNING', () => {
    const q = (l: string): number[] => query(dir, ['--level', l]).map((r) => r.seq);
    expect(q('ERROR')).toEqual([0]);
    expect(q('WARNING')).toEqual([0, 1, 2]);
  });

  /** Runs the CLI with its stdout closed by the reader before anything is written. */
  async function closedReader(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.destroy();
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    return { code, stderr };
  }

  it('query and status stop quietly (exit 0, nothing on stderr); verify exits 2 in one line, no stack trace', async () => {
    for (const args of [['query', '--data-dir', dir], ['query', '--data-dir', dir, '--json'], ['status', '--data-dir', dir]]) {
      const r = await closedReader(args);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code, args.join(' ')).toBe(0);
    }
    const v = await closedReader(['verify', '--data-dir', dir]);
    expect(v.code).toBe(2);
    expect(v.stderr).toBe('immutalog: standard output was closed before the report was complete (EPIPE)\n');
  });
});
