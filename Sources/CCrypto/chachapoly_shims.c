// ChaCha20-Poly1305 (RFC 8439) for small messages, written from the RFC.
//
// Why not OpenSSL EVP for everything: its per-message cost (provider dispatch, re-initialising
// the context with the nonce, Update/Final/GET_TAG) is ~0.7 µs even for 6 bytes, and a Noise
// share round trip needs eight AEAD calls on 22–60 byte frames. Here a message costs the
// keystream blocks it needs plus a handful of Poly1305 blocks.
//
// Constant time: ChaCha20 is add/rotate/xor only; Poly1305 uses 64×64→128-bit multiplies and a
// mask select for the final reduction; no branch or index depends on key, keystream or data.
// Only lengths (public) steer control flow. Tags are compared with OpenSSL's CRYPTO_memcmp.
#include "chachapoly_shims.h"
#include <string.h>
#include <openssl/crypto.h>

// MARK: Little-endian loads and stores (compile to plain moves on little-endian targets).

static inline uint32_t ld32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t ld64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void st32(uint8_t *p, uint32_t v) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, 4);
}

static inline void st64(uint8_t *p, uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

// MARK: ChaCha20 (RFC 8439 §2.1–2.4)

// Largest message a 32-bit block counter starting at 1 can cover: (2^32 − 1) blocks.
#define CHACHA_MAX_LEN ((uint64_t)0xffffffffu * 64u)

void cshims_chachapoly_init(cshims_chachapoly *ctx, const uint8_t *key32) {
    ctx->words[0] = 0x61707865u;  // "expand 32-byte k"
    ctx->words[1] = 0x3320646eu;
    ctx->words[2] = 0x79622d32u;
    ctx->words[3] = 0x6b206574u;
    for (int i = 0; i < 8; i++) ctx->words[4 + i] = ld32(key32 + 4 * i);
}

void cshims_chachapoly_wipe(cshims_chachapoly *ctx) {
    OPENSSL_cleanse(ctx, sizeof *ctx);
}

/// The 16-word input block for `counter` and `nonce12`.
static inline void chacha_input(const cshims_chachapoly *ctx, uint32_t counter, const uint8_t *nonce12,
                                uint32_t in[16]) {
    memcpy(in, ctx->words, sizeof ctx->words);
    in[12] = counter;
    in[13] = ld32(nonce12);
    in[14] = ld32(nonce12 + 4);
    in[15] = ld32(nonce12 + 8);
}

#define ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QUARTERROUND(a, b, c, d)                    \
    a += b; d ^= a; d = ROTL32(d, 16);              \
    c += d; b ^= c; b = ROTL32(b, 12);              \
    a += b; d ^= a; d = ROTL32(d, 8);               \
    c += d; b ^= c; b = ROTL32(b, 7);

/// One block, scalar: 20 rounds (10 column + diagonal double rounds), then the input added back.
static void chacha_block(const uint32_t in[16], uint32_t out[16]) {
    uint32_t x0 = in[0], x1 = in[1], x2 = in[2], x3 = in[3], x4 = in[4], x5 = in[5], x6 = in[6],
             x7 = in[7], x8 = in[8], x9 = in[9], x10 = in[10], x11 = in[11], x12 = in[12],
             x13 = in[13], x14 = in[14], x15 = in[15];
    for (int i = 0; i < 10; i++) {
        QUARTERROUND(x0, x4, x8, x12)
        QUARTERROUND(x1, x5, x9, x13)
        QUARTERROUND(x2, x6, x10, x14)
        QUARTERROUND(x3, x7, x11, x15)
        QUARTERROUND(x0, x5, x10, x15)
        QUARTERROUND(x1, x6, x11, x12)
        QUARTERROUND(x2, x7, x8, x13)
        QUARTERROUND(x3, x4, x9, x14)
    }
    out[0] = x0 + in[0]; out[1] = x1 + in[1]; out[2] = x2 + in[2]; out[3] = x3 + in[3];
    out[4] = x4 + in[4]; out[5] = x5 + in[5]; out[6] = x6 + in[6]; out[7] = x7 + in[7];
    out[8] = x8 + in[8]; out[9] = x9 + in[9]; out[10] = x10 + in[10]; out[11] = x11 + in[11];
    out[12] = x12 + in[12]; out[13] = x13 + in[13]; out[14] = x14 + in[14]; out[15] = x15 + in[15];
}

/// XORs `len` ≤ 64 bytes of the keystream block `ks` into `buf`.
static inline void xor_block(uint8_t *buf, const uint32_t ks[16], size_t len) {
    if (len == 64) {
        for (int i = 0; i < 16; i++) st32(buf + 4 * i, ld32(buf + 4 * i) ^ ks[i]);
        return;
    }
    uint8_t bytes[64];
    for (int i = 0; i < 16; i++) st32(bytes + 4 * i, ks[i]);
    for (size_t i = 0; i < len; i++) buf[i] ^= bytes[i];
}

void cshims_chacha20_block(const cshims_chachapoly *ctx, uint32_t counter, const uint8_t *nonce12,
                           uint8_t *out64) {
    uint32_t in[16], ks[16];
    chacha_input(ctx, counter, nonce12, in);
    chacha_block(in, ks);
    for (int i = 0; i < 16; i++) st32(out64 + 4 * i, ks[i]);
}

/// XORs the keystream from the block counter already in `in[12]` into `buf`.
static void chacha_xor(uint32_t in[16], uint8_t *buf, size_t len) {
    uint32_t ks[16];
    while (len > 0) {
        size_t n = len < 64 ? len : 64;
        chacha_block(in, ks);
        xor_block(buf, ks, n);
        in[12]++;
        buf += n;
        len -= n;
    }
}

void cshims_chacha20_xor(const cshims_chachapoly *ctx, uint32_t counter, const uint8_t *nonce12,
                         uint8_t *buf, size_t len) {
    uint32_t in[16];
    chacha_input(ctx, counter, nonce12, in);
    chacha_xor(in, buf, len);
}

// MARK: Four blocks at once with vector extensions (x86-64: SSE2, or AVX-512VL for one-instruction
// rotates; arm64: NEON). Lane j of vector i is word i of block counter + j, so the rounds are the
// scalar ones on whole vectors; a 4×4 transpose per word group restores block order. A Noise
// frame of ≤ 192 bytes needs exactly one call: block 0 (Poly1305 key) plus three data blocks.

#if defined(__clang__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CHACHA_HAVE_VECTOR 1
typedef uint32_t v4u32 __attribute__((vector_size(16)));

#define VROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define VQUARTERROUND(a, b, c, d)                   \
    a += b; d ^= a; d = VROTL(d, 16);               \
    c += d; b ^= c; b = VROTL(b, 12);               \
    a += b; d ^= a; d = VROTL(d, 8);                \
    c += d; b ^= c; b = VROTL(b, 7);

/// Body shared by the per-ISA copies: 4 keystream blocks for counters in[12] … in[12] + 3.
#define CHACHA_BLOCKS4_BODY                                                                    \
    v4u32 x[16], orig[16];                                                                     \
    for (int i = 0; i < 16; i++) x[i] = (v4u32){in[i], in[i], in[i], in[i]};                   \
    x[12] += (v4u32){0, 1, 2, 3};                                                              \
    for (int i = 0; i < 16; i++) orig[i] = x[i];                                               \
    for (int r = 0; r < 10; r++) {                                                             \
        VQUARTERROUND(x[0], x[4], x[8], x[12])                                                 \
        VQUARTERROUND(x[1], x[5], x[9], x[13])                                                 \
        VQUARTERROUND(x[2], x[6], x[10], x[14])                                                \
        VQUARTERROUND(x[3], x[7], x[11], x[15])                                                \
        VQUARTERROUND(x[0], x[5], x[10], x[15])                                                \
        VQUARTERROUND(x[1], x[6], x[11], x[12])                                                \
        VQUARTERROUND(x[2], x[7], x[8], x[13])                                                 \
        VQUARTERROUND(x[3], x[4], x[9], x[14])                                                 \
    }                                                                                          \
    for (int i = 0; i < 16; i++) x[i] += orig[i];                                              \
    for (int g = 0; g < 16; g += 4) {                                                          \
        v4u32 t0 = __builtin_shufflevector(x[g], x[g + 1], 0, 4, 1, 5);                        \
        v4u32 t1 = __builtin_shufflevector(x[g], x[g + 1], 2, 6, 3, 7);                        \
        v4u32 t2 = __builtin_shufflevector(x[g + 2], x[g + 3], 0, 4, 1, 5);                    \
        v4u32 t3 = __builtin_shufflevector(x[g + 2], x[g + 3], 2, 6, 3, 7);                    \
        v4u32 b0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);                                \
        v4u32 b1 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);                                \
        v4u32 b2 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);                                \
        v4u32 b3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);                                \
        memcpy(out + 4 * g, &b0, 16);                                                          \
        memcpy(out + 64 + 4 * g, &b1, 16);                                                     \
        memcpy(out + 128 + 4 * g, &b2, 16);                                                    \
        memcpy(out + 192 + 4 * g, &b3, 16);                                                    \
    }

