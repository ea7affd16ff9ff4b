import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_WIRE_DIR } from './paths.js';

/** Largest UDP payload over IPv4; unix-socket captures above it cannot be replayed over UDP. */
export const UDP_MAX_PAYLOAD = 65507;

export interface CorpusCase {
  name: string;
  kind: 'dgram' | 'stream';
  framing_key?: 'octet' | 'lf' | 'nul';
  files?: { file: string }[];
  frames?: { offset: number; length: number }[];
}

export function manifest(): { cases: CorpusCase[]; message_script: { id: string; level: string; logger: string }[] } {
  return JSON.parse(readFileSync(join(CORPUS_WIRE_DIR, 'MANIFEST.json'), 'utf8'));
}

/** What a correct receiver stores for a case: datagrams whole, stream frames without framing. */
export function expectedFrames(c: CorpusCase): Buffer[] {
  if (c.kind === 'dgram') {
    return c.files!.map((f) => readFileSync(join(CORPUS_WIRE_DIR, c.name, f.file))).filter((b) => b.length <= UDP_MAX_PAYLOAD);
  }
  const data = streamBytes(c);
  return c.frames!.map((f) => data.subarray(f.offset, f.offset + f.length));
}

export function streamBytes(c: CorpusCase): Buffer {
  return readFileSync(join(CORPUS_WIRE_DIR, `${c.name}.bin`));
}
