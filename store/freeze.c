/*
 * freeze.c -- copy a Python object graph into an arena: the graph walk, the
 * memo, immortal copies of plain immutables, and node construction.
 *
 * The walk is iterative (an explicit stack of frames), so nesting depth is
 * bounded by memory, not by the C stack. Containers become nodes that are
 * allocated *before* their children are visited, so a reference back to a
 * container in progress simply gets its (already known) address: cycles
 * through dicts, lists and records are preserved. Tuples are different: a
 * tuple of plain immutables becomes a real CPython tuple, which needs its
 * items first; a cycle that reaches a tuple still in progress is refused.
 *
 * The hot path (issue 17: freeze <= 0.5x pickle.dumps in instructions,
 * bench/freeze_opcount.py): leaves (exact str/int/float/complex/bytes and the
 * constants) never get a frame; a tuple of only leaves is copied at once,
 * items and all (copy_leaf_tuple), and a dict whose keys are all leaves
 * freezes them with its node, so the walk steps over its values only. Small
 * objects are placed in a window of the arena's bump chunk (arena_alloc: no
 * call), whose unused end goes back to the arena before anything else
 * allocates there and when the walk ends.
 *
 * What goes into the arena as a real CPython object (see CPYTHON-FACTS §9):
 *   - exact str/int/float/complex/bytes and tuples of them, copied byte for
 *     byte, then given the immortal header of the running version;
 *   - str: hash, UTF-8 cache (non-ASCII), interned state 2 with
 *     statically_allocated 0 precomputed; bytes: hash precomputed;
 *   - tuples: a zeroed PyGC_Head in front, never tracked;
 *   - small ints, '', one-character Latin-1 strs, b'', one-byte bytes and ()
 *     are CPython's own static singletons instead.
 * Nothing in the arena ever refers to an object owned by an interpreter.
 *
 * Sharing: the memo maps each object that may be reached twice to its
 * frozen reference. An object whose only reference is the container we are
 * copying (refcount 1) cannot be reached twice, so it skips the memo; this
 * keeps the memo small for the common tree-shaped data. The memo holds a
 * strong reference to each key, so no address is reused during a freeze.
 *
 * Records: what a class is (record kind, module/qualname, field names) is
 * read once per freeze and class (class_info), again when the type's
 * tp_version_tag changes; module/qualname strs are copied once per freeze;
 * a dataclass/NamedTuple's field dict is a shaped dict node
 * (FROST_DICT_SHAPED): the class's entries and index, its own values
 * (docs/design.md "Records").
 *
 * Errors: FreezeError (from the env) names the path, e.g.
 * `root['users'][17].conn: cannot freeze object of type 'socket'`; an
 * exception from user code (__shared__, __hash__, items()) propagates with a
 * note giving the path. On error every Python reference the walk took is
 * dropped; the arena is the caller's to free.
 */
#include "frost_freeze.h"
#include "frost_columns.h"
#include "frost_nodes.h"

#include <stdalign.h>
#include <string.h>

#if defined(Py_GIL_DISABLED)
#  error "frost does not support free-threaded CPython builds yet"
#endif

/* A PyGC_Head is two words on default builds (internal/pycore_gc.h). */
#define GC_PREFIX_SIZE (2 * sizeof(uintptr_t))
/* Tuples (GC header in front) get the alignment obmalloc would give them;
 * other arena objects only need their fields aligned (no CPython code reads
 * a str, bytes, int, float or complex with wider than word alignment), which
 * saves up to 8 bytes per object against obmalloc's 16-byte size classes. */
#define GC_OBJECT_ALIGN 16
#define OBJECT_ALIGN alignof(PyObject)
/* How often a long freeze checks for KeyboardInterrupt and reports progress. */
#define SIGNAL_CHECK_INTERVAL FROST_FREEZE_PROGRESS_EVERY

/* A reference that cannot be a node or an object: marks a tuple in progress. */
#define REF_PENDING ((frost_ref_t)3)

/* Children are stored as tagged pointers: bit 0 set = the container held
 * the only reference, so the child can't be reached twice (skip the memo). */
#define CHILD_UNSHARED ((uintptr_t)1)

/* ------------------------------------------------------------------------ */
/* the memo: an open-addressed map from object address to frozen reference */

typedef struct {
    PyObject *key;        /* strong reference; NULL = empty slot */
    frost_ref_t value;
} memo_slot_t;

typedef struct {
    memo_slot_t *slots;   /* mask + 1 slots, or NULL before first use */
    size_t mask;
    size_t used;          /* used <= (mask + 1) / 2 */
} memo_t;

static size_t
memo_hash(PyObject *key)
{
    return (size_t)(((uintptr_t)key >> 4) * 0x9E3779B97F4A7C15ull);
}

static memo_slot_t *
memo_find(memo_t *m, PyObject *key)
{
    if (m->slots == NULL) {
        return NULL;
    }
    for (size_t i = memo_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        memo_slot_t *s = &m->slots[i];
        if (s->key == key) {
            return s;
        }
        if (s->key == NULL) {
            return NULL;
        }
    }
}

static int
memo_grow(memo_t *m)
{
    size_t nslots = m->slots ? (m->mask + 1) * 2 : 1024;
    memo_slot_t *slots = PyMem_Calloc(nslots, sizeof *slots);
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t j = 0; m->slots && j <= m->mask; j++) {
        memo_slot_t *old = &m->slots[j];
        if (old->key == NULL) {
            continue;
        }
        size_t i = memo_hash(old->key) & (nslots - 1);
        while (slots[i].key != NULL) {
            i = (i + 1) & (nslots - 1);
        }
        slots[i] = *old;
    }
    PyMem_Free(m->slots);
    m->slots = slots;
    m->mask = nslots - 1;
    return 0;
}

static int
memo_put(memo_t *m, PyObject *key, frost_ref_t value)
{
    memo_slot_t *s = memo_find(m, key);
    if (s != NULL) {
        s->value = value;
        return 0;
    }
    if (m->slots == NULL || (m->used + 1) * 2 > m->mask + 1) {
        if (memo_grow(m) < 0) {
            return -1;
        }
    }
    size_t i = memo_hash(key) & m->mask;
    while (m->slots[i].key != NULL) {
        i = (i + 1) & m->mask;
    }
    m->slots[i].key = Py_NewRef(key);
    m->slots[i].value = value;
    m->used++;
    return 0;
}