static void chacha_blocks4_generic(const uint32_t in[16], uint8_t out[256]) { CHACHA_BLOCKS4_BODY }

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl")))
static void chacha_blocks4_avx512(const uint32_t in[16], uint8_t out[256]) { CHACHA_BLOCKS4_BODY }
#endif

/// 4 keystream blocks (little-endian bytes) for counters in[12] … in[12] + 3.
static inline void chacha_blocks4(const uint32_t in[16], uint8_t out[256]) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512vl")) {
        chacha_blocks4_avx512(in, out);
        return;
    }
#endif
    chacha_blocks4_generic(in, out);
}

// Two blocks, row-wise: a 256-bit vector holds one state row of both blocks (lanes 0–3 block
// in[12], lanes 4–7 block in[12] + 1), and the diagonal round rotates lanes within each half.
// A third of the work of the 4-block layout, so it wins for messages of ≤ 64 bytes (block 0 for
// Poly1305 plus one data block): every Sv2 frame header and most share-sized payloads.
typedef uint32_t v8u32 __attribute__((vector_size(32)));

#define CHACHA_BLOCKS2_BODY                                                                    \
    v8u32 a = {in[0], in[1], in[2], in[3], in[0], in[1], in[2], in[3]};                        \
    v8u32 b = {in[4], in[5], in[6], in[7], in[4], in[5], in[6], in[7]};                        \
    v8u32 c = {in[8], in[9], in[10], in[11], in[8], in[9], in[10], in[11]};                    \
    v8u32 d = {in[12], in[13], in[14], in[15], in[12] + 1, in[13], in[14], in[15]};            \
    const v8u32 a0 = a, b0 = b, c0 = c, d0 = d;                                                \
    for (int r = 0; r < 10; r++) {                                                             \
        VQUARTERROUND(a, b, c, d)                                                              \
        b = __builtin_shufflevector(b, b, 1, 2, 3, 0, 5, 6, 7, 4);                             \
        c = __builtin_shufflevector(c, c, 2, 3, 0, 1, 6, 7, 4, 5);                             \
        d = __builtin_shufflevector(d, d, 3, 0, 1, 2, 7, 4, 5, 6);                             \
        VQUARTERROUND(a, b, c, d)                                                              \
        b = __builtin_shufflevector(b, b, 3, 0, 1, 2, 7, 4, 5, 6);                             \
        c = __builtin_shufflevector(c, c, 2, 3, 0, 1, 6, 7, 4, 5);                             \
        d = __builtin_shufflevector(d, d, 1, 2, 3, 0, 5, 6, 7, 4);                             \
    }                                                                                          \
    a += a0; b += b0; c += c0; d += d0;                                                        \
    v8u32 first01 = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11);                   \
    v8u32 first23 = __builtin_shufflevector(c, d, 0, 1, 2, 3, 8, 9, 10, 11);                   \
    v8u32 second01 = __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15);                \
    v8u32 second23 = __builtin_shufflevector(c, d, 4, 5, 6, 7, 12, 13, 14, 15);                \
    memcpy(out, &first01, 32);                                                                 \
    memcpy(out + 32, &first23, 32);                                                            \
    memcpy(out + 64, &second01, 32);                                                           \
    memcpy(out + 96, &second23, 32);

