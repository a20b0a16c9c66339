/*
 * frost_arena.h -- the arena: page-aligned chunks that hold one frozen object
 * graph, bump-allocated while the graph is built, then sealed read-only.
 *
 * Pure C11: no Python.h here (the arena knows bytes, not objects).
 *
 * Lifecycle:  frost_arena_new -> frost_arena_alloc* -> frost_arena_seal
 *             -> (readers, any thread) -> frost_arena_free
 *
 * Invariants (checked by frost__arena_is_valid() in debug builds):
 *   - every chunk is page-aligned, its size a multiple of the page size, and
 *     no other allocation shares its pages (so mprotect touches only us);
 *   - bytes_used <= bytes_reserved == sum of chunk sizes;
 *   - once sealed, every chunk is PROT_READ and frost_arena_alloc fails.
 *
 * Thread-safety: not thread-safe while building; after frost_arena_seal the
 * memory may be read from any thread or interpreter without locks.
 * frost_arena_free must run only when no reader can touch the memory again.
 */
#ifndef FROST_ARENA_H
#define FROST_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#  define FROST_NODISCARD __attribute__((warn_unused_result))
#else
#  define FROST_NODISCARD
#endif

/* Status codes: 0 ok, negative on error (test with `< 0`). */
enum {
    FROST_OK = 0,
    FROST_ENOMEM = -1,    /* the backend gave no memory */
    FROST_ESEALED = -2,   /* the arena is sealed: no more allocation */
    FROST_EINVAL = -3,    /* a bad argument (size overflow, bad alignment) */
    FROST_EPROTECT = -4,  /* mprotect failed */
    FROST_EBUSY = -5,     /* still in use */
};

/* A static, human-readable message for a status code; never NULL. */
const char *frost_strerror(int code);

/* What the freezer stored, counted for stats (frost_arena_count). */
typedef enum {
    FROST_KIND_STR = 0,
    FROST_KIND_INT,
    FROST_KIND_FLOAT,
    FROST_KIND_COMPLEX,
    FROST_KIND_BYTES,
    FROST_KIND_TUPLE,      /* a real CPython tuple of plain immutables */
    FROST_KIND_DICT,       /* C nodes from here on */
    FROST_KIND_LIST,
    FROST_KIND_SET,
    FROST_KIND_ARRAY,
    FROST_KIND_RECORD,
    FROST_KIND_TUPLE_NODE, /* a tuple holding a container */
    FROST_KIND_TABLE,      /* Arrow columns (frost_columns.h) */
    FROST_KIND_COUNT
} frost_kind_t;

/* Names of the kinds, for stats dicts: "str", "int", ..., "tuple_node". */
const char *frost_kind_name(frost_kind_t kind);

/*
 * A chunk backend: where the arena's chunks come from. `chunk_alloc` returns
 * `size` zero-filled bytes (a multiple of the page size) aligned to the page
 * size, or NULL; the memory must not share a page with any other allocation.
 * `chunk_free` gets back exactly what chunk_alloc returned, readable and
 * writable again. Both may be called from any thread.
 */
typedef struct frost_backend_s {
    const char *name;                                    /* "mimalloc", "jemalloc", "mmap", ... */
    void *(*chunk_alloc)(void *ctx, size_t size);
    void (*chunk_free)(void *ctx, void *chunk, size_t size);
    void *ctx;                                           /* passed through, owned by the caller */
} frost_backend_t;

/* The backend chosen at build time (FROST_ALLOCATOR); static, never freed. */
const frost_backend_t *frost_backend_default(void);
/* Plain anonymous mmap; always available. */
const frost_backend_t *frost_backend_mmap(void);

typedef struct frost_arena_s frost_arena_t;

/*
 * Create an empty, writable arena on `backend` (NULL = frost_backend_default()).
 * `chunk_size` is the first chunk's size in bytes (0 = one page; rounded up to
 * the page size); later chunks double, up to 64 MiB, and an allocation of more
 * than half the next chunk (and over 64 KiB) gets a chunk of its own. The backend must outlive the arena.
 * On success *out owns the arena (release with frost_arena_free).
 */
FROST_NODISCARD int frost_arena_new(frost_arena_t **out, const frost_backend_t *backend,
                                    size_t chunk_size);

/*
 * `size` zeroed bytes aligned to `align` (a power of two, at most the page
 * size), valid until frost_arena_free. NULL when the backend fails, the arena
 * is sealed, or the arguments are bad; frost_arena_last_error says which.
 */
void *frost_arena_alloc(frost_arena_t *arena, size_t size, size_t align);

/* For a caller placing many small objects itself (freeze.c): the free rest
 * of the bump chunk, at least `min` bytes (1..64 KiB) aligned to `align` (a
 * new chunk when the rest is smaller), its size in *got; NULL as
 * frost_arena_alloc. What the caller does not use it gives back, before its
 * next frost_arena_alloc, with frost_arena_give_back(arena, end of the
 * window, unused bytes): the last `n` bytes handed out return to the bump
 * chunk (a call for anything but the end of the last allocation does nothing). */
void *frost_arena_alloc_window(frost_arena_t *arena, size_t min, size_t align, size_t *got);
void frost_arena_give_back(frost_arena_t *arena, void *end, size_t n);

/* Why the last frost_arena_alloc on this arena returned NULL (a FROST_E* code). */
int frost_arena_last_error(const frost_arena_t *arena);

/* Count one stored object of `kind` (stats only). */
void frost_arena_count(frost_arena_t *arena, frost_kind_t kind);
/* Count `n` of them at once (the freezer tallies a freeze's objects itself). */
void frost_arena_count_n(frost_arena_t *arena, frost_kind_t kind, size_t n);

/* mprotect(PROT_READ) every chunk; idempotent. FROST_EPROTECT if the kernel refuses. */
FROST_NODISCARD int frost_arena_seal(frost_arena_t *arena);
bool frost_arena_is_sealed(const frost_arena_t *arena);

/* Whether `p` points into one of the arena's chunks. O(chunks). */
bool frost_arena_contains(const frost_arena_t *arena, const void *p);

typedef struct frost_arena_stats_s {
    size_t bytes_used;                  /* handed out by frost_arena_alloc, padding included */
    size_t bytes_reserved;              /* sum of chunk sizes */
    size_t chunks;                      /* number of chunks */
    size_t objects[FROST_KIND_COUNT];   /* frost_arena_count tallies */
    bool sealed;
    const char *backend;                /* the backend's name */
} frost_arena_stats_t;

void frost_arena_stats(const frost_arena_t *arena, frost_arena_stats_t *out);

/* Give every chunk back (made writable first). NULL ok. The caller guarantees
 * no reader will touch the memory again. */
void frost_arena_free(frost_arena_t *arena);

/* Arenas created and not yet freed in this process (atomic; for leak tests). */
size_t frost_arena_live_count(void);

#ifdef __cplusplus
}
#endif
#endif /* FROST_ARENA_H */
