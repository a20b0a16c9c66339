/*
 * view_list.c -- frost.FrozenList: a read-only Sequence over a list node, or
 * over a slice of one (start, step, len), so slicing never copies.
 *
 * Packed nodes (all int64 or all float64) export the buffer protocol: the
 * exporter's memory is the arena itself, read-only. `+`, `*` and copy() give
 * plain lists, as list's do; the in-place forms raise TypeError.
 */
#include "views.h"

#define LV(o) ((FrostListView *)(o))

/* The largest |step| a view keeps. Its buffer stride is step * 8, as
 * memoryview's of the same slice; with two items or more |step| is below the
 * node's length, but a slice of one item or none may have any step
 * (l[::2**63-1]), which would overflow the stride: such a view, which reads
 * the same at any step, keeps step 1 instead. */
#define MAX_STEP (PY_SSIZE_T_MAX / 8)

PyObject *
frost__list_view_new(FrostLease *lease, const frost_seq_t *seq, Py_ssize_t start, Py_ssize_t step,
                     Py_ssize_t len)
{
    FrostListView *v = PyObject_New(FrostListView, lease->st->list_type);
    if (v == NULL) {
        return NULL;
    }
    if (step > MAX_STEP || step < -MAX_STEP) {
        step = 1;   /* one item or none (see MAX_STEP): read the same at any step */
    }
    v->lease = (FrostLease *)Py_NewRef(lease);
    v->seq = seq;
    v->start = start;
    v->step = step;
    v->len = len;
    v->shape[0] = len;
    v->strides[0] = step * 8;
    frost__reuse_init(&v->results);
    return (PyObject *)v;
}

static void
list_dealloc(PyObject *self)
{
    frost__reuse_clear(&LV(self)->results);
    frost__view_dealloc(self);
}

/* item i of this view, 0 <= i < len */
static PyObject *
list_item_at(PyObject *self, Py_ssize_t i)
{
    FrostListView *v = LV(self);
    return frost__seq_item(v->lease, v->seq, v->start + i * v->step);
}

static int
list_item_equal(PyObject *self, Py_ssize_t i, PyObject *other)
{
    FrostListView *v = LV(self);
    Py_ssize_t at = v->start + i * v->step;
    if (v->seq->hdr.flags == FROST_SEQ_REFS) {
        return frost__item_equal(v->lease, v->seq->items.refs[at], other);
    }
    PyObject *item = list_item_at(self, i);
    if (item == NULL) {
        return -1;
    }
    int eq = PyObject_RichCompareBool(item, other, Py_EQ);
    Py_DECREF(item);
    return eq;
}

static Py_ssize_t
list_length(PyObject *self)
{
    return LV(self)->len;
}

static PyObject *
list_sq_item(PyObject *self, Py_ssize_t i)
{
    if (i < 0 || i >= LV(self)->len) {
        PyErr_SetString(PyExc_IndexError, "FrozenList index out of range");
        return NULL;
    }
    return list_item_at(self, i);
}

static Py_NO_INLINE PyObject *list_subscript_any(PyObject *self, PyObject *key);

/* l[i] with a machine-sized int, the hot case: a bounds check and a load
 * (a negative i takes the general way: one test less here) */
static PyObject *
list_subscript(PyObject *self, PyObject *key)
{
    if (PyLong_CheckExact(key) && PyUnstable_Long_IsCompact((PyLongObject *)key)) {
        FrostListView *v = LV(self);
        Py_ssize_t i = PyUnstable_Long_CompactValue((PyLongObject *)key);
        if ((size_t)i < (size_t)v->len) {
            return frost__seq_item_reusing(v->lease, v->seq, v->start + i * v->step, &v->results);
        }
    }
    return list_subscript_any(self, key);
}

