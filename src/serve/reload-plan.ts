// What a reload (SIGHUP) may change in a running daemon, and what only a restart can. Pure.
import { CONFIG_KEYS, type ServeConfig } from '../config/load.js';

/**
 * Options a running daemon takes on without closing a connection or losing a datagram: the TLS
 * material (new handshakes), the allowlist (new connections and every datagram), the log level,
 * the connection limits and timeouts (new connections; open ones keep theirs). Everything else
 * (listener addresses, the data directory, the chain and storage settings, anchoring) is built
 * into sockets, threads or the open block at start.
 */
export const RELOADABLE: ReadonlySet<keyof ServeConfig> = new Set<keyof ServeConfig>([
  'logLevel', 'allow', 'tlsCert', 'tlsKey', 'tlsClientCa', 'maxConnections', 'maxConnectionsPerSource',
  'handshakeTimeoutSec', 'idleTimeoutSec', 'frameTimeoutSec',
]);

const OPTION_OF = new Map<keyof ServeConfig, string>(Object.entries(CONFIG_KEYS).map(([name, key]) => [key, name]));

export interface ReloadPlan {
  /** Changed options that are applied now (ServeConfig keys). */
  apply: (keyof ServeConfig)[];
  /** Changed options (INI names) that keep their old value until a restart. */
  needsRestart: string[];
  /** The configuration in effect after the reload: the old one with `apply` taken from the new. */
  effective: ServeConfig;
}

/** The INI name of a ServeConfig key, for the log. */
export function optionName(key: keyof ServeConfig): string {
  return OPTION_OF.get(key) ?? key;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function planReload(running: ServeConfig, next: ServeConfig): ReloadPlan {
  const apply: (keyof ServeConfig)[] = [];
  const needsRestart: string[] = [];
  const effective = { ...running } as Record<keyof ServeConfig, unknown>;
  for (const key of Object.keys(next) as (keyof ServeConfig)[]) {
    if (same(running[key], next[key])) continue;
    // Mutual authentication switched on or off changes how the TLS server asks for certificates,
    // which node:tls fixes when the server is made; another CA bundle is only new material.
    const mutualToggled = key === 'tlsClientCa' && (running.tlsClientCa === '') !== (next.tlsClientCa === '');
    if (RELOADABLE.has(key) && !mutualToggled) {
      apply.push(key);
      effective[key] = next[key];
    } else {
      needsRestart.push(optionName(key));
    }
  }
  return { apply, needsRestart, effective: effective as unknown as ServeConfig };
}
