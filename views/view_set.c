/*
 * view_set.c -- frost.FrozenSet: a read-only Set over a set node.
 *
 * Membership probes the node; set algebra and ordering comparisons work on
 * a local frozenset of the items (they build a new set anyway). Comparisons
 * take what a frozenset compares with (frost__compares_as_set). frozenset's
 * named methods (union, issubset, ..., copy) run on frozenset(self), as
 * MappedSet's do, and a
 * FrozenSet hashes as frozenset(self) (it stands for one: equal, so the same
 * hash), computed by the first hash() of a view and kept in it, as a
 * frozenset keeps its own: its items and the objects a read gives never
 * change (a scoped lease hands out one copy of each NaN). As a frozenset, a
 * FrozenSet takes weak references (weakref.WeakSet, WeakKeyDictionary keyed
 * by set views): which views take them is docs/design.md's "Weak
 * references". The weak references live in the view, this interpreter's
 * object, never in the arena; frost__view_dealloc clears them.
 */
#include "views.h"

#define SV(o) ((FrostSetView *)(o))

static Py_ssize_t
set_length(PyObject *self)
{
    return SV(self)->set->len;
}

static PyObject *
slot_key(const void *t, Py_ssize_t i)
{
    frost_ref_t key = ((const frost_set_t *)t)->slots[i].key;
    return key != 0 ? frost_ref_object(key) : NULL;
}

