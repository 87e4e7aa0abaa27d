// Umbrella header of the OpenSSL libcrypto glue: constant-time helpers, ChaCha20-Poly1305, SHA-256 (double hash,
// midstates, the CPU miner's nonce scan). The module links libcrypto and nothing else.
#ifndef CCRYPTO_H
#define CCRYPTO_H
#include "crypto_shims.h"
#include "chachapoly_shims.h"
#include "hash_shims.h"
#include "miner_shims.h"
#endif
