#!/usr/bin/python3
"""Test vectors for immutalog's chain formats (entry encoding v1, MAC chain, fingerprint, escrow v1).

Regenerate (from the repository root):

    /usr/bin/python3 test/vectors/make_vectors.py            # writes test/vectors/chain-v1.json
    /usr/bin/python3 test/vectors/make_vectors.py --check    # exit 1 if chain-v1.json is stale

Needs only the Python standard library and Debian's python3-cryptography (apt-get install
python3-cryptography); tested with cryptography 38.0.4 (Debian 12). The output is deterministic:
every input is a literal below, so running the script twice gives a byte-identical file.

The expected values are computed from the format specification (formats.md, "Formats") and
never from immutalog's own code: the point of the vectors is an independent implementation.
The fixed 32-byte inputs are SHA-256("immutalog test vector <label>"), written out as literals.

Escrow uses a random ephemeral X25519 key and a random nonce; here they are fixed inputs, so the
93-byte blob is reproducible. The TypeScript side cannot fix them, so it checks escrow by
decrypting these blobs, and by having python decrypt blobs that TypeScript made.
"""

import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chain-v1.json")

# ---------------------------------------------------------------------------------------------
# Fixed inputs
# ---------------------------------------------------------------------------------------------

# SHA-256("immutalog test vector identity seed"): Ed25519 private seed of the log identity.
IDENTITY_SEED = bytes.fromhex("30bdf3017f1f24722c82c87a7f8896f6b422a3d740b1fe89336d1eda906d3937")
# SHA-256("immutalog test vector auditor"): the auditor's X25519 private key (unclamped bytes).
AUDITOR_PRIVATE = bytes.fromhex("4a985a2412111e631a37e4b3966848addb11c8cd8a2b2eec98076cd05412348f")

# Block keys. K_0 and K_1 key the chain; K_big is escrowed under a block index above 2^32.
K_0 = bytes.fromhex("3d9a5c8c13728dee3f3fd9d01cb7e735c045cdeb7ede735f169348dd5a62e96f")
K_1 = bytes.fromhex("b0d1e2b68621f8d364f143a842041c7b0e001e53f8a1237eca85026d906c7e4c")
K_BIG = bytes.fromhex("fa6833c7a1eb88a3e02368791504d21b7eaad58b64eef454b41aa8d1435fddaa")
BIG_BLOCK = 2**32 + 1  # catches an index written as u32, or as u64 with the halves swapped

ESCROWS = [
    # (block index j, K_j, ephemeral X25519 private key, nonce (first 12 bytes of the hash))
    (0, K_0,
     "fe4c4e1e1dc0564ffcc82b65caa03c7368c79ce31678e31004016a4fe19a7c6e",
     "7ab7e7b949b5c860a7a24de06e8cf75301b5f394217f238222004bd78b81a87c"[:24]),
    (1, K_1,
     "922f12ca6ea3bcf1dc115d27de550baa3ca202d23954fc31eea0c58e04cbe301",
     "02cf010c90ca8f716240d36ce3638929f6fb73f880554c9174de659fd53c7ddf"[:24]),
    (BIG_BLOCK, K_BIG,
     "07a84f7991aada804645a48e02c3d031ccb2699095a86fcc34f323d13b5fee81",
     "f6bf707c7a64f83030640f5c785f50e47651453807e0241ac500a9cc6e2f4b0d"[:24]),
]

MAX_SAFE_INTEGER = 2**53 - 1  # largest seq / received_at a JS number holds exactly

