#ifndef CAUCUS_BENCH_C_H
#define CAUCUS_BENCH_C_H
#include <stddef.h>
#include <stdint.h>

/* Plain C loops over libsodium: the baseline the Swift crypto core is measured against.
 * Each runs `iterations` times and returns a value derived from the outputs, so that the
 * compiler cannot drop the work. */

/* Derives the key pair from a 32-byte seed first, outside the loop. */
uint64_t cb_sign(const uint8_t *seed, const uint8_t *message, size_t length, uint64_t iterations);
uint64_t cb_verify(const uint8_t *public_key, const uint8_t *signature, const uint8_t *message, size_t length,
                   uint64_t iterations);
/* Seals `length` bytes with a fresh random 24-byte nonce each time, as the Swift API does. */
uint64_t cb_aead_seal(const uint8_t *key, const uint8_t *message, size_t length, uint64_t iterations);
/* Opens a sealed message laid out nonce (24) || ciphertext || tag (16). */
uint64_t cb_aead_open(const uint8_t *key, const uint8_t *sealed, size_t sealed_length, uint64_t iterations);
/* Seal then open, each iteration: the bare AEAD cost of one message sent and received. */
uint64_t cb_aead_round_trip(const uint8_t *key, const uint8_t *message, size_t length, uint64_t iterations);
/* The least work any Double Ratchet with HMAC-SHA-256 chain steps does per message sent and
 * received: a chain step on each side (HMAC(ck, 0x01) and HMAC(ck, 0x02)) plus an AEAD seal and
 * open. No header, padding, copies or state: a ceiling for the session benchmark. */
uint64_t cb_ratchet_floor(const uint8_t *key, const uint8_t *message, size_t length, uint64_t iterations);
/* Converts the Ed25519 key of a 32-byte seed to X25519 (as the Swift core does), then opens. */
uint64_t cb_box_seal_open(const uint8_t *seed, const uint8_t *sealed, size_t sealed_length, uint64_t iterations);

/* The cryptographic work of a card tally, item by item, on the calling thread: converts the card
 * key's 32-byte Ed25519 seed to X25519 once, then for each of `count` items opens the sealed box
 * (`sealed[i]`, `sealed_lengths[i]` bytes) and verifies the Ed25519 signature `signatures[i]` by
 * `public_keys[i]` over `messages[i]` (`message_lengths[i]` bytes). Returns how many items both
 * opened and verified. */
uint64_t cb_card_open_verify(const uint8_t *card_key_seed, const uint8_t *const *sealed, const size_t *sealed_lengths,
                             const uint8_t *const *public_keys, const uint8_t *const *messages,
                             const size_t *message_lengths, const uint8_t *const *signatures, size_t count);

/* Returns the heap's free memory to the system (glibc malloc_trim), so that a measurement of
 * resident memory that follows counts only what is allocated from then on. */
void cb_release_free_memory(void);

#endif
