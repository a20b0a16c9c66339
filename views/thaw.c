/*
 * thaw.c -- frost.thaw(): a plain, mutable, local deep copy of a view.
 *
 * Iterative, like freeze: an explicit stack of frames, so nesting depth is
 * bounded by memory. Dicts, lists and sets are made before their children
 * (a memo maps node -> result, so shared nodes stay shared and cycles through
 * them come back as cycles). Tuple nodes and records need their items first;
 * a cycle reaching one of them in progress raises ValueError. A dict's
 * keys()/values()/items() view thaws to a list (thaw_dict_view; a
 * MappedKeysView and its kin only over a FrozenDict or MappedDict); an
 * iterator is refused.
 *
 * Records: cls.__from_shared__(state) if the class defines it; dataclass
 * fields are set with object.__setattr__ (frozen dataclasses too), those the
 * record lacks (a class redefined since) to their defaults, and a field with
 * no default lacking or one the class no longer has is a TypeError;
 * NamedTuples are called with the fields; other classes get __setstate__ or
 * their attributes set (a state that is not a dict of str keys is then a
 * TypeError naming the class). Which class: thaw(x, classes=[...]) rebuilds only
 * records of the listed classes (matched by module and qualname); without
 * the list, a record frozen in this process imports module.qualname, and a
 * record read from a snapshot file (FROST_RECORD_FROM_FILE) is never
 * resolved by name: a file must not choose what code thaw runs. Records not
 * rebuilt (and classes that cannot be imported, defined in a function, say)
 * come back as a types.SimpleNamespace of their fields, or their thawed
 * state if that is not a dict of str keys.
 *
 * Ctrl-C stops a long thaw, and so does a frost.Pool stopping the task that
 * runs it: every THAW_SIGNAL_CHECK_EVERY items frost__wait_tick checks for
 * signals and for an exception raised in this thread (the walk runs no
 * bytecode of its own, so either would otherwise land only after the whole
 * copy was made), and what was built is freed.
 */
#include "views.h"

#define THAW_SIGNAL_CHECK_EVERY 4096   /* items; a power of two */


typedef struct {
    const frost_node_t *node;
    PyObject *result;            /* strong: dict/list/set made up front; NULL for tuple/record */
    Py_ssize_t next, len;        /* next child, number of children */
    Py_ssize_t start, step;      /* lists: which items of the node (slices) */
    PyObject *pending_key;       /* dicts: key of the child being thawed (strong) */
    PyObject **items;            /* tuples: thawed items; records: items[0] = state (PyMem) */
} thaw_frame_t;

typedef struct {
    FrostLease *lease;
    PyObject *memo;              /* {node address: result} */
    PyObject *pending;           /* the memo's value for a tuple/record in progress: an object
                                    of this walk's own, which no result can be (Ellipsis was, a
                                    record's __from_shared__ may return it) */
    PyObject *allowed;           /* thaw(classes=): {(module, qualname): class}, or NULL */
    thaw_frame_t *frames;
    Py_ssize_t depth, capacity;
    size_t steps;                /* items visited, for the signal check */
} thawer_t;

/* Count one item; every THAW_SIGNAL_CHECK_EVERY, -1 if a signal handler
 * raised (Ctrl-C: KeyboardInterrupt) or another thread raised an exception in
 * this one (frost__wait_tick). */
static inline int
thaw_tick(thawer_t *tw)
{
    return (++tw->steps & (THAW_SIGNAL_CHECK_EVERY - 1)) == 0 && frost__wait_tick() < 0 ? -1 : 0;
}

static void
frame_clear(thaw_frame_t *f)
{
    Py_CLEAR(f->result);
    Py_CLEAR(f->pending_key);
    for (Py_ssize_t i = 0; f->items && i < f->len; i++) {
        Py_XDECREF(f->items[i]);
    }
    PyMem_Free(f->items);
    f->items = NULL;
}

static PyObject *
memo_key(const void *node)
{
    return PyLong_FromVoidPtr((void *)node);
}

/* numpy.array(copy) of the arena data, read with the node's own format, so
 * every dtype the format names (complex, long double, unicode, structs) comes
 * back as it was; NULL without an error if numpy is not imported. The
 * memoryview borrows arena memory and is released before returning. */
static PyObject *
thaw_numpy(const char *data, const char *format, Py_ssize_t itemsize, Py_ssize_t nbytes, int ndim,
           const Py_ssize_t *shape, const Py_ssize_t *strides)
{
    PyObject *numpy = frost__numpy_if_imported();
    if (numpy == NULL) {
        return NULL;
    }
    Py_buffer info = {.buf = (void *)data, .obj = NULL, .len = nbytes, .readonly = 1,
                      .itemsize = itemsize, .format = (char *)format, .ndim = ndim,
                      .shape = (Py_ssize_t *)shape, .strides = (Py_ssize_t *)strides};
    PyObject *mv = PyMemoryView_FromBuffer(&info);
    if (mv == NULL) {
        return NULL;
    }
    Py_INCREF(numpy);
    PyObject *arr = PyObject_CallMethod(numpy, "array", "O", mv);
    Py_DECREF(numpy);
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *rel = PyObject_CallMethod(mv, "release", NULL);
    if (rel == NULL) {
        Py_CLEAR(arr);
        if (exc != NULL) {
            PyErr_Clear();
        }
    }
    Py_XDECREF(rel);
    Py_DECREF(mv);
    if (exc != NULL) {
        PyErr_SetRaisedException(exc);
    }
    return arr;
}

