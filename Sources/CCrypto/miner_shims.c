// CPU miner inner loop. OpenSSL's low-level SHA256_Transform (SHA-NI when present) does the compressions; we keep
// the header's first-block midstate and pre-padded blocks so a nonce costs exactly two compressions.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "miner_shims.h"
#include <openssl/sha.h>
#include <string.h>

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/// hash ≤ target, both little-endian 256-bit integers (most significant byte last).
static inline int meets(const uint8_t hash[32], const uint8_t target[32]) {
    for (int i = 31; i >= 0; i--) {
        if (hash[i] != target[i]) return hash[i] < target[i];
    }
    return 1;
}

uint32_t cshims_scan_nonces(const uint8_t header80[80], uint32_t first_nonce, uint32_t count,
                            const uint8_t target32[32], int *found, uint8_t hash_out32[32]) {
    SHA256_CTX mid;
    SHA256_Init(&mid);
    SHA256_Transform(&mid, header80);

    // Second header block: bytes 64..79 (merkle tail, ntime, nbits, nonce) + padding for 640 bits.
    uint8_t tail[64];
    memcpy(tail, header80 + 64, 16);
    tail[16] = 0x80;
    memset(tail + 17, 0, 45);
    tail[62] = 0x02;
    tail[63] = 0x80;

    // Outer hash block: 32-byte digest + padding for 256 bits.
    uint8_t outer[64];
    memset(outer, 0, 64);
    outer[32] = 0x80;
    outer[62] = 0x01;

    *found = 0;
    uint32_t nonce = first_nonce;
    for (uint32_t i = 0; i < count; i++, nonce++) {
        tail[12] = (uint8_t)nonce;
        tail[13] = (uint8_t)(nonce >> 8);
        tail[14] = (uint8_t)(nonce >> 16);
        tail[15] = (uint8_t)(nonce >> 24);
        SHA256_CTX c = mid;
        SHA256_Transform(&c, tail);
        for (int w = 0; w < 8; w++) store_be32(outer + 4 * w, c.h[w]);
        SHA256_CTX d;
        SHA256_Init(&d);
        SHA256_Transform(&d, outer);
        // Most significant hash byte is byte 31 = low byte of the last state word: a cheap early reject.
        if ((uint8_t)d.h[7] > target32[31]) continue;
        uint8_t hash[32];
        for (int w = 0; w < 8; w++) store_be32(hash + 4 * w, d.h[w]);
        if (meets(hash, target32)) {
            memcpy(hash_out32, hash, 32);
            *found = 1;
            return i + 1;
        }
    }
    return count;
}
