import type { Command } from './program.js';
import { dataPaths } from '../log/data-dir.js';
import { CannotRun } from './cannot-run.js';
import { CONFIG_OPTION, DATA_DIR_OPTION, dataDirOf } from './common-args.js';
import { controlRequest } from './control-client.js';

/** A round waits on the node for several RPCs; past this the CLI gives up waiting (the round goes on). */
const ANCHOR_NOW_TIMEOUT_MS = 120_000;

/** What the daemon's anchor-now answers (serve/control.ts). */
interface AnchorNowResult {
  anchor: number | null;
  txid?: string;
  checkpoints?: number;
  fee_sats?: number;
  fee_rate?: number;
  vsize?: number;
  message?: string;
}

/** `immutalog anchor --now`: asks the running daemon over its control socket. */
export function registerAnchor(program: Command): void {
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
        throw new CannotRun((e as Error).message);
      }
      if (!reply.ok) throw new CannotRun(`anchor round failed${reply.kind ? ` (${reply.kind})` : ''}: ${reply.error}`);
      const r = reply.result as AnchorNowResult;
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else if (r.anchor === null) process.stdout.write(`${r.message}\n`);
      else process.stdout.write(`anchor ${r.anchor}: ${r.checkpoints} checkpoints in ${r.txid}, broadcast; ${r.fee_sats} sat at ${r.fee_rate} sat/vB, ${r.vsize} vB\n`);
    });
}
