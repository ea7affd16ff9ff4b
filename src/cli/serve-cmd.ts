import { Option, type Command } from './program.js';
import { CONFIG_FILE_HELP } from '../config/config-file.js';
import { loadServeConfig, type ServeConfig } from '../config/load.js';
import { OPTIONS } from '../config/options.js';
import { createDaemonLogger } from '../serve/daemon-log.js';
import { Daemon } from '../serve/daemon.js';
import { configFile } from './common-args.js';
import { EXIT } from './exit-codes.js';

type Flags = Record<string, string | string[] | undefined>;
type DaemonLog = ReturnType<typeof createDaemonLogger>;

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** `immutalog serve`: every option of the configuration table (config/options.ts) is also a flag. */
export function registerServe(program: Command): void {
  const serve = program.command('serve').description('receive syslog over UDP, TCP and TLS and append it to the chained log');
  serve.option('--config <file>', CONFIG_FILE_HELP);
  for (const spec of OPTIONS) {
    const repeatable = spec.kind === 'listen-list' || spec.kind === 'list';
    const opt = new Option(`--${spec.flag} <${spec.kind === 'int' ? 'n' : 'value'}>`, `${spec.help}${repeatable ? ' Repeatable.' : ''} [${spec.section}] ${spec.name}, default "${spec.default}"`);
    if (repeatable) opt.argParser(collect);
    serve.addOption(opt);
  }
  serve.action(runServe);
}

/** The flags given, keyed by the option's flag name (commander hands them over camel-cased). */
function flagsOf(o: Flags): Flags {
  const flags: Flags = {};
  for (const spec of OPTIONS) {
    const key = spec.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (o[key] !== undefined) flags[spec.flag] = o[key];
  }
  return flags;
}

async function runServe(o: Flags): Promise<void> {
  const flags = flagsOf(o);
  const file = configFile({ ...(typeof o.config === 'string' ? { config: o.config } : {}) });
  // The same file and flags are read again on SIGHUP; a ConfigError at the start is exit 2 (commands.ts).
  const load = (): ServeConfig => loadServeConfig({ ...(file !== undefined ? { file } : {}), flags });
  const cfg = load();
  const log = createDaemonLogger(cfg.logLevel);
  log.info(`configuration: ${file ?? 'no file, embedded defaults'}; data directory ${cfg.dataDir}`);
  await runDaemon(cfg, log, file, load);
}

/**
 * Starts the daemon and ties it to the process's signals: SIGTERM and SIGINT stop it (exit 1
 * when accepted messages could not be written), SIGHUP (ExecReload) reloads the configuration.
 */
async function runDaemon(cfg: ServeConfig, log: DaemonLog, file: string | undefined, load: () => ServeConfig): Promise<void> {
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
  const reload = (): void => {
    const running = daemon;
    if (!running) return void (hupDuringStart = true);
    log.info('SIGHUP received, reloading the configuration and the TLS files');
    const run = async (): Promise<void> => {
      let next: ServeConfig | Error;
      try {
        next = load();
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
}
