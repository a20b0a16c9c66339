/*
 * alloc.h -- the seam between the arena and the chunk backends
 * (alloc_mmap.c always; alloc_mimalloc.c or alloc_jemalloc.c when the build
 * picks them with FROST_ALLOCATOR). Internal to the store.
 *
 * Every backend hands out page-aligned, page-multiple, zero-filled chunks
 * that share no page with any other allocation, so the arena may mprotect
 * them (see frost_backend_t in frost_arena.h).
 */
#ifndef FROST_ALLOC_H
#define FROST_ALLOC_H

#ifndef FROST_BUILD_CORE
#  error "alloc.h is internal to frost's store"
#endif

#include "frost_arena.h"

/* The system page size, cached on first use; a power of two. */
size_t frost__page_size(void);

/* alloc_mimalloc.c / alloc_jemalloc.c: the build-time backend, when one is
 * compiled in (FROST_HAVE_MIMALLOC / FROST_HAVE_JEMALLOC). */
const frost_backend_t *frost__backend_mimalloc(void);
const frost_backend_t *frost__backend_jemalloc(void);

#endif /* FROST_ALLOC_H */
