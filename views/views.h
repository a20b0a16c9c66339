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
#include "reuse.h"

#define FROST_REPR_MAX_ITEMS 50   /* reprs of bigger containers end in "..." */

typedef struct {
    PyTypeObject *store_type;
    PyTypeObject *lease_type;
    PyTypeObject *dict_type;
    PyTypeObject *list_type;
    PyTypeObject *set_type;
    PyTypeObject *array_type;
    PyTypeObject *record_type;
    PyTypeObject *table_type;    /* frost.Table (view_table.c) */
    PyTypeObject *column_type;   /* frost.Column */
    PyTypeObject *iter_type;
    PyTypeObject *refs_iter_type;   /* the same iterator over a process store's references (iter.c) */
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
    /* format-2 images read in place (view_mapped.c) */
    PyTypeObject *map_image_type;   /* frost._frost.MapImage */
    PyTypeObject *mapped_dict_type, *mapped_list_type, *mapped_set_type, *mapped_record_type,
        *mapped_array_type, *mapped_iter_type;
    PyTypeObject *mapped_table_type, *mapped_column_type;   /* view_table.c's code, an image's blob */
    /* the pickle module's, for messages (xref.c; looked up on first use) */
    PyObject *pickle_dumps, *pickle_loads, *pickling_error, *pickle_protocol;
    PyObject *record_shapes;     /* {entries address: Record shape type or None} (view_record.c); NULL until used */
    frost_freeze_env_t freeze_env;
} frost_state;

/* A FrozenList or MappedList (a FrozenDict or MappedDict) of this interpreter:
 * the arena and the mapped kind of one builtin compare and combine with each
 * other as with that builtin (`frost.freeze(x).root == frost.share(x).root`). */
static inline int
frost__is_list_view(const frost_state *st, PyObject *o)
{
    return Py_TYPE(o) == st->list_type || Py_TYPE(o) == st->mapped_list_type;
}

static inline int
frost__is_dict_view(const frost_state *st, PyObject *o)
{
    return Py_TYPE(o) == st->dict_type || Py_TYPE(o) == st->mapped_dict_type;
}

static inline int
frost__is_set_view(const frost_state *st, PyObject *o)
{
    return Py_TYPE(o) == st->set_type || Py_TYPE(o) == st->mapped_set_type;
}

/* 1 if a set view compares with `o` itself, as a frozenset compares with it:
 * a set or frozenset (or subclass), a set view of either kind, or a dict's
 * keys()/items() (they return NotImplemented for a type they do not know, so
 * the view answers for both sides). Any other collections.abc.Set gets
 * NotImplemented, as from frozenset, and its reflected mixin method reads the
 * view (a Set itself): the same result, and the same exception from its
 * __len__ or __iter__, as with a frozenset. */
static inline int
frost__compares_as_set(const frost_state *st, PyObject *o)
{
    return PyAnySet_Check(o) || frost__is_set_view(st, o) || PyDictKeys_Check(o)
           || PyDictItems_Check(o);
}

/* frost_freeze_env_t.view_node (ctx: this state): the node a whole-container
 * view of either store kind shows, NULL for anything else (values.c). */
const void *frost__view_node(void *ctx, PyObject *o);
/* The address of the node a MappedDict/List/Set/Record shows (its image's
 * mapping), NULL for any other object (view_mapped.c). */
const void *frost__mapped_node_address(const frost_state *st, PyObject *o);

/* a | b where a or b is a dict view (FrozenDict, MappedDict) of state `st`,
 * as a mappingproxy's `|` reads its dict: dicts and dict views give a new dict
 * of both sides' items; with any other operand (a dict subclass too),
 * dict(view) | b (a | dict(view)), so that operand's own operator answers
 * (UserDict's takes a dict, OrderedDict's gives an OrderedDict). */
PyObject *frost__dict_view_or(const frost_state *st, PyObject *a, PyObject *b);

/* a OP b (&, |, -, ^) where a or b is a set view (FrozenSet, MappedSet) of
 * state `st`: as frozenset's operators, each view read as the frozenset of its
 * items, so the result's type is the left operand's (a set for set & view);
 * NotImplemented unless both are sets, frozensets or set views (values.c). */
PyObject *frost__set_view_binop(const frost_state *st, PyObject *a, PyObject *b,
                                PyObject *(*op)(PyObject *, PyObject *));

/* One interpreter's hold on one store (see frost_store.h). */
typedef struct {
    PyObject_HEAD
    frost_store_t *store;        /* one reference, released in dealloc */
    frost_state *st;             /* module state of this interpreter; the type keeps the module alive */
    int process;                 /* lifetime == process: hand out arena objects */
    PyObject *nan_copies;        /* scoped: {arena NaN address: its one local copy} or NULL (values.c) */
    PyObject *nan_origins;       /* scoped: {id(copy): its arena NaN's address} or NULL (values.c) */
    struct frost_field_cache_s *fields;   /* Record field lookups (view_record.c); NULL until used */
    struct frost_record_shapes_s *shapes; /* front cache of Record shape types (view_record.c); NULL until used */
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
    frost_reuse_t results;       /* scoped d[k], d.get(k): copies to reuse (reuse.h) */
} FrostDictView;

