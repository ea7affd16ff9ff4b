import type { VerifyReport } from '../verify/report.js';
import { formatUs } from './time-arg.js';

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
  const ch = a.chain;
  if (ch.anchors > 0) {
    l.push(`anchor chain: ${ch.links} of ${ch.anchors} anchors spend the change of the one before${ch.checkedAgainstNode ? '' : '; WITHOUT a node the newest change was not looked up (rollback not checked)'}`);
    for (const b of ch.breaks) l.push(`  anchor ${b.anchor} started from a wallet coin: ${b.why}`);
    for (const x of ch.ahead) {
      const newest = x.newest ? `, the newest ${x.newest.txid} ${x.newest.height === null ? 'in the mempool' : `in block ${x.newest.height}`}` : '';
      l.push(`  AHEAD: after anchor ${x.after}, ${x.complete ? '' : 'at least '}${x.anchors} anchor(s) this database does not show${newest}${x.stoppedBecause ? ` (${x.stoppedBecause})` : ''}`);
    }
  }
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
