// Which real clients this machine has, for the tests that drive them.
//
// `npm test` must pass on a bare machine (git clone && npm ci && npm test): a test that needs a
// client that is not installed is skipped, with the reason in its title and a line on stderr.
// CI must never skip one silently: .ci/run installs every client and sets
// IMMUTALOG_REQUIRE_CLIENTS=1, under which a missing client fails the file that needs it.
//
// Each client is probed at the path the tests run it from (test/clients/proc.ts), once per
// test file, and the answer is kept for the rest of that file.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { describe, it } from 'vitest';
import { loadAddon } from '../../src/crypto/native-addon.js';
import { rowsExtensionMissing } from '../../src/store/rows-extension.js';
import { loadUdpDrain } from '../../src/serve/udp-drain.js';
import { loadFieldsAddon } from '../../src/parse/native-fields.js';
import { IMRELP_SO, LOGGER, OMRELP_SO, OPENSSL, RSYSLOGD, SYSTEM_PYTHON } from './proc.js';

/** Set by .ci/run: a missing client is a failure there, never a skip. */
export const REQUIRE_CLIENTS_ENV = 'IMMUTALOG_REQUIRE_CLIENTS';
/** Starts the title of every test skipped for a missing client; .ci/run counts these. */
export const CLIENT_SKIP_MARK = '[skipped: ';

/** A probe says why the client cannot be used, or undefined when it can. */
type Probe = () => string | undefined;

// Python imports and gdb are checked by running them; a cold start of python3 with oslo.log,
// or of gdb, takes well under this even on a loaded machine.
const PROBE_TIMEOUT_MS = 30_000;

/** `mode`: X_OK for a program that is run, R_OK for a plugin that is only loaded. */
function accessible(path: string, debianPackage: string, mode: number): Probe {
  return () => {
    try {
      accessSync(path, mode);
      return undefined;
    } catch {
      return `no ${path} (apt-get install ${debianPackage})`;
    }
  };
}

const executable = (path: string, debianPackage: string): Probe => accessible(path, debianPackage, constants.X_OK);

function pythonModules(modules: string[], debianPackage: string): Probe {
  return () => {
    if (executable(SYSTEM_PYTHON, 'python3')()) return `no ${SYSTEM_PYTHON} (apt-get install python3 ${debianPackage})`;
    const r = spawnSync(SYSTEM_PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { timeout: PROBE_TIMEOUT_MS, stdio: 'ignore' });
    return r.status === 0 ? undefined : `${SYSTEM_PYTHON} cannot import ${modules.join(', ')} (apt-get install ${debianPackage})`;
  };
}

/** gdb is run from PATH (test/helpers/daemon.ts), so it is probed there. */
function onPath(command: string, debianPackage: string): Probe {
  return () => (spawnSync(command, ['--version'], { stdio: 'ignore', timeout: PROBE_TIMEOUT_MS }).status === 0 ? undefined : `no ${command} on PATH (apt-get install ${debianPackage})`);
}

/** Every client a test may need, with the Debian package .ci/run installs for it. */
const CLIENTS = {
  python3: executable(SYSTEM_PYTHON, 'python3'),
  'python3-cryptography': pythonModules(['cryptography'], 'python3-cryptography'),
  'python3-oslo.log': pythonModules(['oslo_log', 'oslo_config', 'oslo_context'], 'python3-oslo.log'),
  // The OpenTimestamps library and python-bitcoinlib, which it depends on, check our .ots files.
  'python3-opentimestamps': pythonModules(['opentimestamps', 'bitcoin'], 'python3-opentimestamps'),
  rsyslog: executable(RSYSLOGD, 'rsyslog'),
  // omrelp and imrelp (imrelp only for the test that proves the relay against rsyslog's own receiver)
  'rsyslog-relp': () => executable(RSYSLOGD, 'rsyslog')() ?? accessible(OMRELP_SO, 'rsyslog-relp', constants.R_OK)() ?? accessible(IMRELP_SO, 'rsyslog-relp', constants.R_OK)(),
  logger: executable(LOGGER, 'bsdutils'),
  openssl: executable(OPENSSL, 'openssl'),
  'systemd-analyze': executable('/usr/bin/systemd-analyze', 'systemd'),
  'systemd-notify': executable('/usr/bin/systemd-notify', 'systemd'),
  sysctl: executable('/usr/sbin/sysctl', 'procps'),
  gdb: onPath('gdb', 'gdb'),
  // Not a Debian package: `npm ci` builds it with node-gyp (g++, make, python3); .ci/run needs it built.
  'crypto-addon': () => loadAddon().reason,
  // Built beside it by the same `npm ci` (src/store/rows-ext): the SQLite aggregate verify reads with.
  'rows-extension': () => rowsExtensionMissing(),
  // And the C thread that drains UDP sockets (src/serve/udp-drain).
  'udp-drain': () => { const got = loadUdpDrain(); return 'reason' in got ? got.reason : undefined; },
  // And verify's fields check in C (src/parse/fields-native).
  'fields-addon': () => loadFieldsAddon().reason,
} satisfies Record<string, Probe>;

export type ClientName = keyof typeof CLIENTS;

const answers = new Map<ClientName, string | undefined>();

/** Why the client cannot be used here, or undefined if it can (probed once per file). */
export function clientMissing(name: ClientName): string | undefined {
  if (!answers.has(name)) answers.set(name, CLIENTS[name]());
  return answers.get(name);
}

type Body = () => void | Promise<void>;

export interface Clients {
  /** True when a client is missing (never under IMMUTALOG_REQUIRE_CLIENTS=1: that throws). */
  readonly missing: boolean;
  /** The reasons, one line; '' when nothing is missing. */
  readonly reason: string;
  /** The title as given, or with `[skipped: reason] ` in front when a client is missing. */
  title(name: string): string;
  /** For a test that runs without the client but leaves a part out: `name [skipped: part: reason]`. */
  partTitle(name: string, part: string): string;
  /** describe, or describe.skip under the marked title. */
  describe(name: string, fn: Body): void;
  /** it, or it.skip under the marked title. */
  it(name: string, fn: Body, timeout?: number): void;
}

/**
 * The clients a group of tests needs. Called at a test file's top level, so that under
 * IMMUTALOG_REQUIRE_CLIENTS=1 a missing client fails the file before any test runs.
 */
export function needClients(...names: ClientName[]): Clients {
  const reasons = names.map(clientMissing).filter((r): r is string => r !== undefined);
  const reason = reasons.join('; ');
  if (reasons.length > 0 && process.env[REQUIRE_CLIENTS_ENV] === '1') {
    throw new Error(`${REQUIRE_CLIENTS_ENV}=1 (set by .ci/run) and a client these tests need is missing: ${reason}`);
  }
  if (reasons.length === 0) {
    return { missing: false, reason, title: (n) => n, partTitle: (n) => n, describe: (n, fn) => describe(n, fn), it: (n, fn, t) => it(n, fn, t) };
  }
  const title = (n: string): string => `${CLIENT_SKIP_MARK}${reason}] ${n}`;
  console.warn(`skipping the tests that need ${names.join(', ')}: ${reason}`);
  const partTitle = (n: string, part: string): string => `${n} ${CLIENT_SKIP_MARK}${part}: ${reason}]`;
  return { missing: true, reason, title, partTitle, describe: (n, fn) => describe.skip(title(n), fn), it: (n, fn, t) => it.skip(title(n), fn, t) };
}
