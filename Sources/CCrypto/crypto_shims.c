#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "crypto_shims.h"
#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

void cshims_sha256(const void *data, size_t len, uint8_t out32[32]) {
    // Not the one-shot SHA256(): in OpenSSL 3 it fetches the digest and allocates a context on every call.
    SHA256_CTX h;
    SHA256_Init(&h);
    SHA256_Update(&h, data, len);
    SHA256_Final(out32, &h);
}

void cshims_cleanse(void *p, size_t len) {
    OPENSSL_cleanse(p, len);
}

void cshims_sha256_concat(const void *a, size_t alen, const void *b, size_t blen, uint8_t *out32) {
    SHA256_CTX h;
    SHA256_Init(&h);
    SHA256_Update(&h, a, alen);
    if (blen) SHA256_Update(&h, b, blen);
    SHA256_Final(out32, &h);
}

void cshims_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t *out32) {
    uint8_t block[64] = {0}, inner[32];
    if (keylen > sizeof block) SHA256(key, keylen, block);
    else memcpy(block, key, keylen);
    SHA256_CTX h;
    for (size_t i = 0; i < sizeof block; i++) block[i] ^= 0x36;
    SHA256_Init(&h);
    SHA256_Update(&h, block, sizeof block);
    if (len) SHA256_Update(&h, data, len);
    SHA256_Final(inner, &h);
    for (size_t i = 0; i < sizeof block; i++) block[i] ^= 0x36 ^ 0x5c;
    SHA256_Init(&h);
    SHA256_Update(&h, block, sizeof block);
    SHA256_Update(&h, inner, sizeof inner);
    SHA256_Final(out32, &h);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(&h, sizeof h);
}

void cshims_noise_hkdf(const uint8_t *ck32, const void *ikm, size_t ikmlen, uint8_t *out1, uint8_t *out2) {
    uint8_t tk[32], o1[33];
    cshims_hmac_sha256(ck32, 32, ikm, ikmlen, tk);
    const uint8_t one = 0x01;
    cshims_hmac_sha256(tk, 32, &one, 1, o1);
    o1[32] = 0x02;
    cshims_hmac_sha256(tk, 32, o1, 33, out2);
    memcpy(out1, o1, 32);
    OPENSSL_cleanse(tk, sizeof tk);
    OPENSSL_cleanse(o1, sizeof o1);
}

cshims_aead *cshims_aead_new(const uint8_t *key32) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx) return NULL;
    if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key32, NULL, 1) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return (cshims_aead *)ctx;
}

int cshims_aead_set_key(cshims_aead *ctx, const uint8_t *key32) {
    return EVP_CipherInit_ex((EVP_CIPHER_CTX *)ctx, NULL, NULL, key32, NULL, -1) == 1;
}

void cshims_aead_free(cshims_aead *ctx) {
    EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *)ctx);
}

int cshims_aead_seal(cshims_aead *actx, const uint8_t *iv12, const void *ad, size_t adlen, uint8_t *buf, size_t len) {
    EVP_CIPHER_CTX *ctx = (EVP_CIPHER_CTX *)actx;
    int outl;
    if (len > INT_MAX || adlen > INT_MAX) return 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv12, 1) != 1) return 0;
    if (adlen && EVP_CipherUpdate(ctx, NULL, &outl, ad, (int)adlen) != 1) return 0;
    if (len && EVP_CipherUpdate(ctx, buf, &outl, buf, (int)len) != 1) return 0;
    if (EVP_CipherFinal_ex(ctx, buf + len, &outl) != 1) return 0;
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, buf + len) == 1;
}

int cshims_aead_open(cshims_aead *actx, const uint8_t *iv12, const void *ad, size_t adlen, uint8_t *buf, size_t len) {
    EVP_CIPHER_CTX *ctx = (EVP_CIPHER_CTX *)actx;
    int outl;
    if (len > INT_MAX || adlen > INT_MAX) return 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv12, 0) != 1) return 0;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, buf + len) != 1) return 0;
    if (adlen && EVP_CipherUpdate(ctx, NULL, &outl, ad, (int)adlen) != 1) return 0;
    if (len && EVP_CipherUpdate(ctx, buf, &outl, buf, (int)len) != 1) return 0;
    return EVP_CipherFinal_ex(ctx, buf + len, &outl) == 1;
}
