import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { HASH_BYTES, MERKLE_MAX_DEPTH, SKIP_SPAN, type BatchCrypto } from './batch-crypto.js';

/** `0x01 || left || right`, reused: hash() copies its input. */
const nodeInput = Buffer.alloc(1 + 2 * HASH_BYTES, 0x01);

/** buf[start, end), refusing what the addon refuses: subarray would clamp a bad span silently. */
function view(buf: Uint8Array, start: number, end: number, what: string): Uint8Array {
  if (start > end || end > buf.length) throw new RangeError(`${what}: [${start}, ${end}) lies outside the ${buf.length}-byte buffer`);
  return buf.subarray(start, end);
}

/** The fallback when the addon cannot be loaded: node:crypto, one call per entry, the same bytes. */
export const nodeBatchCrypto: BatchCrypto = {
  path: 'node',

  sealMacs(key, head, buf, spans) {
    let prev = head;
    for (let i = 0; i < spans.length; i += 2) {
      const end = spans[i + 1]!;
      if (end + HASH_BYTES > buf.length || spans[i]! > end) throw new RangeError(`sealMacs: span ${i / 2} [${spans[i]}, ${end}) (or the MAC after it) lies outside the ${buf.length}-byte buffer`);
      if (i > 0 && spans[i - 1]! + HASH_BYTES > spans[i]!) throw new RangeError('sealMacs: spans must ascend, each after the previous MAC');
      const mac = createHmac('sha256', key).update(prev).update(view(buf, spans[i]!, end, 'sealMacs: a span')).digest();
      buf.set(mac, end);
      prev = mac;
    }
  },

  checkMacs(key, startHead, buf, spans, macAt, out) {
    let prev: Uint8Array = startHead;
    let mismatches = 0;
    for (let i = 0; i < spans.length / 2; i++) {
      const start = spans[2 * i]!;
      const end = spans[2 * i + 1]!;
      const stored = view(buf, macAt[i]!, macAt[i]! + HASH_BYTES, 'checkMacs: a stored MAC');
      if (start === SKIP_SPAN && end === SKIP_SPAN) {
        out.fill(0, HASH_BYTES * i, HASH_BYTES * (i + 1));
      } else {
        const mac = createHmac('sha256', key).update(prev).update(view(buf, start, end, 'checkMacs: a span')).digest();
        out.set(mac, HASH_BYTES * i);
        if (!timingSafeEqual(mac, stored)) mismatches++;
      }
      prev = stored;
    }
    return mismatches;
  },

  leafHashes(buf, spans, out) {
    for (let i = 0; i < spans.length / 2; i++) {
      const input = view(buf, spans[2 * i]!, spans[2 * i + 1]!, 'leafHashes: a span');
      if (input[0] !== 0x00) throw new RangeError('leafHashes: every leaf input must start with the 0x00 leaf prefix');
      out.set(hash('sha256', input, 'buffer'), HASH_BYTES * i);
    }
  },

  merkleAppend(stack, heights, depth, leaves, count) {
    for (let i = 0; i < count; i++) {
      let h: Uint8Array = view(leaves, HASH_BYTES * i, HASH_BYTES * (i + 1), 'merkleAppend: a leaf');
      let height = 0;
      while (depth > 0 && heights[depth - 1] === height) {
        nodeInput.set(stack.subarray(HASH_BYTES * (depth - 1), HASH_BYTES * depth), 1);
        nodeInput.set(h, 1 + HASH_BYTES);
        h = hash('sha256', nodeInput, 'buffer');
        depth--;
        height++;
      }
      if (depth === MERKLE_MAX_DEPTH) throw new RangeError('merkleAppend: more leaves than a 64-deep compact range holds');
      stack.set(h, HASH_BYTES * depth);
      heights[depth] = height;
      depth++;
    }
    return depth;
  },
};
