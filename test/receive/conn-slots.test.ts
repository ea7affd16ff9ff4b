// Who gets a slot, and who makes room, when a stream listener is full (src/receive/conn-slots.ts).
import { describe, expect, it } from 'vitest';
import { ConnectionSlots, SPEAKER_EVICTION_MIN_IDLE_MS } from '../../src/receive/conn-slots.js';

const IDLE = SPEAKER_EVICTION_MIN_IDLE_MS;

/** Admits `n` connections named prefix0.. from `source` at time `t`; returns their names. */
function fill(slots: ConnectionSlots<string>, prefix: string, source: string, n: number, t: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const c = `${prefix}${i}`;
    expect(slots.admit(c, source, t)).toEqual({ admitted: true });
    return c;
  });
}

describe('ConnectionSlots', () => {
  it('refuses past the per-source limit, whatever room is left, and takes the source again once one closes', () => {
    const s = new ConnectionSlots<string>({ total: 100, perSource: 3 });
    fill(s, 'a', '10.0.0.1', 3, 0);
    expect(s.admit('a3', '10.0.0.1', 0)).toEqual({ admitted: false, reason: 'source-limit' });
    expect(s.admit('b0', '10.0.0.2', 0)).toEqual({ admitted: true });
    s.release('a1');
    s.release('a1');
    expect(s.countOf('10.0.0.1')).toBe(2);
    expect(s.admit('a4', '10.0.0.1', 0)).toEqual({ admitted: true });
    expect(s.size).toBe(4);
  });

  it('when full, evicts the connection silent longest among those that never delivered a message', () => {
    const s = new ConnectionSlots<string>({ total: 4, perSource: 10 });
    fill(s, 'x', '10.0.0.9', 4, 0);
    s.touch('x0', 5); // sent half a frame at t=5: x1 is now the one silent longest
    expect(s.admit('new', '10.0.0.1', 6)).toEqual({ admitted: true, evict: 'x1' });
    expect(s.has('x1')).toBe(false);
    expect(s.size).toBe(4);
    expect(s.admit('new2', '10.0.0.1', 7)).toEqual({ admitted: true, evict: 'x2' });
  });

  it('never evicts a connection paused by backpressure (its bytes wait unread in the kernel)', () => {
    const s = new ConnectionSlots<string>({ total: 2, perSource: 10 });
    fill(s, 'x', '10.0.0.9', 2, 0);
    s.setPinned('x0', true);
    expect(s.admit('n0', '10.0.0.1', 1)).toEqual({ admitted: true, evict: 'x1' });
    s.spoke('n0', 1);
    // x0 is pinned, n0 spoke just now: nothing can make room.
    expect(s.admit('n1', '10.0.0.2', 2)).toEqual({ admitted: false, reason: 'total-limit' });
    s.setPinned('x0', false);
    expect(s.admit('n1', '10.0.0.2', 2)).toEqual({ admitted: true, evict: 'x0' });
  });

  it('a quiet speaker with one connection is not cut for a newcomer while a bigger source has an idle speaker', () => {
    const s = new ConnectionSlots<string>({ total: 4, perSource: 10 });
    s.admit('python', '10.0.0.5', 0);
    s.spoke('python', 0);
    for (const c of fill(s, 'h', '10.0.0.7', 3, 0)) s.spoke(c, 1000);
    // Hours later: python has been quiet longest, but the host holding 3 connections gives one up.
    const later = 3 * 3600_000;
    expect(s.admit('n0', '10.0.0.1', later)).toEqual({ admitted: true, evict: 'h0' });
    s.spoke('n0', later);
    expect(s.admit('n1', '10.0.0.2', later)).toEqual({ admitted: true, evict: 'h1' });
    s.spoke('n1', later);
    // Now every source holds one connection and the newcomer would hold as many: refused.
    expect(s.admit('n2', '10.0.0.3', later + IDLE)).toEqual({ admitted: false, reason: 'total-limit' });
    expect(s.has('python')).toBe(true);
  });

  it('a speaker active within the minimum idle time is never evicted', () => {
    const s = new ConnectionSlots<string>({ total: 3, perSource: 10 });
    for (const c of fill(s, 'h', '10.0.0.7', 3, 0)) s.spoke(c, 0);
    expect(s.admit('n', '10.0.0.1', IDLE - 1)).toEqual({ admitted: false, reason: 'total-limit' });
    s.touch('h0', IDLE - 1);
    // h1 is the idlest of the biggest source once the minimum has passed.
    expect(s.admit('n', '10.0.0.1', IDLE)).toEqual({ admitted: true, evict: 'h1' });
  });

  it('a source that reconnects replaces its own idlest connection, even when it is not bigger than the others', () => {
    const s = new ConnectionSlots<string>({ total: 4, perSource: 10 });
    for (const c of fill(s, 'a', '10.0.0.1', 2, 0)) s.spoke(c, 0);
    for (const c of fill(s, 'b', '10.0.0.2', 2, 0)) s.spoke(c, 0);
    s.touch('a0', 50);
    expect(s.admit('a2', '10.0.0.1', IDLE + 100)).toEqual({ admitted: true, evict: 'a1' });
    expect([s.countOf('10.0.0.1'), s.countOf('10.0.0.2')]).toEqual([2, 2]);
  });

  it('evicts from the source holding the most connections, not merely the idlest speaker', () => {
    const s = new ConnectionSlots<string>({ total: 6, perSource: 10 });
    for (const c of fill(s, 'small', '10.0.0.1', 2, 0)) s.spoke(c, 0);
    for (const c of fill(s, 'big', '10.0.0.2', 4, 0)) s.spoke(c, 500);
    expect(s.admit('n', '10.0.0.3', IDLE + 1000)).toEqual({ admitted: true, evict: 'big0' });
  });

  it('a silent connection is evicted before any speaker, however long the speaker has been quiet', () => {
    const s = new ConnectionSlots<string>({ total: 2, perSource: 10 });
    s.admit('quiet', '10.0.0.5', 0);
    s.spoke('quiet', 0);
    s.admit('bare', '10.0.0.6', 3600_000);
    expect(s.admit('n', '10.0.0.1', 7200_000)).toEqual({ admitted: true, evict: 'bare' });
  });
});
