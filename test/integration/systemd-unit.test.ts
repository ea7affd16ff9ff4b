// systemd/immutalog.service: systemd's own checks (systemd-analyze verify, on this host and in a
// temporary root laid out as the unit expects; systemd-analyze security --offline), the
// hardening the unit must keep, and a clean stop run exactly as the unit runs the daemon:
// same argv (paths mapped into temp directories), cwd /, UMask, the unit's KillSignal, within
// its TimeoutStopSec.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query, runCli, waitFor } from '../helpers/daemon.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';
import { run, sleep, spawnTracked } from '../clients/proc.js';
import { logger, requireLogger } from '../clients/logger.js';
import { ETC_HOST, ETC_PORT, assertEtcPortFree, lockEtcPort } from '../clients/etc-port.js';
import { loadServeConfig } from '../../src/config/load.js';
import { SYSTEMD_ANALYZE, execArgv, isTrue, parseUnit, requireSystemdAnalyze, timespanSeconds, value, values, type Unit } from '../clients/etc-systemd.js';
import { needClients } from '../clients/available.js';

/** systemd's own checks of the unit; the rest of the file reads it without systemd. */
const analyzer = needClients('systemd-analyze');
/** The clean stop is fed by logger. */
const loggerClient = needClients('logger');

const UNIT_FILE = join(REPO_ROOT, 'systemd', 'immutalog.service');
/** The flags every way of starting the daemon passes to node: none, V8's defaults (README, Benchmarks). */
const NODE_FLAGS: string[] = [];
/** Where the script and the `serve` command sit in ExecStart's argv, after node and its flags. */
const SCRIPT_AT = 1 + NODE_FLAGS.length;
const SAMPLE_CONF = join(REPO_ROOT, 'etc', 'immutalog.conf');
const ANALYZE_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' };

let tmp: string;
let unit: Unit;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'immutalog-systemd-'));
  unit = parseUnit(UNIT_FILE);
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const S = 'Service';

/** The sample config with its data_dir line (the installed /var/lib/immutalog) pointing at `dir`. */
function mapDataDir(text: string, dir: string): string {
  const out = text.replace(/^data_dir = \/var\/lib\/immutalog$/m, `data_dir = ${dir}`);
  if (out === text) throw new Error('etc/immutalog.conf has no line "data_dir = /var/lib/immutalog"');
  return out;
}
const argv = (): string[] => execArgv(value(unit, S, 'ExecStart'));

async function analyze(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  requireSystemdAnalyze();
  const r = await run(SYSTEMD_ANALYZE, ['--no-pager', ...args], { env: ANALYZE_ENV, timeoutMs: 60_000 });
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

/** Where the host keeps the units systemd ships (Debian 12: /usr/lib, /lib is a link to it). */
function systemUnitDir(): string {
  for (const d of ['/usr/lib/systemd/system', '/lib/systemd/system']) if (existsSync(join(d, 'multi-user.target'))) return d;
  throw new Error('no /usr/lib/systemd/system/multi-user.target: install the Debian package "systemd"');
}

/**
 * A root laid out as an installed system: the unit (unchanged) in /etc/systemd/system, the
 * targets it depends on (the host's own, from the systemd package), an executable at the
 * ExecStart path, the checkout at /opt/immutalog, etc/immutalog.conf at /etc/immutalog/, and the
 * immutalog user and group.
 */
function makeRoot(dir: string, opts: { withExecutable: boolean }): string {
  const etcSystem = join(dir, 'etc', 'systemd', 'system');
  mkdirSync(etcSystem, { recursive: true });
  copyFileSync(UNIT_FILE, join(etcSystem, 'immutalog.service'));
  const libSystem = join(dir, 'usr', 'lib', 'systemd', 'system');
  mkdirSync(libSystem, { recursive: true });
  for (const t of ['sysinit.target', 'basic.target', 'shutdown.target', 'network-online.target', 'multi-user.target']) copyFileSync(join(systemUnitDir(), t), join(libSystem, t));
  // ExecReload's program, the host's own (procps), as a Debian system has it.
  const reloader = value(unit, S, 'ExecReload').split(/\s+/)[0]!;
  mkdirSync(join(dir, reloader, '..'), { recursive: true });
  copyFileSync(reloader, join(dir, reloader));
  chmodSync(join(dir, reloader), 0o755);
  const exe = argv()[0]!;
  if (opts.withExecutable) {
    // systemd-analyze verify checks that ExecStart's program is an executable file; a stub is
    // enough (the real Node binary runs the daemon in the clean-stop test below).
    mkdirSync(join(dir, exe, '..'), { recursive: true });
    writeFileSync(join(dir, exe), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, exe), 0o755);
  }
  const script = argv()[SCRIPT_AT]!;
  mkdirSync(join(dir, script, '..'), { recursive: true });
  copyFileSync(CLI, join(dir, script));
  mkdirSync(join(dir, 'etc', 'immutalog'), { recursive: true });
  copyFileSync(SAMPLE_CONF, join(dir, 'etc', 'immutalog', 'immutalog.conf'));
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nimmutalog:x:998:998:immutalog:/var/lib/immutalog:/usr/sbin/nologin\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nimmutalog:x:998:\n');
  return join(etcSystem, 'immutalog.service');
}

