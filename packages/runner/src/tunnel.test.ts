import { describe, expect, it } from 'vitest';
import { parseListeners, targetFor } from './tunnel.js';

// Lines as Linux prints them (header, a LISTEN on 127.0.0.1:8080, a LISTEN on 0.0.0.0:3000, an ESTABLISHED one).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1234 1 0 100 0 0 10 0
   1: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1235 1 0 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 1236 1 0 20 4 30 10 -1
garbage
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1388 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 99 1 0 100 0 0 10 0
`;

describe('tunnel listener check', () => {
  it('reads LISTEN sockets from /proc/net/tcp and tcp6, skipping other states and malformed lines', () => {
    expect(parseListeners(TCP, 4)).toEqual([
      { family: 4, address: '127.0.0.1', port: 8080, uid: 1000 },
      { family: 4, address: '0.0.0.0', port: 3000, uid: 1000 },
    ]);
    expect(parseListeners(TCP6, 6)).toEqual([
      { family: 6, address: '00000000000000000000000001000000', port: 5000, uid: 1000 },
    ]);
  });

  it('connects to loopback for IPv4 listeners, ::1 for IPv6-only ones, and nowhere for closed ports', () => {
    const all = [...parseListeners(TCP, 4), ...parseListeners(TCP6, 6)];
    expect(targetFor(all, 8080)).toBe('127.0.0.1');
    expect(targetFor(all, 3000)).toBe('127.0.0.1');
    expect(targetFor(all, 5000)).toBe('::1');
    expect(targetFor(all, 9)).toBeNull();
  });
});
