/*
 * frost_map_pager.h -- a helper thread that maps an image file's pages into
 * the format-2 writer's address space (map_write.c) while the writer works.
 *
 * Writing an image into a memfd or file costs kernel work per page besides
 * the writer's own: allocating it (fallocate: for a memfd a zeroed shmem
 * page) and mapping it (a write fault, or MADV_POPULATE_WRITE). Mapping is
 * the larger part: ~21 of ~30 ms for a 76 MiB image on the development box,
 * a quarter of what frost.share adds to the freeze (docs/design.md,
 * "Sharing: the pager"). The writer allocates each range itself (cheap, and
 * where a full disk must become an OSError); the pager populates what was
 * allocated, on another core, so the writer's stores mostly find their pages
 * mapped.
 *
 * Contract:
 *   - `base` maps the file shared and writable, and stays mapped at that
 *     address until frost__map_pager_stop returns (the writer's window: it
 *     never moves while a pager runs);
 *   - the pager only ever populates the ranges it was given, with
 *     MADV_POPULATE_WRITE: it never writes a byte, never changes the file's
 *     size, and ignores its errors (a range truncated under the writer is the
 *     writer's size check's business; an unpopulated page just faults);
 *   - the pager blocks every signal (they are the interpreter's) and takes no
 *     Python lock: it never touches the GIL or any Python object.
 * Pure C; threads: one writer thread calls add/stop; the pager thread is
 * the only other party.
 */
#ifndef FROST_MAP_PAGER_H
#define FROST_MAP_PAGER_H

#include <pthread.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct frost_map_pager frost_map_pager_t;

/* Start a pager for the mapping at `base`. NULL when none could be started
 * (no memory, no thread, no MADV_POPULATE_WRITE): not an error, the
 * writer's stores fault pages in. */
frost_map_pager_t *frost__map_pager_start(unsigned char *base);

/* [from, to) of the mapping is allocated in the file: populate it (the whole
 * pages in it; ranges are added in increasing order, with gaps the pager
 * never touches). Returns at once: 0, or -1 when it was not taken (NULL, or
 * too many separate ranges waiting: the caller populates it itself). */
int frost__map_pager_add(frost_map_pager_t *p, size_t from, size_t to);

/* pthread_create with every signal blocked in the new thread (signals stay
 * the interpreter's business): the writer's helper threads, this pager and
 * map_write.c's hasher, start this way. 0, or pthread_create's error. */
int frost__thread_start_quiet(pthread_t *thread, void *(*main)(void *), void *arg);

/* Stop the pager and wait for its thread (at most one step of work), free it.
 * NULL is ignored. */
void frost__map_pager_stop(frost_map_pager_t *p);

#ifdef __cplusplus
}
#endif

#endif /* FROST_MAP_PAGER_H */
