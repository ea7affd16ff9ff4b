import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Command } from './program.js';
import { CannotRun } from './cannot-run.js';
import { CONFIG_OPTION, DATA_DIR_OPTION, dataDirOf, timeOpt } from './common-args.js';
import { renderReport } from './verify-report.js';
import { auditorKeyPairFromPem, type RawKeyPair } from '../chain/keys.js';
import { writeFileAtomic } from '../log/atomic-file.js';
import { dataPaths } from '../log/data-dir.js';
import { bundleClaim } from './export-cmd.js';
import { REASON_CODES } from '../verify/failures.js';
import { InlineRunner, WorkerPoolRunner } from '../verify/runners.js';
import { verifyDatabase } from '../verify/verify-log.js';
import type { AuditorState, VerifyReport } from '../verify/report.js';
import { EXIT } from './exit-codes.js';
import { connectChainReader } from '../bitcoind/reader.js';

export interface VerifyCommandOptions {
  dataDir: string;
  /** Verify an exported bundle instead of the data directory's database. */
  bundle?: string;
  sinceUs?: number;
  untilUs?: number;
  identity?: string;
  auditorKeyFile?: string;
  stateFile?: string;
  json: boolean;
  maxCheckpointAgeSec: number;
  threads: number;
  /** Failures listed with their evidence; the rest are counted by code. */
  maxFailures?: number;
  bitcoin?: { url: string; cookieFile?: string; user?: string; password?: string };
}

/** Below this many entries the worker threads cost more than they save. */
const INLINE_BELOW_ENTRIES = 50_000;

function progressBar(): ((done: number, total: number) => void) & { end(): void } {
  let last = 0;
  const draw = (done: number, total: number): void => {
    const now = Date.now();
    if (now - last < 200) return;
    last = now;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    process.stderr.write(`\r[${bar}] ${(frac * 100).toFixed(1)}% ${done}/${total} entries`);
  };
  return Object.assign(draw, { end: () => { if (last) process.stderr.write('\r\x1b[K'); } });
}

/** Runs verify; returns the exit code. Throws CannotRun for exit 2. */
export async function runVerify(o: VerifyCommandOptions, out: (s: string) => void): Promise<number> {
  const database = o.bundle ?? dataPaths(o.dataDir).database;
  if (!existsSync(database)) throw new CannotRun(o.bundle ? `no bundle at ${o.bundle}` : `no database at ${database}`);
  const { auditor, state } = auditorInputs(o);
  // Anything that stops the run before a verdict (a file that is not a database, a table
  // missing, a node that does not answer) is "could not run": one line, exit 2.
  const bar = !o.json && process.stderr.isTTY ? progressBar() : undefined;
  const opened: { close(): Promise<void> }[] = [];
  let report: VerifyReport;
  let requestedByBundle = false;
  try {
    // A bundle's meta says what range it was made for; unsigned, so it only fills in the range
    // the auditor did not give, and the report says so. Which blocks are checked comes from the
    // signed checkpoints, and every entry the bundle holds is checked.
    const claim = o.bundle ? bundleClaim(o.bundle) : undefined;
    if (o.bundle && !claim) throw new CannotRun(`${o.bundle} is not an immutalog bundle (no bundle_format in its meta table)`);
    const ownRange = o.sinceUs !== undefined || o.untilUs !== undefined;
    requestedByBundle = claim !== undefined && !ownRange;
    const sinceUs = ownRange ? o.sinceUs : claim?.sinceUs;
    const untilUs = ownRange ? o.untilUs : claim?.untilUs;
    const runner = openRunner(database, o.threads, opened);
    report = await verifyDatabase(database, {
      ...(sinceUs !== undefined ? { sinceUs } : {}),
      ...(untilUs !== undefined ? { untilUs } : {}),
      ...(o.bundle ? { bundle: true } : {}),
      ...(o.identity !== undefined ? { identity: o.identity } : {}),
      ...(auditor ? { auditor } : {}),
      ...(state ? { state } : {}),
      ...(o.maxFailures !== undefined ? { maxFailures: o.maxFailures } : {}),
      maxCheckpointAgeUs: o.maxCheckpointAgeSec * 1e6,
      nowUs: Date.now() * 1000,
      runner,
      ...(o.bitcoin ? { headers: connectChainReader(o.bitcoin) } : {}),
      ...(bar ? { onProgress: bar } : {}),
    });
  } catch (e) {
    if (e instanceof CannotRun) throw e;
    throw new CannotRun(`${o.bundle ? `bundle ${o.bundle}` : `database ${database}`}: ${(e as Error).message}`);
  } finally {
    bar?.end();
    for (const r of opened) await r.close().catch(() => undefined);
  }
  return writeResult(o, report, requestedByBundle, out);
}

