import type winston from 'winston';
import type { ServeConfig } from '../config/load.js';
import type { ListenerCounters } from '../receive/counters.js';
import { StreamListener } from '../receive/stream.js';
import { UdpListener } from '../receive/udp.js';
import { readUdpKernelDrops } from './udp-drops.js';
import { writeFileAtomic, writeFileAtomicAsync } from '../log/atomic-file.js';
import { Sequencer } from '../ingest/sequencer.js';
import { Anchorer, type AnchorStatus } from '../anchor/anchorer.js';
import { connectAnchorNode } from '../bitcoind/writer.js';
import { LogStore } from '../store/log-store.js';
import { renderMetrics } from './metrics.js';
import { Checkpointer } from '../ingest/checkpointer.js';
import { recoverLog } from '../log/recovery.js';
import type { LogIdentity } from '../log/identity.js';
import { StoreWriter } from '../ingest/storage-client.js';
import { dataPaths } from '../log/data-dir.js';
import { initLog, isInitialised } from '../log/init.js';
import { rateLimitedWarn } from './daemon-log.js';
import { WriteQueue } from '../ingest/write-queue.js';
import { hangOnceFault, holdStartFault } from '../ingest/fault.js';
import { StartGate } from './start-gate.js';
import { Endpoints } from './endpoints.js';
import { takeWriterLock, type WriterLock } from '../log/writer-lock.js';
import { SdNotify, monotonicUsec } from './sd-notify.js';
import { optionName, planReload } from './reload-plan.js';
import { describeCertificate, readTlsMaterial } from './tls-material.js';

/** status.json is rewritten this often, for `immutalog status` and for tests that bind port 0. */
const STATUS_INTERVAL_MS = 2000;
/**
 * Datagrams are refused past this many queued bytes (a multiple of the TCP high-water mark).
 * Twice, not four times: under a UDP flood beyond what can be chained, four times let the
 * daemon grow past 300 MB for no fewer losses (bench/ingest at 100,000 datagrams/s).
 */
const UDP_HARD_LIMIT_FACTOR = 2;
/**
 * A stop (SIGTERM) keeps committing, and tries its shutdown checkpoint, for at most this long
 * from the signal: systemd's default TimeoutStopSec is 90 s, and an operator expects a stop in
 * under 30. What storage still holds then (a full disk) is counted, logged and given up.
 */
const STOP_COMMIT_BUDGET_MS = 15_000;
/** How long the storage thread has to confirm it gave up: longer than one SQLite busy wait (5 s). */
const ABANDON_WAIT_MS = 6_000;

/** What a stop could not write: accepted messages still queued when its time ran out. */
export interface StopResult {
  unwritten: number;
}

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
  state: 'running' | 'stopping' | 'stopped';
}

/** The anchorer, when a node is configured: its own SQLite connection for the few anchor writes. */
function startAnchoring(cfg: ServeConfig, database: string, log: winston.Logger): { worker: Anchorer; store: LogStore } | undefined {
  if (cfg.bitcoinRpcUrl === '') {
    log.warn('anchoring is off (no [bitcoin] rpc_url): checkpoints are signed but not anchored in Bitcoin');
    return undefined;
  }
  const rpc = connectAnchorNode({
    url: cfg.bitcoinRpcUrl,
    wallet: cfg.bitcoinWallet,
    ...(cfg.bitcoinCookieFile ? { cookieFile: cfg.bitcoinCookieFile } : { user: cfg.bitcoinUser, password: cfg.bitcoinPassword }),
  });
  const store = LogStore.open(database, { create: false });
  const worker = new Anchorer(rpc, store, {
    intervalSec: cfg.anchorIntervalSec, confTarget: cfg.anchorConfTarget, fallbackFeeRate: cfg.anchorFallbackFeeRate,
    maxFeeRate: cfg.anchorMaxFeeRate, maxFeeSats: cfg.anchorMaxFee, finalConfirmations: cfg.anchorFinalConfirmations,
    stuckBlocks: cfg.anchorStuckBlocks, pollSec: cfg.anchorPollSec,
  }, log);
  worker.start();
  return { worker, store };
}

