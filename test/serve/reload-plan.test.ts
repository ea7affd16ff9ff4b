import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/load.js';
import { planReload, RELOADABLE } from '../../src/serve/reload-plan.js';

const base = loadServeConfig({ flags: { 'data-dir': '/tmp/x', tls: '127.0.0.1:6514', 'tls-cert': '/etc/c.pem', 'tls-key': '/etc/k.pem' } });

describe('planReload', () => {
  it('nothing changed: nothing to apply, nothing waits for a restart', () => {
    const p = planReload(base, { ...base });
    expect(p).toEqual({ apply: [], needsRestart: [], effective: base });
  });

  it('TLS files, allowlist, log level, limits and timeouts apply now', () => {
    const next = { ...base, tlsCert: '/etc/c2.pem', tlsKey: '/etc/k2.pem', allow: ['10.0.0.0/8'], logLevel: 'debug' as const, maxConnections: 7, maxConnectionsPerSource: 3, handshakeTimeoutSec: 2, idleTimeoutSec: 60, frameTimeoutSec: 5 };
    const p = planReload(base, next);
    expect(new Set(p.apply)).toEqual(new Set(['tlsCert', 'tlsKey', 'allow', 'logLevel', 'maxConnections', 'maxConnectionsPerSource', 'handshakeTimeoutSec', 'idleTimeoutSec', 'frameTimeoutSec']));
    expect(p.needsRestart).toEqual([]);
    expect(p.effective).toEqual(next);
  });

  it('listeners, data directory, chain and anchoring settings wait for a restart, named as in the INI file, and keep their running value', () => {
    const next = { ...base, tcp: [{ host: '127.0.0.1', port: 1 }], dataDir: '/elsewhere', checkpointEntries: 5, bitcoinRpcUrl: 'http://127.0.0.1:8332', maxMessageBytes: 1000, logLevel: 'warn' as const };
    const p = planReload(base, next);
    expect(p.apply).toEqual(['logLevel']);
    expect(new Set(p.needsRestart)).toEqual(new Set(['tcp', 'data_dir', 'checkpoint_entries', 'rpc_url', 'max_message_bytes']));
    expect(p.effective).toEqual({ ...base, logLevel: 'warn' });
  });

  it('another client CA bundle applies; switching mutual authentication on or off waits for a restart', () => {
    const withCa = { ...base, tlsClientCa: '/etc/ca.pem' };
    expect(planReload(withCa, { ...withCa, tlsClientCa: '/etc/ca2.pem' }).apply).toEqual(['tlsClientCa']);
    expect(planReload(base, withCa)).toMatchObject({ apply: [], needsRestart: ['tls_client_ca'], effective: base });
    expect(planReload(withCa, base)).toMatchObject({ apply: [], needsRestart: ['tls_client_ca'], effective: withCa });
  });

  it('every reloadable option is a field of the configuration', () => {
    for (const k of RELOADABLE) expect(Object.keys(base)).toContain(k);
  });
});