static void chacha_blocks2_generic(const uint32_t in[16], uint8_t out[128]) { CHACHA_BLOCKS2_BODY }

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void chacha_blocks2_avx2(const uint32_t in[16], uint8_t out[128]) { CHACHA_BLOCKS2_BODY }

__attribute__((target("avx512f,avx512vl")))
static void chacha_blocks2_avx512(const uint32_t in[16], uint8_t out[128]) { CHACHA_BLOCKS2_BODY }
#endif

/// 2 keystream blocks (little-endian bytes) for counters in[12] and in[12] + 1.
static inline void chacha_blocks2(const uint32_t in[16], uint8_t out[128]) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512vl")) {
        chacha_blocks2_avx512(in, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        chacha_blocks2_avx2(in, out);
        return;
    }
#endif
    chacha_blocks2_generic(in, out);
}
#endif

int cshims_chacha20_blocks4(const cshims_chachapoly *ctx, uint32_t counter, const uint8_t *nonce12,
                            uint8_t *out256, int variant) {
    uint32_t in[16];
    chacha_input(ctx, counter, nonce12, in);
#if CHACHA_HAVE_VECTOR
    switch (variant) {
    case 0: chacha_blocks4(in, out256); return 1;
    case 1: chacha_blocks4_generic(in, out256); return 1;
    case 3:
        chacha_blocks2_generic(in, out256);
        in[12] += 2;
        chacha_blocks2_generic(in, out256 + 128);
        return 1;
#if defined(__x86_64__)
    case 2:
        if (!__builtin_cpu_supports("avx512vl")) return 0;
        chacha_blocks4_avx512(in, out256);
        return 1;
    case 4:
    case 5: {
        int avx512 = variant == 5;
        if (avx512 ? !__builtin_cpu_supports("avx512vl") : !__builtin_cpu_supports("avx2")) return 0;
        for (int half = 0; half < 2; half++, in[12] += 2) {
            if (avx512) chacha_blocks2_avx512(in, out256 + 128 * half);
            else chacha_blocks2_avx2(in, out256 + 128 * half);
        }
        return 1;
    }
#endif
    default: return 0;
    }
#else
    if (variant != 0) return 0;
    for (int b = 0; b < 4; b++, in[12]++) {
        uint32_t ks[16];
        chacha_block(in, ks);
        for (int i = 0; i < 16; i++) st32(out256 + 64 * b + 4 * i, ks[i]);
    }
    return 1;
#endif
}

