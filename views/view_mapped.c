/*
 * view_mapped.c -- _frost.MapImage and the views over a format-2 image read
 * in place (frost.MappedDict, MappedList, MappedSet, MappedRecord,
 * MappedArray; MappedTable/MappedColumn are view_table.c's code over an
 * image's blob), their iterator, and thaw() of them.
 *
 * A MapImage holds the buffer it was made from (an mmap, bytes, ...) for its
 * whole life, so the memory cannot be unmapped or resized under a reader
 * (mmap.close() raises BufferError while it lives). Every view holds a strong
 * reference to its MapImage and a frost_mnode_t that frost_map_node checked
 * when the view was made; nothing else. All decoding goes through map_read.c
 * (bounds-checked; damage -> frost.SnapshotError). Leaves are fresh objects
 * per access; TUPLE nodes are real tuples. The views are read-only: every
 * mutation raises TypeError; they are unhashable, like the builtins they
 * stand for, but for MappedSet, which hashes as the frozenset of its items
 * (frost__mapped_set_view_hash, kept after the first hash()); MappedSet,
 * MappedRecord and MappedArray take weak references, as the arena views of
 * the same builtins do (docs/design.md, "Weak references"). They compare
 * and combine with the arena views of the same builtin (FrozenList,
 * FrozenDict, frost.Record) as with that builtin. Lookups compare str/bytes
 * keys in place (map_read.c).
 */
#include "views.h"
#include "frost_map_read.h"
#include "frost_map.h"
#include "frost_snapshot.h"

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include <structmember.h>

typedef struct {
    PyObject_HEAD
    Py_buffer buf;               /* held until dealloc */
    frost_map_image_t img;
    PyObject *handle;            /* set by frost._mapped; None by default */
    frost_state *st;
    int guard;                   /* frost_map_guard_add slot, or -1 */
    frost_map_pin_t *pin;        /* what table views read and their exports hold (made on the
                                    first table reached; one reference of ours), or NULL */
    PyObject *checked_tables;    /* {(blob offset, size) that passed frost_map_columns_check
                                    in the pin}, or NULL */
    uint64_t checked_bytes;      /* their sizes' sum: at most img.size (frost_map_read.h) */
} FrostMapImage;

#define MAPPED_VIEW_HEAD \
    PyObject_HEAD \
    FrostMapImage *image;        /* strong */ \
    frost_mnode_t node;

typedef struct {
    MAPPED_VIEW_HEAD
} FrostMappedView;

typedef struct {
    MAPPED_VIEW_HEAD
    Py_ssize_t *dims;            /* shape[ndim], strides[ndim] (PyMem) */
    /* A row a[i] of a multi-dimensional array: its node is the array's with
     * data, nbytes, shape and len (ndim) moved to the row; pickled and thawed
     * as `parent`[index] (NULL for a whole array's node). */
    PyObject *parent;
    Py_ssize_t index;
    PyObject *weaklist;          /* weak references to this view (a memoryview takes them);
                                    NULL while none, cleared in mapped_dealloc */
} FrostMappedArray;

typedef struct {
    MAPPED_VIEW_HEAD
    Py_hash_t hash;              /* -1 until the first hash(): an image never changes */
    PyObject *weaklist;          /* weak references to this view (a frozenset takes them);
                                    NULL while none, cleared in mapped_dealloc */
} FrostMappedSet;

typedef struct {
    MAPPED_VIEW_HEAD
    PyObject *weaklist;          /* weak references to this view (a dataclass instance takes
                                    them); NULL while none, cleared in mapped_dealloc */
} FrostMappedRecord;

typedef struct {
    MAPPED_VIEW_HEAD
    uint64_t pos;                /* next item, counting down when reversed */
    uint64_t left;               /* items still to give */
    int mode;                    /* FROST_ITER_KEYS / VALUES / ITEMS (tables), or seq */
    int reverse;
    frost_reuse_t rows;          /* seq: the last two rows (tuples of ints/floats/None/bools),
                                    handed out in turn; each is rewritten for a later row
                                    once no one else holds it (reuse.h) */
} FrostMappedIter;

#define MV(o) ((FrostMappedView *)(o))
#define IMG(o) (&MV(o)->image->img)
#define MODE_SEQ 3

/* ---- making views ---------------------------------------------------------- */

/*
 * A MappedTable of COLUMNS node `n`. Its blob is read through the image's
 * pin (a mapping of our own, which exported Arrow structs and DLPack tensors
 * hold: they outlive the MapImage safely), and is checked there in full
 * (frost_map_columns_check: O(blob)) the first time it is reached in this
 * mapping; (offset, size) is then remembered, so later views of it cost O(1).
 * Opening the image stays O(1) whatever the tables' size. The bytes checked
 * per mapping stay within the image's size (overlapping blobs: damage).
 */
static PyObject *
table_view(FrostMapImage *image, const frost_mnode_t *n)
{
    if (image->pin == NULL) {
        image->pin = frost_map_pin_new(image->buf.buf, (uint64_t)image->buf.len);
        if (image->pin == NULL) {
            return PyErr_NoMemory();
        }
    }
    frost_mnode_t pinned = *n;
    pinned.data = frost_map_pin_base(image->pin) + (n->data - image->img.base);
    PyObject *key = Py_BuildValue("(KK)", (unsigned long long)(n->data - image->img.base),
                                  (unsigned long long)n->nbytes);
    if (key == NULL) {
        return NULL;
    }
    if (image->checked_tables == NULL && (image->checked_tables = PySet_New(NULL)) == NULL) {
        Py_DECREF(key);
        return NULL;
    }
    int seen = PySet_Contains(image->checked_tables, key);
    if (seen == 0 && image->checked_bytes + n->nbytes > image->img.size) {
        PyErr_Format(image->img.error, "damaged frost image: table node at %llu: table blobs "
                     "overlap or repeat (more blob bytes than the image holds)",
                     (unsigned long long)n->offset);
        seen = -1;
    }
    if (seen == 0 && (frost_map_columns_check(&image->img, &pinned) < 0
                      || PySet_Add(image->checked_tables, key) < 0)) {
        seen = -1;
    }
    if (seen == 0) {
        image->checked_bytes += n->nbytes;
    }
    Py_DECREF(key);
    if (seen < 0) {
        return NULL;
    }
    /* the check reads the blob's structure, not its buffers: a file cut short
     * under them would hand out zeros as data (docs/safety.md) */
    if (!frost_map_pin_reaches(image->pin, (uint64_t)(n->data - image->img.base), n->nbytes)) {
        PyErr_SetString(image->img.error, FROST_MAP_SHRANK_MESSAGE);
        return NULL;
    }
    return frost__mapped_table_new(image->st, (PyObject *)image, image->pin,
                                   (const char *)pinned.data, n->offset);
}

static PyObject *
make_view(void *ctx, const frost_mnode_t *n)
{
    FrostMapImage *image = ctx;
    frost_state *st = image->st;
    PyTypeObject *tp;
    switch (n->kind) {
    case FROST_MNODE_COLUMNS: return table_view(image, n);
    case FROST_MNODE_LIST: tp = st->mapped_list_type; break;
    case FROST_MNODE_DICT: tp = st->mapped_dict_type; break;
    case FROST_MNODE_SET: tp = st->mapped_set_type; break;
    case FROST_MNODE_RECORD: tp = st->mapped_record_type; break;
    case FROST_MNODE_ARRAY: tp = st->mapped_array_type; break;
    default:
        PyErr_Format(image->img.error, "damaged frost image: no view for node kind %u", n->kind);
        return NULL;
    }
    FrostMappedView *v = PyObject_New(FrostMappedView, tp);
    if (v == NULL) {
        return NULL;
    }
    v->image = (FrostMapImage *)Py_NewRef((PyObject *)image);
    v->node = *n;
    if (n->kind == FROST_MNODE_SET) {
        ((FrostMappedSet *)v)->hash = -1;
        ((FrostMappedSet *)v)->weaklist = NULL;
    }
    if (n->kind == FROST_MNODE_RECORD) {
        ((FrostMappedRecord *)v)->weaklist = NULL;
    }
    if (n->kind == FROST_MNODE_ARRAY) {
        FrostMappedArray *a = (FrostMappedArray *)v;
        size_t ndim = (size_t)n->len;
        a->parent = NULL;
        a->index = 0;
        a->weaklist = NULL;
        a->dims = PyMem_Malloc((ndim ? ndim : 1) * 2 * sizeof(Py_ssize_t));
        if (a->dims == NULL) {
            Py_DECREF(v);
            return PyErr_NoMemory();
        }
        Py_ssize_t stride = (Py_ssize_t)n->itemsize;
        for (size_t d = ndim; d-- > 0;) {
            a->dims[d] = (Py_ssize_t)frost_map_rd64(n->shape + d * 8);
            a->dims[ndim + d] = stride;
            stride *= a->dims[d];   /* no overflow: check_array bounded the product */
        }
    }
    return (PyObject *)v;
}

static void
mapped_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    /* sets, records and arrays take weak references: cleared first, while the
     * view is whole (a callback sees a dead reference) */
    if (tp->tp_weaklistoffset != 0 && *(PyObject **)((char *)self + tp->tp_weaklistoffset) != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    if (MV(self)->node.kind == FROST_MNODE_ARRAY) {
        PyMem_Free(((FrostMappedArray *)self)->dims);
        Py_XDECREF(((FrostMappedArray *)self)->parent);
    }
    Py_DECREF(MV(self)->image);
    tp->tp_free(self);
    Py_DECREF(tp);
}

const void *
frost__mapped_node_address(const frost_state *st, PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp != st->mapped_dict_type && tp != st->mapped_list_type && tp != st->mapped_set_type
        && tp != st->mapped_record_type) {
        return NULL;   /* (an array row shares its array's offset: arrays hold no views) */
    }
    return IMG(o)->base + MV(o)->node.offset;
}

static PyObject *
mapped_node_offset(PyObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(MV(self)->node.offset);
}

static PyObject *
mapped_image(PyObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef((PyObject *)MV(self)->image);
}

PyObject *
frost__mapped_reduce_at(PyObject *image, uint64_t offset, const char *tp_name)
{
    PyObject *handle = ((FrostMapImage *)image)->handle;
    if (handle == NULL || handle == Py_None) {
        PyErr_Format(PyExc_TypeError, "cannot pickle a %s whose image has no handle: pass the "
                     "data with frost.share(), or save it to a file and frost.load() it", tp_name);
        return NULL;
    }
    PyObject *mod = PyImport_ImportModule("frost._mapped");
    PyObject *fn = mod ? PyObject_GetAttrString(mod, "_rebuild_view") : NULL;
    Py_XDECREF(mod);
    if (fn == NULL) {
        return NULL;
    }
    return Py_BuildValue("N(OK)", fn, handle, (unsigned long long)offset);
}

static PyObject *
mapped_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return frost__mapped_reduce_at((PyObject *)MV(self)->image, MV(self)->node.offset,
                                   Py_TYPE(self)->tp_name);
}

static PyObject *
mapped_readonly(PyObject *self)
{
    PyErr_Format(PyExc_TypeError, "'%s' object is read-only", Py_TYPE(self)->tp_name);
    return NULL;
}

static int
mapped_ass(PyObject *self, PyObject *Py_UNUSED(k), PyObject *Py_UNUSED(v))
{
    mapped_readonly(self);
    return -1;
}

static int
mapped_ass_item(PyObject *self, Py_ssize_t Py_UNUSED(i), PyObject *Py_UNUSED(v))
{
    mapped_readonly(self);
    return -1;
}

