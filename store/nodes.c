/*
 * nodes.c -- lookups in frozen dict and set nodes.
 *
 * A dict node is CPython's compact-dict design: an index of int32 slots
 * (open addressing, CPython's perturbed probe sequence) pointing into an
 * array of entries kept in insertion order. A set node is CPython's set
 * design: (hash, key) slots probed directly, LINEAR_PROBES neighbours first,
 * then the perturbed sequence. Everything here only reads the arena (except
 * frost__table_index_entry, frost__set_place and the rehashes, used while
 * building it or loading it).
 */
#include "frost_nodes.h"

#include <math.h>
#include <string.h>

#define PERTURB_SHIFT 5
#define LINEAR_PROBES 9   /* set nodes: neighbours tried before perturbing (CPython's set) */

/* Ellipsis's CPython hash is its address in libpython, which differs between
 * processes: a fixed value instead (it equals only itself). A NaN hashes by
 * its identity (nan_hash): design.md "NaN keys". */
#define ELLIPSIS_HASH ((Py_hash_t)0x2e2e2e5f6b6579)   /* ... */

/* CPython's tuple hash (Objects/tupleobject.c, 3.8+) over item hashes. */
#define XXPRIME_1 ((Py_uhash_t)11400714785074694791ULL)
#define XXPRIME_2 ((Py_uhash_t)14029467366897019727ULL)
#define XXPRIME_5 ((Py_uhash_t)2870177450012600261ULL)
#define XXROTATE(x) (((x) << 31) | ((x) >> 33))
_Static_assert(sizeof(Py_uhash_t) == 8, "frost assumes 64-bit hashes");

static Py_uhash_t
tuple_hash_add(Py_uhash_t acc, Py_uhash_t lane)
{
    acc += lane * XXPRIME_2;
    acc = XXROTATE(acc);
    return acc * XXPRIME_1;
}

static Py_hash_t
tuple_hash_end(Py_uhash_t acc, Py_ssize_t len)
{
    acc += (Py_uhash_t)len ^ (XXPRIME_5 ^ 3527539UL);
    return acc == (Py_uhash_t)-1 ? 1546275796 : (Py_hash_t)acc;
}

static int
is_nan_leaf(PyObject *o)
{
    if (Py_TYPE(o) == &PyFloat_Type) {
        return isnan(PyFloat_AS_DOUBLE(o));
    }
    if (Py_TYPE(o) == &PyComplex_Type) {
        Py_complex c = ((PyComplexObject *)o)->cval;
        return isnan(c.real) || isnan(c.imag);
    }
    return 0;
}

/* The hash of NaN `o`: its identity (`identity(o, ctx)`, or its own address)
 * hashed as CPython (>= 3.10) hashes a NaN, _Py_HashPointer: the address
 * rotated by 4 bits. Distinct NaNs get distinct hashes (a bijection), and
 * NaNs read in arena order probe neighbouring index slots, as in a dict.
 * -1 on error. */
static Py_hash_t
nan_hash(PyObject *o, frost_nan_identity_fn identity, void *ctx)
{
    const void *id = identity != NULL ? identity(o, ctx) : (const void *)o;
    if (id == NULL) {
        return -1;
    }
    uint64_t y = (uint64_t)(uintptr_t)id;
    y = (y >> 4) | (y << 60);
    return (Py_hash_t)y == -1 ? -2 : (Py_hash_t)y;
}

/* frost__key_hash of anything but a tuple (-1 on error). */
static Py_hash_t
leaf_hash(PyObject *o, frost_nan_identity_fn identity, void *ctx)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyUnicode_Type) {
        Py_hash_t h = ((PyASCIIObject *)o)->hash;
        return h != -1 ? h : PyObject_Hash(o);
    }
    if (is_nan_leaf(o)) {
        return nan_hash(o, identity, ctx);
    }
    if (o == Py_Ellipsis) {
        return ELLIPSIS_HASH;
    }
    Py_hash_t h = PyObject_Hash(o);
    if (h == PyObject_Hash(Py_Ellipsis) && !PyLong_Check(o) && !PyFloat_Check(o)
        && !PyComplex_Check(o) && !PyUnicode_Check(o) && !PyBytes_Check(o)) {
        return ELLIPSIS_HASH;   /* an object of another type hashing as ... does (a dict
                                   finds ... by it, when it says it is equal) */
    }
    return h;
}

