#!/usr/bin/env python3
"""Checks vectors/groups.json against Protocol.md sections 8, 9.1, 9.4 and 9.7, with PyNaCl and the
standard library only, written from Protocol.md and not from Caucus's code: the membership chain's
signed bytes, signatures, encodings, hashes, links and rules, devices' included (8.1); every epoch
secret, key and secret-tree node and the sender chains, one leaf per device, derived again from the
fixed inputs alone (8.2); each group message decrypted with the keys derived here, its content
parsed, its signature (by the sending device), owner, hash, counter and prev list checked (8.4); the
EpochKeys and Welcomes rebuilt and their senders and receivers checked (8.3); each payload kind rebuilt from its
fields (9.1); each invite code decoded and encoded again (9.4); each file split into chunks by 9.7's
rule, every sealed chunk opened with the associated data built here, the blob, digest and file id.

usage: check-group-vectors.py [vectors/groups.json]     (pip install pynacl; reads vectors/cards.json beside it)
Exit status 0 when everything checks, 1 otherwise (each failure is printed).
"""
import hashlib
import hmac
import json
import os
import struct
import sys

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError
from nacl.signing import SigningKey

from vector_checks import expect, finish, verifier, verifies  # scripts/, the directory of this file, is on sys.path

canonical, lp, base58_decode, ALPHABET = verifier.canonical, verifier.lp, verifier.base58_decode, verifier.ALPHABET
ZERO = bytes(32)


def h(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def u32(value):
    return struct.pack(">I", value)


def u64(value):
    return struct.pack(">Q", value)


def hmac256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def extract(salt, ikm):
    """HKDF-Extract (RFC 5869); an empty salt is 32 zero bytes (section 1.1)."""
    return hmac256(salt or ZERO, ikm)


def expand(prk, info, length=32):
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac256(prk, block + info + bytes([counter]))
        out += block
        counter += 1
    return out[:length]


def open_aead(sealed, ad, key):
    """nonce (24) || ciphertext || tag (16), section 1.1; None when it does not open."""
    try:
        return crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[24:], ad, sealed[:24], key)
    except (CryptoError, ValueError):
        return None


def unpad(data, block):
    if len(data) == 0 or len(data) % block:
        return None
    stripped = data.rstrip(b"\x00")
    return stripped[:-1] if stripped.endswith(b"\x80") else None


CREATE, ADD, REMOVE, SET_ROLE, ADD_DEVICE, REMOVE_DEVICE = 0, 1, 2, 3, 4, 5
MEMBER, ADMIN = 1, 2
STARTED_BY = {CREATE: "create", ADD: "add", REMOVE: "remove", ADD_DEVICE: "add device", REMOVE_DEVICE: "remove device"}


