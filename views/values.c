/*
 * values.c -- turning arena references into Python values, per lifetime,
 * and the pieces every view type shares (dealloc, GC, read-only errors).
 *
 * The rule that keeps scoped stores safe to free: in a scoped store no raw
 * arena object ever reaches code we do not control. Plain values are copied
 * out; comparisons that could run user code (a query of a user type, a tuple
 * holding one) get a local copy of the arena side first.
 *
 * A NaN (float, or complex with a NaN part) equals only itself, so a dict
 * finds a NaN key by identity alone. A scoped store therefore copies each
 * arena NaN once per lease (Lease.nan_copies) and hands out that same copy
 * every time: the keys a view yields stay `in` it, as in a dict. A NaN key
 * hashes by its arena object's identity (frost__key_hash), so a lookup maps
 * each copy back to its arena NaN (Lease.nan_origins).
 */
#include "views.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

static int
is_process(FrostLease *lease)
{
    return lease->process;
}

/* A local copy of an arena str: same kind, same characters, same hash. */
static PyObject *
copy_str(PyObject *o)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(o);
    int kind = PyUnicode_KIND(o);
    if (n <= 1) {   /* '' and one Latin-1 character: CPython's shared singletons */
        return PyUnicode_FromKindAndData(kind, PyUnicode_DATA(o), n);
    }
    /* arena strs are canonical (the narrowest kind that holds them), so the
     * widest character the kind allows gives the same kind back */
    Py_UCS4 maxchar = PyUnicode_IS_ASCII(o) ? 0x7f
                      : kind == PyUnicode_1BYTE_KIND ? 0xff
                      : kind == PyUnicode_2BYTE_KIND ? 0xffff : 0x10ffff;
    PyObject *s = PyUnicode_New(n, maxchar);
    if (s != NULL) {
        frost__copy_bytes(PyUnicode_DATA(s), PyUnicode_DATA(o), (size_t)n * (size_t)kind);
        ((PyASCIIObject *)s)->hash = ((PyASCIIObject *)o)->hash;   /* a fresh local str */
    }
    return s;
}

static int
is_nan_number(PyObject *o)
{
    if (Py_TYPE(o) == &PyFloat_Type) {
        return isnan(PyFloat_AS_DOUBLE(o));
    }
    Py_complex c = ((PyComplexObject *)o)->cval;   /* only called for complex otherwise */
    return isnan(c.real) || isnan(c.imag);
}

/* The lease's one local copy of arena NaN `o` (see the top of this file). */
static PyObject *
nan_copy(FrostLease *lease, PyObject *o)
{
    if (lease->nan_copies == NULL && (lease->nan_copies = PyDict_New()) == NULL) {
        return NULL;
    }
    PyObject *key = PyLong_FromVoidPtr(o);
    if (key == NULL) {
        return NULL;
    }
    PyObject *copy = PyDict_GetItemWithError(lease->nan_copies, key);   /* borrowed */
    if (copy != NULL || PyErr_Occurred()) {
        Py_DECREF(key);
        return Py_XNewRef(copy);
    }
    copy = Py_TYPE(o) == &PyFloat_Type ? PyFloat_FromDouble(PyFloat_AS_DOUBLE(o))
                                       : PyComplex_FromCComplex(((PyComplexObject *)o)->cval);
    PyObject *id = copy ? PyLong_FromVoidPtr(copy) : NULL;
    /* on failure an origin may stay behind for a freed copy's id: harmless, a
     * NaN reusing that address then hashes as that arena NaN, and equals it not */
    if (id == NULL || (lease->nan_origins == NULL && (lease->nan_origins = PyDict_New()) == NULL)
        || PyDict_SetItem(lease->nan_origins, id, key) < 0 || PyDict_SetItem(lease->nan_copies, key, copy) < 0) {
        Py_CLEAR(copy);
    }
    Py_XDECREF(id);
    Py_DECREF(key);
    return copy;
}

/* The arena NaN that query NaN `nan` stands for (a frost_nan_identity_fn):
 * the lease's copy of one maps back to it; any other NaN is itself (it
 * equals no key, and its own address finds none). NULL: an error. */
static const void *
nan_origin(PyObject *nan, void *ctx)
{
    FrostLease *lease = ctx;
    if (lease->nan_origins == NULL) {
        return nan;
    }
    PyObject *id = PyLong_FromVoidPtr(nan);
    if (id == NULL) {
        return NULL;
    }
    PyObject *origin = PyDict_GetItemWithError(lease->nan_origins, id);   /* borrowed */
    Py_DECREF(id);
    if (origin == NULL) {
        return PyErr_Occurred() ? NULL : nan;
    }
    return PyLong_AsVoidPtr(origin);
}

