/*
 * views.h -- what the files of the extension module `frost._frost` share:
 * module state, the Lease and view object layouts, and helpers.
 *
 * Interpreter rules (CPYTHON-FACTS §5): every type here is a heap type made
 * per module instance (one per interpreter) and kept in module state; a view
 * object belongs to the interpreter that made it and holds only plain data
 * about the arena (node pointers) plus a strong reference to its Lease, an
 * object of the same interpreter. Arena memory is process-global and sealed,
 * so reading it needs no lock; only the Lease touches the store's atomic
 * count, once when it is made and once when it dies.
 *
 * Lifetimes: a scoped store hands out copies of plain immutables and views of
 * containers, never a raw arena object, so the arena can go once the last
 * Lease is gone. A process store hands out the arena's own objects.
 */
#ifndef FROST_VIEWS_H
#define FROST_VIEWS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "frost_arena.h"
#include "frost_freeze.h"
#include "frost_nodes.h"
#include "frost_store.h"

#define FROST_REPR_MAX_ITEMS 50   /* reprs of bigger containers end in "..." */

typedef struct {
    PyTypeObject *store_type;
    PyTypeObject *lease_type;
    PyTypeObject *dict_type;
    PyTypeObject *list_type;
    PyTypeObject *set_type;
    PyTypeObject *array_type;
    PyTypeObject *record_type;
    PyTypeObject *iter_type;
    PyTypeObject *channel_type;  /* frost.Channel */
    PyObject *channel_closed_error;  /* frost.ChannelClosedError(ValueError) */
    PyObject *freeze_error;      /* frost.FreezeError(TypeError) */
    PyObject *closed_error;      /* frost.StoreClosedError(ValueError) */
    PyObject *mapping_abc;       /* collections.abc.Mapping */
    PyTypeObject *keys_type;     /* FrozenDict.keys() (view_dictviews.c) */
    PyTypeObject *values_type;   /* FrozenDict.values() */
    PyTypeObject *items_type;    /* FrozenDict.items() */
    PyObject *leases;            /* {store id: address of this interpreter's Lease}; borrowed entries */
    PyObject *snapshot_error;    /* frost.SnapshotError(ValueError) */
    frost_freeze_env_t freeze_env;
} frost_state;

/* One interpreter's hold on one store (see frost_store.h). */
typedef struct {
    PyObject_HEAD
    frost_store_t *store;        /* one reference, released in dealloc */
    frost_state *st;             /* module state of this interpreter; the type keeps the module alive */
    int process;                 /* lifetime == process: hand out arena objects */
    struct frost_field_cache_s *fields;   /* Record field lookups (view_record.c); NULL until used */
} FrostLease;

/* Fields every view starts with. */
#define FROST_VIEW_HEAD \
    PyObject_HEAD \
    FrostLease *lease;           /* strong */

typedef struct {
    FROST_VIEW_HEAD
} FrostView;

typedef struct {
    FROST_VIEW_HEAD
    const frost_table_t *table;
} FrostDictView, FrostSetView;

typedef struct {
    FROST_VIEW_HEAD
    const frost_seq_t *seq;
    Py_ssize_t start;            /* first item of this (slice) view in seq */
    Py_ssize_t step;             /* != 0 */
    Py_ssize_t len;              /* items in this view */
    Py_ssize_t shape[1];         /* buffer export of packed lists */
    Py_ssize_t strides[1];
    PyObject *box[2];            /* packed lists: reusable ints/floats (iter.c) */
} FrostListView;

typedef struct {
    FROST_VIEW_HEAD
    const frost_array_t *array;
    const char *data;            /* start of this (sub-)array */
    int ndim;                    /* dims of this sub-array: the last ndim of the node's */
    const Py_ssize_t *shape;
    const Py_ssize_t *strides;
} FrostArrayView;

typedef struct {
    FROST_VIEW_HEAD
    const frost_record_t *record;
} FrostRecordView;

typedef struct {
    PyObject_HEAD
    FrostLease *lease;           /* NULL once closed */
} FrostStore;

/* module.c */
frost_state *frost__state_of_type(PyTypeObject *tp);
PyObject *frost__closed_error(frost_state *st, const char *what);
/* The lifetime= argument of func(): "scoped" or "process" into *out (NULL
 * obj: *out unchanged); -1 with TypeError/ValueError naming func otherwise. */
int frost__parse_lifetime(PyObject *obj, const char *func, frost_lifetime_t *out);

