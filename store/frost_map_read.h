/*
 * frost_map_read.h -- the in-place reader of format-2 images (map_read.c):
 * bounds-checked decoding of references and nodes, table lookups, leaf
 * materialization and the full verify pass. The layout is frost_map.h's.
 *
 * Trust: none. An image is any bytes. Every offset/length goes through
 * frost_map_span (overflow-free bounds check against the image size) before
 * a byte is read; a node is checked (kind, flags, its whole size, its
 * table's shape) by frost_map_node before any of its fields is used, and
 * every index slot and entry number is checked when followed. Damage met on
 * the way raises img->error (frost.SnapshotError) naming what and where; no
 * read ever leaves [base, base + size). The O(1) open checks the header only;
 * frost_map_verify checks every reachable byte.
 *
 * Python: materialization and the keyed hash need the GIL (an initialized
 * interpreter); nothing here needs the view types: containers other than
 * TUPLE nodes are handed to img->make_view (NULL: None, for verify-only use
 * such as the fuzz target through frost_map_verify_buffer).
 */
#ifndef FROST_MAP_READ_H
#define FROST_MAP_READ_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "frost_map.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "format-2 images are little-endian; the reader reads them with native loads"
#endif

struct frost_mnode_s;

typedef struct frost_map_image_s {
    const unsigned char *base;
    uint64_t size;               /* == header.image_size (checked at open) */
    uint64_t hash_key[2];
    frost_mref_t root;
    uint64_t nnodes;
    PyObject *error;             /* borrowed: the exception type raised for damage */
    /* the view of a container node (LIST, DICT, SET, RECORD, ARRAY), a new
     * reference or NULL with an exception; NULL hook: None (verify-only use) */
    PyObject *(*make_view)(void *ctx, const struct frost_mnode_s *node);
    void *view_ctx;
    int guard;                   /* frost_map_guard_add slot, or -1 (set by the caller) */
} frost_map_image_t;

/* A node checked by frost_map_node: every part below lies inside the image. */
typedef struct frost_mnode_s {
    uint64_t offset;
    unsigned kind;               /* frost_mnode_kind_t */
    unsigned flags;
    uint64_t len;                /* items / entries / ndim */
    const unsigned char *items;  /* TUPLE, LIST: len 8-byte items */
    /* DICT, SET */
    unsigned log2_nslots;
    uint64_t mask;               /* nslots - 1 */
    const unsigned char *hashes; /* u32[len] */
    const unsigned char *entries;   /* DICT: {key, value}[len]; SET: key[len] */
    const unsigned char *index;  /* u32[nslots] */
    /* RECORD */
    frost_mref_t module, qualname, state;
    /* ARRAY; COLUMNS: the blob (data, nbytes) */
    uint64_t itemsize, nbytes, format_len;
    const char *format;          /* NUL-terminated, passed frost__array_format_check */
    const unsigned char *data;   /* nbytes bytes (COLUMNS: 64-aligned offset, not yet checked) */
    const unsigned char *shape;  /* u64[len] */
} frost_mnode_t;

static inline uint64_t frost_map_rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t frost_map_rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* The bytes [offset, offset + size) of the image, or NULL when any of them
 * lies outside it (no overflow for any inputs). Sets no exception. */
static inline const unsigned char *
frost_map_span(const frost_map_image_t *img, uint64_t offset, uint64_t size)
{
    if (offset > img->size || size > img->size - offset) {
        return NULL;
    }
    return img->base + offset;
}

/* The O(1) open: header fields and checksum, image size == `size`, root tag.
 * 0, or -1 with `error` raised. `base` must stay readable while img is used. */
int frost_map_open(frost_map_image_t *img, const void *base, uint64_t size, PyObject *error);

/* Check the node at `offset` (any kind when want == 0): 0 and *out, or -1
 * with img->error raised. */
int frost_map_node(const frost_map_image_t *img, uint64_t offset, unsigned want, frost_mnode_t *out);

/* The full check of a COLUMNS node's blob (frost__colblob_check: structure,
 * then every offset, dictionary index and null count: O(blob)); frost_map_node
 * checked only that the blob lies inside the image. 0, or -1 with img->error
 * raised ("table node at N: <what>"). Views run it once per blob per mapping
 * before any byte of the blob is used (view_mapped.c); verify runs it too.
 * Both bound the bytes checked per image by the image's size (a writer's
 * blobs are disjoint): blobs that overlap or repeat under several nodes are
 * damage past that, so the checks stay linear in the image. */
int frost_map_columns_check(const frost_map_image_t *img, const frost_mnode_t *n);

/* Materialize `ref`: a new object (leaves fresh each call; TUPLE nodes real
 * tuples; other nodes img->make_view). NULL with an exception. */
PyObject *frost_map_load(const frost_map_image_t *img, frost_mref_t ref);

/* frost_map_load of a table key (a dict key, a set item): keys are leaves or
 * tuples of leaves, so any other node in it is damage (img->error), checked as
 * it is read, as verify checks it: never a view, whose hash or equality could
 * read the table it sits in again (a set holding itself). */
PyObject *frost_map_load_key(const frost_map_image_t *img, frost_mref_t ref);

/* Item i (< len) of a TUPLE or LIST node as a new object (packed lists too). */
PyObject *frost_map_seq_item(const frost_map_image_t *img, const frost_mnode_t *n, uint64_t i);

/* The raw bytes of a STR/STR_INLINE/BYTES/BYTES_INLINE ref: 0 and (*p, *n)
 * (for inline refs *p points at `*scratch`); -1 with img->error raised. */
int frost_map_ref_bytes(const frost_map_image_t *img, frost_mref_t ref, uint64_t *scratch,
                        const unsigned char **p, uint64_t *n);

