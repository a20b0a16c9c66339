/*
 * map_write.c -- the format-2 writer: a sealed arena graph (frost_nodes.h)
 * to an image read in place (frost_map.h), written to a file descriptor.
 *
 * One pass, into one growable anonymous mapping (mremap grows it without
 * copying; untouched bytes are zero, which is every padding byte's value):
 *   - a container node is *reserved* (its bytes allocated, its ref memoized)
 *     the first time a reference to it is encoded, and queued; it is *filled*
 *     (its items encoded) when the queue reaches it. So a reference back to a
 *     container already reserved just gets its ref: sharing and cycles are
 *     kept, and nothing recurses (deep lists make a long queue, not a deep C
 *     stack). The queue is FIFO: nodes are filled in the order they were first
 *     referred to, so a container's items lie near it and in order;
 *   - leaves are encoded when met: inline when they fit in the ref, else their
 *     bytes are appended. Containers need the exact memo (identity, cycles);
 *     leaves do not (they are materialized into fresh objects on access), so
 *     out-of-line strs/bytes and leaf tuples go through a small direct-mapped
 *     cache by arena address instead: what freeze shared and the graph repeats
 *     often (record keys, repeated values) is written once, and a graph of
 *     unique leaves (W1) pays no memo of millions of entries. Floats,
 *     complexes and big ints are always copied (8..24 bytes);
 *   - short strs/bytes are packed into shared blocks (POOL_BLOCK), so their
 *     1-aligned bytes do not cost 8-alignment padding between nodes (W1: ~6
 *     bytes an entry);
 *   - tables are rebuilt with the image's keyed hash (map_hash.c);
 *   - payloads of BULK_MIN bytes or more that lie in the arena (array data,
 *     table blobs, long bytes and strs) are only reserved and noted (bulk_t):
 *     the buffer never holds them.
 * Then a last pass (emit_body) over the body in image order: each bulk
 * payload pwritten from the arena a chunk at a time, each chunk fed to the
 * XXH3 body checksum right after (FROST_MAP_FLAG_BODY_XXH3; none when
 * args->no_body_checksum: frost.share's sealed memfd,
 * FROST_MAP_FLAG_NO_BODY_CHECKSUM), the rest from the buffer; then the header.
 * The buffer is the target file itself, mapped shared, when the fd allows it
 * (a regular file or memfd open O_RDWR: no copy, no pwrite of it; ranges
 * fallocated before use, so a full disk is OSError, never SIGBUS; bulk
 * ranges past the mapping are never mapped into use: fallocated together
 * just before the last pass (allocate_bulk), then pwritten in chunks that end
 * on EMIT_CHUNK-aligned file offsets); else an anonymous mapping, pwritten by
 * the last pass. Invariant:
 * no byte of a bulk range is written through the buffer, and every other
 * image byte past the buffer's end is padding (zero).
 *
 * Arena invariants relied on (freeze.c): arena objects are exact str, bytes,
 * int, float, complex or tuple (of those), or a static singleton; dict keys
 * and set items are objects; records hold str module/qualname; a COLUMNS
 * node's blob passed frost__colblob_check (it is copied byte for byte: it is
 * position-independent). Anything else met (an unknown kind) is refused with
 * FreezeError naming its path (found by a second, error-only walk: find_path).
 *
 * Runs with the GIL held (signals, the progress callback, FreezeError); reads
 * only the sealed arena, which the caller keeps alive. In file mode, Python
 * code that runs meanwhile (the progress callback, signal handlers) could
 * shrink the file under the mapping: the size is checked after each such call
 * (still_mapped), so that is an OSError, not a SIGBUS; after the last progress
 * call, the image complete, a regular file must be exactly the image
 * (still_whole), else OSError. Another process (or a
 * thread already blocked in ftruncate) shrinking the file during the write is
 * not guarded against, as for format 1's save (which checks after its
 * progress callback the same way: snapshot.c writer_step).
 */
#include <Python.h>

#include "frost_columns.h"
#include "frost_map.h"
#include "frost_map_pager.h"
#include "frost_nodes.h"
#include "frost_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ || UINTPTR_MAX != UINT64_MAX
#  error "format 2 is implemented for 64-bit little-endian platforms"
#endif

#define INITIAL_CAPACITY ((size_t)1 << 20)
#define FILE_GROW_MIN ((size_t)4 << 20)
#define WINDOW_MIN ((size_t)64 << 20)     /* file window: twice the arena, at least this */
#define WINDOW_MAX ((size_t)1 << 40)      /* ... and at most this (address space, not memory) */
#define PAGER_FROM ((size_t)16 << 20)     /* arenas past this get a pager thread */
#define HASHER_FROM 16384                 /* tables this long hash their keys on a helper thread */
#define INLINE_MAX 7                          /* bytes of an inline str/bytes */
#define INT_INLINE_MIN (-((int64_t)1 << 59))
#define INT_INLINE_MAX (((int64_t)1 << 59) - 1)
#define BIGINT_MAX_BYTES ((uint64_t)1 << 24)
#define LEAF_CACHE_SLOTS ((size_t)1 << 12)   /* 64 KiB: stays in L2; catches what repeats often */
#define POOL_BLOCK 4096     /* short strs/bytes share blocks: no 8-alignment padding each */
#define POOL_DIRECT 512
#define PREFETCH_AHEAD 16   /* table index inserts prefetched this many entries ahead */
#define BULK_MIN ((size_t)1 << 20)   /* payloads this big are written from the arena at the end */
#define EMIT_CHUNK ((size_t)1 << 18) /* the last pass: checksummed while in L2, then written */
#define EMIT_CHECK_EVERY 16          /* chunks between signal checks in the last pass */

/* ------------------------------------------------------------------------ */
/* the writer's state                                                       */

typedef struct {
    uintptr_t key;      /* arena address (untagged); 0 = empty */
    frost_mref_t ref;
} memo_slot_t;

typedef struct {
    uintptr_t src;      /* tagged frost_ref_t: a node, or an arena tuple object */
    uint64_t off;       /* its reserved node in the image */
} work_t;

/* A bulk payload: image bytes [at, at + len) are the arena's bytes at src,
 * written by the last pass (emit_body), never through the buffer. */
typedef struct {
    uint64_t at;
    const void *src;
    size_t len;
} bulk_t;

typedef struct {
    int fd;               /* file mode: the target, mapped as the buffer; -1: anonymous */
    unsigned char *buf;   /* the image so far */
    size_t size, cap;     /* file mode: cap = what is allocated and mapped */
    size_t window;        /* file mode: buf maps this many bytes of the file, never moved
                             (the pager's addresses stay valid); 0: mapped over cap */
    frost_map_pager_t *pager;   /* window mode, large arenas: maps what is allocated, or NULL */
    struct hasher *hasher;      /* the table being filled hashes on a helper thread, or NULL */
    uint64_t hash_key[2];
    memo_slot_t *memo;
    size_t memo_mask, memo_used;
    memo_slot_t *cache;  /* leaves: direct-mapped, lossy (LEAF_CACHE_SLOTS) */
    work_t *queue;
    size_t qhead, qlen, qcap;
    uint64_t pool_at, pool_end;   /* the free part of the current bytes block */
    bulk_t *bulk;         /* in image order; none overlaps a byte written through buf */
    size_t nbulk, bulkcap;
    size_t bulk_end;      /* the end of the last bulk payload (0: none) */
    size_t bulk_bytes;    /* their total length */
    int emitting;         /* the last pass began: in anonymous mode the fd holds part of the image */
    uint64_t nnodes;
    uint64_t items;     /* refs encoded, for progress and signal checks */
    const frost_map_write_args_t *args;
    frost_ref_t bad;    /* the node refused (for find_path), 0 if none */
    int helpers;        /* helper threads can run beside the writer: 1, 0, or -1 not asked yet */
} writer_t;

/* Whether a helper thread (the pager, the hasher) gets a CPU of its own: the
 * calling thread may run on more than one (its affinity mask, which the helpers
 * inherit: taskset, a cgroup cpuset or sched_setaffinity narrow it, while
 * sysconf(_SC_NPROCESSORS_ONLN) counts CPUs the process may not use, and one
 * CPU shared with the writer only adds switches). Asked once per write, when
 * first needed (a mask can change between writes): one system call, where
 * sysconf read /sys/devices/system/cpu/online each time. */
static int
helpers_can_run(writer_t *w)
{
    if (w->helpers < 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        w->helpers = sched_getaffinity(0, sizeof set, &set) == 0
                     ? CPU_COUNT(&set) > 1
                     : sysconf(_SC_NPROCESSORS_ONLN) > 1;   /* EINVAL: a mask wider than cpu_set_t */
    }
    return w->helpers;
}

