import { existsSync, readFileSync } from 'node:fs';
import { decodeKeyState, encodeKeyState, KeyStateError, type KeyState } from '../chain/keystate.js';
import { writeFileAtomic, writeFileAtomicAsync } from './atomic-file.js';

// The key-state file's I/O; its format is chain/keystate.ts. Its path is LogPaths.keyState.

export function saveKeyState(path: string, s: KeyState): void {
  writeFileAtomic(path, encodeKeyState(s), 0o600);
}

/** saveKeyState without blocking the calling thread; resolves once the file is durable. */
export function saveKeyStateAsync(path: string, s: KeyState): Promise<void> {
  return writeFileAtomicAsync(path, encodeKeyState(s), 0o600);
}

export function loadKeyState(path: string): KeyState {
  if (!existsSync(path)) throw new KeyStateError('KEYSTATE_MISSING', `${path}: no key-state file`);
  return decodeKeyState(readFileSync(path, 'utf8'), path);
}