/* lease.c */
FrostLease *frost__lease_for(frost_state *st, frost_store_t *store);   /* steals a store reference */
PyObject *frost__store_new(frost_state *st, FrostLease *lease);
/* A new frost.Store on `store`, taking over one reference the caller owns. */
PyObject *frost__store_handle(frost_state *st, frost_store_t *store);
PyObject *frost__rebuild(PyObject *module, PyObject *args);
/* Message-owned references for transports (see python/frost/_transport.py):
 * _export(view) takes a store reference owned by the returned tuple; exactly
 * one _import(tuple) (gives the view, hands the reference to the Lease) or
 * _discard(tuple) (drops it) must follow. */
PyObject *frost__export(PyObject *module, PyObject *obj);
PyObject *frost__import(PyObject *module, PyObject *args);
PyObject *frost__discard(PyObject *module, PyObject *args);
/* (frost._frost._rebuild, (store id, node, token[, (start, step, len)])) */
PyObject *frost__reduce_ref(FrostView *view, uintptr_t ref, PyObject *slice);
extern PyType_Spec FrostLease_spec, FrostStore_spec;

/* values.c */
PyObject *frost__load(FrostLease *lease, frost_ref_t ref);          /* new reference */
/* frost__load with the hot case inline: an object of a process store is the
 * arena's own (immortal) object, handed out as is. */
static inline PyObject *
frost__load_fast(FrostLease *lease, frost_ref_t ref)
{
    if (!frost_ref_is_node(ref) && lease->process) {
        return Py_NewRef(frost_ref_object(ref));
    }
    return frost__load(lease, ref);
}
PyObject *frost__copy_plain(PyObject *arena_obj);                  /* local copy */
PyObject *frost__new_view(FrostLease *lease, const frost_node_t *node);
int frost__compare_key(PyObject *arena_key, PyObject *key, void *lease);
int frost__item_equal(FrostLease *lease, frost_ref_t ref, PyObject *other);
Py_hash_t frost__hash_for_lookup(PyObject *key);
PyObject *frost__readonly_error(PyObject *self);
int frost__readonly_ass(PyObject *self, PyObject *key, PyObject *value);
void frost__view_dealloc(PyObject *self);
/* Repr cycle guard by node (see values.c): 0 entered, 1 in progress, -1 error. */
int frost__repr_enter(const void *node);
void frost__repr_leave(const void *node);

/* view_dict.c: the entry index of `key` in a FrozenDict, -1 absent, -2 error */
Py_ssize_t frost__dict_find(PyObject *dict, PyObject *key);

/* view_dictviews.c: keys(), values(), items() of a FrozenDict */
extern PyType_Spec FrostDictKeys_spec, FrostDictValues_spec, FrostDictItems_spec;
PyObject *frost__dict_keys_new(PyObject *dict);
PyObject *frost__dict_values_new(PyObject *dict);
PyObject *frost__dict_items_new(PyObject *dict);

/* view_*.c */
extern PyType_Spec FrostDict_spec, FrostList_spec, FrostSet_spec, FrostArray_spec, FrostRecord_spec;
PyObject *frost__list_view_new(FrostLease *lease, const frost_seq_t *seq, Py_ssize_t start,
                               Py_ssize_t step, Py_ssize_t len);
PyObject *frost__array_view_new(FrostLease *lease, const frost_array_t *a, const char *data,
                                int ndim, const Py_ssize_t *shape, const Py_ssize_t *strides);
int frost__record_parts(PyObject *view, PyObject **module, PyObject **qualname, int *kind,
                        PyObject **state);
PyObject *frost__record_class(const frost_record_t *r);   /* import module.qualname or NULL+error */
void frost__field_cache_free(struct frost_field_cache_s *cache);   /* NULL is fine */

/* iter.c: one iterator type for tables (dicts, sets) and sequences */
typedef enum { FROST_ITER_KEYS, FROST_ITER_VALUES, FROST_ITER_ITEMS } frost_iter_mode_t;
PyObject *frost__table_iter_new(FrostLease *lease, const frost_table_t *t, frost_iter_mode_t mode);
PyObject *frost__seq_iter_new(FrostLease *lease, const frost_seq_t *s, Py_ssize_t start,
                              Py_ssize_t step, Py_ssize_t len);
/* Reuse (see iter.c's top): frost__boxed_int/float give an int/float with
 * value v: one of the two `boxes` (made and kept by the caller's object)
 * rewritten if no one else holds it, else a new one, kept while a slot is
 * free. Small ints are CPython's own. */

/* One of two reusable objects of ours that no one else holds, else NULL. */
static inline PyObject *
frost__free_slot(PyObject *const slots[2])
{
    for (int b = 0; b < 2; b++) {
        if (slots[b] != NULL && Py_REFCNT(slots[b]) == 1) {
            return slots[b];
        }
    }
    return NULL;
}