def check_chain(vectors, keys, group_id):
    """Section 8.1. Returns, per entry, (encoded entry, hash, roster after it, leaves after it (device key -> leaf),
    leaves handed out, action, owners (every key that is or was a device -> its member))."""
    states = []
    roster, leaves, handed_out, previous = {}, {}, 0, ZERO
    # A device's owner: the member itself for its identity key, the add device entry's author for any other key;
    # kept for every key that ever was a device, as a key has one owner for the group's whole history.
    owners, identities = {}, set()
    for index, e in enumerate(vectors["membership_chain"]):
        what = f"membership entry {index}"
        subject, author = keys[e["subject"]], keys[e["author"]]
        action, role, sequence = e["action"], e["role"], e["sequence"]
        expect(sequence == index, f"{what}: sequence")
        expect(e["previous"] == previous.hex(), f"{what}: previous is the hash of the entry before (zero for the first)")
        message = canonical("caucus/membership/v1", [group_id, sequence, previous, action, subject, role, author])
        expect(e["signed_bytes"] == message.hex(), f"{what}: signed bytes")
        signature = bytes.fromhex(e["signature"])
        expect(verifies(author, message, signature), f"{what}: signature")
        encoded = group_id + u64(sequence) + previous + bytes([action]) + subject + bytes([role]) + author + signature
        expect(len(encoded) == 202 and e["encoded"] == encoded.hex(), f"{what}: encoding (202 bytes)")
        entry_hash = h(message + signature)
        expect(e["hash"] == entry_hash.hex(), f"{what}: entry hash")
        # The rules of the verification table.
        if index == 0:
            expect(action == CREATE and role == ADMIN and subject == author, f"{what}: a creation entry signed by its subject")
            roster, leaves, handed_out = {subject: ADMIN}, {subject: 0}, 1
            owners[subject] = subject
            identities.add(subject)
        else:
            # Who may make the change: an admin anything; a member (any role) an add device; a device's owner its removal.
            if action == ADD_DEVICE:
                expect(author in roster, f"{what}: the author of an add device is a member")
            elif action == REMOVE_DEVICE:
                expect(roster.get(author) == ADMIN or (subject in leaves and owners.get(subject) == author),
                       f"{what}: the author of a remove device is an admin or the device's owner")
            else:
                expect(roster.get(author) == ADMIN, f"{what}: the author is an admin")
            if action == ADD:
                expect(subject not in roster and role in (MEMBER, ADMIN), f"{what}: add of a non-member")
                expect(subject in identities or subject not in owners, f"{what}: add of a key that was never a device")
                roster[subject], leaves[subject] = role, handed_out
                owners[subject] = subject
                identities.add(subject)
                handed_out += 1
            elif action == REMOVE:
                expect(subject in roster and role == 0, f"{what}: remove of a member, role 0")
                roster.pop(subject, None)
                # The member's devices go with it: its identity key and every device it added.
                for device in [device for device in leaves if owners.get(device) == subject]:
                    leaves.pop(device)
            elif action == SET_ROLE:
                expect(roster.get(subject) not in (None, role) and role in (MEMBER, ADMIN), f"{what}: a role change of a member")
                roster[subject] = role
            elif action == ADD_DEVICE:
                expect(role == 0, f"{what}: add device has role 0")
                expect(subject not in leaves, f"{what}: add device of a key that is not a device in the group")
                expect(subject not in identities, f"{what}: add device of a key that is no member's identity, now or before")
                expect(owners.get(subject, author) == author, f"{what}: add device of a key no other member's device was")
                leaves[subject], owners[subject] = handed_out, author
                handed_out += 1
            elif action == REMOVE_DEVICE:
                expect(role == 0 and subject in leaves, f"{what}: remove device of a current device, role 0")
                leaves.pop(subject, None)
            else:
                expect(False, f"{what}: action {action}")
            expect(ADMIN in roster.values(), f"{what}: an admin remains")
            expect(all(owners[device] in roster for device in leaves), f"{what}: every device with a leaf is a member's")
        states.append((encoded, entry_hash, dict(roster), dict(leaves), handed_out, action, dict(owners)))
        previous = entry_hash
    return states


def tree_nodes(secret, lo, hi):
    """Section 8.2's secret tree, every node: {(lo, hi): secret}."""
    nodes = {(lo, hi): secret}
    if hi - lo > 1:
        middle = lo + (hi - lo) // 2
        nodes.update(tree_nodes(expand(secret, b"caucus/group-tree/v1\x00"), lo, middle))
        nodes.update(tree_nodes(expand(secret, b"caucus/group-tree/v1\x01"), middle, hi))
    return nodes


def sender_chain(leaf_secret, steps):
    """Section 8.4 (KDF_CK of 6.4): [(chain key, message key)] for counters 0..steps-1."""
    out, chain = [], leaf_secret
    for _ in range(steps):
        out.append((chain, hmac256(chain, b"\x01")))
        chain = hmac256(chain, b"\x02")
    return out


