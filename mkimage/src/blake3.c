/* BLAKE3 from the specification (https://github.com/BLAKE3-team/BLAKE3-specs).
 * Structure: input is split into 1024-byte chunks, each chunk into 64-byte blocks
 * compressed in sequence; chunk chaining values (CVs) are merged pairwise into a
 * binary tree whose root compression is flagged ROOT and may be extended (XOF).
 * A block or chunk is only compressed once it is known NOT to be the last one,
 * because the last one needs the CHUNK_END / ROOT flags.
 *
 * Speed: whole chunks in the middle of a long input are independent, so on x86-64
 * CPUs with AVX2 eight of them are hashed at once, one chunk per vector lane (GCC /
 * clang vector extensions; no hand-written intrinsics). Everything else, and every
 * CPU without AVX2, uses the portable one-block-at-a-time code. */
#include "blake3.h"

#include <stdbool.h>
#include <string.h>

enum {
    CHUNK_START = 1u << 0,
    CHUNK_END = 1u << 1,
    PARENT = 1u << 2,
    ROOT = 1u << 3,
    KEYED_HASH = 1u << 4,
    DERIVE_KEY_CONTEXT = 1u << 5,
    DERIVE_KEY_MATERIAL = 1u << 6,
};

static const uint32_t IV[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                               0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};

/* Message word order per round: the spec's permutation applied r times, so the
 * message never has to be shuffled in memory. */
static const uint8_t SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline uint32_t rotr32(uint32_t w, unsigned c) { return (w >> c) | (w << (32 - c)); }

static inline uint32_t load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store32(uint8_t *p, uint32_t w)
{
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
}

#define G(a, b, c, d, x, y)                                                                   \
    do {                                                                                      \
        s[a] = s[a] + s[b] + (x);                                                             \
        s[d] = rotr32(s[d] ^ s[a], 16);                                                       \
        s[c] = s[c] + s[d];                                                                   \
        s[b] = rotr32(s[b] ^ s[c], 12);                                                       \
        s[a] = s[a] + s[b] + (y);                                                             \
        s[d] = rotr32(s[d] ^ s[a], 8);                                                        \
        s[c] = s[c] + s[d];                                                                   \
        s[b] = rotr32(s[b] ^ s[c], 7);                                                        \
    } while (0)

/* The compression function: leaves the full 16-word state in out. */
static void compress(const uint32_t cv[8], const uint8_t block[BLAKE3_BLOCK_LEN],
                     uint8_t block_len, uint64_t counter, uint32_t flags, uint32_t out[16])
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = load32(block + 4 * i);
    uint32_t s[16] = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
                      IV[0], IV[1], IV[2], IV[3], (uint32_t)counter, (uint32_t)(counter >> 32),
                      block_len, flags};
    for (int r = 0; r < 7; r++) {
        const uint8_t *o = SCHEDULE[r];
        G(0, 4, 8, 12, m[o[0]], m[o[1]]);
        G(1, 5, 9, 13, m[o[2]], m[o[3]]);
        G(2, 6, 10, 14, m[o[4]], m[o[5]]);
        G(3, 7, 11, 15, m[o[6]], m[o[7]]);
        G(0, 5, 10, 15, m[o[8]], m[o[9]]);
        G(1, 6, 11, 12, m[o[10]], m[o[11]]);
        G(2, 7, 8, 13, m[o[12]], m[o[13]]);
        G(3, 4, 9, 14, m[o[14]], m[o[15]]);
    }
    for (int i = 0; i < 8; i++) {
        out[i] = s[i] ^ s[i + 8];
        out[i + 8] = s[i + 8] ^ cv[i];
    }
}

/* Compression whose first 8 output words become the new chaining value in place. */
static void compress_cv(uint32_t cv[8], const uint8_t block[BLAKE3_BLOCK_LEN],
                        uint8_t block_len, uint64_t counter, uint32_t flags)
{
    uint32_t out[16];
    compress(cv, block, block_len, counter, flags, out);
    memcpy(cv, out, 8 * sizeof(uint32_t));
}

/* A node whose flags are known but which is not yet compressed, so that the root
 * can still get the ROOT flag and produce any amount of output. */
typedef struct node {
    uint32_t cv[8];
    uint8_t block[BLAKE3_BLOCK_LEN];
    uint8_t block_len;
    uint64_t counter;
    uint32_t flags;
} node;

static void node_cv(const node *n, uint32_t cv[8])
{
    memcpy(cv, n->cv, sizeof n->cv);
    compress_cv(cv, n->block, n->block_len, n->counter, n->flags);
}

static void parent_node(const uint32_t left[8], const uint32_t right[8], const uint32_t key[8],
                        uint32_t flags, node *n)
{
    memcpy(n->cv, key, sizeof n->cv);
    for (int i = 0; i < 8; i++) {
        store32(n->block + 4 * i, left[i]);
        store32(n->block + 32 + 4 * i, right[i]);
    }
    n->block_len = BLAKE3_BLOCK_LEN;
    n->counter = 0;
    n->flags = flags | PARENT;
}

