/*
 * nodes.c -- lookups in frozen table nodes (dicts and sets).
 *
 * The table is CPython's compact-dict design: an index of int32 slots
 * (open addressing, CPython's perturbed probe sequence) pointing into an
 * array of entries kept in insertion order. Everything here only reads the
 * arena (except frost__table_index_entry, used while building it).
 */
#include "frost_nodes.h"

#include <string.h>

#define PERTURB_SHIFT 5

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
        return PyFloat_AS_DOUBLE(a) == PyFloat_AS_DOUBLE(b);
    }
    /* different plain types (1 == 1.0), tuples, user objects: not decided here */
    if ((ta == &PyUnicode_Type || ta == &PyBytes_Type) && tb != ta
        && (tb == &PyUnicode_Type || tb == &PyBytes_Type || tb == &PyLong_Type
            || tb == &PyFloat_Type || tb == &PyComplex_Type)) {
        return 0;   /* str/bytes never equal another builtin plain type */
    }
    return -1;
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
            PyObject *k = (PyObject *)e->key;
            int eq = frost__fast_equal(k, key);
            if (eq < 0) {
                eq = compare_key(k, key, ctx);
                if (eq < 0) {
                    return -2;
                }
            }
            if (eq) {
                return ix;
            }
        }
        perturb >>= PERTURB_SHIFT;
        slot = (slot * 5 + perturb + 1) & mask;
    }
}
