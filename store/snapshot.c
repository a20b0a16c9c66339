/*
 * snapshot.c -- sealed stores to files and back (format: docs/format.md).
 *
 * The file's *image* section has the arena's own layout -- every object is
 * laid out as the CPython object it will become, every node as its C struct
 * (frost_nodes.h) -- except that each pointer is an offset and each object
 * header holds (record kind, record size) instead of (refcount, type). So:
 *
 *   save  = walk the graph from the root (iteratively; twice: the first walk
 *           assigns offsets, the second writes), into a mapped temporary file,
 *           checksum, rename over the target;
 *   load  = map read-only; check header, sections and checksum; memcpy the
 *           image into one arena chunk; walk A validates every record's shape
 *           and marks where records start; walk B validates every reference
 *           against those marks and relocates it, writing type pointers and
 *           immortal headers; then (hash seed differs from the writer's)
 *           recompute str/bytes hashes, rebuild dict indexes and re-place
 *           set slots (keeping each set's item order); seal.
 *
 * The *bulk* section holds what has no pointers and no seed-dependent data
 * (packed lists, array shapes/strides/data, dict indexes and set orders,
 * which depend on the seed only): it is used in place, straight from the mapping, so N
 * processes loading one file share those pages. The mapping belongs to the
 * arena through a small per-load chunk backend (snap_backend_t) that forwards
 * to the default backend and unmaps the file when the arena gives back its
 * last chunk, i.e. in frost_arena_free.
 *
 * Trust model: a file is untrusted input. Every offset is bounds-checked
 * before use, every record's size is recomputed from its fields and must
 * match, object references inside objects must point backwards (so tuples are
 * acyclic and hashing terminates), dict indexes are checked slot by slot and
 * set orders item by item, set slot tables counted (so probing terminates:
 * an empty slot always remains), strings must be canonical (kind = narrowest), ints
 * normalized, and stored hashes are never -1 (CPython would write a computed
 * hash into the sealed arena). The checksum catches accidents; the checks
 * above are what keep a hostile file from crashing the process.
 */
#include "frost_snapshot.h"
#include "frost_columns.h"
#include "frost_map_read.h"
#include "frost_nodes.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ || UINTPTR_MAX != UINT64_MAX
#  error "frost snapshots are implemented for 64-bit little-endian platforms"
#endif
#if PYLONG_BITS_IN_DIGIT != 30
#  error "frost snapshots expect 30-bit int digits"
#endif

/* ------------------------------------------------------------------------ */
/* format constants (docs/format.md)                                         */

static const char SNAP_MAGIC[8] = {'F', 'R', 'O', 'S', 'T', 'S', 'N', 'P'};
#define SNAP_BYTE_ORDER 0x01020304u
#define SNAP_PROBE "frost snapshot hash probe"
#define SNAP_SECTION_IMAGE 0x45474d49u   /* "IMGE" */
#define SNAP_SECTION_BULK 0x4b4c5542u    /* "BULK" */
#define SNAP_SECTION_ALIGN 64
#define REC_ALIGN 16                      /* image records */
#define BULK_ALIGN 64                     /* bulk items */
#define GC_PREFIX 16                      /* PyGC_Head before a tuple */

typedef struct {
    char magic[8];              /* "FROSTSNP" */
    uint64_t checksum;          /* XXH64, seed 0, of bytes [16, file_size) */
    uint32_t format_version;    /* FROST_SNAPSHOT_FORMAT_VERSION */
    uint32_t header_size;       /* sizeof(snap_header_t) */
    uint32_t byte_order;        /* SNAP_BYTE_ORDER as the writer stored it */
    uint8_t pointer_size;       /* 8 */
    uint8_t digit_bits;         /* PyLong_SHIFT: 30 */
    uint8_t hash_bits;          /* 8 * sizeof(Py_hash_t) */
    uint8_t node_encoding;      /* SNAP_NODE_ENCODING (0 in files of earlier frosts) */
    uint32_t python_hexversion; /* PY_VERSION_HEX of the writer */
    uint32_t nsections;         /* entries in the section table */
    uint64_t layout_hash;       /* XXH64 of the object/node sizes (layout_hash()) */
    uint64_t file_size;         /* the whole file */
    int64_t hash_probe;         /* hash(SNAP_PROBE) in the writer */
    char hash_algorithm[16];    /* PyHash_GetFuncDef()->name, NUL-padded */
    uint64_t root;              /* the root reference (encoded) */
    uint64_t nrecords;          /* records in the image */
    uint64_t section_table;     /* file offset of the section table */
    uint64_t reserved[3];
} snap_header_t;
_Static_assert(sizeof(snap_header_t) == 128, "snapshot header is 128 bytes");

typedef struct {
    uint32_t id;                /* SNAP_SECTION_* */
    uint32_t flags;             /* 0 */
    uint64_t offset;            /* file offset, SNAP_SECTION_ALIGN-aligned */
    uint64_t size;              /* bytes */
} snap_section_t;

/* Record kinds in the image: nodes keep frost_node_kind_t (1..6). */
enum {
    REC_STR = 16,
    REC_BYTES,
    REC_INT,
    REC_FLOAT,
    REC_COMPLEX,
    REC_TUPLE,
};

/* Encoded references: the low 4 bits say what the rest is. */
#define REF_TAG_MASK 0xFu
#define REF_IMG_NODE 0x1u     /* image offset of a node */
#define REF_IMG_OBJ 0x2u      /* image offset of an object (tuples: the object, after its GC prefix) */
#define REF_BULK_NODE 0x3u    /* bulk offset of a packed list node */
#define REF_IMM 0x4u          /* a static singleton: (payload << 8) | (sub << 4) | 4 */

enum {
    IMM_NONE = 0, IMM_TRUE, IMM_FALSE, IMM_ELLIPSIS, IMM_EMPTY_TUPLE, IMM_EMPTY_STR,
    IMM_EMPTY_BYTES, IMM_SMALL_INT, IMM_LATIN1_CHAR, IMM_BYTE, IMM_COUNT
};

#define IMM(sub, payload) ((((uint64_t)(payload)) << 8) | ((uint64_t)(sub) << 4) | REF_IMM)

#define ROUND_UP(n, a) (((n) + ((a) - 1)) & ~(size_t)((a) - 1))
/* An array's bulk block before its data: shape, strides, format and its NUL. */
#define ARRAY_DIMS_BYTES(a) (2 * sizeof(Py_ssize_t) * (size_t)(a)->ndim + (size_t)(a)->format_len + 1)

/* ob_shash is deprecated API on 3.13+; it sits right before ob_sval. */
_Static_assert(offsetof(PyBytesObject, ob_sval) == sizeof(PyVarObject) + sizeof(Py_hash_t),
               "PyBytesObject layout: ob_shash before ob_sval");
#define BYTES_SHASH(o) (*(Py_hash_t *)((char *)(o) + offsetof(PyBytesObject, ob_sval) - sizeof(Py_hash_t)))

#define STR_HDR(ascii) ((ascii) ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject))
#define TUPLE_HDR offsetof(PyTupleObject, ob_item)
#define LONG_HDR offsetof(PyLongObject, long_value.ob_digit)
#define TABLE_HDR ROUND_UP(sizeof(frost_table_t), REC_ALIGN)
#define SET_HDR ROUND_UP(sizeof(frost_set_t), REC_ALIGN)

/* The revision of the node encodings inside format version 1: 1 since set
 * nodes are (hash, key) slot tables (docs/format.md); files with 0 hold the
 * dict-style set nodes of earlier frosts, refused with a "save it again". */
#define SNAP_NODE_ENCODING 1u
#define SEQ_ITEMS offsetof(frost_seq_t, items)

/* ------------------------------------------------------------------------ */
/* shared helpers                                                            */

static int
set_error(frost_snapshot_error_t *err, int code, int sys_errno, const char *fmt, ...)
{
    if (err != NULL) {
        err->code = code;
        err->sys_errno = sys_errno;
        va_list va;
        va_start(va, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, va);
        va_end(va);
    }
    return code;
}

/* What the object/node layouts look like in this build: a file written by a
 * build with other sizes (Py_DEBUG, Py_TRACE_REFS, another frost) is refused. */
static uint64_t
layout_hash(void)
{
    const uint64_t sizes[] = {
        sizeof(PyObject), sizeof(PyVarObject), sizeof(PyASCIIObject),
        sizeof(PyCompactUnicodeObject), offsetof(PyBytesObject, ob_sval), LONG_HDR,
        sizeof(digit), sizeof(PyFloatObject), sizeof(PyComplexObject), TUPLE_HDR,
        sizeof(frost_node_t), sizeof(frost_table_t), sizeof(frost_entry_t), SEQ_ITEMS,
        sizeof(frost_array_t), sizeof(frost_record_t), FROST_ARRAY_FORMAT_MAX, GC_PREFIX,
        sizeof(frost_set_t), sizeof(frost_set_slot_t),
    };
    return frost_snapshot_xxh64(sizes, sizeof sizes, 0);
}


/* hash(SNAP_PROBE) in this process: the seed's fingerprint. The seed is
 * process-wide, so any interpreter may compute it; all get the same value. */
static _Atomic int64_t hash_probe;
static _Atomic int hash_probe_ready;

int
frost_snapshot_init(void)
{
    if (atomic_load(&hash_probe_ready)) {
        return 0;
    }
    PyObject *s = PyUnicode_FromString(SNAP_PROBE);
    Py_hash_t h = s ? PyObject_Hash(s) : -1;
    Py_XDECREF(s);
    if (h == -1) {
        PyErr_Clear();
        return -1;
    }
    atomic_store(&hash_probe, (int64_t)h);
    atomic_store(&hash_probe_ready, 1);
    return 0;
}

/* The record word of an object in the image: (kind, size) in the slots that
 * become ob_refcnt and ob_type. */
typedef struct {
    uint32_t kind;
    uint32_t aux;
    uint64_t size;
} rec_word_t;

/* ======================================================================== */
/* save                                                                      */

typedef struct {
    uintptr_t key;      /* arena address (untagged); 0 = empty */
    uint64_t ref;       /* encoded reference; bit 3 = written (second walk) */
} wmemo_slot_t;

#define WRITTEN 0x8u

typedef struct {
    wmemo_slot_t *slots;
    size_t mask, used;
    uint64_t image_size;      /* first walk: bytes assigned so far */
    uint64_t bulk_packed;     /* first walk: packed-list bytes in bulk */
    uint64_t bulk_aux;        /* first walk: index/array bytes in bulk */
    uint64_t bulk_cursor;     /* second walk: next aux offset */
    uint64_t nrecords;
    unsigned char *image;     /* second walk: where the image goes */
    unsigned char *bulk;
    uintptr_t *stack;         /* DFS: tagged refs; bit 1 of an object = "items done" */
    size_t depth, capacity;
    frost_snapshot_error_t *err;
    const frost_snapshot_progress_t *progress;   /* NULL: none */
    uint64_t items;           /* items assigned (first walk) or written (second), both walks */
    uint64_t total;           /* 2 * items of the first walk, once it is done; 0 before */
    int fd;                   /* second walk: the temporary file mapped at `image`; else -1 */
    uint64_t file_size;       /* ... its size, which the mapping covers */
} writer_t;

/* One more item assigned or written: report every FROST_SNAPSHOT_PROGRESS_EVERY.
 * The callback (Python code) may have shrunk the file the second walk writes
 * through its mapping: checked after it, so that is an error (EIO), not a
 * SIGBUS on the next store. (Another thread or process shrinking it at any
 * other moment is not guarded against: the file is this save's own.) */
