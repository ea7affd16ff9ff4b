// Argument checks, done before anything is sent: a value the node would refuse is a bug in the
// caller, thrown as a TypeError rather than a round trip and an RPC error.

/** A txid or block hash in display hex. */
export const HEX32 = /^[0-9a-fA-F]{64}$/;

export function need(ok: boolean, what: string): void {
  if (!ok) throw new TypeError(`bitcoind rpc: invalid ${what}`);
}

/** Core's fee_rate (sat/vB) takes at most 3 decimals. */
export function satVb(rate: number, what: string): number {
  need(Number.isFinite(rate) && rate > 0, what);
  return Math.round(rate * 1000) / 1000;
}
