/*
 * xidata.c -- Store and the view types as "cross-interpreter data", so they
 * pass through the stdlib's interpreter channels and queues (3.12:
 * _xxinterpchannels; 3.13: _interpqueues / _interpchannels) without pickling,
 * arriving as views of the same arena memory.
 *
 * The registration API is semi-private: public-ish in 3.12
 * (Include/cpython/pystate.h), internal in 3.13 (internal/pycore_crossinterp.h,
 * hence Py_BUILD_CORE -- in this file only). From 3.14 the stdlib falls back
 * to pickle, which uses the types' __reduce__, so nothing is registered.
 *
 * What crosses: a malloc'd (store id, node, token[, slice]) that owns one
 * store reference (taken by _export in the sending interpreter). The
 * receiver rebuilds its own view with _rebuild (taking its own lease); the
 * message's reference is dropped by the free function, in pure C, whether
 * the data was received or not.
 */
#include <patchlevel.h>   /* PY_VERSION_HEX, before Python.h decides on Py_BUILD_CORE */
#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
#  ifndef Py_BUILD_CORE
#    define Py_BUILD_CORE 1
#  endif
#  define PY_SSIZE_T_CLEAN
#  include <Python.h>
#  include "internal/pycore_crossinterp.h"
#else
#  define PY_SSIZE_T_CLEAN
#  include <Python.h>
#endif

#include <stdlib.h>

#include "frost_store.h"

int frost__xidata_register(PyTypeObject *const *types, int ntypes);

#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000

typedef struct {
    unsigned long long id, node, token;   /* an _export() reference: owns one store count */
    int has_slice;
    Py_ssize_t start, step, len;          /* a list view's slice, when has_slice */
} xi_ref_t;

static void
xi_ref_free(void *p)
{
    xi_ref_t *ref = p;
    int bad_token = 0;
    frost_store_t *store = frost_store_acquire_by_id(ref->id, (uintptr_t)ref->node, ref->token,
                                                     &bad_token);
    if (store != NULL) {
        frost_store_release(store);   /* ours */
        frost_store_release(store);   /* the message's */
    }
    free(ref);
}

/* In the receiving interpreter: its own view of the same node. */
static PyObject *
xi_ref_new_object(_PyCrossInterpreterData *data)
{
    const xi_ref_t *ref = data->data;
    PyObject *module = PyImport_ImportModule("frost._frost");
    if (module == NULL) {
        return NULL;
    }
    PyObject *result;
    if (ref->has_slice) {
        result = PyObject_CallMethod(module, "_rebuild", "KKK(nnn)", ref->id, ref->node, ref->token,
                                     ref->start, ref->step, ref->len);
    }
    else {
        result = PyObject_CallMethod(module, "_rebuild", "KKK", ref->id, ref->node, ref->token);
    }
    Py_DECREF(module);
    return result;
}

/* In the sending interpreter: export the view (one store count for the message). */
static int
xi_ref_get_data(PyThreadState *tstate, PyObject *obj, _PyCrossInterpreterData *data)
{
    PyObject *module = PyType_GetModule(Py_TYPE(obj));
    PyObject *exported = module ? PyObject_CallMethod(module, "_export", "O", obj) : NULL;
    if (exported == NULL) {
        return -1;
    }
    xi_ref_t *ref = calloc(1, sizeof(*ref));
    PyObject *slice = NULL;
    if (ref == NULL) {
        PyErr_NoMemory();
    }
    else if (PyArg_ParseTuple(exported, "KKK|O!", &ref->id, &ref->node, &ref->token, &PyTuple_Type,
                              &slice)
             && (slice == NULL || PyArg_ParseTuple(slice, "nnn", &ref->start, &ref->step, &ref->len))) {
        ref->has_slice = slice != NULL;
        _PyCrossInterpreterData_Init(data, tstate->interp, ref, NULL, xi_ref_new_object);
        data->free = xi_ref_free;
        Py_DECREF(exported);
        return 0;
    }
    /* could not take it apart: release the exported count */
    PyObject *discard = module ? PyObject_GetAttrString(module, "_discard") : NULL;
    if (discard != NULL) {
        PyObject *exc = PyErr_GetRaisedException();
        Py_XDECREF(PyObject_CallOneArg(discard, exported));
        PyErr_Clear();
        PyErr_SetRaisedException(exc);
        Py_DECREF(discard);
    }
    Py_DECREF(exported);
    free(ref);
    return -1;
}

int
frost__xidata_register(PyTypeObject *const *types, int ntypes)
{
    for (int i = 0; i < ntypes; i++) {
        if (_PyCrossInterpreterData_RegisterClass(types[i], xi_ref_get_data) < 0) {
            return -1;
        }
    }
    return 0;
}

#else

int
frost__xidata_register(PyTypeObject *const *types, int ntypes)
{
    (void)types;
    (void)ntypes;
    return 0;   /* 3.14+: the stdlib pickles, and the types' __reduce__ is by reference */
}

#endif
