/*
 * map_pager.c -- the format-2 writer's pager thread (frost_map_pager.h).
 *
 * State, under `lock`: a FIFO of page-aligned ranges still to populate (the
 * writer appends, extending the last range when the new one follows it; the
 * pager takes from the front) and `stopping`. Ranges have gaps where the
 * writer leaves bulk payloads unallocated (map_write.c: they are pwritten at
 * the end), which the pager must not fault in. The pager works in
 * STEP-sized pieces with the lock released, so stop joins within one step.
 */
#include "frost_map_pager.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define STEP ((size_t)2 << 20)   /* work between two looks at the state */
#define MAX_RANGES 16            /* more gaps than this in flight: the writer populates */

typedef struct {
    size_t from, to;
} range_t;

struct frost_map_pager {
    unsigned char *base;
    size_t page;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* ranges or stopping changed */
    range_t ranges[MAX_RANGES];   /* ring: [head, head + nranges) */
    size_t head, nranges;
    bool stopping;
};

static void *
pager_main(void *arg)
{
    frost_map_pager_t *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && p->nranges == 0) {
            pthread_cond_wait(&p->changed, &p->lock);
        }
        if (p->stopping) {
            break;
        }
        range_t *r = &p->ranges[p->head];
        size_t at = r->from;
        size_t n = r->to - at < STEP ? r->to - at : STEP;
        r->from += n;   /* taken: the writer only ever extends the last range's end */
        if (r->from == r->to) {
            p->head = (p->head + 1) % MAX_RANGES;
            p->nranges--;
        }
        pthread_mutex_unlock(&p->lock);
#ifdef MADV_POPULATE_WRITE
        /* errors (a file truncated under the writer, an old kernel) are left to
         * the writer: it checks the size, and its own stores fault pages in */
        int rc;
        do {
            rc = madvise(p->base + at, n, MADV_POPULATE_WRITE);
        } while (rc < 0 && errno == EINTR);
#endif
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int
frost__thread_start_quiet(pthread_t *thread, void *(*main)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(thread, NULL, main, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

frost_map_pager_t *
frost__map_pager_start(unsigned char *base)
{
#ifndef MADV_POPULATE_WRITE
    (void)base;
    return NULL;   /* nothing a pager could do */
#else
    frost_map_pager_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    long page = sysconf(_SC_PAGESIZE);
    p->page = page > 0 ? (size_t)page : 4096;
    p->base = base;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->changed, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    if (frost__thread_start_quiet(&p->thread, pager_main, p) != 0) {
        pthread_cond_destroy(&p->changed);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
#endif
}

int
frost__map_pager_add(frost_map_pager_t *p, size_t from, size_t to)
{
    if (p == NULL) {
        return -1;
    }
    /* whole pages only: the partial pages at either end are the writer's */
    from = (from + p->page - 1) & ~(p->page - 1);
    to &= ~(p->page - 1);
    if (from >= to) {
        return 0;
    }
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    range_t *last = p->nranges ? &p->ranges[(p->head + p->nranges - 1) % MAX_RANGES] : NULL;
    if (last != NULL && last->to == from) {
        last->to = to;
    }
    else if (p->nranges < MAX_RANGES) {
        p->ranges[(p->head + p->nranges) % MAX_RANGES] = (range_t){from, to};
        p->nranges++;
    }
    else {
        rc = -1;
    }
    pthread_cond_signal(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void
frost__map_pager_stop(frost_map_pager_t *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->changed);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
