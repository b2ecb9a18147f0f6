#!/usr/bin/env python3
"""Checks vectors/sessions.json against Protocol.md sections 2.2, 4, 6, 7.3 and 9.2, with PyNaCl,
pyca/cryptography's ML-KEM-768 (OpenSSL's, not the BoringSSL code Caucus runs) and the standard
library, written from Protocol.md and not from Caucus's code: every device chain entry, safety
number, signed statement, prekey layout, X3DH and hybrid (ML-KEM) value and Double Ratchet step is recomputed from the fixed
keys the file lists, both parties of each conversation are replayed (out-of-order deliveries and
skipped keys included), every message body is decrypted with the key derived here, and the pairwise
envelope is opened with the recipient's identity.

usage: check-session-vectors.py [vectors/sessions.json]     (pip install pynacl 'cryptography>=47')
Exit status 0 when everything checks, 1 otherwise (each failure is printed).
"""
import hashlib
import hmac
import json
import os
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from nacl import bindings
from nacl.exceptions import CryptoError
from nacl.signing import SigningKey

# The evidence verifier (written from Protocol.md too) gives the canonical bytes of section 3.
from vector_checks import expect, finish, verifier, verifies  # scripts/, the directory of this file, is on sys.path

canonical = verifier.canonical


def u32(value):
    return struct.pack(">I", value)


def u64(value):
    return struct.pack(">Q", value)


def b(text):
    return bytes.fromhex(text)


# Section 1.1 primitives.

def hkdf(salt, ikm, info, length):
    """RFC 5869 HKDF-SHA-256; an empty salt is 32 zero bytes."""
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def dh(private, public):
    """X25519; the all-zero output is refused (section 1.1)."""
    out = bindings.crypto_scalarmult(private, public)
    if out == bytes(32):
        raise ValueError("low-order X25519 output")
    return out


def x25519_public(private):
    return bindings.crypto_scalarmult_base(private)


def unpad(data, block):
    """Section 1.1's unpadding: a positive multiple of block ending 0x80 0x00*."""
    if not data or len(data) % block:
        return None
    stripped = data.rstrip(b"\x00")
    return stripped[:-1] if stripped.endswith(b"\x80") else None


def aead_open(body, key, ad):
    """An AEAD message nonce (24) || ciphertext || tag (16) (section 1.1); None when it does not open."""
    try:
        return bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(body[24:], ad, body[:24], key)
    except CryptoError:
        return None


# Section 2: identities and their key-agreement keys.