/** What the auditor brings: the auditor key, the identity to pin, the state of the last run. */
function auditorInputs(o: VerifyCommandOptions): { auditor: RawKeyPair | undefined; state: AuditorState | undefined } {
  let auditor: RawKeyPair | undefined;
  if (o.auditorKeyFile) {
    try {
      auditor = auditorKeyPairFromPem(readFileSync(o.auditorKeyFile, 'utf8'));
    } catch (e) {
      throw new CannotRun(`--auditor-key ${o.auditorKeyFile}: ${(e as Error).message}`);
    }
  }
  if (o.identity !== undefined && !/^[0-9a-fA-F]{64}$/.test(o.identity)) {
    throw new CannotRun(`--identity: expected the 64-hex-digit fingerprint printed by \`immutalog keys init\`, got ${JSON.stringify(o.identity)}`);
  }
  let state: AuditorState | undefined;
  if (o.stateFile && existsSync(o.stateFile)) {
    try {
      state = JSON.parse(readFileSync(o.stateFile, 'utf8')) as AuditorState;
      if (typeof state.checkpoint !== 'number' || typeof state.hash !== 'string' || typeof state.fingerprint !== 'string') throw new Error('fields missing');
    } catch (e) {
      throw new CannotRun(`--state ${o.stateFile}: expected a state file written by an earlier verify, got: ${(e as Error).message}`);
    }
  }
  return { auditor, state };
}

/** Inline for a small log, worker threads for a big one; what it opens goes into `opened`, to be closed. */
function openRunner(database: string, threads: number, opened: { close(): Promise<void> }[]): InlineRunner | WorkerPoolRunner {
  const probe = new InlineRunner(database);
  opened.push(probe);
  const runner = threads > 1 && probe.entryCountAtLeast(INLINE_BELOW_ENTRIES) ? new WorkerPoolRunner(database, threads) : probe;
  if (runner !== probe) opened.push(runner as WorkerPoolRunner);
  return runner;
}

/** Writes the next state (only when nothing failed) and the report; returns the verdict's exit code. */
function writeResult(o: VerifyCommandOptions, report: VerifyReport, requestedByBundle: boolean, out: (s: string) => void): number {
  if (o.stateFile && report.nextState) writeFileAtomic(o.stateFile, JSON.stringify(report.nextState, null, 1) + '\n', 0o600);
  if (o.json) {
    out(JSON.stringify({ ...report, requestedByBundle, verdict: report.failureCount ? 'failed' : 'verified', reason_codes: REASON_CODES }, null, 1) + '\n');
  } else {
    out(renderReport(report, { requestedByBundle }));
  }
  return report.failureCount ? EXIT.INTEGRITY_FAILURE : EXIT.OK;
}

interface VerifyArgs {
  maxFailures: string;
  bundle?: string;
  dataDir?: string;
  config?: string;
  since?: string;
  until?: string;
  identity?: string;
  auditorKey?: string;
  state?: string;
  maxCheckpointAge: string;
  threads?: string;
  json?: boolean;
  bitcoinRpc?: string;
  bitcoinCookie?: string;
  bitcoinUser?: string;
  bitcoinPassword?: string;
}

