/*
 * alloc_jemalloc.c -- chunks from jemalloc (-DFROST_ALLOCATOR=jemalloc;
 * FROST_HAVE_JEMALLOC). Only mallocx/dallocx are used.
 *
 * jemalloc serves page-aligned, page-multiple requests from extents (or
 * page-sized slab regions) that no other allocation shares, so the pages
 * may be mprotected; the arena makes them writable again before dallocx.
 */
#include "alloc.h"

#include <jemalloc/jemalloc.h>

static void *
jemalloc_chunk_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return mallocx(size, MALLOCX_ALIGN(frost__page_size()) | MALLOCX_ZERO);
}

static void
jemalloc_chunk_free(void *ctx, void *chunk, size_t size)
{
    (void)ctx;
    sdallocx(chunk, size, MALLOCX_ALIGN(frost__page_size()));
}

static const frost_backend_t jemalloc_backend = {
    .name = "jemalloc",
    .chunk_alloc = jemalloc_chunk_alloc,
    .chunk_free = jemalloc_chunk_free,
    .ctx = NULL,
};

const frost_backend_t *
frost__backend_jemalloc(void)
{
    return &jemalloc_backend;
}
