#!/usr/bin/env python3
"""Checks a Caucus evidence bundle (Protocol.md §10.5) with PyNaCl and the standard library only,
written from Protocol.md, not from Caucus's code: it shows that a third party can verify every card.

usage: verify-evidence.py BUNDLE.json     (pip install pynacl)
Exit status 0 when the campaign record and every card verify, 1 otherwise.
"""
import datetime
import hashlib
import json
import re
import struct
import sys

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58_decode(text):
    number = 0
    for char in text:
        number = number * 58 + ALPHABET.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def did_key(did):
    """did:key:z + base58btc(0xed 0x01 ‖ Ed25519 public key) → the 32-byte key (§2)."""
    assert did.startswith("did:key:z"), did
    raw = base58_decode(did[len("did:key:z"):])
    assert raw[:2] == b"\xed\x01" and len(raw) == 34, did
    return raw[2:]


def lp(data):
    return struct.pack(">I", len(data)) + data


def canonical(tag, fields):
    """LP(tag) ‖ LP(field)… with text as UTF-8 and integers as u64 big-endian (§3)."""
    out = lp(tag.encode())
    for field in fields:
        if isinstance(field, int):
            field = struct.pack(">Q", field)
        elif isinstance(field, str):
            field = field.encode("utf-8")
        out += lp(field)
    return out


def date_agrees(text, signed_at_ms):
    """Protocol.md 10.2: a Gregorian calendar date YYYY-MM-DD from 1900 on, and the UTC date of
    signed_at, the day before or the day after."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text, flags=re.ASCII):
        return False
    try:
        day = datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    if day.year < 1900:
        return False
    return abs((day - datetime.date(1970, 1, 1)).days - signed_at_ms // 86_400_000) <= 1


def check(key, message, signature_hex):
    try:
        VerifyKey(key).verify(message, bytes.fromhex(signature_hex))
        return True
    except BadSignatureError:
        return False


def main(path):
    bundle = json.load(open(path, encoding="utf-8"))
    if bundle.get("format") != "caucus-evidence/v1":
        print("not a caucus-evidence/v1 bundle")
        return 1
    c = bundle["campaign"]
    for size in (c["unit_size"], bundle["counted_unit_size"]):
        if not (isinstance(size, int) and 1 <= size <= 1_000_000_000):
            print("a unit size is out of range (1 to 1000000000)")
            return 1
    statement = canonical("caucus/campaign/v1", [
        bytes.fromhex(c["id"]), c["union"], c["employer"], c["unit_description"], c["unit_size"], c["language"],
        bytes.fromhex(c["card_key"]), did_key(c["organizer"]), c["created_at_ms"]])
    if not check(did_key(c["organizer"]), statement, c["signature"]):
        print("campaign record: BAD SIGNATURE")
        return 1
    campaign_hash = hashlib.blake2b(statement + bytes.fromhex(c["signature"]), digest_size=32).digest()
    if campaign_hash.hex() != c["hash"]:
        print("campaign record: hash does not match")
        return 1
    print(f"campaign record: signed by {c['organizer']}; {c['union']} / {c['employer']}, unit of {c['unit_size']}")
    good = 0
    for index, card in enumerate(bundle["cards"]):
        signer = did_key(card["signer"])
        message = canonical("caucus/card/v1", [
            campaign_hash, card["name"], card["contact"], card["phone"], card["employer"], card["language"],
            card["date"], signer, card["signed_at_ms"]])
        ok = check(signer, message, card["signature"])
        ok = ok and card["employer"] == c["employer"] and card["language"] == c["language"]
        ok = ok and date_agrees(card["date"], card["signed_at_ms"])
        if ok:
            good += 1
        else:
            print(f"card {index} ({card['signer']}): BAD")
    total = len(bundle["cards"])
    unit = bundle["counted_unit_size"]
    print(f"{good} of {total} cards verify: {good / unit:.1%} of the unit of {unit} "
          f"(30% for a petition: {'yes' if good * 10 >= unit * 3 else 'no'}; "
          f"majority: {'yes' if good * 2 > unit else 'no'})")
    return 0 if good == total else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
