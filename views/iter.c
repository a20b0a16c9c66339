/*
 * iter.c -- the iterator of every view: over a table node (keys, values or
 * items), a set node (items in insertion order) or over a sequence node (with a start and a step, for slices).
 *
 * Reuse, as CPython's own iterators do with their result tuples: an object
 * the iterator made and that no one else holds any more (refcount 1, ours)
 * can carry the next result instead of a new allocation. Items iteration
 * reuses up to two (key, value) pairs and packed lists up to two int/float
 * boxes (two: a `for x in ...` loop still holds the previous item in `x`
 * when it asks for the next). A box is written only while its refcount is 1, so no
 * one can see it change; ints in CPython's small-int range are never boxed.
 */
#include "views.h"

typedef struct {
    PyObject_HEAD
    FrostLease *lease;              /* strong */
    const frost_table_t *table;     /* table iteration, or NULL */
    const frost_set_t *set;         /* set iteration, or NULL */
    const frost_seq_t *seq;         /* sequence iteration, or NULL */
    frost_iter_mode_t mode;
    Py_ssize_t start, step;         /* sequence: item i is seq[start + i*step] */
    Py_ssize_t pos, len;            /* next position, number of positions */
    PyObject *pair[2];              /* items: (key, value) tuples this iterator made */
    PyObject *box[2];               /* packed lists: ints/floats this iterator made */
} FrostIter;

static FrostIter *
iter_alloc(FrostLease *lease)
{
    FrostIter *it = PyObject_New(FrostIter, lease->st->iter_type);
    if (it == NULL) {
        return NULL;
    }
    it->lease = (FrostLease *)Py_NewRef(lease);
    it->table = NULL;
    it->set = NULL;
    it->seq = NULL;
    it->mode = FROST_ITER_KEYS;
    it->start = 0;
    it->step = 1;
    it->pos = 0;
    it->len = 0;
    it->pair[0] = it->pair[1] = NULL;
    it->box[0] = it->box[1] = NULL;
    return it;
}

PyObject *
frost__table_iter_new(FrostLease *lease, const frost_table_t *t, frost_iter_mode_t mode)
{
    FrostIter *it = iter_alloc(lease);
    if (it != NULL) {
        it->table = t;
        it->mode = mode;
        it->len = t->len;
    }
    return (PyObject *)it;
}

PyObject *
frost__set_iter_new(FrostLease *lease, const frost_set_t *s)
{
    FrostIter *it = iter_alloc(lease);
    if (it != NULL) {
        it->set = s;
        it->len = s->len;
    }
    return (PyObject *)it;
}

PyObject *
frost__seq_iter_new(FrostLease *lease, const frost_seq_t *s, Py_ssize_t start, Py_ssize_t step,
                    Py_ssize_t len)
{
    FrostIter *it = iter_alloc(lease);
    if (it != NULL) {
        it->seq = s;
        it->start = start;
        it->step = step;
        it->len = len;
    }
    return (PyObject *)it;
}

/* The next (key, value) pair: an earlier tuple again when the caller has let
 * go of it (`for k, v in d.items()`, `for kv in d.items()`), else a new one. */
static PyObject *
next_pair(FrostIter *it, Py_ssize_t i)
{
    PyObject *k = frost__load_fast(it->lease, it->table->entries[i].key);
    PyObject *v = k ? frost__load_fast(it->lease, frost_table_value(it->table, i)) : NULL;
    if (v == NULL) {
        Py_XDECREF(k);
        return NULL;
    }
    PyObject *pair = frost__free_slot(it->pair);
    if (pair != NULL) {
        PyObject *old_k = PyTuple_GET_ITEM(pair, 0), *old_v = PyTuple_GET_ITEM(pair, 1);
        PyTuple_SET_ITEM(pair, 0, k);
        PyTuple_SET_ITEM(pair, 1, v);
        Py_DECREF(old_k);
        Py_DECREF(old_v);
        if (!PyObject_GC_IsTracked(pair)) {
            PyObject_GC_Track(pair);   /* the collector may have untracked it */
        }
        return Py_NewRef(pair);
    }
    pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(k);
        Py_DECREF(v);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, k);
    PyTuple_SET_ITEM(pair, 1, v);
    return frost__keep(it->pair, pair);
}


static PyObject *
iter_next(PyObject *self)
{
    FrostIter *it = (FrostIter *)self;
    if (it->pos >= it->len) {
        return NULL;
    }
    Py_ssize_t i = it->pos++;
    if (it->seq != NULL) {
        Py_ssize_t at = it->start + i * it->step;
        switch (it->seq->hdr.flags) {
        case FROST_SEQ_INT64:
            return frost__boxed_int(it->box, it->seq->items.i64[at]);
        case FROST_SEQ_FLOAT64:
            return frost__boxed_float(it->box, it->seq->items.f64[at]);
        default:
            return frost__load_fast(it->lease, it->seq->items.refs[at]);
        }
    }
    if (it->set != NULL) {
        return frost__load_fast(it->lease, frost_set_item(it->set, i));
    }
    switch (it->mode) {
    case FROST_ITER_KEYS:
        return frost__load_fast(it->lease, it->table->entries[i].key);
    case FROST_ITER_VALUES:
        return frost__load_fast(it->lease, frost_table_value(it->table, i));
    case FROST_ITER_ITEMS:
        return next_pair(it, i);
    }
    return NULL;
}

static PyObject *
iter_length_hint(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostIter *it = (FrostIter *)self;
    return PyLong_FromSsize_t(it->len - it->pos);
}

static void
iter_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(((FrostIter *)self)->pair[0]);
    Py_CLEAR(((FrostIter *)self)->pair[1]);
    Py_CLEAR(((FrostIter *)self)->box[0]);
    Py_CLEAR(((FrostIter *)self)->box[1]);
    Py_CLEAR(((FrostIter *)self)->lease);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef iter_methods[] = {
    {"__length_hint__", iter_length_hint, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot iter_slots[] = {
    {Py_tp_dealloc, iter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, iter_next},
    {Py_tp_methods, iter_methods},
    {0, NULL},
};

PyType_Spec FrostIter_spec = {
    .name = "frost._frost.iterator",
    .basicsize = sizeof(FrostIter),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = iter_slots,
};

int
frost__check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max)
{
    if (nargs >= min && nargs <= max) {
        return 0;
    }
    if (min == max) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd argument%s (%zd given)", name, min,
                     min == 1 ? "" : "s", nargs);
    }
    else if (nargs < min) {
        PyErr_Format(PyExc_TypeError, "%s() takes at least %zd argument%s (%zd given)", name, min,
                     min == 1 ? "" : "s", nargs);
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd argument%s (%zd given)", name, max,
                     max == 1 ? "" : "s", nargs);
    }
    return -1;
}