static Py_NO_INLINE PyObject *
list_subscript_any(PyObject *self, PyObject *key)
{
    FrostListView *v = LV(self);
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (i < 0) {
            i += v->len;
        }
        return list_sq_item(self, i);
    }
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0) {
            return NULL;
        }
        Py_ssize_t n = PySlice_AdjustIndices(v->len, &start, &stop, step);
        /* |v->step| <= MAX_STEP, step >= -PY_SSIZE_T_MAX: past MAX_STEP (n <= 1 only), step 1 */
        Py_ssize_t v_abs = v->step < 0 ? -v->step : v->step, abs_step = step < 0 ? -step : step;
        Py_ssize_t new_step = abs_step > MAX_STEP / v_abs ? 1 : v->step * step;
        return frost__list_view_new(v->lease, v->seq, v->start + start * v->step, new_step, n);
    }
    PyErr_Format(PyExc_TypeError, "FrozenList indices must be integers or slices, not %.200s",
                 Py_TYPE(key)->tp_name);
    return NULL;
}

static int
list_contains(PyObject *self, PyObject *x)
{
    for (Py_ssize_t i = 0; i < LV(self)->len; i++) {
        int eq = list_item_equal(self, i, x);
        if (eq != 0) {
            return eq;
        }
    }
    return 0;
}

static PyObject *
list_iter(PyObject *self)
{
    FrostListView *v = LV(self);
    return frost__seq_iter_new(v->lease, v->seq, v->start, v->step, v->len);
}

static PyObject *
list_reversed(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostListView *v = LV(self);
    return frost__seq_iter_new(v->lease, v->seq, v->start + (v->len - 1) * v->step, -v->step, v->len);
}

/* Clamp an index argument like list.index does. */
static int
clamp_index(PyObject *arg, Py_ssize_t len, Py_ssize_t *out)
{
    Py_ssize_t i = PyNumber_AsSsize_t(arg, NULL);   /* saturates */
    if (i == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (i < 0) {
        i += len;
        if (i < 0) {
            i = 0;
        }
    }
    *out = i > len ? len : i;
    return 0;
}

static PyObject *
list_index(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (frost__check_nargs("index", nargs, 1, 3) < 0) {
        return NULL;
    }
    Py_ssize_t start = 0, stop = LV(self)->len;
    if (nargs > 1 && clamp_index(args[1], LV(self)->len, &start) < 0) {
        return NULL;
    }
    if (nargs > 2 && clamp_index(args[2], LV(self)->len, &stop) < 0) {
        return NULL;
    }
    for (Py_ssize_t i = start; i < stop; i++) {
        int eq = list_item_equal(self, i, args[0]);
        if (eq < 0) {
            return NULL;
        }
        if (eq) {
            return PyLong_FromSsize_t(i);
        }
    }
    PyErr_SetString(PyExc_ValueError, "FrozenList.index(x): x not in list");
    return NULL;
}

static PyObject *
list_count(PyObject *self, PyObject *x)
{
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < LV(self)->len; i++) {
        int eq = list_item_equal(self, i, x);
        if (eq < 0) {
            return NULL;
        }
        count += eq;
    }
    return PyLong_FromSsize_t(count);
}

/* item i of a list or FrozenList `seq` (new reference) */
static PyObject *
other_item(PyObject *seq, Py_ssize_t i)
{
    if (PyList_Check(seq)) {
        return Py_NewRef(PyList_GET_ITEM(seq, i));
    }
    return list_item_at(seq, i);
}