/* A local copy of arena object `o`; `lease` (or NULL) keeps NaNs stable. */
static PyObject *
copy_plain(FrostLease *lease, PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (lease != NULL && (tp == &PyFloat_Type || tp == &PyComplex_Type) && is_nan_number(o)) {
        return nan_copy(lease, o);
    }
    if (tp == &PyUnicode_Type) {
        return copy_str(o);
    }
    if (tp == &PyLong_Type) {
        if (PyUnstable_Long_IsCompact((PyLongObject *)o)) {
            return PyLong_FromSsize_t(PyUnstable_Long_CompactValue((PyLongObject *)o));
        }
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (!overflow) {
            return PyLong_FromLongLong(v);
        }
        return _PyLong_Copy((PyLongObject *)o);
    }
    if (tp == &PyFloat_Type) {
        return PyFloat_FromDouble(PyFloat_AS_DOUBLE(o));
    }
    if (tp == &PyComplex_Type) {
        return PyComplex_FromCComplex(((PyComplexObject *)o)->cval);
    }
    if (tp == &PyBytes_Type) {
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    }
    if (tp == &PyTuple_Type) {
        Py_ssize_t n = PyTuple_GET_SIZE(o);
        if (n == 0) {
            return Py_NewRef(o);
        }
        if (Py_EnterRecursiveCall(" while copying a frozen tuple")) {
            return NULL;
        }
        PyObject *t = PyTuple_New(n);
        for (Py_ssize_t i = 0; t != NULL && i < n; i++) {
            PyObject *item = copy_plain(lease, PyTuple_GET_ITEM(o, i));
            if (item == NULL) {
                Py_CLEAR(t);
                break;
            }
            PyTuple_SET_ITEM(t, i, item);
        }
        Py_LeaveRecursiveCall();
        return t;
    }
    /* None, True, False, Ellipsis: CPython's static singletons */
    return Py_NewRef(o);
}

PyObject *
frost__copy_plain(PyObject *o)
{
    return copy_plain(NULL, o);
}

/* Local copy `mine` (made by copy_plain) given the value of arena leaf `o`
 * in place: 1 done, 0 not allowed (reuse.h decides; a NaN never: it is the
 * Lease's one copy). */
static inline int
rewrite_leaf(PyObject *mine, PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (!frost__ours_alone(mine) || Py_TYPE(mine) != tp) {
        return 0;
    }
    if (tp == &PyUnicode_Type) {
        return frost__rewrite_str(mine, o);
    }
    if (tp == &PyLong_Type) {
        if (PyUnstable_Long_IsCompact((PyLongObject *)o)) {
            return frost__rewrite_int(mine, PyUnstable_Long_CompactValue((PyLongObject *)o));
        }
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);   /* no error: an exact int */
        return !overflow && frost__rewrite_int(mine, v);
    }
    if (tp == &PyFloat_Type) {
        double v = PyFloat_AS_DOUBLE(o);
        return !isnan(v) && frost__rewrite_float(mine, v);
    }
    return 0;
}

/* Item i of reusable row `row` given the value of arena leaf `o`: 0, -1 error */
static inline int
row_put_leaf(FrostLease *lease, PyObject *row, Py_ssize_t i, PyObject *o)
{
    PyObject *old = PyTuple_GET_ITEM(row, i);
    if (old == o || rewrite_leaf(old, o)) {   /* (old == o: a singleton, None, True, ...) */
        return 0;
    }
    PyObject *fresh = copy_plain(lease, o);
    if (fresh == NULL) {
        return -1;
    }
    frost__row_replace(row, i, fresh);
    return 0;
}

int
frost__row_put(FrostLease *lease, PyObject *row, Py_ssize_t i, frost_ref_t ref)
{
    if (!frost_ref_is_node(ref) && !lease->process) {
        return row_put_leaf(lease, row, i, frost_ref_object(ref));
    }
    PyObject *fresh = frost__load_fast(lease, ref);
    if (fresh == NULL) {
        return -1;
    }
    frost__row_replace(row, i, fresh);
    return 0;
}

