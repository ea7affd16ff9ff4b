// The crypto floor of both hashing paths on this machine (run by hand: `npm run build &&
// node test/bench/crypto-floor.mjs [ROUNDS]`). Storing or verifying one entry needs, whatever
// else it does,
//   one HMAC-SHA256 chain step  h_i = HMAC(K, h_{i-1} || enc_i)
//   one RFC 6962 leaf hash       SHA-256(0x00 || enc_i)
//   on average one interior node SHA-256(0x01 || l || r)
// for a 256-byte message (a 330-byte encoding). This times the three through each path of the
// batch crypto (dist/crypto: the native addon, one call per 1,024-entry batch; the node:crypto
// fallback), and the same three as single node:crypto calls per entry (what immutalog did before
// the addon), with no SQLite, no parse and no allocation of ours: an upper bound for ingest and
// verify on every core. The native figure is the machine's own (compare shared/bench's C floor).
import { createHmac, hash, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'crypto');
const { nodeBatchCrypto } = await import(join(dist, 'node-batch.js'));
const { loadAddon } = await import(join(dist, 'native-addon.js'));
const addon = loadAddon();
if (!addon.crypto) console.error(`native path unavailable: ${addon.reason}`);

const ENCODING_BYTES = 330;
const BATCH = 1024;
const ROUNDS = Number(process.argv[2] ?? 3);
const key = randomBytes(32);
const head = randomBytes(32);
// A sealed batch's layout: 0x00 || enc, then room for the MAC.
const stride = 1 + ENCODING_BYTES + 32;
const buf = Buffer.alloc(BATCH * stride);
const macSpans = new Uint32Array(2 * BATCH);
const leafSpans = new Uint32Array(2 * BATCH);
for (let i = 0; i < BATCH; i++) {
  const o = i * stride;
  randomBytes(ENCODING_BYTES).copy(buf, o + 1);
  leafSpans[2 * i] = o;
  leafSpans[2 * i + 1] = o + 1 + ENCODING_BYTES;
  macSpans[2 * i] = o + 1;
  macSpans[2 * i + 1] = o + 1 + ENCODING_BYTES;
}
const leaves = Buffer.alloc(32 * BATCH);
const stack = new Uint8Array(64 * 32);
const heights = new Uint8Array(64);

/** ns per entry of fn(), which handles one whole batch, best of ROUNDS after a warm-up. */
function perEntryNs(fn, batches) {
  for (let i = 0; i < batches / 5; i++) fn();
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batches; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / (batches * BATCH));
  }
  return best;
}

function batchPath(c, batches) {
  const hmac = perEntryNs(() => c.sealMacs(key, head, buf, macSpans), batches);
  const leaf = perEntryNs(() => c.leafHashes(buf, leafSpans, leaves), batches);
  // Each batch starts a fresh tree: 1,023 node hashes per 1,024 leaves, as in a block.
  const node = perEntryNs(() => c.merkleAppend(stack, heights, 0, leaves, BATCH), batches);
  return { hmac, leaf, node };
}

function perCallPath(batches) {
  const nodeInput = Buffer.concat([Buffer.from([0x01]), randomBytes(64)]);
  let h = head;
  const hmac = perEntryNs(() => {
    for (let i = 0; i < BATCH; i++) h = createHmac('sha256', key).update(h).update(buf.subarray(macSpans[2 * i], macSpans[2 * i + 1])).digest();
  }, batches);
  const leaf = perEntryNs(() => {
    for (let i = 0; i < BATCH; i++) hash('sha256', buf.subarray(leafSpans[2 * i], leafSpans[2 * i + 1]), 'buffer');
  }, batches);
  const node = perEntryNs(() => {
    for (let i = 0; i < BATCH; i++) hash('sha256', nodeInput, 'buffer');
  }, batches);
  return { hmac, leaf, node };
}

const cores = availableParallelism();
const row = (name, r) => {
  const total = r.hmac + r.leaf + r.node;
  return { path: name, hmac_chain_step_ns: Math.round(r.hmac), leaf_hash_ns: Math.round(r.leaf), node_hash_ns: Math.round(r.node), crypto_ns_per_entry: Math.round(total), ceiling_entries_per_s_all_cores: Math.round((cores * 1e9) / total) };
};
const rows = [];
if (addon.crypto) rows.push(row(`native (${addon.openssl})`, batchPath(addon.crypto, 400)));
rows.push(row('node:crypto fallback (batch crypto)', batchPath(nodeBatchCrypto, 60)));
rows.push(row('node:crypto, one call per entry (before the addon)', perCallPath(60)));
console.log(JSON.stringify({ node: process.version, cores, encoding_bytes: ENCODING_BYTES, rows }, null, 2));
