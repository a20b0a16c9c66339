/*
 * module.c -- the extension module frost._frost: module state, freeze(),
 * the arguments of freeze, load and the format-2 writers (frost__parse_freeze_call),
 * thaw(), and the module's per-interpreter setup.
 *
 * Multi-phase init with Py_MOD_PER_INTERPRETER_GIL_SUPPORTED: every
 * interpreter that imports frost gets its own module object, its own heap
 * types and its own state; nothing here is process-global except what
 * store/ keeps (arenas and the store registry), which is thread-safe.
 */
#include "views.h"

static struct PyModuleDef frost_module;

frost_state *
frost__state_of_type(PyTypeObject *tp)
{
    PyObject *mod = PyType_GetModuleByDef(tp, &frost_module);
    return mod ? PyModule_GetState(mod) : NULL;
}

/* The one progress contract (views.h): cb(done, total), total None while unknown. */
int
frost__report_progress(PyObject *cb, uint64_t done, int has_total, uint64_t total)
{
    PyObject *d = PyLong_FromUnsignedLongLong(done);
    PyObject *t = has_total ? PyLong_FromUnsignedLongLong(total) : Py_NewRef(Py_None);
    PyObject *r = NULL;
    if (d != NULL && t != NULL) {
        r = PyObject_CallFunctionObjArgs(cb, d, t, NULL);
    }
    Py_XDECREF(d);
    Py_XDECREF(t);
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

/* freeze(progress=cb): cb(done, None) while walking, cb(done, done) at the end. */
static int
freeze_progress(void *ctx, size_t done, int finished)
{
    return frost__report_progress((PyObject *)ctx, done, finished, done);
}

/* A `progress` argument: None/absent -> NULL, a callable -> itself (borrowed). */
int
frost__parse_progress(PyObject *obj, const char *func, PyObject **out)
{
    *out = NULL;
    if (obj == NULL || obj == Py_None) {
        return 0;
    }
    if (!PyCallable_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s() progress must be a callable(done, total) or None, "
                     "not %.200s", func, Py_TYPE(obj)->tp_name);
        return -1;
    }
    *out = obj;
    return 0;
}

/* An int as an error message names it: its repr up to 128 bits, else its
 * size ("an int of 1329 bits", "a negative int of ..."): a repr runs to
 * thousands of digits, or raises past sys.get_int_max_str_digits(). A new
 * str, or NULL with an exception set. */
PyObject *
frost__int_repr(PyObject *index)
{
    int overflow;   /* its sign, past long long; inside it, the value's */
    long long value = PyLong_AsLongLongAndOverflow(index, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow == 0) {
        return PyObject_Repr(index);
    }
    PyObject *bits = PyObject_CallMethod(index, "bit_length", NULL);
    if (bits == NULL) {
        return NULL;
    }
    PyObject *repr = NULL;
    if (PyLong_AsLong(bits) <= 128 && !PyErr_Occurred()) {
        repr = PyObject_Repr(index);
    }
    else if (!PyErr_Occurred()) {
        repr = PyUnicode_FromFormat("%s int of %S bits", overflow < 0 ? "a negative" : "an", bits);
    }
    Py_DECREF(bits);
    return repr;
}

/* An integer argument `what` (its message name, e.g. "Channel maxsize"): an
 * int or any object with __index__ (a numpy integer, an IntEnum), as
 * operator.index takes it, but not a bool (a flag, not a count): 0 with *out
 * set, else -1 with TypeError (not an int: a float, a str, None) or
 * ValueError (past Py_ssize_t: the message names that range, and the int by
 * frost__int_repr). Range checks are the caller's. */
int
frost__parse_index(PyObject *obj, const char *what, Py_ssize_t *out)
{
    if (PyBool_Check(obj) || !PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.200s", what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyObject *index = PyNumber_Index(obj);
    if (index == NULL) {
        return -1;
    }
    *out = PyLong_AsSsize_t(index);
    if (*out == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            int sign;   /* past Py_ssize_t is past long long, or inside it (32 bits) */
            long long value = PyLong_AsLongLongAndOverflow(index, &sign);
            int negative = sign < 0 || (sign == 0 && value < 0);
            PyObject *repr = frost__int_repr(index);
            if (repr != NULL) {
                PyErr_Format(PyExc_ValueError, "%s out of range: %U, %s (%zd)", what, repr,
                             negative ? "less than -sys.maxsize - 1" : "more than sys.maxsize",
                             negative ? PY_SSIZE_T_MIN : PY_SSIZE_T_MAX);
                Py_DECREF(repr);
            }
        }
        Py_DECREF(index);
        return -1;
    }
    Py_DECREF(index);
    return 0;
}