/* Grow the image to hold `need` bytes. File mode (w->fd >= 0): the file
 * itself is the buffer, mapped shared; each new range is allocated with
 * fallocate first, so a full disk is an OSError here, never a SIGBUS on a
 * store, and prefaulted in one call. Bulk payloads past the old mapping are
 * neither allocated nor prefaulted here (allocate_bulk and the last pass's
 * pwrites do that): the new
 * range starts after the last one, and grows by a quarter of the bytes
 * written through the buffer, not of the image. */
static int grow_in_window(writer_t *w, size_t from, size_t cap);
static void leave_window(writer_t *w);
static void hasher_join(struct hasher *h);

/* MemoryError naming what could not be allocated and its size (a bare MemoryError
 * said nothing: under RLIMIT_AS, frost.share and Store.save's format 2), and the
 * system's reason when `err` is one (mmap's errno; PyMem sets none reliably); -1. */
static int
no_memory(const char *what, size_t bytes, int err)
{
    PyErr_Format(PyExc_MemoryError, "frost: cannot allocate %zu bytes for %s while writing "
                 "an image%s%s", bytes, what, err ? ": " : "", err ? strerror(err) : "");
    return -1;
}

static int
grow(writer_t *w, size_t need)
{
    size_t from = w->cap;
    if (w->fd >= 0 && w->bulk_end > from) {
        from = w->bulk_end;
    }
    size_t cap = from ? from : INITIAL_CAPACITY;
    size_t step = (w->size - w->bulk_bytes) / 4 > FILE_GROW_MIN ? (w->size - w->bulk_bytes) / 4 : FILE_GROW_MIN;
    while (cap < need) {
        if (cap > SIZE_MAX / 4) {
            return no_memory("the image's buffer", need, 0);
        }
        /* file mode allocates what it maps: grow by a quarter, not double */
        cap = w->fd >= 0 ? cap + step : cap * 2;
    }
    if (w->window != 0) {
        if (cap <= w->window) {
            return grow_in_window(w, from, cap);
        }
        leave_window(w);   /* an image larger than its window: mremap from here on */
    }
    /* (the first range was fallocated by start(), which tried file mode with it) */
    if (w->fd >= 0 && w->buf != NULL && fallocate(w->fd, 0, (off_t)from, (off_t)(cap - from)) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    void *p = w->buf != NULL ? mremap(w->buf, w->cap, cap, MREMAP_MAYMOVE)
              : w->fd >= 0 ? mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0)
              : mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        if (w->fd >= 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        return no_memory("the image's buffer (an anonymous mapping)", cap, errno);
    }
#ifdef MADV_POPULATE_WRITE
    if (w->fd >= 0) {
        (void)madvise((char *)p + from, cap - from, MADV_POPULATE_WRITE);   /* a hint */
    }
#endif
    w->buf = p;
    w->cap = cap;
    return 0;
}

/* Window mode (file mode where the file could be mapped over `window` bytes
 * at once): growing is fallocate of the next range, at the same address; the
 * pager (frost_map_pager.h), started for large arenas, maps the pages on
 * another core while the writer goes on, else the writer populates them. */
static int
grow_in_window(writer_t *w, size_t from, size_t cap)
{
    if (fallocate(w->fd, 0, (off_t)from, (off_t)(cap - from)) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (frost__map_pager_add(w->pager, from, cap) < 0) {
#ifdef MADV_POPULATE_WRITE
        (void)madvise(w->buf + from, cap - from, MADV_POPULATE_WRITE);   /* a hint */
#endif
    }
    w->cap = cap;
    return 0;
}

/* Give up the window (the image outgrew it): stop the pager and unmap what
 * lies past cap, so the mapping is an ordinary one of cap bytes again. */
static void
leave_window(writer_t *w)
{
    hasher_join(w->hasher);   /* it may write into the buffer, which may now move */
    frost__map_pager_stop(w->pager);
    w->pager = NULL;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t keep = (w->cap + page - 1) & ~(page - 1);
    if (keep < w->window) {
        (void)munmap(w->buf + keep, w->window - keep);
    }
    w->cap = keep;   /* allocated: fallocate rounds nothing down, and the file is >= cap */
    w->window = 0;
}

/* Map the file just fallocated over [0, INITIAL_CAPACITY) as a window a good
 * deal larger than the image is likely to be (the arena's size is a bound
 * for all but a few graphs: leaf tuples and small ints are shared there).
 * 0, or -1 (no exception: the caller maps it the ordinary way). */
static int
map_window(writer_t *w)
{
    uint64_t hint = w->args->size_hint;
    size_t window = (size_t)WINDOW_MIN;
    if (hint < (uint64_t)WINDOW_MAX / 2 && 2 * (size_t)hint > window) {
        window = ((2 * (size_t)hint) + (WINDOW_MIN - 1)) & ~(size_t)(WINDOW_MIN - 1);
    }
    else if (hint >= (uint64_t)WINDOW_MAX / 2) {
        window = (size_t)WINDOW_MAX;
    }
    void *p = mmap(NULL, window, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, w->fd, 0);
    if (p == MAP_FAILED) {
        return -1;
    }
#ifdef MADV_POPULATE_WRITE
    (void)madvise(p, INITIAL_CAPACITY, MADV_POPULATE_WRITE);   /* a hint */
#endif
    w->buf = p;
    w->window = window;
    w->cap = INITIAL_CAPACITY;
    if (hint >= PAGER_FROM && helpers_can_run(w)) {
        w->pager = frost__map_pager_start(w->buf);   /* NULL: no pager */
    }
    return 0;
}

/* Unmap the image buffer (stopping the pager first: it uses the mapping). */
static int
unmap_buffer(writer_t *w)
{
    frost__map_pager_stop(w->pager);
    w->pager = NULL;
    int rc = munmap(w->buf, w->window != 0 ? w->window : w->cap);
    w->buf = NULL;
    return rc;
}

/* Reserve `n` zero bytes at an `align`-aligned offset: the offset, or -1. */
static inline int64_t
reserve(writer_t *w, size_t n, size_t align)
{
    size_t at = (w->size + align - 1) & ~(align - 1);
    if (at + n > w->cap && grow(w, at + n) < 0) {
        return -1;
    }
    w->size = at + n;
    return (int64_t)at;
}

/* `n` bytes of `src` at an `align`-aligned offset: the offset, or -1. Small
 * ones are copied into the buffer now; from BULK_MIN on, `src` (arena bytes,
 * alive until the write ends) is only noted, for the last pass to checksum
 * and pwrite straight to the file: no copy into the buffer, no page of the
 * buffer zeroed for it. */
static int64_t
reserve_bulk(writer_t *w, const void *src, size_t n, size_t align)
{
    if (n < BULK_MIN) {
        int64_t at = reserve(w, n, align);
        if (at >= 0) {
            memcpy(w->buf + at, src, n);
        }
        return at;
    }
    if (w->nbulk == w->bulkcap) {
        size_t cap = w->bulkcap ? w->bulkcap * 2 : 16;
        bulk_t *b = PyMem_Realloc(w->bulk, cap * sizeof *b);
        if (b == NULL) {
            return no_memory("the list of bulk payloads", cap * sizeof *b, 0);
        }
        w->bulk = b;
        w->bulkcap = cap;
    }
    size_t at = (w->size + align - 1) & ~(align - 1);
    w->bulk[w->nbulk++] = (bulk_t){at, src, n};
    w->size = w->bulk_end = at + n;
    w->bulk_bytes += n;
    return (int64_t)at;
}

static inline void
put64(writer_t *w, uint64_t off, uint64_t v)
{
    memcpy(w->buf + off, &v, 8);
}

static inline size_t
memo_index(uintptr_t key, size_t mask)
{
    uint64_t x = (uint64_t)key;   /* splitmix64: addresses are strided */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return (size_t)(x ^ (x >> 31)) & mask;
}

static inline frost_mref_t
memo_get(const writer_t *w, uintptr_t key)
{
    for (size_t i = memo_index(key, w->memo_mask);; i = (i + 1) & w->memo_mask) {
        if (w->memo[i].key == key) {
            return w->memo[i].ref;
        }
        if (w->memo[i].key == 0) {
            return 0;   /* no valid ref is 0 here: refs of memoized things are never SPECIAL */
        }
    }
}

static int
memo_put(writer_t *w, uintptr_t key, frost_mref_t ref)
{
    if ((w->memo_used + 1) * 2 > w->memo_mask + 1) {
        size_t n = (w->memo_mask + 1) * 2;
        memo_slot_t *slots = PyMem_Calloc(n, sizeof *slots);
        if (slots == NULL) {
            return no_memory("the memo of written containers", n * sizeof *slots, 0);
        }
        for (size_t j = 0; j <= w->memo_mask; j++) {
            if (w->memo[j].key != 0) {
                size_t i = memo_index(w->memo[j].key, n - 1);
                while (slots[i].key != 0) {
                    i = (i + 1) & (n - 1);
                }
                slots[i] = w->memo[j];
            }
        }
        PyMem_Free(w->memo);
        w->memo = slots;
        w->memo_mask = n - 1;
    }
    size_t i = memo_index(key, w->memo_mask);
    while (w->memo[i].key != 0) {
        i = (i + 1) & w->memo_mask;
    }
    w->memo[i] = (memo_slot_t){key, ref};
    w->memo_used++;
    return 0;
}

/* the leaf cache's slot: arena objects are at least 16-aligned and lie in
 * sequence, so the low bits above the alignment spread them (no multiply) */
static inline size_t
cache_index(uintptr_t key)
{
    return (size_t)((key >> 4) ^ (key >> 20)) & (LEAF_CACHE_SLOTS - 1);
}

static inline frost_mref_t
cache_get(const writer_t *w, uintptr_t key)
{
    const memo_slot_t *s = &w->cache[cache_index(key)];
    return s->key == key ? s->ref : 0;
}

static inline void
cache_put(writer_t *w, uintptr_t key, frost_mref_t ref)
{
    w->cache[cache_index(key)] = (memo_slot_t){key, ref};
}

static int
enqueue(writer_t *w, uintptr_t src, uint64_t off)
{
    if (w->qhead + w->qlen == w->qcap) {
        if (w->qhead > w->qcap / 2) {   /* slide the live part down */
            memmove(w->queue, w->queue + w->qhead, w->qlen * sizeof *w->queue);
            w->qhead = 0;
        }
        else {
            size_t cap = w->qcap ? w->qcap * 2 : 1024;
            work_t *q = PyMem_Realloc(w->queue, cap * sizeof *q);
            if (q == NULL) {
                return no_memory("the queue of containers to write", cap * sizeof *q, 0);
            }
            w->queue = q;
            w->qcap = cap;
        }
    }
    w->queue[w->qhead + w->qlen++] = (work_t){src, off};
    w->nnodes++;
    return 0;
}

/* File mode, after Python code ran (a signal handler, the progress callback,
 * other threads meanwhile): the file must still cover the mapping, or the
 * next store into it would be a SIGBUS. Shrunk: OSError, and nothing more is
 * written through the mapping. */
static int
still_mapped(writer_t *w)
{
    struct stat st;
    if (w->fd < 0) {
        return 0;
    }
    if (fstat(w->fd, &st) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if ((uint64_t)st.st_size < w->cap) {
        errno = EIO;
        PyErr_SetString(PyExc_OSError, "frost: the file was truncated while the image was written into it");
        return -1;
    }
    return 0;
}

/* After the last progress call (Python code), the image written: a regular
 * file must still be exactly the image (the writer's contract; frost.share
 * maps it at that size, Store.save renames it over its target). Else OSError,
 * and the caller's failure path empties it. */
static int
still_whole(int fd, uint64_t size)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size != size) {
        PyErr_SetString(PyExc_OSError, "frost: the file was truncated or extended by the progress "
                        "callback after the image was written into it");
        return -1;
    }
    return 0;
}

