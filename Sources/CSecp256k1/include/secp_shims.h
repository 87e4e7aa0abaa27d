// libsecp256k1 0.2.0 headers (ECDH, extrakeys, schnorrsig) and helpers. Owned by Sv2Noise.
#ifndef CSHIMS_SECP_H
#define CSHIMS_SECP_H
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#pragma clang assume_nonnull begin

/// The process-wide libsecp256k1 context (created and randomized once, thread-safe to share:
/// all later calls only read it).
const secp256k1_context *cshims_secp_context(void);

/// Fills `out` with `len` bytes from the kernel CSPRNG (getrandom). Returns 1 on success.
int cshims_random_bytes(void *out, size_t len);
#pragma clang assume_nonnull end
#endif