// MARK: Poly1305 (RFC 8439 §2.5), radix 2^44: h = h0 + h1·2^44 + h2·2^88 with 44/44/42-bit limbs.

typedef struct {
    uint64_t r0, r1, r2;  // clamped r
    uint64_t s1, s2;      // r1·20, r2·20: 2^132 ≡ 4·5 (mod 2^130 − 5) folds the high products
    uint64_t h0, h1, h2;  // accumulator
    uint64_t pad0, pad1;  // s, added at the end
} poly1305;

#define M44 ((uint64_t)0xfffffffffff)
#define M42 ((uint64_t)0x3ffffffffff)

static inline void poly_init(poly1305 *st, const uint8_t key[32]) {
    uint64_t t0 = ld64(key), t1 = ld64(key + 8);
    // Clamp (r &= 0x0ffffffc0ffffffc0ffffffc0fffffff) while splitting into limbs.
    st->r0 = t0 & 0xffc0fffffffu;
    st->r1 = ((t0 >> 44) | (t1 << 20)) & 0xfffffc0ffffu;
    st->r2 = (t1 >> 24) & 0x00ffffffc0fu;
    st->s1 = st->r1 * 20;
    st->s2 = st->r2 * 20;
    st->h0 = st->h1 = st->h2 = 0;
    st->pad0 = ld64(key + 16);
    st->pad1 = ld64(key + 24);
}

/// Absorbs `nblocks` 16-byte blocks; `hibit` is 2^128 in limb 2 (1 << 40) for full blocks, 0 for
/// a final block that already carries its 0x01 byte.
static inline void poly_blocks(poly1305 *st, const uint8_t *m, size_t nblocks, uint64_t hibit) {
    const uint64_t r0 = st->r0, r1 = st->r1, r2 = st->r2, s1 = st->s1, s2 = st->s2;
    uint64_t h0 = st->h0, h1 = st->h1, h2 = st->h2;
    while (nblocks--) {
        uint64_t t0 = ld64(m), t1 = ld64(m + 8);
        h0 += t0 & M44;
        h1 += ((t0 >> 44) | (t1 << 20)) & M44;
        h2 += ((t1 >> 24) & M42) | hibit;
        unsigned __int128 d0 = (unsigned __int128)h0 * r0 + (unsigned __int128)h1 * s2 + (unsigned __int128)h2 * s1;
        unsigned __int128 d1 = (unsigned __int128)h0 * r1 + (unsigned __int128)h1 * r0 + (unsigned __int128)h2 * s2;
        unsigned __int128 d2 = (unsigned __int128)h0 * r2 + (unsigned __int128)h1 * r1 + (unsigned __int128)h2 * r0;
        uint64_t c = (uint64_t)(d0 >> 44);
        h0 = (uint64_t)d0 & M44;
        d1 += c;
        c = (uint64_t)(d1 >> 44);
        h1 = (uint64_t)d1 & M44;
        d2 += c;
        c = (uint64_t)(d2 >> 42);
        h2 = (uint64_t)d2 & M42;
        h0 += c * 5;
        c = h0 >> 44;
        h0 &= M44;
        h1 += c;
        m += 16;
    }
    st->h0 = h0;
    st->h1 = h1;
    st->h2 = h2;
}