def check_epochs(vectors, keys, group_id, states):
    """Section 8.2. Returns {epoch: {secret, header key, leaves (key -> leaf), chains (leaf -> [(ck, mk)])}}."""
    epochs, in_force = {}, None
    names = {key: name for name, key in keys.items()}
    starting = [index for index, state in enumerate(states) if state[5] != SET_ROLE]
    expect([e["number"] for e in vectors["epochs"]] == starting, "epochs: one for the creation, each add and each remove")
    for record in vectors["epochs"]:
        number = record["number"]
        what = f"epoch {number}"
        if number >= len(states):
            expect(False, f"{what}: no entry starts it")
            continue
        _, entry_hash, _, leaves, handed_out, action, owners = states[number]
        if action == CREATE:
            secret = bytes.fromhex(vectors["creation_secret"])
        elif action == REMOVE:
            secret = bytes.fromhex(vectors["removal_secret"])
        elif action == REMOVE_DEVICE:
            secret = bytes.fromhex(vectors["device_removal_secret"])
        else:
            # add and add device: HKDF(salt = 32 zero bytes, IKM = successor seed in force, info = label || entry hash)
            secret = extract(ZERO, in_force["successor"])
            secret = expand(secret, b"caucus/group-add/v1" + entry_hash)
        expect(record["started_by"] == STARTED_BY.get(action), f"{what}: the entry that started it")
        expect(record["secret"] == secret.hex(), f"{what}: epoch secret")
        prk = extract(group_id, secret)
        header_key = expand(prk, b"caucus/group-header/v1")
        root = expand(prk, b"caucus/group-sender/v1")
        successor = expand(prk, b"caucus/group-successor/v1")
        expect(record["prk"] == prk.hex(), f"{what}: PRK")
        expect(record["header_key"] == header_key.hex(), f"{what}: header key")
        expect(record["tree_root"] == root.hex(), f"{what}: tree root")
        expect(record["successor_seed"] == successor.hex(), f"{what}: successor seed")
        expect(record["leaf_count"] == handed_out, f"{what}: L, the leaves handed out")
        expect(record["leaves"] == {names[key]: leaf for key, leaf in leaves.items()}, f"{what}: devices' leaves")
        nodes = tree_nodes(root, 0, handed_out)
        stated = {(n["lo"], n["hi"]): n["secret"] for n in record["tree"]}
        expect(len(stated) == len(record["tree"]) and stated == {k: v.hex() for k, v in nodes.items()}, f"{what}: secret tree nodes")
        chains = {}
        for sender in record["senders"]:
            leaf = sender["leaf"]
            device = keys.get(sender["member"])
            expect(leaves.get(device) == leaf, f"{what}: {sender['member']}'s leaf")
            owner = owners.get(device)
            expect(sender.get("owner") == (names.get(owner) if owner != device else None), f"{what}: {sender['member']}'s owner")
            steps = sender_chain(nodes.get((leaf, leaf + 1), b""), len(sender["chain"]))
            chains[leaf] = steps
            for counter, (step, (chain_key, message_key)) in enumerate(zip(sender["chain"], steps)):
                expect(step["counter"] == counter and step["chain_key"] == chain_key.hex() and step["message_key"] == message_key.hex(),
                       f"{what}: {sender['member']}'s chain at counter {counter}")
        expect(sorted(chains) == sorted(leaves.values()), f"{what}: a sender chain for each device")
        epochs[number] = {"secret": secret, "header_key": header_key, "leaves": leaves, "owners": owners, "root": root, "L": handed_out}
        in_force = {"successor": successor}
    return epochs


def check_messages(vectors, keys, group_id, epochs):
    """Section 8.4: each message decrypted with keys derived here; prev lists as each device saw the messages."""
    recent, counters = {}, {}
    names = {key: name for name, key in keys.items()}
    for index, m in enumerate(vectors["group_messages"]):
        what = f"group message {index}"
        wire = bytes.fromhex(m["message"])
        if not expect(len(wire) >= 85 + 40 and wire[0] == 0x03, f"{what}: type 0x03, 85 bytes before the body"):
            continue
        epoch = struct.unpack(">Q", wire[1:9])[0]
        expect(epoch == m["epoch"], f"{what}: epoch")
        if not expect(epoch in epochs, f"{what}: an epoch derived here"):
            continue
        keys_of_epoch = epochs[epoch]
        header = open_aead(wire[9:85], wire[:9], keys_of_epoch["header_key"])
        if not expect(header is not None and len(header) == 36, f"{what}: EncHeader opens with the epoch's header key"):
            continue
        expect(m["header"] == header.hex(), f"{what}: header")
        sender, counter = header[:32], struct.unpack(">I", header[32:])[0]
        name = m["sender"]
        expect(sender == keys[name], f"{what}: sender")
        expected_counter = counters.get((epoch, name), 0)
        expect(counter == m["counter"] == expected_counter, f"{what}: counter {counter}, the sender's next in the epoch")
        counters[(epoch, name)] = counter + 1
        leaf = keys_of_epoch["leaves"].get(sender)
        if not expect(leaf is not None, f"{what}: the sending device has a leaf in the epoch"):
            continue
        owner = keys_of_epoch["owners"][sender]
        expect(m.get("owner") == (names[owner] if owner != sender else None), f"{what}: the member who owns the sending device")
        leaf_secret = tree_nodes(keys_of_epoch["root"], 0, keys_of_epoch["L"])[(leaf, leaf + 1)]
        message_key = sender_chain(leaf_secret, counter + 1)[counter][1]
        expect(m["message_key"] == message_key.hex(), f"{what}: message key")
        padded = open_aead(wire[85:], wire[:85], message_key)
        if not expect(padded is not None, f"{what}: Body opens with the derived message key"):
            continue
        content = unpad(padded, 256)
        if not expect(content is not None, f"{what}: Pad(Content, 256)"):
            continue
        length = struct.unpack(">I", content[:4])[0]
        plaintext = content[4:4 + length]
        n = content[4 + length] if len(content) > 4 + length else 99
        if not expect(n <= 3 and len(content) == 4 + length + 1 + 32 * n + 64, f"{what}: content layout"):
            continue
        prev = [content[5 + length + 32 * i:5 + length + 32 * (i + 1)] for i in range(n)]
        signature = content[-64:]
        expect(plaintext == bytes.fromhex(m["plaintext"]) == m["text"].encode(), f"{what}: plaintext")
        expect(m["prev"] == [p.hex() for p in prev], f"{what}: prev as stated")
        expect(prev == recent.get(name, [])[-3:], f"{what}: prev lists the last 3 messages its sender encrypted or decrypted")
        statement = canonical("caucus/group-message/v1", [group_id, epoch, sender, counter, b"".join(prev), plaintext])
        expect(m["signed_bytes"] == statement.hex(), f"{what}: signed bytes")
        expect(m["signature"] == signature.hex() and verifies(sender, statement, signature), f"{what}: signature by the sending device")
        message_hash = h(statement + signature)
        expect(m["hash"] == message_hash.hex(), f"{what}: message hash")
        for member in [name] + m["received_by"]:
            seen = recent.setdefault(member, [])
            if message_hash not in seen:
                seen.append(message_hash)


