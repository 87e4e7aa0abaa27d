// ElligatorSwift (BIP324 `xswiftec`, `xswiftec_inv`, libsecp256k1's deterministic encoder) and
// BIP324 x-only ECDH for libsecp256k1 0.2.0, which lacks the ellswift module.
//
// GF(p), p = 2^256 - 0x1000003D1, with four 64-bit limbs (least significant first) and
// `unsigned __int128` products. Every element is kept fully reduced (< p). All inputs are
// public, so the code is variable time; secret scalars only ever reach libsecp256k1.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "ellswift_shims.h"
#include <secp256k1_ecdh.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

typedef unsigned __int128 u128;
typedef struct { uint64_t n[4]; } fe;

// 2^256 mod p.
#define FE_R 0x1000003D1ULL
#define P0 0xFFFFFFFEFFFFFC2FULL

static const fe FE_ONE = {{1, 0, 0, 0}};
// c0 = sqrt(-3) = 0a2d2ba9...1cd5f852 as given by (-3)^((p+1)/4) (the other root would swap x1/x2);
// c1 = (c0 - 1) / 2, c2 = (-c0 - 1) / 2, c3 = (1 - c0) / 2 = -c1, c4 = (1 + c0) / 2 = c1 + 1.
static const fe FE_C1 = {{0x3ec693d68e6afa40ULL, 0x630fb68aed0a766aULL, 0x919bb86153cbcb16ULL, 0x851695d49a83f8efULL}};
static const fe FE_C2 = {{0xc1396c28719501eeULL, 0x9cf0497512f58995ULL, 0x6e64479eac3434e9ULL, 0x7ae96a2b657c0710ULL}};
static const fe FE_C3 = {{0xc1396c28719501efULL, 0x9cf0497512f58995ULL, 0x6e64479eac3434e9ULL, 0x7ae96a2b657c0710ULL}};
static const fe FE_C4 = {{0x3ec693d68e6afa41ULL, 0x630fb68aed0a766aULL, 0x919bb86153cbcb16ULL, 0x851695d49a83f8efULL}};
// 1/2 = (p + 1) / 2.
static const fe FE_HALF = {{0xFFFFFFFF7FFFFE18ULL, 0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFFFULL, 0x7FFFFFFFFFFFFFFFULL}};

static int fe_ge_p(const fe *a) {
    return a->n[3] == ~0ULL && a->n[2] == ~0ULL && a->n[1] == ~0ULL && a->n[0] >= P0;
}

// Adds 2^256 - p (= FE_R) modulo 2^256; used to subtract p from a value in [p, 2^256)
// or to fold a carry out of bit 256 back in.
static void fe_add_r(fe *a) {
    u128 c = (u128)a->n[0] + FE_R;
    a->n[0] = (uint64_t)c; c >>= 64;
    for (int i = 1; i < 4 && c; i++) { c += a->n[i]; a->n[i] = (uint64_t)c; c >>= 64; }
}

static void fe_set_b32_mod(fe *r, const uint8_t b[32]) {
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int j = 0; j < 8; j++) v = (v << 8) | b[(3 - i) * 8 + j];
        r->n[i] = v;
    }
    if (fe_ge_p(r)) fe_add_r(r);
}

static void fe_get_b32(uint8_t b[32], const fe *a) {
    for (int i = 0; i < 4; i++) {
        uint64_t v = a->n[i];
        for (int j = 7; j >= 0; j--) { b[(3 - i) * 8 + j] = (uint8_t)v; v >>= 8; }
    }
}

static int fe_is_zero(const fe *a) { return (a->n[0] | a->n[1] | a->n[2] | a->n[3]) == 0; }
static int fe_equal(const fe *a, const fe *b) { return memcmp(a->n, b->n, sizeof a->n) == 0; }
static int fe_is_odd(const fe *a) { return (int)(a->n[0] & 1); }

