#!/usr/bin/python3
"""Extract Bitcoin test vectors from the real Bitcoin Core RPC recordings.

Regenerate (from the repository root):

    /usr/bin/python3 test/vectors/bitcoin/extract.py            # writes test/vectors/bitcoin/regtest-anchor.json
    /usr/bin/python3 test/vectors/bitcoin/extract.py --check    # exit 1 if regtest-anchor.json is stale

Input: test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl in this repository (55
JSON-RPC exchanges recorded from Bitcoin Core v30.99 on regtest; see its README.md). Standard
library only. Every value in the output is copied from a recorded request or response; nothing
is computed here except BTC amounts converted to satoshis (exactly, with Decimal) and lowercase
normalisation, so the TypeScript tests compare immutalog's own computation against what the
real node said.

Exchanges are picked by RPC method and parameters, not by line number, so a re-recording with
record.py (other txids, same scenario) regenerates a valid file.
"""

import json
import os
import sys
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
JSONL = os.path.join(REPO_ROOT, "test", "vectors", "bitcoind-rpc", "anchor-lifecycle.jsonl")
OUT = os.path.join(HERE, "regtest-anchor.json")
SATS_PER_BTC = Decimal(100_000_000)


def load():
    with open(JSONL, encoding="utf-8") as f:
        # parse_float=Decimal keeps 49.9999901 exact for the satoshi conversion.
        return [json.loads(line, parse_float=Decimal) for line in f if line.strip()]


def ok(ex):
    r = ex["response"]
    return ex["status"] == 200 and r is not None and r.get("error") is None


def pick(exchanges, method, pred=lambda ex: True, what=""):
    found = [ex for ex in exchanges if ex["request"]["method"] == method and ok(ex) and pred(ex)]
    if not found:
        sys.exit(f"extract.py: no successful {method} exchange {what} in {JSONL}")
    return found[0]


def sats(btc):
    v = Decimal(btc) * SATS_PER_BTC
    if v != v.to_integral_value():
        sys.exit(f"extract.py: {btc} BTC is not a whole number of satoshis")
    return str(int(v))


def decoded(tx):
    """The fields of a decoderawtransaction / getrawtransaction verbose result that we check."""
    return {
        "txid": tx["txid"],
        "wtxid": tx["hash"],
        "version": tx["version"],
        "size": tx["size"],
        "vsize": tx["vsize"],
        "weight": tx["weight"],
        "locktime": tx["locktime"],
        "vin": [
            {
                "txid": i["txid"],
                "vout": i["vout"],
                "script_sig_hex": i["scriptSig"]["hex"],
                "witness_hex": i.get("txinwitness", []),
                "sequence": i["sequence"],
            }
            for i in tx["vin"]
        ],
        "vout": [
            {"n": o["n"], "value_sats": sats(o["value"]), "script_hex": o["scriptPubKey"]["hex"], "type": o["scriptPubKey"]["type"]}
            for o in tx["vout"]
        ],
    }


def build():
    xs = load()
    version = pick(xs, "getnetworkinfo")["response"]["result"]["subversion"]

    info = pick(xs, "getblockchaininfo", lambda ex: ex["response"]["result"]["blocks"] == 0, "at height 0")["response"]["result"]
    created = pick(xs, "createrawtransaction")
    data_hex = created["request"]["params"][1][0]["data"]
    unsigned_hex = created["response"]["result"]
    funded = pick(xs, "fundrawtransaction", lambda ex: ex["request"]["params"][0] == unsigned_hex)
    signed = pick(xs, "signrawtransactionwithwallet", lambda ex: ex["request"]["params"][0] == funded["response"]["result"]["hex"])
    signed_hex = signed["response"]["result"]["hex"]
    dec = pick(xs, "decoderawtransaction", lambda ex: ex["request"]["params"][0] == signed_hex)["response"]["result"]
    accept = pick(xs, "testmempoolaccept", lambda ex: ex["request"]["params"][0] == [signed_hex])["response"]["result"][0]
    bump = pick(xs, "bumpfee", lambda ex: ex["request"]["params"][0] == dec["txid"])["response"]["result"]
    raw = pick(xs, "getrawtransaction", lambda ex: len(ex["request"]["params"]) == 3 and ex["request"]["params"][0] == bump["txid"],
               "with a block hash")
    conf = raw["response"]["result"]
    blockhash = conf["blockhash"]
    wallet = pick(xs, "gettransaction", lambda ex: ex["response"]["result"].get("blockhash") == blockhash)["response"]["result"]
    hdr_json = pick(xs, "getblockheader", lambda ex: ex["request"]["params"] == [blockhash] and ex["response"]["result"]["confirmations"] >= 1)["response"]["result"]
    hdr_hex = pick(xs, "getblockheader", lambda ex: ex["request"]["params"] == [blockhash, False])["response"]["result"]
    block = pick(xs, "getblock", lambda ex: ex["request"]["params"] == [blockhash, 1])["response"]["result"]
    proof = pick(xs, "gettxoutproof", lambda ex: ex["request"]["params"][1] == blockhash)

    header_fields = ["hash", "height", "version", "versionHex", "merkleroot", "time", "nonce", "bits", "target", "chainwork", "nTx", "previousblockhash"]
    return {
        "_source": "test/vectors/bitcoind-rpc/anchor-lifecycle.jsonl, extracted by test/vectors/bitcoin/extract.py; do not edit",
        "node": version,
        "regtest_genesis": {
            "hash": info["bestblockhash"],
            "bits": info["bits"],
            "target": info["target"],
            "time": info["time"],
        },
        "anchor_data_hex": data_hex,
        "unsigned_tx_hex": unsigned_hex,
        "funded_tx": {"hex": funded["response"]["result"]["hex"], "changepos": funded["response"]["result"]["changepos"]},
        "signed_tx": {"hex": signed_hex, "decoded": decoded(dec), "mempool_accept": {"txid": accept["txid"], "wtxid": accept["wtxid"], "vsize": accept["vsize"]}},
        "bumpfee": {"replaced_txid": dec["txid"], "txid": bump["txid"]},
        "confirmed_tx": {
            "hex": conf["hex"],
            "decoded": decoded(conf),
            "blockhash": blockhash,
            "blockheight": wallet["blockheight"],
            "blockindex": wallet["blockindex"],
        },
        "header": {"hex": hdr_hex, "json": {k: hdr_json[k] for k in header_fields}},
        "block": {"hash": block["hash"], "height": block["height"], "merkleroot": block["merkleroot"], "nTx": block["nTx"], "tx": block["tx"]},
        "txoutproof": {"txids": proof["request"]["params"][0], "blockhash": blockhash, "hex": proof["response"]["result"]},
    }


def render(doc):
    return json.dumps(doc, indent=2) + "\n"


def main():
    text = render(build())
    if "--check" in sys.argv[1:]:
        try:
            with open(OUT, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            sys.exit(f"extract.py: {OUT} is stale; run test/vectors/bitcoin/extract.py")
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
