// Checking .ots files with Debian's python3-opentimestamps (test/clients/ots_verify.py): the
// library reads each file, replays its operations and checks the attestation against a block
// header; none of immutalog's code takes part.
import { join } from 'node:path';
import { CLIENTS_DIR, SYSTEM_PYTHON, requirePythonModules, runOk } from './proc.js';

export const OTS_VERIFY = join(CLIENTS_DIR, 'ots_verify.py');
/** The library, and python-bitcoinlib (a dependency of the Debian package) for the header. */
export const OTS_MODULES = ['opentimestamps', 'bitcoin'];

export interface OtsCase {
  ots: string;
  /** The file the proof is for (the checkpoint's 383 bytes). */
  target: string;
  /** The block header, 80 bytes as hex (a recorded one); without it, the node's (`rpc`). */
  header?: string;
}

export interface OtsResult {
  ots: string;
  deserialized: boolean;
  digest_matches: boolean;
  height: number | null;
  merkle_root_matches: boolean;
  /** The block time verify_against_blockheader returned. */
  time: number | null;
  error: string | null;
}

/** `rpc`: http://user:password@127.0.0.1:port, for the headers of cases without `header`. */
export async function otsVerify(cases: OtsCase[], rpc?: string): Promise<OtsResult[]> {
  requirePythonModules(OTS_MODULES, 'python3-opentimestamps');
  const r = await runOk(SYSTEM_PYTHON, [OTS_VERIFY], { input: JSON.stringify({ cases, ...(rpc ? { rpc } : {}) }), timeoutMs: 60_000 });
  return JSON.parse(r.stdout.toString('utf8')) as OtsResult[];
}
