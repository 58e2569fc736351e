/* SHA-256 block compression with the x86 SHA extensions.
 *
 * Written from FIPS 180-4 and Intel's description of the instructions:
 *   SHA256RNDS2 a, b, k  runs two rounds. a holds the words C,D,G,H and b
 *                        the words A,B,E,F (most significant lane first);
 *                        the low two lanes of k are W[t]+K[t] and
 *                        W[t+1]+K[t+1]. It returns the new A,B,E,F; the new
 *                        C,D,G,H are the old A,B,E,F.
 *   SHA256MSG1 a, b      lanes i: W[t-16+i] + sigma0(W[t-15+i]), from the
 *                        schedule words W[t-16..t-13] in a, W[t-12..] in b.
 *   SHA256MSG2 a, b      adds sigma1(W[t-2+i]) to lane i of a, taking
 *                        W[t-2], W[t-1] from lanes 2 and 3 of b and the
 *                        next two from its own first results.
 * Only the functions below carry the target attribute, so the rest of the
 * package builds for the baseline processor. */

#include "CSHA256.h"

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>

#define COFFER_SHA_TARGET __attribute__((target("sha,sse4.1")))

int coffer_sha256_extensions_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    const int ssse3 = (ecx >> 9) & 1;
    const int sse41 = (ecx >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    const int sha = (ebx >> 29) & 1;
    return ssse3 && sse41 && sha;
}

/* The round constants K[0..63] (FIPS 180-4 section 4.2.2). */
static const uint32_t round_constants[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Four message words from a block, big-endian bytes to host-order lanes. */
COFFER_SHA_TARGET
static inline __m128i load_words(const uint8_t *bytes) {
    const __m128i swap_each_word = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)bytes), swap_each_word);
}

/* W[t..t+3] from the sixteen words before them, four to a register, oldest
 * first: W[t-16..t-13] in w0, ..., W[t-4..t-1] in w3. */
COFFER_SHA_TARGET
static inline __m128i next_words(__m128i w0, __m128i w1, __m128i w2, __m128i w3) {
    const __m128i sum = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4)); /* + W[t-7..t-4] */
    return _mm_sha256msg2_epu32(sum, w3);
}

/* Rounds 4q..4q+3 on the message words w = W[4q..4q+3]. */
COFFER_SHA_TARGET
static inline void four_rounds(__m128i *abef, __m128i *cdgh, __m128i w, int q) {
    const __m128i wk = _mm_add_epi32(w, _mm_load_si128((const __m128i *)&round_constants[4 * q]));
    /* Each call's old A,B,E,F is the next C,D,G,H, so the two registers
     * trade roles twice and end where they started. */
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(wk, 0x0e)); /* lanes 2,3 down */
}

COFFER_SHA_TARGET
void coffer_sha256_compress_blocks(uint32_t state[8], const uint8_t *blocks, size_t count) {
    /* H0..H3 = A,B,C,D and H4..H7 = E,F,G,H, lane 0 first; the instructions
     * want A,B,E,F and C,D,G,H with A and C in lane 3. */
    const __m128i abcd = _mm_loadu_si128((const __m128i *)&state[0]);
    const __m128i efgh = _mm_loadu_si128((const __m128i *)&state[4]);
    const __m128i badc = _mm_shuffle_epi32(abcd, 0xb1); /* lanes 0..3: B,A,D,C */
    const __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1b); /* lanes 0..3: H,G,F,E */
    __m128i abef = _mm_alignr_epi8(badc, hgfe, 8);      /* lanes 0..3: F,E,B,A */
    __m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xf0);   /* lanes 0..3: H,G,D,C */

    for (; count > 0; count--, blocks += 64) {
        const __m128i abef_before = abef;
        const __m128i cdgh_before = cdgh;
        __m128i w0 = load_words(blocks);
        __m128i w1 = load_words(blocks + 16);
        __m128i w2 = load_words(blocks + 32);
        __m128i w3 = load_words(blocks + 48);
        four_rounds(&abef, &cdgh, w0, 0);
        four_rounds(&abef, &cdgh, w1, 1);
        four_rounds(&abef, &cdgh, w2, 2);
        four_rounds(&abef, &cdgh, w3, 3);
        for (int q = 4; q < 16; q++) {
            const __m128i w4 = next_words(w0, w1, w2, w3);
            w0 = w1;
            w1 = w2;
            w2 = w3;
            w3 = w4;
            four_rounds(&abef, &cdgh, w3, q);
        }
        abef = _mm_add_epi32(abef, abef_before);
        cdgh = _mm_add_epi32(cdgh, cdgh_before);
    }

    /* Back to H0..H7: lanes F,E,B,A and H,G,D,C to A,B,C,D and E,F,G,H. */
    const __m128i abef_lanes = _mm_shuffle_epi32(abef, 0x1b); /* lanes 0..3: A,B,E,F */
    const __m128i ghcd_lanes = _mm_shuffle_epi32(cdgh, 0xb1); /* lanes 0..3: G,H,C,D */
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(abef_lanes, ghcd_lanes, 0xf0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(ghcd_lanes, abef_lanes, 8));
}

#endif