static PyGetSetDef mapped_getset[] = {
    {"node_offset", mapped_node_offset, NULL, "The node's byte offset in its image.", NULL},
    {"image", mapped_image, NULL, "The _frost.MapImage this view reads.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define MAPPED_REDUCE \
    {"__reduce__", mapped_reduce, METH_NOARGS, "Pickle as a handle to the same image and node."}

/* Join reprs of items produced by `item(self, i)` for i < min(n, max). */
static PyObject *
bounded_repr(PyObject *self, const char *open, const char *close, uint64_t n,
             PyObject *(*item)(PyObject *self, uint64_t i))
{
    const void *node = IMG(self)->base + MV(self)->node.offset;   /* views are made per access */
    int rc = frost__repr_enter(node);
    if (rc != 0) {
        const char *name = strrchr(Py_TYPE(self)->tp_name, '.');
        return rc > 0 ? PyUnicode_FromFormat("%s(%s...%s)", name + 1, open, close) : NULL;
    }
    PyObject *parts = PyList_New(0);
    uint64_t shown = n < FROST_REPR_MAX_ITEMS ? n : FROST_REPR_MAX_ITEMS;
    for (uint64_t i = 0; parts && i < shown; i++) {
        PyObject *s = item(self, i);
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(s);
    }
    if (parts && n > shown) {
        PyObject *more = PyUnicode_FromFormat("... (%llu more)", (unsigned long long)(n - shown));
        if (more == NULL || PyList_Append(parts, more) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(more);
    }
    PyObject *result = NULL;
    if (parts != NULL) {
        PyObject *sep = PyUnicode_FromString(", ");
        PyObject *body = sep ? PyUnicode_Join(sep, parts) : NULL;
        if (body != NULL) {
            const char *name = strrchr(Py_TYPE(self)->tp_name, '.');
            result = PyUnicode_FromFormat("%s(%s%U%s)", name ? name + 1 : Py_TYPE(self)->tp_name,
                                          open, body, close);
        }
        Py_XDECREF(sep);
        Py_XDECREF(body);
        Py_DECREF(parts);
    }
    frost__repr_leave(node);
    return result;
}

/* ---- the iterator ---------------------------------------------------------- */

static PyObject *
iter_new(PyObject *view, int mode, int reverse)
{
    FrostMappedView *v = MV(view);
    FrostMappedIter *it = PyObject_New(FrostMappedIter, v->image->st->mapped_iter_type);
    if (it == NULL) {
        return NULL;
    }
    it->image = (FrostMapImage *)Py_NewRef((PyObject *)v->image);
    it->node = v->node;
    it->left = v->node.len;
    it->pos = reverse ? v->node.len - 1 : 0;
    it->mode = mode;
    it->reverse = reverse;
    frost__reuse_init(&it->rows);
    return (PyObject *)it;
}

/* a tuple whose items are all exact ints, floats, None or bools: reusable */
static int
is_plain_row(PyObject *t)
{
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) == 0 || PyTuple_GET_SIZE(t) > 16) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *x = PyTuple_GET_ITEM(t, i);
        if (!PyLong_CheckExact(x) && !PyFloat_CheckExact(x) && x != Py_None && !PyBool_Check(x)) {
            return 0;
        }
    }
    return 1;
}

/* Row `ref` written into `row` when reuse.h allows (as zip() reuses its
 * result tuple): a TUPLE node of as many inline ints, floats, None or bools.
 * Its ints and floats are rewritten in place where allowed, else replaced.
 * NULL without an exception: not possible, take the usual path (the row may
 * be partly rewritten then: still a valid tuple no one else sees). */
static PyObject *
iter_reuse_row(FrostMappedIter *it, PyObject *row, frost_mref_t ref)
{
    if (row == NULL || frost_mref_tag(ref) != FROST_MREF_NODE) {
        return NULL;
    }
    const frost_map_image_t *img = &it->image->img;
    uint64_t off = frost_mref_offset8(ref);
    const unsigned char *p = off >= FROST_MAP_HEADER_SIZE ? frost_map_span(img, off, 8) : NULL;
    uint64_t head = p ? frost_map_rd64(p) : 0, len = frost_mnode_len(head);
    const unsigned char *items = (head & 0xFFFFu) == FROST_MNODE_TUPLE
                                 && len <= PY_SSIZE_T_MAX / 8
                                 && frost__row_reusable(row, (Py_ssize_t)len)
                                 ? frost_map_span(img, off + 8, len * 8) : NULL;
    if (items == NULL) {
        return NULL;
    }
    for (uint64_t i = 0; i < len; i++) {
        frost_mref_t r = frost_map_rd64(items + i * 8);
        unsigned tag = frost_mref_tag(r);
        PyObject *old = PyTuple_GET_ITEM(row, (Py_ssize_t)i);
        if (tag == FROST_MREF_FLOAT_INLINE) {
            uint64_t bits = r & ~(uint64_t)0xF;
            double v;
            memcpy(&v, &bits, 8);
            if (frost__rewrite_float(old, v)) {
                continue;
            }
        }
        else if (tag == FROST_MREF_INT) {
            if (frost__rewrite_int(old, (int64_t)r >> 4)) {
                continue;
            }
        }
        else if (!(tag == FROST_MREF_SPECIAL && (r >> 4) <= FROST_MSPECIAL_TRUE)) {
            return NULL;
        }
        PyObject *item = frost_map_load(img, r);
        if (item == NULL) {
            return NULL;   /* (MemoryError; the row stays a valid tuple) */
        }
        frost__row_replace(row, (Py_ssize_t)i, item);
    }
    if (frost_map_guard_check(img) < 0) {
        return NULL;
    }
    return frost__row_again(row);
}

static PyObject *
iter_next(PyObject *self)
{
    FrostMappedIter *it = (FrostMappedIter *)self;
    if (it->left == 0) {
        return NULL;
    }
    uint64_t i = it->pos;
    it->left--;
    it->pos = it->reverse ? i - 1 : i + 1;
    const frost_map_image_t *img = &it->image->img;
    const frost_mnode_t *n = &it->node;
    switch (it->mode) {
    case MODE_SEQ: {
        if (n->flags != FROST_MLIST_REFS || n->kind != FROST_MNODE_LIST) {
            return frost_map_seq_item(img, n, i);
        }
        frost_mref_t ref = frost_map_rd64(n->items + i * 8);
        PyObject **slot = frost__reuse_slot(&it->rows);
        PyObject *r = iter_reuse_row(it, *slot, ref);
        if (r != NULL || PyErr_Occurred()) {
            return r;
        }
        r = frost_map_load(img, ref);
        return r != NULL && is_plain_row(r) ? frost__reuse_put(slot, r) : r;
    }
    case FROST_ITER_KEYS:
        return frost_map_load_key(img, frost_map_table_key(n, i));
    case FROST_ITER_VALUES:
        return frost_map_load(img, frost_map_table_value(n, i));
    default: {
        PyObject *k = frost_map_load_key(img, frost_map_table_key(n, i));
        PyObject *v = k ? frost_map_load(img, frost_map_table_value(n, i)) : NULL;
        PyObject *t = v ? PyTuple_Pack(2, k, v) : NULL;
        Py_XDECREF(k);
        Py_XDECREF(v);
        return t;
    }
    }
}

static PyObject *
iter_length_hint(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromUnsignedLongLong(((FrostMappedIter *)self)->left);
}

static PyMethodDef iter_methods[] = {
    {"__length_hint__", iter_length_hint, METH_NOARGS, "Items left."},
    FROST_NO_PICKLE_METHOD,
    {NULL, NULL, 0, NULL},
};

static void
iter_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    frost__reuse_clear(&((FrostMappedIter *)self)->rows);
    Py_DECREF(MV(self)->image);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyType_Slot iter_slots[] = {
    {Py_tp_dealloc, iter_dealloc},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, iter_next},
    {Py_tp_methods, iter_methods},
    {0, NULL},
};

static PyType_Spec iter_spec = {
    .name = "frost._frost.MappedIterator",
    .basicsize = sizeof(FrostMappedIter),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = iter_slots,
};

/* ---- MappedDict ------------------------------------------------------------ */

static Py_ssize_t
view_length(PyObject *self)
{
    return (Py_ssize_t)MV(self)->node.len;
}

static PyObject *
dict_subscript(PyObject *self, PyObject *key)
{
    Py_ssize_t ix = frost_map_table_find(IMG(self), &MV(self)->node, key);
    if (ix >= 0) {
        return frost_map_load(IMG(self), frost_map_table_value(&MV(self)->node, (uint64_t)ix));
    }
    if (ix == -1) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    return NULL;
}

static int
table_contains(PyObject *self, PyObject *key)
{
    Py_ssize_t ix = frost_map_table_find(IMG(self), &MV(self)->node, key);
    return ix >= 0 ? 1 : (ix == -1 ? 0 : -1);
}

static PyObject *
dict_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (frost__check_nargs("get", nargs, 1, 2) < 0) {
        return NULL;
    }
    Py_ssize_t ix = frost_map_table_find(IMG(self), &MV(self)->node, args[0]);
    if (ix >= 0) {
        return frost_map_load(IMG(self), frost_map_table_value(&MV(self)->node, (uint64_t)ix));
    }
    return ix == -2 ? NULL : Py_NewRef(nargs > 1 ? args[1] : Py_None);
}

static PyObject *
abc_view(PyObject *self, const char *name)
{
    PyObject *abc = PyImport_ImportModule("frost._mappedviews");
    PyObject *r = abc ? PyObject_CallMethod(abc, name, "O", self) : NULL;
    Py_XDECREF(abc);
    return r;
}

static PyObject *
dict_keys(PyObject *self, PyObject *Py_UNUSED(i))
{
    return abc_view(self, "MappedKeysView");
}

static PyObject *
dict_values(PyObject *self, PyObject *Py_UNUSED(i))
{
    return abc_view(self, "MappedValuesView");
}

static PyObject *
dict_items(PyObject *self, PyObject *Py_UNUSED(i))
{
    return abc_view(self, "MappedItemsView");
}

static PyObject *
dict_iter(PyObject *self)
{
    return iter_new(self, FROST_ITER_KEYS, 0);
}

static PyObject *
dict_reversed(PyObject *self, PyObject *Py_UNUSED(i))
{
    return iter_new(self, FROST_ITER_KEYS, 1);
}

static PyObject *
dict_iter_values(PyObject *self, PyObject *Py_UNUSED(i))
{
    return iter_new(self, FROST_ITER_VALUES, 0);
}

static PyObject *
dict_iter_items(PyObject *self, PyObject *Py_UNUSED(i))
{
    return iter_new(self, FROST_ITER_ITEMS, 0);
}

static PyObject *
dict_reversed_values(PyObject *self, PyObject *Py_UNUSED(i))
{
    return iter_new(self, FROST_ITER_VALUES, 1);
}

static PyObject *
dict_reversed_items(PyObject *self, PyObject *Py_UNUSED(i))
{
    return iter_new(self, FROST_ITER_ITEMS, 1);
}

static int
same_node(PyObject *a, PyObject *b)
{
    return Py_TYPE(a) == Py_TYPE(b) && MV(a)->image == MV(b)->image
           && MV(a)->node.offset == MV(b)->node.offset;
}

