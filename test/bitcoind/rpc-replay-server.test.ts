// test/helpers/rpc-replay.ts itself, spoken to with plain HTTP (no bitcoin-core client): it
// answers with the recorded status and the recorded body text, checks Basic auth, and answers
// anything it has no recording for with 599 (kept in `mismatches`).

import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BITCOIND_RPC_RECORDING } from '../helpers/paths.js';
import { loadRecording, startReplay, type ReplayServer } from '../helpers/rpc-replay.js';

const RECORDING =
  process.env.IMMUTALOG_RPC_RECORDING ?? BITCOIND_RPC_RECORDING;
const ALL = loadRecording(RECORDING);
const COOKIE = '__cookie__:' + 'ab'.repeat(32);
const AUTH = 'Basic ' + Buffer.from(COOKIE).toString('base64');

const servers: ReplayServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function post(srv: ReplayServer, path: string, body: unknown, auth: string | null = AUTH) {
  const headers: Record<string, string> = {};
  if (auth !== null) headers.authorization = auth;
  const res = await fetch(srv.url + path, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

function step(name: string) {
  const x = ALL.find((e) => e.step === name);
  if (!x) throw new Error(`no step ${name}`);
  return x;
}

describe('rpc-replay server', () => {
  it('loads all 55 recorded exchanges', () => {
    expect(ALL).toHaveLength(55);
    expect(ALL.map((x) => x.index)).toEqual([...Array(55).keys()]);
  });

  it('answers with the recorded body text, ignoring the request id', async () => {
    const x = step('fund it: replaceable, fee rate in sat/vB, change after the data output');
    const srv = await startReplay({ exchanges: [x], cookie: COOKIE, mode: 'any' });
    servers.push(srv);
    const r = await post(srv, x.path, { id: 'whatever', method: x.request.method, params: x.request.params });
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/json');
    // The characters of the recording line, e.g. Python's "3.3e-06", not a re-serialisation.
    const line = readFileSync(RECORDING, 'utf8').split('\n')[x.index]!;
    expect(line).toContain(r.text.trim());
    expect(r.text).toContain('"fee": 3.3e-06');
    expect(JSON.parse(r.text)).toEqual(x.response);
    expect(srv.mismatches).toEqual([]);
  });

  it('recorded HTTP errors keep their status and JSON body', async () => {
    const x = step('unknown method');
    const srv = await startReplay({ exchanges: [x], cookie: COOKIE, mode: 'any' });
    servers.push(srv);
    const r = await post(srv, '/', { id: 1, method: 'nosuchmethod', params: [] });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text)).toEqual({ result: null, error: { code: -32601, message: 'Method not found' }, id: '1764158400046' });
  });

  it('right credentials never get a recorded 401; wrong ones only get recorded 401s', async () => {
    const x401 = step('wrong credentials');
    const x200 = step('tip height');
    const srv = await startReplay({ exchanges: [x401, x200], cookie: COOKIE, mode: 'any' });
    servers.push(srv);
    const req = { id: 7, method: 'getblockcount', params: [] };
    const bad = await post(srv, '/', req, 'Basic ' + Buffer.from('__cookie__:wrong').toString('base64'));
    expect(bad.status).toBe(401);
    expect(bad.text).toBe('');
    const good = await post(srv, '/', req);
    expect(good.status).toBe(200);
    expect(JSON.parse(good.text).result).toBe(109);
    // Both used now: no auth header at all matches nothing.
    const none = await post(srv, '/', req, null);
    expect(none.status).toBe(599);
    expect(srv.mismatches).toHaveLength(1);
    expect(srv.mismatches[0]!.authorized).toBe(false);
  });

  it('a wrong path, method or params is a mismatch (599), recorded with the body sent', async () => {
    const x = step('block hash at the anchor height');
    const srv = await startReplay({ exchanges: [x], cookie: COOKIE, mode: 'any' });
    servers.push(srv);
    expect((await post(srv, '/wallet/anchor', { id: 1, method: 'getblockhash', params: [104] })).status).toBe(599);
    expect((await post(srv, '/', { id: 1, method: 'getblockhash', params: [105] })).status).toBe(599);
    expect((await post(srv, '/', { id: 1, method: 'getblockhash', params: ['104'] })).status).toBe(599);
    expect((await post(srv, '/', [{ id: 1, method: 'getblockhash', params: [104] }])).status).toBe(599);
    expect(srv.mismatches.map((m) => m.path)).toEqual(['/wallet/anchor', '/', '/', '/']);
    expect(JSON.parse(srv.mismatches[1]!.body)).toEqual({ id: 1, method: 'getblockhash', params: [105] });
    expect(srv.unused()).toEqual([x]);
    expect((await post(srv, '/', { id: 1, method: 'getblockhash', params: [104] })).status).toBe(200);
    expect(srv.unused()).toEqual([]);
  });

  it('ordered mode skips forward over exchanges not asked for', async () => {
    const srv = await startReplay({ exchanges: ALL, cookie: COOKIE, mode: 'ordered' });
    servers.push(srv);
    const r = await post(srv, '/', { id: 1, method: 'getblockcount', params: [] });
    expect(JSON.parse(r.text).result).toBe(109);
    // Everything before "tip height" is now behind the cursor.
    expect((await post(srv, '/', { id: 2, method: 'getnetworkinfo', params: [] })).status).toBe(599);
    expect(srv.unused()).toHaveLength(54);
  });
});
