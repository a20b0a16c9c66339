/*
 * dlpack.c -- __dlpack__ / __dlpack_device__ for frost.Array and packed
 * FrozenLists (Python array API standard; ABI in frost_dlpack.h).
 *
 * What a capsule holds: one malloc'd block (the managed tensor, then shape and
 * strides, then the data for a copy) and, for an export in place, one
 * reference on what keeps the memory (manager_ctx: a frost_keep_t, an arena
 * store or a format-2 image's pin). The deleter drops both. It
 * touches no Python object, so a consumer may call it from any thread, with
 * or without an attached thread state, in any interpreter, after the view,
 * its Lease and frost.Store.close() are long gone: the arena lives until the
 * last deleter has run. A capsule never consumed runs the deleter from its
 * destructor.
 *
 * Read-only: arena pages are sealed PROT_READ. A versioned capsule (DLPack
 * >= 1.0, asked for with max_version=(1, x)) shares the memory and sets
 * DLPACK_FLAG_BITMASK_READ_ONLY, so numpy/torch make read-only tensors. A
 * legacy capsule has no flags: a consumer would take the memory as writable
 * and a write would fault, so legacy consumers get a private copy (and
 * copy=False with a legacy capsule raises BufferError). copy=True always
 * gives a private, writable copy (flag IS_COPIED).
 *
 * Dtypes come from the struct-module format of the buffer: signed/unsigned
 * ints of 1/2/4/8 bytes, float16/32/64, complex64/128 ('Zf'/'Zd'), bool ('?'),
 * in native ('@', '=', '<') byte order. Anything else (big-endian, long
 * double, 'c', 'x', structured 'T{...}', pointers, object 'O') -> BufferError
 * naming the format.
 */
#include "views.h"
#include "frost_dlpack.h"

#include <stdlib.h>
#include <string.h>

#define CAPSULE_VERSIONED "dltensor_versioned"
#define CAPSULE_LEGACY "dltensor"

/* What is exported: `ndim` dimensions of `itemsize`-byte items at `data`. */
typedef struct {
    const char *data;
    int ndim;
    const Py_ssize_t *shape;
    const Py_ssize_t *byte_strides;
    const char *format;
    Py_ssize_t itemsize;
} dl_source_t;

static int
dl_dtype(const char *format, Py_ssize_t itemsize, frost_DLDataType *out)
{
    static const struct {
        const char *fmt;
        uint8_t code;
    } codes[] = {
        {"b", FROST_kDLInt},   {"h", FROST_kDLInt},      {"i", FROST_kDLInt},
        {"l", FROST_kDLInt},   {"q", FROST_kDLInt},      {"n", FROST_kDLInt},
        {"B", FROST_kDLUInt},  {"H", FROST_kDLUInt},     {"I", FROST_kDLUInt},
        {"L", FROST_kDLUInt},  {"Q", FROST_kDLUInt},     {"N", FROST_kDLUInt},
        {"e", FROST_kDLFloat}, {"f", FROST_kDLFloat},    {"d", FROST_kDLFloat},
        {"?", FROST_kDLBool},  {"Zf", FROST_kDLComplex}, {"Zd", FROST_kDLComplex},
    };
    const char *f = format;
    if (*f == '>' || *f == '!') {
        PyErr_Format(PyExc_BufferError, "DLPack export of format '%.40s': non-native (big-endian) "
                     "byte order is not supported", format);
        return -1;
    }
    if (*f == '@' || *f == '=' || *f == '<') {
        f++;
    }
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (strcmp(f, codes[i].fmt) != 0) {
            continue;
        }
        uint8_t code = codes[i].code;
        int ok = code == FROST_kDLBool      ? itemsize == 1
                 : code == FROST_kDLFloat   ? (itemsize == 2 || itemsize == 4 || itemsize == 8)
                 : code == FROST_kDLComplex ? (itemsize == 8 || itemsize == 16)
                                            : (itemsize == 1 || itemsize == 2 || itemsize == 4
                                               || itemsize == 8);
        if (!ok) {
            break;
        }
        out->code = code;
        out->bits = (uint8_t)(itemsize * 8);
        out->lanes = 1;
        return 0;
    }
    PyErr_Format(PyExc_BufferError, "DLPack export of format '%.40s' (itemsize %zd) is not "
                 "supported: only bool, (u)int8-64, float16/32/64 and complex64/128 have a "
                 "DLPack dtype", format, itemsize);
    return -1;
}

static void
deleter_versioned(frost_DLManagedTensorVersioned *self)
{
    frost_keep_release((frost_keep_t)self->manager_ctx);
    free(self);
}

static void
deleter_legacy(frost_DLManagedTensor *self)
{
    frost_keep_release((frost_keep_t)self->manager_ctx);
    free(self);
}

