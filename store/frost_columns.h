/*
 * frost_columns.h -- the table node: Arrow columns frozen into the arena
 * (store/columns.c builds and checks it; views/view_table.c reads it).
 *
 * A table node is a small node plus one position-independent *blob*: every
 * reference inside the blob is a byte offset from the blob's start, so the
 * blob is copied byte for byte into snapshots (their bulk section) and read in
 * place wherever it is mapped. Layout (all integers native little-endian):
 *
 *   [0, 64)       frost_colblob_header_t
 *   [64, D)       descriptors, in pre-order (schema tree, then each chunk's
 *                 array tree): frost_colschema_t / frost_colarray_t (64 bytes
 *                 each), u64 child-offset arrays, frost_colbuf_t arrays,
 *                 NUL-terminated strings, metadata; all 8-byte aligned
 *   [D, size)     buffers, each 64-byte aligned; the first 64 bytes are zeros
 *                 (what an empty buffer points at)
 *
 * The schema tree mirrors ArrowSchema with a struct ("+s") root whose children
 * are the columns; each chunk is a struct array with the same shape (root
 * offset 0, no nulls). Buffers are those of the Arrow columnar format for the
 * column's type; an absent validity bitmap has offset 0.
 *
 * Invariants (frost__colblob_check, run on every blob the freezer wrote and
 * on every blob a snapshot brings): every offset in range and aligned; each
 * descriptor visited once, at increasing offsets (no sharing, no cycles);
 * nesting <= FROST_COL_MAX_DEPTH (and the builder takes at most
 * FROST_COL_MAX_FIELDS schema nodes); strings NUL-terminated; metadata well
 * formed; each array matches its schema's format (buffer and child counts);
 * buffers large enough for offset + length; offsets monotonic and inside the
 * data/child; dictionary indices of valid slots inside the dictionary;
 * null_count equal to the zero bits of the validity bitmap. So readers index
 * without bounds checks.
 */
#ifndef FROST_COLUMNS_H
#define FROST_COLUMNS_H

#ifndef FROST_BUILD_CORE
#  error "frost_columns.h is internal to frost"
#endif

#include "frost_arena.h"
#include "frost_arrow.h"
#include "frost_nodes.h"

#include <stddef.h>
#include <stdint.h>

#define FROST_COLBLOB_MAGIC 0x4c4f4346u   /* "FCOL" */
#define FROST_COLBLOB_VERSION 1u
#define FROST_COL_MAX_DEPTH 64
/* Fields of a schema in all (each nested field and dictionary counts, and a child
 * struct that a producer hands in two places counts in each: the builder walks
 * the schema as the tree it must be, so shared children cannot make it exponential). */
#define FROST_COL_MAX_FIELDS (1 << 20)
#define FROST_COL_ERRLEN 512

typedef struct {
    frost_node_t hdr;          /* FROST_NODE_COLUMNS; flags 0 */
    uint64_t nbytes;           /* the blob's size */
    const char *blob;          /* 64-byte aligned (arena, or a snapshot's bulk) */
} frost_columns_t;

typedef struct {
    uint32_t magic;            /* FROST_COLBLOB_MAGIC */
    uint32_t version;          /* FROST_COLBLOB_VERSION */
    uint64_t size;             /* the whole blob */
    int64_t nrows;             /* sum of the chunks' lengths */
    uint64_t nchunks;
    uint64_t schema;           /* frost_colschema_t of the root struct */
    uint64_t chunks;           /* u64[nchunks]: frost_colarray_t of each chunk's root */
    uint64_t desc_end;         /* D: where the buffers begin (64-aligned) */
    uint64_t row_starts;       /* i64[nchunks + 1]: the first row of each chunk, then nrows */
} frost_colblob_header_t;

typedef struct {
    uint64_t format;           /* string */
    uint64_t name;             /* string */
    uint64_t metadata;         /* 0, or Arrow-encoded metadata of metadata_len bytes */
    uint64_t metadata_len;
    int64_t flags;             /* FROST_ARROW_FLAG_* */
    int64_t n_children;
    uint64_t children;         /* u64[n_children] schema offsets */
    uint64_t dictionary;       /* 0 or a schema offset (then this is the index type) */
} frost_colschema_t;

typedef struct {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    uint64_t buffers;          /* frost_colbuf_t[n_buffers] */
    uint64_t children;         /* u64[n_children] array offsets */
    uint64_t dictionary;       /* 0 or an array offset */
} frost_colarray_t;

typedef struct {
    uint64_t offset;           /* 0 = absent (validity only) */
    uint64_t size;             /* bytes */
} frost_colbuf_t;

