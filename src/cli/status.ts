import { existsSync, readFileSync } from 'node:fs';
import { LogStore } from '../store/log-store.js';
import { decodeCheckpoint } from '../checkpoint/format.js';
import { chainLinks } from '../bitcoin/anchor-chain.js';
import { formatUs } from './time-arg.js';
import { dataPaths } from '../log/data-dir.js';
import type { DaemonStatus } from '../serve/status.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function collectStatus(dataDir: string): Record<string, unknown> {
  const p = dataPaths(dataDir);
  const store = LogStore.open(p.database, { create: false, readonly: true });
  let db: Record<string, unknown>;
  try {
    const last = store.entries.last();
    const block = store.blocks.last();
    const cp = store.checkpoints.last();
    const decoded = cp ? decodeCheckpoint(Buffer.from(cp.bytes)) : undefined;
    const facts = store.logFacts();
    const links = chainLinks(store.anchors.list().map((a) => ({ id: a.id, txid: a.txid, txHex: a.tx_hex })));
    db = {
      checkpoints: store.checkpoints.count(),
      newest_checkpoint: decoded
        ? { index: decoded.index, time: formatUs(decoded.timeUs), age_seconds: Math.round((Date.now() * 1000 - decoded.timeUs) / 1e6), reason: decoded.reason, entries: decoded.count }
        : null,
      fingerprint: store.meta.get('fingerprint') ?? null,
      entries: store.entries.count(),
      last_seq: last?.seq ?? null,
      last_received_at_us: last?.received_at_us ?? null,
      // From the database, so it shows with anchoring off and with the daemon stopped.
      anchoring: {
        unanchored_checkpoints: facts.unanchoredCheckpoints,
        oldest_unanchored: facts.oldestUnanchoredCheckpointTimeUs === null
          ? null
          : { time: formatUs(facts.oldestUnanchoredCheckpointTimeUs), age_seconds: Math.round((Date.now() * 1000 - facts.oldestUnanchoredCheckpointTimeUs) / 1e6) },
        anchors_by_state: facts.anchorsByState,
        fees_spent_sats: facts.feesSpentSats,
        // Each anchor spends the change of the one before; the first, and any after a break, a wallet coin.
        chain: { anchors: links.length, links: links.filter((l) => l.spendsAnchor !== null).length, from_wallet_coin: links.filter((l) => l.spendsAnchor === null).map((l) => l.id) },
      },
      open_block: block ? { block: block.block, first_seq: block.first_seq, entries: last && last.seq >= block.first_seq ? last.seq - block.first_seq + 1 : 0 } : null,
    };
  } finally {
    store.close();
  }
  let daemon: (DaemonStatus & { running: boolean }) | null = null;
  if (existsSync(p.statusFile)) {
    const s = JSON.parse(readFileSync(p.statusFile, 'utf8')) as DaemonStatus;
    daemon = { ...s, running: s.state !== 'stopped' && alive(s.pid) };
  }
  return { data_dir: dataDir, database: db, daemon };
}

export function runStatus(dataDir: string, json: boolean): string {
  const s = collectStatus(dataDir) as { database: Record<string, any>; daemon: (DaemonStatus & { running: boolean }) | null };
  if (json) return JSON.stringify(s, null, 2) + '\n';
  const lines: string[] = [];
  const d = s.database;
  lines.push(`log ${d.fingerprint}`);
  lines.push(`entries stored: ${d.entries} (last seq ${d.last_seq ?? '-'})`);
  if (d.open_block) lines.push(`open block ${d.open_block.block}: ${d.open_block.entries} entries from seq ${d.open_block.first_seq}`);
  const n = d.newest_checkpoint;
  lines.push(n ? `newest checkpoint ${n.index} at ${n.time} (${n.age_seconds} s ago, ${n.reason}, ${n.entries} entries); ${d.checkpoints} in all` : 'no checkpoint yet');
  const an = d.anchoring;
  const byState = Object.entries(an.anchors_by_state as Record<string, number>).map(([k, v]) => `${v} ${k}`).join(', ');
  lines.push(`anchors: ${an.unanchored_checkpoints} checkpoints unanchored${an.oldest_unanchored ? `, the oldest from ${an.oldest_unanchored.time} (${an.oldest_unanchored.age_seconds} s ago)` : ''}; anchors ${byState || 'none'}${an.fees_spent_sats ? `; ${an.fees_spent_sats} sat spent` : ''}`);
  if (an.chain?.anchors) lines.push(`anchor chain: ${an.chain.links} of ${an.chain.anchors} anchors spend the change of the one before; from a wallet coin: anchor ${an.chain.from_wallet_coin.join(', ')}`);
  const dm = s.daemon;
  if (dm?.running) {
    const a = dm.anchor;
    lines.push(a ? `anchoring: on; node ${a.nodeReachable === null ? 'not asked yet' : a.nodeReachable ? 'reachable' : 'unreachable'}${a.walletSats !== null ? `, wallet ${a.walletSats} sat` : ''}${a.lastError ? `; last error${a.lastErrorKind ? ` (${a.lastErrorKind})` : ''}: ${a.lastError}` : ''}${a.chain?.breakReason ? `; the newest round broke the chain: ${a.chain.breakReason}` : ''}` : 'anchoring: off (no [bitcoin] rpc_url): checkpoints wait, unanchored');
  }
  if (!dm) lines.push('daemon: never started here');
  else {
    lines.push(`daemon: ${dm.running ? `running (pid ${dm.pid}) since ${dm.started_at}` : `not running (last state ${dm.state} at ${dm.updated_at})`}`);
    for (const l of dm.listeners) {
      const c = l.counters;
      const malformed = c.truncated + c.incomplete + c.invalidUtf8;
      lines.push(`  ${l.name}: received ${c.received}, malformed ${malformed} (truncated ${c.truncated}, incomplete ${c.incomplete}, invalid UTF-8 ${c.invalidUtf8}), rejected ${c.rejectedSources + c.rejectedConnections + c.rejectedPerSource}, drops ${c.kernelDrops + c.queueDrops}${l.transport === 'udp' ? '' : `, connections ${l.connections}`}`);
      if (l.transport !== 'udp') {
        const isTls = l.transport === 'tls' || l.transport === 'relp-tls';
        const tls = isTls ? `${l.handshaking ?? 0} in TLS handshake; ` : '';
        const tlsFail = isTls ? `; TLS failures ${c.tlsFailures}` : '';
        lines.push(`    connections: ${tls}refused ${c.rejectedSources} not allowed, ${c.rejectedConnections} over max_connections, ${c.rejectedPerSource} over max_connections_per_source; closed ${c.evictedConnections} evicted, ${c.handshakeTimeouts} handshake timeouts, ${c.idleTimeouts} idle timeouts, ${c.frameTimeouts} frame timeouts${tlsFail}`);
      }
      // Counters of an older daemon's status file lack these.
      if (l.transport.startsWith('relp')) lines.push(`    RELP: ${c.possibleRedeliveries ?? 0} possible redeliveries, ${c.protocolErrors ?? 0} sessions closed for protocol errors`);
    }
    lines.push(`  queue: ${dm.queue.frames} messages waiting, ${dm.queue.committed} committed this run, ${dm.queue.commit_failures} failed commits${dm.queue.last_error ? ` (last: ${dm.queue.last_error})` : ''}`);
    // An older daemon's status file has no crypto line.
    if (dm.crypto) lines.push(`  hashing: ${dm.crypto.detail}`);
    if (dm.rows) lines.push(`  rows: ${dm.rows.detail}`);
  }
  return lines.join('\n') + '\n';
}
