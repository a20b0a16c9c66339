/*
 * frost_nodes.h -- the C layouts of frozen containers inside an arena, and
 * the references between them.  Internal: only frost's own sources include it.
 *
 * A frozen graph is made of two kinds of things, both living in the arena:
 *   - real CPython objects for plain immutables (str, int, float, complex,
 *     bytes, tuples of those), immortal, never tracked by the GC;
 *   - nodes (this header) for everything else: dict, list, tuple-with-
 *     containers, set, typed buffer, record.
 *
 * A reference (frost_ref_t) is one machine word: a PyObject* (an arena object
 * or one of CPython's static singletons) when bit 0 is clear, a node pointer
 * with bit 0 set otherwise. Objects and nodes are at least 8-byte aligned.
 *
 * Invariants (hold from frost_arena_seal on; nothing writes a node after):
 *   - a node refers only to objects/nodes of its own arena or to static
 *     singletons (None, True, False, Ellipsis, small ints, '', (), b'', ...);
 *   - table (dict) nodes: len <= 2/3 * nslots, nslots a power of two, every
 *     index slot is -1 or < len, entry hashes are the keys' hashes in this
 *     process; set nodes: the same bound, exactly len slots used, `order`
 *     names each used slot once, slot hashes are the keys' hashes;
 *   - keys of dict nodes and items of set nodes are objects, never nodes;
 *   - a dict's values are read through frost_table_value (FROST_DICT_SHAPED).
 *
 * Thread-safety: nodes are immutable once the arena is sealed; any thread of
 * any interpreter may read them without locks.
 */
#ifndef FROST_NODES_H
#define FROST_NODES_H

#ifndef FROST_BUILD_CORE
#  error "frost_nodes.h is internal to frost"
#endif

#include <Python.h>
#include <stdint.h>

typedef uintptr_t frost_ref_t;

typedef enum {
    FROST_NODE_DICT = 1,
    FROST_NODE_LIST,
    FROST_NODE_TUPLE,   /* a tuple holding at least one node */
    FROST_NODE_SET,
    FROST_NODE_ARRAY,
    FROST_NODE_RECORD,
    FROST_NODE_COLUMNS,  /* a table of Arrow columns (frost_columns.h) */
} frost_node_kind_t;

typedef struct frost_node_s {
    uint32_t kind;      /* frost_node_kind_t */
    uint32_t flags;     /* kind-specific, see below */
} frost_node_t;

static inline int frost_ref_is_node(frost_ref_t r) { return (int)(r & 1u); }
static inline frost_node_t *frost_ref_node(frost_ref_t r) { return (frost_node_t *)(r & ~(uintptr_t)1); }
static inline PyObject *frost_ref_object(frost_ref_t r) { return (PyObject *)r; }
static inline frost_ref_t frost_ref_from_node(const void *n) { return (frost_ref_t)n | 1u; }
static inline frost_ref_t frost_ref_from_object(PyObject *o) { return (frost_ref_t)o; }

/* Give an arena object the immortal header of the running version, so no
 * Py_INCREF/Py_DECREF ever writes to it (freeze.c, and snapshot.c's loader). */
static inline void
frost_set_immortal(PyObject *op)
{
#if PY_VERSION_HEX >= 0x030E0000
    /* 3.14: refcount 0xC0000000 and ob_flags = IMMORTAL | STATICALLY_ALLOCATED;
     * without the flag the eval loop's stack refs write the refcount. */
    op->ob_refcnt = (uint32_t)_Py_IMMORTAL_INITIAL_REFCNT;
    op->ob_overflow = 0;
    op->ob_flags = 5;
#else
    /* 3.12/3.13: exactly 0xFFFFFFFF, the only value Py_INCREF never stores to. */
    op->ob_refcnt = _Py_IMMORTAL_REFCNT;
#endif
}

/* ---- dict: one ordered, open-addressed table --------------------------- */

typedef struct {
    Py_hash_t hash;       /* hash(key) in this process */
    frost_ref_t key;      /* always an object (a plain immutable) */
    frost_ref_t value;    /* the value */
} frost_entry_t;

/* flags of a dict node */
#define FROST_DICT_SHAPED 1u          /* the field dict of a record (freeze.c): `entries` and
                                         `index` are shared by every record of the class in
                                         this arena, their values 0; the values follow the
                                         header: read them with frost_table_value. Only in
                                         arenas made by freeze: the writers write plain dicts. */

