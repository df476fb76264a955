/* BLAKE3, written from the specification (single-threaded; a portable path and an AVX2 path
 * for eight chunks at a time, chosen at run time: blake3_use_simd).
 * Debian 12 ships no C BLAKE3 library, yet cookbook recipes pin sources by BLAKE3,
 * so mkimage reports it beside SHA-256. All three modes (hash, keyed_hash,
 * derive_key) and extendable output are here because the official test vectors
 * exercise them; mkimage itself only uses the plain 32-byte hash. */
#ifndef MKIMAGE_BLAKE3_H
#define MKIMAGE_BLAKE3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLAKE3_OUT_LEN 32
#define BLAKE3_KEY_LEN 32
#define BLAKE3_BLOCK_LEN 64
#define BLAKE3_CHUNK_LEN 1024
/* 2^64 input bytes are 2^54 chunks: the merge stack never holds more CVs. */
#define BLAKE3_MAX_DEPTH 54

typedef struct blake3_hasher {
    uint32_t key[8];
    uint32_t flags; /* mode flags applied to every compression */
    /* current chunk */
    uint32_t cv[8];
    uint64_t chunk_counter;
    uint8_t block[BLAKE3_BLOCK_LEN];
    uint8_t block_len;
    uint8_t blocks_compressed;
    /* chaining values of completed subtrees, merged lazily */
    uint8_t stack_len;
    uint32_t stack[BLAKE3_MAX_DEPTH][8];
} blake3_hasher;

void blake3_hasher_init(blake3_hasher *h);
void blake3_hasher_init_keyed(blake3_hasher *h, const uint8_t key[BLAKE3_KEY_LEN]);
/* context: a hard-coded, globally unique, NUL-terminated string (spec section 2.5). */
void blake3_hasher_init_derive_key(blake3_hasher *h, const char *context);
void blake3_hasher_update(blake3_hasher *h, const void *input, size_t len);
/* Chooses between the vectorised path (default where the CPU has AVX2) and the
 * portable one, so tests can check both give the same digests. */
void blake3_use_simd(bool on);

/* Writes out_len bytes of output; does not modify h, so it may be called again. */
void blake3_hasher_finalize(const blake3_hasher *h, uint8_t *out, size_t out_len);

#endif