static PyObject *
list_richcompare(PyObject *self, PyObject *other, int op)
{
    PyObject *answer;
    if (frost__subclass_compares_first(self, other, op, &PyList_Type, &answer)) {
        return answer;
    }
    int other_is_view = Py_TYPE(other) == Py_TYPE(self);
    if (!PyList_Check(other) && !other_is_view) {
        if (!frost__is_list_view(LV(self)->lease->st, other)) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        return frost__richcompare_as_list(self, other, op, list_richcompare);   /* a MappedList */
    }
    Py_ssize_t n1 = LV(self)->len;
    Py_ssize_t n2 = other_is_view ? LV(other)->len : PyList_GET_SIZE(other);
    if ((op == Py_EQ || op == Py_NE) && n1 != n2) {
        return PyBool_FromLong(op == Py_NE);
    }
    if ((op == Py_EQ || op == Py_NE) && other_is_view && LV(other)->seq == LV(self)->seq
        && LV(other)->start == LV(self)->start && LV(other)->step == LV(self)->step) {
        return PyBool_FromLong(op == Py_EQ);   /* the same items: equal, as `l == l` (any depth) */
    }
    if (frost__stack_check() < 0 || Py_EnterRecursiveCall(" in FrozenList comparison")) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t i = 0;
    for (; i < n1 && i < n2; i++) {
        /* the list may shrink under user __eq__: re-check its size */
        if (!other_is_view && i >= PyList_GET_SIZE(other)) {
            break;
        }
        PyObject *b = other_item(other, i);
        int eq = b ? list_item_equal(self, i, b) : -1;
        if (eq == 0) {
            PyObject *a = list_item_at(self, i);
            if (a != NULL) {
                result = (op == Py_EQ) ? Py_NewRef(Py_False)
                         : (op == Py_NE) ? Py_NewRef(Py_True)
                                         : PyObject_RichCompare(a, b, op);
                Py_DECREF(a);
            }
            Py_DECREF(b);
            goto done;
        }
        Py_XDECREF(b);
        if (eq < 0) {
            goto done;
        }
    }
    n2 = other_is_view ? n2 : PyList_GET_SIZE(other);
    {
        int c;
        switch (op) {
        case Py_LT: c = n1 < n2; break;
        case Py_LE: c = n1 <= n2; break;
        case Py_EQ: c = n1 == n2; break;
        case Py_NE: c = n1 != n2; break;
        case Py_GT: c = n1 > n2; break;
        default: c = n1 >= n2; break;
        }
        result = PyBool_FromLong(c);
    }
done:
    Py_LeaveRecursiveCall();
    return result;
}

static PyObject *
list_repr(PyObject *self)
{
    FrostListView *v = LV(self);
    int rc = frost__repr_enter(v->seq);
    if (rc != 0) {
        return rc > 0 ? PyUnicode_FromString("FrozenList([...])") : NULL;
    }
    Py_ssize_t shown = v->len < FROST_REPR_MAX_ITEMS ? v->len : FROST_REPR_MAX_ITEMS;
    PyObject *parts = PyList_New(0);
    for (Py_ssize_t i = 0; parts && i < shown; i++) {
        PyObject *item = list_item_at(self, i);
        PyObject *s = item ? PyObject_Repr(item) : NULL;
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(item);
        Py_XDECREF(s);
    }
    PyObject *result = frost__repr_items(parts, v->len - shown, "FrozenList([", "])");
    frost__repr_leave(v->seq);
    return result;
}

/* ---- operators: like list's, returning plain objects (issue 15) ----------
 *
 * FrozenList + list/tuple/FrozenList/MappedList -> list, list + FrozenList -> list,
 * tuple + FrozenList -> tuple (the plain type of the left operand; items as
 * indexing gives them, so nested containers stay views), FrozenList * n and
 * n * FrozenList -> list. The in-place forms raise TypeError: a FrozenList
 * cannot change. (`a_list += a_frozen_list` is Python's reflected `+`, so it
 * rebinds the name to a new list, as with a NumPy array on the right; use
 * list.extend() to extend in place.)
 */

static PyObject *list_add(PyObject *a, PyObject *b);

static int
is_frozen_list(PyObject *o)
{
    PyNumberMethods *nb = Py_TYPE(o)->tp_as_number;
    return nb != NULL && nb->nb_add == list_add;
}

static PyObject *
list_add(PyObject *a, PyObject *b)
{
    int a_view = is_frozen_list(a);
    return frost__list_view_add(LV(a_view ? a : b)->lease->st, a, b, a_view, is_frozen_list(b));
}

