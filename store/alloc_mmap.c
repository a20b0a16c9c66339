/*
 * alloc_mmap.c -- the plain anonymous-mmap chunk backend (always built) and
 * the build-time choice of the default backend (FROST_ALLOCATOR).
 *
 * mmap gives page-aligned, zero-filled memory that shares no page with
 * anything else, which is exactly the backend contract.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdint.h>
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

/*
 * Chunks of at least HUGE_PAGE bytes start on a HUGE_PAGE boundary and ask
 * for transparent huge pages (MADV_HUGEPAGE: a hint, used where the system's
 * THP setting is "madvise" or "always"): freezing a large table or array
 * copies into fresh chunks, and 4 KiB page faults were most of that copy's
 * time (docs/design.md, "Arena chunks and huge pages"). At most the last
 * partly used huge page of a chunk is memory the chunk would not have
 * touched with 4 KiB pages.
 */
#define HUGE_PAGE ((size_t)2 << 20)

static void *
mmap_chunk_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size < HUGE_PAGE || size > SIZE_MAX - HUGE_PAGE) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    size_t span = size + HUGE_PAGE;   /* room to start on a huge-page boundary */
    char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    char *start = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (start > p) {
        munmap(p, (size_t)(start - p));
    }
    size_t tail = span - (size_t)(start - p) - size;   /* > 0, a page multiple: size is one */
    munmap(start + size, tail);
#ifdef MADV_HUGEPAGE
    (void)madvise(start, size, MADV_HUGEPAGE);
#endif
    return start;
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