/* Whether an object of type `tp`, a subtype of `base` (a type image keys
 * have: str, bytes, int, float, complex, tuple), hashes and compares as its
 * base does, so its value stands for it: `base` itself, or a subclass that
 * keeps the base's __hash__ and __eq__ (bool, IntEnum, StrEnum, a plain
 * `class S(str): pass`). Anything else is compared by Python (a dict would
 * call its own __hash__ and __eq__). */
static inline int
frost_map_compares_as(PyTypeObject *tp, PyTypeObject *base)
{
    return tp == base || (tp->tp_hash == base->tp_hash && tp->tp_richcompare == base->tp_richcompare);
}

/* Whether the item `ref` equals `query` as `item == query` says (str/bytes
 * compared in place, ints by value, numbers numerically, tuples and anything
 * else materialized and compared by Python): 1, 0, -1 error. */
int frost_map_ref_equal(const frost_map_image_t *img, frost_mref_t ref, PyObject *query);

/* Table entries (DICT/SET nodes; i < len) */
static inline frost_mref_t
frost_map_table_key(const frost_mnode_t *t, uint64_t i)
{
    return frost_map_rd64(t->entries + i * (t->kind == FROST_MNODE_DICT ? 16u : 8u));
}
static inline frost_mref_t
frost_map_table_value(const frost_mnode_t *t, uint64_t i)
{
    return frost_map_rd64(t->entries + i * 16u + 8u);
}

/* The entry number of `key` in table node `t`: >= 0 found, -1 absent, -2
 * error; found exactly when a dict of the materialized keys finds it. An
 * unhashable key raises TypeError, and an exception of the key's own
 * __hash__ or __eq__ propagates. The probe loop stops after nslots slots
 * even when the table has no empty slot. Cost: O(1) for keys the keyed hash
 * takes (frost_map_key_hash); a FOREIGN key with its own __eq__ is probed by
 * its Python hash among the numeric keys, then compared with each key of the
 * other kinds whose Python hash is its own: O(len). */
Py_ssize_t frost_map_table_find(const frost_map_image_t *img, const frost_mnode_t *t, PyObject *key);

/* The full check. flags: FROST_MAP_VERIFY_NO_CHECKSUM skips the body
 * checksum (fuzzing); FROST_MAP_VERIFY_LOAD also materializes every
 * reachable leaf and tuple once. progress (may be NULL): called with
 * (nodes done, header nnodes) now and then; nonzero return stops. */
#define FROST_MAP_VERIFY_NO_CHECKSUM 1u
#define FROST_MAP_VERIFY_LOAD 2u
int frost_map_verify(const frost_map_image_t *img, unsigned flags,
                     int (*progress)(void *ctx, uint64_t done, uint64_t total), void *progress_ctx);

/* For the fuzz target and C users: open + verify (+ materialize every leaf)
 * of a buffer; 0 valid, -1 with a message in errbuf (no exception left set).
 * Needs the GIL. */
int frost_map_verify_buffer_flags(const void *base, size_t size, unsigned flags, char *errbuf,
                                  size_t errlen);
int frost_map_verify_buffer(const void *base, size_t size, char *errbuf, size_t errlen);

/*
 * Files shrunk under a reader: reading a MAP_SHARED page past the file's new
 * end raises SIGBUS. An image registers its range here (frost_map_guard_add,
 * any thread; -1 when the table is full: then unguarded), and a process-wide
 * SIGBUS handler (installed on first use) maps a zero page over a faulting
 * address inside a registered range, so the read sees zeros: wrong data or
 * a SnapshotError, never a crash. Other SIGBUS go to the previous handler.
 * Remove the range before the memory is unmapped. Once a zero page stood
 * in, every read of that image (frost_map_load, seq_item, table_find,
 * verify with img->guard set) raises img->error: the file shrank.
 */
int frost_map_guard_add(const void *base, uint64_t size);
/* what img->error says then */
#define FROST_MAP_SHRANK_MESSAGE \
    "the file under this frost image shrank while it was mapped: its data is gone"
/* 0, or -1 with img->error when a zero page stood in for img's memory */
int frost_map_guard_check(const frost_map_image_t *img);
void frost_map_guard_remove(int slot);
/* whether a zero page stood in for memory of the range at `slot` (-1: never) */
int frost_map_guard_tripped(int slot);

/*
 * Pins: what keeps an image's bytes readable for consumers that outlive every
 * Python object (an exported ArrowArray or DLPack tensor, released from any
 * thread, without the GIL, in any interpreter, after the MapImage is gone).
 * frost_map_pin_new(base, size): for a shared mapping (a file or memfd mapped
 * MAP_SHARED, page-aligned), a second mapping of the same pages of our own
 * (mremap with old_size 0: no copy, no extra memory), guarded like an image;
 * for anything else (bytes), a private 64-aligned copy. One reference,
 * atomic; the last release unmaps or frees it, touching no Python object.
 * NULL when out of memory (no exception set). The bytes are the image's.
 */
typedef struct frost_map_pin_s frost_map_pin_t;
frost_map_pin_t *frost_map_pin_new(const void *base, uint64_t size);
const unsigned char *frost_map_pin_base(const frost_map_pin_t *pin);
/* Whether bytes [offset, offset + len) of the pin are still the file's: 0
 * when the file shrank under them (or under any byte the pin read before:
 * its guard tripped), so they would read as zeros. Reads one byte. */
int frost_map_pin_reaches(const frost_map_pin_t *pin, uint64_t offset, uint64_t len);
void frost_map_pin_acquire(frost_map_pin_t *pin);
void frost_map_pin_release(frost_map_pin_t *pin);   /* NULL ok */

#endif /* FROST_MAP_READ_H */
