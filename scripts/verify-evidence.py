#!/usr/bin/env python3
"""Checks a Caucus evidence bundle (Protocol.md §10.5) with PyNaCl and the standard library only,
written from Protocol.md, not from Caucus's code: it shows that a third party can verify every card.

usage: verify-evidence.py BUNDLE.json [UNIT-LIST.csv]     (pip install pynacl)
Exit status 0 when the campaign record, the tally statement and every card verify (and, given the
unit list filed with the bundle, its hash is the statement's), 1 otherwise. The bundle is read
strictly: a field written twice, a field the format does not define, a number with a fraction or
exponent where an integer belongs, upper-case or short hex, or anything after the document is
refused, naming the field.
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
    """did:key:z + base58btc(0xed 0x01 ‖ Ed25519 public key) → the 32-byte key (§2); None when
    the text is not one."""
    if not did.startswith("did:key:z") or any(char not in ALPHABET for char in did[len("did:key:z"):]):
        return None
    raw = base58_decode(did[len("did:key:z"):])
    return raw[2:] if raw[:2] == b"\xed\x01" and len(raw) == 34 else None


def shown(text):
    """Text from the bundle as a terminal may show it: anything unprintable (escape sequences,
    bidirectional controls) written as \\uXXXX."""
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in str(text))


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


def merkle_root(leaves):
    """RFC 9162 2.1.1's Merkle Tree Hash with BLAKE2b-256: leaves H(0x00 || card hash), nodes
    H(0x01 || left || right), the empty tree H(), split after the largest power of two below n."""
    def h(data):
        return hashlib.blake2b(data, digest_size=32).digest()
    if not leaves:
        return h(b"")
    if len(leaves) == 1:
        return h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return h(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))


# Strict reading (Protocol.md 10.5): every field once, exactly the fields of the format, integers
# in plain digits, hex in lower case at its length, nothing after the document.

class Malformed(Exception):
    pass


class Pairs(list):
    """An object's members in document order, before names are checked for repeats."""


class Integer(str):
    """A JSON number written without fraction or exponent."""


class Number(str):
    """A JSON number with a fraction or an exponent."""


def reject_constant(name):
    raise Malformed(f"the document: {name} is not JSON")


