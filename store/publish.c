/*
 * publish.c -- named, versioned publication of stores: a process-wide table
 * name -> (store, version), so a store frozen once can be found by name from
 * any interpreter and replaced by a newer one while readers finish the old.
 * A name holds an arena store (a reference) or a mapped image (format 2: a
 * file descriptor of its memfd or file, plus the binding's opaque
 * description of it, which each reader's interpreter maps itself).
 *
 * Invariants:
 *   - each entry owns exactly one store reference, or one image fd and its
 *     description, or nothing (unpublished); replacing or removing an entry
 *     drops what it owned, so an old version is freed (scoped stores; an
 *     image: by the kernel, with its last fd and mapping) when its last
 *     reader lets go, never while one still holds a view;
 *   - a reader of an image gets its own dup of the fd, made under the lock:
 *     the entry's fd may be closed by a replacement right after;
 *   - a name's version only grows: 1 for the first publication, +1 for each
 *     later one (unpublishing does not reset it);
 *   - the table is a hash of names (buckets of entries, grown to keep under
 *     one entry a bucket; an entry is never removed): a lookup costs the
 *     same at 16,000 names as at 10 (a list searched by strcmp cost ~90 us
 *     there, bench/RESULTS.md "Publish lookup");
 *   - one mutex guards the table; no store reference is released and no fd
 *     closed while it is held (a release may free an arena: keep the
 *     critical section short), and no GIL is waited for; fork() holds it
 *     across.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frost_store.h"

/* What an entry owns: at most one of a store and an image (fd >= 0). */
typedef struct {
    frost_store_t *store;
    int fd;
    void *meta;
    size_t meta_len;
} held_t;

#define HELD_NOTHING ((held_t){NULL, -1, NULL, 0})

typedef struct entry_s {
    struct entry_s *next;     /* bucket chain */
    uint64_t hash;            /* name_hash(name) */
    held_t held;              /* HELD_NOTHING once unpublished (the version is kept) */
    uint64_t version;
    char name[];
} entry_t;

/* Outside the lock: drop what an entry held. */
static void
held_release(held_t held)
{
    frost_store_release(held.store);
    if (held.fd >= 0) {
        close(held.fd);
    }
    free(held.meta);
}

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t **table;            /* nbuckets chains (a power of two), or NULL; under table_lock */
static size_t nbuckets, nentries;  /* under table_lock */

/* fork(): hold the table across it (see store.c's registry). */
static void table_atfork_prepare(void) { pthread_mutex_lock(&table_lock); }
static void table_atfork_release(void) { pthread_mutex_unlock(&table_lock); }

__attribute__((constructor)) static void
table_atfork_register(void)
{
    pthread_atfork(table_atfork_prepare, table_atfork_release, table_atfork_release);
}