def check_pairwise(vectors, keys, group_id, epochs, states):
    """Section 8.3."""
    p = vectors["pairwise"]
    names = {key: name for name, key in keys.items()}
    k = p["epoch_key"]
    epoch_key = b"\x10" + group_id + u64(k["epoch"]) + epochs[k["epoch"]]["secret"]
    expect(states[k["epoch"]][5] == REMOVE, "EpochKey: for a remove entry's epoch")
    expect(len(epoch_key) == 73 and k["encoded"] == epoch_key.hex() and k["secret"] == epochs[k["epoch"]]["secret"].hex(),
           "EpochKey: 0x10 || group id || u64 epoch || secret (73 bytes)")
    w = p["welcome"]
    entries = [state[0] for state in states[:w["entries"]]]
    welcome = b"\x11" + u64(w["epoch"]) + epochs[w["epoch"]]["secret"] + u32(len(entries)) + b"".join(entries)
    expect(w["encoded"] == welcome.hex() and w["secret"] == epochs[w["epoch"]]["secret"].hex(),
           "Welcome: 0x11 || u64 epoch || secret || u32 count || entries")
    expect(w["entries"] == w["epoch"] + 1 and states[w["epoch"]][5] == ADD, "Welcome: the chain ends with the add entry of its epoch")
    # A member's new device: the Welcome comes from the add device entry's author, to its subject.
    d = p["device_welcome"]
    entries = [state[0] for state in states[:d["entries"]]]
    device_welcome = b"\x11" + u64(d["epoch"]) + epochs[d["epoch"]]["secret"] + u32(len(entries)) + b"".join(entries)
    expect(d["encoded"] == device_welcome.hex() and d["secret"] == epochs[d["epoch"]]["secret"].hex(),
           "device Welcome: 0x11 || u64 epoch || secret || u32 count || entries")
    entry, last = vectors["membership_chain"][d["epoch"]], states[d["epoch"]]
    expect(d["entries"] == d["epoch"] + 1 and last[5] == ADD_DEVICE, "device Welcome: the chain ends with the add device entry of its epoch")
    expect(entry["author"] == d["from"] and entry["subject"] == d["to"] and keys[d["to"]] in last[3]
           and last[6][keys[d["to"]]] == keys[d["from"]], "device Welcome: from the entry's author, to its subject, a device of the author's")
    # A removed device's epoch: its key comes from the entry's author and goes to every device that remains.
    r = p["device_epoch_key"]
    device_epoch_key = b"\x10" + group_id + u64(r["epoch"]) + epochs[r["epoch"]]["secret"]
    expect(states[r["epoch"]][5] == REMOVE_DEVICE, "device EpochKey: for a remove device entry's epoch")
    expect(r["encoded"] == device_epoch_key.hex() and r["secret"] == epochs[r["epoch"]]["secret"].hex(),
           "device EpochKey: 0x10 || group id || u64 epoch || secret (73 bytes)")
    remaining = sorted(names[device] for device in states[r["epoch"]][3] if device != keys[r["from"]])
    expect(vectors["membership_chain"][r["epoch"]]["author"] == r["from"] and r["to"] == remaining,
           "device EpochKey: from the entry's author, to every other device that has a leaf after it")
    return epoch_key, welcome, [state[0] for state in states]


