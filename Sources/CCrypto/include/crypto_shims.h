// OpenSSL libcrypto: SHA-256, HMAC and ChaCha20-Poly1305 without per-call allocation.
// Owned by Sv2Noise (AEAD, HMAC) and Sv2Mining (SHA-256d).
#ifndef CSHIMS_CRYPTO_H
#define CSHIMS_CRYPTO_H
#include <stddef.h>
#include <stdint.h>

#pragma clang assume_nonnull begin

/// SHA-256 of `len` bytes at `data` into `out32`.
void cshims_sha256(const void *data, size_t len, uint8_t *out32);

/// Overwrites `len` bytes at `p` with zeros (OPENSSL_cleanse: not elided by the optimiser).
void cshims_cleanse(void *p, size_t len);

/// SHA-256 of `a ‖ b` into `out32` (Noise `MixHash`). `out32` may alias `a`.
void cshims_sha256_concat(const void *a, size_t alen, const void *_Nullable b, size_t blen, uint8_t *out32);

/// HMAC-SHA256 (RFC 2104) of `data` under `key`, on the stack (no allocation).
void cshims_hmac_sha256(const void *key, size_t keylen, const void *_Nullable data, size_t len, uint8_t *out32);

/// Noise `HKDF(ck, ikm)` with two outputs: `tk = HMAC(ck, ikm)`, `out1 = HMAC(tk, 0x01)`,
/// `out2 = HMAC(tk, out1 ‖ 0x02)`. Outputs may alias `ck32`.
void cshims_noise_hkdf(const uint8_t *ck32, const void *_Nullable ikm, size_t ikmlen,
                       uint8_t *out1, uint8_t *out2);

/// A ChaCha20-Poly1305 (RFC 8439) context: an OpenSSL `EVP_CIPHER_CTX` set up once and reused
/// for every message, so sealing and opening allocate nothing.
typedef struct cshims_aead cshims_aead;

/// Creates a context keyed with `key32`; NULL if OpenSSL cannot allocate it.
cshims_aead *_Nullable cshims_aead_new(const uint8_t *key32);

/// Replaces the key of `ctx`. Returns 1 on success.
int cshims_aead_set_key(cshims_aead *ctx, const uint8_t *key32);

/// Frees `ctx` (wiping its key).
void cshims_aead_free(cshims_aead *_Nullable ctx);

/// Encrypts `len` bytes at `buf` in place with the 12-byte `iv` and `adlen` bytes of associated
/// data, then writes the 16-byte tag at `buf + len`. Returns 1 on success.
int cshims_aead_seal(cshims_aead *ctx, const uint8_t *iv12, const void *_Nullable ad, size_t adlen,
                     uint8_t *buf, size_t len);

/// Decrypts `len` ciphertext bytes at `buf` in place, checking the 16-byte tag at `buf + len`
/// (OpenSSL compares it). Returns 1 when the tag is valid, 0 otherwise (then `buf` holds garbage).
int cshims_aead_open(cshims_aead *ctx, const uint8_t *iv12, const void *_Nullable ad, size_t adlen,
                     uint8_t *buf, size_t len);

#pragma clang assume_nonnull end
#endif