/* A writer's fd argument: an int (not a bool), as a descriptor; -1 with an
 * exception naming func. */
static int
parse_write_fd(PyObject *fd_obj, const char *func)
{
    if (!PyLong_Check(fd_obj) || PyBool_Check(fd_obj)) {
        PyErr_Format(PyExc_TypeError, "%s() fd must be an int, not %.200s", func, Py_TYPE(fd_obj)->tp_name);
        return -1;
    }
    return PyObject_AsFileDescriptor(fd_obj);
}

int
frost__parse_freeze_call(PyObject *args, PyObject *kwargs, const char *func, frost_call_kind_t kind,
                         frost_freeze_call_t *out)
{
    static char *freeze_kwlist[] = {"obj", "lifetime", "progress", NULL};
    static char *load_kwlist[] = {"path", "lifetime", "progress", NULL};
    static char *writer_kwlist[] = {"", "", "progress", "checksum", NULL};
    int writer = kind == FROST_CALL_WRITER;
    PyObject *fd_obj = NULL, *lifetime_obj = NULL, *progress_obj = NULL;
    char format[64];   /* PyArg's messages name func: "<format>:func" */
    *out = (frost_freeze_call_t){
        .lifetime = kind == FROST_CALL_LOAD ? FROST_LIFETIME_PROCESS : FROST_LIFETIME_SCOPED,
        .fd = -1, .checksum = 1};
    (void)snprintf(format, sizeof format, "%s:%s", writer ? "OO|$Op" : "O|$OO", func);
    int ok = writer ? PyArg_ParseTupleAndKeywords(args, kwargs, format, writer_kwlist, &out->obj, &fd_obj,
                                                  &progress_obj, &out->checksum)
                    : PyArg_ParseTupleAndKeywords(args, kwargs, format,
                                                  kind == FROST_CALL_LOAD ? load_kwlist : freeze_kwlist,
                                                  &out->obj, &lifetime_obj, &progress_obj);
    if (!ok || frost__parse_lifetime(lifetime_obj, func, &out->lifetime) < 0
        || frost__parse_progress(progress_obj, func, &out->progress) < 0) {
        return -1;
    }
    if (writer && (out->fd = parse_write_fd(fd_obj, func)) < 0) {
        return -1;
    }
    return 0;
}

/* Freeze `obj` into a new sealed arena (its root in *root), reporting to
 * `progress` (borrowed, or NULL); `unindexed`: see frost_freeze_env_t. NULL
 * with an exception set on failure. */
static frost_arena_t *
freeze_arena(frost_state *st, PyObject *obj, PyObject *progress, int unindexed, uintptr_t *root)
{
    frost_freeze_env_t env = st->freeze_env;
    env.unindexed = unindexed;
    if (progress != NULL) {
        env.progress = freeze_progress;
        env.progress_ctx = progress;   /* borrowed: the call's argument outlives the freeze */
    }
    frost_arena_t *arena = NULL;
    int rc = frost_arena_new(&arena, NULL, 0);
    if (rc < 0) {
        PyErr_NoMemory();
        return NULL;
    }
    if (frost_freeze(obj, arena, &env, root) < 0) {
        frost_arena_free(arena);
        return NULL;
    }
    rc = frost_arena_seal(arena);
    if (rc < 0) {
        frost_arena_free(arena);
        PyErr_Format(PyExc_OSError, "cannot seal the arena: %s", frost_strerror(rc));
        return NULL;
    }
    return arena;
}

static PyObject *
freeze_py(PyObject *module, PyObject *args, PyObject *kwargs)
{
    frost_freeze_call_t call;
    if (frost__parse_freeze_call(args, kwargs, "freeze", FROST_CALL_FREEZE, &call) < 0) {
        return NULL;
    }
    frost_state *st = PyModule_GetState(module);
    uintptr_t root = 0;
    frost_arena_t *arena = freeze_arena(st, call.obj, call.progress, 0, &root);
    if (arena == NULL) {
        return NULL;
    }
    frost_store_t *store = NULL;
    int rc = frost_store_new(&store, arena, root, call.lifetime);   /* takes the arena */
    if (rc < 0) {
        return PyErr_NoMemory();
    }
    return frost__store_handle(st, store);
}

/* _frost._map_write_fresh(obj, fd, /, *, progress=None, checksum=True): freeze
 * plain data into a private, unindexed arena, write its format-2 image to fd
 * (as _map_write), free the arena; the image's size. frost.share's path: the
 * arena is never seen by Python, so its dicts need no index. */
