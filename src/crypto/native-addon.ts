import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { BatchCrypto } from './batch-crypto.js';

/**
 * Where `npm install` builds the addon (node-gyp, src/crypto/addon). This file sits two folders
 * below the checkout both as src/crypto/*.ts and as dist/crypto/*.js, so one path serves both.
 */
export const ADDON_PATH = fileURLToPath(new URL('../../src/crypto/addon/build/Release/immutalog_crypto.node', import.meta.url));

interface Addon extends Omit<BatchCrypto, 'path'> {
  opensslVersion(): string;
}

export type AddonLoad = { crypto: BatchCrypto; openssl: string; reason?: undefined } | { crypto?: undefined; reason: string };

/** The native batch crypto, or why it cannot be used. The only module that loads the addon. */
export function loadAddon(): AddonLoad {
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    return {
      openssl: addon.opensslVersion(),
      crypto: {
        path: 'native',
        sealMacs: addon.sealMacs,
        checkMacs: addon.checkMacs,
        leafHashes: addon.leafHashes,
        merkleAppend: addon.merkleAppend,
      },
    };
  } catch (e) {
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND') return { reason: `the addon is not built (expected ${ADDON_PATH}; run \`npm run build:native\`)` };
    return { reason: `the addon at ${ADDON_PATH} did not load: ${(e as Error).message.split('\n')[0]}` };
  }
}