static void chunk_node(const blake3_hasher *h, node *n)
{
    memcpy(n->cv, h->cv, sizeof n->cv);
    memset(n->block, 0, sizeof n->block);
    memcpy(n->block, h->block, h->block_len);
    n->block_len = h->block_len;
    n->counter = h->chunk_counter;
    n->flags = h->flags | CHUNK_END | (h->blocks_compressed == 0 ? CHUNK_START : 0);
}

static void chunk_reset(blake3_hasher *h, uint64_t counter)
{
    memcpy(h->cv, h->key, sizeof h->cv);
    h->chunk_counter = counter;
    h->block_len = 0;
    h->blocks_compressed = 0;
}

static bool use_wide(void);

static void init_with(blake3_hasher *h, const uint32_t key[8], uint32_t flags)
{
    (void)use_wide(); /* settle the CPU check here, before a hasher may move to a thread */
    memcpy(h->key, key, sizeof h->key);
    h->flags = flags;
    h->stack_len = 0;
    chunk_reset(h, 0);
}

void blake3_hasher_init(blake3_hasher *h) { init_with(h, IV, 0); }

void blake3_hasher_init_keyed(blake3_hasher *h, const uint8_t key[BLAKE3_KEY_LEN])
{
    uint32_t k[8];
    for (int i = 0; i < 8; i++)
        k[i] = load32(key + 4 * i);
    init_with(h, k, KEYED_HASH);
}

void blake3_hasher_init_derive_key(blake3_hasher *h, const char *context)
{
    blake3_hasher ctx;
    init_with(&ctx, IV, DERIVE_KEY_CONTEXT);
    blake3_hasher_update(&ctx, context, strlen(context));
    uint8_t ctx_key[BLAKE3_KEY_LEN];
    blake3_hasher_finalize(&ctx, ctx_key, sizeof ctx_key);
    uint32_t k[8];
    for (int i = 0; i < 8; i++)
        k[i] = load32(ctx_key + 4 * i);
    init_with(h, k, DERIVE_KEY_MATERIAL);
}

/* Pushes a finished chunk's CV; total_chunks counts chunks including this one.
 * Every trailing zero bit of total_chunks is one completed subtree to merge. */
static void push_chunk_cv(blake3_hasher *h, uint32_t cv[8], uint64_t total_chunks)
{
    while ((total_chunks & 1) == 0) {
        node p;
        h->stack_len--;
        parent_node(h->stack[h->stack_len], cv, h->key, h->flags, &p);
        node_cv(&p, cv);
        total_chunks >>= 1;
    }
    memcpy(h->stack[h->stack_len], cv, 8 * sizeof(uint32_t));
    h->stack_len++;
}

static uint32_t block_flags(const blake3_hasher *h)
{
    return h->flags | (h->blocks_compressed == 0 ? CHUNK_START : 0);
}

/* ---- eight chunks at once ---- */

#define LANES 8
typedef uint32_t vec __attribute__((vector_size(4 * LANES)));

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WIDE_TARGET __attribute__((target("avx2")))
static bool wide_supported(void) { return __builtin_cpu_supports("avx2"); }
#else
#define WIDE_TARGET
static bool wide_supported(void) { return false; }
#endif

static int simd_choice = -1; /* -1: decide from the CPU on first use */

void blake3_use_simd(bool on) { simd_choice = on && wide_supported(); }

static bool use_wide(void)
{
    if (simd_choice < 0)
        simd_choice = wide_supported();
    return simd_choice;
}

WIDE_TARGET static inline vec vrotr(vec w, unsigned c) { return (w >> c) | (w << (32 - c)); }

#define GV(a, b, c, d, x, y)                                                                  \
    do {                                                                                      \
        v[a] = v[a] + v[b] + (x);                                                             \
        v[d] = vrotr(v[d] ^ v[a], 16);                                                        \
        v[c] = v[c] + v[d];                                                                   \
        v[b] = vrotr(v[b] ^ v[c], 12);                                                        \
        v[a] = v[a] + v[b] + (y);                                                             \
        v[d] = vrotr(v[d] ^ v[a], 8);                                                         \
        v[c] = v[c] + v[d];                                                                   \
        v[b] = vrotr(v[b] ^ v[c], 7);                                                         \
    } while (0)

/* Hashes LANES consecutive whole chunks starting at in (chunk counters counter,
 * counter+1, ...), none of them the root, into their chaining values. */