static PyObject *
map_write_fresh_py(PyObject *module, PyObject *args, PyObject *kwargs)
{
    frost_freeze_call_t call;
    if (frost__parse_freeze_call(args, kwargs, "_map_write_fresh", FROST_CALL_WRITER, &call) < 0) {
        return NULL;
    }
    frost_state *st = PyModule_GetState(module);
    uintptr_t root = 0;
    frost_arena_t *arena = freeze_arena(st, call.obj, call.progress, 1, &root);
    if (arena == NULL) {
        return NULL;
    }
    int64_t size = frost__map_write_arena(st, arena, root, call.fd, call.progress, call.checksum);
    frost_arena_free(arena);
    return size < 0 ? NULL : PyLong_FromLongLong(size);
}

/* frost._frost._LockGuard(locks): the `with` that concurrent.futures.wait() and
 * as_completed() take their futures' locks with, for frost's futures
 * (frost/_condition.py replaces _AcquireFutures by it). __enter__ calls acquire() on
 * each lock of the tuple in order, __exit__ release(), each in one C call: no signal
 * handler runs between two of them. A blocking acquire() that a raising handler
 * interrupts returns NULL without its lock, and the ones taken are released before the
 * error propagates: all or none are held. If the guard is freed while holding them,
 * its dealloc releases them: CPython 3.13.0 leaves a filtered comprehension's backward
 * jump out of the exception table, so an interrupt landing there (wait()'s first
 * statement in the with block) skips __exit__ -- and the frame's unwinding frees the
 * bound __exit__ it kept, the guard's last reference, in the thread that holds them. */
typedef struct {
    PyObject_HEAD
    PyObject *locks;   /* tuple of objects with acquire()/release(), owned */
    int held;          /* 1 from a successful __enter__ until __exit__ or dealloc */
} lockguard_object;

/* release() each of locks[0:n], in reverse; the first error is raised once all were tried. */
static int
release_locks(PyObject *locks, Py_ssize_t n)
{
    PyObject *first = NULL;
    while (n-- > 0) {
        PyObject *r = PyObject_CallMethod(PyTuple_GET_ITEM(locks, n), "release", NULL);
        if (r == NULL) {
            PyObject *exc = PyErr_GetRaisedException();
            if (first == NULL) {
                first = exc;
            }
            else {
                Py_DECREF(exc);
            }
        }
        Py_XDECREF(r);
    }
    if (first != NULL) {
        PyErr_SetRaisedException(first);
        return -1;
    }
    return 0;
}

static PyObject *
lockguard_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *locks;
    if ((kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)
        || !PyArg_ParseTuple(args, "O!:_LockGuard", &PyTuple_Type, &locks)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "_LockGuard() takes no keyword arguments");
        }
        return NULL;
    }
    lockguard_object *self = (lockguard_object *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->locks = Py_NewRef(locks);
    self->held = 0;
    return (PyObject *)self;
}

static PyObject *
lockguard_enter(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    lockguard_object *self = (lockguard_object *)op;
    if (self->held) {
        PyErr_SetString(PyExc_RuntimeError, "_LockGuard entered twice");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(self->locks);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = PyObject_CallMethod(PyTuple_GET_ITEM(self->locks, i), "acquire", NULL);
        if (r == NULL) {
            PyObject *exc = PyErr_GetRaisedException();
            if (release_locks(self->locks, i) < 0) {
                PyErr_WriteUnraisable(op);
            }
            PyErr_SetRaisedException(exc);
            return NULL;
        }
        Py_DECREF(r);
    }
    self->held = 1;
    Py_RETURN_NONE;
}

