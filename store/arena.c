/*
 * arena.c -- frost_arena_t: page-aligned chunks from a backend, bump
 * allocation while a graph is frozen, then mprotect(PROT_READ) (see
 * frost_arena.h for the contract).
 *
 * frost_arena_alloc takes its common case (a small request that fits the bump
 * chunk) first, with no call; a caller placing many small objects itself
 * takes the rest of the bump chunk as a window and gives the unused end back
 * (frost_arena_alloc_window / frost_arena_give_back: the freezer).
 *
 * Layout: the arena struct and its chunk table live in ordinary malloc
 * memory (never inside a chunk), so sealing the chunks leaves the
 * bookkeeping writable and frost_arena_free can walk it.
 *
 * Invariants (frost__arena_is_valid, asserted in debug builds):
 *   - chunks[i].base is page-aligned and chunks[i].size a page multiple;
 *   - 0 <= chunks[i].used <= chunks[i].size;
 *   - bytes_reserved == sum(chunks[i].size), bytes_used == sum(chunks[i].used);
 *   - bump < nchunks whenever nchunks > 0 (the chunk new small requests use);
 *   - sealed implies every chunk is PROT_READ.
 *
 * Under AddressSanitizer the unused tail of every chunk is poisoned, so a
 * read past the last allocation is reported; it is unpoisoned before the
 * chunk goes back to the backend.
 */
#include "alloc.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#  define FROST_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define FROST_ASAN 1
#  endif
#endif
#ifdef FROST_ASAN
#  include <sanitizer/asan_interface.h>
#  define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#  define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#  define POISON(p, n) ((void)(p), (void)(n))
#  define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Chunk sizing: a store costs its bytes plus less than a page or so, however
 * small it is, and a big one still gets few chunks. The first chunk is one
 * page (a tiny store is one page); each grown chunk doubles, up to 64 MiB.
 * A request of more than half the next grown chunk gets a chunk of its own
 * (so the bump chunk keeps its free tail) once it is past BIG_FLOOR; smaller
 * ones just grow the bump chunk, so a run of medium objects early on does
 * not make one chunk each. */
#define MAX_GROWN_CHUNK ((size_t)64 << 20)      /* doubling stops at 64 MiB */
#define BIG_FLOOR ((size_t)64 << 10)            /* below this, never a chunk of its own */
#define SMALLEST_PAGE ((size_t)4096)            /* no system has smaller pages */

typedef struct {
    char *base;     /* from backend->chunk_alloc; owned */
    size_t size;    /* bytes, a page multiple */
    size_t used;    /* bump offset: bytes [0, used) are handed out */
} chunk_t;

struct frost_arena_s {
    const frost_backend_t *backend;     /* borrowed; outlives the arena */
    chunk_t *chunks;                    /* malloc'd table, `capacity` slots */
    size_t nchunks;                     /* slots in use */
    size_t capacity;                    /* slots allocated */
    size_t bump;                        /* index of the chunk small requests use */
    size_t next_chunk_size;             /* size of the next grown chunk */
    size_t bytes_used;                  /* sum of chunks[i].used */
    size_t bytes_reserved;              /* sum of chunks[i].size */
    size_t objects[FROST_KIND_COUNT];   /* frost_arena_count tallies */
    int last_error;                     /* why the last alloc failed */
    bool sealed;                        /* every chunk PROT_READ */
};

static _Atomic size_t live_arenas;

static const char *const kind_names[FROST_KIND_COUNT] = {
    [FROST_KIND_STR] = "str",     [FROST_KIND_INT] = "int",
    [FROST_KIND_FLOAT] = "float", [FROST_KIND_COMPLEX] = "complex",
    [FROST_KIND_BYTES] = "bytes", [FROST_KIND_TUPLE] = "tuple",
    [FROST_KIND_DICT] = "dict",   [FROST_KIND_LIST] = "list",
    [FROST_KIND_SET] = "set",     [FROST_KIND_ARRAY] = "array",
    [FROST_KIND_RECORD] = "record", [FROST_KIND_TUPLE_NODE] = "tuple_node",
    [FROST_KIND_TABLE] = "table",
};

const char *
frost_kind_name(frost_kind_t kind)
{
    if ((int)kind < 0 || kind >= FROST_KIND_COUNT) {
        return "unknown";
    }
    return kind_names[kind];
}

const char *
frost_strerror(int code)
{
    switch (code) {
    case FROST_OK: return "success";
    case FROST_ENOMEM: return "out of memory";
    case FROST_ESEALED: return "the arena is sealed";
    case FROST_EINVAL: return "invalid argument";
    case FROST_EPROTECT: return "mprotect failed";
    case FROST_EBUSY: return "still in use";
    default: return "unknown error";
    }
}