/* One more item encoded: every FROST_MAP_WRITE_PROGRESS_EVERY, check signals
 * and report progress. */
static inline int
step(writer_t *w)
{
    if (++w->items % FROST_MAP_WRITE_PROGRESS_EVERY != 0) {
        return 0;
    }
    const frost_map_write_args_t *a = w->args;
    if (PyErr_CheckSignals() < 0 || (a->progress != NULL && a->progress(a->progress_ctx, w->items, 0) < 0)) {
        return -1;
    }
    return still_mapped(w);
}

/* ------------------------------------------------------------------------ */
/* leaves                                                                   */

/* Copy `len` (8..POOL_DIRECT) bytes; up to 16 with two overlapping 8-byte
 * moves instead of a call (reads and writes stay inside the `len` bytes). */
static inline void
copy_short(unsigned char *to, const char *from, size_t len)
{
    if (len <= 16) {
        uint64_t a, b;
        memcpy(&a, from, 8);
        memcpy(&b, from + len - 8, 8);
        memcpy(to, &a, 8);
        memcpy(to + len - 8, &b, 8);
    }
    else {
        memcpy(to, from, len);
    }
}

/* str/bytes bytes: inline, or out of line (memoized by `addr`). `in_arena`:
 * `data` lies in the arena (not a UTF-8 copy made for this call), so a long
 * one may be a bulk payload. */
static int
encode_bytes(writer_t *w, uintptr_t addr, const char *data, size_t len, int is_str, int in_arena,
             frost_mref_t *out)
{
    if (len <= INLINE_MAX) {
        uint64_t packed = 0;
        memcpy(&packed, data, len);
        *out = (packed << 8) | ((uint64_t)len << 4)
               | (is_str ? FROST_MREF_STR_INLINE : FROST_MREF_BYTES_INLINE);
        return 0;
    }
    frost_mref_t seen = cache_get(w, addr);
    if (seen != 0) {
        *out = seen;
        return 0;
    }
    unsigned tag = is_str ? FROST_MREF_STR : FROST_MREF_BYTES;
    int64_t at;
    if (len <= POOL_DIRECT) {
        if (w->pool_at + len > w->pool_end) {
            int64_t block = reserve(w, POOL_BLOCK, 8);
            if (block < 0) {
                return -1;
            }
            w->pool_at = (uint64_t)block;
            w->pool_end = (uint64_t)block + POOL_BLOCK;
        }
        at = (int64_t)w->pool_at;
        w->pool_at += len;
        copy_short(w->buf + at, data, len);
        *out = ((uint64_t)at << 20) | ((uint64_t)len << 4) | tag;
    }
    else if (len < FROST_MREF_LONG_LEN) {
        if ((at = reserve(w, len, 1)) < 0) {
            return -1;
        }
        memcpy(w->buf + at, data, len);
        *out = ((uint64_t)at << 20) | ((uint64_t)len << 4) | tag;
    }
    else {
        if ((at = reserve(w, 8, 8)) < 0) {
            return -1;
        }
        put64(w, (uint64_t)at, len);
        /* right after the length word: the size is 8-aligned */
        int64_t bytes_at = in_arena ? reserve_bulk(w, data, len, 1) : reserve(w, len, 1);
        if (bytes_at < 0) {
            return -1;
        }
        if (!in_arena) {
            memcpy(w->buf + bytes_at, data, len);
        }
        *out = ((uint64_t)at << 20) | ((uint64_t)FROST_MREF_LONG_LEN << 4) | tag;
    }
    if ((uint64_t)at > FROST_MREF_MAX_BYTE_OFFSET) {
        PyErr_SetString(PyExc_OverflowError, "frost: the image is larger than format 2 allows (16 TiB)");
        return -1;
    }
    cache_put(w, addr, *out);
    return 0;
}

static int
encode_int(writer_t *w, PyObject *o, frost_mref_t *out)
{
    if (PyUnstable_Long_IsCompact((PyLongObject *)o)) {
        *out = ((uint64_t)(int64_t)PyUnstable_Long_CompactValue((PyLongObject *)o) << 4) | FROST_MREF_INT;
        return 0;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow && v >= INT_INLINE_MIN && v <= INT_INLINE_MAX) {
        *out = ((uint64_t)(int64_t)v << 4) | FROST_MREF_INT;
        return 0;
    }
    if (!overflow && v == -1 && PyErr_Occurred()) {
        return -1;
    }
    size_t nbits = _PyLong_NumBits(o);   /* of |o| */
    if (nbits == (size_t)-1 && PyErr_Occurred()) {
        return -1;
    }
    uint64_t n = nbits / 8 + 1;          /* room for the sign bit */
    if (n > BIGINT_MAX_BYTES) {
        PyErr_SetString(PyExc_OverflowError, "frost: an int of more than 2**24 bytes cannot be in format 2");
        return -1;
    }
    int64_t at = reserve(w, 8 + n, 8);
    if (at < 0) {
        return -1;
    }
    unsigned char *b = w->buf + at + 8;
#if PY_VERSION_HEX >= 0x030D0000
    int rc = _PyLong_AsByteArray((PyLongObject *)o, b, (size_t)n, 1, 1, 1);
#else
    int rc = _PyLong_AsByteArray((PyLongObject *)o, b, (size_t)n, 1, 1);
#endif
    if (rc < 0) {
        return -1;
    }
    while (n > 1 && ((b[n - 1] == 0x00 && !(b[n - 2] & 0x80)) || (b[n - 1] == 0xFF && (b[n - 2] & 0x80)))) {
        b[--n] = 0;   /* minimal: drop redundant sign bytes */
    }
    put64(w, (uint64_t)at, n);
    w->size = (size_t)at + 8 + n;
    *out = frost_mref_at8((uint64_t)at, FROST_MREF_BIGINT);
    return 0;
}

