import { Command, Option, CommanderError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { loadServeConfig } from '../config/load.js';
import { ConfigError } from '../config/ini.js';
import { OPTIONS } from '../config/options.js';
import { createDaemonLogger } from '../serve/daemon-log.js';
import { Daemon } from '../serve/daemon.js';
import { initLog, InitError } from '../log/init.js';
import { takeWriterLock, WriterLockedError, type WriterLock } from '../log/writer-lock.js';
import { DataDirError } from '../log/data-dir-check.js';
import { FileLockError } from '../store/file-lock.js';
import { EXIT } from './exit-codes.js';
import { auditorPublicFromPem } from '../chain/keys.js';
import { runQuery } from './query.js';
import { parseTimeArg } from './time-arg.js';
import { runStatus } from './status.js';
import { sampleConfig } from '../config/sample.js';
import { controlRequest } from './control-client.js';
import { runExport } from './export-cmd.js';
import { dataPaths } from '../log/data-dir.js';
import { CONFIG_FILE_ENV, CONFIG_FILE_HELP, DEFAULT_CONFIG_FILE, configFileFor } from '../config/config-file.js';
import { parseLevelArg } from '../parse/levels.js';

/** A round waits on the node for several RPCs; past this the CLI gives up waiting (the round goes on). */
const ANCHOR_NOW_TIMEOUT_MS = 120_000;
import { CannotRun, runVerify } from './verify-cmd.js';
import { availableParallelism } from 'node:os';

/** package.json's version (dist/cli/commands.js is two levels below the package root). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

function fatal(message: string, code: number = EXIT.CANNOT_RUN): never {
  process.stderr.write(`immutalog: ${message}\n`);
  process.exit(code);
}

function timeOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  try {
    return parseTimeArg(v);
  } catch (e) {
    return fatal(`${name}: ${(e as Error).message}`);
  }
}

/** --config, else the default configuration file (see configFileFor). */
function configFile(o: { config?: string }): string | undefined {
  return configFileFor(o.config, process.env, existsSync);
}

/** The data directory: --data-dir, else the config file's data_dir, else the embedded default. */
function dataDirOf(o: { dataDir?: string; config?: string }): string {
  if (o.dataDir) return o.dataDir;
  const file = configFile(o);
  return loadServeConfig({ ...(file !== undefined ? { file } : {}) }).dataDir;
}

/** Every command that reads a log finds it the same way (see dataDirOf). */
const DATA_DIR_OPTION = (): Option => new Option('--data-dir <dir>', 'data directory of the log (default: data_dir of the configuration file)');
const CONFIG_OPTION = (): Option => new Option('--config <file>', CONFIG_FILE_HELP);

/**
 * A reader that goes away (`query | head`) is no error: stop quietly. A pipe write that fails
 * destroys stdout at once, so loops check `destroyed` to stop early; the 'error' event follows.
 * verify exits 2: its verdict did not reach the reader.
 */
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  // The daemon logs to stderr; a closed stdout must never stop it.
  if (process.argv[2] === 'serve') return;
  if (process.argv[2] === 'verify') fatal('standard output was closed before the report was complete (EPIPE)');
  process.exit(EXIT.OK);
});
const writeOut = (s: string): boolean => {
  if (process.stdout.destroyed) return false;
  process.stdout.write(s);
  return !process.stdout.destroyed;
};

