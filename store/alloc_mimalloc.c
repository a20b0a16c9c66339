/*
 * alloc_mimalloc.c -- chunks from mimalloc (the default backend, built when
 * CMake finds libmimalloc-dev; FROST_HAVE_MIMALLOC).
 *
 * Only mi_* entry points are used, never malloc: the extension module is
 * loaded RTLD_LOCAL, so mimalloc's malloc override never replaces CPython's.
 * A page-aligned request of a page-multiple size lies wholly inside one
 * mimalloc block, so its pages are ours alone and may be mprotected; they
 * are made writable again before mi_free (the arena does that).
 */
#include "alloc.h"

#include <mimalloc.h>

static void *
mimalloc_chunk_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return mi_zalloc_aligned(size, frost__page_size());
}

static void
mimalloc_chunk_free(void *ctx, void *chunk, size_t size)
{
    (void)ctx;
    (void)size;
    mi_free(chunk);
}

static const frost_backend_t mimalloc_backend = {
    .name = "mimalloc",
    .chunk_alloc = mimalloc_chunk_alloc,
    .chunk_free = mimalloc_chunk_free,
    .ctx = NULL,
};

const frost_backend_t *
frost__backend_mimalloc(void)
{
    return &mimalloc_backend;
}
