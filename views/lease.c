/*
 * lease.c -- frost.Store and the Lease behind it: one interpreter's hold on
 * one process-wide frost_store_t, and references to arena nodes that cross
 * interpreters as plain data.
 *
 * One Lease per (interpreter, store): module state maps store id -> Lease
 * (a borrowed address, removed by the Lease's dealloc). Views and Store
 * objects of this interpreter hold strong references to the Lease, counted
 * under this interpreter's GIL; only making and freeing the Lease touches the
 * store's atomic count.
 *
 * A Store or view pickles by reference (views/xref.c owns how).
 */
#include "views.h"

PyObject *
frost__closed_error(frost_state *st, const char *what)
{
    PyErr_Format(st->closed_error, "%s of a closed frost.Store", what);
    return NULL;
}

int
frost__parse_lifetime(PyObject *obj, const char *func, frost_lifetime_t *out)
{
    if (obj == NULL) {
        return 0;   /* not given: keep the caller's default */
    }
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s() lifetime must be a str, not %.200s", func,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyUnicode_CompareWithASCIIString(obj, "scoped") == 0) {
        *out = FROST_LIFETIME_SCOPED;
    }
    else if (PyUnicode_CompareWithASCIIString(obj, "process") == 0) {
        *out = FROST_LIFETIME_PROCESS;
    }
    else {
        PyErr_Format(PyExc_ValueError, "%s() lifetime must be 'scoped' or 'process', not %R", func,
                     obj);
        return -1;
    }
    return 0;
}

static PyObject *
id_key(frost_store_t *store)
{
    return PyLong_FromUnsignedLongLong(frost_store_id(store));
}

FrostLease *
frost__lease_for(frost_state *st, frost_store_t *store)
{
    PyObject *key = id_key(store);
    if (key == NULL) {
        frost_store_release(store);
        return NULL;
    }
    PyObject *addr = PyDict_GetItemWithError(st->leases, key);
    if (addr != NULL) {
        FrostLease *lease = PyLong_AsVoidPtr(addr);
        Py_DECREF(key);
        frost_store_release(store);   /* the existing lease already holds one */
        return (FrostLease *)Py_NewRef(lease);
    }
    FrostLease *lease = PyErr_Occurred() ? NULL : PyObject_New(FrostLease, st->lease_type);
    if (lease == NULL) {
        Py_DECREF(key);
        frost_store_release(store);
        return NULL;
    }
    lease->store = store;
    lease->st = st;
    lease->process = frost_store_lifetime(store) == FROST_LIFETIME_PROCESS;
    lease->nan_copies = NULL;
    lease->nan_origins = NULL;
    lease->fields = NULL;
    lease->shapes = NULL;
    addr = PyLong_FromVoidPtr(lease);
    if (addr == NULL || PyDict_SetItem(st->leases, key, addr) < 0) {
        Py_XDECREF(addr);
        Py_DECREF(key);
        Py_DECREF(lease);
        return NULL;
    }
    Py_DECREF(addr);
    Py_DECREF(key);
    return lease;
}

PyObject *
frost__store_handle(frost_state *st, frost_store_t *store)
{
    FrostLease *lease = frost__lease_for(st, store);   /* takes the reference */
    if (lease == NULL) {
        return NULL;
    }
    PyObject *result = frost__store_new(st, lease);
    Py_DECREF(lease);
    return result;
}

