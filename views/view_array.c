/*
 * view_array.c -- frost.Array: a typed, C-contiguous buffer in the arena
 * (from bytearray, array.array, memoryview, numpy, any buffer exporter).
 *
 * The buffer protocol hands out the arena memory itself, read-only, so
 * memoryview(a) and numpy.asarray(a) copy nothing, nor does a slice a[i:j:k]
 * (a read-only memoryview; for a format memoryview cannot unpack, such as
 * complex, the read-only ndarray numpy.asarray(a)[i:j:k] where this
 * interpreter has imported numpy, so that the slice reads as the Array
 * does). Indexing (and iterating)
 * a multi-dimensional Array gives sub-Array views, which pickle as the node
 * plus their indices; items are unpacked by memoryview, else by numpy where
 * this interpreter imported it, else by the struct module, so every format
 * that freezes reads in every interpreter that has a reader for it. As a
 * memoryview and an ndarray, an Array takes weak references (docs/design.md,
 * "Weak references").
 */
#include "views.h"

#define AV(o) ((FrostArrayView *)(o))
/* an Array view's layout, as the shared readers take it */
#define ARRAY_LAYOUT(v) \
    ((frost_layout_t){"frost.Array", (v)->array->format, (v)->ndim, (v)->shape, (v)->strides})

PyObject *
frost__array_view_new(FrostLease *lease, const frost_array_t *a, const char *data, int ndim,
                      const Py_ssize_t *shape, const Py_ssize_t *strides)
{
    FrostArrayView *v = PyObject_New(FrostArrayView, lease->st->array_type);
    if (v == NULL) {
        return NULL;
    }
    v->lease = (FrostLease *)Py_NewRef(lease);
    v->array = a;
    v->data = data;
    v->ndim = ndim;
    v->shape = shape;
    v->strides = strides;
    v->weaklist = NULL;
    return (PyObject *)v;
}

static Py_ssize_t
array_nbytes(FrostArrayView *v)
{
    Py_ssize_t n = v->array->itemsize;
    for (int d = 0; d < v->ndim; d++) {
        n *= v->shape[d];
    }
    return n;
}

int
frost__export_buffer(Py_buffer *view, PyObject *owner, const char *what, const char *buf,
                     Py_ssize_t itemsize, const char *format, int ndim,
                     const Py_ssize_t *shape, const Py_ssize_t *strides, int flags)
{
    view->obj = NULL;
    if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE) {
        PyErr_Format(PyExc_BufferError, "%s buffers are read-only", what);
        return -1;
    }
    Py_ssize_t len = itemsize;
    for (int d = 0; d < ndim; d++) {
        len *= shape[d];
    }
    /* the layout as a full buffer, to ask CPython's own contiguity rules */
    Py_buffer full = {.buf = (void *)buf, .len = len, .itemsize = itemsize, .ndim = ndim,
                      .shape = (Py_ssize_t *)shape, .strides = (Py_ssize_t *)strides};
    int c_contiguous = PyBuffer_IsContiguous(&full, 'C');
    const char *missing = NULL;
    if ((flags & PyBUF_C_CONTIGUOUS) == PyBUF_C_CONTIGUOUS && !c_contiguous) {
        missing = "C-contiguous";
    }
    else if ((flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS && !PyBuffer_IsContiguous(&full, 'F')) {
        missing = "Fortran-contiguous";
    }
    else if ((flags & PyBUF_ANY_CONTIGUOUS) == PyBUF_ANY_CONTIGUOUS && !PyBuffer_IsContiguous(&full, 'A')) {
        missing = "contiguous";
    }
    else if ((flags & PyBUF_STRIDES) != PyBUF_STRIDES && !c_contiguous) {
        missing = "C-contiguous (request strides to read it)";
    }
    if (missing != NULL) {
        PyErr_Format(PyExc_BufferError, "this %s is not %s", what, missing);
        return -1;
    }
    view->buf = (void *)buf;
    view->obj = Py_NewRef(owner);
    view->len = len;
    view->readonly = 1;
    view->itemsize = itemsize;
    view->format = (flags & PyBUF_FORMAT) ? (char *)format : NULL;
    view->ndim = ndim;
    view->shape = (flags & PyBUF_ND) == PyBUF_ND ? (Py_ssize_t *)shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? (Py_ssize_t *)strides : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    if (view->shape == NULL) {
        view->ndim = 1;   /* a flat view of C-contiguous memory (checked above) */
    }
    return 0;
}