static void fe_add(fe *r, const fe *a, const fe *b) {
    u128 c = 0;
    for (int i = 0; i < 4; i++) { c += (u128)a->n[i] + b->n[i]; r->n[i] = (uint64_t)c; c >>= 64; }
    if (c) fe_add_r(r);          // a + b - 2^256 + R = a + b - p < p
    else if (fe_ge_p(r)) fe_add_r(r);
}

static void fe_sub(fe *r, const fe *a, const fe *b) {
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a->n[i] - b->n[i] - borrow;
        r->n[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    if (borrow) {                // wrapped: add p back, i.e. subtract R modulo 2^256
        u128 d = (u128)r->n[0] - FE_R;
        r->n[0] = (uint64_t)d;
        uint64_t b = (uint64_t)(d >> 64) & 1;
        for (int i = 1; i < 4 && b; i++) { d = (u128)r->n[i] - b; r->n[i] = (uint64_t)d; b = (uint64_t)(d >> 64) & 1; }
    }
}

static void fe_neg(fe *r, const fe *a) {
    static const fe zero = {{0, 0, 0, 0}};
    fe_sub(r, &zero, a);
}

// Reduces a 512-bit product t (least significant limb first) modulo p.
static void fe_reduce(fe *r, const uint64_t t[8]) {
    uint64_t m[4];
    u128 c = 0;
    for (int i = 0; i < 4; i++) { c += (u128)t[4 + i] * FE_R + t[i]; m[i] = (uint64_t)c; c >>= 64; }
    c = (u128)(uint64_t)c * FE_R + m[0];
    r->n[0] = (uint64_t)c; c >>= 64;
    for (int i = 1; i < 4; i++) { c += m[i]; r->n[i] = (uint64_t)c; c >>= 64; }
    if (c) fe_add_r(r);
    if (fe_ge_p(r)) fe_add_r(r);
}

static void fe_mul(fe *r, const fe *a, const fe *b) {
    uint64_t t[8] = {0};
    for (int i = 0; i < 4; i++) {
        u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (u128)a->n[i] * b->n[j] + t[i + j];
            t[i + j] = (uint64_t)c;
            c >>= 64;
        }
        t[i + 4] = (uint64_t)c;
    }
    fe_reduce(r, t);
}

// Squaring: 6 cross products doubled plus 4 squares (10 multiplications instead of 16).
static void fe_sqr(fe *r, const fe *a) {
    uint64_t t[8] = {0};
    for (int i = 0; i < 4; i++) {
        u128 c = 0;
        for (int j = i + 1; j < 4; j++) {
            c += (u128)a->n[i] * a->n[j] + t[i + j];
            t[i + j] = (uint64_t)c;
            c >>= 64;
        }
        t[i + 4] = (uint64_t)c;
    }
    for (int i = 7; i > 0; i--) t[i] = (t[i] << 1) | (t[i - 1] >> 63);
    t[0] <<= 1;
    u128 c = 0;
    for (int i = 0; i < 4; i++) {
        u128 sq = (u128)a->n[i] * a->n[i];
        c += (u128)t[2 * i] + (uint64_t)sq;
        t[2 * i] = (uint64_t)c; c >>= 64;
        c += (u128)t[2 * i + 1] + (uint64_t)(sq >> 64);
        t[2 * i + 1] = (uint64_t)c; c >>= 64;
    }
    fe_reduce(r, t);
}

static void fe_sqr_n(fe *r, const fe *a, int n) {
    *r = *a;
    while (n-- > 0) fe_sqr(r, r);
}