/* What a format string describes. */
typedef enum {
    FROST_COL_NULL,            /* "n": no buffers */
    FROST_COL_BOOL,            /* "b": validity, bit-packed values */
    FROST_COL_INT,             /* "c s i l": width 1/2/4/8 */
    FROST_COL_UINT,            /* "C S I L" */
    FROST_COL_FLOAT,           /* "e f g": width 2/4/8 */
    FROST_COL_FIXED,           /* temporal, decimal, interval: opaque fixed width */
    FROST_COL_BINARY,          /* "z" / "Z": width = offset size 4 / 8 */
    FROST_COL_STRING,          /* "u" / "U" */
    FROST_COL_FIXED_BINARY,    /* "w:N": width N */
    FROST_COL_LIST,            /* "+l" / "+L": width = offset size */
    FROST_COL_FIXED_LIST,      /* "+w:N": width N (items per slot) */
    FROST_COL_STRUCT,          /* "+s" */
    FROST_COL_MAP,             /* "+m": like "+l" with a 2-field struct child */
} frost_colkind_t;

typedef struct {
    frost_colkind_t kind;
    int64_t width;
    int n_buffers;             /* what an array of this format has */
    int n_children;            /* -1: any (struct) */
} frost_colfmt_t;

/* Parse a format string: 0, or -1 if frost does not store that type. */
int frost__colfmt_parse(const char *format, frost_colfmt_t *out);

static inline const frost_colblob_header_t *
frost__colblob_header(const char *blob)
{
    return (const frost_colblob_header_t *)blob;
}
/* The chunk holding `row` (0 <= row < nrows) and the row's index in it. */
static inline uint64_t
frost__colblob_locate(const char *blob, int64_t row, int64_t *in_chunk)
{
    const frost_colblob_header_t *h = (const frost_colblob_header_t *)blob;
    const int64_t *starts = (const int64_t *)(blob + h->row_starts);
    uint64_t lo = 0, hi = h->nchunks;   /* starts[lo] <= row < starts[hi] */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (starts[mid] <= row) {
            lo = mid;
        }
        else {
            hi = mid;
        }
    }
    *in_chunk = row - starts[lo];
    return lo;
}

static inline const frost_colschema_t *
frost__colschema(const char *blob, uint64_t off)
{
    return (const frost_colschema_t *)(blob + off);
}
static inline const frost_colarray_t *
frost__colarray(const char *blob, uint64_t off)
{
    return (const frost_colarray_t *)(blob + off);
}
static inline uint64_t
frost__colchild(const char *blob, uint64_t children, int64_t i)
{
    return ((const uint64_t *)(blob + children))[i];
}
static inline const char *
frost__colstr(const char *blob, uint64_t off)
{
    return blob + off;
}
/* Buffer `i` of an array: NULL if absent. */
static inline const void *
frost__colbuf(const char *blob, const frost_colarray_t *a, int64_t i)
{
    const frost_colbuf_t *b = (const frost_colbuf_t *)(blob + a->buffers) + i;
    return b->offset ? blob + b->offset : NULL;
}
static inline int
frost__colbit(const void *bitmap, int64_t i)
{
    return (((const uint8_t *)bitmap)[i >> 3] >> (i & 7)) & 1;
}

/*
 * Copy `nchunks` Arrow arrays of `schema` (every buffer, into one blob in
 * `arena`) and make a table node. A schema that is not a struct becomes a
 * one-column table (`column_name` names it). Reads the producer's memory only
 * through the structs (never keeps a pointer to it) and checks the copy with
 * frost__colblob_check. 0 ok; 1 bad input (message in err, naming the
 * column and its format); < 0 a frost status (FROST_ENOMEM: no memory, for
 * the arena or the builder's own). The structs stay the caller's.
 */
int frost__columns_build(frost_arena_t *arena, const struct ArrowSchema *schema,
                         struct ArrowArray *const *chunks, int64_t nchunks,
                         frost_columns_t **out, char *err, size_t errlen);

/* Check a blob (see the banner). `fix_null_counts`: store the counted nulls
 * instead of comparing (the freezer's own copy). 0 ok, -1 with a message. */
int frost__colblob_check(char *blob, uint64_t size, int fix_null_counts, char *err, size_t errlen);

/* The readable type name of a format ("int64", "string", "list<...>" is not
 * expanded: nested types say "list", "struct", ...); never NULL. */
const char *frost__colfmt_name(const char *format);

#ifdef Py_PYTHON_H
/*
 * columns_py.c: freeze `o` if its type exports the Arrow PyCapsule interface
 * (__arrow_c_stream__, else __arrow_c_array__). 1: a table node in *out;
 * 0: `o` exports neither; -1: a Python exception is set; -2: the data is not
 * a table frost can store (message in err, naming the column and its type).
 * Every struct taken from the capsules is released before returning.
 */
int frost__columns_freeze(PyObject *o, frost_arena_t *arena, frost_columns_t **out, char *err,
                          size_t errlen);

/*
 * Whether objects of type `tp` go to frost__columns_freeze at all: the type
 * has __arrow_c_stream__ or __arrow_c_array__, or is a polars class (refused
 * there when it holds Python objects). A property of the type alone, so the
 * freezer asks once per class (class_info); 1 / 0, -1 with an exception set.
 */
int frost__columns_type_is_candidate(PyTypeObject *tp);
#endif

#endif /* FROST_COLUMNS_H */