ENTRIES = [
    dict(name="udp plain ascii, seq 0",
         seq=0, received_at_us=1732622400000000, transport="udp", flags=0,
         listener="udp://0.0.0.0:514", peer_address="192.0.2.10", peer_port=514,
         raw=b"<134>1 2024-11-26T12:00:00.000000Z compute-1 nova-compute 1234 - - "
             b"Instance spawned successfully."),
    dict(name="tcp truncated (flag 1), port 65535",
         seq=1, received_at_us=1732622400000123, transport="tcp", flags=1,
         listener="tcp://127.0.0.1:5514", peer_address="127.0.0.1", peer_port=65535,
         raw=b"<27>Nov 26 12:00:00 ctl-1 keystone: Traceback (most recent call last): File \"/usr/lib/"),
    dict(name="tls incomplete (flag 2), IPv6 peer, LF inside raw",
         seq=2, received_at_us=1732622401000000, transport="tls", flags=2,
         listener="tls://[::]:6514", peer_address="2001:db8::42", peer_port=40123,
         raw=b"<30>Nov 26 12:00:01 ctl-1 neutron-server: line one\nline two"),
    dict(name="udp empty raw, IPv4-mapped IPv6 peer, port 0",
         seq=3, received_at_us=1732622401000001, transport="udp", flags=0,
         listener="udp://[::]:514", peer_address="::ffff:198.51.100.7", peer_port=0,
         raw=b""),
    dict(name="tcp invalid UTF-8 (flag 4), ::1 peer",
         seq=4, received_at_us=1732622402500000, transport="tcp", flags=4,
         listener="tcp://127.0.0.1:5514", peer_address="::1", peer_port=49152,
         raw=b"<14>bad bytes \xff\xfe and \xc3\x28 here"),
    dict(name="tls all flags (7), NUL + LF + invalid UTF-8, non-ASCII listener",
         seq=5, received_at_us=1732622403000000, transport="tls", flags=7,
         listener="tls://журнал.例え.test:6514", peer_address="fe80::1%eth0", peer_port=6514,
         raw=b"<11>a\x00b\nc \xe2\x82"),
    dict(name="seq and received_at 2^53-1, port 65535, valid non-ASCII UTF-8 raw",
         seq=MAX_SAFE_INTEGER, received_at_us=MAX_SAFE_INTEGER, transport="udp", flags=0,
         listener="udp://127.0.0.1:5514", peer_address="10.0.0.1", peer_port=65535,
         raw="<13>héllo wörld ✓ 🚀".encode("utf-8")),
    dict(name="seq 2^32, received_at 0, 300-byte raw with every byte value",
         seq=2**32, received_at_us=0, transport="tcp", flags=4,
         listener="tcp://[2001:db8::1]:5514", peer_address="2001:db8::ffff:1", peer_port=256,
         raw=bytes(range(256)) + b"<" * 44),
    dict(name="300-byte listener (high byte of the u16 length)",
         seq=256, received_at_us=1732622404000000, transport="tls", flags=0,
         listener="tls://" + "l" * 287 + ".test:6514", peer_address="203.0.113.255", peer_port=65534,
         raw=b"<0>x"),
]

# The chain: entries with seq 0..5 (no gap), block 0 holds seq 0..2 and block 1 seq 3..5.
CHAIN_BLOCKS = [(0, K_0, [0, 1, 2]), (1, K_1, [3, 4, 5])]

# ---------------------------------------------------------------------------------------------
# The formats, written from the specification
# ---------------------------------------------------------------------------------------------

TRANSPORTS = {"udp": 1, "tcp": 2, "tls": 3}


def u64(n):
    return struct.pack(">Q", n)


def encode_entry(e):
    """Entry encoding v1: all integers unsigned big-endian, variable fields length-prefixed."""
    assert 0 <= e["seq"] < 2**64 and 0 <= e["received_at_us"] < 2**64
    assert e["flags"] & ~0x7 == 0 and 0 <= e["peer_port"] <= 0xFFFF
    listener = e["listener"].encode("utf-8")
    peer = e["peer_address"].encode("utf-8")
    raw = e["raw"]
    assert len(listener) <= 0xFFFF and len(peer) <= 0xFFFF and len(raw) <= 0xFFFFFFFF
    return (struct.pack(">B", 1)
            + struct.pack(">Q", e["seq"])
            + struct.pack(">Q", e["received_at_us"])
            + struct.pack(">B", TRANSPORTS[e["transport"]])
            + struct.pack(">I", e["flags"])
            + struct.pack(">H", len(listener)) + listener
            + struct.pack(">H", len(peer)) + peer
            + struct.pack(">H", e["peer_port"])
            + struct.pack(">I", len(raw)) + raw)


def genesis(identity_public):
    assert len(identity_public) == 32
    return hashlib.sha256(b"immutalog genesis v1\x00" + identity_public).digest()


def chain_mac(block_key, previous, encoded):
    return hmac.new(block_key, previous + encoded, hashlib.sha256).digest()