PyObject *
frost__copy_reusing(FrostLease *lease, PyObject *o, frost_reuse_t *slots)
{
    PyObject **slot = frost__reuse_slot(slots);
    PyObject *mine = *slot;
    if (frost__ours_alone(mine) && Py_TYPE(mine) == Py_TYPE(o)) {
        if (Py_TYPE(o) != &PyTuple_Type) {
            if (rewrite_leaf(mine, o)) {
                return Py_NewRef(mine);
            }
        }
        else if (frost__row_reusable(mine, PyTuple_GET_SIZE(o))) {
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(o); i++) {
                if (row_put_leaf(lease, mine, i, PyTuple_GET_ITEM(o, i)) < 0) {
                    return NULL;
                }
            }
            return frost__row_again(mine);
        }
    }
    return frost__reuse_put(slot, copy_plain(lease, o));
}

PyObject *
frost__new_view(FrostLease *lease, const frost_node_t *node)
{
    frost_state *st = lease->st;
    PyTypeObject *tp;
    switch (node->kind) {
    case FROST_NODE_LIST: {
        const frost_seq_t *s = (const frost_seq_t *)node;
        return frost__list_view_new(lease, s, 0, 1, s->len);
    }
    case FROST_NODE_ARRAY: {
        const frost_array_t *a = (const frost_array_t *)node;
        return frost__array_view_new(lease, a, a->data, a->ndim, a->shape, a->strides);
    }
    case FROST_NODE_TUPLE: {
        const frost_seq_t *s = (const frost_seq_t *)node;
        if (Py_EnterRecursiveCall(" while reading a frozen tuple")) {
            return NULL;
        }
        PyObject *t = PyTuple_New(s->len);
        for (Py_ssize_t i = 0; t != NULL && i < s->len; i++) {
            PyObject *item = frost__load(lease, s->items.refs[i]);
            if (item == NULL) {
                Py_CLEAR(t);
                break;
            }
            PyTuple_SET_ITEM(t, i, item);
        }
        Py_LeaveRecursiveCall();
        return t;
    }
    case FROST_NODE_COLUMNS:
        return frost__table_view_new(lease, node);
    case FROST_NODE_DICT:
        tp = st->dict_type;
        break;
    case FROST_NODE_SET:
        tp = st->set_type;
        break;
    case FROST_NODE_RECORD:
        return frost__record_view_new(lease, (const frost_record_t *)node);
    default:
        PyErr_Format(PyExc_SystemError, "frost: unknown node kind %u", node->kind);
        return NULL;
    }
    FrostView *v = PyObject_New(FrostView, tp);
    if (v == NULL) {
        return NULL;
    }
    v->lease = (FrostLease *)Py_NewRef(lease);
    if (node->kind == FROST_NODE_SET) {
        ((FrostSetView *)v)->set = (const frost_set_t *)node;
        ((FrostSetView *)v)->hash = -1;
        ((FrostSetView *)v)->weaklist = NULL;
    }
    else {
        ((FrostDictView *)v)->table = (const frost_table_t *)node;
        frost__reuse_init(&((FrostDictView *)v)->results);
    }
    return (PyObject *)v;
}

PyObject *
frost__load(FrostLease *lease, frost_ref_t ref)
{
    if (frost_ref_is_node(ref)) {
        return frost__new_view(lease, frost_ref_node(ref));
    }
    PyObject *o = frost_ref_object(ref);
    if (is_process(lease)) {
        return Py_NewRef(o);   /* immortal: no write */
    }
    return copy_plain(lease, o);
}

int
frost__compare_key(PyObject *arena_key, PyObject *key, void *ctx)
{
    FrostLease *lease = ctx;
    if (is_process(lease)) {
        return PyObject_RichCompareBool(arena_key, key, Py_EQ);
    }
    PyObject *copy = copy_plain(lease, arena_key);
    if (copy == NULL) {
        return -1;
    }
    int eq = PyObject_RichCompareBool(copy, key, Py_EQ);
    Py_DECREF(copy);
    return eq;
}

/*
 * Format-1 tables store `...` under a fixed hash (nodes.c ELLIPSIS_HASH: its
 * CPython hash is an address), so a tuple key holding one lies where Python's
 * hash of it does not lead. A query a dict would find there -- an object of
 * another type whose own __hash__ is the tuple's and whose own == says equal --
 * misses it in the probe; after such a miss the tuple keys holding a `...`
 * whose Python hash is the query's are compared with it. n keys, key_at(t, i)
 * the i-th (borrowed; NULL: none there). Its index, -1, or -2 with an error.
 */
