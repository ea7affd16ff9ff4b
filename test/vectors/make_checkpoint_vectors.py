#!/usr/bin/python3
"""Test vectors for immutalog's RFC 6962 Merkle tree and checkpoint v1.

Regenerate (from the repository root):

    /usr/bin/python3 test/vectors/make_checkpoint_vectors.py          # writes merkle-v1.json, checkpoint-v1.json
    /usr/bin/python3 test/vectors/make_checkpoint_vectors.py --check  # exit 1 if either file is stale

Needs only the Python standard library and Debian's python3-cryptography (tested with 38.0.4).
Deterministic: every input is a literal below (or in make_vectors.py, whose chain-v1 inputs are
reused so that the checkpoints close the very blocks of chain-v1.json), and Ed25519 signatures
are deterministic (RFC 8032), so two runs give byte-identical files.

Nothing here comes from immutalog's TypeScript:
  - the Merkle tree is RFC 9162 section 2.1 written out as its recursive definitions (MTH, PATH),
    and the roots of the first 8 leaves are also checked against the published Certificate
    Transparency reference roots quoted below;
  - the checkpoint layout is the one documented in src/checkpoint/format.ts's header comment
    (the README has no checkpoint section), field by field with struct.
The fixed 32-byte inputs are SHA-256("immutalog test vector <label>"), written out as literals.
"""

import hashlib
import json
import os
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ beside the vectors
sys.path.insert(0, HERE)
import make_vectors as chain  # noqa: E402  (chain-v1 inputs and formats: entry encoding, MAC, escrow)

MERKLE_OUT = os.path.join(HERE, "merkle-v1.json")
CHECKPOINT_OUT = os.path.join(HERE, "checkpoint-v1.json")

# ---------------------------------------------------------------------------------------------
# RFC 9162 section 2.1: Merkle Tree Hash, audit paths, and the verification algorithm
# ---------------------------------------------------------------------------------------------


