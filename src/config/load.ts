import { readFileSync } from 'node:fs';
import { parseHostPort } from '../receive/address.js';
import { parseCidr } from '../receive/allowlist.js';
import { ConfigError, parseIni } from './ini.js';
import { OPTIONS, findOption, type OptionSpec } from './options.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ServeConfig {
  dataDir: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  metrics: ListenAddress[];
  udp: ListenAddress[];
  tcp: ListenAddress[];
  tls: ListenAddress[];
  relp: ListenAddress[];
  relpTls: ListenAddress[];
  tlsCert: string;
  tlsKey: string;
  tlsClientCa: string;
  allow: string[];
  maxMessageBytes: number;
  maxConnections: number;
  maxConnectionsPerSource: number;
  handshakeTimeoutSec: number;
  /** 0: never. */
  idleTimeoutSec: number;
  frameTimeoutSec: number;
  framing: 'auto' | 'octet' | 'lf' | 'nul';
  udpReader: 'main' | 'thread' | 'native';
  checkpointEntries: number;
  checkpointIntervalSec: number;
  commitDelayMs: number;
  bitcoinRpcUrl: string;
  bitcoinCookieFile: string;
  bitcoinUser: string;
  bitcoinPassword: string;
  bitcoinWallet: string;
  anchorIntervalSec: number;
  anchorConfTarget: number;
  anchorFallbackFeeRate: number;
  anchorMaxFeeRate: number;
  anchorMaxFee: number;
  anchorFinalConfirmations: number;
  anchorStuckBlocks: number;
  anchorPollSec: number;
  commitBatch: number;
  queueHighWaterBytes: number;
}

/** The listener options: their embedded defaults hold only while none of them is given. */
const LISTENER_OPTIONS = ['udp', 'tcp', 'tls', 'relp', 'relp_tls'] as const;

/** A raw value and where it came from, for error messages. */
interface Source {
  value: string;
  where: string;
  file: string;
  line: number | undefined;
}

function fail(s: Source, spec: OptionSpec, expected: string): never {
  throw new ConfigError(s.file, s.line, `option ${spec.section === 'DEFAULT' ? '' : `[${spec.section}] `}${spec.name} (--${spec.flag}): expected ${expected}, got ${JSON.stringify(s.value)}`);
}

function splitList(v: string): string[] {
  return v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

function convert(spec: OptionSpec, s: Source): unknown {
  switch (spec.kind) {
    case 'string':
    case 'path':
      return s.value;
    case 'int': {
      if (!/^\d+$/.test(s.value)) fail(s, spec, 'a whole number');
      const n = Number(s.value);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) fail(s, spec, `a number from ${spec.min} to ${spec.max}`);
      return n;
    }
    case 'enum':
      if (!spec.choices!.includes(s.value)) fail(s, spec, `one of ${spec.choices!.join(', ')}`);
      return s.value;
    case 'list': {
      const items = splitList(s.value);
      if (spec.name === 'allow') {
        for (const c of items) {
          try {
            parseCidr(c);
          } catch {
            fail({ ...s, value: c }, spec, 'a network like 127.0.0.0/8 or ::1/128');
          }
        }
      }
      return items;
    }
    case 'listen-list':
      return splitList(s.value).map((hp) => {
        try {
          return parseHostPort(hp);
        } catch {
          return fail({ ...s, value: hp }, spec, 'HOST:PORT, IPv6 in brackets (e.g. [::1]:5514)');
        }
      });
  }
}

/** Which ServeConfig field each option fills (by option name; names are unique across sections). */
export const CONFIG_KEYS: Record<string, keyof ServeConfig> = {
  data_dir: 'dataDir', log_level: 'logLevel', metrics: 'metrics', udp: 'udp', tcp: 'tcp', tls: 'tls', relp: 'relp', relp_tls: 'relpTls', tls_cert: 'tlsCert', tls_key: 'tlsKey',
  tls_client_ca: 'tlsClientCa', allow: 'allow', max_message_bytes: 'maxMessageBytes', max_connections: 'maxConnections',
  max_connections_per_source: 'maxConnectionsPerSource', handshake_timeout: 'handshakeTimeoutSec', idle_timeout: 'idleTimeoutSec',
  frame_timeout: 'frameTimeoutSec', framing: 'framing', udp_reader: 'udpReader', checkpoint_entries: 'checkpointEntries', checkpoint_interval: 'checkpointIntervalSec', commit_delay_ms: 'commitDelayMs',
  rpc_url: 'bitcoinRpcUrl', rpc_cookie_file: 'bitcoinCookieFile', rpc_user: 'bitcoinUser', rpc_password: 'bitcoinPassword', wallet: 'bitcoinWallet',
  interval: 'anchorIntervalSec', conf_target: 'anchorConfTarget', fallback_fee_rate: 'anchorFallbackFeeRate', max_fee_rate: 'anchorMaxFeeRate',
  max_fee: 'anchorMaxFee', final_confirmations: 'anchorFinalConfirmations', stuck_blocks: 'anchorStuckBlocks', poll_interval: 'anchorPollSec', commit_batch: 'commitBatch',
  queue_high_water_bytes: 'queueHighWaterBytes',
};

