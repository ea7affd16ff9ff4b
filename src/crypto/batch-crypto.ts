/**
 * The hashing a sealed batch or a verified chunk needs, one call per batch instead of one per
 * entry: node:crypto's per-call cost (createHmac ~2.4 us, a one-shot hash ~0.7 us) was most of
 * ingest's and verify's time, while OpenSSL itself needs ~0.3 us per step. Two paths give the same
 * bytes: the native addon over the OpenSSL that Node carries, and node:crypto as the fallback.
 *
 * Spans are [start, end) byte ranges into one buffer, as pairs in a Uint32Array: a batch's bytes
 * stay where they are and nothing is copied per entry.
 */
export const HASH_BYTES = 32;

/** A compact range holds one subtree root per set bit of its size: 64 for any count a u64 holds. */
export const MERKLE_MAX_DEPTH = 64;

/** An entry checkMacs skips (it could not be encoded): start and end both this value. */
export const SKIP_SPAN = 0xffff_ffff;

export type CryptoPath = 'native' | 'node';

export interface BatchCrypto {
  readonly path: CryptoPath;
  /**
   * The HMAC chain h_i = HMAC-SHA256(key, h_{i-1} || buf[span_i]) with h_{-1} = head, each h_i
   * written right after its span, at buf[end_i, end_i + 32). Spans ascend, each after the
   * previous MAC.
   */
  sealMacs(key: Uint8Array, head: Uint8Array, buf: Uint8Array, spans: Uint32Array): void;
  /**
   * For each entry i, HMAC-SHA256(key, stored_{i-1} || buf[span_i]) written to out[32 i], with
   * stored_{-1} = startHead and stored_i the 32 bytes at buf[macAt[i]]; returns how many differ
   * from the stored MAC. Chaining on the stored MAC makes one edited entry one mismatch. A span
   * of [SKIP_SPAN, SKIP_SPAN) is skipped: its out is zeros and it is not counted.
   */
  checkMacs(key: Uint8Array, startHead: Uint8Array, buf: Uint8Array, spans: Uint32Array, macAt: Uint32Array, out: Uint8Array): number;
  /** out[32 i] = SHA-256(buf[span_i]); each span is a leaf input, already starting with 0x00. */
  leafHashes(buf: Uint8Array, spans: Uint32Array, out: Uint8Array): void;
  /**
   * Adds `count` 32-byte leaf hashes from `leaves` to a compact range: stack[32 k] is the root of
   * a perfect subtree of height heights[k], the smallest last, `depth` of them; equal heights
   * merge with the RFC 6962 node hash SHA-256(0x01 || left || right). Returns the new depth.
   */
  merkleAppend(stack: Uint8Array, heights: Uint8Array, depth: number, leaves: Uint8Array, count: number): number;
}