static void
capsule_destructor_versioned(PyObject *capsule)
{
    if (PyCapsule_IsValid(capsule, CAPSULE_VERSIONED)) {   /* never consumed */
        frost_DLManagedTensorVersioned *m = PyCapsule_GetPointer(capsule, CAPSULE_VERSIONED);
        m->deleter(m);
    }
}

static void
capsule_destructor_legacy(PyObject *capsule)
{
    if (PyCapsule_IsValid(capsule, CAPSULE_LEGACY)) {
        frost_DLManagedTensor *m = PyCapsule_GetPointer(capsule, CAPSULE_LEGACY);
        m->deleter(m);
    }
}

/* max_version: None -> legacy; (major, minor) -> versioned iff major >= 1. */
static int
parse_max_version(PyObject *obj, int *versioned)
{
    *versioned = 0;
    if (obj == NULL || obj == Py_None) {
        return 0;
    }
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 2 || !PyLong_Check(PyTuple_GET_ITEM(obj, 0))
        || !PyLong_Check(PyTuple_GET_ITEM(obj, 1))) {
        PyErr_Format(PyExc_TypeError, "__dlpack__() max_version must be None or a (major, minor) "
                     "tuple of ints, not %.200s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    int overflow;   /* any major past a long is past ours too */
    long major = PyLong_AsLongAndOverflow(PyTuple_GET_ITEM(obj, 0), &overflow);
    if (major == -1 && PyErr_Occurred()) {
        return -1;
    }
    *versioned = overflow > 0 || (overflow == 0 && major >= FROST_DLPACK_MAJOR);
    return 0;
}

static int
check_device(PyObject *obj)
{
    if (obj == NULL || obj == Py_None) {
        return 0;
    }
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 2 || !PyIndex_Check(PyTuple_GET_ITEM(obj, 0))
        || !PyIndex_Check(PyTuple_GET_ITEM(obj, 1))) {
        PyErr_Format(PyExc_TypeError, "__dlpack__() dl_device must be None or a (device_type, "
                     "device_id) tuple, not %.200s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    Py_ssize_t type = PyNumber_AsSsize_t(PyTuple_GET_ITEM(obj, 0), NULL);   /* (clamped) */
    Py_ssize_t id = PyNumber_AsSsize_t(PyTuple_GET_ITEM(obj, 1), NULL);
    if (PyErr_Occurred()) {
        return -1;
    }
    if (type != FROST_kDLCPU || id != 0) {
        PyErr_Format(PyExc_BufferError, "frost memory is on the CPU (device (1, 0)); it cannot be "
                     "exported to device (%R, %R)", PyTuple_GET_ITEM(obj, 0),
                     PyTuple_GET_ITEM(obj, 1));
        return -1;
    }
    return 0;
}

/* copy: None -> -1, False -> 0, True -> 1. */
static int
parse_copy(PyObject *obj, int *copy)
{
    if (obj == NULL || obj == Py_None) {
        *copy = -1;
        return 0;
    }
    if (!PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "__dlpack__() copy must be None or a bool, not %.200s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    *copy = obj == Py_True;
    return 0;
}

/* Copy the (strided) items of `src` into C order at `dst`. */
static void
copy_items(char *dst, const dl_source_t *src)
{
    Py_ssize_t count = 1;
    for (int d = 0; d < src->ndim; d++) {
        count *= src->shape[d];
    }
    Py_ssize_t index[FROST_ARRAY_MAX_NDIM] = {0};
    for (Py_ssize_t n = 0; n < count; n++) {
        const char *p = src->data;
        for (int d = 0; d < src->ndim; d++) {
            p += index[d] * src->byte_strides[d];
        }
        memcpy(dst + n * src->itemsize, p, (size_t)src->itemsize);
        for (int d = src->ndim - 1; d >= 0; d--) {
            if (++index[d] < src->shape[d]) {
                break;
            }
            index[d] = 0;
        }
    }
}

/* The capsule for `src` (store: the view's; kept by an export in place). */
static PyObject *
dlpack_export(frost_keep_t keep, const dl_source_t *src, PyObject *args, PyObject *kwargs);

PyObject *
frost__dlpack_export_1d(frost_keep_t keep, const char *data, Py_ssize_t len, Py_ssize_t byte_stride,
                        const char *format, Py_ssize_t itemsize, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t shape[1] = {len}, strides[1] = {byte_stride};
    dl_source_t src = {.data = data, .ndim = 1, .shape = shape, .byte_strides = strides,
                       .format = format, .itemsize = itemsize};
    return dlpack_export(keep, &src, args, kwargs);
}

static PyObject *
dlpack_export(frost_keep_t keep, const dl_source_t *src, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"stream", "max_version", "dl_device", "copy", NULL};
    PyObject *stream = NULL, *max_version = NULL, *dl_device = NULL, *copy_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOO:__dlpack__", kwlist, &stream,
                                     &max_version, &dl_device, &copy_obj)) {
        return NULL;
    }
    int versioned, copy;
    if (parse_max_version(max_version, &versioned) < 0 || check_device(dl_device) < 0
        || parse_copy(copy_obj, &copy) < 0) {
        return NULL;
    }
    if (stream != NULL && stream != Py_None) {
        PyErr_Format(PyExc_ValueError, "__dlpack__() stream must be None for CPU memory, not %R",
                     stream);
        return NULL;
    }
    frost_DLDataType dtype;
    if (dl_dtype(src->format, src->itemsize, &dtype) < 0) {
        return NULL;
    }
    if (!versioned && copy == 0) {
        PyErr_SetString(PyExc_BufferError,
                        "a legacy (unversioned) DLPack capsule cannot mark memory read-only, so "
                        "frost exports it only as a copy: pass max_version=(1, 0) to share the "
                        "memory, or allow a copy");
        return NULL;
    }
    int copied = copy == 1 || !versioned;
    Py_ssize_t count = 1;
    for (int d = 0; d < src->ndim; d++) {
        count *= src->shape[d];
    }
    size_t head = versioned ? sizeof(frost_DLManagedTensorVersioned) : sizeof(frost_DLManagedTensor);
    size_t dims_at = (head + 7) & ~(size_t)7;
    size_t data_at = (dims_at + 2 * sizeof(int64_t) * (size_t)src->ndim + 63) & ~(size_t)63;
    size_t total = copied ? data_at + (size_t)(count * src->itemsize) : data_at;
    char *block = NULL;
    if (posix_memalign((void **)&block, 64, total ? total : 1) != 0) {
        return PyErr_NoMemory();
    }
    memset(block, 0, head);
    int64_t *shape = (int64_t *)(block + dims_at);
    int64_t *strides = shape + src->ndim;
    for (int d = 0; d < src->ndim; d++) {
        shape[d] = src->shape[d];
        strides[d] = copied ? 0 : src->byte_strides[d] / src->itemsize;
    }
    if (copied) {   /* C order */
        int64_t stride = 1;
        for (int d = src->ndim - 1; d >= 0; d--) {
            strides[d] = stride;
            stride *= shape[d];
        }
        copy_items(block + data_at, src);
    }
    frost_DLTensor t = {
        .data = copied ? (void *)(block + data_at) : (void *)src->data,
        .device = {FROST_kDLCPU, 0},
        .ndim = src->ndim,
        .dtype = dtype,
        .shape = shape,
        .strides = strides,
        .byte_offset = 0,
    };
    frost_keep_t held = 0;
    if (!copied) {
        frost_keep_acquire(keep);
        held = keep;
    }
    PyObject *capsule;
    if (versioned) {
        frost_DLManagedTensorVersioned *m = (frost_DLManagedTensorVersioned *)block;
        m->version = (frost_DLPackVersion){FROST_DLPACK_MAJOR, FROST_DLPACK_MINOR};
        m->manager_ctx = (void *)held;
        m->deleter = deleter_versioned;
        m->flags = copied ? FROST_DLPACK_FLAG_IS_COPIED : FROST_DLPACK_FLAG_READ_ONLY;
        m->dl_tensor = t;
        capsule = PyCapsule_New(m, CAPSULE_VERSIONED, capsule_destructor_versioned);
    }
    else {
        frost_DLManagedTensor *m = (frost_DLManagedTensor *)block;
        m->manager_ctx = (void *)held;
        m->deleter = deleter_legacy;
        m->dl_tensor = t;
        capsule = PyCapsule_New(m, CAPSULE_LEGACY, capsule_destructor_legacy);
    }
    if (capsule == NULL) {
        frost_keep_release(held);
        free(block);
    }
    return capsule;
}