static bool
is_power_of_two(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* Round `n` up to a multiple of `align` (a power of two); false on overflow. */
static bool
round_up(size_t n, size_t align, size_t *out)
{
    if (n > SIZE_MAX - (align - 1)) {
        return false;
    }
    *out = (n + align - 1) & ~(align - 1);
    return true;
}

#ifndef NDEBUG
static bool
frost__arena_is_valid(const frost_arena_t *a)
{
    size_t page = frost__page_size(), used = 0, reserved = 0;
    if (a->nchunks > a->capacity || (a->nchunks > 0 && a->bump >= a->nchunks)) {
        return false;
    }
    for (size_t i = 0; i < a->nchunks; i++) {
        const chunk_t *c = &a->chunks[i];
        if ((uintptr_t)c->base % page != 0 || c->size % page != 0 || c->used > c->size) {
            return false;
        }
        used += c->used;
        reserved += c->size;
    }
    return used == a->bytes_used && reserved == a->bytes_reserved;
}
#endif

int
frost_arena_new(frost_arena_t **out, const frost_backend_t *backend, size_t chunk_size)
{
    *out = NULL;
    if (backend == NULL) {
        backend = frost_backend_default();
    }
    if (backend->chunk_alloc == NULL || backend->chunk_free == NULL) {
        return FROST_EINVAL;
    }
    if (chunk_size == 0) {
        chunk_size = frost__page_size();
    }
    if (!round_up(chunk_size, frost__page_size(), &chunk_size)) {
        return FROST_EINVAL;
    }
    frost_arena_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return FROST_ENOMEM;
    }
    a->backend = backend;
    a->next_chunk_size = chunk_size;
    atomic_fetch_add(&live_arenas, 1);
    *out = a;
    return FROST_OK;
}

/* Append a chunk of at least `min_size` bytes; returns its index or -1. */
static ptrdiff_t
add_chunk(frost_arena_t *a, size_t min_size, bool grows)
{
    size_t size;
    if (!round_up(min_size, frost__page_size(), &size)) {
        a->last_error = FROST_EINVAL;
        return -1;
    }
    if (a->nchunks == a->capacity) {
        size_t capacity = a->capacity ? 2 * a->capacity : 8;
        chunk_t *grown = realloc(a->chunks, capacity * sizeof(chunk_t));
        if (grown == NULL) {
            a->last_error = FROST_ENOMEM;
            return -1;
        }
        a->chunks = grown;
        a->capacity = capacity;
    }
    char *base = a->backend->chunk_alloc(a->backend->ctx, size);
    if (base == NULL) {
        a->last_error = FROST_ENOMEM;
        return -1;
    }
    assert((uintptr_t)base % frost__page_size() == 0);
    POISON(base, size);
    a->chunks[a->nchunks] = (chunk_t){.base = base, .size = size, .used = 0};
    a->bytes_reserved += size;
    if (grows && a->next_chunk_size < MAX_GROWN_CHUNK) {
        a->next_chunk_size *= 2;
    }
    return (ptrdiff_t)a->nchunks++;
}

/* Space for `size` bytes at `align` in chunk `c`, or NULL. */
static void *
bump_in(frost_arena_t *a, chunk_t *c, size_t size, size_t align)
{
    size_t start;
    if (!round_up(c->used, align, &start) || start > c->size || c->size - start < size) {
        return NULL;
    }
    char *p = c->base + start;
    a->bytes_used += start + size - c->used;
    c->used = start + size;
    UNPOISON(p, size);
    return p;
}

static void *alloc_slow(frost_arena_t *a, size_t size, size_t align);

void *
frost_arena_alloc(frost_arena_t *a, size_t size, size_t align)
{
    /* The common case (the freezer makes millions of small objects) first, with
     * no call: a nonzero, not huge size at a small power-of-two alignment,
     * fitting the bump chunk. Everything else: alloc_slow. */
    if (size - 1 < SIZE_MAX / 2 && align - 1 < SMALLEST_PAGE && (align & (align - 1)) == 0
        && a->nchunks > 0 && !a->sealed) {
        void *p = bump_in(a, &a->chunks[a->bump], size, align);
        if (p != NULL) {
            return p;
        }
    }
    return alloc_slow(a, size, align);
}

