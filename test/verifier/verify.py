#!/usr/bin/python3
"""An independent verifier for an immutalog data directory.

    /usr/bin/python3 verify.py DATA_DIR --identity FINGERPRINT [--auditor-key AUDITOR.pem]
                               [--max-checkpoint-age SECONDS] [--since-us T] [--until-us T]

--since-us/--until-us (microseconds since the epoch, until exclusive) check only the blocks whose
signed time bounds can hold entries in the range: block j's entries lie between the times of
checkpoints j-1 and j (the signed creation time for block 0), and every checked entry must.

Written from the README's "Formats" section (entry encoding v1, MAC chain, identity, escrow v1),
with what the README does not say (database file and tables, checkpoint v1, the Merkle tree,
which escrow belongs to which block) taken from the layouts described in src/ comments. It uses
the Python standard library and python3-cryptography only, and none of immutalog's code.

Prints one JSON object and exits 0 when nothing failed, 1 when something did, 2 when it cannot
run at all (no database, unreadable auditor key, bad arguments):

    {"ok", "fingerprint", "entries", "entries_checked", "checkpoints", "open_block",
     "open_block_entries", "unverified", "failures": [{"code", "seq" | "checkpoint" | "block", "detail"}]}

Failure codes are those of `immutalog verify` where the meaning is the same.
"""

import argparse
import hashlib
import hmac
import json
import os
import struct
import sqlite3
import sys
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DATABASE_FILE = "immutalog.sqlite"
GENESIS_LABEL = b"immutalog genesis v1\x00"
ESCROW_LABEL = b"immutalog escrow v1\x00"
SIGNING_CONTEXT = b"immutalog checkpoint v1\x00"
ESCROW_BYTES = 93
# Checkpoint v1: version, fingerprint, index, previous hash, first seq, count, chain head, entry
# root, K_j, escrow of K_{j+1}, next signing key, time, reason | Ed25519 signature.
CHECKPOINT = struct.Struct(">B32sQ32sQQ32s32s32s%ds32sQB64s" % ESCROW_BYTES)
REASONS = {1: "entries", 2: "interval", 3: "heartbeat", 4: "shutdown", 5: "restart"}
KNOWN_FLAGS = 0x7


class CannotRun(Exception):
    pass


def sha256(b):
    return hashlib.sha256(b).digest()


def u64(n):
    return struct.pack(">Q", n)


# --- entries --------------------------------------------------------------------------------

def encode_entry(seq, received_at_us, transport, flags, listener, peer_address, peer_port, raw):
    """Entry encoding v1; ValueError when a stored column cannot be encoded."""
    if not (0 <= seq < 2**64 and 0 <= received_at_us < 2**64):
        raise ValueError("seq or received_at out of u64 range")
    if transport not in (1, 2, 3):
        raise ValueError("transport %r is not 1, 2 or 3" % (transport,))
    if not 0 <= flags <= 0xFFFFFFFF or flags & ~KNOWN_FLAGS:
        raise ValueError("flags 0x%x has unknown bits" % flags)
    if not 0 <= peer_port <= 0xFFFF or len(listener) > 0xFFFF or len(peer_address) > 0xFFFF or len(raw) > 0xFFFFFFFF:
        raise ValueError("peer port or a length out of range")
    return (struct.pack(">BQQBIH", 1, seq, received_at_us, transport, flags, len(listener)) + listener
            + struct.pack(">H", len(peer_address)) + peer_address
            + struct.pack(">HI", peer_port, len(raw)) + raw)


# --- RFC 6962 / RFC 9162 2.1.1 Merkle Tree Hash over leaf hashes -----------------------------

def merkle_root(leaves):
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))


# --- escrow v1 ------------------------------------------------------------------------------

def open_escrow(blob, auditor, fingerprint_raw, j):
    if len(blob) != ESCROW_BYTES or blob[0] != 1:
        raise ValueError("escrow is not 93 bytes of version 1")
    eph, nonce, sealed = blob[1:33], blob[33:45], blob[45:]
    auditor_public = auditor.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    shared = auditor.exchange(X25519PublicKey.from_public_bytes(eph))
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=eph + auditor_public,
               info=ESCROW_LABEL + fingerprint_raw + u64(j)).derive(shared)
    return AESGCM(key).decrypt(nonce, sealed, u64(j))


# --- the audit ------------------------------------------------------------------------------

