import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root, from this file's place in it (CI clones the repo anywhere). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** shared/ sits beside the repository, on developer machines and in CI alike. */
export const SHARED_DIR = join(REPO_ROOT, '..', 'shared');
export const CORPUS_WIRE_DIR = join(SHARED_DIR, 'corpus', 'wire');
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
