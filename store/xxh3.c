/*
 * xxh3.c -- XXH3-64 (Yann Collet's XXH3, 64-bit result, seed 0, the default
 * 192-byte secret), one-shot and streaming: format 2's body checksum in
 * images flagged FROST_MAP_FLAG_BODY_XXH3 (docs/format.md). It reads 64-byte
 * stripes with 32x32->64 multiplies, so it runs several times faster than
 * XXH64 (store/xxh64.c, the checksum of older images and of headers), which
 * matters when a save of a large array is one write and one checksum. With
 * AVX2, whole 1 KiB blocks go through blocks_avx2 (accumulators in registers,
 * the scramble vectorized): ~30 GB/s from L2 on the 2-core box, 20 per block.
 * Values match the reference implementation (xxhsum -H3, the xxhash
 * package's xxh3_64): tests/python/test_map_write.py checks vectors of every
 * length class and that any split of the input gives the one-shot value.
 *
 * Streaming invariant: every stripe consumed into acc has at least one more
 * input byte after it (so a block's scramble after its 16th stripe is right:
 * the one-shot hash scrambles every block but one holding the last byte);
 * the unconsumed tail, 1..256 bytes once past 256 in all, is in buf, and
 * prev holds the 64 bytes before buf (the last stripe may reach into them).
 * Pure C, no state of its own: any thread.
 */
#include "frost_snapshot.h"

#include <string.h>

#if defined(__SSE2__)
#  include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#  include <immintrin.h>
#  define HAVE_AVX2_PATH 1
#endif

#define P32_1 0x9E3779B1u
#define P32_2 0x85EBCA77u
#define P32_3 0xC2B2AE3Du
#define P64_1 0x9E3779B185EBCA87ull
#define P64_2 0xC2B2AE3D27D4EB4Full
#define P64_3 0x165667B19E3779F9ull
#define P64_4 0x85EBCA77C2B2AE63ull
#define P64_5 0x27D4EB2F165667C5ull
#define MX1 0x165667919E3779F9ull
#define MX2 0x9FB21C651E98DF25ull

#define STRIPE 64
#define SECRET_SIZE 192
#define STRIPES_PER_BLOCK ((SECRET_SIZE - STRIPE) / 8)   /* 16: a block is 1 KiB */
#define MIDSIZE_MAX 240

/* the reference's default secret (kSecret) */
static const unsigned char secret[SECRET_SIZE] = {
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

static inline uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t
mul128_fold64(uint64_t a, uint64_t b)
{
    unsigned __int128 p = (unsigned __int128)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}

static inline uint64_t
xxh64_avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= P64_2;
    h ^= h >> 29;
    h *= P64_3;
    return h ^ (h >> 32);
}

static inline uint64_t
avalanche(uint64_t h)
{
    h ^= h >> 37;
    h *= MX1;
    return h ^ (h >> 32);
}

static inline uint64_t
rrmxmx(uint64_t h, uint64_t len)
{
    h ^= rotl64(h, 49) ^ rotl64(h, 24);
    h *= MX2;
    h ^= (h >> 35) + len;
    h *= MX2;
    return h ^ (h >> 28);
}

static inline uint64_t
mix16(const unsigned char *in, const unsigned char *key)
{
    return mul128_fold64(rd64(in) ^ rd64(key), rd64(in + 8) ^ rd64(key + 8));
}