def check_payloads(vectors, cards, group_id, epoch_key, welcome, entries):
    """Section 9.1: each kind rebuilt from its fields."""
    records = {"cards.json campaign": cards["campaign"]["encoded"], "cards.json receipt": cards["receipt"]["encoded"],
               "cards.json revocation_receipt": cards["revocation_receipt"]["encoded"],
               "cards.json tally_proofs 0": cards["tally_proofs"][0]["encoded"]}

    def stamp(s):
        return bytes.fromhex(s["message_id"]) + u64(s["sent_at_ms"]) + u32(s["timer_s"])

    def text(value):
        return lp(value.encode("utf-8"))

    def record(f):
        return lp(bytes.fromhex(records[f["record"]]))

    bodies = {
        1: lambda f: stamp(f["stamp"]) + text(f["text"]),
        2: lambda f: (stamp(f["stamp"]) + bytes.fromhex(f["blob_id"]) + bytes.fromhex(f["file_key"]) + u64(f["size"])
                      + u32(f["chunk_size"]) + bytes.fromhex(f["digest"]) + text(f["file_name"])),
        3: lambda f: text(f["display_name"]),
        4: lambda f: stamp(f["stamp"]),
        5: lambda f: lp(bytes.fromhex(f["entry"])),
        6: lambda f: bytes.fromhex(f["invite_id"]) + bytes.fromhex(f["invite_secret"]) + text(f["display_name"]),
        7: lambda f: (lp(bytes.fromhex(f["welcome"])) + text(f["group_name"]) + u32(f["timer_s"]) + u32(len(f["names"]))
                      + b"".join(bytes.fromhex(n["key"]) + text(n["display_name"]) for n in f["names"])),
        8: lambda f: lp(bytes.fromhex(f["epoch_key"])),
        9: lambda f: bytes.fromhex(f["group_id"]) + bytes.fromhex(f["seed"]),
        10: lambda f: bytes.fromhex(f["invite_id"]) + text(f["reason"]),
        11: record,
        12: lambda f: bytes.fromhex(f["campaign_hash"]) + bytes.fromhex(f["seed"]),
        13: record,
        14: record,
        15: lambda f: bytes.fromhex(f["group_id"]) + record(f),
        16: lambda f: u32(f["count"]),
        17: record,
        18: lambda f: u32(len(f["entries"])) + b"".join(lp(bytes.fromhex(e)) for e in f["entries"]),
        19: lambda f: bytes.fromhex(f["peer"]) + lp(bytes.fromhex(f["payload"])),
        20: lambda f: bytes.fromhex(f["group_id"]),
    }
    payloads = vectors["payloads"]
    expect([p["kind"] for p in payloads] == list(range(1, 21)), "payloads: kinds 1 to 20, once each")
    for p in payloads:
        kind, f = p["kind"], p["fields"]
        if kind not in bodies:
            continue
        expect(p["encoded"] == (bytes([1, kind]) + bodies[kind](f)).hex(), f"payload kind {kind}: u8 version 1 || u8 kind || body")
        # The embedded values are the ones the other vectors define.
        if kind == 5:
            expect(bytes.fromhex(f["entry"]) in entries, "payload kind 5: an entry of the chain")
        if kind == 7:
            expect(f["welcome"] == welcome.hex(), "payload kind 7: the Welcome of section 8.3")
        if kind == 8:
            expect(f["epoch_key"] == epoch_key.hex(), "payload kind 8: the EpochKey of section 8.3")
        if kind in (9, 15):
            expect(f["group_id"] == group_id.hex(), f"payload kind {kind}: the group id")
        if kind == 12:
            expect(f["campaign_hash"] == cards["campaign"]["hash"], "payload kind 12: the campaign's hash")
            card_key = SigningKey(bytes.fromhex(f["seed"])).verify_key.encode().hex()
            expect(card_key == cards["campaign"]["fields"]["card_key"], "payload kind 12: the seed's public key is the card key")
        if kind == 1:
            expect(len(f["text"].encode()) <= 60000, "payload kind 1: at most 60,000 bytes")
        if kind == 3:
            expect(1 <= len(f["display_name"]) <= 64 and not f["display_name"].startswith("did:"), "payload kind 3: a display name")
        if kind == 2:
            expect(1 <= f["chunk_size"] <= 1048576, "payload kind 2: chunk size 1 to 1,048,576")
        if kind == 18:
            first = bytes.fromhex(f["entries"][0])
            expect(1 <= len(f["entries"]) <= 1000 and len(first) == 242 and first[72] == 1,
                   "payload kind 18: 1 to 1,000 device entries, the first an add (section 2.2)")
        if kind == 19:
            inner = bytes.fromhex(f["payload"])
            expect(inner[0] == 1 and inner[1] in (1, 2, 4), "payload kind 19: a copy of a text, a file or a timer")


