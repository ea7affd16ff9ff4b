import type { Server } from 'node:net';
import type { ServeConfig } from '../config/load.js';
import { Allowlist } from '../receive/allowlist.js';
import type { FrameSink, Warn } from '../receive/sink.js';
import { StreamListener } from '../receive/stream.js';
import { RelpListener } from '../receive/relp.js';
import { RedeliveryTracker } from '../receive/redelivery.js';
import { UdpListener, type OpenDatagramSource } from '../receive/udp.js';
import { threadSource } from './udp-reader.js';
import { drainSource, loadUdpDrain } from './udp-drain.js';
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
  /** The RELP listeners' possible redeliveries (README "Redelivery"), seeded from the log at start. */
  readonly redelivery = new RedeliveryTracker();

  async bind(cfg: ServeConfig, sink: FrameSink, warn: Warn, ready: { daemon?: Ready }): Promise<void> {
    const allow = (this.allow = new Allowlist(cfg.allow));
    const common = { maxMessageBytes: cfg.maxMessageBytes, allow, sink, warn };
    const stream = {
      ...common, maxConnections: cfg.maxConnections, maxConnectionsPerSource: cfg.maxConnectionsPerSource, handshakeTimeoutMs: cfg.handshakeTimeoutSec * 1000,
      idleTimeoutMs: cfg.idleTimeoutSec * 1000, frameTimeoutMs: cfg.frameTimeoutSec * 1000, framing: cfg.framing,
    };
    const tls = cfg.tls.length || cfg.relpTls.length ? readTlsMaterial(cfg) : undefined;
    const redelivery = this.redelivery;
    const all = [
      ...cfg.udp.map((a) => new UdpListener({ ...common, ...a, ...(udpSource(cfg.udpReader, warn) ?? {}) })),
      ...cfg.tcp.map((a) => new StreamListener({ ...stream, ...a })),
      ...cfg.tls.map((a) => new StreamListener({ ...stream, ...a, tls })),
      ...cfg.relp.map((a) => new RelpListener({ ...stream, ...a, redelivery })),
      ...cfg.relpTls.map((a) => new RelpListener({ ...stream, ...a, tls, redelivery })),
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

  /**
   * Stops listening; stream listeners first flush their partial frames into the sink. With
   * `keepRelp`, RELP listeners only stop reading (quiesce): their sessions stay open so that
   * the acknowledgements of the final commit reach rsyslog; closeRelp() ends them after it.
   */
  async close(opts: { keepRelp?: boolean } = {}): Promise<void> {
    this.control?.close();
    this.control = undefined;
    this.metrics?.close();
    this.metrics = undefined;
    for (const l of this.listeners) {
      if (opts.keepRelp && l instanceof RelpListener) l.quiesce();
      else await l.stop();
    }
  }

  /** Ends the RELP sessions (their last acknowledgements, then serverclose) after the final commit. */
  async closeRelp(): Promise<void> {
    await Promise.all(this.listeners.filter((l): l is RelpListener => l instanceof RelpListener).map((l) => l.stop()));
  }
}

/** How UDP sockets are read (`udp_reader`): undefined for the main thread's own socket. */
function udpSource(reader: ServeConfig['udpReader'], warn: Warn): { source: OpenDatagramSource } | undefined {
  if (reader === 'main') return undefined;
  if (reader === 'thread') return { source: threadSource };
  const got = loadUdpDrain();
  if ('drain' in got) return { source: drainSource };
  warn('udp-reader', `udp_reader = native, but ${got.reason}: UDP sockets are read on a JS thread instead (udp_reader = thread)`);
  return { source: threadSource };
}
