import { describe, expect, it } from 'vitest';
import { FLAG_INCOMPLETE, FLAG_TRUNCATED } from '../../src/chain/entry-format.js';
import { StreamFramer, type FramingMode } from '../../src/receive/framing.js';

type Out = [string, number];

/** Feeds each string as one chunk, then closes; returns [raw (latin1), flags] pairs. */
function run(chunks: string[], mode: FramingMode = 'auto', maxFrameBytes = 1000): { out: Out[]; f: StreamFramer } {
  const f = new StreamFramer({ maxFrameBytes, mode });
  const frames = chunks.flatMap((c) => f.push(Buffer.from(c, 'latin1')));
  frames.push(...f.end());
  return { out: frames.map((x) => [x.raw.toString('latin1'), x.flags]), f };
}

describe('octet counting', () => {
  it('strips "LEN SP"; the count covers LFs inside', () => {
    expect(run(['10 <13>a\nb\ncd5 <14>x']).out).toEqual([['<13>a\nb\ncd', 0], ['<14>x', 0]]);
  });

  it('a count header cut by chunk boundaries', () => {
    expect(run(['1', '5', ' ', '<13>hello wo', 'rld']).out).toEqual([['<13>hello world', 0]]);
  });

  it('digits not followed by SP "<" start a terminator frame (no-PRI line)', () => {
    expect(run(['2026-11-26 12:00:00 hello\n', '12 x\n', '7', ' ', 'y\n']).out).toEqual([
      ['2026-11-26 12:00:00 hello', 0],
      ['12 x', 0],
      ['7 y', 0],
    ]);
  });

  it('a leading zero is not a count', () => {
    expect(run(['05 <13>abcd\n']).out).toEqual([['05 <13>abcd', 0]]);
  });

  it('an octet frame exactly maxFrameBytes long is not truncated; one byte more is', () => {
    expect(run(['4 <abc', '5 <abcd'], 'auto', 4).out).toEqual([['<abc', 0], ['<abc', FLAG_TRUNCATED]]);
  });

  it('an over-long count is emitted as soon as max bytes arrive, then the rest is skipped', () => {
    const f = new StreamFramer({ maxFrameBytes: 4 });
    expect(f.push(Buffer.from('8 <ab')).length).toBe(0);
    expect(f.push(Buffer.from('cd')).map((x) => [x.raw.toString(), x.flags])).toEqual([['<abc', FLAG_TRUNCATED]]);
    expect(f.bufferedBytes).toBe(0);
    expect(f.inFrame).toBe(true);
    expect(f.push(Buffer.from('efg3 <xy')).map((x) => x.raw.toString())).toEqual(['<xy']);
    expect(f.skippedBytes).toBe(4);
  });

  it('a half-read header at close is emitted INCOMPLETE', () => {
    expect(run(['12']).out).toEqual([['12', FLAG_INCOMPLETE]]);
    expect(run(['12 ']).out).toEqual([['12 ', FLAG_INCOMPLETE]]);
  });
});

describe('terminator detection (auto)', () => {
  it('LF first, no NUL: LF framing; every LF ends a frame; CR stays', () => {
    const { out, f } = run(['<13>a\r\n<13>b\nc\n']);
    expect(out).toEqual([['<13>a\r', 0], ['<13>b', 0], ['c', 0]]);
    expect(f.terminator).toBe('lf');
  });

  it('NUL first: NUL framing, LFs stay inside messages', () => {
    const { out, f } = run(['<13>a\0<13>b\nTraceback\n  x\0']);
    expect(out).toEqual([['<13>a', 0], ['<13>b\nTraceback\n  x', 0]]);
    expect(f.terminator).toBe('nul');
  });

  it('LF then NUL in the data at hand: NUL framing (Python message with a traceback first)', () => {
    expect(run(['<11>boom\nTraceback\n\0<14>next\0']).out).toEqual([['<11>boom\nTraceback\n', 0], ['<14>next', 0]]);
  });

  it('the decision uses only the data at hand: LF with no NUL yet decides LF for good', () => {
    expect(run(['<11>boom\n', 'Traceback\0<14>next\n']).out).toEqual([['<11>boom', 0], ['Traceback\0<14>next', 0]]);
  });

  it('leading empty frames are counted and do not decide', () => {
    const { out, f } = run(['\n\n\0<13>a\0b\n\0']);
    expect(out).toEqual([['<13>a', 0], ['b\n', 0]]);
    expect(f.emptyFrames).toBe(3);
  });

  it('empty and whitespace-only frames between messages are dropped and counted', () => {
    const { out, f } = run(['<13>a\n\n\n<13>b\r\n\r\n \t\n<13>c\n']);
    expect(out).toEqual([['<13>a', 0], ['<13>b\r', 0], ['<13>c', 0]]);
    expect(f.emptyFrames).toBe(4);
  });

  it('octet frames and LF frames mix on one connection', () => {
    expect(run(['<13>a\n5 <1\nb>', '<13>c\n']).out).toEqual([['<13>a', 0], ['<1\nb>', 0], ['<13>c', 0]]);
  });
});