static void
lease_dealloc(PyObject *self)
{
    FrostLease *lease = (FrostLease *)self;
    PyTypeObject *tp = Py_TYPE(self);
    PyObject *exc = PyErr_GetRaisedException();
    if (lease->st->leases != NULL) {
        PyObject *key = id_key(lease->store);
        if (key == NULL || PyDict_DelItem(lease->st->leases, key) < 0) {
            PyErr_Clear();   /* the map is being torn down with the module */
        }
        Py_XDECREF(key);
    }
    frost__field_cache_free(lease->fields);
    frost__record_shapes_free(lease->shapes);
    PyErr_SetRaisedException(exc);
    Py_CLEAR(lease->nan_copies);
    Py_CLEAR(lease->nan_origins);
    frost_store_release(lease->store);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot lease_slots[] = {
    {Py_tp_dealloc, lease_dealloc},
    {Py_tp_doc, "An interpreter's lease on a frost store (internal)."},
    {0, NULL},
};

PyType_Spec FrostLease_spec = {
    .name = "frost._frost.Lease",
    .basicsize = sizeof(FrostLease),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = lease_slots,
};

/* ---- frost.Store -------------------------------------------------------- */

#define SO(o) ((FrostStore *)(o))

PyObject *
frost__store_new(frost_state *st, FrostLease *lease)
{
    FrostStore *s = PyObject_New(FrostStore, st->store_type);
    if (s == NULL) {
        return NULL;
    }
    s->lease = (FrostLease *)Py_NewRef(lease);
    return (PyObject *)s;
}

/* The open store's lease, or NULL with StoreClosedError. */
static FrostLease *
open_lease(PyObject *self, const char *what)
{
    FrostLease *lease = SO(self)->lease;
    if (lease == NULL) {
        frost_state *st = frost__state_of_type(Py_TYPE(self));
        if (st != NULL) {
            frost__closed_error(st, what);
        }
    }
    return lease;
}

static PyObject *
store_root(PyObject *self, void *Py_UNUSED(closure))
{
    FrostLease *lease = open_lease(self, "root");
    return lease ? frost__load(lease, frost_store_root(lease->store)) : NULL;
}

static PyObject *
store_nbytes(PyObject *self, void *Py_UNUSED(closure))
{
    FrostLease *lease = open_lease(self, "nbytes");
    if (lease == NULL) {
        return NULL;
    }
    frost_arena_stats_t stats;
    frost_arena_stats(frost_store_arena(lease->store), &stats);
    return PyLong_FromSize_t(stats.bytes_used);
}

static const char *
lifetime_name(frost_lifetime_t lifetime)
{
    return lifetime == FROST_LIFETIME_PROCESS ? "process" : "scoped";
}

static PyObject *
store_lifetime(PyObject *self, void *Py_UNUSED(closure))
{
    FrostLease *lease = open_lease(self, "lifetime");
    return lease ? PyUnicode_FromString(lifetime_name(frost_store_lifetime(lease->store))) : NULL;
}

static PyObject *
store_closed(PyObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(SO(self)->lease == NULL);
}

static PyObject *
store_stats(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostLease *lease = open_lease(self, "stats()");
    if (lease == NULL) {
        return NULL;
    }
    frost_arena_stats_t s;
    frost_arena_stats(frost_store_arena(lease->store), &s);
    PyObject *objects = PyDict_New();
    for (int k = 0; objects != NULL && k < FROST_KIND_COUNT; k++) {
        PyObject *n = PyLong_FromSize_t(s.objects[k]);
        if (n == NULL || PyDict_SetItemString(objects, frost_kind_name((frost_kind_t)k), n) < 0) {
            Py_CLEAR(objects);
        }
        Py_XDECREF(n);
    }
    if (objects == NULL) {
        return NULL;
    }
    return Py_BuildValue("{s:n,s:n,s:n,s:N,s:O,s:s,s:s,s:K}", "bytes", (Py_ssize_t)s.bytes_used,
                         "bytes_reserved", (Py_ssize_t)s.bytes_reserved, "chunks",
                         (Py_ssize_t)s.chunks, "objects", objects, "sealed",
                         s.sealed ? Py_True : Py_False, "lifetime",
                         lifetime_name(frost_store_lifetime(lease->store)), "backend",
                         s.backend ? s.backend : "?", "id",
                         (unsigned long long)frost_store_id(lease->store));
}

static PyObject *
store_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(SO(self)->lease);
    Py_RETURN_NONE;
}