/* The bytes of a node for arena node `n` (0: a kind format 2 cannot hold). */
static size_t
node_size(const frost_node_t *n)
{
    switch (n->kind) {
    case FROST_NODE_DICT:
    case FROST_NODE_SET: {
        uint64_t len = (uint64_t)(n->kind == FROST_NODE_DICT ? ((const frost_table_t *)n)->len
                                                             : ((const frost_set_t *)n)->len);
        unsigned log2 = FROST_MAP_TABLE_MIN_LOG2;
        while (((uint64_t)2 << log2) < 3 * len) {
            log2++;
        }
        if (log2 > FROST_MAP_TABLE_MAX_LOG2) {
            return 0;
        }
        return (size_t)frost_map_table_size(len, log2, n->kind == FROST_NODE_DICT);
    }
    case FROST_NODE_LIST:
    case FROST_NODE_TUPLE:
        return 8 + 8 * (size_t)((const frost_seq_t *)n)->len;
    case FROST_NODE_RECORD:
        return 32;
    case FROST_NODE_ARRAY:
        return FROST_MAP_ARRAY_FIXED + 8 * (size_t)((const frost_array_t *)n)->ndim;
    case FROST_NODE_COLUMNS:
        return FROST_MAP_COLUMNS_SIZE;
    }
    return 0;
}

/* Reserve a node of `size` bytes for `src` and queue it. */
static int
reserve_node(writer_t *w, uintptr_t src, size_t size, frost_mref_t *out)
{
    int64_t at = reserve(w, size, 8);
    if (at < 0) {
        return -1;
    }
    *out = frost_mref_at8((uint64_t)at, FROST_MREF_NODE);
    return enqueue(w, src, (uint64_t)at);
}

/* Whether arena tuple `t` holds no tuple (so encoding its items recurses no further). */
static inline int
tuple_of_leaves(PyObject *t)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        if (Py_TYPE(PyTuple_GET_ITEM(t, i)) == &PyTuple_Type) {
            return 0;
        }
    }
    return 1;
}

static int encode_other(writer_t *w, frost_ref_t r, frost_mref_t *out);

/* A float whose 4 low mantissa bits are 0 sits in its reference: 1 with *out set, else 0. */
static inline int
float_inline(PyObject *o, frost_mref_t *out)
{
    uint64_t bits;
    double d = PyFloat_AS_DOUBLE(o);
    memcpy(&bits, &d, 8);
    if ((bits & 0xF) != 0) {
        return 0;
    }
    *out = bits | FROST_MREF_FLOAT_INLINE;
    return 1;
}

/* The image ref of arena reference `r`: leaves are written now (tuples of
 * leaves too: one level of recursion at most), containers reserved and queued.
 * The commonest leaves (ASCII strs, one-digit ints, inline floats) here, inlined into the
 * loops over items; the rest in encode_other. */
static inline int
encode(writer_t *w, frost_ref_t r, frost_mref_t *out)
{
    if (step(w) < 0) {
        return -1;
    }
    if (!frost_ref_is_node(r)) {
        PyObject *o = frost_ref_object(r);
        PyTypeObject *tp = Py_TYPE(o);
        if (tp == &PyUnicode_Type && PyUnicode_IS_ASCII(o)) {
            return encode_bytes(w, (uintptr_t)o, PyUnicode_DATA(o), (size_t)PyUnicode_GET_LENGTH(o), 1, 1, out);
        }
        if (tp == &PyLong_Type && PyUnstable_Long_IsCompact((PyLongObject *)o)) {
            *out = ((uint64_t)(int64_t)PyUnstable_Long_CompactValue((PyLongObject *)o) << 4) | FROST_MREF_INT;
            return 0;
        }
        if (tp == &PyFloat_Type && float_inline(o, out)) {
            return 0;
        }
    }
    return encode_other(w, r, out);
}

static int
encode_other(writer_t *w, frost_ref_t r, frost_mref_t *out)
{
    if (frost_ref_is_node(r)) {
        const frost_node_t *n = frost_ref_node(r);
        frost_mref_t seen = memo_get(w, (uintptr_t)n);
        if (seen != 0) {
            *out = seen;
            return 0;
        }
        size_t size = node_size(n);
        if (size == 0) {
            w->bad = r;
            return -1;
        }
        return (reserve_node(w, r, size, out) < 0 || memo_put(w, (uintptr_t)n, *out) < 0) ? -1 : 0;
    }
    PyObject *o = frost_ref_object(r);
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyUnicode_Type) {
        if (PyUnicode_IS_ASCII(o)) {
            return encode_bytes(w, (uintptr_t)o, PyUnicode_DATA(o), (size_t)PyUnicode_GET_LENGTH(o), 1, 1, out);
        }
        char scratch[FROST_MAP_UTF8_SCRATCH], *heap;
        const char *data;
        size_t len;
        if (frost_map_str_utf8(o, scratch, &heap, &data, &len) < 0) {
            return -1;
        }
        int rc = encode_bytes(w, (uintptr_t)o, data, len, 1, heap == NULL && data != scratch, out);
        PyMem_Free(heap);
        return rc;
    }
    if (tp == &PyLong_Type) {
        return encode_int(w, o, out);
    }
    if (tp == &PyFloat_Type) {
        if (float_inline(o, out)) {
            return 0;
        }
        int64_t at = reserve(w, 8, 8);
        if (at < 0) {
            return -1;
        }
        double d = PyFloat_AS_DOUBLE(o);
        memcpy(w->buf + at, &d, 8);   /* the double's bytes (little-endian, as put64 writes) */
        *out = frost_mref_at8((uint64_t)at, FROST_MREF_FLOAT);
        return 0;
    }
    if (tp == &PyTuple_Type) {
        Py_ssize_t n = PyTuple_GET_SIZE(o);
        if (n == 0) {
            *out = FROST_MREF_MAKE_SPECIAL(FROST_MSPECIAL_EMPTY_TUPLE);
            return 0;
        }
        frost_mref_t seen = cache_get(w, (uintptr_t)o);
        if (seen != 0) {
            *out = seen;
            return 0;
        }
        if (tuple_of_leaves(o)) {   /* written now, while it is in the cache */
            int64_t at = reserve(w, 8 + 8 * (size_t)n, 8);
            if (at < 0) {
                return -1;
            }
            w->nnodes++;
            put64(w, (uint64_t)at, frost_mnode_head(FROST_MNODE_TUPLE, 0, (uint64_t)n));
            for (Py_ssize_t i = 0; i < n; i++) {
                frost_mref_t item;
                if (encode(w, (frost_ref_t)PyTuple_GET_ITEM(o, i), &item) < 0) {   /* a leaf: no deeper */
                    return -1;
                }
                put64(w, (uint64_t)at + 8 + 8 * (uint64_t)i, item);
            }
            *out = frost_mref_at8((uint64_t)at, FROST_MREF_NODE);
        }
        else if (reserve_node(w, (uintptr_t)o, 8 + 8 * (size_t)n, out) < 0) {
            return -1;
        }
        cache_put(w, (uintptr_t)o, *out);
        return 0;
    }
    if (tp == &PyBytes_Type) {
        return encode_bytes(w, (uintptr_t)o, PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o), 0, 1, out);
    }
    if (o == Py_None) {
        *out = FROST_MREF_MAKE_SPECIAL(FROST_MSPECIAL_NONE);
        return 0;
    }
    if (o == Py_True || o == Py_False) {
        *out = FROST_MREF_MAKE_SPECIAL(o == Py_True ? FROST_MSPECIAL_TRUE : FROST_MSPECIAL_FALSE);
        return 0;
    }
    if (o == Py_Ellipsis) {
        *out = FROST_MREF_MAKE_SPECIAL(FROST_MSPECIAL_ELLIPSIS);
        return 0;
    }
    if (tp == &PyComplex_Type) {
        int64_t at = reserve(w, 16, 8);
        if (at < 0) {
            return -1;
        }
        memcpy(w->buf + at, &((PyComplexObject *)o)->cval, 16);
        *out = frost_mref_at8((uint64_t)at, FROST_MREF_COMPLEX);
        return 0;
    }
    w->bad = r;   /* not an arena object kind: cannot happen for a sealed graph */
    return -1;
}