describe('forced modes', () => {
  it("'lf' and 'nul' do no octet detection", () => {
    expect(run(['5 <abc\n'], 'lf').out).toEqual([['5 <abc', 0]]);
    expect(run(['5 <abc\n\0'], 'nul').out).toEqual([['5 <abc\n', 0]]);
  });

  it("'lf' keeps NULs, 'nul' keeps LFs", () => {
    expect(run(['a\0b\nc\n'], 'lf').out).toEqual([['a\0b', 0], ['c', 0]]);
    expect(run(['\na\nb\0'], 'nul').out).toEqual([['\na\nb', 0]]);
  });

  it("'octet': bytes that are not a frame become one frame, up to the next count header", () => {
    const { out, f } = run(['junk 12 x 0', '5 <abcd 1', '1 <12345678', '90 noise'], 'octet');
    expect(out).toEqual([
      ['junk 12 x 05 <abcd ', 0],
      ['<1234567890', 0],
      [' noise', FLAG_INCOMPLETE],
    ]);
    expect(f.garbageFrames).toBe(2);
  });

  it("'octet': LF, NUL and blank runs between frames are empty frames", () => {
    const { out, f } = run(['3 <ab\n\x003 <cd\r\n3 <ef\r\n'], 'octet');
    expect(out).toEqual([['<ab', 0], ['<cd', 0], ['<ef', 0]]);
    expect(f.emptyFrames).toBe(4);
    expect(f.garbageFrames).toBe(2);
  });

  it("'octet': over-long garbage is truncated and resync still works", () => {
    expect(run(['xxxxxxxxxx', 'yy 3 <ab'], 'octet', 4).out).toEqual([['xxxx', FLAG_TRUNCATED], ['<ab', 0]]);
  });
});

describe('limits and close', () => {
  it('a terminator frame over max is truncated, its tail skipped up to the terminator', () => {
    const { out, f } = run(['<13>abcdef', 'ghij\n<13>k\n'], 'auto', 6);
    expect(out).toEqual([['<13>ab', FLAG_TRUNCATED], ['<13>k', 0]]);
    expect(f.skippedBytes).toBe(8);
  });

  it('a terminator frame of exactly max bytes is kept whole even when its terminator comes later', () => {
    expect(run(['<13>ab', '\n'], 'auto', 6).out).toEqual([['<13>ab', 0]]);
  });

  it('partial frames at close are INCOMPLETE; whitespace-only tails are dropped', () => {
    expect(run(['<13>a\n<13>par', 'tial']).out).toEqual([['<13>a', 0], ['<13>partial', FLAG_INCOMPLETE]]);
    expect(run(['9 <13>ab']).out).toEqual([['<13>ab', FLAG_INCOMPLETE]]);
    const { out, f } = run(['<13>a\n \r']);
    expect(out).toEqual([['<13>a', 0]]);
    expect(f.emptyFrames).toBe(1);
  });

  it('bufferedBytes counts the held partial frame', () => {
    const f = new StreamFramer({ maxFrameBytes: 100 });
    f.push(Buffer.from('<13>abc'));
    expect(f.bufferedBytes).toBe(7);
    f.push(Buffer.from('\n123'));
    expect(f.bufferedBytes).toBe(3);
    f.end();
    expect(f.bufferedBytes).toBe(0);
  });

  it('rejects a maximum that is not a positive integer', () => {
    expect(() => new StreamFramer({ maxFrameBytes: 0 })).toThrow(RangeError);
    expect(() => new StreamFramer({ maxFrameBytes: 1.5 })).toThrow(RangeError);
  });
});
