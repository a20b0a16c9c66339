/*
 * view_dict.c -- frost.FrozenDict: a read-only Mapping over a dict node.
 *
 * Lookups hash the query (cached for str), probe the node's index and
 * compare without user code when both sides are plain builtins
 * (frost__fast_equal); only other comparisons go through
 * frost__compare_key, which never shows user code a scoped arena object.
 * `|` and copy() give a plain dict, as MappingProxyType's do; `|=` raises
 * TypeError. reversed() runs over the entries, last first, as dict's does.
 */
#include "views.h"

#define DV(o) ((FrostDictView *)(o))

static void
dict_dealloc(PyObject *self)
{
    frost__reuse_clear(&DV(self)->results);
    frost__view_dealloc(self);
}

static Py_ssize_t
dict_length(PyObject *self)
{
    return DV(self)->table->len;
}

static PyObject *
entry_key(const void *t, Py_ssize_t i)
{
    return frost_ref_object(((const frost_table_t *)t)->entries[i].key);
}

/* entry index of `key`, -1 absent, -2 error */
static Py_ssize_t
dict_find(PyObject *self, PyObject *key)
{
    const frost_table_t *t = DV(self)->table;
    Py_hash_t h = frost__hash_for_lookup(DV(self)->lease, key);
    if (h == -1) {
        return -2;
    }
    Py_ssize_t ix = frost__table_lookup(t, key, h, frost__compare_key, DV(self)->lease);
    return ix == -1 ? frost__rescan_ellipsis_keys(DV(self)->lease, key, t, t->len, entry_key) : ix;
}

Py_ssize_t
frost__dict_find(PyObject *dict, PyObject *key)
{
    return dict_find(dict, key);
}

static PyObject *
dict_subscript(PyObject *self, PyObject *key)
{
    Py_ssize_t ix = dict_find(self, key);
    if (ix >= 0) {
        return frost__load_reusing(DV(self)->lease, frost_table_value(DV(self)->table, ix),
                                   &DV(self)->results);
    }
    if (ix == -1) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    return NULL;
}

static int
dict_contains(PyObject *self, PyObject *key)
{
    Py_ssize_t ix = dict_find(self, key);
    return ix >= 0 ? 1 : (ix == -1 ? 0 : -1);
}

static PyObject *
dict_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (frost__check_nargs("get", nargs, 1, 2) < 0) {
        return NULL;
    }
    Py_ssize_t ix = dict_find(self, args[0]);
    if (ix >= 0) {
        return frost__load_reusing(DV(self)->lease, frost_table_value(DV(self)->table, ix),
                                   &DV(self)->results);
    }
    if (ix == -2) {
        return NULL;
    }
    return Py_NewRef(nargs > 1 ? args[1] : Py_None);
}

static PyObject *
dict_keys(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return frost__dict_keys_new(self);
}

static PyObject *
dict_values(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return frost__dict_values_new(self);
}

static PyObject *
dict_items(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return frost__dict_items_new(self);
}

static PyObject *
dict_iter(PyObject *self)
{
    return frost__table_iter_new(DV(self)->lease, DV(self)->table, FROST_ITER_KEYS);
}

/* self == other for any Mapping `other`: same length, same items
 * (frost__mapping_equal: read as dict's == reads it). */
static int
dict_equal_to(PyObject *self, PyObject *other)
{
    const frost_table_t *t = DV(self)->table;
    FrostLease *lease = DV(self)->lease;
    Py_ssize_t n = PyDict_Check(other) ? PyDict_GET_SIZE(other) : PyObject_Length(other);
    if (n < 0) {
        return -1;
    }
    if (n != t->len) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < t->len; i++) {
        PyObject *key = frost__load(lease, t->entries[i].key);
        if (key == NULL) {
            return -1;
        }
        PyObject *theirs = frost__mapping_value(other, key);
        Py_DECREF(key);
        if (theirs == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        int eq = frost__item_equal(lease, frost_table_value(t, i), theirs);
        Py_DECREF(theirs);
        if (eq <= 0) {
            return eq;
        }
    }
    return 1;
}