/* FNV-1a of the name's bytes. */
static uint64_t
name_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p != 0; p++) {
        h = (h ^ *p) * 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static entry_t *
find_locked(const char *name, uint64_t hash)
{
    if (table == NULL) {
        return NULL;
    }
    for (entry_t *e = table[hash & (nbuckets - 1)]; e != NULL; e = e->next) {
        if (e->hash == hash && strcmp(e->name, name) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Under the lock: room for one more entry, the buckets doubled when full.
 * Growing is optional: without memory the chains just get longer. */
static int
reserve_locked(void)
{
    if (table != NULL && nentries < nbuckets) {
        return FROST_OK;
    }
    size_t n = table == NULL ? 64 : 2 * nbuckets;
    entry_t **grown = calloc(n, sizeof *grown);
    if (grown == NULL) {
        return table != NULL ? FROST_OK : FROST_ENOMEM;
    }
    for (size_t b = 0; b < nbuckets; b++) {
        for (entry_t *e = table[b], *next; e != NULL; e = next) {
            next = e->next;
            e->next = grown[e->hash & (n - 1)];
            grown[e->hash & (n - 1)] = e;
        }
    }
    free(table);
    table = grown;
    nbuckets = n;
    return FROST_OK;
}

/* Put `held` in name's entry (made if new): the old content goes to *old. */
static int
put_locked(const char *name, held_t held, held_t *old, uint64_t *version)
{
    uint64_t hash = name_hash(name);
    entry_t *e = find_locked(name, hash);
    if (e == NULL) {
        size_t len = strlen(name) + 1;
        e = reserve_locked() == FROST_OK ? calloc(1, sizeof(*e) + len) : NULL;
        if (e == NULL) {
            return FROST_ENOMEM;
        }
        memcpy(e->name, name, len);
        e->hash = hash;
        e->held = HELD_NOTHING;
        entry_t **chain = &table[hash & (nbuckets - 1)];
        e->next = *chain;
        *chain = e;
        nentries++;
    }
    *old = e->held;
    e->held = held;
    *version = ++e->version;
    return FROST_OK;
}

int
frost_publish(const char *name, frost_store_t *store, uint64_t *version)
{
    held_t old = HELD_NOTHING;
    pthread_mutex_lock(&table_lock);
    held_t held = HELD_NOTHING;
    held.store = store;
    int rc = put_locked(name, held, &old, version);
    if (rc == FROST_OK) {
        frost_store_acquire(store);
    }
    pthread_mutex_unlock(&table_lock);
    held_release(old);
    return rc;
}

int
frost_publish_image(const char *name, int fd, const void *meta, size_t meta_len,
                    uint64_t *version)
{
    held_t held = HELD_NOTHING;
    held.meta = malloc(meta_len ? meta_len : 1);
    if (held.meta == NULL) {
        return FROST_ENOMEM;
    }
    memcpy(held.meta, meta, meta_len);
    held.meta_len = meta_len;
    held.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (held.fd < 0) {
        int err = errno;
        free(held.meta);
        errno = err;
        return FROST_EINVAL;
    }
    held_t old = HELD_NOTHING;
    pthread_mutex_lock(&table_lock);
    int rc = put_locked(name, held, &old, version);
    pthread_mutex_unlock(&table_lock);
    held_release(rc == FROST_OK ? old : held);
    return rc;
}

frost_store_t *
frost_published(const char *name, uint64_t *version)
{
    frost_store_t *found = NULL;
    uint64_t hash = name_hash(name);
    pthread_mutex_lock(&table_lock);
    entry_t *e = find_locked(name, hash);
    if (e != NULL && e->held.store != NULL) {
        frost_store_acquire(e->held.store);
        found = e->held.store;
        *version = e->version;
    }
    pthread_mutex_unlock(&table_lock);
    return found;
}

int
frost_publication(const char *name, frost_publication_t *out)
{
    *out = (frost_publication_t){NULL, -1, NULL, 0, 0};
    int kind = FROST_PUBLISHED_NONE;
    int err = 0;
    uint64_t hash = name_hash(name);
    pthread_mutex_lock(&table_lock);
    entry_t *e = find_locked(name, hash);
    if (e != NULL && e->held.store != NULL) {
        frost_store_acquire(e->held.store);
        out->store = e->held.store;
        kind = FROST_PUBLISHED_STORE;
    } else if (e != NULL && e->held.fd >= 0) {
        out->meta = malloc(e->held.meta_len ? e->held.meta_len : 1);
        out->fd = out->meta == NULL ? -1 : fcntl(e->held.fd, F_DUPFD_CLOEXEC, 0);
        if (out->meta == NULL) {
            kind = FROST_ENOMEM;
        } else if (out->fd < 0) {
            err = errno;
            kind = FROST_EINVAL;
        } else {
            memcpy(out->meta, e->held.meta, e->held.meta_len);
            out->meta_len = e->held.meta_len;
            kind = FROST_PUBLISHED_IMAGE;
        }
    }
    if (kind == FROST_PUBLISHED_STORE || kind == FROST_PUBLISHED_IMAGE) {
        out->version = e->version;
    }
    pthread_mutex_unlock(&table_lock);
    if (kind < 0) {
        frost_publication_release(out);
        errno = err;
    }
    return kind;
}

void
frost_publication_release(frost_publication_t *pub)
{
    held_release((held_t){pub->store, pub->fd, pub->meta, 0});
    *pub = (frost_publication_t){NULL, -1, NULL, 0, 0};
}

int
frost_unpublish(const char *name)
{
    uint64_t hash = name_hash(name);
    pthread_mutex_lock(&table_lock);
    entry_t *e = find_locked(name, hash);
    held_t old = HELD_NOTHING;
    if (e != NULL) {
        old = e->held;
        e->held = HELD_NOTHING;
    }
    pthread_mutex_unlock(&table_lock);
    held_release(old);
    return old.store != NULL || old.fd >= 0;
}