/* inputs of at most 240 bytes */
static uint64_t
hash_short(const unsigned char *in, size_t len)
{
    if (len == 0) {
        return xxh64_avalanche(rd64(secret + 56) ^ rd64(secret + 64));
    }
    if (len <= 3) {
        uint32_t combined = ((uint32_t)in[0] << 16) | ((uint32_t)in[len >> 1] << 24) | in[len - 1]
                            | ((uint32_t)len << 8);
        return xxh64_avalanche((uint64_t)combined ^ (uint64_t)(rd32(secret) ^ rd32(secret + 4)));
    }
    if (len <= 8) {
        uint64_t in64 = rd32(in + len - 4) + ((uint64_t)rd32(in) << 32);
        return rrmxmx(in64 ^ (rd64(secret + 8) ^ rd64(secret + 16)), len);
    }
    if (len <= 16) {
        uint64_t lo = rd64(in) ^ (rd64(secret + 24) ^ rd64(secret + 32));
        uint64_t hi = rd64(in + len - 8) ^ (rd64(secret + 40) ^ rd64(secret + 48));
        return avalanche(len + __builtin_bswap64(lo) + hi + mul128_fold64(lo, hi));
    }
    uint64_t acc = len * P64_1;
    if (len <= 128) {
        /* pairs from both ends: (0, len-16), (16, len-32), ... as far as len reaches */
        for (size_t i = 0; i < 4 && len > 32 * i; i++) {
            acc += mix16(in + 16 * i, secret + 32 * i) + mix16(in + len - 16 * (i + 1), secret + 32 * i + 16);
        }
        return avalanche(acc);
    }
    for (size_t i = 0; i < 8; i++) {
        acc += mix16(in + 16 * i, secret + 16 * i);
    }
    uint64_t end = mix16(in + len - 16, secret + 136 - 17);
    acc = avalanche(acc);
    for (size_t i = 8; i < len / 16; i++) {
        end += mix16(in + 16 * i, secret + 16 * (i - 8) + 3);
    }
    return avalanche(acc + end);
}

/* `n` stripes from `in` into the 8 accumulators, stripe i keyed by key + 8*i */
static inline void
accumulate(uint64_t *acc, const unsigned char *in, const unsigned char *key, size_t n)
{
#if defined(__SSE2__)
    __m128i a[4];   /* in registers for the whole run */
    for (int j = 0; j < 4; j++) {
        a[j] = _mm_loadu_si128((const __m128i *)(acc + 2 * j));
    }
    for (size_t i = 0; i < n; i++, in += STRIPE, key += 8) {
        for (int j = 0; j < 4; j++) {
            __m128i d = _mm_loadu_si128((const __m128i *)(in + 16 * j));
            __m128i dk = _mm_xor_si128(d, _mm_loadu_si128((const __m128i *)(key + 16 * j)));
            __m128i prod = _mm_mul_epu32(dk, _mm_shuffle_epi32(dk, _MM_SHUFFLE(0, 3, 0, 1)));
            __m128i swapped = _mm_shuffle_epi32(d, _MM_SHUFFLE(1, 0, 3, 2));   /* adjacent lanes */
            a[j] = _mm_add_epi64(prod, _mm_add_epi64(a[j], swapped));
        }
    }
    for (int j = 0; j < 4; j++) {
        _mm_storeu_si128((__m128i *)(acc + 2 * j), a[j]);
    }
#else
    for (size_t i = 0; i < n; i++, in += STRIPE, key += 8) {
        for (int j = 0; j < 8; j++) {
            uint64_t d = rd64(in + 8 * j), dk = d ^ rd64(key + 8 * j);
            acc[j ^ 1] += d;   /* adjacent lanes swapped */
            acc[j] += (uint64_t)(uint32_t)dk * (dk >> 32);
        }
    }
#endif
}

#ifdef HAVE_AVX2_PATH
/* accumulate with 256-bit lanes, for CPUs that have AVX2 (picked at run time) */
__attribute__((target("avx2"))) static void
accumulate_avx2(uint64_t *acc, const unsigned char *in, const unsigned char *key, size_t n)
{
    __m256i a0 = _mm256_loadu_si256((const __m256i *)acc), a1 = _mm256_loadu_si256((const __m256i *)(acc + 4));
    for (size_t i = 0; i < n; i++, in += STRIPE, key += 8) {
        __m256i d0 = _mm256_loadu_si256((const __m256i *)in), d1 = _mm256_loadu_si256((const __m256i *)(in + 32));
        __m256i k0 = _mm256_xor_si256(d0, _mm256_loadu_si256((const __m256i *)key));
        __m256i k1 = _mm256_xor_si256(d1, _mm256_loadu_si256((const __m256i *)(key + 32)));
        a0 = _mm256_add_epi64(a0, _mm256_add_epi64(_mm256_mul_epu32(k0, _mm256_shuffle_epi32(k0, _MM_SHUFFLE(0, 3, 0, 1))),
                                                   _mm256_shuffle_epi32(d0, _MM_SHUFFLE(1, 0, 3, 2))));
        a1 = _mm256_add_epi64(a1, _mm256_add_epi64(_mm256_mul_epu32(k1, _mm256_shuffle_epi32(k1, _MM_SHUFFLE(0, 3, 0, 1))),
                                                   _mm256_shuffle_epi32(d1, _MM_SHUFFLE(1, 0, 3, 2))));
    }
    _mm256_storeu_si256((__m256i *)acc, a0);
    _mm256_storeu_si256((__m256i *)(acc + 4), a1);
}