static void
memo_clear(memo_t *m)
{
    for (size_t j = 0; m->slots && j <= m->mask; j++) {
        Py_XDECREF(m->slots[j].key);
    }
    PyMem_Free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------------ */
/* the walk's state                                                          */

typedef enum { F_DICT, F_LIST, F_TUPLE, F_SET, F_RECORD } frame_kind_t;

typedef struct {
    PyObject *obj;               /* strong: what this frame freezes */
    frost_ref_t *dest;           /* where the result goes (arena or a parent's tmp) */
    Py_ssize_t parent;           /* index of the parent frame, -1 for the root */
    Py_ssize_t index_in_parent;  /* which child of the parent this is */
    frame_kind_t kind;
    int fields_as_attrs;         /* a record's field dict: paths say `.name` */
    PyObject *field_names;       /* a record's shaped field dict (strong): child i is the
                                    value of field field_names[i] */
    uintptr_t *children;         /* nchildren tagged strong references (PyMem) */
    Py_ssize_t nchildren;
    Py_ssize_t next;             /* next child to visit */
    int keys_frozen;             /* F_DICT: its keys are frozen already (all leaves, done
                                    by start_table): the walk visits the values only */
    int leaf_keys;               /* F_DICT/F_SET from start_table: every key a leaf, so
                                    none became a node (finish_frame skips that check) */
    int nan_keys;                /* ... and whether a key is or holds a NaN (its table is
                                    rehashed when finished) */
    frost_ref_t *tmp;            /* F_TUPLE: the items' references (PyMem) */
    void *node;                  /* F_DICT: table; F_SET: set; F_LIST: seq; F_RECORD: record */
    int tuple_depth;             /* a tuple: 1 + the parent's (0 for other frames) */
    int child_height;            /* a tuple: the most tuple levels below an item */
} frame_t;

/* What freeze knows about one class of objects met in this freeze (see
 * class_info): read once per class, again only when the type is modified
 * (its tp_version_tag changes). Its __dataclass_fields__ dict changed in place
 * is not a modification: the field names read stay for the freeze (design.md). */
typedef struct {
    unsigned int version;        /* the type's tp_version_tag when read (never 0) */
    int kind;                    /* frost_record_kind_t, or -1: not a record */
    int columns;                 /* 1: may export Arrow data (frost__columns_type_is_candidate) */
    frost_ref_t module;          /* arena str (a record) */
    frost_ref_t qualname;        /* arena str (a record) */
    PyObject *fields;            /* dataclass/namedtuple: tuple of its field names, all exact
                                    and distinct str; NULL: build a {name: value} dict per
                                    record instead (odd _fields, or a SHARED class) */
    Py_hash_t *hashes;           /* hash of each field name (PyMem) */
    int32_t *index;              /* arena: the index (NULL if unindexed) and the entries */
    frost_entry_t *entries;      /* (hash, key, value 0) of every field dict of this class
                                    (FROST_DICT_SHAPED), made on its first record (NULL before) */
    Py_ssize_t mask;             /* the index's nslots - 1 */
} class_info_t;

typedef struct {
    frost_arena_t *arena;
    const frost_freeze_env_t *env;
    memo_t memo;
    memo_t heights;              /* memoized tuples nesting > 1 level -> that height */
    memo_t classes;              /* type -> its number in class_infos */
    class_info_t *class_infos;   /* PyMem */
    size_t nclass_infos;
    PyObject *names;             /* {str: int(frost_ref_t)}: each module/qualname copied
                                    once per freeze (NULL until the first record) */
    PyObject *views;             /* {int(node address): the first view of it} (env->view_node;
                                    NULL until the first view) */
    PyObject *nan_values;        /* {int(address): (numpy scalar, its NaN value)}
                                    (numpy_value; NULL until the first NaN scalar) */
    frame_t *frames;             /* the explicit stack (PyMem) */
    Py_ssize_t depth;            /* frames in use */
    Py_ssize_t capacity;
    size_t visits;               /* for periodic signal checks */
    char *window;                /* [window, window_end): arena space this freeze places */
    char *window_end;            /* its small objects in itself (arena_alloc) */
    size_t counts[FROST_KIND_COUNT];   /* objects stored, by kind: added to the arena's
                                          stats once, at the end (count_object) */
} freezer_t;

static inline void
count_object(freezer_t *fz, frost_kind_t kind)
{
    fz->counts[kind]++;
}

static PyObject *
child_object(uintptr_t tagged)
{
    return (PyObject *)(tagged & ~CHILD_UNSHARED);
}

static void
frame_release(frame_t *f)
{
    for (Py_ssize_t i = 0; i < f->nchildren; i++) {
        Py_XDECREF(child_object(f->children[i]));
    }
    PyMem_Free(f->children);
    PyMem_Free(f->tmp);
    Py_CLEAR(f->obj);
    Py_CLEAR(f->field_names);
    f->children = NULL;
    f->tmp = NULL;
    f->nchildren = 0;
}

/* ------------------------------------------------------------------------ */
/* paths and errors                                                          */

/* Append `repr(o)`, cut to a readable length. */
static int
append_repr(PyObject *parts, PyObject *o)
{
    PyObject *r = PyObject_Repr(o);
    if (r == NULL) {
        return -1;
    }
    if (PyUnicode_GET_LENGTH(r) > 60) {
        PyObject *cut = PyUnicode_Substring(r, 0, 57);
        Py_DECREF(r);
        if (cut == NULL) {
            return -1;
        }
        r = PyUnicode_FromFormat("%U...", cut);
        Py_DECREF(cut);
        if (r == NULL) {
            return -1;
        }
    }
    int rc = PyList_Append(parts, r);
    Py_DECREF(r);
    return rc;
}

/* One path step: how child `i` of frame `f` is reached from `f`. */
static int
append_step(PyObject *parts, const frame_t *f, Py_ssize_t i)
{
    PyObject *s = NULL;
    switch (f->kind) {
    case F_DICT:
        if (f->field_names != NULL) {
            s = PyUnicode_FromFormat(".%U", PyTuple_GET_ITEM(f->field_names, i));
            break;
        }
        if (i % 2 == 0) {
            s = PyUnicode_FromString("<key>");
            break;
        }
        {
            PyObject *key = child_object(f->children[i - 1]);
            if (f->fields_as_attrs && PyUnicode_Check(key)) {
                s = PyUnicode_FromFormat(".%U", key);
                break;
            }
            if (PyList_Append(parts, Py_None) < 0) {   /* placeholder for "[" */
                return -1;
            }
            Py_ssize_t at = PyList_GET_SIZE(parts) - 1;
            if (append_repr(parts, key) < 0) {
                return -1;
            }
            PyObject *r = PyList_GET_ITEM(parts, at + 1);
            PyObject *step = PyUnicode_FromFormat("[%U]", r);
            if (step == NULL) {
                return -1;
            }
            /* replace placeholder + repr with the finished step */
            if (PyList_SetSlice(parts, at, at + 2, NULL) < 0) {
                Py_DECREF(step);
                return -1;
            }
            int rc = PyList_Append(parts, step);
            Py_DECREF(step);
            return rc;
        }
    case F_LIST:
    case F_TUPLE:
        s = PyUnicode_FromFormat("[%zd]", i);
        break;
    case F_SET:
        s = PyUnicode_FromString("{<item>}");
        break;
    case F_RECORD:
        s = PyUnicode_FromString(f->fields_as_attrs ? "" : ".__shared__()");
        break;
    }
    if (s == NULL) {
        return -1;
    }
    int rc = PyList_Append(parts, s);
    Py_DECREF(s);
    return rc;
}

/* The path of child `child` of frame `parent` (parent -1: the root itself). */
static PyObject *
path_string(const freezer_t *fz, Py_ssize_t parent, Py_ssize_t child)
{
    PyObject *parts = PyList_New(0);
    if (parts == NULL) {
        return NULL;
    }
    /* collect steps from the child up to the root, then reverse (appended: inserting
     * each at the front was quadratic in the depth, minutes a million levels deep) */
    Py_ssize_t at = parent, idx = child;
    while (at >= 0) {
        PyObject *step_parts = PyList_New(0);
        if (step_parts == NULL || append_step(step_parts, &fz->frames[at], idx) < 0
            || PyList_Append(parts, PyList_GET_ITEM(step_parts, 0)) < 0) {
            Py_XDECREF(step_parts);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(step_parts);
        idx = fz->frames[at].index_in_parent;
        at = fz->frames[at].parent;
    }
    PyObject *root = PyUnicode_FromString("root");
    if (root == NULL || PyList_Append(parts, root) < 0 || PyList_Reverse(parts) < 0) {
        Py_XDECREF(root);
        Py_DECREF(parts);
        return NULL;
    }
    Py_DECREF(root);
    PyObject *empty = PyUnicode_FromString("");
    PyObject *path = empty ? PyUnicode_Join(empty, parts) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(parts);
    return path;
}

/* Raise FreezeError("<path>: <message>") for child `child` of `parent`. */
static int
freeze_error(freezer_t *fz, Py_ssize_t parent, Py_ssize_t child, const char *fmt, ...)
{
    va_list va;
    va_start(va, fmt);
    PyObject *msg = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    if (msg == NULL) {
        return -1;
    }
    PyObject *path = path_string(fz, parent, child);
    if (path != NULL) {
        PyErr_Format(fz->env->freeze_error, "%U: %U", path, msg);
        Py_DECREF(path);
    }
    Py_DECREF(msg);
    return -1;
}

static int is_enum_member(PyObject *o);
static int note_path(freezer_t *fz, Py_ssize_t parent, Py_ssize_t child);

/* The builtin that `o`, refused, subclasses (a user's float subclass), or NULL:
 * the message says that only the exact type is frozen and how to convert (not
 * for an Enum member, refused as such: an IntEnum's is an int too). */
static const char *
builtin_base(PyObject *o)
{
    return PyBool_Check(o) || PyLong_Check(o) ? "int"
           : PyFloat_Check(o) ? "float"
           : PyComplex_Check(o) ? "complex"
           : PyUnicode_Check(o) ? "str"
           : PyBytes_Check(o) ? "bytes"
           : PyTuple_Check(o) ? "tuple"
           : PyList_Check(o) ? "list"
           : PyFrozenSet_Check(o) ? "frozenset"
           : PyAnySet_Check(o) ? "set"
           : NULL;
}

static int
cannot_freeze(freezer_t *fz, Py_ssize_t parent, Py_ssize_t child, PyObject *o)
{
    const char *base = builtin_base(o);
    int is_enum = base != NULL ? is_enum_member(o) : 0;
    if (is_enum < 0) {
        return note_path(fz, parent, child);
    }
    PyObject *shared = NULL;
    if (frost__type_has(Py_TYPE(o), "__shared__", &shared) < 0) {
        return note_path(fz, parent, child);
    }
    Py_XDECREF(shared);   /* (only compared) */
    if (shared == Py_None) {
        return freeze_error(fz, parent, child, "cannot freeze object of type '%.200s' (its class "
                            "sets __shared__ = None: its objects are not to be shared)",
                            Py_TYPE(o)->tp_name);
    }
    if (base == NULL && !PyType_Check(o)) {   /* __shared__ from the metaclass, not the class */
        PyObject *meta = PyObject_GetAttrString((PyObject *)Py_TYPE(o), "__shared__");
        if (meta == NULL && !PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return note_path(fz, parent, child);
        }
        PyErr_Clear();
        if (meta != NULL) {
            Py_DECREF(meta);
            return freeze_error(fz, parent, child, "cannot freeze object of type '%.200s' (its "
                                "metaclass supplies __shared__, which is looked up on the "
                                "class and its bases only, as special methods are: define "
                                "__shared__ in the class)", Py_TYPE(o)->tp_name);
        }
    }
    if (base != NULL && !is_enum) {
        return freeze_error(fz, parent, child, "cannot freeze object of type '%.200s' (a "
                            "subclass of %s: only an exact %s is frozen; %s(x) converts it)",
                            Py_TYPE(o)->tp_name, base, base, base);
    }
    return freeze_error(fz, parent, child, "cannot freeze object of type '%.200s'",
                        Py_TYPE(o)->tp_name);
}

/* An exception from user code is on the way out: note where it happened. */
static int
note_path(freezer_t *fz, Py_ssize_t parent, Py_ssize_t child)
{
    PyObject *exc = PyErr_GetRaisedException();
    if (exc == NULL) {
        return -1;
    }
    PyObject *path = path_string(fz, parent, child);
    if (path != NULL) {
        PyObject *note = PyUnicode_FromFormat("while freezing %U", path);
        if (note != NULL) {
            PyObject *r = PyObject_CallMethod(exc, "add_note", "O", note);
            Py_XDECREF(r);
            Py_DECREF(note);
        }
        Py_DECREF(path);
    }
    PyErr_Clear();   /* a failure to annotate must not hide the real error */
    PyErr_SetRaisedException(exc);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* plain immutables: immortal copies                                        */

/* Objects up to this size are placed in the window; larger ones, and
 * windows, come from frost_arena_alloc. */
#define WINDOW_OBJECT_MAX ((size_t)4096)

/* Give the window's unused end back to the arena (before anything else
 * allocates in it, and at the end). */
static void
window_close(freezer_t *fz)
{
    frost_arena_give_back(fz->arena, fz->window_end, (size_t)(fz->window_end - fz->window));
    fz->window = fz->window_end = NULL;
}

static void *
arena_alloc_slow(freezer_t *fz, size_t size, size_t align)
{
    window_close(fz);
    void *p;
    if (size <= WINDOW_OBJECT_MAX) {
        size_t got = 0;
        p = frost_arena_alloc_window(fz->arena, size, align, &got);
        if (p != NULL) {
            fz->window = (char *)p + size;
            fz->window_end = (char *)p + got;
        }
    }
    else {
        p = frost_arena_alloc(fz->arena, size, align);
    }
    if (p == NULL) {
        int err = frost_arena_last_error(fz->arena);
        if (err == FROST_ENOMEM) {
            PyErr_NoMemory();
        }
        else {
            PyErr_Format(PyExc_SystemError, "frost arena: %s", frost_strerror(err));
        }
    }
    return p;
}

/* `size` bytes (nonzero) at `align` (a power of two) in the arena: the
 * next place in the window (no call), else arena_alloc_slow. */
static inline void *
arena_alloc(freezer_t *fz, size_t size, size_t align)
{
    uintptr_t p = ((uintptr_t)fz->window + (align - 1)) & ~(uintptr_t)(align - 1);
    if (fz->window != NULL && p <= (uintptr_t)fz->window_end
        && (uintptr_t)fz->window_end - p >= size) {
        fz->window = (char *)p + size;
        return (void *)p;
    }
    return arena_alloc_slow(fz, size, align);
}

/* `c` is one of CPython's static singletons if it is immortal; else drop it. */
static int
take_singleton(PyObject *c, frost_ref_t *out)
{
    if (c == NULL) {
        return -1;
    }
    if (!_Py_IsImmortal(c)) {
        Py_DECREF(c);
        return 0;
    }
    *out = frost_ref_from_object(c);   /* immortal: no reference to keep */
    return 1;
}

/* (inline: a constant `size` makes the memcpy a few moves) */
static inline Py_ALWAYS_INLINE PyObject *
copy_object(freezer_t *fz, PyObject *src, size_t size, size_t extra, frost_kind_t kind)
{
    PyObject *dst = arena_alloc(fz, size + extra, OBJECT_ALIGN);
    if (dst == NULL) {
        return NULL;
    }
    memcpy(dst, src, size);
    frost_set_immortal(dst);
    count_object(fz, kind);
    return dst;
}

static int
copy_str(freezer_t *fz, PyObject *s, frost_ref_t *out)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    if (len == 0 || (len == 1 && kind == PyUnicode_1BYTE_KIND)) {
        PyObject *c = len == 0 ? PyUnicode_New(0, 0) : PyUnicode_FromOrdinal(PyUnicode_READ_CHAR(s, 0));
        int rc = take_singleton(c, out);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    PyObject *compact = NULL;
    if (!PyUnicode_IS_COMPACT(s)) {   /* not for exact str on 3.12+, but be safe */
        compact = PyUnicode_FromKindAndData(kind, PyUnicode_DATA(s), len);
        if (compact == NULL) {
            return -1;
        }
        s = compact;
    }
    Py_hash_t hash = _PyASCIIObject_CAST(s)->hash;
    if (hash == -1) {
        hash = PyUnicode_Type.tp_hash(s);   /* (exact str: never fails) caches it in `s` too */
    }
    int ascii = PyUnicode_IS_ASCII(s);
    size_t header = ascii ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject);
    size_t size = header + (size_t)(len + 1) * (size_t)kind;

    /* the UTF-8 form of non-ASCII text, stored right after the characters */
    const char *utf8 = NULL;
    Py_ssize_t utf8_len = 0;
    PyObject *encoded = NULL;
    if (!ascii) {
        encoded = PyUnicode_AsUTF8String(s);
        if (encoded != NULL) {
            utf8 = PyBytes_AS_STRING(encoded);
            utf8_len = PyBytes_GET_SIZE(encoded);
        }
        else if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();   /* lone surrogates: no UTF-8 form, CPython won't cache one either */
        }
        else {
            Py_XDECREF(compact);
            return -1;
        }
    }
    PyObject *d = copy_object(fz, s, size, utf8 ? (size_t)utf8_len + 1 : 0, FROST_KIND_STR);
    if (d != NULL) {
        PyASCIIObject *a = (PyASCIIObject *)d;
        a->hash = hash;
        a->state.interned = 2;               /* SSTATE_INTERNED_IMMORTAL: no path interns it again */
        a->state.statically_allocated = 0;   /* never enter the runtime's static table */
        if (!ascii) {
            PyCompactUnicodeObject *c = (PyCompactUnicodeObject *)d;
            c->utf8 = NULL;
            c->utf8_length = 0;
            if (utf8 != NULL) {
                char *buf = (char *)d + size;
                memcpy(buf, utf8, (size_t)utf8_len + 1);
                c->utf8 = buf;
                c->utf8_length = utf8_len;
            }
        }
        *out = frost_ref_from_object(d);
    }
    Py_XDECREF(encoded);
    Py_XDECREF(compact);
    return d ? 0 : -1;
}

static int
copy_int(freezer_t *fz, PyObject *v, frost_ref_t *out)
{
    PyLongObject *l = (PyLongObject *)v;
    Py_ssize_t small = _PyLong_IsCompact(l) ? _PyLong_CompactValue(l) : PY_SSIZE_T_MAX;
    if (small >= -5 && small <= 256) {
        int rc = take_singleton(PyLong_FromSsize_t(small), out);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
#if PY_VERSION_HEX >= 0x030C0000
    size_t ndigits = (size_t)(((PyLongObject *)v)->long_value.lv_tag >> _PyLong_NON_SIZE_BITS);
    size_t size = offsetof(PyLongObject, long_value.ob_digit)
                  + sizeof(digit) * (ndigits > 0 ? ndigits : 1);
#else
#  error "frost needs CPython 3.12 or newer"
#endif
    /* (the common one-digit int: a copy of constant size, no memcpy call) */
    PyObject *d = ndigits <= 1 ? copy_object(fz, v, offsetof(PyLongObject, long_value.ob_digit)
                                                    + sizeof(digit), 0, FROST_KIND_INT)
                               : copy_object(fz, v, size, 0, FROST_KIND_INT);
    if (d == NULL) {
        return -1;
    }
    *out = frost_ref_from_object(d);
    return 0;
}

static int
copy_fixed(freezer_t *fz, PyObject *v, size_t size, frost_kind_t kind, frost_ref_t *out)
{
    PyObject *d = copy_object(fz, v, size, 0, kind);
    if (d == NULL) {
        return -1;
    }
    *out = frost_ref_from_object(d);
    return 0;
}

static int
copy_bytes(freezer_t *fz, PyObject *b, frost_ref_t *out)
{
    Py_ssize_t len = PyBytes_GET_SIZE(b);
    if (len <= 1) {
        int rc = take_singleton(PyBytes_FromStringAndSize(PyBytes_AS_STRING(b), len), out);
        if (rc != 0) {
            return rc < 0 ? -1 : 0;
        }
    }
    if (PyObject_Hash(b) == -1) {   /* caches ob_shash in `b`; the copy takes it along */
        return -1;
    }
    size_t size = offsetof(PyBytesObject, ob_sval) + (size_t)len + 1;
    return copy_fixed(fz, b, size, FROST_KIND_BYTES, out);
}

/* A real tuple of `n` items, its items for the caller to fill (then
 * tuple_filled). */
static PyTupleObject *
new_tuple(freezer_t *fz, Py_ssize_t n)
{
    size_t size = offsetof(PyTupleObject, ob_item) + (size_t)n * sizeof(PyObject *);
    char *start = arena_alloc(fz, GC_PREFIX_SIZE + size, GC_OBJECT_ALIGN);
    if (start == NULL) {
        return NULL;
    }
    /* the zeroed GC prefix stays zero: untracked, never collecting */
    PyTupleObject *t = (PyTupleObject *)(start + GC_PREFIX_SIZE);
    Py_SET_TYPE((PyObject *)t, &PyTuple_Type);
    Py_SET_SIZE(t, n);
    frost_set_immortal((PyObject *)t);
    return t;
}

/* Tuple `t` of new_tuple has all its items: it is done. */
static frost_ref_t
tuple_filled(freezer_t *fz, PyTupleObject *t)
{
#if PY_VERSION_HEX >= 0x030E0000
    if (PyObject_Hash((PyObject *)t) == -1) {   /* 3.14 caches ob_hash: fill it now */
        PyErr_Clear();
    }
#endif
    count_object(fz, FROST_KIND_TUPLE);
    return frost_ref_from_object((PyObject *)t);
}

/* A real tuple of the (plain) references in `items`. */
static int
build_tuple(freezer_t *fz, const frost_ref_t *items, Py_ssize_t n, frost_ref_t *out)
{
    PyTupleObject *t = new_tuple(fz, n);
    if (t == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        t->ob_item[i] = frost_ref_object(items[i]);
    }
    *out = tuple_filled(fz, t);
    return 0;
}

static int
is_constant(PyObject *o)
{
    return o == Py_None || o == Py_True || o == Py_False || o == Py_Ellipsis;
}

/* Copy leaf `o` (an exact str, int, float, complex or bytes; a constant is
 * itself) into *out: 0 done, 1 not a leaf, -1 error. */
static int
copy_leaf(freezer_t *fz, PyObject *o, frost_ref_t *out)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyUnicode_Type) {
        return copy_str(fz, o, out);
    }
    if (tp == &PyLong_Type) {
        return copy_int(fz, o, out);
    }
    if (tp == &PyFloat_Type) {
        return copy_fixed(fz, o, sizeof(PyFloatObject), FROST_KIND_FLOAT, out);
    }
    if (tp == &PyComplex_Type) {
        return copy_fixed(fz, o, sizeof(PyComplexObject), FROST_KIND_COMPLEX, out);
    }
    if (tp == &PyBytes_Type) {
        return copy_bytes(fz, o, out);
    }
    if (is_constant(o)) {   /* (after the types: their checks are cheaper) */
        *out = frost_ref_from_object(o);
        return 0;
    }
    return 1;
}