/// Absorbs `len` bytes zero-padded to a multiple of 16 (the AEAD's pad16).
static inline void poly_padded(poly1305 *st, const uint8_t *m, size_t len) {
    poly_blocks(st, m, len / 16, (uint64_t)1 << 40);
    size_t tail = len % 16;
    if (tail) {
        uint8_t block[16] = {0};
        memcpy(block, m + len - tail, tail);
        poly_blocks(st, block, 1, (uint64_t)1 << 40);
    }
}

/// Fully reduces h mod 2^130 − 5, adds s mod 2^128 and writes the tag.
static inline void poly_finish(poly1305 *st, uint8_t tag[16]) {
    uint64_t h0 = st->h0, h1 = st->h1, h2 = st->h2, c;
    c = h1 >> 44; h1 &= M44; h2 += c;
    c = h2 >> 42; h2 &= M42; h0 += c * 5;
    c = h0 >> 44; h0 &= M44; h1 += c;
    c = h1 >> 44; h1 &= M44; h2 += c;
    c = h2 >> 42; h2 &= M42; h0 += c * 5;
    c = h0 >> 44; h0 &= M44; h1 += c;
    // g = h + 5 − 2^130; take g when it does not borrow (h ≥ p), chosen by mask.
    uint64_t g0 = h0 + 5;
    c = g0 >> 44; g0 &= M44;
    uint64_t g1 = h1 + c;
    c = g1 >> 44; g1 &= M44;
    uint64_t g2 = h2 + c - ((uint64_t)1 << 42);
    uint64_t mask = (g2 >> 63) - 1;  // all ones when g2 did not go negative
    h0 = (h0 & ~mask) | (g0 & mask);
    h1 = (h1 & ~mask) | (g1 & mask);
    h2 = (h2 & ~mask) | (g2 & mask);
    // h + s mod 2^128.
    uint64_t t0 = st->pad0, t1 = st->pad1;
    h0 += t0 & M44;
    c = h0 >> 44; h0 &= M44;
    h1 += (((t0 >> 44) | (t1 << 20)) & M44) + c;
    c = h1 >> 44; h1 &= M44;
    h2 += (t1 >> 24) + c;
    st64(tag, h0 | (h1 << 44));
    st64(tag + 8, (h1 >> 20) | (h2 << 24));
}

void cshims_poly1305(const uint8_t *key32, const void *msg, size_t len, uint8_t *tag16) {
    poly1305 st;
    poly_init(&st, key32);
    const uint8_t *m = msg;
    poly_blocks(&st, m, len / 16, (uint64_t)1 << 40);
    size_t tail = len % 16;
    if (tail) {
        uint8_t block[16] = {0};
        memcpy(block, m + len - tail, tail);
        block[tail] = 1;
        poly_blocks(&st, block, 1, 0);
    }
    poly_finish(&st, tag16);
    OPENSSL_cleanse(&st, sizeof st);
}

// MARK: AEAD (RFC 8439 §2.8)

/// Tag over pad16(AD) ‖ pad16(CT) ‖ LE64(|AD|) ‖ LE64(|CT|) under the one-time key `key32`.
static void aead_tag(const uint8_t *key32, const uint8_t *ad, size_t adlen, const uint8_t *ct, size_t len,
                     uint8_t tag[16]) {
    poly1305 st;
    poly_init(&st, key32);
    if (adlen) poly_padded(&st, ad, adlen);
    poly_padded(&st, ct, len);
    uint8_t lengths[16];
    st64(lengths, (uint64_t)adlen);
    st64(lengths + 8, (uint64_t)len);
    poly_blocks(&st, lengths, 1, (uint64_t)1 << 40);
    poly_finish(&st, tag);
    // Neither the one-time key nor the keystream is wiped: the key only authenticates this
    // nonce, which is then spent, and the keystream only protects bytes the caller holds anyway.
}