/* `nblocks` whole blocks (16 stripes, then the scramble each) from `in`, the
 * accumulators in registers throughout: the same result as accumulate_avx2
 * and scramble per block, without the per-block loads, stores and scalar
 * multiplies (a quarter of the hash's time, perf) */
__attribute__((target("avx2"))) static void
blocks_avx2(uint64_t *acc, const unsigned char *in, size_t nblocks)
{
    __m256i a0 = _mm256_loadu_si256((const __m256i *)acc), a1 = _mm256_loadu_si256((const __m256i *)(acc + 4));
    const __m256i prime = _mm256_set1_epi32((int)P32_1);
    const __m256i s0 = _mm256_loadu_si256((const __m256i *)(secret + SECRET_SIZE - STRIPE));
    const __m256i s1 = _mm256_loadu_si256((const __m256i *)(secret + SECRET_SIZE - STRIPE + 32));
    for (size_t b = 0; b < nblocks; b++) {
        const unsigned char *key = secret;
        for (size_t i = 0; i < STRIPES_PER_BLOCK; i++, in += STRIPE, key += 8) {
            __m256i d0 = _mm256_loadu_si256((const __m256i *)in), d1 = _mm256_loadu_si256((const __m256i *)(in + 32));
            __m256i k0 = _mm256_xor_si256(d0, _mm256_loadu_si256((const __m256i *)key));
            __m256i k1 = _mm256_xor_si256(d1, _mm256_loadu_si256((const __m256i *)(key + 32)));
            a0 = _mm256_add_epi64(a0, _mm256_add_epi64(_mm256_mul_epu32(k0, _mm256_srli_epi64(k0, 32)),
                                                       _mm256_shuffle_epi32(d0, _MM_SHUFFLE(1, 0, 3, 2))));
            a1 = _mm256_add_epi64(a1, _mm256_add_epi64(_mm256_mul_epu32(k1, _mm256_srli_epi64(k1, 32)),
                                                       _mm256_shuffle_epi32(d1, _MM_SHUFFLE(1, 0, 3, 2))));
        }
        /* scramble: ((a ^ (a >> 47)) ^ key) * P32_1, 64 x 32 bits as two 32 x 32 */
        __m256i x0 = _mm256_xor_si256(_mm256_xor_si256(a0, _mm256_srli_epi64(a0, 47)), s0);
        __m256i x1 = _mm256_xor_si256(_mm256_xor_si256(a1, _mm256_srli_epi64(a1, 47)), s1);
        a0 = _mm256_add_epi64(_mm256_mul_epu32(x0, prime),
                              _mm256_slli_epi64(_mm256_mul_epu32(_mm256_srli_epi64(x0, 32), prime), 32));
        a1 = _mm256_add_epi64(_mm256_mul_epu32(x1, prime),
                              _mm256_slli_epi64(_mm256_mul_epu32(_mm256_srli_epi64(x1, 32), prime), 32));
    }
    _mm256_storeu_si256((__m256i *)acc, a0);
    _mm256_storeu_si256((__m256i *)(acc + 4), a1);
}
#endif

static inline void
scramble(uint64_t *acc)
{
    const unsigned char *key = secret + SECRET_SIZE - STRIPE;
    for (int i = 0; i < 8; i++) {
        uint64_t a = acc[i];
        acc[i] = ((a ^ (a >> 47)) ^ rd64(key + 8 * i)) * P32_1;
    }
}