typedef struct {
    frost_node_t hdr;         /* FROST_NODE_DICT */
    Py_ssize_t len;           /* entries, in insertion order */
    Py_ssize_t mask;          /* nslots - 1; nslots a power of two >= 8 */
    int32_t *index;           /* nslots slots: entry number or -1 (empty); NULL (mask 0)
                                 in an unindexed arena (frost_freeze_env_t.unindexed) */
    frost_entry_t *entries;   /* len entries */
} frost_table_t;

/* The value of entry `i` of dict node `t`. */
static inline frost_ref_t
frost_table_value(const frost_table_t *t, Py_ssize_t i)
{
    if (t->hdr.flags & FROST_DICT_SHAPED) {
        return ((const frost_ref_t *)(t + 1))[i];
    }
    return t->entries[i].value;
}

/* ---- set: an open-addressed table of (hash, key) slots ------------------ */

/*
 * CPython's own set layout: a membership test reads the slot its hash picks
 * (then its neighbours, then the perturbed sequence) and finds the hash and
 * the key there, one cache line in the common case; the dict layout above
 * would add a dependent miss (index -> entry). `order` keeps insertion order
 * for iteration, thaw and the writers; lookups never read it.
 */
typedef struct {
    Py_hash_t hash;       /* hash(key) in this process; 0 in an empty slot */
    frost_ref_t key;      /* an object (a plain immutable); 0: empty */
} frost_set_slot_t;

/* flags of a set node */
#define FROST_SET_WAS_FROZENSET 1u    /* thaw gives a frozenset, not a set */

typedef struct {
    frost_node_t hdr;         /* FROST_NODE_SET */
    Py_ssize_t len;           /* items */
    Py_ssize_t mask;          /* nslots - 1; nslots = frost__table_slots(len) */
    frost_set_slot_t *slots;  /* nslots slots, exactly len of them used (key != 0); an
                                 unindexed arena's: len slots in order, mask 0 */
    int32_t *order;           /* len slot numbers, in insertion order, distinct, used */
} frost_set_t;

/* Item `i` (insertion order) of a set node. */
static inline frost_ref_t
frost_set_item(const frost_set_t *s, Py_ssize_t i)
{
    return s->slots[s->order[i]].key;
}

/* ---- list and tuple nodes ---------------------------------------------- */

/* flags of a list node: how the items are stored */
#define FROST_SEQ_REFS    0u  /* items[] are frost_ref_t */
#define FROST_SEQ_INT64   1u  /* packed int64_t (every item was an exact int) */
#define FROST_SEQ_FLOAT64 2u  /* packed double (every item was an exact float) */

typedef struct {
    frost_node_t hdr;         /* FROST_NODE_LIST or FROST_NODE_TUPLE (always REFS) */
    Py_ssize_t len;
    union {
        frost_ref_t refs[1];
        int64_t i64[1];
        double f64[1];
    } items;                  /* len items, 8 bytes each; 64-byte aligned when packed */
} frost_seq_t;

#define FROST_SEQ_SIZE(n) (offsetof(frost_seq_t, items) + (size_t)((n) > 0 ? (n) : 1) * 8u)

/* ---- typed buffers ----------------------------------------------------- */

/* where an array came from, so thaw can give back the same kind of object */
typedef enum {
    FROST_ARRAY_FROM_BUFFER = 0,   /* any other buffer exporter: thaw gives a memoryview */
    FROST_ARRAY_FROM_BYTEARRAY,
    FROST_ARRAY_FROM_ARRAY,        /* array.array */
    FROST_ARRAY_FROM_NUMPY,        /* numpy.ndarray */
    FROST_ARRAY_FROM_MEMORYVIEW,
} frost_array_origin_t;

#define FROST_ARRAY_MAX_NDIM 64
#define FROST_ARRAY_FORMAT_MAX 65535   /* numpy structs with many fields have long formats */

