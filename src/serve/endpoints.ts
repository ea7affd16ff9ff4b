import type { Server } from 'node:net';
import type { ServeConfig } from '../config/load.js';
import { Allowlist } from '../receive/allowlist.js';
import type { FrameSink, Warn } from '../receive/sink.js';
import { StreamListener } from '../receive/stream.js';
import { UdpListener } from '../receive/udp.js';
import { startControlServer } from './control.js';
import { dataPaths } from '../log/data-dir.js';
import { startMetricsServer } from './metrics.js';
import { readTlsMaterial } from './tls-material.js';

/** What the control socket and the metrics endpoint ask of the daemon once it has started. */
export interface Ready {
  anchorNow(): Promise<unknown>;
  metricsText(): string;
}

/**
 * Everything the daemon listens on, bound before the log is touched: the syslog listeners
 * (delivering into the start gate), the control socket and the metrics endpoint (both answer
 * "still starting" until the daemon is ready).
 */
export class Endpoints {
  readonly listeners: (UdpListener | StreamListener)[] = [];
  control: Server | undefined;
  metrics: Server | undefined;
  metricsUrl: string | undefined;
  /** Shared by every listener, so a reload replaces it in one place. */
  allow: Allowlist | undefined;

  async bind(cfg: ServeConfig, sink: FrameSink, warn: Warn, ready: { daemon?: Ready }): Promise<void> {
    const allow = (this.allow = new Allowlist(cfg.allow));
    const common = { maxMessageBytes: cfg.maxMessageBytes, allow, sink, warn };
    const stream = {
      ...common, maxConnections: cfg.maxConnections, maxConnectionsPerSource: cfg.maxConnectionsPerSource, handshakeTimeoutMs: cfg.handshakeTimeoutSec * 1000,
      idleTimeoutMs: cfg.idleTimeoutSec * 1000, frameTimeoutMs: cfg.frameTimeoutSec * 1000, framing: cfg.framing,
    };
    const tls = cfg.tls.length ? readTlsMaterial(cfg) : undefined;
    const all = [
      ...cfg.udp.map((a) => new UdpListener({ ...common, ...a })),
      ...cfg.tcp.map((a) => new StreamListener({ ...stream, ...a })),
      ...cfg.tls.map((a) => new StreamListener({ ...stream, ...a, tls })),
    ];
    for (const l of all) {
      // Listed before it binds, so that close() also closes one that failed half-way.
      this.listeners.push(l);
      await l.start();
    }
    // The writer lock is held, so a socket file found here is a dead daemon's, never a live one's.
    this.control = await startControlServer(dataPaths(cfg.dataDir).controlSocket, async (req) => {
      if (req.cmd !== 'anchor-now') throw new Error(`unknown command ${JSON.stringify((req as { cmd?: unknown }).cmd)}`);
      if (!ready.daemon) throw Object.assign(new Error('the daemon is still starting (recovering the log); try again in a moment'), { kind: 'starting' });
      return ready.daemon.anchorNow();
    });
    if (cfg.metrics.length > 0) {
      const m = cfg.metrics[0]!;
      this.metrics = await startMetricsServer(m.host, m.port, () => {
        if (!ready.daemon) throw new Error('the daemon is still starting (recovering the log)');
        return ready.daemon.metricsText();
      });
      const a = this.metrics.address();
      this.metricsUrl = `http://${m.host.includes(':') ? `[${m.host}]` : m.host}:${a && typeof a === 'object' ? a.port : m.port}/metrics`;
    }
  }

  /** Stops listening; stream listeners first flush their partial frames into the sink. */
  async close(): Promise<void> {
    this.control?.close();
    this.control = undefined;
    this.metrics?.close();
    this.metrics = undefined;
    for (const l of this.listeners) await l.stop();
  }
}