/* ------------------------------------------------------------------------ */
/* nodes                                                                    */

/* Encode `n` refs from `refs` (stride `stride` refs) into the node at `off`, items from +8. */
static int
fill_refs(writer_t *w, uint64_t off, const frost_ref_t *refs, Py_ssize_t n, Py_ssize_t stride)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        frost_mref_t ref;
        if (i + PREFETCH_AHEAD < n) {
            __builtin_prefetch((const void *)(refs[(i + PREFETCH_AHEAD) * stride] & ~(uintptr_t)1));
        }
        if (encode(w, refs[i * stride], &ref) < 0) {
            return -1;
        }
        put64(w, off + 8 + 8 * (uint64_t)i, ref);
    }
    return 0;
}

/* The index of a table at `slots` (mask + 1 of them) over the hashes `hv`:
 * entry numbers by linear probing, inserted in order. The inserts are random
 * over an index that may be far bigger than the caches, and misses overlap
 * only when prefetched. Stops early (-1) when *stop becomes set. */
static int
build_index(uint32_t *slots, uint64_t mask, const uint64_t *hv, uint64_t len, const atomic_int *stop)
{
    memset(slots, 0xFF, (size_t)(mask + 1) * 4);   /* FROST_MAP_EMPTY_SLOT */
    for (uint64_t i = 0; i < len; i++) {
        if (stop != NULL && (i & 4095) == 0 && atomic_load_explicit(stop, memory_order_relaxed)) {
            return -1;
        }
        if (i + PREFETCH_AHEAD < len) {
            __builtin_prefetch(&slots[hv[i + PREFETCH_AHEAD] & mask], 1);
        }
        uint64_t slot = hv[i] & mask;
        while (slots[slot] != FROST_MAP_EMPTY_SLOT) {
            slot = (slot + 1) & mask;
        }
        slots[slot] = (uint32_t)i;
    }
    return 0;
}

/* The table's hash_lo array at `out`. */
static void
put_hash_lows(unsigned char *out, const uint64_t *hv, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++) {
        uint32_t lo = (uint32_t)hv[i];
        memcpy(out + 4 * i, &lo, 4);
    }
}

/* Key i of a dict node (`dict`) or a set node (`set`) in insertion order. */
static inline frost_ref_t
table_key(const frost_table_t *dict, const frost_set_t *set, uint64_t i)
{
    return dict != NULL ? dict->entries[i].key : frost_set_item(set, (Py_ssize_t)i);
}

/* The hasher: a large table's keyed hashes (HASHER_FROM entries and more,
 * more than one CPU), computed on a helper thread while the writer encodes
 * the table's entries. It calls only frost_map_entry_key_hash_nogil on arena keys,
 * which no thread changes; the keys it cannot do (tuples, non-ASCII strs,
 * what is no key) it leaves to the writer (done[i] == 0), which hashes them
 * with the GIL after joining it. When it did every key and the image buffer
 * cannot move (window mode: w->buf is fixed until unmap_buffer, which the
 * writer cannot reach before joining), it also writes the hash_lo array and
 * builds the index, in the table's own reserved bytes, which nothing else
 * writes. */
typedef struct hasher {
    const frost_table_t *dict;   /* the table: a dict node, */
    const frost_set_t *set;      /* or a set node */
    uint64_t len;
    const uint64_t *hash_key;
    uint64_t *hv;             /* out: hv[i] where done[i] */
    unsigned char *done;
    unsigned char *lows;      /* window mode: the table's hash_lo array, else NULL */
    uint32_t *slots;          /* ... and its index */
    uint64_t mask;
    atomic_int stop;          /* the writer failed: end early */
    int built;                /* out: lows and index written */
    int joined;
    pthread_t thread;
} hasher_t;

/* Wait for the hasher's thread to end (once). */
static void
hasher_join(hasher_t *h)
{
    if (h != NULL && !h->joined) {
        pthread_join(h->thread, NULL);
        h->joined = 1;
    }
}

static void *
hasher_main(void *arg)
{
    hasher_t *h = arg;
    uint64_t left = 0;
    for (uint64_t i = 0; i < h->len; i++) {
        if ((i & 4095) == 0 && atomic_load_explicit(&h->stop, memory_order_relaxed)) {
            return NULL;
        }
        if (i + PREFETCH_AHEAD < h->len) {
            __builtin_prefetch((const void *)(table_key(h->dict, h->set, i + PREFETCH_AHEAD) & ~(uintptr_t)1));
        }
        h->done[i] = frost_map_entry_key_hash_nogil(h->hash_key, frost_ref_object(table_key(h->dict, h->set, i)),
                                                    i, &h->hv[i]) == 0;
        left += !h->done[i];
    }
    if (left == 0 && h->slots != NULL && build_index(h->slots, h->mask, h->hv, h->len, &h->stop) == 0) {
        put_hash_lows(h->lows, h->hv, h->len);
        h->built = 1;
    }
    return NULL;
}

/* A hasher for table `t` (its hash_lo array at `lows`, index at `slots`)
 * filling `hv`, or NULL (a small table, one CPU (helpers_can_run), no thread or memory: the
 * writer hashes as it goes). */
static hasher_t *
hasher_start(writer_t *w, const frost_table_t *dict, const frost_set_t *set, uint64_t len, uint64_t *hv,
             uint64_t lows, uint64_t slots, uint64_t mask)
{
    if (len < HASHER_FROM || !helpers_can_run(w)) {
        return NULL;
    }
    hasher_t *h = PyMem_Malloc(sizeof *h);
    unsigned char *done = PyMem_Calloc((size_t)len, 1);
    if (h == NULL || done == NULL) {
        PyMem_Free(h);
        PyMem_Free(done);
        return NULL;
    }
    *h = (hasher_t){.dict = dict, .set = set, .len = len, .hash_key = w->hash_key, .hv = hv,
                    .done = done, .mask = mask};
    if (w->window != 0) {
        h->lows = w->buf + lows;
        h->slots = (uint32_t *)(w->buf + slots);
    }
    atomic_init(&h->stop, 0);
    if (frost__thread_start_quiet(&h->thread, hasher_main, h) != 0) {
        PyMem_Free(done);
        PyMem_Free(h);
        return NULL;
    }
    return h;
}

/* End the hasher (early when `ok` is 0) and, when ok, hash what it left: 0,
 * or -1 (a key that is no key: w->bad; or MemoryError). *built: whether it
 * wrote the hash_lo array and the index. Frees it. */
static int
hasher_finish(writer_t *w, hasher_t *h, int ok, int *built)
{
    if (!ok) {
        atomic_store_explicit(&h->stop, 1, memory_order_relaxed);
    }
    hasher_join(h);
    w->hasher = NULL;
    *built = h->built;
    int rc = 0;
    for (uint64_t i = 0; ok && !h->built && i < h->len; i++) {
        if (h->done[i]) {
            continue;
        }
        frost_ref_t k = table_key(h->dict, h->set, i);
        rc = frost_map_entry_key_hash(w->hash_key, frost_ref_object(k), i, &h->hv[i]);
        if (rc != 0) {
            if (rc > 0) {
                w->bad = k;
                rc = -1;
            }
            break;
        }
    }
    PyMem_Free(h->done);
    PyMem_Free(h);
    return rc;
}

/* A dict or set node `n`: the arena's insertion order becomes the entry order
 * (a set node's `order` names its slots in that order). */
