import { existsSync, readFileSync } from 'node:fs';
import { auditorKeyPairFromPem } from '../chain/keys.js';
import { writeFileAtomic } from '../log/atomic-file.js';
import { dataPaths } from '../log/data-dir.js';
import { bundleClaim } from './export-cmd.js';
import { REASON_CODES } from '../verify/failures.js';
import { InlineRunner, WorkerPoolRunner } from '../verify/runners.js';
import { verifyDatabase, type AuditorState, type VerifyReport } from '../verify/verify-log.js';
import { EXIT } from './exit-codes.js';
import { connectChainReader } from '../bitcoind/reader.js';
import { formatUs } from './time-arg.js';

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

export class CannotRun extends Error {}

function time(us: number | null | undefined): string {
  return us === null || us === undefined ? '-' : formatUs(us);
}

export function renderReport(r: VerifyReport, o: { requestedByBundle?: boolean } = {}): string {
  const l: string[] = [];
  const identity = !r.identityPinned ? 'identity NOT pinned: pass --identity FINGERPRINT' : r.identityMatched ? 'identity pinned and matched' : 'identity pinned: DOES NOT MATCH this log';
  l.push(`log ${r.fingerprint} (${identity})`);
  l.push(`requested: ${r.requested.sinceUs === null ? 'the beginning' : time(r.requested.sinceUs)} .. ${r.requested.untilUs === null ? 'now' : time(r.requested.untilUs)}${o.requestedByBundle ? " (the bundle's own claim: unsigned, pass --since/--until for your range)" : ''}${r.resumedFrom !== null ? ` (resumed after checkpoint ${r.resumedFrom} from the state file)` : ''}`);
  const p = r.proved;
  l.push(p === null ? 'signed: no sealed block in range' : `signed: blocks ${p.firstBlock}..${p.lastBlock}, entries ${p.firstSeq}..${p.endSeq - 1}, received ${time(p.fromUs)} .. ${time(p.toUs)} (from their checkpoints)`);
  l.push(r.found.firstSeq === null ? 'found: no entries in range' : `found: entries ${r.found.firstSeq}..${r.found.lastSeq}, received ${time(r.found.firstTimeUs)} .. ${time(r.found.lastTimeUs)}`);
  l.push(`checked: ${r.counts.entries} entries in ${r.counts.blocks} blocks; ${r.counts.checkpoints} checkpoints${r.counts.otherParserVersion ? `; ${r.counts.otherParserVersion} entries' fields from another parser version not re-derived` : ''}`);
  if (r.newestCheckpoint) {
    l.push(`newest checkpoint: ${r.newestCheckpoint.index} at ${time(r.newestCheckpoint.timeUs)} (${Math.round(r.newestCheckpoint.ageUs / 1e6)} s ago, ${r.newestCheckpoint.reason})`);
  } else {
    l.push('newest checkpoint: none');
  }
  const a = r.anchors;
  const c = a.checkpointsByState;
  l.push(`anchors: ${a.anchorsChecked} checked${a.checkedAgainstNode ? ' against the node' : ' WITHOUT a node (--bitcoin-rpc): block inclusion not checked'}; checkpoints in range: ${c.final} final, ${c.mined} mined, ${c.broadcast} broadcast, ${c.built} built, ${c.unanchored} unanchored`);
  if (a.oldestUnanchored) l.push(`UNANCHORED since checkpoint ${a.oldestUnanchored.checkpoint} at ${time(a.oldestUnanchored.timeUs)} (${Math.round(a.oldestUnanchored.ageUs / 1e6)} s)`);
  for (const u of r.unverified) {
    l.push(`UNVERIFIED unsealed block ${u.block}: entries ${u.firstSeq}..${u.lastSeq}, received ${time(u.firstTimeUs)} .. ${time(u.lastTimeUs)}: ${u.why}`);
  }
  if (r.failureCount === 0) {
    l.push('verdict: VERIFIED (no failure)');
  } else {
    const byCode = Object.entries(r.failuresByCode).map(([code, n]) => `${code} ${n}`).join(', ');
    l.push(`failures: ${r.failureCount} (${byCode})${r.failures.length < r.failureCount ? `; the first ${r.failures.length} in log order:` : ''}`);
    for (const f of r.failures) {
      const where = [f.seq !== undefined ? `seq ${f.seq}` : '', f.block !== undefined ? `block ${f.block}` : '', f.checkpoint !== undefined ? `checkpoint ${f.checkpoint}` : '', f.receivedAtUs !== undefined ? time(f.receivedAtUs) : ''].filter(Boolean).join(', ');
      const ev = f.expected !== undefined || f.actual !== undefined ? ` [expected ${f.expected ?? '-'}, got ${f.actual ?? '-'}]` : '';
      l.push(`  ${f.code}${where ? ` (${where})` : ''}: ${f.detail}${ev}`);
    }
    if (r.failures.length < r.failureCount) l.push(`  ... and ${r.failureCount - r.failures.length} more (counted above; --max-failures N lists more)`);
    l.push('verdict: INTEGRITY FAILURE');
  }
  return l.join('\n') + '\n';
}

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
  let auditor;
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
    const probe = new InlineRunner(database);
    opened.push(probe);
    const runner = o.threads > 1 && probe.entryCountAtLeast(INLINE_BELOW_ENTRIES) ? new WorkerPoolRunner(database, o.threads) : probe;
    if (runner !== probe) opened.push(runner as WorkerPoolRunner);
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
  if (o.stateFile && report.nextState) writeFileAtomic(o.stateFile, JSON.stringify(report.nextState, null, 1) + '\n', 0o600);
  if (o.json) {
    out(JSON.stringify({ ...report, requestedByBundle, verdict: report.failureCount ? 'failed' : 'verified', reason_codes: REASON_CODES }, null, 1) + '\n');
  } else {
    out(renderReport(report, { requestedByBundle }));
  }
  return report.failureCount ? EXIT.INTEGRITY_FAILURE : EXIT.OK;
}
