#!/usr/bin/python3
"""Writes ots-v1.json: OpenTimestamps proofs serialized by python-opentimestamps (Debian's
python3-opentimestamps), never by immutalog, to pin immutalog's .ots writer
(src/bitcoin/ots.ts, src/bitcoin/ots-anchor.ts, checkpoint/batch-tree.ts anchorPathSteps).

Run from the repository root: /usr/bin/python3 test/vectors/ots/make_ots_vectors.py

1. "format": made-up operation chains that reach the format's edges (varuint lengths and
   heights of one, two and three bytes; append, prepend, sha256).
2. "recorded_round": the proof of every checkpoint of the anchor round recorded from a real
   Bitcoin Core (test/vectors/bitcoind/anchor-worker-round.jsonl and .checkpoints.json), built
   here from the recording alone, with this file's own RFC 6962 tree and Bitcoin merkle branch,
   following the operation convention immutalog documents:
     leaf            prepend 00, sha256                       (SHA-256(0x00 || c))
     node, sibling p on the left:  prepend 01||p, sha256       (SHA-256(0x01 || p || m))
     node, sibling p on the right: prepend 01, append p, sha256
     the transaction (non-witness bytes): prepend the bytes before the OP_RETURN's 32 bytes,
                     append those after, sha256, sha256          (the txid, internal order)
     block branch, sibling s: append s (we are left) or prepend s (right), sha256, sha256
     then a Bitcoin block header attestation at the block's height.
   Each proof is checked here, by the library, against the recorded block header.
"""
import hashlib
import io
import json
import os
import sys

from bitcoin.core import CBlockHeader, CTransaction, lx
from opentimestamps.core.notary import BitcoinBlockHeaderAttestation
from opentimestamps.core.op import OpAppend, OpPrepend, OpSHA256
from opentimestamps.core.serialize import BytesSerializationContext, StreamDeserializationContext
from opentimestamps.core.timestamp import DetachedTimestampFile, Timestamp

HERE = os.path.dirname(os.path.abspath(__file__))
ROUND = os.path.join(HERE, '..', 'bitcoind', 'anchor-worker-round.jsonl')
ROUND_CHECKPOINTS = os.path.join(HERE, '..', 'bitcoind', 'anchor-worker-round.checkpoints.json')


def sha256(b):
    return hashlib.sha256(b).digest()


def proof_file(digest, ops, height):
    """A DetachedTimestampFile: digest, one chain of ops, a Bitcoin attestation at its end."""
    ts = Timestamp(digest)
    stamp = ts
    for op in ops:
        stamp = stamp.ops.add(op)
    stamp.attestations.add(BitcoinBlockHeaderAttestation(height))
    ctx = BytesSerializationContext()
    DetachedTimestampFile(OpSHA256(), ts).serialize(ctx)
    return ctx.getbytes(), stamp.msg


def op_json(op):
    if isinstance(op, OpSHA256):
        return {'op': 'sha256'}
    return {'op': 'append' if isinstance(op, OpAppend) else 'prepend', 'arg': op[0].hex()}


def format_cases():
    cases = []
    specs = [
        ('one sha256, height 0', [OpSHA256()], 0),
        ('append 1 byte, height 127 (1-byte varuint)', [OpAppend(b'\x01'), OpSHA256()], 127),
        ('prepend 127 bytes, height 128 (2-byte varuint)', [OpPrepend(bytes(range(127))), OpSHA256()], 128),
        ('append 128 bytes (2-byte length), height 16383', [OpAppend(bytes(range(128))), OpSHA256()], 16383),
        ('prepend 300 bytes, append 4, height 16384 (3-byte varuint)', [OpPrepend(bytes(i % 256 for i in range(300))), OpAppend(b'\xde\xad\xbe\xef'), OpSHA256(), OpSHA256()], 16384),
        ('a mainnet height', [OpPrepend(b'\x01' + bytes(32)), OpSHA256(), OpAppend(b'\xff' * 32), OpSHA256(), OpSHA256()], 840000),
    ]
    for i, (name, ops, height) in enumerate(specs):
        digest = sha256(b'immutalog ots vector %d' % i)
        data, result = proof_file(digest, ops, height)
        cases.append({'name': name, 'digest': digest.hex(), 'ops': [op_json(o) for o in ops], 'height': height, 'result': result.hex(), 'ots': data.hex()})
    return cases


# --- RFC 6962 (section 2.1), written from its recursive definitions ---------------------------

