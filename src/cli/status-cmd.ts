import type { Command } from './program.js';
import { CannotRun } from './cannot-run.js';
import { CONFIG_OPTION, DATA_DIR_OPTION, dataDirOf } from './common-args.js';
import { runStatus } from './status.js';

/** `immutalog status`. */
export function registerStatus(program: Command): void {
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
        throw new CannotRun((e as Error).message);
      }
    });
}