int
frost__key_hash(PyObject *key, int max_depth, Py_hash_t *out)
{
    return frost__key_hash_as(key, max_depth, NULL, NULL, out);
}

int
frost__key_hash_as(PyObject *key, int max_depth, frost_nan_identity_fn identity, void *ctx,
                   Py_hash_t *out)
{
    if (Py_TYPE(key) != &PyTuple_Type) {
        *out = leaf_hash(key, identity, ctx);
        return *out == -1 ? -1 : 0;
    }
    /* an explicit stack of the tuples being hashed: no C recursion */
    typedef struct {
        PyObject *tuple;     /* borrowed: the outermost key holds them all */
        Py_ssize_t next;
        Py_uhash_t acc;
    } level_t;
    level_t local[32], *stack = local;
    Py_ssize_t cap = 32, depth = 1;
    int rc = 0;
    stack[0] = (level_t){key, 0, XXPRIME_5};
    Py_hash_t h = 0;
    while (depth > 0) {
        level_t *top = &stack[depth - 1];
        if (top->next == PyTuple_GET_SIZE(top->tuple)) {
            h = tuple_hash_end(top->acc, top->next);
            if (--depth > 0) {
                stack[depth - 1].acc = tuple_hash_add(stack[depth - 1].acc, (Py_uhash_t)h);
            }
            continue;
        }
        PyObject *item = PyTuple_GET_ITEM(top->tuple, top->next++);
        if (Py_TYPE(item) != &PyTuple_Type || PyTuple_GET_SIZE(item) == 0) {
            Py_hash_t lane = leaf_hash(item, identity, ctx);
            if (lane == -1) {
                rc = -1;
                break;
            }
            top->acc = tuple_hash_add(top->acc, (Py_uhash_t)lane);
            continue;
        }
        if (max_depth > 0 && depth >= max_depth) {
            rc = -2;
            break;
        }
        if (depth == cap) {
            level_t *grown = PyMem_Malloc((size_t)cap * 2 * sizeof *grown);
            if (grown == NULL) {
                PyErr_NoMemory();
                rc = -1;
                break;
            }
            memcpy(grown, stack, (size_t)cap * sizeof *grown);
            if (stack != local) {
                PyMem_Free(stack);
            }
            stack = grown;
            cap *= 2;
        }
        stack[depth++] = (level_t){item, 0, XXPRIME_5};
    }
    if (stack != local) {
        PyMem_Free(stack);
    }
    *out = h;
    return rc;
}

Py_ssize_t
frost__table_slots(Py_ssize_t n)
{
    Py_ssize_t slots = 8;
    while (slots * 2 < n * 3) {   /* keep n <= 2/3 * slots */
        if (slots > PY_SSIZE_T_MAX / 4) {
            return -1;
        }
        slots *= 2;
    }
    return slots;
}

void
frost__table_index_entry(frost_table_t *t, Py_ssize_t i)
{
    size_t mask = (size_t)t->mask;
    size_t perturb = (size_t)t->entries[i].hash;
    size_t slot = perturb & mask;
    while (t->index[slot] >= 0) {
        perturb >>= PERTURB_SHIFT;
        slot = (slot * 5 + perturb + 1) & mask;
    }
    t->index[slot] = (int32_t)i;
}

/* Whether `key` is or holds (in a tuple, at any depth) a leaf `is_leaf` says 1 of. */
static int
key_holds(PyObject *key, int (*is_leaf)(PyObject *))
{
    if (Py_TYPE(key) != &PyTuple_Type) {
        return is_leaf(key);
    }
    /* arena keys nest at most FROST_MAX_TUPLE_DEPTH levels: recursion is bounded */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(key); i++) {
        if (key_holds(PyTuple_GET_ITEM(key, i), is_leaf)) {
            return 1;
        }
    }
    return 0;
}

int
frost__key_holds_nan_any(PyObject *key)
{
    return key_holds(key, is_nan_leaf);
}