static PyObject *
list_repeat(PyObject *self, Py_ssize_t n)
{
    return frost__list_view_repeat(self, LV(self)->len, n);
}

static PyObject *
list_inplace_add(PyObject *self, PyObject *Py_UNUSED(other))
{
    return frost__readonly_inplace(self, "+", "y", "list");
}

static PyObject *
list_inplace_repeat(PyObject *self, PyObject *Py_UNUSED(other))
{
    return frost__readonly_inplace(self, "*", "n", "list");
}

static int
list_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    FrostListView *v = LV(self);
    uint32_t packing = v->seq->hdr.flags;
    if (packing == FROST_SEQ_REFS) {
        PyErr_SetString(PyExc_TypeError, "this FrozenList has no buffer: only lists whose items "
                                         "are all int (int64) or all float are stored packed");
        view->obj = NULL;
        return -1;
    }
    return frost__export_buffer(view, self, "FrozenList", (const char *)&v->seq->items.i64[v->len ? v->start : 0],
                                8, packing == FROST_SEQ_INT64 ? "q" : "d", 1, v->shape, v->strides, flags);
}

static PyObject *
list_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostListView *v = LV(self);
    if (v->start == 0 && v->step == 1 && v->len == v->seq->len) {
        return frost__reduce_ref((FrostView *)self, frost_ref_from_node(v->seq), NULL);
    }
    PyObject *slice = Py_BuildValue("(nnn)", v->start, v->step, v->len);
    if (slice == NULL) {
        return NULL;
    }
    PyObject *r = frost__reduce_ref((FrostView *)self, frost_ref_from_node(v->seq), slice);
    Py_DECREF(slice);
    return r;
}

static PyMethodDef list_methods[] = {
    {"index", (PyCFunction)(void (*)(void))list_index, METH_FASTCALL,
     "index($self, value, start=0, stop=sys.maxsize, /)\n--\n\nFirst index of value; ValueError if absent."},
    {"count", list_count, METH_O, "Number of occurrences of value."},
    {"copy", frost__copy_to_list, METH_NOARGS, FROST_COPY_DOC("list")},
    {"__reversed__", list_reversed, METH_NOARGS, "A reverse iterator."},
    {"__reduce__", list_reduce, METH_NOARGS, "Pickle by reference to the same arena node."},
    {"__dlpack__", (PyCFunction)(void (*)(void))frost__list_dlpack, METH_VARARGS | METH_KEYWORDS,
     FROST_DLPACK_DOC " Packed lists only."},
    {"__dlpack_device__", frost__dlpack_device, METH_NOARGS, "(1, 0): CPU memory."},
    FROST_CLASS_GETITEM,
    {NULL, NULL, 0, NULL},
};

static PyType_Slot list_slots[] = {
    {Py_tp_doc, "FrozenList: a read-only sequence over a frozen list.\n\n"
                "Slicing gives a FrozenList view; packed int/float lists export a buffer."},
    {Py_tp_dealloc, list_dealloc},
    {Py_tp_repr, list_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_iter, list_iter},
    {Py_tp_richcompare, list_richcompare},
    {Py_tp_methods, list_methods},
    {Py_sq_length, list_length},
    {Py_sq_item, list_sq_item},
    {Py_sq_contains, list_contains},
    {Py_mp_length, list_length},
    {Py_mp_subscript, list_subscript},
    {Py_mp_ass_subscript, frost__readonly_ass},
    {Py_bf_getbuffer, list_getbuffer},
    {Py_nb_add, list_add},
    {Py_nb_inplace_add, list_inplace_add},
    {Py_nb_inplace_multiply, list_inplace_repeat},
    {Py_sq_repeat, list_repeat},
    {0, NULL},
};

PyType_Spec FrostList_spec = {
    .name = "frost.FrozenList",
    .basicsize = sizeof(FrostListView),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_SEQUENCE,
    .slots = list_slots,
};
