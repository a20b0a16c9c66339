/*
 * pool_object.c -- frost._frost._Pool: the Python handle on a frost_pool_t
 * (interp/pool.c). frost.Pool (python/frost/pool.py) builds the Executor on
 * top of it; this layer only moves bytes and never holds a GIL while it
 * waits for workers.
 *
 *   _Pool(workers, init_code=None)
 *   .submit(module, func, payload) -> task id
 *   .next_result(timeout=None) -> (id, "ok" | "error" | "cancelled" | "interrupted", bytes)
 *                                 | None
 *                                 EOFError once shut down and drained
 *   .cancel(id) -> payload | None    .is_queued(id) -> bool
 *   .run_all(code)   .shutdown(cancel_pending=False)   .interrupt() -> n
 *   .join(timeout=None) -> bool   .workers
 *   .abandon() -> n   (interpreter exit only: frost_pool_abandon)
 *
 * A _Pool belongs to the interpreter that made it; waits are cut into 0.1 s
 * slices so Ctrl-C reaches the main thread, and an exception raised in a
 * waiting worker thread (a pool inside a task being stopped) reaches it
 * (frost__wait_tick).
 */
#include "views.h"
#include "frost_pool.h"

#define WAIT_SLICE 0.1

typedef struct {
    PyObject_HEAD
    frost_pool_t *pool;   /* owned; freed (shutdown + join) in dealloc */
} FrostPool;

/* Raise for a failed pool call; takes ownership of `text`. */
static void *
pool_error(int rc, char *text, const char *what)
{
    switch (rc) {
    case FROST_EPYTHON:
        PyErr_Format(PyExc_RuntimeError, "%s failed in a worker interpreter:\n%s", what,
                     text ? text : "(no details)");
        break;
    case FROST_ESHUTDOWN:
        PyErr_Format(PyExc_RuntimeError, "%s: the pool is shut down", what);
        break;
    case FROST_ESELF:
        PyErr_Format(PyExc_RuntimeError, "%s: not possible from one of the pool's own workers", what);
        break;
    case FROST_EFORKED:
        PyErr_Format(PyExc_RuntimeError, "%s: this pool was started by the parent of this "
                     "forked process, and its workers are not here (start a new pool in the "
                     "child)", what);
        break;
    case FROST_ENOMEM:
        PyErr_NoMemory();
        break;
    default:
        PyErr_Format(PyExc_ValueError, "%s: %s", what, frost_strerror(rc));
    }
    free(text);
    return NULL;
}

/* frost_pool_new_interruptible's question while it waits for the workers:
 * run the signal handlers (Ctrl-C) with the GIL taken back for the moment.
 * `ctx` is the caller's saved thread state. */
static int
start_interrupted(void *ctx)
{
    PyThreadState **saved = ctx;
    PyEval_RestoreThread(*saved);
    int stop = PyErr_CheckSignals() < 0;   /* the exception stays set for pool_new */
    *saved = PyEval_SaveThread();
    return stop;
}

static PyObject *
pool_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"workers", "init_code", NULL};
    PyObject *count;
    const char *init_code = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!|z:_Pool", kwlist, &PyLong_Type, &count,
                                     &init_code)) {
        return NULL;
    }
    int overflow = 0;
    long workers = PyLong_AsLongAndOverflow(count, &overflow);
    if (workers == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow != 0 || workers < 1 || workers > 1024) {   /* ValueError, however large */
        PyObject *repr = frost__int_repr(count);
        if (repr != NULL) {
            PyErr_Format(PyExc_ValueError, "workers must be between 1 and 1024, not %U", repr);
            Py_DECREF(repr);
        }
        return NULL;
    }
    FrostPool *self = (FrostPool *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    char *error = NULL;
    PyThreadState *saved = PyEval_SaveThread();
    int rc = frost_pool_new_interruptible(&self->pool, (int)workers, init_code, &error,
                                          start_interrupted, &saved);
    PyEval_RestoreThread(saved);
    if (rc == FROST_EINTR) {   /* a signal handler raised (Ctrl-C): its exception is set */
        free(error);
        Py_DECREF(self);
        return NULL;
    }
    if (rc != FROST_OK) {
        Py_DECREF(self);
        return pool_error(rc, error, "starting the pool");
    }
    return (PyObject *)self;
}

static frost_pool_t *
get_pool(PyObject *self)
{
    return ((FrostPool *)self)->pool;
}

