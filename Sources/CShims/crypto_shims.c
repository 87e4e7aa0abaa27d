#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "crypto_shims.h"
#include <openssl/sha.h>

void cshims_sha256(const void *data, size_t len, uint8_t out32[32]) {
    SHA256((const unsigned char *)data, len, out32);
}