def raw_public(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def hkdf_stdlib(ikm, salt, info, length):
    """RFC 5869 with hmac only: a second opinion on cryptography's HKDF."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm, i = okm + t, i + 1
    return okm[:length]


def escrow(block_key, auditor_public, fingerprint_raw, j, ephemeral_private, nonce):
    """Block-key escrow v1 with the ephemeral key and nonce fixed."""
    assert len(block_key) == 32 and len(nonce) == 12 and len(fingerprint_raw) == 32
    eph = X25519PrivateKey.from_private_bytes(ephemeral_private)
    eph_public = raw_public(eph)
    shared = eph.exchange(X25519PublicKey.from_public_bytes(auditor_public))
    salt = eph_public + auditor_public
    info = b"immutalog escrow v1\x00" + fingerprint_raw + u64(j)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(shared)
    assert key == hkdf_stdlib(shared, salt, info, 32)
    sealed = AESGCM(key).encrypt(nonce, block_key, u64(j))  # ciphertext (32) || tag (16)
    blob = b"\x01" + eph_public + nonce + sealed
    assert len(blob) == 93
    return eph_public, key, blob


def open_escrow(blob, auditor_private, fingerprint_raw, j):
    assert len(blob) == 93 and blob[0] == 1
    eph_public, nonce, sealed = blob[1:33], blob[33:45], blob[45:]
    shared = auditor_private.exchange(X25519PublicKey.from_public_bytes(eph_public))
    info = b"immutalog escrow v1\x00" + fingerprint_raw + u64(j)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_public + raw_public(auditor_private),
               info=info).derive(shared)
    return AESGCM(key).decrypt(nonce, sealed, u64(j))


# ---------------------------------------------------------------------------------------------
# Build the document
# ---------------------------------------------------------------------------------------------

def build():
    identity = Ed25519PrivateKey.from_private_bytes(IDENTITY_SEED)
    identity_public = raw_public(identity)
    fingerprint_raw = hashlib.sha256(identity_public).digest()

    auditor = X25519PrivateKey.from_private_bytes(AUDITOR_PRIVATE)
    auditor_public = raw_public(auditor)
    auditor_pem = auditor.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode("ascii")

    entries, encodings = [], []
    for e in ENTRIES:
        enc = encode_entry(e)
        encodings.append(enc)
        entries.append({
            "name": e["name"],
            "seq": e["seq"],
            "received_at_us": e["received_at_us"],
            "transport": e["transport"],
            "flags": e["flags"],
            "listener": e["listener"],
            "peer_address": e["peer_address"],
            "peer_port": e["peer_port"],
            "raw_hex": e["raw"].hex(),
            "encoding_hex": enc.hex(),
        })

    h0 = genesis(identity_public)
    previous = h0
    blocks = []
    for j, key, indexes in CHAIN_BLOCKS:
        steps = []
        for i in indexes:
            mac = chain_mac(key, previous, encodings[i])
            steps.append({"entry": i, "seq": ENTRIES[i]["seq"], "previous_hex": previous.hex(), "mac_hex": mac.hex()})
            previous = mac
        blocks.append({"block": j, "key_hex": key.hex(), "steps": steps})
    # seq runs 0, 1, 2, ... with no gap along the chain
    assert [s["seq"] for b in blocks for s in b["steps"]] == list(range(sum(len(b["steps"]) for b in blocks)))

    escrows = []
    for j, key, eph_hex, nonce_hex in ESCROWS:
        eph_private, nonce = bytes.fromhex(eph_hex), bytes.fromhex(nonce_hex)
        eph_public, wrapping_key, blob = escrow(key, auditor_public, fingerprint_raw, j, eph_private, nonce)
        assert open_escrow(blob, auditor, fingerprint_raw, j) == key
        escrows.append({
            "block": j,
            "block_key_hex": key.hex(),
            "ephemeral_private_key_hex": eph_private.hex(),
            "ephemeral_public_key_hex": eph_public.hex(),
            "nonce_hex": nonce.hex(),
            "wrapping_key_hex": wrapping_key.hex(),
            "blob_hex": blob.hex(),
        })

    return {
        "_comment": [
            "Generated by test/vectors/make_vectors.py; do not edit by hand.",
            "Regenerate: /usr/bin/python3 test/vectors/make_vectors.py (stdlib + python3-cryptography only).",
            "Integers that fit a JS number exactly (<= 2^53-1) are JSON numbers; bytes are lowercase hex.",
        ],
        "format": "immutalog chain vectors v1",
        "entries": entries,
        "identity": {
            "ed25519_private_seed_hex": IDENTITY_SEED.hex(),
            "public_key_hex": identity_public.hex(),
            "fingerprint_hex": fingerprint_raw.hex(),
        },
        "chain": {
            "identity_public_key_hex": identity_public.hex(),
            "genesis_hex": h0.hex(),
            "blocks": blocks,
        },
        "auditor": {
            "x25519_private_key_hex": AUDITOR_PRIVATE.hex(),
            "x25519_public_key_hex": auditor_public.hex(),
            "private_key_pem": auditor_pem,
        },
        "escrow": {
            "fingerprint_hex": fingerprint_raw.hex(),
            "blobs": escrows,
        },
    }


def render():
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv):
    text = render()
    if argv[1:] == ["--check"]:
        with open(OUT, encoding="utf-8") as f:
            current = f.read()
        if current != text:
            sys.stderr.write(f"{OUT} is stale: regenerate with /usr/bin/python3 {argv[0]}\n")
            return 1
        return 0
    if argv[1:]:
        sys.stderr.write(f"usage: {argv[0]} [--check]\n")
        return 2
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