// Shared prefix of the libsecp256k1 addition chains: x223 = a^(2^223 - 1), plus x2, x22.
static void fe_pow_x223(fe *x223, fe *x2, fe *x22, const fe *a) {
    fe x3, x6, x9, x11, x44, x88, x176, t;
    fe_sqr(&t, a); fe_mul(x2, &t, a);
    fe_sqr(&t, x2); fe_mul(&x3, &t, a);
    fe_sqr_n(&t, &x3, 3); fe_mul(&x6, &t, &x3);
    fe_sqr_n(&t, &x6, 3); fe_mul(&x9, &t, &x3);
    fe_sqr_n(&t, &x9, 2); fe_mul(&x11, &t, x2);
    fe_sqr_n(&t, &x11, 11); fe_mul(x22, &t, &x11);
    fe_sqr_n(&t, x22, 22); fe_mul(&x44, &t, x22);
    fe_sqr_n(&t, &x44, 44); fe_mul(&x88, &t, &x44);
    fe_sqr_n(&t, &x88, 88); fe_mul(&x176, &t, &x88);
    fe_sqr_n(&t, &x176, 44); fe_mul(&t, &t, &x44);
    fe_sqr_n(&t, &t, 3); fe_mul(x223, &t, &x3);
}

// r = a^(p-2) = 1/a (0 for a = 0).
static void fe_inv(fe *r, const fe *a) {
    fe x223, x2, x22, t;
    fe_pow_x223(&x223, &x2, &x22, a);
    fe_sqr_n(&t, &x223, 23); fe_mul(&t, &t, &x22);
    fe_sqr_n(&t, &t, 5); fe_mul(&t, &t, a);
    fe_sqr_n(&t, &t, 3); fe_mul(&t, &t, &x2);
    fe_sqr_n(&t, &t, 2); fe_mul(r, &t, a);
}

// r = a^((p+1)/4); returns 1 iff r^2 = a (a is a square). r and a must not alias.
static int fe_sqrt(fe *r, const fe *a) {
    fe x223, x2, x22, t;
    fe_pow_x223(&x223, &x2, &x22, a);
    fe_sqr_n(&t, &x223, 23); fe_mul(&t, &t, &x22);
    fe_sqr_n(&t, &t, 6); fe_mul(&t, &t, &x2);
    fe_sqr_n(r, &t, 2);
    fe_sqr(&t, r);
    return fe_equal(&t, a);
}

// r = a^((p-3)/4), (p-3)/4 = 2^254 - 2^30 - 245: the sqrt chain with a^2 instead of a^3 before the last two
// squarings and a^3 after them. For a/b with ab a square, b·(a·(ab)^((p-3)/4))^2 = a: one exponentiation gives
// sqrt(a/b) up to sign, where an inversion and a square root would take two.
static void fe_pow_p3div4(fe *r, const fe *a) {
    fe x223, x2, x22, t, a2;
    fe_pow_x223(&x223, &x2, &x22, a);
    fe_sqr_n(&t, &x223, 23); fe_mul(&t, &t, &x22);
    fe_sqr_n(&t, &t, 6); fe_sqr(&a2, a); fe_mul(&t, &t, &a2);
    fe_sqr_n(&t, &t, 2); fe_mul(r, &t, &x2);
}

static int fe_is_square(const fe *a) {
    fe r;
    return fe_sqrt(&r, a);
}

// Whether x^3 + 7 is a square, i.e. x is the x coordinate of a curve point.
static int fe_is_valid_x(const fe *x) {
    static const fe seven = {{7, 0, 0, 0}};
    fe t;
    fe_sqr(&t, x); fe_mul(&t, &t, x); fe_add(&t, &t, &seven);
    return fe_is_square(&t);
}

// u^3 + 7.
static void fe_g(fe *r, const fe *u) {
    static const fe seven = {{7, 0, 0, 0}};
    fe_sqr(r, u); fe_mul(r, r, u); fe_add(r, r, &seven);
}

// Whether the fraction n/d (d != 0) is a valid x: (n^3 + 7d^3)·d is a square, since it is
// (x^3 + 7)·d^4. Lets the decoder test candidates without inverting anything.
static int fe_is_valid_x_frac(const fe *n, const fe *d) {
    static const fe seven = {{7, 0, 0, 0}};
    fe t, r;
    fe_sqr(&r, d); fe_mul(&r, &r, d); fe_mul(&r, &r, &seven);
    fe_sqr(&t, n); fe_mul(&t, &t, n); fe_add(&t, &t, &r); fe_mul(&t, &t, d);
    return fe_is_square(&t);
}

