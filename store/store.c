/*
 * store.c -- frost_store_t: a sealed arena, its root, an atomic reference
 * count, and the process-wide registry of live stores (see frost_store.h).
 *
 * Invariants:
 *   - a store is in the registry iff refcount > 0 (removal happens under the
 *     registry mutex before the arena is freed, and lookups only take a
 *     reference from a count that is still > 0, with a CAS);
 *   - a process-lifetime store owns one reference to itself, so its count
 *     never reaches 0;
 *   - the arena is sealed for the store's whole life;
 *   - registry_lock is a leaf: nothing else is locked, and no GIL is waited
 *     for, while it is held; fork() holds it across (a child inherits it
 *     consistent and free).
 */
#include "frost_store.h"
#include "frost_internal.h"   // frost__mix64, frost__acquire_if_live

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct frost_store_s {
    uint64_t id;                    /* unique in the process, never reused; immutable */
    uint64_t secret;                /* key of frost_store_token; immutable */
    frost_arena_t *arena;           /* owned; sealed; freed with the last reference */
    uintptr_t root;                 /* frost_ref_t of the root; immutable */
    frost_lifetime_t lifetime;      /* immutable */
    _Atomic size_t refcount;        /* leases and transient references */
    struct frost_store_s *next;     /* registry list; guarded by registry_lock */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static frost_store_t *registry_head;          /* guarded by registry_lock */
static uint64_t registry_next_id = 1;         /* guarded by registry_lock */
static _Atomic size_t registry_live;

/* fork(): hold the registry across it, so the child's copy is consistent and
 * unlocked (a thread that held it does not exist in the child). */
static void registry_atfork_prepare(void) { pthread_mutex_lock(&registry_lock); }
static void registry_atfork_release(void) { pthread_mutex_unlock(&registry_lock); }

__attribute__((constructor)) static void
registry_atfork_register(void)
{
    pthread_atfork(registry_atfork_prepare, registry_atfork_release, registry_atfork_release);
}

uint64_t
frost__mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t
frost__new_secret(uint64_t id, const void *where)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return frost__mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ frost__mix64(id)
                        ^ (uint64_t)(uintptr_t)where);
}

int
frost_store_new(frost_store_t **out, frost_arena_t *arena, uintptr_t root, frost_lifetime_t lifetime)
{
    *out = NULL;
    if (arena == NULL || !frost_arena_is_sealed(arena)) {
        frost_arena_free(arena);
        return FROST_EINVAL;
    }
    frost_store_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        frost_arena_free(arena);
        return FROST_ENOMEM;
    }
    s->arena = arena;
    s->root = root;
    s->lifetime = lifetime;
    atomic_init(&s->refcount, lifetime == FROST_LIFETIME_PROCESS ? 2 : 1);

    pthread_mutex_lock(&registry_lock);
    s->id = registry_next_id++;
    s->next = registry_head;
    registry_head = s;
    pthread_mutex_unlock(&registry_lock);
    s->secret = frost__new_secret(s->id, s);
    atomic_fetch_add(&registry_live, 1);
    *out = s;
    return FROST_OK;
}

void
frost_store_acquire(frost_store_t *store)
{
    atomic_fetch_add_explicit(&store->refcount, 1, memory_order_relaxed);
}

frost_store_t *
frost_store_acquire_by_id(uint64_t id, uintptr_t node, uint64_t token, int *bad_token)
{
    frost_store_t *found = NULL;
    *bad_token = 0;
    pthread_mutex_lock(&registry_lock);
    for (frost_store_t *s = registry_head; s != NULL; s = s->next) {
        if (s->id != id) {
            continue;
        }
        if (frost_store_token(s, node) != token) {
            *bad_token = 1;
            break;
        }
        if (frost__acquire_if_live(&s->refcount)) {
            found = s;
        }
        break;
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

void
frost_store_release(frost_store_t *store)
{
    if (store == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&store->refcount, 1, memory_order_acq_rel) != 1) {
        return;
    }
    pthread_mutex_lock(&registry_lock);
    for (frost_store_t **p = &registry_head; *p != NULL; p = &(*p)->next) {
        if (*p == store) {
            *p = store->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    atomic_fetch_sub(&registry_live, 1);
    frost_arena_free(store->arena);
    free(store);
}

uint64_t frost_store_id(const frost_store_t *store) { return store->id; }
uintptr_t frost_store_root(const frost_store_t *store) { return store->root; }
frost_arena_t *frost_store_arena(const frost_store_t *store) { return store->arena; }
frost_lifetime_t frost_store_lifetime(const frost_store_t *store) { return store->lifetime; }

uint64_t
frost_store_token(const frost_store_t *store, uintptr_t node)
{
    return frost__mix64(store->secret ^ frost__mix64((uint64_t)node));
}

size_t
frost_store_live_count(void)
{
    return atomic_load(&registry_live);
}
