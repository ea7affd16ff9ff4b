import type { Server } from 'node:net';
import type { AnchorStatus } from '../anchor/anchorer.js';
import type { IngestStats } from '../ingest/pipeline.js';
import type { WarmUpReport } from '../ingest/warm-up.js';
import type { ListenerCounters } from '../receive/counters.js';
import type { StreamListener } from '../receive/stream.js';
import { UdpListener } from '../receive/udp.js';
import { cryptoChoice } from '../crypto/select.js';
import { rowsChoice } from '../store/rows-extension.js';

/** The daemon's state as status.json holds it (read by `immutalog status`) and the metrics page renders it. */
export interface DaemonStatus {
  pid: number;
  started_at: string;
  updated_at: string;
  fingerprint: string;
  /** connections: holding a slot, TLS handshakes included; handshaking: of those, TLS handshakes not finished. */
  listeners: { name: string; transport: string; port: number; connections: number; handshaking: number; counters: ListenerCounters }[];
  queue: { frames: number; bytes: number; committed: number; commit_failures: number; last_error: string | null };
  anchor: AnchorStatus | null;
  metrics_port: number | null;
  memory: { rss: number; heap_used: number; heap_total: number; external: number; array_buffers: number };
  next_seq: number;
  checkpoints_this_run: number;
  last_checkpoint_at_us: number | null;
  last_committed_seq: number;
  block: number;
  /** The synthetic frames run through the write path before the listeners bound (none stored), and how long that took. */
  warm_up: WarmUpReport;
  /** Which batch crypto hashes this daemon's entries: the native addon, or the node:crypto fallback and why. */
  crypto: { path: 'native' | 'node'; detail: string };
  /** How rows go in and out of SQLite: the rows extension, or plain SQL and why. */
  rows: { path: 'native' | 'sql'; detail: string };
  state: 'running' | 'stopping' | 'stopped';
}

/** What the status is gathered from. */
export interface StatusSources {
  startedAt: string;
  fingerprint: string;
  listeners: readonly (UdpListener | StreamListener)[];
  ingest: IngestStats;
  anchor: AnchorStatus | undefined;
  metrics: Server | undefined;
  warmUp: WarmUpReport;
}

export function daemonStatus(state: DaemonStatus['state'], s: StatusSources): DaemonStatus {
  const q = s.ingest;
  return {
    pid: process.pid,
    started_at: s.startedAt,
    updated_at: new Date().toISOString(),
    fingerprint: s.fingerprint,
    listeners: s.listeners.map((l) => ({
      name: l.name,
      transport: l instanceof UdpListener ? 'udp' : l.kind,
      port: l.port,
      connections: l instanceof UdpListener ? 0 : l.connections,
      handshaking: l instanceof UdpListener ? 0 : l.handshaking,
      counters: l.counters,
    })),
    queue: { frames: q.queuedFrames, bytes: q.pendingBytes, committed: q.committed, commit_failures: q.commitFailures, last_error: q.lastCommitError ?? null },
    anchor: s.anchor ?? null,
    metrics_port: (() => {
      const a = s.metrics?.address();
      return a && typeof a === 'object' ? a.port : null;
    })(),
    memory: (() => {
      const m = process.memoryUsage();
      return { rss: m.rss, heap_used: m.heapUsed, heap_total: m.heapTotal, external: m.external, array_buffers: m.arrayBuffers };
    })(),
    next_seq: q.nextSeq,
    checkpoints_this_run: q.checkpoints,
    last_checkpoint_at_us: q.lastCheckpointAtUs ?? null,
    last_committed_seq: q.lastCommittedSeq,
    block: q.block,
    warm_up: { frames: s.warmUp.frames, ms: s.warmUp.ms },
    crypto: { path: cryptoChoice.path, detail: cryptoChoice.detail },
    rows: rowsChoice(),
    state,
  };
}