// BIP324 `xswiftec(u, t)` in fraction form (one inversion): with s = t^2, g = u^3 + 7,
// x3 = (3su^3 - (g+s)^2) / (3su^2), x2 = u(c1·s + c2·g) / (g+s), x1 = -(x2 + u).
static void xswiftec(fe *x, const fe *u_in, const fe *t_in) {
    fe u = *u_in, t = *t_in, g, s, p, n, d, m;
    if (fe_is_zero(&u)) u = FE_ONE;
    if (fe_is_zero(&t)) t = FE_ONE;
    fe_g(&g, &u);
    fe_sqr(&s, &t);
    fe_add(&p, &g, &s);
    if (fe_is_zero(&p)) { fe_add(&s, &s, &s); fe_add(&s, &s, &s); fe_add(&p, &g, &s); }  // t = 2t
    // x3
    fe_sqr(&m, &u); fe_mul(&d, &m, &s); fe_add(&m, &d, &d); fe_add(&d, &m, &d);  // d = 3su^2
    fe_mul(&n, &d, &u); fe_sqr(&m, &p); fe_sub(&n, &n, &m);                     // n = 3su^3 - p^2
    if (!fe_is_valid_x_frac(&n, &d)) {
        // x2
        fe_mul(&n, &FE_C1, &s); fe_mul(&m, &FE_C2, &g); fe_add(&n, &n, &m); fe_mul(&n, &n, &u);
        d = p;
        if (!fe_is_valid_x_frac(&n, &d)) {
            // x1 = -(n2/p + u) = -(n2 + u·p) / p
            fe_mul(&m, &u, &p); fe_add(&n, &n, &m); fe_neg(&n, &n);
        }
    }
    fe_inv(&m, &d);
    fe_mul(x, &n, &m);
}

// BIP324 `xswiftec_inv(x, u, c)`; returns 0 when branch c has no solution. With `any_sign`, t may come back
// negated in branches 0, 1, 4 and 5 (the encoder fixes t's sign from y anyway), which saves an exponentiation there.
static int xswiftec_inv(fe *t, const fe *x, const fe *u, int c, int any_sign) {
    fe s, v, g, m, w, d;
    fe_g(&g, u);
    if (!(c & 2)) {
        // Fail if -x-u is a valid x: that encoding would decode through x3 instead.
        fe_add(&m, x, u); fe_neg(&m, &m);
        if (fe_is_valid_x(&m)) return 0;
        // s = -(u^3 + 7) / (u^2 + u*x + x^2)
        fe_sqr(&d, u); fe_mul(&m, u, x); fe_add(&d, &d, &m); fe_sqr(&m, x); fe_add(&d, &d, &m);
        if (fe_is_zero(&d)) return 0;
        v = *x;
        if (any_sign) {
            // w = ±sqrt(-g/d) = a·(a·d)^((p-3)/4) with a = -g, valid iff d·w^2 = a.
            fe a;
            fe_neg(&a, &g);
            fe_mul(&m, &a, &d); fe_pow_p3div4(&m, &m); fe_mul(&w, &a, &m);
            fe_sqr(&m, &w); fe_mul(&m, &m, &d);
            if (!fe_equal(&m, &a)) return 0;
        } else {
            fe_inv(&d, &d); fe_mul(&s, &g, &d); fe_neg(&s, &s);
            if (!fe_sqrt(&w, &s)) return 0;
        }
    } else {
        fe r, is;
        fe_sub(&s, x, u);
        if (fe_is_zero(&s)) return 0;
        // w = sqrt(s) first: a non-square s fails this branch before the other square root.
        if (any_sign) {
            // q = s^((p-3)/4) gives both w = ±sqrt(s) = s·q and, s being a square, 1/s = q^2.
            fe q;
            fe_pow_p3div4(&q, &s); fe_mul(&w, &s, &q);
            fe_sqr(&m, &w);
            if (!fe_equal(&m, &s)) return 0;
            fe_sqr(&is, &q);
        } else if (!fe_sqrt(&w, &s)) {
            return 0;
        }
        // r = sqrt(-s * (4(u^3 + 7) + 3s*u^2))
        fe_add(&d, &g, &g); fe_add(&d, &d, &d);
        fe_sqr(&m, u); fe_mul(&m, &m, &s); fe_add(&r, &m, &m); fe_add(&m, &r, &m);
        fe_add(&d, &d, &m); fe_mul(&d, &d, &s); fe_neg(&d, &d);
        if (!fe_sqrt(&r, &d)) return 0;
        if ((c & 1) && fe_is_zero(&r)) return 0;
        // v = (-u + r/s) / 2
        if (!any_sign) fe_inv(&is, &s);
        fe_mul(&v, &r, &is); fe_sub(&v, &v, u); fe_mul(&v, &v, &FE_HALF);
    }
    // t = ±w * (c3·u + v) for c&1 = 0, ±w * (c4·u + v) for c&1 = 1; sign from c&5.
    fe_mul(&m, (c & 1) ? &FE_C4 : &FE_C3, u);
    fe_add(&m, &m, &v);
    fe_mul(t, &w, &m);
    int negate = ((c & 5) == 0) || ((c & 5) == 5);
    if (negate) fe_neg(t, t);
    return 1;
}

