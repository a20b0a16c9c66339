/*
 * frost_store.h -- a sealed arena plus its root, shared by every interpreter
 * of the process and kept alive by an atomic count of *leases*.
 *
 * Pure C (no Python.h): the root is an opaque word (a frost_ref_t).
 *
 * Who holds a reference: each interpreter that uses a store holds exactly one
 * lease (views/lease.c), plus transient references while a store crosses
 * between interpreters. The read path never touches the count.
 *
 * Lifetimes:
 *   FROST_LIFETIME_SCOPED  -- the arena is freed when the last reference goes;
 *   FROST_LIFETIME_PROCESS -- the store keeps one reference to itself and is
 *                             never freed (readers may hold raw arena objects).
 *
 * Every live store is listed in a process-wide registry (id -> store) so that
 * a reference that crossed interpreters as plain data (id, node, token) can
 * be turned back into a store; the token is a keyed hash of the node address
 * with a per-store secret, so forged references are refused, not followed.
 *
 * Thread-safety: every function here may be called from any thread; the
 * registry is guarded by one mutex, the count is atomic.
 */
#ifndef FROST_STORE_H
#define FROST_STORE_H

#include <stdint.h>
#include "frost_arena.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FROST_LIFETIME_SCOPED = 0,
    FROST_LIFETIME_PROCESS = 1,
} frost_lifetime_t;

typedef struct frost_store_s frost_store_t;

/*
 * Wrap a sealed arena (ownership passes to the store, also on failure) and
 * its root into a new store with one reference, owned by the caller, and
 * register it. FROST_EINVAL if the arena is not sealed, FROST_ENOMEM.
 */
FROST_NODISCARD int frost_store_new(frost_store_t **out, frost_arena_t *arena, uintptr_t root,
                                    frost_lifetime_t lifetime);

/* Take one more reference. The caller must already hold one. */
void frost_store_acquire(frost_store_t *store);

/* Find a live store by id and take a reference; NULL if there is none (any
 * more). `token` must equal frost_store_token(store, node) or NULL is returned
 * with *bad_token set to 1. */
frost_store_t *frost_store_acquire_by_id(uint64_t id, uintptr_t node, uint64_t token, int *bad_token);

/* Drop one reference; the last one of a scoped store frees the arena. NULL ok. */
void frost_store_release(frost_store_t *store);

uint64_t frost_store_id(const frost_store_t *store);
uintptr_t frost_store_root(const frost_store_t *store);
frost_arena_t *frost_store_arena(const frost_store_t *store);
frost_lifetime_t frost_store_lifetime(const frost_store_t *store);

/* A keyed hash of `node` with the store's secret (see the banner). */
uint64_t frost_store_token(const frost_store_t *store, uintptr_t node);

/* Stores registered and not yet freed (process stores included). */
size_t frost_store_live_count(void);

/*
 * Named publication (publish.c): a process-wide table name -> (store,
 * version). frost_publish takes its own reference to `store`, drops the one
 * on the name's previous store, and sets *version (1, 2, ... per name):
 * FROST_OK or FROST_ENOMEM. frost_published returns the name's current store
 * with a new reference owned by the caller (and its version), or NULL.
 * frost_unpublish drops the name's store: 1 if there was one, else 0.
 */
FROST_NODISCARD int frost_publish(const char *name, frost_store_t *store, uint64_t *version);
frost_store_t *frost_published(const char *name, uint64_t *version);
int frost_unpublish(const char *name);

/*
 * A mapped image (format 2) published by name: the table keeps its own dup
 * of `fd` (the memfd or file of the image; the caller keeps `fd`) and a copy
 * of `meta`, the binding's description of the image (opaque here). Same
 * versions as frost_publish, which it replaces (and is replaced by).
 * FROST_OK; FROST_ENOMEM; FROST_EINVAL if fd cannot be duplicated (errno
 * says why). frost_published() returns NULL for a name that holds an image.
 */
FROST_NODISCARD int frost_publish_image(const char *name, int fd, const void *meta,
                                        size_t meta_len, uint64_t *version);

/* frost_publication's result: what a name held, now owned by the caller. */
typedef struct {
    frost_store_t *store;   /* FROST_PUBLISHED_STORE: a new reference */
    int fd;                 /* FROST_PUBLISHED_IMAGE: a new fd (close-on-exec) ... */
    void *meta;             /* ... and a malloc'd copy of its description */
    size_t meta_len;
    uint64_t version;
} frost_publication_t;

enum { FROST_PUBLISHED_NONE = 0, FROST_PUBLISHED_STORE = 1, FROST_PUBLISHED_IMAGE = 2 };

/* What name holds now, of either kind (a FROST_PUBLISHED_* and *out), or
 * FROST_ENOMEM / FROST_EINVAL (no fd to spare: errno says why). */
int frost_publication(const char *name, frost_publication_t *out);
/* Drop what frost_publication gave (any kind, or none); idempotent. */
void frost_publication_release(frost_publication_t *pub);

#ifdef __cplusplus
}
#endif
#endif /* FROST_STORE_H */
