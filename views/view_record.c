/*
 * view_record.c -- frost.Record: a frozen dataclass, NamedTuple or
 * __shared__ object: the class's name plus its frozen state.
 *
 * Field access: `r.name` and `r['name']` read the state (a dict node for
 * dataclasses and NamedTuples, whatever __shared__ returned otherwise);
 * fields win over the few attributes of the type itself (_class_name,
 * _fields, _state), which start with an underscore.
 *
 * `r.name` is the hot read of a scan: each Lease keeps a small cache from
 * the attribute name (the str object the code passes, held) to the arena key
 * it last matched and that key's entry number. Records of one class list
 * their fields in the same order and share the arena key objects (frozen
 * here: the same shaped entries; loaded: the file's shared strs), so a hit
 * is two pointer compares and a load. The cache lives in the
 * Lease, which keeps the store's arena alive: a cached arena key is never a
 * stale address.
 */
#include "views.h"

#define RV(o) ((FrostRecordView *)(o))

static const frost_table_t *
state_table(PyObject *self)
{
    frost_ref_t state = RV(self)->record->state;
    if (frost_ref_is_node(state) && frost_ref_node(state)->kind == FROST_NODE_DICT) {
        return (const frost_table_t *)frost_ref_node(state);
    }
    return NULL;
}

static PyObject *
record_state(PyObject *self, void *Py_UNUSED(closure))
{
    return frost__load(RV(self)->lease, RV(self)->record->state);
}

#define FIELD_CACHE_SLOTS 64   /* a power of two */

struct frost_field_cache_s {
    struct {
        PyObject *name;          /* strong; NULL if the slot is empty */
        frost_ref_t key;         /* the arena key it matched */
        Py_ssize_t ix;           /* that key's entry number */
    } slot[FIELD_CACHE_SLOTS];
};

void
frost__field_cache_free(struct frost_field_cache_s *cache)
{
    if (cache == NULL) {
        return;
    }
    for (int i = 0; i < FIELD_CACHE_SLOTS; i++) {
        Py_XDECREF(cache->slot[i].name);
    }
    PyMem_Free(cache);
}

static size_t
field_slot(PyObject *name)
{
    return ((uintptr_t)name >> 4) & (FIELD_CACHE_SLOTS - 1);
}

/* the field called `name` (a new reference), or NULL without an error if none */
static PyObject *
record_field(PyObject *self, PyObject *name)
{
    const frost_table_t *t = state_table(self);
    if (t == NULL || !PyUnicode_CheckExact(name)) {
        return NULL;
    }
    FrostLease *lease = RV(self)->lease;
    struct frost_field_cache_s *cache = lease->fields;
    size_t slot = field_slot(name);
    if (cache != NULL && cache->slot[slot].name == name) {
        Py_ssize_t ix = cache->slot[slot].ix;
        if (ix < t->len && t->entries[ix].key == cache->slot[slot].key) {
            return frost__load_fast(lease, frost_table_value(t, ix));
        }
    }
    Py_hash_t h = frost__hash_for_lookup(lease, name);
    if (h == -1) {
        return NULL;
    }
    Py_ssize_t ix = frost__table_lookup(t, name, h, frost__compare_key, lease);
    if (ix < 0) {
        if (ix == -2) {
            PyErr_Clear();
        }
        return NULL;
    }
    if (cache == NULL) {
        cache = lease->fields = PyMem_Calloc(1, sizeof *cache);   /* none: just no caching */
    }
    if (cache != NULL) {
        Py_XSETREF(cache->slot[slot].name, Py_NewRef(name));
        cache->slot[slot].key = t->entries[ix].key;
        cache->slot[slot].ix = ix;
    }
    return frost__load_fast(lease, frost_table_value(t, ix));
}

static Py_NO_INLINE PyObject *
record_getattro_any(PyObject *self, PyObject *name)
{
    PyObject *v = record_field(self, name);
    if (v != NULL || PyErr_Occurred()) {
        return v;
    }
    return PyObject_GenericGetAttr(self, name);
}

/* r.name: a cache hit is two pointer compares and a load (see the top) */
static PyObject *
record_getattro(PyObject *self, PyObject *name)
{
    FrostLease *lease = RV(self)->lease;
    const struct frost_field_cache_s *cache = lease->fields;
    frost_ref_t state = RV(self)->record->state;
    if (cache != NULL && frost_ref_is_node(state) && frost_ref_node(state)->kind == FROST_NODE_DICT) {
        size_t slot = field_slot(name);
        if (cache->slot[slot].name == name) {   /* only exact strs are cached */
            const frost_table_t *t = (const frost_table_t *)frost_ref_node(state);
            Py_ssize_t ix = cache->slot[slot].ix;
            if (ix < t->len && t->entries[ix].key == cache->slot[slot].key) {
                return frost__load_fast(lease, frost_table_value(t, ix));
            }
        }
    }
    return record_getattro_any(self, name);
}

