// What the hand-run benchmarks share: where the CLI is, how `npm start` runs node, options.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(root, 'dist', 'cli', 'main.js');
/** node's flags as `npm start` (and the systemd unit, and the executable's #! line) pass them. */
export const START_FLAGS = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start.split(' ').filter((a) => a.startsWith('--'));
export const args = process.argv.slice(2);
/** The value after `--name` on the command line, or `def`. */
export const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