/* Check for signals (KeyboardInterrupt) and exceptions raised in this thread
 * (env->check): also between blocks of a huge table's own loops (start_table,
 * new_set), which visit nothing. -1 with the exception set. */
__attribute__((noinline, cold)) static int
check_only(freezer_t *fz)
{
    return (fz->env->check != NULL ? fz->env->check() : PyErr_CheckSignals()) < 0 ? -1 : 0;
}

/* check_only as a frost__checked_block_end / rehash check (ctx: the freezer). */
static int
check_ctx(void *fz)
{
    return check_only(fz);
}

/* count_visit's rare part, out of line (its calls would otherwise weigh on
 * the inlining of every visit: W1 paid ~30 instructions an entry when the
 * check was added inline): check_only, then report progress. */
__attribute__((noinline, cold)) static int
check_and_report(freezer_t *fz)
{
    if (check_only(fz) < 0
        || (fz->env->progress != NULL && fz->env->progress(fz->env->progress_ctx, fz->visits, 0) < 0)) {
        return -1;
    }
    return 0;
}

/* Count one visit; every SIGNAL_CHECK_INTERVAL visits, check_and_report. */
static inline int
count_visit(freezer_t *fz)
{
    return ++fz->visits % SIGNAL_CHECK_INTERVAL == 0 ? check_and_report(fz) : 0;
}

/* The part of a visit (counted already) that needs no frame, for anything
 * but an exact tuple: a constant, an object the memo knows, a leaf. 0 when
 * *dest is written, 1 when `o` is none of those, -1 on error. */
static inline Py_ALWAYS_INLINE int
visit_leaf(freezer_t *fz, PyObject *o, int unshared, frost_ref_t *dest)
{
    if (!unshared) {
        memo_slot_t *hit = memo_find(&fz->memo, o);
        if (hit != NULL) {   /* (only tuples are ever REF_PENDING) */
            *dest = hit->value;
            return 0;
        }
    }
    int rc = copy_leaf(fz, o, dest);
    /* every copy is remembered, also of an immortal object (3.12+ interns strs
     * immortal): only what is its own frozen self (a constant, a CPython
     * singleton) needs no memo entry */
    if (rc == 0 && !unshared && *dest != frost_ref_from_object(o)
        && memo_put(&fz->memo, o, *dest) < 0) {
        return -1;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* nodes                                                                     */

/* A dict node of `n` entries (keys, values and index filled by the caller;
 * an unindexed arena's has no index: index NULL, mask 0). */
static frost_table_t *
new_table(freezer_t *fz, Py_ssize_t n)
{
    Py_ssize_t nslots = frost__table_slots(n);
    if (nslots < 0 || n > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "frost tables hold at most 2**31-1 entries");
        return NULL;
    }
    int indexed = !fz->env->unindexed;
    frost_table_t *t = arena_alloc(fz, sizeof *t, alignof(frost_table_t));
    int32_t *index = t && indexed ? arena_alloc(fz, (size_t)nslots * sizeof(int32_t), 64) : NULL;
    frost_entry_t *entries = t && (index || !indexed)
                             ? arena_alloc(fz, (size_t)(n ? n : 1) * sizeof(frost_entry_t), 64) : NULL;
    if (entries == NULL) {
        return NULL;
    }
    if (indexed) {
        memset(index, 0xff, (size_t)nslots * sizeof(int32_t));   /* all slots empty (-1) */
    }
    t->hdr.kind = FROST_NODE_DICT;
    t->len = n;
    t->mask = indexed ? nslots - 1 : 0;
    t->index = index;
    t->entries = entries;
    count_object(fz, FROST_KIND_DICT);
    return t;
}

/* Keys of a set node not frozen yet: a used slot (key != 0) that is not a
 * valid reference; child_dest's write replaces it. */
#define SET_KEY_PENDING ((frost_ref_t)1)

/* A set node of the `n` items hashed `hashes`: each gets its slot now (the
 * layout depends only on the hashes), its key PENDING until frozen. In an
 * unindexed arena the slots are the items in order (n slots, mask 0): nothing
 * probes them. */
static frost_set_t *
new_set(freezer_t *fz, const Py_hash_t *hashes, Py_ssize_t n)
{
    Py_ssize_t nslots = frost__table_slots(n);
    if (nslots < 0 || n > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "frost tables hold at most 2**31-1 entries");
        return NULL;
    }
    int indexed = !fz->env->unindexed;
    if (!indexed) {
        nslots = n ? n : 1;
    }
    frost_set_t *s = arena_alloc(fz, sizeof *s, alignof(frost_set_t));
    frost_set_slot_t *slots = s ? arena_alloc(fz, (size_t)nslots * sizeof *slots, 64) : NULL;
    int32_t *order = slots ? arena_alloc(fz, (size_t)(n ? n : 1) * sizeof(int32_t), 64) : NULL;
    if (order == NULL) {
        return NULL;
    }
    if (indexed) {
        memset(slots, 0, (size_t)nslots * sizeof *slots);   /* all slots empty */
    }
    s->hdr.kind = FROST_NODE_SET;
    s->len = n;
    s->mask = indexed ? nslots - 1 : 0;
    s->slots = slots;
    s->order = order;
    for (Py_ssize_t lo = 0, hi; lo < n; lo = hi) {   /* (see start_table) */
        if ((hi = frost__checked_block_end(lo, n, check_ctx, fz)) < 0) {
            return NULL;
        }
        for (Py_ssize_t e = lo; e < hi; e++) {
            Py_ssize_t at = indexed ? frost__set_place(s, hashes[e]) : e;
            slots[at].hash = hashes[e];
            slots[at].key = SET_KEY_PENDING;
            order[e] = (int32_t)at;
        }
    }
    count_object(fz, FROST_KIND_SET);
    return s;
}

static frost_seq_t *
new_seq(freezer_t *fz, frost_node_kind_t kind, uint32_t flags, Py_ssize_t n)
{
    frost_seq_t *s = arena_alloc(fz, FROST_SEQ_SIZE(n), 64);
    if (s == NULL) {
        return NULL;
    }
    s->hdr.kind = kind;
    s->hdr.flags = flags;
    s->len = n;
    count_object(fz, kind == FROST_NODE_LIST ? FROST_KIND_LIST : FROST_KIND_TUPLE_NODE);
    return s;
}

/* A list of only exact ints that fit int64 (or only exact floats) is packed:
 * stored as a C array, no objects. Returns 1 if packed, 0 if not, -1 error. */
static int
try_pack_list(freezer_t *fz, PyObject *list, frost_ref_t *out)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (n == 0) {
        return 0;
    }
    PyTypeObject *tp = Py_TYPE(PyList_GET_ITEM(list, 0));
    if (tp != &PyLong_Type && tp != &PyFloat_Type) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        if (Py_TYPE(item) != tp) {
            return 0;
        }
        if (tp == &PyLong_Type) {
            int overflow = 0;
            (void)PyLong_AsLongLongAndOverflow(item, &overflow);
            if (overflow) {
                return 0;
            }
        }
    }
    uint32_t flags = tp == &PyLong_Type ? FROST_SEQ_INT64 : FROST_SEQ_FLOAT64;
    frost_seq_t *s = new_seq(fz, FROST_NODE_LIST, flags, n);
    if (s == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        if (flags == FROST_SEQ_INT64) {
            s->items.i64[i] = (int64_t)PyLong_AsLongLong(item);
        }
        else {
            s->items.f64[i] = PyFloat_AS_DOUBLE(item);
        }
    }
    *out = frost_ref_from_node(s);
    return 1;
}

/* `module`.`name` as this interpreter imported it, a new reference, or NULL
 * (no error) where that module was never imported here (subinterpreters
 * cannot import numpy) or has no such name: read from its sys.modules
 * entry's dict, so nothing is imported and no code runs. */
static PyObject *
imported_attr(const char *module, const char *name)
{
    PyObject *key = PyUnicode_FromString(module);
    PyObject *mod = key ? PyImport_GetModule(key) : NULL;   /* NULL, no error: not imported */
    Py_XDECREF(key);
    PyObject *dict = mod != NULL && PyModule_Check(mod) ? PyModule_GetDict(mod) : NULL;   /* borrowed */
    PyObject *attr = dict != NULL ? Py_XNewRef(PyDict_GetItemString(dict, name)) : NULL;
    Py_XDECREF(mod);
    PyErr_Clear();   /* (out of memory here: the name is taken as absent) */
    return attr;
}

/* Whether `tp` is `module`.`name` (imported_attr). Its tp_name alone said so
 * for a user's class renamed "numpy.ndarray" (`__name__` may hold a dot),
 * which then thawed as a numpy array or, as "array.array", a flat
 * array.array of its buffer. */
static int
is_module_type(PyTypeObject *tp, const char *module, const char *name)
{
    PyObject *t = imported_attr(module, name);
    int is = t == (PyObject *)tp;
    Py_XDECREF(t);
    return is;
}

/* Whether `o` is a numpy masked array (numpy.ma.MaskedArray or a subclass):
 * its buffer exports the data without the mask, so a frozen copy would show
 * the masked values as data. */
static int
is_masked_array(PyObject *o)
{
    PyObject *masked = imported_attr("numpy.ma", "MaskedArray");
    int is = masked != NULL && PyType_Check(masked) && PyObject_TypeCheck(o, (PyTypeObject *)masked);
    Py_XDECREF(masked);
    return is;
}

static frost_array_origin_t
array_origin(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyByteArray_Type) {
        return FROST_ARRAY_FROM_BYTEARRAY;
    }
    if (tp == &PyMemoryView_Type) {
        return FROST_ARRAY_FROM_MEMORYVIEW;
    }
    if (strcmp(tp->tp_name, "array.array") == 0 && is_module_type(tp, "array", "array")) {
        return FROST_ARRAY_FROM_ARRAY;
    }
    if (strcmp(tp->tp_name, "numpy.ndarray") == 0 && is_module_type(tp, "numpy", "ndarray")) {
        return FROST_ARRAY_FROM_NUMPY;
    }
    return FROST_ARRAY_FROM_BUFFER;
}