const program = new Command();
program
  .name('immutalog')
  .description('Tamper-evident syslog receiver: HMAC-chained SQLite log for OpenStack (oslo.log) services')
  .version(packageVersion(), '-V, --version', 'print the version')
  .addHelpText('after', `\nEvery command reads ${DEFAULT_CONFIG_FILE} when it exists and no --config is given\n($${CONFIG_FILE_ENV} names another file; set but empty: none).`)
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const serve = program.command('serve').description('receive syslog over UDP, TCP and TLS and append it to the chained log');
serve.option('--config <file>', CONFIG_FILE_HELP);
for (const spec of OPTIONS) {
  const repeatable = spec.kind === 'listen-list' || spec.kind === 'list';
  const opt = new Option(`--${spec.flag} <${spec.kind === 'int' ? 'n' : 'value'}>`, `${spec.help}${repeatable ? ' Repeatable.' : ''} [${spec.section}] ${spec.name}, default "${spec.default}"`);
  if (repeatable) opt.argParser(collect);
  serve.addOption(opt);
}
serve.action(async (o: Record<string, string | string[] | undefined>) => {
  const flags: Record<string, string | string[] | undefined> = {};
  for (const spec of OPTIONS) {
    const key = spec.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (o[key] !== undefined) flags[spec.flag] = o[key];
  }
  let cfg;
  const file = configFile({ ...(typeof o.config === 'string' ? { config: o.config } : {}) });
  try {
    cfg = loadServeConfig({ ...(file !== undefined ? { file } : {}), flags });
  } catch (e) {
    if (e instanceof ConfigError) fatal(e.message);
    throw e;
  }
  const log = createDaemonLogger(cfg.logLevel);
  log.info(`configuration: ${file ?? 'no file, embedded defaults'}; data directory ${cfg.dataDir}`);
  let daemon: Daemon | undefined;
  // Signals are caught from the start (Node's default for SIGTERM, SIGINT and SIGHUP is to end
  // the process, with datagrams held in the start gate); one arriving during the start is acted
  // on once the start is done.
  let stopping: string | undefined;
  let hupDuringStart = false;
  let reloads: Promise<void> = Promise.resolve();
  const stop = async (sig: string): Promise<void> => {
    if (stopping || !daemon) return void (stopping ??= sig);
    stopping = sig;
    log.info(`${sig} received, stopping`);
    const { unwritten } = await daemon.stop();
    // Lets the logger write the count of unwritten messages before the process ends.
    if (unwritten > 0) await new Promise((r) => setTimeout(r, 50));
    process.exit(unwritten > 0 ? EXIT.NOT_ALL_WRITTEN : EXIT.OK);
  };
  // SIGHUP (ExecReload): the same file and flags read again.
  const reload = (): void => {
    const running = daemon;
    if (!running) return void (hupDuringStart = true);
    log.info('SIGHUP received, reloading the configuration and the TLS files');
    const run = async (): Promise<void> => {
      let next: Awaited<ReturnType<typeof loadServeConfig>> | Error;
      try {
        next = loadServeConfig({ ...(file !== undefined ? { file } : {}), flags });
      } catch (e) {
        next = e as Error;
      }
      await running.reload(next, file);
    };
    reloads = reloads.then(run);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (!stopping) reload();
  });
  try {
    daemon = await Daemon.start(cfg, log);
  } catch (e) {
    log.error(`cannot start: ${(e as Error).message}`);
    await new Promise((r) => setTimeout(r, 50));
    process.exit(EXIT.CANNOT_RUN);
  }
  if (hupDuringStart && stopping === undefined) reload();
  const held = stopping;
  if (held !== undefined) {
    stopping = undefined;
    void stop(held);
  }
});

const keys = program.command('keys').description('manage the log identity and keys');
keys
  .command('init')
  .description("create the log's signing identity and the auditor's X25519 key pair; print the identity fingerprint")
  .addOption(DATA_DIR_OPTION())
  .addOption(CONFIG_OPTION())
  .option('--auditor-key-out <file>', "where to write the auditor's private key (PEM); default <data-dir>/auditor-key.pem")
  .option('--auditor-public-key <file>', "use this auditor X25519 public key (PEM) instead of generating a pair: the private key never touches this host")
  .action((o: { dataDir?: string; config?: string; auditorKeyOut?: string; auditorPublicKey?: string }) => {
    const dir = dataDirOf(o);
    let auditorPublic: Buffer | undefined;
    if (o.auditorPublicKey) {
      try {
        auditorPublic = auditorPublicFromPem(readFileSync(o.auditorPublicKey, 'utf8'));
      } catch (e) {
        fatal(`--auditor-public-key: ${(e as Error).message}`);
      }
    }
    let lock: WriterLock | undefined;
    try {
      lock = takeWriterLock(dir);
      const r = initLog(dir, { ...(o.auditorKeyOut ? { auditorKeyOut: o.auditorKeyOut } : {}), ...(auditorPublic ? { auditorPublic } : {}) });
      process.stdout.write(`identity fingerprint: ${r.fingerprint}\n`);
      if (r.auditorKeyPath) {
        process.stderr.write(`The auditor's private key is at ${r.auditorKeyPath}.\nMove it OFF THIS HOST to the auditor now; keep only the fingerprint above on record.\n`);
      }
    } catch (e) {
      if (e instanceof InitError || e instanceof WriterLockedError || e instanceof FileLockError || e instanceof DataDirError) fatal(e.message);
      throw e;
    } finally {
      lock?.release();
    }
  });

