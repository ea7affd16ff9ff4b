import type { AnchorSummary } from './anchors.js';
import type { ChainSummary } from './anchor-chain.js';
import type { Failure, ReasonCode } from './failures.js';

// What a verify run reports: the shape of `verify --json` (with the verdict and reason codes
// the CLI adds) and of the state file.

/** What an auditor keeps between runs (`verify --state FILE`). */
export interface AuditorState {
  fingerprint: string;
  checkpoint: number;
  hash: string;
  verified_at: string;
}

export interface UnverifiedWindow {
  block: number;
  firstSeq: number;
  lastSeq: number;
  firstTimeUs: number | undefined;
  lastTimeUs: number | undefined;
  why: string;
}

/** What the signed checkpoints of the blocks checked prove: their entries and their time span. */
export interface ProvedRange {
  firstBlock: number;
  lastBlock: number;
  firstSeq: number;
  /** Exclusive. */
  endSeq: number;
  fromUs: number;
  toUs: number;
}

export interface VerifyReport {
  fingerprint: string;
  identityPinned: boolean;
  /** The pinned identity is this log's (false when not pinned or not matched). */
  identityMatched: boolean;
  requested: { sinceUs: number | null; untilUs: number | null };
  proved: ProvedRange | null;
  found: { firstSeq: number | null; lastSeq: number | null; firstTimeUs: number | null; lastTimeUs: number | null };
  counts: { entries: number; blocks: number; checkpoints: number; openBlockEntries: number; otherParserVersion: number };
  newestCheckpoint: { index: number; timeUs: number; ageUs: number; reason: string } | null;
  unverified: UnverifiedWindow[];
  resumedFrom: number | null;
  anchors: AnchorSummary & { chain: ChainSummary };
  /** The earliest failures in log order, at most maxFailures of them. */
  failures: Failure[];
  failureCount: number;
  failuresByCode: Partial<Record<ReasonCode, number>>;
  /** The state to remember for the next run; only when nothing failed. */
  nextState: AuditorState | null;
}
