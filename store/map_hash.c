/*
 * map_hash.c -- the keyed hash of format-2 tables (frost_map.h), and the
 * UTF-8 form of strs it hashes. One function for the writer (arena keys) and
 * the readers (query objects, materialized keys): a table built by one
 * process is probed by another with a different PYTHONHASHSEED, so nothing
 * here may depend on the process: no PyObject_Hash of str/bytes, no address.
 *
 * Invariants: equal keys hash equal across kinds exactly as Python's ==
 * says (1 == 1.0 == True == 1+0j; 'a' == str-subclass('a'); (1,) == (1.0,)),
 * because numbers use CPython's numeric hash of the value (modular
 * arithmetic over 2**61-1, process-independent) and str/bytes/tuple
 * subclasses are hashed by value. A query whose hash or == is not its value's
 * (another type, a subclass with its own __hash__/__eq__) is FOREIGN: the
 * reader hands it to Python (map_read.c). Never runs Python code; never
 * recurses (tuples use an explicit stack of hash arrays).
 *
 * Hot path: every lookup in a mapped table calls frost_map_key_hash once.
 * ASCII strs hash their bytes in place; small ints skip long_hash.
 */
#include <Python.h>

#include "frost_map.h"
#include "frost_map_read.h"
#include "frost_nodes.h"
#include "frost_snapshot.h"

#include <math.h>

_Static_assert(offsetof(frost_map_header_t, header_checksum) == FROST_MAP_HEADER_CHECKSUM_AT,
               "header_checksum offset");

uint64_t
frost_map_header_checksum(const void *header)
{
    unsigned char copy[FROST_MAP_HEADER_SIZE];
    memcpy(copy, header, sizeof copy);
    memset(copy + FROST_MAP_HEADER_CHECKSUM_AT, 0, 8);
    return frost_snapshot_xxh64(copy, sizeof copy, 0);
}

/* ------------------------------------------------------------------------ */
/* UTF-8 with surrogatepass                                                 */

/* Bytes of the UTF-8 form of `n` code points of `kind` at `data`. */
static size_t
utf8_size(int kind, const void *data, Py_ssize_t n)
{
    size_t size = 0;
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *p = data;
        for (Py_ssize_t i = 0; i < n; i++) {
            size += 1u + (p[i] >= 0x80);
        }
        return size;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        size += c < 0x80 ? 1u : c < 0x800 ? 2u : c < 0x10000 ? 3u : 4u;
    }
    return size;
}

static void
utf8_encode(int kind, const void *data, Py_ssize_t n, unsigned char *out)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            *out++ = (unsigned char)c;
        }
        else if (c < 0x800) {
            *out++ = (unsigned char)(0xC0 | (c >> 6));
            *out++ = (unsigned char)(0x80 | (c & 0x3F));
        }
        else if (c < 0x10000) {   /* lone surrogates too: "surrogatepass" */
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
}

