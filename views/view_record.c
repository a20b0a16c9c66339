/*
 * view_record.c -- frost.Record: a frozen dataclass, NamedTuple or
 * __shared__ object: the class's name plus its frozen state.
 *
 * Field access: `r.name` and `r['name']` read the state (a dict node for
 * dataclasses and NamedTuples, whatever __shared__ returned otherwise);
 * fields win over the few attributes of the type itself (_class_name,
 * _fields, _state), which start with an underscore, but not over the special
 * methods it has (__reduce_ex__, __class__...: frost__record_type_dunder).
 *
 * `r.name` is the hot read of a scan: each Lease keeps a small cache from
 * the attribute name (the str object the code passes, held) to the arena key
 * it last matched and that key's entry number. Records of one class list
 * their fields in the same order and share the arena key objects (frozen
 * here: the same shaped entries; loaded: the file's shared strs), so a hit
 * is two pointer compares and a load. The cache lives in the
 * Lease, which keeps the store's arena alive: a cached arena key is never a
 * stale address.
 *
 * Even a hit leaves `r.name` twice a dataclass's cost: CPython specializes an
 * attribute read (LOAD_ATTR_SLOT: a type version check and a load at a fixed
 * offset) only on a type whose tp_getattro is PyObject_GenericGetAttr and
 * whose attribute is an object member, never on a type with its own getattro
 * like frost.Record. So a record whose fields can live in slots is made as an
 * instance of a *shape type* instead (the second half of this file): a
 * subtype of frost.Record, one per interpreter, store and record class, with one read-only
 * member per field and the field values copied into the view when it is made.
 * The only subtypes of frost.Record are shape types (it is no base type to
 * anyone else): frost__is_record_view tells a record view by that.
 */
#include "views.h"

#define RV(o) ((FrostRecordView *)(o))

/* The record's state as a dict node (dataclasses, NamedTuples), or NULL. */
static inline const frost_table_t *
record_dict_state(const frost_record_t *r)
{
    frost_ref_t state = r->state;
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
    const frost_table_t *t = record_dict_state(RV(self)->record);
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
    if (frost__record_type_dunder(self, name)) {   /* never cached: the cache holds fields */
        return PyObject_GenericGetAttr(self, name);
    }
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
    const frost_table_t *t = record_dict_state(RV(self)->record);
    if (cache != NULL && t != NULL) {
        size_t slot = field_slot(name);
        if (cache->slot[slot].name == name) {   /* only exact strs are cached */
            Py_ssize_t ix = cache->slot[slot].ix;
            if (ix < t->len && t->entries[ix].key == cache->slot[slot].key) {
                return frost__load_fast(lease, frost_table_value(t, ix));
            }
        }
    }
    return record_getattro_any(self, name);
}

/* ---- shape types ---------------------------------------------------------
 *
 * A record gets a shape type when
 *   - its store has process lifetime: its plain values are the arena's
 *     immortal objects, which a slot may hold for as long as the view lives,
 *     uncounted, and its arena (so the field names a member points at) is
 *     never freed (design.md "Lifetimes");
 *   - its fields are a shaped dict (FROST_DICT_SHAPED: frozen here; every
 *     record of its class in this arena shares the `entries` array, which
 *     names the shape), of 1 .. SHAPE_MAX_FIELDS entries, each key an exact
 *     ASCII str without NUL that does not start with "__" (type machinery
 *     reads some dunder member names, e.g. __weakrefoffset__);
 *   - every value is a plain value (no node: a field holding a container is
 *     made into a view only when read, so a chain of records is never walked
 *     when its head is made).
 * Every other record is a plain frost.Record, read through record_getattro.
 * A shape type reads its fields exactly as record_getattro would (fields win
 * over the type's own attributes: its members shadow them); only its name,
 * `frost.Record[module.QualName]`, tells it apart. Each type made is reported
 * to frost._forking_guard (multiprocessing's pickler refuses it, holding it
 * strongly), and reported gone if it loses a race or fails to register
 * (shape_types_gone), so that the pickler keeps no type the interpreter dropped.
 */

