#!/usr/bin/env python3
"""Writes a Caucus keystore file (format version 1) from Protocol.md alone, with PyNaCl.

The test suite pins one file made by this script (KeystoreFormatTests.independentFile), so the
Swift reader and the written specification cannot drift apart. Usage:
    python3 scripts/interop/keystore_vector.py PASSPHRASE SEED_HEX
prints the file as hex and the DID of the sealed identity.
"""
import hashlib
import sys
import unicodedata

import nacl.bindings as b
import nacl.pwhash.argon2id as argon2id
import nacl.utils

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58btc(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def keystore(passphrase: str, seed: bytes, iterations: int = 1, memory_kib: int = 8192) -> bytes:
    password = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    salt = nacl.utils.random(16)
    header = (b"CAUCUSKS" + bytes([1, 1]) + iterations.to_bytes(4, "big")
              + memory_kib.to_bytes(4, "big") + salt)
    key = argon2id.kdf(32, password, salt, opslimit=iterations, memlimit=memory_kib * 1024)
    nonce = nacl.utils.random(24)
    sealed = b.crypto_aead_xchacha20poly1305_ietf_encrypt(seed, header, nonce, key)
    body = header + nonce + sealed
    return body + hashlib.blake2b(body, digest_size=32).digest()


def main() -> None:
    passphrase, seed = sys.argv[1], bytes.fromhex(sys.argv[2])
    public_key, _ = b.crypto_sign_seed_keypair(seed)
    print(keystore(passphrase, seed).hex())
    print("did:key:z" + base58btc(b"\xed\x01" + public_key))


if __name__ == "__main__":
    main()
