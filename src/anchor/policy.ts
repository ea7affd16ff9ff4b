/** Fee and lifecycle policy of the anchorer; every value is a config option. */
export interface AnchorPolicy {
  /** Mean seconds between rounds; each wait is randomised by ±10 % so receivers do not sync up. */
  intervalSec: number;
  /** estimatesmartfee target, in blocks. */
  confTarget: number;
  /** sat/vB used when the node has no estimate (always so on regtest and on young nodes). */
  fallbackFeeRate: number;
  /** Never pay more than this many sat/vB... */
  maxFeeRate: number;
  /** ...nor more than this many sats for one anchor, bumps included. */
  maxFeeSats: number;
  /** An anchor is final at this depth; reorgs below it are followed. */
  finalConfirmations: number;
  /** A broadcast anchor still unconfirmed after this many new blocks is bumped (replace-by-fee). */
  stuckBlocks: number;
  /** Seconds between lifecycle polls of the node (new blocks, confirmations, reorgs). */
  pollSec: number;
}

export const DEFAULT_ANCHOR_POLICY: AnchorPolicy = {
  intervalSec: 3600,
  confTarget: 6,
  fallbackFeeRate: 2,
  maxFeeRate: 50,
  maxFeeSats: 20_000,
  finalConfirmations: 6,
  stuckBlocks: 3,
  pollSec: 30,
};

/** The next rate of a bump: at least 25 % and 1 sat/vB more (BIP 125 needs strictly more), within the cap. */
export function nextBumpRate(current: number, p: AnchorPolicy): number | undefined {
  const next = Math.ceil(Math.max(current * 1.25, current + 1) * 1000) / 1000;
  return next <= p.maxFeeRate ? next : undefined;
}

/** The wait before the next round: the interval, randomised by ±10 %. */
export function jitteredIntervalMs(p: AnchorPolicy, random: () => number = Math.random): number {
  return Math.round(p.intervalSec * 1000 * (0.9 + 0.2 * random()));
}

export function clampFeeRate(rate: number | undefined, p: AnchorPolicy): number {
  const r = rate !== undefined && Number.isFinite(rate) && rate > 0 ? rate : p.fallbackFeeRate;
  return Math.min(p.maxFeeRate, Math.max(1, Math.round(r * 1000) / 1000));
}