/** `immutalog verify`. */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('prove a time range of the log intact, or show exactly where it is not (exit 0 verified, 1 integrity failure, 2 could not run)')
    .addOption(DATA_DIR_OPTION())
    .addOption(CONFIG_OPTION())
    .option('--since <time>', 'start of the range: ISO 8601 (UTC unless a zone is given) or relative (2h, 7d)')
    .option('--until <time>', 'end of the range (exclusive); same forms as --since')
    .option('--identity <fingerprint>', 'the log identity fingerprint pinned when the log was created')
    .option('--auditor-key <file>', "auditor's X25519 private key (PEM), to check the open block through its escrowed key")
    .option('--state <file>', 'remember the newest verified checkpoint here; the next run checks only what is new, and that the remembered checkpoint is unchanged')
    .option('--max-checkpoint-age <seconds>', 'the newest checkpoint may be at most this old at the end of the range (heartbeat)', '150')
    .option('--threads <n>', 'worker threads for block checks (default: one per core)')
    .option('--bitcoin-rpc <url>', 'Bitcoin Core RPC URL, to check that anchors are in blocks of the best chain, and that no anchor the database does not show spent its newest anchor\'s change (rollback; headers, the UTXO set and recent blocks: a pruned node without txindex will do)')
    .option('--bitcoin-cookie <file>', "the node's .cookie file")
    .option('--bitcoin-user <user>', 'RPC user, instead of the cookie')
    .option('--bitcoin-password <password>', 'RPC password, instead of the cookie')
    .option('--bundle <file>', 'verify a bundle made by `immutalog export` instead of the data directory (on any machine); without --since/--until the range is the one the bundle claims')
    .option('--max-failures <n>', 'list at most this many failures, the earliest in log order (all are counted by reason code)', '1000')
    .option('--json', 'machine-readable report')
    .action(async (o: VerifyArgs) => {
      process.exitCode = await runVerify(verifyOptionsOf(o), (s) => process.stdout.write(s));
    });
}

/** The arguments checked and read; a CannotRun names the one that is wrong. */
function verifyOptionsOf(o: VerifyArgs): VerifyCommandOptions {
  if (o.bitcoinRpc !== undefined && o.bitcoinCookie === undefined && (o.bitcoinUser === undefined || o.bitcoinPassword === undefined)) {
    throw new CannotRun('--bitcoin-rpc needs --bitcoin-cookie, or --bitcoin-user and --bitcoin-password');
  }
  if (!/^\d+$/.test(o.maxCheckpointAge)) throw new CannotRun(`--max-checkpoint-age: expected whole seconds, got ${JSON.stringify(o.maxCheckpointAge)}`);
  if (!/^[1-9]\d{0,8}$/.test(o.maxFailures)) throw new CannotRun(`--max-failures: expected a positive whole number, got ${JSON.stringify(o.maxFailures)}`);
  if (o.threads !== undefined && !/^[1-9]\d*$/.test(o.threads)) throw new CannotRun(`--threads: expected a positive whole number, got ${JSON.stringify(o.threads)}`);
  const since = timeOpt(o.since, '--since');
  const until = timeOpt(o.until, '--until');
  return {
    dataDir: o.bundle ? '' : dataDirOf(o),
    ...(o.bundle !== undefined ? { bundle: o.bundle } : {}),
    ...(since !== undefined ? { sinceUs: since } : {}),
    ...(until !== undefined ? { untilUs: until } : {}),
    ...(o.identity !== undefined ? { identity: o.identity } : {}),
    ...(o.auditorKey !== undefined ? { auditorKeyFile: o.auditorKey } : {}),
    ...(o.state !== undefined ? { stateFile: o.state } : {}),
    json: o.json === true,
    maxCheckpointAgeSec: Number(o.maxCheckpointAge),
    threads: o.threads !== undefined ? Number(o.threads) : availableParallelism(),
    maxFailures: Number(o.maxFailures),
    ...(o.bitcoinRpc !== undefined
      ? { bitcoin: { url: o.bitcoinRpc, ...(o.bitcoinCookie !== undefined ? { cookieFile: o.bitcoinCookie } : { user: o.bitcoinUser!, password: o.bitcoinPassword! }) } }
      : {}),
  };
}