def agreement_private(seed):
    """The clamped first 32 bytes of SHA-512(seed)."""
    scalar = bytearray(hashlib.sha512(seed).digest()[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    return bytes(scalar)


def check_identities(identities):
    keys = {}
    for name, record in identities.items():
        seed = b(record["seed"])
        public = SigningKey(seed).verify_key.encode()
        expect(record["public_key"] == public.hex(), f"identity {name}: public key")
        private = agreement_private(seed)
        expect(record["x25519"]["private_key"] == private.hex(), f"identity {name}: X25519 private key")
        expect(record["x25519"]["public_key"] == x25519_public(private).hex(), f"identity {name}: X25519 public key")
        expect(bindings.crypto_sign_ed25519_pk_to_curve25519(public) == x25519_public(private),
               f"identity {name}: X25519 public key from the Ed25519 one")
        keys[name] = {"ed25519": public, "x_private": private, "x_public": x25519_public(private)}
    return keys


# Section 4: safety numbers.

def fingerprint(pk):
    digest = hashlib.sha512(struct.pack(">H", 1) + b"caucus/safety-number" + pk).digest()
    for _ in range(2, 5201):
        digest = hashlib.sha512(digest + pk).digest()
    return "".join(f"{int.from_bytes(digest[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))


def check_safety_numbers(record):
    expect(fingerprint(b("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
           == "809498449434834494608677794146", "safety numbers: Protocol.md's own vector")
    for entry in record["fingerprints"]:
        expect(entry["fingerprint"] == fingerprint(b(entry["public_key"])), f"fingerprint of {entry['public_key']}")
    for pair in record["pairs"]:
        a, b_ = fingerprint(b(pair["a"])), fingerprint(b(pair["b"]))
        digits = min(a, b_) + max(a, b_)
        expect(pair["digits"] == digits, f"safety number of {pair['a'][:8]}, {pair['b'][:8]}")
        expect(pair["shown"] == " ".join(digits[i:i + 5] for i in range(0, 60, 5)),
               f"safety number of {pair['a'][:8]}, {pair['b'][:8]} as shown")


# Sections 3 and 7.3: the relay authentication statement.

def check_relay_auth(records):
    for record in records:
        what = f"relay auth for {record['relay_address']}"
        challenge, device = b(record["challenge"]), b(record["device_key"])
        expect(len(challenge) == 32 and len(device) == 32, f"{what}: sizes")
        message = canonical("caucus/relay-auth/v1", [record["relay_address"], challenge, device])
        expect(record["signed_bytes"] == message.hex(), f"{what}: signed bytes")
        expect(verifies(device, message, b(record["signature"])), f"{what}: signature")


# Section 2.2: a device chain.

def check_device_chain(record, ids):
    identity = ids[record["identity"]]["ed25519"]
    devices = {name: b(key) for name, key in record["devices"].items()}
    for name, seed in record["seeds"].items():
        expect(SigningKey(b(seed)).verify_key.encode() == devices[name], f"device chain: {name}'s key from its seed")
    expect(devices[record["identity"]] == identity, "device chain: the first device is the identity key")
    previous, listed, active = bytes(32), set(), []
    for sequence, entry in enumerate(record["entries"]):
        what = f"device entry {sequence}"
        action, kind, device = entry["action"], entry["kind"], devices[entry["device"]]
        expect(entry["sequence"] == sequence and b(entry["previous"]) == previous, f"{what}: sequence and link")
        expect(action in (1, 2) and kind in (1, 2), f"{what}: action and kind")
        proof = b""
        if action == 1:
            statement = canonical("caucus/device-key/v1", [identity, device])
            expect(entry["device_signed_bytes"] == statement.hex(), f"{what}: the device's signed bytes")
            proof = b(entry["device_signature"])
            expect(verifies(device, statement, proof), f"{what}: the device's signature")
            expect(device not in listed and (device != identity or sequence == 0), f"{what}: a device never listed")
            listed.add(device)
            active.append(entry["device"])
        else:
            expect("device_signature" not in entry, f"{what}: a revocation has no device signature")
            expect(entry["device"] in active and len(active) > 1, f"{what}: revokes an active device, not the last")
            active.remove(entry["device"])
        message = canonical("caucus/device/v1", [identity, sequence, previous, action, device, kind, entry["signed_at_s"], proof])
        expect(entry["signed_bytes"] == message.hex(), f"{what}: signed bytes")
        signature = b(entry["signature"])
        expect(verifies(identity, message, signature), f"{what}: the identity's signature")
        encoded = (identity + struct.pack(">Q", sequence) + previous + bytes([action]) + device + bytes([kind])
                   + struct.pack(">Q", entry["signed_at_s"]) + proof + signature)
        expect(entry["encoded"] == encoded.hex() and len(encoded) == (242 if action == 1 else 178), f"{what}: encoding")
        previous = hashlib.blake2b(message + signature, digest_size=32).digest()
        expect(entry["hash"] == previous.hex(), f"{what}: hash")
    expect(record["active"] == active, "device chain: the active devices")


# Sections 6.1 and 7.5: prekeys and the bundle.

def check_key_pair(record, what):
    expect(record["public_key"] == x25519_public(b(record["private_key"])).hex(), f"{what}: public key")


def check_prekeys(record, identities):
    owner = identities[record["owner"]]["ed25519"]
    signed = record["signed_prekey"]
    check_key_pair(signed, "signed prekey")
    public = b(signed["public_key"])
    message = canonical("caucus/signed-prekey/v1", [owner, u64(signed["id"]), public])
    expect(signed["signed_bytes"] == message.hex(), "signed prekey: signed bytes")
    expect(verifies(owner, message, b(signed["signature"])), "signed prekey: signature")
    published = u32(signed["id"]) + public + b(signed["signature"])
    expect(len(published) == 100 and signed["published"] == published.hex(), "signed prekey: published bytes")
    for one_time in record["one_time_prekeys"]:
        check_key_pair(one_time, f"one-time prekey {one_time['id']}")
    bundle = record["bundle"]
    expect(bundle["owner"] == owner.hex(), "bundle: owner")
    served = b(bundle["signed_prekey"])
    expect(len(served) == 100 and verifies(
        owner, canonical("caucus/signed-prekey/v1", [owner, u64(struct.unpack(">I", served[:4])[0]), served[4:36]]), served[36:]),
        "bundle: the signed prekey verifies against the owner")
    lowest = min(record["one_time_prekeys"], key=lambda k: k["id"])
    expect(bundle["one_time_prekey"] == {"id": lowest["id"], "public_key": lowest["public_key"]},
           "bundle: the one-time prekey is the lowest id")
    expect(signed["id"] < 0x80000000, "signed prekey: a classical one, without the bit that announces KEM prekeys")
    # A signed prekey whose id has the high bit announces KEM prekeys; the signature covers the id.
    hybrid = record["hybrid_signed_prekey"]
    check_key_pair(hybrid, "hybrid signed prekey")
    hybrid_public = b(hybrid["public_key"])
    expect(hybrid["id"] & 0x80000000 != 0, "hybrid signed prekey: the id's high bit is set")
    expect(verifies(owner, canonical("caucus/signed-prekey/v1", [owner, u64(hybrid["id"]), hybrid_public]), b(hybrid["signature"])),
           "hybrid signed prekey: signature")
    expect(hybrid["published"] == (u32(hybrid["id"]) + hybrid_public + b(hybrid["signature"])).hex(), "hybrid signed prekey: published bytes")
    kem = record["kem_prekey"]
    seed = b(kem["seed"])
    kem_key = MLKEM768PrivateKey.from_seed_bytes(seed)
    kem_public = kem_key.public_key().public_bytes_raw()
    expect(len(seed) == 64 and kem["public_key"] == kem_public.hex(), "KEM prekey: the encapsulation key is ML-KEM-768 KeyGen(d, z) of the seed")
    message = canonical("caucus/kem-prekey/v1", [owner, u64(kem["id"]), kem_public])
    expect(kem["signed_bytes"] == message.hex(), "KEM prekey: signed bytes")
    expect(verifies(owner, message, b(kem["signature"])), "KEM prekey: signature")
    published = u32(kem["id"]) + kem_public + b(kem["signature"])
    expect(len(published) == 1252 and kem["published"] == published.hex(), "KEM prekey: published bytes (1,252)")
    return {"signed": {"id": signed["id"], "private": b(signed["private_key"]), "public": public},
            "hybrid_signed": {"id": hybrid["id"], "private": b(hybrid["private_key"]), "public": hybrid_public},
            "kem": {"id": kem["id"], "key": kem_key},
            "one_time": {k["id"]: (b(k["private_key"]), b(k["public_key"])) for k in record["one_time_prekeys"]}}


# Section 6.2: X3DH.

def check_x3dh(record, index, ids, prekeys):
    what = f"x3dh {index}"
    check_key_pair(record["ephemeral"], f"{what}: ephemeral")
    ek_private, ek = b(record["ephemeral"]["private_key"]), b(record["ephemeral"]["public_key"])
    hybrid = "kem_prekey_id" in record
    spk = prekeys["hybrid_signed" if hybrid else "signed"]
    expect(record["signed_prekey_id"] == spk["id"], f"{what}: signed prekey id")
    alice, bob = ids["alice"], ids["bob"]
    outputs = [dh(alice["x_private"], spk["public"]), dh(ek_private, bob["x_public"]), dh(ek_private, spk["public"])]
    responder = [dh(spk["private"], alice["x_public"]), dh(bob["x_private"], ek), dh(spk["private"], ek)]
    opk_id = record["one_time_prekey_id"]
    if opk_id is not None:
        opk_private, opk_public = prekeys["one_time"][opk_id]
        outputs.append(dh(ek_private, opk_public))
        responder.append(dh(opk_private, ek))
    expect(outputs == responder, f"{what}: both sides compute the same DH values")
    expect(record["dh"] == [o.hex() for o in outputs], f"{what}: DH1..DH{len(outputs)}")
    ikm = b"\xff" * 32 + b"".join(outputs)
    kem_part = b""
    if hybrid:
        # Section 6.2: the responder decapsulates the start's ciphertext with the KEM prekey it names.
        expect(record["kem_prekey_id"] == prekeys["kem"]["id"], f"{what}: KEM prekey id")
        ciphertext = b(record["kem_ciphertext"])
        secret = prekeys["kem"]["key"].decapsulate(ciphertext)
        expect(len(ciphertext) == 1088 and record["kem_shared_secret"] == secret.hex(), f"{what}: ML-KEM-768 decapsulation gives SS")
        ikm += secret
        kem_part = u32(record["kem_prekey_id"]) + ciphertext
    expect(record["ikm"] == ikm.hex(), f"{what}: KDF input")
    sk = hkdf(bytes(32), ikm, b"caucus/pqxdh/v1" if hybrid else b"caucus/x3dh/v1", 32)
    expect(record["shared_key"] == sk.hex(), f"{what}: SK")
    ad = alice["ed25519"] + bob["ed25519"]
    expect(record["associated_data"] == ad.hex(), f"{what}: AD")
    start = (b"\x03" if hybrid else b"\x01") + alice["ed25519"] + ek + u32(spk["id"]) \
        + (b"\x01" + u32(opk_id) if opk_id is not None else b"\x00") + kem_part
    return {"sk": sk, "ad": ad, "start": start, "ek": ek, "spk": spk}


# Section 6.4: the Double Ratchet.

def kdf_rk(rk, dh_out):
    out = hkdf(rk, dh_out, b"caucus/ratchet-root/v1", 64)
    return out[:32], out[32:]


def kdf_ck(ck):
    return hmac.new(ck, b"\x01", hashlib.sha256).digest(), hmac.new(ck, b"\x02", hashlib.sha256).digest()


class Party:
    def __init__(self, name, keys):
        self.name, self.keys = name, keys
        self.rk = self.dhs = self.dhs_public = self.dhr = self.cks = self.ckr = None
        self.ns = self.nr = self.pn = 0
        self.skipped = []  # (DHr, N, message key), oldest first
        self.awaiting_reply = False

    def next_key(self):
        if not self.keys:
            raise ValueError(f"{self.name} needs more ratchet keys than the file lists")
        private, public = self.keys.pop(0)
        return private, public

    def skip(self, until):
        if self.ckr is None:
            return 0
        if until - self.nr > 1000:
            raise ValueError("more than 1,000 skipped")
        missing = max(0, until - self.nr)
        while self.nr < until:
            mk, self.ckr = kdf_ck(self.ckr)
            self.skipped.append((self.dhr, self.nr, mk))
            self.nr += 1
        return missing


def parse_message(data):
    """Section 6.3: (start fields or None, header fields, prefix, body)."""
    at, start = 1, None
    if data[0] in (1, 3):
        flag = data[69]  # after the type, IK_A (32), EK_A (32) and the SPK id (4)
        if flag not in (0, 1):
            raise ValueError("has_OPK is not 0 or 1")
        at = 74 if flag else 70
        if data[0] == 3:
            at += 4 + 1088  # the KEM prekey id and the ML-KEM-768 ciphertext
        start = data[:at]
    elif data[0] != 2:
        raise ValueError("unsupported version")
    ratchet = data[at:at + 32]
    pn, n = struct.unpack(">II", data[at + 32:at + 40])
    prefix, body = data[:at + 40], data[at + 40:]
    if len(body) < 104:
        raise ValueError("body shorter than 104 bytes")
    return start, ratchet, pn, n, prefix, body


def check_conversation(conversation, index, x3dh):
    what = f"conversation {index}"
    ratchet_keys = {}
    for name, pairs in conversation["ratchet_keys"].items():
        for k, pair in enumerate(pairs):
            check_key_pair(pair, f"{what}: {name}'s ratchet key {k}")
        ratchet_keys[name] = [(b(p["private_key"]), b(p["public_key"])) for p in pairs]
    alice, bob = Party("alice", ratchet_keys["alice"]), Party("bob", ratchet_keys["bob"])
    spk = x3dh["spk"]

    # Initiator: RK, CKs = KDF_RK(SK, DH(DHs, SPK_B)) with a fresh DHs; DHr = SPK_B.
    alice.dhs, alice.dhs_public = alice.next_key()
    expect(alice.dhs_public != x3dh["ek"], f"{what}: the first ratchet key is not EK_A")
    first = dh(alice.dhs, spk["public"])
    alice.rk, alice.cks = kdf_rk(x3dh["sk"], first)
    alice.dhr, alice.awaiting_reply = spk["public"], True
    expect(conversation["initiator_start"] == {"dh": first.hex(), "root_key": alice.rk.hex(), "sending_chain_key": alice.cks.hex()},
           f"{what}: the initiator's first root step")
    bob_started = False
    sent = {}
    parties = {"alice": alice, "bob": bob}

    for step, event in enumerate(conversation["events"]):
        where = f"{what}, event {step} ({event['message']})"
        if "send" in event:
            me = parties[event["send"]]
            expect(event["chain_key"] == me.cks.hex(), f"{where}: sending chain key")
            mk, me.cks = kdf_ck(me.cks)
            expect(event["message_key"] == mk.hex(), f"{where}: message key")
            expect(event["next_chain_key"] == me.cks.hex(), f"{where}: next chain key")
            prefix = x3dh["start"] if me.awaiting_reply else b"\x02"
            header = prefix + me.dhs_public + u32(me.pn) + u32(me.ns)
            me.ns += 1
            expect(event["header"] == header.hex(), f"{where}: header bytes")
            body = b(event["body"])
            plaintext = aead_open(body, mk, x3dh["ad"] + header) if len(body) >= 104 else None
            plaintext = unpad(plaintext, 64) if plaintext is not None else None
            expect(plaintext == event["plaintext"].encode(), f"{where}: the body opens with the message key to the plaintext")
            sent[event["message"]] = (b(event["header"]) + body, event["plaintext"])
            continue

        me = parties[event["receive"]]
        data, sent_plaintext = sent[event["message"]]
        try:
            start, ratchet, pn, n, prefix, body = parse_message(data)
        except ValueError as error:
            expect(False, f"{where}: {error}; the rest of this conversation is not checked")
            return sent
        if me is bob and not bob_started:
            # Responder: RK = SK, DHs = SPK_B's key pair; its first receive performs the DH ratchet step.
            expect(start == x3dh["start"], f"{where}: the start names alice, EK_A and the prekeys")
            bob.rk, bob.dhs, bob.dhs_public, bob_started = x3dh["sk"], spk["private"], spk["public"], True
        elif start is not None:
            expect(me is bob and start == x3dh["start"], f"{where}: a repeated start matches the session's")
        events, step_record = [], None
        found = next((entry for entry in me.skipped if entry[0] == ratchet and entry[1] == n), None)
        if found:
            me.skipped.remove(found)
            mk = found[2]
            events.append("late arrival")
        else:
            missing = 0
            if ratchet != me.dhr:
                missing += me.skip(pn)
                me.pn, me.ns, me.nr, me.dhr = me.ns, 0, 0, ratchet
                dh_receiving = dh(me.dhs, me.dhr)
                middle, receiving_chain = kdf_rk(me.rk, dh_receiving)
                me.ckr = receiving_chain
                me.dhs, me.dhs_public = me.next_key()
                dh_sending = dh(me.dhs, me.dhr)
                me.rk, me.cks = kdf_rk(middle, dh_sending)
                step_record = {
                    "their_ratchet_key": ratchet.hex(), "dh_receiving": dh_receiving.hex(), "root_key_after_receiving": middle.hex(),
                    "receiving_chain_key": receiving_chain.hex(), "new_ratchet_key": me.dhs_public.hex(),
                    "dh_sending": dh_sending.hex(), "root_key": me.rk.hex(), "sending_chain_key": me.cks.hex(),
                }
            missing += me.skip(n)
            mk, me.ckr = kdf_ck(me.ckr)
            me.nr += 1
            if missing:
                events.append(f"gap {missing}")
        expect(event.get("ratchet_step") == step_record, f"{where}: DH ratchet step")
        plaintext = aead_open(body, mk, x3dh["ad"] + prefix)
        plaintext = unpad(plaintext, 64) if plaintext is not None else None
        expect(plaintext == sent_plaintext.encode() and event["plaintext"] == sent_plaintext,
               f"{where}: decrypts with the receiver's derived key to the plaintext sent")
        me.awaiting_reply = False
        expect(event["events"] == events, f"{where}: events {events}")
        expect(event["receiving_chain_key"] == (me.ckr.hex() if me.ckr else None), f"{where}: receiving chain key")
        expect(event["skipped_keys"] == [{"ratchet_key": k.hex(), "n": i, "message_key": m.hex()} for k, i, m in me.skipped],
               f"{where}: skipped message keys")
    expect(not alice.keys and not bob.keys, f"{what}: every listed ratchet key is used")
    return sent


# Section 9.2: the pairwise envelope.

def check_envelope(record, ids, messages):
    encoded = b(record["encoded"])
    sender, recipient = ids["alice"], ids["bob"]
    expect(encoded[0] == 1, "envelope: version byte")
    sealed, session_message = encoded[1:81], encoded[81:]
    try:
        opened = bindings.crypto_box_seal_open(sealed, recipient["x_public"], recipient["x_private"])
    except CryptoError:
        opened = None
    expect(opened == sender["ed25519"] and record["sender"] == opened.hex() if opened else False,
           "envelope: the sealed box opens with the recipient's identity to the sender's identity key")
    expect(record["recipient"] == recipient["ed25519"].hex(), "envelope: recipient")
    expect(session_message == messages[record["message"]][0], "envelope: the session message is the one named")


def check_paper_keys(records, words_path):
    """Section 2.3: recovery phrases and paper keys."""
    words = open(words_path, encoding="utf-8").read().split("\n")[:-1]
    expect(len(words) == 2048 and len(set(words)) == 2048 and len({w[:4] for w in words}) == 2048
           and all(4 <= len(w) <= 7 and w.isascii() and w.isalpha() and w.islower() for w in words),
           "paper words: 2,048 words of 4 to 7 letters a-z, no two sharing their first 4")
    for index, record in enumerate(records):
        what = f"paper key {index}"
        secret = bytes.fromhex(record["secret"])
        checksum = hashlib.blake2b(secret, digest_size=32).digest()[0] >> 4
        expect(len(secret) == 16 and record["checksum"] == checksum, f"{what}: 16 bytes, checksum the first 4 bits of BLAKE2b-256")
        number = int.from_bytes(secret, "big") << 4 | checksum
        values = [(number >> (11 * (11 - i))) & 0x7FF for i in range(12)]
        expect(record["values"] == values, f"{what}: twelve 11-bit values, big-endian")
        expect(record["words"] == [words[v] for v in values] and record["phrase"] == " ".join(record["words"]), f"{what}: the words")
        prk = hmac.new(bytes(32), secret, hashlib.sha256).digest()
        seed = hmac.new(prk, "caucus/paper-key/v1".encode() + b"\x01", hashlib.sha256).digest()
        expect(record["seed"] == seed.hex(), f"{what}: seed = HKDF(zero salt, secret, caucus/paper-key/v1)")
        expect(record["public_key"] == SigningKey(seed).verify_key.encode().hex(), f"{what}: the Ed25519 public key")


def main(path):
    with open(path, encoding="utf-8") as handle:
        vectors = json.load(handle)
    ids = check_identities(vectors["identities"])
    check_safety_numbers(vectors["safety_numbers"])
    check_relay_auth(vectors["relay_auth"])
    check_device_chain(vectors["device_chain"], ids)
    check_paper_keys(vectors["paper_keys"], os.path.join(os.path.dirname(os.path.abspath(path)), "paper-words.txt"))
    prekeys = check_prekeys(vectors["prekeys"], ids)
    agreements = [check_x3dh(record, i, ids, prekeys) for i, record in enumerate(vectors["x3dh"])]
    expect(any(r["one_time_prekey_id"] is None for r in vectors["x3dh"])
           and any(r["one_time_prekey_id"] is not None for r in vectors["x3dh"]), "x3dh: with and without a one-time prekey")
    expect(any("kem_prekey_id" in r for r in vectors["x3dh"]), "x3dh: a hybrid start with an ML-KEM prekey")
    messages = {}
    for i, conversation in enumerate(vectors["conversations"]):
        try:
            messages.update(check_conversation(conversation, i, agreements[conversation["x3dh"]]))
        except (ValueError, KeyError, TypeError) as error:
            expect(False, f"conversation {i}: {error!r}")
    check_envelope(vectors["envelope"], ids, messages)
    return finish("session")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "sessions.json")))