void cshims_xswiftec_decode(const uint8_t ell64[64], uint8_t x32[32]) {
    fe u, t, x;
    fe_set_b32_mod(&u, ell64);
    fe_set_b32_mod(&t, ell64 + 32);
    xswiftec(&x, &u, &t);
    fe_get_b32(x32, &x);
}

int cshims_xswiftec_inv(uint8_t t32[32], const uint8_t x32[32], const uint8_t u32[32], int c) {
    fe x, u, t;
    fe_set_b32_mod(&x, x32);
    fe_set_b32_mod(&u, u32);
    if (!xswiftec_inv(&t, &x, &u, c & 7, 0)) return 0;
    fe_get_b32(t32, &t);
    return 1;
}

// PRNG(cnt) = SHA256(prefix ‖ LE32(cnt)) continuing a hasher that already absorbed the prefix.
static void ellswift_prng(uint8_t out32[32], const SHA256_CTX *prefix, uint32_t cnt) {
    SHA256_CTX h = *prefix;
    uint8_t le[4] = {(uint8_t)cnt, (uint8_t)(cnt >> 8), (uint8_t)(cnt >> 16), (uint8_t)(cnt >> 24)};
    SHA256_Update(&h, le, 4);
    SHA256_Final(out32, &h);
}

// SHA256 state after absorbing TaggedHash("secp256k1_ellswift_encode")'s `tag ‖ tag` (one 64-byte block).
static SHA256_CTX encode_tag_prefix;
static pthread_once_t encode_tag_once = PTHREAD_ONCE_INIT;

static void init_encode_tag(void) {
    static const char name[] = "secp256k1_ellswift_encode";
    uint8_t tag[32];
    SHA256_CTX h;
    SHA256_Init(&h);
    SHA256_Update(&h, name, sizeof name - 1);
    SHA256_Final(tag, &h);
    SHA256_Init(&encode_tag_prefix);
    SHA256_Update(&encode_tag_prefix, tag, 32);
    SHA256_Update(&encode_tag_prefix, tag, 32);
}

