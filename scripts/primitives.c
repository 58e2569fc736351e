/* CPU cost of libsodium's primitives a seal uses, one core, 1 GiB in 4 MiB
 * buffers, and of the Ed25519 signature check every ledger entry needs:
 * what `scripts/bench primitives` prints, beside OpenSSL's SHA-256 (the
 * SHA extensions, as swift-crypto's BoringSSL uses them for object names).
 * BLAKE2b-256 named objects before catalog schema 4 and still MACs the
 * state store. libsodium from the system. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    if (sodium_init() < 0) return 1;
    const size_t size = 4 << 20;
    const int rounds = 256; /* 1 GiB */
    unsigned char *in = malloc(size), *out = malloc(size + crypto_aead_xchacha20poly1305_ietf_ABYTES);
    unsigned char key[32], nonce[24], digest[32];
    if (!in || !out) return 1;
    randombytes_buf(in, size);
    randombytes_buf(key, sizeof key);
    randombytes_buf(nonce, sizeof nonce);

    double start = seconds();
    for (int i = 0; i < rounds; i++) {
        unsigned long long length;
        crypto_aead_xchacha20poly1305_ietf_encrypt(out, &length, in, size, NULL, 0, NULL, nonce, key);
    }
    double aead = seconds() - start;
    start = seconds();
    for (int i = 0; i < rounds; i++) crypto_generichash(digest, sizeof digest, out, size, NULL, 0);
    double blake2b = seconds() - start;
    start = seconds();
    for (int i = 0; i < rounds; i++) crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, size, NULL, 0, NULL, nonce, key);
    double ietf = seconds() - start;

    /* One ledger entry's signature: Ed25519 over a body of about 600 bytes. */
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, in, 600, sk);
    const int checks = 20000;
    int bad = 0;
    start = seconds();
    for (int i = 0; i < checks; i++) bad |= crypto_sign_verify_detached(sig, in, 600, pk);
    double verify = seconds() - start;
    if (bad) return 1;

    printf("  XChaCha20-Poly1305 (seal)        %.3f s per GiB\n", aead);
    printf("  BLAKE2b-256 (names before v4)    %.3f s per GiB\n", blake2b);
    printf("  ChaCha20-Poly1305 IETF (age)     %.3f s per GiB\n", ietf);
    printf("  Ed25519 verify (ledger entry)    %.0f per second on one core\n", checks / verify);
    free(in);
    free(out);
    return 0;
}
