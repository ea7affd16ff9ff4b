import type { ReceivedFrame } from '../receive/frame.js';
import type { FrameSink } from '../receive/sink.js';

/**
 * The listeners' sink from the moment they are bound until the log is recovered. They are bound
 * first, so that a start which cannot bind fails before it has written anything; but no frame may
 * reach the write path before recovery has placed the chain. Stream listeners find it congested
 * and pause their sockets (their bytes wait in the kernel); datagrams cannot wait there, so they
 * are held here, up to `limitBytes` (the write queue's own hard limit for datagrams) and refused
 * beyond it, as the queue would. open() hands what is held to the queue in arrival order (the
 * queue is empty then, so it takes all of it) and from then on passes everything straight through.
 */
export class StartGate implements FrameSink {
  private target: FrameSink | undefined;
  private held: ReceivedFrame[] = [];
  private heldBytes = 0;
  private readonly drains = new Set<() => void>();

  constructor(private readonly limitBytes: number) {}

  accept(frame: ReceivedFrame): boolean {
    if (this.target) return this.target.accept(frame);
    if (frame.transport === 'udp' && this.heldBytes + frame.raw.length > this.limitBytes) return false;
    this.held.push(frame);
    this.heldBytes += frame.raw.length;
    return true;
  }

  flushSoon(): void {
    this.target?.flushSoon?.();
  }

  get congested(): boolean {
    return this.target ? this.target.congested : true;
  }

  onDrain(fn: () => void): () => void {
    this.drains.add(fn);
    return () => this.drains.delete(fn);
  }

  /** How many frames wait for open(), for the start's log line. */
  get heldFrames(): number {
    return this.held.length;
  }

  open(target: FrameSink): void {
    if (this.target) return;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    this.target = target;
    for (const f of held) target.accept(f);
    target.onDrain(() => this.drainAll());
    // Paused streams resume now, unless what was held already fills the queue (then at its drain).
    if (!target.congested) this.drainAll();
  }

  private drainAll(): void {
    for (const fn of this.drains) fn();
  }
}
