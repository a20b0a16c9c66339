/*
 * map_hash_stub.c -- TEMPORARY stand-in for mapw's store/map_hash.c (the
 * keyed hash of frost_map.h), so the reader builds and its tests run before
 * h/mapw is merged. Deleted by the merge that brings the real one.
 */
#include "frost_map_read.h"
#include "frost_nodes.h"
#include "frost_snapshot.h"

static uint64_t
mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int
raw_hash(PyObject *key, const uint64_t k[2], int depth, uint64_t *out)
{
    if (key == Py_None) {
        *out = 0x6E6F6E65;
        return 0;
    }
    if (key == Py_Ellipsis) {
        *out = 0x656C6C69;
        return 0;
    }
    if (PyLong_Check(key) || PyFloat_Check(key) || PyComplex_Check(key)) {
        Py_hash_t h = PyLong_Check(key) ? PyLong_Type.tp_hash(key)
                      : PyFloat_Check(key) ? PyFloat_Type.tp_hash(key)
                                           : PyComplex_Type.tp_hash(key);
        if (h == -1 && PyErr_Occurred()) {
            return -1;
        }
        *out = (uint64_t)h;
        return 0;
    }
    if (PyUnicode_Check(key)) {
        PyObject *b = PyUnicode_AsEncodedString(key, "utf-8", "surrogatepass");
        if (b == NULL) {
            return -1;
        }
        *out = frost_snapshot_xxh64(PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b), k[0]);
        Py_DECREF(b);
        return 0;
    }
    if (PyBytes_Check(key)) {
        *out = frost_snapshot_xxh64(PyBytes_AS_STRING(key), (size_t)PyBytes_GET_SIZE(key), k[1]);
        return 0;
    }
    if (PyTuple_Check(key)) {
        if (depth >= FROST_MAX_TUPLE_DEPTH) {
            PyErr_SetString(PyExc_RecursionError, "tuple key nested too deeply");
            return -1;
        }
        Py_ssize_t n = PyTuple_GET_SIZE(key);
        uint64_t *hs = PyMem_Malloc(((size_t)n + 1) * 8);
        if (hs == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            int rc = raw_hash(PyTuple_GET_ITEM(key, i), k, depth + 1, &hs[i]);
            if (rc != 0) {
                PyMem_Free(hs);
                return rc;
            }
        }
        *out = frost_snapshot_xxh64(hs, (size_t)n * 8, k[0] ^ UINT64_C(0x7475706C65));
        PyMem_Free(hs);
        return 0;
    }
    return 1;
}

int
frost_map_key_hash(PyObject *key, const uint64_t hash_key[2], uint64_t *out)
{
    uint64_t h;
    int rc = raw_hash(key, hash_key, 0, &h);
    if (rc == 0) {
        *out = mix64(h ^ hash_key[1]);
    }
    return rc;
}