Py_ssize_t
frost__rescan_ellipsis_keys(FrostLease *lease, PyObject *query, const void *t, Py_ssize_t n,
                            PyObject *(*key_at)(const void *t, Py_ssize_t i))
{
    PyTypeObject *tp = Py_TYPE(query);
    if (PyTuple_Check(query) || PyUnicode_Check(query) || PyBytes_Check(query) || PyLong_Check(query)
        || PyFloat_Check(query) || PyComplex_Check(query) || query == Py_None || query == Py_Ellipsis
        || tp->tp_richcompare == PyBaseObject_Type.tp_richcompare) {
        return -1;   /* hashed as the tables hash (frost__key_hash), or equal only to itself */
    }
    Py_hash_t h = PyObject_Hash(query);
    if (h == -1) {
        return -2;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = key_at(t, i);
        if (key == NULL || !frost__tuple_key_holds_ellipsis(key)) {
            continue;
        }
        Py_hash_t kh = PyObject_Hash(key);   /* (an arena tuple caches nothing: a pure read) */
        int eq = kh == -1 ? -1 : kh == h ? frost__compare_key(key, query, lease) : 0;
        if (eq != 0) {
            return eq > 0 ? i : -2;
        }
    }
    return -1;
}

int
frost__item_equal(FrostLease *lease, frost_ref_t ref, PyObject *other)
{
    if (!frost_ref_is_node(ref)) {
        PyObject *o = frost_ref_object(ref);
        int eq = frost__fast_equal(o, other);
        if (eq >= 0) {
            return eq;
        }
        return frost__compare_key(o, other, lease);
    }
    PyObject *item = frost__load(lease, ref);
    if (item == NULL) {
        return -1;
    }
    int eq = PyObject_RichCompareBool(item, other, Py_EQ);
    Py_DECREF(item);
    return eq;
}

Py_hash_t
frost__hash_for_lookup(FrostLease *lease, PyObject *key)
{
    if (Py_TYPE(key) == &PyUnicode_Type) {
        Py_hash_t h = ((PyASCIIObject *)key)->hash;
        if (h != -1) {
            return h;
        }
    }
    Py_hash_t h;   /* the hash tables store: see frost__key_hash */
    return frost__key_hash_as(key, 0, is_process(lease) ? NULL : nan_origin, lease, &h) < 0 ? -1 : h;
}

PyObject *
frost__readonly_error(PyObject *self)
{
    PyErr_Format(PyExc_TypeError, "'%.200s' object is read-only", Py_TYPE(self)->tp_name);
    return NULL;
}

int
frost__readonly_ass(PyObject *self, PyObject *Py_UNUSED(key), PyObject *Py_UNUSED(value))
{
    frost__readonly_error(self);
    return -1;
}

PyObject *
frost__readonly_inplace(PyObject *self, const char *op, const char *operand, const char *made)
{
    PyErr_Format(PyExc_TypeError, "'%.200s' object is read-only: `x %s= %s` cannot change it; "
                 "`x = x %s %s` makes a new %s", Py_TYPE(self)->tp_name, op, operand, op, operand, made);
    return NULL;
}

PyObject *
frost__no_pickle(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyErr_Format(PyExc_TypeError, "cannot pickle '%.200s' object", Py_TYPE(self)->tp_name);
    return NULL;
}