static int
fill_table(writer_t *w, const frost_node_t *n, uint64_t off)
{
    int is_dict = n->kind == FROST_NODE_DICT;
    const frost_table_t *t = is_dict ? (const frost_table_t *)n : NULL;
    const frost_set_t *s = is_dict ? NULL : (const frost_set_t *)n;
    uint64_t len = (uint64_t)(is_dict ? t->len : s->len);
    unsigned log2 = FROST_MAP_TABLE_MIN_LOG2;
    while (((uint64_t)2 << log2) < 3 * len) {
        log2++;
    }
    uint64_t mask = ((uint64_t)1 << log2) - 1;
    put64(w, off, frost_mnode_head(is_dict ? FROST_MNODE_DICT : FROST_MNODE_SET,
                                   is_dict ? 0u : (s->hdr.flags & FROST_SET_WAS_FROZENSET ? FROST_MSET_WAS_FROZENSET : 0u),
                                   len));
    put64(w, off + 8, log2);
    uint64_t hashes = off + frost_map_table_hashes(), entries = off + frost_map_table_entries(len);
    uint64_t index = off + frost_map_table_index(len, is_dict);
    uint64_t entry_size = is_dict ? 16 : 8;
    /* the entries first (sequential), keeping each full hash; then the index */
    uint64_t local[64], *hv = len <= 64 ? local : PyMem_Malloc(len * sizeof *hv);
    if (hv == NULL) {
        return no_memory("a table's hashes", len * sizeof *hv, 0);
    }
    int rc = 0, built = 0;
    hasher_t *hasher = w->hasher = hasher_start(w, t, s, len, hv, hashes, index, mask);
    for (uint64_t i = 0; i < len; i++) {
        if (i + PREFETCH_AHEAD < len) {   /* the arena objects are read soon: overlap the misses */
            if (is_dict) {
                __builtin_prefetch((const void *)(t->entries[i + PREFETCH_AHEAD].key & ~(uintptr_t)1));
                __builtin_prefetch((const void *)(frost_table_value(t, (Py_ssize_t)(i + PREFETCH_AHEAD)) & ~(uintptr_t)1));
            }
            else {
                __builtin_prefetch(&s->slots[s->order[i + PREFETCH_AHEAD]]);
            }
        }
        frost_ref_t k = table_key(t, s, i);
        if (hasher == NULL) {
            rc = frost_map_entry_key_hash(w->hash_key, frost_ref_object(k), i, &hv[i]);
            if (rc != 0) {
                if (rc > 0) {
                    w->bad = k;
                    rc = -1;
                }
                break;
            }
        }
        frost_mref_t key, value;
        if (encode(w, k, &key) < 0 || (is_dict && encode(w, frost_table_value(t, (Py_ssize_t)i), &value) < 0)) {
            rc = -1;
            break;
        }
        put64(w, entries + entry_size * i, key);
        if (is_dict) {
            put64(w, entries + entry_size * i + 8, value);
        }
    }
    if (hasher != NULL) {
        int hashed = hasher_finish(w, hasher, rc == 0, &built);
        rc = rc < 0 ? rc : hashed;
    }
    if (rc == 0 && !built) {
        put_hash_lows(w->buf + hashes, hv, len);
        (void)build_index((uint32_t *)(w->buf + index), mask, hv, len, NULL);
    }
    if (hv != local) {
        PyMem_Free(hv);
    }
    return rc;
}

/* A list node of items start + i*step (i < len) of arena seq `s`, at `off`. */
static int
fill_list(writer_t *w, const frost_seq_t *s, Py_ssize_t start, Py_ssize_t stepn, Py_ssize_t len, uint64_t off)
{
    unsigned flags = s->hdr.flags == FROST_SEQ_INT64 ? FROST_MLIST_INT64
                     : s->hdr.flags == FROST_SEQ_FLOAT64 ? FROST_MLIST_FLOAT64 : FROST_MLIST_REFS;
    put64(w, off, frost_mnode_head(FROST_MNODE_LIST, flags, (uint64_t)len));
    if (flags == FROST_MLIST_REFS) {
        return fill_refs(w, off, s->items.refs + start, len, stepn);
    }
    if (stepn == 1) {
        memcpy(w->buf + off + 8, &s->items.i64[start], 8 * (size_t)len);
    }
    else {
        for (Py_ssize_t i = 0; i < len; i++) {
            memcpy(w->buf + off + 8 + 8 * (size_t)i, &s->items.i64[start + i * stepn], 8);
        }
    }
    w->items += (uint64_t)len;
    return 0;
}

/* An array node at `off` for the last `ndim` dimensions of `a`, data at `data`. */
static int
fill_array(writer_t *w, const frost_array_t *a, const char *data, int ndim, uint64_t off)
{
    const Py_ssize_t *shape = a->shape + (a->ndim - ndim);
    uint64_t nbytes = (uint64_t)a->itemsize;
    for (int i = 0; i < ndim; i++) {
        nbytes *= (uint64_t)shape[i];
    }
    int64_t fmt = reserve(w, (size_t)a->format_len + 1, 1);
    if (fmt < 0) {
        return -1;
    }
    memcpy(w->buf + fmt, a->format, (size_t)a->format_len + 1);
    int64_t at = reserve_bulk(w, data, (size_t)nbytes, FROST_MAP_ARRAY_DATA_ALIGN);
    if (at < 0) {
        return -1;
    }
    put64(w, off, frost_mnode_head(FROST_MNODE_ARRAY, a->hdr.flags & 0xFFu, (uint64_t)ndim));
    put64(w, off + 8, (uint64_t)a->itemsize);
    put64(w, off + 16, nbytes);
    put64(w, off + 24, (uint64_t)fmt);
    put64(w, off + 32, a->format_len);
    put64(w, off + 40, (uint64_t)at);
    for (int i = 0; i < ndim; i++) {
        put64(w, off + FROST_MAP_ARRAY_FIXED + 8 * (uint64_t)i, (uint64_t)shape[i]);
    }
    return 0;
}

