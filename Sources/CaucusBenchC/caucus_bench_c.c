#include "caucus_bench_c.h"

#include <malloc.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

uint64_t cb_sign(const uint8_t *seed, const uint8_t *message, size_t length, uint64_t iterations) {
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES], secret_key[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(public_key, secret_key, seed);
    unsigned char signature[crypto_sign_BYTES];
    uint64_t folded = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        crypto_sign_detached(signature, NULL, message, length, secret_key);
        folded += signature[i % crypto_sign_BYTES];
    }
    sodium_memzero(secret_key, sizeof secret_key);
    return folded;
}

uint64_t cb_verify(const uint8_t *public_key, const uint8_t *signature, const uint8_t *message, size_t length,
                   uint64_t iterations) {
    uint64_t valid = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        valid += crypto_sign_verify_detached(signature, message, length, public_key) == 0;
    }
    return valid;
}

uint64_t cb_aead_seal(const uint8_t *key, const uint8_t *message, size_t length, uint64_t iterations) {
    const size_t nonce_bytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    unsigned char *out = malloc(nonce_bytes + length + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    uint64_t folded = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        randombytes_buf(out, nonce_bytes);
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + nonce_bytes, NULL, message, length, NULL, 0, NULL, out, key);
        folded += out[nonce_bytes + i % length];
    }
    free(out);
    return folded;
}

uint64_t cb_aead_open(const uint8_t *key, const uint8_t *sealed, size_t sealed_length, uint64_t iterations) {
    const size_t nonce_bytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    const size_t length = sealed_length - nonce_bytes - crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned char *out = malloc(length);
    uint64_t valid = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        valid += crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, sealed + nonce_bytes,
                                                             sealed_length - nonce_bytes, NULL, 0, sealed, key) == 0;
    }
    free(out);
    return valid;
}

uint64_t cb_aead_round_trip(const uint8_t *key, const uint8_t *message, size_t length, uint64_t iterations) {
    const size_t nonce_bytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    const size_t sealed_length = nonce_bytes + length + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned char *sealed = malloc(sealed_length);
    unsigned char *opened = malloc(length);
    uint64_t valid = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        randombytes_buf(sealed, nonce_bytes);
        crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + nonce_bytes, NULL, message, length, NULL, 0, NULL, sealed, key);
        valid += crypto_aead_xchacha20poly1305_ietf_decrypt(opened, NULL, NULL, sealed + nonce_bytes,
                                                             sealed_length - nonce_bytes, NULL, 0, sealed, key) == 0;
    }
    free(sealed);
    free(opened);
    return valid;
}

uint64_t cb_box_seal_open(const uint8_t *seed, const uint8_t *sealed, size_t sealed_length, uint64_t iterations) {
    unsigned char ed_public[crypto_sign_PUBLICKEYBYTES], ed_secret[crypto_sign_SECRETKEYBYTES];
    unsigned char public_key[crypto_scalarmult_BYTES], secret_key[crypto_scalarmult_SCALARBYTES];
    crypto_sign_seed_keypair(ed_public, ed_secret, seed);
    crypto_sign_ed25519_sk_to_curve25519(secret_key, ed_secret);
    crypto_scalarmult_base(public_key, secret_key);
    unsigned char *out = malloc(sealed_length - crypto_box_SEALBYTES);
    uint64_t valid = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        valid += crypto_box_seal_open(out, sealed, sealed_length, public_key, secret_key) == 0;
    }
    free(out);
    sodium_memzero(ed_secret, sizeof ed_secret);
    sodium_memzero(secret_key, sizeof secret_key);
    return valid;
}

uint64_t cb_ratchet_floor(const uint8_t *key, const uint8_t *message, size_t length, uint64_t iterations) {
    const size_t nonce_bytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    const size_t sealed_length = nonce_bytes + length + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned char *sealed = malloc(sealed_length);
    unsigned char *opened = malloc(length);
    unsigned char send_chain[32], receive_chain[32], message_key[32];
    const unsigned char one = 1, two = 2;
    memcpy(send_chain, key, 32);
    memcpy(receive_chain, key, 32);
    uint64_t valid = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        crypto_auth_hmacsha256(message_key, &one, 1, send_chain);
        crypto_auth_hmacsha256(send_chain, &two, 1, send_chain);
        randombytes_buf(sealed, nonce_bytes);
        crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + nonce_bytes, NULL, message, length, NULL, 0, NULL, sealed,
                                                   message_key);
        crypto_auth_hmacsha256(message_key, &one, 1, receive_chain);
        crypto_auth_hmacsha256(receive_chain, &two, 1, receive_chain);
        valid += crypto_aead_xchacha20poly1305_ietf_decrypt(opened, NULL, NULL, sealed + nonce_bytes,
                                                             sealed_length - nonce_bytes, NULL, 0, sealed, message_key) == 0;
    }
    sodium_memzero(message_key, sizeof message_key);
    free(sealed);
    free(opened);
    return valid;
}

uint64_t cb_card_open_verify(const uint8_t *card_key_seed, const uint8_t *const *sealed, const size_t *sealed_lengths,
                             const uint8_t *const *public_keys, const uint8_t *const *messages,
                             const size_t *message_lengths, const uint8_t *const *signatures, size_t count) {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, card_key_seed);
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0) return 0;
    crypto_sign_ed25519_sk_to_curve25519(xsk, sk);
    uint8_t *plain = malloc(1 << 20);
    uint64_t good = 0;
    for (size_t i = 0; i < count; i++) {
        if (sealed_lengths[i] < crypto_box_SEALBYTES || sealed_lengths[i] - crypto_box_SEALBYTES > (1 << 20)) continue;
        if (crypto_box_seal_open(plain, sealed[i], sealed_lengths[i], xpk, xsk) != 0) continue;
        if (crypto_sign_verify_detached(signatures[i], messages[i], message_lengths[i], public_keys[i]) == 0) good++;
    }
    free(plain);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(xsk, sizeof xsk);
    return good;
}

void cb_release_free_memory(void) {
    malloc_trim(0);
}