static PyObject *
dict_richcompare(PyObject *self, PyObject *other, int op)
{
    if (op != Py_EQ && op != Py_NE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *answer;
    if (frost__subclass_compares_first(self, other, op, &PyDict_Type, &answer)) {
        return answer;
    }
    int is_mapping = PyDict_Check(other) || Py_TYPE(other) == Py_TYPE(self);
    if (!is_mapping) {
        is_mapping = PyObject_IsInstance(other, DV(self)->lease->st->mapping_abc);
        if (is_mapping < 0) {
            return NULL;
        }
    }
    if (!is_mapping) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    /* the same node: equal, as `d == d` (any depth, NaN values too) */
    int eq = Py_TYPE(other) == Py_TYPE(self) && DV(other)->table == DV(self)->table
             ? 1 : frost__mapping_equal(self, other, dict_equal_to);
    if (eq < 0) {
        return NULL;
    }
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyObject *
dict_repr(PyObject *self)
{
    const frost_table_t *t = DV(self)->table;
    int rc = frost__repr_enter(t);
    if (rc != 0) {
        return rc > 0 ? PyUnicode_FromString("FrozenDict({...})") : NULL;
    }
    PyObject *parts = PyList_New(0);
    Py_ssize_t shown = t->len < FROST_REPR_MAX_ITEMS ? t->len : FROST_REPR_MAX_ITEMS;
    for (Py_ssize_t i = 0; parts && i < shown; i++) {
        PyObject *k = frost__load(DV(self)->lease, t->entries[i].key);
        PyObject *v = k ? frost__load(DV(self)->lease, frost_table_value(t, i)) : NULL;
        PyObject *s = v ? PyUnicode_FromFormat("%R: %R", k, v) : NULL;
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(k);
        Py_XDECREF(v);
        Py_XDECREF(s);
    }
    PyObject *result = frost__repr_items(parts, t->len - shown, "FrozenDict({", "})");
    frost__repr_leave(t);
    return result;
}

/* ---- `|`: like MappingProxyType's, returning a plain dict (issue 15) -------
 *
 * FrozenDict | dict/FrozenDict/MappedDict and dict/MappedDict | FrozenDict ->
 * a new dict: the left
 * operand's items, then the right's (keys and values as indexing gives them,
 * so nested containers stay views). `|=` raises TypeError: a FrozenDict
 * cannot change (`a_dict |= a_frozen_dict` updates the dict in place, as
 * dict's own `|=` takes any mapping).
 */

static PyObject *dict_or(PyObject *a, PyObject *b);

static int
is_frozen_dict(PyObject *o)
{
    PyNumberMethods *nb = Py_TYPE(o)->tp_as_number;
    return nb != NULL && nb->nb_or == dict_or;
}

static PyObject *
dict_or(PyObject *a, PyObject *b)
{
    return frost__dict_view_or(DV(is_frozen_dict(a) ? a : b)->lease->st, a, b);
}

static PyObject *
dict_inplace_or(PyObject *self, PyObject *Py_UNUSED(other))
{
    return frost__readonly_inplace(self, "|", "y", "dict");
}

static PyObject *
dict_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return frost__reduce_ref((FrostView *)self, frost_ref_from_node(DV(self)->table), NULL);
}

static PyMethodDef dict_methods[] = {
    {"__reversed__", frost__reversed_items, METH_NOARGS, "The keys, last first."},
    {"copy", frost__copy_to_dict, METH_NOARGS, FROST_COPY_DOC("dict")},
    {"get", (PyCFunction)(void (*)(void))dict_get, METH_FASTCALL,
     "get($self, key, default=None, /)\n--\n\nThe value for key if key is in the mapping, else default."},
    {"keys", dict_keys, METH_NOARGS, "A set-like view of the keys."},
    {"values", dict_values, METH_NOARGS, "A view of the values."},
    {"items", dict_items, METH_NOARGS, "A set-like view of the (key, value) pairs."},
    {"__reduce__", dict_reduce, METH_NOARGS, "Pickle by reference to the same arena node."},
    FROST_CLASS_GETITEM,
    {NULL, NULL, 0, NULL},
};

static PyType_Slot dict_slots[] = {
    {Py_tp_doc, "FrozenDict: a read-only mapping over a frozen dict.\n\n"
                "Made by frost.freeze(); reads the arena in place."},
    {Py_tp_dealloc, dict_dealloc},
    {Py_tp_repr, dict_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_iter, dict_iter},
    {Py_tp_richcompare, dict_richcompare},
    {Py_tp_methods, dict_methods},
    {Py_mp_length, dict_length},
    {Py_mp_subscript, dict_subscript},
    {Py_mp_ass_subscript, frost__readonly_ass},
    {Py_sq_contains, dict_contains},
    {Py_nb_or, dict_or},
    {Py_nb_inplace_or, dict_inplace_or},
    {0, NULL},
};

PyType_Spec FrostDict_spec = {
    .name = "frost.FrozenDict",
    .basicsize = sizeof(FrostDictView),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_MAPPING,
    .slots = dict_slots,
};