/* Copy a C-contiguous buffer into an array node. 1 done, -1 error set. Only
 * formats of pure data whose size every reader agrees on
 * (frost__array_format_check): an 'O' array's items are addresses of this
 * interpreter's objects. An export that fails (numpy's datetime64: "cannot
 * include dtype 'M' in a buffer") is a FreezeError that says why. */
static int
copy_buffer(freezer_t *fz, PyObject *o, Py_ssize_t parent, Py_ssize_t child, frost_ref_t *out)
{
    frost_array_origin_t origin = array_origin(o);
    if (origin == FROST_ARRAY_FROM_BUFFER && is_masked_array(o)) {   /* (an exact ndarray is none) */
        return freeze_error(fz, parent, child, "cannot freeze object of type '%.200s': its buffer "
                            "holds the data without the mask (masked values would read as data); "
                            "freeze its .filled(value), or its .data and .mask",
                            Py_TYPE(o)->tp_name);
    }
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_FULL_RO) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError) || PyErr_ExceptionMatches(PyExc_TypeError)
            || PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyObject *exc = PyErr_GetRaisedException();
            freeze_error(fz, parent, child, "cannot freeze object of type '%.200s': its buffer "
                         "cannot be exported (%S)", Py_TYPE(o)->tp_name, exc);
            Py_DECREF(exc);
        }
        return -1;
    }
    int rc = -1;
    const char *format = view.format ? view.format : "B";
    const char *why = NULL;
    if (!PyBuffer_IsContiguous(&view, 'C')) {
        freeze_error(fz, parent, child, "cannot freeze non-contiguous buffer of type '%.200s'",
                     Py_TYPE(o)->tp_name);
        goto done;
    }
    if (view.ndim > FROST_ARRAY_MAX_NDIM || view.itemsize <= 0) {
        why = view.itemsize <= 0 ? "its items have no size" : "too many dimensions";
    }
    else {
        (void)frost__array_format_check(format, view.itemsize, &why);
    }
    if (why != NULL) {
        freeze_error(fz, parent, child, "cannot freeze buffer of type '%.200s' with format "
                     "'%.60s' (item size %zd): %s", Py_TYPE(o)->tp_name, format, view.itemsize, why);
        goto done;
    }
    size_t format_len = strlen(format);
    size_t dims_bytes = sizeof(Py_ssize_t) * 2 * (size_t)view.ndim;
    frost_array_t *a = arena_alloc(fz, sizeof *a, alignof(frost_array_t));
    char *dims = a ? arena_alloc(fz, dims_bytes + format_len + 1, 8) : NULL;
    char *data = dims ? arena_alloc(fz, (size_t)(view.len ? view.len : 1), 64) : NULL;
    if (data == NULL) {
        goto done;
    }
    a->hdr.kind = FROST_NODE_ARRAY;
    a->hdr.flags = origin;
    a->itemsize = view.itemsize;
    a->nbytes = view.len;
    a->ndim = view.ndim;
    a->shape = (Py_ssize_t *)dims;
    a->strides = a->shape + view.ndim;
    memcpy(dims + dims_bytes, format, format_len + 1);
    a->format = dims + dims_bytes;
    a->format_len = (uint32_t)format_len;
    Py_ssize_t stride = view.itemsize;
    for (int d = view.ndim - 1; d >= 0; d--) {
        a->shape[d] = view.shape ? view.shape[d] : view.len / view.itemsize;
        a->strides[d] = stride;
        if (a->shape[d] < 0 || (a->shape[d] > 0 && stride > PY_SSIZE_T_MAX / a->shape[d])) {
            break;
        }
        stride *= a->shape[d];
    }
    if (stride != view.len) {   /* an exporter whose shape does not cover its bytes */
        freeze_error(fz, parent, child, "cannot freeze buffer of type '%.200s': its shape and "
                     "item size do not match its length", Py_TYPE(o)->tp_name);
        goto done;
    }
    a->data = data;
    memcpy(data, view.buf, (size_t)view.len);
    count_object(fz, FROST_KIND_ARRAY);
    *out = frost_ref_from_node(a);
    rc = 1;
done:
    PyBuffer_Release(&view);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* numpy scalars                                                             */

/* Whether objects of `tp` are numpy scalars (numpy.int64, numpy.float64,
 * numpy.str_, ...): numpy's scalar types are static types (no class statement
 * makes one) named "numpy.<name>" that export a buffer. numpy is never
 * imported here (subinterpreters cannot): a float subclass of a user's, with a
 * buffer or not, is a heap type and stays refused as a subclass of float. */
static int
is_numpy_scalar_type(PyTypeObject *tp)
{
    return !(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) && tp->tp_as_buffer != NULL
           && tp->tp_as_buffer->bf_getbuffer != NULL && strncmp(tp->tp_name, "numpy.", 6) == 0
           && strcmp(tp->tp_name, "numpy.ndarray") != 0;
}

/* The numpy scalar type a class of the user's derives from (`class
 * MyInt(numpy.int64)`), or NULL. Such objects are refused as subclasses of
 * int or float are: they export a buffer, and froze as a 0-d Array (thawed
 * to a memoryview) before. */
static PyTypeObject *
numpy_scalar_base(PyTypeObject *tp)
{
    for (PyTypeObject *base = tp->tp_base; base != NULL; base = base->tp_base) {
        if (is_numpy_scalar_type(base)) {
            return base;
        }
    }
    return NULL;
}

/* The Python value of the item of a 0-d buffer of native `format`, a new
 * reference; NULL without an error for any other format or layout. */
static PyObject *
scalar_item_value(const Py_buffer *view)
{
    const char *f = view->format ? view->format : "B";
    const char *p = view->buf;
    Py_ssize_t size = view->itemsize;
    if (view->ndim != 0 || view->len != size || size <= 0) {
        return NULL;
    }
    if (f[0] != '\0' && f[1] == '\0' && strchr("bhilqn", f[0]) != NULL
        && (size == 1 || size == 2 || size == 4 || size == 8)) {
        int64_t v = size == 1 ? *(const int8_t *)p : 0;
        if (size == 2) { int16_t x; memcpy(&x, p, 2); v = x; }
        if (size == 4) { int32_t x; memcpy(&x, p, 4); v = x; }
        if (size == 8) { memcpy(&v, p, 8); }
        return PyLong_FromLongLong((long long)v);
    }
    if (f[0] != '\0' && f[1] == '\0' && strchr("BHILQN", f[0]) != NULL
        && (size == 1 || size == 2 || size == 4 || size == 8)) {
        uint64_t v = size == 1 ? *(const uint8_t *)p : 0;
        if (size == 2) { uint16_t x; memcpy(&x, p, 2); v = x; }
        if (size == 4) { uint32_t x; memcpy(&x, p, 4); v = x; }
        if (size == 8) { memcpy(&v, p, 8); }
        return PyLong_FromUnsignedLongLong((unsigned long long)v);
    }
    if (strcmp(f, "?") == 0 && size == 1) {
        return PyBool_FromLong(*p != 0);
    }
    if (strcmp(f, "e") == 0 && size == 2) {
        double d = PyFloat_Unpack2(p, PY_LITTLE_ENDIAN);
        return d == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(d);
    }
    if (strcmp(f, "f") == 0 && size == sizeof(float)) {
        float x;
        memcpy(&x, p, sizeof x);
        return PyFloat_FromDouble(x);
    }
    if (strcmp(f, "Zf") == 0 && size == 2 * sizeof(float)) {
        float x[2];
        memcpy(x, p, sizeof x);
        return PyComplex_FromDoubles(x[0], x[1]);
    }
    return NULL;   /* 'g', 'Zg' (no Python value), 'B' * 8 (datetime64), 'V'... */
}

/* The Python value numpy scalar `o` (is_numpy_scalar_type) freezes as, a new
 * reference to an exact bool, int, float, complex, str or bytes: what
 * x.item() and the items of a frozen array give (docs/design.md, "numpy
 * scalars"); numpy.float64 and numpy.complex128, subclasses of float and
 * complex, alike. NULL with a FreezeError naming the type for a scalar that
 * has no such value (longdouble, datetime64, void), or another error. */
