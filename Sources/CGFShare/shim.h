#include <libgfshare.h>
#include <sodium.h>

/* libgfshare draws each share polynomial's coefficients from the function
 * gfshare_fill_rand points to; Coffer points it at libsodium's CSPRNG
 * before every split (its own default is random(3)-based). */
static void coffer_gfshare_randombytes(unsigned char *buffer, unsigned int count) {
    randombytes_buf(buffer, count);
}

static inline void coffer_gfshare_use_libsodium(void) {
    gfshare_fill_rand = coffer_gfshare_randombytes;
}
