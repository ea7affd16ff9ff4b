import { createServer, type Server } from 'node:http';
import type { ListenerCounters } from '../receive/counters.js';
import { LogStore } from '../store/log-store.js';
import type { DaemonStatus } from './status.js';

/** Log-level facts the endpoint adds to the daemon's own counters (from SQLite, per scrape). */
export interface LogFacts {
  storedEntries: number;
  checkpoints: number;
  newestCheckpointTimeUs: number | null;
  anchorsByState: Record<string, number>;
  oldestUnanchoredCheckpointTimeUs: number | null;
  feesSpentSats: number;
}

const COUNTERS: [keyof ListenerCounters, string, string][] = [
  ['received', 'immutalog_received_messages_total', 'Messages received (framed) by the listener.'],
  ['bytes', 'immutalog_received_bytes_total', 'Bytes read by the listener.'],
  ['truncated', 'immutalog_malformed_truncated_total', 'Messages stored truncated (longer than max_message_bytes).'],
  ['incomplete', 'immutalog_malformed_incomplete_total', 'Partial frames stored when a stream ended or stalled.'],
  ['invalidUtf8', 'immutalog_malformed_invalid_utf8_total', 'Messages that are not valid UTF-8 (stored exactly).'],
  ['rejectedSources', 'immutalog_rejected_sources_total', 'Connections or datagrams refused by the allowlist.'],
  ['rejectedConnections', 'immutalog_rejected_connections_total', 'Connections refused at max_connections (none could make room).'],
  ['tlsFailures', 'immutalog_tls_failures_total', 'TLS handshakes that failed (bad certificate, not TLS, reset).'],
  ['kernelDrops', 'immutalog_dropped_kernel_total', 'Datagrams the kernel dropped (receive buffer full).'],
  ['queueDrops', 'immutalog_dropped_queue_total', 'Datagrams dropped because the write queue was over its hard limit.'],
];

/** RELP listeners only (README "Redelivery"). */
const RELP_COUNTERS: [keyof ListenerCounters, string, string][] = [
  ['possibleRedeliveries', 'immutalog_relp_possible_redeliveries_total', 'RELP messages whose bytes equal a recent one of the same sender over an earlier connection.'],
  ['protocolErrors', 'immutalog_relp_protocol_errors_total', 'RELP sessions closed for a frame or command that breaks the protocol.'],
];

/** Why connections were refused at the accept (before any byte was read or sent), by `reason` label. */
const REFUSED: [keyof ListenerCounters, string][] = [
  ['rejectedSources', 'not_allowed'],
  ['rejectedConnections', 'total_limit'],
  ['rejectedPerSource', 'source_limit'],
];

