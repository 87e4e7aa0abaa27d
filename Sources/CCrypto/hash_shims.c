// SHA-256d for the share path via OpenSSL's low-level SHA-256 (deprecated in 3.0 but allocation-free,
// unlike the one-shot `SHA256()` which goes through EVP fetches and context allocations).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "hash_shims.h"
#include <openssl/sha.h>
#include <string.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(cshims_sha256_state), "cshims_sha256_state too small");

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void digest_of(const SHA256_CTX *c, uint8_t out32[32]) {
    for (int i = 0; i < 8; i++) store_be32(out32 + 4 * i, c->h[i]);
}

/// Second SHA-256 round of a SHA-256d: one pre-padded block over a 32-byte digest.
static inline void hash_digest(const uint8_t digest[32], uint8_t out32[32]) {
    uint8_t block[64];
    memcpy(block, digest, 32);
    block[32] = 0x80;
    memset(block + 33, 0, 29);
    block[62] = 0x01; // 256 bits, big-endian
    block[63] = 0x00;
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Transform(&c, block);
    digest_of(&c, out32);
}

void cshims_sha256d(const void *data, size_t len, uint8_t out32[32]) {
    SHA256_CTX c;
    uint8_t first[32];
    SHA256_Init(&c);
    SHA256_Update(&c, data, len);
    SHA256_Final(first, &c);
    hash_digest(first, out32);
}

void cshims_sha256d_header(const void *header80, uint8_t out32[32]) {
    const uint8_t *h = (const uint8_t *)header80;
    uint8_t tail[64];
    memcpy(tail, h + 64, 16);
    tail[16] = 0x80;
    memset(tail + 17, 0, 45);
    tail[62] = 0x02; // 640 bits, big-endian
    tail[63] = 0x80;
    SHA256_CTX c;
    uint8_t first[32];
    SHA256_Init(&c);
    SHA256_Transform(&c, h);
    SHA256_Transform(&c, tail);
    digest_of(&c, first);
    hash_digest(first, out32);
}

void cshims_merkle_step(const void *left32, const void *right32, uint8_t out32[32]) {
    uint8_t block[64];
    memcpy(block, left32, 32);
    memcpy(block + 32, right32, 32);
    static const uint8_t pad[64] = {0x80, [62] = 0x02, [63] = 0x00}; // 512 bits, big-endian
    SHA256_CTX c;
    uint8_t first[32];
    SHA256_Init(&c);
    SHA256_Transform(&c, block);
    SHA256_Transform(&c, pad);
    digest_of(&c, first);
    hash_digest(first, out32);
}

void cshims_sha256_begin(cshims_sha256_state *state, const void *data, size_t len) {
    SHA256_CTX *c = (SHA256_CTX *)(void *)state;
    SHA256_Init(c);
    if (len > 0) SHA256_Update(c, data, len);
}

void cshims_sha256_absorb(cshims_sha256_state *state, const void *data, size_t len) {
    if (len > 0) SHA256_Update((SHA256_CTX *)(void *)state, data, len);
}

void cshims_sha256d_resume(const cshims_sha256_state *state, const void *a, size_t a_len, const void *b,
                           size_t b_len, uint8_t out32[32]) {
    SHA256_CTX c;
    uint8_t first[32];
    memcpy(&c, state, sizeof c);
    if (a_len > 0) SHA256_Update(&c, a, a_len);
    if (b_len > 0) SHA256_Update(&c, b, b_len);
    SHA256_Final(first, &c);
    hash_digest(first, out32);
}