int cshims_ellswift_encode(const secp256k1_context *ctx, uint8_t ell64[64],
                           const secp256k1_pubkey *pubkey, const uint8_t rnd32[32]) {
    uint8_t p65[65], p64[64] = {0}, branch_hash[32], u32[32];
    size_t len = 65;
    if (!secp256k1_ec_pubkey_serialize(ctx, p65, &len, pubkey, SECP256K1_EC_UNCOMPRESSED)) return 0;
    fe x, y, u, t;
    fe_set_b32_mod(&x, p65 + 1);
    fe_set_b32_mod(&y, p65 + 33);
    // Hasher = BIP340 tagged hash "secp256k1_ellswift_encode" over pub33 ‖ 0^31 ‖ rnd32.
    p64[0] = fe_is_odd(&y) ? 0x03 : 0x02;
    memcpy(p64 + 1, p65 + 1, 32);
    // The tag's two blocks are the same for every key: start from their precomputed midstate. (OpenSSL 3's
    // one-shot SHA256() also allocates a digest context per call.)
    pthread_once(&encode_tag_once, init_encode_tag);
    SHA256_CTX prefix = encode_tag_prefix;
    SHA256_Update(&prefix, p64, 64);
    SHA256_Update(&prefix, rnd32, 32);
    // cnt 0 fills a pool of 64 4-bit branch values consumed from the end; each following cnt
    // yields one candidate u (libsecp256k1 `secp256k1_ellswift_xelligatorswift_var`).
    int branches_left = 0;
    uint32_t cnt = 0;
    for (;;) {
        if (branches_left == 0) { ellswift_prng(branch_hash, &prefix, cnt++); branches_left = 64; }
        --branches_left;
        int branch = (branch_hash[branches_left >> 1] >> ((branches_left & 1) << 2)) & 7;
        ellswift_prng(u32, &prefix, cnt++);
        fe_set_b32_mod(&u, u32);
        if (xswiftec_inv(&t, &x, &u, branch, 1)) break;
    }
    if (fe_is_odd(&t) != fe_is_odd(&y)) fe_neg(&t, &t);
    memcpy(ell64, u32, 32);   // the raw hash output, not reduced mod p
    fe_get_b32(ell64 + 32, &t);
    return 1;
}

// secp256k1_ecdh hash callback: hands back the raw shared x coordinate.
static int copy_x(unsigned char *output, const unsigned char *x32, const unsigned char *y32, void *data) {
    (void)y32; (void)data;
    memcpy(output, x32, 32);
    return 1;
}

int cshims_ellswift_xdh(const secp256k1_context *ctx, uint8_t out32[32],
                        const uint8_t ell_a64[64], const uint8_t ell_b64[64],
                        const uint8_t seckey32[32], int party) {
    uint8_t peer_x[32];
    cshims_xswiftec_decode(party ? ell_a64 : ell_b64, peer_x);
    return cshims_ellswift_xdh_decoded(ctx, out32, ell_a64, ell_b64, peer_x, seckey32);
}

int cshims_ellswift_xdh_decoded(const secp256k1_context *ctx, uint8_t out32[32],
                                const uint8_t ell_a64[64], const uint8_t ell_b64[64],
                                const uint8_t peer_x32[32], const uint8_t seckey32[32]) {
    uint8_t pub33[33], buf[160];
    secp256k1_pubkey peer;
    pub33[0] = 0x02;
    memcpy(pub33 + 1, peer_x32, 32);
    // Always a valid x; the shared x does not depend on the sign of y.
    if (!secp256k1_ec_pubkey_parse(ctx, &peer, pub33, 33)) return 0;
    if (!secp256k1_ecdh(ctx, buf + 128, &peer, seckey32, copy_x, NULL)) return 0;
    memcpy(buf, ell_a64, 64);
    memcpy(buf + 64, ell_b64, 64);
    static const char tag[] = "bip324_ellswift_xonly_ecdh";
    int ok = secp256k1_tagged_sha256(ctx, out32, (const unsigned char *)tag, sizeof tag - 1, buf, sizeof buf);
    memset(buf + 128, 0, 32);
    return ok;
}
