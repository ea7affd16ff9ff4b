/**
 * Every option of the daemon: its section, its command-line flag, its default and a one-line
 * help. The sample config in etc/ and the CLI flags are both checked against this table.
 */
export type OptionKind = 'string' | 'int' | 'list' | 'enum' | 'path' | 'listen-list';

export interface OptionSpec {
  section: string;
  name: string;
  flag: string;
  kind: OptionKind;
  default: string;
  help: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** The value for the installed service, which the sample config (etc/immutalog.conf) sets; the default serves a bare run. */
  installed?: string;
}

/** Largest message anyone may configure: bigger frames would let one connection pin too much memory. */
export const MAX_MESSAGE_BYTES_LIMIT = 16 * 1024 * 1024;

export const OPTIONS: readonly OptionSpec[] = [
  { section: 'DEFAULT', name: 'data_dir', flag: 'data-dir', kind: 'path', default: './data', installed: '/var/lib/immutalog', help: 'Directory holding the database, the key-state file and status.json.' },
  { section: 'DEFAULT', name: 'log_level', flag: 'log-level', kind: 'enum', default: 'info', choices: ['error', 'warn', 'info', 'debug'], help: "Level of the daemon's own log (stderr)." },
  { section: 'DEFAULT', name: 'metrics', flag: 'metrics', kind: 'listen-list', default: '', help: 'Prometheus endpoint (GET /metrics) as HOST:PORT; keep it on loopback, it has no authentication. Empty: off.' },
  { section: 'syslog', name: 'udp', flag: 'udp', kind: 'listen-list', default: '127.0.0.1:5514', help: 'UDP listeners, comma-separated HOST:PORT (IPv6 in brackets). Empty for none. The udp and tcp defaults hold only while no listener (udp, tcp, tls, relp, relp_tls) is given.' },
  { section: 'syslog', name: 'tcp', flag: 'tcp', kind: 'listen-list', default: '127.0.0.1:5514', help: 'TCP listeners (octet-counted, LF or NUL framing), comma-separated HOST:PORT.' },
  { section: 'syslog', name: 'tls', flag: 'tls', kind: 'listen-list', default: '', help: 'TLS listeners (RFC 5425), comma-separated HOST:PORT; need tls_cert and tls_key.' },
  { section: 'syslog', name: 'relp', flag: 'relp', kind: 'listen-list', default: '', help: "RELP listeners (rsyslog's omrelp), comma-separated HOST:PORT: a message is acknowledged once it is committed." },
  { section: 'syslog', name: 'relp_tls', flag: 'relp-tls', kind: 'listen-list', default: '', help: 'RELP over TLS (omrelp tls="on"), comma-separated HOST:PORT; use tls_cert, tls_key and tls_client_ca.' },
  { section: 'syslog', name: 'tls_cert', flag: 'tls-cert', kind: 'path', default: '', help: 'PEM certificate (chain) of the TLS and RELP-over-TLS listeners.' },
  { section: 'syslog', name: 'tls_key', flag: 'tls-key', kind: 'path', default: '', help: 'PEM private key of the TLS and RELP-over-TLS listeners.' },
  { section: 'syslog', name: 'tls_client_ca', flag: 'tls-client-ca', kind: 'path', default: '', help: 'PEM CA bundle; when set, TLS clients must present a certificate it signed.' },
  { section: 'syslog', name: 'allow', flag: 'allow', kind: 'list', default: '', help: 'Source networks allowed to send, comma-separated CIDRs. Empty allows every source.' },
  { section: 'syslog', name: 'max_message_bytes', flag: 'max-message-bytes', kind: 'int', default: '131072', min: 480, max: MAX_MESSAGE_BYTES_LIMIT, help: 'Longer messages are stored truncated and flagged (RFC 5424 asks receivers to take at least 480).' },
  { section: 'syslog', name: 'max_connections', flag: 'max-connections', kind: 'int', default: '512', min: 1, max: 65535, help: 'Open TCP/TLS connections per listener, TLS handshakes included. When full, a new connection replaces one that never sent a message (or the idlest of the source holding the most); otherwise it is refused. Both are counted.' },
  { section: 'syslog', name: 'max_connections_per_source', flag: 'max-connections-per-source', kind: 'int', default: '128', min: 1, max: 65535, help: 'Open TCP/TLS connections per listener from one source address; more are refused and counted.' },
  { section: 'syslog', name: 'handshake_timeout', flag: 'handshake-timeout', kind: 'int', default: '10', min: 1, max: 300, help: 'Seconds from the accept within which a TLS handshake must finish; otherwise the connection is closed and counted.' },
  { section: 'syslog', name: 'idle_timeout', flag: 'idle-timeout', kind: 'int', default: '0', min: 0, max: 7 * 86400, help: "Seconds a connection may send nothing before it is closed; 0: never (Python's SysLogHandler keeps one connection through hours of quiet and never reconnects)." },
  { section: 'syslog', name: 'frame_timeout', flag: 'frame-timeout', kind: 'int', default: '30', min: 1, max: 86400, help: 'Seconds a connection may hold half a frame without progress before it is stored as incomplete and closed.' },
  { section: 'syslog', name: 'framing', flag: 'framing', kind: 'enum', default: 'auto', choices: ['auto', 'octet', 'lf', 'nul'], help: 'Stream framing: auto detects octet counting per frame and LF or NUL per connection.' },
  { section: 'syslog', name: 'udp_reader', flag: 'udp-reader', kind: 'enum', default: 'native', choices: ['native', 'thread', 'main'], help: 'Where UDP sockets are read: native (a C thread that only takes datagrams off with recvmmsg, holding up to 8 MiB while the write queue is congested; README, Receiving; thread when the addon is not built), thread (the same on a JS thread) or main (between the write path\'s other work: more loss in bursts).' },
  { section: 'chain', name: 'checkpoint_entries', flag: 'checkpoint-entries', kind: 'int', default: '10000', min: 1, max: 10_000_000, help: 'A signed checkpoint closes the open block once it holds this many entries (messages arriving while one is being written join the next block).' },
  { section: 'chain', name: 'checkpoint_interval', flag: 'checkpoint-interval', kind: 'int', default: '60', min: 1, max: 86400, help: 'Seconds between checkpoints at the latest; also the heartbeat of an idle receiver, so verify can tell a cut-off tail.' },
  { section: 'chain', name: 'commit_delay_ms', flag: 'commit-delay-ms', kind: 'int', default: '10', min: 1, max: 1000, help: 'A received message is committed to SQLite at most this long after it arrived (plus the commit itself).' },
  { section: 'chain', name: 'commit_batch', flag: 'commit-batch', kind: 'int', default: '1024', min: 1, max: 1_000_000, help: 'A batch is committed as soon as it holds this many messages.' },
  { section: 'chain', name: 'queue_high_water_bytes', flag: 'queue-high-water-bytes', kind: 'int', default: String(4 * 1024 * 1024), min: 65536, max: 4 * 1024 * 1024 * 1024, help: 'Above this many queued bytes, TCP/TLS senders are paused until the queue drains.' },
  { section: 'bitcoin', name: 'rpc_url', flag: 'bitcoin-rpc', kind: 'string', default: '', help: "Bitcoin Core JSON-RPC URL, e.g. http://127.0.0.1:8332. Empty: anchoring is off and checkpoints wait, reported as unanchored." },
  { section: 'bitcoin', name: 'rpc_cookie_file', flag: 'bitcoin-cookie', kind: 'path', default: '', help: "bitcoind's .cookie file (re-read when the node restarts). Or use rpc_user and rpc_password." },
  { section: 'bitcoin', name: 'rpc_user', flag: 'bitcoin-user', kind: 'string', default: '', help: 'RPC user (rpcauth), instead of the cookie.' },
  { section: 'bitcoin', name: 'rpc_password', flag: 'bitcoin-password', kind: 'string', default: '', help: 'RPC password (rpcauth), instead of the cookie.' },
  { section: 'bitcoin', name: 'wallet', flag: 'bitcoin-wallet', kind: 'string', default: 'immutalog', help: 'Name of the funded Bitcoin Core wallet that pays for anchors.' },
  { section: 'anchor', name: 'interval', flag: 'anchor-interval', kind: 'int', default: '3600', min: 10, max: 7 * 86400, help: 'Seconds between anchor rounds (each wait randomised by 10 %); one transaction per round, however many checkpoints.' },
  { section: 'anchor', name: 'conf_target', flag: 'anchor-conf-target', kind: 'int', default: '6', min: 1, max: 1008, help: 'Confirmation target in blocks for the fee estimate.' },
  { section: 'anchor', name: 'fallback_fee_rate', flag: 'anchor-fallback-fee-rate', kind: 'int', default: '2', min: 1, max: 10000, help: 'sat/vB when the node has no fee estimate (young nodes, regtest).' },
  { section: 'anchor', name: 'max_fee_rate', flag: 'anchor-max-fee-rate', kind: 'int', default: '50', min: 1, max: 10000, help: 'Never pay more than this many sat/vB, bumps included.' },
  { section: 'anchor', name: 'max_fee', flag: 'anchor-max-fee', kind: 'int', default: '20000', min: 100, max: 100_000_000, help: 'Never pay more than this many sats for one anchor, bumps included.' },
  { section: 'anchor', name: 'final_confirmations', flag: 'anchor-final-confirmations', kind: 'int', default: '6', min: 1, max: 1000, help: 'An anchor is final at this depth; shallower reorgs are followed.' },
  { section: 'anchor', name: 'stuck_blocks', flag: 'anchor-stuck-blocks', kind: 'int', default: '3', min: 1, max: 1000, help: 'An anchor not mined after this many new blocks is bumped by replace-by-fee, within the caps.' },
  { section: 'anchor', name: 'poll_interval', flag: 'anchor-poll-interval', kind: 'int', default: '30', min: 1, max: 3600, help: 'Seconds between checks of the node for new blocks, confirmations and reorgs.' },
];

export function findOption(section: string, name: string): OptionSpec | undefined {
  return OPTIONS.find((o) => o.section === section && o.name === name);
}