program
  .command('query')
  .description('print stored entries (JSON lines with --json: seq, received_at, transport, peer, raw as base64, parsed fields)')
  .addOption(DATA_DIR_OPTION())
  .addOption(CONFIG_OPTION())
  .option('--since <time>', 'received at or after: ISO 8601 (UTC unless a zone is given) or relative (2h, 30m, 7d)')
  .option('--until <time>', 'received before: same forms as --since')
  .option('--level <level>', 'this level and more severe, as journalctl -p: an oslo.log level (CRITICAL, ERROR, WARNING, INFO, DEBUG, TRACE) or a syslog severity (emerg, alert, crit, err, warning, notice, info, debug, or 0-7); entries without an oslo.log level are ranked by their syslog severity')
  .option('--logger <name>', 'oslo.log logger name; includes its children (tacker.vnfm matches tacker.vnfm.plugin)')
  .option('--request-id <id>', 'oslo.log request id or global request id')
  .option('--limit <n>', 'at most this many entries')
  .option('--json', 'JSON lines')
  .action((o: { dataDir?: string; config?: string; since?: string; until?: string; level?: string; logger?: string; requestId?: string; limit?: string; json?: boolean }) => {
    const dir = dataDirOf(o);
    const since = timeOpt(o.since, '--since');
    const until = timeOpt(o.until, '--until');
    if (o.limit !== undefined && !/^\d+$/.test(o.limit)) fatal(`--limit: expected a whole number, got ${JSON.stringify(o.limit)}`);
    let minLevel: number | undefined;
    if (o.level !== undefined) {
      try {
        minLevel = parseLevelArg(o.level);
      } catch (e) {
        fatal(`--level: ${(e as Error).message}`);
      }
    }
    try {
      runQuery(
        dir,
        {
          ...(since !== undefined ? { sinceUs: since } : {}),
          ...(until !== undefined ? { untilUs: until } : {}),
          ...(minLevel !== undefined ? { minLevel } : {}),
          ...(o.logger ? { logger: o.logger } : {}),
          ...(o.requestId ? { requestId: o.requestId } : {}),
          ...(o.limit ? { limit: Number(o.limit) } : {}),
        },
        o.json === true,
        (line) => writeOut(line + '\n'),
      );
    } catch (e) {
      fatal((e as Error).message);
    }
  });

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
  .option('--bitcoin-rpc <url>', 'Bitcoin Core RPC URL, to check that anchors are in blocks of the best chain (block headers only: a pruned node without txindex will do)')
  .option('--bitcoin-cookie <file>', "the node's .cookie file")
  .option('--bitcoin-user <user>', 'RPC user, instead of the cookie')
  .option('--bitcoin-password <password>', 'RPC password, instead of the cookie')
  .option('--bundle <file>', 'verify a bundle made by `immutalog export` instead of the data directory (on any machine); without --since/--until the range is the one the bundle claims')
  .option('--max-failures <n>', 'list at most this many failures, the earliest in log order (all are counted by reason code)', '1000')
  .option('--json', 'machine-readable report')
  .action(async (o: { maxFailures: string; bundle?: string; dataDir?: string; config?: string; since?: string; until?: string; identity?: string; auditorKey?: string; state?: string; maxCheckpointAge: string; threads?: string; json?: boolean; bitcoinRpc?: string; bitcoinCookie?: string; bitcoinUser?: string; bitcoinPassword?: string }) => {
    if (o.bitcoinRpc !== undefined && o.bitcoinCookie === undefined && (o.bitcoinUser === undefined || o.bitcoinPassword === undefined)) {
      fatal('--bitcoin-rpc needs --bitcoin-cookie, or --bitcoin-user and --bitcoin-password');
    }
    if (!/^\d+$/.test(o.maxCheckpointAge)) fatal(`--max-checkpoint-age: expected whole seconds, got ${JSON.stringify(o.maxCheckpointAge)}`);
    if (!/^[1-9]\d{0,8}$/.test(o.maxFailures)) fatal(`--max-failures: expected a positive whole number, got ${JSON.stringify(o.maxFailures)}`);
    if (o.threads !== undefined && !/^[1-9]\d*$/.test(o.threads)) fatal(`--threads: expected a positive whole number, got ${JSON.stringify(o.threads)}`);
    const since = timeOpt(o.since, '--since');
    const until = timeOpt(o.until, '--until');
    try {
      const code = await runVerify(
        {
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
        },
        (s) => process.stdout.write(s),
      );
      process.exitCode = code;
    } catch (e) {
      if (e instanceof CannotRun) fatal(e.message);
      throw e;
    }
  });