static PyObject *
pool_submit(PyObject *self, PyObject *args)
{
    const char *module, *func;
    Py_buffer payload;
    if (!PyArg_ParseTuple(args, "ssy*:submit", &module, &func, &payload)) {
        return NULL;
    }
    int64_t id = frost_pool_submit(get_pool(self), module, func, payload.buf, (size_t)payload.len);
    PyBuffer_Release(&payload);
    if (id < 0) {
        return pool_error((int)id, NULL, "submit");
    }
    return PyLong_FromLongLong(id);
}

/* cancel(id) -> the payload if the task was still queued (taken back: it
 * will never run), else None (a worker has taken it). */
static PyObject *
pool_cancel(PyObject *self, PyObject *arg)
{
    long long id = PyLong_AsLongLong(arg);
    if (id == -1 && PyErr_Occurred()) {
        return NULL;
    }
    char *payload = NULL;
    size_t size = 0;
    if (frost_pool_cancel(get_pool(self), (int64_t)id, &payload, &size) != FROST_OK) {
        Py_RETURN_NONE;
    }
    PyObject *r = PyBytes_FromStringAndSize(payload, (Py_ssize_t)size);
    if (r == NULL) {   /* cannot hand it back: end the message's life here */
        PyObject *exc = PyErr_GetRaisedException();
        frost__message_release(payload, size);
        PyErr_SetRaisedException(exc);
    }
    free(payload);
    return r;
}

static PyObject *
pool_is_queued(PyObject *self, PyObject *arg)
{
    long long id = PyLong_AsLongLong(arg);
    if (id == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyBool_FromLong(frost_pool_cancel(get_pool(self), (int64_t)id, NULL, NULL) == FROST_OK);
}

static const char *
status_name(frost_task_status_t status)
{
    switch (status) {
    case FROST_TASK_OK: return "ok";
    case FROST_TASK_CANCELLED: return "cancelled";
    case FROST_TASK_INTERRUPTED: return "interrupted";
    default: return "error";
    }
}

static PyObject *
pool_next_result(PyObject *self, PyObject *args)
{
    PyObject *timeout_obj = Py_None;
    if (!PyArg_ParseTuple(args, "|O:next_result", &timeout_obj)) {
        return NULL;
    }
    double timeout;
    if (frost__parse_timeout(timeout_obj, &timeout) < 0) {
        return NULL;
    }
    frost_pool_result_t result;
    for (;;) {
        double slice = (timeout < 0 || timeout > WAIT_SLICE) ? WAIT_SLICE : timeout;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = frost_pool_next_result(get_pool(self), slice, &result);
        Py_END_ALLOW_THREADS
        if (rc == FROST_OK) {
            break;
        }
        if (rc == FROST_EDRAINED) {
            PyErr_SetString(PyExc_EOFError, "the pool is shut down and every result was taken");
            return NULL;
        }
        if (frost__wait_tick() < 0) {
            return NULL;
        }
        if (timeout >= 0) {
            timeout -= slice;
            if (timeout <= 0) {
                Py_RETURN_NONE;
            }
        }
    }
    PyObject *r = Py_BuildValue("(Lsy#)", (long long)result.id, status_name(result.status),
                                result.data, (Py_ssize_t)result.size);
    frost_pool_result_clear(&result);
    return r;
}

static PyObject *
pool_run_all(PyObject *self, PyObject *arg)
{
    const char *code = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (code == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "run_all() needs a str of code, not %.200s",
                         Py_TYPE(arg)->tp_name);
        }
        return NULL;
    }
    int rc = frost_pool_run_all_begin(get_pool(self), code);   /* never waits long */
    if (rc != FROST_OK) {
        return pool_error(rc, NULL, "run_all");
    }
    for (;;) {   /* in slices: Ctrl-C ends the wait (the caller then shuts down) */
        char *error = NULL;
        Py_BEGIN_ALLOW_THREADS
        rc = frost_pool_run_all_wait(get_pool(self), WAIT_SLICE, &error);
        Py_END_ALLOW_THREADS
        if (rc == FROST_OK) {
            Py_RETURN_NONE;
        }
        if (rc != FROST_ETIMEOUT) {
            return pool_error(rc, error, "run_all");
        }
        if (frost__wait_tick() < 0) {
            return NULL;
        }
    }
}