static int
fill(writer_t *w, uintptr_t src, uint64_t off)
{
    if (!frost_ref_is_node(src)) {   /* an arena tuple of plain immutables */
        PyObject *t = frost_ref_object(src);
        put64(w, off, frost_mnode_head(FROST_MNODE_TUPLE, 0, (uint64_t)PyTuple_GET_SIZE(t)));
        return fill_refs(w, off, (const frost_ref_t *)&PyTuple_GET_ITEM(t, 0), PyTuple_GET_SIZE(t), 1);
    }
    const frost_node_t *n = frost_ref_node(src);
    switch (n->kind) {
    case FROST_NODE_DICT:
    case FROST_NODE_SET:
        return fill_table(w, n, off);
    case FROST_NODE_LIST: {
        const frost_seq_t *s = (const frost_seq_t *)n;
        return fill_list(w, s, 0, 1, s->len, off);
    }
    case FROST_NODE_TUPLE: {
        const frost_seq_t *s = (const frost_seq_t *)n;
        put64(w, off, frost_mnode_head(FROST_MNODE_TUPLE, 0, (uint64_t)s->len));
        return fill_refs(w, off, s->items.refs, s->len, 1);
    }
    case FROST_NODE_RECORD: {
        const frost_record_t *r = (const frost_record_t *)n;
        put64(w, off, frost_mnode_head(FROST_MNODE_RECORD, r->hdr.flags & FROST_RECORD_KIND_MASK, 0));
        const frost_ref_t parts[3] = {r->module, r->qualname, r->state};
        return fill_refs(w, off, parts, 3, 1);
    }
    case FROST_NODE_ARRAY: {
        const frost_array_t *a = (const frost_array_t *)n;
        return fill_array(w, a, a->data, a->ndim, off);
    }
    case FROST_NODE_COLUMNS: {   /* the blob verbatim: offsets inside it are from its start */
        const frost_columns_t *c = (const frost_columns_t *)n;
        int64_t at = reserve_bulk(w, c->blob, (size_t)c->nbytes, FROST_MAP_COLUMNS_ALIGN);
        if (at < 0) {
            return -1;
        }
        put64(w, off, frost_mnode_head(FROST_MNODE_COLUMNS, 0, 0));
        put64(w, off + 8, (uint64_t)at);
        put64(w, off + 16, c->nbytes);
        return 0;
    }
    }
    w->bad = src;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* the path of a refused node (error path only)                             */

typedef struct {
    frost_ref_t ref;
    size_t parent;       /* index in the walk; SIZE_MAX for the root */
    frost_ref_t key;     /* pos == PATH_DICT_VALUE: the key */
    Py_ssize_t pos;      /* list/tuple item index, or one of: */
} path_step_t;
#define PATH_ROOT (-1)
#define PATH_DICT_VALUE (-2)
#define PATH_RECORD_STATE (-3)

static int
path_push(writer_t *seen, path_step_t **walk, size_t *n, size_t *cap, path_step_t s)
{
    uintptr_t addr = frost_ref_is_node(s.ref) ? (uintptr_t)frost_ref_node(s.ref) : (uintptr_t)s.ref;
    if (memo_get(seen, addr) != 0) {
        return 0;
    }
    if (memo_put(seen, addr, 1) < 0) {
        return -1;
    }
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        path_step_t *g = PyMem_Realloc(*walk, c * sizeof *g);
        if (g == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *walk = g;
        *cap = c;
    }
    (*walk)[(*n)++] = s;
    return 0;
}

/* "root['a'][3].field": the path of `target` from `root` (breadth-first, so
 * the shortest), or NULL with an exception set. */
static PyObject *
find_path(frost_ref_t root, frost_ref_t target)
{
    writer_t seen = {0};
    path_step_t *walk = NULL;
    size_t n = 0, cap = 0, found = SIZE_MAX;
    PyObject *result = NULL, *parts = NULL;
    seen.memo = PyMem_Calloc(1024, sizeof *seen.memo);
    seen.memo_mask = 1023;
    if (seen.memo == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (path_push(&seen, &walk, &n, &cap, (path_step_t){root, SIZE_MAX, 0, PATH_ROOT}) < 0) {
        goto done;
    }
    for (size_t i = 0; i < n && found == SIZE_MAX; i++) {
        frost_ref_t r = walk[i].ref;
        if (r == target) {
            found = i;
            break;
        }
        int rc = 0;
        if (!frost_ref_is_node(r)) {
            PyObject *o = frost_ref_object(r);
            for (Py_ssize_t j = 0; rc == 0 && PyTuple_CheckExact(o) && j < PyTuple_GET_SIZE(o); j++) {
                rc = path_push(&seen, &walk, &n, &cap, (path_step_t){(frost_ref_t)PyTuple_GET_ITEM(o, j), i, 0, j});
            }
        }
        else {
            const frost_node_t *node = frost_ref_node(r);
            if (node->kind == FROST_NODE_DICT) {
                const frost_table_t *t = (const frost_table_t *)node;
                for (Py_ssize_t j = 0; rc == 0 && j < t->len; j++) {
                    rc = path_push(&seen, &walk, &n, &cap,
                                   (path_step_t){frost_table_value(t, j), i, t->entries[j].key, PATH_DICT_VALUE});
                }
            }
            else if ((node->kind == FROST_NODE_LIST && node->flags == FROST_SEQ_REFS)
                     || node->kind == FROST_NODE_TUPLE) {
                const frost_seq_t *s = (const frost_seq_t *)node;
                for (Py_ssize_t j = 0; rc == 0 && j < s->len; j++) {
                    rc = path_push(&seen, &walk, &n, &cap, (path_step_t){s->items.refs[j], i, 0, j});
                }
            }
            else if (node->kind == FROST_NODE_RECORD) {
                rc = path_push(&seen, &walk, &n, &cap,
                               (path_step_t){((const frost_record_t *)node)->state, i, 0, PATH_RECORD_STATE});
            }
        }
        if (rc < 0) {
            goto done;
        }
    }
    parts = PyList_New(0);
    if (parts == NULL) {
        goto done;
    }
    for (size_t i = found; i != SIZE_MAX; i = walk[i].parent) {
        const path_step_t *s = &walk[i];
        PyObject *part;
        if (s->pos == PATH_ROOT) {
            part = PyUnicode_FromString("root");
        }
        else if (s->pos == PATH_RECORD_STATE) {
            continue;
        }
        else if (s->pos == PATH_DICT_VALUE) {
            PyObject *key = frost_ref_object(s->key);
            int field = walk[s->parent].pos == PATH_RECORD_STATE && PyUnicode_CheckExact(key);
            part = field ? PyUnicode_FromFormat(".%U", key) : PyUnicode_FromFormat("[%R]", key);
        }
        else {
            part = PyUnicode_FromFormat("[%zd]", s->pos);
        }
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            goto done;
        }
        Py_DECREF(part);
    }
    if (PyList_Reverse(parts) == 0) {
        PyObject *empty = PyUnicode_FromString("");
        result = empty ? PyUnicode_Join(empty, parts) : NULL;
        Py_XDECREF(empty);
    }
done:
    Py_XDECREF(parts);
    PyMem_Free(walk);
    PyMem_Free(seen.memo);
    return result;
}

/* Raise FreezeError for w->bad (a node or object format 2 cannot hold). */
static void
refuse(writer_t *w, frost_ref_t root)
{
    frost_ref_t bad = w->bad;
    PyObject *path = find_path(root, bad);
    if (path == NULL) {
        return;
    }
    if (frost_ref_is_node(bad)) {
        PyErr_Format(w->args->freeze_error, "%U: format 2 cannot hold a node of kind %u",
                     path, (unsigned)frost_ref_node(bad)->kind);
    }
    else {
        PyErr_Format(w->args->freeze_error, "%U: format 2 cannot hold an object of type '%.100s'",
                     path, Py_TYPE(frost_ref_object(bad))->tp_name);
    }
    Py_DECREF(path);
}

/* ------------------------------------------------------------------------ */
/* the image                                                                */

static int
random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0) {
                    return -1;
                }
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Write `len` bytes at offset `at` of `fd`: short writes resumed, EINTR
 * retried (after the signal handlers ran: the mapping checked, as after any
 * Python code). */
