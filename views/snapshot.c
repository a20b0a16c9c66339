/*
 * snapshot.c (views) -- the Python face of store/snapshot.c:
 * Store.save(path, *, format=None) (format 1 here; format 2: map_write_py.c),
 * frost.load(path, *, lifetime="process") and frost.SnapshotError (a ValueError).
 *
 * save() reads only the sealed arena, so it runs without the GIL; the Store's
 * Lease (held by the Store object for the whole call) keeps the arena alive.
 * Both take progress=callable(done, total): save takes the GIL back for each
 * call of it.
 * load() holds the GIL: it hashes str/bytes with this process's seed.
 */
#include "views.h"
#include "frost_snapshot.h"

/* Raise the exception matching a C status (never returns non-NULL). */
static PyObject *
raise_snapshot_error(frost_state *st, const frost_snapshot_error_t *err, PyObject *path)
{
    switch (err->code) {
    case FROST_ENOMEM:
        return PyErr_NoMemory();
    case FROST_SNAPSHOT_EIO:
        if (err->sys_errno == EIO) {   /* frost's own finding (the file shrunk under a save): its words */
            PyObject *exc = PyObject_CallFunction(PyExc_OSError, "isO", EIO, err->message, path);
            if (exc != NULL) {
                PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                Py_DECREF(exc);
            }
            return NULL;
        }
        errno = err->sys_errno;
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    case FROST_SNAPSHOT_ECANCELED:   /* the progress callback's exception is set */
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_SystemError, "frost: progress stopped without an exception");
        }
        return NULL;
    default:
        PyErr_Format(st->snapshot_error, "%s: %S", err->message, path);
        return NULL;
    }
}

/* Checks signals and calls the Python progress callable, if any: with the
 * GIL held (load), or taking it back for the call (save, which runs without
 * it: `released` set). Given to both even without a callable, so that Ctrl-C
 * stops them every FROST_SNAPSHOT_PROGRESS_EVERY items. */
typedef struct {
    PyObject *callable;         /* borrowed from the call's arguments */
    PyThreadState *released;    /* save: the thread state to restore around the call */
} progress_call_t;

/* frost_snapshot_progress_t.check of a load (GIL held): Ctrl-C, or the
 * exception of a frost.Pool stopping the task, stops it (frost__wait_tick). */
static int
check_load(void *Py_UNUSED(ctx))
{
    return frost__wait_tick() < 0 ? -1 : 0;
}

/* frost_snapshot_progress_t.check of a format-1 save (run without the GIL:
 * taken back for the check), between slices of its checksum pass: the same
 * check as a load's. */
static int
check_save(void *ctx)
{
    progress_call_t *pc = ctx;
    PyEval_RestoreThread(pc->released);
    int rc = check_load(NULL);
    pc->released = PyEval_SaveThread();   /* the exception, if any, stays with the thread */
    return rc;
}

static int
call_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress_call_t *pc = ctx;
    if (pc->released != NULL) {
        PyEval_RestoreThread(pc->released);
    }
    /* Ctrl-C stops a long save or load (nothing left) rather than landing after it */
    int rc = PyErr_CheckSignals();
    if (rc == 0 && pc->callable != NULL) {
        rc = frost__report_progress(pc->callable, done, total != 0, total);
    }
    if (pc->released != NULL) {
        pc->released = PyEval_SaveThread();   /* the exception, if any, stays with the thread */
    }
    return rc;
}

/* Both formats' savers rename a new file over their target: one that exists
 * and is not a regular file (a FIFO, a socket, /dev/null, a directory) is
 * refused before anything is written (frost_snapshot_target_kind), with an
 * OSError naming it (MappedStore.save too). 0 ok, -1 raised. */
int
frost__refuse_special_target(PyObject *path_arg)
{
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(path_arg, &path)) {
        return -1;
    }
    const char *kind;
    Py_BEGIN_ALLOW_THREADS
    kind = frost_snapshot_target_kind(PyBytes_AS_STRING(path));
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    if (kind == NULL) {
        return 0;
    }
    int code = frost_snapshot_target_errno(kind);
    if (code == EISDIR) {   /* IsADirectoryError's own words say it */
        errno = code;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path_arg);
        return -1;
    }
    PyObject *why = PyUnicode_FromFormat("%s, not a regular file: save() writes a new file and "
                                         "renames it over its target", kind);
    PyObject *exc = why ? PyObject_CallFunction(PyExc_OSError, "iOO", code, why, path_arg)
                        : NULL;   /* OSError(errno, ...) makes the errno's subclass */
    Py_XDECREF(why);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return -1;
}