static PyObject *
store_enter(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (open_lease(self, "'with'") == NULL) {
        return NULL;
    }
    return Py_NewRef(self);
}

static PyObject *
store_exit(PyObject *self, PyObject *const *Py_UNUSED(args), Py_ssize_t Py_UNUSED(nargs))
{
    Py_CLEAR(SO(self)->lease);
    Py_RETURN_FALSE;
}

static PyObject *
store_repr(PyObject *self)
{
    FrostLease *lease = SO(self)->lease;
    if (lease == NULL) {
        return PyUnicode_FromString("<frost.Store closed>");
    }
    frost_arena_stats_t s;
    frost_arena_stats(frost_store_arena(lease->store), &s);
    frost_ref_t root = frost_store_root(lease->store);
    const char *root_kind = "value";
    if (frost_ref_is_node(root)) {
        static const char *names[] = {"?", "FrozenDict", "FrozenList", "tuple", "FrozenSet", "Array", "Record", "Table"};
        uint32_t k = frost_ref_node(root)->kind;
        root_kind = k < sizeof names / sizeof names[0] ? names[k] : "?";
    }
    else {
        root_kind = Py_TYPE(frost_ref_object(root))->tp_name;
    }
    return PyUnicode_FromFormat("<frost.Store id=%llu lifetime='%s' root=%s nbytes=%zu>",
                                (unsigned long long)frost_store_id(lease->store),
                                lifetime_name(frost_store_lifetime(lease->store)), root_kind,
                                s.bytes_used);
}

static void
store_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(SO(self)->lease);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
store_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostLease *lease = open_lease(self, frost__capturing() ? "sending" : "pickling");
    if (lease == NULL) {
        return NULL;
    }
    FrostView tmp = {.lease = lease};
    return frost__reduce_ref(&tmp, 0, NULL);
}

static PyGetSetDef store_getset[] = {
    {"root", store_root, NULL, "The frozen root: a view for containers, else the value.", NULL},
    {"nbytes", store_nbytes, NULL, "Arena bytes in use.", NULL},
    {"lifetime", store_lifetime, NULL, "'scoped' or 'process'.", NULL},
    {"closed", store_closed, NULL, "True after close().", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef store_methods[] = {
    {"stats", store_stats, METH_NOARGS,
     "stats($self, /)\n--\n\nA dict: bytes, bytes_reserved, chunks, objects (by kind), sealed, lifetime, "
     "backend, id."},
    {"close", store_close, METH_NOARGS,
     "close($self, /)\n--\n\nDrop this handle. Views keep the memory alive until the last is gone."},
    {"__enter__", store_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))store_exit, METH_FASTCALL, NULL},
    {"__reduce__", store_reduce, METH_NOARGS, "Pickle by reference to the same store."},
    {"save", (PyCFunction)(void (*)(void))frost__store_save, METH_VARARGS | METH_KEYWORDS,
     "save($self, /, path, *, format=None, progress=None)\n--\n\n"
     "Write the frozen graph to a snapshot file (atomically: a temporary file, then\n"
     "rename); frost.load(path) reads it in any process. See docs/format.md.\n\n"
     "format: 2 (read in place from a shared mapping, any hash seed), 1 (copied and\n"
     "relocated on load, by the same CPython major.minor only), or None: 2.\n"
     "progress: a callable(done, total) called every 65,536 items and at the end\n"
     "(done == total); total is None until then (format 1: during its first walk).\n"
     "An exception it raises stops the save (no file is left) and propagates."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot store_slots[] = {
    {Py_tp_doc, "Store: a frozen object graph in a sealed arena (made by frost.freeze())."},
    {Py_tp_dealloc, store_dealloc},
    {Py_tp_repr, store_repr},
    {Py_tp_getset, store_getset},
    {Py_tp_methods, store_methods},
    {0, NULL},
};

PyType_Spec FrostStore_spec = {
    .name = "frost.Store",
    .basicsize = sizeof(FrostStore),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = store_slots,
};