static PyObject *
record_subscript(PyObject *self, PyObject *key)
{
    PyObject *state = record_state(self, NULL);
    if (state == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_GetItem(state, key);
    Py_DECREF(state);
    return r;
}

static PyObject *
record_class_name(PyObject *self, void *Py_UNUSED(closure))
{
    const frost_record_t *r = RV(self)->record;
    return PyUnicode_FromFormat("%U.%U", frost_ref_object(r->module), frost_ref_object(r->qualname));
}

static PyObject *
record_fields(PyObject *self, void *Py_UNUSED(closure))
{
    const frost_table_t *t = state_table(self);
    if (t == NULL) {
        return PyTuple_New(0);
    }
    PyObject *names = PyTuple_New(t->len);
    for (Py_ssize_t i = 0; names != NULL && i < t->len; i++) {
        PyObject *k = frost__load(RV(self)->lease, t->entries[i].key);
        if (k == NULL) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, i, k);
    }
    return names;
}

static PyObject *
record_repr(PyObject *self)
{
    int rc = Py_ReprEnter(self);
    if (rc != 0) {
        return rc > 0 ? PyUnicode_FromString("Record(...)") : NULL;
    }
    PyObject *cls = record_class_name(self, NULL);
    PyObject *state = cls ? record_state(self, NULL) : NULL;
    PyObject *r = state ? PyUnicode_FromFormat("Record(%U, %R)", cls, state) : NULL;
    Py_XDECREF(cls);
    Py_XDECREF(state);
    Py_ReprLeave(self);
    return r;
}

static PyObject *
record_richcompare(PyObject *self, PyObject *other, int op)
{
    if ((op != Py_EQ && op != Py_NE) || Py_TYPE(other) != Py_TYPE(self)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    const frost_record_t *a = RV(self)->record, *b = RV(other)->record;
    int eq = frost__fast_equal(frost_ref_object(a->module), frost_ref_object(b->module)) == 1
             && frost__fast_equal(frost_ref_object(a->qualname), frost_ref_object(b->qualname)) == 1;
    if (eq && a != b) {
        PyObject *sa = record_state(self, NULL);
        PyObject *sb = sa ? record_state(other, NULL) : NULL;
        eq = sb ? PyObject_RichCompareBool(sa, sb, Py_EQ) : -1;
        Py_XDECREF(sa);
        Py_XDECREF(sb);
        if (eq < 0) {
            return NULL;
        }
    }
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyObject *
record_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return frost__reduce_ref((FrostView *)self, frost_ref_from_node(RV(self)->record), NULL);
}

int
frost__record_parts(PyObject *view, PyObject **module, PyObject **qualname, int *kind,
                    PyObject **state)
{
    int rc = frost__mapped_record_parts(view, module, qualname, kind, state);
    if (rc != -2) {
        return rc;   /* a MappedRecord */
    }
    const frost_record_t *r = RV(view)->record;
    *module = frost__copy_plain(frost_ref_object(r->module));
    *qualname = *module ? frost__copy_plain(frost_ref_object(r->qualname)) : NULL;
    *state = *qualname ? record_state(view, NULL) : NULL;
    *kind = (int)r->hdr.flags;
    if (*state == NULL) {
        Py_CLEAR(*module);
        Py_CLEAR(*qualname);
        return -1;
    }
    return 0;
}

PyObject *
frost__record_class(const frost_record_t *r)
{
    /* local copies: the import system keeps names, and a scoped arena may go */
    PyObject *modname = frost__copy_plain(frost_ref_object(r->module));
    PyObject *mod = modname ? PyImport_Import(modname) : NULL;
    Py_XDECREF(modname);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *dot = PyUnicode_FromString(".");
    PyObject *qualname = dot ? frost__copy_plain(frost_ref_object(r->qualname)) : NULL;
    PyObject *parts = qualname ? PyUnicode_Split(qualname, dot, -1) : NULL;
    Py_XDECREF(dot);
    Py_XDECREF(qualname);
    PyObject *obj = mod;
    for (Py_ssize_t i = 0; parts != NULL && obj != NULL && i < PyList_GET_SIZE(parts); i++) {
        PyObject *next = PyObject_GetAttr(obj, PyList_GET_ITEM(parts, i));
        Py_DECREF(obj);
        obj = next;
    }
    if (parts == NULL) {
        Py_CLEAR(obj);
    }
    Py_XDECREF(parts);
    if (obj != NULL && !PyType_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%R is not a class", obj);
        Py_CLEAR(obj);
    }
    return obj;
}

static PyGetSetDef record_getset[] = {
    {"_class_name", record_class_name, NULL, "module.QualName of the frozen object's class.", NULL},
    {"_fields", record_fields, NULL, "The field names (when the state is a mapping).", NULL},
    {"_state", record_state, NULL, "The frozen state (a view).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef record_methods[] = {
    {"__reduce__", record_reduce, METH_NOARGS, "Pickle by reference to the same arena node."},
    {"__dir__", frost__record_dir, METH_NOARGS, "The attributes, the fields among them."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot record_slots[] = {
    {Py_tp_doc, "Record: a frozen dataclass, NamedTuple or __shared__ object.\n\n"
                "Fields read as attributes or items; frost.thaw() rebuilds the class."},
    {Py_tp_dealloc, frost__view_dealloc},
    {Py_tp_repr, record_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_getattro, record_getattro},
    {Py_tp_setattro, frost__readonly_ass},
    {Py_tp_richcompare, record_richcompare},
    {Py_tp_methods, record_methods},
    {Py_tp_getset, record_getset},
    {Py_mp_subscript, record_subscript},
    {Py_mp_ass_subscript, frost__readonly_ass},
    {0, NULL},
};

PyType_Spec FrostRecord_spec = {
    .name = "frost.Record",
    .basicsize = sizeof(FrostRecordView),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = record_slots,
};