typedef struct {
    FROST_VIEW_HEAD
    const frost_set_t *set;
    Py_hash_t hash;              /* hash(frozenset(self)) once asked (the items never
                                    change, nor do their objects), else -1 */
    PyObject *weaklist;          /* weak references to this view (a frozenset takes them),
                                    cleared in its dealloc; NULL while none */
} FrostSetView;

typedef struct {
    FROST_VIEW_HEAD
    const frost_seq_t *seq;
    Py_ssize_t start;            /* first item of this (slice) view in seq */
    Py_ssize_t step;             /* != 0 */
    Py_ssize_t len;              /* items in this view */
    Py_ssize_t shape[1];         /* buffer export of packed lists */
    Py_ssize_t strides[1];
    frost_reuse_t results;       /* l[i]: packed ints/floats, scoped copies to reuse (reuse.h) */
} FrostListView;

typedef struct {
    FROST_VIEW_HEAD
    const frost_array_t *array;
    const char *data;            /* start of this (sub-)array */
    int ndim;                    /* dims of this sub-array: the last ndim of the node's */
    const Py_ssize_t *shape;
    const Py_ssize_t *strides;
    PyObject *weaklist;          /* weak references to this view (a memoryview and an ndarray
                                    take them), cleared in its dealloc; NULL while none */
} FrostArrayView;

typedef struct {
    FROST_VIEW_HEAD
    const frost_record_t *record;
    PyObject *weaklist;          /* weak references to this view (a dataclass instance takes
                                    them), cleared in its dealloc; NULL while none. Shape
                                    types (view_record.c) inherit the offset */
} FrostRecordView;

typedef struct {
    PyObject_HEAD
    FrostLease *lease;           /* NULL once closed */
} FrostStore;

/* module.c: the module's definition, freeze(), thaw(), per-interpreter setup. */
/* The view types that cross interpreters by reference, besides Store: the one
 * list that pickling, tickets (xref.c) and cross-interpreter data share. */
#define FROST_NODE_VIEW_TYPES(st) \
    (st)->dict_type, (st)->list_type, (st)->set_type, (st)->array_type, (st)->record_type, \
    (st)->table_type
int frost__is_node_view_type(frost_state *st, PyTypeObject *tp);
frost_state *frost__state_of_type(PyTypeObject *tp);   /* this module's state for its type */
/* Between slices of a blocking wait (GIL held): -1 with the exception that
 * ends it (a signal, or one raised in this thread by another: see channel.c). */
int frost__wait_tick(void);

/* lease.c: Store, Lease */
PyObject *frost__closed_error(frost_state *st, const char *what);
int frost__parse_progress(PyObject *obj, const char *func, PyObject **out);   /* module.c */
/* An int-like argument (__index__, not a bool) named `what` in messages; module.c */
int frost__parse_index(PyObject *obj, const char *what, Py_ssize_t *out);
/* An int named in a message: its repr, or its size past 128 bits; module.c */
PyObject *frost__int_repr(PyObject *index);
/* A blocking call's timeout: None/NULL -> -1 (none), else a number >= 0 (any
 * object float() takes, not a str; inf waits without end); TypeError/ValueError
 * otherwise, OverflowError past a float's range, each naming `timeout`. channel.c */
int frost__parse_timeout(PyObject *obj, double *timeout);
/* Call a progress callback: cb(done, total), or cb(done, None) when !has_total.
 * 0, or -1 with its exception set. Needs the GIL. (module.c) */
int frost__report_progress(PyObject *cb, uint64_t done, int has_total, uint64_t total);
/* The lifetime= argument of func(): "scoped" or "process" into *out (NULL
 * obj: *out unchanged); -1 with TypeError/ValueError naming func otherwise. */
int frost__parse_lifetime(PyObject *obj, const char *func, frost_lifetime_t *out);
FrostLease *frost__lease_for(frost_state *st, frost_store_t *store);   /* steals a store reference */
PyObject *frost__store_new(frost_state *st, FrostLease *lease);
/* A new frost.Store on `store`, taking over one reference the caller owns. */
PyObject *frost__store_handle(frost_state *st, frost_store_t *store);
extern PyType_Spec FrostLease_spec, FrostStore_spec;

