#!/usr/bin/env python3
"""Checks vectors/cards.json against Protocol.md section 10, with PyNaCl and the standard library
only, written from Protocol.md and not from Caucus's code: every signed byte string is rebuilt from
the fields, every signature checked, every hash and byte layout recomputed, the Merkle tree and its
audit paths recomputed (RFC 9162), each tally proof parsed and judged, and the evidence bundle
verified with scripts/verify-evidence.py's reader.

usage: check-card-vectors.py [vectors/cards.json]     (pip install pynacl)
Exit status 0 when everything checks, 1 otherwise (each failure is printed).
"""
import hashlib
import json
import os
import struct
import sys
import tempfile

from nacl.signing import SigningKey

# The bundle verifier (written from Protocol.md too) gives the canonical bytes of section 3, LP(),
# the Merkle Tree Hash and the whole bundle check; this script adds the rest of section 10.
from vector_checks import expect, finish, verifier, verifies  # scripts/, the directory of this file, is on sys.path

canonical, lp, merkle_root = verifier.canonical, verifier.lp, verifier.merkle_root


def h(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def u64(value):
    return struct.pack(">Q", value)


def signed(record, tag, fields, key, what):
    """The record's signed bytes are canonical(tag, fields), its signature verifies with key, and
    (when it has one) its hash is BLAKE2b-256(signed bytes || signature)."""
    message = canonical(tag, fields)
    expect(record["signed_bytes"] == message.hex(), f"{what}: signed bytes")
    signature = bytes.fromhex(record["signature"])
    expect(verifies(key, message, signature), f"{what}: signature")
    if "hash" in record:
        expect(record["hash"] == h(message + signature).hex(), f"{what}: hash")
    return signature


SIX = ["name", "contact", "phone", "employer", "language", "date"]


def audit_path(index, leaves):
    """RFC 9162 2.1.3.1's PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return audit_path(index, leaves[:k]) + [merkle_root(leaves[k:])]
    return audit_path(index - k, leaves[k:]) + [merkle_root(leaves[:k])]


def proves(path, leaf, index, size, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, h(b"\x00" + leaf)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h(b"\x01" + p + r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = h(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def judge_proof(data, statement_bytes, root, counted):
    """Protocol.md 10.10: 'counted', 'not counted', or None when the proof shows nothing."""
    if data[0] != 0x26 or data[1:186] != statement_bytes:
        return None
    card, rest = data[186:218], data[218:]

    def path(buffer):
        length = buffer[0]
        return [buffer[1 + 32 * i:33 + 32 * i] for i in range(length)], buffer[1 + 32 * length:]

    if rest[0] == 0x01:
        index = struct.unpack(">Q", rest[1:9])[0]
        hashes, rest = path(rest[9:])
        return "counted" if not rest and proves(hashes, card, index, counted, root) else None
    if rest[0] != 0x02:
        return None
    count, rest = rest[1], rest[2:]
    neighbours = []
    for _ in range(count):
        leaf, index = rest[:32], struct.unpack(">Q", rest[32:40])[0]
        hashes, rest = path(rest[40:])
        if not proves(hashes, leaf, index, counted, root):
            return None
        neighbours.append((leaf, index))
    if rest:
        return None
    if count == 0:
        return "not counted" if counted == 0 else None
    if count == 1:
        leaf, index = neighbours[0]
        return "not counted" if (index == 0 and card < leaf) or (index == counted - 1 and leaf < card) else None
    (left, i), (right, j) = neighbours
    return "not counted" if j == i + 1 and left < card < right else None


def main(path):
    vectors = json.load(open(path, encoding="utf-8"))
    seeds = vectors["seeds"]
    organizer = SigningKey(bytes.fromhex(seeds["organizer"])).verify_key.encode()
    card_key = SigningKey(bytes.fromhex(seeds["card_key"])).verify_key.encode()

    c = vectors["campaign"]
    f = c["fields"]
    expect(f["organizer"] == organizer.hex() and f["card_key"] == card_key.hex(), "campaign: keys from the seeds")
    sig = signed(c, "caucus/campaign/v1", [
        bytes.fromhex(f["id"]), f["union"], f["employer"], f["unit_description"], f["unit_size"], f["language"],
        card_key, organizer, f["created_at_ms"]], organizer, "campaign")
    campaign_hash = bytes.fromhex(c["hash"])
    encoded = (b"\x01" + bytes.fromhex(f["id"]) + lp(f["union"].encode()) + lp(f["employer"].encode())
               + lp(f["unit_description"].encode()) + u64(f["unit_size"]) + lp(f["language"].encode())
               + card_key + organizer + u64(f["created_at_ms"]) + sig)
    expect(c["encoded"] == encoded.hex(), "campaign: encoding")

    cards = {}
    for what, card in [(f"cards[{i}]", card) for i, card in enumerate(vectors["cards"])] + [("withdrawn_card", vectors["withdrawn_card"])]:
        signer = bytes.fromhex(card["signer"])
        values = [card["fields"][name] for name in SIX]
        sig = signed(card, "caucus/card/v1", [campaign_hash] + values + [signer, card["signed_at_ms"]], signer, what)
        encoded = b"\x21" + campaign_hash + b"".join(lp(v.encode()) for v in values) + signer + u64(card["signed_at_ms"]) + sig
        expect(card["encoded"] == encoded.hex(), f"{what}: encoding")
        cards[card["hash"]] = card

    r = vectors["revocation"]
    withdrawn = vectors["withdrawn_card"]
    signer = bytes.fromhex(withdrawn["signer"])
    card_hash = bytes.fromhex(r["card"])
    expect(r["card"] == withdrawn["hash"], "revocation: names the withdrawn card")
    sig = signed(r, "caucus/card-revocation/v1", [campaign_hash, card_hash, signer, r["revoked_at_ms"]], signer, "revocation")
    expect(r["encoded"] == (b"\x22" + campaign_hash + card_hash + signer + u64(r["revoked_at_ms"]) + sig).hex(), "revocation: encoding")

    receipt = vectors["receipt"]
    first = vectors["cards"][0]
    first_signer, first_hash = bytes.fromhex(first["signer"]), bytes.fromhex(first["hash"])
    values = [first["fields"][name] for name in SIX]
    sig = signed(receipt, "caucus/card-receipt/v1", [campaign_hash, first_hash] + values + [first_signer, receipt["received_at_ms"]],
                 card_key, "receipt")
    expect(receipt["encoded"] == (b"\x23" + campaign_hash + first_hash + b"".join(lp(v.encode()) for v in values) + first_signer
                                  + u64(receipt["received_at_ms"]) + sig).hex(), "receipt: encoding")

    rr = vectors["revocation_receipt"]
    sig = signed(rr, "caucus/revocation-receipt/v1", [campaign_hash, card_hash, signer, r["revoked_at_ms"], rr["received_at_ms"]],
                 card_key, "revocation receipt")
    expect(rr["encoded"] == (b"\x24" + campaign_hash + card_hash + signer + u64(r["revoked_at_ms"]) + u64(rr["received_at_ms"])
                             + sig).hex(), "revocation receipt: encoding")

    # The tally statement over the two counted cards, and its tree.
    s = vectors["tally_statement"]
    leaves = sorted(bytes.fromhex(card["hash"]) for card in vectors["cards"])
    root = merkle_root(leaves)
    expect(s["merkle_root"] == root.hex(), "tally statement: Merkle root of the counted cards")
    expect(s["counted"] == len(leaves), "tally statement: counted")
    unit_list = bytes.fromhex(s["unit_list_hash"])
    sig = signed(s, "caucus/tally-statement/v1", [campaign_hash, s["tallied_at_ms"], s["counted"], s["unit_size"], unit_list, root],
                 card_key, "tally statement")
    statement_bytes = (b"\x25" + campaign_hash + u64(s["tallied_at_ms"]) + u64(s["counted"]) + u64(s["unit_size"]) + unit_list
                       + root + sig)
    expect(s["encoded"] == statement_bytes.hex(), "tally statement: encoding")

    tree = vectors["merkle_tree"]
    expect(tree["leaves"] == [leaf.hex() for leaf in leaves] and tree["root"] == root.hex(), "Merkle tree: leaves and root")
    for index, stated in enumerate(tree["audit_paths"]):
        expected = audit_path(index, leaves)
        expect(stated == [p.hex() for p in expected], f"Merkle tree: audit path {index}")
        expect(proves(expected, leaves[index], index, len(leaves), root), f"Merkle tree: path {index} proves its leaf")

    for proof in vectors["tally_proofs"]:
        data = bytes.fromhex(proof["encoded"])
        expect(data[186:218].hex() == proof["card"], f"tally proof for {proof['card'][:8]}: card")
        finding = judge_proof(data, statement_bytes, root, len(leaves))
        expect(finding == proof["finding"], f"tally proof for {proof['card'][:8]}: {finding} rather than {proof['finding']}")

    # The bundle, with the bundle verifier's own reader and checks.
    with tempfile.TemporaryDirectory() as directory:
        bundle_path = os.path.join(directory, "bundle.json")
        with open(bundle_path, "w", encoding="utf-8") as out:
            json.dump(vectors["evidence_bundle"], out)
        expect(verifier.main(bundle_path) == 0, "evidence bundle: verify-evidence.py")
    expect(vectors["evidence_bundle"]["statement"]["merkle_root"] == root.hex(), "evidence bundle: the statement's root")

    return finish("card")


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "cards.json")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