class Audit:
    def __init__(self, db, pinned, auditor, max_age_s, since_us=None, until_us=None):
        self.db, self.pinned, self.auditor, self.max_age_s = db, pinned, auditor, max_age_s
        self.since_us, self.until_us = since_us, until_us
        self.failures = []

    def wanted(self, lo, hi):
        """Whether a block whose entries lie in [lo, hi] can hold one in [since, until)."""
        return (self.since_us is None or hi >= self.since_us) and (self.until_us is None or lo < self.until_us)

    def fail(self, code, detail, **where):
        self.failures.append(dict(code=code, **where, detail=detail))

    def run(self):
        meta = {k.decode(): v.decode() for k, v in self.db.execute("SELECT key, value FROM meta")}
        if "identity_public" not in meta:
            raise CannotRun("no identity_public in the meta table: not an immutalog database")
        try:
            identity = bytes.fromhex(meta["identity_public"])
        except ValueError:
            raise CannotRun("meta identity_public is not hex")
        fp = sha256(identity)
        if fp.hex() != self.pinned:
            self.fail("IDENTITY_MISMATCH", "SHA-256 of the stored identity key is %s, not the pinned %s" % (fp.hex(), self.pinned))
        if meta.get("fingerprint") != fp.hex():
            self.fail("IDENTITY_MISMATCH", "meta fingerprint %s is not SHA-256 of the identity key" % meta.get("fingerprint"))
        block_rows = {b: (first, escrow) for b, first, escrow in self.db.execute("SELECT block, first_seq, escrow FROM blocks")}
        # Genesis statement: creation time and block 0's escrow, signed by the identity key.
        self.created_us = 0
        try:
            created_us = int(meta["created_at_us"])
            statement = b"immutalog genesis statement v1\x00" + fp + u64(created_us) + bytes(block_rows[0][1])
            Ed25519PublicKey.from_public_bytes(identity).verify(bytes.fromhex(meta["genesis_signature"]), statement)
            self.created_us = created_us
        except (KeyError, ValueError, InvalidSignature):
            self.fail("GENESIS_INVALID", "creation time or block 0's escrow is not what the identity key signed", block=0)

        sealed = self.walk_checkpoints(identity, fp, block_rows)
        entries_total = self.db.execute("SELECT count(*) FROM entries").fetchone()[0]
        checked = 0
        for b in sealed:
            if self.wanted(b["lo"], b["hi"]):
                checked += self.check_block(b)

        # The open block: after the newest decodable checkpoint, sealed by none yet.
        last = sealed[-1] if sealed else None
        open_block = last["index"] + 1 if last else 0
        open_first = last["first"] + last["count"] if last else 0
        row = block_rows.get(open_block)
        if row is None:
            self.fail("BLOCK_ROW_MISMATCH", "no row in blocks for the open block %d" % open_block, block=open_block)
        elif row[0] != open_first:
            self.fail("BLOCK_ROW_MISMATCH", "blocks row %d starts at %d, its checkpoints at %d" % (open_block, row[0], open_first), block=open_block)
        key, unverified = None, None
        # Prefer the escrow the newest checkpoint signed over the unsigned blocks row.
        escrow = last["next_escrow"] if last else (row[1] if row else None)
        if self.auditor is None:
            unverified = "no --auditor-key: the MACs of the open block were not checked"
        elif escrow is None:
            unverified = "no escrow for the open block"
        else:
            try:
                key = open_escrow(escrow, self.auditor, fp, open_block)
            except (ValueError, InvalidTag) as e:
                self.fail("BLOCK_ESCROW_INVALID", "escrow of open block %d does not open: %s" % (open_block, type(e).__name__), block=open_block)
                unverified = "the escrowed key of the open block could not be opened"
        open_start = last["head"] if last else sha256(GENESIS_LABEL + identity)
        floor = last["time"] if last else self.created_us
        n_open = 0
        if self.wanted(floor, 2**63 - 1):
            # A stop between a block switch and its checkpoint leaves a second unsealed block,
            # whose escrow no signature vouches for yet: checked without a key, reported unverified.
            switched = block_rows.get(open_block + 1)
            end = switched[0] if switched is not None else None
            n_open = self.check_block(dict(index=open_block, first=open_first, count=None, end=end, start=open_start, key=key, lo=floor))
            if switched is not None:
                n_next = self.check_block(dict(index=open_block + 1, first=switched[0], count=None, start=open_start, key=None, lo=floor))
                if n_next:
                    unverified = (unverified + "; " if unverified else "") + "block %d: checkpoint %d is not written yet" % (open_block + 1, open_block)
                n_open += n_next
        checked += n_open
        ranged = self.since_us is not None or self.until_us is not None
        if not ranged and checked != entries_total:
            self.fail("ENTRIES_UNCHECKED", "%d entries are in no block a decodable checkpoint or the open block covers" % (entries_total - checked))

        if self.max_age_s is not None:
            if last is None or time.time() * 1e6 - last["time"] > self.max_age_s * 1e6:  # the signed time
                self.fail("CHECKPOINT_STALE", "the newest checkpoint is older than %s s" % self.max_age_s, **({"checkpoint": last["index"]} if last else {}))

        self.failures.sort(key=lambda f: (f.get("seq", -1), f.get("checkpoint", f.get("block", -1))))
        return {
            "ok": not self.failures,
            "fingerprint": fp.hex(),
            "entries": entries_total,
            "entries_checked": checked,
            "checkpoints": self.checkpoint_rows,
            "open_block": open_block,
            "open_block_entries": n_open,
            "unverified": unverified,
            "failures": self.failures,
        }

    def walk_checkpoints(self, identity, fp, block_rows):
        """Index, previous hash, signer (identity, then each certified key), range, escrow rows."""
        expect, previous, signer, first, floor = 0, b"\x00" * 32, identity, 0, self.created_us
        head = sha256(GENESIS_LABEL + identity)
        sealed = []
        self.checkpoint_rows = 0
        for idx, time_us, raw in self.db.execute("SELECT idx, time_us, bytes FROM checkpoints ORDER BY idx"):
            self.checkpoint_rows += 1
            at = dict(checkpoint=idx)
            if idx != expect:
                self.fail("CHECKPOINT_MISSING", "checkpoints %d..%d are missing" % (expect, idx - 1), checkpoint=expect)
            expect = idx + 1
            raw = bytes(raw)
            if len(raw) != CHECKPOINT.size or raw[0] != 1 or raw[-65] not in REASONS:
                self.fail("CHECKPOINT_MALFORMED", "%d bytes (%d expected), version %s, reason %s" % (
                    len(raw), CHECKPOINT.size, raw[:1].hex() or "-", raw[-65] if len(raw) >= 65 else "-"), **at)
                continue
            (_, c_fp, c_index, c_prev, c_first, c_count, c_head, c_root, c_key, c_escrow, c_next,
             c_time, _reason, c_sig) = CHECKPOINT.unpack(raw)
            if c_index != idx or c_time != time_us:
                self.fail("CHECKPOINT_ROW_MISMATCH", "row (%d, %d) but signed (%d, %d)" % (idx, time_us, c_index, c_time), **at)
            if c_fp != fp:
                self.fail("CHECKPOINT_FINGERPRINT_MISMATCH", "names log %s" % c_fp.hex(), **at)
            if c_prev != previous:
                self.fail("CHECKPOINT_PREVIOUS_MISMATCH", "does not chain on the hash of the checkpoint before it", **at)
            try:
                Ed25519PublicKey.from_public_bytes(signer).verify(c_sig, SIGNING_CONTEXT + raw[:-64])
            except (InvalidSignature, ValueError):
                self.fail("CHECKPOINT_SIGNATURE_INVALID", "not signed by %s" % signer.hex(), **at)
            if c_first != first:
                self.fail("CHECKPOINT_RANGE_MISMATCH", "starts at entry %d, the previous block ended before %d" % (c_first, first), **at)
            row = block_rows.get(c_index)
            if row is not None and row[0] != c_first:
                self.fail("BLOCK_ROW_MISMATCH", "blocks row %d starts at %d, checkpoint at %d" % (c_index, row[0], c_first), block=c_index, **at)
            nxt = block_rows.get(c_index + 1)
            if nxt is None or bytes(nxt[1]) != c_escrow:
                self.fail("BLOCK_ESCROW_MISMATCH", "block %d's escrow row %s the one checkpoint %d signed" % (
                    c_index + 1, "is missing, not" if nxt is None else "is not", idx), block=c_index + 1, **at)
            if self.auditor is not None and row is not None:
                try:  # every block's escrow must open to the key its checkpoint discloses
                    if open_escrow(bytes(row[1]), self.auditor, fp, c_index) != c_key:
                        raise ValueError("opens to another key")
                except (ValueError, InvalidTag) as e:
                    self.fail("BLOCK_ESCROW_INVALID", "escrow of block %d does not open to K_%d: %s" % (c_index, c_index, e or type(e).__name__), block=c_index, **at)
            if c_time < floor:
                self.fail("CHECKPOINT_TIME_BACKWARDS", "dated %d, before %d" % (c_time, floor), **at)
            sealed.append(dict(index=c_index, checkpoint=idx, first=c_first, count=c_count, start=head, key=c_key,
                               head=c_head, root=c_root, next_escrow=c_escrow, time=c_time,
                               lo=min(floor, c_time), hi=c_time))
            previous, signer, first, head, floor = sha256(raw), c_next, c_first + c_count, c_head, c_time
        return sealed

    def check_block(self, b):
        """Sequence numbers, filing, MACs, and for a sealed block its count, chain head and root."""
        end = b["first"] + b["count"] if b["count"] is not None else (b.get("end") or 2**63 - 1)
        lo, hi = b.get("lo", 0), b.get("hi", 2**63 - 1)
        expect, prev, n, leaves = b["first"], b["start"], 0, []
        cp = dict(checkpoint=b["checkpoint"]) if "checkpoint" in b else {}
        rows = self.db.execute("SELECT seq, block, received_at_us, transport, flags, listener, peer_address, peer_port,"
                               " raw, mac FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq", (b["first"], end))
        for seq, block, at_us, transport, flags, listener, peer, port, raw, mac in rows:
            if seq != expect:
                self.fail("SEQ_GAP", "entries %d..%d are missing" % (expect, seq - 1), seq=expect)
            if block != b["index"]:
                self.fail("ENTRY_BLOCK_MISMATCH", "filed under block %d, its seq is in block %d" % (block, b["index"]), seq=seq)
            if not lo <= at_us <= hi:
                self.fail("ENTRY_TIME_OUT_OF_BLOCK", "received %d, outside the signed %d..%d of block %d" % (at_us, lo, hi, b["index"]), seq=seq)
            try:
                enc = encode_entry(seq, at_us, transport, flags, listener, peer, port, bytes(raw))
            except (ValueError, TypeError) as e:
                self.fail("ENTRY_BAD_ENCODING", str(e), seq=seq)
                enc = None
            if enc is not None and b["key"] is not None:
                if hmac.new(b["key"], prev + enc, hashlib.sha256).digest() != bytes(mac):
                    self.fail("ENTRY_MAC_MISMATCH", "MAC does not match the entry and its predecessor", seq=seq)
            leaves.append(sha256(b"\x00" + enc) if enc is not None else b"\x00" * 32)
            # Go on from the stored MAC, so one altered entry is one failure, not a cascade.
            prev, expect, n = bytes(mac), seq + 1, n + 1
        if b["count"] is not None:
            if n != b["count"]:
                if expect < end:
                    self.fail("SEQ_GAP", "block %d ends at entry %d; its checkpoint covers up to %d" % (b["index"], expect - 1, end - 1), seq=expect)
                self.fail("BLOCK_COUNT_MISMATCH", "block %d holds %d entries, its checkpoint says %d" % (b["index"], n, b["count"]), block=b["index"], **cp)
            if prev != b["head"]:
                self.fail("BLOCK_HEAD_MISMATCH", "block %d ends on another MAC than its checkpoint signed" % b["index"], block=b["index"], **cp)
            if merkle_root(leaves) != b["root"]:
                self.fail("BLOCK_ROOT_MISMATCH", "entries of block %d do not hash to its checkpoint's root" % b["index"], block=b["index"], **cp)
        return n