static PyObject *
numpy_scalar_value(freezer_t *fz, PyObject *o, Py_ssize_t parent, Py_ssize_t idx)
{
    PyObject *value = NULL;
    int long_double = 0;
    if (PyUnicode_Check(o)) {
        value = PyUnicode_FromObject(o);   /* an exact copy of a subclass */
    }
    else if (PyBytes_Check(o)) {
        value = PyBytes_FromStringAndSize(PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    }
    else if (PyFloat_Check(o)) {
        value = PyFloat_FromDouble(PyFloat_AS_DOUBLE(o));
    }
    else if (PyComplex_Check(o)) {
        value = PyComplex_FromCComplex(((PyComplexObject *)o)->cval);
    }
    else if (!PyLong_Check(o)) {
        Py_buffer view;
        if (PyObject_GetBuffer(o, &view, PyBUF_RECORDS_RO) == 0) {
            value = scalar_item_value(&view);
            long_double = view.format == NULL || strchr(view.format, 'g') == NULL ? 0
                          : strchr(view.format, 'Z') != NULL ? 2 : 1;
            PyBuffer_Release(&view);
        }
    }
    if (value != NULL) {
        return value;
    }
    if (PyErr_Occurred()) {   /* a failed export is a refusal; MemoryError is not */
        if (!PyErr_ExceptionMatches(PyExc_BufferError) && !PyErr_ExceptionMatches(PyExc_TypeError)
            && !PyErr_ExceptionMatches(PyExc_ValueError)) {
            note_path(fz, parent, idx);
            return NULL;
        }
        PyErr_Clear();
    }
    if (long_double) {
        freeze_error(fz, parent, idx, "cannot freeze object of type '%.200s' (a numpy scalar "
                     "with no exact Python value: %s(x) rounds it; numpy.asarray(x) freezes "
                     "it as a 0-d frost.Array)", Py_TYPE(o)->tp_name, long_double == 2 ? "complex" : "float");
    }
    else {
        freeze_error(fz, parent, idx, "cannot freeze object of type '%.200s' (only numpy's "
                     "bool, integer, float, complex, str and bytes scalars freeze, as their "
                     "Python values: convert it, e.g. str(x) or x.item())", Py_TYPE(o)->tp_name);
    }
    return NULL;
}

/* numpy_scalar_value(o), but a NaN scalar's value is one object for the
 * whole freeze (fz->nan_values, which holds `o` too, so its address is not
 * reused): a NaN key equals only itself ("NaN keys hash by identity"), so the
 * numpy NaN met as a dict key, a set item, a tuple item and a value must
 * become one arena NaN, as one float NaN does through the memo (*nan is 1:
 * visit that value through the memo). A new reference, or NULL on error. */
static PyObject *
numpy_value(freezer_t *fz, PyObject *o, Py_ssize_t parent, Py_ssize_t idx, int *nan)
{
    PyObject *value = numpy_scalar_value(fz, o, parent, idx);
    *nan = value != NULL && frost__key_holds_nan(value);
    if (!*nan) {
        return value;
    }
    if (fz->nan_values == NULL && (fz->nan_values = PyDict_New()) == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    PyObject *addr = PyLong_FromVoidPtr(o);
    PyObject *entry = addr ? PyTuple_Pack(2, o, value) : NULL;
    PyObject *first = entry ? PyDict_SetDefault(fz->nan_values, addr, entry) : NULL;   /* borrowed */
    Py_XDECREF(entry);
    Py_XDECREF(addr);
    Py_SETREF(value, first ? Py_NewRef(PyTuple_GET_ITEM(first, 1)) : NULL);
    return value;
}

/* Visit numpy scalar `o`: its value (numpy_value), a new object but for a
 * NaN, goes into the arena at once; the memo remembers `o` if it may be met
 * again. 0 when *dest is written, -1 on error. */
static int
visit_numpy_scalar(freezer_t *fz, PyObject *o, int unshared, Py_ssize_t parent, Py_ssize_t idx,
                   frost_ref_t *dest)
{
    int nan;
    PyObject *value = numpy_value(fz, o, parent, idx, &nan);
    if (value == NULL) {
        return -1;
    }
    int rc = nan ? visit_leaf(fz, value, 0, dest) : copy_leaf(fz, value, dest);   /* 0 or -1 */
    Py_DECREF(value);
    if (rc == 0 && !unshared && memo_put(&fz->memo, o, *dest) < 0) {
        return -1;
    }
    return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* frames                                                                    */

static frame_t *
push_frame(freezer_t *fz, PyObject *obj, frame_kind_t kind, frost_ref_t *dest,
           Py_ssize_t parent, Py_ssize_t index_in_parent)
{
    if (fz->depth == fz->capacity) {
        Py_ssize_t cap = fz->capacity ? fz->capacity * 2 : 64;
        frame_t *frames = PyMem_Realloc(fz->frames, (size_t)cap * sizeof *frames);
        if (frames == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        fz->frames = frames;
        fz->capacity = cap;
    }
    frame_t *f = &fz->frames[fz->depth++];
    memset(f, 0, sizeof *f);
    f->obj = Py_NewRef(obj);
    f->kind = kind;
    f->dest = dest;
    f->parent = parent;
    f->index_in_parent = index_in_parent;
    /* the field dict of a dataclass / NamedTuple record: its paths say `.name` */
    if (kind == F_DICT && parent >= 0 && fz->frames[parent].kind == F_RECORD) {
        f->fields_as_attrs = fz->frames[parent].fields_as_attrs;
    }
    return f;
}

static int
alloc_children(frame_t *f, Py_ssize_t n)
{
    f->children = PyMem_Calloc((size_t)(n ? n : 1), sizeof(uintptr_t));
    if (f->children == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Record child `o` in slot `i` (a new reference); `owned_by_container`: the
 * container we copy holds the reference that `o`'s count shows. */
static void
set_child(frame_t *f, Py_ssize_t i, PyObject *o, int owned_by_container)
{
    uintptr_t tag = (owned_by_container && Py_REFCNT(o) == 1) ? CHILD_UNSHARED : 0;
    f->children[i] = (uintptr_t)Py_NewRef(o) | tag;
    f->nchildren = i + 1;
}

/* A leaf: copied (copy_leaf) or a constant, never a frame. */
static int
is_leaf(PyObject *o)
{
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyUnicode_Type || tp == &PyLong_Type || tp == &PyFloat_Type
        || tp == &PyComplex_Type || tp == &PyBytes_Type) {
        return 1;   /* (a branch: the constants are compared only for the rest) */
    }
    return is_constant(o);
}

static int
is_plain_key_type(PyObject *k)
{
    return is_leaf(k) || Py_TYPE(k) == &PyTuple_Type;
}

/* Drop repeated keys from the `n` entries of table frame `self` (children
 * and `hashes`), as a dict built from them would: the first key stays where
 * it was, with the last value. Plain sources (a dict, a set) cannot repeat a
 * key; a Mapping's items() or another iterable can. The number of entries
 * kept, or -1 on error (children stay owned by the frame either way). */
static Py_ssize_t
drop_repeated_keys(freezer_t *fz, Py_ssize_t self, Py_hash_t *hashes, Py_ssize_t n)
{
    frame_t *f = &fz->frames[self];
    Py_ssize_t stride = f->kind == F_DICT ? 2 : 1;
    size_t nslots = 8;
    while (nslots < 2 * (size_t)n) {
        nslots *= 2;
    }
    Py_ssize_t *slots = PyMem_Malloc(nslots * sizeof *slots);
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(slots, 0xff, nslots * sizeof *slots);   /* all empty (-1) */
    Py_ssize_t kept = 0;
    for (Py_ssize_t e = 0; e < n; e++) {
        uintptr_t *entry = &f->children[e * stride];
        PyObject *key = child_object(entry[0]);
        size_t slot = (size_t)hashes[e] & (nslots - 1);
        Py_ssize_t same = -1;
        for (; slots[slot] >= 0; slot = (slot + 1) & (nslots - 1)) {
            Py_ssize_t j = slots[slot];
            PyObject *other = child_object(f->children[j * stride]);
            if (hashes[j] != hashes[e]) {
                continue;
            }
            int eq = frost__fast_equal(other, key);   /* identity first, like dict */
            if (eq < 0) {
                eq = PyObject_RichCompareBool(other, key, Py_EQ);
                if (eq < 0) {
                    PyMem_Free(slots);
                    return note_path(fz, self, e * stride);
                }
            }
            if (eq) {
                same = j;
                break;
            }
        }
        if (same >= 0) {
            if (stride == 2) {   /* the later value replaces the earlier one */
                Py_DECREF(child_object(f->children[same * 2 + 1]));
                f->children[same * 2 + 1] = entry[1];
                entry[1] = 0;
            }
            Py_DECREF(key);
            entry[0] = 0;
            continue;
        }
        for (Py_ssize_t c = 0; c < stride && kept != e; c++) {
            f->children[kept * stride + c] = entry[c];
            entry[c] = 0;
        }
        hashes[kept] = hashes[e];
        slots[slot] = kept++;
    }
    PyMem_Free(slots);
    f->nchildren = kept * stride;
    return kept;
}

/* Dict frame `self`, its node made, has only leaves as keys: freeze them
 * now (no frame, no walk step each), so that the walk visits the values
 * only. */
static int
freeze_leaf_keys(freezer_t *fz, Py_ssize_t self)
{
    frame_t *f = &fz->frames[self];
    frost_table_t *t = f->node;
    for (Py_ssize_t e = 0; e < t->len; e++) {
        uintptr_t key = f->children[2 * e];
        if (count_visit(fz) < 0
            || visit_leaf(fz, child_object(key), (int)(key & CHILD_UNSHARED), &t->entries[e].key) != 0) {
            return -1;   /* (a leaf never answers 1) */
        }
    }
    f->next = 1;   /* the first value */
    f->keys_frozen = 1;
    return 0;
}

/* Fill a table frame from `n` keys (and values) of `source`: a dict if
 * `exact`, else a list of (key, value) pairs (dicts) or of items (sets).
 * `unique`: the source cannot repeat a key (a dict, set or frozenset). */
static int
start_table(freezer_t *fz, Py_ssize_t self, frost_node_kind_t kind, PyObject *source,
            Py_ssize_t n, int exact, int unique)
{
    frame_t *f = &fz->frames[self];
    Py_ssize_t stride = kind == FROST_NODE_DICT ? 2 : 1;
    if (alloc_children(f, stride * n) < 0) {
        return -1;
    }
    Py_ssize_t i = 0;
    if (kind == FROST_NODE_DICT && exact) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (i < n && PyDict_Next(source, &pos, &k, &v)) {
            set_child(f, 2 * i, k, 1);
            set_child(f, 2 * i + 1, v, 1);
            i++;
        }
    }
    else if (kind == FROST_NODE_DICT) {   /* `source` is a list of (key, value) pairs */
        for (; i < n; i++) {
            PyObject *pair = PyList_GET_ITEM(source, i);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                return freeze_error(fz, f->parent, f->index_in_parent,
                                    "items() of '%.200s' must give (key, value) pairs",
                                    Py_TYPE(f->obj)->tp_name);
            }
            set_child(f, 2 * i, PyTuple_GET_ITEM(pair, 0), 0);
            set_child(f, 2 * i + 1, PyTuple_GET_ITEM(pair, 1), 0);
        }
    }
    else {                                /* `source` is a list of set items */
        for (; i < n; i++) {
            set_child(f, i, PyList_GET_ITEM(source, i), exact);
        }
    }
    /* hash the keys now: their hashes decide the layout */
    Py_hash_t *hashes = PyMem_Malloc((size_t)(i ? i : 1) * sizeof *hashes);
    if (hashes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* a huge table's own loops (hashing, placing: seconds for tens of millions
     * of entries, before the walk's first visit of them) look for Ctrl-C
     * between blocks (frost__checked_block_end), not per entry (the
     * check runs Python code: not in the copy loop above, whose PyDict_Next
     * would see the dict changed by it; the keys are the frame's own now) */
    int rc = 0, leaf_keys = 1;
    for (Py_ssize_t lo = 0, hi; rc == 0 && lo < i; lo = hi) {
        if ((hi = frost__checked_block_end(lo, i, check_ctx, fz)) < 0) {
            rc = -1;
            break;
        }
        for (Py_ssize_t e = lo; rc == 0 && e < hi; e++) {
            Py_ssize_t ci = e * stride;
            PyObject *k = child_object(f->children[ci]);
            if (Py_TYPE(k) == &PyUnicode_Type && _PyASCIIObject_CAST(k)->hash != -1) {
                hashes[e] = _PyASCIIObject_CAST(k)->hash;   /* the common key: no call */
                continue;
            }
            if (is_numpy_scalar_type(Py_TYPE(k))) {   /* keyed by its Python value */
                int nan;
                PyObject *value = numpy_value(fz, k, self, ci, &nan);
                if (value == NULL) {
                    rc = -1;
                    break;
                }
                f->children[ci] = (uintptr_t)value | (nan ? 0 : CHILD_UNSHARED);   /* (a NaN: the memo) */
                Py_DECREF(k);
                k = value;
            }
            leaf_keys &= is_leaf(k);
            const char *what = kind == FROST_NODE_DICT ? "dict key" : "set item";
            if (!is_plain_key_type(k)) {
                rc = freeze_error(fz, self, ci, "%s must be a plain immutable "
                                  "(str, int, float, complex, bytes, tuple, None, bool), "
                                  "not '%.200s'", what, Py_TYPE(k)->tp_name);
                break;
            }
            rc = frost__key_hash(k, FROST_MAX_TUPLE_DEPTH, &hashes[e]);
            if (rc == -2) {
                rc = freeze_error(fz, self, ci, "%s is a tuple nested deeper than %d levels",
                                  what, FROST_MAX_TUPLE_DEPTH);
            }
            else if (rc < 0) {
                rc = note_path(fz, self, ci);
            }
            else {   /* (hashed: no deeper than FROST_MAX_TUPLE_DEPTH) a NaN's copy is a NaN */
                f->nan_keys |= frost__key_holds_nan(k);
            }
        }
    }
    if (rc == 0 && !unique) {
        i = drop_repeated_keys(fz, self, hashes, i);
        rc = i < 0 ? -1 : 0;
    }
    void *node = NULL;
    if (rc == 0 && kind == FROST_NODE_SET) {
        node = new_set(fz, hashes, i);
    }
    else if (rc == 0) {
        frost_table_t *t = new_table(fz, i);
        for (Py_ssize_t lo = 0, hi; t != NULL && lo < i; lo = hi) {
            if ((hi = frost__checked_block_end(lo, i, check_ctx, fz)) < 0) {
                t = NULL;   /* (the arena is freed with the failed freeze) */
                break;
            }
            for (Py_ssize_t e = lo; e < hi; e++) {
                t->entries[e].hash = hashes[e];
                if (!fz->env->unindexed) {
                    frost__table_index_entry(t, e);
                }
            }
        }
        node = t;
    }
    if (node != NULL) {
        f->node = node;
        *f->dest = frost_ref_from_node(node);
    }
    PyMem_Free(hashes);
    f->leaf_keys = leaf_keys;
    if (node == NULL || memo_put(&fz->memo, f->obj, *f->dest) < 0) {
        return -1;
    }
    return kind == FROST_NODE_DICT && leaf_keys ? freeze_leaf_keys(fz, self) : 0;
}

/* The arena copy of a class's module or qualname `name` (an exact str, else
 * an error naming the class of `o`), copied once per freeze: every record of
 * every class of that module refers to the same arena str. */
static int
name_ref(freezer_t *fz, PyObject *name, PyObject *o, Py_ssize_t parent, Py_ssize_t idx,
         frost_ref_t *out)
{
    if (!PyUnicode_CheckExact(name)) {
        return freeze_error(fz, parent, idx, "class of '%.200s' has no str __module__/__qualname__",
                            Py_TYPE(o)->tp_name);
    }
    if (fz->names == NULL && (fz->names = PyDict_New()) == NULL) {
        return -1;
    }
    PyObject *known = PyDict_GetItemWithError(fz->names, name);   /* borrowed */
    if (known != NULL) {
        *out = (frost_ref_t)PyLong_AsVoidPtr(known);
        return 0;
    }
    if (PyErr_Occurred() || copy_str(fz, name, out) < 0) {
        return -1;
    }
    PyObject *ref = PyLong_FromVoidPtr((void *)*out);
    int rc = ref ? PyDict_SetItem(fz->names, name, ref) : -1;
    Py_XDECREF(ref);
    return rc;
}

/* Start record frame `self` (pushed for the record): the node, pointing at
 * the class's names. Its state comes next: the caller adds it. */
static frost_record_t *
start_record(freezer_t *fz, Py_ssize_t self, frost_ref_t module, frost_ref_t qualname,
             uint32_t rflags)
{
    frame_t *f = &fz->frames[self];
    frost_record_t *r = arena_alloc(fz, sizeof *r, alignof(frost_record_t));
    if (r == NULL) {
        return NULL;
    }
    r->hdr.kind = FROST_NODE_RECORD;
    r->hdr.flags = rflags;   /* the kind, and FROM_FILE for a Record view of a loaded store */
    r->module = module;
    r->qualname = qualname;
    r->state = 0;
    count_object(fz, FROST_KIND_RECORD);
    f->node = r;
    f->fields_as_attrs = (rflags & FROST_RECORD_KIND_MASK) != FROST_RECORD_SHARED;
    *f->dest = frost_ref_from_node(r);
    return memo_put(&fz->memo, f->obj, *f->dest) < 0 ? NULL : r;
}

/* Record frame `self` gets `state` (any object; a fresh dict of the fields
 * for a dataclass/NamedTuple) as its one child. */
static int
record_state_child(freezer_t *fz, Py_ssize_t self, PyObject *state)
{
    frame_t *f = &fz->frames[self];
    if (alloc_children(f, 1) < 0) {
        return -1;
    }
    set_child(f, 0, state, 1);
    return 0;
}

/* The arena copy of field name `name` (an exact str), shared through the
 * memo with every other place the same str object is reached. */
static int
field_name_ref(freezer_t *fz, PyObject *name, frost_ref_t *out)
{
    memo_slot_t *hit = memo_find(&fz->memo, name);
    if (hit != NULL) {
        *out = hit->value;
        return 0;
    }
    if (copy_str(fz, name, out) < 0) {
        return -1;
    }
    return _Py_IsImmortal(name) && (PyObject *)*out == name ? 0 : memo_put(&fz->memo, name, *out);
}

/* The shared part of the field dicts of class `info`, made on its first
 * record: the entries (hash, name, value 0) and the index over them (none in
 * an unindexed arena, as new_table). */
static int
class_shape(freezer_t *fz, class_info_t *info)
{
    Py_ssize_t n = PyTuple_GET_SIZE(info->fields);
    Py_ssize_t nslots = frost__table_slots(n);
    if (nslots < 0 || n > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "frost tables hold at most 2**31-1 entries");
        return -1;
    }
    int indexed = !fz->env->unindexed;
    frost_table_t shape = {.len = n, .mask = indexed ? nslots - 1 : 0};
    shape.index = indexed ? arena_alloc(fz, (size_t)nslots * sizeof(int32_t), 64) : NULL;
    shape.entries = shape.index || !indexed ? arena_alloc(fz, (size_t)(n ? n : 1) * sizeof(frost_entry_t),
                                                          alignof(frost_entry_t)) : NULL;
    if (shape.entries == NULL) {
        return -1;
    }
    if (indexed) {
        memset(shape.index, 0xff, (size_t)nslots * sizeof(int32_t));
    }
    for (Py_ssize_t e = 0; e < n; e++) {
        shape.entries[e].hash = info->hashes[e];
        shape.entries[e].value = 0;
        if (field_name_ref(fz, PyTuple_GET_ITEM(info->fields, e), &shape.entries[e].key) < 0) {
            return -1;
        }
        if (indexed) {
            frost__table_index_entry(&shape, e);
        }
    }
    info->index = shape.index;
    info->entries = shape.entries;
    info->mask = shape.mask;
    return 0;
}

/* The field dict of a record of class `info` whose field values are
 * `values` (n new references, taken over: each slot taken is set to NULL):
 * a shaped dict node (FROST_DICT_SHAPED: the class's entries and index, the
 * values after the header), as its own frame above record frame `self`. */
static int
record_fields_child(freezer_t *fz, Py_ssize_t self, class_info_t *info, PyObject **values)
{
    Py_ssize_t n = PyTuple_GET_SIZE(info->fields);
    if (info->entries == NULL && class_shape(fz, info) < 0) {
        return -1;
    }
    frost_table_t *t = arena_alloc(fz, sizeof *t + (size_t)(n ? n : 1) * sizeof(frost_ref_t),
                                   alignof(frost_table_t));
    if (t == NULL) {
        return -1;
    }
    t->hdr.kind = FROST_NODE_DICT;
    t->hdr.flags = FROST_DICT_SHAPED;
    t->len = n;
    t->mask = info->mask;
    t->index = info->index;
    t->entries = info->entries;
    count_object(fz, FROST_KIND_DICT);
    frost_record_t *r = fz->frames[self].node;
    r->state = frost_ref_from_node(t);
    /* the dict was never a Python object: no memo entry; its frame stands on the record's */
    frame_t *f = push_frame(fz, fz->frames[self].obj, F_DICT, &r->state, self, 0);
    if (f == NULL || alloc_children(f, n) < 0) {
        return -1;
    }
    f->node = t;
    f->field_names = Py_NewRef(info->fields);
    for (Py_ssize_t e = 0; e < n; e++) {
        f->children[e] = (uintptr_t)values[e];   /* taken over; may be reached elsewhere */
        values[e] = NULL;
        f->nchildren = e + 1;
    }
    return 0;
}

/* A fresh {field: value} dict for a dataclass instance. */
static PyObject *
dataclass_state(freezer_t *fz, PyObject *o)
{
    PyObject *fields_fn = fz->env->dataclass_fields;
    PyObject *owned_fn = NULL;
    if (fields_fn == NULL) {
        PyObject *mod = PyImport_ImportModule("dataclasses");
        if (mod == NULL) {
            return NULL;
        }
        owned_fn = fields_fn = PyObject_GetAttrString(mod, "fields");
        Py_DECREF(mod);
        if (fields_fn == NULL) {
            return NULL;
        }
    }
    PyObject *fields = PyObject_CallOneArg(fields_fn, o);
    Py_XDECREF(owned_fn);
    if (fields == NULL) {
        return NULL;
    }
    PyObject *state = PyDict_New();
    PyObject *seq = state ? PySequence_Fast(fields, "dataclasses.fields() must give a sequence") : NULL;
    for (Py_ssize_t i = 0; seq && i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *name = PyObject_GetAttrString(PySequence_Fast_GET_ITEM(seq, i), "name");
        PyObject *value = name ? PyObject_GetAttr(o, name) : NULL;
        int rc = value ? PyDict_SetItem(state, name, value) : -1;
        Py_XDECREF(name);
        Py_XDECREF(value);
        if (rc < 0) {
            Py_CLEAR(state);
            break;
        }
    }
    Py_XDECREF(seq);
    Py_DECREF(fields);
    if (seq == NULL) {
        Py_CLEAR(state);
    }
    return state;
}

/* A fresh {field: value} dict for a NamedTuple instance. */
static PyObject *
namedtuple_state(PyObject *o, PyObject *fields)
{
    PyObject *names = PySequence_Fast(fields, "_fields must be a sequence");
    if (names == NULL) {
        return NULL;
    }
    PyObject *state = PyDict_New();
    Py_ssize_t n = PySequence_Fast_GET_SIZE(names);
    if (state != NULL && n != PyTuple_GET_SIZE(o)) {
        PyErr_Format(PyExc_ValueError, "'%.200s' has %zd _fields but %zd items",
                     Py_TYPE(o)->tp_name, n, PyTuple_GET_SIZE(o));
        Py_CLEAR(state);
    }
    for (Py_ssize_t i = 0; state && i < n; i++) {
        if (PyDict_SetItem(state, PySequence_Fast_GET_ITEM(names, i), PyTuple_GET_ITEM(o, i)) < 0) {
            Py_CLEAR(state);
        }
    }
    Py_DECREF(names);
    return state;
}

/* frost_freeze.h */
int
frost__type_has(PyTypeObject *tp, const char *name, PyObject **value)
{
    PyObject *key = PyUnicode_InternFromString(name);
    if (key == NULL) {
        return -1;
    }
    PyObject *v = _PyType_Lookup(tp, key);   /* borrowed; sets no error */
    Py_DECREF(key);
    if (value != NULL) {
        *value = Py_XNewRef(v);
    }
    return v != NULL;
}

/* o.__shared__(), the method found as frost__type_has finds it (bound like a
 * special method: an instance attribute or __getattribute__ does not hide
 * it). A new reference, or NULL with an exception set. */
static PyObject *
call_shared(PyObject *o)
{
    PyObject *fn = NULL;
    if (frost__type_has(Py_TYPE(o), "__shared__", &fn) <= 0) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "'%.200s' lost its __shared__", Py_TYPE(o)->tp_name);
        }
        return NULL;
    }
    descrgetfunc get = Py_TYPE(fn)->tp_descr_get;
    PyObject *bound = get ? get(fn, o, (PyObject *)Py_TYPE(o)) : Py_NewRef(fn);
    Py_DECREF(fn);
    if (bound == NULL) {
        return NULL;
    }
    PyObject *state = NULL;
    if (!PyCallable_Check(bound)) {
        PyErr_Format(PyExc_TypeError, "__shared__ of '%.200s' is not a method but '%.200s'",
                     Py_TYPE(o)->tp_name, Py_TYPE(bound)->tp_name);
    }
    else {
        state = PyObject_CallNoArgs(bound);
    }
    Py_DECREF(bound);
    return state;
}

/* Whether `o` is an Enum member (its class has enum's _member_map_): 1, 0, -1. */
static int
is_enum_member(PyObject *o)
{
    return frost__type_has(Py_TYPE(o), "_member_map_", NULL);
}

/* The field names of dataclass or NamedTuple class `cls` as a tuple with
 * their hashes (*hashes, PyMem), when they are distinct exact strs; else
 * None (the records of such a class get a dict built per record, as before).
 * NULL on error. */
static PyObject *
class_field_names(freezer_t *fz, PyObject *cls, int kind, Py_hash_t **hashes)
{
    PyObject *fields = NULL;
    if (kind == FROST_RECORD_DATACLASS) {
        PyObject *fields_fn = fz->env->dataclass_fields, *mod = NULL;
        if (fields_fn == NULL) {
            mod = PyImport_ImportModule("dataclasses");
            fields_fn = mod ? PyObject_GetAttrString(mod, "fields") : NULL;
            Py_XDECREF(mod);
            if (fields_fn == NULL) {
                return NULL;
            }
            fields = PyObject_CallOneArg(fields_fn, cls);
            Py_DECREF(fields_fn);
        }
        else {
            fields = PyObject_CallOneArg(fields_fn, cls);
        }
    }
    else {
        fields = PyObject_GetAttrString(cls, "_fields");
    }
    PyObject *seq = fields ? PySequence_Fast(fields, "fields must be a sequence") : NULL;
    Py_XDECREF(fields);
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *names = PyTuple_New(n);
    PyObject *seen = names ? PySet_New(NULL) : NULL;
    *hashes = seen ? PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Py_hash_t)) : NULL;
    int plain = *hashes != NULL;
    if (seen != NULL && *hashes == NULL) {
        PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; plain && i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *name = kind == FROST_RECORD_DATACLASS ? PyObject_GetAttrString(item, "name")
                                                        : Py_NewRef(item);
        if (name == NULL) {
            plain = 0;
            break;
        }
        PyTuple_SET_ITEM(names, i, name);
        int dup = PyUnicode_CheckExact(name) ? PySet_Contains(seen, name) : 1;
        if (dup != 0 || PySet_Add(seen, name) < 0) {
            plain = 0;
            if (dup > 0) {   /* not a plain name: fall back, not an error */
                Py_CLEAR(names);
                names = Py_NewRef(Py_None);
            }
            break;
        }
        (*hashes)[i] = PyObject_Hash(name);   /* cached in the str */
    }
    Py_DECREF(seq);
    Py_XDECREF(seen);
    if (!plain && names != Py_None) {
        Py_CLEAR(names);
    }
    if (names == NULL || names == Py_None) {
        PyMem_Free(*hashes);
        *hashes = NULL;
    }
    return names;
}