WIDE_TARGET static void hash_chunks_wide(const uint32_t key[8], uint32_t flags,
                                         const uint8_t *in, uint64_t counter,
                                         uint32_t cvs[LANES][8])
{
    vec cv[8], lo, hi;
    for (int i = 0; i < 8; i++)
        cv[i] = (vec){0} + key[i];
    for (int l = 0; l < LANES; l++) {
        lo[l] = (uint32_t)(counter + (uint64_t)l);
        hi[l] = (uint32_t)((counter + (uint64_t)l) >> 32);
    }
    for (int b = 0; b < BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN; b++) {
        /* Transpose: vector m[w] holds message word w of this block of every chunk. */
        vec m[16];
        for (int w = 0; w < 16; w++)
            for (int l = 0; l < LANES; l++)
                m[w][l] = load32(in + (size_t)l * BLAKE3_CHUNK_LEN + (size_t)b * BLAKE3_BLOCK_LEN +
                                 4 * (size_t)w);
        uint32_t f = flags | (b == 0 ? CHUNK_START : 0) | (b == 15 ? CHUNK_END : 0);
        vec v[16] = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
                     (vec){0} + IV[0], (vec){0} + IV[1], (vec){0} + IV[2], (vec){0} + IV[3],
                     lo, hi, (vec){0} + BLAKE3_BLOCK_LEN, (vec){0} + f};
        for (int r = 0; r < 7; r++) {
            const uint8_t *o = SCHEDULE[r];
            GV(0, 4, 8, 12, m[o[0]], m[o[1]]);
            GV(1, 5, 9, 13, m[o[2]], m[o[3]]);
            GV(2, 6, 10, 14, m[o[4]], m[o[5]]);
            GV(3, 7, 11, 15, m[o[6]], m[o[7]]);
            GV(0, 5, 10, 15, m[o[8]], m[o[9]]);
            GV(1, 6, 11, 12, m[o[10]], m[o[11]]);
            GV(2, 7, 8, 13, m[o[12]], m[o[13]]);
            GV(3, 4, 9, 14, m[o[14]], m[o[15]]);
        }
        for (int i = 0; i < 8; i++)
            cv[i] = v[i] ^ v[i + 8];
    }
    for (int l = 0; l < LANES; l++)
        for (int i = 0; i < 8; i++)
            cvs[l][i] = cv[i][l];
}

void blake3_hasher_update(blake3_hasher *h, const void *input, size_t len)
{
    const uint8_t *in = input;
    while (len > 0) {
        size_t chunk_len = (size_t)h->blocks_compressed * BLAKE3_BLOCK_LEN + h->block_len;
        if (chunk_len == BLAKE3_CHUNK_LEN) {
            /* More input follows, so the full chunk is not the root. */
            node n;
            uint32_t cv[8];
            chunk_node(h, &n);
            node_cv(&n, cv);
            push_chunk_cv(h, cv, h->chunk_counter + 1);
            chunk_reset(h, h->chunk_counter + 1);
            chunk_len = 0;
        }
        /* Wide path: LANES whole chunks with more input after them (so none is
         * the root), starting on a chunk boundary. */
        if (chunk_len == 0 && len > LANES * BLAKE3_CHUNK_LEN && use_wide()) {
            uint32_t cvs[LANES][8];
            do {
                hash_chunks_wide(h->key, h->flags, in, h->chunk_counter, cvs);
                for (int l = 0; l < LANES; l++)
                    push_chunk_cv(h, cvs[l], h->chunk_counter + (uint64_t)l + 1);
                chunk_reset(h, h->chunk_counter + LANES);
                in += LANES * BLAKE3_CHUNK_LEN;
                len -= LANES * BLAKE3_CHUNK_LEN;
            } while (len > LANES * BLAKE3_CHUNK_LEN);
        }
        if (h->block_len == BLAKE3_BLOCK_LEN) {
            compress_cv(h->cv, h->block, BLAKE3_BLOCK_LEN, h->chunk_counter, block_flags(h));
            h->blocks_compressed++;
            h->block_len = 0;
        }
        /* Fast path: whole blocks straight from the input, each followed by more
         * bytes of the same chunk, so none of them is the chunk's last block. */
        if (h->block_len == 0) {
            size_t room = BLAKE3_CHUNK_LEN - chunk_len;
            size_t avail = len < room ? len : room;
            while (avail > BLAKE3_BLOCK_LEN) {
                compress_cv(h->cv, in, BLAKE3_BLOCK_LEN, h->chunk_counter, block_flags(h));
                h->blocks_compressed++;
                in += BLAKE3_BLOCK_LEN;
                len -= BLAKE3_BLOCK_LEN;
                avail -= BLAKE3_BLOCK_LEN;
            }
        }
        size_t take = BLAKE3_BLOCK_LEN - h->block_len;
        if (take > len)
            take = len;
        memcpy(h->block + h->block_len, in, take);
        h->block_len = (uint8_t)(h->block_len + take);
        in += take;
        len -= take;
    }
}

void blake3_hasher_finalize(const blake3_hasher *h, uint8_t *out, size_t out_len)
{
    node n;
    chunk_node(h, &n);
    /* Fold the pending subtrees into the current chunk's node, right to left. */
    for (size_t i = h->stack_len; i > 0; i--) {
        uint32_t cv[8];
        node_cv(&n, cv);
        parent_node(h->stack[i - 1], cv, h->key, h->flags, &n);
    }
    uint64_t block_counter = 0;
    while (out_len > 0) {
        uint32_t words[16];
        uint8_t bytes[64];
        compress(n.cv, n.block, n.block_len, block_counter, n.flags | ROOT, words);
        for (int i = 0; i < 16; i++)
            store32(bytes + 4 * i, words[i]);
        size_t take = out_len < sizeof bytes ? out_len : sizeof bytes;
        memcpy(out, bytes, take);
        out += take;
        out_len -= take;
        block_counter++;
    }
}
