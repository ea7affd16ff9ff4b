import { describe, expect, it } from 'vitest';
import { Allowlist, parseCidr } from '../../src/receive/allowlist.js';

describe('parseCidr', () => {
  it('parses IPv4 and IPv6 networks and bare hosts', () => {
    expect(parseCidr('127.0.0.0/8')).toEqual({ address: '127.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr(' 10.1.2.3 ')).toEqual({ address: '10.1.2.3', prefix: 32, family: 'ipv4' });
    expect(parseCidr('::1/128')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
    expect(parseCidr('fd00::')).toEqual({ address: 'fd00::', prefix: 128, family: 'ipv6' });
    expect(parseCidr('0.0.0.0/0').prefix).toBe(0);
  });

  it.each(['', '/8', '127.0.0.0/', '127.0.0.0/33', '::1/129', '127.0.0.0/8/8', '127.0.0.0/-1', '127.0.0.0/ 8',
    '256.0.0.0/8', 'localhost', '10.0.0.0/x', 'fe80::1%eth0/64', '[::1]/128', '127.0.0.0/0008'])('rejects %j', (s) => {
    expect(() => parseCidr(s)).toThrow(/expected an IPv4 or IPv6 network like 127\.0\.0\.0\/8 or ::1\/128, got "/);
  });

  it('quotes the input in the error', () => {
    expect(() => parseCidr('10.0.0/8')).toThrow('got "10.0.0/8"');
  });
});

describe('Allowlist', () => {
  it('an empty list allows everyone', () => {
    const a = new Allowlist([]);
    expect(a.allows('203.0.113.9')).toBe(true);
    expect(a.allows('2001:db8::1')).toBe(true);
  });

  it('matches IPv4 networks, including IPv4-mapped IPv6 peers of dual-stack sockets', () => {
    const a = new Allowlist(['127.0.0.0/8', '192.168.10.0/24']);
    expect(a.allows('127.0.0.1')).toBe(true);
    expect(a.allows('::ffff:127.0.0.1')).toBe(true);
    expect(a.allows('::ffff:192.168.10.200')).toBe(true);
    expect(a.allows('192.168.11.1')).toBe(false);
    expect(a.allows('::ffff:192.168.11.1')).toBe(false);
    expect(a.allows('::1')).toBe(false);
  });

  it('matches IPv6 networks', () => {
    const a = new Allowlist(['::1/128', '2001:db8:1::/48']);
    expect(a.allows('::1')).toBe(true);
    expect(a.allows('2001:db8:1:ffff::5')).toBe(true);
    expect(a.allows('2001:db8:2::5')).toBe(false);
    expect(a.allows('127.0.0.1')).toBe(false);
  });

  it('a bare address is one host; host bits past the prefix are ignored', () => {
    expect(new Allowlist(['10.0.0.5']).allows('10.0.0.6')).toBe(false);
    expect(new Allowlist(['10.0.0.5']).allows('10.0.0.5')).toBe(true);
    expect(new Allowlist(['10.9.9.9/8']).allows('10.1.2.3')).toBe(true);
    expect(new Allowlist(['0.0.0.0/0']).allows('198.51.100.1')).toBe(true);
  });

  it('rejects what is not an address when the list is not empty', () => {
    expect(new Allowlist(['127.0.0.0/8']).allows('')).toBe(false);
    expect(new Allowlist(['127.0.0.0/8']).allows('localhost')).toBe(false);
  });

  it('throws on a bad entry', () => {
    expect(() => new Allowlist(['127.0.0.0/8', 'nope'])).toThrow(/expected/);
  });
});