def mth(leaves):
    n = len(leaves)
    if n == 0:
        return sha256(b'')
    if n == 1:
        return sha256(b'\x00' + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b'\x01' + mth(leaves[:k]) + mth(leaves[k:]))


def path_with_sides(m, leaves):
    """PATH(m, D[n]) from the leaf up, each element with the side its sibling sits on."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path_with_sides(m, leaves[:k]) + [('right', mth(leaves[k:]))]
    return path_with_sides(m - k, leaves[k:]) + [('left', mth(leaves[:k]))]


def tree_ops(m, leaves):
    ops = [OpPrepend(b'\x00'), OpSHA256()]
    for side, sibling in path_with_sides(m, leaves):
        if side == 'left':
            ops += [OpPrepend(b'\x01' + sibling), OpSHA256()]
        else:
            ops += [OpPrepend(b'\x01'), OpAppend(sibling), OpSHA256()]
    return ops


# --- Bitcoin -----------------------------------------------------------------------------------

def tx_ops(tx_bytes, root):
    stripped = CTransaction.deserialize(tx_bytes).serialize(dict(include_witness=False))
    at = stripped.find(b'\x6a\x20' + root)
    assert at >= 0 and stripped.find(b'\x6a\x20' + root, at + 1) < 0, 'exactly one OP_RETURN push of the root'
    at += 2
    return [OpPrepend(stripped[:at]), OpAppend(stripped[at + 32:]), OpSHA256(), OpSHA256()], sha256(sha256(stripped))


def branch_ops(txids_internal, index):
    ops = []
    level = list(txids_internal)
    pos = index
    while len(level) > 1:
        if len(level) % 2 == 1:
            level.append(level[-1])
        sibling = level[pos ^ 1]
        ops += [OpPrepend(sibling) if pos % 2 == 1 else OpAppend(sibling), OpSHA256(), OpSHA256()]
        level = [sha256(sha256(level[i] + level[i + 1])) for i in range(0, len(level), 2)]
        pos //= 2
    return ops


def recorded_round():
    rec = [json.loads(l) for l in open(ROUND) if l.strip()]
    by = lambda method, pred=lambda r: True: [r for r in rec if r['request']['method'] == method and pred(r)]
    tx_hex = by('sendrawtransaction')[0]['request']['params'][0]
    block = by('getblock')[0]['response']['result']
    header_hex = by('getblockheader', lambda r: r['request']['params'][1:] == [False])[0]['response']['result']
    header = CBlockHeader.deserialize(bytes.fromhex(header_hex))
    checkpoints = json.load(open(ROUND_CHECKPOINTS))['checkpoints']
    hashes = [sha256(bytes.fromhex(c['bytes'])) for c in checkpoints]
    root = mth(hashes)
    tx_part, txid = tx_ops(bytes.fromhex(tx_hex), root)
    index = [lx(t) for t in block['tx']].index(txid)
    chain_part = tx_part + branch_ops([lx(t) for t in block['tx']], index)
    proofs = []
    for m, c in enumerate(checkpoints):
        data, result = proof_file(hashes[m], tree_ops(m, hashes) + chain_part, block['height'])
        # The library reads it back, replays it, and checks it against the recorded header.
        f = DetachedTimestampFile.deserialize(StreamDeserializationContext(io.BytesIO(data)))
        [(msg, att)] = list(f.timestamp.all_attestations())
        att.verify_against_blockheader(msg, header)
        assert msg == result == header.hashMerkleRoot
        proofs.append({'checkpoint': c['idx'], 'ots': data.hex()})
    return {
        'source': 'test/vectors/bitcoind/anchor-worker-round.jsonl and anchor-worker-round.checkpoints.json',
        'block_hash': block['hash'], 'height': block['height'], 'header': header_hex, 'tx_index': index,
        'txid': txid[::-1].hex(), 'root': root.hex(), 'proofs': proofs,
    }


def main():
    out = {
        '_about': 'OpenTimestamps proofs serialized by python-opentimestamps (make_ots_vectors.py beside this file); immutalog must write the same bytes',
        'library': 'python3-opentimestamps (Debian), python3-bitcoinlib',
        'format': format_cases(),
        'recorded_round': recorded_round(),
    }
    path = os.path.join(HERE, 'ots-v1.json')
    with open(path, 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
    print('wrote %s: %d format cases, %d recorded proofs' % (path, len(out['format']), len(out['recorded_round']['proofs'])), file=sys.stderr)


if __name__ == '__main__':
    main()
