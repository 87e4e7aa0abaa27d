// Nonce scanning for the CPU miner (client side of Sv2Mining). Owned by Sv2Mining's miner.
#ifndef CSHIMS_MINER_H
#define CSHIMS_MINER_H
#include <stdint.h>

/// Hashes the 80-byte header `header80` with nonces `first_nonce`, `first_nonce + 1`, … (at most `count` of them,
/// wrapping modulo 2^32) until one's SHA-256d, read as a little-endian 256-bit integer, is ≤ the little-endian
/// target `target32`.
///
/// The first 64-byte block of the header is compressed once (midstate); each nonce then costs two SHA-256
/// compressions. Returns how many nonces were hashed; `*found` is 1 when the last of them met the target (its
/// hash is then in `hash_out32`), else 0. `header80`'s nonce field is not modified. Allocation-free, thread-safe.
uint32_t cshims_scan_nonces(const uint8_t header80[80], uint32_t first_nonce, uint32_t count,
                            const uint8_t target32[32], int *found, uint8_t hash_out32[32]);
#endif