#define SHAPE_MAX_FIELDS 64        /* members at offsets LOAD_ATTR_SLOT can cache (< 64 KiB) */
#define SHAPE_FRONT_SLOTS 16       /* a power of two */

typedef struct {
    FrostRecordView base;
    PyObject *fields[1];           /* len(fields) immortal arena objects, uncounted */
} FrostRecordSlots;

#define SHAPE_FIELD_OFFSET(i) (offsetof(FrostRecordSlots, fields) + (size_t)(i) * sizeof(PyObject *))

/* A Lease's cache in front of its interpreter's shape types (module state
 * `record_shapes`: {entries address: shape type, or None where a shape gets
 * none}). The types are the interpreter's, not the Lease's: a process store
 * is never freed, so an `entries` address names one shape for the life of the
 * process, and a Lease made again (a pool worker that reads a store in every
 * task, holding nothing in between) finds its types made (~25 us each). */
struct frost_record_shapes_s {
    struct {
        const frost_entry_t *entries;   /* the shape; NULL: empty slot */
        PyTypeObject *type;             /* strong; NULL: no type for this shape */
    } front[SHAPE_FRONT_SLOTS];
};

/* Shape types that go (`types`, a sequence; None items are skipped): another
 * thread's type won, or registering one failed. Each was reported to
 * frost._forking_guard, whose registration with multiprocessing's pickler holds
 * it strongly: the guard drops them (else each lost race would keep a type for
 * the life of the interpreter). Best effort, without importing anything: a
 * registration left behind only keeps a type alive. 0 with the exception set on
 * entry, if any, kept; -1 with a KeyboardInterrupt (or another non-Exception)
 * raised in there, which propagates instead. */
static int
shape_types_gone(PyObject *types)
{
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *name = PyUnicode_FromString("frost._forking_guard");
    PyObject *guard = name ? PyImport_GetModule(name) : NULL;
    PyObject *done = guard ? PyObject_CallMethod(guard, "_arena_types_gone", "(O)", types) : NULL;
    Py_XDECREF(done);
    Py_XDECREF(guard);
    Py_XDECREF(name);
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_Exception)) {
        Py_XDECREF(exc);
        return -1;
    }
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    return 0;
}

/* The front cache of a Lease (the types are its interpreter's). */
void
frost__record_shapes_free(struct frost_record_shapes_s *shapes)
{
    if (shapes != NULL) {
        for (int i = 0; i < SHAPE_FRONT_SLOTS; i++) {
            Py_XDECREF(shapes->front[i].type);
        }
        PyMem_Free(shapes);
    }
}

int
frost__is_record_view(frost_state *st, PyTypeObject *tp)
{
    return tp == st->record_type || tp->tp_base == st->record_type;
}

/* Whether `key` can name a member of a shape type (see above). */
static int
shape_field_name_ok(PyObject *key)
{
    if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_ASCII(key)) {
        return 0;
    }
    const char *name = (const char *)PyUnicode_DATA(key);
    Py_ssize_t len = PyUnicode_GET_LENGTH(key);
    return len > 0 && (Py_ssize_t)strlen(name) == len && strncmp(name, "__", 2) != 0;
}

/* A new shape type for the shaped field dict `t` of record `r`, Py_None
 * (new) if its fields cannot be members, or NULL with an exception. */
