/*
 * map_pager.c -- the format-2 writer's pager thread (frost_map_pager.h).
 *
 * State, under `lock`: `done` (the end of what the pager has populated; only
 * the pager raises it), `target` (the end of what the writer has allocated;
 * only the writer raises it) and `stopping`. The pager works in STEP-sized,
 * page-aligned pieces with the lock released, so stop joins within one step.
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

struct frost_map_pager {
    unsigned char *base;
    size_t page;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* target or stopping changed */
    size_t done, target;
    bool stopping;
};

static void *
pager_main(void *arg)
{
    frost_map_pager_t *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && p->done >= p->target) {
            pthread_cond_wait(&p->changed, &p->lock);
        }
        if (p->stopping) {
            break;
        }
        size_t at = p->done;
        size_t n = p->target - at < STEP ? p->target - at : STEP;
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
        p->done = at + n;
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
frost__map_pager_start(unsigned char *base, size_t from)
{
#ifndef MADV_POPULATE_WRITE
    (void)base;
    (void)from;
    return NULL;   /* nothing a pager could do */
#else
    frost_map_pager_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    long page = sysconf(_SC_PAGESIZE);
    p->page = page > 0 ? (size_t)page : 4096;
    p->base = base;
    p->done = p->target = from & ~(p->page - 1);
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

void
frost__map_pager_advance(frost_map_pager_t *p, size_t to)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    to &= ~(p->page - 1);   /* whole pages only: the last partial one is the writer's */
    if (to > p->target) {
        p->target = to;
        pthread_cond_signal(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
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
