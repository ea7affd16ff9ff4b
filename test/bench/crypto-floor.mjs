// The verification ceiling this machine's node:crypto allows (run by hand:
// `node test/bench/crypto-floor.mjs`). Verifying one entry needs, whatever else it does,
//   one HMAC-SHA256 chain step  h_i = HMAC(K, h_{i-1} || enc_i)   (createHmac: Node 20 has no one-shot HMAC)
//   one RFC 6962 leaf hash       SHA-256(0x00 || enc_i)            (crypto.hash, one-shot)
//   on average one interior node SHA-256(0x01 || l || r)           (crypto.hash, 65 bytes)
// for a 256-byte message (a 330-byte encoding). This times each call in a tight loop, with no
// SQLite read, no parse and no allocation of ours, and prints the entries/s that these three
// calls alone would allow on every core: an upper bound for `immutalog verify`.
import { createHmac, hash, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';

const ENCODING_BYTES = 330;
const N = Number(process.argv[2] ?? 1_000_000);
const key = randomBytes(32);
const leafInput = Buffer.concat([Buffer.from([0x00]), randomBytes(ENCODING_BYTES)]);
const enc = leafInput.subarray(1);
const nodeInput = Buffer.concat([Buffer.from([0x01]), randomBytes(64)]);

function perCallNs(fn) {
  for (let i = 0; i < N / 10; i++) fn(); // warm-up: let V8 optimise the loop
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  return Number(process.hrtime.bigint() - t0) / N;
}

let h = randomBytes(32);
const hmacNs = perCallNs(() => {
  h = createHmac('sha256', key).update(h).update(enc).digest();
});
const leafNs = perCallNs(() => {
  h = hash('sha256', leafInput, 'buffer');
});
const nodeNs = perCallNs(() => {
  h = hash('sha256', nodeInput, 'buffer');
});
const perEntryNs = hmacNs + leafNs + nodeNs;
const cores = availableParallelism();
console.log(JSON.stringify({
  node: process.version,
  cores,
  hmac_chain_step_ns: Math.round(hmacNs),
  leaf_hash_ns: Math.round(leafNs),
  node_hash_ns: Math.round(nodeNs),
  crypto_ns_per_entry: Math.round(perEntryNs),
  ceiling_entries_per_s_all_cores: Math.round((cores * 1e9) / perEntryNs),
  hmac_alone_ceiling_entries_per_s_all_cores: Math.round((cores * 1e9) / hmacNs),
}, null, 2));
