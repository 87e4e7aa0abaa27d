// Umbrella header of the C glue. Each area owns its own header/source pair so that
// work on one (io_uring, secp256k1, libcrypto) never touches another.
#ifndef CSHIMS_H
#define CSHIMS_H
#include "uring_shims.h"
#include "secp_shims.h"
#include "crypto_shims.h"
#include "ellswift_shims.h"
#include "hash_shims.h"
#include "process_shims.h"
#include "miner_shims.h"
#endif