def check_invites(vectors, keys):
    """Section 9.4."""
    prefix = "caucus-invite:"
    for index, invite in enumerate(vectors["invites"]):
        what = f"invite {index}"
        text = invite["text"]
        if not expect(text.startswith(prefix) and len(text.encode()) <= 1024, f"{what}: caucus-invite: and at most 1,024 bytes"):
            continue
        if not expect(all(char in ALPHABET for char in text[len(prefix):]), f"{what}: base58btc"):
            continue
        data = base58_decode(text[len(prefix):])
        body, checksum = data[:-4], data[-4:]
        expect(checksum == h(body)[:4], f"{what}: checksum, the first 4 bytes of BLAKE2b-256")
        version = body[0]
        expect(version == invite["version"], f"{what}: version")
        expect(body[1:33] == keys[invite["inviter"]], f"{what}: inviter identity key")
        expect(body[33:49].hex() == invite["invite_id"] and body[49:65].hex() == invite["secret"], f"{what}: invite id and secret")
        if version == 2:
            expect(struct.unpack(">Q", body[65:73])[0] == invite["expires_at_s"], f"{what}: expiry")
            relay = body[73:]
        else:
            expect(version == 1 and "expires_at_s" not in invite, f"{what}: version 1 has no expiry")
            relay = body[65:]
        expect(relay.decode("utf-8", "replace") == invite["relay"] and invite["relay"].startswith(("ws://", "wss://")), f"{what}: relay URL")


def check_device_link(vectors, keys):
    """Section 9.13: the link code, the new device's request and the answer."""
    from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base

    link = vectors.get("device_link")
    if not expect(link, "device_link: a record of section 9.13"):
        return
    code, prefix = link["code"], "caucus-link:"
    text = code["text"]
    expect(text.startswith(prefix) and len(text.encode()) <= 1024 and all(c in ALPHABET for c in text[len(prefix):]),
           "link code: caucus-link:, base58btc, at most 1,024 bytes")
    data = base58_decode(text[len(prefix):])
    body, checksum = data[:-4], data[-4:]
    expect(checksum == h(body)[:4], "link code: checksum, the first 4 bytes of BLAKE2b-256")
    secret = bytes.fromhex(code["secret"])
    expect(body[0] == 1 and body[1:33] == keys[code["identity"]] and body[33:65] == keys[code["device"]],
           "link code: version 1, identity key, inviting device key")
    expect(body[65:97] == secret and struct.unpack(">Q", body[97:105])[0] == code["expires_at_s"],
           "link code: secret and expiry")
    expect(body[105:].decode("utf-8", "replace") == code["relay"], "link code: relay URL")
    inviting, new_device = keys[code["device"]], keys[link["new_device"]]

    request_key = expand(extract(ZERO, secret), b"caucus/link-request/v1")
    expect(link["request_key"] == request_key.hex(), "link request key: HKDF of the code's secret")
    request = bytes.fromhex(link["request"])
    plain = open_aead(request[1:], b"\x05" + inviting, request_key) if request[:1] == b"\x05" else None
    if expect(plain is not None and len(plain) > 132, "link request: 0x05 and opens with the request key, ad 0x05 || inviting device"):
        device, proof, link_key = plain[:32], plain[32:96], plain[96:128]
        name_length = struct.unpack(">I", plain[128:132])[0]
        expect(device == new_device and proof.hex() == link["proof"], "link request: the new device key and its proof")
        expect(verifies(device, canonical("caucus/device-key/v1", [keys[code["identity"]], device]), proof),
               "link request: the proof is the device's signature over caucus/device-key/v1")
        link_scalar = bytes.fromhex(link["link_key_scalar"])
        expect(link_key == crypto_scalarmult_base(link_scalar) and link_key.hex() == link["link_key"], "link request: the link key")
        expect(len(plain) == 132 + name_length and plain[132:].decode() == link["name"], "link request: the name, length-prefixed")
        expect(open_aead(request[1:], b"\x05" + new_device, request_key) is None, "link request: does not open with another device in its ad")

    answer = bytes.fromhex(link["answer"])
    answering = answer[1:33]
    expect(answer[:1] == b"\x06" and answering == crypto_scalarmult_base(bytes.fromhex(link["answering_key_scalar"]))
           and answering.hex() == link["answering_key"], "link answer: 0x06 and the answering link key")
    shared = crypto_scalarmult(bytes.fromhex(link["link_key_scalar"]), answering)
    answer_key = expand(extract(secret, shared), b"caucus/link-answer/v1")
    expect(link["answer_key"] == answer_key.hex(), "link answer key: HKDF(salt = secret, IKM = X25519(answering, request's link key))")
    contents = open_aead(answer[33:], b"\x06" + new_device, answer_key)
    if not expect(contents is not None and contents.hex() == link["contents"], "link answer: opens to the contents, ad 0x06 || new device"):
        return
    fields, seeds = link["contents_fields"], vectors["seeds"]
    at = [0]

    def take(n):
        piece = contents[at[0]:at[0] + n]
        at[0] += n
        return piece

    def take_lp():
        return take(struct.unpack(">I", take(4))[0])

    expect(take(1) == b"\x01" and take(32).hex() == seeds[code["identity"]], "link contents: version 1 and the identity seed")
    chain = [take_lp().hex() for _ in range(struct.unpack(">I", take(4))[0])]
    expect(chain == fields["chain"], "link contents: the device chain's entries")
    expect(take_lp().decode() == fields["display_name"], "link contents: the display name")
    names = [(take(32), take_lp().decode()) for _ in range(struct.unpack(">I", take(4))[0])]
    expect(names == [(keys[n["device"]], n["name"]) for n in fields["device_names"]], "link contents: the device names")
    contacts = [(take(32), take_lp().decode(), take(1)) for _ in range(struct.unpack(">I", take(4))[0])]
    expect(contacts == [(keys[c["identity"]], c["name"], bytes([1 if c["verified"] else 0])) for c in fields["contacts"]],
           "link contents: the contacts with their names and verified marks")
    expect(take(4) == u32(fields["groups"]) and at[0] == len(contents), "link contents: the number of groups, then nothing")


