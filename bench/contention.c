/* contention.c -- what a shared refcount costs when T threads read the same object.
 *
 * Each thread does OPS iterations of one pattern; prints ns/op (per thread) and the
 * aggregate throughput for each T given on the command line:
 *   shared-atomic   atomic incref + read + atomic decref on ONE shared counter
 *                   (free-threaded / shared-object refcounting)
 *   per-thread      the same on a counter per thread, each on its own cache line
 *   immortal        read the refcount, see it is immortal, skip the write (frost's path)
 *   racy-plain      plain (non-atomic) ++/-- on one shared counter: the cache line still
 *                   bounces; the count is wrong (a data race, shown for its cost only)
 *   false-sharing   atomic incref/decref on per-thread counters packed in one cache line
 *
 * Usage: contention [T ...] [-n OPS]      (default T: 1 2 4 ... up to the core count)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define IMMORTAL 0xFFFFFFFFu

typedef struct { _Alignas(64) _Atomic uint64_t v; char pad[56]; } line_t;

static _Alignas(64) _Atomic uint64_t shared_rc = 1;
static _Alignas(64) volatile uint64_t racy_rc = 1;
static _Alignas(64) volatile uint32_t immortal_rc = IMMORTAL;
static line_t per_thread[MAX_THREADS];
static _Alignas(64) _Atomic uint64_t packed[MAX_THREADS];   /* 8 per cache line */
static _Alignas(64) volatile uint64_t payload = 42;        /* "the object's field" */

typedef struct { int pattern, id; long ops; pthread_barrier_t *start; uint64_t sink; double ns; } job_t;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *run(void *arg) {
    job_t *j = arg;
    uint64_t sink = 0;
    pthread_barrier_wait(j->start);
    double t0 = now();
    switch (j->pattern) {
    case 0:
        for (long i = 0; i < j->ops; i++) {
            atomic_fetch_add_explicit(&shared_rc, 1, memory_order_relaxed);
            sink += payload;
            atomic_fetch_sub_explicit(&shared_rc, 1, memory_order_release);
        }
        break;
    case 1: {
        _Atomic uint64_t *c = &per_thread[j->id].v;
        for (long i = 0; i < j->ops; i++) {
            atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
            sink += payload;
            atomic_fetch_sub_explicit(c, 1, memory_order_release);
        }
        break;
    }
    case 2:
        for (long i = 0; i < j->ops; i++) {
            uint32_t rc = immortal_rc;   /* Py_INCREF on an immortal: read, compare, skip */
            if (rc != IMMORTAL) immortal_rc = rc + 1;
            sink += payload;
            rc = immortal_rc;
            if (rc != IMMORTAL) immortal_rc = rc - 1;
        }
        break;
    case 3:
        for (long i = 0; i < j->ops; i++) {
            racy_rc = racy_rc + 1;
            sink += payload;
            racy_rc = racy_rc - 1;
        }
        break;
    case 4: {
        _Atomic uint64_t *c = &packed[j->id];
        for (long i = 0; i < j->ops; i++) {
            atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
            sink += payload;
            atomic_fetch_sub_explicit(c, 1, memory_order_release);
        }
        break;
    }
    }
    j->ns = now() - t0;
    j->sink = sink;
    return NULL;
}

static const char *NAMES[] = {"shared-atomic", "per-thread", "immortal", "racy-plain",
                              "false-sharing"};

int main(int argc, char **argv) {
    long ops = 20000000;
    int ts[64], nt = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) ops = atol(argv[++i]);
        else if (nt < 64) ts[nt++] = atoi(argv[i]);
    }
    if (nt == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        for (int t = 1; t <= cores && nt < 64; t *= 2) ts[nt++] = t;
        if (ts[nt - 1] != cores && nt < 64) ts[nt++] = (int)cores;
    }
    printf("%-14s %4s %10s %14s %9s\n", "pattern", "T", "ns/op", "aggregate Mop/s", "vs T=1");
    for (int p = 0; p < 5; p++) {
        double base = 0;
        for (int k = 0; k < nt; k++) {
            int t = ts[k] < 1 ? 1 : ts[k] > MAX_THREADS ? MAX_THREADS : ts[k];
            pthread_t th[MAX_THREADS];
            job_t jobs[MAX_THREADS];
            pthread_barrier_t start;
            pthread_barrier_init(&start, NULL, (unsigned)t);
            for (int i = 0; i < t; i++) {
                jobs[i] = (job_t){.pattern = p, .id = i, .ops = ops, .start = &start};
                pthread_create(&th[i], NULL, run, &jobs[i]);
            }
            double worst = 0;
            for (int i = 0; i < t; i++) {
                pthread_join(th[i], NULL);
                if (jobs[i].ns > worst) worst = jobs[i].ns;
            }
            pthread_barrier_destroy(&start);
            double agg = (double)t * ops / worst * 1e3;   /* Mop/s */
            if (k == 0) base = agg / t;
            printf("%-14s %4d %10.2f %14.1f %8.2fx\n", NAMES[p], t, worst / ops, agg,
                   agg / base);
        }
    }
    return 0;
}