/* What kind of record objects of type(o) are (-1: none), with the arena
 * copies of the class's names: class_info_t, read once per class while the
 * type is unmodified. NULL on error (path noted). */
static class_info_t *
class_info(freezer_t *fz, PyObject *o, Py_ssize_t parent, Py_ssize_t idx)
{
    PyTypeObject *tp = Py_TYPE(o);
    memo_slot_t *known = memo_find(&fz->classes, (PyObject *)tp);
    class_info_t *info = known ? &fz->class_infos[known->value] : NULL;
    if (info != NULL && info->version != 0 && info->version == tp->tp_version_tag) {
        return info;
    }
    unsigned int version = tp->tp_version_tag;
    class_info_t fresh = {.kind = -1};
    int rc;
    PyObject *shared = NULL;
    if ((rc = frost__type_has(tp, "__shared__", &shared)) != 0) {
        /* __shared__ = None says the objects are not to be shared, as
         * __hash__ = None makes them unhashable: no record (cannot_freeze) */
        fresh.kind = shared == Py_None ? -1 : FROST_RECORD_SHARED;
        Py_XDECREF(shared);
    }
    /* an Enum member whose class mixes in a dataclass or NamedTuple is no
     * record: its class cannot be called with fields (thaw failed with a
     * TypeError); refused as every other Enum member is */
    else if ((rc = is_enum_member(o)) != 0) {
    }
    else if ((rc = frost__type_has(tp, "__dataclass_fields__", NULL)) != 0 && !PyType_Check(o)) {
        fresh.kind = FROST_RECORD_DATACLASS;
    }
    else if (PyTuple_Check(o) && (rc = frost__type_has(tp, "_fields", NULL)) != 0) {
        fresh.kind = FROST_RECORD_NAMEDTUPLE;
    }
    if (rc >= 0) {
        rc = fresh.columns = frost__columns_type_is_candidate(tp);
    }
    if (rc < 0) {
        note_path(fz, parent, idx);
        return NULL;
    }
    if (fresh.kind >= 0) {
        PyObject *module = PyObject_GetAttrString((PyObject *)tp, "__module__");
        PyObject *qualname = module ? PyObject_GetAttrString((PyObject *)tp, "__qualname__") : NULL;
        if (qualname == NULL) {
            Py_XDECREF(module);
            note_path(fz, parent, idx);
            return NULL;
        }
        rc = name_ref(fz, module, o, parent, idx, &fresh.module) < 0
             || name_ref(fz, qualname, o, parent, idx, &fresh.qualname) < 0 ? -1 : 0;
        Py_DECREF(module);
        Py_DECREF(qualname);
        if (rc < 0) {
            return NULL;
        }
        if (fresh.kind != FROST_RECORD_SHARED) {
            fresh.fields = class_field_names(fz, (PyObject *)tp, fresh.kind, &fresh.hashes);
            if (fresh.fields == NULL) {
                PyErr_Clear();   /* the per-record path raises it again, where it always did */
            }
            else if (fresh.fields == Py_None) {
                Py_CLEAR(fresh.fields);
            }
        }
    }
    /* cache it only if nothing modified the type meanwhile */
    fresh.version = version == tp->tp_version_tag ? version : 0;
    if (info == NULL) {
        class_info_t *infos = PyMem_Realloc(fz->class_infos, (fz->nclass_infos + 1) * sizeof *infos);
        if (infos == NULL || memo_put(&fz->classes, (PyObject *)tp, (frost_ref_t)fz->nclass_infos) < 0) {
            if (infos == NULL) {
                PyErr_NoMemory();
            }
            else {
                fz->class_infos = infos;
            }
            Py_XDECREF(fresh.fields);
            PyMem_Free(fresh.hashes);
            return NULL;
        }
        fz->class_infos = infos;
        info = &infos[fz->nclass_infos++];
    }
    else {
        Py_XDECREF(info->fields);
        PyMem_Free(info->hashes);
    }
    *info = fresh;
    return info;
}