static inline void xor_bytes(uint8_t *buf, const uint8_t *ks, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) st64(buf + i, ld64(buf + i) ^ ld64(ks + i));
    for (; i < n; i++) buf[i] ^= ks[i];
}

#if CHACHA_HAVE_VECTOR
/// XORs the keystream from block 4 on into `buf[192..<len]` (the bytes the first 4-block call
/// — block 0 for Poly1305, blocks 1–3 for data — did not cover).
static void xor_from_block4(uint32_t in[16], uint8_t *buf, size_t len) {
    uint8_t ks[256];
    in[12] = 4;
    for (size_t off = 192; off < len; off += 256) {
        chacha_blocks4(in, ks);
        size_t n = len - off < 256 ? len - off : 256;
        xor_bytes(buf + off, ks, n);
        in[12] += 4;
    }
}

int cshims_chachapoly_seal(const cshims_chachapoly *ctx, const uint8_t *iv12, const void *ad, size_t adlen,
                           uint8_t *buf, size_t len) {
    if ((uint64_t)len > CHACHA_MAX_LEN) return 0;
    uint32_t in[16];
    uint8_t ks[256];
    chacha_input(ctx, 0, iv12, in);
    if (len <= 64) {
        chacha_blocks2(in, ks);
        xor_bytes(buf, ks + 64, len);
        aead_tag(ks, ad, adlen, buf, len, buf + len);
        return 1;
    }
    chacha_blocks4(in, ks);
    xor_bytes(buf, ks + 64, len < 192 ? len : 192);
    if (len > 192) xor_from_block4(in, buf, len);
    aead_tag(ks, ad, adlen, buf, len, buf + len);
    return 1;
}

int cshims_chachapoly_open(const cshims_chachapoly *ctx, const uint8_t *iv12, const void *ad, size_t adlen,
                           uint8_t *buf, size_t len) {
    if ((uint64_t)len > CHACHA_MAX_LEN) return 0;
    uint32_t in[16];
    uint8_t ks[256], tag[16];
    chacha_input(ctx, 0, iv12, in);
    if (len <= 64) chacha_blocks2(in, ks);
    else chacha_blocks4(in, ks);
    aead_tag(ks, ad, adlen, buf, len, tag);
    // Verify before touching the buffer: a forged message leaves it exactly as received.
    if (CRYPTO_memcmp(tag, buf + len, 16) != 0) return 0;
    xor_bytes(buf, ks + 64, len < 192 ? len : 192);
    if (len > 192) xor_from_block4(in, buf, len);
    return 1;
}
#else
/// Block 0 of the message as the Poly1305 one-time key.
static void poly_key(const uint32_t in0[16], uint8_t key[32]) {
    uint32_t ks[16];
    chacha_block(in0, ks);
    for (int i = 0; i < 8; i++) st32(key + 4 * i, ks[i]);
}

int cshims_chachapoly_seal(const cshims_chachapoly *ctx, const uint8_t *iv12, const void *ad, size_t adlen,
                           uint8_t *buf, size_t len) {
    if ((uint64_t)len > CHACHA_MAX_LEN) return 0;
    uint32_t in[16];
    uint8_t key[32];
    chacha_input(ctx, 0, iv12, in);
    poly_key(in, key);
    in[12] = 1;
    chacha_xor(in, buf, len);
    aead_tag(key, ad, adlen, buf, len, buf + len);
    return 1;
}

int cshims_chachapoly_open(const cshims_chachapoly *ctx, const uint8_t *iv12, const void *ad, size_t adlen,
                           uint8_t *buf, size_t len) {
    if ((uint64_t)len > CHACHA_MAX_LEN) return 0;
    uint32_t in[16];
    uint8_t key[32], tag[16];
    chacha_input(ctx, 0, iv12, in);
    poly_key(in, key);
    aead_tag(key, ad, adlen, buf, len, tag);
    // Verify before touching the buffer: a forged message leaves it exactly as received.
    if (CRYPTO_memcmp(tag, buf + len, 16) != 0) return 0;
    in[12] = 1;
    chacha_xor(in, buf, len);
    return 1;
}
#endif