analyzer.describe('systemd-analyze verify', () => {
  it('passes on this host: exit 0 and nothing on stderr', async () => {
    const r = await analyze(['verify', UNIT_FILE]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('passes in a temporary root laid out as the unit expects (--root): exit 0 and nothing on stderr', async () => {
    const root = join(tmp, 'root');
    const installed = makeRoot(root, { withExecutable: true });
    const r = await analyze(['verify', `--root=${root}`, installed]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('would say so (the checks above are not blind): a root without the ExecStart program, a bad value', async () => {
    const root = join(tmp, 'root-no-exe');
    const installed = makeRoot(root, { withExecutable: false });
    const noExe = await analyze(['verify', `--root=${root}`, installed]);
    expect(noExe.code).not.toBe(0);
    expect(noExe.stderr).toContain(`Command ${argv()[0]} is not executable`);
    // A bad value is only a warning (exit 0): hence the empty-stderr checks.
    const bad = join(tmp, 'bad.service');
    writeFileSync(bad, readFileSync(UNIT_FILE, 'utf8').replace(/^ProtectSystem=strict$/m, 'ProtectSystem=stricter'));
    const r = await analyze(['verify', bad]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/bad\.service:\d+: .*ignoring: stricter/);
  });
});

describe('hardening', () => {
  it('runs as the unprivileged immutalog user and group, never root', () => {
    for (const k of ['User', 'Group']) {
      const v = value(unit, S, k);
      expect(v, k).toBe('immutalog');
      expect(['root', '0'], k).not.toContain(v);
    }
    expect(values(unit, S, 'DynamicUser')).toEqual([]);
    expect(values(unit, S, 'PermissionsStartOnly')).toEqual([]);
    // No ExecStartPre/Post etc. with a "+" or "!" prefix that would run as root.
    for (const [k, v] of unit.get(S)!) if (k.startsWith('Exec')) for (const x of v) expect(x, k).not.toMatch(/^[-@:]*[+!]/);
  });

  it('keeps its data in StateDirectory (/var/lib/immutalog, 0700) and its config in ConfigurationDirectory', () => {
    expect(value(unit, S, 'StateDirectory')).toBe('immutalog');
    expect(value(unit, S, 'StateDirectoryMode')).toBe('0700');
    expect(value(unit, S, 'ConfigurationDirectory')).toBe('immutalog');
    expect(value(unit, S, 'UMask')).toBe('0077');
  });

  it('ProtectSystem=strict, ProtectHome, NoNewPrivileges, PrivateTmp', () => {
    expect(value(unit, S, 'ProtectSystem')).toBe('strict');
    expect(isTrue(value(unit, S, 'ProtectHome'))).toBe(true);
    expect(isTrue(value(unit, S, 'NoNewPrivileges'))).toBe(true);
    expect(isTrue(value(unit, S, 'PrivateTmp'))).toBe(true);
    // strict makes everything but the StateDirectory read-only: nothing else is opened up.
    for (const k of ['ReadWritePaths', 'ReadWriteDirectories', 'InaccessiblePaths']) expect(values(unit, S, k), k).toEqual([]);
  });

  it('CAP_NET_BIND_SERVICE is the only capability (bounding set and ambient)', () => {
    expect(value(unit, S, 'CapabilityBoundingSet').split(/\s+/)).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(value(unit, S, 'AmbientCapabilities').split(/\s+/)).toEqual(['CAP_NET_BIND_SERVICE']);
  });

  it('RestrictAddressFamilies allows only AF_UNIX (control socket), AF_INET and AF_INET6', () => {
    expect(value(unit, S, 'RestrictAddressFamilies').split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
  });

  it('Restart=on-failure; stops with SIGTERM within TimeoutStopSec', () => {
    expect(value(unit, S, 'Restart')).toBe('on-failure');
    expect(value(unit, S, 'KillSignal')).toBe('SIGTERM');
    expect(timespanSeconds(value(unit, S, 'TimeoutStopSec'))).toBeGreaterThan(0);
  });

  it('Type=notify with NotifyAccess=all (the daemon notifies through its systemd-notify child); systemctl reload sends SIGHUP', () => {
    expect(value(unit, S, 'Type')).toBe('notify');
    // "main" or "exec" would drop READY=1: it comes from systemd-notify, a child (src/serve/sd-notify.ts).
    expect(value(unit, S, 'NotifyAccess')).toBe('all');
    expect(value(unit, S, 'ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    // The daemon's stop is what KillSignal starts; a reload must never be a stop.
    expect(value(unit, S, 'KillSignal')).not.toBe('SIGHUP');
  });

  it('ExecStart runs `serve --config /etc/immutalog/immutalog.conf`, whose data_dir is the StateDirectory (one source of truth)', () => {
    const a = argv();
    expect(a).toEqual(['/usr/bin/node', ...NODE_FLAGS, '/opt/immutalog/dist/cli/main.js', 'serve', '--config', '/etc/immutalog/immutalog.conf']);
    // The config is in ConfigurationDirectory; the data dir comes from it alone, and is the
    // StateDirectory, so `immutalog status` (which reads the same file) looks where serve writes.
    expect(a[SCRIPT_AT + 3]).toBe(`/etc/${value(unit, S, 'ConfigurationDirectory')}/immutalog.conf`);
    expect(a).not.toContain('--data-dir');
    expect(loadServeConfig({ file: SAMPLE_CONF }).dataDir).toBe(`/var/lib/${value(unit, S, 'StateDirectory')}`);
  });

  it('runs node with the same flags as `npm start` and the immutalog executable', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    // ExecStart's flags are held to NODE_FLAGS by the test above.
    expect(pkg.scripts.start).toBe(['node', ...NODE_FLAGS, 'dist/cli/main.js', 'serve'].join(' '));
    expect(readFileSync(CLI, 'utf8').split('\n')[0]).toBe(NODE_FLAGS.length ? `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}` : '#!/usr/bin/env node');
    expect(value(unit, 'Install', 'WantedBy')).toBe('multi-user.target');
  });

  analyzer.it('systemd itself reads it that way: systemd-analyze security --offline, exposure at most 3.4', async () => {
    // --threshold is in tenths (34 = 3.4, what the unit scores with systemd 252): a weaker unit fails.
    const r = await analyze(['security', '--offline=true', '--threshold=34', '--json=short', UNIT_FILE]);
    expect(r.code, r.stderr).toBe(0);
    const checks = new Map((JSON.parse(r.stdout) as { json_field: string; set: boolean }[]).map((c) => [c.json_field, c.set]));
    const mustBeSet = [
      'UserOrDynamicUser', 'NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'UMask',
      'RestrictAddressFamilies_AF_PACKET', 'RestrictAddressFamilies_AF_NETLINK', 'RestrictAddressFamilies_OTHER',
      'CapabilityBoundingSet_CAP_SYS_ADMIN', 'CapabilityBoundingSet_CAP_SET_UID_GID_PCAP', 'CapabilityBoundingSet_CAP_DAC_FOWNER_IPC_OWNER',
      'CapabilityBoundingSet_CAP_NET_ADMIN', 'CapabilityBoundingSet_CAP_SYS_PTRACE', 'CapabilityBoundingSet_CAP_CHOWN_FSETID_SETFCAP',
      'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectClock', 'ProtectHostname',
      'RestrictNamespaces_user', 'RestrictNamespaces_net', 'RestrictNamespaces_mnt', 'RestrictSUIDSGID', 'RestrictRealtime', 'LockPersonality', 'SystemCallArchitectures',
    ];
    for (const f of mustBeSet) expect(checks.get(f), f).toBe(true);
  });
});

loggerClient.describe('a clean stop (the unit\'s KillSignal) writes a final checkpoint with reason "shutdown"', () => {
  let release: (() => void) | undefined;
  let child: ChildProcess | undefined;
  let out = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let dataDir: string;
  let conf: string;
  let mapped: string[];
  beforeAll(async () => {
    requireLogger();
    // etc/immutalog.conf, installed as /etc/immutalog/immutalog.conf, listens on 127.0.0.1:5514.
    release = await lockEtcPort('test/integration/systemd-unit.test.ts');
    await assertEtcPortFree();
    const root = join(tmp, 'run');
    conf = join(root, 'etc', 'immutalog', 'immutalog.conf');
    mkdirSync(join(conf, '..'), { recursive: true });
    // StateDirectory= with StateDirectoryMode=0700: systemd creates it before the start.
    dataDir = join(root, 'var', 'lib', value(unit, S, 'StateDirectory'));
    // The installed config with its one path (data_dir, the StateDirectory) mapped into the temp root.
    writeFileSync(conf, mapDataDir(readFileSync(SAMPLE_CONF, 'utf8'), dataDir));
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    // The unit's argv with its paths mapped: every absolute path must be one of these.
    const map: Record<string, string> = { '/usr/bin/node': process.execPath, '/opt/immutalog/dist/cli/main.js': CLI, '/etc/immutalog/immutalog.conf': conf, '/var/lib/immutalog': dataDir };
    mapped = argv().map((a) => {
      if (!a.startsWith('/')) return a;
      const m = map[a];
      if (m === undefined) throw new Error(`ExecStart names ${a}, which this test does not map to a temp path`);
      return m;
    });
    // UMask=0077 and WorkingDirectory unset (/): as systemd starts it. exec keeps the pid.
    const umask = value(unit, S, 'UMask');
    child = spawnTracked('/bin/sh', ['-c', `umask ${umask} && exec "$@"`, 'immutalog', ...mapped], {
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    exited = new Promise((r) => child!.on('exit', (code, signal) => r({ code, signal })));
    const statusFile = join(dataDir, 'status.json');
    const st = await waitFor(
      () => {
        try {
          return JSON.parse(readFileSync(statusFile, 'utf8'));
        } catch {
          return undefined;
        }
      },
      (s) => (s?.pid === child!.pid && s.state === 'running') || child!.exitCode !== null,
      20_000,
    );
    if (st?.pid !== child.pid) throw new Error(`the daemon did not start as the unit runs it (exit ${child.exitCode}): ${out}`);
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    release?.();
  });

  it('runs the unit\'s command line, paths mapped into a temp root', () => {
    expect(mapped.slice(SCRIPT_AT + 1)).toEqual(['serve', '--config', conf]);
    expect(readFileSync(conf, 'utf8')).toBe(mapDataDir(readFileSync(SAMPLE_CONF, 'utf8'), dataDir));
    expect(loadServeConfig({ file: conf }).dataDir).toBe(dataDir);
  });

  it('exits 0 within TimeoutStopSec of SIGTERM, after a final checkpoint of reason "shutdown"', async () => {
    await logger(['--server', ETC_HOST, '--port', String(ETC_PORT), '--udp', '--rfc5424', '-p', 'local0.info', '-t', 'tacker-server'], { message: 'before stop, udp' });
    await logger(['--server', ETC_HOST, '--port', String(ETC_PORT), '--tcp', '--octet-count', '--rfc5424', '-p', 'local0.info', '-t', 'tacker-server'], { message: 'before stop, tcp' });
    const rows = await waitFor(() => query(dataDir), (r) => r.length >= 2, 15_000, 50);
    expect(rows.length).toBe(2);

    const timeoutMs = timespanSeconds(value(unit, S, 'TimeoutStopSec')) * 1000;
    const t0 = Date.now();
    child!.kill(value(unit, S, 'KillSignal') as NodeJS.Signals);
    const r = await Promise.race([exited, sleep(timeoutMs).then(() => undefined)]);
    // Past TimeoutStopSec systemd would SIGKILL it (and the final checkpoint would be lost).
    expect(r, `still running ${timeoutMs} ms after SIGTERM; output:\n${out}`).toBeDefined();
    expect(r, out).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(timeoutMs);
    expect(out).toContain('SIGTERM received, stopping');

    const st = runCli(['status', '--config', conf, '--json']);
    expect(st.code, st.stderr).toBe(0);
    const s = JSON.parse(st.stdout);
    expect(s.database.newest_checkpoint.reason).toBe('shutdown');
    expect(s.database.entries).toBe(2);
    expect(s.daemon).toMatchObject({ state: 'stopped', running: false, pid: child!.pid });
  });

  it('the stopped log verifies', () => {
    const v = runCli(['verify', '--config', conf]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  it('under UMask=0077 nothing it created in the StateDirectory is open to group or others', () => {
    const walk = (d: string): string[] => readdirSync(d).flatMap((f) => {
      const p = join(d, f);
      return lstatSync(p).isDirectory() ? [p, ...walk(p)] : [p];
    });
    const files = walk(dataDir);
    expect(files.length).toBeGreaterThan(0);
    const open = files.filter((p) => (lstatSync(p).mode & 0o077) !== 0).map((p) => `${p} ${(lstatSync(p).mode & 0o777).toString(8)}`);
    expect(open).toEqual([]);
  });
});