program
  .command('export')
  .description('write a self-contained bundle (entries, checkpoints, disclosed keys, anchors with proofs, identity) for `verify --bundle` on another machine')
  .requiredOption('--out <file>', 'the bundle to write (must not exist)')
  .addOption(DATA_DIR_OPTION())
  .addOption(CONFIG_OPTION())
  .option('--since <time>', 'start of the range (whole blocks covering it are exported)')
  .option('--until <time>', 'end of the range (exclusive)')
  .action((o: { out: string; dataDir?: string; config?: string; since?: string; until?: string }) => {
    const since = timeOpt(o.since, '--since');
    const until = timeOpt(o.until, '--until');
    try {
      const r = runExport({ dataDir: dataDirOf(o), out: o.out, ...(since !== undefined ? { sinceUs: since } : {}), ...(until !== undefined ? { untilUs: until } : {}) });
      process.stdout.write(`exported entries ${r.firstSeq}..${r.endSeq - 1} (${r.entries}) with every checkpoint and anchor to ${o.out}\n`);
    } catch (e) {
      fatal((e as Error).message);
    }
  });

program
  .command('anchor')
  .description('ask the running daemon for an anchor round at once; returns when its transaction is broadcast, or with the error')
  .requiredOption('--now', 'run a round now (the only mode)')
  .addOption(DATA_DIR_OPTION())
  .addOption(CONFIG_OPTION())
  .option('--json', 'JSON output')
  .action(async (o: { dataDir?: string; config?: string; json?: boolean }) => {
    let reply;
    try {
      reply = await controlRequest(dataPaths(dataDirOf(o)).controlSocket, { cmd: 'anchor-now' }, ANCHOR_NOW_TIMEOUT_MS);
    } catch (e) {
      return fatal((e as Error).message);
    }
    if (!reply.ok) return fatal(`anchor round failed${reply.kind ? ` (${reply.kind})` : ''}: ${reply.error}`);
    const r = reply.result as { anchor: number | null; txid?: string; checkpoints?: number; fee_sats?: number; fee_rate?: number; vsize?: number; message?: string };
    if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
    else if (r.anchor === null) process.stdout.write(`${r.message}\n`);
    else process.stdout.write(`anchor ${r.anchor}: ${r.checkpoints} checkpoints in ${r.txid}, broadcast; ${r.fee_sats} sat at ${r.fee_rate} sat/vB, ${r.vsize} vB\n`);
  });

program
  .command('sample-config')
  .description('print the configuration file of an installed service (etc/immutalog.conf, for /etc/immutalog/immutalog.conf): data_dir = /var/lib/immutalog, every other option commented out with its default and help')
  .action(() => {
    process.stdout.write(sampleConfig());
  });

program
  .command('status')
  .description('show listeners, counters, the chain position and the daemon state')
  .addOption(DATA_DIR_OPTION())
  .addOption(CONFIG_OPTION())
  .option('--json', 'JSON output')
  .action((o: { dataDir?: string; config?: string; json?: boolean }) => {
    try {
      process.stdout.write(runStatus(dataDirOf(o), o.json === true));
    } catch (e) {
      fatal((e as Error).message);
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? EXIT.OK : EXIT.CANNOT_RUN);
  if (e instanceof ConfigError) fatal(e.message);
  throw e;
}