static int
is_ellipsis(PyObject *o)
{
    return o == Py_Ellipsis;
}

int
frost__tuple_key_holds_ellipsis(PyObject *key)
{
    return Py_TYPE(key) == &PyTuple_Type && key_holds(key, is_ellipsis);
}

/* frost__key_hash of a key already in a table: -1 with an exception set on
 * any failure (a tuple deeper than FROST_MAX_TUPLE_DEPTH: ValueError). */
static int
stored_key_hash(PyObject *key, Py_hash_t *out)
{
    int rc = frost__key_hash(key, FROST_MAX_TUPLE_DEPTH, out);
    if (rc == -2) {
        PyErr_Format(PyExc_ValueError, "a key is a tuple nested deeper than %d levels",
                     FROST_MAX_TUPLE_DEPTH);
    }
    return rc < 0 ? -1 : 0;
}

int
frost__table_rehash(frost_table_t *t, int32_t *index, int (*check)(void *ctx), void *ctx)
{
    for (Py_ssize_t lo = 0, hi; lo < t->len; lo = hi) {
        if ((hi = frost__checked_block_end(lo, t->len, check, ctx)) < 0) {
            return -2;
        }
        for (Py_ssize_t i = lo; i < hi; i++) {
            if (stored_key_hash((PyObject *)t->entries[i].key, &t->entries[i].hash) < 0) {
                return -1;
            }
        }
    }
    if (index != NULL) {
        memset(index, 0xff, ((size_t)t->mask + 1) * sizeof *index);
        t->index = index;
        for (Py_ssize_t lo = 0, hi; lo < t->len; lo = hi) {
            if ((hi = frost__checked_block_end(lo, t->len, check, ctx)) < 0) {
                return -2;
            }
            for (Py_ssize_t i = lo; i < hi; i++) {
                frost__table_index_entry(t, i);
            }
        }
    }
    return 0;
}

int
frost__set_rehash(frost_set_t *s, int32_t *order, int (*check)(void *ctx), void *ctx)
{
    frost_set_slot_t *items = PyMem_Malloc((size_t)(s->len ? s->len : 1) * sizeof *items);
    if (items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t lo = 0, hi; lo < s->len; lo = hi) {
        if ((hi = frost__checked_block_end(lo, s->len, check, ctx)) < 0) {
            PyMem_Free(items);   /* (before the slots are touched: the set is as it was) */
            return -2;
        }
        for (Py_ssize_t i = lo; i < hi; i++) {
            items[i].key = frost_set_item(s, i);
            if (stored_key_hash((PyObject *)items[i].key, &items[i].hash) < 0) {
                PyMem_Free(items);
                return -1;
            }
        }
    }
    memset(s->slots, 0, ((size_t)s->mask + 1) * sizeof *s->slots);
    s->order = order;
    for (Py_ssize_t i = 0; i < s->len; i++) {
        Py_ssize_t at = frost__set_place(s, items[i].hash);
        s->slots[at] = items[i];
        order[i] = (int32_t)at;
    }
    PyMem_Free(items);
    return 0;
}

int
frost__fast_equal(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    PyTypeObject *ta = Py_TYPE(a), *tb = Py_TYPE(b);
    if (ta == &PyUnicode_Type && tb == &PyUnicode_Type) {
        Py_ssize_t len = PyUnicode_GET_LENGTH(a);
        if (len != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b)) {
            return 0;
        }
        return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)len * PyUnicode_KIND(a)) == 0;
    }
    if (ta == &PyBytes_Type && tb == &PyBytes_Type) {
        Py_ssize_t len = PyBytes_GET_SIZE(a);
        return len == PyBytes_GET_SIZE(b)
               && memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)len) == 0;
    }
    if (ta == &PyLong_Type && tb == &PyLong_Type) {
        int oa = 0, ob = 0;
        long long va = PyLong_AsLongLongAndOverflow(a, &oa);
        long long vb = PyLong_AsLongLongAndOverflow(b, &ob);
        if (!oa && !ob) {
            return va == vb;
        }
        return -1;
    }
    if (ta == &PyFloat_Type && tb == &PyFloat_Type) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        /* a NaN equals only itself: identity, which the caller may have to
         * judge on a local copy of `a` (a scoped store's stable copy) */
        return isnan(x) || isnan(y) ? (isnan(x) && isnan(y) ? -1 : 0) : x == y;
    }
    /* different plain types (1 == 1.0), tuples, user objects: not decided here */
    if ((ta == &PyUnicode_Type || ta == &PyBytes_Type) && tb != ta
        && (tb == &PyUnicode_Type || tb == &PyBytes_Type || tb == &PyLong_Type
            || tb == &PyFloat_Type || tb == &PyComplex_Type)) {
        return 0;   /* str/bytes never equal another builtin plain type */
    }
    return -1;
}

