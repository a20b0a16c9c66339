/*
 * view_dictviews.c -- FrozenDict.keys(), .values() and .items(): C views with
 * the semantics of dict's views (registered as collections.abc.KeysView,
 * ValuesView and ItemsView), iterating the node's entries directly.
 *
 * A view holds a strong reference to its FrozenDict and nothing else, so it
 * is never part of a cycle (not a GC container). Keys and items views are
 * set-like: `in`, `==`/`<`/`<=`/..., `&`, `|`, `-`, `^` and isdisjoint follow
 * CPython's dict_keys/dict_items (set algebra returns a plain set; an items
 * view holds only 2-tuples). The values view compares by identity, like
 * dict_values. reversed() of each runs over the entries, last first (iter.c).
 */
#include "views.h"

typedef struct {
    PyObject_HEAD
    PyObject *dict;              /* the FrozenDict (strong) */
} FrostDictSubview;

#define MV(o) ((FrostDictSubview *)(o))
#define TABLE(o) (((FrostDictView *)MV(o)->dict)->table)
#define LEASE(o) (((FrostDictView *)MV(o)->dict)->lease)

static PyObject *
dictview_new(PyTypeObject *tp, PyObject *dict)
{
    FrostDictSubview *v = PyObject_New(FrostDictSubview, tp);
    if (v != NULL) {
        v->dict = Py_NewRef(dict);
    }
    return (PyObject *)v;
}

PyObject *
frost__dict_keys_new(PyObject *dict)
{
    return dictview_new(((FrostDictView *)dict)->lease->st->keys_type, dict);
}

PyObject *
frost__dict_values_new(PyObject *dict)
{
    return dictview_new(((FrostDictView *)dict)->lease->st->values_type, dict);
}

PyObject *
frost__dict_items_new(PyObject *dict)
{
    return dictview_new(((FrostDictView *)dict)->lease->st->items_type, dict);
}

static void
dictview_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(MV(self)->dict);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static Py_ssize_t
dictview_len(PyObject *self)
{
    return TABLE(self)->len;
}

static PyObject *
dictview_mapping(PyObject *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(MV(self)->dict);
}

static PyObject *
dictview_repr(PyObject *self)
{
    return PyUnicode_FromFormat("%s(%R)", _PyType_Name(Py_TYPE(self)), MV(self)->dict);
}

static PyObject *
keys_iter(PyObject *self)
{
    return frost__table_iter_new(LEASE(self), TABLE(self), FROST_ITER_KEYS);
}

static PyObject *
values_iter(PyObject *self)
{
    return frost__table_iter_new(LEASE(self), TABLE(self), FROST_ITER_VALUES);
}

static PyObject *
items_iter(PyObject *self)
{
    return frost__table_iter_new(LEASE(self), TABLE(self), FROST_ITER_ITEMS);
}

static int
keys_contains(PyObject *self, PyObject *key)
{
    Py_ssize_t ix = frost__dict_find(MV(self)->dict, key);
    return ix >= 0 ? 1 : (ix == -1 ? 0 : -1);
}

/* like dict_items: only a 2-tuple (key, value) with an equal value is in it */
static int
items_contains(PyObject *self, PyObject *item)
{
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
        return 0;
    }
    PyObject *key = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
    Py_INCREF(key);   /* the tuple may be a user subclass; keep its items alive */
    Py_INCREF(value);
    Py_ssize_t ix = frost__dict_find(MV(self)->dict, key);
    int r = ix >= 0 ? frost__item_equal(LEASE(self), frost_table_value(TABLE(self), ix), value)
                    : (ix == -1 ? 0 : -1);
    Py_DECREF(key);
    Py_DECREF(value);
    return r;
}

static int
values_contains(PyObject *self, PyObject *value)
{
    const frost_table_t *t = TABLE(self);
    for (Py_ssize_t i = 0; i < t->len; i++) {
        int eq = frost__item_equal(LEASE(self), frost_table_value(t, i), value);
        if (eq != 0) {
            return eq;
        }
    }
    return 0;
}

/* ---- set algebra and comparisons of keys and items views (as dict's) ---- */

static int
is_frost_setview(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    return tp->tp_iter == keys_iter || tp->tp_iter == items_iter;
}

/* a set, a frozenset, a dict/FrozenDict keys or items view, or a FrozenSet */
static int
is_setlike(PyObject *o, PyObject *self)
{
    return PyAnySet_Check(o) || PyDictKeys_Check(o) || PyDictItems_Check(o) || is_frost_setview(o)
           || Py_TYPE(o) == LEASE(self)->st->set_type;
}

static PyObject *
setview_of(PyObject *a, PyObject *b)
{
    return is_frost_setview(a) ? a : b;
}

