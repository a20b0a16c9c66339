/*
 * publish.c -- frost.publish / frost.published / frost.unpublish: the Python
 * face of the process-wide name -> store table (store/publish.c).
 *
 * A published store is reachable from every interpreter by name; publishing
 * again under the same name replaces it for *new* readers only. Readers that
 * already hold a Store or views of the old version keep reading it (their
 * lease keeps it alive); its arena is freed when the last of them lets go.
 */
#include "views.h"

/* The name argument: a non-empty str without NUL, as UTF-8 (borrowed). */
static const char *
publication_name(PyObject *name, const char *func)
{
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "%s(): name must be str, not %.100s", func,
                     Py_TYPE(name)->tp_name);
        return NULL;
    }
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(name, &len);
    if (utf8 == NULL) {
        return NULL;
    }
    if (len == 0 || (size_t)len != strlen(utf8)) {
        PyErr_Format(PyExc_ValueError, "%s(): name must be a non-empty str without NUL, not %R",
                     func, name);
        return NULL;
    }
    return utf8;
}

PyObject *
frost__publish(PyObject *module, PyObject *args)
{
    frost_state *st = PyModule_GetState(module);
    PyObject *name_obj, *store_obj;
    if (!PyArg_ParseTuple(args, "OO:publish", &name_obj, &store_obj)) {
        return NULL;
    }
    const char *name = publication_name(name_obj, "publish");
    if (name == NULL) {
        return NULL;
    }
    if (!PyObject_TypeCheck(store_obj, st->store_type)) {
        return PyErr_Format(PyExc_TypeError, "publish(): store must be a frost.Store, not %.100s",
                            Py_TYPE(store_obj)->tp_name);
    }
    FrostLease *lease = ((FrostStore *)store_obj)->lease;
    if (lease == NULL) {
        return frost__closed_error(st, "publish()");
    }
    uint64_t version;
    if (frost_publish(name, lease->store, &version) != FROST_OK) {
        return PyErr_NoMemory();
    }
    return PyLong_FromUnsignedLongLong(version);
}

PyObject *
frost__published(PyObject *module, PyObject *name_obj)
{
    frost_state *st = PyModule_GetState(module);
    const char *name = publication_name(name_obj, "published");
    if (name == NULL) {
        return NULL;
    }
    uint64_t version;   /* not reported: a reader wants the data, publish() returns it */
    frost_store_t *store = frost_published(name, &version);
    if (store == NULL) {
        return PyErr_Format(PyExc_KeyError, "no frost store is published as %R", name_obj);
    }
    return frost__store_handle(st, store);
}

PyObject *
frost__unpublish(PyObject *module, PyObject *name_obj)
{
    (void)module;
    const char *name = publication_name(name_obj, "unpublish");
    if (name == NULL) {
        return NULL;
    }
    if (!frost_unpublish(name)) {
        return PyErr_Format(PyExc_KeyError, "no frost store is published as %R", name_obj);
    }
    Py_RETURN_NONE;
}