PyObject *
frost__list_view_add(frost_state *st, PyObject *a, PyObject *b, int a_view, int b_view)
{
    PyObject *other = a_view ? b : a;
    int other_view = (a_view && b_view) || frost__is_list_view(st, other);
    if (!other_view && !PyList_Check(other) && !PyTuple_Check(other)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (a_view && !other_view && PyList_Check(b) && !PyList_CheckExact(b)) {
        /* view + a list subclass: as list + it, where its own __radd__ answers first */
        PyObject *mine = PySequence_List(a);
        PyObject *r = mine ? PyNumber_Add(mine, b) : NULL;
        Py_XDECREF(mine);
        return r;
    }
    if (!a_view && PyTuple_Check(a)) {   /* tuple + view -> tuple */
        PyObject *tail = PySequence_Tuple(b);
        PyObject *r = tail ? PySequence_Concat(a, tail) : NULL;
        Py_XDECREF(tail);
        return r;
    }
    PyObject *result = PySequence_List(a);   /* a new list, even when a is one */
    if (result != NULL && PyList_SetSlice(result, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, b) < 0) {
        Py_CLEAR(result);
    }
    return result;
}

PyObject *
frost__list_view_repeat(PyObject *self, Py_ssize_t len, Py_ssize_t n)
{
    if (n <= 0) {
        return PyList_New(0);
    }
    if (len > PY_SSIZE_T_MAX / n) {
        return PyErr_NoMemory();
    }
    PyObject *items = PySequence_List(self);
    PyObject *r = items ? PySequence_Repeat(items, n) : NULL;
    Py_XDECREF(items);
    return r;
}

PyObject *
frost__set_delegate(PyObject *self, const char *name, PyObject *args)
{
    PyObject *mine = PyFrozenSet_New(self);
    PyObject *meth = mine ? PyObject_GetAttrString(mine, name) : NULL;
    PyObject *r = meth ? PyObject_Call(meth, args, NULL) : NULL;
    Py_XDECREF(mine);
    Py_XDECREF(meth);
    return r;
}

static PyObject *
comparable_mapping(PyObject *self, PyObject *other)
{
    if (PyDict_Check(other) || Py_TYPE(other) == Py_TYPE(self)) {
        return Py_NewRef(other);
    }
    PyObject *d = PyDict_New();
    if (d != NULL && frost__dict_merge_items(d, other) < 0) {
        Py_CLEAR(d);
    }
    return d;
}

int
frost__dict_merge_items(PyObject *into, PyObject *mapping)
{
    PyObject *items = PyObject_CallMethod(mapping, "items", NULL);
    PyObject *it = items ? PyObject_GetIter(items) : NULL;
    int rc = it ? PyDict_MergeFromSeq2(into, it, 1) : -1;
    Py_XDECREF(it);
    Py_XDECREF(items);
    return rc;
}

/* The pair whose subclass is answering now, on this thread: a subclass method that hands
 * the comparison back (`return other.__eq__(self)`) gets the view's own answer, as the
 * builtin's compare gives it (which calls no reflected method from inside its slot),
 * instead of asking the subclass again until RecursionError. */
static _Thread_local struct {
    PyObject *self, *other;
} answering;

int
frost__subclass_compares_first(PyObject *self, PyObject *other, int op, PyTypeObject *builtin,
                               PyObject **answer)
{
    PyTypeObject *tp = Py_TYPE(other);
    if (tp == builtin || tp->tp_richcompare == builtin->tp_richcompare
        || tp->tp_richcompare == NULL || !PyType_IsSubtype(tp, builtin)
        || (answering.self == self && answering.other == other)) {
        return 0;   /* the builtin's own compare takes no view anyway */
    }
    static const int swapped[] = {[Py_LT] = Py_GT, [Py_LE] = Py_GE, [Py_EQ] = Py_EQ,
                                  [Py_NE] = Py_NE, [Py_GT] = Py_LT, [Py_GE] = Py_LE};
    PyObject *outer_self = answering.self, *outer_other = answering.other;
    answering.self = self;
    answering.other = other;
    PyObject *r = tp->tp_richcompare(other, self, swapped[op]);
    answering.self = outer_self;
    answering.other = outer_other;
    if (r == Py_NotImplemented) {
        Py_DECREF(r);
        return 0;
    }
    *answer = r;
    return 1;
}

PyObject *
frost__richcompare_as_list(PyObject *self, PyObject *other, int op,
                           PyObject *(*cmp)(PyObject *self, PyObject *other, int op))
{
    PyObject *items = PySequence_List(other);
    PyObject *r = items ? cmp(self, items, op) : NULL;
    Py_XDECREF(items);
    return r;
}

int
frost__mapping_equal(PyObject *self, PyObject *other, int (*equal_to)(PyObject *self, PyObject *m))
{
    PyObject *mapping = frost__stack_check() < 0 ? NULL : comparable_mapping(self, other);
    int eq = mapping ? equal_to(self, mapping) : -1;
    Py_XDECREF(mapping);
    return eq;
}

PyObject *
frost__mapping_value(PyObject *mapping, PyObject *key)
{
    if (PyDict_Check(mapping)) {
        return Py_XNewRef(PyDict_GetItemWithError(mapping, key));
    }
    PyObject *value = PyObject_GetItem(mapping, key);   /* a view of self's type */
    if (value == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
    }
    return value;
}

int
frost__records_equal(PyObject *a, PyObject *b)
{
    PyObject *pa[3], *pb[3];   /* module, qualname, state */
    int kind;
    if (frost__record_parts(a, &pa[0], &pa[1], &kind, &pa[2]) < 0) {
        return -1;
    }
    if (frost__record_parts(b, &pb[0], &pb[1], &kind, &pb[2]) < 0) {
        for (int i = 0; i < 3; i++) {
            Py_DECREF(pa[i]);
        }
        return -1;
    }
    int eq = 1;
    for (int i = 0; i < 3 && eq > 0; i++) {
        eq = PyObject_RichCompareBool(pa[i], pb[i], Py_EQ);
    }
    for (int i = 0; i < 3; i++) {
        Py_DECREF(pa[i]);
        Py_DECREF(pb[i]);
    }
    return eq;
}

Py_hash_t
frost__set_view_hash(PyObject *self)
{
    PyObject *items = PyFrozenSet_New(self);
    if (items == NULL) {
        return -1;
    }
    Py_hash_t h = PyObject_Hash(items);
    Py_DECREF(items);
    return h;
}

/* A format-2 image's set: there each read makes a new NaN, equal to nothing
 * (docs/format.md), so a set holding one equals only views of its own node and
 * frozenset(view) would hash differently at each call: an item holding a NaN
 * is hashed as None instead (a collision at worst, never two hashes for one set). */
Py_hash_t
frost__mapped_set_view_hash(PyObject *self)
{
    PyObject *items = PySequence_List(self);
    if (items == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        if (frost__key_holds_nan(PyList_GET_ITEM(items, i))) {
            Py_SETREF(PyList_GET_ITEM(items, i), Py_NewRef(Py_None));
        }
    }
    Py_hash_t h = frost__set_view_hash(items);
    Py_DECREF(items);
    return h;
}

const void *
frost__view_node(void *ctx, PyObject *o)
{
    frost_state *st = ctx;
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == st->dict_type) {
        return ((FrostDictView *)o)->table;
    }
    if (tp == st->set_type) {
        return ((FrostSetView *)o)->set;
    }
    if (tp == st->list_type) {   /* a slice shows part of its node: no stand-in for it */
        const FrostListView *v = (const FrostListView *)o;
        return v->start == 0 && v->step == 1 && v->len == v->seq->len ? (const void *)v->seq : NULL;
    }
    if (frost__is_record_view(st, tp)) {
        return ((FrostRecordView *)o)->record;
    }
    return frost__mapped_node_address(st, o);
}

