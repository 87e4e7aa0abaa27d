// Umbrella header of the libsecp256k1 glue: context, Schnorr signatures, ECDH and ElligatorSwift. The module links
// libsecp256k1, and libcrypto for the SHA-256 the ElligatorSwift ECDH hash uses.
#ifndef CSECP256K1_H
#define CSECP256K1_H
#include "secp_shims.h"
#include "ellswift_shims.h"
#endif