def strict_load(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the document: not valid UTF-8")
    try:
        return json.loads(text, object_pairs_hook=Pairs, parse_int=Integer, parse_float=Number,
                          parse_constant=reject_constant)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":
            raise Malformed("the document: trailing data after the JSON document")
        raise Malformed(f"the document: not valid JSON ({error.msg} at byte {error.pos})")
    except RecursionError:
        raise Malformed("the document: nested too deeply")


class Reader:
    """The members of one object, read by name once each; finish() refuses names nobody read."""

    def __init__(self, value, path):
        if not isinstance(value, Pairs):
            raise Malformed(f"{path or 'the document'}: must be an object")
        self.path, self.members, self.read = path, {}, set()
        for name, member in value:
            if name in self.members:
                raise Malformed(f"{self.at(name)}: the name appears twice")
            self.members[name] = member

    def at(self, name):
        return f"{self.path}.{name}" if self.path else name

    def value(self, name):
        if name not in self.members:
            raise Malformed(f"{self.at(name)}: missing")
        self.read.add(name)
        return self.members[name]

    def string(self, name):
        value = self.value(name)
        if not isinstance(value, str) or isinstance(value, (Integer, Number)):
            raise Malformed(f"{self.at(name)}: must be a string")
        if any(0xD800 <= ord(char) <= 0xDFFF for char in value):
            raise Malformed(f"{self.at(name)}: a lone surrogate escape")
        return value

    def uint64(self, name):
        value = self.value(name)
        if not (isinstance(value, Integer) and re.fullmatch(r"0|[1-9][0-9]*", value, flags=re.ASCII)
                and int(value) < 2 ** 64):
            raise Malformed(f"{self.at(name)}: must be an integer from 0 to 18446744073709551615, in plain digits")
        return int(value)

    def hex(self, name, count):
        value = self.string(name)
        if not re.fullmatch(f"[0-9a-f]{{{2 * count}}}", value, flags=re.ASCII):
            raise Malformed(f"{self.at(name)}: must be {2 * count} lower-case hex digits")
        return value

    def array(self, name):
        value = self.value(name)
        if not isinstance(value, list) or isinstance(value, Pairs):
            raise Malformed(f"{self.at(name)}: must be an array")
        return value

    def finish(self):
        for name in self.members:
            if name not in self.read:
                raise Malformed(f"{self.at(name)}: not a field of this format")


def read_bundle(data):
    """The bundle as plain dicts, or Malformed naming the first field that is wrong."""
    document = Reader(strict_load(data), "")
    bundle = {"format": document.string("format")}
    if bundle["format"] != "caucus-evidence/v2":
        raise Malformed(f"format: \"{shown(bundle['format'])}\" is not caucus-evidence/v2")
    record = Reader(document.value("campaign"), "campaign")
    bundle["campaign"] = {
        "id": record.hex("id", 16), "union": record.string("union"), "employer": record.string("employer"),
        "unit_description": record.string("unit_description"), "unit_size": record.uint64("unit_size"),
        "language": record.string("language"), "card_key": record.hex("card_key", 32),
        "organizer": record.string("organizer"), "created_at_ms": record.uint64("created_at_ms"),
        "signature": record.hex("signature", 64), "hash": record.hex("hash", 32)}
    record.finish()
    tally = Reader(document.value("statement"), "statement")
    bundle["statement"] = {
        "tallied_at_ms": tally.uint64("tallied_at_ms"), "counted": tally.uint64("counted"),
        "unit_size": tally.uint64("unit_size"), "unit_list_hash": tally.hex("unit_list_hash", 32),
        "merkle_root": tally.hex("merkle_root", 32), "signature": tally.hex("signature", 64)}
    tally.finish()
    bundle["cards"] = []
    for index, value in enumerate(document.array("cards")):
        card = Reader(value, f"cards[{index}]")
        bundle["cards"].append({
            "name": card.string("name"), "contact": card.string("contact"), "phone": card.string("phone"),
            "employer": card.string("employer"), "language": card.string("language"), "date": card.string("date"),
            "signer": card.string("signer"), "signed_at_ms": card.uint64("signed_at_ms"),
            "signature": card.hex("signature", 64), "hash": card.hex("hash", 32)})
        card.finish()
    document.finish()
    return bundle


def main(path, unit_list=None):
    try:
        bundle = read_bundle(open(path, "rb").read())
    except Malformed as error:
        print(f"malformed: {error}")
        return 1
    c = bundle["campaign"]
    s = bundle["statement"]
    for size in (c["unit_size"], s["unit_size"]):
        if not 1 <= size <= 1_000_000_000:
            print("a unit size is out of range (1 to 1000000000)")
            return 1
    organizer = did_key(c["organizer"])
    if organizer is None:
        print("campaign record: the organizer is not an Ed25519 did:key")
        return 1
    statement = canonical("caucus/campaign/v1", [
        bytes.fromhex(c["id"]), c["union"], c["employer"], c["unit_description"], c["unit_size"], c["language"],
        bytes.fromhex(c["card_key"]), organizer, c["created_at_ms"]])
    if not check(organizer, statement, c["signature"]):
        print("campaign record: BAD SIGNATURE")
        return 1
    campaign_hash = hashlib.blake2b(statement + bytes.fromhex(c["signature"]), digest_size=32).digest()
    if campaign_hash.hex() != c["hash"]:
        print("campaign record: hash does not match")
        return 1
    print(f"campaign record: signed by {shown(c['organizer'])}; {shown(c['union'])} / {shown(c['employer'])}, unit of {c['unit_size']}")

    # The tally statement (10.9): signed by the card key, and covering exactly these cards in order.
    problems = []
    tally_message = canonical("caucus/tally-statement/v1", [
        campaign_hash, s["tallied_at_ms"], s["counted"], s["unit_size"], bytes.fromhex(s["unit_list_hash"]),
        bytes.fromhex(s["merkle_root"])])
    if not check(bytes.fromhex(c["card_key"]), tally_message, s["signature"]):
        problems.append("statement: the card key's signature does not verify: one of tallied_at_ms, counted, "
                        "unit_size, unit_list_hash, merkle_root was changed, or it was not signed for this campaign")
    cards = bundle["cards"]
    if s["counted"] != len(cards):
        problems.append(f"statement.counted: the statement counts {s['counted']} cards; the bundle holds {len(cards)}")
    hashes = [bytes.fromhex(card["hash"]) for card in cards]
    for index in range(1, len(hashes)):
        if hashes[index - 1] == hashes[index]:
            problems.append(f"cards[{index}]: the same card as cards[{index - 1}]")
        elif hashes[index - 1] > hashes[index]:
            problems.append(f"cards[{index}]: out of order (cards go in ascending order of hash; "
                            f"it belongs before cards[{index - 1}])")
    if merkle_root(hashes).hex() != s["merkle_root"]:
        problems.append("statement.merkle_root: does not match the bundle's cards (a card was added, removed or changed)")
    if unit_list is not None:
        listed = hashlib.blake2b(open(unit_list, "rb").read(), digest_size=32).hexdigest()
        if listed != s["unit_list_hash"]:
            problems.append(f"statement.unit_list_hash: not the hash of {unit_list}")
    if not problems:
        print(f"tally statement: signed with the card key; it covers exactly these {len(cards)} cards")
    for problem in problems:
        print(f"  {problem}")

    good = 0
    for index, card in enumerate(cards):
        signer = did_key(card["signer"])
        if signer is None:
            print(f"card {index} ({shown(card['signer'])}): BAD (the signer is not an Ed25519 did:key)")
            continue
        message = canonical("caucus/card/v1", [
            campaign_hash, card["name"], card["contact"], card["phone"], card["employer"], card["language"],
            card["date"], signer, card["signed_at_ms"]])
        ok = check(signer, message, card["signature"])
        ok = ok and hashlib.blake2b(message + bytes.fromhex(card["signature"]), digest_size=32).hexdigest() == card["hash"]
        ok = ok and card["employer"] == c["employer"] and card["language"] == c["language"]
        ok = ok and date_agrees(card["date"], card["signed_at_ms"])
        if ok:
            good += 1
        else:
            print(f"card {index} ({shown(card['signer'])}): BAD")
    total = len(cards)
    unit = s["unit_size"]
    print(f"{good} of {total} cards verify: {good / unit:.1%} of the unit of {unit} "
          f"(30% for a petition: {'yes' if good * 10 >= unit * 3 else 'no'}; "
          f"majority: {'yes' if good * 2 > unit else 'no'})")
    return 0 if good == total and not problems else 1


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
