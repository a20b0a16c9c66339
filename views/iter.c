/*
 * iter.c -- the iterator of every view: over a table node (keys, values or
 * items, first to last or, for reversed(), last to first), a set node (items
 * in insertion order) or over a sequence node (with a start and a step, for
 * slices). Position pos of any of them is entry or item start + pos*step.
 *
 * Reuse (reuse.h, where the rules are): the iterator keeps its last two
 * results and rewrites the one of this turn for the next result once no one
 * else holds it: (key, value) pairs, packed lists' ints and floats, and a
 * scoped store's copies (strs, ints, floats, rows of them and their items).
 *
 * Two types share this struct and everything but tp_iternext: a process
 * store's list or tuple node of references (FrostRefsIter_spec, the common
 * `for x in frozen_list`) steps through its references with no dispatch, as
 * CPython's own list iterator does; every other iteration goes through
 * iter_next. They look alike to Python: the same name, methods and results.
 */
#include "views.h"

typedef struct {
    PyObject_HEAD
    FrostLease *lease;              /* strong */
    const frost_table_t *table;     /* table iteration, or NULL */
    const frost_set_t *set;         /* set iteration, or NULL */
    const frost_seq_t *seq;         /* sequence iteration, or NULL */
    const frost_ref_t *refs;        /* a FrostRefsIter_spec's: &seq->items.refs[start] */
    frost_iter_mode_t mode;
    Py_ssize_t start, step;         /* position i is entry/item start + i*step */
    Py_ssize_t pos, len;            /* next position, number of positions */
    frost_reuse_t pairs;            /* items: (key, value) tuples this iterator made */
    frost_reuse_t results;          /* other results this iterator made (reuse.h) */
} FrostIter;

static FrostIter *
iter_alloc_typed(FrostLease *lease, PyTypeObject *type)
{
    FrostIter *it = PyObject_New(FrostIter, type);
    if (it == NULL) {
        return NULL;
    }
    it->lease = (FrostLease *)Py_NewRef(lease);
    it->table = NULL;
    it->set = NULL;
    it->seq = NULL;
    it->refs = NULL;
    it->mode = FROST_ITER_KEYS;
    it->start = 0;
    it->step = 1;
    it->pos = 0;
    it->len = 0;
    frost__reuse_init(&it->pairs);
    frost__reuse_init(&it->results);
    return it;
}

static FrostIter *
iter_alloc(FrostLease *lease)
{
    return iter_alloc_typed(lease, lease->st->iter_type);
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
    int refs = lease->process && (s->hdr.kind == FROST_NODE_TUPLE || s->hdr.flags == FROST_SEQ_REFS);
    FrostIter *it = iter_alloc_typed(lease, refs ? lease->st->refs_iter_type : lease->st->iter_type);
    if (it != NULL) {
        it->seq = s;
        it->refs = refs && len > 0 ? &s->items.refs[start] : NULL;   /* (an empty slice's start may be -1) */
        it->start = start;
        it->step = step;
        it->len = len;
    }
    return (PyObject *)it;
}

/* Item i of a reusable pair when it may be weakly referenced (a set, record
 * or array view), a new reference kept while the pair is rewritten, else
 * NULL: its weak references' callbacks, Python code, run once the pair is
 * whole. (The scoped path cannot hand both old items to frost__pair_replace
 * as the process path does: frost__row_put rewrites a plain item in place,
 * which a reference kept here would forbid.) */
static inline PyObject *
keep_weakly_referenced(PyObject *pair, Py_ssize_t i)
{
    PyObject *item = PyTuple_GET_ITEM(pair, i);
    return Py_TYPE(item)->tp_weaklistoffset != 0 ? Py_NewRef(item) : NULL;
}

/* The next (key, value) pair: an earlier tuple again, its items rewritten
 * where reuse.h allows, when the caller has let go of it (`for k, v in
 * d.items()`, `for kv in d.items()`), else a new one. As dict.items()'s
 * iterator does, the pair is ours (a reference taken) before its items are
 * replaced, and an old item whose going may run Python code (the callback of
 * a weak reference to a view) goes once the pair is whole: the callback
 * never sees a half-written pair, and a next() from it makes a new pair
 * rather than rewriting this one. */