/* every item of `a` is in `b`: 1, 0 or -1 */
static int
all_contained_in(PyObject *a, PyObject *b)
{
    PyObject *it = PyObject_GetIter(a);
    if (it == NULL) {
        return -1;
    }
    int ok = 1;
    PyObject *x;
    while (ok == 1 && (x = PyIter_Next(it)) != NULL) {
        ok = PySequence_Contains(b, x);
        Py_DECREF(x);
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : ok;
}

static PyObject *
setview_richcompare(PyObject *self, PyObject *other, int op)
{
    if (!is_setlike(other, self)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    Py_ssize_t n_self = TABLE(self)->len;
    Py_ssize_t n_other = PyObject_Size(other);
    if (n_other < 0) {
        return NULL;
    }
    int ok = 0;
    switch (op) {
    case Py_EQ:
    case Py_NE:
        ok = n_self == n_other ? all_contained_in(self, other) : 0;
        if (op == Py_NE && ok >= 0) {
            ok = !ok;
        }
        break;
    case Py_LT:
        ok = n_self < n_other ? all_contained_in(self, other) : 0;
        break;
    case Py_LE:
        ok = n_self <= n_other ? all_contained_in(self, other) : 0;
        break;
    case Py_GT:
        ok = n_self > n_other ? all_contained_in(other, self) : 0;
        break;
    case Py_GE:
        ok = n_self >= n_other ? all_contained_in(other, self) : 0;
        break;
    }
    return ok < 0 ? NULL : PyBool_FromLong(ok);
}

/* set(a).<method>(b): the result of a | b, a - b, a ^ b */
static PyObject *
set_then(PyObject *a, PyObject *b, const char *method)
{
    PyObject *result = PySet_New(a);
    if (result == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallMethod(result, method, "O", b);
    if (r == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    Py_DECREF(r);
    return result;
}

/* a & b: the items of the other operand that are in the view (as dict's:
 * the view's own items are never hashed, so unhashable values are fine) */
static PyObject *
setview_and(PyObject *a, PyObject *b)
{
    PyObject *view = setview_of(a, b);
    PyObject *other = view == a ? b : a;
    PyObject *it = PyObject_GetIter(other);
    PyObject *result = it ? PySet_New(NULL) : NULL;
    PyObject *x;
    while (result != NULL && (x = PyIter_Next(it)) != NULL) {
        int c = PySequence_Contains(view, x);
        if (c < 0 || (c > 0 && PySet_Add(result, x) < 0)) {
            Py_CLEAR(result);
        }
        Py_DECREF(x);
    }
    Py_XDECREF(it);
    if (PyErr_Occurred()) {
        Py_CLEAR(result);
    }
    return result;
}

static PyObject *setview_or(PyObject *a, PyObject *b) { return set_then(a, b, "update"); }
static PyObject *setview_sub(PyObject *a, PyObject *b) { return set_then(a, b, "difference_update"); }
static PyObject *
setview_xor(PyObject *a, PyObject *b)
{
    return set_then(a, b, "symmetric_difference_update");
}

static PyObject *
setview_isdisjoint(PyObject *self, PyObject *other)
{
    PyObject *it = PyObject_GetIter(other);
    if (it == NULL) {
        return NULL;
    }
    PyObject *x;
    int found = 0;
    while (!found && (x = PyIter_Next(it)) != NULL) {
        found = PySequence_Contains(self, x);
        Py_DECREF(x);
        if (found < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyBool_FromLong(!found);
}

static PyGetSetDef dictview_getset[] = {
    {"mapping", dictview_mapping, NULL, "The FrozenDict this view reads.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define REVERSED_METHOD {"__reversed__", frost__reversed_items, METH_NOARGS, "The items, last first."}

static PyMethodDef setview_methods[] = {
    {"isdisjoint", setview_isdisjoint, METH_O, "True if the view and other have no item in common."},
    REVERSED_METHOD,
    FROST_NO_PICKLE_METHOD,
    {NULL, NULL, 0, NULL},
};

static PyMethodDef values_methods[] = {
    REVERSED_METHOD,
    FROST_NO_PICKLE_METHOD,
    {NULL, NULL, 0, NULL},
};

#define SETVIEW_SLOTS \
    {Py_tp_dealloc, dictview_dealloc}, \
    {Py_tp_repr, dictview_repr}, \
    {Py_tp_hash, PyObject_HashNotImplemented}, \
    {Py_tp_richcompare, setview_richcompare}, \
    {Py_tp_methods, setview_methods}, \
    {Py_tp_getset, dictview_getset}, \
    {Py_sq_length, dictview_len}, \
    {Py_nb_and, setview_and}, \
    {Py_nb_or, setview_or}, \
    {Py_nb_subtract, setview_sub}, \
    {Py_nb_xor, setview_xor}

static PyType_Slot keys_slots[] = {
    {Py_tp_doc, "The keys of a FrozenDict: a set-like view, like dict.keys()."},
    {Py_tp_iter, keys_iter},
    {Py_sq_contains, keys_contains},
    SETVIEW_SLOTS,
    {0, NULL},
};

static PyType_Slot items_slots[] = {
    {Py_tp_doc, "The (key, value) pairs of a FrozenDict: a set-like view, like dict.items()."},
    {Py_tp_iter, items_iter},
    {Py_sq_contains, items_contains},
    SETVIEW_SLOTS,
    {0, NULL},
};

static PyType_Slot values_slots[] = {
    {Py_tp_doc, "The values of a FrozenDict: a view, like dict.values()."},
    {Py_tp_dealloc, dictview_dealloc},
    {Py_tp_repr, dictview_repr},
    {Py_tp_iter, values_iter},
    {Py_tp_methods, values_methods},
    {Py_tp_getset, dictview_getset},
    {Py_sq_length, dictview_len},
    {Py_sq_contains, values_contains},
    {0, NULL},
};

#define DICTVIEW_FLAGS \
    (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION)

PyType_Spec FrostDictKeys_spec = {
    .name = "frost._frost.FrozenDictKeys",
    .basicsize = sizeof(FrostDictSubview),
    .flags = DICTVIEW_FLAGS,
    .slots = keys_slots,
};

PyType_Spec FrostDictValues_spec = {
    .name = "frost._frost.FrozenDictValues",
    .basicsize = sizeof(FrostDictSubview),
    .flags = DICTVIEW_FLAGS,
    .slots = values_slots,
};

PyType_Spec FrostDictItems_spec = {
    .name = "frost._frost.FrozenDictItems",
    .basicsize = sizeof(FrostDictSubview),
    .flags = DICTVIEW_FLAGS,
    .slots = items_slots,
};
