// libsecp256k1 0.2.0 headers (ECDH, extrakeys, schnorrsig) and helpers. Owned by Sv2Noise.
#ifndef CSHIMS_SECP_H
#define CSHIMS_SECP_H
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#endif