static PyObject *
shape_type_new(FrostLease *lease, const frost_record_t *r, const frost_table_t *t)
{
    frost_state *st = lease->st;
    if (t->len < 1 || t->len > SHAPE_MAX_FIELDS) {
        Py_RETURN_NONE;
    }
    PyMemberDef members[SHAPE_MAX_FIELDS + 1];
    for (Py_ssize_t i = 0; i < t->len; i++) {
        PyObject *key = frost_ref_object(t->entries[i].key);
        if (!shape_field_name_ok(key)) {
            Py_RETURN_NONE;
        }
        /* the name points into the arena: never freed, as the store has process lifetime */
        members[i] = (PyMemberDef){(const char *)PyUnicode_DATA(key), Py_T_OBJECT_EX,
                                   (Py_ssize_t)SHAPE_FIELD_OFFSET(i), Py_READONLY, NULL};
    }
    members[t->len] = (PyMemberDef){NULL, 0, 0, 0, NULL};
    /* shown as frost.Record[module.QualName]; tp_name (error messages) stays frost.Record */
    PyObject *name = PyUnicode_FromFormat("Record[%U.%U]", frost_ref_object(r->module),
                                          frost_ref_object(r->qualname));
    PyObject *module = name ? PyType_GetModule(st->record_type) : NULL;
    if (module == NULL) {
        Py_XDECREF(name);
        return NULL;
    }
    PyType_Slot slots[] = {
        {Py_tp_doc, "Record of one class: its fields are read-only members."},
        {Py_tp_getattro, PyObject_GenericGetAttr},   /* what LOAD_ATTR specializes */
        {Py_tp_members, members},                     /* copied into the type */
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = "frost.Record",                         /* copied into the type */
        .basicsize = (int)SHAPE_FIELD_OFFSET(t->len),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
        .slots = slots,
    };
    /* frost.Record is a base type only while frost makes its own subtypes (one
     * interpreter's type, under its GIL) */
    st->record_type->tp_flags |= Py_TPFLAGS_BASETYPE;
    PyObject *type = PyType_FromModuleAndSpec(module, &spec, (PyObject *)st->record_type);
    st->record_type->tp_flags &= ~Py_TPFLAGS_BASETYPE;
    if (type != NULL) {
        PyHeapTypeObject *ht = (PyHeapTypeObject *)type;
        Py_SETREF(ht->ht_name, Py_NewRef(name));
        Py_SETREF(ht->ht_qualname, Py_NewRef(name));
        PyTypeObject *tp = (PyTypeObject *)type;
        /* like the module's view types: cross-interpreter data, refused by multiprocessing */
        PyObject *guard = frost__xidata_register(&tp, 1) < 0
                              ? NULL : PyImport_ImportModule("frost._forking_guard");
        PyObject *made = guard ? PyObject_CallMethod(guard, "_arena_type_made", "O", type) : NULL;
        Py_XDECREF(guard);
        if (made == NULL) {
            PyObject *one = PyTuple_Pack(1, type);   /* the guard may have registered it */
            if (one != NULL) {
                (void)shape_types_gone(one);         /* an exception is set either way */
                Py_DECREF(one);
            }
            Py_CLEAR(type);
        }
        Py_XDECREF(made);
    }
    Py_DECREF(name);
    return type;
}

/* The shape type of `t` (borrowed: the Lease's front cache holds it), NULL
 * without an exception where it gets none, or NULL with an exception. */