static int
writer_step(writer_t *w)
{
    if (++w->items % FROST_SNAPSHOT_PROGRESS_EVERY != 0 || w->progress == NULL) {
        return 0;
    }
    if (w->progress->fn(w->progress->ctx, w->items, w->total) != 0) {
        return set_error(w->err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress callback");
    }
    struct stat sb;
    if (w->fd >= 0 && (fstat(w->fd, &sb) < 0 || (uint64_t)sb.st_size < w->file_size)) {
        return set_error(w->err, FROST_SNAPSHOT_EIO, EIO,
                         "the file was truncated while the snapshot was written into it");
    }
    return 0;
}

static size_t
whash(uintptr_t key)
{
    uint64_t x = (uint64_t)key;   /* the splitmix64 finalizer: addresses are strided */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return (size_t)(x ^ (x >> 31));
}

static wmemo_slot_t *
wmemo_find(writer_t *w, uintptr_t key)
{
    if (w->slots == NULL) {
        return NULL;
    }
    for (size_t i = whash(key) & w->mask;; i = (i + 1) & w->mask) {
        if (w->slots[i].key == key) {
            return &w->slots[i];
        }
        if (w->slots[i].key == 0) {
            return NULL;
        }
    }
}

static int
wmemo_put(writer_t *w, uintptr_t key, uint64_t ref)
{
    if (w->slots == NULL || (w->used + 1) * 2 > w->mask + 1) {
        size_t n = w->slots ? (w->mask + 1) * 2 : 4096;
        wmemo_slot_t *slots = calloc(n, sizeof *slots);
        if (slots == NULL) {
            return set_error(w->err, FROST_ENOMEM, 0, "out of memory while saving");
        }
        for (size_t j = 0; w->slots && j <= w->mask; j++) {
            if (w->slots[j].key != 0) {
                size_t i = whash(w->slots[j].key) & (n - 1);
                while (slots[i].key != 0) {
                    i = (i + 1) & (n - 1);
                }
                slots[i] = w->slots[j];
            }
        }
        free(w->slots);
        w->slots = slots;
        w->mask = n - 1;
    }
    size_t i = whash(key) & w->mask;
    while (w->slots[i].key != 0) {
        i = (i + 1) & w->mask;
    }
    w->slots[i] = (wmemo_slot_t){.key = key, .ref = ref};
    w->used++;
    return 0;
}

static int
wpush(writer_t *w, uintptr_t v)
{
    if (w->depth == w->capacity) {
        size_t cap = w->capacity ? w->capacity * 2 : 1024;
        uintptr_t *s = realloc(w->stack, cap * sizeof *s);
        if (s == NULL) {
            return set_error(w->err, FROST_ENOMEM, 0, "out of memory while saving");
        }
        w->stack = s;
        w->capacity = cap;
    }
    w->stack[w->depth++] = v;
    return 0;
}

/* The singleton encoding of `o`, or 0 if it is not one. */
static uint64_t
immediate_of(PyObject *o)
{
    if (o == Py_None) return IMM(IMM_NONE, 0);
    if (o == Py_True) return IMM(IMM_TRUE, 0);
    if (o == Py_False) return IMM(IMM_FALSE, 0);
    if (o == Py_Ellipsis) return IMM(IMM_ELLIPSIS, 0);
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyTuple_Type && Py_SIZE(o) == 0) {
        return IMM(IMM_EMPTY_TUPLE, 0);
    }
    if (tp == &PyUnicode_Type) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(o);
        if (n == 0) return IMM(IMM_EMPTY_STR, 0);
        if (n == 1 && PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND) {
            return IMM(IMM_LATIN1_CHAR, PyUnicode_1BYTE_DATA(o)[0]);
        }
        return 0;
    }
    if (tp == &PyBytes_Type) {
        Py_ssize_t n = PyBytes_GET_SIZE(o);
        if (n == 0) return IMM(IMM_EMPTY_BYTES, 0);
        if (n == 1) return IMM(IMM_BYTE, (unsigned char)PyBytes_AS_STRING(o)[0]);
        return 0;
    }
    if (tp == &PyLong_Type) {
        const PyLongObject *l = (const PyLongObject *)o;
        uintptr_t tag = l->long_value.lv_tag;
        size_t nd = tag >> _PyLong_NON_SIZE_BITS;
        if (nd <= 1) {
            int64_t v = nd ? (int64_t)l->long_value.ob_digit[0] : 0;
            if ((tag & 3) == 2) {
                v = -v;
            }
            if (v >= -5 && v <= 256) {
                return IMM(IMM_SMALL_INT, (uint64_t)v);
            }
        }
    }
    return 0;
}

/* Bytes of the object `o` as laid out in the arena (GC prefix excluded);
 * 0 if `o` is of a type snapshots don't hold. */
static size_t
object_size(PyObject *o, uint32_t *kind)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyUnicode_Type) {
        *kind = REC_STR;
        int ascii = PyUnicode_IS_ASCII(o);
        size_t n = STR_HDR(ascii) + (size_t)(PyUnicode_GET_LENGTH(o) + 1) * PyUnicode_KIND(o);
        if (!ascii && ((PyCompactUnicodeObject *)o)->utf8 != NULL) {
            n += (size_t)((PyCompactUnicodeObject *)o)->utf8_length + 1;
        }
        return n;
    }
    if (tp == &PyBytes_Type) {
        *kind = REC_BYTES;
        return offsetof(PyBytesObject, ob_sval) + (size_t)PyBytes_GET_SIZE(o) + 1;
    }
    if (tp == &PyLong_Type) {
        *kind = REC_INT;
        size_t nd = ((PyLongObject *)o)->long_value.lv_tag >> _PyLong_NON_SIZE_BITS;
        return LONG_HDR + sizeof(digit) * (nd ? nd : 1);
    }
    if (tp == &PyFloat_Type) {
        *kind = REC_FLOAT;
        return sizeof(PyFloatObject);
    }
    if (tp == &PyComplex_Type) {
        *kind = REC_COMPLEX;
        return sizeof(PyComplexObject);
    }
    if (tp == &PyTuple_Type) {
        *kind = REC_TUPLE;
        return GC_PREFIX + TUPLE_HDR + (size_t)Py_SIZE(o) * sizeof(PyObject *);
    }
    return 0;
}

/* Image bytes of node `n` (and where its pointer-free data goes). */
static size_t
node_size(const frost_node_t *n, int *in_bulk, size_t *aux_bulk)
{
    *in_bulk = 0;
    *aux_bulk = 0;
    switch (n->kind) {
    case FROST_NODE_DICT: {
        const frost_table_t *t = (const frost_table_t *)n;
        *aux_bulk = ROUND_UP((size_t)(t->mask + 1) * sizeof(int32_t), BULK_ALIGN);
        return TABLE_HDR + (size_t)t->len * sizeof(frost_entry_t);
    }
    case FROST_NODE_SET: {
        const frost_set_t *s = (const frost_set_t *)n;
        *aux_bulk = ROUND_UP((size_t)s->len * sizeof(int32_t), BULK_ALIGN);
        return SET_HDR + (size_t)(s->mask + 1) * sizeof(frost_set_slot_t);
    }
    case FROST_NODE_LIST:
    case FROST_NODE_TUPLE: {
        const frost_seq_t *s = (const frost_seq_t *)n;
        if (n->flags != FROST_SEQ_REFS) {
            *in_bulk = 1;
        }
        return FROST_SEQ_SIZE(s->len);
    }
    case FROST_NODE_ARRAY: {
        const frost_array_t *a = (const frost_array_t *)n;
        *aux_bulk = ROUND_UP(ARRAY_DIMS_BYTES(a), BULK_ALIGN)
                    + ROUND_UP((size_t)(a->nbytes ? a->nbytes : 1), BULK_ALIGN);
        return sizeof(frost_array_t);
    }
    case FROST_NODE_RECORD:
        return sizeof(frost_record_t);
    case FROST_NODE_COLUMNS:   /* the blob goes to bulk verbatim (position-independent) */
        *aux_bulk = ROUND_UP((size_t)((const frost_columns_t *)n)->nbytes, BULK_ALIGN);
        return sizeof(frost_columns_t);
    }
    return 0;
}

/* Push the references held by a node. */
static int
push_children(writer_t *w, const frost_node_t *n)
{
    switch (n->kind) {
    case FROST_NODE_DICT: {
        const frost_table_t *t = (const frost_table_t *)n;
        for (Py_ssize_t i = t->len - 1; i >= 0; i--) {
            if (wpush(w, frost_table_value(t, i)) < 0 || wpush(w, t->entries[i].key) < 0) {
                return -1;
            }
        }
        return 0;
    }
    case FROST_NODE_SET: {
        const frost_set_t *s = (const frost_set_t *)n;
        for (Py_ssize_t i = s->len - 1; i >= 0; i--) {
            if (wpush(w, frost_set_item(s, i)) < 0) {
                return -1;
            }
        }
        return 0;
    }
    case FROST_NODE_LIST:
    case FROST_NODE_TUPLE: {
        const frost_seq_t *s = (const frost_seq_t *)n;
        for (Py_ssize_t i = s->len - 1; n->flags == FROST_SEQ_REFS && i >= 0; i--) {
            if (wpush(w, s->items.refs[i]) < 0) {
                return -1;
            }
        }
        return 0;
    }
    case FROST_NODE_RECORD: {
        const frost_record_t *r = (const frost_record_t *)n;
        return (wpush(w, r->state) < 0 || wpush(w, r->qualname) < 0 || wpush(w, r->module) < 0) ? -1 : 0;
    }
    }
    return 0;
}

/* The encoded form of arena reference `r` (second walk: all are assigned). */
static uint64_t
encode_ref(writer_t *w, frost_ref_t r)
{
    if (!frost_ref_is_node(r)) {
        uint64_t imm = immediate_of(frost_ref_object(r));
        if (imm != 0) {
            return imm;
        }
        r = (frost_ref_t)frost_ref_object(r);
    }
    else {
        r = (frost_ref_t)frost_ref_node(r);
    }
    wmemo_slot_t *s = wmemo_find(w, r);
    return s ? (s->ref & ~(uint64_t)WRITTEN) : 0;
}

static uint64_t
ref_offset(uint64_t enc)
{
    return enc & ~(uint64_t)REF_TAG_MASK;
}

static void
write_object(writer_t *w, PyObject *o, uint32_t kind, size_t size, uint64_t enc)
{
    uint64_t off = ref_offset(enc);
    unsigned char *dst = w->image + off;
    size_t rec_size = ROUND_UP(size, REC_ALIGN);
    if (kind == REC_TUPLE) {
        dst -= GC_PREFIX;
        rec_word_t word = {.kind = kind, .size = rec_size};
        memcpy(dst, &word, sizeof word);
        PyTupleObject *t = (PyTupleObject *)(dst + GC_PREFIX);
        memcpy(t, o, TUPLE_HDR);
        memset(t, 0, sizeof(PyObject));   /* refcount and type slots: unused */
        for (Py_ssize_t i = 0; i < Py_SIZE(o); i++) {
            ((uint64_t *)t->ob_item)[i] = encode_ref(w, (frost_ref_t)PyTuple_GET_ITEM(o, i));
        }
        return;
    }
    memcpy(dst, o, size);
    rec_word_t word = {.kind = kind, .size = rec_size};
    memcpy(dst, &word, sizeof word);
    if (kind == REC_STR && !PyUnicode_IS_ASCII(o)) {
        PyCompactUnicodeObject *c = (PyCompactUnicodeObject *)dst;
        const PyCompactUnicodeObject *src = (const PyCompactUnicodeObject *)o;
        uint64_t utf8_off = src->utf8 ? off + (uint64_t)(src->utf8 - (const char *)o) : 0;
        memcpy(&c->utf8, &utf8_off, sizeof utf8_off);
    }
}

