/** What each listener counts; exported by status and the metrics endpoint. */
export interface ListenerCounters {
  received: number;
  bytes: number;
  truncated: number;
  incomplete: number;
  invalidUtf8: number;
  emptyFrames: number;
  /** Connections or datagrams from a source outside `allow` (closed before any byte is read or sent). */
  rejectedSources: number;
  /** Connections refused because the listener held max_connections and none could make room. */
  rejectedConnections: number;
  /** Connections refused because their source held max_connections_per_source. */
  rejectedPerSource: number;
  /** Connections closed to make room for a new one when the listener was full. */
  evictedConnections: number;
  /** TLS connections closed because their handshake did not finish within handshake_timeout. */
  handshakeTimeouts: number;
  /** Connections closed after idle_timeout seconds without a byte (off by default). */
  idleTimeouts: number;
  /** Connections closed because half a frame made no progress for frame_timeout seconds. */
  frameTimeouts: number;
  connectionErrors: number;
  /** TLS handshakes that failed (bad certificate, not TLS at all, reset during the handshake). */
  tlsFailures: number;
  /** Datagrams the kernel dropped before we could read them (from /proc/net/udp), UDP only. */
  kernelDrops: number;
  /** Datagrams we dropped ourselves because the write queue was over its hard limit. */
  queueDrops: number;
  /** RELP only: sessions closed for a frame or command that breaks the protocol. */
  protocolErrors: number;
  /** RELP only: messages that may be resent copies of one already received (README "Redelivery"). */
  possibleRedeliveries: number;
}

export function newCounters(): ListenerCounters {
  return {
    received: 0, bytes: 0, truncated: 0, incomplete: 0, invalidUtf8: 0, emptyFrames: 0,
    rejectedSources: 0, rejectedConnections: 0, rejectedPerSource: 0, evictedConnections: 0,
    handshakeTimeouts: 0, idleTimeouts: 0, frameTimeouts: 0, connectionErrors: 0,
    tlsFailures: 0, kernelDrops: 0, queueDrops: 0, protocolErrors: 0, possibleRedeliveries: 0,
  };
}
