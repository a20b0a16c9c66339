/*
 * publish.c -- named, versioned publication of stores: a process-wide table
 * name -> (store, version), so a store frozen once can be found by name from
 * any interpreter and replaced by a newer one while readers finish the old.
 *
 * Invariants:
 *   - each entry owns exactly one store reference; replacing or removing an
 *     entry drops it, so an old version is freed (scoped stores) when its
 *     last reader lets go, never while one still holds a view;
 *   - a name's version only grows: 1 for the first publication, +1 for each
 *     later one (unpublishing does not reset it);
 *   - one mutex guards the table; no store reference is released while it is
 *     held (a release may free an arena: keep the critical section short),
 *     and no GIL is waited for; fork() holds it across.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "frost_store.h"

typedef struct entry_s {
    struct entry_s *next;
    frost_store_t *store;     /* NULL once unpublished (the version is kept) */
    uint64_t version;
    char name[];
} entry_t;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static entry_t *table_head;

/* fork(): hold the table across it (see store.c's registry). */
static void table_atfork_prepare(void) { pthread_mutex_lock(&table_lock); }
static void table_atfork_release(void) { pthread_mutex_unlock(&table_lock); }

__attribute__((constructor)) static void
table_atfork_register(void)
{
    pthread_atfork(table_atfork_prepare, table_atfork_release, table_atfork_release);
}

static entry_t *
find_locked(const char *name)
{
    for (entry_t *e = table_head; e != NULL; e = e->next) {
        if (strcmp(e->name, name) == 0) {
            return e;
        }
    }
    return NULL;
}

int
frost_publish(const char *name, frost_store_t *store, uint64_t *version)
{
    frost_store_t *old = NULL;
    pthread_mutex_lock(&table_lock);
    entry_t *e = find_locked(name);
    if (e == NULL) {
        size_t len = strlen(name) + 1;
        e = calloc(1, sizeof(*e) + len);
        if (e == NULL) {
            pthread_mutex_unlock(&table_lock);
            return FROST_ENOMEM;
        }
        memcpy(e->name, name, len);
        e->next = table_head;
        table_head = e;
    }
    frost_store_acquire(store);
    old = e->store;
    e->store = store;
    *version = ++e->version;
    pthread_mutex_unlock(&table_lock);
    frost_store_release(old);
    return FROST_OK;
}

frost_store_t *
frost_published(const char *name, uint64_t *version)
{
    frost_store_t *found = NULL;
    pthread_mutex_lock(&table_lock);
    entry_t *e = find_locked(name);
    if (e != NULL && e->store != NULL) {
        frost_store_acquire(e->store);
        found = e->store;
        *version = e->version;
    }
    pthread_mutex_unlock(&table_lock);
    return found;
}

int
frost_unpublish(const char *name)
{
    pthread_mutex_lock(&table_lock);
    entry_t *e = find_locked(name);
    frost_store_t *old = e ? e->store : NULL;
    if (e != NULL) {
        e->store = NULL;
    }
    pthread_mutex_unlock(&table_lock);
    frost_store_release(old);
    return old != NULL;
}