/** Each option's raw value and where it came from; later layers replace earlier ones. */
type Sources = Map<OptionSpec, Source>;
type Flags = Record<string, string | string[] | undefined>;

/**
 * Embedded defaults, then the INI file, then command-line flags (a repeated flag such as
 * `--udp` gives a list). Unknown sections and options are errors that name the file line.
 */
export function loadServeConfig(opts: { file?: string; flags?: Flags }): ServeConfig {
  const sources: Sources = new Map();
  for (const spec of OPTIONS) sources.set(spec, { value: spec.default, where: 'default', file: '(embedded default)', line: undefined });
  if (opts.file !== undefined) addFile(sources, opts.file);
  addFlags(sources, opts.flags);
  dropListenerDefaults(sources);
  const out: Record<string, unknown> = {};
  for (const spec of OPTIONS) out[CONFIG_KEYS[spec.name]!] = convert(spec, sources.get(spec)!);
  const cfg = out as unknown as ServeConfig;
  checkTogether(cfg, sources, opts.file);
  return cfg;
}

function addFile(sources: Sources, file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, `cannot read the configuration file: ${(e as Error).message}`);
  }
  const doc = parseIni(text, file);
  for (const [section, entries] of doc) {
    if (!OPTIONS.some((o) => o.section === section)) {
      throw new ConfigError(file, entries.line, `unknown section [${section}]; known: ${[...new Set(OPTIONS.map((o) => o.section))].join(', ')}`);
    }
    for (const [name, v] of entries) {
      const spec = findOption(section, name);
      if (!spec) throw new ConfigError(file, v.line, `unknown option ${name} in [${section}]`);
      sources.set(spec, { value: v.value, where: 'file', file, line: v.line });
    }
  }
}

function addFlags(sources: Sources, flags: Flags | undefined): void {
  for (const spec of OPTIONS) {
    const f = flags?.[spec.flag];
    if (f === undefined) continue;
    const value = Array.isArray(f) ? f.join(',') : f;
    sources.set(spec, { value, where: 'flag', file: `--${spec.flag}`, line: undefined });
  }
}

/**
 * Listener defaults apply only when no listener is configured at all: `--tcp HOST:PORT` alone
 * must not also bind the default UDP port (a second instance would fail on a port it was never given).
 */
function dropListenerDefaults(sources: Sources): void {
  const listenerSpecs = LISTENER_OPTIONS.map((n) => findOption('syslog', n)!);
  if (listenerSpecs.some((spec) => sources.get(spec)!.where !== 'default')) {
    for (const spec of listenerSpecs) if (sources.get(spec)!.where === 'default') sources.set(spec, { ...sources.get(spec)!, value: '' });
  }
}

/** Rules over several options (each option alone is checked by convert). */
function checkTogether(cfg: ServeConfig, sources: Sources, file: string | undefined): void {
  if (cfg.dataDir.trim() === '') {
    const spec = findOption('DEFAULT', 'data_dir')!;
    fail(sources.get(spec)!, spec, 'a directory');
  }
  for (const [name, list] of [['tls', cfg.tls], ['relp_tls', cfg.relpTls]] as const) {
    if (list.length > 0 && (cfg.tlsCert === '' || cfg.tlsKey === '')) {
      const s = sources.get(findOption('syslog', name)!)!;
      throw new ConfigError(s.file, s.line, `option [syslog] ${name}: TLS listeners need tls_cert and tls_key (--tls-cert, --tls-key)`);
    }
  }
  if (cfg.bitcoinRpcUrl !== '') {
    const s = sources.get(findOption('bitcoin', 'rpc_url')!)!;
    let url: URL | undefined;
    try {
      url = new URL(cfg.bitcoinRpcUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new ConfigError(s.file, s.line, `option [bitcoin] rpc_url (--bitcoin-rpc): expected a URL like http://127.0.0.1:8332, got ${JSON.stringify(cfg.bitcoinRpcUrl)}`);
    }
    if (cfg.bitcoinCookieFile === '' && (cfg.bitcoinUser === '' || cfg.bitcoinPassword === '')) {
      throw new ConfigError(s.file, s.line, 'option [bitcoin] rpc_url: needs rpc_cookie_file (--bitcoin-cookie), or rpc_user and rpc_password');
    }
  }
  if (cfg.udp.length + cfg.tcp.length + cfg.tls.length + cfg.relp.length + cfg.relpTls.length === 0) {
    throw new ConfigError(file ?? '(flags)', undefined, 'no listener configured: set at least one of udp, tcp, tls, relp or relp_tls');
  }
}
