#!/usr/bin/python3
"""Checks immutalog's .ots files with Debian's python3-opentimestamps, none of immutalog's code.

Reads JSON on stdin: {"cases": [{"ots": FILE, "target": FILE, "header": HEX?}], "rpc": URL?}
and prints one JSON result per case, in order:
  {"ots", "deserialized", "digest_matches", "height", "merkle_root_matches", "time", "error"}

For each case the library reads the file (DetachedTimestampFile.deserialize, which replays every
operation from the file digest: each attestation's message is their result), the digest is
compared with SHA-256 of the target file (the checkpoint's 383 bytes), and the one Bitcoin
attestation is checked against the block header (verify_against_blockheader: the message must
be the header's merkle root). The header is the case's "header" (80 bytes, hex: a recorded
one), or, with "rpc" (http://user:password@host:port), the node's header of the block at the
attestation's height, fetched through python-bitcoinlib as `ots verify` does.
"""
import json
import sys

from bitcoin.core import CBlockHeader
from opentimestamps.core.notary import BitcoinBlockHeaderAttestation
from opentimestamps.core.op import OpSHA256
from opentimestamps.core.serialize import StreamDeserializationContext
from opentimestamps.core.timestamp import DetachedTimestampFile


def check(case, proxy):
    r = {'ots': case['ots'], 'deserialized': False, 'digest_matches': False, 'height': None, 'merkle_root_matches': False, 'time': None, 'error': None}
    try:
        with open(case['ots'], 'rb') as fd:
            f = DetachedTimestampFile.deserialize(StreamDeserializationContext(fd))
        r['deserialized'] = True
        if not isinstance(f.file_hash_op, OpSHA256):
            raise ValueError('file hash op is %r, expected sha256' % f.file_hash_op)
        with open(case['target'], 'rb') as fd:
            r['digest_matches'] = OpSHA256().hash_fd(fd) == f.file_digest
        atts = list(f.timestamp.all_attestations())
        if len(atts) != 1 or not isinstance(atts[0][1], BitcoinBlockHeaderAttestation):
            raise ValueError('expected one Bitcoin block header attestation, got %r' % [a for _, a in atts])
        msg, att = atts[0]
        r['height'] = att.height
        if 'header' in case:
            header = CBlockHeader.deserialize(bytes.fromhex(case['header']))
        else:
            header = proxy.getblockheader(proxy.getblockhash(att.height))
        r['time'] = att.verify_against_blockheader(msg, header)
        r['merkle_root_matches'] = True
    except Exception as e:  # the result names what failed; the caller asserts on it
        r['error'] = '%s: %s' % (type(e).__name__, e)
    return r


def main():
    req = json.load(sys.stdin)
    proxy = None
    if req.get('rpc'):
        import bitcoin
        import bitcoin.rpc
        bitcoin.SelectParams('regtest')
        proxy = bitcoin.rpc.Proxy(service_url=req['rpc'])
    json.dump([check(c, proxy) for c in req['cases']], sys.stdout)


if __name__ == '__main__':
    main()
