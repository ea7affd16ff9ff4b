import type { Command } from './program.js';
import { parseLevelArg } from '../parse/levels.js';
import { CannotRun } from './cannot-run.js';
import { CONFIG_OPTION, DATA_DIR_OPTION, dataDirOf, timeOpt } from './common-args.js';
import { runQuery } from './query.js';

interface QueryArgs {
  dataDir?: string;
  config?: string;
  since?: string;
  until?: string;
  level?: string;
  logger?: string;
  requestId?: string;
  limit?: string;
  json?: boolean;
}

/** `immutalog query`. */
export function registerQuery(program: Command): void {
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
    .action(runQueryCommand);
}

/**
 * A pipe write that fails destroys stdout at once (commands.ts stops the process quietly on
 * EPIPE): false tells the scan to stop early.
 */
const writeOut = (s: string): boolean => {
  if (process.stdout.destroyed) return false;
  process.stdout.write(s);
  return !process.stdout.destroyed;
};

function runQueryCommand(o: QueryArgs): void {
  const dir = dataDirOf(o);
  const since = timeOpt(o.since, '--since');
  const until = timeOpt(o.until, '--until');
  if (o.limit !== undefined && !/^\d+$/.test(o.limit)) throw new CannotRun(`--limit: expected a whole number, got ${JSON.stringify(o.limit)}`);
  let minLevel: number | undefined;
  if (o.level !== undefined) {
    try {
      minLevel = parseLevelArg(o.level);
    } catch (e) {
      throw new CannotRun(`--level: ${(e as Error).message}`);
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
    throw new CannotRun((e as Error).message);
  }
}
