import { StreamFramer, type FramedMessage, type FramingMode } from '../../src/receive/framing.js';

/** Small seeded PRNG (mulberry32) so chunkings are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function splitAt(data: Buffer, cuts: number[]): Buffer[] {
  const sorted = [...new Set(cuts.map((c) => Math.max(0, Math.min(data.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  out.push(data.subarray(prev));
  return out;
}

export function randomChunks(data: Buffer, seed: number, maxChunk: number): Buffer[] {
  const r = rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = 1 + Math.floor(r() * maxChunk);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** Feeds the chunks (copied, so no frame can alias a caller buffer) and closes the stream. */
export function frameAll(
  chunks: Buffer[],
  opts: { maxFrameBytes: number; mode?: FramingMode },
  onPush?: (f: StreamFramer) => void,
): { frames: FramedMessage[]; framer: StreamFramer } {
  const framer = new StreamFramer(opts);
  const frames: FramedMessage[] = [];
  for (const c of chunks) {
    frames.push(...framer.push(Buffer.from(c)));
    onPush?.(framer);
  }
  frames.push(...framer.end());
  return { frames, framer };
}
