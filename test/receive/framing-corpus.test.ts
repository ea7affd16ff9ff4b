import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FLAG_TRUNCATED } from '../../src/chain/entry-format.js';
import { frameAll, randomChunks } from './helpers.js';

// The corpus is committed under test/corpus (its README says how it was captured).
const wireDir = fileURLToPath(new URL('../corpus/wire/', import.meta.url));
const manifestPath = `${wireDir}MANIFEST.json`;

interface StreamCase {
  name: string;
  kind: string;
  framing_key: 'octet' | 'lf' | 'nul';
  path: string;
  frames: { offset: number; length: number }[];
  count: number;
}

function loadCases(): StreamCase[] {
  if (!existsSync(manifestPath)) throw new Error(`syslog wire corpus not found at ${manifestPath}`);
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { cases: StreamCase[] };
  return m.cases.filter((c) => c.kind === 'stream');
}

const cases = loadCases();
// Large enough for the 70 KB oslo message (M13) in the NUL streams.
const MAX = 128 * 1024;
const SMALL_CASE_BYTES = 100_000; // all of today's cases; keeps the suite fast if bigger ones are added

function load(c: StreamCase): { data: Buffer; expected: Buffer[] } {
  const data = readFileSync(`${wireDir}${c.path.replace(/^wire\//, '')}`);
  return { data, expected: c.frames.map((f) => data.subarray(f.offset, f.offset + f.length)) };
}

function expectFrames(got: { raw: Buffer; flags: number }[], expected: Buffer[]): void {
  expect(got.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(got[i]!.flags, `frame ${i} flags`).toBe(0);
    if (!got[i]!.raw.equals(expected[i]!)) {
      expect(got[i]!.raw.toString('latin1'), `frame ${i}`).toBe(expected[i]!.toString('latin1'));
    }
  }
}

describe('StreamFramer on the wire corpus (auto mode)', () => {
  it('has every stream case', () => {
    expect(cases.length).toBeGreaterThanOrEqual(17);
    expect(new Set(cases.map((c) => c.framing_key))).toEqual(new Set(['octet', 'lf', 'nul']));
  });

  describe.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { data, expected } = load(c);

    it('whole stream in one chunk', () => {
      const { frames, framer } = frameAll([data], { maxFrameBytes: MAX });
      expectFrames(frames, expected);
      if (c.framing_key !== 'octet') expect(framer.terminator).toBe(c.framing_key);
    });

    it('random chunks of 1 byte to 4 KB (several seeds)', () => {
      for (const seed of [1, 2, 3, 42, 1234]) {
        expectFrames(frameAll(randomChunks(data, seed, 4096), { maxFrameBytes: MAX }).frames, expected);
      }
    });

    it.runIf(data.length <= SMALL_CASE_BYTES)('one byte at a time', () => {
      const chunks = Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
      expectFrames(frameAll(chunks, { maxFrameBytes: MAX }).frames, expected);
    });

    it(`forced '${c.framing_key}' mode gives the same frames`, () => {
      expectFrames(frameAll(randomChunks(data, 7, 4096), { maxFrameBytes: MAX, mode: c.framing_key }).frames, expected);
    });

    it('with a small maximum, long frames are truncated and the next frame is intact', () => {
      const max = 1000;
      const { frames } = frameAll(randomChunks(data, 9, 4096), { maxFrameBytes: max });
      expect(frames.length).toBe(expected.length);
      frames.forEach((f, i) => {
        const e = expected[i]!;
        expect(f.raw.equals(e.subarray(0, max)), `frame ${i}`).toBe(true);
        expect(f.flags).toBe(e.length > max ? FLAG_TRUNCATED : 0);
      });
    });
  });
});