static Py_NO_INLINE PyObject *
next_pair(FrostIter *it, Py_ssize_t i)
{
    frost_ref_t key = it->table->entries[i].key, value = frost_table_value(it->table, i);
    PyObject **slot = frost__reuse_slot(&it->pairs);
    PyObject *pair = *slot;
    if (frost__row_reusable(pair, 2) && !it->lease->process) {   /* scoped: copies rewritten */
        Py_INCREF(pair);
        PyObject *old_k = keep_weakly_referenced(pair, 0), *old_v = keep_weakly_referenced(pair, 1);
        int rc = frost__row_put(it->lease, pair, 0, key) < 0
                 || frost__row_put(it->lease, pair, 1, value) < 0 ? -1 : 0;
        Py_XDECREF(old_k);
        Py_XDECREF(old_v);
        if (rc < 0) {
            Py_DECREF(pair);   /* (the slot still holds it) */
            return NULL;
        }
        return pair;
    }
    PyObject *k = frost__load_fast(it->lease, key);
    PyObject *v = k ? frost__load_fast(it->lease, value) : NULL;
    if (v != NULL && frost__row_reusable(pair, 2)) {   /* process: the arena's own objects */
        Py_INCREF(pair);
        frost__pair_replace(pair, k, v);
        return pair;
    }
    pair = v ? PyTuple_New(2) : NULL;
    if (pair == NULL) {
        Py_XDECREF(k);
        Py_XDECREF(v);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, k);
    PyTuple_SET_ITEM(pair, 1, v);
    return frost__reuse_put(slot, pair);
}


/* position i of a table or set iteration */
static inline PyObject *
iter_next_entry(FrostIter *it, Py_ssize_t i)
{
    if (it->set != NULL) {
        return frost__load_fast(it->lease, frost_set_item(it->set, i));
    }
    switch (it->mode) {
    case FROST_ITER_KEYS:
        return frost__load_reusing(it->lease, it->table->entries[i].key, &it->results);
    case FROST_ITER_VALUES:
        return frost__load_reusing(it->lease, frost_table_value(it->table, i), &it->results);
    case FROST_ITER_ITEMS:
        return next_pair(it, i);
    }
    return NULL;
}

/* Every path ends in a return or a tail call (next_pair, the boxes' and
 * copies' slow paths are out of line), so the hot ones (a list, keys or
 * values of a process store) need no stack frame. */
static PyObject *
iter_next(PyObject *self)
{
    FrostIter *it = (FrostIter *)self;
    if (it->pos >= it->len) {
        return NULL;
    }
    Py_ssize_t i = it->start + it->pos++ * it->step;
    if (it->seq == NULL) {
        return iter_next_entry(it, i);
    }
    return frost__seq_item_reusing(it->lease, it->seq, i, &it->results);
}

/* iter_next for a process store's references (the second type, above): a
 * plain item is the arena's immortal object itself. */
static PyObject *
iter_next_refs(PyObject *self)
{
    FrostIter *it = (FrostIter *)self;
    if (it->pos >= it->len) {
        return NULL;
    }
    Py_ssize_t i = it->pos++;
    frost_ref_t ref = it->refs[i * it->step];
    if (frost_ref_is_node(ref)) {
        return frost__load(it->lease, ref);
    }
    return frost__process_object(ref);
}

/* __reversed__ of a FrozenDict and of its keys, values and items views: their
 * own iterator (none of those types can be subclassed) turned to run from the
 * last entry to the first, as dict's reverse iterators do. */
PyObject *
frost__reversed_items(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostIter *it = (FrostIter *)PyObject_GetIter(self);
    if (it != NULL) {
        assert(it->table != NULL && it->pos == 0);
        it->start = it->len - 1;
        it->step = -1;
    }
    return (PyObject *)it;
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
    frost__reuse_clear(&((FrostIter *)self)->pairs);
    frost__reuse_clear(&((FrostIter *)self)->results);
    Py_CLEAR(((FrostIter *)self)->lease);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef iter_methods[] = {
    {"__length_hint__", iter_length_hint, METH_NOARGS, NULL},
    FROST_NO_PICKLE_METHOD,
    {NULL, NULL, 0, NULL},
};

/* The two iterator types: the same slots and spec but for tp_iternext (top). */
#define ITER_SLOTS(next)                                                          \
    {{Py_tp_dealloc, iter_dealloc}, {Py_tp_iter, PyObject_SelfIter},             \
     {Py_tp_iternext, (next)}, {Py_tp_methods, iter_methods}, {0, NULL}}
#define ITER_SPEC(slot_table)                                                     \
    {.name = "frost._frost.iterator", .basicsize = sizeof(FrostIter),             \
     .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, \
     .slots = (slot_table)}

static PyType_Slot iter_slots[] = ITER_SLOTS(iter_next);
static PyType_Slot refs_iter_slots[] = ITER_SLOTS(iter_next_refs);
PyType_Spec FrostIter_spec = ITER_SPEC(iter_slots);
PyType_Spec FrostRefsIter_spec = ITER_SPEC(refs_iter_slots);

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
