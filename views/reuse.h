/*
 * reuse.h -- handing a result out again, rewritten in place, once no one else
 * holds it: the one place that decides when that is safe. Included by views.h;
 * used by every reader that reuses results (iter.c, view_list.c, view_dict.c,
 * values.c for scoped copies, view_mapped.c for format-2 rows).
 *
 * As CPython's own iterators do with their result tuples (zip, enumerate,
 * dict.items()), a reader keeps the last two results it made in a
 * frost_reuse_t and takes them in turn: when the slot of this turn comes round
 * again and only the slot holds its object (refcount 1), the object carries
 * the next result instead of a new allocation. Two, in turn, because a
 * `for x in ...` loop still holds the previous result, and the items
 * unpacked from it (`for a, b in ...`), when it asks for the next. The items
 * of a reused row tuple are rewritten in place too when the row alone holds
 * them, else replaced by new objects. (Packed lists' int/float boxes have no
 * items: whichever of the two no one holds is taken, frost__boxed_int/float.)
 *
 * Why no holder can see a change:
 *  - An object is rewritten only if this code made it (a slot's object, or an
 *    item of a slot's row) and only while its refcount is 1, checked right
 *    before the write, with the GIL held; nothing between the check and the
 *    write runs Python code or lets the GIL go (the only decrefs there are of
 *    the row's own old items: ints, floats, strs, bytes, views, tuples of
 *    those; none has a finalizer, but a set, record or array view may be
 *    weakly referenced, and a callback runs when it goes: the one reader
 *    whose rows hold views, dict items() pairs (iter.c next_pair), keeps
 *    such an old item until the pair is whole, and takes its own reference
 *    to the pair first, as CPython's dict.items() iterator does, so a
 *    next() from the callback makes a new pair), and an allocation does not run the
 *    collector (3.12+: it only schedules it for the eval loop's next check,
 *    so no finalizer or gc.get_objects() can reach a row being rewritten).
 *    frost does not build for free-threaded CPython (store/freeze.c), where
 *    a refcount read is not the whole count.
 *  - Exact types only (never a subclass, never a bool). None of them can be
 *    weakly referenced, so a refcount of 1 is every reference there is (a
 *    view inside a row is only replaced, never rewritten).
 *  - ints: never one of CPython's shared small ints (a value in -5..256 is
 *    never written: the int stays a fresh one), and only within the digits
 *    the object has (frost__rewrite_int).
 *  - strs: the same kind, ASCII-ness and length (the object's memory is what
 *    it was made with), compact, not interned (3.13 does not count the
 *    interned dict's references), no cached UTF-8 copy (non-ASCII), and the
 *    cached hash is replaced with the new text's.
 *  - rows: exact tuples of the same length; re-tracked by the GC when the
 *    collector had untracked them (CPython untracks tuples of atomic items)
 *    and an item that is a GC object (a tuple) goes in.
 *  - Never on CPython 3.14+: tuples cache their hash there, and the
 *    interpreter may hold locals without a reference of their own
 *    (LOAD_FAST_BORROW), so a refcount of 1 no longer means "ours alone".
 * Checked by tests/python/test_views.py::ReuseInPlace and test_map_read.py
 * (rows_and_items_rewritten_..., rows_rewritten_in_place_under_every_consumer).
 */
#ifndef FROST_REUSE_H
#define FROST_REUSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#if PY_VERSION_HEX < 0x030E0000
#  define FROST_REUSE_IN_PLACE 1
#else
#  define FROST_REUSE_IN_PLACE 0
#endif

/* The last two results a reader made (strong references, or NULL). */
typedef struct {
    PyObject *obj[2];
    int turn;                    /* obj[turn] is the one the next result may reuse */
} frost_reuse_t;

static inline void
frost__reuse_init(frost_reuse_t *r)
{
    r->obj[0] = r->obj[1] = NULL;
    r->turn = 0;
}

static inline void
frost__reuse_clear(frost_reuse_t *r)
{
    Py_CLEAR(r->obj[0]);
    Py_CLEAR(r->obj[1]);
}

/* `o` (NULL: no) may be rewritten: only its holder holds it. */
static inline int
frost__ours_alone(PyObject *o)
{
    return FROST_REUSE_IN_PLACE && o != NULL && Py_REFCNT(o) == 1;
}

/* The slot of this turn (its object: rewrite it with frost__rewrite_* when
 * they allow, else make a new result and frost__reuse_put it); the turn passes. */
static inline PyObject **
frost__reuse_slot(frost_reuse_t *r)
{
    PyObject **slot = &r->obj[r->turn];
    r->turn ^= 1;
    return slot;
}

/* A new result `fresh` (NULL: error, passed on) handed out from `slot`: kept
 * there for a later turn when it is ours alone (a new object, not a shared
 * one such as a singleton or a Lease's NaN copy). Returns fresh. */