static PyObject *
pool_shutdown(PyObject *self, PyObject *args)
{
    int cancel = 0;
    if (!PyArg_ParseTuple(args, "|p:shutdown", &cancel)) {
        return NULL;
    }
    frost_pool_shutdown(get_pool(self), cancel);
    Py_RETURN_NONE;
}

/* Call fn(pool) with this interpreter's GIL released (it waits for workers):
 * its status (>= 0), or NULL with the error raised for `what`. */
static PyObject *
call_released(PyObject *self, int (*fn)(frost_pool_t *), const char *what)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = fn(get_pool(self));
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        return pool_error(rc, NULL, what);
    }
    return PyLong_FromLong(rc);
}

static PyObject *
pool_interrupt(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return call_released(self, frost_pool_interrupt, "interrupt");
}

static PyObject *
pool_abandon(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return call_released(self, frost_pool_abandon, "abandon");
}

/* join(timeout=None) -> True once every worker has ended and is joined,
 * False if `timeout` seconds passed first. Waits in slices: Ctrl-C (and an
 * exception raised in this thread by another) end the wait. */
static PyObject *
pool_join(PyObject *self, PyObject *args)
{
    PyObject *timeout_obj = Py_None;
    if (!PyArg_ParseTuple(args, "|O:join", &timeout_obj)) {
        return NULL;
    }
    double timeout;
    if (frost__parse_timeout(timeout_obj, &timeout) < 0) {
        return NULL;
    }
    for (;;) {
        double slice = (timeout < 0 || timeout > WAIT_SLICE) ? WAIT_SLICE : timeout;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = frost_pool_wait_ended(get_pool(self), slice);
        Py_END_ALLOW_THREADS
        if (rc == FROST_OK) {
            break;
        }
        if (rc != FROST_ETIMEOUT) {
            return pool_error(rc, NULL, "join");
        }
        if (frost__wait_tick() < 0) {
            return NULL;
        }
        if (timeout >= 0) {
            timeout -= slice;
            if (timeout <= 0) {
                Py_RETURN_FALSE;
            }
        }
    }
    PyObject *rc = call_released(self, frost_pool_join, "join");   /* FROST_OK or error */
    if (rc == NULL) {
        return NULL;
    }
    Py_DECREF(rc);
    Py_RETURN_TRUE;
}

static PyObject *
pool_workers(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(frost_pool_workers(get_pool(self)));
}

static void
pool_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    frost_pool_t *pool = get_pool(self);
    if (pool != NULL) {
        Py_BEGIN_ALLOW_THREADS
        frost_pool_free(pool);
        Py_END_ALLOW_THREADS
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef pool_methods[] = {
    {"submit", pool_submit, METH_VARARGS, "submit(module, func, payload) -> task id"},
    {"next_result", pool_next_result, METH_VARARGS,
     "next_result(timeout=None) -> (id, status, bytes) or None on timeout; EOFError when drained"},
    {"cancel", pool_cancel, METH_O,
     "cancel(id) -> payload if the task was still queued (it will never run), else None"},
    {"is_queued", pool_is_queued, METH_O, "is_queued(id) -> whether no worker has taken it yet"},
    {"run_all", pool_run_all, METH_O, "Run code in every worker's __main__ and wait."},
    {"shutdown", pool_shutdown, METH_VARARGS, "shutdown(cancel_pending=False): take no more work."},
    {"interrupt", pool_interrupt, METH_NOARGS,
     "Raise KeyboardInterrupt in every running task; returns how many."},
    {"abandon", pool_abandon, METH_NOARGS,
     "At interpreter exit: give up on workers that do not end (see frost_pool.h)."},
    {"join", pool_join, METH_VARARGS,
     "join(timeout=None) -> True once every worker has ended, False on timeout."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pool_getset[] = {
    {"workers", pool_workers, NULL, "Number of worker interpreters.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot pool_slots[] = {
    {Py_tp_new, pool_new},
    {Py_tp_dealloc, pool_dealloc},
    {Py_tp_methods, pool_methods},
    {Py_tp_getset, pool_getset},
    {Py_tp_doc, "The C pool of own-GIL interpreters under frost.Pool (internal)."},
    {0, NULL},
};

static PyType_Spec FrostPool_spec = {
    .name = "frost._frost._Pool",
    .basicsize = sizeof(FrostPool),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = pool_slots,
};

int
frost__pool_type_add(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &FrostPool_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int rc = PyModule_AddType(module, (PyTypeObject *)type);
    Py_DECREF(type);
    return rc;
}