PyObject *
frost__store_save(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"path", "format", "progress", NULL};
    PyObject *path_arg, *format_obj = Py_None, *progress_obj = NULL;
    progress_call_t pc = {NULL, NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$OO:save", kwlist, &path_arg, &format_obj,
                                     &progress_obj)
        || frost__parse_progress(progress_obj, "save", &pc.callable) < 0) {
        return NULL;
    }
    long format = 0;   /* None: 2 */
    if (format_obj != Py_None) {
        Py_ssize_t f = -1;   /* an int-like (numpy's too), not a bool */
        if (PyIndex_Check(format_obj) && frost__parse_index(format_obj, "save() format", &f) < 0) {
            f = -1;
        }
        format = (long)f;
        if (format != 1 && format != 2) {
            PyErr_Clear();
            PyObject *repr = PyLong_Check(format_obj) ? frost__int_repr(format_obj)
                                                      : PyObject_Repr(format_obj);
            if (repr != NULL) {
                PyErr_Format(PyExc_ValueError, "save() format must be 1, 2 or None, not %U", repr);
                Py_DECREF(repr);
            }
            return NULL;
        }
    }
    frost_state *st = frost__state_of_type(Py_TYPE(self));
    if (st == NULL) {
        return NULL;
    }
    if (((FrostStore *)self)->lease == NULL) {
        return frost__closed_error(st, "save()");
    }
    /* __fspath__ is called once: a path-like that names another file at each
     * call must not have one file checked and another replaced */
    PyObject *fspath = PyOS_FSPath(path_arg);
    if (fspath == NULL) {
        return NULL;
    }
    PyObject *path = NULL;
    if (frost__refuse_special_target(fspath) < 0) {
        Py_DECREF(fspath);
        return NULL;
    }
    if (format == 0 || format == 2) {
        int saved = frost__map_save(self, fspath, pc.callable);
        Py_DECREF(fspath);
        return saved < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (!PyUnicode_FSConverter(fspath, &path)) {
        Py_DECREF(fspath);
        return NULL;
    }
    /* read only now: __fspath__ may have closed the store (and freed its lease) */
    FrostLease *lease = ((FrostStore *)self)->lease;
    if (lease == NULL) {
        Py_DECREF(fspath);
        Py_DECREF(path);
        return frost__closed_error(st, "save()");
    }
    Py_INCREF(lease);   /* close() from another thread (or the callback) while we run */
    Py_XINCREF(pc.callable);
    frost_snapshot_error_t err;
    frost_snapshot_progress_t progress = {call_progress, &pc, check_save};
    pc.released = PyEval_SaveThread();
    int rc = frost_snapshot_save_with_progress(lease->store, PyBytes_AS_STRING(path),
                                               &progress, &err);
    PyEval_RestoreThread(pc.released);
    Py_XDECREF(pc.callable);
    Py_DECREF(lease);
    PyObject *result = rc < 0 ? raise_snapshot_error(st, &err, fspath) : Py_NewRef(Py_None);
    Py_DECREF(path);
    Py_DECREF(fspath);
    return result;
}

PyObject *
frost__load_snapshot(PyObject *module, PyObject *args, PyObject *kwargs)
{
    frost_freeze_call_t call;
    if (frost__parse_freeze_call(args, kwargs, "load", FROST_CALL_LOAD, &call) < 0) {
        return NULL;
    }
    PyObject *path_arg = call.obj;
    frost_lifetime_t lifetime = call.lifetime;
    progress_call_t pc = {call.progress, NULL};
    PyObject *path = NULL;
    PyObject *fspath = PyOS_FSPath(path_arg);   /* called once; errors name what it gave */
    if (fspath == NULL || !PyUnicode_FSConverter(fspath, &path)) {
        Py_XDECREF(fspath);
        return NULL;
    }
    frost_state *st = PyModule_GetState(module);
    frost_snapshot_error_t err;
    frost_store_t *store = NULL;
    frost_snapshot_progress_t progress = {call_progress, &pc, check_load};
    int rc = frost_snapshot_load_with_progress(PyBytes_AS_STRING(path), lifetime,
                                               &progress, &store, &err);
    Py_DECREF(path);
    if (rc < 0) {
        raise_snapshot_error(st, &err, fspath);
        Py_DECREF(fspath);
        return NULL;
    }
    Py_DECREF(fspath);
    return frost__store_handle(st, store);
}

PyObject *
frost__snapshot_xxh64(PyObject *Py_UNUSED(module), PyObject *data)
{
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    uint64_t h = frost_snapshot_xxh64(view.buf, (size_t)view.len, 0);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(h);
}

PyObject *
frost__xxh3(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer view;
    Py_ssize_t chunk = 0;
    if (!PyArg_ParseTuple(args, "y*|n:_xxh3", &view, &chunk)) {
        return NULL;
    }
    if (chunk < 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "_xxh3() chunk must be >= 0");
        return NULL;
    }
    uint64_t h;
    if (chunk == 0) {
        h = frost_xxh3(view.buf, (size_t)view.len);
    }
    else {
        frost_xxh3_t s;
        frost_xxh3_init(&s);
        for (Py_ssize_t at = 0; at < view.len; at += chunk) {
            frost_xxh3_update(&s, (const char *)view.buf + at, (size_t)(view.len - at < chunk ? view.len - at : chunk));
        }
        h = frost_xxh3_digest(&s);
    }
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(h);
}

int
frost__snapshot_exec(PyObject *module, frost_state *st)
{
    st->snapshot_error = PyErr_NewExceptionWithDoc(
        "frost.SnapshotError",
        "A file is not a valid frost snapshot for this process: corrupt, truncated, or written "
        "by another format version, Python version or platform.",
        PyExc_ValueError, NULL);
    if (st->snapshot_error == NULL) {
        return -1;
    }
    if (frost_snapshot_init() < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return PyModule_AddObjectRef(module, "SnapshotError", st->snapshot_error);
}