static int
set_contains(PyObject *self, PyObject *key)
{
    Py_hash_t h = frost__hash_for_lookup(SV(self)->lease, key);
    if (h == -1) {
        /* like frozenset: a set (unhashable) may match a frozenset item, which a
         * frozen set never holds, so it is not a member; other unhashables raise */
        if (PyAnySet_Check(key) && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    const frost_set_t *t = SV(self)->set;
    Py_ssize_t ix = frost__set_lookup(t, key, h, frost__compare_key, SV(self)->lease);
    if (ix == -1) {
        Py_ssize_t nslots = t->mask == 0 ? t->len : t->mask + 1;   /* (mask 0: unindexed) */
        ix = frost__rescan_ellipsis_keys(SV(self)->lease, key, t, nslots, slot_key);
    }
    return ix >= 0 ? 1 : (ix == -1 ? 0 : -1);
}

static PyObject *
set_iter(PyObject *self)
{
    return frost__set_iter_new(SV(self)->lease, SV(self)->set);
}

static PyObject *set_and(PyObject *a, PyObject *b);

/* The FrozenSet type of this interpreter: whichever operand has our slots. */
static PyTypeObject *
view_type_of(PyObject *a, PyObject *b)
{
    PyNumberMethods *nb = Py_TYPE(a)->tp_as_number;
    return (nb != NULL && nb->nb_and == set_and) ? Py_TYPE(a) : Py_TYPE(b);
}

static PyObject *
set_binop(PyObject *a, PyObject *b, PyObject *(*op)(PyObject *, PyObject *))
{
    PyObject *view = Py_TYPE(a) == view_type_of(a, b) ? a : b;
    return frost__set_view_binop(SV(view)->lease->st, a, b, op);
}

static PyObject *set_and(PyObject *a, PyObject *b) { return set_binop(a, b, PyNumber_And); }
static PyObject *set_or(PyObject *a, PyObject *b) { return set_binop(a, b, PyNumber_Or); }
static PyObject *set_sub(PyObject *a, PyObject *b) { return set_binop(a, b, PyNumber_Subtract); }
static PyObject *set_xor(PyObject *a, PyObject *b) { return set_binop(a, b, PyNumber_Xor); }

static PyObject *
set_richcompare(PyObject *self, PyObject *other, int op)
{
    if (!frost__compares_as_set(SV(self)->lease->st, other)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    /* (a MappedSet compares through frozenset's own compare, which does this) */
    PyObject *answer;
    if (frost__subclass_compares_first(self, other, op, &PyFrozenSet_Type, &answer)) {
        return answer;
    }
    if ((op == Py_EQ || op == Py_NE) && Py_TYPE(other) == Py_TYPE(self)
        && SV(other)->set == SV(self)->set) {
        return PyBool_FromLong(op == Py_EQ);   /* the same node, as `s == s` */
    }
    if (op == Py_EQ || op == Py_NE) {
        /* a set (subclass) by its own size and items, as frozenset's == reads
         * it, whatever its __len__/__iter__ say */
        int is_set = PyAnySet_Check(other);
        Py_ssize_t n = is_set ? PySet_GET_SIZE(other) : PyObject_Length(other);
        if (n < 0) {
            return NULL;
        }
        int eq = n == SV(self)->set->len;
        /* every item of `other` must be one of ours (same size => equal) */
        PyObject *it = !eq ? NULL : is_set ? PySet_Type.tp_iter(other) : PyObject_GetIter(other);
        PyObject *item;
        while (it != NULL && (item = PyIter_Next(it)) != NULL) {
            int c = set_contains(self, item);
            Py_DECREF(item);
            if (c <= 0) {
                eq = 0;
                if (c < 0) {
                    Py_DECREF(it);
                    return NULL;
                }
                break;
            }
        }
        Py_XDECREF(it);
        if (PyErr_Occurred()) {
            return NULL;
        }
        return PyBool_FromLong(op == Py_EQ ? eq : !eq);
    }
    PyObject *mine = PyFrozenSet_New(self);
    PyObject *theirs = mine == NULL ? NULL
                       : PyAnySet_Check(other) ? Py_NewRef(other) : PyFrozenSet_New(other);
    PyObject *r = theirs ? PyObject_RichCompare(mine, theirs, op) : NULL;
    Py_XDECREF(mine);
    Py_XDECREF(theirs);
    return r;
}

static PyObject *
set_isdisjoint(PyObject *self, PyObject *other)
{
    PyObject *it = PyObject_GetIter(other);
    if (it == NULL) {
        return NULL;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        /* frozenset.isdisjoint hashes each item: a set among them is unhashable there */
        int c = PySet_Check(item) && PyObject_Hash(item) == -1 ? -1 : set_contains(self, item);
        Py_DECREF(item);
        if (c != 0) {
            Py_DECREF(it);
            return c < 0 ? NULL : Py_NewRef(Py_False);
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

FROST_SET_DELEGATES

static PyObject *
set_repr(PyObject *self)
{
    const frost_set_t *t = SV(self)->set;
    if (t->len == 0) {
        return PyUnicode_FromString("FrozenSet()");
    }
    Py_ssize_t shown = t->len < FROST_REPR_MAX_ITEMS ? t->len : FROST_REPR_MAX_ITEMS;
    PyObject *parts = PyList_New(0);
    for (Py_ssize_t i = 0; parts && i < shown; i++) {
        PyObject *k = frost__load(SV(self)->lease, frost_set_item(t, i));
        PyObject *s = k ? PyObject_Repr(k) : NULL;
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(k);
        Py_XDECREF(s);
    }
    return frost__repr_items(parts, t->len - shown, "FrozenSet({", "})");
}

static PyObject *
set_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return frost__reduce_ref((FrostView *)self, frost_ref_from_node(SV(self)->set), NULL);
}

static PyMethodDef set_methods[] = {
    {"isdisjoint", set_isdisjoint, METH_O, "True if the set has no items in common with other."},
    {"copy", frost__copy_to_frozenset, METH_NOARGS, FROST_COPY_DOC("frozenset")},
    FROST_SET_DELEGATE_METHODS,
    {"__reduce__", set_reduce, METH_NOARGS, "Pickle by reference to the same arena node."},
    FROST_CLASS_GETITEM,
    {NULL, NULL, 0, NULL},
};

static Py_hash_t
set_hash(PyObject *self)
{
    if (SV(self)->hash == -1) {
        SV(self)->hash = frost__set_view_hash(self);   /* -1 again on an error */
    }
    return SV(self)->hash;
}

static PyMemberDef set_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(FrostSetView, weaklist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot set_slots[] = {
    {Py_tp_doc, "FrozenSet: a read-only set over a frozen set or frozenset.\n\n"
                "Set algebra returns plain frozensets."},
    {Py_tp_dealloc, frost__view_dealloc},   /* clears the weak references first */
    {Py_tp_repr, set_repr},
    {Py_tp_members, set_members},
    {Py_tp_hash, set_hash},
    {Py_tp_iter, set_iter},
    {Py_tp_richcompare, set_richcompare},
    {Py_tp_methods, set_methods},
    {Py_sq_length, set_length},
    {Py_sq_contains, set_contains},
    {Py_nb_and, set_and},
    {Py_nb_or, set_or},
    {Py_nb_subtract, set_sub},
    {Py_nb_xor, set_xor},
    {0, NULL},
};

PyType_Spec FrostSet_spec = {
    .name = "frost.FrozenSet",
    .basicsize = sizeof(FrostSetView),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = set_slots,
};