/* Record frames for objects that describe themselves (`info`: class_info of
 * type(o), unused for frost's record views). 1 started, 0 not a record, -1
 * error. */
static int
try_start_record(freezer_t *fz, PyObject *o, class_info_t *info, frost_ref_t *dest, Py_ssize_t parent,
                 Py_ssize_t idx)
{
    const frost_freeze_env_t *env = fz->env;
    PyObject *state = NULL;
    frost_ref_t module, qualname;
    int rkind;

    if ((env->record_view_type && (Py_TYPE(o) == env->record_view_type
                                   || Py_TYPE(o)->tp_base == env->record_view_type))
        || (env->mapped_record_type && Py_TYPE(o) == env->mapped_record_type)) {
        PyObject *mod_name = NULL, *qual_name = NULL;
        if (env->record_parts(o, &mod_name, &qual_name, &rkind, &state) < 0) {
            return note_path(fz, parent, idx);
        }
        int rc = name_ref(fz, mod_name, o, parent, idx, &module) < 0
                 || name_ref(fz, qual_name, o, parent, idx, &qualname) < 0 ? -1 : 0;
        Py_DECREF(mod_name);
        Py_DECREF(qual_name);
        if (rc < 0) {
            Py_DECREF(state);
            return -1;
        }
    }
    else {
        if (info->kind < 0) {
            return 0;
        }
        rkind = info->kind;
        module = info->module;
        qualname = info->qualname;
        if (info->fields != NULL) {   /* a dataclass or NamedTuple of plain field names */
            Py_ssize_t n = PyTuple_GET_SIZE(info->fields);
            if (rkind == FROST_RECORD_NAMEDTUPLE && n != PyTuple_GET_SIZE(o)) {
                PyErr_Format(PyExc_ValueError, "'%.200s' has %zd _fields but %zd items",
                             Py_TYPE(o)->tp_name, n, PyTuple_GET_SIZE(o));
                return note_path(fz, parent, idx);
            }
            PyObject **values = PyMem_Calloc((size_t)(n ? n : 1), sizeof *values);
            if (values == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            int rc = 0;
            for (Py_ssize_t e = 0; e < n && rc == 0; e++) {
                values[e] = rkind == FROST_RECORD_NAMEDTUPLE
                            ? Py_NewRef(PyTuple_GET_ITEM(o, e))
                            : PyObject_GetAttr(o, PyTuple_GET_ITEM(info->fields, e));
                rc = values[e] == NULL ? note_path(fz, parent, idx) : 0;
            }
            /* the class may have changed under the getattrs (user code): `info` is
             * still this freeze's (class_infos only grows in class_info) */
            frame_t *f = rc == 0 ? push_frame(fz, o, F_RECORD, dest, parent, idx) : NULL;
            if (f == NULL || start_record(fz, fz->depth - 1, module, qualname, (uint32_t)rkind) == NULL
                || record_fields_child(fz, fz->depth - 1, info, values) < 0) {
                rc = -1;
            }
            for (Py_ssize_t e = 0; e < n; e++) {   /* those not taken over (an error) */
                Py_XDECREF(values[e]);
            }
            PyMem_Free(values);
            return rc < 0 ? -1 : 1;
        }
        if (rkind == FROST_RECORD_SHARED) {
            state = call_shared(o);
            if (state == NULL) {
                return note_path(fz, parent, idx);
            }
            if (state == o) {
                Py_DECREF(state);
                return freeze_error(fz, parent, idx, "__shared__() of '%.200s' returned the object itself",
                                    Py_TYPE(o)->tp_name);
            }
        }
        else if (rkind == FROST_RECORD_DATACLASS) {
            state = dataclass_state(fz, o);
        }
        else {
            PyObject *fields = NULL;
            int rc = frost__type_has(Py_TYPE(o), "_fields", &fields);
            state = rc > 0 ? namedtuple_state(o, fields) : NULL;
            Py_XDECREF(fields);
            if (rc == 0) {
                PyErr_Format(PyExc_TypeError, "'%.200s' lost its _fields", Py_TYPE(o)->tp_name);
            }
        }
        if (state == NULL) {
            return note_path(fz, parent, idx);
        }
    }
    int rc = -1;
    frame_t *f = push_frame(fz, o, F_RECORD, dest, parent, idx);
    if (f != NULL && start_record(fz, fz->depth - 1, module, qualname, (uint32_t)rkind) != NULL) {
        rc = record_state_child(fz, fz->depth - 1, state) < 0 ? -1 : 1;
    }
    Py_DECREF(state);
    return rc;
}

/* What a tuple's items are: only leaves (copied at once, no frame); leaves,
 * numpy scalars and tuples (a plain tuple or a node: known only after its
 * items); or an
 * item that can only become a node (the tuple surely becomes a node). */
typedef enum { TUPLE_OF_LEAVES, TUPLE_OF_PLAIN, TUPLE_OF_CONTAINERS } tuple_items_t;

static tuple_items_t
tuple_items(PyObject *t)
{
    tuple_items_t what = TUPLE_OF_LEAVES;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *item = PyTuple_GET_ITEM(t, i);
        if (is_leaf(item)) {
            continue;
        }
        if (Py_TYPE(item) != &PyTuple_Type && !is_numpy_scalar_type(Py_TYPE(item))) {
            return TUPLE_OF_CONTAINERS;
        }
        what = TUPLE_OF_PLAIN;
    }
    return what;
}