/* Keep `fresh` for reuse if a slot is empty (at most two per iterator). */
static inline PyObject *
frost__keep(PyObject *slots[2], PyObject *fresh)
{
    if (fresh != NULL) {
        for (int b = 0; b < 2; b++) {
            if (slots[b] == NULL) {
                slots[b] = Py_NewRef(fresh);
                break;
            }
        }
    }
    return fresh;
}

/* Write v into an int box with room for any int64 (CPython's int layout:
 * lv_tag = digit count << 3 | sign (0 positive, 2 negative), digits). */
static inline void
frost__int_box_set(PyObject *box, int64_t v)
{
    PyLongObject *l = (PyLongObject *)box;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uintptr_t n = 0;
    while (a != 0) {
        l->long_value.ob_digit[n++] = (digit)(a & PyLong_MASK);
        a >>= PyLong_SHIFT;
    }
    l->long_value.lv_tag = (n << _PyLong_NON_SIZE_BITS) | (v < 0 ? 2u : 0u);
}

static inline PyObject *
frost__boxed_int(PyObject *boxes[2], int64_t v)
{
    if (v >= -5 && v <= 256) {
        return PyLong_FromLongLong(v);   /* CPython's shared small ints: never boxed */
    }
    PyObject *box = frost__free_slot(boxes);
    if (box == NULL) {
        if (boxes[1] != NULL) {
            return PyLong_FromLongLong(v);   /* both boxes are held: a plain int */
        }
        box = frost__keep(boxes, PyLong_FromLongLong(INT64_MIN));   /* room for any int64 */
        if (box == NULL) {
            return NULL;
        }
        frost__int_box_set(box, v);
        return box;
    }
    frost__int_box_set(box, v);
    return Py_NewRef(box);
}

static inline PyObject *
frost__boxed_float(PyObject *boxes[2], double v)
{
    PyObject *box = frost__free_slot(boxes);
    if (box == NULL) {
        return boxes[1] != NULL ? PyFloat_FromDouble(v) : frost__keep(boxes, PyFloat_FromDouble(v));
    }
    ((PyFloatObject *)box)->ob_fval = v;
    return Py_NewRef(box);
}


/* Load item `i` (0 <= i < s->len) of a list node, packed or not. */
static inline PyObject *
frost__seq_item(FrostLease *lease, const frost_seq_t *s, Py_ssize_t i)
{
    switch (s->hdr.flags) {
    case FROST_SEQ_INT64:
        return PyLong_FromLongLong(s->items.i64[i]);
    case FROST_SEQ_FLOAT64:
        return PyFloat_FromDouble(s->items.f64[i]);
    default:
        return frost__load_fast(lease, s->items.refs[i]);
    }
}
extern PyType_Spec FrostIter_spec;

/* Argument count check for METH_FASTCALL methods; 0 ok, -1 TypeError. */
int frost__check_nargs(const char *name, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max);

/* getattr(o, name) if it exists: 1 and a new reference in *value, 0 and
 * NULL if absent, -1 on error (PyObject_GetOptionalAttrString is 3.13+). */
static inline int
PyObject_GetOptionalAttrString_compat(PyObject *o, const char *name, PyObject **value)
{
    *value = PyObject_GetAttrString(o, name);
    if (*value != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* thaw.c */
PyObject *frost__thaw(frost_state *st, PyObject *obj);

/* snapshot.c: Store.save(path), frost.load(path, *, lifetime), SnapshotError */
PyObject *frost__store_save(PyObject *self, PyObject *path);
PyObject *frost__load_snapshot(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *frost__snapshot_xxh64(PyObject *module, PyObject *data);
int frost__snapshot_exec(PyObject *module, frost_state *st);   /* adds SnapshotError */

/* channel.c: frost.Channel and its crossing by reference. */
extern PyType_Spec FrostChannel_spec;
PyObject *frost__channel_attach(PyObject *module, PyObject *args);
PyObject *frost__channel_export(PyObject *module, PyObject *obj);
PyObject *frost__channel_discard(PyObject *module, PyObject *args);

/* publish.c: frost.publish(name, store) -> version, published(name) -> Store,
 * unpublish(name). */
PyObject *frost__publish(PyObject *module, PyObject *args);
PyObject *frost__published(PyObject *module, PyObject *name);
PyObject *frost__unpublish(PyObject *module, PyObject *name);

/* xidata.c: register types as cross-interpreter data (3.12, 3.13; no-op after). */
int frost__xidata_register(PyTypeObject *const *types, int ntypes);

/* pool_object.c: add the _Pool type (frost_pool_t handle) to the module. */
int frost__pool_type_add(PyObject *module);

#endif /* FROST_VIEWS_H */
