// src/bitcoind (transport, reader, writer) against real Bitcoin Core answers.
//
// test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl holds 55 JSON-RPC exchanges recorded from Bitcoin
// Core v30.99 on regtest (record.py). test/helpers/rpc-replay.ts serves them back, verbatim, to
// whatever asks with the same path, method and params, and answers HTTP 599 to anything else.
// So every call below that gets an answer proves the wrapper sent exactly what the real node was
// sent; the typed results are then checked against what the real node answered. Set-up steps
// and calls immutalog does not make (createwallet, generatetoaddress, getnetworkinfo, …) go
// through the transport's untyped `call`, the same path every typed call takes.
//
// The recording is a hard requirement: if it is missing these tests fail, they do not skip.
// IMMUTALOG_RPC_RECORDING can point at a re-recorded file (record.py RPC_URL COOKIE OUT).

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BitcoinRpcError, type BitcoinRpcErrorKind } from '../../src/bitcoind/errors.js';
import { openTransport, type BitcoinRpcConfig, type RpcTransport } from '../../src/bitcoind/transport.js';
import { BitcoindWriter, connectAnchorNode, type AnchorNode } from '../../src/bitcoind/writer.js';
import { BITCOIND_RPC_RECORDING } from '../helpers/paths.js';
import { loadRecording, startReplay, type RecordedExchange, type ReplayServer } from '../helpers/rpc-replay.js';

const RECORDING =
  process.env.IMMUTALOG_RPC_RECORDING ?? BITCOIND_RPC_RECORDING;
const ALL = loadRecording(RECORDING);

function ex(step: string): RecordedExchange {
  const found = ALL.filter((x) => x.step === step);
  if (found.length !== 1) throw new Error(`recording has ${found.length} exchanges named "${step}"`);
  return found[0]!;
}

/** The `result` of a recorded 200 reply. */
function resultOf(step: string): any {
  return (ex(step).response as { result: unknown }).result;
}

// Values from the recording.
const ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const TXID1 = '991a8d6c2f81ed1e4c561d39706faf9e673737c7424e346d6a637c0d34c47271';
const TXID2 = 'ed7046ea4656186c16622700ba6561ebb5720d98956c8c8f1c6c2c06552a3aaf';
const BLOCK = '408fe6ddc2d7eb3b1c47e1b16018580c01ead2ae8646160e1264bd1fe9f3ec80';
const PREV_BLOCK = '4de3f1f6827a4d6d852343d01b76093d3ce1c9dc6a46b647d4d7d3e1c52dd4cd';
const COINBASE_TXID = '57ad0329499381e87fd8329687f20685b3376e15bf9c6c9a9255dc2ba7285324';