#if defined(__GNUC__)
__attribute__((noinline))   /* keeps the fast path above free of its register saves */
#endif
static void *
alloc_slow(frost_arena_t *a, size_t size, size_t align)
{
    if (a->sealed) {
        a->last_error = FROST_ESEALED;
        return NULL;
    }
    /* (no page is smaller than SMALLEST_PAGE: the common small alignments never
     * ask the system for its page size) */
    if (!is_power_of_two(align) || (align > SMALLEST_PAGE && align > frost__page_size())
        || size > SIZE_MAX / 2) {
        a->last_error = FROST_EINVAL;
        return NULL;
    }
    if (size == 0) {
        size = 1;   /* distinct, valid pointers for empty objects */
    }
    if (a->nchunks > 0) {
        void *p = bump_in(a, &a->chunks[a->bump], size, align);
        if (p != NULL) {
            return p;
        }
    }
    ptrdiff_t idx;
    if (size > a->next_chunk_size / 2 && size > BIG_FLOOR) {
        /* Big: a chunk of its own; the bump chunk keeps its free tail. */
        idx = add_chunk(a, size, false);
        if (idx >= 0 && a->nchunks == 1) {
            a->bump = 0;
        }
    }
    else {
        /* chunks are page-aligned, so `size` bytes at offset 0 meet any `align` */
        idx = add_chunk(a, size > a->next_chunk_size ? size : a->next_chunk_size, true);
        if (idx >= 0) {
            a->bump = (size_t)idx;
        }
    }
    if (idx < 0) {
        return NULL;
    }
    void *p = bump_in(a, &a->chunks[idx], size, align);
    assert(p != NULL);
    assert(frost__arena_is_valid(a));
    return p;
}

void *
frost_arena_alloc_window(frost_arena_t *a, size_t min, size_t align, size_t *got)
{
    if (min == 0 || min > BIG_FLOOR) {   /* (larger ones could get a chunk of their own) */
        a->last_error = FROST_EINVAL;
        return NULL;
    }
    char *p = frost_arena_alloc(a, min, align);
    if (p == NULL) {
        return NULL;
    }
    /* p is the last allocation of the bump chunk (min <= BIG_FLOOR): add the rest */
    chunk_t *c = &a->chunks[a->bump];
    assert(p + min == c->base + c->used);
    size_t rest = c->size - c->used;
    UNPOISON(c->base + c->used, rest);
    a->bytes_used += rest;
    c->used = c->size;
    *got = min + rest;
    return p;
}

void
frost_arena_give_back(frost_arena_t *a, void *end, size_t n)
{
    if (n == 0 || a->nchunks == 0 || a->sealed) {
        return;
    }
    chunk_t *c = &a->chunks[a->bump];
    if ((char *)end != c->base + c->used || n > c->used) {
        return;   /* not the end of the last allocation: keep it */
    }
    c->used -= n;
    a->bytes_used -= n;
    POISON(c->base + c->used, n);
}

int
frost_arena_last_error(const frost_arena_t *a)
{
    return a->last_error;
}

void
frost_arena_count(frost_arena_t *a, frost_kind_t kind)
{
    frost_arena_count_n(a, kind, 1);
}

void
frost_arena_count_n(frost_arena_t *a, frost_kind_t kind, size_t n)
{
    if ((int)kind >= 0 && kind < FROST_KIND_COUNT) {
        a->objects[kind] += n;
    }
}

int
frost_arena_seal(frost_arena_t *a)
{
    if (a->sealed) {
        return FROST_OK;
    }
    for (size_t i = 0; i < a->nchunks; i++) {
        if (mprotect(a->chunks[i].base, a->chunks[i].size, PROT_READ) != 0) {
            /* Undo, so the arena stays consistently writable. */
            for (size_t j = 0; j < i; j++) {
                (void)mprotect(a->chunks[j].base, a->chunks[j].size, PROT_READ | PROT_WRITE);
            }
            return FROST_EPROTECT;
        }
    }
    a->sealed = true;
    assert(frost__arena_is_valid(a));
    return FROST_OK;
}

bool
frost_arena_is_sealed(const frost_arena_t *a)
{
    return a->sealed;
}

bool
frost_arena_contains(const frost_arena_t *a, const void *p)
{
    uintptr_t addr = (uintptr_t)p;
    for (size_t i = 0; i < a->nchunks; i++) {
        uintptr_t base = (uintptr_t)a->chunks[i].base;
        if (addr >= base && addr - base < a->chunks[i].size) {
            return true;
        }
    }
    return false;
}

void
frost_arena_stats(const frost_arena_t *a, frost_arena_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->bytes_used = a->bytes_used;
    out->bytes_reserved = a->bytes_reserved;
    out->chunks = a->nchunks;
    memcpy(out->objects, a->objects, sizeof(out->objects));
    out->sealed = a->sealed;
    out->backend = a->backend->name;
}

void
frost_arena_free(frost_arena_t *a)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < a->nchunks; i++) {
        chunk_t *c = &a->chunks[i];
        if (a->sealed) {
            /* Backends may write into freed memory (free lists): writable first.
             * If the kernel refuses, leak the chunk rather than fault. */
            if (mprotect(c->base, c->size, PROT_READ | PROT_WRITE) != 0) {
                continue;
            }
        }
        UNPOISON(c->base, c->size);
        a->backend->chunk_free(a->backend->ctx, c->base, c->size);
    }
    free(a->chunks);
    free(a);
    atomic_fetch_sub(&live_arenas, 1);
}

size_t
frost_arena_live_count(void)
{
    return atomic_load(&live_arenas);
}
