import type { ServeConfig } from '../config/load.js';
import { StreamListener } from '../receive/stream.js';
import { UdpListener } from '../receive/udp.js';
import { updateKernelDrops } from './udp-drops.js';
import { recoverLog, type RecoveredLog } from '../log/recovery.js';
import { dataPaths } from '../log/data-dir.js';
import { initLog, isInitialised } from '../log/init.js';
import { rateLimitedWarn, type DaemonLogger } from './daemon-log.js';
import { datagramLimitBytes, Ingest, type Unwritten } from '../ingest/pipeline.js';
import { hangOnceFault, holdStartFault } from '../ingest/fault.js';
import { WARM_UP_FRAMES, warmUpWritePath, type WarmUpReport } from '../ingest/warm-up.js';
import { StartGate } from './start-gate.js';
import { Endpoints } from './endpoints.js';
import { takeWriterLock, type WriterLock } from '../log/writer-lock.js';
import { SdNotify, monotonicUsec } from './sd-notify.js';
import { optionName, planReload } from './reload-plan.js';
import { describeCertificate, readTlsMaterial } from './tls-material.js';
import { Anchoring } from './anchoring.js';
import { MetricsPage } from './metrics.js';
import { daemonStatus, type DaemonStatus } from './status.js';
import { cryptoChoice } from '../crypto/select.js';
import { rowsChoice } from '../store/rows-extension.js';
import { StatusFile } from './status-file.js';
import { REDELIVERY_LOOKBACK_ENTRIES, type RedeliveryTracker } from '../receive/redelivery.js';
import { LogStore } from '../store/log-store.js';

/**
 * A stop (SIGTERM) keeps committing, and tries its shutdown checkpoint, for at most this long
 * from the signal: systemd's default TimeoutStopSec is 90 s, and an operator expects a stop in
 * under 30. What storage still holds then (a full disk) is counted, logged and given up.
 */
const STOP_COMMIT_BUDGET_MS = 15_000;

/** What a stop could not write: accepted messages still queued when its time ran out. */
export interface StopResult {
  unwritten: number;
}

/** Creates the log on a first start, then recovers it: where the chain goes on, and what was repaired. */
function openLog(dataDir: string, log: DaemonLogger): RecoveredLog {
  if (!isInitialised(dataDir)) {
    const r = initLog(dataDir, {});
    log.warn(`new log created in ${dataDir}; identity fingerprint ${r.fingerprint} (give it to your auditor to pin)`);
    if (r.auditorKeyPath) {
      log.warn(`THE AUDITOR'S PRIVATE KEY IS AT ${r.auditorKeyPath}. Move it OFF THIS HOST to the auditor now: anyone holding it on the receiver defeats the escrow of open blocks.`);
    }
  }
  const rec = recoverLog(dataDir);
  for (const r of rec.repairs) log.warn(`recovery: ${r}`);
  return rec;
}

/**
 * The redelivery tracker starts from the log's latest RELP entries, so that messages rsyslog
 * resends after a crash (SIGKILL included) are recognised; read before any new frame is sealed.
 */
function seedRedelivery(tracker: RedeliveryTracker, database: string, nextSeq: number): void {
  const store = LogStore.open(database, { create: false, readonly: true });
  try {
    for (const r of store.entries.relpHistory(Math.max(0, nextSeq - REDELIVERY_LOOKBACK_ENTRIES))) tracker.observe(r.listener, r.peer_address, r.peer_port, r.raw);
  } finally {
    store.close();
  }
}

/**
 * The receiver process: the listeners (endpoints.ts) feed the write path (ingest/pipeline.ts);
 * beside it run anchoring, the control socket, the metrics page, the status file and the
 * service manager's notifications. The watchdog is started earlier, by cli/main.ts.
 */
export class Daemon {
  private anchoring: Anchoring | undefined;
  /** Opened once the log is recovered, when a metrics endpoint is configured. */
  private metricsPage: MetricsPage | undefined;
  private readonly startedAt = new Date().toISOString();
  private readonly notify: SdNotify;
  private readonly statusFile: StatusFile;
  private constructor(
    private cfg: ServeConfig,
    private readonly log: DaemonLogger,
    private readonly fingerprint: string,
    private readonly ingest: Ingest,
    private readonly warn: ReturnType<typeof rateLimitedWarn>,
    private readonly lock: WriterLock,
    private readonly bound: Endpoints,
    private readonly warmUp: WarmUpReport,
  ) {
    this.notify = new SdNotify(log);
    this.statusFile = new StatusFile(dataPaths(cfg.dataDir).statusFile, (state) => this.status(state), warn);
  }

  private get listeners(): (UdpListener | StreamListener)[] {
    return this.bound.listeners;
  }