/** Why the daemon closed connections it had accepted, by `reason` label. */
const CLOSED: [keyof ListenerCounters, string][] = [
  ['evictedConnections', 'evicted'],
  ['handshakeTimeouts', 'handshake_timeout'],
  ['idleTimeouts', 'idle_timeout'],
  ['frameTimeouts', 'frame_timeout'],
];

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus text exposition (version 0.0.4) of the daemon's state. */
export function renderMetrics(s: DaemonStatus, f: LogFacts, nowUs: number): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [Record<string, string>, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${esc(x)}"`).join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(v) ? v : 'NaN'}`);
    }
  };
  for (const [key, name, help] of COUNTERS) {
    metric(name, 'counter', help, s.listeners.map((l) => [{ listener: l.name, transport: l.transport }, l.counters[key]]));
  }
  const relp = s.listeners.filter((l) => l.transport.startsWith('relp'));
  for (const [key, name, help] of RELP_COUNTERS) metric(name, 'counter', help, relp.map((l) => [{ listener: l.name, transport: l.transport }, l.counters[key]]));
  const streams = s.listeners.filter((l) => l.transport !== 'udp');
  const byReason = (table: [keyof ListenerCounters, string][]): [Record<string, string>, number][] =>
    streams.flatMap((l) => table.map(([key, reason]): [Record<string, string>, number] => [{ listener: l.name, transport: l.transport, reason }, l.counters[key]]));
  metric('immutalog_refused_connections_total', 'counter', 'TCP/TLS connections refused at the accept, by reason (not_allowed, total_limit, source_limit).', byReason(REFUSED));
  metric('immutalog_closed_connections_total', 'counter', 'TCP/TLS connections the daemon closed, by reason (evicted to make room, handshake_timeout, idle_timeout, frame_timeout).', byReason(CLOSED));
  metric('immutalog_open_connections', 'gauge', 'Open TCP/TLS connections, TLS handshakes included.', streams.map((l) => [{ listener: l.name }, l.connections]));
  metric('immutalog_handshaking_connections', 'gauge', 'TLS connections whose handshake has not finished.', streams.filter((l) => l.transport === 'tls' || l.transport === 'relp-tls').map((l) => [{ listener: l.name }, l.handshaking]));
  metric('immutalog_stored_entries', 'gauge', 'Entries committed in the chain (all time).', [[{}, f.storedEntries]]);
  metric('immutalog_write_queue_bytes', 'gauge', 'Bytes received but not yet committed.', [[{}, s.queue.bytes]]);
  metric('immutalog_commit_failures_total', 'counter', 'Failed commits (retried; nothing accepted is dropped).', [[{}, s.queue.commit_failures]]);
  metric('immutalog_checkpoints', 'gauge', 'Signed checkpoints in the log.', [[{}, f.checkpoints]]);
  metric('immutalog_checkpoint_age_seconds', 'gauge', 'Age of the newest checkpoint (the heartbeat).', [[{}, f.newestCheckpointTimeUs === null ? NaN : (nowUs - f.newestCheckpointTimeUs) / 1e6]]);
  metric('immutalog_anchors', 'gauge', 'Anchors by state.', ['built', 'broadcast', 'mined', 'final'].map((st) => [{ state: st }, f.anchorsByState[st] ?? 0]));
  metric('immutalog_oldest_unanchored_checkpoint_age_seconds', 'gauge', 'Age of the oldest checkpoint no anchor covers yet (0 when none).', [[{}, f.oldestUnanchoredCheckpointTimeUs === null ? 0 : (nowUs - f.oldestUnanchoredCheckpointTimeUs) / 1e6]]);
  metric('immutalog_anchor_fees_spent_sats', 'gauge', 'Fees of mined and final anchors, in satoshis.', [[{}, f.feesSpentSats]]);
  const a = s.anchor;
  metric('immutalog_anchoring_enabled', 'gauge', '1 when a Bitcoin node is configured.', [[{}, a ? 1 : 0]]);
  metric('immutalog_bitcoin_node_reachable', 'gauge', '1 when the last call to the node succeeded, 0 when it failed, NaN before any call or with anchoring off.', [[{}, a?.nodeReachable === undefined || a?.nodeReachable === null ? NaN : a.nodeReachable ? 1 : 0]]);
  metric('immutalog_bitcoin_wallet_balance_sats', 'gauge', 'Trusted balance of the anchor wallet, in satoshis (NaN when unknown).', [[{}, a?.walletSats ?? NaN]]);
  return out.join('\n') + '\n';
}

/**
 * What /metrics answers once the log is recovered: the daemon's status and the log's facts, the
 * latter read per scrape from a read-only connection of its own.
 */
export class MetricsPage {
  private constructor(
    private readonly store: LogStore,
    private readonly status: () => DaemonStatus,
  ) {}

  static open(database: string, status: () => DaemonStatus): MetricsPage {
    return new MetricsPage(LogStore.open(database, { create: false, readonly: true }), status);
  }

  text(): string {
    return renderMetrics(this.status(), this.store.logFacts(), Date.now() * 1000);
  }

  close(): void {
    this.store.close();
  }
}

/** Serves /metrics on the given address (configure loopback; it needs no authentication). */
export async function startMetricsServer(host: string, port: number, collect: () => string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics\n');
      return;
    }
    let body: string;
    try {
      body = collect();
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${(e as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
