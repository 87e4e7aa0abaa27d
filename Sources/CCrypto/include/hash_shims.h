// Hashing helpers for the mining share path (SHA-256d of headers, coinbases, merkle steps). Owned by Sv2Mining.
// None of these allocate; OpenSSL's low-level SHA-256 (SHA-NI when the CPU has it) does the block work.
#ifndef CSHIMS_HASH_H
#define CSHIMS_HASH_H
#include <stddef.h>
#include <stdint.h>

/// A resumable SHA-256 state (an OpenSSL `SHA256_CTX` in opaque storage), used to hash the fixed
/// part of a coinbase once per job and only the per-share tail per share.
typedef struct cshims_sha256_state {
    uint64_t opaque[14];
} cshims_sha256_state;

/// Asks the CPU to start loading the cache line at `address` (for writing) without waiting for it: the duplicate
/// filter fetches a share's table slot this way before the share's header is hashed, so the (usually cold) slot
/// arrives while the hash is computed.
static inline void cshims_prefetch_for_write(const void *address) { __builtin_prefetch(address, 1, 3); }

/// SHA-256(SHA-256(data)) of `len` bytes into `out32`.
void cshims_sha256d(const void *data, size_t len, uint8_t out32[32]);

/// SHA-256d of an 80-byte block header into `out32` (pre-padded blocks, no buffering).
void cshims_sha256d_header(const void *header80, uint8_t out32[32]);

/// Merkle step: SHA-256d(left32 ‖ right32) into `out32`. `out32` may alias either input.
void cshims_merkle_step(const void *left32, const void *right32, uint8_t out32[32]);

/// Starts `state` and absorbs `len` bytes of `data` (the fixed prefix of a message).
void cshims_sha256_begin(cshims_sha256_state *state, const void *data, size_t len);

/// Absorbs `len` more bytes into `state`.
void cshims_sha256_absorb(cshims_sha256_state *state, const void *data, size_t len);

/// SHA-256d of (the bytes absorbed into `state`) ‖ a ‖ b, leaving `state` unchanged.
void cshims_sha256d_resume(const cshims_sha256_state *state, const void *a, size_t a_len, const void *b,
                           size_t b_len, uint8_t out32[32]);
#endif