PyObject *
frost__thaw_array_parts(const char *data, const char *format, Py_ssize_t itemsize,
                        unsigned origin, int ndim, const Py_ssize_t *shape,
                        const Py_ssize_t *strides)
{
    Py_ssize_t nbytes = itemsize;
    for (int d = 0; d < ndim; d++) {
        nbytes *= shape[d];
    }
    if (origin == FROST_ARRAY_FROM_NUMPY) {
        PyObject *arr = thaw_numpy(data, format, itemsize, nbytes, ndim, shape, strides);
        if (arr != NULL || PyErr_Occurred()) {
            return arr;
        }
    }
    PyObject *raw = PyByteArray_FromStringAndSize(data, nbytes);
    if (raw == NULL || origin == FROST_ARRAY_FROM_BYTEARRAY) {
        return raw;
    }
    PyObject *result = NULL;
    if (origin == FROST_ARRAY_FROM_ARRAY) {
        PyObject *mod = PyImport_ImportModule("array");
        if (mod != NULL) {
            const char *typecode = format;
#if PY_VERSION_HEX < 0x030D0000
            /* array('u') exports format 'w' (UCS4 wchar_t); typecode 'w' is 3.13+ */
            if (strcmp(typecode, "w") == 0 && sizeof(wchar_t) == 4) {
                typecode = "u";
            }
#endif
            result = PyObject_CallMethod(mod, "array", "sO", typecode, raw);
            Py_DECREF(mod);
        }
        Py_DECREF(raw);
        return result;
    }
    PyObject *shape_t = PyTuple_New(ndim);
    for (int d = 0; shape_t && d < ndim; d++) {
        PyObject *n = PyLong_FromSsize_t(shape[d]);
        if (n == NULL) {
            Py_CLEAR(shape_t);
            break;
        }
        PyTuple_SET_ITEM(shape_t, d, n);
    }
    PyObject *mv = shape_t ? PyMemoryView_FromObject(raw) : NULL;
    /* memoryview casts neither to formats it can't unpack nor empty views
     * (a 0 in the shape): those come back as their (raw) bytes */
    PyObject *typed = mv && nbytes > 0 ? PyObject_CallMethod(mv, "cast", "sO", format, shape_t)
                                       : NULL;
    if (mv != NULL && (nbytes == 0 || (typed == NULL && PyErr_ExceptionMatches(PyExc_ValueError)))) {
        PyErr_Clear();
        typed = Py_NewRef(mv);
    }
    Py_XDECREF(shape_t);
    Py_XDECREF(mv);
    Py_DECREF(raw);
    return typed;
}

static PyObject *
thaw_array(const char *data, const frost_array_t *a, int ndim, const Py_ssize_t *shape)
{
    return frost__thaw_array_parts(data, a->format, a->itemsize, a->hdr.flags, ndim, shape,
                                   a->strides + (a->ndim - ndim));
}

static int
is_dict_with_str_keys(PyObject *o)
{
    if (!PyDict_Check(o)) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(o, &pos, &k, &v)) {
        if (!PyUnicode_Check(k)) {
            return 0;
        }
    }
    return 1;
}