typedef struct {
    frost_node_t hdr;            /* FROST_NODE_ARRAY; flags = frost_array_origin_t */
    Py_ssize_t itemsize;         /* > 0, the size the format describes */
    Py_ssize_t nbytes;           /* product(shape) * itemsize */
    int ndim;                    /* 0 .. FROST_ARRAY_MAX_NDIM */
    uint32_t format_len;         /* strlen(format), 1 .. FROST_ARRAY_FORMAT_MAX */
    const char *format;          /* struct / PEP 3118 format, NUL-terminated (arena), accepted
                                    by frost__array_format_check */
    Py_ssize_t *shape;           /* ndim extents (arena) */
    Py_ssize_t *strides;         /* ndim C-contiguous strides (arena) */
    char *data;                  /* nbytes, 64-byte aligned (arena) */
} frost_array_t;

/*
 * Whether an array node may hold items of `format` with size `itemsize`
 * (array_format.c): 0 yes; -1 no, with *why a static reason. Yes only for
 * pure data (no object or address pointers, not only padding) whose size
 * every reader that understands the format (numpy, the struct module) agrees
 * is `itemsize`. Needs the GIL; leaves any pending exception as it was.
 */
int frost__array_format_check(const char *format, Py_ssize_t itemsize, const char **why);

/* ---- records ------------------------------------------------------------ */

typedef enum {
    FROST_RECORD_DATACLASS = 0,
    FROST_RECORD_NAMEDTUPLE,
    FROST_RECORD_SHARED,         /* the class defines __shared__ */
} frost_record_kind_t;

/* flags of a record node: the kind in the low byte, plus */
#define FROST_RECORD_KIND_MASK 0xffu
#define FROST_RECORD_FROM_FILE 0x100u /* module/qualname were read from a snapshot file:
                                         thaw never resolves them by name unless the
                                         caller allows the class (docs/safety.md) */

typedef struct {
    frost_node_t hdr;            /* FROST_NODE_RECORD; flags = frost_record_kind_t | FROM_FILE */
    frost_ref_t module;          /* arena str: the class's __module__ */
    frost_ref_t qualname;        /* arena str: the class's __qualname__ */
    frost_ref_t state;           /* dataclass/namedtuple: a dict node of fields (shaped when
                                    frozen here, FROST_DICT_SHAPED); shared: anything */
} frost_record_t;

/* ---- lookups (nodes.c) -------------------------------------------------- */

/*
 * Plain tuples (and tuple nodes) nest at most this deep: CPython hashes,
 * compares, prints and pickles tuples recursively, so a frozen tuple must
 * stay well inside its C recursion budget (1,500 levels on 3.12). freeze
 * refuses deeper tuples with FreezeError, load refuses files holding them.
 */
#define FROST_MAX_TUPLE_DEPTH 256

/*
 * The hash a table entry stores for a key, and the hash a lookup probes
 * with: hash(key), except where CPython's hash depends on an address:
 * Ellipsis gets a fixed value (the same in every process), and a NaN
 * (float, or complex with a NaN part) hashes by its identity: the arena
 * object's address, as CPython hashes a pointer (design.md "NaN keys": distinct NaNs spread as in a
 * dict, so a table of n NaN keys builds in O(n); a NaN equals only itself,
 * so any hash is valid). A lookup's query NaN is a scoped store's local copy
 * of an arena NaN: `identity(nan, ctx)` names the arena object it stands for
 * (NULL: an error is set); frost__key_hash uses the NaN's own address. NaN
 * hashes hold in this process only: a load rehashes every table holding a
 * NaN key. Tuples are hashed iteratively (CPython's algorithm, so equal
 * tuples of other objects still find them). `max_depth` > 0: a tuple nested
 * deeper gives -2 with no exception set. 0 ok (*out set), -1 error.
 */
typedef const void *(*frost_nan_identity_fn)(PyObject *nan, void *ctx);
int frost__key_hash(PyObject *key, int max_depth, Py_hash_t *out);
int frost__key_hash_as(PyObject *key, int max_depth, frost_nan_identity_fn identity, void *ctx,
                       Py_hash_t *out);

/* Whether `key` is or holds (in a tuple, at any depth) a NaN float or complex.
 * Inline for the common keys (str, int: never), which freeze tests once per
 * dict entry (28 of W1's ~1,050 freeze instructions an entry as a call). */
int frost__key_holds_nan_any(PyObject *key);
static inline int
frost__key_holds_nan(PyObject *key)
{
    PyTypeObject *tp = Py_TYPE(key);
    return tp != &PyUnicode_Type && tp != &PyLong_Type && frost__key_holds_nan_any(key);
}
/* Whether `key` is a tuple holding (at any depth) an Ellipsis: a key stored under
 * a hash that is not Python's (ELLIPSIS_HASH, nodes.c). */
