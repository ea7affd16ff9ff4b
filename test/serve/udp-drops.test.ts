import { describe, expect, it } from 'vitest';
import { parseProcNetUdpDrops } from '../../src/serve/udp-drops.js';

// Lines as the Linux kernel prints them (columns from net/ipv4/udp.c udp4_format_sock).
const TABLE = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
11249: 0100007F:15BA 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 70159 2 00000000dae5e512 17
11250: 0100007F:15BB 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 70160 2 00000000dae5e513 5
`;
const TABLE6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 1234: 00000000000000000000000001000000:15BA 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81234 2 00000000aaaabbbb 3
`;

describe('UDP kernel drop counter', () => {
  it('reads the drops column of the socket bound to the port', () => {
    expect(parseProcNetUdpDrops(TABLE, 0x15ba)).toBe(17);
    expect(parseProcNetUdpDrops(TABLE, 0x15bb)).toBe(5);
    expect(parseProcNetUdpDrops(TABLE6, 5562)).toBe(3);
  });
  it('is 0 for a port with no socket and for garbage', () => {
    expect(parseProcNetUdpDrops(TABLE, 1)).toBe(0);
    expect(parseProcNetUdpDrops('garbage\nmore garbage', 5562)).toBe(0);
  });
});