  /**
   * The start sequence. Nothing in the data directory is read or written before the writer lock
   * is held, and nothing is written before every listener (syslog, control socket, metrics) is
   * bound: a second writer, or a start that cannot bind, leaves the log exactly as it was. The
   * listeners deliver into a closed gate until recovery and the restart checkpoint are done.
   */
  static async start(cfg: ServeConfig, log: DaemonLogger): Promise<Daemon> {
    const lock = takeWriterLock(cfg.dataDir);
    const warn = rateLimitedWarn(log);
    const gate = new StartGate(datagramLimitBytes(cfg));
    const ready: { daemon?: Daemon } = {};
    const bound = new Endpoints();
    let daemon: Daemon;
    try {
      hangOnceFault(cfg.dataDir);
      // Before the listeners bind: datagrams that arrive while it runs would wait in the kernel's
      // buffer, which a 50,000/s sender fills in a tenth of a second.
      const warmUp = warmUpWritePath(WARM_UP_FRAMES, cfg.commitBatch);
      log.debug(`write path warmed with ${warmUp.frames} synthetic frames in ${warmUp.ms} ms (none stored)`);
      await bound.bind(cfg, gate, warn, ready);
      log.info(`listening on ${bound.listeners.map((l) => l.name).join(', ')}; opening the log (what arrives meanwhile waits)`);
      await holdStartFault(cfg.dataDir);
      daemon = await Daemon.open(cfg, log, warn, lock, bound, gate, warmUp);
    } catch (e) {
      await bound.close();
      lock.release();
      throw e;
    }
    ready.daemon = daemon;
    return daemon;
  }

  /** Creates or recovers the log and starts the write path behind the bound listeners. */
  private static async open(cfg: ServeConfig, log: DaemonLogger, warn: ReturnType<typeof rateLimitedWarn>, lock: WriterLock, bound: Endpoints, gate: StartGate, warmUp: WarmUpReport): Promise<Daemon> {
    const rec = openLog(cfg.dataDir, log);
    const ingest = new Ingest(cfg, rec, log);
    const daemon = new Daemon(cfg, log, rec.identity.fingerprint, ingest, warn, lock, bound, warmUp);
    if (cfg.relp.length + cfg.relpTls.length > 0) seedRedelivery(bound.redelivery, dataPaths(cfg.dataDir).database, rec.nextSeq);
    // Entries written before this start (and before any crash) are sealed before new ones.
    if (rec.restarted) await ingest.checkpoint('restart');
    gate.open(ingest.sink);
    await daemon.startBesideIngest();
    daemon.announceReady();
    return daemon;
  }