int frost__tuple_key_holds_ellipsis(PyObject *key);

#define FROST_CHECK_BLOCK 65536   /* entries between two checks of a long loop */
/* A long loop over n entries in blocks of FROST_CHECK_BLOCK, `check`
 * (NULL: none) called with `ctx` between blocks:
 *     for (Py_ssize_t lo = 0, hi; lo < n; lo = hi) {
 *         if ((hi = frost__checked_block_end(lo, n, check, ctx)) < 0) { stopped }
 *         for (Py_ssize_t i = lo; i < hi; i++) { ... }
 *     }
 * The end of the block that starts at `lo`, or -2 if `check` said stop. */
static inline Py_ssize_t
frost__checked_block_end(Py_ssize_t lo, Py_ssize_t n, int (*check)(void *ctx), void *ctx)
{
    if (lo > 0 && check != NULL && check(ctx) != 0) {
        return -2;
    }
    return n - lo > FROST_CHECK_BLOCK ? lo + FROST_CHECK_BLOCK : n;
}

/* Hash every key of a table (dict node) again with frost__key_hash and, if
 * `index` (mask+1 slots) is not NULL, rebuild the index there (t->index =
 * index). For a set, hash every item again and place them afresh, writing the
 * new item order to `order` (len slots; s->order = order). After a freeze or
 * a load moved its NaN keys, and after a load under another hash seed.
 * `check` (NULL: none) is called with `ctx` between blocks of
 * FROST_CHECK_BLOCK entries (Ctrl-C in a huge table's rehash): nonzero
 * stops the rehash, the node half done. 0 ok, -1 error set, -2 stopped by
 * `check` (what it set stays set). */
int frost__table_rehash(frost_table_t *t, int32_t *index, int (*check)(void *ctx), void *ctx);
int frost__set_rehash(frost_set_t *s, int32_t *order, int (*check)(void *ctx), void *ctx);

/*
 * Find `key` (with hash `hash`) in a dict node. Returns the entry index,
 * -1 if absent, -2 with an exception set if a comparison raised.
 * `compare_key(arena_key, key, ctx)` is called for entries whose hash matches
 * and whose key is not fast-comparable; it returns 1/0/-1 like
 * PyObject_RichCompareBool. It lets the caller decide what object user code
 * may see (see views/values.c: scoped stores never hand out arena objects).
 */
typedef int (*frost_compare_fn)(PyObject *arena_key, PyObject *key, void *ctx);
Py_ssize_t frost__table_lookup(const frost_table_t *t, PyObject *key, Py_hash_t hash,
                               frost_compare_fn compare_key, void *ctx);

/* 1 if `a` (an arena object) and `b` are equal plain values decided without
 * running any user code, 0 if surely unequal, -1 if undecided (needs a full
 * comparison; so are two distinct NaNs, equal only if the caller's copy of
 * `a` is `b`). Never raises. */
int frost__fast_equal(PyObject *a, PyObject *b);

/* The number of index slots for `n` entries: a power of two >= 8 with n <= 2/3 of it. */
Py_ssize_t frost__table_slots(Py_ssize_t n);

/* Insert entry number `i` (hash already in entries[i]) into the index. Build time only. */
void frost__table_index_entry(frost_table_t *t, Py_ssize_t i);

/*
 * Set nodes. frost__set_place: the first empty slot (key 0) on `hash`'s probe
 * sequence; the caller fills it. Build time only; the table must have an
 * empty slot (len < nslots). frost__set_lookup: the slot number holding
 * `key`, -1 if absent, -2 with an exception set if a comparison raised
 * (compare_key as for frost__table_lookup).
 */
Py_ssize_t frost__set_place(const frost_set_t *s, Py_hash_t hash);
Py_ssize_t frost__set_lookup(const frost_set_t *s, PyObject *key, Py_hash_t hash,
                             frost_compare_fn compare_key, void *ctx);

/* Whether [s, s + n) is UTF-8 (nodes.c): strict, or with lone surrogates
 * allowed (`surrogates`: what "surrogatepass" writes). No NUL check. */
int frost__utf8_valid(const unsigned char *s, uint64_t n, int surrogates);

#endif /* FROST_NODES_H */
