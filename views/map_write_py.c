/*
 * map_write_py.c -- the Python face of store/map_write.c:
 * _frost._map_write(obj, fd, /, *, progress=None, checksum=True) (the format-2
 * writer, used by Store.save and frost.share: checksum=False writes no body
 * checksum, FROST_MAP_FLAG_NO_BODY_CHECKSUM), frost__map_save (Store.save's format 2)
 * over frost__save_atomically (a temporary file beside the target, found intact
 * after the last progress call (frost_snapshot_file_intact), its writeback
 * started when it replaces a file, then rename; also MappedStore.save's), and
 * _frost._map_key_hash (the keyed hash, for tests); frost__map_write_arena
 * (the writer over a private arena: module.c's _map_write_fresh).
 *
 * The writer runs with the GIL held (it checks signals and may call the
 * progress callable); the Store's or view's Lease, held for the whole call,
 * keeps the sealed arena alive even if the Store is closed meanwhile.
 */
#include "views.h"
#include "frost_map.h"
#include "frost_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* progress=cb: cb(done, None) while writing, cb(done, done) at the end. */
static int
write_progress(void *ctx, uint64_t done, int finished)
{
    return frost__report_progress((PyObject *)ctx, done, finished, done);
}

/* Fill args->ref (and slice/sub-array) from a Store or an arena view; the
 * lease that keeps it alive in *lease (a new reference). */
static int
writer_root(frost_state *st, PyObject *obj, frost_map_write_args_t *args, FrostLease **lease)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == st->store_type) {
        FrostLease *l = ((FrostStore *)obj)->lease;
        if (l == NULL) {
            frost__closed_error(st, "_map_write()");
            return -1;
        }
        args->ref = frost_store_root(l->store);
        *lease = (FrostLease *)Py_NewRef(l);
        return 0;
    }
    if (!frost__is_node_view_type(st, tp)) {
        PyErr_Format(PyExc_TypeError, "_map_write() needs a frost.Store or a frost view, not %.200s",
                     tp->tp_name);
        return -1;
    }
    FrostLease *l = ((FrostView *)obj)->lease;
    if (tp == st->dict_type) {
        args->ref = frost_ref_from_node(((FrostDictView *)obj)->table);
    }
    else if (tp == st->set_type) {
        args->ref = frost_ref_from_node(((FrostSetView *)obj)->set);
    }
    else if (tp == st->list_type) {
        const FrostListView *v = (const FrostListView *)obj;
        args->ref = frost_ref_from_node(v->seq);
        if (v->start != 0 || v->step != 1 || v->len != v->seq->len) {
            args->has_slice = 1;
            args->start = v->start;
            args->step = v->step;
            args->len = v->len;
        }
    }
    else if (tp == st->array_type) {
        const FrostArrayView *v = (const FrostArrayView *)obj;
        args->ref = frost_ref_from_node(v->array);
        if (v->data != v->array->data || v->ndim != v->array->ndim) {
            args->sub_data = v->data;
            args->sub_ndim = v->ndim;
        }
    }
    else if (frost__is_record_view(st, tp)) {
        args->ref = frost_ref_from_node(((FrostRecordView *)obj)->record);
    }
    else {   /* a Table: the whole node (a row slice is no node of its own) */
        const void *node = frost__table_view_node(obj);
        if (node == NULL) {
            return -1;
        }
        args->ref = frost_ref_from_node(node);
    }
    *lease = (FrostLease *)Py_NewRef(l);
    return 0;
}

/* The writer's hints from the arena's counts: container nodes (the memo's
 * size) and bytes in use (the file window's). */
static void
writer_hints(const frost_arena_t *arena, frost_map_write_args_t *args)
{
    frost_arena_stats_t s;
    frost_arena_stats(arena, &s);
    uint64_t n = 0;
    for (int k = FROST_KIND_DICT; k < FROST_KIND_COUNT; k++) {
        n += s.objects[k];
    }
    args->memo_hint = n;
    args->size_hint = s.bytes_used;
}

/* Run the writer over `arena` (kept alive by the caller) with `args`' root
 * and options: the image's size, or -1 with an exception set. The progress
 * callable is held for the call (it may drop the caller's last reference). */
static int64_t
run_writer(frost_state *st, const frost_arena_t *arena, frost_map_write_args_t *args, int fd,
           PyObject *progress)
{
    args->freeze_error = st->freeze_error;
    writer_hints(arena, args);
    if (progress != NULL) {
        args->progress = write_progress;
        args->progress_ctx = progress;
    }
    Py_XINCREF(progress);
    uint64_t size = 0;
    int rc = frost_map_write(args, fd, &size);
    Py_XDECREF(progress);
    return rc < 0 ? -1 : (int64_t)size;
}

/* Write the image of `obj` to `fd`: the size, or -1 with an exception set. */
static int64_t
map_write(frost_state *st, PyObject *obj, int fd, PyObject *progress, int checksum)
{
    frost_map_write_args_t args = {0};
    args.no_body_checksum = !checksum;
    FrostLease *lease = NULL;
    if (writer_root(st, obj, &args, &lease) < 0) {
        return -1;
    }
    int64_t size = run_writer(st, frost_store_arena(lease->store), &args, fd, progress);
    Py_DECREF(lease);
    return size;
}

int64_t
frost__map_write_arena(frost_state *st, const frost_arena_t *arena, uintptr_t root, int fd,
                       PyObject *progress, int checksum)
{
    frost_map_write_args_t args = {0};
    args.no_body_checksum = !checksum;
    args.ref = root;
    return run_writer(st, arena, &args, fd, progress);
}

