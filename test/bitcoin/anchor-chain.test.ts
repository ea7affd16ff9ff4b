// The pure parts of the chain of anchors, on transactions a real Bitcoin Core made
// (test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl): an anchor, and its bumpfee replacement.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chainLinks, chainOutputOf, isAnchorTx, spends } from '../../src/bitcoin/anchor-chain.js';
import { parseTransaction, txid } from '../../src/bitcoin/tx.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { loadRecording } from '../helpers/rpc-replay.js';

const rec = loadRecording(join(REPO_ROOT, 'test', 'vectors', 'bitcoind-rpc', 'anchor-lifecycle.jsonl'));
const result = (step: string): any => (rec.find((x) => x.step === step)!.response as { result: any }).result;
const originalHex: string = result('sign with the wallet').hex;
const replacementHex: string = result('wallet view once mined').hex;
const original = parseTransaction(Buffer.from(originalHex, 'hex'));
const replacement = parseTransaction(Buffer.from(replacementHex, 'hex'));

describe('the chain output of an anchor', () => {
  it('is the one output that is not the OP_RETURN, wherever bumpfee put it', () => {
    // fundrawtransaction put the change at vout 1; bumpfee moved the OP_RETURN to vout 1.
    const a = chainOutputOf(original)!;
    const b = chainOutputOf(replacement)!;
    expect(a.vout).toBe(1);
    expect(b.vout).toBe(0);
    expect(original.outputs[a.vout]!.script[0]).not.toBe(0x6a);
    expect(replacement.outputs[b.vout]!.script[0]).not.toBe(0x6a);
    // The replacement paid more fee out of the same change.
    expect(b.valueSats).toBeLessThan(a.valueSats);
  });

  it('is missing when the transaction has no other output, or more than one', () => {
    const onlyData = { ...original, outputs: original.outputs.filter((o) => o.script[0] === 0x6a) };
    expect(chainOutputOf(onlyData)).toBeUndefined();
    const two = { ...original, outputs: [...original.outputs, original.outputs[1]!] };
    expect(chainOutputOf(two)).toBeUndefined();
  });

  it('replace-by-fee keeps the chain: the replacement spends exactly what the original spent', () => {
    expect(replacement.inputs.map((i) => [i.prevTxid, i.vout])).toEqual(original.inputs.map((i) => [i.prevTxid, i.vout]));
    const input = { txid: original.inputs[0]!.prevTxid, vout: original.inputs[0]!.vout };
    expect(spends(original, input)).toBe(true);
    expect(spends(replacement, input)).toBe(true);
    expect(spends(replacement, { ...input, vout: input.vout + 1 })).toBe(false);
  });

  it('tells an anchor transaction from another', () => {
    expect(isAnchorTx(original)).toBe(true);
    const plain = { ...original, outputs: original.outputs.filter((o) => o.script[0] !== 0x6a) };
    expect(isAnchorTx(plain)).toBe(false);
  });
});

describe('chainLinks', () => {
  const o = { id: 1, txid: txid(original), txHex: originalHex };
  it('links nothing between two versions of one anchor (they spend the same coin, not each other)', () => {
    const links = chainLinks([o, { id: 2, txid: txid(replacement), txHex: replacementHex }]);
    expect(links.map((l) => l.spendsAnchor)).toEqual([null, null]);
    expect(links[0]!.output).toEqual({ txid: txid(original), vout: 1 });
  });
  it('links each anchor of a recorded chain (test/vectors/bitcoind/anchor-chain.jsonl) to the one before, and not to an older one', () => {
    const chain = loadRecording(join(REPO_ROOT, 'test', 'vectors', 'bitcoind', 'anchor-chain.jsonl'));
    const signed = chain.filter((x) => x.request.method === 'signrawtransactionwithwallet').map((x) => (x.response as { result: { hex: string } }).result.hex);
    expect(signed).toHaveLength(3);
    const anchors = signed.map((hex, i) => ({ id: i + 1, txid: txid(parseTransaction(Buffer.from(hex, 'hex'))), txHex: hex }));
    expect(chainLinks(anchors).map((l) => l.spendsAnchor)).toEqual([null, 1, 2]);
    // Anchor 3 after anchor 1 (anchor 2 left out, as a truncated database would): no link.
    expect(chainLinks([anchors[0]!, anchors[2]!]).map((l) => l.spendsAnchor)).toEqual([null, null]);
  });

  it('gives an unparsable stored transaction no output and no link', () => {
    const unparsable = chainLinks([{ id: 5, txid: 'ab'.repeat(32), txHex: 'zz' }, o]);
    expect(unparsable.map((l) => [l.output, l.spendsAnchor])).toEqual([[undefined, null], [{ txid: txid(original), vout: 1 }, null]]);
  });
});
