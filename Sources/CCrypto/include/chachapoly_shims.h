// ChaCha20-Poly1305 (RFC 8439) in portable C for small messages: no provider dispatch, no
// per-message re-initialisation, no allocation. Owned by Sv2Noise (ChaChaPolyCipher uses it for
// Noise transport frames; large messages still go through OpenSSL, see crypto_shims.h).
#ifndef CSHIMS_CHACHAPOLY_H
#define CSHIMS_CHACHAPOLY_H
#include <stddef.h>
#include <stdint.h>

#pragma clang assume_nonnull begin

/// A prepared ChaCha20-Poly1305 key: the ChaCha20 input block with constants and key words in
/// place, so a message only fills in its counter and nonce. Plain data; wipe with
/// `cshims_chachapoly_wipe` when done.
typedef struct cshims_chachapoly {
    uint32_t words[12];
} cshims_chachapoly;

/// Prepares `ctx` for the 32-byte key `key32` (RFC 8439 §2.3 key words, little endian).
void cshims_chachapoly_init(cshims_chachapoly *ctx, const uint8_t *key32);

/// Overwrites the key material in `ctx` with zeros (not elided by the optimiser).
void cshims_chachapoly_wipe(cshims_chachapoly *ctx);

/// AEAD seal (RFC 8439 §2.8): encrypts `len` bytes at `buf` in place under the 12-byte `iv12`
/// and `adlen` bytes of associated data, then writes the 16-byte tag at `buf + len`.
/// Returns 1, or 0 if `len` exceeds the 2^38 − 64 byte limit of a 32-bit block counter.
int cshims_chachapoly_seal(const cshims_chachapoly *ctx, const uint8_t *iv12,
                           const void *_Nullable ad, size_t adlen, uint8_t *buf, size_t len);

/// AEAD open (RFC 8439 §2.8): checks the 16-byte tag at `buf + len` over `ad` and the `len`
/// ciphertext bytes at `buf` first (constant-time comparison, `CRYPTO_memcmp`), and only then
/// decrypts in place. Returns 1 when the tag is valid; 0 otherwise, with `buf` left untouched.
int cshims_chachapoly_open(const cshims_chachapoly *ctx, const uint8_t *iv12,
                           const void *_Nullable ad, size_t adlen, uint8_t *buf, size_t len);

/// The raw ChaCha20 block function (RFC 8439 §2.3): 64 bytes of keystream for `counter` and
/// `nonce12` into `out64`. Exposed for the RFC test vectors.
void cshims_chacha20_block(const cshims_chachapoly *ctx, uint32_t counter, const uint8_t *nonce12,
                           uint8_t *out64);

/// ChaCha20 encryption (RFC 8439 §2.4): XORs `len` bytes at `buf` in place with the keystream
/// starting at block `counter`. Exposed for the RFC test vectors.
void cshims_chacha20_xor(const cshims_chachapoly *ctx, uint32_t counter, const uint8_t *nonce12,
                         uint8_t *buf, size_t len);

/// Test hook: 4 keystream blocks for counters `counter` … `counter + 3` into `out256` with the
/// 4-block code — portable (`variant` 1), AVX-512VL (2), whichever the CPU supports (0) — or two
/// calls of the 2-block code — portable (3), AVX2 (4), AVX-512VL (5).
/// Returns 0 when that variant is not compiled in or not supported by this CPU, else 1.
int cshims_chacha20_blocks4(const cshims_chachapoly *ctx, uint32_t counter, const uint8_t *nonce12,
                            uint8_t *out256, int variant);

/// Poly1305 (RFC 8439 §2.5) of `len` bytes at `msg` under the one-time key `key32` into `tag16`.
/// Exposed for the RFC test vectors.
void cshims_poly1305(const uint8_t *key32, const void *_Nullable msg, size_t len, uint8_t *tag16);

#pragma clang assume_nonnull end
#endif
