#ifndef COFFER_CSHA256_H
#define COFFER_CSHA256_H

/* The SHA-256 compression function on the SHA extensions of x86-64
 * processors (SHA-NI). Padding, buffering and the portable fallback are
 * CofferKit's (Sodium/Hashing.swift); this target only runs whole blocks. */

#include <stddef.h>
#include <stdint.h>

/* Everything here is for x86-64 only; elsewhere the target is empty and
 * CofferKit uses libsodium. */
#if defined(__x86_64__)

/* 1 when this processor has the SHA extensions (and the SSSE3 and SSE4.1
 * shuffles the compression function uses), else 0. */
int coffer_sha256_extensions_available(void);

/* Runs the SHA-256 compression function (FIPS 180-4 section 6.2.2) over
 * `count` consecutive 64-byte blocks at `blocks`, updating the eight
 * working hash words `state` (H0..H7, in host order) in place.
 * Call only when coffer_sha256_extensions_available() returned 1. */
void coffer_sha256_compress_blocks(uint32_t state[8], const uint8_t *blocks, size_t count);
#endif

#endif