/* Whether stored key `k` equals the query `key` (their hashes are equal):
 * frost__fast_equal when it decides, else the caller's compare: 1, 0, or -1
 * (an error). Shared by the dict and set probes. */
static inline int
key_equal(PyObject *k, PyObject *key, frost_compare_fn compare_key, void *ctx)
{
    int eq = frost__fast_equal(k, key);
    if (eq < 0) {
        eq = compare_key(k, key, ctx);
        if (eq < 0) {
            return -1;
        }
    }
    return eq != 0;
}

Py_ssize_t
frost__table_lookup(const frost_table_t *t, PyObject *key, Py_hash_t hash,
                    frost_compare_fn compare_key, void *ctx)
{
    size_t mask = (size_t)t->mask;
    size_t perturb = (size_t)hash;
    size_t slot = perturb & mask;
    for (;;) {
        int32_t ix = t->index[slot];
        if (ix < 0) {
            return -1;
        }
        const frost_entry_t *e = &t->entries[ix];
        if (e->hash == hash) {
            int eq = key_equal((PyObject *)e->key, key, compare_key, ctx);
            if (eq != 0) {
                return eq < 0 ? -2 : ix;
            }
        }
        perturb >>= PERTURB_SHIFT;
        slot = (slot * 5 + perturb + 1) & mask;
    }
}

/* The set probe sequence of `hash`: runs `body` for slot `j` (a size_t) until
 * it returns. Ends on any table with an empty slot: once perturb is 0 the
 * step i*5+1 visits every slot of a power-of-two table. */
#define SET_PROBE(s, hash, body)                                              \
    do {                                                                      \
        size_t mask_ = (size_t)(s)->mask, perturb_ = (size_t)(hash);          \
        size_t i_ = perturb_ & mask_;                                         \
        for (;;) {                                                            \
            size_t last_ = i_ + LINEAR_PROBES <= mask_ ? i_ + LINEAR_PROBES : i_; \
            for (size_t j = i_; j <= last_; j++) {                            \
                body                                                          \
            }                                                                 \
            perturb_ >>= PERTURB_SHIFT;                                       \
            i_ = (i_ * 5 + 1 + perturb_) & mask_;                             \
        }                                                                     \
    } while (0)

Py_ssize_t
frost__set_place(const frost_set_t *s, Py_hash_t hash)
{
    SET_PROBE(s, hash, {
        if (s->slots[j].key == 0) {
            return (Py_ssize_t)j;
        }
    });
}

Py_ssize_t
frost__set_lookup(const frost_set_t *s, PyObject *key, Py_hash_t hash,
                  frost_compare_fn compare_key, void *ctx)
{
    SET_PROBE(s, hash, {
        const frost_set_slot_t *e = &s->slots[j];
        if (e->key == 0) {
            return -1;
        }
        if (e->hash == hash) {
            int eq = key_equal((PyObject *)e->key, key, compare_key, ctx);
            if (eq != 0) {
                return eq < 0 ? -2 : (Py_ssize_t)j;
            }
        }
    });
}

int
frost__utf8_valid(const unsigned char *s, uint64_t n, int surrogates)
{
    uint64_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        }
        else {
            return 0;
        }
        if (n - i <= need) {
            return 0;
        }
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
            return 0;   /* overlong or beyond Unicode */
        }
        if (!surrogates && cp >= 0xD800 && cp <= 0xDFFF) {
            return 0;
        }
        i += need + 1;
    }
    return 1;
}