int
frost_map_str_utf8(PyObject *str, char *scratch, char **heap, const char **data, size_t *len)
{
    *heap = NULL;
    if (PyUnicode_IS_ASCII(str)) {
        *data = PyUnicode_DATA(str);
        *len = (size_t)PyUnicode_GET_LENGTH(str);
        return 0;
    }
    const PyCompactUnicodeObject *c = (const PyCompactUnicodeObject *)str;
    if (c->utf8 != NULL) {   /* the cache: only ever made for strs without surrogates */
        *data = c->utf8;
        *len = (size_t)c->utf8_length;
        return 0;
    }
    int kind = PyUnicode_KIND(str);
    const void *src = PyUnicode_DATA(str);
    Py_ssize_t n = PyUnicode_GET_LENGTH(str);
    size_t size = utf8_size(kind, src, n);
    char *out = scratch;
    if (size > FROST_MAP_UTF8_SCRATCH) {
        out = *heap = PyMem_Malloc(size);
        if (out == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    utf8_encode(kind, src, n, (unsigned char *)out);
    *data = out;
    *len = size;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* the keyed hash                                                           */

static int
str_hash(const uint64_t hash_key[2], PyObject *s, uint64_t *out)
{
    char scratch[FROST_MAP_UTF8_SCRATCH], *heap;
    const char *data;
    size_t len;
    if (frost_map_str_utf8(s, scratch, &heap, &data, &len) < 0) {
        return -1;
    }
    *out = frost_snapshot_xxh64(data, len, hash_key[0]);
    PyMem_Free(heap);
    return 0;
}

/* A query (nan_raw 0: no entry) of type `tp`, a subtype of `base`, that
 * Python must hash and compare (frost_map_compares_as). An entry's key is
 * hashed by value whatever its type: the image holds its base's value. */
#define FOREIGN_SUBCLASS(nan_raw, tp, base) ((nan_raw) == 0 && !frost_map_compares_as(tp, base))

/* The unfinalized hash of a key that is not a tuple, without allocating: 0,
 * NOT_KEY, FOREIGN (queries only), or NEEDS_GIL (a non-ASCII str: str_hash
 * may need a buffer). */
static inline int
leaf_hash_nogil(const uint64_t hash_key[2], PyObject *o, uint64_t nan_raw, uint64_t *out)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyUnicode_Type || (tp != &PyLong_Type && PyUnicode_Check(o))) {
        if (tp != &PyUnicode_Type && FOREIGN_SUBCLASS(nan_raw, tp, &PyUnicode_Type)) {
            return FROST_MAP_HASH_FOREIGN;
        }
        if (PyUnicode_IS_ASCII(o)) {
            *out = frost_snapshot_xxh64(PyUnicode_DATA(o), (size_t)PyUnicode_GET_LENGTH(o), hash_key[0]);
            return 0;
        }
        return FROST_MAP_HASH_NEEDS_GIL;
    }
    if (PyLong_Check(o)) {   /* int, bool, IntEnum, ...: by value */
        if (tp != &PyLong_Type && FOREIGN_SUBCLASS(nan_raw, tp, &PyLong_Type)) {
            return FROST_MAP_HASH_FOREIGN;
        }
        if (PyUnstable_Long_IsCompact((PyLongObject *)o)) {
            Py_ssize_t v = PyUnstable_Long_CompactValue((PyLongObject *)o);   /* |v| < 2**30 */
            *out = (uint64_t)(int64_t)(v == -1 ? -2 : v);
            return 0;
        }
        *out = (uint64_t)(int64_t)PyLong_Type.tp_hash(o);   /* never -1 for an int */
        return 0;
    }
    if (PyFloat_Check(o)) {
        if (FOREIGN_SUBCLASS(nan_raw, tp, &PyFloat_Type)) {
            return FROST_MAP_HASH_FOREIGN;
        }
        double d = PyFloat_AS_DOUBLE(o);
        if (isnan(d)) {
            *out = nan_raw;
            return nan_raw != 0 ? 0 : FROST_MAP_HASH_NOT_KEY;
        }
        *out = (uint64_t)(int64_t)PyFloat_Type.tp_hash(o);
        return 0;
    }
    if (PyBytes_Check(o)) {
        if (FOREIGN_SUBCLASS(nan_raw, tp, &PyBytes_Type)) {
            return FROST_MAP_HASH_FOREIGN;
        }
        *out = frost_snapshot_xxh64(PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o), hash_key[1]);
        return 0;
    }
    if (o == Py_None) {
        *out = FROST_MAP_HASH_NONE;
        return 0;
    }
    if (o == Py_Ellipsis) {
        *out = FROST_MAP_HASH_ELLIPSIS;
        return 0;
    }
    if (PyComplex_Check(o)) {
        if (FOREIGN_SUBCLASS(nan_raw, tp, &PyComplex_Type)) {
            return FROST_MAP_HASH_FOREIGN;
        }
        Py_complex c = ((PyComplexObject *)o)->cval;
        if (isnan(c.real) || isnan(c.imag)) {
            *out = nan_raw;
            return nan_raw != 0 ? 0 : FROST_MAP_HASH_NOT_KEY;
        }
        *out = (uint64_t)(int64_t)PyComplex_Type.tp_hash(o);
        return 0;
    }
    return nan_raw == 0 ? FROST_MAP_HASH_FOREIGN : FROST_MAP_HASH_NOT_KEY;
}

/* The unfinalized hash of a key that is not a tuple: 0, NOT_KEY or -1. */
static inline int
leaf_hash(const uint64_t hash_key[2], PyObject *o, uint64_t nan_raw, uint64_t *out)
{
    int rc = leaf_hash_nogil(hash_key, o, nan_raw, out);
    return rc == FROST_MAP_HASH_NEEDS_GIL ? str_hash(hash_key, o, out) : rc;
}

/* The tuple hash: an explicit stack of levels whose item hashes are kept in
 * one array, each level's after its parent's (a stack discipline). A query's
 * NaN makes it NOT_KEY and an item Python must hash makes it FOREIGN (which
 * wins: hash() of the tuple would meet that item), but only once every item is
 * seen: a query nested deeper than FROST_MAX_TUPLE_DEPTH is NOT_KEY whatever
 * it holds (no key is that deep, and CPython's own hash of it could overflow
 * the C stack), so no FOREIGN tuple is deeper. */
typedef struct {
    PyObject *tuple;     /* borrowed: the outermost key holds them all */
    Py_ssize_t next;     /* the next item to hash */
    size_t base;         /* where its item hashes start in the hash array */
} level_t;

#define LOCAL_HASHES 64