/* Start a list-like frame over the items of `items` (a list we may borrow from). */
static int
start_list(freezer_t *fz, PyObject *o, PyObject *items, int exact, frost_ref_t *dest,
           Py_ssize_t parent, Py_ssize_t idx)
{
    int packed = try_pack_list(fz, items, dest);
    if (packed != 0) {
        if (packed > 0 && memo_put(&fz->memo, o, *dest) < 0) {
            return -1;
        }
        return packed < 0 ? -1 : 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    frost_seq_t *s = new_seq(fz, FROST_NODE_LIST, FROST_SEQ_REFS, n);
    frame_t *f = s ? push_frame(fz, o, F_LIST, dest, parent, idx) : NULL;
    if (f == NULL || alloc_children(f, n) < 0) {
        return -1;
    }
    f->node = s;
    *dest = frost_ref_from_node(s);
    if (memo_put(&fz->memo, o, *dest) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        set_child(f, i, PyList_GET_ITEM(items, i), exact);
    }
    return 1;
}

/* A table node from an object exporting the Arrow PyCapsule interface
 * (store/columns_py.c). 1 done, 0 not an Arrow exporter, -1 error set. */
static int
freeze_columns(freezer_t *fz, PyObject *o, Py_ssize_t parent, Py_ssize_t idx, frost_ref_t *dest)
{
    char err[FROST_COL_ERRLEN];
    frost_columns_t *node = NULL;
    window_close(fz);   /* it allocates in the arena itself */
    int rc = frost__columns_freeze(o, fz->arena, &node, err, sizeof err);
    if (rc == -2) {
        return freeze_error(fz, parent, idx, "cannot freeze '%.200s' as a table: %s",
                            Py_TYPE(o)->tp_name, err);
    }
    if (rc < 0) {
        return note_path(fz, parent, idx);
    }
    if (rc > 0) {
        count_object(fz, FROST_KIND_TABLE);
        *dest = frost_ref_from_node(node);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* tuple nesting (FROST_MAX_TUPLE_DEPTH)                                     */

static int
too_deep(freezer_t *fz, Py_ssize_t parent, Py_ssize_t idx)
{
    return freeze_error(fz, parent, idx, "tuples nested deeper than %d levels (CPython "
                        "hashes, compares and prints tuples recursively)", FROST_MAX_TUPLE_DEPTH);
}

/* A frozen tuple `height` levels deep (its memo slot in fz->heights, or
 * NULL: one level) is child `idx` of frame `parent`: check the nesting and
 * tell the parent. The frames of tuples count their depth on the way down;
 * a tuple met again through the memo brings its height along. */
static int
tuple_reached(freezer_t *fz, Py_ssize_t parent, Py_ssize_t idx, const memo_slot_t *height_slot)
{
    frame_t *p = &fz->frames[parent];
    int height = height_slot ? (int)height_slot->value : 1;
    if (p->tuple_depth == 0) {
        return 0;
    }
    if (p->tuple_depth + height > FROST_MAX_TUPLE_DEPTH) {
        return too_deep(fz, parent, idx);
    }
    if (height > p->child_height) {
        p->child_height = height;
    }
    return 0;
}

/* Tuple frame `self` is done: remember its height if it may be met again. */
static int
tuple_finished(freezer_t *fz, Py_ssize_t self)
{
    frame_t *f = &fz->frames[self];
    int height = f->child_height + 1;
    if (height > 1 && memo_find(&fz->memo, f->obj) != NULL
        && memo_put(&fz->heights, f->obj, (frost_ref_t)height) < 0) {
        return -1;
    }
    if (f->parent >= 0 && fz->frames[f->parent].child_height < height) {
        fz->frames[f->parent].child_height = height;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* visiting one object                                                       */

/* A tuple of only leaves, copied at once, items and all, with no frame (the
 * common row-like tuple): one level high, never in a cycle. */
static int
copy_leaf_tuple(freezer_t *fz, PyObject *o, int unshared, Py_ssize_t parent, frost_ref_t *dest)
{
    Py_ssize_t n = PyTuple_GET_SIZE(o);
    PyTupleObject *t = new_tuple(fz, n);
    if (t == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(o, i);   /* the tuple (held by our parent) holds it */
        frost_ref_t ref;
        if (count_visit(fz) < 0 || visit_leaf(fz, item, Py_REFCNT(item) == 1, &ref) != 0) {
            return -1;   /* (a leaf never answers 1) */
        }
        t->ob_item[i] = frost_ref_object(ref);
    }
    *dest = tuple_filled(fz, t);
    if (parent >= 0 && fz->frames[parent].child_height < 1) {   /* as tuple_finished */
        fz->frames[parent].child_height = 1;
    }
    return !unshared && memo_put(&fz->memo, o, *dest) < 0 ? -1 : 0;
}

/* Visit exact tuple `o` (counted already); returns as visit. */
static int
visit_tuple(freezer_t *fz, PyObject *o, int unshared, Py_ssize_t parent, Py_ssize_t idx,
            frost_ref_t *dest)
{
    if (!unshared) {
        memo_slot_t *hit = memo_find(&fz->memo, o);
        if (hit != NULL) {
            if (hit->value == REF_PENDING) {
                return freeze_error(fz, parent, idx, "reference cycle through a tuple "
                                    "(cycles must pass through dicts, lists or records only)");
            }
            if (parent >= 0 && tuple_reached(fz, parent, idx, memo_find(&fz->heights, o)) < 0) {
                return -1;
            }
            *dest = hit->value;
            return 0;
        }
    }
    Py_ssize_t n = PyTuple_GET_SIZE(o);
    if (n == 0) {
        *dest = frost_ref_from_object(o);   /* the static empty tuple */
        return 0;
    }
    int tuple_depth = (parent >= 0 ? fz->frames[parent].tuple_depth : 0) + 1;
    if (tuple_depth > FROST_MAX_TUPLE_DEPTH) {
        return too_deep(fz, parent, idx);
    }
    tuple_items_t items = tuple_items(o);
    if (items == TUPLE_OF_LEAVES) {
        return copy_leaf_tuple(fz, o, unshared, parent, dest);
    }
    if (items == TUPLE_OF_CONTAINERS) {
        /* surely a tuple node: make it now, like a list, so cycles work */
        frost_seq_t *s = new_seq(fz, FROST_NODE_TUPLE, FROST_SEQ_REFS, n);
        frame_t *f = s ? push_frame(fz, o, F_LIST, dest, parent, idx) : NULL;
        if (f == NULL || alloc_children(f, n) < 0) {
            return -1;
        }
        f->node = s;
        f->tuple_depth = tuple_depth;
        *dest = frost_ref_from_node(s);
        if (!unshared && memo_put(&fz->memo, o, *dest) < 0) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            set_child(f, i, PyTuple_GET_ITEM(o, i), 1);
        }
        return 1;
    }
    frame_t *f = push_frame(fz, o, F_TUPLE, dest, parent, idx);
    if (f == NULL || alloc_children(f, n) < 0) {
        return -1;
    }
    f->tuple_depth = tuple_depth;
    f->tmp = PyMem_Calloc((size_t)n, sizeof(frost_ref_t));
    if (f->tmp == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        set_child(f, i, PyTuple_GET_ITEM(o, i), 1);
    }
    if (!unshared && memo_put(&fz->memo, o, REF_PENDING) < 0) {
        return -1;
    }
    return 1;
}

/* The first view met of the node view `o` shows (borrowed: fz->views holds
 * it), `o` itself when it is that first one or no view (env->view_node);
 * NULL on error. */
static PyObject *
first_view(freezer_t *fz, PyObject *o)
{
    const void *node = fz->env->view_node ? fz->env->view_node(fz->env->view_ctx, o) : NULL;
    if (node == NULL) {
        return o;
    }
    if (fz->views == NULL && (fz->views = PyDict_New()) == NULL) {
        return NULL;
    }
    PyObject *key = PyLong_FromVoidPtr((void *)node);
    PyObject *first = key ? PyDict_SetDefault(fz->views, key, o) : NULL;   /* borrowed */
    Py_XDECREF(key);
    return first;
}

/*
 * Freeze `o`, reached as child `idx` of frame `parent`, into *dest.
 * Returns 0 when *dest is written, 1 when a frame was pushed (its children
 * come next; containers write *dest at once, tuples when they finish), -1 on
 * error.
 */
static int
visit(freezer_t *fz, PyObject *o, int unshared, Py_ssize_t parent, Py_ssize_t idx, frost_ref_t *dest)
{
    if (count_visit(fz) < 0) {
        return -1;
    }
    PyTypeObject *tp = Py_TYPE(o);
    if (tp == &PyTuple_Type) {
        return visit_tuple(fz, o, unshared, parent, idx, dest);
    }
    int rc = visit_leaf(fz, o, unshared, dest);
    if (rc <= 0) {
        return rc;
    }
    /* a view of a node met before: the memo knows its first view. Also for an
     * unshared view (a fresh view object, as a record view's state is): the
     * object is new, its node may not be (a cycle through records froze for
     * ever). The builtin containers are never views. */
    if (tp != &PyDict_Type && tp != &PyList_Type && tp != &PySet_Type && tp != &PyFrozenSet_Type) {
        PyObject *first = first_view(fz, o);
        if (first == NULL) {
            return note_path(fz, parent, idx);
        }
        if (first != o) {
            memo_slot_t *hit = memo_find(&fz->memo, first);
            if (hit != NULL) {
                *dest = hit->value;
                return 0;
            }
            o = first;
        }
    }
    if (tp == &PyDict_Type) {
        if (push_frame(fz, o, F_DICT, dest, parent, idx) == NULL) {
            return -1;
        }
        return start_table(fz, fz->depth - 1, FROST_NODE_DICT, o, PyDict_GET_SIZE(o), 1, 1) < 0 ? -1 : 1;
    }
    if (tp == &PyList_Type) {
        return start_list(fz, o, o, 1, dest, parent, idx);
    }
    int set_view = (fz->env->set_view_type && tp == fz->env->set_view_type)
                   || (fz->env->mapped_set_type && tp == fz->env->mapped_set_type);
    if (tp == &PySet_Type || tp == &PyFrozenSet_Type || set_view) {
        PyObject *items = PySequence_List(o);
        if (items == NULL) {
            return note_path(fz, parent, idx);
        }
        frame_t *f = push_frame(fz, o, F_SET, dest, parent, idx);
        rc = f ? start_table(fz, fz->depth - 1, FROST_NODE_SET, items, PyList_GET_SIZE(items), 0,
                             !set_view) : -1;
        if (rc == 0 && tp == &PyFrozenSet_Type) {
            ((frost_set_t *)fz->frames[fz->depth - 1].node)->hdr.flags |= FROST_SET_WAS_FROZENSET;
        }
        Py_DECREF(items);
        return rc < 0 ? -1 : 1;
    }
    if ((fz->env->list_view_type && tp == fz->env->list_view_type)
        || (fz->env->mapped_list_type && tp == fz->env->mapped_list_type)) {
        PyObject *items = PySequence_List(o);
        if (items == NULL) {
            return note_path(fz, parent, idx);
        }
        rc = start_list(fz, o, items, 0, dest, parent, idx);
        Py_DECREF(items);
        return rc;
    }
    if (is_numpy_scalar_type(tp)) {
        return visit_numpy_scalar(fz, o, unshared, parent, idx, dest);
    }
    class_info_t *info = class_info(fz, o, parent, idx);   /* cached per class */
    if (info == NULL) {
        return -1;
    }
    if (info->columns) {   /* the Arrow interface wins over the rest */
        rc = freeze_columns(fz, o, parent, idx, dest);
        if (rc != 0) {
            if (rc > 0 && !unshared && memo_put(&fz->memo, o, *dest) < 0) {
                return -1;
            }
            return rc < 0 ? -1 : 0;
        }
    }
    rc = try_start_record(fz, o, info, dest, parent, idx);
    if (rc != 0) {
        return rc;
    }
    if (!PyLong_Check(o) && !PyUnicode_Check(o) && !PyTuple_Check(o) && !PyBytes_Check(o)
        && !PyFloat_Check(o) && !PyList_Check(o)) {
        /* a Mapping by its type, or only by what its __class__ says (a proxy) */
        int by_type = PyObject_IsSubclass((PyObject *)tp, fz->env->mapping_abc);
        rc = by_type != 0 ? by_type : PyObject_IsInstance(o, fz->env->mapping_abc);
        if (rc < 0) {
            return note_path(fz, parent, idx);
        }
        if (rc > 0) {
            PyObject *items = PyMapping_Items(o);
            if (items == NULL && !by_type && (PyErr_ExceptionMatches(PyExc_AttributeError)
                                              || PyErr_ExceptionMatches(PyExc_TypeError))) {
                /* `__class__ = dict` with no items(): a bare AttributeError before */
                PyObject *exc = PyErr_GetRaisedException();
                PyObject *cls = PyObject_GetAttrString(o, "__class__");
                PyErr_Clear();
                freeze_error(fz, parent, idx, "cannot freeze object of type '%.200s' (its "
                             "__class__ says %R, a Mapping, but items() failed: %S)",
                             tp->tp_name, cls ? cls : Py_None, exc);
                Py_XDECREF(cls);
                Py_DECREF(exc);
                return -1;
            }
            if (items == NULL) {
                return note_path(fz, parent, idx);
            }
            frame_t *f = push_frame(fz, o, F_DICT, dest, parent, idx);
            rc = f ? start_table(fz, fz->depth - 1, FROST_NODE_DICT, items, PyList_GET_SIZE(items), 0, 0) : -1;
            Py_DECREF(items);
            return rc < 0 ? -1 : 1;
        }
        PyTypeObject *numpy_base = numpy_scalar_base(tp);
        if (numpy_base != NULL) {
            return freeze_error(fz, parent, idx, "cannot freeze object of type '%.200s' (a "
                                "subclass of %.200s: only numpy's own scalar types are "
                                "frozen; x.item() converts it)", tp->tp_name,
                                numpy_base->tp_name);
        }
        if (PyObject_CheckBuffer(o)) {
            rc = copy_buffer(fz, o, parent, idx, dest);
            if (rc > 0 && !unshared && memo_put(&fz->memo, o, *dest) < 0) {
                return -1;
            }
            return rc < 0 ? -1 : 0;
        }
    }
    return cannot_freeze(fz, parent, idx, o);
}

/* Where child `i` of frame `f` goes. */
static frost_ref_t *
child_dest(frame_t *f, Py_ssize_t i)
{
    switch (f->kind) {
    case F_DICT: {
        if (f->field_names != NULL) {   /* the values after a shaped dict's header */
            return &((frost_ref_t *)((frost_table_t *)f->node + 1))[i];
        }
        frost_entry_t *e = &((frost_table_t *)f->node)->entries[i / 2];
        return i % 2 == 0 ? &e->key : &e->value;
    }
    case F_SET: {
        frost_set_t *s = f->node;
        return &s->slots[s->order[i]].key;
    }
    case F_LIST:
        return &((frost_seq_t *)f->node)->items.refs[i];
    case F_TUPLE:
        return &f->tmp[i];
    case F_RECORD:
        return &((frost_record_t *)f->node)->state;
    }
    return NULL;
}

/* All children of the top frame are done: finish its node. */
static int
finish_frame(freezer_t *fz, Py_ssize_t self)
{
    frame_t *f = &fz->frames[self];
    if (f->kind == F_DICT || f->kind == F_SET) {
        Py_ssize_t len = f->kind == F_DICT ? ((frost_table_t *)f->node)->len : ((frost_set_t *)f->node)->len;
        Py_ssize_t stride = f->kind == F_DICT ? 2 : 1;
        /* keys that were not all leaves (tuples, or a frame start_table did not
         * make): check each is not a node now, and look for NaNs in them */
        int nan_keys = f->nan_keys;
        for (Py_ssize_t e = 0; !f->leaf_keys && e < len; e++) {
            /* a dict's keys from its entries (a record's shaped dict: the class's field
             * names, shared: never nodes), a set's items from its slots */
            frost_ref_t key = f->kind == F_DICT ? ((frost_table_t *)f->node)->entries[e].key
                                                : frost_set_item((frost_set_t *)f->node, e);
            if (frost_ref_is_node(key)) {
                return freeze_error(fz, self, e * stride, "%s must be a plain immutable, "
                                    "not a tuple holding a container",
                                    f->kind == F_DICT ? "dict key" : "set item");
            }
            nan_keys = nan_keys || frost__key_holds_nan(frost_ref_object(key));
        }
        /* NaN keys were laid out by their source objects' addresses: now by their
         * arena copies', which lookups see (frost__key_hash) */
        if (nan_keys && f->kind == F_DICT && f->field_names == NULL) {
            frost_table_t *t = f->node;
            if (frost__table_rehash(t, fz->env->unindexed ? NULL : t->index, check_ctx, fz) < 0) {
                return -1;
            }
        }
        /* an unindexed set's slots are its items in order, nothing to probe (and
         * no empty slot to place into): its hashes are never read */
        if (nan_keys && f->kind == F_SET && !fz->env->unindexed) {
            frost_set_t *s = f->node;
            if (frost__set_rehash(s, s->order, check_ctx, fz) < 0) {
                return -1;
            }
        }
    }
    else if (f->kind == F_TUPLE) {
        Py_ssize_t n = f->nchildren;
        int plain = 1;
        for (Py_ssize_t i = 0; i < n; i++) {
            plain &= !frost_ref_is_node(f->tmp[i]);
        }
        if (plain) {
            if (build_tuple(fz, f->tmp, n, f->dest) < 0) {
                return -1;
            }
        }
        else {
            frost_seq_t *s = new_seq(fz, FROST_NODE_TUPLE, FROST_SEQ_REFS, n);
            if (s == NULL) {
                return -1;
            }
            memcpy(s->items.refs, f->tmp, (size_t)n * sizeof(frost_ref_t));
            *f->dest = frost_ref_from_node(s);
        }
        if (memo_find(&fz->memo, f->obj) && memo_put(&fz->memo, f->obj, *f->dest) < 0) {
            return -1;
        }
    }
    if (f->tuple_depth > 0) {
        return tuple_finished(fz, self);
    }
    return 0;
}

int
frost_freeze(PyObject *obj, frost_arena_t *arena, const frost_freeze_env_t *env, uintptr_t *root)
{
    freezer_t fz = {.arena = arena, .env = env};
    frost_ref_t result = 0;
    int rc = visit(&fz, obj, 0, -1, 0, &result);
    while (rc >= 0 && fz.depth > 0) {
        Py_ssize_t top = fz.depth - 1;
        frame_t *f = &fz.frames[top];
        if (f->next < f->nchildren) {
            Py_ssize_t i = f->next;
            f->next += f->keys_frozen ? 2 : 1;
            uintptr_t tagged = f->children[i];
            rc = visit(&fz, child_object(tagged), (int)(tagged & CHILD_UNSHARED), top, i, child_dest(f, i));
            continue;
        }
        rc = finish_frame(&fz, top);
        frame_release(&fz.frames[top]);
        fz.depth--;
    }
    while (fz.depth > 0) {   /* error: unwind */
        frame_release(&fz.frames[--fz.depth]);
    }
    window_close(&fz);
    PyMem_Free(fz.frames);
    for (int kind = 0; kind < FROST_KIND_COUNT; kind++) {
        frost_arena_count_n(arena, (frost_kind_t)kind, fz.counts[kind]);
    }
    memo_clear(&fz.memo);
    for (size_t i = 0; i < fz.nclass_infos; i++) {
        Py_XDECREF(fz.class_infos[i].fields);
        PyMem_Free(fz.class_infos[i].hashes);
    }
    PyMem_Free(fz.class_infos);
    memo_clear(&fz.classes);
    Py_XDECREF(fz.names);
    Py_XDECREF(fz.views);
    Py_XDECREF(fz.nan_values);
    if (rc >= 0 && env->progress != NULL && env->progress(env->progress_ctx, fz.visits, 1) < 0) {
        rc = -1;
    }
    memo_clear(&fz.heights);
    if (rc < 0) {
        return -1;
    }
    *root = result;
    return 0;
}
