// OpenSSL libcrypto: SHA-256, HMAC and ChaCha20-Poly1305 without per-call allocation.
// Owned by Sv2Noise (AEAD, HMAC) and Sv2Mining (SHA-256d).
#ifndef CSHIMS_CRYPTO_H
#define CSHIMS_CRYPTO_H
#include <stddef.h>
#include <stdint.h>

/// SHA-256 of `len` bytes at `data` into `out32`.
void cshims_sha256(const void *data, size_t len, uint8_t out32[32]);
#endif
