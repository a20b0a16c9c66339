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
 * What crosses: a malloc'd ticket (views/xref.c), a sent reference holding
 * one count on the store, made in the sending interpreter. The receiver gets
 * its own view from it (its own lease); the free function releases the
 * ticket, in pure C, whether the data was received or not.
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

#include <stdint.h>

int frost__xidata_register(PyTypeObject *const *types, int ntypes);
/* xref.c (views.h is not included here: this file may be built as core) */
int frost__xref_send(PyObject *module, PyObject *obj, uint64_t *ticket, uint64_t *token);
PyObject *frost__xref_receive(PyObject *module, uint64_t ticket, uint64_t token);
void frost__xref_release(uint64_t ticket, uint64_t token);

#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000

typedef struct {
    uint64_t ticket, token;
} xi_ticket_t;

static void
xi_ticket_free(void *p)
{
    xi_ticket_t *t = p;
    frost__xref_release(t->ticket, t->token);
    free(t);
}

/* In the receiving interpreter: its own object for the same reference. */
static PyObject *
xi_ticket_new_object(_PyCrossInterpreterData *data)
{
    const xi_ticket_t *t = data->data;
    PyObject *module = PyImport_ImportModule("frost._frost");
    if (module == NULL) {
        return NULL;
    }
    PyObject *result = frost__xref_receive(module, t->ticket, t->token);
    Py_DECREF(module);
    return result;
}

/* In the sending interpreter: a ticket owned by the data. */
static int
xi_ticket_get_data(PyThreadState *tstate, PyObject *obj, _PyCrossInterpreterData *data)
{
    PyObject *module = PyType_GetModule(Py_TYPE(obj));
    xi_ticket_t *t = module ? malloc(sizeof *t) : NULL;
    if (t == NULL) {
        return module ? (PyErr_NoMemory(), -1) : -1;
    }
    if (frost__xref_send(module, obj, &t->ticket, &t->token) < 0) {
        free(t);
        return -1;
    }
    _PyCrossInterpreterData_Init(data, tstate->interp, t, NULL, xi_ticket_new_object);
    data->free = xi_ticket_free;
    return 0;
}

int
frost__xidata_register(PyTypeObject *const *types, int ntypes)
{
    for (int i = 0; i < ntypes; i++) {
        if (_PyCrossInterpreterData_RegisterClass(types[i], xi_ticket_get_data) < 0) {
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