const tmp = mkdtempSync(join(tmpdir(), 'immutalog-rpc-replay-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let fileN = 0;
function newCookie(): string {
  return `__cookie__:${randomBytes(32).toString('hex')}`;
}
function cookieFile(content: string): string {
  const f = join(tmp, `cookie-${++fileN}`);
  writeFileSync(f, content + '\n');
  return f;
}

const servers: ReplayServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function replay(exchanges: RecordedExchange[], mode: 'ordered' | 'any', cookie = newCookie()) {
  const srv = await startReplay({ exchanges, cookie, mode });
  servers.push(srv);
  return { srv, cookie };
}

function cfg(srv: ReplayServer, cookie: string, over: Partial<BitcoinRpcConfig> = {}): BitcoinRpcConfig {
  return { url: srv.url, cookieFile: cookieFile(cookie), wallet: 'anchor', timeoutMs: 5000, ...over };
}

/** The typed calls and, over the same connection, the untyped one. */
function connect(c: BitcoinRpcConfig): { rpc: AnchorNode; t: RpcTransport } {
  const t = openTransport(c);
  return { rpc: new BitcoindWriter(t), t };
}

/**
 * Run one wrapper call that must send exactly one request, answered by the recorded exchange
 * `step`; the request must have that exchange's path, method and params.
 */
async function oneStep<T>(srv: ReplayServer, step: string, run: () => Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const before = srv.served.length;
  let value: T | undefined;
  let error: unknown;
  try {
    value = await run();
  } catch (e) {
    error = e;
  }
  expect(srv.mismatches, `${step}: mismatches`).toEqual([]);
  expect(srv.served.length, `${step}: requests sent`).toBe(before + 1);
  const s = srv.served[before]!;
  const x = ex(step);
  expect(s.exchange?.step, 'answered by').toBe(step);
  expect(s.authorized).toBe(x.status !== 401);
  expect(s.path).toBe(x.path);
  expect(s.method).toBe(x.request.method);
  expect(s.params).toEqual(x.request.params);
  return error === undefined ? { value: value as T } : { error };
}

async function ok<T>(srv: ReplayServer, step: string, run: () => Promise<T>): Promise<T> {
  const r = await oneStep(srv, step, run);
  if ('error' in r) throw r.error;
  return r.value as T;
}

async function fails(srv: ReplayServer, step: string, run: () => Promise<unknown>): Promise<BitcoinRpcError> {
  const r = await oneStep(srv, step, run);
  expect(r.error).toBeInstanceOf(BitcoinRpcError);
  return r.error as BitcoinRpcError;
}

describe('the recorded anchor lifecycle, replayed in order through the wrapper', () => {
  it('sends exactly what the real node was sent and types what it answered', async () => {
    const { srv, cookie } = await replay(ALL, 'ordered');
    const { rpc, t } = connect(cfg(srv, cookie));

    expect(await ok(srv, 'node version', () => t.call('node', 'getnetworkinfo'))).toMatchObject({
      version: 309900,
      subversion: '/Satoshi:30.99.0/',
    });
    expect(await ok(srv, 'chain state', () => t.call('node', 'getblockchaininfo'))).toMatchObject({
      chain: 'regtest',
      blocks: 0,
      bestblockhash: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
      pruned: false,
    });
    expect(await ok(srv, 'create the anchor wallet', () => t.call('node', 'createwallet', 'anchor'))).toEqual({
      name: 'anchor',
    });
    const addr = await ok(srv, 'an address of the wallet', () =>
      t.call<string>('wallet', 'getnewaddress', '', 'bech32'),
    );
    const mined = await ok(srv, 'mine 101 blocks to it (coinbase maturity)', () =>
      t.call<string[]>('node', 'generatetoaddress', 101, addr),
    );
    expect(mined).toHaveLength(101);

    expect(await ok(srv, 'balances', () => rpc.getBalanceSats())).toEqual({ trustedSats: 50 * 1e8, pendingSats: 0 });

    // estimatesmartfee on a fresh regtest chain: errors set, no rate.
    const fee = await ok(srv, 'fee estimate (fails on a fresh regtest chain)', () => rpc.estimateSmartFee(6));
    expect(fee).toStrictEqual({ errors: ['Insufficient data or no feerate found'] });
    expect(fee.feeRateSatVb).toBeUndefined();

    const raw = await ok(srv, 'unsigned tx with one 32-byte data output', () => rpc.createAnchorTx(ROOT));
    expect(raw).toBe(`0200000000010000000000000000226a20${ROOT}00000000`);

    // The recorded options are {fee_rate: 2, replaceable: true, change_position: 1,
    // lock_unspents: true}: snake_case, sat/vB, and no minconf (0, Core's default, is not sent).
    const funded = await ok(srv, 'fund it: replaceable, fee rate in sat/vB, change after the data output', () =>
      rpc.fundRawTransaction(raw, {
        feeRateSatVb: 2,
        changePosition: 1,
        replaceable: true,
        lockUnspents: true,
        minconf: 0,
      }),
    );
    expect(funded).toEqual({ hex: resultOf('fund it: replaceable, fee rate in sat/vB, change after the data output').hex, feeSats: 330, changepos: 1 });

    const signed = await ok(srv, 'sign with the wallet', () => rpc.signRawTransactionWithWallet(funded.hex));
    expect(signed).toStrictEqual({ hex: resultOf('sign with the wallet').hex, complete: true });

    const decoded = await ok(srv, 'decode (vsize, outputs)', () =>
      t.call<{ txid: string; vsize: number }>('node', 'decoderawtransaction', signed.hex),
    );
    expect(decoded.txid).toBe(TXID1);

    expect(await ok(srv, 'policy check before broadcast', () => rpc.testMempoolAccept(signed.hex))).toStrictEqual({
      txid: TXID1,
      allowed: true,
      vsize: 165,
      feeSats: 330,
    });
    expect(await ok(srv, 'broadcast', () => rpc.sendRawTransaction(signed.hex))).toBe(TXID1);
    // Idempotent rebroadcast: the same txid again, no error.
    expect(await ok(srv, 'broadcast the same again (already in mempool)', () => rpc.sendRawTransaction(signed.hex))).toBe(
      TXID1,
    );
    expect(await ok(srv, 'mempool', () => t.call('node', 'getrawmempool'))).toEqual([TXID1]);
    await ok(srv, 'mempool entry (fees, vsize, bip125-replaceable)', () => t.call('node', 'getmempoolentry', TXID1));

    const unconfirmed = await ok(srv, 'wallet view while unconfirmed', () => rpc.getTransaction(TXID1));
    expect(unconfirmed).toStrictEqual({
      confirmations: 0,
      walletconflicts: [],
      hex: signed.hex,
    });

    const other = await ok(srv, 'an address for empty blocks', () =>
      t.call<string>('wallet', 'getnewaddress', '', 'bech32'),
    );
    await ok(srv, 'mine an empty block (the anchor stays in the mempool)', () =>
      t.call('node', 'generateblock', other, []),
    );
    await ok(srv, 'mine another empty block', () => t.call('node', 'generateblock', other, []));

    expect(await ok(srv, 'replace by fee', () => rpc.bumpFee(TXID1, 6))).toEqual({
      txid: TXID2,
      origFeeSats: 330,
      feeSats: 990,
    });
    const gone = await fails(srv, 'the replaced tx is gone from the mempool', () =>
      t.call('node', 'getmempoolentry', TXID1),
    );
    expect(gone.kind).toBe('not-found');

    const replaced = await ok(srv, 'wallet view of the replaced tx', () => rpc.getTransaction(TXID1));
    expect(replaced).toStrictEqual({
      confirmations: 0,
      replacedByTxid: TXID2,
      walletconflicts: [TXID2],
      hex: signed.hex,
    });
    expect(await ok(srv, 'mempool after the bump', () => t.call('node', 'getrawmempool'))).toEqual([TXID2]);
    expect(
      await ok(srv, 'mine one block: the replacement confirms', () => t.call('node', 'generatetoaddress', 1, other)),
    ).toEqual([BLOCK]);

    const minedTx = await ok(srv, 'wallet view once mined', () => rpc.getTransaction(TXID2));
    const bumpedHex = resultOf('wallet view once mined').hex as string;
    expect(minedTx).toStrictEqual({
      confirmations: 1,
      blockhash: BLOCK,
      blockheight: 104,
      blockindex: 1,
      walletconflicts: [TXID1],
      hex: bumpedHex,
    });

    expect(await ok(srv, 'raw tx with its block (no txindex needed)', () => t.call('node', 'getrawtransaction', TXID2, true, BLOCK))).toMatchObject({
      hex: bumpedHex,
      blockhash: BLOCK,
      confirmations: 1,
      in_active_chain: true,
    });
    const noIndex = await fails(srv, 'raw tx without block hash and without txindex (fails once mined)', () =>
      t.call('node', 'getrawtransaction', TXID2, true),
    );
    expect(noIndex.kind).toBe('not-found');
    expect(noIndex.rpcCode).toBe(-5);

    const header = await ok(srv, 'block header', () => rpc.getBlockHeader(BLOCK));
    expect(header).toStrictEqual({
      hash: BLOCK,
      height: 104,
      confirmations: 1,
      merkleroot: '7e4f69af362342b214af8113125c1e1d4f5cc5a4c227ab15f7a8f8ee0fd6d2fb',
      time: 1795698198,
      previousblockhash: PREV_BLOCK,
    });
    const headerHex = await ok(srv, 'block header, raw hex', () => rpc.getBlockHeaderHex(BLOCK));
    expect(headerHex).toHaveLength(160);
    // Bytes 36..68 of the header are the merkle root in internal order (the JSON one reversed).
    expect(Buffer.from(headerHex, 'hex').subarray(36, 68).reverse().toString('hex')).toBe(header.merkleroot);
    expect(await ok(srv, 'block with txids (to compute the merkle branch)', () => rpc.getBlockTxids(BLOCK))).toEqual([
      COINBASE_TXID,
      TXID2,
    ]);
    await ok(srv, 'merkle proof of the tx in the block', () => t.call('node', 'gettxoutproof', [TXID2], BLOCK));
    await ok(srv, 'mine 5 more: 6 confirmations', () => t.call('node', 'generatetoaddress', 5, other));
    expect((await ok(srv, 'wallet view at 6 confirmations', () => rpc.getTransaction(TXID2))).confirmations).toBe(6);
    const tip = await ok(srv, 'tip height', () => rpc.getBlockCount());
    expect(tip).toBe(109);
    expect(await ok(srv, 'block hash at the anchor height', () => t.call('node', 'getblockhash', tip - 5))).toBe(BLOCK);

    // Reorg: the header says -1, the wallet says 0 (back in the mempool) and drops the block.
    await ok(srv, 'reorg: invalidate the anchor block', () => t.call('node', 'invalidateblock', BLOCK));
    expect((await ok(srv, 'the old block header now (confirmations -1)', () => rpc.getBlockHeader(BLOCK))).confirmations).toBe(-1);
    expect(await ok(srv, 'wallet view after the reorg', () => rpc.getTransaction(TXID2))).toStrictEqual({
      confirmations: 0,
      walletconflicts: [TXID1],
      hex: bumpedHex,
    });
    expect(await ok(srv, 'mempool after the reorg', () => t.call('node', 'getrawmempool'))).toEqual([TXID2]);
    await ok(srv, 'chain tips', () => t.call('node', 'getchaintips'));
    await ok(srv, 'undo: reconsider the block', () => t.call('node', 'reconsiderblock', BLOCK));
    expect((await ok(srv, 'header again', () => rpc.getBlockHeader(BLOCK))).confirmations).toBe(6);

    // The errors, still in recorded order.
    const kinds: Array<[string, BitcoinRpcErrorKind, number]> = [];
    const note = (step: string, e: BitcoinRpcError) => kinds.push([step, e.kind, e.rpcCode ?? 0]);
    note('unknown block hash', await fails(srv, 'unknown block hash', () => rpc.getBlockHeader('00'.repeat(32))));
    note('bad hex', await fails(srv, 'bad hex', () => rpc.sendRawTransaction('zz')));
    note('unknown method', await fails(srv, 'unknown method', () => t.call('node', 'nosuchmethod')));
    // With one wallet loaded, a wallet RPC on / still works…
    await ok(srv, 'wallet call on the node path with one wallet loaded', () => t.call('node', 'getbalances'));
    await ok(srv, 'create a second wallet', () => t.call('node', 'createwallet', 'other'));
    // …with two it is -19: why wallet RPCs must go to /wallet/<name>.
    note(
      'wallet call on the node path with two wallets loaded',
      await fails(srv, 'wallet call on the node path with two wallets loaded', () => t.call('node', 'getbalances')),
    );
    const nosuch = connectAnchorNode(cfg(srv, cookie, { wallet: 'nosuchwallet' }));
    note('unknown wallet', await fails(srv, 'unknown wallet', () => nosuch.getBalanceSats()));
    expect(await ok(srv, 'tx for an empty wallet', () => rpc.createAnchorTx(ROOT))).toBe(raw);
    // These two were recorded with options {fee_rate, replaceable} only, which fundRawTransaction
    // never sends, so they go through the untyped call with the recorded params.
    const empty = openTransport(cfg(srv, cookie, { wallet: 'other' }));
    note(
      'fund from an empty wallet',
      await fails(srv, 'fund from an empty wallet', () =>
        empty.call('wallet', 'fundrawtransaction', raw, { fee_rate: 2, replaceable: true }),
      ),
    );
    note(
      'fee rate above the wallet maximum',
      await fails(srv, 'fee rate above the wallet maximum', () =>
        t.call('wallet', 'fundrawtransaction', raw, { fee_rate: 100000, replaceable: true }),
      ),
    );
    note(
      'double spend: rebroadcast the replaced tx',
      await fails(srv, 'double spend: rebroadcast the replaced tx', () => rpc.sendRawTransaction(signed.hex)),
    );
    const wrong = connectAnchorNode(cfg(srv, '__cookie__:wrong'));
    note('wrong credentials', await fails(srv, 'wrong credentials', () => wrong.getBlockCount()));

    expect(kinds).toEqual([
      ['unknown block hash', 'not-found', -5],
      ['bad hex', 'other', -22],
      ['unknown method', 'method', -32601],
      ['wallet call on the node path with two wallets loaded', 'wallet', -19],
      ['unknown wallet', 'wallet', -18],
      ['fund from an empty wallet', 'insufficient-funds', -4],
      ['fee rate above the wallet maximum', 'fee-too-high', -4],
      ['double spend: rebroadcast the replaced tx', 'rejected', -25],
      ['wrong credentials', 'auth', 401],
    ]);

    // Every recorded exchange was replayed, once, in order, and nothing unrecorded was sent.
    expect(srv.unused().map((x) => x.step)).toEqual([]);
    expect(srv.mismatches).toEqual([]);
    expect(srv.served.map((s) => s.exchange?.index)).toEqual(ALL.map((x) => x.index));
  });
});

describe('every recorded error maps to its kind', () => {
  const cases: Array<{
    step: string;
    kind: BitcoinRpcErrorKind;
    rpcCode: number;
    httpStatus?: number;
    wallet?: string;
    run: (c: { rpc: AnchorNode; t: RpcTransport }) => Promise<unknown>;
  }> = [
    { step: 'unknown block hash', kind: 'not-found', rpcCode: -5, run: ({ rpc }) => rpc.getBlockHeader('00'.repeat(32)) },
    { step: 'the replaced tx is gone from the mempool', kind: 'not-found', rpcCode: -5, run: ({ t }) => t.call('node', 'getmempoolentry', TXID1) },
    { step: 'raw tx without block hash and without txindex (fails once mined)', kind: 'not-found', rpcCode: -5, run: ({ t }) => t.call('node', 'getrawtransaction', TXID2, true) },
    { step: 'bad hex', kind: 'other', rpcCode: -22, run: ({ rpc }) => rpc.sendRawTransaction('zz') },
    { step: 'unknown method', kind: 'method', rpcCode: -32601, run: ({ t }) => t.call('node', 'nosuchmethod') },
    { step: 'wallet call on the node path with two wallets loaded', kind: 'wallet', rpcCode: -19, run: ({ t }) => t.call('node', 'getbalances') },
    { step: 'unknown wallet', kind: 'wallet', rpcCode: -18, wallet: 'nosuchwallet', run: ({ rpc }) => rpc.getBalanceSats() },
    {
      step: 'fund from an empty wallet',
      kind: 'insufficient-funds',
      rpcCode: -4,
      wallet: 'other',
      run: ({ t }) => t.call('wallet', 'fundrawtransaction', ex('fund from an empty wallet').request.params[0], { fee_rate: 2, replaceable: true }),
    },
    {
      step: 'fee rate above the wallet maximum',
      kind: 'fee-too-high',
      rpcCode: -4,
      run: ({ t }) => t.call('wallet', 'fundrawtransaction', ex('fee rate above the wallet maximum').request.params[0], { fee_rate: 100000, replaceable: true }),
    },
    {
      step: 'double spend: rebroadcast the replaced tx',
      kind: 'rejected',
      rpcCode: -25,
      run: ({ rpc }) => rpc.sendRawTransaction(resultOf('sign with the wallet').hex),
    },
  ];

  for (const c of cases) {
    it(`${c.step} → ${c.kind} (${c.rpcCode})`, async () => {
      const x = ex(c.step);
      const { srv, cookie } = await replay([x], 'any');
      const conn = connect(cfg(srv, cookie, c.wallet ? { wallet: c.wallet } : {}));
      const e = await fails(srv, c.step, () => c.run(conn));
      const recorded = (x.response as { error: { code: number; message: string } }).error;
      expect(e.kind).toBe(c.kind);
      expect(e.rpcCode).toBe(c.rpcCode);
      expect(e.rpcCode).toBe(recorded.code);
      expect(e.nodeMessage).toBe(recorded.message);
      expect(e.httpStatus).toBeUndefined();
      expect(e.method).toBe(x.request.method);
      if (c.kind === 'rejected') expect(e.rejectReason).toBe('bad-txns-inputs-missingorspent');
      expect(e.message).toContain(recorded.message);
    });
  }

  it('the unknown-method reply comes with HTTP 404 and a JSON body; the -32601 in the body wins', () => {
    expect(ex('unknown method').status).toBe(404);
  });

  it('HTTP 401 (empty body) → auth, and no pointless retry when the cookie did not change', async () => {
    const x = ex('wrong credentials');
    expect(x.status).toBe(401);
    expect(x.response).toBeNull();
    const { srv } = await replay([x], 'any');
    const rpc = connectAnchorNode({ url: srv.url, cookieFile: cookieFile('__cookie__:wrong'), wallet: 'anchor' });
    const e = await fails(srv, 'wrong credentials', () => rpc.getBlockCount());
    expect(e.kind).toBe('auth');
    expect(e.rpcCode).toBe(401);
    expect(e.httpStatus).toBe(401);
    expect(e.nodeMessage).toBe('Unauthorized');
  });

  it('HTTP 401 with user/password: auth, one request, no cookie to re-read', async () => {
    const { srv } = await replay([ex('wrong credentials')], 'any');
    const rpc = connectAnchorNode({ url: srv.url, user: 'alice', password: 'wrong', wallet: 'anchor' });
    const e = await fails(srv, 'wrong credentials', () => rpc.getBlockCount());
    expect(e.kind).toBe('auth');
  });
});

describe('cookie auth: the cookie is re-read once on 401', () => {
  it('bitcoind restarted with a new cookie: 401, re-read, retried with the new cookie, answered', async () => {
    const fresh = newCookie();
    const { srv } = await replay([ex('wrong credentials'), ex('tip height')], 'any', fresh);
    const file = cookieFile(newCookie()); // the cookie of the previous bitcoind run
    const rpc = connectAnchorNode({ url: srv.url, cookieFile: file, wallet: 'anchor' });
    writeFileSync(file, fresh + '\n'); // bitcoind restarts and rewrites it
    expect(await rpc.getBlockCount()).toBe(109);
    expect(srv.served.map((s) => [s.exchange?.step, s.authorized])).toEqual([
      ['wrong credentials', false],
      ['tip height', true],
    ]);
    expect(srv.mismatches).toEqual([]);
  });

  it('re-reads only once: a second 401 is thrown as auth', async () => {
    // The recorded 401 is served twice (listed twice): the node answers any wrong cookie so.
    const { srv } = await replay([ex('wrong credentials'), ex('wrong credentials')], 'any');
    const file = cookieFile(newCookie());
    const rpc = connectAnchorNode({ url: srv.url, cookieFile: file, wallet: 'anchor' });
    writeFileSync(file, newCookie()); // changed, but still not the node's
    const e = await rpc.getBlockCount().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(BitcoinRpcError);
    expect((e as BitcoinRpcError).kind).toBe('auth');
    expect(srv.served.map((s) => [s.exchange?.step, s.authorized])).toEqual([
      ['wrong credentials', false],
      ['wrong credentials', false],
    ]);
    expect(srv.mismatches).toEqual([]);
  });

  it('a cookie file that is not there yet: auth without sending anything, then read once it exists', async () => {
    const cookie = newCookie();
    const { srv } = await replay([ex('tip height')], 'any', cookie);
    const file = join(tmp, `cookie-later-${++fileN}`);
    const rpc = connectAnchorNode({ url: srv.url, cookieFile: file, wallet: 'anchor' });
    const e = await rpc.getBlockCount().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(BitcoinRpcError);
    expect((e as BitcoinRpcError).kind).toBe('auth');
    expect((e as BitcoinRpcError).transportCode).toBe('ENOENT');
    expect(srv.served).toEqual([]);
    writeFileSync(file, cookie);
    expect(await rpc.getBlockCount()).toBe(109);
    expect(srv.mismatches).toEqual([]);
  });
});

describe('request shapes', () => {
  it("fee_rate goes out with at most 3 decimals (Core's limit): 2.0004 sat/vB is sent as 2", async () => {
    const step = 'fund it: replaceable, fee rate in sat/vB, change after the data output';
    const x = ex(step);
    const { srv, cookie } = await replay([x], 'any');
    const rpc = connectAnchorNode(cfg(srv, cookie));
    const r = await ok(srv, step, () =>
      rpc.fundRawTransaction(x.request.params[0] as string, {
        feeRateSatVb: 2.0004,
        changePosition: 1,
        replaceable: true,
        lockUnspents: true,
        minconf: 0,
      }),
    );
    expect(r.feeSats).toBe(330);
  });

  it('minconf > 0 is sent as `minconf` (not in the recording, so the replay refuses it: 599)', async () => {
    const step = 'fund it: replaceable, fee rate in sat/vB, change after the data output';
    const x = ex(step);
    const { srv, cookie } = await replay([x], 'any');
    const rpc = connectAnchorNode(cfg(srv, cookie));
    const e = await rpc
      .fundRawTransaction(x.request.params[0] as string, {
        feeRateSatVb: 2,
        changePosition: 1,
        replaceable: true,
        lockUnspents: true,
        minconf: 1,
      })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(BitcoinRpcError);
    expect((e as BitcoinRpcError).httpStatus).toBe(599);
    expect((e as BitcoinRpcError).kind).toBe('other');
    expect(srv.mismatches).toHaveLength(1);
    const sent = JSON.parse(srv.mismatches[0]!.body) as { method: string; params: unknown[] };
    expect(srv.mismatches[0]!.path).toBe('/wallet/anchor');
    expect(sent.method).toBe('fundrawtransaction');
    expect(sent.params).toEqual([
      x.request.params[0],
      { fee_rate: 2, replaceable: true, change_position: 1, lock_unspents: true, minconf: 1 },
    ]);
    expect(srv.unused()).toEqual([x]);
  });

  it('"any" mode answers recorded exchanges out of recorded order; each is used once', async () => {
    const picks = [ex('block hash at the anchor height'), ex('tip height'), ex('node version')];
    const { srv, cookie } = await replay(picks, 'any');
    const { rpc, t } = connect(cfg(srv, cookie));
    expect(await t.call('node', 'getnetworkinfo')).toMatchObject({ version: 309900 });
    expect(await rpc.getBlockCount()).toBe(109);
    expect(await t.call('node', 'getblockhash', 104)).toBe(BLOCK);
    const again = await rpc.getBlockCount().catch((err: unknown) => err);
    expect((again as BitcoinRpcError).httpStatus).toBe(599);
    expect(srv.mismatches).toHaveLength(1);
    expect(srv.unused()).toEqual([]);
  });

  it('"ordered" mode will not go back to an exchange before the last match', async () => {
    const picks = [ex('tip height'), ex('block hash at the anchor height')];
    const { srv, cookie } = await replay(picks, 'ordered');
    const { rpc, t } = connect(cfg(srv, cookie));
    expect(await t.call('node', 'getblockhash', 104)).toBe(BLOCK);
    const late = await rpc.getBlockCount().catch((err: unknown) => err);
    expect((late as BitcoinRpcError).httpStatus).toBe(599);
    expect(srv.mismatches).toHaveLength(1);
  });

  it('arguments the node would refuse are refused before sending', async () => {
    const { srv, cookie } = await replay([], 'any');
    const rpc = connectAnchorNode(cfg(srv, cookie));
    await expect(rpc.createAnchorTx('ab')).rejects.toThrow(TypeError);
    await expect(rpc.estimateSmartFee(0)).rejects.toThrow(TypeError);
    await expect(rpc.getBlockHeader('00')).rejects.toThrow(TypeError);
    await expect(rpc.bumpFee(TXID1, 0)).rejects.toThrow(TypeError);
    expect(srv.served).toEqual([]);
  });
});

describe('transport failures → unreachable (loopback only)', () => {
  it('connection refused on a closed loopback port', async () => {
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const rpc = connectAnchorNode({
      url: `http://127.0.0.1:${port}`,
      cookieFile: cookieFile(newCookie()),
      wallet: 'anchor',
      timeoutMs: 5000,
    });
    const e = await rpc.getBlockCount().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(BitcoinRpcError);
    expect((e as BitcoinRpcError).kind).toBe('unreachable');
    expect((e as BitcoinRpcError).transportCode).toBe('ECONNREFUSED');
    expect((e as BitcoinRpcError).method).toBe('getblockcount');
    expect((e as BitcoinRpcError).rpcCode).toBeUndefined();
  });

  it('a node that accepts but never answers: timeout', async () => {
    const sockets: Socket[] = [];
    const silent: NetServer = createNetServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const rpc = connectAnchorNode({
        url: `http://127.0.0.1:${port}`,
        user: 'u',
        password: 'p',
        wallet: 'anchor',
        timeoutMs: 300,
      });
      const e = await rpc.getBlockCount().catch((err: unknown) => err);
      expect(e).toBeInstanceOf(BitcoinRpcError);
      expect((e as BitcoinRpcError).kind).toBe('unreachable');
      expect(['ETIMEDOUT', 'ESOCKETTIMEDOUT']).toContain((e as BitcoinRpcError).transportCode);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