static inline PyObject *
frost__reuse_put(PyObject **slot, PyObject *fresh)
{
    if (fresh != NULL && Py_REFCNT(fresh) == 1) {
        Py_XSETREF(*slot, Py_NewRef(fresh));
    }
    return fresh;
}

/* Write v into an int with room for its digits (CPython's int layout:
 * lv_tag = digit count << 3 | sign (0 positive, 2 negative), digits). v is
 * never 0 (zero's tag differs): callers never write CPython's small ints. */
static inline void
frost__int_box_set(PyObject *box, int64_t v)
{
    PyLongObject *l = (PyLongObject *)box;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (a <= PyLong_MASK) {   /* one digit: most values a reader writes (never 0: see callers) */
        l->long_value.ob_digit[0] = (digit)a;
        l->long_value.lv_tag = ((uintptr_t)1 << _PyLong_NON_SIZE_BITS) | (v < 0 ? 2u : 0u);
        return;
    }
    uintptr_t n = 0;
    while (a != 0) {
        l->long_value.ob_digit[n++] = (digit)(a & PyLong_MASK);
        a >>= PyLong_SHIFT;
    }
    l->long_value.lv_tag = (n << _PyLong_NON_SIZE_BITS) | (v < 0 ? 2u : 0u);
}

/* Give `o` the value v in place: 1 done, 0 not allowed (o is not an exact
 * int ours alone, v is one of CPython's shared small ints, -5..256, or needs
 * more digits than o has). */
static inline int
frost__rewrite_int(PyObject *o, int64_t v)
{
    if (!frost__ours_alone(o) || !PyLong_CheckExact(o) || (v >= -5 && v <= 256)) {
        return 0;
    }
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uintptr_t room = ((PyLongObject *)o)->long_value.lv_tag >> _PyLong_NON_SIZE_BITS;
    uintptr_t need = mag >> PyLong_SHIFT == 0 ? 1 : mag >> (2 * PyLong_SHIFT) == 0 ? 2 : 3;
    if (need > room) {
        return 0;
    }
    frost__int_box_set(o, v);
    return 1;
}

/* Give `o` the value v in place: 1 done, 0 not allowed (not an exact float ours alone). */
static inline int
frost__rewrite_float(PyObject *o, double v)
{
    if (!frost__ours_alone(o) || !PyFloat_CheckExact(o)) {
        return 0;
    }
    ((PyFloatObject *)o)->ob_fval = v;
    return 1;
}

/* Copy n bytes, n small in the common case (a str's characters): inline
 * loads and stores instead of a call. */
static inline void
frost__copy_bytes(char *dst, const char *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t head, tail;
        memcpy(&head, src, 8);
        memcpy(&tail, src + n - 8, 8);
        memcpy(dst, &head, 8);
        memcpy(dst + n - 8, &tail, 8);
    }
    else if (n >= 4 && n < 8) {
        uint32_t head, tail;
        memcpy(&head, src, 4);
        memcpy(&tail, src + n - 4, 4);
        memcpy(dst, &head, 4);
        memcpy(dst + n - 4, &tail, 4);
    }
    else if (n < 4) {
        for (size_t i = 0; i < n; i++) {
            dst[i] = src[i];
        }
    }
    else {
        memcpy(dst, src, n);
    }
}

/* Give `o` the text (and hash) of compact str `like` in place: 1 done, 0 not
 * allowed (see the top: `o` an exact str ours alone, compact, not interned,
 * no UTF-8 copy; the same kind, ASCII-ness and length). */
static inline int
frost__rewrite_str(PyObject *o, PyObject *like)
{
    PyASCIIObject *a = (PyASCIIObject *)o, *b = (PyASCIIObject *)like;
    if (!frost__ours_alone(o) || !PyUnicode_CheckExact(o) || a->length != b->length
        || a->state.interned || !a->state.compact || !b->state.compact
        || a->state.kind != b->state.kind || a->state.ascii != b->state.ascii) {
        return 0;
    }
    size_t head = sizeof(PyASCIIObject);
    if (!a->state.ascii) {
        if (((PyCompactUnicodeObject *)o)->utf8 != NULL) {
            return 0;
        }
        head = sizeof(PyCompactUnicodeObject);
    }
    frost__copy_bytes((char *)o + head, (const char *)like + head,
                      (size_t)b->length * b->state.kind);
    a->hash = b->hash;
    return 1;
}

/* `row` (NULL: no) may carry a row of n items: an exact tuple of n items,
 * ours alone. Then each item is rewritten (frost__rewrite_*: each checks that
 * the row alone holds it) or replaced (frost__row_replace), and the row is
 * handed out with frost__row_again. Left partway (an error): the row is still
 * a valid tuple that no one else sees. */