/* xref.c: the cross-interpreter reference (see its banner). */
typedef struct frost_channel_s frost_channel_t;
/* (frost._frost._rebuild, (store id, node, token[, (start, step, len)])) */
PyObject *frost__reduce_ref(FrostView *view, uintptr_t ref, PyObject *slice);
PyObject *frost__rebuild(PyObject *module, PyObject *args);          /* _rebuild(...) */
PyObject *frost__channel_attach(PyObject *module, PyObject *args);   /* _channel_attach(id, token) */
PyObject *frost__export(PyObject *module, PyObject *obj);            /* _export(obj) -> ticket */
PyObject *frost__import(PyObject *module, PyObject *ticket);         /* _import(ticket) -> obj */
PyObject *frost__discard(PyObject *module, PyObject *ticket);        /* _discard(ticket) -> bool */
PyObject *frost__export_fd(PyObject *module, PyObject *fd);          /* _export_fd(fd) -> ticket */
PyObject *frost__import_fd(PyObject *module, PyObject *ticket);      /* _import_fd(ticket) -> fd */
PyObject *frost__capturing_caller(PyObject *module, PyObject *ignored);   /* _capturing() -> bool */
PyObject *frost__capture_fd(PyObject *module, PyObject *fd);         /* _capture_fd(fd) -> (index, id) */
PyObject *frost__ticket_fd(PyObject *module, PyObject *const *args, Py_ssize_t nargs);   /* -> fd */
PyObject *frost__own_fd(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
int frost__fd_methods_add(PyObject *module);   /* _fd_close, _fd_del: frost._fd.Fd's */
PyObject *frost__message_pack(PyObject *module, PyObject *args);     /* _message(tickets, body) */
PyObject *frost__message_tickets(PyObject *module, PyObject *data);  /* -> tickets tuple */
PyObject *frost__discard_message(PyObject *module, PyObject *data);
PyObject *frost__ticket_ref(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *frost__dumps(PyObject *module, PyObject *obj);             /* _dumps(obj) -> message */
PyObject *frost__loads(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
/* frost._transport's dumps and loads (a message: bytes; see xref.c section 3) */
PyObject *frost__transport_dumps(frost_state *st, PyObject *obj);
PyObject *frost__transport_loads(frost_state *st, PyObject *data, int consume);
/* Whether a reducer runs for the pickler of a transport dumps (then the
 * by-reference types reduce to a ticket of its message); with the GIL. */
int frost__capturing(void);
/* The reduce value of a Channel in that case (a ticket holding one count). */
PyObject *frost__capture_channel(PyObject *module, frost_channel_t *ch);
PyObject *frost__live_xrefs(PyObject *module, PyObject *ignored);
/* Release every ticket a message names (idempotent; any thread, no GIL). */
void frost__message_release(const char *data, size_t len);
/* Mark a message's tickets as queued in `ch` (NULL: no longer queued). */
void frost__message_park(const char *data, size_t len, frost_channel_t *ch);
/* fork(): the ticket table's lock, held across it by channel.c's handlers */
void frost__xref_atfork_lock(void);
void frost__xref_atfork_unlock(void);
/* A channel lost its last handle (the caller still holds a count on it): drain
 * it, and the channels it is held through, if only their own queues hold them. */
void frost__xref_channel_orphaned(frost_channel_t *ch);
/* Tickets and channels the collections of such channels have looked at in
 * this process (for tests: the cost of a collection, counted). */
PyObject *frost__collect_steps(PyObject *module, PyObject *ignored);
/* Tickets without Python objects, for xidata.c (which repeats these prototypes). */
int frost__xref_send(PyObject *module, PyObject *obj, uint64_t *ticket, uint64_t *token);
PyObject *frost__xref_receive(PyObject *module, uint64_t ticket, uint64_t token);
void frost__xref_release(uint64_t ticket, uint64_t token);

/* values.c */
PyObject *frost__load(FrostLease *lease, frost_ref_t ref);          /* new reference */
/* A new reference to the object of a process store's plain ref: the arena's
 * own copy, or one of CPython's static singletons, immortal either way (the
 * freezer keeps no other object, freeze.c), and an immortal object counts no
 * references: Py_NewRef would only test that (3.12+, every build). */
static inline PyObject *
frost__process_object(frost_ref_t ref)
{
    return frost_ref_object(ref);
}
/* frost__load with the hot case inline: an object of a process store is the
 * arena's own (immortal) object, handed out as is. */
static inline PyObject *
frost__load_fast(FrostLease *lease, frost_ref_t ref)
{
    if (!frost_ref_is_node(ref) && lease->process) {
        return frost__process_object(ref);
    }
    return frost__load(lease, ref);
}
PyObject *frost__copy_plain(PyObject *arena_obj);                  /* local copy */
/* A scoped Lease's copy of arena object `o`: the object of `slots`' turn
 * rewritten in place when reuse.h allows, else a new copy (kept there). */
PyObject *frost__copy_reusing(FrostLease *lease, PyObject *o, frost_reuse_t *slots);
/* frost__load_fast, reusing a scoped copy (above) */
static inline PyObject *
frost__load_reusing(FrostLease *lease, frost_ref_t ref, frost_reuse_t *slots)
{
    if (!frost_ref_is_node(ref)) {
        if (lease->process) {
            return frost__process_object(ref);
        }
        return frost__copy_reusing(lease, frost_ref_object(ref), slots);
    }
    return frost__load(lease, ref);
}
/* Item i of reusable row `row` (reuse.h) given the value of `ref`: rewritten in
 * place when allowed, else replaced; 0, or -1 with an exception. */
int frost__row_put(FrostLease *lease, PyObject *row, Py_ssize_t i, frost_ref_t ref);
PyObject *frost__new_view(FrostLease *lease, const frost_node_t *node);
int frost__compare_key(PyObject *arena_key, PyObject *key, void *lease);
/* After a lookup's miss: the key among n (key_at(t, i), borrowed, NULL for none)
 * that a dict would have found for `query` where the format-1 hash of `...`
 * is not Python's (tuple keys holding one): its index, -1, -2 error (values.c). */
Py_ssize_t frost__rescan_ellipsis_keys(FrostLease *lease, PyObject *query, const void *t, Py_ssize_t n,
                                       PyObject *(*key_at)(const void *t, Py_ssize_t i));
int frost__item_equal(FrostLease *lease, frost_ref_t ref, PyObject *other);
Py_hash_t frost__hash_for_lookup(FrostLease *lease, PyObject *key);   /* frost__key_hash of a query */
PyObject *frost__readonly_error(PyObject *self);
int frost__readonly_ass(PyObject *self, PyObject *key, PyObject *value);
/* TypeError for an in-place operator (`x op= operand`) on a view: it cannot
 * change; `x = x op operand` makes a new `made`. Returns NULL. */
PyObject *frost__readonly_inplace(PyObject *self, const char *op, const char *operand, const char *made);
/* __reduce__ of the types that do not pickle (dict views, iterators), as dict_keys and
 * list_iterator... answer at every protocol: TypeError "cannot pickle 'T' object".
 * Without it, protocols 0 and 1 (copyreg._reduce_ex: a heap type reduces as object) got
 * as far as looking the type up by name: a PicklingError "attribute lookup ... failed". */
PyObject *frost__no_pickle(PyObject *self, PyObject *ignored);
#define FROST_NO_PICKLE_METHOD {"__reduce__", frost__no_pickle, METH_NOARGS, "Not picklable: TypeError."}
/* The list views' operators (FrozenList, MappedList): `a + b` where a_view /
 * b_view say which side is a view of the caller's kind: view + list/tuple/view
 * and list + view -> a new list, tuple + view -> a tuple, else NotImplemented;
 * `view * n` (len: the view's) -> a list. st: the caller's state (a list view
 * of the other kind, frost__is_list_view, counts as a view too). */
PyObject *frost__list_view_add(frost_state *st, PyObject *a, PyObject *b, int a_view, int b_view);
PyObject *frost__list_view_repeat(PyObject *self, Py_ssize_t len, Py_ssize_t n);
/* The frozenset method `name` called on frozenset(self) with `args`: the set
 * views' named methods (FrozenSet, MappedSet), with frozenset's results. */
PyObject *frost__set_delegate(PyObject *self, const char *name, PyObject *args);
/* A dict view `self` == Mapping `other` reads other as dict's == reads a dict
 * (from its table: no __missing__, so a defaultdict is not changed and a Counter
 * does not hold every key) and any other Mapping as Mapping.__eq__ does (the
 * items it lists, never a __getitem__ of a key it does not list).
 * frost__mapping_equal: equal_to(self, m) (1, 0, -1 error) of m, `other`
 * itself when it is a dict or of self's type, else a new dict of
 * other.items(); frost__mapping_value: the value under `key` in such an m
 * (new reference; NULL without an error: absent). */
int frost__mapping_equal(PyObject *self, PyObject *other, int (*equal_to)(PyObject *self, PyObject *m));
PyObject *frost__mapping_value(PyObject *mapping, PyObject *key);
/* Python's rule for `a op b` where b's type is a strict subclass of a's: b's reflected
 * method runs first. A view stands for `builtin` (list, dict, frozenset), so when other
 * is an instance of a subclass of it that has its own comparison, that answers first,
 * as it would against the builtin (once: asked again from inside its own answer, for
 * the same pair, the view answers). Returns 1 with *answer set to the subclass's answer
 * (a new reference, or NULL with its error), or 0: the view answers. Each view's
 * richcompare opens with it. */
int frost__subclass_compares_first(PyObject *self, PyObject *other, int op,
                                   PyTypeObject *builtin, PyObject **answer);
/* cmp(self, list(other), op): a list view compared with a list view of the
 * other kind (FrozenList, MappedList), as with the list of its items. */
PyObject *frost__richcompare_as_list(PyObject *self, PyObject *other, int op,
                                     PyObject *(*cmp)(PyObject *self, PyObject *other, int op));
/* What the container views share with the builtins they stand for (values.c):
 * a set view's hash, that of the frozenset of its items (it compares equal to
 * that frozenset); copy() as MappingProxyType's, a new plain dict,
 * list or frozenset of the items (top level only: nested containers stay views). */
Py_hash_t frost__set_view_hash(PyObject *self);
Py_hash_t frost__mapped_set_view_hash(PyObject *self);   /* the same, NaNs read as None */
PyObject *frost__copy_to_dict(PyObject *self, PyObject *ignored);
/* Every (key, value) of mapping.items() into the dict `into`; 0 or -1. Not
 * keys() and self[key], as PyDict_Update reads a non-dict: a format-2 image's
 * NaN key is a fresh NaN at each read, which no lookup finds. */
int frost__dict_merge_items(PyObject *into, PyObject *mapping);
PyObject *frost__copy_to_list(PyObject *self, PyObject *ignored);
PyObject *frost__copy_to_frozenset(PyObject *self, PyObject *ignored);
/* FrozenDict[str, int] in annotations, as dict[str, int] (PEP 585): the
 * container views' __class_getitem__ (their stubs are generic). */
#define FROST_CLASS_GETITEM \
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, "See PEP 585."}
#define FROST_COPY_DOC(plain) "copy($self, /)\n--\n\nA new plain " plain " of the items " \
    "(nested containers stay views), as MappingProxyType.copy()."
#define FROST_SET_DELEGATE(name) \
    static PyObject *set_##name(PyObject *self, PyObject *args) { return frost__set_delegate(self, #name, args); }
/* Both set views' six named methods: the functions, then their table rows. */
#define FROST_SET_DELEGATES \
    FROST_SET_DELEGATE(issubset) FROST_SET_DELEGATE(issuperset) FROST_SET_DELEGATE(union) \
    FROST_SET_DELEGATE(intersection) FROST_SET_DELEGATE(difference) \
    FROST_SET_DELEGATE(symmetric_difference)
#define FROST_SET_DELEGATE_METHODS \
    {"issubset", set_issubset, METH_VARARGS, "As frozenset.issubset."}, \
    {"issuperset", set_issuperset, METH_VARARGS, "As frozenset.issuperset."}, \
    {"union", set_union, METH_VARARGS, "As frozenset.union (a frozenset)."}, \
    {"intersection", set_intersection, METH_VARARGS, "As frozenset.intersection (a frozenset)."}, \
    {"difference", set_difference, METH_VARARGS, "As frozenset.difference (a frozenset)."}, \
    {"symmetric_difference", set_symmetric_difference, METH_VARARGS, \
     "As frozenset.symmetric_difference (a frozenset)."}
/* A container repr: open + the reprs in `parts` joined by ", " (and
 * "... (N more)" when `more` > 0) + close. Steals `parts` (NULL: an error is
 * set, returns NULL). */
PyObject *frost__repr_items(PyObject *parts, Py_ssize_t more, const char *open, const char *close);
/* A record view's repr from its fields, as the class's own dataclass/NamedTuple
 * repr reads, for both kinds of record view: `QualName(a=1, b='x')`, at most
 * FROST_REPR_MAX_ITEMS fields, then "...". load(ctx, i, &k, &v) gives field i's
 * name and value (new references; -1 with an error set). */
typedef int (*frost_field_loader_t)(void *ctx, Py_ssize_t i, PyObject **k, PyObject **v);
PyObject *frost__record_repr_fields(PyObject *qualname, Py_ssize_t len, frost_field_loader_t load,
                                    void *ctx);
/* 1 if `name` is a dunder name the record view's type has: the type's, not a field's. */
int frost__record_type_dunder(PyObject *self, PyObject *name);
/* A record view's __dir__: object.__dir__(self) and its str _fields (what r.name reads). */
PyObject *frost__record_dir(PyObject *self, PyObject *ignored);
void frost__view_dealloc(PyObject *self);
/* Repr cycle and depth guard by node (see values.c): 0 entered (leave with
 * frost__repr_leave), 1 in progress, -1 error (RecursionError when too deep). */
int frost__repr_enter(const void *node);
/* -1 with RecursionError when this thread's C stack is nearly used up (values.c). */
int frost__stack_check(void);
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
/* sys.modules['numpy'] if this interpreter imported it (borrowed), else NULL
 * without an error (not imported, or blocked with None). */
PyObject *frost__numpy_if_imported(void);
/* Release and drop memoryview `mv` (a reference the caller owns) that holds no
 * export of its own (nothing was sliced from it), keeping whatever exception
 * is set: release() runs without it, and its own failure is ignored. */
void frost__memoryview_done(PyObject *mv);
/* What the item readers of a buffer exporter (frost.Array, frost.MappedArray)
 * need: its name in errors, its struct-module format and its C layout. */
typedef struct {
    const char *what;
    const char *format;
    int ndim;
    const Py_ssize_t *shape;
    const Py_ssize_t *strides;
} frost_layout_t;
/* After memoryview raised NotImplementedError (a format it cannot unpack):
 * the items (all as nested lists if key is NULL, else the item `key` names)
 * through numpy if this interpreter imported it, else through the struct
 * module if it reads the format, else memoryview's error. Any other error:
 * NULL, kept. */
PyObject *frost__unpack_elsewhere(PyObject *self, PyObject *key, const frost_layout_t *l);
/* self[key] for a buffer exporter, as memoryview(self) answers it: an item
 * for one integer per dimension (frost__unpack_elsewhere where memoryview
 * cannot read it), a read-only memoryview of the same memory for a slice
 * (first dimension; it holds the export, so the store stays alive), or, for
 * a format memoryview cannot unpack ('Zd', '>i') where this interpreter has
 * imported numpy, the read-only ndarray numpy.asarray(self)[key] (the same
 * memory, readable). Every other key is a TypeError naming its type. */
PyObject *frost__buffer_subscript(PyObject *self, PyObject *key, const frost_layout_t *l);
/* self == other / != for a buffer exporter of items in `format`, as
 * memoryview(self) compares: with any buffer (another view, bytes, array,
 * memoryview, ndarray), item by item; formats the struct module cannot read
 * go through numpy.array_equal when numpy is imported. Other operators and
 * operands: NotImplemented. */
PyObject *frost__buffer_richcompare(PyObject *self, PyObject *other, int op, const char *format);
/* (xs[0], ..., xs[ndim - 1]) as a tuple of ints: an array's shape or strides. */
PyObject *frost__ssize_tuple(const Py_ssize_t *xs, int ndim);
/* self.tobytes(): a copy of the data in C order, as memoryview(self).tobytes(). */
PyObject *frost__buffer_tobytes(PyObject *self);
/* The sub-Array a[i0]..[ik] of `a` for a pickled index tuple, validated. */
/* The sub-Array of `a` at flat index `index` over its first `dims` dimensions
 * (what Array.__reduce__ names); ValueError when out of range. */
PyObject *frost__array_subview_new(FrostLease *lease, const frost_array_t *a, Py_ssize_t dims,
                                   Py_ssize_t index);
PyObject *frost__array_view_new(FrostLease *lease, const frost_array_t *a, const char *data,
                                int ndim, const Py_ssize_t *shape, const Py_ssize_t *strides);
/* Fill `view` for a getbuffer request of `flags` on read-only memory laid out
 * as (buf, itemsize, ndim, shape, strides): granted exactly when memoryview
 * would grant it for that layout, else BufferError naming `what` (view_array.c). */
int frost__export_buffer(Py_buffer *view, PyObject *owner, const char *what, const char *buf,
                         Py_ssize_t itemsize, const char *format, int ndim,
                         const Py_ssize_t *shape, const Py_ssize_t *strides, int flags);
/* Two record views of either kind (Record, MappedRecord): equal when their
 * classes' module and qualname and their states are (values.c); 1, 0, -1. */
int frost__records_equal(PyObject *a, PyObject *b);
int frost__record_parts(PyObject *view, PyObject **module, PyObject **qualname, int *kind,
                        PyObject **state);
PyObject *frost__record_class(const frost_record_t *r);   /* import module.qualname or NULL+error */
void frost__field_cache_free(struct frost_field_cache_s *cache);   /* NULL is fine */
void frost__record_shapes_free(struct frost_record_shapes_s *shapes);   /* NULL is fine */
/* A view of record node `r`: a frost.Record, or an instance of its shape type. */
PyObject *frost__record_view_new(FrostLease *lease, const frost_record_t *r);
/* Whether `tp` is frost.Record or one of its shape types (view_record.c). */
int frost__is_record_view(frost_state *st, PyTypeObject *tp);

/*
 * What an export that outlives every Python object (an Arrow struct, a DLPack
 * tensor) holds so its memory stays: one reference on an arena store, or on
 * a format-2 image's pin (frost_map_read.h: a mapping of our own), tagged
 * with the low bit. Acquire/release touch no Python object: any thread, any
 * interpreter, with or without a thread state.
 */
typedef uintptr_t frost_keep_t;
struct frost_map_pin_s;
static inline frost_keep_t frost_keep_store(frost_store_t *store) { return (uintptr_t)store; }
static inline frost_keep_t frost_keep_pin(struct frost_map_pin_s *pin) { return (uintptr_t)pin | 1u; }
void frost_keep_acquire(frost_keep_t keep);
void frost_keep_release(frost_keep_t keep);   /* 0 ok */

/* dlpack.c: __dlpack__(*, stream, max_version, dl_device, copy) and
 * __dlpack_device__() of Array and packed FrozenList views. */
PyObject *frost__array_dlpack(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *frost__list_dlpack(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *frost__dlpack_device(PyObject *self, PyObject *ignored);
/* A capsule for `len` items `byte_stride` apart at `data` (struct-module `format`). */
PyObject *frost__dlpack_export_1d(frost_keep_t keep, const char *data, Py_ssize_t len,
                                  Py_ssize_t byte_stride, const char *format, Py_ssize_t itemsize,
                                  PyObject *args, PyObject *kwargs);
#define FROST_DLPACK_DOC \
    "__dlpack__($self, /, *, stream=None, max_version=None, dl_device=None, copy=None)\n--\n\n" \
    "A DLPack capsule (Python array API): with max_version >= (1, 0) it shares the\n" \
    "arena memory, marked read-only; a legacy capsule or copy=True gets a copy."


/* view_table.c: frost.Table and frost.Column over a table node (arena), and
 * frost.MappedTable / frost.MappedColumn over a format-2 image's COLUMNS node
 * (the same code: every read goes through the blob; only what keeps it alive
 * and how it pickles differ). */
extern PyType_Spec FrostTable_spec, FrostColumn_spec, FrostMappedTable_spec, FrostMappedColumn_spec;
PyObject *frost__table_view_new(FrostLease *lease, const void *columns_node);
/* A MappedTable over `blob` (checked by frost_map_columns_check, inside the
 * memory of `pin`, which the MapImage `image` holds) of the node at `offset`. */
PyObject *frost__mapped_table_new(frost_state *st, PyObject *image, struct frost_map_pin_s *pin,
                                  const char *blob, uint64_t offset);
/* The table node of a whole frost.Table view (for the format-2 writer), or
 * NULL with FreezeError for a row slice. */
const void *frost__table_view_node(PyObject *table_view);
PyObject *frost__table_blob(PyObject *module, PyObject *view);   /* _frost._table_blob (tests) */
PyObject *frost__table_is_whole(PyObject *module, PyObject *view);   /* not a row slice */
/* thaw of a Table view: {name: list}; of a Column view: a list. */
PyObject *frost__table_thaw(PyObject *table_view);
PyObject *frost__column_thaw(PyObject *column_view);

/* iter.c: one iterator type for tables (dicts, sets) and sequences */
typedef enum { FROST_ITER_KEYS, FROST_ITER_VALUES, FROST_ITER_ITEMS } frost_iter_mode_t;
PyObject *frost__table_iter_new(FrostLease *lease, const frost_table_t *t, frost_iter_mode_t mode);
PyObject *frost__set_iter_new(FrostLease *lease, const frost_set_t *s);
/* __reversed__ of a FrozenDict and its keys/values/items views: their iterator, last entry first */
PyObject *frost__reversed_items(PyObject *self, PyObject *ignored);
PyObject *frost__seq_iter_new(FrostLease *lease, const frost_seq_t *s, Py_ssize_t start,
                              Py_ssize_t step, Py_ssize_t len);
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
/* frost__seq_item for a reader that reuses its results (`results`, reuse.h:
 * packed ints and floats in the reader's boxes, a scoped store's copies
 * rewritten): the hot reads of l[i] and of iteration. Every path a return or
 * a tail call, so its callers need no stack frame. */
static inline PyObject *
frost__seq_item_reusing(FrostLease *lease, const frost_seq_t *s, Py_ssize_t i, frost_reuse_t *results)
{
    switch (s->hdr.flags) {
    case FROST_SEQ_INT64:
        return frost__boxed_int(results, s->items.i64[i]);
    case FROST_SEQ_FLOAT64:
        return frost__boxed_float(results, s->items.f64[i]);
    default:
        return frost__load_reusing(lease, s->items.refs[i], results);
    }
}
extern PyType_Spec FrostIter_spec, FrostRefsIter_spec;

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

/* thaw.c: frost.thaw(x, *, classes=None) */
PyObject *frost__thaw(PyObject *module, PyObject *args, PyObject *kwargs);
/* A record's thawed object from its class (stolen; NULL: rebuilt as plain
 * data, a SimpleNamespace of a dict of str keys) and thawed state. */
PyObject *frost__thaw_record_rebuild(PyObject *cls, unsigned kind, PyObject *state);
/* A copy of array data read with `format` as its origin (frost_array_origin_t) made it. */
PyObject *frost__thaw_array_parts(const char *data, const char *format, Py_ssize_t itemsize,
                                  unsigned origin, int ndim, const Py_ssize_t *shape,
                                  const Py_ssize_t *strides);

/* view_mapped.c: _frost.MapImage and the Mapped* views over format-2 images. */
int frost__mapped_types_add(PyObject *module, frost_state *st);   /* types + ABC registration */
int frost__is_mapped_view(frost_state *st, PyObject *obj);
/* 1 if obj is a frost.MappedStore (frost._mapped, when imported), 0 no, -1 error */
int frost__is_mapped_store(PyObject *obj);
/* 'k', 'v' or 'i' if obj is a MappedDict's keys(), values() or items() view
 * (frost._mappedviews, when imported; exact types), 0 if not */
int frost__mapped_dict_view_kind(PyObject *obj);
/* frost__record_parts of a MappedRecord (kind with FROST_RECORD_FROM_FILE: its names come
 * from an image); -2 without an exception when `view` is not one */
int frost__mapped_record_parts(PyObject *view, PyObject **module, PyObject **qualname, int *kind,
                               PyObject **state);
/* thaw() of a Mapped* view (allowed: thaw(classes=) or NULL) */
PyObject *frost__mapped_thaw(frost_state *st, PyObject *obj, PyObject *allowed);
/* __reduce__ of a view of the node at `offset` of MapImage `image` (by its handle) */
PyObject *frost__mapped_reduce_at(PyObject *image, uint64_t offset, const char *tp_name);

/* snapshot.c: Store.save(path), frost.load(path, *, lifetime), SnapshotError */
PyObject *frost__store_save(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *frost__load_snapshot(PyObject *module, PyObject *args, PyObject *kwargs);
PyObject *frost__snapshot_xxh64(PyObject *module, PyObject *data);
PyObject *frost__xxh3(PyObject *module, PyObject *args);
/* map_write_py.c: the format-2 writer's Python face */
PyObject *frost__map_write(PyObject *module, PyObject *args, PyObject *kwargs);
/* The format-2 image of sealed `arena`'s graph at `root` into fd (progress
 * borrowed or NULL; checksum 0: no body checksum): its size, or -1 with an
 * exception set. The caller keeps the arena alive for the call. */
int64_t frost__map_write_arena(frost_state *st, const frost_arena_t *arena, uintptr_t root, int fd,
                               PyObject *progress, int checksum);
/* The arguments of freeze(obj, *, lifetime='scoped', progress=None)
 * (FROST_CALL_FREEZE), of a format-2 writer, func(obj, fd, /, *,
 * progress=None, checksum=True) (FROST_CALL_WRITER: _map_write,
 * _map_write_fresh), or of load(path, *, lifetime='process', progress=None)
 * (FROST_CALL_LOAD: obj is the path), checked in one order with one set of
 * messages naming func (module.c). 0, or -1 with the exception set. */
typedef enum { FROST_CALL_FREEZE, FROST_CALL_WRITER, FROST_CALL_LOAD } frost_call_kind_t;
typedef struct {
    PyObject *obj;               /* borrowed */
    PyObject *progress;          /* a borrowed callable, or NULL */
    frost_lifetime_t lifetime;   /* freeze, load */
    int fd;                      /* a writer */
    int checksum;                /* a writer */
} frost_freeze_call_t;
int frost__parse_freeze_call(PyObject *args, PyObject *kwargs, const char *func,
                             frost_call_kind_t kind, frost_freeze_call_t *out);
PyObject *frost__map_key_hash(PyObject *module, PyObject *args);
int frost__map_save(PyObject *store, PyObject *path, PyObject *progress);   /* Store.save(format=2) */
/* Write an image to `fd` (calling `progress`): its size, or -1 with an exception set. */
typedef int64_t (*frost_image_writer_fn)(void *ctx, int fd, PyObject *progress);
/* Save to `path` as Store.save does: `write` into a new temporary file beside
 * it, checked intact after the last progress call, renamed over the target;
 * on any error nothing is left and the target is unchanged. 0, or -1 raised. */
int frost__save_atomically(PyObject *path, PyObject *progress, frost_image_writer_fn write,
                           void *ctx);
/* OSError if `path` exists and is not a regular file (save renames over it). */
int frost__refuse_special_target(PyObject *path);   /* snapshot.c */
int frost__snapshot_exec(PyObject *module, frost_state *st);   /* adds SnapshotError */

/* channel.c: frost.Channel; the queue's counts for xref.c. */
extern PyType_Spec FrostChannel_spec;
frost_channel_t *frost__channel_of(frost_state *st, PyObject *obj);   /* NULL: not a Channel */
frost_channel_t *frost__channel_acquire_by_id(uint64_t id, uint64_t token);   /* NULL: none */
void frost__channel_acquire(frost_channel_t *ch);       /* caller holds a count */
void frost__channel_release(frost_channel_t *ch);
size_t frost__channel_handles(const frost_channel_t *ch);   /* Channel objects now */
/* The tickets to one channel, and those to channels queued in it, kept in it
 * for xref.c (which owns and defines them; guarded by xref.c's lock): what the
 * collection of channels held only by queued tickets walks (back and
 * forward), instead of every ticket in flight. */
typedef struct frost_channel_tickets_s {
    struct sent_s *head;    /* every ticket to the channel (sent_t.ch_prev/ch_next) */
    size_t n;               /* their number: n == 0 and no handle: on its way out */
    size_t unparked;        /* those not queued in a channel (a task's, a receiver's) */
    struct sent_s *parked;  /* the tickets to channels queued in this one (sent_t.pk_prev/pk_next) */
    unsigned char mark;     /* a collection's scratch: found by its backward walk; 0 outside one */
    unsigned char reached;  /* ... by its forward walk; 0 outside one */
} frost_channel_tickets_t;
frost_channel_tickets_t *frost__channel_tickets(frost_channel_t *ch);
void frost__channel_drain(frost_channel_t *ch);         /* close; release queued messages */
PyObject *frost__channel_wrap(frost_state *st, frost_channel_t *ch);   /* takes the count */
size_t frost__channel_live_count(void);

/* publish.c: frost.publish(name, store) -> version, published(name) -> Store,
 * unpublish(name). */
PyObject *frost__publish(PyObject *module, PyObject *args);
PyObject *frost__published(PyObject *module, PyObject *name);
PyObject *frost__unpublish(PyObject *module, PyObject *name);
/* _publish_image(name, fd, meta, /) -> version: frost._publication's way in. */
PyObject *frost__publish_image(PyObject *module, PyObject *args);

/* xidata.c: register types as cross-interpreter data (3.12, 3.13; no-op after). */
int frost__xidata_register(PyTypeObject *const *types, int ntypes);

/* pool_object.c: add the _Pool type (frost_pool_t handle) to the module. */
int frost__pool_type_add(PyObject *module);

#endif /* FROST_VIEWS_H */
