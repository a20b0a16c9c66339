/*
 * publish.c -- frost.publish / frost.published / frost.unpublish: the Python
 * face of the process-wide name -> store table (store/publish.c).
 *
 * A published store is reachable from every interpreter by name; publishing
 * again under the same name replaces it for *new* readers only. Readers that
 * already hold a Store or views of the old version keep reading it (their
 * lease keeps it alive); its arena is freed when the last of them lets go.
 *
 * A frost.MappedStore (format 2, python/frost/_mapped.py) is published by
 * frost._publication: it hands _publish_image the image's fd and a
 * description of it, which the table keeps (a dup of the fd). published()
 * of such a name dups the fd under the table's lock and has
 * frost._publication.attach map it in the calling interpreter (or reuse this
 * interpreter's mapping of the same image); the dup is closed here after.
 */
#include <errno.h>
#include <unistd.h>

#include "views.h"

/* frost._publication.<func>(*args) (args: a new reference, or NULL on error). */
static PyObject *
call_publication(const char *func, PyObject *args)
{
    if (args == NULL) {
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *module = PyImport_ImportModule("frost._publication");
    if (module != NULL) {
        PyObject *callable = PyObject_GetAttrString(module, func);
        if (callable != NULL) {
            result = PyObject_Call(callable, args, NULL);
            Py_DECREF(callable);
        }
        Py_DECREF(module);
    }
    Py_DECREF(args);
    return result;
}

/* repr() of a name as str's own (a str subclass's __repr__ may raise or lie). */
static PyObject *
name_repr(PyObject *name)
{
    return PyUnicode_Type.tp_repr(name);
}

/* KeyError: nothing is published as name. */
static PyObject *
not_published(PyObject *name)
{
    PyObject *r = name_repr(name);
    if (r != NULL) {
        PyErr_Format(PyExc_KeyError, "no frost store is published as %U", r);
        Py_DECREF(r);
    }
    return NULL;
}

/* The name argument: a non-empty str (or str subclass) without NUL, as UTF-8
 * (borrowed); TypeError or ValueError naming func's `name` otherwise. */
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
    const char *why = NULL;
    if (utf8 == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return NULL;   /* no memory */
        }
        PyErr_Clear();
        why = "a str encodable as UTF-8 (no lone surrogate)";
    }
    else if (len == 0 || (size_t)len != strlen(utf8)) {
        why = "a non-empty str without NUL";
    }
    if (why != NULL) {
        PyObject *r = name_repr(name);
        if (r != NULL) {
            PyErr_Format(PyExc_ValueError, "%s(): name must be %s, not %U", func, why, r);
            Py_DECREF(r);
        }
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
        /* a MappedStore: its version; anything else: NotImplemented */
        PyObject *version = call_publication("publish_mapped",
                                             Py_BuildValue("(OO)", name_obj, store_obj));
        if (version != Py_NotImplemented) {
            return version;
        }
        Py_DECREF(version);
        return PyErr_Format(PyExc_TypeError,
                            "publish(): store must be a frost.Store or frost.MappedStore, "
                            "not %.100s", Py_TYPE(store_obj)->tp_name);
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
    /* the version is not reported: a reader wants the data, publish() returns it */
    frost_publication_t pub;
    int kind = frost_publication(name, &pub);
    if (kind == FROST_PUBLISHED_NONE) {
        return not_published(name_obj);
    }
    if (kind == FROST_ENOMEM) {
        return PyErr_NoMemory();
    }
    if (kind < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (kind == FROST_PUBLISHED_STORE) {
        return frost__store_handle(st, pub.store);
    }
    PyObject *mapped = call_publication(
        "attach", Py_BuildValue("(iy#)", pub.fd, (const char *)pub.meta, (Py_ssize_t)pub.meta_len));
    frost_publication_release(&pub);   /* attach made its own fd if it needed one */
    return mapped;
}

PyObject *
frost__publish_image(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *name_obj;
    int fd;
    const char *meta;
    Py_ssize_t meta_len;
    if (!PyArg_ParseTuple(args, "Oiy#:_publish_image", &name_obj, &fd, &meta, &meta_len)) {
        return NULL;
    }
    const char *name = publication_name(name_obj, "publish");
    if (name == NULL) {
        return NULL;
    }
    uint64_t version;
    int rc = frost_publish_image(name, fd, meta, (size_t)meta_len, &version);
    if (rc == FROST_ENOMEM) {
        return PyErr_NoMemory();
    }
    if (rc != FROST_OK) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromUnsignedLongLong(version);
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
        return not_published(name_obj);
    }
    Py_RETURN_NONE;
}