static void
write_node(writer_t *w, const frost_node_t *n, uint64_t enc)
{
    uint64_t off = ref_offset(enc);
    switch (n->kind) {
    case FROST_NODE_SET: {
        const frost_set_t *s = (const frost_set_t *)n;
        frost_set_t *d = (frost_set_t *)(w->image + off);
        size_t order_bytes = (size_t)s->len * sizeof(int32_t);
        uint64_t order_off = w->bulk_cursor;
        w->bulk_cursor += ROUND_UP(order_bytes, BULK_ALIGN);
        memcpy(w->bulk + order_off, s->order, order_bytes);
        *d = *s;
        memcpy(&d->order, &order_off, 8);
        uint64_t slots_off = off + SET_HDR;
        memcpy(&d->slots, &slots_off, 8);
        frost_set_slot_t *e = (frost_set_slot_t *)(w->image + slots_off);
        for (Py_ssize_t j = 0; j <= s->mask; j++) {   /* empty slots stay {0, 0} */
            if (s->slots[j].key != 0) {
                e[j].hash = s->slots[j].hash;
                e[j].key = encode_ref(w, s->slots[j].key);
            }
        }
        return;
    }
    case FROST_NODE_DICT: {
        const frost_table_t *t = (const frost_table_t *)n;
        frost_table_t *d = (frost_table_t *)(w->image + off);
        size_t index_bytes = (size_t)(t->mask + 1) * sizeof(int32_t);
        uint64_t index_off = w->bulk_cursor;
        w->bulk_cursor += ROUND_UP(index_bytes, BULK_ALIGN);
        memcpy(w->bulk + index_off, t->index, index_bytes);
        *d = *t;
        if (n->kind == FROST_NODE_DICT) {
            d->hdr.flags = 0;   /* a record's shaped field dict is written as a plain dict */
        }
        memcpy(&d->index, &index_off, 8);
        uint64_t entries_off = off + TABLE_HDR;
        memcpy(&d->entries, &entries_off, 8);
        frost_entry_t *e = (frost_entry_t *)(w->image + entries_off);
        for (Py_ssize_t i = 0; i < t->len; i++) {
            e[i].hash = t->entries[i].hash;
            e[i].key = encode_ref(w, t->entries[i].key);
            e[i].value = encode_ref(w, frost_table_value(t, i));
        }
        return;
    }
    case FROST_NODE_LIST:
    case FROST_NODE_TUPLE: {
        const frost_seq_t *s = (const frost_seq_t *)n;
        if (n->flags != FROST_SEQ_REFS) {   /* packed: verbatim into bulk */
            memcpy(w->bulk + off, s, FROST_SEQ_SIZE(s->len));
            return;
        }
        frost_seq_t *d = (frost_seq_t *)(w->image + off);
        memcpy(d, s, SEQ_ITEMS);
        for (Py_ssize_t i = 0; i < s->len; i++) {
            d->items.refs[i] = encode_ref(w, s->items.refs[i]);
        }
        return;
    }
    case FROST_NODE_ARRAY: {
        const frost_array_t *a = (const frost_array_t *)n;
        frost_array_t *d = (frost_array_t *)(w->image + off);
        *d = *a;
        size_t dim = sizeof(Py_ssize_t) * (size_t)a->ndim;
        uint64_t shape_off = w->bulk_cursor, strides_off = shape_off + dim, format_off = strides_off + dim;
        w->bulk_cursor += ROUND_UP(ARRAY_DIMS_BYTES(a), BULK_ALIGN);
        uint64_t data_off = w->bulk_cursor;
        w->bulk_cursor += ROUND_UP((size_t)(a->nbytes ? a->nbytes : 1), BULK_ALIGN);
        if (a->ndim > 0) {
            memcpy(w->bulk + shape_off, a->shape, dim);
            memcpy(w->bulk + strides_off, a->strides, dim);
        }
        memcpy(w->bulk + format_off, a->format, (size_t)a->format_len + 1);
        memcpy(w->bulk + data_off, a->data, (size_t)a->nbytes);
        memcpy(&d->format, &format_off, 8);
        memcpy(&d->shape, &shape_off, 8);
        memcpy(&d->strides, &strides_off, 8);
        memcpy(&d->data, &data_off, 8);
        return;
    }
    case FROST_NODE_COLUMNS: {
        const frost_columns_t *c = (const frost_columns_t *)n;
        frost_columns_t *d = (frost_columns_t *)(w->image + off);
        uint64_t blob_off = w->bulk_cursor;
        w->bulk_cursor += ROUND_UP((size_t)c->nbytes, BULK_ALIGN);
        memcpy(w->bulk + blob_off, c->blob, (size_t)c->nbytes);
        d->hdr = c->hdr;
        d->nbytes = c->nbytes;
        memcpy(&d->blob, &blob_off, 8);
        return;
    }
    case FROST_NODE_RECORD: {
        const frost_record_t *r = (const frost_record_t *)n;
        frost_record_t *d = (frost_record_t *)(w->image + off);
        d->hdr = r->hdr;
        d->hdr.flags &= FROST_RECORD_KIND_MASK;   /* every loaded record is FROM_FILE */
        d->module = encode_ref(w, r->module);
        d->qualname = encode_ref(w, r->qualname);
        d->state = encode_ref(w, r->state);
        return;
    }
    }
}

/*
 * One depth-first walk from `root`. Pass 1 assigns every object and node its
 * offset (objects after their items, so object references point backwards);
 * pass 2 repeats the identical walk and writes each record where pass 1 put
 * it (the WRITTEN bit plays the memo's part).
 */
static int
walk(writer_t *w, frost_ref_t root, int pass)
{
    w->depth = 0;
    if (wpush(w, root) < 0) {
        return -1;
    }
    while (w->depth > 0) {
        uintptr_t top = w->stack[--w->depth];
        int is_node = frost_ref_is_node(top);
        int items_done = !is_node && (top & 2u);
        uintptr_t addr = is_node ? (uintptr_t)frost_ref_node(top) : (top & ~(uintptr_t)2);
        if (!is_node && immediate_of((PyObject *)addr) != 0) {
            continue;
        }
        wmemo_slot_t *s = wmemo_find(w, addr);
        if (s != NULL && (pass == 1 || (s->ref & WRITTEN))) {
            continue;
        }
        if (is_node) {
            const frost_node_t *n = (const frost_node_t *)addr;
            int in_bulk;
            size_t aux;
            size_t size = node_size(n, &in_bulk, &aux);
            if (size == 0) {
                return set_error(w->err, FROST_SNAPSHOT_EUNSUPPORTED, 0,
                                 "unknown node kind %u in the store", (unsigned)n->kind);
            }
            if (pass == 1) {
                uint64_t enc;
                if (in_bulk) {
                    enc = w->bulk_packed | REF_BULK_NODE;
                    w->bulk_packed += ROUND_UP(size, BULK_ALIGN);
                }
                else {
                    enc = w->image_size | REF_IMG_NODE;
                    w->image_size += ROUND_UP(size, REC_ALIGN);
                    w->nrecords++;
                }
                w->bulk_aux += aux;
                if (wmemo_put(w, addr, enc) < 0) {
                    return -1;
                }
            }
            else {
                s->ref |= WRITTEN;
                write_node(w, n, s->ref & ~(uint64_t)WRITTEN);
            }
            if (writer_step(w) < 0 || push_children(w, n) < 0) {
                return -1;
            }
            continue;
        }
        PyObject *o = (PyObject *)addr;
        uint32_t kind = 0;
        size_t size = object_size(o, &kind);
        if (size == 0) {
            return set_error(w->err, FROST_SNAPSHOT_EUNSUPPORTED, 0,
                             "cannot save an object of type '%.100s'", Py_TYPE(o)->tp_name);
        }
        if (kind == REC_TUPLE && !items_done) {
            if (wpush(w, addr | 2u) < 0) {
                return -1;
            }
            for (Py_ssize_t i = Py_SIZE(o) - 1; i >= 0; i--) {
                if (wpush(w, (uintptr_t)PyTuple_GET_ITEM(o, i)) < 0) {
                    return -1;
                }
            }
            continue;
        }
        if (pass == 1) {
            uint64_t pos = w->image_size + (kind == REC_TUPLE ? GC_PREFIX : 0);
            w->image_size += ROUND_UP(size, REC_ALIGN);
            w->nrecords++;
            if (wmemo_put(w, addr, pos | REF_IMG_OBJ) < 0) {
                return -1;
            }
        }
        else {
            s->ref |= WRITTEN;
            write_object(w, o, kind, size, s->ref & ~(uint64_t)WRITTEN);
        }
        if (writer_step(w) < 0) {
            return -1;
        }
    }
    return 0;
}

const char *
frost_snapshot_target_kind(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0 || S_ISREG(sb.st_mode)) {
        return NULL;   /* absent, or not ours to look at: the writes and rename(2) decide */
    }
    return S_ISDIR(sb.st_mode)    ? "a directory"
           : S_ISFIFO(sb.st_mode) ? "a FIFO"
           : S_ISSOCK(sb.st_mode) ? "a socket"
           : S_ISCHR(sb.st_mode)  ? "a character device"
           : S_ISBLK(sb.st_mode)  ? "a block device"
                                  : "a special file";
}

int
frost_snapshot_target_errno(const char *kind)
{
    return strcmp(kind, "a directory") == 0 ? EISDIR : EINVAL;
}

int
frost_snapshot_create_temp(const char *path, char *tmp, size_t cap)
{
    static _Atomic unsigned long counter;
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash != NULL ? (size_t)(slash - path) + 1 : 0;
    size_t base_len = strlen(path) - dir_len;
    if (base_len == 0) {   /* "" or "dir/": what open(path, O_CREAT) says, before any write */
        errno = dir_len == 0 ? ENOENT : EISDIR;
        return -1;
    }
    struct stat old;
    int replacing = lstat(path, &old) == 0 && S_ISREG(old.st_mode);
    /* a file its owner made read-only is not replaced by a rename that its
     * directory allows: the save needs what open(path, "w") would (root: no check) */
    if (replacing && faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) < 0 && errno == EACCES) {
        return -1;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        char suffix[64];
        int n = snprintf(suffix, sizeof suffix, ".tmp.%ld.%lu", (long)getpid(),
                         (unsigned long)atomic_fetch_add(&counter, 1));
        size_t suffix_len = (size_t)n;
        /* the last component: NAME_MAX at most; the whole: cap - 1 */
        size_t keep = base_len;
        if (keep + suffix_len > NAME_MAX) {
            keep = NAME_MAX > suffix_len ? NAME_MAX - suffix_len : 0;
        }
        if (dir_len + keep + suffix_len >= cap) {
            keep = cap > dir_len + suffix_len + 1 ? cap - 1 - dir_len - suffix_len : 0;
        }
        if (keep == 0 || dir_len + keep + suffix_len >= cap) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(tmp, path, dir_len + keep);
        memcpy(tmp + dir_len + keep, suffix, suffix_len + 1);
        int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST) {
            continue;
        }
        if (fd >= 0 && replacing) {
            if (geteuid() == 0) {
                (void)fchown(fd, old.st_uid, old.st_gid);
            }
            (void)fchmod(fd, old.st_mode & 0777);   /* no set-id or sticky bit */
        }
        return fd;
    }
    errno = EEXIST;
    return -1;
}

int
frost_snapshot_file_intact(int fd, const char *path, uint64_t size)
{
    struct stat open_sb, named_sb;
    if (fstat(fd, &open_sb) < 0 || stat(path, &named_sb) < 0) {
        return 0;   /* gone or unreadable: rename(2) or the caller's next step says so */
    }
    return open_sb.st_dev == named_sb.st_dev && open_sb.st_ino == named_sb.st_ino
           && (uint64_t)open_sb.st_size == size;
}

/* The save's check between slices of its checksum pass: progress->check,
 * then (it ran Python code) the file must still cover the mapping, which the
 * pass reads on: an error (EIO), not a SIGBUS, as after writer_step's call. */
typedef struct {
    const frost_snapshot_progress_t *progress;
    int fd;
    uint64_t file_size;
    int truncated;            /* set when the check failed for that */
} save_check_t;

static int
save_check(void *ctx)
{
    save_check_t *sc = ctx;
    if (sc->progress->check(sc->progress->ctx) != 0) {
        return -1;
    }
    struct stat sb;
    if (fstat(sc->fd, &sb) < 0 || (uint64_t)sb.st_size < sc->file_size) {
        sc->truncated = 1;
        return -1;
    }
    return 0;
}

int
frost_snapshot_save(const frost_store_t *store, const char *path, frost_snapshot_error_t *err)
{
    return frost_snapshot_save_with_progress(store, path, NULL, err);
}