PyObject *
frost__dict_view_or(const frost_state *st, PyObject *a, PyObject *b)
{
    int a_view = frost__is_dict_view(st, a), b_view = frost__is_dict_view(st, b);
    if (!(a_view || PyDict_CheckExact(a)) || !(b_view || PyDict_CheckExact(b))) {
        /* (a dict subclass too: OrderedDict's own | answers, as with a mappingproxy) */
        PyObject *items = PyDict_New();   /* the view's, as the dict a mappingproxy holds */
        if (items == NULL || frost__dict_merge_items(items, a_view ? a : b) < 0) {
            Py_XDECREF(items);
            return NULL;
        }
        PyObject *r = a_view ? PyNumber_Or(items, b) : PyNumber_Or(a, items);
        Py_DECREF(items);
        return r;
    }
    PyObject *result = a_view ? PyDict_New() : PyDict_Copy(a);
    if (result != NULL && ((a_view && frost__dict_merge_items(result, a) < 0)
                           || (b_view ? frost__dict_merge_items(result, b) : PyDict_Update(result, b)) < 0)) {
        Py_CLEAR(result);
    }
    return result;
}

PyObject *
frost__set_view_binop(const frost_state *st, PyObject *a, PyObject *b,
                      PyObject *(*op)(PyObject *, PyObject *))
{
    int a_view = frost__is_set_view(st, a), b_view = frost__is_set_view(st, b);
    if (!(a_view || PyAnySet_Check(a)) || !(b_view || PyAnySet_Check(b))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *fa = a_view ? PyFrozenSet_New(a) : Py_NewRef(a);
    PyObject *fb = fa == NULL ? NULL : b_view ? PyFrozenSet_New(b) : Py_NewRef(b);
    PyObject *r = fb ? op(fa, fb) : NULL;
    Py_XDECREF(fa);
    Py_XDECREF(fb);
    return r;
}

PyObject *
frost__copy_to_dict(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *d = PyDict_New();
    if (d != NULL && frost__dict_merge_items(d, self) < 0) {
        Py_CLEAR(d);
    }
    return d;
}

PyObject *
frost__copy_to_list(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PySequence_List(self);
}

PyObject *
frost__copy_to_frozenset(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyFrozenSet_New(self);
}

/* A field named like a special method the record view's type has (__reduce_ex__,
 * __reduce__, __class__, __copy__...) reads as the type's: protocols look those up
 * on the object (pickle: getattr(r, "__reduce_ex__")), so such a field made every
 * pickle, copy and send of the record call the field's value. r["__reduce__"]
 * still reads the field; a dunder name the type lacks is a field as any other. */
int
frost__record_type_dunder(PyObject *self, PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        return 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(name);
    if (n < 5 || PyUnicode_READ_CHAR(name, 0) != '_' || PyUnicode_READ_CHAR(name, 1) != '_'
        || PyUnicode_READ_CHAR(name, n - 1) != '_' || PyUnicode_READ_CHAR(name, n - 2) != '_') {
        return 0;
    }
    return _PyType_Lookup(Py_TYPE(self), name) != NULL;
}

PyObject *
frost__record_dir(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *attrs = PyObject_CallMethod((PyObject *)&PyBaseObject_Type, "__dir__", "O", self);
    PyObject *names = attrs ? PySet_New(attrs) : NULL;   /* a field may be named like an attribute */
    Py_XDECREF(attrs);
    /* the view type's own _fields getter: r._fields reads a field named _fields first
     * (and a shape type's member of that name shadows it: take frost's type below object) */
    PyTypeObject *tp = Py_TYPE(self);
    while (tp->tp_base != NULL && tp->tp_base != &PyBaseObject_Type) {
        tp = tp->tp_base;
    }
    PyObject *getter = names ? PyObject_GetAttrString((PyObject *)tp, "_fields") : NULL;
    PyObject *fields = getter ? PyObject_CallMethod(getter, "__get__", "OO", self, (PyObject *)tp)
                              : NULL;
    Py_XDECREF(getter);
    PyObject *it = fields && fields != Py_None ? PyObject_GetIter(fields) : NULL;
    PyObject *name;
    while (it != NULL && (name = PyIter_Next(it)) != NULL) {
        /* str fields, as getattr(r, name) reads them (a __shared__ state's other keys: r[key]) */
        int rc = PyUnicode_Check(name) ? PySet_Add(names, name) : 0;
        Py_DECREF(name);
        if (rc < 0) {
            break;
        }
    }
    Py_XDECREF(fields);
    Py_XDECREF(it);
    PyObject *result = names && !PyErr_Occurred() ? PySequence_List(names) : NULL;
    Py_XDECREF(names);
    return result;
}

PyObject *
frost__repr_items(PyObject *parts, Py_ssize_t more, const char *open, const char *close)
{
    if (parts != NULL && more > 0) {
        PyObject *tail = PyUnicode_FromFormat("... (%zd more)", more);
        if (tail == NULL || PyList_Append(parts, tail) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(tail);
    }
    if (parts == NULL) {
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *body = sep ? PyUnicode_Join(sep, parts) : NULL;
    if (body != NULL) {
        result = PyUnicode_FromFormat("%s%U%s", open, body, close);
    }
    Py_XDECREF(sep);
    Py_XDECREF(body);
    Py_DECREF(parts);
    return result;
}

PyObject *
frost__record_repr_fields(PyObject *qualname, Py_ssize_t len, frost_field_loader_t load, void *ctx)
{
    Py_ssize_t shown = len < FROST_REPR_MAX_ITEMS ? len : FROST_REPR_MAX_ITEMS;
    PyObject *parts = PyList_New(0);
    for (Py_ssize_t i = 0; parts != NULL && i < shown; i++) {
        PyObject *k = NULL, *v = NULL;
        PyObject *p = load(ctx, i, &k, &v) < 0 ? NULL
                      : PyUnicode_FromFormat(PyUnicode_Check(k) ? "%U=%R" : "%R=%R", k, v);
        if (p == NULL || PyList_Append(parts, p) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(k);
        Py_XDECREF(v);
        Py_XDECREF(p);
    }
    if (parts != NULL && shown < len) {
        PyObject *more = PyUnicode_FromString("...");
        if (more == NULL || PyList_Append(parts, more) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(more);
    }
    PyObject *sep = parts ? PyUnicode_FromString(", ") : NULL;
    PyObject *body = sep ? PyUnicode_Join(sep, parts) : NULL;
    PyObject *r = body ? PyUnicode_FromFormat("%U(%U)", qualname, body) : NULL;
    Py_XDECREF(parts);
    Py_XDECREF(sep);
    Py_XDECREF(body);
    return r;
}

/* Cycle guard for reprs, keyed by arena node rather than by view object:
 * every read makes a fresh view, so Py_ReprEnter(self) never sees a node
 * again and a cyclic frozen list (`l = [l]`) would recurse until
 * RecursionError. The nodes being repr'd by this thread are kept in a set in
 * the thread-state dict. Returns 0 (entered), 1 (already in progress: print
 * "..."), -1 (error). */
static int
repr_enter_node(const void *node)
{
    PyObject *tsdict = PyThreadState_GetDict();
    if (tsdict == NULL) {
        return 0;   /* no thread state dict: behave like Py_ReprEnter */
    }
    PyObject *active = PyDict_GetItemString(tsdict, "frost.repr_nodes");   /* borrowed */
    if (active == NULL) {
        active = PySet_New(NULL);
        if (active == NULL || PyDict_SetItemString(tsdict, "frost.repr_nodes", active) < 0) {
            Py_XDECREF(active);
            return -1;
        }
        Py_DECREF(active);   /* the dict holds it */
    }
    PyObject *key = PyLong_FromVoidPtr((void *)node);
    if (key == NULL) {
        return -1;
    }
    int rc = PySet_Contains(active, key);
    if (rc == 0 && PySet_Add(active, key) < 0) {
        rc = -1;
    }
    Py_DECREF(key);
    return rc;
}

/* The recursion limits are counts, sized for the main thread's 8 MiB stack:
 * a thread started with a smaller one (threading.stack_size(2 << 20), where
 * CPython's own list, dict and dataclass chains end in RecursionError)
 * overflowed it in the repr or == of a chain of FrozenDicts, Records or their
 * mapped kinds before the count ran out (a segfault). So each level of those
 * also checks the stack itself: RecursionError when less than a quarter of
 * this thread's stack (at most 256 KiB) is left. The bounds are read once per
 * thread; a frame outside them (a stack of a coroutine library) is not checked. */
#define STACK_MARGIN ((size_t)256 << 10)

static _Thread_local struct {
    int known;
    uintptr_t lo, floor;   /* the stack's lowest address; that + the margin */
} this_stack;

int
frost__stack_check(void)
{
    if (!this_stack.known) {
        this_stack.known = 1;
        pthread_attr_t attr;
        void *lo;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
                size_t margin = size / 4 < STACK_MARGIN ? size / 4 : STACK_MARGIN;
                this_stack.lo = (uintptr_t)lo;
                this_stack.floor = (uintptr_t)lo + margin;
            }
            pthread_attr_destroy(&attr);
        }
    }
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);   /* the real frame, under ASan too */
    if (here >= this_stack.lo && here < this_stack.floor) {
        PyErr_SetString(PyExc_RecursionError, "frost view nested too deep for this thread's C stack");
        return -1;
    }
    return 0;
}

/* Entered, a nested repr also counts once more against the C recursion limit
 * (on top of PyObject_Repr's own count): one level of a frost repr (the item's
 * repr through PyUnicode_FromFormat's %R, the node guard) takes ~850 bytes of
 * C stack in a release build and more under ASan, so 10,000 levels (3.13's C
 * limit) of a chain of MappedDicts or MappedRecords overflowed an 8 MiB stack
 * before RecursionError; counted twice, it raises at 5,000. */
int
frost__repr_enter(const void *node)
{
    if (frost__stack_check() < 0 || Py_EnterRecursiveCall(" while getting the repr of a frost view")) {
        return -1;
    }
    int rc = repr_enter_node(node);
    if (rc != 0) {
        Py_LeaveRecursiveCall();
    }
    return rc;
}

void
frost__repr_leave(const void *node)
{
    PyObject *exc = PyErr_GetRaisedException();   /* keep a pending error */
    PyObject *tsdict = PyThreadState_GetDict();
    PyObject *active = tsdict ? PyDict_GetItemString(tsdict, "frost.repr_nodes") : NULL;
    PyObject *key = active ? PyLong_FromVoidPtr((void *)node) : NULL;
    if (key != NULL) {
        (void)PySet_Discard(active, key);
        Py_DECREF(key);
    }
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    Py_LeaveRecursiveCall();
}

/* Views are not GC containers: they refer only to their Lease, which refers
 * to no Python object but its dict of NaN copies (floats), and to the plain
 * copies they keep for reuse (reuse.h: ints, floats, strs, bytes, tuples of
 * those, never a view), so they can never be part of a cycle (their weak
 * references hold nothing). The views that take weak references (set,
 * record and array views: their types have a tp_weaklistoffset) clear them
 * first, while the view is whole: a callback sees a dead reference. */
void
frost__view_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (tp->tp_weaklistoffset != 0 && *(PyObject **)((char *)self + tp->tp_weaklistoffset) != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    Py_CLEAR(((FrostView *)self)->lease);
    tp->tp_free(self);
    Py_DECREF(tp);
}