static int
pwrite_all(writer_t *w, int fd, const unsigned char *buf, size_t len, uint64_t at)
{
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done > ((size_t)1 << 30) ? ((size_t)1 << 30) : len - done;
        ssize_t n = pwrite(fd, buf + done, chunk, (off_t)(at + done));
        if (n < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0 || still_mapped(w) < 0) {
                    return -1;
                }
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (n == 0) {
            errno = ENOSPC;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* The last pass's state: the body checksum so far, and chunks since the last signal check. */
typedef struct {
    frost_xxh3_t sum;
    int checksum;
    unsigned chunks;
} emit_t;

/* Image bytes [at, at + len) are `src`: checksummed, and pwritten to `fd`
 * when `put` (else they are in the file already), one L2-sized chunk at a
 * time so the write reads what the checksum just brought in. Signals are
 * checked every EMIT_CHECK_EVERY chunks, and then the mapping (file mode)
 * is checked to still be backed, as after any Python code. */
static int
emit(writer_t *w, emit_t *e, int fd, const unsigned char *src, uint64_t at, size_t len, int put)
{
    for (size_t done = 0; done < len;) {
        /* chunks end at file offsets that are multiples of EMIT_CHUNK: a write
         * that covers whole aligned ranges gets whole (large) page-cache folios,
         * one that straddles them splits two (-15% the array save, unaligned) */
        size_t to_boundary = EMIT_CHUNK - (size_t)((at + done) % EMIT_CHUNK);
        size_t n = len - done < to_boundary ? len - done : to_boundary;
        if (put && pwrite_all(w, fd, src + done, n, at + done) < 0) {
            return -1;
        }
        if (e->checksum) {   /* after the write, which brought the chunk into the cache */
            frost_xxh3_update(&e->sum, src + done, n);
        }
        done += n;
        if (++e->chunks % EMIT_CHECK_EVERY == 0 && (PyErr_CheckSignals() < 0 || still_mapped(w) < 0)) {
            return -1;
        }
    }
    return 0;
}

/* Image bytes [lo, hi), none of them bulk: those below w->cap from the
 * buffer; past it only padding (zero) before a bulk payload or the end. In
 * file mode they are in the file already (past the mapping the file reads
 * zero: a hole, or the final ftruncate); else written too. */
static int
emit_buffered(writer_t *w, emit_t *e, int fd, uint64_t lo, uint64_t hi)
{
    static const unsigned char zeros[64];
    uint64_t mid = hi < w->cap ? hi : (lo > w->cap ? lo : w->cap);
    if (mid > lo && emit(w, e, fd, w->buf + lo, lo, (size_t)(mid - lo), w->fd < 0) < 0) {
        return -1;
    }
    for (uint64_t at = mid; at < hi;) {
        size_t n = hi - at < sizeof zeros ? (size_t)(hi - at) : sizeof zeros;
        if (emit(w, e, fd, zeros, at, n, w->fd < 0) < 0) {
            return -1;
        }
        at += n;
    }
    return 0;
}

/* File mode: allocate what lies past the mapped buffer (the bulk payloads and
 * their padding) before the last pass writes it, so a full disk or a file size
 * limit is an OSError before any of it is written, and the pwrites fill
 * allocated blocks: on ext4 a write into delayed-allocation space reserves
 * each block as it goes, 10-15% of an array save. Filesystems without
 * fallocate just get the pwrites. */
static int
allocate_bulk(writer_t *w)
{
    if (w->fd < 0 || w->size <= w->cap) {
        return 0;
    }
    while (fallocate(w->fd, 0, (off_t)w->cap, (off_t)(w->size - w->cap)) < 0) {
        if (errno == EINTR) {
            if (PyErr_CheckSignals() < 0 || still_mapped(w) < 0) {
                return -1;
            }
            continue;
        }
        if (errno == EOPNOTSUPP || errno == ENODEV || errno == EINVAL || errno == ENOSYS) {
            return 0;
        }
        PyErr_SetFromErrno(PyExc_OSError);   /* ENOSPC, EFBIG, EPERM (a sealed memfd) */
        return -1;
    }
    return 0;
}

/* The body [FROST_MAP_HEADER_SIZE, w->size) in image order, into the fd
 * (what is not there yet) and into the checksum (XXH3, unless
 * args->no_body_checksum): *sum. In file mode without a checksum (frost.share)
 * only the bulk payloads are left to do: the rest is not walked. */
static int
emit_body(writer_t *w, int fd, uint64_t *sum)
{
    emit_t e = {.checksum = !w->args->no_body_checksum};
    int buffered = e.checksum || w->fd < 0;   /* the buffered bytes need a pass */
    w->emitting = 1;
    frost_xxh3_init(&e.sum);
    uint64_t pos = FROST_MAP_HEADER_SIZE;
    for (size_t i = 0; i < w->nbulk; i++) {
        const bulk_t *b = &w->bulk[i];
        if ((buffered && emit_buffered(w, &e, fd, pos, b->at) < 0) || emit(w, &e, fd, b->src, b->at, b->len, 1) < 0) {
            return -1;
        }
        pos = b->at + b->len;
    }
    if (buffered && emit_buffered(w, &e, fd, pos, w->size) < 0) {
        return -1;
    }
    *sum = e.checksum ? frost_xxh3_digest(&e.sum) : 0;
    return 0;
}

/*
 * File mode when `fd` is a regular file (memfd included) open for reading and
 * writing that can be emptied and fallocated: the image is built in the file
 * itself (no second copy, no pwrite). Else anonymous mode, then write_all.
 * 0 ok (either mode), -1 error set.
 */
static int
start(writer_t *w, int fd)
{
    w->fd = -1;
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fstat(fd, &st) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    /* (an empty file is not truncated again: on ext4 that makes close() write
     * the whole file back at once, auto_da_alloc's guard for truncate-and-rewrite) */
    if (S_ISREG(st.st_mode) && (flags & O_ACCMODE) == O_RDWR && (st.st_size == 0 || ftruncate(fd, 0) == 0)) {
        if (fallocate(fd, 0, 0, (off_t)INITIAL_CAPACITY) == 0) {
            w->fd = fd;
            w->cap = 0;
            if (map_window(w) == 0 || grow(w, INITIAL_CAPACITY) == 0) {   /* maps the range just allocated */
                return 0;
            }
            PyErr_Clear();   /* a file that cannot be mapped shared: write it with pwrite */
            w->fd = -1;
        }
        else if (errno != EOPNOTSUPP && errno != ENODEV && errno != EINVAL && errno != ENOSYS) {
            PyErr_SetFromErrno(PyExc_OSError);   /* ENOSPC, EFBIG, EPERM (a sealed memfd) */
            return -1;
        }
    }
    return grow(w, INITIAL_CAPACITY);
}

/* The body is in the fd and the header in w->buf[0, 128): finish the file
 * (anonymous mode: write the header, and cut a longer regular file to size). */
static int
finish(writer_t *w, int fd)
{
    if (w->fd < 0) {
        struct stat st;
        if (pwrite_all(w, fd, w->buf, FROST_MAP_HEADER_SIZE, 0) < 0) {
            return -1;
        }
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > w->size
            && ftruncate(fd, (off_t)w->size) < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        return 0;
    }
    int rc = unmap_buffer(w);
    if (rc < 0 || ftruncate(fd, (off_t)w->size) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* The root's node when it is a list slice or a sub-array (args), reserved
 * like any node but not memoized (it is not the arena node). */
static int
encode_root(writer_t *w, frost_mref_t *out)
{
    const frost_map_write_args_t *a = w->args;
    if (!a->has_slice && a->sub_data == NULL) {
        return encode(w, a->ref, out);
    }
    const frost_node_t *n = frost_ref_node(a->ref);
    size_t size = a->has_slice ? 8 + 8 * (size_t)a->len : FROST_MAP_ARRAY_FIXED + 8 * (size_t)a->sub_ndim;
    int64_t at = reserve(w, size, 8);
    if (at < 0) {
        return -1;
    }
    w->nnodes++;
    *out = frost_mref_at8((uint64_t)at, FROST_MREF_NODE);
    if (a->has_slice) {
        return fill_list(w, (const frost_seq_t *)n, (Py_ssize_t)a->start, (Py_ssize_t)a->step,
                         (Py_ssize_t)a->len, (uint64_t)at);
    }
    return fill_array(w, (const frost_array_t *)n, a->sub_data, a->sub_ndim, (uint64_t)at);
}

int
frost_map_write(const frost_map_write_args_t *args, int fd, uint64_t *size_out)
{
    writer_t w = {.fd = -1, .args = args, .helpers = -1};
    int rc = -1;
    size_t slots = 1024;
    while (slots < 2 * args->memo_hint + 2 && slots < ((size_t)1 << 40)) {
        slots *= 2;
    }
    w.memo = PyMem_Calloc(slots, sizeof *w.memo);
    if (w.memo == NULL) {
        no_memory("the memo of written containers", slots * sizeof *w.memo, 0);
        goto done;
    }
    w.memo_mask = slots - 1;
    w.cache = PyMem_Calloc(LEAF_CACHE_SLOTS, sizeof *w.cache);
    if (w.cache == NULL) {
        no_memory("the cache of written leaves", LEAF_CACHE_SLOTS * sizeof *w.cache, 0);
        goto done;
    }
    frost_map_header_t h;
    memset(&h, 0, sizeof h);
    if (random_bytes(w.hash_key, sizeof w.hash_key) < 0 || random_bytes(h.store_id, sizeof h.store_id) < 0
        || start(&w, fd) < 0 || reserve(&w, FROST_MAP_HEADER_SIZE, 8) < 0) {
        goto done;
    }
    frost_mref_t root;
    if (encode_root(&w, &root) < 0) {
        goto refused;
    }
    while (w.qlen > 0) {
        work_t item = w.queue[w.qhead++];
        w.qlen--;
        if (fill(&w, item.src, item.off) < 0) {
            goto refused;
        }
    }
    if (w.pool_end == w.size) {   /* the last block's unused tail */
        w.size = (size_t)w.pool_at;
    }
    w.size = (w.size + 7) & ~(size_t)7;   /* the image ends 8-aligned (zeros, emitted as such) */
    memcpy(h.magic, FROST_MAP_MAGIC, 8);
    h.format_version = FROST_MAP_VERSION;
    h.header_size = FROST_MAP_HEADER_SIZE;
    h.image_size = w.size;
    h.root = root;
    memcpy(h.hash_key, w.hash_key, sizeof h.hash_key);
    h.nnodes = w.nnodes;
    h.flags = args->no_body_checksum ? FROST_MAP_FLAG_NO_BODY_CHECKSUM : FROST_MAP_FLAG_BODY_XXH3;
    frost__map_pager_stop(w.pager);   /* every node is written: no more pages to map */
    w.pager = NULL;
    if (PyErr_CheckSignals() < 0 || still_mapped(&w) < 0 || allocate_bulk(&w) < 0
        || emit_body(&w, fd, &h.body_checksum) < 0) {
        goto done;
    }
    memcpy(w.buf, &h, sizeof h);
    h.header_checksum = frost_map_header_checksum(w.buf);
    memcpy(w.buf, &h, sizeof h);
    if (PyErr_CheckSignals() < 0 || still_mapped(&w) < 0 || finish(&w, fd) < 0) {
        goto done;
    }
    if (args->progress != NULL && (args->progress(args->progress_ctx, w.items, 1) < 0 || still_whole(fd, w.size) < 0)) {
        goto done;
    }
    *size_out = w.size;
    rc = 0;
    goto done;
refused:
    if (w.bad != 0 && !PyErr_Occurred()) {
        refuse(&w, args->ref);
    }
done:
    if (w.buf != NULL) {
        (void)unmap_buffer(&w);
    }
    if (rc < 0 && w.fd >= 0) {
        (void)ftruncate(w.fd, 0);   /* no partial image left behind */
    }
    else if (rc < 0 && w.emitting) {   /* anonymous mode: the same for a regular file */
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            (void)ftruncate(fd, 0);
        }
    }
    PyMem_Free(w.memo);
    PyMem_Free(w.cache);
    PyMem_Free(w.queue);
    PyMem_Free(w.bulk);
    return rc;
}
