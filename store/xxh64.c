/*
 * xxh64.c -- XXH64 (Yann Collet's reference algorithm, 64-bit), the
 * checksum of format 1's files and format 2's headers (and of format-2
 * bodies written before FROST_MAP_FLAG_BODY_XXH3, store/xxh3.c) and the
 * byte hash of format 2's keyed tables
 * (map_hash.c). Values match the reference implementation (xxhsum, the
 * xxhash package): tests/python/test_map_write.py checks published vectors.
 * Pure C, no state: any thread. frost_snapshot_xxh64_checked calls back
 * between slices (a format-1 load and save check for Ctrl-C there).
 */
#include "frost_snapshot.h"

#include <string.h>

#define P64_1 0x9E3779B185EBCA87ull
#define P64_2 0xC2B2AE3D27D4EB4Full
#define P64_3 0x165667B19E3779F9ull
#define P64_4 0x85EBCA77C2B2AE63ull
#define P64_5 0x27D4EB2F165667C5ull

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static inline uint64_t
xxh_round(uint64_t acc, uint64_t input)
{
    acc += input * P64_2;
    acc = rotl64(acc, 31);
    return acc * P64_1;
}

static inline uint64_t
xxh_merge(uint64_t acc, uint64_t val)
{
    acc ^= xxh_round(0, val);
    return acc * P64_1 + P64_4;
}

uint64_t
frost_snapshot_xxh64(const void *data, size_t len, uint64_t seed)
{
    uint64_t h = 0;
    (void)frost_snapshot_xxh64_checked(data, len, seed, 32, NULL, NULL, &h);
    return h;
}

int
frost_snapshot_xxh64_checked(const void *data, size_t len, uint64_t seed, size_t slice,
                             int (*check)(void *ctx), void *ctx, uint64_t *out)
{
    const unsigned char *p = data, *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = seed + P64_1 + P64_2, v2 = seed + P64_2, v3 = seed, v4 = seed - P64_1;
        const unsigned char *limit = end - 32;
        while (p <= limit) {
            /* the stripes of one slice (all that are left without a check) */
            const unsigned char *last = check != NULL && (size_t)(limit - p) >= slice ? p + slice - 32
                                                                                     : limit;
            do {
                v1 = xxh_round(v1, rd64(p));
                v2 = xxh_round(v2, rd64(p + 8));
                v3 = xxh_round(v3, rd64(p + 16));
                v4 = xxh_round(v4, rd64(p + 24));
                p += 32;
            } while (p <= last);
            if (check != NULL && p <= limit && check(ctx) != 0) {
                return -1;
            }
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh_merge(h, v1);
        h = xxh_merge(h, v2);
        h = xxh_merge(h, v3);
        h = xxh_merge(h, v4);
    }
    else {
        h = seed + P64_5;
    }
    h += (uint64_t)len;
    while (p + 8 <= end) {
        h ^= xxh_round(0, rd64(p));
        h = rotl64(h, 27) * P64_1 + P64_4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= (uint64_t)rd32(p) * P64_1;
        h = rotl64(h, 23) * P64_2 + P64_3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * P64_5;
        h = rotl64(h, 11) * P64_1;
        p++;
    }
    h ^= h >> 33;
    h *= P64_2;
    h ^= h >> 29;
    h *= P64_3;
    h ^= h >> 32;
    *out = h;
    return 0;
}