  /** Anchoring and the metrics page's connection; a failure stops what already runs. */
  private async startBesideIngest(): Promise<void> {
    const database = dataPaths(this.cfg.dataDir).database;
    try {
      this.anchoring = Anchoring.start(this.cfg, database, this.log);
      if (this.bound.metrics) this.metricsPage = MetricsPage.open(database, () => this.status('running'));
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** The log lines, the first status file and its periodic rewrite, and READY=1 for systemd. */
  private announceReady(): void {
    const rows = rowsChoice();
    if (this.bound.metricsUrl) this.log.info(`metrics on ${this.bound.metricsUrl}`);
    if (cryptoChoice.path === 'native') this.log.info(`hashing with the ${cryptoChoice.detail}`);
    else this.log.warn(`hashing with ${cryptoChoice.detail}; ingest and verify are several times slower`);
    if (rows.path === 'native') this.log.info(`storing rows through the ${rows.detail}`);
    else this.log.warn(`storing rows through ${rows.detail}; ingest and verify are slower`);
    this.log.info(`immutalog serving log ${this.fingerprint} from ${dataPaths(this.cfg.dataDir).database}: ${this.listeners.map((l) => l.name).join(', ')}`);
    this.statusFile.write('running');
    this.statusFile.startPeriodic();
    void this.notify.send('READY=1', `STATUS=serving ${this.listeners.map((l) => l.name).join(', ')}`);
  }

  /** The control socket's anchor-now request. */
  async anchorNow(): Promise<unknown> {
    if (!this.anchoring) throw Object.assign(new Error('anchoring is off: no [bitcoin] rpc_url configured'), { kind: 'off' });
    return this.anchoring.roundNow();
  }

  /** The metrics page: the daemon's counters and the log's facts. */
  metricsText(): string {
    if (!this.metricsPage) throw new Error('the daemon is still starting (recovering the log)');
    return this.metricsPage.text();
  }

  status(state: DaemonStatus['state']): DaemonStatus {
    updateKernelDrops(this.listeners);
    return daemonStatus(state, {
      startedAt: this.startedAt,
      fingerprint: this.fingerprint,
      listeners: this.listeners,
      ingest: this.ingest.stats(),
      anchor: this.anchoring?.status,
      metrics: this.bound.metrics,
      warmUp: this.warmUp,
    });
  }

  /**
   * Stop: no new input, every accepted message committed, then the database closed. When storage
   * keeps failing (a full disk), it gives up after STOP_COMMIT_BUDGET_MS and logs exactly which
   * accepted messages were not written.
   */
  async stop(): Promise<StopResult> {
    const deadline = Date.now() + STOP_COMMIT_BUDGET_MS;
    const stopping = this.notify.send('STOPPING=1');
    await this.statusFile.stopPeriodic();
    this.statusFile.write('stopping');
    await this.bound.close({ keepRelp: true });
    this.metricsPage?.close();
    await this.anchoring?.stop();
    const left = await this.ingest.stop(deadline);
    await this.bound.closeRelp();
    const unwritten = left ? this.reportUnwritten(left) : 0;
    this.warn.flush();
    this.statusFile.write('stopped');
    this.lock.release();
    const { committed, nextSeq } = this.ingest.stats();
    this.log.info(`stopped; ${committed} messages stored in this run, next sequence number ${nextSeq}`);
    await stopping;
    return { unwritten };
  }

  /**
   * SIGHUP: takes on what can change without closing a connection or losing a datagram (see
   * RELOADABLE), re-reads the TLS files whatever changed, and says which other changes wait for a
   * restart. `next` is the configuration loaded again from the same file and flags, or why that
   * failed (then nothing changes). A TLS file that does not load keeps the old material.
   */
  async reload(next: ServeConfig | Error, file: string | undefined): Promise<void> {
    // Type=notify-reload (systemd >= 253) matches RELOADING=1 to its signal by MONOTONIC_USEC.
    // Not awaited, here or after start: messages go out in order, and nothing waits on systemd.
    void this.notify.send('RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`);
    const from = file ?? 'the command line';
    if (next instanceof Error) {
      this.log.error(`reload: configuration not reloaded, still running with the previous one: ${next.message}`);
    } else {
      const plan = planReload(this.cfg, next);
      const running = this.cfg;
      this.cfg = plan.effective;
      this.applyReloadable(plan.apply);
      this.reloadTls(running);
      const applied = plan.apply.filter((k) => !k.startsWith('tls')).map(optionName);
      if (applied.length > 0) this.log.info(`reload: applied ${applied.join(', ')} (limits and timeouts to connections accepted from now on)`);
      for (const option of plan.needsRestart) this.log.warn(`reload: ${option} changed in ${from}; takes effect after a restart`);
    }
    this.log.info('reload: done');
    await this.notify.send('READY=1', `STATUS=serving ${this.listeners.map((l) => l.name).join(', ')}`);
  }

  /** Log level, allowlist, and the stream listeners' limits and timeouts (for connections accepted from now on). */
  private applyReloadable(apply: ReturnType<typeof planReload>['apply']): void {
    const c = this.cfg;
    if (apply.includes('logLevel')) this.log.level = c.logLevel;
    if (apply.includes('allow')) this.bound.allow?.replace(c.allow);
    const limits = {
      maxConnections: c.maxConnections, maxConnectionsPerSource: c.maxConnectionsPerSource, handshakeTimeoutMs: c.handshakeTimeoutSec * 1000,
      idleTimeoutMs: c.idleTimeoutSec * 1000, frameTimeoutMs: c.frameTimeoutSec * 1000,
    };
    for (const l of this.listeners) if (!(l instanceof UdpListener)) l.setLimits(limits);
  }

  /** The TLS files, re-read whatever changed; when they do not load, `running`'s stay in use. */
  private reloadTls(running: ServeConfig): void {
    const tlsListeners = this.listeners.filter((l): l is StreamListener => l instanceof StreamListener && l.transport === 'tls');
    if (tlsListeners.length === 0) return;
    try {
      const m = readTlsMaterial(this.cfg);
      for (const l of tlsListeners) l.reloadTls(m);
      this.log.info(`reload: TLS certificate for new connections: ${describeCertificate(m.cert)}`);
    } catch (e) {
      // The paths too: the next reload compares with what is really in use.
      this.cfg = { ...this.cfg, tlsCert: running.tlsCert, tlsKey: running.tlsKey, tlsClientCa: running.tlsClientCa };
      this.log.error(`reload: TLS certificate, key and client CA not reloaded, still serving the previous ones: ${(e as Error).message}`);
    }
  }

  /** The stop's time ran out with storage still failing: says which accepted messages were not written, and returns how many. */
  private reportUnwritten(u: Unwritten): number {
    const n = u.last - u.first + 1;
    if (n > 0) {
      this.log.error(
        `stop: storage still failing after ${STOP_COMMIT_BUDGET_MS / 1000} s (${u.why}): ${n} accepted messages could not be written (sequence numbers ${u.first} to ${u.last})` +
          `${u.confirmed ? '' : '; the storage thread did not confirm, so a commit it finished meanwhile may have written some of them'}. ` +
          'Everything before them is committed; remove the cause (free space on the disk, or end the process holding the database locked) and start again: recovery completes the interrupted checkpoint.',
      );
    } else {
      this.log.error(`stop: storage still failing after ${STOP_COMMIT_BUDGET_MS / 1000} s (${u.why}): every accepted message is committed, the shutdown checkpoint perhaps not (the next start completes it).`);
    }
    return Math.max(0, n);
  }
}