/* Set every (name, value) of `state` on `obj` with object.__setattr__. */
static int
set_fields(PyObject *obj, PyObject *state)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(state, &pos, &k, &v)) {
        if (PyObject_GenericSetAttr(obj, k, v) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The state of a dataclass record to set on an instance of `cls`: `state`
 * itself (a new reference) when its keys are the class's fields; else a copy
 * with the fields the record lacks set to their defaults (default or
 * default_factory, as the class's __init__ would). A field with no default
 * that the record lacks, or a record field the class no longer defines (the
 * class was redefined since the freeze), is a TypeError naming both: pickle
 * would give a half-built object (missing fields unset, removed ones set as
 * stray attributes; with slots=True, values zipped onto the wrong fields).
 * `state` is the record's dict; a cls that is no dataclass (now) gives `state`. */
static PyObject *
dataclass_state_for(PyObject *cls, PyObject *state)
{
    PyObject *declared = NULL;
    if (PyObject_GetOptionalAttrString_compat(cls, "__dataclass_fields__", &declared) < 0) {
        return NULL;
    }
    if (declared == NULL || !PyDict_Check(declared)) {
        Py_XDECREF(declared);
        return Py_NewRef(state);
    }
    /* the common case, the record's keys exactly the class's fields, tested
     * without a dataclasses.fields() call: __dataclass_fields__ also lists
     * ClassVar and InitVar pseudo-fields, told apart by Field._field_type
     * (dataclasses' own test); a Python whose dataclasses lacks _FIELD takes
     * the fields() path for every record */
    PyObject *dataclasses = PyImport_ImportModule("dataclasses");
    PyObject *real = NULL;
    if (dataclasses == NULL
        || PyObject_GetOptionalAttrString_compat(dataclasses, "_FIELD", &real) < 0) {
        Py_DECREF(declared);
        Py_XDECREF(dataclasses);
        return NULL;
    }
    int same = real != NULL;
    Py_ssize_t pos = 0, nreal = 0;
    PyObject *k, *v;
    while (same > 0 && PyDict_Next(declared, &pos, &k, &v)) {
        PyObject *type = NULL;
        same = PyObject_GetOptionalAttrString_compat(v, "_field_type", &type);
        if (same > 0 && type == real) {
            nreal++;
            same = PyDict_Contains(state, k);
        }
        Py_XDECREF(type);
    }
    same = same < 0 ? -1 : same && nreal == PyDict_GET_SIZE(state);
    Py_DECREF(declared);
    Py_XDECREF(real);
    if (same != 0) {   /* one dict of fields, as frozen (or an error) */
        Py_DECREF(dataclasses);
        return same < 0 ? NULL : Py_NewRef(state);
    }
    PyObject *missing = dataclasses ? PyObject_GetAttrString(dataclasses, "MISSING") : NULL;
    PyObject *fields = missing ? PyObject_CallMethod(dataclasses, "fields", "O", cls) : NULL;
    PyObject *seq = fields ? PySequence_Fast(fields, "dataclasses.fields() gave no sequence") : NULL;
    PyObject *result = seq ? PyDict_Copy(state) : NULL;
    PyObject *names = result ? PySet_New(NULL) : NULL;
    PyObject *lacking = names ? PyList_New(0) : NULL;
    for (Py_ssize_t i = 0; lacking != NULL && i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *field = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *name = PyObject_GetAttrString(field, "name");
        int has = name ? PySet_Add(names, name) : -1;
        has = has < 0 ? -1 : PyDict_Contains(state, name);
        PyObject *value = NULL;
        if (has == 0) {
            value = PyObject_GetAttrString(field, "default");
            if (value == missing) {
                PyObject *factory = PyObject_GetAttrString(field, "default_factory");
                Py_SETREF(value, factory == NULL || factory == missing ? Py_XNewRef(factory)
                                                                       : PyObject_CallNoArgs(factory));
                Py_XDECREF(factory);
            }
            if (value == missing) {
                has = PyList_Append(lacking, name);
            }
            else {
                has = value == NULL ? -1 : PyDict_SetItem(result, name, value);
            }
        }
        Py_XDECREF(value);
        Py_XDECREF(name);
        if (has < 0) {
            Py_CLEAR(lacking);
        }
    }
    PyObject *extra = lacking ? PyList_New(0) : NULL;
    pos = 0;
    while (extra != NULL && PyDict_Next(state, &pos, &k, &v)) {
        int known = PySet_Contains(names, k);
        if (known < 0 || (!known && PyList_Append(extra, k) < 0)) {
            Py_CLEAR(extra);
        }
    }
    if (extra != NULL && (PyList_GET_SIZE(lacking) > 0 || PyList_GET_SIZE(extra) > 0)) {
        PyErr_Format(PyExc_TypeError, "cannot thaw a record into %R: the class's fields changed "
                     "since it was frozen (fields with no default the record lacks: %R; record "
                     "fields the class does not define: %R); thaw(x, classes=()) gives the "
                     "record's fields as a types.SimpleNamespace", cls, lacking, extra);
        Py_CLEAR(extra);
    }
    if (extra == NULL) {
        Py_CLEAR(result);
    }
    Py_XDECREF(extra);
    Py_XDECREF(lacking);
    Py_XDECREF(names);
    Py_XDECREF(seq);
    Py_XDECREF(fields);
    Py_XDECREF(missing);
    Py_XDECREF(dataclasses);
    return result;
}

/* The class to rebuild record `r` with (a new reference), or NULL: with an
 * exception set on error, without one if the record stays plain data. */
static PyObject *
record_class(const thawer_t *tw, const frost_record_t *r)
{
    if (tw->allowed != NULL) {
        PyObject *module = frost__copy_plain(frost_ref_object(r->module));
        PyObject *qualname = module ? frost__copy_plain(frost_ref_object(r->qualname)) : NULL;
        PyObject *name = qualname ? PyTuple_Pack(2, module, qualname) : NULL;
        Py_XDECREF(module);
        Py_XDECREF(qualname);
        PyObject *cls = name ? PyDict_GetItemWithError(tw->allowed, name) : NULL;   /* borrowed */
        Py_XDECREF(name);
        return Py_XNewRef(cls);
    }
    if (r->hdr.flags & FROST_RECORD_FROM_FILE) {
        return NULL;
    }
    PyObject *cls = frost__record_class(r);
    if (cls == NULL && (PyErr_ExceptionMatches(PyExc_ImportError)
                        || PyErr_ExceptionMatches(PyExc_AttributeError))) {
        PyErr_Clear();
    }
    return cls;
}

static PyObject *
rebuild_record(const thawer_t *tw, const frost_record_t *r, PyObject *state)
{
    PyObject *cls = record_class(tw, r);
    if (cls == NULL && PyErr_Occurred()) {
        return NULL;
    }
    return frost__thaw_record_rebuild(cls, r->hdr.flags & FROST_RECORD_KIND_MASK, state);
}

PyObject *
frost__thaw_record_rebuild(PyObject *cls, unsigned kind, PyObject *state)
{
    if (cls == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        if (!is_dict_with_str_keys(state)) {
            return Py_NewRef(state);
        }
        PyObject *types = PyImport_ImportModule("types");
        PyObject *ns_type = types ? PyObject_GetAttrString(types, "SimpleNamespace") : NULL;
        PyObject *empty = ns_type ? PyTuple_New(0) : NULL;
        PyObject *ns = empty ? PyObject_Call(ns_type, empty, state) : NULL;
        Py_XDECREF(types);
        Py_XDECREF(ns_type);
        Py_XDECREF(empty);
        return ns;
    }
    PyObject *result = NULL;
    PyObject *from_shared = NULL;
    if (PyObject_GetOptionalAttrString_compat(cls, "__from_shared__", &from_shared) < 0) {
        goto done;
    }
    if (from_shared != NULL) {
        result = PyObject_CallOneArg(from_shared, state);
        Py_DECREF(from_shared);
        goto done;
    }
    if (kind == FROST_RECORD_NAMEDTUPLE && PyDict_Check(state)) {
        PyObject *empty = PyTuple_New(0);
        result = empty ? PyObject_Call(cls, empty, state) : NULL;
        Py_XDECREF(empty);
        goto done;
    }
    result = PyObject_CallMethod(cls, "__new__", "O", cls);
    if (result == NULL) {
        goto done;
    }
    PyObject *setstate = NULL;
    if (kind == FROST_RECORD_SHARED
        && PyObject_GetOptionalAttrString_compat(result, "__setstate__", &setstate) < 0) {
        Py_CLEAR(result);
        goto done;
    }
    if (setstate != NULL) {
        PyObject *rv = PyObject_CallOneArg(setstate, state);
        Py_DECREF(setstate);
        if (rv == NULL) {
            Py_CLEAR(result);
        }
        Py_XDECREF(rv);
    }
    else if (is_dict_with_str_keys(state)) {   /* (object.__setattr__ names no class) */
        PyObject *fields = kind == FROST_RECORD_DATACLASS ? dataclass_state_for(cls, state)
                                                          : Py_NewRef(state);
        if (fields == NULL || set_fields(result, fields) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(fields);
    }
    else {
        PyErr_Format(PyExc_TypeError, "cannot thaw a %R: its state is not a dict of str keys; define "
                     "__from_shared__(state) or __setstate__(state) on the class", cls);
        Py_CLEAR(result);
    }
done:
    Py_DECREF(cls);
    return result;
}

static int
push(thawer_t *tw, const frost_node_t *node, PyObject *result, Py_ssize_t len)
{
    if (tw->depth == tw->capacity) {
        Py_ssize_t cap = tw->capacity ? tw->capacity * 2 : 64;
        thaw_frame_t *frames = PyMem_Realloc(tw->frames, (size_t)cap * sizeof *frames);
        if (frames == NULL) {
            Py_XDECREF(result);
            PyErr_NoMemory();
            return -1;
        }
        tw->frames = frames;
        tw->capacity = cap;
    }
    thaw_frame_t *f = &tw->frames[tw->depth++];
    memset(f, 0, sizeof *f);
    f->node = node;
    f->result = result;
    f->len = len;
    f->step = 1;
    if (node->kind == FROST_NODE_TUPLE || node->kind == FROST_NODE_RECORD) {
        f->items = PyMem_Calloc((size_t)(len ? len : 1), sizeof(PyObject *));
        if (f->items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

/*
 * Thaw `ref`: *out gets a new reference and 0 is returned, or a frame is
 * pushed and 1 returned (the result arrives when the frame finishes), or -1.
 */
static int
thaw_ref(thawer_t *tw, frost_ref_t ref, PyObject **out)
{
    if (!frost_ref_is_node(ref)) {
        *out = frost__load(tw->lease, ref);
        return *out ? 0 : -1;
    }
    const frost_node_t *node = frost_ref_node(ref);
    PyObject *key = memo_key(node);
    if (key == NULL) {
        return -1;
    }
    PyObject *hit = PyDict_GetItemWithError(tw->memo, key);
    if (hit != NULL || PyErr_Occurred()) {
        Py_DECREF(key);
        if (hit == tw->pending) {
            PyErr_SetString(PyExc_ValueError, "cannot thaw a reference cycle through a tuple "
                                              "or a record");
            return -1;
        }
        *out = Py_XNewRef(hit);
        return hit ? 0 : -1;
    }
    PyObject *result = NULL;
    Py_ssize_t len = 0;
    switch (node->kind) {
    case FROST_NODE_ARRAY: {
        const frost_array_t *a = (const frost_array_t *)node;
        *out = thaw_array(a->data, a, a->ndim, a->shape);
        /* memoized like the other nodes: one buffer frozen once thaws once */
        int rc = *out && PyDict_SetItem(tw->memo, key, *out) < 0 ? -1 : 0;
        Py_DECREF(key);
        if (rc < 0) {
            Py_CLEAR(*out);
        }
        return *out ? 0 : -1;
    }
    case FROST_NODE_COLUMNS: {   /* {name: list of values}, like thaw(frost.Table) */
        PyObject *view = frost__table_view_new(tw->lease, node);
        *out = view ? frost__table_thaw(view) : NULL;
        Py_XDECREF(view);
        int rc = *out && PyDict_SetItem(tw->memo, key, *out) < 0 ? -1 : 0;
        Py_DECREF(key);
        if (rc < 0) {
            Py_CLEAR(*out);
        }
        return *out ? 0 : -1;
    }
    case FROST_NODE_DICT:
        result = PyDict_New();
        len = ((const frost_table_t *)node)->len;
        break;
    case FROST_NODE_SET: {
        const frost_set_t *t = (const frost_set_t *)node;
        result = (t->hdr.flags & FROST_SET_WAS_FROZENSET) ? NULL : PySet_New(NULL);
        if (result == NULL && !(t->hdr.flags & FROST_SET_WAS_FROZENSET)) {
            Py_DECREF(key);
            return -1;
        }
        if (result == NULL) {   /* frozenset: items are plain, build it at once */
            PyObject *items = PyList_New(t->len);
            for (Py_ssize_t i = 0; items && i < t->len; i++) {
                PyObject *k = thaw_tick(tw) < 0 ? NULL : frost__load(tw->lease, frost_set_item(t, i));
                if (k == NULL) {
                    Py_CLEAR(items);
                    break;
                }
                PyList_SET_ITEM(items, i, k);
            }
            *out = items ? PyFrozenSet_New(items) : NULL;
            Py_XDECREF(items);
            int rc = *out && PyDict_SetItem(tw->memo, key, *out) < 0 ? -1 : 0;
            Py_DECREF(key);
            return *out ? rc : -1;
        }
        len = t->len;
        break;
    }
    case FROST_NODE_LIST:
        result = PyList_New(0);
        len = ((const frost_seq_t *)node)->len;
        break;
    case FROST_NODE_TUPLE:
        len = ((const frost_seq_t *)node)->len;
        break;
    case FROST_NODE_RECORD:
        len = 1;
        break;
    default:
        PyErr_SetString(PyExc_SystemError, "frost: unknown node kind");
        Py_DECREF(key);
        return -1;
    }
    if ((result == NULL && (node->kind == FROST_NODE_DICT || node->kind == FROST_NODE_LIST))
        || PyDict_SetItem(tw->memo, key, result ? result : tw->pending) < 0) {
        Py_XDECREF(result);
        Py_DECREF(key);
        return -1;
    }
    Py_DECREF(key);
    return push(tw, node, result, len) < 0 ? -1 : 1;
}

/* Hand a finished child to its parent frame. Steals `value`. */
static int
deliver(thaw_frame_t *f, PyObject *value)
{
    int rc = 0;
    switch (f->node->kind) {
    case FROST_NODE_DICT:
        rc = PyDict_SetItem(f->result, f->pending_key, value);
        Py_CLEAR(f->pending_key);
        break;
    case FROST_NODE_SET:
        rc = PySet_Add(f->result, value);
        break;
    case FROST_NODE_LIST:
        rc = PyList_Append(f->result, value);
        break;
    default:   /* tuple and record: kept until the frame finishes */
        f->items[f->next - 1] = value;
        return 0;
    }
    Py_DECREF(value);
    return rc;
}

/* The next child of frame `f` as a reference; for dicts also sets the key. */
static int
next_child(thawer_t *tw, thaw_frame_t *f, frost_ref_t *ref)
{
    Py_ssize_t i = f->next++;
    switch (f->node->kind) {
    case FROST_NODE_DICT: {
        const frost_table_t *t = (const frost_table_t *)f->node;
        f->pending_key = frost__load(tw->lease, t->entries[i].key);
        *ref = frost_table_value(t, i);
        return f->pending_key ? 0 : -1;
    }
    case FROST_NODE_SET:
        *ref = frost_set_item((const frost_set_t *)f->node, i);
        return 0;
    case FROST_NODE_LIST:
    case FROST_NODE_TUPLE: {
        const frost_seq_t *s = (const frost_seq_t *)f->node;
        Py_ssize_t at = f->start + i * f->step;
        if (s->hdr.flags != FROST_SEQ_REFS) {
            /* a packed item: deliver the number directly */
            *ref = 0;
            return 0;
        }
        *ref = s->items.refs[at];
        return 0;
    }
    case FROST_NODE_RECORD:
        *ref = ((const frost_record_t *)f->node)->state;
        return 0;
    }
    return -1;
}

static PyObject *
finish(const thawer_t *tw, thaw_frame_t *f)
{
    if (f->node->kind == FROST_NODE_TUPLE) {
        PyObject *t = PyTuple_New(f->len);
        for (Py_ssize_t i = 0; t && i < f->len; i++) {
            PyTuple_SET_ITEM(t, i, f->items[i]);
            f->items[i] = NULL;
        }
        return t;
    }
    if (f->node->kind == FROST_NODE_RECORD) {
        return rebuild_record(tw, (const frost_record_t *)f->node, f->items[0]);
    }
    return Py_NewRef(f->result);
}

static PyObject *
thaw_root(thawer_t *tw, frost_ref_t root, const FrostListView *slice)
{
    PyObject *result = NULL;
    int rc;
    if (slice != NULL) {
        rc = push(tw, &slice->seq->hdr, PyList_New(0), slice->len);
        if (rc == 0) {
            tw->frames[0].start = slice->start;
            tw->frames[0].step = slice->step;
            rc = tw->frames[0].result ? 1 : -1;
        }
    }
    else {
        rc = thaw_ref(tw, root, &result);
    }
    while (rc >= 0 && tw->depth > 0) {
        if (thaw_tick(tw) < 0) {
            rc = -1;
            break;
        }
        thaw_frame_t *f = &tw->frames[tw->depth - 1];
        if (f->next < f->len) {
            frost_ref_t ref;
            if (next_child(tw, f, &ref) < 0) {
                rc = -1;
                break;
            }
            PyObject *value = NULL;
            const frost_seq_t *s = (const frost_seq_t *)f->node;
            if ((f->node->kind == FROST_NODE_LIST) && s->hdr.flags != FROST_SEQ_REFS) {
                value = frost__seq_item(tw->lease, s, f->start + (f->next - 1) * f->step);
                rc = value ? 0 : -1;
            }
            else {
                rc = thaw_ref(tw, ref, &value);
            }
            if (rc == 0) {
                rc = deliver(f, value);
            }
            continue;
        }
        PyObject *done = finish(tw, f);
        if (done == NULL) {
            rc = -1;
            break;
        }
        if (f->node->kind == FROST_NODE_TUPLE || f->node->kind == FROST_NODE_RECORD) {
            PyObject *key = slice ? NULL : memo_key(f->node);
            if (key != NULL) {   /* replace the pending marker */
                rc = PyDict_SetItem(tw->memo, key, done);
                Py_DECREF(key);
            }
        }
        frame_clear(f);
        tw->depth--;
        if (tw->depth == 0) {
            result = done;
        }
        else if (rc >= 0) {
            rc = deliver(&tw->frames[tw->depth - 1], done);
        }
        else {
            Py_DECREF(done);
        }
    }
    while (tw->depth > 0) {
        frame_clear(&tw->frames[--tw->depth]);
    }
    if (rc < 0) {
        Py_CLEAR(result);
    }
    return result;
}

static PyObject *thaw_value(frost_state *st, PyObject *obj, PyObject *memo, PyObject *allowed);

/* thaw() of a dict's keys(), values() or items() view (a FrozenDict's or a
 * MappedDict's; kind 'k', 'v', 'i'): a list of the thawed entries in order,
 * list(thaw(d).keys()) (.values(), .items()). A list because thaw() gives
 * plain, mutable containers, and only a list holds every kind of entry
 * (values repeat, items may hold unhashable values). Values and items come
 * from thaw(d), so structure shared between values, and cycles through the
 * dict, stay as in thaw(d); keys (plain immutables) thaw one by one, copying
 * no value. */
static PyObject *
thaw_dict_view(frost_state *st, PyObject *obj, int kind, PyObject *memo, PyObject *allowed)
{
    if (kind != 'k') {
        PyObject *mapping = PyObject_GetAttrString(obj, "mapping");
        PyObject *d = mapping ? thaw_value(st, mapping, memo, allowed) : NULL;
        Py_XDECREF(mapping);
        if (d == NULL) {
            return NULL;
        }
        PyObject *r = !PyDict_Check(d) ? PyErr_Format(PyExc_SystemError, "thaw() of a dict gave '%.200s'",
                                                      Py_TYPE(d)->tp_name)
                      : kind == 'v' ? PyDict_Values(d) : PyDict_Items(d);
        Py_DECREF(d);
        return r;
    }
    PyObject *keys = PyList_New(0);
    PyObject *it = keys ? PyObject_GetIter(obj) : NULL;
    PyObject *key;
    size_t steps = 0;
    while (it != NULL && (key = PyIter_Next(it)) != NULL) {
        PyObject *copy = thaw_value(st, key, memo, allowed);
        Py_DECREF(key);
        if (copy == NULL || PyList_Append(keys, copy) < 0
            || ((++steps & (THAW_SIGNAL_CHECK_EVERY - 1)) == 0 && frost__wait_tick() < 0)) {
            Py_XDECREF(copy);
            break;
        }
        Py_DECREF(copy);
    }
    Py_XDECREF(it);
    if (PyErr_Occurred()) {
        Py_CLEAR(keys);
    }
    return keys;
}

/* thaw_dict_view of a MappedKeysView, MappedValuesView or MappedItemsView
 * (frost._mappedviews): a frost view only over a MappedDict (view_mapped.c
 * makes them) or a FrozenDict. One a user builds over anything else is
 * refused, whichever of the three, as thaw() refuses its mapping: the keys
 * view of a plain dict gave a list (its keys, thawed one by one, were plain
 * values) where the values and items views refused the dict. */
static PyObject *
thaw_mapped_dict_view(frost_state *st, PyObject *obj, int kind, PyObject *memo, PyObject *allowed)
{
    PyObject *mapping = PyObject_GetAttrString(obj, "mapping");
    if (mapping == NULL) {
        return NULL;
    }
    PyTypeObject *mt = Py_TYPE(mapping);
    if (mt != st->mapped_dict_type && mt != st->dict_type) {
        PyErr_Format(PyExc_TypeError, "thaw() expects a frost view, Store or frozen value, not "
                     "a '%.200s' of a '%.200s' (the keys(), values() and items() of a FrozenDict "
                     "or MappedDict thaw)", Py_TYPE(obj)->tp_name, mt->tp_name);
        Py_DECREF(mapping);
        return NULL;
    }
    Py_DECREF(mapping);
    return thaw_dict_view(st, obj, kind, memo, allowed);
}

/* Thaw `obj` with `memo` ({node address: result}), shared by every item of
 * a tuple read from a tuple node, so structure shared between the items (or
 * between store.root's items) stays shared in the copy. */
static PyObject *
thaw_value(frost_state *st, PyObject *obj, PyObject *memo, PyObject *allowed)
{
    PyTypeObject *tp = Py_TYPE(obj);
    FrostLease *lease = NULL;
    frost_ref_t root = 0;
    const FrostListView *slice = NULL;
    if (tp == st->store_type) {
        lease = ((FrostStore *)obj)->lease;
        if (lease == NULL) {
            return frost__closed_error(st, "thaw()");
        }
        root = frost_store_root(lease->store);
    }
    else if (tp == st->dict_type) {
        lease = ((FrostDictView *)obj)->lease;
        root = frost_ref_from_node(((FrostDictView *)obj)->table);
    }
    else if (tp == st->set_type) {
        lease = ((FrostSetView *)obj)->lease;
        root = frost_ref_from_node(((FrostSetView *)obj)->set);
    }
    else if (frost__is_record_view(st, tp)) {
        lease = ((FrostRecordView *)obj)->lease;
        root = frost_ref_from_node(((FrostRecordView *)obj)->record);
    }
    else if (tp == st->list_type) {
        slice = (const FrostListView *)obj;
        lease = slice->lease;
        if (slice->start == 0 && slice->step == 1 && slice->len == slice->seq->len) {
            root = frost_ref_from_node(slice->seq);   /* the whole list: memoized like any node */
            slice = NULL;
        }
    }
    else if (tp == st->array_type) {
        const FrostArrayView *v = (const FrostArrayView *)obj;
        return thaw_array(v->data, v->array, v->ndim, v->shape);
    }
    else if (tp == st->table_type || tp == st->mapped_table_type) {
        return frost__table_thaw(obj);
    }
    else if (tp == st->column_type || tp == st->mapped_column_type) {
        return frost__column_thaw(obj);
    }
    else if (tp == &PyTuple_Type) {
        /* a tuple read from a tuple node: thaw its items */
        Py_ssize_t n = PyTuple_GET_SIZE(obj);
        if (Py_EnterRecursiveCall(" in frost.thaw")) {
            return NULL;
        }
        PyObject *t = PyTuple_New(n);
        for (Py_ssize_t i = 0; t && i < n; i++) {
            PyObject *item = thaw_value(st, PyTuple_GET_ITEM(obj, i), memo, allowed);
            if (item == NULL) {
                Py_CLEAR(t);
                break;
            }
            PyTuple_SET_ITEM(t, i, item);
        }
        Py_LeaveRecursiveCall();
        return t;
    }
    else if (frost__is_mapped_view(st, obj)) {
        return frost__mapped_thaw(st, obj, allowed);
    }
    else if (tp == st->keys_type || tp == st->values_type || tp == st->items_type) {
        return thaw_dict_view(st, obj, tp == st->keys_type ? 'k' : tp == st->values_type ? 'v' : 'i',
                              memo, allowed);
    }
    else if (obj == Py_None || obj == Py_True || obj == Py_False || obj == Py_Ellipsis
             || tp == &PyLong_Type || tp == &PyFloat_Type || tp == &PyComplex_Type
             || tp == &PyUnicode_Type || tp == &PyBytes_Type) {
        return Py_NewRef(obj);
    }
    else {
        int is_store = frost__is_mapped_store(obj);
        if (is_store != 0) {
            PyObject *its_root = is_store > 0 ? PyObject_GetAttrString(obj, "root") : NULL;
            PyObject *r = its_root ? thaw_value(st, its_root, memo, allowed) : NULL;
            Py_XDECREF(its_root);
            return r;
        }
        int kind = frost__mapped_dict_view_kind(obj);
        if (kind != 0) {
            return thaw_mapped_dict_view(st, obj, kind, memo, allowed);
        }
        if (PyIter_Check(obj)) {   /* a copy must not use up what it copies */
            /* (true of any iterator: frost's own, and a plain one, which may
             * iterate a view, as iter(Array) and reversed(FrozenDict) do, or not) */
            PyErr_Format(PyExc_TypeError, "thaw() does not take an iterator ('%.200s'): thawing it "
                         "would use it up; thaw the frost view it iterates, if it iterates one, "
                         "or the frost values it gives, one by one", tp->tp_name);
            return NULL;
        }
        PyErr_Format(PyExc_TypeError, "thaw() expects a frost view, Store or frozen value, "
                     "not '%.200s'", tp->tp_name);
        return NULL;
    }
    /* held for the walk: user code it runs (__setstate__, __from_shared__...)
     * may close a Store whose lease was borrowed from it (a view holds its own) */
    PyObject *pending = PyCapsule_New(&pending, "frost.thaw.pending", NULL);
    if (pending == NULL) {
        return NULL;
    }
    Py_INCREF(lease);
    thawer_t tw = {.lease = lease, .memo = memo, .pending = pending, .allowed = allowed};
    PyObject *result = thaw_root(&tw, root, slice);
    PyMem_Free(tw.frames);
    Py_DECREF(lease);
    Py_DECREF(pending);
    return result;
}

/* thaw(classes=...): {(module, qualname): class} for each class given. */
static PyObject *
allowed_classes(PyObject *classes)
{
    PyObject *allowed = PyDict_New();
    PyObject *it = allowed ? PyObject_GetIter(classes) : NULL;
    if (it == NULL) {
        if (allowed != NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError, "thaw() classes must be an iterable of classes, not '%.200s'",
                         Py_TYPE(classes)->tp_name);
        }
        Py_XDECREF(allowed);
        return NULL;
    }
    PyObject *cls;
    while ((cls = PyIter_Next(it)) != NULL) {
        PyObject *module = NULL, *qualname = NULL, *name = NULL;
        if (!PyType_Check(cls)) {
            PyErr_Format(PyExc_TypeError, "thaw() classes must be classes, not '%.200s'",
                         Py_TYPE(cls)->tp_name);
        }
        else {
            module = PyObject_GetAttrString(cls, "__module__");
            qualname = module ? PyObject_GetAttrString(cls, "__qualname__") : NULL;
            if (qualname != NULL && (!PyUnicode_Check(module) || !PyUnicode_Check(qualname))) {
                PyErr_Format(PyExc_TypeError, "thaw() classes: %R has no str __module__/__qualname__", cls);
            }
            else if (qualname != NULL) {
                name = PyTuple_Pack(2, module, qualname);
            }
        }
        int rc = name ? PyDict_SetItem(allowed, name, cls) : -1;
        Py_XDECREF(module);
        Py_XDECREF(qualname);
        Py_XDECREF(name);
        Py_DECREF(cls);
        if (rc < 0) {
            break;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_CLEAR(allowed);
    }
    return allowed;
}

PyObject *
frost__thaw(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"x", "classes", NULL};
    PyObject *obj, *classes = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$O:thaw", kwlist, &obj, &classes)) {
        return NULL;
    }
    PyObject *allowed = classes == Py_None ? NULL : allowed_classes(classes);
    if (allowed == NULL && classes != Py_None) {
        return NULL;
    }
    PyObject *memo = PyDict_New();
    PyObject *result = memo ? thaw_value(PyModule_GetState(module), obj, memo, allowed) : NULL;
    Py_XDECREF(memo);
    Py_XDECREF(allowed);
    return result;
}