static int
dict_equal_to(PyObject *self, PyObject *other)
{
    const frost_mnode_t *t = &MV(self)->node;
    Py_ssize_t n = PyDict_Check(other) ? PyDict_GET_SIZE(other) : PyObject_Length(other);
    if (n < 0) {
        return -1;
    }
    if ((uint64_t)n != t->len) {
        return 0;
    }
    for (uint64_t i = 0; i < t->len; i++) {
        PyObject *key = frost_map_load_key(IMG(self), frost_map_table_key(t, i));
        PyObject *theirs = key ? frost__mapping_value(other, key) : NULL;
        Py_XDECREF(key);
        if (theirs == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        PyObject *mine = frost_map_load(IMG(self), frost_map_table_value(t, i));
        int eq = mine ? PyObject_RichCompareBool(mine, theirs, Py_EQ) : -1;
        Py_XDECREF(mine);
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
        is_mapping = PyObject_IsInstance(other, MV(self)->image->st->mapping_abc);
        if (is_mapping < 0) {
            return NULL;
        }
    }
    if (!is_mapping) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    int eq = same_node(self, other) ? 1 : frost__mapping_equal(self, other, dict_equal_to);
    if (eq < 0) {
        return NULL;
    }
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyObject *
dict_repr_item(PyObject *self, uint64_t i)
{
    const frost_mnode_t *t = &MV(self)->node;
    PyObject *k = frost_map_load_key(IMG(self), frost_map_table_key(t, i));
    PyObject *v = k ? frost_map_load(IMG(self), frost_map_table_value(t, i)) : NULL;
    PyObject *s = v ? PyUnicode_FromFormat("%R: %R", k, v) : NULL;
    Py_XDECREF(k);
    Py_XDECREF(v);
    return s;
}

static PyObject *
dict_repr(PyObject *self)
{
    return bounded_repr(self, "{", "}", MV(self)->node.len, dict_repr_item);
}

static PyMethodDef dict_methods[] = {
    {"get", (PyCFunction)(void (*)(void))dict_get, METH_FASTCALL,
     "get($self, key, default=None, /)\n--\n\nThe value for key if key is in the mapping, else default."},
    {"keys", dict_keys, METH_NOARGS, "A set-like view of the keys."},
    {"values", dict_values, METH_NOARGS, "A view of the values."},
    {"items", dict_items, METH_NOARGS, "A set-like view of the (key, value) pairs."},
    {"__reversed__", dict_reversed, METH_NOARGS, "The keys, last first."},
    {"copy", frost__copy_to_dict, METH_NOARGS, FROST_COPY_DOC("dict")},
    {"_iter_values", dict_iter_values, METH_NOARGS, "The values in order (for values())."},
    {"_iter_items", dict_iter_items, METH_NOARGS, "The (key, value) pairs in order (for items())."},
    {"_reversed_values", dict_reversed_values, METH_NOARGS, "The values, last first (for values())."},
    {"_reversed_items", dict_reversed_items, METH_NOARGS, "The pairs, last first (for items())."},
    MAPPED_REDUCE,
    FROST_CLASS_GETITEM,
    {NULL, NULL, 0, NULL},
};

static PyObject *dict_or(PyObject *a, PyObject *b);

static int
is_mapped_dict(PyObject *o)
{
    PyNumberMethods *nb = Py_TYPE(o)->tp_as_number;
    return nb != NULL && nb->nb_or == dict_or;
}

static PyObject *
dict_or(PyObject *a, PyObject *b)
{
    return frost__dict_view_or(MV(is_mapped_dict(a) ? a : b)->image->st, a, b);
}

static PyObject *
dict_inplace_or(PyObject *self, PyObject *Py_UNUSED(other))
{
    return frost__readonly_inplace(self, "|", "y", "dict");
}

static PyType_Slot dict_slots[] = {
    {Py_tp_doc, "MappedDict: a read-only mapping over a dict of a format-2 image, read in place."},
    {Py_tp_dealloc, mapped_dealloc},
    {Py_tp_repr, dict_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_iter, dict_iter},
    {Py_tp_richcompare, dict_richcompare},
    {Py_tp_methods, dict_methods},
    {Py_tp_getset, mapped_getset},
    {Py_mp_length, view_length},
    {Py_mp_subscript, dict_subscript},
    {Py_mp_ass_subscript, mapped_ass},
    {Py_sq_contains, table_contains},
    {Py_nb_or, dict_or},
    {Py_nb_inplace_or, dict_inplace_or},
    {0, NULL},
};

static PyType_Spec dict_spec = {
    .name = "frost.MappedDict",
    .basicsize = sizeof(FrostMappedView),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_MAPPING,
    .slots = dict_slots,
};

/* ---- MappedList ------------------------------------------------------------ */

static PyObject *
list_item(PyObject *self, Py_ssize_t i)
{
    const frost_mnode_t *n = &MV(self)->node;
    if (i < 0 || (uint64_t)i >= n->len) {
        PyErr_SetString(PyExc_IndexError, "list index out of range");
        return NULL;
    }
    return frost_map_seq_item(IMG(self), n, (uint64_t)i);
}

static PyObject *
list_subscript(PyObject *self, PyObject *key)
{
    Py_ssize_t len = (Py_ssize_t)MV(self)->node.len;
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        return list_item(self, i < 0 ? i + len : i);
    }
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0) {
            return NULL;
        }
        Py_ssize_t n = PySlice_AdjustIndices(len, &start, &stop, step);
        PyObject *out = PyList_New(n);
        for (Py_ssize_t k = 0; out && k < n; k++) {
            PyObject *item = frost_map_seq_item(IMG(self), &MV(self)->node,
                                                (uint64_t)(start + k * step));
            if (item == NULL) {
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(out, k, item);
        }
        return out;
    }
    PyErr_Format(PyExc_TypeError, "list indices must be integers or slices, not %.200s",
                 Py_TYPE(key)->tp_name);
    return NULL;
}

/* item i == value: packed numbers compared as numbers, refs in place */
static int
list_item_equal(PyObject *self, uint64_t i, PyObject *value)
{
    const frost_mnode_t *n = &MV(self)->node;
    if (n->flags == FROST_MLIST_REFS) {
        return frost_map_ref_equal(IMG(self), frost_map_rd64(n->items + i * 8), value);
    }
    if (!PyLong_Check(value) && !PyFloat_Check(value) && !PyComplex_Check(value)) {
        if (PyUnicode_Check(value) || PyBytes_Check(value) || PyTuple_Check(value)
            || value == Py_None) {
            return 0;
        }
    }
    PyObject *item = frost_map_seq_item(IMG(self), n, i);
    int eq = item ? PyObject_RichCompareBool(item, value, Py_EQ) : -1;
    Py_XDECREF(item);
    return eq;
}

static int
list_contains(PyObject *self, PyObject *value)
{
    for (uint64_t i = 0; i < MV(self)->node.len; i++) {
        int eq = list_item_equal(self, i, value);
        if (eq != 0) {
            return eq;
        }
    }
    return 0;
}

static PyObject *
list_index(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (frost__check_nargs("index", nargs, 1, 3) < 0) {
        return NULL;
    }
    Py_ssize_t len = (Py_ssize_t)MV(self)->node.len, start = 0, stop = PY_SSIZE_T_MAX;
    for (Py_ssize_t a = 1; a < nargs; a++) {
        if (!PyIndex_Check(args[a])) {
            PyErr_SetString(PyExc_TypeError, "slice indices must be integers or have an "
                                             "__index__ method");
            return NULL;
        }
        Py_ssize_t v = PyNumber_AsSsize_t(args[a], NULL);   /* clamped, as list.index does */
        if (v == -1 && PyErr_Occurred()) {
            return NULL;
        }
        *(a == 1 ? &start : &stop) = v;
    }
    if (start < 0 && (start += len) < 0) {
        start = 0;
    }
    if (stop < 0 && (stop += len) < 0) {
        stop = 0;
    }
    for (Py_ssize_t i = start; i < stop && i < len; i++) {
        int eq = list_item_equal(self, (uint64_t)i, args[0]);
        if (eq != 0) {
            return eq > 0 ? PyLong_FromSsize_t(i) : NULL;
        }
    }
    PyErr_Format(PyExc_ValueError, "%R is not in list", args[0]);
    return NULL;
}

static PyObject *
list_count(PyObject *self, PyObject *value)
{
    Py_ssize_t count = 0;
    for (uint64_t i = 0; i < MV(self)->node.len; i++) {
        int eq = list_item_equal(self, i, value);
        if (eq < 0) {
            return NULL;
        }
        count += eq;
    }
    return PyLong_FromSsize_t(count);
}

static PyObject *
list_iter(PyObject *self)
{
    return iter_new(self, MODE_SEQ, 0);
}

static PyObject *
list_reversed(PyObject *self, PyObject *Py_UNUSED(i))
{
    return iter_new(self, MODE_SEQ, 1);
}

static PyObject *
list_tolist(PyObject *self, PyObject *Py_UNUSED(i))
{
    PyObject *all = PySlice_New(NULL, NULL, NULL);
    PyObject *r = all ? list_subscript(self, all) : NULL;
    Py_XDECREF(all);
    return r;
}

static PyObject *
list_richcompare(PyObject *self, PyObject *other, int op)
{
    PyObject *answer;
    if (frost__subclass_compares_first(self, other, op, &PyList_Type, &answer)) {
        return answer;
    }
    int theirs_is_list = PyList_Check(other) || Py_TYPE(other) == Py_TYPE(self);
    if (!theirs_is_list) {
        if (!frost__is_list_view(MV(self)->image->st, other)) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        return frost__richcompare_as_list(self, other, op, list_richcompare);   /* a FrozenList */
    }
    if ((op == Py_EQ || op == Py_NE) && same_node(self, other)) {
        return PyBool_FromLong(op == Py_EQ);
    }
    /* a list (subclass) is read as list's == reads it: its own items and size,
     * whatever __len__/__getitem__ say, the size again at each step (an item's
     * __eq__ may shrink it) */
    int theirs_is_view = Py_TYPE(other) == Py_TYPE(self);
#define THEIR_LEN() (theirs_is_view ? (Py_ssize_t)MV(other)->node.len : PyList_GET_SIZE(other))
    if ((op == Py_EQ || op == Py_NE) && (uint64_t)THEIR_LEN() != MV(self)->node.len) {
        return PyBool_FromLong(op == Py_NE);
    }
    /* element by element (list's own rules), without copying either side */
    if (frost__stack_check() < 0) {
        return NULL;
    }
    uint64_t len = MV(self)->node.len, i = 0;
    for (; i < len && i < (uint64_t)THEIR_LEN(); i++) {
        PyObject *mine = frost_map_seq_item(IMG(self), &MV(self)->node, i);
        PyObject *their = mine == NULL ? NULL
                          : theirs_is_view ? frost_map_seq_item(IMG(other), &MV(other)->node, i)
                                           : Py_NewRef(PyList_GET_ITEM(other, (Py_ssize_t)i));
        int eq = their ? PyObject_RichCompareBool(mine, their, Py_EQ) : -1;
        if (eq == 0) {
            PyObject *r = op == Py_EQ ? Py_NewRef(Py_False)
                          : op == Py_NE ? Py_NewRef(Py_True)
                                        : PyObject_RichCompare(mine, their, op);
            Py_DECREF(mine);
            Py_DECREF(their);
            return r;
        }
        Py_XDECREF(mine);
        Py_XDECREF(their);
        if (eq < 0) {
            return NULL;
        }
    }
    Py_ssize_t a = (Py_ssize_t)len, b = THEIR_LEN();
#undef THEIR_LEN
    int r;
    switch (op) {
    case Py_LT: r = a < b; break;
    case Py_LE: r = a <= b; break;
    case Py_EQ: r = a == b; break;
    case Py_NE: r = a != b; break;
    case Py_GT: r = a > b; break;
    default: r = a >= b; break;
    }
    return PyBool_FromLong(r);
}

