import { describe, expect, it } from 'vitest';
import { parseHostPort } from '../../src/receive/address.js';

describe('parseHostPort', () => {
  it.each([
    ['127.0.0.1:5514', '127.0.0.1', 5514],
    ['[::1]:5514', '::1', 5514],
    ['0.0.0.0:514', '0.0.0.0', 514],
    ['[::]:514', '::', 514],
    ['localhost:5514', 'localhost', 5514],
    ['log-host.example.org:6514', 'log-host.example.org', 6514],
    ['[fe80::1%eth0]:514', 'fe80::1%eth0', 514],
    [' 127.0.0.1:0 ', '127.0.0.1', 0],
    ['127.0.0.1:65535', '127.0.0.1', 65535],
  ])('%j', (s, host, port) => {
    expect(parseHostPort(s)).toEqual({ host, port });
  });

  it.each(['', '5514', ':5514', '127.0.0.1', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:-1', '127.0.0.1:55 14',
    '::1:5514', '[::1]', '[::1]5514', '[127.0.0.1]:514', '[nothost]:514', 'host name:514', '127.0.0.1:0x10', '127.0.0.1:123456'])(
    'rejects %j',
    (s) => {
      expect(() => parseHostPort(s)).toThrow(/expected HOST:PORT \(IPv6 in brackets, e\.g\. \[::1\]:5514\), got "/);
    },
  );
});