def main(argv):
    ap = argparse.ArgumentParser(description="Independent verifier of an immutalog data directory.")
    ap.add_argument("data_dir")
    ap.add_argument("--identity", required=True, help="the pinned fingerprint: hex SHA-256 of the identity key")
    ap.add_argument("--auditor-key", help="the auditor's X25519 private key (PKCS#8 PEM), to check the open block")
    ap.add_argument("--max-checkpoint-age", type=float, help="fail when the newest checkpoint is older (seconds)")
    ap.add_argument("--since-us", type=int, help="start of the range, microseconds since the epoch")
    ap.add_argument("--until-us", type=int, help="end of the range (exclusive), microseconds since the epoch")
    a = ap.parse_args(argv[1:])
    try:
        pinned = a.identity.lower()
        if len(pinned) != 64 or any(c not in "0123456789abcdef" for c in pinned):
            raise CannotRun("--identity: expected 64 hex digits")
        auditor = None
        if a.auditor_key:
            try:
                with open(a.auditor_key, "rb") as f:
                    auditor = serialization.load_pem_private_key(f.read(), password=None)
            except (OSError, ValueError, TypeError) as e:
                raise CannotRun("--auditor-key: %s" % e)
            if not isinstance(auditor, X25519PrivateKey):
                raise CannotRun("--auditor-key: not an X25519 private key")
        path = os.path.join(a.data_dir, DATABASE_FILE)
        if not os.path.isfile(path):
            raise CannotRun("no database at %s" % path)
        db = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path)), uri=True)
        db.text_factory = bytes  # TEXT columns as their stored UTF-8 bytes, which is what the MAC covers
        try:
            report = Audit(db, pinned, auditor, a.max_checkpoint_age, a.since_us, a.until_us).run()
        except sqlite3.Error as e:
            raise CannotRun("database: %s" % e)
        finally:
            db.close()
    except CannotRun as e:
        sys.stderr.write("verify.py: %s\n" % e)
        return 2
    sys.stdout.write(json.dumps(report, indent=1) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