PyObject *
frost__dlpack_device(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(ii)", FROST_kDLCPU, 0);
}

PyObject *
frost__array_dlpack(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FrostArrayView *v = (FrostArrayView *)self;
    dl_source_t src = {
        .data = v->data,
        .ndim = v->ndim,
        .shape = v->shape,
        .byte_strides = v->strides,
        .format = v->array->format,
        .itemsize = v->array->itemsize,
    };
    return dlpack_export(frost_keep_store(v->lease->store), &src, args, kwargs);
}

PyObject *
frost__list_dlpack(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FrostListView *v = (FrostListView *)self;
    uint32_t packing = v->seq->hdr.flags;
    if (packing == FROST_SEQ_REFS) {
        PyErr_SetString(PyExc_BufferError, "this FrozenList has no DLPack export: only lists whose "
                                           "items are all int (int64) or all float are stored packed");
        return NULL;
    }
    dl_source_t src = {
        .data = (const char *)&v->seq->items.i64[v->len ? v->start : 0],
        .ndim = 1,
        .shape = v->shape,
        .byte_strides = v->strides,
        .format = packing == FROST_SEQ_INT64 ? "q" : "d",
        .itemsize = 8,
    };
    return dlpack_export(frost_keep_store(v->lease->store), &src, args, kwargs);
}