export class Daemon {
  private anchor: { worker: Anchorer; store: LogStore } | undefined;
  /** The metrics endpoint's own read-only connection, opened once the log is recovered. */
  private metricsStore: LogStore | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  /** The periodic status write under way, if any (stop waits for it: both use one temp name). */
  private statusWriting: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();
  /** The first sequence number of this run: everything before it was committed by an earlier one. */
  private firstSeqThisRun = 0;
  private readonly notify: SdNotify;
  private constructor(
    private cfg: ServeConfig,
    private readonly log: winston.Logger,
    private readonly identity: LogIdentity,
    private readonly sequencer: Sequencer,
    private readonly storage: StoreWriter,
    private readonly checkpointer: Checkpointer,
    private readonly queue: WriteQueue,
    private readonly warn: ReturnType<typeof rateLimitedWarn>,
    private readonly lock: WriterLock,
    private readonly bound: Endpoints,
  ) {
    this.notify = new SdNotify(log);
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
  static async start(cfg: ServeConfig, log: winston.Logger): Promise<Daemon> {
    const lock = takeWriterLock(cfg.dataDir);
    const warn = rateLimitedWarn(log);
    const gate = new StartGate(cfg.queueHighWaterBytes * UDP_HARD_LIMIT_FACTOR);
    const ready: { daemon?: Daemon } = {};
    const bound = new Endpoints();
    let daemon: Daemon;
    try {
      hangOnceFault(cfg.dataDir);
      await bound.bind(cfg, gate, warn, ready);
      log.info(`listening on ${bound.listeners.map((l) => l.name).join(', ')}; opening the log (what arrives meanwhile waits)`);
      await holdStartFault(cfg.dataDir);
      daemon = await Daemon.open(cfg, log, warn, lock, bound, gate);
    } catch (e) {
      await bound.close();
      lock.release();
      throw e;
    }
    ready.daemon = daemon;
    return daemon;
  }

  /** Creates or recovers the log and starts the write path behind the bound listeners. */
  private static async open(cfg: ServeConfig, log: winston.Logger, warn: ReturnType<typeof rateLimitedWarn>, lock: WriterLock, bound: Endpoints, gate: StartGate): Promise<Daemon> {
    const paths = dataPaths(cfg.dataDir);
    if (!isInitialised(cfg.dataDir)) {
      const r = initLog(cfg.dataDir, {});
      log.warn(`new log created in ${cfg.dataDir}; identity fingerprint ${r.fingerprint} (give it to your auditor to pin)`);
      if (r.auditorKeyPath) {
        log.warn(`THE AUDITOR'S PRIVATE KEY IS AT ${r.auditorKeyPath}. Move it OFF THIS HOST to the auditor now: anyone holding it on the receiver defeats the escrow of open blocks.`);
      }
    }
    const rec = recoverLog(cfg.dataDir);
    for (const r of rec.repairs) log.warn(`recovery: ${r}`);
    const storage = new StoreWriter(paths.database, (error, pending) =>
      log.error(`commit failed; ${pending} sealed batches kept in memory and retried: ${error}`),
    );
    const sequencer = new Sequencer({ nextSeq: rec.nextSeq, head: rec.head, block: rec.keyState.block, blockKey: rec.keyState.blockKey, blockFirstSeq: rec.blockFirstSeq, blockFloorUs: rec.blockFloorUs, latestInBlockUs: rec.latestInBlockUs }, storage.allocate);
    // Assigned below: the queue and the checkpointer refer to each other.
    let checkpointer: Checkpointer;
    const queue = new WriteQueue({
      maxDelayMs: cfg.commitDelayMs,
      maxBatch: cfg.commitBatch,
      highWaterBytes: cfg.queueHighWaterBytes,
      hardLimitBytes: cfg.queueHighWaterBytes * UDP_HARD_LIMIT_FACTOR,
      commit: (frames) => {
        // Split at the block's remaining room, so a block closes at its size (while a checkpoint
        // is being written, the next block takes whatever arrives and closes right after it).
        for (let i = 0; i < frames.length; ) {
          const n = Math.min(frames.length - i, checkpointer.room);
          storage.post(sequencer.seal(i === 0 && n === frames.length ? frames : frames.slice(i, i + n)));
          i += n;
          checkpointer.afterSeal();
        }
      },
      inFlightBytes: () => storage.unackedBytes,
    });
    checkpointer = new Checkpointer(rec.identity, rec.keyState, rec.previousCheckpointHash, sequencer, storage, {
      keyStatePath: paths.keyState,
      maxEntries: cfg.checkpointEntries,
      intervalMs: cfg.checkpointIntervalSec * 1000,
      flushQueue: () => queue.flushNow(),
      onError: (e) => log.error(`checkpoint failed: ${e.message}`),
      onCheckpoint: (j, n, reason) => log.debug(`checkpoint ${j} (${reason}): ${n} entries`),
    });
    storage.onCommitted(() => queue.storageProgressed());
    const daemon = new Daemon(cfg, log, rec.identity, sequencer, storage, checkpointer, queue, warn, lock, bound);
    daemon.firstSeqThisRun = rec.nextSeq;
    // Entries written before this start (and before any crash) are sealed before new ones.
    if (rec.restarted) await checkpointer.request('restart');
    gate.open(queue);
    try {
      daemon.anchor = startAnchoring(cfg, paths.database, log);
      if (bound.metrics) daemon.metricsStore = LogStore.open(paths.database, { create: false, readonly: true });
    } catch (e) {
      await daemon.stop();
      throw e;
    }
    if (bound.metricsUrl) log.info(`metrics on ${bound.metricsUrl}`);
    log.info(`immutalog serving log ${rec.identity.fingerprint} from ${paths.database}: ${bound.listeners.map((l) => l.name).join(', ')}`);
    daemon.writeStatus('running');
    daemon.statusTimer = setInterval(() => daemon.writeStatusInBackground(), STATUS_INTERVAL_MS);
    daemon.statusTimer.unref();
    void daemon.notify.send('READY=1', `STATUS=serving ${daemon.listeners.map((l) => l.name).join(', ')}`);
    return daemon;
  }

  /** The control socket's anchor-now request. */
  async anchorNow(): Promise<unknown> {
    if (!this.anchor) throw Object.assign(new Error('anchoring is off: no [bitcoin] rpc_url configured'), { kind: 'off' });
    const a = await this.anchor.worker.roundNow();
    return a ? { anchor: a.id, txid: a.txid, checkpoints: a.tree_size, fee_sats: a.fee_sats, fee_rate: a.fee_rate, vsize: a.vsize, state: a.state } : { anchor: null, message: 'no checkpoint is waiting to be anchored' };
  }

  /** The metrics page: the daemon's counters and the log's facts. */
  metricsText(): string {
    if (!this.metricsStore) throw new Error('the daemon is still starting (recovering the log)');
    return renderMetrics(this.status('running'), this.metricsStore.logFacts(), Date.now() * 1000);
  }

  status(state: DaemonStatus['state']): DaemonStatus {
    return {
      pid: process.pid,
      started_at: this.startedAt,
      updated_at: new Date().toISOString(),
      fingerprint: this.identity.fingerprint,
      listeners: this.listeners.map((l) => ({
        name: l.name,
        transport: l instanceof UdpListener ? 'udp' : l.transport,
        port: l.port,
        connections: l instanceof UdpListener ? 0 : l.connections,
        handshaking: l instanceof UdpListener ? 0 : l.handshaking,
        counters: l.counters,
      })),
      queue: {
        frames: this.queue.queuedFrames,
        bytes: this.queue.queuedBytes + this.storage.unackedBytes,
        committed: this.storage.committed,
        commit_failures: this.storage.commitFailures,
        last_error: this.storage.lastCommitError ?? null,
      },
      anchor: this.anchor ? { ...this.anchor.worker.status } : null,
      metrics_port: (() => {
        const a = this.bound.metrics?.address();
        return a && typeof a === 'object' ? a.port : null;
      })(),
      memory: (() => {
        const m = process.memoryUsage();
        return { rss: m.rss, heap_used: m.heapUsed, heap_total: m.heapTotal, external: m.external, array_buffers: m.arrayBuffers };
      })(),
      next_seq: this.sequencer.nextSeq,
      checkpoints_this_run: this.checkpointer.checkpoints,
      last_checkpoint_at_us: this.checkpointer.lastCheckpointAtUs ?? null,
      last_committed_seq: this.storage.lastCommittedSeq,
      block: this.sequencer.block,
      state,
    };
  }

  private readKernelDrops(): void {
    for (const l of this.listeners) {
      if (!(l instanceof UdpListener)) continue;
      const drops = readUdpKernelDrops(l.port, l.name.startsWith('udp://['));
      if (drops !== undefined) l.counters.kernelDrops = drops;
    }
  }

  /** At start and stop, when nothing else waits on this thread. */
  private writeStatus(state: DaemonStatus['state']): void {
    this.readKernelDrops();
    try {
      writeFileAtomic(dataPaths(this.cfg.dataDir).statusFile, JSON.stringify(this.status(state), null, 1) + '\n', 0o640);
    } catch (e) {
      this.warn('status-write', `cannot write status file: ${(e as Error).message}`);
    }
  }

  /**
   * The periodic rewrite, on the thread pool: its fsyncs, done on this thread while the storage
   * thread kept the disk busy, stalled reception long enough to overflow UDP socket buffers.
   */
  private writeStatusInBackground(): void {
    if (this.statusWriting) return;
    this.readKernelDrops();
    this.statusWriting = writeFileAtomicAsync(dataPaths(this.cfg.dataDir).statusFile, JSON.stringify(this.status('running'), null, 1) + '\n', 0o640)
      .catch((e: Error) => this.warn('status-write', `cannot write status file: ${e.message}`))
      .finally(() => {
        this.statusWriting = undefined;
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
    if (this.statusTimer) clearInterval(this.statusTimer);
    await this.statusWriting;
    this.writeStatus('stopping');
    await this.bound.close();
    this.metricsStore?.close();
    if (this.anchor) {
      await this.anchor.worker.stop();
      this.anchor.store.close();
    }
    this.queue.flushNow();
    // Storage keeps retrying a failed commit; a stop waits for it, but not for ever.
    const finished = (async () => {
      await this.checkpointer.shutdown();
      await this.storage.close();
    })();
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      finished.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())))),
    ]);
    clearTimeout(timer);
    let unwritten = 0;
    if (!inTime) unwritten = await this.giveUp();
    this.warn.flush();
    this.writeStatus('stopped');
    this.lock.release();
    this.log.info(`stopped; ${this.storage.committed} messages stored in this run, next sequence number ${this.sequencer.nextSeq}`);
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
      const c = this.cfg;
      if (plan.apply.includes('logLevel')) this.log.level = c.logLevel;
      if (plan.apply.includes('allow')) this.bound.allow?.replace(c.allow);
      const limits = {
        maxConnections: c.maxConnections, maxConnectionsPerSource: c.maxConnectionsPerSource, handshakeTimeoutMs: c.handshakeTimeoutSec * 1000,
        idleTimeoutMs: c.idleTimeoutSec * 1000, frameTimeoutMs: c.frameTimeoutSec * 1000,
      };
      for (const l of this.listeners) if (!(l instanceof UdpListener)) l.setLimits(limits);
      const tlsListeners = this.listeners.filter((l): l is StreamListener => l instanceof StreamListener && l.transport === 'tls');
      if (tlsListeners.length > 0) {
        try {
          const m = readTlsMaterial(c);
          for (const l of tlsListeners) l.reloadTls(m);
          this.log.info(`reload: TLS certificate for new connections: ${describeCertificate(m.cert)}`);
        } catch (e) {
          // The paths too: the next reload compares with what is really in use.
          this.cfg = { ...this.cfg, tlsCert: running.tlsCert, tlsKey: running.tlsKey, tlsClientCa: running.tlsClientCa };
          this.log.error(`reload: TLS certificate, key and client CA not reloaded, still serving the previous ones: ${(e as Error).message}`);
        }
      }
      const applied = plan.apply.filter((k) => !k.startsWith('tls')).map(optionName);
      if (applied.length > 0) this.log.info(`reload: applied ${applied.join(', ')} (limits and timeouts to connections accepted from now on)`);
      for (const option of plan.needsRestart) this.log.warn(`reload: ${option} changed in ${from}; takes effect after a restart`);
    }
    this.log.info('reload: done');
    await this.notify.send('READY=1', `STATUS=serving ${this.listeners.map((l) => l.name).join(', ')}`);
  }

  /** The stop's time is up with storage still failing: drop what it holds, and say what that is. */
  private async giveUp(): Promise<number> {
    this.checkpointer.abandon();
    const confirmed = await this.storage.abandon(ABANDON_WAIT_MS);
    const first = Math.max(this.storage.lastCommittedSeq + 1, this.firstSeqThisRun);
    const last = this.sequencer.nextSeq - 1;
    const n = last - first + 1;
    const why = this.storage.lastCommitError ?? 'storage did not finish in time';
    if (n > 0) {
      this.log.error(
        `stop: storage still failing after ${STOP_COMMIT_BUDGET_MS / 1000} s (${why}): ${n} accepted messages could not be written (sequence numbers ${first} to ${last})` +
          `${confirmed ? '' : '; the storage thread did not confirm, so a commit it finished meanwhile may have written some of them'}. ` +
          'Everything before them is committed; remove the cause (free space on the disk, or end the process holding the database locked) and start again: recovery completes the interrupted checkpoint.',
      );
    } else {
      this.log.error(`stop: storage still failing after ${STOP_COMMIT_BUDGET_MS / 1000} s (${why}): every accepted message is committed, the shutdown checkpoint perhaps not (the next start completes it).`);
    }
    return Math.max(0, n);
  }
}
