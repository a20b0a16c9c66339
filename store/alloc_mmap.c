/*
 * alloc_mmap.c -- the plain anonymous-mmap chunk backend (always built) and
 * the build-time choice of the default backend (FROST_ALLOCATOR).
 *
 * mmap gives page-aligned, zero-filled memory that shares no page with
 * anything else, which is exactly the backend contract.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

size_t
frost__page_size(void)
{
    /* Threads may race to fill the cache; all store the same value, and the
     * atomic makes that race defined (a plain static was a data race). */
    static _Atomic size_t cached;
    size_t page = atomic_load_explicit(&cached, memory_order_relaxed);
    if (page == 0) {
        long sys = sysconf(_SC_PAGESIZE);
        page = sys > 0 ? (size_t)sys : 4096;
        atomic_store_explicit(&cached, page, memory_order_relaxed);
    }
    return page;
}

static void *
mmap_chunk_alloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void
mmap_chunk_free(void *ctx, void *chunk, size_t size)
{
    (void)ctx;
    munmap(chunk, size);
}

static const frost_backend_t mmap_backend = {
    .name = "mmap",
    .chunk_alloc = mmap_chunk_alloc,
    .chunk_free = mmap_chunk_free,
    .ctx = NULL,
};

const frost_backend_t *
frost_backend_mmap(void)
{
    return &mmap_backend;
}

const frost_backend_t *
frost_backend_default(void)
{
#if defined(FROST_HAVE_MIMALLOC)
    return frost__backend_mimalloc();
#elif defined(FROST_HAVE_JEMALLOC)
    return frost__backend_jemalloc();
#else
    return &mmap_backend;
#endif
}
