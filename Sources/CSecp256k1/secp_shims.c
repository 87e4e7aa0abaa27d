#include "secp_shims.h"
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

static secp256k1_context *shared_ctx;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;

static void create_shared_ctx(void) {
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    unsigned char seed[32];
    // Randomization only blinds against side channels; a failed getrandom leaves it unblinded.
    if (cshims_random_bytes(seed, sizeof seed)) {
        (void)secp256k1_context_randomize(ctx, seed);
        memset(seed, 0, sizeof seed);
    }
    shared_ctx = ctx;
}

const secp256k1_context *cshims_secp_context(void) {
    pthread_once(&shared_once, create_shared_ctx);
    return shared_ctx;
}

int cshims_random_bytes(void *out, size_t len) {
    unsigned char *p = out;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        p += n;
        len -= (size_t)n;
    }
    return 1;
}