static inline int
frost__row_reusable(PyObject *row, Py_ssize_t n)
{
    return frost__ours_alone(row) && PyTuple_CheckExact(row) && PyTuple_GET_SIZE(row) == n;
}

/* Item i of a reusable row replaced by `fresh` (a new reference, stolen). */
static inline void
frost__row_replace(PyObject *row, Py_ssize_t i, PyObject *fresh)
{
    PyObject *old = PyTuple_GET_ITEM(row, i);
    PyTuple_SET_ITEM(row, i, fresh);
    if (PyType_IS_GC(Py_TYPE(fresh)) && !PyObject_GC_IsTracked(row)) {
        PyObject_GC_Track(row);   /* the collector untracked it when its items were atomic */
    }
    Py_DECREF(old);
}

/* Both items of a reusable pair replaced by k and v (new references, stolen);
 * the old ones go once the pair is whole: their going may run Python code (the
 * callback of a weak reference to a set, record or array view), which then
 * never sees half a pair. The caller holds its own reference to the pair
 * first (a next() from that code then makes a new pair instead of rewriting
 * this one). */
static inline void
frost__pair_replace(PyObject *pair, PyObject *k, PyObject *v)
{
    PyObject *old_k = PyTuple_GET_ITEM(pair, 0), *old_v = PyTuple_GET_ITEM(pair, 1);
    PyTuple_SET_ITEM(pair, 0, k);
    PyTuple_SET_ITEM(pair, 1, v);
    if ((PyType_IS_GC(Py_TYPE(k)) || PyType_IS_GC(Py_TYPE(v))) && !PyObject_GC_IsTracked(pair)) {
        PyObject_GC_Track(pair);   /* the collector untracked it when its items were atomic */
    }
    Py_DECREF(old_k);
    Py_DECREF(old_v);
}

static inline PyObject *
frost__row_again(PyObject *row)
{
    return Py_NewRef(row);
}

/* Packed lists: an int/float with value v: a box of `boxes` that no one
 * else holds rewritten, else a new one (kept while a slot is empty). Whatever
 * the turn: a box has no items, so the older one need not come first. The
 * `boxes` of a reader of a packed int list hold only what frost__boxed_int
 * made: ints with room for any int64 (whatever their value now); of a packed
 * float list, only floats. */
static inline PyObject *
frost__free_box(frost_reuse_t *boxes)
{
    if (frost__ours_alone(boxes->obj[0])) {
        return boxes->obj[0];
    }
    return frost__ours_alone(boxes->obj[1]) ? boxes->obj[1] : NULL;
}

static inline PyObject *
frost__keep_box(frost_reuse_t *boxes, PyObject *fresh)
{
    if (fresh != NULL && boxes->obj[1] == NULL) {
        boxes->obj[boxes->obj[0] != NULL] = Py_NewRef(fresh);
    }
    return fresh;
}

/* frost__boxed_int/_float when no box is free (out of line: the hot callers
 * then need no stack frame of their own) */
static Py_NO_INLINE PyObject *
frost__boxed_int_new(frost_reuse_t *boxes, int64_t v)
{
    if (boxes->obj[1] != NULL) {
        return PyLong_FromLongLong(v);   /* both boxes are held: a plain int */
    }
    PyObject *box = frost__keep_box(boxes, PyLong_FromLongLong(INT64_MIN));   /* room for any int64 */
    if (box != NULL) {
        frost__int_box_set(box, v);
    }
    return box;
}

static Py_NO_INLINE PyObject *
frost__boxed_float_new(frost_reuse_t *boxes, double v)
{
    return boxes->obj[1] != NULL ? PyFloat_FromDouble(v)
                                 : frost__keep_box(boxes, PyFloat_FromDouble(v));
}

static inline PyObject *
frost__boxed_int(frost_reuse_t *boxes, int64_t v)
{
    if (v >= -5 && v <= 256) {
        return PyLong_FromLongLong(v);   /* CPython's shared small ints: never boxed */
    }
    PyObject *box = frost__free_box(boxes);
    if (box == NULL) {
        return frost__boxed_int_new(boxes, v);
    }
    frost__int_box_set(box, v);
    Py_SET_REFCNT(box, 2);   /* it was 1 (ours alone): Py_NewRef without its immortality test */
    return box;
}

static inline PyObject *
frost__boxed_float(frost_reuse_t *boxes, double v)
{
    PyObject *box = frost__free_box(boxes);
    if (box == NULL) {
        return frost__boxed_float_new(boxes, v);
    }
    ((PyFloatObject *)box)->ob_fval = v;
    Py_SET_REFCNT(box, 2);   /* as frost__boxed_int */
    return box;
}

#endif /* FROST_REUSE_H */