static int
array_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    FrostArrayView *v = AV(self);
    return frost__export_buffer(view, self, "frost.Array", v->data, v->array->itemsize,
                                v->array->format, v->ndim, v->shape, v->strides, flags);
}

static PyObject *
as_memoryview(PyObject *self)
{
    return PyMemoryView_FromObject(self);
}

void
frost__memoryview_done(PyObject *mv)
{
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *rel = PyObject_CallMethod(mv, "release", NULL);
    if (rel == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(rel);
    Py_DECREF(mv);
    PyErr_SetRaisedException(exc);
}

/* memoryview reads items of single native struct codes only. For the other
 * formats an Array may hold (complex 'Zd', unicode 'w', byte-swapped '>i',
 * structs 'T{...}', long double 'g') items are read through numpy when this
 * interpreter has imported it: numpy.asarray(self) shares the arena memory.
 * NULL without an error if numpy is not imported. */
PyObject *
frost__numpy_if_imported(void)
{
    PyObject *modules = PySys_GetObject("modules");
    PyObject *numpy = modules && PyDict_Check(modules) ? PyDict_GetItemString(modules, "numpy")
                                                       : NULL;
    return numpy && PyModule_Check(numpy) ? numpy : NULL;   /* None: an import blocked */
}

static PyObject *
as_numpy(PyObject *self)
{
    PyObject *numpy = frost__numpy_if_imported();
    return numpy ? PyObject_CallMethod(numpy, "asarray", "O", self) : NULL;
}

/* Whether the struct module reads `format` (memoryview compares through it;
 * for other formats it answers "unequal" whatever the items are). */
static int
struct_reads(const char *format)
{
    PyObject *exc = PyErr_GetRaisedException();
    Py_ssize_t n = PyBuffer_SizeFromFormat(format ? format : "B");
    if (n < 0) {
        PyErr_Clear();
    }
    PyErr_SetRaisedException(exc);
    return n >= 0;
}

/* One item at byte `offset` unpacked by the struct.Struct `st`; an item of
 * one field is that field, as memoryview gives it. */
static PyObject *
unpack_item(PyObject *st, PyObject *self, Py_ssize_t offset)
{
    PyObject *t = PyObject_CallMethod(st, "unpack_from", "On", self, offset);
    if (t != NULL && PyTuple_GET_SIZE(t) == 1) {
        PyObject *item = Py_NewRef(PyTuple_GET_ITEM(t, 0));
        Py_DECREF(t);
        return item;
    }
    return t;
}

/* The items from dimension `d` on, at byte `offset`, as nested lists. */
static PyObject *
unpack_nested(const frost_layout_t *l, PyObject *st, PyObject *self, int d, Py_ssize_t offset)
{
    if (d == l->ndim) {
        return unpack_item(st, self, offset);
    }
    PyObject *list = PyList_New(l->shape[d]);
    for (Py_ssize_t i = 0; list != NULL && i < l->shape[d]; i++) {
        PyObject *item = unpack_nested(l, st, self, d + 1, offset + i * l->strides[d]);
        if (item == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

/* Byte offset of the item `key` names (an index per dimension, checked). */
static int
item_offset(const frost_layout_t *l, PyObject *key, Py_ssize_t *offset)
{
    Py_ssize_t n = PyTuple_Check(key) ? PyTuple_GET_SIZE(key) : 1;
    if (n != l->ndim) {
        PyErr_Format(PyExc_TypeError, "%s items need one index per dimension", l->what);
        return -1;
    }
    *offset = 0;
    for (Py_ssize_t d = 0; d < n; d++) {
        Py_ssize_t i = PyNumber_AsSsize_t(PyTuple_Check(key) ? PyTuple_GET_ITEM(key, d) : key,
                                          PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return -1;
        }
        i += i < 0 ? l->shape[d] : 0;
        if (i < 0 || i >= l->shape[d]) {
            PyErr_Format(PyExc_IndexError, "%s index out of range", l->what);
            return -1;
        }
        *offset += i * l->strides[d];
    }
    return 0;
}

/* Items (all as lists if key is NULL, else the one `key` names) unpacked by
 * the struct module, for formats it reads and memoryview does not ('>i',
 * 'id', '<iq2s'): an interpreter without numpy (a pool worker) reads them.
 * NULL without an error if struct does not read the format. */
static PyObject *
items_through_struct(PyObject *self, PyObject *key, const frost_layout_t *l)
{
    if (!struct_reads(l->format)) {
        return NULL;
    }
    Py_ssize_t offset = 0;
    if (key != NULL && item_offset(l, key, &offset) < 0) {
        return NULL;
    }
    PyObject *module = PyImport_ImportModule("struct");
    PyObject *st = module ? PyObject_CallMethod(module, "Struct", "s", l->format) : NULL;
    Py_XDECREF(module);
    if (st == NULL) {
        return NULL;
    }
    PyObject *r = key ? unpack_item(st, self, offset) : unpack_nested(l, st, self, 0, 0);
    Py_DECREF(st);
    return r;
}

/* The items of a format memoryview cannot unpack ('Zd', '>i', 'T{...}'): all
 * as lists if key is NULL, else the one `key` names; through numpy if this
 * interpreter imported it, else through the struct module if it reads the
 * format; NULL without an error if neither can. */
static PyObject *
unpack_with_numpy_or_struct(PyObject *self, PyObject *key, const frost_layout_t *l)
{
    PyObject *arr = as_numpy(self);
    if (arr == self) {   /* a "numpy" whose asarray(x) is x (a shim) reads nothing */
        Py_CLEAR(arr);
    }
    if (arr == NULL) {
        return PyErr_Occurred() ? NULL : items_through_struct(self, key, l);
    }
    PyObject *r = NULL;
    if (key == NULL) {
        r = PyObject_CallMethod(arr, "tolist", NULL);
    }
    else {
        PyObject *item = PyObject_GetItem(arr, key);
        r = item ? PyObject_CallMethod(item, "item", NULL) : NULL;
        Py_XDECREF(item);
    }
    Py_DECREF(arr);
    return r;
}

PyObject *
frost__unpack_elsewhere(PyObject *self, PyObject *key, const frost_layout_t *l)
{
    if (!PyErr_ExceptionMatches(PyExc_NotImplementedError)) {
        return NULL;
    }
    PyObject *exc = PyErr_GetRaisedException();
    /* a "numpy" in sys.modules is whatever a program put there: one whose
     * asarray(x) gives back an object reading self[key] again would recurse */
    if (Py_EnterRecursiveCall(" while reading a frost array's items through numpy")) {
        Py_DECREF(exc);
        return NULL;
    }
    PyObject *r = unpack_with_numpy_or_struct(self, key, l);
    Py_LeaveRecursiveCall();
    if (r == NULL && !PyErr_Occurred()) {
        PyErr_SetRaisedException(exc);   /* no reader here: memoryview's error */
        return NULL;
    }
    Py_DECREF(exc);
    return r;
}

static Py_ssize_t
array_length(PyObject *self)
{
    if (AV(self)->ndim == 0) {
        PyErr_SetString(PyExc_TypeError, "len() of a 0-dimensional frost.Array");
        return -1;
    }
    return AV(self)->shape[0];
}

/* Slice `mv` (a memoryview slice of self, stolen) as given, or, when memoryview
 * cannot unpack its format ('Zd' complex, '>i', 'T{...}': its tolist() and
 * items raise NotImplementedError, asked on an empty slice) and this
 * interpreter has imported numpy, numpy.asarray(self)[key] instead: read-only,
 * the same memory, and readable, as the items of such an Array are read
 * through numpy (frost__unpack_elsewhere). */
static PyObject *
slice_through_numpy(PyObject *self, PyObject *key, PyObject *mv)
{
    const char *f = PyMemoryView_GET_BUFFER(mv)->format;
    f = f == NULL ? "B" : f[0] == '@' ? f + 1 : f;
    if ((f[0] != '\0' && f[1] == '\0' && strchr("bBhHiIlLqQfd", f[0]) != NULL)
        || frost__numpy_if_imported() == NULL) {
        return mv;   /* (the common formats, which memoryview reads, without asking it) */
    }
    PyObject *empty = PySequence_GetSlice(mv, 0, 0);
    PyObject *probe = empty ? PyObject_CallMethod(empty, "tolist", NULL) : NULL;
    if (empty != NULL) {
        frost__memoryview_done(empty);
    }
    if (probe != NULL) {
        Py_DECREF(probe);
        return mv;
    }
    if (!PyErr_ExceptionMatches(PyExc_NotImplementedError)) {
        Py_DECREF(mv);
        return NULL;
    }
    PyErr_Clear();
    /* a "numpy" in sys.modules is whatever a program put there (see frost__unpack_elsewhere) */
    if (Py_EnterRecursiveCall(" while slicing a frost array through numpy")) {
        Py_DECREF(mv);
        return NULL;
    }
    PyObject *arr = as_numpy(self);
    PyObject *r = arr != NULL && arr != self ? PyObject_GetItem(arr, key) : NULL;
    Py_LeaveRecursiveCall();
    Py_XDECREF(arr);
    if (r == NULL && !PyErr_Occurred()) {
        return mv;   /* a shim whose asarray(x) is x: the memoryview */
    }
    Py_DECREF(mv);
    return r;
}

PyObject *
frost__buffer_subscript(PyObject *self, PyObject *key, const frost_layout_t *l)
{
    int ndim = l->ndim;
    const char *what = l->what;
    int slice = PySlice_Check(key);
    if (!slice && !PyIndex_Check(key) && !PyTuple_Check(key)) {
        PyErr_Format(PyExc_TypeError, "%s indices must be integers, slices or tuples of "
                     "integers, not %.200s", what, Py_TYPE(key)->tp_name);
        return NULL;
    }
    Py_ssize_t nindices = PyTuple_Check(key) ? PyTuple_GET_SIZE(key) : 1;
    for (Py_ssize_t i = 0; PyTuple_Check(key) && i < nindices; i++) {
        PyObject *item = PyTuple_GET_ITEM(key, i);
        if (!PyIndex_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s indices must be integers, not %.200s (index %zd "
                         "of the tuple)", what, Py_TYPE(item)->tp_name, i);
            return NULL;
        }
    }
    if (slice && ndim == 0) {
        PyErr_Format(PyExc_TypeError, "a 0-dimensional %s cannot be sliced", what);
        return NULL;
    }
    if (!slice && nindices != ndim) {   /* one integer per dimension: an item */
        PyErr_Format(PyExc_TypeError, "a %d-dimensional %s needs %d indices, not %zd", ndim,
                     what, ndim, nindices);
        return NULL;
    }
    PyObject *mv = PyMemoryView_FromObject(self);
    if (mv == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_GetItem(mv, key);
    if (slice) {
        Py_DECREF(mv);   /* the slice holds the export itself */
        return r == NULL ? NULL : slice_through_numpy(self, key, r);
    }
    frost__memoryview_done(mv);   /* an item: nothing holds an export */
    if (r == NULL) {
        r = frost__unpack_elsewhere(self, key, l);
    }
    if (r == NULL && PyErr_ExceptionMatches(PyExc_IndexError)) {
        PyErr_Format(PyExc_IndexError, "%s index out of range", what);
    }
    return r;
}

static PyObject *
array_subscript(PyObject *self, PyObject *key)
{
    FrostArrayView *v = AV(self);
    if (PyIndex_Check(key) && v->ndim > 1) {   /* a[i] of a grid: the sub-Array, no copy */
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (i < 0) {
            i += v->shape[0];
        }
        if (i < 0 || i >= v->shape[0]) {
            PyErr_SetString(PyExc_IndexError, "frost.Array index out of range");
            return NULL;
        }
        return frost__array_view_new(v->lease, v->array, v->data + i * v->strides[0], v->ndim - 1,
                                     v->shape + 1, v->strides + 1);
    }
    frost_layout_t layout = ARRAY_LAYOUT(v);
    return frost__buffer_subscript(self, key, &layout);
}

/* The sequence protocol (iter(), `in`, reversed()): items of a 1-D Array,
 * sub-Arrays of higher ranks, as a[i] gives them. */
static PyObject *
array_item(PyObject *self, Py_ssize_t i)
{
    PyObject *key = PyLong_FromSsize_t(i);
    PyObject *r = key ? array_subscript(self, key) : NULL;
    Py_XDECREF(key);
    return r;
}

static PyObject *
array_iter(PyObject *self)
{
    if (AV(self)->ndim == 0) {
        PyErr_SetString(PyExc_TypeError, "iteration over a 0-dimensional frost.Array");
        return NULL;
    }
    return PySeqIter_New(self);
}

static PyObject *
array_tolist(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *mv = as_memoryview(self);
    if (mv == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallMethod(mv, "tolist", NULL);
    Py_DECREF(mv);
    frost_layout_t layout = ARRAY_LAYOUT(AV(self));
    return r ? r : frost__unpack_elsewhere(self, NULL, &layout);
}

PyObject *
frost__buffer_richcompare(PyObject *self, PyObject *other, int op, const char *format)
{
    if ((op != Py_EQ && op != Py_NE) || !PyObject_CheckBuffer(other)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *mine = as_memoryview(self);
    PyObject *theirs = mine ? PyMemoryView_FromObject(other) : NULL;
    PyObject *r = NULL;
    if (theirs != NULL && (!struct_reads(format)
                           || !struct_reads(PyMemoryView_GET_BUFFER(theirs)->format))) {
        PyObject *arr = as_numpy(self);
        PyObject *numpy = arr ? frost__numpy_if_imported() : NULL;
        if (numpy != NULL) {   /* item by item, as memoryview would if it could read them */
            PyObject *eq = PyObject_CallMethod(numpy, "array_equal", "OO", arr, theirs);
            int truth = eq ? PyObject_IsTrue(eq) : -1;
            Py_XDECREF(eq);
            r = truth < 0 ? NULL : PyBool_FromLong(op == Py_EQ ? truth : !truth);
        }
        Py_XDECREF(arr);
        if (r == NULL && !PyErr_Occurred()) {
            r = PyObject_RichCompare(mine, theirs, op);
        }
    }
    else if (theirs != NULL) {
        r = PyObject_RichCompare(mine, theirs, op);
    }
    Py_XDECREF(mine);
    Py_XDECREF(theirs);
    return r;
}

static PyObject *
array_richcompare(PyObject *self, PyObject *other, int op)
{
    return frost__buffer_richcompare(self, other, op, AV(self)->array->format);
}

PyObject *
frost__buffer_tobytes(PyObject *self)
{
    PyObject *mv = as_memoryview(self);
    PyObject *r = mv ? PyObject_CallMethod(mv, "tobytes", NULL) : NULL;
    if (mv != NULL) {
        frost__memoryview_done(mv);
    }
    return r;
}

static PyObject *
array_tobytes(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return frost__buffer_tobytes(self);
}

PyObject *
frost__ssize_tuple(const Py_ssize_t *xs, int ndim)
{
    PyObject *t = PyTuple_New(ndim);
    for (int d = 0; t != NULL && d < ndim; d++) {
        PyObject *n = PyLong_FromSsize_t(xs[d]);
        if (n == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, d, n);
    }
    return t;
}

static PyObject *
array_shape(PyObject *self, void *Py_UNUSED(closure))
{
    return frost__ssize_tuple(AV(self)->shape, AV(self)->ndim);
}

static PyObject *
array_strides(PyObject *self, void *Py_UNUSED(closure))
{
    return frost__ssize_tuple(AV(self)->strides, AV(self)->ndim);
}

static PyObject *
array_format(PyObject *self, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(AV(self)->array->format);
}

static PyObject *
array_itemsize(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(AV(self)->array->itemsize);
}

static PyObject *
array_ndim(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(AV(self)->ndim);
}

static PyObject *
array_get_nbytes(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(array_nbytes(AV(self)));
}

static PyObject *
array_repr(PyObject *self)
{
    FrostArrayView *v = AV(self);
    PyObject *shape = array_shape(self, NULL);
    if (shape == NULL) {
        return NULL;
    }
    PyObject *r = PyUnicode_FromFormat("frost.Array(format='%s', shape=%R, nbytes=%zd)",
                                       v->array->format, shape, array_nbytes(v));
    Py_DECREF(shape);
    return r;
}

/* Pickled (and sent to other interpreters) by reference to the array node;
 * a sub-Array a[i][j] adds its indices (i, j), recovered from its data offset
 * (C-contiguous strides; where a later dimension is 0 every sub-Array is
 * empty and at one address, and index 0 reads the same). */
static PyObject *
array_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostArrayView *v = AV(self);
    const frost_array_t *a = v->array;
    int consumed = a->ndim - v->ndim;
    if (consumed == 0) {
        return frost__reduce_ref((FrostView *)self, frost_ref_from_node(a), NULL);
    }
    /* arrays are C-contiguous: the offset is a flat index times the stride of
     * the last consumed dimension (0 when a later dimension is empty) */
    Py_ssize_t step = a->strides[consumed - 1];
    Py_ssize_t index = step == 0 ? 0 : (Py_ssize_t)(v->data - a->data) / step;
    PyObject *sub = Py_BuildValue("(in)", consumed, index);
    PyObject *r = sub ? frost__reduce_ref((FrostView *)self, frost_ref_from_node(a), sub) : NULL;
    Py_XDECREF(sub);
    return r;
}

PyObject *
frost__array_subview_new(FrostLease *lease, const frost_array_t *a, Py_ssize_t dims,
                         Py_ssize_t index)
{
    if (dims < 1 || dims >= a->ndim) {
        PyErr_SetString(PyExc_ValueError, "invalid frost reference: sub-array dims do not fit "
                                          "the array (corrupted or forged data)");
        return NULL;
    }
    Py_ssize_t count = 1;   /* sub-arrays at that depth; arrays are C-contiguous */
    for (Py_ssize_t d = 0; d < dims; d++) {
        count = a->shape[d] == 0 || count > PY_SSIZE_T_MAX / a->shape[d]
                    ? (a->shape[d] == 0 ? 0 : PY_SSIZE_T_MAX) : count * a->shape[d];
    }
    if (index < 0 || index >= count) {
        PyErr_SetString(PyExc_ValueError, "invalid frost reference: sub-array index out of "
                                          "range (corrupted or forged data)");
        return NULL;
    }
    const char *data = a->data + index * a->strides[dims - 1];
    return frost__array_view_new(lease, a, data, a->ndim - (int)dims, a->shape + dims,
                                 a->strides + dims);
}

static PyGetSetDef array_getset[] = {
    {"format", array_format, NULL, "The struct-module format of one item.", NULL},
    {"itemsize", array_itemsize, NULL, "Bytes per item.", NULL},
    {"shape", array_shape, NULL, "The extent of each dimension.", NULL},
    {"strides", array_strides, NULL, "Bytes between items along each dimension.", NULL},
    {"ndim", array_ndim, NULL, "The number of dimensions.", NULL},
    {"nbytes", array_get_nbytes, NULL, "The size of the data in bytes.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef array_methods[] = {
    {"tolist", array_tolist, METH_NOARGS, "The items as (nested) lists of Python values."},
    {"tobytes", array_tobytes, METH_NOARGS, "A copy of the data (C order), as memoryview's."},
    {"__reduce__", array_reduce, METH_NOARGS, "Pickle by reference to the same arena node."},
    {"__dlpack__", (PyCFunction)(void (*)(void))frost__array_dlpack, METH_VARARGS | METH_KEYWORDS,
     FROST_DLPACK_DOC},
    {"__dlpack_device__", frost__dlpack_device, METH_NOARGS, "(1, 0): CPU memory."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef array_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(FrostArrayView, weaklist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot array_slots[] = {
    {Py_tp_doc, "Array: a read-only typed buffer in a frost arena.\n\n"
                "memoryview(a) and numpy.asarray(a) read the arena without copying."},
    {Py_tp_dealloc, frost__view_dealloc},   /* clears the weak references first */
    {Py_tp_members, array_members},
    {Py_tp_repr, array_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_richcompare, array_richcompare},
    {Py_tp_methods, array_methods},
    {Py_tp_getset, array_getset},
    {Py_mp_length, array_length},
    {Py_sq_length, array_length},
    {Py_sq_item, array_item},
    {Py_tp_iter, array_iter},
    {Py_mp_subscript, array_subscript},
    {Py_mp_ass_subscript, frost__readonly_ass},
    {Py_bf_getbuffer, array_getbuffer},
    {0, NULL},
};

PyType_Spec FrostArray_spec = {
    .name = "frost.Array",
    .basicsize = sizeof(FrostArrayView),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = array_slots,
};