static PyObject *
list_repr_item(PyObject *self, uint64_t i)
{
    PyObject *item = frost_map_seq_item(IMG(self), &MV(self)->node, i);
    PyObject *s = item ? PyObject_Repr(item) : NULL;
    Py_XDECREF(item);
    return s;
}

static PyObject *
list_repr(PyObject *self)
{
    return bounded_repr(self, "[", "]", MV(self)->node.len, list_repr_item);
}

/* packed int64/float64 lists export their items as a read-only buffer */
static int
list_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    const frost_mnode_t *n = &MV(self)->node;
    if (n->flags == FROST_MLIST_REFS) {
        /* TypeError, as FrozenList's and memoryview(list)'s */
        PyErr_SetString(PyExc_TypeError, "a frost.MappedList of objects has no buffer; "
                                         "only lists of ints or of floats do");
        view->obj = NULL;
        return -1;
    }
    static const Py_ssize_t stride = 8;
    Py_ssize_t *shape = (Py_ssize_t *)&n->len;   /* one u64 read as Py_ssize_t (len < 2^48) */
    return frost__export_buffer(view, self, "frost.MappedList", (const char *)n->items, 8,
                                n->flags == FROST_MLIST_INT64 ? "q" : "d", 1, shape, &stride,
                                flags);
}

static PyMethodDef list_methods[] = {
    {"index", (PyCFunction)(void (*)(void))list_index, METH_FASTCALL,
     "index($self, value, start=0, stop=sys.maxsize, /)\n--\n\nFirst index of value (ValueError if absent)."},
    {"count", list_count, METH_O, "count($self, value, /)\n--\n\nNumber of occurrences of value."},
    {"__reversed__", list_reversed, METH_NOARGS, "The items, last first."},
    {"tolist", list_tolist, METH_NOARGS, "A plain list of the items (containers stay views)."},
    {"copy", frost__copy_to_list, METH_NOARGS, FROST_COPY_DOC("list")},
    MAPPED_REDUCE,
    FROST_CLASS_GETITEM,
    {NULL, NULL, 0, NULL},
};

/* Operators as FrozenList's and FrozenDict's (view_list.c, view_dict.c; issue
 * 15), so that a shared or loaded store reads like a frozen one: MappedList +
 * list/tuple/MappedList -> list (tuple + MappedList -> tuple), * n -> list;
 * MappedDict | dict/MappedDict and dict | MappedDict -> dict; the in-place
 * forms raise TypeError. Items as indexing gives them (containers stay views). */
static PyObject *list_add(PyObject *a, PyObject *b);

static int
is_mapped_list(PyObject *o)
{
    PyNumberMethods *nb = Py_TYPE(o)->tp_as_number;
    return nb != NULL && nb->nb_add == list_add;
}

static PyObject *
list_add(PyObject *a, PyObject *b)
{
    int a_view = is_mapped_list(a);
    return frost__list_view_add(MV(a_view ? a : b)->image->st, a, b, a_view, is_mapped_list(b));
}

static PyObject *
list_repeat(PyObject *self, Py_ssize_t n)
{
    return frost__list_view_repeat(self, (Py_ssize_t)MV(self)->node.len, n);
}

static PyObject *
list_inplace_add(PyObject *self, PyObject *Py_UNUSED(other))
{
    return frost__readonly_inplace(self, "+", "y", "list");
}

static PyObject *
list_inplace_repeat(PyObject *self, PyObject *Py_UNUSED(other))
{
    return frost__readonly_inplace(self, "*", "n", "list");
}

static PyType_Slot list_slots[] = {
    {Py_tp_doc, "MappedList: a read-only sequence over a list of a format-2 image, read in place."},
    {Py_tp_dealloc, mapped_dealloc},
    {Py_tp_repr, list_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_iter, list_iter},
    {Py_tp_richcompare, list_richcompare},
    {Py_tp_methods, list_methods},
    {Py_tp_getset, mapped_getset},
    {Py_sq_length, view_length},
    {Py_sq_item, list_item},
    {Py_sq_ass_item, mapped_ass_item},
    {Py_sq_contains, list_contains},
    {Py_mp_length, view_length},
    {Py_mp_subscript, list_subscript},
    {Py_mp_ass_subscript, mapped_ass},
    {Py_bf_getbuffer, list_getbuffer},
    {Py_nb_add, list_add},
    {Py_nb_inplace_add, list_inplace_add},
    {Py_nb_inplace_multiply, list_inplace_repeat},
    {Py_sq_repeat, list_repeat},
    {0, NULL},
};

static PyType_Spec list_spec = {
    .name = "frost.MappedList",
    .basicsize = sizeof(FrostMappedView),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION
             | Py_TPFLAGS_SEQUENCE,
    .slots = list_slots,
};

/* ---- MappedSet ------------------------------------------------------------- */

static PyObject *
set_iter(PyObject *self)
{
    return iter_new(self, FROST_ITER_KEYS, 0);
}

static int
is_mapped_set(PyObject *o)
{
    return Py_TYPE(o)->tp_iter == set_iter;
}