static int
tuple_hash(const uint64_t hash_key[2], PyObject *key, uint64_t nan_raw, uint64_t *out)
{
    level_t local_levels[16], *levels = local_levels;
    uint64_t local_hashes[LOCAL_HASHES], *hashes = local_hashes;
    size_t level_cap = 16, hash_cap = LOCAL_HASHES, nhashes = 0;
    Py_ssize_t depth = 1;
    uint64_t seed = hash_key[0] ^ FROST_MAP_HASH_TUPLE_SEED;
    int rc = 0, holds_nan = 0, holds_foreign = FOREIGN_SUBCLASS(nan_raw, Py_TYPE(key), &PyTuple_Type);
    levels[0] = (level_t){key, 0, 0};
    while (depth > 0) {
        level_t *top = &levels[depth - 1];
        uint64_t h;
        if (top->next == PyTuple_GET_SIZE(top->tuple)) {
            h = frost_map_mix(frost_snapshot_xxh64(hashes + top->base,
                                                   (nhashes - top->base) * sizeof(uint64_t), seed)
                              ^ hash_key[1]);
            nhashes = top->base;
            if (--depth == 0) {
                *out = h;
                rc = holds_foreign ? FROST_MAP_HASH_FOREIGN : holds_nan ? FROST_MAP_HASH_NOT_KEY : 0;
                break;
            }
        }
        else {
            PyObject *item = PyTuple_GET_ITEM(top->tuple, top->next++);
            if (PyTuple_Check(item)) {
                holds_foreign |= FOREIGN_SUBCLASS(nan_raw, Py_TYPE(item), &PyTuple_Type);
                if (depth >= FROST_MAX_TUPLE_DEPTH) {
                    rc = FROST_MAP_HASH_NOT_KEY;
                    break;
                }
                if ((size_t)depth == level_cap) {
                    level_t *grown = PyMem_Malloc(level_cap * 2 * sizeof *grown);
                    if (grown == NULL) {
                        rc = -1;
                        PyErr_NoMemory();
                        break;
                    }
                    memcpy(grown, levels, level_cap * sizeof *grown);
                    if (levels != local_levels) {
                        PyMem_Free(levels);
                    }
                    levels = grown;
                    level_cap *= 2;
                }
                levels[depth++] = (level_t){item, 0, nhashes};
                continue;
            }
            int leaf = leaf_hash(hash_key, item, nan_raw, &h);
            if (nan_raw == 0 && (leaf == FROST_MAP_HASH_NOT_KEY || leaf == FROST_MAP_HASH_FOREIGN)) {
                holds_nan |= leaf == FROST_MAP_HASH_NOT_KEY;   /* a query's NaN */
                holds_foreign |= leaf == FROST_MAP_HASH_FOREIGN;
                h = 0;
            }
            else if (leaf != 0) {
                rc = leaf;
                break;
            }
            h = frost_map_mix(h ^ hash_key[1]);
        }
        if (nhashes == hash_cap) {
            uint64_t *grown = PyMem_Malloc(hash_cap * 2 * sizeof *grown);
            if (grown == NULL) {
                rc = -1;
                PyErr_NoMemory();
                break;
            }
            memcpy(grown, hashes, hash_cap * sizeof *grown);
            if (hashes != local_hashes) {
                PyMem_Free(hashes);
            }
            hashes = grown;
            hash_cap *= 2;
        }
        hashes[nhashes++] = h;
    }
    if (levels != local_levels) {
        PyMem_Free(levels);
    }
    if (hashes != local_hashes) {
        PyMem_Free(hashes);
    }
    return rc;
}

/* A NaN's raw hash in the key of table entry `entry`; 0 for a query (no entry). */
static inline uint64_t
nan_raw_hash(uint64_t entry)
{
    return FROST_MAP_HASH_NAN ^ ((entry + 1) << FROST_MAP_HASH_NAN_ENTRY_SHIFT);
}

static int
key_hash(const uint64_t hash_key[2], PyObject *key, uint64_t nan_raw, uint64_t *out)
{
    if (PyTuple_Check(key)) {
        return tuple_hash(hash_key, key, nan_raw, out);
    }
    uint64_t h;
    int rc = leaf_hash(hash_key, key, nan_raw, &h);
    if (rc == 0) {
        *out = frost_map_mix(h ^ hash_key[1]);
    }
    return rc;
}

int
frost_map_key_hash(const uint64_t hash_key[2], PyObject *key, uint64_t *out)
{
    return key_hash(hash_key, key, 0, out);
}

int
frost_map_entry_key_hash(const uint64_t hash_key[2], PyObject *key, uint64_t entry, uint64_t *out)
{
    return key_hash(hash_key, key, nan_raw_hash(entry), out);
}

int
frost_map_entry_key_hash_nogil(const uint64_t hash_key[2], PyObject *key, uint64_t entry, uint64_t *out)
{
    uint64_t h;
    if (PyTuple_Check(key) || leaf_hash_nogil(hash_key, key, nan_raw_hash(entry), &h) != 0) {
        return FROST_MAP_HASH_NEEDS_GIL;
    }
    *out = frost_map_mix(h ^ hash_key[1]);
    return 0;
}
