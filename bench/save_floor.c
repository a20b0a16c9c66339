/*
 * save_floor.c -- the floor under Store.save of a big array (issue 17): the
 * format-2 writer's last pass (store/map_write.c, emit) rebuilt in C, one
 * choice at a time, next to what numpy.save does (a header write, fallocate
 * FALLOC_FL_KEEP_SIZE, one write() of the data), on 128 MB.
 *
 *   cmake --preset bench && cmake --build --preset bench --target save_floor
 *   (or: cc -O2 -I store bench/save_floor.c store/xxh3.c -o /tmp/save_floor)
 *   save_floor ROUNDS VARIANT...   (FLOOR_PATH=/dir/file picks the file; default
 *                                   /tmp/save_floor.bin)
 *
 * VARIANT: "numpy", "bare" (one write(), no fallocate), or
 * "OFFSET,CHUNK_KIB,FALLOC,SUM[,ALIGN]": the data at file offset OFFSET,
 * pwritten in CHUNK_KIB pieces into a temporary renamed over the file;
 * FALLOC 0 none, 1 the whole range first, 2 the same with KEEP_SIZE; SUM 0
 * none, 1 XXH3 of each chunk after writing it, 2 before; ALIGN 1: chunks end
 * at file offsets that are multiples of CHUNK_KIB. The writer since h/save is
 * "192,256,1,1,1". Variants run in turn, ROUNDS times, the file removed
 * (untimed) before each; each is reported by wall and process CPU time (best
 * and median), and its CPU median against the first variant's.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE   /* fallocate (CMake defines it for every target) */
#endif
#include "frost_snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DATA_SIZE ((size_t)128000000)
#define MAX_VARIANTS 32
#define MAX_ROUNDS 200

static unsigned char *data;
static const char *path;
static volatile uint64_t sink;

static double
clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int
by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int
run(const char *v)
{
    static const char header[128];
    if (strcmp(v, "numpy") == 0 || strcmp(v, "bare") == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            return -1;
        }
        int ok = 1;
        if (v[0] == 'n') {
            ok = write(fd, header, sizeof header) == (ssize_t)sizeof header
                 && fallocate(fd, FALLOC_FL_KEEP_SIZE, sizeof header, (off_t)DATA_SIZE) == 0;
        }
        ok = ok && write(fd, data, DATA_SIZE) == (ssize_t)DATA_SIZE;
        return close(fd) == 0 && ok ? 0 : -1;
    }
    size_t off = 0, chunk = 0;
    int falloc = 0, sum = 0, align = 0;
    if (sscanf(v, "%zu,%zu,%d,%d,%d", &off, &chunk, &falloc, &sum, &align) < 4 || chunk == 0) {
        return -1;
    }
    chunk <<= 10;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return -1;
    }
    int ok = falloc == 0 || fallocate(fd, falloc == 2 ? FALLOC_FL_KEEP_SIZE : 0, 0, (off_t)(off + DATA_SIZE)) == 0;
    frost_xxh3_t s;
    frost_xxh3_init(&s);
    for (size_t done = 0; ok && done < DATA_SIZE;) {
        size_t n = DATA_SIZE - done < chunk ? DATA_SIZE - done : chunk;
        if (align) {
            size_t to_boundary = chunk - (off + done) % chunk;
            n = n < to_boundary ? n : to_boundary;
        }
        if (sum == 2) {
            frost_xxh3_update(&s, data + done, n);
        }
        ok = pwrite(fd, data + done, n, (off_t)(off + done)) == (ssize_t)n;
        if (sum == 1) {
            frost_xxh3_update(&s, data + done, n);
        }
        done += n;
    }
    sink += frost_xxh3_digest(&s);
    ok = ok && pwrite(fd, header, sizeof header, 0) == (ssize_t)sizeof header
         && ftruncate(fd, (off_t)(off + DATA_SIZE)) == 0;
    ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
    return ok ? 0 : -1;
}

int
main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 0, n = argc - 2;
    if (rounds < 1 || rounds > MAX_ROUNDS || n < 1 || n > MAX_VARIANTS) {
        fprintf(stderr, "usage: %s ROUNDS(1-%d) VARIANT... (at most %d; see the source)\n", argv[0],
                MAX_ROUNDS, MAX_VARIANTS);
        return 2;
    }
    path = getenv("FLOOR_PATH") != NULL ? getenv("FLOOR_PATH") : "/tmp/save_floor.bin";
    data = aligned_alloc(4096, DATA_SIZE);
    if (data == NULL) {
        return 1;
    }
    for (size_t i = 0; i < DATA_SIZE; i++) {
        data[i] = (unsigned char)((i * 2654435761u) >> 13);
    }
    static double wall[MAX_VARIANTS][MAX_ROUNDS], cpu[MAX_VARIANTS][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < n; k++) {
            unlink(path);
            double w = clock_s(CLOCK_MONOTONIC), c = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            if (run(argv[k + 2]) < 0) {
                perror(argv[k + 2]);
                unlink(path);
                return 1;
            }
            cpu[k][r] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c;
            wall[k][r] = clock_s(CLOCK_MONOTONIC) - w;
        }
    }
    unlink(path);
    for (int k = 0; k < n; k++) {
        qsort(wall[k], (size_t)rounds, sizeof(double), by_value);
        qsort(cpu[k], (size_t)rounds, sizeof(double), by_value);
    }
    for (int k = 0; k < n; k++) {
        printf("%-16s wall best %6.2f med %6.2f ms | cpu best %6.2f med %6.2f ms | cpu med %.2fx the first\n",
               argv[k + 2], wall[k][0] * 1e3, wall[k][rounds / 2] * 1e3, cpu[k][0] * 1e3,
               cpu[k][rounds / 2] * 1e3, cpu[k][rounds / 2] / cpu[0][rounds / 2]);
    }
    return 0;
}
