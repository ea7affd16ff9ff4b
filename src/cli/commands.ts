import { readFileSync } from 'node:fs';
import { Command, CommanderError } from './program.js';
import { ConfigError } from '../config/ini.js';
import { CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE } from '../config/config-file.js';
import { registerAnchor } from './anchor-cmd.js';
import { CannotRun } from './cannot-run.js';
import { cryptoChoice } from '../crypto/select.js';
import { rowsRefusal } from '../store/rows-extension.js';
import { fieldsRefusal } from '../parse/index.js';
import { EXIT } from './exit-codes.js';
import { registerExport } from './export-cmd.js';
import { registerExportOts } from './export-ots-cmd.js';
import { registerKeys } from './keys-cmd.js';
import { registerQuery } from './query-cmd.js';
import { registerSampleConfig } from './sample-config-cmd.js';
import { registerServe } from './serve-cmd.js';
import { registerStatus } from './status-cmd.js';
import { registerVerify } from './verify-cmd.js';

// The command line: each command lives in its own module (*-cmd.ts) and is registered here, in
// the order `--help` lists them; this module maps what they throw to exit codes.

/** package.json's version (dist/cli/commands.js is two levels below the package root). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** An operator's error: one line, no stack trace, exit 2. */
function fatal(message: string): never {
  process.stderr.write(`immutalog: ${message}\n`);
  process.exit(EXIT.CANNOT_RUN);
}

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

// IMMUTALOG_CRYPTO=native (CI sets it) must not fall back quietly to node:crypto.
if (cryptoChoice.refused) fatal(cryptoChoice.refused);
// Likewise IMMUTALOG_ROWS=native must not fall back quietly to binding rows one by one.
const rowsRefused = rowsRefusal();
if (rowsRefused) fatal(rowsRefused);
// And IMMUTALOG_FIELDS=native must not fall back quietly to re-deriving every entry's fields in TypeScript.
const fieldsRefused = fieldsRefusal();
if (fieldsRefused) fatal(fieldsRefused);

const program = new Command();
program
  .name('immutalog')
  .description('Tamper-evident syslog receiver: HMAC-chained SQLite log for OpenStack (oslo.log) services')
  .version(packageVersion(), '-V, --version', 'print the version')
  .addHelpText('after', `\nEvery command reads ${DEFAULT_CONFIG_FILE} when it exists and no --config is given\n($${CONFIG_FILE_ENV} names another file; set but empty: none).`)
  // Set before the commands are added: commander copies both settings into each of them.
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

registerServe(program);
registerKeys(program);
registerQuery(program);
registerVerify(program);
registerExport(program);
registerExportOts(program);
registerAnchor(program);
registerSampleConfig(program);
registerStatus(program);

// Operator errors (bad arguments, configuration, files) are one line and exit 2; anything
// else is a bug and keeps its stack trace.
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? EXIT.OK : EXIT.CANNOT_RUN);
  if (e instanceof CannotRun || e instanceof ConfigError) fatal(e.message);
  throw e;
}
