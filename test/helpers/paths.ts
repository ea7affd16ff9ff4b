import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root, from this file's place in it (CI clones the repo anywhere). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Wire captures from the real clients (test/corpus/README.md says how they were made). */
export const CORPUS_WIRE_DIR = join(REPO_ROOT, 'test', 'corpus', 'wire');
/** Real Bitcoin Core JSON-RPC exchanges (test/vectors/bitcoind-rpc/README.md). */
export const BITCOIND_RPC_RECORDING = join(REPO_ROOT, 'test', 'vectors', 'bitcoind-rpc', 'anchor-lifecycle.jsonl');
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