def check_copy_ids(vectors, keys):
    """Section 9.12: the relay message id of each device's copy."""
    for index, record in enumerate(vectors["copy_ids"]):
        message_id, device = bytes.fromhex(record["message_id"]), keys[record["device"]]
        expected = message_id if device == keys[record["person"]] else h(b"caucus/copy-id/v1" + message_id + device)[:16]
        expect(record["copy_id"] == expected.hex(), f"copy id {index}: the id itself for the identity key, else BLAKE2b-256(label || id || device)[:16]")


def check_recovery_box(vectors, keys):
    """Section 9.15: a recovery box's contents, sealed to a paper key."""
    from nacl.bindings import crypto_box_seal_open, crypto_sign_ed25519_pk_to_curve25519, crypto_sign_ed25519_sk_to_curve25519

    record = vectors["recovery_box"]
    secret = bytes(range(16))
    prk = hmac256(ZERO, secret)
    seed = expand(prk, b"caucus/paper-key/v1")
    signing = SigningKey(seed)
    expect(signing.verify_key.encode().hex() == record["paper_key_public"], "recovery box: the paper key of secret 00..0f")
    public = crypto_sign_ed25519_pk_to_curve25519(signing.verify_key.encode())
    private = crypto_sign_ed25519_sk_to_curve25519(seed + signing.verify_key.encode())
    try:
        contents = crypto_box_seal_open(bytes.fromhex(record["sealed"]), public, private)
    except CryptoError:
        contents = None
    if not expect(contents is not None and contents.hex() == record["contents"], "recovery box: opens with the paper key to the contents"):
        return
    seeds = vectors["seeds"]
    expected = b"\x01" + bytes.fromhex(seeds[record["identity"]]) + lp(record["display_name"].encode())
    expected += u32(len(record["contacts"])) + b"".join(
        keys[c["identity"]] + lp(c["name"].encode()) + bytes([1 if c["verified"] else 0]) for c in record["contacts"])
    expected += u32(len(record["groups"])) + b"".join(
        bytes.fromhex(g["group_id"]) + lp(g["name"].encode()) + u32(len(g["admins"])) + b"".join(keys[a] for a in g["admins"])
        for g in record["groups"])
    expect(contents == expected, "recovery box: u8 1, identity seed, name, contacts, groups with their admins")