PyObject *
frost__map_write(PyObject *module, PyObject *args, PyObject *kwargs)
{
    frost_freeze_call_t call;
    if (frost__parse_freeze_call(args, kwargs, "_map_write", FROST_CALL_WRITER, &call) < 0) {
        return NULL;
    }
    int64_t size = map_write(PyModule_GetState(module), call.obj, call.fd, call.progress, call.checksum);
    return size < 0 ? NULL : PyLong_FromLongLong(size);
}

/* The writer's OSError (a full disk, RLIMIT_FSIZE, ...) knows only the fd:
 * give it the path the caller named, as format 1's errors have. Its MemoryError
 * (RLIMIT_AS: what it could not allocate, and how much) gets the path appended. */
static void
name_the_file(PyObject *path_arg)
{
    if (PyErr_ExceptionMatches(PyExc_MemoryError)) {
        PyObject *exc = PyErr_GetRaisedException();
        PyObject *msg = PyObject_Str(exc);
        if (msg != NULL) {
            PyErr_Format(PyExc_MemoryError, "%S, saving %R", msg, path_arg);
            Py_DECREF(msg);
            /* (formatting out of memory too: its own MemoryError, unnamed) */
            Py_SETREF(exc, PyErr_GetRaisedException());
        }
        PyErr_Clear();
        PyErr_SetRaisedException(exc);
        return;
    }
    if (!PyErr_ExceptionMatches(PyExc_OSError)) {
        return;
    }
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *code = PyObject_GetAttrString(exc, "errno");
    PyObject *filename = code != NULL ? PyObject_GetAttrString(exc, "filename") : NULL;
    /* only an errno error: OSError(message) with a filename would print as
     * "[Errno None] None: path", its message lost */
    if (code != NULL && code != Py_None && filename == Py_None
        && PyObject_SetAttrString(exc, "filename", path_arg) < 0) {
        PyErr_Clear();   /* the error without its path rather than another one */
    }
    if (code == NULL || filename == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(code);
    Py_XDECREF(filename);
    PyErr_SetRaisedException(exc);
}

int
frost__save_atomically(PyObject *path_arg, PyObject *progress, frost_image_writer_fn write,
                       void *ctx)
{
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(path_arg, &path)) {
        return -1;
    }
    char tmp[PATH_MAX];
    int rc = -1, fd = -1;
    Py_BEGIN_ALLOW_THREADS
    fd = frost_snapshot_create_temp(PyBytes_AS_STRING(path), tmp, sizeof tmp);
    Py_END_ALLOW_THREADS
    if (fd < 0) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path_arg);
        goto done;
    }
    int64_t size = write(ctx, fd, progress);   /* the file's size checked after progress */
    if (size < 0) {
        name_the_file(path_arg);
        goto unlink_tmp;
    }
    if (progress != NULL && !frost_snapshot_file_intact(fd, tmp, (uint64_t)size)) {
        PyErr_SetString(PyExc_OSError, "frost: the file was replaced by the progress callback "
                        "after the image was written into it");
        goto unlink_tmp;
    }
    int err = 0;
    struct stat old;
    Py_BEGIN_ALLOW_THREADS
    if (lstat(PyBytes_AS_STRING(path), &old) == 0) {
        /* replacing a file: start the new one's writeback before the rename, so
         * that a machine crash soon after more likely leaves the old data or the
         * new than a file of zeros -- what ext4's auto_da_alloc does for a file
         * written into delayed-allocation space, which the writer's fallocate
         * leaves none of (docs/design.md, "Big payloads"). A hint, no fsync
         * (docs/format.md): what it cannot do, the checksum catches at load */
        (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    }
    err = close(fd) < 0 ? errno : 0;
    fd = -1;
    if (err == 0 && rename(tmp, PyBytes_AS_STRING(path)) < 0) {
        err = errno;
    }
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path_arg);
        goto unlink_tmp;
    }
    rc = 0;
    goto done;
unlink_tmp:
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);   /* best effort */
done:
    Py_DECREF(path);
    return rc;
}

typedef struct {
    frost_state *st;
    PyObject *store;
} store_writer_t;

static int64_t
write_store(void *ctx, int fd, PyObject *progress)
{
    store_writer_t *w = ctx;
    return map_write(w->st, w->store, fd, progress, 1);
}

int
frost__map_save(PyObject *store, PyObject *path_arg, PyObject *progress)
{
    store_writer_t w = {frost__state_of_type(Py_TYPE(store)), store};
    if (w.st == NULL) {
        return -1;
    }
    return frost__save_atomically(path_arg, progress, write_store, &w);
}

PyObject *
frost__map_key_hash(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *key, *entry = Py_None;
    unsigned long long k0, k1;
    if (!PyArg_ParseTuple(args, "OKK|O:_map_key_hash", &key, &k0, &k1, &entry)) {
        return NULL;
    }
    const uint64_t hash_key[2] = {k0, k1};
    uint64_t h, i = 0;
    if (entry != Py_None && (i = PyLong_AsUnsignedLongLong(entry)) == (uint64_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    int rc = entry == Py_None ? frost_map_key_hash(hash_key, key, &h)
                              : frost_map_entry_key_hash(hash_key, key, i, &h);
    if (rc < 0) {
        return NULL;
    }
    return rc > 0 ? Py_NewRef(Py_None) : PyLong_FromUnsignedLongLong(h);   /* NOT_KEY, FOREIGN */
}