def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(d):
    return sha256(b"\x00" + d)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def split(n):
    """k: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    """MTH(D[n]) over leaf data (section 2.1.1)."""
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hash(d[0])
    k = split(n)
    return node_hash(mth(d[:k]), mth(d[k:]))


def path(m, d):
    """PATH(m, D[n]) (section 2.1.3.1): the audit path, leaf's sibling first."""
    n = len(d)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def root_from_path(leaf, index, size, proof):
    """Section 2.1.3.2 step by step; None when the proof does not fit (index, size)."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


# Certificate Transparency's reference leaves and tree heads (sizes 0..8), as published with the
# C++ and Go CT implementations' tests; the first 8 leaves below are these.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# and two of the reference audit paths (size 8)
CT_PATHS = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}

MAX_LEAVES = 17
PROOF_SIZES = list(range(1, 10)) + [17]


def leaf_data():
    extra = [("immutalog leaf %d" % i).encode("ascii") for i in range(len(CT_LEAVES), MAX_LEAVES)]
    return [bytes.fromhex(h) for h in CT_LEAVES] + extra


def build_merkle():
    data = leaf_data()
    for n in range(len(CT_ROOTS)):
        assert mth(data[:n]).hex() == CT_ROOTS[n], f"MTH of {n} CT leaves differs from the published root"
    for (m, n), want in CT_PATHS.items():
        assert [h.hex() for h in path(m, data[:n])] == want, f"PATH({m}, D[{n}]) differs from the published path"

    roots = [{"size": n, "root_hex": mth(data[:n]).hex()} for n in range(MAX_LEAVES + 1)]
    proofs = []
    for n in PROOF_SIZES:
        root = mth(data[:n])
        for m in range(n):
            p = path(m, data[:n])
            assert root_from_path(leaf_hash(data[m]), m, n, p) == root
            if p:  # a path one hash too short or too long does not reach the root
                assert root_from_path(leaf_hash(data[m]), m, n, p[:-1]) is None
                assert root_from_path(leaf_hash(data[m]), m, n, p + [p[0]]) is None
            proofs.append({"index": m, "size": n, "path_hex": [h.hex() for h in p]})
    return {
        "_comment": [
            "Generated by test/vectors/make_checkpoint_vectors.py; do not edit by hand.",
            "RFC 6962 / RFC 9162 section 2.1: leaf hash SHA-256(0x00 || d), node hash SHA-256(0x01 || l || r).",
            "Leaves 0..7 are the Certificate Transparency reference leaves; roots 0..8 are their published tree heads.",
            "Paths list the leaf's sibling first, the root's child last (RFC 9162 PATH order).",
        ],
        "format": "immutalog merkle vectors v1",
        "leaves": [{"index": i, "data_hex": d.hex(), "leaf_hash_hex": leaf_hash(d).hex()} for i, d in enumerate(data)],
        "roots": roots,
        "inclusion": proofs,
    }


# ---------------------------------------------------------------------------------------------
# Checkpoint v1 (layout from the header comment of src/checkpoint/format.ts)
# ---------------------------------------------------------------------------------------------

SIGNING_CONTEXT = b"immutalog checkpoint v1\x00"
REASONS = {"entries": 1, "interval": 2, "heartbeat": 3, "shutdown": 4, "restart": 5}
ESCROW_BYTES = 93
BODY_BYTES = 1 + 32 + 8 + 32 + 8 + 8 + 32 + 32 + 32 + ESCROW_BYTES + 32 + 8 + 1
CHECKPOINT_BYTES = BODY_BYTES + 64


def encode_body(c):
    for name, n in [("fingerprint", 32), ("previous", 32), ("chain_head", 32), ("entry_root", 32),
                    ("block_key", 32), ("next_key_escrow", ESCROW_BYTES), ("next_signing_key", 32)]:
        assert len(c[name]) == n, name
    body = (struct.pack(">B", 1)
            + c["fingerprint"]
            + struct.pack(">Q", c["index"])
            + c["previous"]
            + struct.pack(">Q", c["first_seq"])
            + struct.pack(">Q", c["count"])
            + c["chain_head"]
            + c["entry_root"]
            + c["block_key"]
            + c["next_key_escrow"]
            + c["next_signing_key"]
            + struct.pack(">Q", c["time_us"])
            + struct.pack(">B", REASONS[c["reason"]]))
    assert len(body) == BODY_BYTES == 319
    return body


def ed25519(seed):
    k = Ed25519PrivateKey.from_private_bytes(seed)
    return k, k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(c, seed):
    key, public = ed25519(seed)
    body = encode_body(c)
    signature = key.sign(SIGNING_CONTEXT + body)
    full = body + signature
    assert len(full) == CHECKPOINT_BYTES == 383
    Ed25519PublicKey.from_public_bytes(public).verify(signature, SIGNING_CONTEXT + body)
    try:  # the context is part of what is signed
        Ed25519PublicKey.from_public_bytes(public).verify(signature, body)
        raise AssertionError("signature verified without the context")
    except InvalidSignature:
        pass
    return body, signature, full


# Signing keys certified by checkpoints 0, 1, 2 (checkpoint 0 is signed by the identity key).
SIGNER_SEEDS = [
    bytes.fromhex("d386b0ebe2e6912f651278af061ccdf1ab4495bb2a7d2df8f313707e818b4773"),  # "checkpoint signing key 1"
    bytes.fromhex("639633e8b44778afcadb6c55613df89ecd96b197cb60a16f9f1acbc4328c47cd"),  # "checkpoint signing key 2"
    bytes.fromhex("ea2ef1cb218ca43353abc65379fd42b4f1417631356afa5267040598875899f0"),  # "checkpoint signing key 3"
]
K_2 = bytes.fromhex("9c84cbb920c32adabc3bbc6650fa78c5a50ddd57ad0f79296e27141059648925")  # "block key 2"
K_3 = bytes.fromhex("00df2066d2536701ff041fea05e1fea69a723e3c7bec111f35e7c9902c8c5535")  # "block key 3"
EXTRA_ESCROWS = [
    # (block, key, ephemeral X25519 private key, nonce = first 12 bytes of the hash)
    (2, K_2, "eea290822721a4108bb51d4b7b3e44bd8926db840781a8bade2d14ff159f17ee",
     "fe68343fbaee26815afffc0346b555dfe12630f730e0f273020ef2bb559bd019"[:24]),
    (3, K_3, "8a1782338fd93659b61ee5d4b487a4f5ef5bc4996e3f35371e1b46f431d7a4db",
     "a3900caac0dbf2df3a76fdee8272b294f210f62b20868c0806a1cb5d5d9fdd59"[:24]),
]
CHAIN_TIMES = [1732622405000000, 1732622465000000, 1732622525000000]
CHAIN_REASONS = ["entries", "interval", "heartbeat"]

STANDALONE = [
    # A checkpoint of a huge log: index 2^32 (its next-key escrow is chain-v1's blob for block
    # 2^32 + 1), first_seq + count = 2^53 - 1, time 2^53 - 1. Any u64 written as u32 shows.
    dict(name="index 2^32, seq range ending at 2^53-1, time 2^53-1, restart",
         signer="8085d8fc81a2fc528fc472d276f069ff48f1a498871f62720691033de1f89735",  # "standalone signer"
         index=2**32, first_seq=2**53 - 1 - 300, count=300, time_us=2**53 - 1, reason="restart",
         previous="e732ce08349c99ac51d52240156d0b54589e19b9d976c7ec94a9dd37a5982bc6",  # "standalone previous"
         chain_head="a8ea6502c772eebfae17b1d08ebb8713366c052a43e92053fece0764be60a752",  # "standalone chain head"
         entry_root="ede346aea40dd3be476b0e7acb3e7f30f9ac93594ca36f2d92786e1a0ad7e570",  # "standalone entry root"
         block_key="f70d062ec0e2a4c150f37e470bf334b1aad31fcd6b122b5554ed69bf4d5027fd",  # "standalone block key"
         next_signing_key="695d37ad7ced8514ec365ef818d3c48c2b946450255634080dcabb4fabf8fa46"),  # "standalone next signing key"
    # Shutdown over an empty first block: genesis previous (zeros), chain head = genesis hash.
    dict(name="index 0, empty block, shutdown, time 0",
         signer=None,  # the identity key
         index=0, first_seq=0, count=0, time_us=0, reason="shutdown",
         previous=None, chain_head=None, entry_root=None, block_key=None, next_signing_key=None),
]


def build_checkpoints():
    identity_seed = chain.IDENTITY_SEED
    _, identity_public = ed25519(identity_seed)
    fingerprint = sha256(identity_public)
    auditor = chain.X25519PrivateKey.from_private_bytes(chain.AUDITOR_PRIVATE)
    auditor_public = chain.raw_public(auditor)

    # Escrow blobs for blocks 1, 2, 3 and 2^32 + 1: chain-v1's inputs for 1 and 2^32 + 1.
    escrow_of = {}
    for j, key, eph_hex, nonce_hex in [e for e in chain.ESCROWS if e[0] != 0] + EXTRA_ESCROWS:
        _, _, blob = chain.escrow(key, auditor_public, fingerprint, j, bytes.fromhex(eph_hex), bytes.fromhex(nonce_hex))
        assert chain.open_escrow(blob, auditor, fingerprint, j) == key
        escrow_of[j] = (key, blob)

    # Blocks 0 and 1 are chain-v1's: entries 0..2 and 3..5. Block 2 is empty (a heartbeat).
    encodings = [chain.encode_entry(e) for e in chain.ENTRIES]
    genesis = chain.genesis(identity_public)
    blocks = []
    head = genesis
    for j, key, indexes in chain.CHAIN_BLOCKS + [(2, K_2, [])]:
        first_seq = chain.ENTRIES[indexes[0]]["seq"] if indexes else blocks[-1]["first_seq"] + blocks[-1]["count"]
        leaves = [encodings[i] for i in indexes]
        for i in indexes:
            head = chain.chain_mac(key, head, encodings[i])
        blocks.append({"block": j, "key": key, "first_seq": first_seq, "count": len(indexes), "head": head,
                       "root": mth(leaves), "entries": indexes})

    signer_seeds = [identity_seed] + SIGNER_SEEDS
    previous = b"\x00" * 32
    checkpoints = []
    for j, b in enumerate(blocks):
        _, next_public = ed25519(signer_seeds[j + 1])
        fields = dict(fingerprint=fingerprint, index=j, previous=previous, first_seq=b["first_seq"],
                      count=b["count"], chain_head=b["head"], entry_root=b["root"], block_key=b["key"],
                      next_key_escrow=escrow_of[j + 1][1], next_signing_key=next_public,
                      time_us=CHAIN_TIMES[j], reason=CHAIN_REASONS[j])
        body, signature, full = sign(fields, signer_seeds[j])
        c_j = sha256(full)
        checkpoints.append(describe(f"chain checkpoint {j}", fields, signer_seeds[j], body, signature, full, c_j,
                                    block_entries=b["entries"]))
        previous = c_j
    assert checkpoints[1]["fields"]["first_seq"] == 3 and checkpoints[2]["fields"]["first_seq"] == 6
    assert checkpoints[2]["fields"]["chain_head_hex"] == checkpoints[1]["fields"]["chain_head_hex"]
    assert checkpoints[2]["fields"]["entry_root_hex"] == sha256(b"").hex()

    standalone = []
    for s in STANDALONE:
        h = lambda v, default: bytes.fromhex(v) if v is not None else default  # noqa: E731
        seed = h(s["signer"], identity_seed)
        index = s["index"]
        fields = dict(fingerprint=fingerprint, index=index, previous=h(s["previous"], b"\x00" * 32),
                      first_seq=s["first_seq"], count=s["count"], chain_head=h(s["chain_head"], genesis),
                      entry_root=h(s["entry_root"], sha256(b"")), block_key=h(s["block_key"], chain.K_0),
                      next_key_escrow=escrow_of[index + 1][1] if index + 1 in escrow_of else escrow_of[1][1],
                      next_signing_key=h(s["next_signing_key"], ed25519(SIGNER_SEEDS[0])[1]),
                      time_us=s["time_us"], reason=s["reason"])
        body, signature, full = sign(fields, seed)
        standalone.append(describe(s["name"], fields, seed, body, signature, full, sha256(full)))
    assert {c["fields"]["reason"] for c in checkpoints + standalone} == set(REASONS)

    return {
        "_comment": [
            "Generated by test/vectors/make_checkpoint_vectors.py; do not edit by hand.",
            "Checkpoint v1: 319-byte body, then a 64-byte Ed25519 signature over signing_context || body.",
            "c_j = SHA-256(all 383 bytes). Checkpoints 0 and 1 of the chain close blocks 0 and 1 of chain-v1.json;",
            "checkpoint j is signed by the key checkpoint j-1 certified (next_signing_key), checkpoint 0 by the identity.",
            "Integers that fit a JS number exactly (<= 2^53-1) are JSON numbers; bytes are lowercase hex.",
        ],
        "format": "immutalog checkpoint vectors v1",
        "signing_context_hex": SIGNING_CONTEXT.hex(),
        "body_bytes": BODY_BYTES,
        "checkpoint_bytes": CHECKPOINT_BYTES,
        "reasons": REASONS,
        "identity": {
            "ed25519_private_seed_hex": identity_seed.hex(),
            "public_key_hex": identity_public.hex(),
            "fingerprint_hex": fingerprint.hex(),
            "genesis_hex": genesis.hex(),
        },
        "auditor_x25519_private_key_hex": chain.AUDITOR_PRIVATE.hex(),
        "chain": checkpoints,
        "standalone": standalone,
    }


def describe(name, f, seed, body, signature, full, c_j, block_entries=None):
    out = {
        "name": name,
        "signer_seed_hex": seed.hex(),
        "signer_public_key_hex": ed25519(seed)[1].hex(),
        "fields": {
            "fingerprint_hex": f["fingerprint"].hex(),
            "index": f["index"],
            "previous_hash_hex": f["previous"].hex(),
            "first_seq": f["first_seq"],
            "count": f["count"],
            "chain_head_hex": f["chain_head"].hex(),
            "entry_root_hex": f["entry_root"].hex(),
            "block_key_hex": f["block_key"].hex(),
            "next_key_escrow_hex": f["next_key_escrow"].hex(),
            "next_signing_key_hex": f["next_signing_key"].hex(),
            "time_us": f["time_us"],
            "reason": f["reason"],
        },
        "body_hex": body.hex(),
        "signature_hex": signature.hex(),
        "bytes_hex": full.hex(),
        "hash_hex": c_j.hex(),
    }
    if block_entries is not None:
        out["block_entries"] = block_entries  # indexes into chain-v1.json "entries"
    return out


def render():
    return {
        MERKLE_OUT: json.dumps(build_merkle(), indent=2) + "\n",
        CHECKPOINT_OUT: json.dumps(build_checkpoints(), indent=2) + "\n",
    }


def main(argv):
    files = render()
    if argv[1:] == ["--check"]:
        stale = 0
        for out, text in files.items():
            try:
                with open(out, encoding="utf-8") as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            if current != text:
                sys.stderr.write(f"{out} is stale: regenerate with /usr/bin/python3 {argv[0]}\n")
                stale = 1
        return stale
    if argv[1:]:
        sys.stderr.write(f"usage: {argv[0]} [--check]\n")
        return 2
    for out, text in files.items():
        with open(out, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
