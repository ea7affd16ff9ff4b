import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './program.js';
import { dataPaths } from '../log/data-dir.js';
import { LogStore, StoreError } from '../store/log-store.js';
import { CannotRun } from './cannot-run.js';
import { CONFIG_OPTION, DATA_DIR_OPTION, dataDirOf } from './common-args.js';
import { EXIT } from './exit-codes.js';
import { checkpointFileName, otsFileName, OtsProofs, type OtsProof } from './ots-proofs.js';

function writeProof(dir: string, p: Extract<OtsProof, { ok: true }>): void {
  writeFileSync(join(dir, checkpointFileName(p.checkpoint)), p.checkpointBytes);
  writeFileSync(join(dir, otsFileName(p.checkpoint)), p.ots);
}

/**
 * `immutalog export-ots`: for each anchored and mined checkpoint, its 383 bytes and a standard
 * OpenTimestamps proof of them (FILE.ots beside FILE, as `ots stamp` names it), which the stock
 * OpenTimestamps tools check against the auditor's own node. Exit 2 when --checkpoint names one
 * that has no proof yet; exit 1 when a proof cannot be built because the log's anchor data do
 * not hold together (verify names what).
 */
export function runExportOts(o: { dataDir: string; out: string; checkpoint?: number }, out: (s: string) => void, err: (s: string) => void): number {
  const p = dataPaths(o.dataDir);
  if (!existsSync(p.database)) throw new CannotRun(`no database at ${p.database}`);
  const store = LogStore.open(p.database, { create: false, readonly: true });
  try {
    const proofs = new OtsProofs(store);
    if (o.checkpoint !== undefined) {
      const r = proofs.of(o.checkpoint);
      if (!r.ok && r.why !== 'invalid') throw new CannotRun(r.message);
      if (!r.ok) {
        err(`immutalog: ${r.message}\n`);
        return EXIT.INTEGRITY_FAILURE;
      }
      mkdirSync(o.out, { recursive: true });
      writeProof(o.out, r);
      out(`wrote ${join(o.out, otsFileName(r.checkpoint))} (checkpoint ${r.checkpoint}, anchor ${r.anchor}, tx ${r.txid}, block ${r.height} ${r.blockHash})\n`);
      return EXIT.OK;
    }
    const counts = { written: 0, unanchored: 0, unmined: 0, invalid: 0 };
    mkdirSync(o.out, { recursive: true });
    for (const idx of store.checkpoints.indexes()) {
      const r = proofs.of(idx);
      if (r.ok) {
        writeProof(o.out, r);
        counts.written++;
      } else if (r.why === 'invalid') {
        err(`immutalog: ${r.message}\n`);
        counts.invalid++;
      } else if (r.why === 'unanchored' || r.why === 'unmined') {
        counts[r.why]++;
      }
    }
    out(
      `wrote ${counts.written} proofs to ${o.out} (checkpoint-N.bin and checkpoint-N.bin.ots); not yet provable: ${counts.unanchored} not anchored, ${counts.unmined} anchored but not mined` +
        (counts.invalid > 0 ? `; ${counts.invalid} left out: their anchor data do not hold together (above)` : '') +
        '\n',
    );
    return counts.invalid > 0 ? EXIT.INTEGRITY_FAILURE : EXIT.OK;
  } finally {
    store.close();
  }
}

function checkpointArg(v: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new CannotRun(`--checkpoint: expected a checkpoint index (0, 1, ...), got ${JSON.stringify(v)}`);
  return Number(v);
}

export function registerExportOts(program: Command): void {
  program
    .command('export-ots')
    .description('write an OpenTimestamps proof (.ots, checked by the stock OpenTimestamps tools and your own node) for each anchored and mined checkpoint')
    .requiredOption('--out <dir>', 'directory to write checkpoint-N.bin (the checkpoint) and checkpoint-N.bin.ots (its proof) to; created if missing, files of the same name replaced')
    .option('--checkpoint <n>', 'this checkpoint only (exit 2 when it is not anchored or not mined yet)')
    .option('--all', 'every checkpoint that is anchored and mined')
    .addOption(DATA_DIR_OPTION())
    .addOption(CONFIG_OPTION())
    .action((o: { out: string; checkpoint?: string; all?: boolean; dataDir?: string; config?: string }) => {
      if ((o.checkpoint === undefined) === (o.all !== true)) throw new CannotRun('export-ots: expected exactly one of --checkpoint N and --all');
      const checkpoint = o.checkpoint !== undefined ? checkpointArg(o.checkpoint) : undefined;
      try {
        process.exitCode = runExportOts(
          { dataDir: dataDirOf(o), out: o.out, ...(checkpoint !== undefined ? { checkpoint } : {}) },
          (s) => process.stdout.write(s),
          (s) => process.stderr.write(s),
        );
      } catch (e) {
        // A directory that cannot be written, a database that cannot be read: the operator's to fix.
        if (e instanceof StoreError || typeof (e as NodeJS.ErrnoException).code === 'string') throw new CannotRun((e as Error).message);
        throw e;
      }
    });
}
