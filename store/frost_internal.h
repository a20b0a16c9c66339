/*
 * frost_internal.h -- small helpers shared by frost's own C files (the store
 * registry in store.c and the channel registry in views/channel.c).
 */
#ifndef FROST_INTERNAL_H
#define FROST_INTERNAL_H

#ifndef FROST_BUILD_CORE
#  error "frost_internal.h is internal to frost"
#endif

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* store.c: splitmix64, a fast, well-mixing 64-bit permutation. */
uint64_t frost__mix64(uint64_t x);

/* store.c: a fresh secret for a registry entry (keys its pickling tokens):
 * mixes the clock, the entry's id and its address. */
uint64_t frost__new_secret(uint64_t id, const void *where);

/* Take one count on an object found in a registry, but only while its count
 * is still > 0: one that is being freed (count 0) must not come back to life.
 * Call under the registry's lock. */
static inline bool
frost__acquire_if_live(_Atomic size_t *count)
{
    size_t n = atomic_load(count);
    while (n > 0) {
        if (atomic_compare_exchange_weak(count, &n, n + 1)) {
            return true;
        }
    }
    return false;
}

#endif /* FROST_INTERNAL_H */
