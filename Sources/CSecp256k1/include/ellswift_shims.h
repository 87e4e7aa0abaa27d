// ElligatorSwift (BIP324) on top of libsecp256k1 0.2.0, which predates the ellswift module.
// Field arithmetic here only ever touches public data (encodings, x coordinates), so it is
// variable time; every secret-scalar operation stays inside libsecp256k1. Owned by Sv2Noise.
#ifndef CSHIMS_ELLSWIFT_H
#define CSHIMS_ELLSWIFT_H
#include <stdint.h>
#include <secp256k1.h>

#pragma clang assume_nonnull begin

/// Decodes a 64-byte ElligatorSwift encoding `u ‖ t` (big-endian, each reduced mod p, never
/// rejected) to the 32-byte big-endian x coordinate of the encoded point.
void cshims_xswiftec_decode(const uint8_t *ell64, uint8_t *x32);

/// BIP324 `xswiftec_inv(x, u, c)`: finds `t` with `xswiftec(u, t) = x` for branch `c` (0...7).
/// Returns 1 and writes `t32` (big-endian) on success, 0 when this branch has no solution.
int cshims_xswiftec_inv(uint8_t *t32, const uint8_t *x32, const uint8_t *u32, int c);

/// Encodes `pubkey` exactly as libsecp256k1 ≥ 0.4 `secp256k1_ellswift_encode` does with the
/// same `rnd32` (32 zero bytes reproduces rust-secp256k1 `ElligatorSwift::from_pubkey`).
/// Returns 1 on success, 0 if the public key cannot be serialized.
int cshims_ellswift_encode(const secp256k1_context *ctx, uint8_t *ell64,
                           const secp256k1_pubkey *pubkey, const uint8_t *rnd32);

/// BIP324 x-only ECDH: decodes the peer's encoding, multiplies by `seckey32` inside libsecp256k1
/// and hashes `TaggedHash("bip324_ellswift_xonly_ecdh", ell_a64 ‖ ell_b64 ‖ x32)` into `out32`.
/// `ell_a64` is always the initiator's encoding and `ell_b64` the responder's; `party` is 0 when
/// the caller is the initiator (peer = b) and 1 when it is the responder (peer = a).
/// Returns 1 on success, 0 if the secret key is invalid.
int cshims_ellswift_xdh(const secp256k1_context *ctx, uint8_t *out32,
                        const uint8_t *ell_a64, const uint8_t *ell_b64,
                        const uint8_t *seckey32, int party);
/// Same as `cshims_ellswift_xdh` with the peer's encoding already decoded to `peer_x32`
/// (saves a decode when one peer key takes part in two ECDHs).
int cshims_ellswift_xdh_decoded(const secp256k1_context *ctx, uint8_t *out32,
                                const uint8_t *ell_a64, const uint8_t *ell_b64,
                                const uint8_t *peer_x32, const uint8_t *seckey32);

#pragma clang assume_nonnull end
#endif