/* `n` stripes from `in` into the state (each has more input after it) */
static void
consume(frost_xxh3_t *s, const unsigned char *in, size_t n)
{
    while (n > 0) {
#ifdef HAVE_AVX2_PATH
        if (s->stripe == 0 && n >= STRIPES_PER_BLOCK && __builtin_cpu_supports("avx2")) {
            size_t nblocks = n / STRIPES_PER_BLOCK;
            blocks_avx2(s->acc, in, nblocks);
            in += STRIPE * STRIPES_PER_BLOCK * nblocks;
            n -= STRIPES_PER_BLOCK * nblocks;
            continue;
        }
#endif
        size_t run = STRIPES_PER_BLOCK - s->stripe;
        if (run > n) {
            run = n;
        }
#ifdef HAVE_AVX2_PATH
        if (run > 1 && __builtin_cpu_supports("avx2")) {
            accumulate_avx2(s->acc, in, secret + 8 * s->stripe, run);
        }
        else
#endif
        accumulate(s->acc, in, secret + 8 * s->stripe, run);
        in += STRIPE * run;
        n -= run;
        s->stripe += (unsigned)run;
        if (s->stripe == STRIPES_PER_BLOCK) {
            scramble(s->acc);
            s->stripe = 0;
        }
    }
}

void
frost_xxh3_init(frost_xxh3_t *s)
{
    static const uint64_t init[8] = {P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1};
    memcpy(s->acc, init, sizeof init);
    s->total = 0;
    s->buflen = 0;
    s->stripe = 0;
}

void
frost_xxh3_update(frost_xxh3_t *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->total += len;
    if (s->buflen + len <= sizeof s->buf) {
        memcpy(s->buf + s->buflen, p, len);
        s->buflen += len;
        return;
    }
    if (s->buflen > 0) {   /* fill buf; more input follows it, so all of it is consumed */
        size_t k = sizeof s->buf - s->buflen;
        memcpy(s->buf + s->buflen, p, k);
        p += k;
        len -= k;
        consume(s, s->buf, sizeof s->buf / STRIPE);
        memcpy(s->prev, s->buf + sizeof s->buf - STRIPE, STRIPE);
    }
    if (len > sizeof s->buf) {   /* straight from the input, leaving 1..64 bytes */
        size_t n = (len - 1) / STRIPE;
        consume(s, p, n);
        p += STRIPE * n;
        len -= STRIPE * n;
        memcpy(s->prev, p - STRIPE, STRIPE);
    }
    memcpy(s->buf, p, len);
    s->buflen = len;
}

uint64_t
frost_xxh3_digest(const frost_xxh3_t *s)
{
    if (s->total <= MIDSIZE_MAX) {
        return hash_short(s->buf, (size_t)s->total);
    }
    frost_xxh3_t t = *s;   /* the digest leaves the state as it was */
    consume(&t, t.buf, (t.buflen - 1) / STRIPE);
    unsigned char last[STRIPE];
    if (t.buflen >= STRIPE) {
        memcpy(last, t.buf + t.buflen - STRIPE, STRIPE);
    }
    else {
        memcpy(last, t.prev + t.buflen, STRIPE - t.buflen);
        memcpy(last + STRIPE - t.buflen, t.buf, t.buflen);
    }
    accumulate(t.acc, last, secret + SECRET_SIZE - STRIPE - 7, 1);
    uint64_t h = t.total * P64_1;
    for (int i = 0; i < 4; i++) {
        h += mul128_fold64(t.acc[2 * i] ^ rd64(secret + 11 + 16 * i), t.acc[2 * i + 1] ^ rd64(secret + 11 + 16 * i + 8));
    }
    return avalanche(h);
}

uint64_t
frost_xxh3(const void *data, size_t len)
{
    if (len <= MIDSIZE_MAX) {
        return hash_short(data, len);
    }
    frost_xxh3_t s;
    frost_xxh3_init(&s);
    frost_xxh3_update(&s, data, len);
    return frost_xxh3_digest(&s);
}