int
frost_snapshot_save_with_progress(const frost_store_t *store, const char *path,
                                  const frost_snapshot_progress_t *progress,
                                  frost_snapshot_error_t *err)
{
    if (err != NULL) {
        memset(err, 0, sizeof *err);
    }
    if (!atomic_load(&hash_probe_ready)) {
        return set_error(err, FROST_EINVAL, 0, "frost_snapshot_init() was not called");
    }
    const char *not_file = frost_snapshot_target_kind(path);
    if (not_file != NULL) {
        return set_error(err, FROST_SNAPSHOT_EIO, frost_snapshot_target_errno(not_file),
                         "%.200s is %s, not a regular file: save renames a new file over its target",
                         path, not_file);
    }
    writer_t w = {.err = err, .progress = progress, .fd = -1};
    frost_ref_t root = frost_store_root(store);
    {
        /* size the memo for every object and node the freezer counted, so it
         * never rehashes (load <= 1/2) */
        frost_arena_stats_t st;
        frost_arena_stats(frost_store_arena(store), &st);
        size_t n = 1;
        for (int k = 0; k < FROST_KIND_COUNT; k++) {
            n += st.objects[k];
        }
        size_t slots = 4096;
        while (slots < 2 * n + 2 && slots < ((size_t)1 << 40)) {
            slots *= 2;
        }
        w.slots = calloc(slots, sizeof *w.slots);
        if (w.slots == NULL) {
            return set_error(err, FROST_ENOMEM, 0, "out of memory while saving");
        }
        w.mask = slots - 1;
    }
    int rc = walk(&w, root, 1);
    char tmp[PATH_MAX];
    tmp[0] = '\0';
    int fd = -1;
    unsigned char *map = MAP_FAILED;
    size_t file_size = 0;
    if (rc < 0) {
        goto done;
    }
    size_t sections_off = ROUND_UP(sizeof(snap_header_t) + 2 * sizeof(snap_section_t), SNAP_SECTION_ALIGN);
    size_t image_off = sections_off;
    size_t bulk_off = ROUND_UP(image_off + w.image_size, SNAP_SECTION_ALIGN);
    size_t bulk_size = w.bulk_packed + w.bulk_aux;
    file_size = bulk_off + bulk_size;

    fd = frost_snapshot_create_temp(path, tmp, sizeof tmp);
    if (fd < 0) {
        tmp[0] = '\0';   /* nothing to unlink */
        rc = set_error(err, FROST_SNAPSHOT_EIO, errno, "cannot create a file beside %.200s: %s", path,
                       strerror(errno));
        goto done;
    }
    /* the file is written through a shared mapping: its blocks are allocated
     * first, so a full disk is an error here, never a SIGBUS at a store */
    int fa = ftruncate(fd, (off_t)file_size) < 0 ? errno : posix_fallocate(fd, 0, (off_t)file_size);
    if (fa != 0) {
        rc = set_error(err, FROST_SNAPSHOT_EIO, fa, "cannot write %.200s: %s", tmp, strerror(fa));
        goto done;
    }
    map = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        rc = set_error(err, FROST_SNAPSHOT_EIO, errno, "cannot map %.200s: %s", tmp, strerror(errno));
        goto done;
    }
    w.image = map + image_off;
    w.bulk = map + bulk_off;
    w.fd = fd;
    w.file_size = file_size;
    w.bulk_cursor = w.bulk_packed;
    w.total = 2 * w.items;
    rc = walk(&w, root, 2);
    if (rc < 0) {
        goto done;
    }

    snap_header_t h = {
        .format_version = FROST_SNAPSHOT_FORMAT_VERSION,
        .header_size = sizeof(snap_header_t),
        .byte_order = SNAP_BYTE_ORDER,
        .pointer_size = sizeof(void *),
        .digit_bits = PyLong_SHIFT,
        .hash_bits = 8 * sizeof(Py_hash_t),
        .node_encoding = SNAP_NODE_ENCODING,
        .python_hexversion = PY_VERSION_HEX,
        .nsections = 2,
        .layout_hash = layout_hash(),
        .file_size = file_size,
        .root = encode_ref(&w, root),
        .nrecords = w.nrecords,
        .section_table = sizeof(snap_header_t),
    };
    memcpy(h.magic, SNAP_MAGIC, sizeof h.magic);
    /* the writer's hash seed, fingerprinted (frost_snapshot_init) */
    h.hash_probe = atomic_load(&hash_probe);
    strncpy(h.hash_algorithm, PyHash_GetFuncDef()->name, sizeof h.hash_algorithm - 1);
    snap_section_t sec[2] = {
        {.id = SNAP_SECTION_IMAGE, .offset = image_off, .size = w.image_size},
        {.id = SNAP_SECTION_BULK, .offset = bulk_off, .size = bulk_size},
    };
    memcpy(map, &h, sizeof h);
    memcpy(map + sizeof h, sec, sizeof sec);
    {
        /* the checksum reads the whole file again (seconds for gigabytes):
         * Ctrl-C is looked for between its slices, as in a load */
        save_check_t sc = {progress, fd, file_size, 0};
        int have_check = progress != NULL && progress->check != NULL;
        if (frost_snapshot_xxh64_checked(map + 16, file_size - 16, 0, FROST_SNAPSHOT_CHECK_SLICE,
                                         have_check ? save_check : NULL, &sc, &h.checksum) < 0) {
            rc = sc.truncated ? set_error(err, FROST_SNAPSHOT_EIO, EIO, "the file was truncated "
                                          "while the snapshot was written into it")
                              : set_error(err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress check");
            goto done;
        }
    }
    memcpy(map + 8, &h.checksum, 8);
    if (munmap(map, file_size) < 0) {
        map = MAP_FAILED;
        rc = set_error(err, FROST_SNAPSHOT_EIO, errno, "cannot write %.200s: %s", tmp, strerror(errno));
        goto done;
    }
    map = MAP_FAILED;
    if (progress != NULL && progress->fn(progress->ctx, w.total, w.total) != 0) {
        rc = set_error(err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress callback");
        goto done;
    }
    if (progress != NULL && !frost_snapshot_file_intact(fd, tmp, file_size)) {
        rc = set_error(err, FROST_SNAPSHOT_EIO, EIO, "the file was truncated, extended or replaced by "
                       "the progress callback after the snapshot was written into it");
        goto done;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = set_error(err, FROST_SNAPSHOT_EIO, errno, "cannot write %.200s: %s", tmp, strerror(errno));
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = set_error(err, FROST_SNAPSHOT_EIO, errno, "cannot rename to %.200s: %s", path, strerror(errno));
        goto done;
    }
    tmp[0] = '\0';
done:
    if (map != MAP_FAILED) {
        munmap(map, file_size);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc < 0 && tmp[0] != '\0') {
        unlink(tmp);   /* best effort; ENOENT when it was never created */
    }
    free(w.slots);
    free(w.stack);
    return rc < 0 ? rc : FROST_OK;
}

/* ======================================================================== */
/* load                                                                      */

/* The per-load backend: forwards chunks to the default backend and owns the
 * file mapping, which goes when the arena's last chunk does. */
typedef struct {
    frost_backend_t backend;          /* passed to frost_arena_new; ctx = this */
    const frost_backend_t *inner;     /* frost_backend_default() */
    void *map;                        /* the file, PROT_READ */
    size_t map_size;
    int guard;                        /* its SIGBUS guard slot (frost_map_guard_add), or -1 */
    size_t live_chunks;               /* chunks handed out and not yet returned */
} snap_backend_t;

static void *
snap_chunk_alloc(void *ctx, size_t size)
{
    snap_backend_t *b = ctx;
    void *p = b->inner->chunk_alloc(b->inner->ctx, size);
    if (p != NULL) {
        b->live_chunks++;   /* the arena calls us from one thread at a time */
    }
    return p;
}

static void
snap_backend_free(snap_backend_t *b)
{
    if (b->map != NULL) {
        frost_map_guard_remove(b->guard);
        munmap(b->map, b->map_size);
    }
    free(b);
}

static void
snap_chunk_free(void *ctx, void *chunk, size_t size)
{
    snap_backend_t *b = ctx;
    b->inner->chunk_free(b->inner->ctx, chunk, size);
    if (--b->live_chunks == 0) {
        /* frost_arena_free is returning its last chunk: it touches the
         * backend no more, so the mapping and this struct can go. */
        snap_backend_free(b);
    }
}

typedef struct {
    unsigned char *img;            /* the image, copied into the arena (writable until sealed) */
    uint64_t img_size;
    const unsigned char *bulk;     /* the bulk section, in the mapping */
    uint64_t bulk_size;
    uint8_t *kinds;                /* kinds[off / 16]: the record kind whose object/node is at off, or 0 */
    uint8_t *tuple_levels;         /* tuple_levels[off / 16]: levels of tuples below the tuple at off */
    uint64_t *tables;              /* image offsets of table nodes (for rehashing) */
    uint8_t *bulk_lists;           /* bit per BULK_ALIGN of bulk: a packed list counted in stats */
    size_t ntables, tables_cap;
    int seed_match;                /* stored hashes and indexes are valid here */
    PyObject *imm[IMM_COUNT];      /* singletons (borrowed, immortal); SMALL_INT etc. handled apart */
    frost_arena_t *arena;
    frost_snapshot_error_t *err;
    const char *path;              /* the file mapped, its device, inode and size then */
    dev_t dev;
    ino_t ino;
    uint64_t file_size;
    int (*check)(void *ctx);       /* progress->check (NULL: none): between blocks of a rehash */
    void *check_ctx;
} loader_t;

#define BAD(ld, ...) set_error((ld)->err, FROST_SNAPSHOT_EFORMAT, 0, __VA_ARGS__)

/* Mark `kind` at image offset `off`. */
static void
mark(loader_t *ld, uint64_t off, uint8_t kind)
{
    ld->kinds[off / REC_ALIGN] = kind;
}

/* Walk A for one string: validate, return its record size (0 = bad). */
static size_t
check_str(loader_t *ld, uint64_t pos)
{
    uint64_t room = ld->img_size - pos;
    PyASCIIObject *a = (PyASCIIObject *)(ld->img + pos);
    if (room < sizeof(PyASCIIObject)) {
        return 0;
    }
    unsigned kind = a->state.kind, ascii = a->state.ascii;
    if (!a->state.compact || (kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1)) {
        return 0;
    }
    size_t hdr = STR_HDR(ascii);
    if (room < hdr || a->length < 0 || (uint64_t)a->length >= (room - hdr) / kind) {
        return 0;
    }
    size_t len = (size_t)a->length;
    const unsigned char *data = ld->img + pos + hdr;
    Py_UCS4 maxc = 0;
    size_t utf8_len = 0;
    int surrogates = 0;
    for (size_t i = 0; i < len; i++) {
        Py_UCS4 c = kind == 1 ? data[i] : kind == 2 ? ((const Py_UCS2 *)data)[i] : ((const Py_UCS4 *)data)[i];
        maxc = c > maxc ? c : maxc;
        utf8_len += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        surrogates |= c >= 0xD800 && c <= 0xDFFF;
    }
    Py_UCS4 nul = kind == 1 ? data[len] : kind == 2 ? ((const Py_UCS2 *)data)[len] : ((const Py_UCS4 *)data)[len];
    int canonical = ascii ? maxc < 0x80
                    : kind == 1 ? (maxc >= 0x80 && maxc <= 0xFF)
                    : kind == 2 ? (maxc >= 0x100 && maxc <= 0xFFFF)
                    : (maxc >= 0x10000 && maxc <= 0x10FFFF);
    if (nul != 0 || !canonical) {
        return 0;
    }
    size_t size = hdr + (len + 1) * kind;
    if (!ascii) {
        PyCompactUnicodeObject *c = (PyCompactUnicodeObject *)a;
        uint64_t utf8_off;
        memcpy(&utf8_off, &c->utf8, 8);
        if (surrogates) {
            if (utf8_off != 0 || c->utf8_length != 0) {
                return 0;
            }
        }
        else if (utf8_off != pos + size || (size_t)c->utf8_length != utf8_len || room - size <= utf8_len) {
            return 0;
        }
        else {
            size += utf8_len + 1;
        }
    }
    if (ld->seed_match && a->hash == -1) {
        return 0;
    }
    return ROUND_UP(size, REC_ALIGN);
}

static size_t
check_int(loader_t *ld, uint64_t pos)
{
    uint64_t room = ld->img_size - pos;
    if (room < LONG_HDR + sizeof(digit)) {
        return 0;
    }
    PyLongObject *l = (PyLongObject *)(ld->img + pos);
    uintptr_t tag = l->long_value.lv_tag;
    uint64_t nd = tag >> _PyLong_NON_SIZE_BITS;
    unsigned sign = tag & 3;
    if ((tag & 4) || sign == 3 || (sign == 1) != (nd == 0) || nd > (room - LONG_HDR) / sizeof(digit)) {
        return 0;
    }
    for (uint64_t i = 0; i < nd; i++) {
        if (l->long_value.ob_digit[i] >> PyLong_SHIFT) {
            return 0;
        }
    }
    if (nd > 0 && l->long_value.ob_digit[nd - 1] == 0) {
        return 0;   /* not normalized */
    }
    if (nd == 0 && l->long_value.ob_digit[0] != 0) {
        return 0;
    }
    return ROUND_UP(LONG_HDR + sizeof(digit) * (nd ? nd : 1), REC_ALIGN);
}

/* Note a dict or set node at `pos` for fix_tables. 0 ok, -1 out of memory (err set). */
static int
remember_table(loader_t *ld, uint64_t pos)
{
    if (ld->ntables == ld->tables_cap) {
        size_t cap = ld->tables_cap ? 2 * ld->tables_cap : 64;
        uint64_t *grown = realloc(ld->tables, cap * sizeof *grown);
        if (grown == NULL) {
            set_error(ld->err, FROST_ENOMEM, 0, "out of memory while loading");
            return -1;
        }
        ld->tables = grown;
        ld->tables_cap = cap;
    }
    ld->tables[ld->ntables++] = pos;
    return 0;
}

/* Walk A: the shape of the record at `pos`; its size, or 0 with err set. */
static size_t
check_record(loader_t *ld, uint64_t pos)
{
    uint64_t room = ld->img_size - pos;
    if (room < sizeof(rec_word_t)) {
        BAD(ld, "image record at offset %llu is cut off", (unsigned long long)pos);
        return 0;
    }
    rec_word_t word;
    memcpy(&word, ld->img + pos, sizeof word);
    size_t size = 0;
    uint64_t obj = pos;
    switch (word.kind) {
    case REC_STR:
        size = check_str(ld, pos);
        break;
    case REC_BYTES: {
        PyVarObject *v = (PyVarObject *)(ld->img + pos);
        size_t hdr = offsetof(PyBytesObject, ob_sval);
        if (room > hdr && v->ob_size >= 0 && (uint64_t)v->ob_size < room - hdr
            && ((PyBytesObject *)v)->ob_sval[v->ob_size] == 0
            && !(ld->seed_match && BYTES_SHASH(v) == -1)) {
            size = ROUND_UP(hdr + (size_t)v->ob_size + 1, REC_ALIGN);
        }
        break;
    }
    case REC_INT:
        size = check_int(ld, pos);
        break;
    case REC_FLOAT:
        size = room >= sizeof(PyFloatObject) ? ROUND_UP(sizeof(PyFloatObject), REC_ALIGN) : 0;
        break;
    case REC_COMPLEX:
        size = room >= sizeof(PyComplexObject) ? ROUND_UP(sizeof(PyComplexObject), REC_ALIGN) : 0;
        break;
    case REC_TUPLE: {
        obj = pos + GC_PREFIX;
        if (room >= GC_PREFIX + TUPLE_HDR) {
            PyVarObject *v = (PyVarObject *)(ld->img + obj);
            if (v->ob_size > 0 && (uint64_t)v->ob_size <= (room - GC_PREFIX - TUPLE_HDR) / sizeof(PyObject *)) {
                size = ROUND_UP(GC_PREFIX + TUPLE_HDR + (size_t)v->ob_size * sizeof(PyObject *), REC_ALIGN);
            }
        }
        break;
    }
    case FROST_NODE_SET: {
        if (room < SET_HDR) {
            break;
        }
        frost_set_t *s = (frost_set_t *)(ld->img + pos);
        uint64_t slots, order;
        memcpy(&slots, &s->slots, 8);
        memcpy(&order, &s->order, 8);
        if (s->len < 0 || s->len > INT32_MAX || (s->hdr.flags & ~FROST_SET_WAS_FROZENSET)
            /* unsigned: a hostile mask of INT64_MAX must not overflow */
            || (uint64_t)s->mask + 1 != (uint64_t)frost__table_slots(s->len)
            || slots != pos + SET_HDR
            || (uint64_t)(s->mask + 1) > (room - SET_HDR) / sizeof(frost_set_slot_t)
            || order % sizeof(int32_t) != 0 || order > ld->bulk_size
            || (uint64_t)s->len > (ld->bulk_size - order) / sizeof(int32_t)) {
            break;
        }
        size = ROUND_UP(SET_HDR + (size_t)(s->mask + 1) * sizeof(frost_set_slot_t), REC_ALIGN);
        if (remember_table(ld, pos) < 0) {
            return 0;
        }
        break;
    }
    case FROST_NODE_DICT: {
        if (room < TABLE_HDR) {
            break;
        }
        frost_table_t *t = (frost_table_t *)(ld->img + pos);
        uint64_t entries, index;
        memcpy(&entries, &t->entries, 8);
        memcpy(&index, &t->index, 8);
        if (t->len < 0 || t->len > INT32_MAX || t->hdr.flags
            || (uint64_t)t->len > (room - TABLE_HDR) / sizeof(frost_entry_t)
            || (uint64_t)t->mask + 1 != (uint64_t)frost__table_slots(t->len)   /* (unsigned) */
            || entries != pos + TABLE_HDR
            || index % sizeof(int32_t) != 0 || index > ld->bulk_size
            || (uint64_t)(t->mask + 1) > (ld->bulk_size - index) / sizeof(int32_t)) {
            break;
        }
        size = ROUND_UP(TABLE_HDR + (size_t)t->len * sizeof(frost_entry_t), REC_ALIGN);
        if (remember_table(ld, pos) < 0) {
            return 0;
        }
        break;
    }
    case FROST_NODE_LIST:
    case FROST_NODE_TUPLE: {
        frost_seq_t *s = (frost_seq_t *)(ld->img + pos);
        if (room >= SEQ_ITEMS && s->hdr.flags == FROST_SEQ_REFS && s->len >= 0
            && (uint64_t)s->len <= (room - SEQ_ITEMS) / 8 && FROST_SEQ_SIZE(s->len) <= room) {
            size = ROUND_UP(FROST_SEQ_SIZE(s->len), REC_ALIGN);
        }
        break;
    }
    case FROST_NODE_ARRAY:
        size = room >= sizeof(frost_array_t) ? ROUND_UP(sizeof(frost_array_t), REC_ALIGN) : 0;
        break;   /* fields are checked in walk B */
    case FROST_NODE_COLUMNS:
        size = room >= sizeof(frost_columns_t) ? ROUND_UP(sizeof(frost_columns_t), REC_ALIGN) : 0;
        break;   /* the blob is checked in walk B */
    case FROST_NODE_RECORD: {
        frost_record_t *r = (frost_record_t *)(ld->img + pos);
        if (room >= sizeof(frost_record_t) && r->hdr.flags <= FROST_RECORD_SHARED) {
            size = ROUND_UP(sizeof(frost_record_t), REC_ALIGN);
        }
        break;
    }
    default:
        BAD(ld, "unknown record kind %u at image offset %llu", (unsigned)word.kind,
            (unsigned long long)pos);
        return 0;
    }
    if (ld->err != NULL && ld->err->code == FROST_ENOMEM) {
        return 0;
    }
    if (size == 0 || (word.kind >= REC_STR && word.size != size)) {
        BAD(ld, "malformed record (kind %u) at image offset %llu", (unsigned)word.kind,
            (unsigned long long)pos);
        return 0;
    }
    mark(ld, obj, (uint8_t)word.kind);
    return size;
}

static int
is_object_kind(uint8_t k)
{
    return k >= REC_STR && k <= REC_TUPLE;
}

/* A valid packed-list node at bulk offset `off`? */
static int
check_packed(loader_t *ld, uint64_t off)
{
    if (off % BULK_ALIGN != 0 || off > ld->bulk_size || ld->bulk_size - off < SEQ_ITEMS) {
        return 0;
    }
    const frost_seq_t *s = (const frost_seq_t *)(ld->bulk + off);
    return s->hdr.kind == FROST_NODE_LIST
           && (s->hdr.flags == FROST_SEQ_INT64 || s->hdr.flags == FROST_SEQ_FLOAT64)
           && s->len >= 0 && (uint64_t)s->len <= (ld->bulk_size - off - SEQ_ITEMS) / 8;
}

/* A singleton for an immediate, or NULL. */
static PyObject *
immediate(loader_t *ld, uint64_t enc)
{
    unsigned sub = (unsigned)((enc >> 4) & 0xF);
    int64_t payload = (int64_t)enc >> 8;
    PyObject *o = NULL;
    switch (sub) {
    case IMM_SMALL_INT:
        if (payload < -5 || payload > 256) {
            return NULL;
        }
        o = PyLong_FromLongLong(payload);
        break;
    case IMM_LATIN1_CHAR:
        if (payload < 0 || payload > 255) {
            return NULL;
        }
        o = PyUnicode_FromOrdinal((int)payload);
        break;
    case IMM_BYTE: {
        if (payload < 0 || payload > 255) {
            return NULL;
        }
        char c = (char)payload;
        o = PyBytes_FromStringAndSize(&c, 1);
        break;
    }
    default:
        if (sub >= IMM_COUNT || payload != 0) {
            return NULL;
        }
        return ld->imm[sub];
    }
    if (o == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (!_Py_IsImmortal(o)) {   /* CPython 3.12+ keeps these static; be safe */
        Py_DECREF(o);
        return NULL;
    }
    return o;   /* immortal: the reference needs no release */
}

/* Relocate one encoded reference. `want`: 0 any, 1 object only; `before`:
 * object targets must lie below this image offset (tuple items). Returns 0,
 * or -1 with err set. */
static int
relocate(loader_t *ld, void *slot, int objects_only, uint64_t before, uint64_t at)
{
    uint64_t enc, off;
    memcpy(&enc, slot, sizeof enc);
    off = ref_offset(enc);
    uintptr_t out = 0;
    switch (enc & REF_TAG_MASK) {
    case REF_IMG_OBJ:
        if (off < ld->img_size && off < before && is_object_kind(ld->kinds[off / REC_ALIGN])) {
            out = (uintptr_t)(ld->img + off);
        }
        break;
    case REF_IMG_NODE:
        if (!objects_only && off < ld->img_size && ld->kinds[off / REC_ALIGN] >= FROST_NODE_DICT
            && ld->kinds[off / REC_ALIGN] <= FROST_NODE_COLUMNS) {
            out = frost_ref_from_node(ld->img + off);
        }
        break;
    case REF_BULK_NODE:
        if (!objects_only && check_packed(ld, off)) {
            out = frost_ref_from_node(ld->bulk + off);
            uint64_t bit = off / BULK_ALIGN;   /* count each packed list once, however shared */
            if (!(ld->bulk_lists[bit / 8] & (1u << (bit % 8)))) {
                ld->bulk_lists[bit / 8] |= (uint8_t)(1u << (bit % 8));
                frost_arena_count(ld->arena, FROST_KIND_LIST);
            }
        }
        break;
    case REF_IMM:
        out = (uintptr_t)immediate(ld, enc);
        break;
    }
    if (out == 0) {
        BAD(ld, "bad reference 0x%llx at image offset %llu", (unsigned long long)enc,
            (unsigned long long)at);
        return -1;
    }
    memcpy(slot, &out, sizeof out);
    return 0;
}

/* UTF-8 of `len` code units of `kind` at `data` (no surrogates) into `out`. */
static void
encode_utf8(const unsigned char *data, unsigned kind, size_t len, unsigned char *out)
{
    for (size_t i = 0; i < len; i++) {
        Py_UCS4 c = kind == 1 ? data[i] : kind == 2 ? ((const Py_UCS2 *)data)[i] : ((const Py_UCS4 *)data)[i];
        if (c < 0x80) {
            *out++ = (unsigned char)c;
        }
        else if (c < 0x800) {
            *out++ = (unsigned char)(0xC0 | (c >> 6));
            *out++ = (unsigned char)(0x80 | (c & 0x3F));
        }
        else if (c < 0x10000) {
            *out++ = (unsigned char)(0xE0 | (c >> 12));
            *out++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *out++ = (unsigned char)(0x80 | (c & 0x3F));
        }
        else {
            *out++ = (unsigned char)(0xF0 | (c >> 18));
            *out++ = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            *out++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            *out++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    *out = 0;
}

static int
rehash(loader_t *ld, PyObject *o, uint64_t at)
{
    Py_hash_t h = PyObject_Hash(o);
    if (h == -1) {
        PyErr_Clear();
        BAD(ld, "unhashable object at image offset %llu", (unsigned long long)at);
        return -1;
    }
    return 0;
}

/* Walk B, tuple at image offset `pos` (items relocated; they lie below it,
 * so theirs are known): tuples nest at most FROST_MAX_TUPLE_DEPTH levels, as
 * freeze() makes them, so hashing and comparing them stays shallow. */
static int
check_tuple_depth(loader_t *ld, const PyTupleObject *t, uint64_t pos)
{
    if (ld->tuple_levels == NULL) {
        ld->tuple_levels = calloc(ld->img_size / REC_ALIGN + 1, 1);
        if (ld->tuple_levels == NULL) {
            return set_error(ld->err, FROST_ENOMEM, 0, "out of memory while loading");
        }
    }
    unsigned below = 0;   /* levels of tuples under this one */
    for (Py_ssize_t i = 0; i < Py_SIZE(t); i++) {
        const unsigned char *item = (const unsigned char *)t->ob_item[i];
        if (item >= ld->img && item < ld->img + ld->img_size) {
            uint64_t off = (uint64_t)(item - ld->img);
            if (ld->kinds[off / REC_ALIGN] == REC_TUPLE && ld->tuple_levels[off / REC_ALIGN] + 1u > below) {
                below = ld->tuple_levels[off / REC_ALIGN] + 1u;
            }
        }
    }
    if (below + 1 > FROST_MAX_TUPLE_DEPTH) {
        return BAD(ld, "tuples nested deeper than %d levels at image offset %llu",
                   FROST_MAX_TUPLE_DEPTH, (unsigned long long)pos);
    }
    ld->tuple_levels[(pos + GC_PREFIX) / REC_ALIGN] = (uint8_t)below;
    return 0;
}

/* Walk B for the array node at `pos`: its dims and format (one bulk block:
 * shape, strides, format with its NUL) and data are bulk offsets; the format
 * must pass the same check as at freeze, so a file cannot hold an array
 * freeze would refuse (pointers, sizes readers disagree on). */
static int
fix_array(loader_t *ld, uint64_t pos)
{
    frost_array_t *a = (frost_array_t *)(ld->img + pos);
    uint64_t shape, strides, format, data;
    memcpy(&shape, &a->shape, 8);
    memcpy(&strides, &a->strides, 8);
    memcpy(&format, &a->format, 8);
    memcpy(&data, &a->data, 8);
    if (a->hdr.flags > FROST_ARRAY_FROM_MEMORYVIEW || a->ndim < 0 || a->ndim > FROST_ARRAY_MAX_NDIM
        || a->format_len == 0 || a->format_len > FROST_ARRAY_FORMAT_MAX || a->itemsize <= 0
        || a->nbytes < 0) {
        return BAD(ld, "malformed array node at image offset %llu", (unsigned long long)pos);
    }
    uint64_t dims = sizeof(Py_ssize_t) * (uint64_t)a->ndim;
    if (shape % 8 || shape > ld->bulk_size || ld->bulk_size - shape < 2 * dims + a->format_len + 1
        || strides != shape + dims || format != strides + dims
        || data > ld->bulk_size || ld->bulk_size - data < (uint64_t)a->nbytes) {
        return BAD(ld, "malformed array node at image offset %llu", (unsigned long long)pos);
    }
    const char *fmt = (const char *)(ld->bulk + format);
    const char *why = NULL;
    if (memchr(fmt, 0, a->format_len + 1) != fmt + a->format_len
        || frost__array_format_check(fmt, a->itemsize, &why) < 0) {
        return BAD(ld, "array format refused at image offset %llu%s%s", (unsigned long long)pos,
                   why ? ": " : "", why ? why : "");
    }
    const Py_ssize_t *sh = (const Py_ssize_t *)(ld->bulk + shape);
    const Py_ssize_t *st = (const Py_ssize_t *)(ld->bulk + strides);
    Py_ssize_t expect = a->itemsize;
    for (int d = a->ndim - 1; d >= 0; d--) {
        if (sh[d] < 0 || st[d] != expect || (sh[d] > 0 && expect > PY_SSIZE_T_MAX / sh[d])) {
            return BAD(ld, "malformed array shape at image offset %llu", (unsigned long long)pos);
        }
        expect *= sh[d];
    }
    if (expect != a->nbytes) {
        return BAD(ld, "array size mismatch at image offset %llu", (unsigned long long)pos);
    }
    a->format = fmt;
    a->shape = (Py_ssize_t *)sh;
    a->strides = (Py_ssize_t *)st;
    a->data = (char *)(ld->bulk + data);
    return 0;
}

/* Walk B for the table node at `pos`: its blob (in bulk, used in place) is
 * checked whole by frost__colblob_check, like the freezer's own copy. */
static int
fix_columns(loader_t *ld, uint64_t pos)
{
    frost_columns_t *c = (frost_columns_t *)(ld->img + pos);
    uint64_t blob;
    memcpy(&blob, &c->blob, 8);
    if (c->hdr.flags != 0 || blob % BULK_ALIGN != 0 || blob > ld->bulk_size || c->nbytes > ld->bulk_size - blob) {
        return BAD(ld, "malformed table node at image offset %llu", (unsigned long long)pos);
    }
    char why[FROST_COL_ERRLEN];
    if (frost__colblob_check((char *)(ld->bulk + blob), c->nbytes, 0, why, sizeof why) < 0) {
        return BAD(ld, "malformed table at image offset %llu: %s", (unsigned long long)pos, why);
    }
    c->blob = (const char *)(ld->bulk + blob);
    return 0;
}

/* Whether encoded reference `enc` is a str: one in the image, or the
 * singleton '' or a one-character Latin-1 str. */
static int
is_str_ref(loader_t *ld, uint64_t enc)
{
    uint64_t off = ref_offset(enc);
    unsigned sub = (unsigned)((enc >> 4) & 0xF);
    switch (enc & REF_TAG_MASK) {
    case REF_IMG_OBJ:
        return off < ld->img_size && ld->kinds[off / REC_ALIGN] == REC_STR;
    case REF_IMM:
        return sub == IMM_EMPTY_STR || sub == IMM_LATIN1_CHAR;   /* relocate checks the payload */
    }
    return 0;
}

/* Walk B: relocate the record at `pos` (validated by walk A). */
static int
fix_record(loader_t *ld, uint64_t pos, size_t *size_out)
{
    rec_word_t word;
    memcpy(&word, ld->img + pos, sizeof word);
    unsigned char *p = ld->img + pos;
    switch (word.kind) {
    case REC_STR: {
        PyASCIIObject *a = (PyASCIIObject *)p;
        *size_out = word.size;
        Py_SET_TYPE((PyObject *)a, &PyUnicode_Type);
        frost_set_immortal((PyObject *)a);
        a->state.interned = 2;               /* SSTATE_INTERNED_IMMORTAL (see freeze.c) */
        a->state.statically_allocated = 0;
        if (!a->state.ascii) {
            PyCompactUnicodeObject *c = (PyCompactUnicodeObject *)a;
            uint64_t utf8_off;
            memcpy(&utf8_off, &c->utf8, 8);
            if (utf8_off != 0) {
                c->utf8 = (char *)(ld->img + utf8_off);
                encode_utf8(p + sizeof *c, a->state.kind, (size_t)a->length, (unsigned char *)c->utf8);
            }
        }
        frost_arena_count(ld->arena, FROST_KIND_STR);
        if (!ld->seed_match) {
            a->hash = -1;
            return rehash(ld, (PyObject *)a, pos);
        }
        return 0;
    }
    case REC_BYTES:
        *size_out = word.size;
        Py_SET_TYPE((PyObject *)p, &PyBytes_Type);
        frost_set_immortal((PyObject *)p);
        frost_arena_count(ld->arena, FROST_KIND_BYTES);
        if (!ld->seed_match) {
            BYTES_SHASH(p) = -1;
            return rehash(ld, (PyObject *)p, pos);
        }
        return 0;
    case REC_INT:
    case REC_FLOAT:
    case REC_COMPLEX:
        *size_out = word.size;
        Py_SET_TYPE((PyObject *)p, word.kind == REC_INT ? &PyLong_Type
                                   : word.kind == REC_FLOAT ? &PyFloat_Type : &PyComplex_Type);
        frost_set_immortal((PyObject *)p);
        frost_arena_count(ld->arena, word.kind == REC_INT ? FROST_KIND_INT
                                     : word.kind == REC_FLOAT ? FROST_KIND_FLOAT : FROST_KIND_COMPLEX);
        return 0;
    case REC_TUPLE: {
        *size_out = word.size;
        memset(p, 0, GC_PREFIX);   /* untracked, never collecting */
        PyTupleObject *t = (PyTupleObject *)(p + GC_PREFIX);
        Py_SET_TYPE((PyObject *)t, &PyTuple_Type);
        frost_set_immortal((PyObject *)t);
        for (Py_ssize_t i = 0; i < Py_SIZE(t); i++) {
            if (relocate(ld, &t->ob_item[i], 1, pos, pos) < 0) {
                return -1;
            }
        }
        if (check_tuple_depth(ld, t, pos) < 0) {
            return -1;
        }
        frost_arena_count(ld->arena, FROST_KIND_TUPLE);
#if PY_VERSION_HEX >= 0x030E0000
        if (!ld->seed_match || t->ob_hash == -1) {
            t->ob_hash = -1;
            return rehash(ld, (PyObject *)t, pos);
        }
#endif
        return 0;
    }
    case FROST_NODE_SET: {
        frost_set_t *s = (frost_set_t *)p;
        *size_out = ROUND_UP(SET_HDR + (size_t)(s->mask + 1) * sizeof(frost_set_slot_t), REC_ALIGN);
        s->slots = (frost_set_slot_t *)(ld->img + pos + SET_HDR);
        Py_ssize_t used = 0;
        for (Py_ssize_t j = 0; j <= s->mask; j++) {
            frost_set_slot_t *e = &s->slots[j];
            if (e->key == 0) {
                if (e->hash != 0) {
                    return BAD(ld, "empty set slot with a hash at image offset %llu", (unsigned long long)pos);
                }
                continue;
            }
            if (relocate(ld, &e->key, 1, UINT64_MAX, pos) < 0) {
                return -1;
            }
            used++;
        }
        if (used != s->len) {
            return BAD(ld, "set node at image offset %llu uses %zd slots for %zd items",
                       (unsigned long long)pos, used, s->len);
        }
        uint64_t order;
        memcpy(&order, &s->order, 8);
        s->order = (int32_t *)(ld->bulk + order);   /* validated in walk A and fix_tables */
        frost_arena_count(ld->arena, FROST_KIND_SET);
        return 0;
    }
    case FROST_NODE_DICT: {
        frost_table_t *t = (frost_table_t *)p;
        *size_out = ROUND_UP(TABLE_HDR + (size_t)t->len * sizeof(frost_entry_t), REC_ALIGN);
        t->entries = (frost_entry_t *)(ld->img + pos + TABLE_HDR);
        for (Py_ssize_t i = 0; i < t->len; i++) {
            frost_entry_t *e = &t->entries[i];
            if (relocate(ld, &e->key, 1, UINT64_MAX, pos) < 0 || relocate(ld, &e->value, 0, UINT64_MAX, pos) < 0) {
                return -1;
            }
        }
        uint64_t index;
        memcpy(&index, &t->index, 8);
        t->index = (int32_t *)(ld->bulk + index);   /* validated in walk A; replaced if rehashed */
        frost_arena_count(ld->arena, FROST_KIND_DICT);
        return 0;
    }
    case FROST_NODE_LIST:
    case FROST_NODE_TUPLE: {
        frost_seq_t *s = (frost_seq_t *)p;
        *size_out = ROUND_UP(FROST_SEQ_SIZE(s->len), REC_ALIGN);
        for (Py_ssize_t i = 0; i < s->len; i++) {
            if (relocate(ld, &s->items.refs[i], 0, UINT64_MAX, pos) < 0) {
                return -1;
            }
        }
        frost_arena_count(ld->arena, word.kind == FROST_NODE_LIST ? FROST_KIND_LIST : FROST_KIND_TUPLE_NODE);
        return 0;
    }
    case FROST_NODE_ARRAY:
        *size_out = ROUND_UP(sizeof(frost_array_t), REC_ALIGN);
        frost_arena_count(ld->arena, FROST_KIND_ARRAY);
        return fix_array(ld, pos);
    case FROST_NODE_COLUMNS:
        *size_out = ROUND_UP(sizeof(frost_columns_t), REC_ALIGN);
        frost_arena_count(ld->arena, FROST_KIND_TABLE);
        return fix_columns(ld, pos);
    case FROST_NODE_RECORD: {
        frost_record_t *r = (frost_record_t *)p;
        *size_out = ROUND_UP(sizeof(frost_record_t), REC_ALIGN);
        if (!is_str_ref(ld, r->module) || !is_str_ref(ld, r->qualname)) {
            return BAD(ld, "record class name is not a str at image offset %llu", (unsigned long long)pos);
        }
        r->hdr.flags |= FROST_RECORD_FROM_FILE;   /* names from a file: never imported unasked */
        frost_arena_count(ld->arena, FROST_KIND_RECORD);
        return (relocate(ld, &r->module, 1, UINT64_MAX, pos) < 0
                || relocate(ld, &r->qualname, 1, UINT64_MAX, pos) < 0
                || relocate(ld, &r->state, 0, UINT64_MAX, pos) < 0) ? -1 : 0;
    }
    }
    return BAD(ld, "unknown record at image offset %llu", (unsigned long long)pos);
}

/* A bitmap of at least `bits` zero bits in *seen (grown as needed). 0 ok, -1 (err set). */
static int
clear_seen(loader_t *ld, uint8_t **seen, size_t *seen_cap, size_t bits)
{
    size_t need = (bits + 7) / 8 + 1;
    if (need > *seen_cap) {
        uint8_t *grown = realloc(*seen, need);
        if (grown == NULL) {
            return set_error(ld->err, FROST_ENOMEM, 0, "out of memory while loading");
        }
        *seen = grown;
        *seen_cap = need;
    }
    memset(*seen, 0, need);
    return 0;
}

/* Whether a table's (set's) keys hold a NaN, hashed by its address (frost__key_hash) */
static int
table_holds_nan(const frost_table_t *t)
{
    for (Py_ssize_t i = 0; i < t->len; i++) {
        if (frost__key_holds_nan((PyObject *)t->entries[i].key)) {
            return 1;
        }
    }
    return 0;
}

static int
set_holds_nan(const frost_set_t *s)
{
    for (Py_ssize_t i = 0; i < s->len; i++) {
        if (frost__key_holds_nan((PyObject *)frost_set_item(s, i))) {
            return 1;
        }
    }
    return 0;
}

/* The set node at image offset `pos` (walk B counted exactly len used slots):
 * `order` must name each used slot once; under another seed (or if an item
 * holds a NaN, hashed by its address) every item is hashed again and placed afresh (new slots order in the arena: bulk is
 * read-only). 0 ok, else the error code (err set). */
static int
fix_set(loader_t *ld, uint64_t pos, uint8_t **seen, size_t *seen_cap)
{
    frost_set_t *s = (frost_set_t *)(ld->img + pos);
    size_t nslots = (size_t)s->mask + 1;
    int rc = clear_seen(ld, seen, seen_cap, nslots);
    for (Py_ssize_t i = 0; rc == 0 && i < s->len; i++) {
        int32_t at = s->order[i];
        if (at < 0 || (size_t)at >= nslots || s->slots[at].key == 0 || ((*seen)[at / 8] & (1u << (at % 8)))) {
            rc = BAD(ld, "bad set order at image offset %llu", (unsigned long long)pos);
            break;
        }
        (*seen)[at / 8] |= (uint8_t)(1u << (at % 8));
    }
    if (rc != 0 || (ld->seed_match && !set_holds_nan(s))) {
        return rc;
    }
    int32_t *order = frost_arena_alloc(ld->arena, (size_t)(s->len ? s->len : 1) * sizeof(int32_t), 64);
    if (order == NULL) {
        return set_error(ld->err, FROST_ENOMEM, 0, "out of memory while loading");
    }
    int rehashed = frost__set_rehash(s, order, ld->check, ld->check_ctx);
    if (rehashed == -2) {   /* the exception the check set stays */
        return set_error(ld->err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress check");
    }
    if (rehashed < 0) {
        PyErr_Clear();
        return BAD(ld, "unhashable key in set at image offset %llu", (unsigned long long)pos);
    }
    return 0;
}

/* After walk B: a dataclass or namedtuple record is rebuilt as cls(**state), so
 * its state must be a dict node whose keys are strs, as freeze writes it and as
 * the format-2 check (map_read.c, verify_node) demands: a file breaking that
 * would load here and then be saved as a format-2 file verify refuses. */
static int
check_record_states(loader_t *ld)
{
    for (uint64_t off = 0; off < ld->img_size; off += REC_ALIGN) {
        if (ld->kinds[off / REC_ALIGN] != FROST_NODE_RECORD) {
            continue;
        }
        const frost_record_t *r = (const frost_record_t *)(ld->img + off);
        if ((r->hdr.flags & FROST_RECORD_KIND_MASK) == FROST_RECORD_SHARED) {
            continue;   /* __shared__ state: anything */
        }
        const frost_node_t *state = frost_ref_is_node(r->state) ? frost_ref_node(r->state) : NULL;
        if (state == NULL || state->kind != FROST_NODE_DICT) {
            return BAD(ld, "record at image offset %llu: its state is not a dict node",
                       (unsigned long long)off);
        }
        const frost_table_t *fields = (const frost_table_t *)state;
        for (Py_ssize_t i = 0; i < fields->len; i++) {
            if (!PyUnicode_CheckExact(frost_ref_object(fields->entries[i].key))) {
                return BAD(ld, "record at image offset %llu: field name %zd is not a str",
                           (unsigned long long)off, i);
            }
        }
    }
    return 0;
}

/* After walk B: make every table's hashes and index right for this process. */
static int
fix_tables(loader_t *ld)
{
    uint8_t *seen = NULL;
    size_t seen_cap = 0;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < ld->ntables; k++) {
        if (((frost_node_t *)(ld->img + ld->tables[k]))->kind == FROST_NODE_SET) {
            rc = fix_set(ld, ld->tables[k], &seen, &seen_cap);
            continue;
        }
        frost_table_t *t = (frost_table_t *)(ld->img + ld->tables[k]);
        size_t nslots = (size_t)t->mask + 1;
        if (!ld->seed_match || table_holds_nan(t)) {   /* NaNs hash by address: moved */
            int32_t *index = frost_arena_alloc(ld->arena, nslots * sizeof(int32_t), 64);
            if (index == NULL) {
                rc = set_error(ld->err, FROST_ENOMEM, 0, "out of memory while loading");
                break;
            }
            int rehashed = frost__table_rehash(t, index, ld->check, ld->check_ctx);
            if (rehashed == -2) {   /* the exception the check set stays */
                rc = set_error(ld->err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress check");
                break;
            }
            if (rehashed < 0) {
                PyErr_Clear();
                rc = BAD(ld, "unhashable key in table at image offset %llu",
                         (unsigned long long)ld->tables[k]);
                break;
            }
            continue;
        }
        /* in place: every slot empty or a distinct entry, so probes end */
        rc = clear_seen(ld, &seen, &seen_cap, (size_t)t->len);
        if (rc != 0) {
            break;
        }
        Py_ssize_t used = 0;
        for (size_t s = 0; s < nslots; s++) {
            int32_t ix = t->index[s];
            if (ix < 0) {
                continue;
            }
            if (ix >= t->len || (seen[ix / 8] & (1u << (ix % 8)))) {
                rc = BAD(ld, "bad table index at image offset %llu", (unsigned long long)ld->tables[k]);
                break;
            }
            seen[ix / 8] |= (uint8_t)(1u << (ix % 8));
            used++;
        }
        if (rc == 0 && used != t->len) {
            rc = BAD(ld, "bad table index at image offset %llu", (unsigned long long)ld->tables[k]);
        }
    }
    free(seen);
    return rc;
}

/* Header and section checks; fills the section bounds. */
static int
check_header(const unsigned char *map, size_t size, snap_section_t *image, snap_section_t *bulk,
             snap_header_t *h, const frost_snapshot_progress_t *progress, frost_snapshot_error_t *err)
{
    if (size < sizeof(snap_header_t)) {
        return set_error(err, FROST_SNAPSHOT_EFORMAT, 0,
                         "not a frost snapshot: the file has %zu bytes, shorter than the %zu-byte header",
                         size, sizeof(snap_header_t));
    }
    memcpy(h, map, sizeof *h);
    if (memcmp(h->magic, SNAP_MAGIC, sizeof SNAP_MAGIC) != 0) {
        return set_error(err, FROST_SNAPSHOT_EFORMAT, 0, "not a frost snapshot (bad magic)");
    }
    if (h->format_version != FROST_SNAPSHOT_FORMAT_VERSION) {
        return set_error(err, FROST_SNAPSHOT_EVERSION, 0,
                         "snapshot format version %u is not supported (this frost reads version %u)",
                         (unsigned)h->format_version, FROST_SNAPSHOT_FORMAT_VERSION);
    }
    if (h->node_encoding != SNAP_NODE_ENCODING) {
        return set_error(err, FROST_SNAPSHOT_EVERSION, 0,
                         "snapshot written by an %s frost (node encoding %u, this frost reads %u: set "
                         "nodes changed layout): load it with the frost that wrote it and save it again",
                         h->node_encoding < SNAP_NODE_ENCODING ? "older" : "newer",
                         (unsigned)h->node_encoding, SNAP_NODE_ENCODING);
    }
    if (h->byte_order != SNAP_BYTE_ORDER || h->pointer_size != sizeof(void *)) {
        return set_error(err, FROST_SNAPSHOT_EVERSION, 0,
                         "snapshot written on another platform (byte order or pointer size differs)");
    }
    if ((h->python_hexversion >> 16) != (PY_VERSION_HEX >> 16)) {
        return set_error(err, FROST_SNAPSHOT_EVERSION, 0,
                         "snapshot written by Python %u.%u, this is Python %d.%d (format 1 holds CPython "
                         "object layouts: load it with Python %u.%u and save it in format 2, which every "
                         "version reads)",
                         (unsigned)(h->python_hexversion >> 24), (unsigned)((h->python_hexversion >> 16) & 0xFF),
                         PY_MAJOR_VERSION, PY_MINOR_VERSION,
                         (unsigned)(h->python_hexversion >> 24), (unsigned)((h->python_hexversion >> 16) & 0xFF));
    }
    if (h->digit_bits != PyLong_SHIFT || h->hash_bits != 8 * sizeof(Py_hash_t)
        || h->layout_hash != layout_hash() || h->header_size != sizeof(snap_header_t)) {
        return set_error(err, FROST_SNAPSHOT_EVERSION, 0,
                         "snapshot written by a CPython build with other object layouts "
                         "(debug/trace-refs build, or another frost version)");
    }
    if (h->file_size != size) {
        return set_error(err, FROST_SNAPSHOT_EFORMAT, 0,
                         "snapshot is truncated or extended: the header says %llu bytes, the file has %zu",
                         (unsigned long long)h->file_size, size);
    }
    uint64_t sum = 0;
    if (frost_snapshot_xxh64_checked(map + 16, size - 16, 0, FROST_SNAPSHOT_CHECK_SLICE,
                                     progress != NULL ? progress->check : NULL,
                                     progress != NULL ? progress->ctx : NULL, &sum) < 0) {
        return set_error(err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress check");
    }
    if (sum != h->checksum) {
        return set_error(err, FROST_SNAPSHOT_EFORMAT, 0,
                         "snapshot checksum mismatch (the file is corrupt): stored %016llx, computed %016llx",
                         (unsigned long long)h->checksum, (unsigned long long)sum);
    }
    if (h->nsections > 64 || h->section_table < sizeof(snap_header_t) || h->section_table > size
        || (size - h->section_table) / sizeof(snap_section_t) < h->nsections) {
        return set_error(err, FROST_SNAPSHOT_EFORMAT, 0, "snapshot section table out of range");
    }
    int have_image = 0, have_bulk = 0;
    for (uint32_t i = 0; i < h->nsections; i++) {
        snap_section_t s;
        memcpy(&s, map + h->section_table + i * sizeof s, sizeof s);
        if (s.offset % SNAP_SECTION_ALIGN || s.offset > size || size - s.offset < s.size) {
            return set_error(err, FROST_SNAPSHOT_EFORMAT, 0, "snapshot section %u out of range", (unsigned)i);
        }
        if (s.id == SNAP_SECTION_IMAGE && !have_image++) {
            *image = s;
        }
        else if (s.id == SNAP_SECTION_BULK && !have_bulk++) {
            *bulk = s;
        }
        else if (s.id == SNAP_SECTION_IMAGE || s.id == SNAP_SECTION_BULK) {
            return set_error(err, FROST_SNAPSHOT_EFORMAT, 0, "snapshot has a duplicate section");
        }
        /* other ids: optional sections of later minor revisions, skipped */
    }
    if (!have_image || !have_bulk || image->size % REC_ALIGN) {
        return set_error(err, FROST_SNAPSHOT_EFORMAT, 0, "snapshot lacks its image or bulk section");
    }
    return 0;
}

/* After the progress callback (Python code): the file it may have shrunk --
 * the one mapped, if `path` still names it -- must still cover the mapping,
 * whose bulk section the load reads next and the store reads in place: else
 * an error (EIO), not a SIGBUS. (At any other moment the SIGBUS guard
 * stands in zero pages and the load fails at its end: frost_snapshot.h.) */
static int
load_still_mapped(loader_t *ld)
{
    struct stat st;
    if (stat(ld->path, &st) == 0 && st.st_dev == ld->dev && st.st_ino == ld->ino
        && (uint64_t)st.st_size < ld->file_size) {
        return set_error(ld->err, FROST_SNAPSHOT_EIO, EIO, "the file was truncated while it was loaded");
    }
    return 0;
}

/* Load progress: image bytes checked over walks A and B (total 2 * image size). */
static int
load_step(loader_t *ld, const frost_snapshot_progress_t *progress, uint64_t nrecords,
          uint64_t done)
{
    if (progress == NULL || nrecords % FROST_SNAPSHOT_PROGRESS_EVERY != 0) {
        return 0;
    }
    if (progress->fn(progress->ctx, done, 2 * ld->img_size) != 0) {
        return set_error(ld->err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress callback");
    }
    return load_still_mapped(ld);
}

/* A failing (or ending) load's error, `rc`: unless the file shrank under its
 * mapping meanwhile (zero pages stood in: the SIGBUS guard), which is the
 * cause to name, whatever the zeros then broke. */
static int
truncated_meanwhile(const snap_backend_t *be, int rc, frost_snapshot_error_t *err)
{
    if (!frost_map_guard_tripped(be->guard) || rc == FROST_ENOMEM || rc == FROST_SNAPSHOT_ECANCELED) {
        return rc;
    }
    return set_error(err, FROST_SNAPSHOT_EIO, EIO, "the file was truncated while it was loaded");
}

int
frost_snapshot_load(const char *path, frost_lifetime_t lifetime, frost_store_t **out,
                    frost_snapshot_error_t *err)
{
    return frost_snapshot_load_with_progress(path, lifetime, NULL, out, err);
}

int
frost_snapshot_load_with_progress(const char *path, frost_lifetime_t lifetime,
                                  const frost_snapshot_progress_t *progress, frost_store_t **out,
                                  frost_snapshot_error_t *err)
{
    *out = NULL;
    if (err != NULL) {
        memset(err, 0, sizeof *err);
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (no effect on files) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return set_error(err, FROST_SNAPSHOT_EIO, errno, "cannot open %.200s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return set_error(err, FROST_SNAPSHOT_EIO, e, "cannot stat %.200s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return set_error(err, FROST_SNAPSHOT_EIO, EISDIR, "%.200s is a directory", path);
    }
    if (!S_ISREG(st.st_mode)) {   /* a device, FIFO or socket: its size says nothing */
        close(fd);
        return set_error(err, FROST_SNAPSHOT_EFORMAT, 0,
                         "not a frost snapshot: not a regular file (a device, FIFO or socket)");
    }
    size_t size = (size_t)st.st_size;
    char magic[sizeof SNAP_MAGIC];
    if (size >= sizeof(snap_header_t)
        && (pread(fd, magic, sizeof magic, 0) != (ssize_t)sizeof magic
            || memcmp(magic, SNAP_MAGIC, sizeof magic) != 0)) {
        /* read, not mapped: a file that cannot be mapped (sysfs, some FUSE) is
         * still "not a frost snapshot", not ENODEV */
        close(fd);
        return set_error(err, FROST_SNAPSHOT_EFORMAT, 0, "not a frost snapshot (bad magic)");
    }
    unsigned char *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    }
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        return set_error(err, FROST_SNAPSHOT_EIO, map_errno, "cannot map %.200s: %s", path, strerror(map_errno));
    }
    snap_backend_t *be = calloc(1, sizeof *be);
    if (be == NULL) {
        if (map) {
            munmap(map, size);
        }
        return set_error(err, FROST_ENOMEM, 0, "out of memory while loading");
    }
    be->inner = frost_backend_default();
    be->backend = (frost_backend_t){.name = be->inner->name, .chunk_alloc = snap_chunk_alloc,
                                    .chunk_free = snap_chunk_free, .ctx = be};
    be->map = map;
    be->map_size = size;
    /* a file truncated by another process while it is loaded: zero pages stand
     * in (store/map_read.c's guard), never a SIGBUS, and the load fails. Not
     * once loaded: the store trusts the bulk bytes it checked, and zeros are
     * not what it checked (a SIGBUS then: frost_snapshot.h) */
    be->guard = map != NULL ? frost_map_guard_add(map, size) : -1;

    loader_t ld = {.err = err, .path = path, .dev = st.st_dev, .ino = st.st_ino, .file_size = size,
                   .check = progress != NULL ? progress->check : NULL,
                   .check_ctx = progress != NULL ? progress->ctx : NULL};
    snap_header_t h;
    snap_section_t image = {0}, bulk = {0};
    int rc = check_header(map, map ? size : 0, &image, &bulk, &h, progress, err);
    if (rc < 0) {
        rc = truncated_meanwhile(be, rc, err);
        snap_backend_free(be);
        return rc;
    }
    ld.img_size = image.size;
    ld.bulk = map + bulk.offset;
    ld.bulk_size = bulk.size;
    if (frost_snapshot_init() < 0) {
        snap_backend_free(be);
        return set_error(err, FROST_ENOMEM, 0, "out of memory while loading");
    }
    {
        ld.seed_match = atomic_load(&hash_probe) == h.hash_probe
                        && strncmp(h.hash_algorithm, PyHash_GetFuncDef()->name, sizeof h.hash_algorithm) == 0;
    }
    ld.imm[IMM_NONE] = Py_None;
    ld.imm[IMM_TRUE] = Py_True;
    ld.imm[IMM_FALSE] = Py_False;
    ld.imm[IMM_ELLIPSIS] = Py_Ellipsis;
    ld.imm[IMM_EMPTY_TUPLE] = PyTuple_New(0);
    ld.imm[IMM_EMPTY_STR] = PyUnicode_New(0, 0);
    ld.imm[IMM_EMPTY_BYTES] = PyBytes_FromStringAndSize(NULL, 0);
    for (int i = IMM_EMPTY_TUPLE; i <= IMM_EMPTY_BYTES; i++) {
        if (ld.imm[i] == NULL || !_Py_IsImmortal(ld.imm[i])) {
            PyErr_Clear();
            snap_backend_free(be);
            return set_error(err, FROST_SNAPSHOT_EVERSION, 0, "this CPython has no static empty singletons");
        }
    }

    /* default first chunk: the image (big) gets a chunk of its own, exactly
     * its size; rebuilt indexes go into small chunks after it */
    rc = frost_arena_new(&ld.arena, &be->backend, 0);
    if (rc < 0) {
        snap_backend_free(be);
        return set_error(err, rc, 0, "cannot create an arena: %s", frost_strerror(rc));
    }
    /* from here on the arena owns `be` (once it has a chunk) */
    ld.img = frost_arena_alloc(ld.arena, image.size ? image.size : 1, 64);
    ld.kinds = calloc(image.size / REC_ALIGN + 1, 1);
    ld.bulk_lists = calloc(bulk.size / BULK_ALIGN / 8 + 1, 1);
    if (ld.img == NULL || ld.kinds == NULL || ld.bulk_lists == NULL) {
        rc = set_error(err, FROST_ENOMEM, 0, "out of memory while loading");
        goto fail;
    }
    for (size_t at = 0; at < image.size; at += FROST_SNAPSHOT_CHECK_SLICE) {
        size_t n = image.size - at < FROST_SNAPSHOT_CHECK_SLICE ? image.size - at : FROST_SNAPSHOT_CHECK_SLICE;
        memcpy(ld.img + at, map + image.offset + at, n);
        if (at + n < image.size && progress != NULL && progress->check != NULL
            && progress->check(progress->ctx) != 0) {
            rc = set_error(err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress check");
            goto fail;
        }
    }
    {
        /* the image is read again only from the copy: drop the mapping's
         * pages of it (the page cache keeps them), so they don't count in
         * this process's memory */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t lo = ROUND_UP(image.offset, page), hi = (image.offset + image.size) & ~(page - 1);
        if (hi > lo) {
            (void)madvise(map + lo, hi - lo, MADV_DONTNEED);
        }
    }

    /* walk A: shapes and record starts */
    uint64_t nrecords = 0;
    for (uint64_t pos = 0; pos < ld.img_size; nrecords++) {
        size_t n = check_record(&ld, pos);
        if (n == 0) {
            rc = err != NULL ? err->code : FROST_SNAPSHOT_EFORMAT;
            goto fail;
        }
        pos += n;
        if ((rc = load_step(&ld, progress, nrecords + 1, pos)) < 0) {
            goto fail;
        }
    }
    if (nrecords != h.nrecords) {
        rc = BAD(&ld, "the image holds %llu records, the header says %llu",
                 (unsigned long long)nrecords, (unsigned long long)h.nrecords);
        goto fail;
    }
    /* walk B: references, types, headers */
    for (uint64_t pos = 0, k = 1; pos < ld.img_size; k++) {
        size_t n = 0;
        if (fix_record(&ld, pos, &n) < 0) {
            rc = FROST_SNAPSHOT_EFORMAT;
            goto fail;
        }
        pos += n;
        if ((rc = load_step(&ld, progress, k, ld.img_size + pos)) < 0) {
            goto fail;
        }
    }
    uint64_t root = h.root;
    if (relocate(&ld, &root, 0, UINT64_MAX, 0) < 0) {
        rc = BAD(&ld, "bad root reference 0x%llx", (unsigned long long)h.root);
        goto fail;
    }
    rc = fix_tables(&ld);
    if (rc < 0 || (rc = check_record_states(&ld)) < 0) {
        goto fail;
    }
    if (progress != NULL && progress->fn(progress->ctx, 2 * ld.img_size, 2 * ld.img_size) != 0) {
        rc = set_error(err, FROST_SNAPSHOT_ECANCELED, 0, "stopped by the progress callback");
        goto fail;
    }
    if (progress != NULL && (rc = load_still_mapped(&ld)) < 0) {
        goto fail;
    }
    if (frost_map_guard_tripped(be->guard)) {
        rc = FROST_SNAPSHOT_EIO;
        goto fail;   /* says why */
    }
    frost_map_guard_remove(be->guard);
    be->guard = -1;
    free(ld.kinds);
    free(ld.bulk_lists);
    free(ld.tables);
    free(ld.tuple_levels);
    rc = frost_arena_seal(ld.arena);
    if (rc < 0) {
        frost_arena_free(ld.arena);
        return set_error(err, rc, 0, "cannot seal the arena: %s", frost_strerror(rc));
    }
    rc = frost_store_new(out, ld.arena, (uintptr_t)root, lifetime);   /* takes the arena */
    if (rc < 0) {
        return set_error(err, rc, 0, "cannot create the store: %s", frost_strerror(rc));
    }
    return FROST_OK;

fail:
    rc = truncated_meanwhile(be, rc, err);
    free(ld.kinds);
    free(ld.bulk_lists);
    free(ld.tables);
    free(ld.tuple_levels);
    {
        frost_arena_stats_t s;
        frost_arena_stats(ld.arena, &s);
        frost_arena_free(ld.arena);   /* frees `be` with its last chunk */
        if (s.chunks == 0) {
            snap_backend_free(be);
        }
    }
    return rc;
}