FILE_CHUNK_LABEL = b"caucus/file-chunk/v1"


def file_chunks(plaintext, chunk_size):
    """Section 9.7's writer: chunks of chunk_size bytes, n = max(1, ceil(size / chunk_size)), the last
    holding the rest (a full chunk when the size is a positive multiple, one empty chunk for an empty file)."""
    count = max(1, -(-len(plaintext) // chunk_size))
    return [plaintext[i * chunk_size:(i + 1) * chunk_size] for i in range(count)]


def check_files(vectors):
    """Section 9.7."""
    if not expect(vectors.get("files"), "files: records of section 9.7"):
        return
    files = vectors["files"]
    sizes = [len(bytes.fromhex(f["plaintext"])) for f in files]
    expect(any(size % f["chunk_size"] for size, f in zip(sizes, files)) and 0 in sizes
           and any(size and size % f["chunk_size"] == 0 for size, f in zip(sizes, files)),
           "files: one whose last chunk is shorter, one of a positive multiple of the chunk size, an empty one")
    for number, f in enumerate(files):
        what = f"file {number}"
        chunk_size, key, blob_id = f["chunk_size"], bytes.fromhex(f["file_key"]), bytes.fromhex(f["blob_id"])
        plaintext = bytes.fromhex(f["plaintext"])
        expect(1 <= chunk_size <= 1048576, f"{what}: chunk size 1 to 1,048,576")
        expect(len(key) == 32 and len(blob_id) == 16, f"{what}: file key 32 bytes, blob id 16")
        chunks = file_chunks(plaintext, chunk_size)
        if not expect(len(f["chunks"]) == len(chunks), f"{what}: {len(chunks)} chunks"):
            continue
        for index, (c, chunk) in enumerate(zip(f["chunks"], chunks)):
            last = index == len(chunks) - 1
            ad = FILE_CHUNK_LABEL + blob_id + u64(index) + bytes([last])
            expect(c["index"] == index and c["last"] is last, f"{what}, chunk {index}: index and last flag")
            expect(c["associated_data"] == ad.hex(), f"{what}, chunk {index}: associated data")
            expect(c["plaintext"] == chunk.hex(), f"{what}, chunk {index}: plaintext")
            sealed = bytes.fromhex(c["sealed"])
            expect(len(sealed) == 24 + len(chunk) + 16 and open_aead(sealed, ad, key) == chunk,
                   f"{what}, chunk {index}: opens with the file key and its associated data")
            moved = FILE_CHUNK_LABEL + blob_id + u64(index) + bytes([not last])
            expect(open_aead(sealed, moved, key) is None, f"{what}, chunk {index}: does not open with the other last flag")
        expect(f["blob"] == "".join(c["sealed"] for c in f["chunks"]), f"{what}: the blob is the sealed chunks in order")
        blob, whole = bytes.fromhex(f["blob"]), chunk_size + 40
        cut = [blob[start:start + whole] for start in range(0, len(blob), whole)]
        expect([c.hex() for c in cut] == [c["sealed"] for c in f["chunks"]],
               f"{what}: a reader cutting the blob into sealed chunks of chunk size + 40 bytes finds the chunks")
        expect(f["size"] == len(plaintext), f"{what}: size")
        expect(f["digest"] == h(plaintext).hex(), f"{what}: digest, BLAKE2b-256 of the whole plaintext")
        expect(f["file_id"] == blob_id[:6].hex(), f"{what}: file id, the hex of the blob id's first 6 bytes")


def main(path):
    vectors = json.load(open(path, encoding="utf-8"))
    cards = json.load(open(os.path.join(os.path.dirname(os.path.abspath(path)), "cards.json"), encoding="utf-8"))
    keys = {name: SigningKey(bytes.fromhex(seed)).verify_key.encode() for name, seed in vectors["seeds"].items()}
    group_id = bytes.fromhex(vectors["group_id"])
    expect(len(group_id) == 32, "group id: 32 bytes")

    states = check_chain(vectors, keys, group_id)
    epochs = check_epochs(vectors, keys, group_id, states)
    check_messages(vectors, keys, group_id, epochs)
    epoch_key, welcome, entries = check_pairwise(vectors, keys, group_id, epochs, states)
    check_payloads(vectors, cards, group_id, epoch_key, welcome, entries)
    check_invites(vectors, keys)
    check_files(vectors)
    check_device_link(vectors, keys)
    check_copy_ids(vectors, keys)
    check_recovery_box(vectors, keys)

    return finish("group")


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "groups.json")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