static PyObject *
set_richcompare(PyObject *self, PyObject *other, int op)
{
    if ((op == Py_EQ || op == Py_NE) && same_node(self, other)) {
        return PyBool_FromLong(op == Py_EQ);
    }
    if (!frost__compares_as_set(MV(self)->image->st, other)) {
        Py_RETURN_NOTIMPLEMENTED;
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
set_binop(PyObject *a, PyObject *b, PyObject *(*op)(PyObject *, PyObject *))
{
    return frost__set_view_binop(MV(is_mapped_set(a) ? a : b)->image->st, a, b, op);
}

static PyObject *set_and(PyObject *a, PyObject *b) { return set_binop(a, b, PyNumber_And); }
static PyObject *set_or(PyObject *a, PyObject *b) { return set_binop(a, b, PyNumber_Or); }
static PyObject *set_sub(PyObject *a, PyObject *b) { return set_binop(a, b, PyNumber_Subtract); }
static PyObject *set_xor(PyObject *a, PyObject *b) { return set_binop(a, b, PyNumber_Xor); }

FROST_SET_DELEGATE(isdisjoint)
FROST_SET_DELEGATES

static int
set_contains(PyObject *self, PyObject *key)
{
    int c = table_contains(self, key);
    /* as frozenset: a set (unhashable) stands for the frozenset of its items, which no
     * image set holds (set items are leaves and tuples); other unhashables raise */
    if (c < 0 && PySet_Check(key) && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        return 0;
    }
    return c;
}

static PyObject *
set_repr_item(PyObject *self, uint64_t i)
{
    PyObject *k = frost_map_load_key(IMG(self), frost_map_table_key(&MV(self)->node, i));
    PyObject *s = k ? PyObject_Repr(k) : NULL;
    Py_XDECREF(k);
    return s;
}

static PyObject *
set_repr(PyObject *self)
{
    return bounded_repr(self, "{", "}", MV(self)->node.len, set_repr_item);
}

/* as frozenset's, kept: computed at the first hash() (O(n)), an image never
 * changes (a hash() that failed is tried again at the next) */
static Py_hash_t
set_hash(PyObject *self)
{
    FrostMappedSet *v = (FrostMappedSet *)self;
    if (v->hash == -1) {
        v->hash = frost__mapped_set_view_hash(self);
    }
    return v->hash;
}

static PyMethodDef set_methods[] = {
    {"isdisjoint", set_isdisjoint, METH_VARARGS, "As frozenset.isdisjoint."},
    {"copy", frost__copy_to_frozenset, METH_NOARGS, FROST_COPY_DOC("frozenset")},
    FROST_SET_DELEGATE_METHODS,
    MAPPED_REDUCE,
    FROST_CLASS_GETITEM,
    {NULL, NULL, 0, NULL},
};

static PyMemberDef set_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(FrostMappedSet, weaklist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot set_slots[] = {
    {Py_tp_doc, "MappedSet: a read-only set over a set of a format-2 image, read in place."},
    {Py_tp_dealloc, mapped_dealloc},
    {Py_tp_members, set_members},
    {Py_tp_repr, set_repr},
    {Py_tp_hash, set_hash},
    {Py_tp_iter, set_iter},
    {Py_tp_richcompare, set_richcompare},
    {Py_tp_methods, set_methods},
    {Py_tp_getset, mapped_getset},
    {Py_sq_length, view_length},
    {Py_sq_contains, set_contains},
    {Py_nb_and, set_and},
    {Py_nb_or, set_or},
    {Py_nb_subtract, set_sub},
    {Py_nb_xor, set_xor},
    {0, NULL},
};

static PyType_Spec set_spec = {
    .name = "frost.MappedSet",
    .basicsize = sizeof(FrostMappedSet),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = set_slots,
};

/* ---- MappedRecord ---------------------------------------------------------- */

/* the record's state as a checked DICT node: 1, 0 when it is not a dict, -1 */
static int
record_fields(PyObject *self, frost_mnode_t *state)
{
    frost_mref_t s = MV(self)->node.state;
    if (frost_mref_tag(s) != FROST_MREF_NODE) {
        if (MV(self)->node.flags != FROST_RECORD_SHARED) {
            PyErr_Format(IMG(self)->error, "damaged frost image: record at %llu has no field dict",
                         (unsigned long long)MV(self)->node.offset);
            return -1;
        }
        return 0;
    }
    if (frost_map_node(IMG(self), frost_mref_offset8(s), 0, state) < 0) {
        return -1;
    }
    if (state->kind != FROST_MNODE_DICT) {
        if (MV(self)->node.flags != FROST_RECORD_SHARED) {
            PyErr_Format(IMG(self)->error, "damaged frost image: record at %llu has no field dict",
                         (unsigned long long)MV(self)->node.offset);
            return -1;
        }
        return 0;
    }
    return 1;
}

/* The field `name` (a new reference), NULL with *found = 0 when there is
 * none (no exception), NULL with an exception on error. */
static PyObject *
record_field(PyObject *self, PyObject *name, int *found)
{
    *found = 0;
    frost_mnode_t state;
    int rc = record_fields(self, &state);
    Py_ssize_t ix = rc > 0 ? frost_map_table_find(IMG(self), &state, name) : (rc == 0 ? -1 : -2);
    if (ix < 0) {
        return NULL;
    }
    *found = 1;
    return frost_map_load(IMG(self), frost_map_table_value(&state, (uint64_t)ix));
}

/* fields win over the type's own attributes (which start with "_"), as Record's,
 * but for the special methods the type has (frost__record_type_dunder) */
static PyObject *
record_getattro(PyObject *self, PyObject *name)
{
    int found;
    PyObject *r = PyUnicode_Check(name) && !frost__record_type_dunder(self, name)
                  ? record_field(self, name, &found) : NULL;
    if (r != NULL || PyErr_Occurred()) {
        return r;
    }
    return PyObject_GenericGetAttr(self, name);
}

/* r[key]: the state dict's item (a record of __shared__ state: its state's item) */
static PyObject *
record_subscript(PyObject *self, PyObject *key)
{
    int found;
    PyObject *r = record_field(self, key, &found);
    if (r != NULL || PyErr_Occurred()) {
        return r;
    }
    frost_mnode_t state;
    if (record_fields(self, &state) == 0) {   /* not a dict: index the state itself */
        PyObject *st = frost_map_load(IMG(self), MV(self)->node.state);
        r = st ? PyObject_GetItem(st, key) : NULL;
        Py_XDECREF(st);
        return r;
    }
    if (!PyErr_Occurred()) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    return NULL;
}

static int
record_setattro(PyObject *self, PyObject *Py_UNUSED(name), PyObject *Py_UNUSED(v))
{
    mapped_readonly(self);
    return -1;
}

static PyObject *
record_field_names(PyObject *self, void *Py_UNUSED(c))
{
    frost_mnode_t state;
    int rc = record_fields(self, &state);
    if (rc <= 0) {
        return rc == 0 ? PyTuple_New(0) : NULL;
    }
    PyObject *t = PyTuple_New((Py_ssize_t)state.len);
    for (uint64_t i = 0; t && i < state.len; i++) {
        PyObject *k = frost_map_load_key(IMG(self), frost_map_table_key(&state, i));
        if (k == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, k);
    }
    return t;
}

static PyObject *
record_str_part(PyObject *self, frost_mref_t ref)
{
    unsigned tag = frost_mref_tag(ref);
    if (tag != FROST_MREF_STR && tag != FROST_MREF_STR_INLINE) {
        PyErr_Format(IMG(self)->error, "damaged frost image: record at %llu: module/qualname "
                     "are not strs", (unsigned long long)MV(self)->node.offset);
        return NULL;
    }
    return frost_map_load(IMG(self), ref);
}

static PyObject *
record_module(PyObject *self, void *Py_UNUSED(c))
{
    return record_str_part(self, MV(self)->node.module);
}

static PyObject *
record_qualname(PyObject *self, void *Py_UNUSED(c))
{
    return record_str_part(self, MV(self)->node.qualname);
}

static PyObject *
record_state(PyObject *self, void *Py_UNUSED(c))
{
    return frost_map_load(IMG(self), MV(self)->node.state);
}

static PyObject *
record_class_name(PyObject *self, void *Py_UNUSED(c))
{
    PyObject *m = record_module(self, NULL);
    PyObject *q = m ? record_qualname(self, NULL) : NULL;
    PyObject *r = q ? PyUnicode_FromFormat("%U.%U", m, q) : NULL;
    Py_XDECREF(m);
    Py_XDECREF(q);
    return r;
}

/* frost__record_repr_fields' loader for a MappedRecord's dict state */
struct mapped_fields {
    const frost_map_image_t *img;
    const frost_mnode_t *state;
};

static int
load_mapped_field(void *ctx, Py_ssize_t i, PyObject **k, PyObject **v)
{
    struct mapped_fields *f = ctx;
    *k = frost_map_load_key(f->img, frost_map_table_key(f->state, (uint64_t)i));
    *v = *k ? frost_map_load(f->img, frost_map_table_value(f->state, (uint64_t)i)) : NULL;
    return *v ? 0 : -1;
}

static PyObject *
record_repr(PyObject *self)
{
    PyObject *qualname = record_qualname(self, NULL);
    if (qualname == NULL) {
        return NULL;
    }
    /* guarded for both kinds of state: a chain of records whose state is the
     * next record (no dict) overflowed the C stack before RecursionError */
    const void *node = IMG(self)->base + MV(self)->node.offset;
    int enter = frost__repr_enter(node);
    if (enter != 0) {
        Py_DECREF(qualname);
        return enter > 0 ? PyUnicode_FromString("...") : NULL;
    }
    frost_mnode_t state;
    int rc = record_fields(self, &state);
    PyObject *result = NULL;
    if (rc == 0) {
        PyObject *s = record_state(self, NULL);
        result = s ? PyUnicode_FromFormat("%U(%R)", qualname, s) : NULL;
        Py_XDECREF(s);
    }
    else if (rc > 0) {
        struct mapped_fields fields = {IMG(self), &state};
        result = frost__record_repr_fields(qualname, (Py_ssize_t)state.len, load_mapped_field, &fields);
    }
    frost__repr_leave(node);
    Py_DECREF(qualname);
    return result;
}

static PyObject *
record_richcompare(PyObject *self, PyObject *other, int op)
{
    if (op != Py_EQ && op != Py_NE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (Py_TYPE(other) != Py_TYPE(self)) {
        if (!frost__is_record_view(MV(self)->image->st, Py_TYPE(other))) {
            Py_RETURN_NOTIMPLEMENTED;
        }
        int eq = frost__records_equal(self, other);   /* a frost.Record: the same rule */
        return eq < 0 ? NULL : PyBool_FromLong(op == Py_EQ ? eq : !eq);
    }
    int eq = same_node(self, other);
    if (!eq) {
        if (frost__stack_check() < 0) {   /* a state may be the next record: no dict between */
            return NULL;
        }
        PyObject *a[3] = {record_module(self, NULL), record_qualname(self, NULL),
                          record_state(self, NULL)};
        PyObject *b[3] = {record_module(other, NULL), record_qualname(other, NULL),
                          record_state(other, NULL)};
        eq = 1;
        for (int i = 0; i < 3 && eq > 0; i++) {
            eq = a[i] && b[i] ? PyObject_RichCompareBool(a[i], b[i], Py_EQ) : -1;
        }
        for (int i = 0; i < 3; i++) {
            Py_XDECREF(a[i]);
            Py_XDECREF(b[i]);
        }
        if (eq < 0) {
            return NULL;
        }
    }
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

int
frost__mapped_record_parts(PyObject *view, PyObject **module, PyObject **qualname, int *kind,
                           PyObject **state)
{
    if (Py_TYPE(view)->tp_getattro != record_getattro) {
        return -2;
    }
    *module = record_module(view, NULL);
    *qualname = *module ? record_qualname(view, NULL) : NULL;
    *state = *qualname ? record_state(view, NULL) : NULL;
    *kind = (int)(MV(view)->node.flags | FROST_RECORD_FROM_FILE);
    if (*state == NULL) {
        Py_CLEAR(*module);
        Py_CLEAR(*qualname);
        return -1;
    }
    return 0;
}

static PyGetSetDef record_getset[] = {
    {"node_offset", mapped_node_offset, NULL, "The node's byte offset in its image.", NULL},
    {"image", mapped_image, NULL, "The _frost.MapImage this view reads.", NULL},
    {"_fields", record_field_names, NULL, "The field names, in order.", NULL},
    {"_class_name", record_class_name, NULL, "'module.qualname' of the record's class.", NULL},
    {"_module", record_module, NULL, "The record class's __module__ (a str; never imported).", NULL},
    {"_qualname", record_qualname, NULL, "The record class's __qualname__.", NULL},
    {"_state", record_state, NULL, "The record's state (a MappedDict of its fields).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef record_methods[] = {
    MAPPED_REDUCE,
    {"__dir__", frost__record_dir, METH_NOARGS, "The attributes, the fields among them."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef record_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(FrostMappedRecord, weaklist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot record_slots[] = {
    {Py_tp_doc, "MappedRecord: a read-only record (dataclass, NamedTuple, __shared__ object) of a "
                "format-2 image; fields are attributes. Its class is never imported."},
    {Py_tp_dealloc, mapped_dealloc},
    {Py_tp_members, record_members},
    {Py_tp_repr, record_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_getattro, record_getattro},
    {Py_mp_subscript, record_subscript},
    {Py_mp_ass_subscript, mapped_ass},
    {Py_tp_setattro, record_setattro},
    {Py_tp_richcompare, record_richcompare},
    {Py_tp_methods, record_methods},
    {Py_tp_getset, record_getset},
    {0, NULL},
};

static PyType_Spec record_spec = {
    .name = "frost.MappedRecord",
    .basicsize = sizeof(FrostMappedRecord),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = record_slots,
};

/* ---- MappedArray ----------------------------------------------------------- */

#define MA(o) ((FrostMappedArray *)(o))

static int
array_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    const frost_mnode_t *n = &MV(self)->node;
    int ndim = (int)n->len;
    return frost__export_buffer(view, self, "frost.MappedArray", (const char *)n->data,
                                (Py_ssize_t)n->itemsize, n->format, ndim, MA(self)->dims,
                                MA(self)->dims + ndim, flags);
}

static PyObject *
array_shape(PyObject *self, void *Py_UNUSED(c))
{
    return frost__ssize_tuple(MA(self)->dims, (int)MV(self)->node.len);
}

static PyObject *
array_strides(PyObject *self, void *Py_UNUSED(c))
{
    int ndim = (int)MV(self)->node.len;
    return frost__ssize_tuple(MA(self)->dims + ndim, ndim);
}

static PyObject *
array_format(PyObject *self, void *Py_UNUSED(c))
{
    return PyUnicode_FromString(MV(self)->node.format);
}

static PyObject *
array_itemsize(PyObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(MV(self)->node.itemsize);
}

static PyObject *
array_nbytes(PyObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(MV(self)->node.nbytes);
}

static PyObject *
array_ndim(PyObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(MV(self)->node.len);
}

/* the layout the shared item readers take (view_array.c) */
static frost_layout_t
array_layout(PyObject *self)
{
    int ndim = (int)MV(self)->node.len;
    return (frost_layout_t){"frost.MappedArray", MV(self)->node.format, ndim, MA(self)->dims,
                            MA(self)->dims + ndim};
}

static PyObject *
array_tolist(PyObject *self, PyObject *Py_UNUSED(i))
{
    PyObject *mv = PyMemoryView_FromObject(self);
    PyObject *r = mv ? PyObject_CallMethod(mv, "tolist", NULL) : NULL;
    if (mv != NULL) {
        frost__memoryview_done(mv);
    }
    frost_layout_t layout = array_layout(self);
    return r ? r : frost__unpack_elsewhere(self, NULL, &layout);
}

/* Row i (0 <= i < dims[0]) of a multi-dimensional MappedArray: a MappedArray
 * of the same mapping, no copy, as frost.Array's a[i]. */
static PyObject *
array_row(PyObject *self, Py_ssize_t i)
{
    frost_mnode_t row = MV(self)->node;
    Py_ssize_t stride = MA(self)->dims[row.len];   /* the first dimension's */
    row.data += i * stride;
    row.nbytes = (uint64_t)stride;   /* C-contiguous: a row is `stride` bytes */
    row.shape += 8;
    row.len -= 1;
    PyObject *r = make_view(MV(self)->image, &row);
    if (r != NULL) {
        MA(r)->parent = Py_NewRef(self);
        MA(r)->index = i;
    }
    return r;
}

/* a[i] of a multi-dimensional array (a row, as frost.Array's), a[i, j, ...]
 * (an item) and a[i:j:k] (a read-only memoryview of the same mapping, first
 * dimension), as memoryview(a) answers the last two. */
static PyObject *
array_subscript(PyObject *self, PyObject *key)
{
    if (PyIndex_Check(key) && MV(self)->node.len > 1) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        Py_ssize_t rows = MA(self)->dims[0];
        if (i < 0) {
            i += rows;
        }
        if (i < 0 || i >= rows) {
            PyErr_SetString(PyExc_IndexError, "frost.MappedArray index out of range");
            return NULL;
        }
        return array_row(self, i);
    }
    frost_layout_t layout = array_layout(self);
    return frost__buffer_subscript(self, key, &layout);
}

/* A row pickles as its parent indexed again by the receiver; a whole array
 * as a handle to the image and its node. */
static PyObject *
array_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (MA(self)->parent == NULL) {
        return mapped_reduce(self, NULL);
    }
    PyObject *operator = PyImport_ImportModule("operator");
    PyObject *getitem = operator ? PyObject_GetAttrString(operator, "getitem") : NULL;
    Py_XDECREF(operator);
    return getitem ? Py_BuildValue("N(On)", getitem, MA(self)->parent, MA(self)->index) : NULL;
}

static PyObject *
array_item(PyObject *self, Py_ssize_t i)
{
    PyObject *key = PyLong_FromSsize_t(i);
    PyObject *r = key ? array_subscript(self, key) : NULL;
    Py_XDECREF(key);
    return r;
}

static PyObject *
array_tobytes(PyObject *self, PyObject *Py_UNUSED(i))
{
    return frost__buffer_tobytes(self);
}

static PyObject *
array_richcompare(PyObject *self, PyObject *other, int op)
{
    return frost__buffer_richcompare(self, other, op, MV(self)->node.format);
}

static Py_ssize_t
array_length(PyObject *self)
{
    if (MV(self)->node.len == 0) {
        PyErr_SetString(PyExc_TypeError, "len() of a 0-dimensional frost.MappedArray");
        return -1;
    }
    return MA(self)->dims[0];
}

/* as frost.Array's: a 0-d array is not iterable (without tp_iter, iter() fell back
   to sq_item and `list(a)`, `x in a` said "needs 0 indices, not 1") */
static PyObject *
array_iter(PyObject *self)
{
    if (MV(self)->node.len == 0) {
        PyErr_SetString(PyExc_TypeError, "iteration over a 0-dimensional frost.MappedArray");
        return NULL;
    }
    return PySeqIter_New(self);
}

static PyObject *
array_repr(PyObject *self)
{
    PyObject *shape = array_shape(self, NULL);
    PyObject *r = shape ? PyUnicode_FromFormat("MappedArray(format='%s', shape=%R)",
                                               MV(self)->node.format, shape)
                        : NULL;
    Py_XDECREF(shape);
    return r;
}

static PyGetSetDef array_getset[] = {
    {"node_offset", mapped_node_offset, NULL, "The node's byte offset in its image.", NULL},
    {"image", mapped_image, NULL, "The _frost.MapImage this view reads.", NULL},
    {"shape", array_shape, NULL, "The shape (a tuple of ints).", NULL},
    {"strides", array_strides, NULL, "Bytes between items, per dimension (a tuple of ints).", NULL},
    {"format", array_format, NULL, "The struct-module/numpy format of one item.", NULL},
    {"itemsize", array_itemsize, NULL, "Bytes per item.", NULL},
    {"nbytes", array_nbytes, NULL, "Bytes of data.", NULL},
    {"ndim", array_ndim, NULL, "Number of dimensions.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef array_methods[] = {
    {"tolist", array_tolist, METH_NOARGS, "The items as (nested) lists, like memoryview.tolist()."},
    {"tobytes", array_tobytes, METH_NOARGS, "A copy of the data (C order), as memoryview's."},
    {"__reduce__", array_reduce, METH_NOARGS, "Pickle as a handle to the same image and node "
                                              "(a row: its array, indexed again)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef array_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(FrostMappedArray, weaklist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot array_slots[] = {
    {Py_tp_doc, "MappedArray: a read-only typed buffer of a format-2 image; numpy.asarray() and\n"
                "memoryview() read the mapping in place."},
    {Py_tp_dealloc, mapped_dealloc},
    {Py_tp_members, array_members},
    {Py_tp_repr, array_repr},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_richcompare, array_richcompare},
    {Py_tp_iter, array_iter},
    {Py_tp_methods, array_methods},
    {Py_tp_getset, array_getset},
    {Py_sq_length, array_length},
    {Py_mp_length, array_length},
    {Py_sq_item, array_item},
    {Py_mp_subscript, array_subscript},
    {Py_mp_ass_subscript, mapped_ass},
    {Py_bf_getbuffer, array_getbuffer},
    {0, NULL},
};

static PyType_Spec array_spec = {
    .name = "frost.MappedArray",
    .basicsize = sizeof(FrostMappedArray),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = array_slots,
};

/* ---- MapImage -------------------------------------------------------------- */

#define MI(o) ((FrostMapImage *)(o))

static PyObject *
image_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    PyObject *source;
    if ((kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)
        || !PyArg_ParseTuple(args, "O:MapImage", &source)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "MapImage() takes no keyword arguments");
        }
        return NULL;
    }
    frost_state *st = frost__state_of_type(tp);
    if (st == NULL) {
        return NULL;
    }
    FrostMapImage *self = (FrostMapImage *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        return NULL;
    }
    self->st = st;
    self->guard = -1;
    self->handle = Py_NewRef(Py_None);
    if (PyObject_GetBuffer(source, &self->buf, PyBUF_SIMPLE) < 0) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "MapImage() needs an object exporting a contiguous "
                         "buffer (mmap.mmap, bytes, ...), not '%.200s'", Py_TYPE(source)->tp_name);
        }
        self->buf.obj = NULL;
        Py_DECREF(self);
        return NULL;
    }
    if (frost_map_open(&self->img, self->buf.buf, (uint64_t)self->buf.len, st->snapshot_error) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->img.make_view = make_view;
    self->img.view_ctx = self;
    self->guard = frost_map_guard_add(self->buf.buf, (uint64_t)self->buf.len);   /* files shrunk under us */
    self->img.guard = self->guard;
    return (PyObject *)self;
}

static int
image_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(MI(self)->handle);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
image_clear(PyObject *self)
{
    Py_CLEAR(MI(self)->handle);
    return 0;
}

static void
image_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    PyObject_ClearWeakRefs(self);
    image_clear(self);
    Py_CLEAR(MI(self)->checked_tables);
    frost_map_pin_release(MI(self)->pin);   /* exports may hold it on: then it stays */
    frost_map_guard_remove(MI(self)->guard);
    if (MI(self)->buf.obj != NULL) {
        PyBuffer_Release(&MI(self)->buf);
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
image_root(PyObject *self, void *Py_UNUSED(c))
{
    return frost_map_load(&MI(self)->img, MI(self)->img.root);
}

static PyObject *
image_view_at(PyObject *self, PyObject *arg)
{
    if (!PyIndex_Check(arg)) {   /* an int, or an int-like (__index__: numpy's) */
        PyErr_Format(PyExc_TypeError, "view_at() takes an int offset, not '%.200s'",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    PyObject *index = PyNumber_Index(arg);
    if (index == NULL) {
        return NULL;
    }
    unsigned long long off = PyLong_AsUnsignedLongLong(index);
    if (off == (unsigned long long)-1 && PyErr_Occurred()) {
        PyObject *repr = NULL;
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            repr = frost__int_repr(index);
        }
        if (repr != NULL) {
            PyErr_Format(MI(self)->img.error, "no node at offset %U of this image", repr);
            Py_DECREF(repr);
        }
        Py_DECREF(index);
        return NULL;
    }
    Py_DECREF(index);
    if (off % 8 != 0 || off >= MI(self)->img.size) {
        PyErr_Format(MI(self)->img.error, "no node at offset %llu of this image", off);
        return NULL;
    }
    return frost_map_load(&MI(self)->img, frost_mref_at8(off, FROST_MREF_NODE));
}

static int
image_progress(void *ctx, uint64_t done, uint64_t total)
{
    PyObject *r = PyObject_CallFunction((PyObject *)ctx, "KK", (unsigned long long)done,
                                        (unsigned long long)total);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static PyObject *
image_verify(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"progress", NULL};
    PyObject *progress_obj = NULL, *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:verify", kwlist, &progress_obj)
        || frost__parse_progress(progress_obj, "verify", &progress) < 0) {
        return NULL;
    }
    if (frost_map_verify(&MI(self)->img, 0, progress ? image_progress : NULL, progress) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* MappedStore.save: a copy of the image into `fd`, with an XXH3 body checksum
 * whatever the image had (a frost.share image has none: sealed memory needs
 * none, a file does), in chunks between which signals are checked and the
 * progress callable is called (done, None), then (size, size). The size, or
 * -1 with an exception set: SnapshotError when the bytes copied are not the
 * ones the image's body checksum covers (checked as they stream by). The
 * image is read-only memory that this image object keeps mapped; its file can
 * still be rewritten or truncated in place by another process. */
#define IMAGE_COPY_CHUNK ((size_t)8 << 20)

static int64_t
write_image_copy(void *ctx, int fd, PyObject *progress)
{
    const frost_map_image_t *img = &MI((PyObject *)ctx)->img;
    const unsigned char *base = img->base;
    size_t size = (size_t)img->size;   /* a MapImage's header was checked: >= 128 */
    frost_map_header_t h;
    memcpy(&h, base, sizeof h);
    frost_xxh3_t sum;
    frost_xxh3_init(&sum);
    for (size_t done = FROST_MAP_HEADER_SIZE; done < size;) {
        size_t n = size - done < IMAGE_COPY_CHUNK ? size - done : IMAGE_COPY_CHUNK;
        int err = 0;
        Py_BEGIN_ALLOW_THREADS
        frost_xxh3_update(&sum, base + done, n);
        for (size_t at = 0; at < n && err == 0;) {
            ssize_t w = pwrite(fd, base + done + at, n - at, (off_t)(done + at));
            if (w > 0) {
                at += (size_t)w;
            }
            else if (w == 0 || errno != EINTR) {
                err = w == 0 ? EIO : errno;
            }
        }
        Py_END_ALLOW_THREADS
        if (err != 0) {
            errno = err;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        done += n;
        if (PyErr_CheckSignals() < 0
            || (progress != NULL && frost__report_progress(progress, done, 0, 0) < 0)) {
            return -1;
        }
    }
    /* What was copied is the image the source's checksum covers, or nothing is
     * saved: a damaged body (frost.load does not read it) or a file changed or
     * shrunk under the mapping (zero pages stood in) would otherwise get a
     * fresh, valid checksum */
    uint64_t digest = frost_xxh3_digest(&sum);
    int changed = 0;
    if (h.flags & FROST_MAP_FLAG_BODY_XXH3) {
        changed = digest != h.body_checksum;
    }
    else if (!(h.flags & FROST_MAP_FLAG_NO_BODY_CHECKSUM)) {   /* older files: XXH64 */
        uint64_t old;
        Py_BEGIN_ALLOW_THREADS
        old = frost_snapshot_xxh64(base + FROST_MAP_HEADER_SIZE, size - FROST_MAP_HEADER_SIZE, 0);
        Py_END_ALLOW_THREADS
        changed = old != h.body_checksum;
    }
    if (frost_map_guard_check(img) < 0) {
        return -1;
    }
    if (changed) {
        PyErr_SetString(img->error, "damaged frost image: body checksum mismatch (the file was "
                                    "damaged, or changed since it was loaded): not saved");
        return -1;
    }
    h.flags = (h.flags & ~(uint64_t)FROST_MAP_FLAG_NO_BODY_CHECKSUM) | FROST_MAP_FLAG_BODY_XXH3;
    h.body_checksum = digest;
    h.header_checksum = frost_map_header_checksum(&h);
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    ssize_t w;
    do {
        w = pwrite(fd, &h, sizeof h, 0);
    } while (w < 0 && errno == EINTR);
    err = w == (ssize_t)sizeof h ? 0 : w < 0 ? errno : EIO;
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (progress != NULL && frost__report_progress(progress, size, 1, size) < 0) {
        return -1;
    }
    return (int64_t)size;
}

static PyObject *
image_save(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"path", "progress", NULL};
    PyObject *path, *progress_obj = NULL, *progress = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$O:save", kwlist, &path, &progress_obj)
        || frost__parse_progress(progress_obj, "save", &progress) < 0
        || (path = PyOS_FSPath(path)) == NULL) {   /* __fspath__ once (Store.save's reason) */
        return NULL;
    }
    int rc = frost__refuse_special_target(path) < 0
             || frost__save_atomically(path, progress, write_image_copy, self) < 0 ? -1 : 0;
    Py_DECREF(path);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
image_store_id(PyObject *self, void *Py_UNUSED(c))
{
    return PyBytes_FromStringAndSize((const char *)MI(self)->img.base + 64, 16);
}

static PyObject *
image_size(PyObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(MI(self)->img.size);
}

static PyObject *
image_nnodes(PyObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLongLong(MI(self)->img.nnodes);
}

static PyObject *
image_body_checksum(PyObject *self, void *Py_UNUSED(c))
{
    uint64_t flags = frost_map_rd64(MI(self)->img.base + offsetof(frost_map_header_t, flags));
    return PyBool_FromLong(!(flags & FROST_MAP_FLAG_NO_BODY_CHECKSUM));
}

static PyObject *
image_get_handle(PyObject *self, void *Py_UNUSED(c))
{
    return Py_NewRef(MI(self)->handle ? MI(self)->handle : Py_None);
}

static int
image_set_handle(PyObject *self, PyObject *value, void *Py_UNUSED(c))
{
    Py_XSETREF(MI(self)->handle, Py_NewRef(value ? value : Py_None));
    return 0;
}

static PyObject *
image_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<frost MapImage: %llu bytes, %llu nodes>",
                                (unsigned long long)MI(self)->img.size,
                                (unsigned long long)MI(self)->img.nnodes);
}

static PyGetSetDef image_getset[] = {
    {"root", image_root, NULL, "The root value: a leaf, a tuple or a Mapped* view.", NULL},
    {"store_id", image_store_id, NULL, "The image's 16-byte id.", NULL},
    {"image_size", image_size, NULL, "The image's size in bytes.", NULL},
    {"nnodes", image_nnodes, NULL, "Container nodes, as the header says.", NULL},
    {"body_checksum", image_body_checksum, NULL,
     "Whether the image carries a body checksum (verify checks it); frost.share images do not.",
     NULL},
    {"handle", image_get_handle, image_set_handle,
     "What pickling a view of this image sends (set by frost's Python layer; None: not picklable).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef image_methods[] = {
    {"view_at", image_view_at, METH_O,
     "view_at($self, offset, /)\n--\n\nThe view (or tuple) of the node at offset; SnapshotError if none."},
    {"verify", (PyCFunction)(void (*)(void))image_verify, METH_VARARGS | METH_KEYWORDS,
     "verify($self, progress=None)\n--\n\nCheck every reachable byte and reference and the body\n"
     "checksum: None, or frost.SnapshotError naming the damage."},
    {"save", (PyCFunction)(void (*)(void))image_save, METH_VARARGS | METH_KEYWORDS,
     "save($self, path, *, progress=None)\n--\n\nWrite a copy of the image, with a body "
     "checksum,\nto a new file renamed over path (MappedStore.save)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot image_slots[] = {
    {Py_tp_doc, "MapImage(buffer, /)\n--\n\nA format-2 frost image read in place from buffer (held "
                "until the image and all its views are gone). The header is checked in O(1)."},
    {Py_tp_new, image_new},
    {Py_tp_dealloc, image_dealloc},
    {Py_tp_traverse, image_traverse},
    {Py_tp_clear, image_clear},
    {Py_tp_repr, image_repr},
    {Py_tp_getset, image_getset},
    {Py_tp_methods, image_methods},
    {0, NULL},
};

static PyType_Spec image_spec = {
    .name = "frost._frost.MapImage",
    .basicsize = sizeof(FrostMapImage),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_MANAGED_WEAKREF,
    .slots = image_slots,
};

/* ---- module glue ----------------------------------------------------------- */

static int
add(PyObject *module, PyType_Spec *spec, PyTypeObject **slot, int public)
{
    *slot = (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, NULL);
    if (*slot == NULL) {
        return -1;
    }
    if (!public) {
        return 0;
    }
    const char *dot = strrchr(spec->name, '.');
    return PyModule_AddObjectRef(module, dot + 1, (PyObject *)*slot);
}

static int
register_abc(PyObject *abc, const char *name, PyTypeObject *tp)
{
    PyObject *cls = PyObject_GetAttrString(abc, name);
    PyObject *r = cls ? PyObject_CallMethod(cls, "register", "O", (PyObject *)tp) : NULL;
    Py_XDECREF(cls);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

int
frost__mapped_types_add(PyObject *module, frost_state *st)
{
    if (add(module, &image_spec, &st->map_image_type, 1) < 0
        || add(module, &dict_spec, &st->mapped_dict_type, 1) < 0
        || add(module, &list_spec, &st->mapped_list_type, 1) < 0
        || add(module, &set_spec, &st->mapped_set_type, 1) < 0
        || add(module, &record_spec, &st->mapped_record_type, 1) < 0
        || add(module, &array_spec, &st->mapped_array_type, 1) < 0
        || add(module, &FrostMappedTable_spec, &st->mapped_table_type, 1) < 0
        || add(module, &FrostMappedColumn_spec, &st->mapped_column_type, 1) < 0
        || add(module, &iter_spec, &st->mapped_iter_type, 0) < 0) {
        return -1;
    }
    PyObject *abc = PyImport_ImportModule("collections.abc");
    if (abc == NULL) {
        return -1;
    }
    int rc = (register_abc(abc, "Mapping", st->mapped_dict_type) < 0
              || register_abc(abc, "Sequence", st->mapped_list_type) < 0
              || register_abc(abc, "Set", st->mapped_set_type) < 0
              || register_abc(abc, "Iterator", st->mapped_iter_type) < 0) ? -1 : 0;
    Py_DECREF(abc);
    return rc;
}

int
frost__is_mapped_view(frost_state *st, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    return tp == st->mapped_dict_type || tp == st->mapped_list_type || tp == st->mapped_set_type
           || tp == st->mapped_record_type || tp == st->mapped_array_type
           || tp == st->mapped_table_type || tp == st->mapped_column_type;
}

/* ---- thaw ------------------------------------------------------------------ */
/*
 * Iterative, like the arena's thaw (thaw.c): an explicit stack of frames, so
 * a list of lists 1,000,000 deep thaws as it does from an arena (it raised
 * RecursionError past CPython's C recursion limit: ~1,500 levels on 3.12).
 * The values of lists, dicts and tuples and a record's state are frames;
 * dict keys and set items are keys (immutables: tuples nest at most 256
 * deep, checked when followed) and are thawed by a nested mthaw_ref, under
 * Py_EnterRecursiveCall.
 */

typedef struct {
    frost_mnode_t n;
    PyObject *key;               /* the memo key: the node's offset */
    PyObject *result;            /* list, dict, set, tuple: made at the start; frozenset, record: NULL */
    PyObject *pending;           /* dict: the key of the value being thawed; set: the keys; record: the state */
    uint64_t i;                  /* the next item */
    int fill_after;              /* result in the memo before its items (list, dict, set) */
    int counted;                 /* counts in `containers` (not a tuple) */
} mthaw_frame_t;

typedef struct {
    const frost_map_image_t *img;
    PyObject *memo;              /* {offset: result} */
    PyObject *pending;           /* {offset: `containers` when it started}: the tuples and
                                    records being thawed (apart: a record's result may be
                                    an int) */
    PyObject *allowed;
    Py_ssize_t containers;       /* lists/dicts/sets/records being thawed now */
    mthaw_frame_t *frames;
    Py_ssize_t depth, cap;
    size_t steps;                /* for mthaw_tick */
} mthaw_t;

#define MTHAW_CHECK_EVERY 4096   /* steps; a power of two */

/* Count one step; every MTHAW_CHECK_EVERY, -1 with the exception of Ctrl-C
 * or of another thread stopping this one (frost__wait_tick: a frost.Pool
 * stopping the task), as the arena's thaw does. */
static inline int
mthaw_tick(mthaw_t *tw)
{
    return (++tw->steps & (MTHAW_CHECK_EVERY - 1)) == 0 && frost__wait_tick() < 0 ? -1 : 0;
}

/* a table key that no dict or set can hold: the image is damaged */
static int
mthaw_key_error(mthaw_t *tw, const frost_mnode_t *n)
{
    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        PyErr_Format(tw->img->error, "damaged frost image: %s node at %llu holds an unhashable key",
                     n->kind == FROST_MNODE_DICT ? "dict" : "set", (unsigned long long)n->offset);
    }
    return 0;
}

/* (apart from mthaw_node: its shape array would sit in every recursive frame) */
static __attribute__((noinline)) PyObject *
mthaw_array(const frost_mnode_t *n)
{
    Py_ssize_t dims[2 * FROST_ARRAY_MAX_NDIM + 2];
    int ndim = (int)n->len;
    Py_ssize_t stride = (Py_ssize_t)n->itemsize;
    for (int d = ndim; d-- > 0;) {
        dims[d] = (Py_ssize_t)frost_map_rd64(n->shape + d * 8);
        dims[ndim + d] = stride;
        stride *= dims[d];
    }
    return frost__thaw_array_parts((const char *)n->data, n->format, (Py_ssize_t)n->itemsize,
                                   n->flags, ndim, dims, dims + ndim);
}

static PyObject *mthaw_ref(mthaw_t *tw, frost_mref_t ref);

static PyObject *
mthaw_record(mthaw_t *tw, const frost_mnode_t *n, PyObject *state)
{
    PyObject *cls = NULL;
    if (tw->allowed != NULL) {
        PyObject *module = frost_map_load(tw->img, n->module);
        PyObject *qualname = module ? frost_map_load(tw->img, n->qualname) : NULL;
        PyObject *name = qualname ? PyTuple_Pack(2, module, qualname) : NULL;
        Py_XDECREF(module);
        Py_XDECREF(qualname);
        cls = name ? Py_XNewRef(PyDict_GetItemWithError(tw->allowed, name)) : NULL;
        Py_XDECREF(name);
        if (cls == NULL && PyErr_Occurred()) {
            return NULL;
        }
    }
    /* never imported: an image is a file, it must not choose what code runs */
    return frost__thaw_record_rebuild(cls, n->flags, state);
}

static void
mthaw_pop(mthaw_t *tw)
{
    mthaw_frame_t *f = &tw->frames[--tw->depth];
    tw->containers -= f->counted;
    Py_XDECREF(f->key);
    Py_XDECREF(f->result);
    Py_XDECREF(f->pending);
}

/* A node not thawed yet: its result (a leaf-like node: 0, *out set) or a
 * new frame (1), or -1. Steals `key`. */
static int
mthaw_begin(mthaw_t *tw, const frost_mnode_t *n, PyObject *key, PyObject **out)
{
    if (n->kind == FROST_MNODE_ARRAY) {   /* memoized: one buffer frozen once thaws once, as thaw.c */
        *out = mthaw_array(n);
        if (*out != NULL && PyDict_SetItem(tw->memo, key, *out) < 0) {
            Py_CLEAR(*out);
        }
        Py_DECREF(key);
        return *out ? 0 : -1;
    }
    if (n->kind == FROST_MNODE_COLUMNS) {   /* {name: list of values}, like thaw(frost.MappedTable) */
        PyObject *view = tw->img->make_view ? tw->img->make_view(tw->img->view_ctx, n) : NULL;
        PyObject *r = view ? frost__table_thaw(view) : NULL;
        if (view == NULL && !PyErr_Occurred()) {
            PyErr_SetString(tw->img->error, "a table node cannot be thawed without views");
        }
        Py_XDECREF(view);
        if (r != NULL && PyDict_SetItem(tw->memo, key, r) < 0) {   /* shared: one dict, as thaw.c */
            Py_CLEAR(r);
        }
        Py_DECREF(key);
        *out = r;
        return r ? 0 : -1;
    }
    PyObject *result = NULL;
    switch (n->kind) {
    case FROST_MNODE_LIST:
        result = PyList_New((Py_ssize_t)n->len);
        break;
    case FROST_MNODE_DICT:
        result = PyDict_New();
        break;
    case FROST_MNODE_SET:
        result = n->flags & FROST_MSET_WAS_FROZENSET ? NULL : PySet_New(NULL);
        break;
    case FROST_MNODE_TUPLE:
        result = PyTuple_New((Py_ssize_t)n->len);
        if (result == NULL) {
            Py_DECREF(key);
            return -1;
        }
        break;
    case FROST_MNODE_RECORD:
        break;
    default:
        Py_DECREF(key);
        PyErr_Format(tw->img->error, "damaged frost image: no value at %llu",
                     (unsigned long long)n->offset);
        return -1;
    }
    int fill_after = n->kind != FROST_MNODE_TUPLE && result != NULL;
    /* containers go in the memo before their items; tuples and records in `pending` */
    PyObject *pending = fill_after ? Py_NewRef(result) : PyLong_FromSsize_t(tw->containers);
    PyObject *keys = n->kind == FROST_MNODE_SET ? PyList_New(0) : NULL;
    if (pending == NULL || (n->kind == FROST_MNODE_SET && keys == NULL)
        || PyDict_SetItem(fill_after ? tw->memo : tw->pending, key, pending) < 0) {
        Py_XDECREF(pending);
        Py_XDECREF(keys);
        Py_XDECREF(result);
        Py_DECREF(key);
        return -1;
    }
    Py_DECREF(pending);
    if (tw->depth == tw->cap) {
        Py_ssize_t cap = tw->cap ? 2 * tw->cap : 16;
        mthaw_frame_t *frames = PyMem_Realloc(tw->frames, (size_t)cap * sizeof *frames);
        if (frames == NULL) {
            Py_XDECREF(keys);
            Py_XDECREF(result);
            Py_DECREF(key);
            PyErr_NoMemory();
            return -1;
        }
        tw->frames = frames;
        tw->cap = cap;
    }
    int counted = n->kind != FROST_MNODE_TUPLE;
    tw->frames[tw->depth++] = (mthaw_frame_t){.n = *n, .key = key, .result = result, .pending = keys,
                                              .fill_after = fill_after, .counted = counted};
    tw->containers += counted;
    return 1;
}

/* `ref` thawed (0, *out set), or a frame pushed for it (1), or -1. */
static int
mthaw_start(mthaw_t *tw, frost_mref_t ref, PyObject **out)
{
    if (frost_mref_tag(ref) != FROST_MREF_NODE) {
        *out = frost_map_load(tw->img, ref);
        return *out ? 0 : -1;
    }
    PyObject *key = PyLong_FromUnsignedLongLong(frost_mref_offset8(ref));
    if (key == NULL) {
        return -1;
    }
    PyObject *seen = PyDict_GetItemWithError(tw->memo, key);
    if (seen != NULL) {
        Py_DECREF(key);
        *out = Py_NewRef(seen);
        return 0;
    }
    PyObject *started = PyErr_Occurred() ? NULL : PyDict_GetItemWithError(tw->pending, key);
    if (started != NULL) {   /* a tuple or record being thawed */
        Py_DECREF(key);
        if (PyLong_AsSsize_t(started) == tw->containers) {
            /* reached again through tuples only: no real tuple can hold itself */
            PyErr_Format(tw->img->error, "damaged frost image: the tuple at %llu contains "
                         "itself", (unsigned long long)frost_mref_offset8(ref));
        }
        else {
            PyErr_SetString(PyExc_ValueError, "cannot thaw a reference cycle through a tuple "
                                              "or record (their copies would have to contain "
                                              "themselves)");
        }
        return -1;
    }
    frost_mnode_t n;
    if (PyErr_Occurred() || frost_map_node(tw->img, frost_mref_offset8(ref), 0, &n) < 0) {
        Py_DECREF(key);
        return -1;
    }
    return mthaw_begin(tw, &n, key, out);
}

/* A key (of a dict or set): thawed at once, nested (keys nest shallowly). */
static PyObject *
mthaw_key(mthaw_t *tw, frost_mref_t ref)
{
    if (mthaw_tick(tw) < 0 || Py_EnterRecursiveCall(" in frost.thaw")) {
        return NULL;
    }
    PyObject *k = mthaw_ref(tw, ref);
    Py_LeaveRecursiveCall();
    return k;
}

/* Give frame f its next item (steals value); 0 or -1. */
static int
mthaw_deliver(mthaw_t *tw, mthaw_frame_t *f, PyObject *value)
{
    int ok = 1;
    switch (f->n.kind) {
    case FROST_MNODE_LIST:
        PyList_SET_ITEM(f->result, (Py_ssize_t)f->i, value);
        break;
    case FROST_MNODE_TUPLE:
        PyTuple_SET_ITEM(f->result, (Py_ssize_t)f->i, value);
        break;
    case FROST_MNODE_DICT:
        ok = PyDict_SetItem(f->result, f->pending, value) == 0;
        if (!ok) {
            mthaw_key_error(tw, &f->n);
        }
        Py_CLEAR(f->pending);
        Py_DECREF(value);
        break;
    case FROST_MNODE_RECORD:
        f->pending = value;   /* the state */
        break;
    default:
        Py_DECREF(value);
        break;
    }
    f->i++;
    return ok ? 0 : -1;
}

/* The next item of the top frame: delivered (0), a frame pushed for it (1),
 * none left (2), or -1. */
static int
mthaw_step(mthaw_t *tw)
{
    mthaw_frame_t *f = &tw->frames[tw->depth - 1];
    const frost_mnode_t *n = &f->n;
    uint64_t count = n->kind == FROST_MNODE_RECORD ? 1 : n->len;
    if (f->i >= count) {
        return 2;
    }
    frost_mref_t ref;
    switch (n->kind) {
    case FROST_MNODE_LIST:
        if (n->flags != FROST_MLIST_REFS) {
            PyObject *item = frost_map_seq_item(tw->img, n, f->i);
            return item ? mthaw_deliver(tw, f, item) : -1;
        }
        ref = frost_map_rd64(n->items + f->i * 8);
        break;
    case FROST_MNODE_TUPLE:
        ref = frost_map_rd64(n->items + f->i * 8);
        break;
    case FROST_MNODE_DICT: {
        uint64_t i = f->i;
        PyObject *k = mthaw_key(tw, frost_map_table_key(n, i));
        if (k == NULL) {
            return -1;
        }
        f = &tw->frames[tw->depth - 1];   /* the nested thaw may have moved the frames */
        f->pending = k;
        ref = frost_map_table_value(&f->n, i);
        break;
    }
    case FROST_MNODE_SET: {
        PyObject *k = mthaw_key(tw, frost_map_table_key(n, f->i));
        f = &tw->frames[tw->depth - 1];
        if (k == NULL || PyList_Append(f->pending, k) < 0) {
            Py_XDECREF(k);
            return -1;
        }
        Py_DECREF(k);
        f->i++;
        return 0;
    }
    case FROST_MNODE_RECORD:
        ref = n->state;
        break;
    default:
        return 2;
    }
    PyObject *value = NULL;
    int rc = mthaw_start(tw, ref, &value);
    if (rc == 0) {
        return mthaw_deliver(tw, &tw->frames[tw->depth - 1], value);
    }
    return rc;
}

/* The top frame's items are all there: its result (new reference), the frame popped. */
static PyObject *
mthaw_finish(mthaw_t *tw)
{
    mthaw_frame_t *f = &tw->frames[tw->depth - 1];
    PyObject *result = NULL;
    int ok = 1;
    switch (f->n.kind) {
    case FROST_MNODE_SET:
        if (f->result != NULL) {
            for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(f->pending); i++) {
                ok = PySet_Add(f->result, PyList_GET_ITEM(f->pending, i)) == 0;
            }
            result = ok ? Py_NewRef(f->result) : NULL;
        }
        else {
            result = PyFrozenSet_New(f->pending);
            ok = result != NULL;
        }
        if (!ok) {
            mthaw_key_error(tw, &f->n);
        }
        break;
    case FROST_MNODE_RECORD:
        result = mthaw_record(tw, &f->n, f->pending);
        break;
    default:
        result = Py_NewRef(f->result);
        break;
    }
    if (result != NULL && !f->fill_after
        && (PyDict_SetItem(tw->memo, f->key, result) < 0 || PyDict_DelItem(tw->pending, f->key) < 0)) {
        Py_CLEAR(result);
    }
    mthaw_pop(tw);
    return result;
}

static PyObject *
mthaw_ref(mthaw_t *tw, frost_mref_t ref)
{
    PyObject *out = NULL;
    Py_ssize_t base = tw->depth;
    int rc = mthaw_start(tw, ref, &out);
    while (rc > 0 && tw->depth > base) {
        rc = mthaw_step(tw);
        if (rc == 2) {
            PyObject *done = mthaw_finish(tw);
            if (done == NULL) {
                rc = -1;
            }
            else if (tw->depth == base) {
                out = done;
                rc = 0;
            }
            else {
                rc = mthaw_deliver(tw, &tw->frames[tw->depth - 1], done) < 0 ? -1 : 1;
            }
        }
        else if (rc == 0) {
            rc = 1;   /* an item delivered: go on */
        }
        if (rc > 0 && mthaw_tick(tw) < 0) {
            rc = -1;
        }
    }
    if (rc < 0) {
        while (tw->depth > base) {
            mthaw_pop(tw);
        }
        return NULL;
    }
    return out;
}

int
frost__is_mapped_store(PyObject *obj)
{
    PyObject *name = PyUnicode_FromString("frost._mapped");
    PyObject *mod = name ? PyImport_GetModule(name) : NULL;   /* not imported: none exists */
    Py_XDECREF(name);
    if (mod == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    PyObject *cls = PyObject_GetAttrString(mod, "MappedStore");
    Py_DECREF(mod);
    if (cls == NULL) {
        PyErr_Clear();
        return 0;
    }
    int is = PyObject_IsInstance(obj, cls);
    Py_DECREF(cls);
    return is;
}

int
frost__mapped_dict_view_kind(PyObject *obj)
{
    static const struct { const char *name; int kind; } kinds[] = {
        {"MappedKeysView", 'k'}, {"MappedValuesView", 'v'}, {"MappedItemsView", 'i'},
    };
    PyObject *name = PyUnicode_FromString("frost._mappedviews");
    PyObject *mod = name ? PyImport_GetModule(name) : NULL;   /* not imported: none exists */
    Py_XDECREF(name);
    int kind = 0;
    for (size_t i = 0; mod != NULL && kind == 0 && i < sizeof kinds / sizeof kinds[0]; i++) {
        PyObject *cls = PyObject_GetAttrString(mod, kinds[i].name);
        kind = cls != NULL && (PyObject *)Py_TYPE(obj) == cls ? kinds[i].kind : 0;
        Py_XDECREF(cls);
    }
    Py_XDECREF(mod);
    PyErr_Clear();   /* (a module without the classes: none of them) */
    return kind;
}

PyObject *
frost__mapped_thaw(frost_state *Py_UNUSED(st), PyObject *obj, PyObject *allowed)
{
    if (MV(obj)->node.kind == FROST_MNODE_ARRAY) {   /* its own node: a row's is moved */
        return mthaw_array(&MV(obj)->node);
    }
    mthaw_t tw = {.img = IMG(obj), .memo = PyDict_New(), .pending = PyDict_New(), .allowed = allowed};
    if (tw.memo == NULL || tw.pending == NULL) {
        Py_XDECREF(tw.memo);
        Py_XDECREF(tw.pending);
        return NULL;
    }
    PyObject *r = mthaw_ref(&tw, frost_mref_at8(MV(obj)->node.offset, FROST_MREF_NODE));
    PyMem_Free(tw.frames);
    Py_DECREF(tw.memo);
    Py_DECREF(tw.pending);
    return r;
}