/* __exit__(*exc_info): releases what __enter__ took; never suppresses an exception. */
static PyObject *
lockguard_exit(PyObject *op, PyObject *Py_UNUSED(args))
{
    lockguard_object *self = (lockguard_object *)op;
    if (!self->held) {
        Py_RETURN_NONE;
    }
    self->held = 0;
    if (release_locks(self->locks, PyTuple_GET_SIZE(self->locks)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static void
lockguard_dealloc(PyObject *op)
{
    lockguard_object *self = (lockguard_object *)op;
    PyTypeObject *tp = Py_TYPE(op);
    if (self->held) {   /* __exit__ skipped (above): an exception may be propagating */
        self->held = 0;
        PyObject *exc = PyErr_GetRaisedException();
        if (release_locks(self->locks, PyTuple_GET_SIZE(self->locks)) < 0) {
            PyErr_WriteUnraisable(op);
        }
        PyErr_SetRaisedException(exc);
    }
    Py_XDECREF(self->locks);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef lockguard_methods[] = {
    {"__enter__", lockguard_enter, METH_NOARGS, "acquire() every lock, in order: all or none."},
    {"__exit__", lockguard_exit, METH_VARARGS, "release() every lock __enter__ took."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot lockguard_slots[] = {
    {Py_tp_new, lockguard_new},
    {Py_tp_dealloc, lockguard_dealloc},
    {Py_tp_methods, lockguard_methods},
    {Py_tp_doc, "_LockGuard(locks, /)\n--\n\nA `with` taking every lock of a tuple in one C call\n"
                "and releasing them in another (internal; see frost/_condition.py)."},
    {0, NULL},
};

static PyType_Spec lockguard_spec = {
    .name = "frost._frost._LockGuard",
    .basicsize = sizeof(lockguard_object),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = lockguard_slots,
};

static PyObject *
live_arenas(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(frost_arena_live_count());
}

static PyObject *
live_stores(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(frost_store_live_count());
}

static PyObject *
live_channels(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(frost__channel_live_count());
}

/* _int_repr(n): frost__int_repr for the Python side's refusals (_sendable.py),
 * so one rule names an int in every message. */
static PyObject *
int_repr(PyObject *Py_UNUSED(module), PyObject *n)
{
    if (!PyLong_Check(n)) {
        PyErr_Format(PyExc_TypeError, "_int_repr() takes an int, not %.200s", Py_TYPE(n)->tp_name);
        return NULL;
    }
    return frost__int_repr(n);
}

static PyObject *
shareable_types(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    frost_state *st = PyModule_GetState(module);
    PyTypeObject *const types[] = {st->store_type, FROST_NODE_VIEW_TYPES(st)};
    PyObject *t = PyTuple_New((Py_ssize_t)(sizeof types / sizeof types[0]));
    for (Py_ssize_t i = 0; t != NULL && i < PyTuple_GET_SIZE(t); i++) {
        PyTuple_SET_ITEM(t, i, Py_NewRef((PyObject *)types[i]));
    }
    return t;
}

int
frost__is_node_view_type(frost_state *st, PyTypeObject *tp)
{
    PyTypeObject *const types[] = {FROST_NODE_VIEW_TYPES(st)};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (tp == types[i]) {
            return 1;
        }
    }
    return frost__is_record_view(st, tp);   /* a record's shape type */
}

static PyMethodDef frost_methods[] = {
    {"freeze", (PyCFunction)(void (*)(void))freeze_py, METH_VARARGS | METH_KEYWORDS,
     "freeze(obj, *, lifetime='scoped', progress=None)\n--\n\n"
     "Deep-copy obj into a sealed, read-only arena and return a frost.Store.\n\n"
     "lifetime='scoped' frees the arena when the Store and all its views are gone;\n"
     "'process' keeps it until the process exits, and reads return the arena's own\n"
     "immortal objects. Raises frost.FreezeError (a TypeError) naming the path of an\n"
     "object that cannot be frozen.\n\n"
     "A numpy scalar (numpy.int64, numpy.float32, numpy.bool_, numpy.str_, ...) is frozen\n"
     "as its Python value, x.item(): reads and thaw give int, float, complex, bool, str\n"
     "or bytes, as they do for the items of a frozen array. longdouble, datetime64,\n"
     "timedelta64 and void scalars are refused; numpy.asarray(x) freezes any dtype\n"
     "that exports a buffer as a 0-d frost.Array.\n\n"
     "progress: a callable(done, total), called with (objects visited, None) every\n"
     "65,536 objects and with (done, done) once the walk is complete; an exception\n"
     "it raises stops the freeze and propagates (nothing is kept)."},
    {"thaw", (PyCFunction)(void (*)(void))frost__thaw, METH_VARARGS | METH_KEYWORDS,
     "thaw(x, *, classes=None)\n--\n\nA plain, mutable, local deep copy of a frost view or value.\n\n"
     "Records come back as instances of their class: of the classes listed in `classes`\n"
     "only, if given; else, for a record frozen in this process, of the class its module\n"
     "and qualname import; a record read from a snapshot file is never resolved by name.\n"
     "Records not rebuilt come back as types.SimpleNamespace of their fields.\n"
     "A dict view (d.keys(), d.values(), d.items()) thaws to a list of its thawed entries;\n"
     "an iterator is refused (TypeError): thawing would use it up."},
    {"_rebuild", frost__rebuild, METH_VARARGS,
     "_rebuild(store_id, node, token[, slice])\n--\n\nUnpickle a store or view (internal)."},
    {"_channel_attach", frost__channel_attach, METH_VARARGS,
     "_channel_attach(id, token, /)\n--\n\nUnpickle a Channel (internal)."},
    {"_export", frost__export, METH_O,
     "_export(obj, /)\n--\n\nA ticket: a sent reference to a Store, view or Channel holding one\n"
     "count until _discard(ticket) (internal; see views/xref.c)."},
    {"_import", frost__import, METH_O,
     "_import(ticket, /)\n--\n\nThis interpreter's object for a ticket still in flight."},
    {"_discard", frost__discard, METH_O,
     "_discard(ticket, /)\n--\n\nRelease a ticket; False if it was already released."},
    {"_export_fd", frost__export_fd, METH_O,
     "_export_fd(fd, /)\n--\n\nA ticket owning a dup of fd until _discard(ticket) (a mapped\n"
     "image's memfd in a message; internal; see views/xref.c)."},
    {"_import_fd", frost__import_fd, METH_O,
     "_import_fd(ticket, /)\n--\n\nA new fd (the caller's) of an fd ticket still in flight."},
    {"_capturing", frost__capturing_caller, METH_NOARGS,
     "_capturing()\n--\n\nWhether the calling reducer runs for the pickler of a transport\n"
     "dumps on this thread (frost._mapped's handles; see views/xref.c)."},
    {"_capture_fd", frost__capture_fd, METH_O,
     "_capture_fd(fd, /)\n--\n\n(index, ticket id) of a new fd ticket (a dup of fd) of the\n"
     "message the calling reducer pickles for (internal)."},
    {"_ticket_fd", (PyCFunction)(void (*)(void))frost__ticket_fd, METH_FASTCALL,
     "_ticket_fd(index, ticket, /)\n--\n\nA new fd of an fd ticket of the message being loaded "
     "(internal)."},
    {"_own_fd", (PyCFunction)(void (*)(void))frost__own_fd, METH_FASTCALL,
     "_own_fd(owner, make, *args)\n--\n\nowner.fd = make(*args) with no Python code in between "
     "(frost._fd.Fd; internal)."},
    {"_message", frost__message_pack, METH_VARARGS,
     "_message(tickets, body, /)\n--\n\nA message: body, then its tickets (internal)."},
    {"_message_tickets", frost__message_tickets, METH_O,
     "_message_tickets(data, /)\n--\n\nThe tickets of a message, a tuple (internal)."},
    {"_discard_message", frost__discard_message, METH_O,
     "_discard_message(data, /)\n--\n\nEnd the life of a message that will not be loaded: release\n"
     "its tickets (idempotent)."},
    {"_dumps", frost__dumps, METH_O,
     "_dumps(obj, /)\n--\n\nA message carrying obj: its pickle, frost stores, views and channels\n"
     "by reference (tickets). Raises TypeError naming what cannot be sent (and holds\n"
     "nothing then). See frost._transport."},
    {"_loads", (PyCFunction)(void (*)(void))frost__loads, METH_FASTCALL | METH_KEYWORDS,
     "_loads(data, /, *, consume=True)\n--\n\nThe object a message carries, in this interpreter. Ends\n"
     "the message's life (releases its tickets, also when loading fails half way) unless\n"
     "consume=False: then the caller must _discard_message() it later."},
    {"_ticket_ref", (PyCFunction)(void (*)(void))frost__ticket_ref, METH_FASTCALL,
     "_ticket_ref(index, ticket, /)\n--\n\nUnpickle a reference of the message being loaded "
     "(internal)."},
    {"_int_repr", int_repr, METH_O,
     "_int_repr(n, /)\n--\n\nrepr(n) up to 128 bits, else 'an int of N bits' (internal: "
     "how frost's refusals name an int)."},
    {"_shareable_types", shareable_types, METH_NOARGS,
     "The types that cross interpreters by reference (internal)."},
    {"load", (PyCFunction)(void (*)(void))frost__load_snapshot, METH_VARARGS | METH_KEYWORDS,
     "load(path, *, lifetime='process', progress=None)\n--\n\n"
     "Map a snapshot written by Store.save() and return a frost.Store reading it.\n\n"
     "Raises frost.SnapshotError for a file that is not a valid snapshot for this\n"
     "process (corrupt, truncated, another format/Python version), OSError if it\n"
     "cannot be read. See docs/format.md. progress: a callable(done, total) called\n"
     "as the file is checked (bytes of its image, two passes) and at the end\n"
     "(done == total); an exception it raises stops the load and propagates."},
    {"publish", frost__publish, METH_VARARGS,
     "publish(name, store, /)\n--\n\n"
     "Publish store (a frost.Store or frost.MappedStore) under name for every\n"
     "interpreter of the process; return the name's new version (1, 2, ...).\n"
     "Publishing again replaces the store for new readers only: holders of the\n"
     "old one keep reading it until they let go."},
    {"published", frost__published, METH_O,
     "published(name, /)\n--\n\n"
     "A new handle (frost.Store, or frost.MappedStore mapped in this interpreter)\n"
     "on the store currently published as name (KeyError if none)."},
    {"_publish_image", frost__publish_image, METH_VARARGS,
     "_publish_image(name, fd, meta, /)\n--\n\n"
     "Publish a mapped image: the table keeps a dup of fd and meta (frost._publication)."},
    {"unpublish", frost__unpublish, METH_O,
     "unpublish(name, /)\n--\n\n"
     "Withdraw name (KeyError if not published); current readers are unaffected."},
    {"_snapshot_xxh64", frost__snapshot_xxh64, METH_O,
     "_snapshot_xxh64(data, /)\n--\n\nThe snapshot checksum (XXH64, seed 0) of a buffer (for tests)."},
    {"_xxh3", (PyCFunction)(void (*)(void))frost__xxh3, METH_VARARGS,
     "_xxh3(data, chunk=0, /)\n--\n\nXXH3-64 (seed 0) of a buffer, format 2's body checksum (for tests);\n"
     "chunk > 0: through the streaming state, chunk bytes per update."},
    {"_map_write_fresh", (PyCFunction)(void (*)(void))map_write_fresh_py, METH_VARARGS | METH_KEYWORDS,
     "_map_write_fresh(obj, fd, /, *, progress=None, checksum=True)\n--\n\n"
     "Freeze obj into a private arena, write its format-2 image to fd, free the arena; the size."},
    {"_map_write", (PyCFunction)(void (*)(void))frost__map_write, METH_VARARGS | METH_KEYWORDS,
     "_map_write(obj, fd, /, *, progress=None, checksum=True)\n--\n\n"
     "Write the format-2 image of obj (a frost.Store: its root; or a frost view: its\n"
     "subgraph) at offset 0 of file descriptor fd; return the image size.\n"
     "progress: a callable(done, total), called with (items written, None) every\n"
     "65,536 items and (total, total) at the end. frost.FreezeError for a row slice\n"
     "of a frost.Table as obj; OSError if fd cannot be written."},
    {"_table_is_whole", frost__table_is_whole, METH_O,
     "_table_is_whole(view, /)\n--\n\nWhether a frost.Table or frost.MappedTable shows all its "
     "node's rows (a row slice is no node: frost.share freezes it instead of writing the node)."},
    {"_table_blob", frost__table_blob, METH_O,
     "_table_blob(view, /)\n--\n\nThe column blob under a frost.Table or frost.MappedTable, "
     "as bytes (for tests)."},
    {"_map_key_hash", frost__map_key_hash, METH_VARARGS,
     "_map_key_hash(key, k0, k1, entry=None, /)\n--\n\n"
     "The format-2 keyed hash of key under the key (k0, k1) (as table entry `entry`\n"
     "stores it, if given: a NaN in it hashes by the entry), or None if key is not\n"
     "a kind a format-2 table can hold, or holds a NaN and no entry is given (for tests)."},
    {"_live_arenas", live_arenas, METH_NOARGS, "Arenas not yet freed in this process (for tests)."},
    {"_live_stores", live_stores, METH_NOARGS, "Stores not yet freed in this process (for tests)."},
    {"_live_channels", live_channels, METH_NOARGS,
     "Channels not yet freed in this process (for tests)."},
    {"_live_xrefs", frost__live_xrefs, METH_NOARGS,
     "Sent references (tickets) not yet released (for tests)."},
    {"_collect_steps", frost__collect_steps, METH_NOARGS,
     "Channels and tickets the collections of channels held only by queued\n"
     "tickets have looked at in this process (for tests)."},
    {NULL, NULL, 0, NULL},
};

/* Make a heap type from `spec`, keep it in *slot and add it to the module. */
static int
add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **slot, int public)
{
    *slot = (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, NULL);
    if (*slot == NULL) {
        return -1;
    }
    if (public) {
        const char *dot = strrchr(spec->name, '.');
        return PyModule_AddObjectRef(module, dot ? dot + 1 : spec->name, (PyObject *)*slot);
    }
    return 0;
}

/* abc.register(tp) for collections.abc.<abc_name>; keeps the ABC if `keep`. */
static int
register_abc(PyObject *abc_module, const char *abc_name, PyTypeObject *tp, PyObject **keep)
{
    PyObject *abc = PyObject_GetAttrString(abc_module, abc_name);
    if (abc == NULL) {
        return -1;
    }
    if (tp != NULL) {
        PyObject *r = PyObject_CallMethod(abc, "register", "O", (PyObject *)tp);
        if (r == NULL) {
            Py_DECREF(abc);
            return -1;
        }
        Py_DECREF(r);
    }
    if (keep != NULL) {
        *keep = abc;
    }
    else {
        Py_DECREF(abc);
    }
    return 0;
}

static int
frost_exec(PyObject *module)
{
    frost_state *st = PyModule_GetState(module);
    if (add_type(module, &FrostLease_spec, &st->lease_type, 0) < 0
        || add_type(module, &FrostStore_spec, &st->store_type, 1) < 0
        || add_type(module, &FrostDict_spec, &st->dict_type, 1) < 0
        || add_type(module, &FrostList_spec, &st->list_type, 1) < 0
        || add_type(module, &FrostSet_spec, &st->set_type, 1) < 0
        || add_type(module, &FrostArray_spec, &st->array_type, 1) < 0
        || add_type(module, &FrostRecord_spec, &st->record_type, 1) < 0
        || add_type(module, &FrostTable_spec, &st->table_type, 1) < 0
        || add_type(module, &FrostColumn_spec, &st->column_type, 1) < 0
        || add_type(module, &FrostIter_spec, &st->iter_type, 0) < 0
        || add_type(module, &FrostRefsIter_spec, &st->refs_iter_type, 0) < 0
        || add_type(module, &FrostDictKeys_spec, &st->keys_type, 0) < 0
        || add_type(module, &FrostDictValues_spec, &st->values_type, 0) < 0
        || add_type(module, &FrostDictItems_spec, &st->items_type, 0) < 0
        || add_type(module, &FrostChannel_spec, &st->channel_type, 1) < 0
        || frost__pool_type_add(module) < 0) {
        return -1;
    }
    st->freeze_error = PyErr_NewExceptionWithDoc(
        "frost.FreezeError", "An object cannot be frozen; the message names its type and path.",
        PyExc_TypeError, NULL);
    st->closed_error = PyErr_NewExceptionWithDoc(
        "frost.StoreClosedError", "The frost.Store was closed, or no longer exists.",
        PyExc_ValueError, NULL);
    st->channel_closed_error = PyErr_NewExceptionWithDoc(
        "frost.ChannelClosedError", "The frost.Channel is closed (and, for recv, empty).",
        PyExc_ValueError, NULL);
    st->leases = PyDict_New();
    if (st->freeze_error == NULL || st->closed_error == NULL || st->leases == NULL
        || st->channel_closed_error == NULL
        || PyModule_AddObjectRef(module, "ChannelClosedError", st->channel_closed_error) < 0
        || PyModule_AddObjectRef(module, "FreezeError", st->freeze_error) < 0
        || PyModule_AddObjectRef(module, "StoreClosedError", st->closed_error) < 0) {
        return -1;
    }
    PyObject *abc = PyImport_ImportModule("collections.abc");
    if (abc == NULL) {
        return -1;
    }
    int rc = (register_abc(abc, "Mapping", st->dict_type, &st->mapping_abc) < 0
              || register_abc(abc, "Sequence", st->list_type, NULL) < 0
              || register_abc(abc, "Set", st->set_type, NULL) < 0
              || register_abc(abc, "KeysView", st->keys_type, NULL) < 0
              || register_abc(abc, "ValuesView", st->values_type, NULL) < 0
              || register_abc(abc, "ItemsView", st->items_type, NULL) < 0) ? -1 : 0;
    Py_DECREF(abc);
    if (rc < 0) {
        return -1;
    }
    PyTypeObject *const shareable[] = {st->store_type, FROST_NODE_VIEW_TYPES(st)};
    if (frost__xidata_register(shareable, (int)(sizeof shareable / sizeof shareable[0])) < 0) {
        return -1;
    }
    if (frost__mapped_types_add(module, st) < 0) {   /* before freeze_env, which names them */
        return -1;
    }
    st->freeze_env = (frost_freeze_env_t){
        .freeze_error = st->freeze_error,
        .mapping_abc = st->mapping_abc,
        .dataclass_fields = NULL,
        .list_view_type = st->list_type,
        .set_view_type = st->set_type,
        .record_view_type = st->record_type,
        .mapped_list_type = st->mapped_list_type,
        .mapped_set_type = st->mapped_set_type,
        .mapped_record_type = st->mapped_record_type,
        .record_parts = frost__record_parts,
        .view_node = frost__view_node,
        .view_ctx = st,
        .check = frost__wait_tick,   /* Ctrl-C, and a frost.Pool stopping the task */
    };
    if (frost__snapshot_exec(module, st) < 0 || frost__fd_methods_add(module) < 0) {
        return -1;
    }
    PyTypeObject *lockguard_type;   /* the module's dict holds it */
    if (add_type(module, &lockguard_spec, &lockguard_type, 1) < 0) {
        Py_XDECREF(lockguard_type);
        return -1;
    }
    Py_DECREF(lockguard_type);
    return PyModule_AddStringConstant(module, "allocator", frost_backend_default()->name);
}

static int
frost_traverse(PyObject *module, visitproc visit, void *arg)
{
    frost_state *st = PyModule_GetState(module);
    if (st == NULL) {
        return 0;
    }
    Py_VISIT(st->store_type);
    Py_VISIT(st->lease_type);
    Py_VISIT(st->dict_type);
    Py_VISIT(st->list_type);
    Py_VISIT(st->set_type);
    Py_VISIT(st->array_type);
    Py_VISIT(st->record_type);
    Py_VISIT(st->record_shapes);
    Py_VISIT(st->table_type);
    Py_VISIT(st->column_type);
    Py_VISIT(st->iter_type);
    Py_VISIT(st->refs_iter_type);
    Py_VISIT(st->channel_type);
    Py_VISIT(st->channel_closed_error);
    Py_VISIT(st->freeze_error);
    Py_VISIT(st->closed_error);
    Py_VISIT(st->mapping_abc);
    Py_VISIT(st->keys_type);
    Py_VISIT(st->values_type);
    Py_VISIT(st->items_type);
    Py_VISIT(st->leases);
    Py_VISIT(st->snapshot_error);
    Py_VISIT(st->map_image_type);
    Py_VISIT(st->mapped_dict_type);
    Py_VISIT(st->mapped_list_type);
    Py_VISIT(st->mapped_set_type);
    Py_VISIT(st->mapped_record_type);
    Py_VISIT(st->mapped_array_type);
    Py_VISIT(st->mapped_table_type);
    Py_VISIT(st->mapped_column_type);
    Py_VISIT(st->mapped_iter_type);
    Py_VISIT(st->pickle_dumps);
    Py_VISIT(st->pickle_loads);
    Py_VISIT(st->pickling_error);
    Py_VISIT(st->pickle_protocol);
    return 0;
}

static int
frost_clear(PyObject *module)
{
    frost_state *st = PyModule_GetState(module);
    if (st == NULL) {
        return 0;
    }
    Py_CLEAR(st->store_type);
    Py_CLEAR(st->lease_type);
    Py_CLEAR(st->dict_type);
    Py_CLEAR(st->list_type);
    Py_CLEAR(st->set_type);
    Py_CLEAR(st->array_type);
    Py_CLEAR(st->record_type);
    Py_CLEAR(st->record_shapes);
    Py_CLEAR(st->table_type);
    Py_CLEAR(st->column_type);
    Py_CLEAR(st->iter_type);
    Py_CLEAR(st->refs_iter_type);
    Py_CLEAR(st->channel_type);
    Py_CLEAR(st->channel_closed_error);
    Py_CLEAR(st->freeze_error);
    Py_CLEAR(st->closed_error);
    Py_CLEAR(st->mapping_abc);
    Py_CLEAR(st->keys_type);
    Py_CLEAR(st->values_type);
    Py_CLEAR(st->items_type);
    Py_CLEAR(st->leases);
    Py_CLEAR(st->snapshot_error);
    Py_CLEAR(st->map_image_type);
    Py_CLEAR(st->mapped_dict_type);
    Py_CLEAR(st->mapped_list_type);
    Py_CLEAR(st->mapped_set_type);
    Py_CLEAR(st->mapped_record_type);
    Py_CLEAR(st->mapped_array_type);
    Py_CLEAR(st->mapped_table_type);
    Py_CLEAR(st->mapped_column_type);
    Py_CLEAR(st->mapped_iter_type);
    Py_CLEAR(st->pickle_dumps);
    Py_CLEAR(st->pickle_loads);
    Py_CLEAR(st->pickling_error);
    Py_CLEAR(st->pickle_protocol);
    return 0;
}

static void
frost_free(void *module)
{
    frost_clear((PyObject *)module);
}

static PyModuleDef_Slot frost_slots[] = {
    {Py_mod_exec, frost_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef frost_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "frost._frost",
    .m_doc = "frost: freeze Python object graphs into sealed, read-only memory that every\n"
             "interpreter of the process reads in place.",
    .m_size = sizeof(frost_state),
    .m_methods = frost_methods,
    .m_slots = frost_slots,
    .m_traverse = frost_traverse,
    .m_clear = frost_clear,
    .m_free = frost_free,
};

PyMODINIT_FUNC
PyInit__frost(void)
{
    return PyModuleDef_Init(&frost_module);
}
