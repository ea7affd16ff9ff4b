import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The wire corpus is committed under test/corpus (its README says how it was captured), and
 * found relative to this file, never by an absolute path.
 */
export const WIRE = new URL('../corpus/wire/', import.meta.url);

export interface ScriptEntry {
  id: string;
  level: string;
  logger: string;
  what: string;
}

interface ManifestCase {
  name: string;
  kind: 'dgram' | 'stream';
  path: string;
  sha256?: string;
  files?: { file: string; bytes: number; sha256: string }[];
  frames?: { offset: number; length: number }[];
}

export interface Manifest {
  message_script: ScriptEntry[];
  cases: ManifestCase[];
}

export interface CorpusCase {
  name: string;
  /** Each datagram, or each stream frame without its octet count or terminator. */
  frames: Buffer[];
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function loadManifest(): Manifest {
  return JSON.parse(readFileSync(new URL('MANIFEST.json', WIRE), 'utf8')) as Manifest;
}

/** Reads every case and checks each file against the manifest's sha256, so a changed corpus fails loudly. */
export function loadCorpus(m: Manifest): CorpusCase[] {
  return m.cases.map((c) => {
    if (c.kind === 'dgram') {
      const frames = c.files!.map((f) => {
        const b = readFileSync(new URL(`${c.name}/${f.file}`, WIRE));
        if (sha256(b) !== f.sha256) throw new Error(`corpus file ${c.name}/${f.file} does not match MANIFEST.json`);
        return b;
      });
      return { name: c.name, frames };
    }
    const stream = readFileSync(new URL(`${c.name}.bin`, WIRE));
    if (sha256(stream) !== c.sha256) throw new Error(`corpus file ${c.name}.bin does not match MANIFEST.json`);
    return { name: c.name, frames: c.frames!.map((f) => stream.subarray(f.offset, f.offset + f.length)) };
  });
}