static PyTypeObject *
shape_type(FrostLease *lease, const frost_record_t *r, const frost_table_t *t)
{
    struct frost_record_shapes_s *shapes = lease->shapes;
    size_t slot = ((uintptr_t)t->entries >> 6) & (SHAPE_FRONT_SLOTS - 1);
    if (shapes != NULL && shapes->front[slot].entries == t->entries) {
        return shapes->front[slot].type;
    }
    if (shapes == NULL) {
        shapes = lease->shapes = PyMem_Calloc(1, sizeof *shapes);
        if (shapes == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
    }
    frost_state *st = lease->st;
    if (st->record_shapes == NULL && (st->record_shapes = PyDict_New()) == NULL) {
        return NULL;
    }
    PyObject *all = st->record_shapes;
    PyObject *key = PyLong_FromVoidPtr((void *)t->entries);
    PyObject *type = key ? Py_XNewRef(PyDict_GetItemWithError(all, key)) : NULL;
    if (type == NULL && key != NULL && !PyErr_Occurred()) {
        PyObject *made = shape_type_new(lease, r, t);
        if (made == NULL && PyErr_ExceptionMatches(PyExc_Exception)) {
            /* a shape type is only a faster way to read the same fields: a record
             * whose type could not be made (no memory, frost._forking_guard gone at
             * interpreter exit) is a plain frost.Record; a KeyboardInterrupt stays */
            PyErr_Clear();
            made = Py_NewRef(Py_None);
        }
        /* making it ran Python code, which may have let another thread of this
         * interpreter store one first: the stored one wins, and the pickler guard
         * lets go of the loser */
        if (made != NULL) {
            type = Py_XNewRef(PyDict_SetDefault(all, key, made));
            if (type != NULL && type != made && made != Py_None) {
                PyObject *one = PyTuple_Pack(1, made);   /* the loser goes */
                if (one == NULL || shape_types_gone(one) < 0) {
                    Py_CLEAR(type);                      /* no memory, or a Ctrl-C: it propagates */
                }
                Py_XDECREF(one);
            }
            Py_DECREF(made);
        }
    }
    Py_XDECREF(key);
    if (type == NULL) {
        return NULL;
    }
    if (type == Py_None) {
        Py_CLEAR(type);
    }
    shapes->front[slot].entries = t->entries;
    Py_XSETREF(shapes->front[slot].type, (PyTypeObject *)type);
    return shapes->front[slot].type;
}

PyObject *
frost__record_view_new(FrostLease *lease, const frost_record_t *r)
{
    PyTypeObject *tp = lease->st->record_type;
    const frost_table_t *t = NULL;
    if (lease->process) {
        t = record_dict_state(r);
        if (t != NULL && !(t->hdr.flags & FROST_DICT_SHAPED)) {
            t = NULL;
        }
        for (Py_ssize_t i = 0; t != NULL && i < t->len; i++) {
            if (frost_ref_is_node(frost_table_value(t, i))) {
                t = NULL;   /* a container field: read through record_getattro */
            }
        }
        PyTypeObject *shaped = t ? shape_type(lease, r, t) : NULL;
        if (shaped != NULL) {
            tp = shaped;
        }
        else if (PyErr_Occurred()) {
            return NULL;
        }
    }
    FrostRecordView *v = PyObject_New(FrostRecordView, tp);
    if (v == NULL) {
        return NULL;
    }
    v->lease = (FrostLease *)Py_NewRef(lease);
    v->record = r;
    v->weaklist = NULL;
    if (tp != lease->st->record_type) {
        PyObject **fields = ((FrostRecordSlots *)v)->fields;
        for (Py_ssize_t i = 0; i < t->len; i++) {
            fields[i] = frost_ref_object(frost_table_value(t, i));   /* immortal */
        }
    }
    return (PyObject *)v;
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
    const frost_table_t *t = record_dict_state(RV(self)->record);
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

/* frost__record_repr_fields' loader for a record view's dict state */
struct arena_fields {
    FrostLease *lease;
    const frost_table_t *t;
};

static int
load_arena_field(void *ctx, Py_ssize_t i, PyObject **k, PyObject **v)
{
    struct arena_fields *f = ctx;
    *k = frost__load(f->lease, f->t->entries[i].key);
    *v = *k ? frost__load(f->lease, frost_table_value(f->t, i)) : NULL;
    return *v ? 0 : -1;
}

/* As the class's own dataclass/NamedTuple repr reads, and as a MappedRecord
 * prints (view_mapped.c): `QualName(a=1, b='x')`, the fields in order (at
 * most FROST_REPR_MAX_ITEMS, then "..."), or `QualName(<state>)` for a state
 * that is not a dict of fields (__shared__). */
static PyObject *
record_repr(PyObject *self)
{
    /* by node, not view (each read makes a new view), and counted twice
     * against the C recursion limit (frost__repr_enter): a chain of records
     * overflowed a small thread stack before RecursionError */
    const frost_record_t *rec = RV(self)->record;
    int rc = frost__repr_enter(rec);
    if (rc != 0) {
        return rc > 0 ? PyUnicode_FromString("...") : NULL;
    }
    PyObject *qualname = frost_ref_object(rec->qualname);   /* read, never held */
    const frost_table_t *t = record_dict_state(rec);
    PyObject *r = NULL;
    if (t == NULL) {
        PyObject *state = record_state(self, NULL);
        r = state ? PyUnicode_FromFormat("%U(%R)", qualname, state) : NULL;
        Py_XDECREF(state);
    }
    else {
        struct arena_fields fields = {RV(self)->lease, t};
        r = frost__record_repr_fields(qualname, t->len, load_arena_field, &fields);
    }
    frost__repr_leave(rec);
    return r;
}

static PyObject *
record_richcompare(PyObject *self, PyObject *other, int op)
{
    if (op != Py_EQ && op != Py_NE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (!frost__is_record_view(RV(self)->lease->st, Py_TYPE(other))) {
        if (Py_TYPE(other) != RV(self)->lease->st->mapped_record_type) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        int eq = frost__records_equal(self, other);   /* a MappedRecord: the same rule */
        return eq < 0 ? NULL : PyBool_FromLong(op == Py_EQ ? eq : !eq);
    }
    const frost_record_t *a = RV(self)->record, *b = RV(other)->record;
    int eq = frost__fast_equal(frost_ref_object(a->module), frost_ref_object(b->module)) == 1
             && frost__fast_equal(frost_ref_object(a->qualname), frost_ref_object(b->qualname)) == 1;
    if (eq && a != b) {
        if (frost__stack_check() < 0) {   /* a state may be the next record: no dict between */
            return NULL;
        }
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

/* 1 if `name` is a dotted module name (identifiers joined by dots), 0 if not,
 * -1 on error. */
static int
is_module_name(PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        return 0;
    }
    PyObject *dot = PyUnicode_FromString(".");
    PyObject *parts = dot ? PyUnicode_Split(name, dot, -1) : NULL;
    Py_XDECREF(dot);
    if (parts == NULL) {
        return -1;
    }
    int valid = 1;
    for (Py_ssize_t i = 0; valid && i < PyList_GET_SIZE(parts); i++) {
        valid = PyUnicode_IsIdentifier(PyList_GET_ITEM(parts, i));
    }
    Py_DECREF(parts);
    return valid;
}

PyObject *
frost__record_class(const frost_record_t *r)
{
    /* local copies: the import system keeps names, and a scoped arena may go */
    PyObject *modname = frost__copy_plain(frost_ref_object(r->module));
    PyObject *mod = NULL;
    int valid = modname != NULL ? is_module_name(modname) : -1;
    if (valid == 0) {
        /* no module can have that name ("", ".rel", "a..b"): unimportable, as any
         * name no module has (the import system answers ValueError, or whatever
         * an import hook says, and that stopped the thaw) */
        PyErr_Format(PyExc_ModuleNotFoundError, "no module is named %R", modname);
    }
    else if (valid > 0) {
        mod = PyImport_Import(modname);
    }
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

/* As a dataclass instance, a record takes weak references (docs/design.md,
 * "Weak references"); shape types inherit the offset, and the dealloc that
 * clears them. */
static PyMemberDef record_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(FrostRecordView, weaklist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot record_slots[] = {
    {Py_tp_doc, "Record: a frozen dataclass, NamedTuple or __shared__ object.\n\n"
                "Fields read as attributes or items; frost.thaw() rebuilds the class."},
    {Py_tp_dealloc, frost__view_dealloc},   /* clears the weak references first */
    {Py_tp_members, record_members},
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
