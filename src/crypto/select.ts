import type { BatchCrypto, CryptoPath } from './batch-crypto.js';
import { loadAddon } from './native-addon.js';
import { nodeBatchCrypto } from './node-batch.js';

/**
 * Which path this process hashes with, chosen once when first imported (each worker thread
 * chooses again, from the same environment): IMMUTALOG_CRYPTO=native requires the addon,
 * =node forces the fallback, unset or `auto` takes the addon when it loads.
 */
export interface CryptoChoice {
  path: CryptoPath;
  /** One line for the start log and `status`: the OpenSSL used, or why the fallback runs. */
  detail: string;
  /** Set when the environment asks for something this process cannot do; the CLI refuses to run. */
  refused?: string;
}

export const CRYPTO_ENV = 'IMMUTALOG_CRYPTO';

function choose(): { crypto: BatchCrypto; choice: CryptoChoice } {
  const wanted = process.env[CRYPTO_ENV] ?? 'auto';
  if (wanted !== 'auto' && wanted !== 'native' && wanted !== 'node' && wanted !== '') {
    return { crypto: nodeBatchCrypto, choice: { path: 'node', detail: 'node:crypto', refused: `${CRYPTO_ENV}: expected auto, native or node, got "${wanted}"` } };
  }
  if (wanted === 'node') return { crypto: nodeBatchCrypto, choice: { path: 'node', detail: `node:crypto (${CRYPTO_ENV}=node)` } };
  const load = loadAddon();
  if (load.crypto) return { crypto: load.crypto, choice: { path: 'native', detail: `native addon over ${load.openssl}` } };
  const choice: CryptoChoice = { path: 'node', detail: `node:crypto fallback: ${load.reason}` };
  if (wanted === 'native') choice.refused = `${CRYPTO_ENV}=native, but ${load.reason}`;
  return { crypto: nodeBatchCrypto, choice };
}

const chosen = choose();
export const batchCrypto: BatchCrypto = chosen.crypto;
export const cryptoChoice: Readonly<CryptoChoice> = chosen.choice;
