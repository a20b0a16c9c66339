/*
 * view_table.c -- frost.Table and frost.Column: views of a table node
 * (store/frost_columns.h); frost.MappedTable and frost.MappedColumn: the same
 * views of a format-2 image's COLUMNS node (store/frost_map.h), one code.
 *
 * Every read goes through a checked blob (colsrc_t.blob): the arena's, or the
 * image's pin (view_mapped.c checked it with frost_map_columns_check before
 * making the view). What differs is only what keeps it alive (the Lease, or
 * the MapImage) and how a whole table pickles (a store reference, or the
 * image's handle and the node's offset).
 *
 * Two ways in:
 *   - the Arrow PyCapsule interface (__arrow_c_schema__, __arrow_c_array__,
 *     __arrow_c_stream__): the exported structs point into the blob, so
 *     pyarrow, pandas and polars build their tables without copying a buffer.
 *     Every exported struct (and each child, which a consumer may move out
 *     and release on its own) holds one reference on what keeps the blob (a
 *     frost_keep_t: the frost_store_t, or the image's pin); its release
 *     callback drops it and touches no Python object, so consumers may
 *     release from any thread, after the view, its Lease or MapImage and the
 *     Store handle are gone.
 *   - plain Python, where those libraries cannot load (subinterpreters):
 *     len, column_names, schema, view["col"] / view.column(i) (a Column:
 *     a sequence of Python values, None for nulls), view.row(i), slicing rows,
 *     frost.thaw(view) -> {name: list}.
 *
 * A Table view is a window [start, start + len) of the node's rows; a Column
 * is a window (start, step, len) of one column. The blob was checked when it
 * was made (frost__colblob_check), so reads index it without bounds checks.
 * A window pickles as the whole table indexed again by the receiver
 * (reduce_getitem), through the same checked subscript.
 *
 * Python values: bool, int ((u)int8-64; temporal, decimal and interval types
 * as their raw little-endian integer), float (float16-64), str, bytes
 * (binary, fixed_size_binary), list (list, large_list, fixed_size_list),
 * dict (struct), list of (key, value) tuples (map); dictionary columns give
 * the dictionary's value.
 */
#include "views.h"
#include "frost_columns.h"
#include "frost_map_read.h"

#include <stdlib.h>
#include <string.h>

/* Where a view's rows live. Every read goes through `blob`; the rest says
 * what keeps it alive and how the view pickles. */
typedef struct {
    const char *blob;            /* a checked column blob */
    frost_keep_t keep;           /* what an export holds: the lease's store, or the image's pin
                                    (the view itself holds its lease, or its image, which holds the pin) */
    PyObject *image;             /* MappedTable/MappedColumn: the MapImage (strong); NULL: arena */
    frost_state *st;
    const frost_columns_t *node; /* arena: the node (pickling, the format-2 writer) */
    uint64_t offset;             /* mapped: the node's image offset (pickling) */
} colsrc_t;

typedef struct {
    FROST_VIEW_HEAD              /* lease: arena views; NULL for the mapped ones */
    colsrc_t src;
    int64_t start;               /* first row of this window */
    int64_t len;
} FrostTableView;

typedef struct {
    FROST_VIEW_HEAD
    colsrc_t src;
    int64_t column;              /* index among the root's children */
    int64_t start;               /* first row */
    int64_t step;                /* != 0 */
    int64_t len;
} FrostColumnView;

#define TV(o) ((FrostTableView *)(o))
#define CV(o) ((FrostColumnView *)(o))

static const frost_colblob_header_t *
header(const char *blob)
{
    return frost__colblob_header(blob);
}

static const frost_colschema_t *
root_schema(const char *blob)
{
    return frost__colschema(blob, header(blob)->schema);
}

static int64_t
num_columns(const char *blob)
{
    return root_schema(blob)->n_children;
}

static uint64_t
column_schema(const char *blob, int64_t i)
{
    return frost__colchild(blob, root_schema(blob)->children, i);
}

static const char *
column_name(const char *blob, int64_t i)
{
    return frost__colstr(blob, frost__colschema(blob, column_schema(blob, i))->name);
}

/* The array of column `col` in `chunk`. */
static uint64_t
column_array(const char *blob, uint64_t chunk, int64_t col)
{
    uint64_t root = frost__colchild(blob, header(blob)->chunks, (int64_t)chunk);
    return frost__colchild(blob, frost__colarray(blob, root)->children, col);
}

/* ------------------------------------------------------------------------ */
/* Python values                                                             */

static int64_t
read_int(const uint8_t *p, int64_t width, int is_signed)
{
    switch (width) {
    case 1: return is_signed ? (int64_t)*(const int8_t *)p : (int64_t)*p;
    case 2: { int16_t s; uint16_t u; memcpy(&s, p, 2); memcpy(&u, p, 2); return is_signed ? s : u; }
    case 4: { int32_t s; uint32_t u; memcpy(&s, p, 4); memcpy(&u, p, 4); return is_signed ? s : (int64_t)u; }
    default: { int64_t s; memcpy(&s, p, 8); return s; }
    }
}

static int64_t
read_offset(const char *blob, const frost_colarray_t *a, int64_t width, int64_t i)
{
    return read_int((const uint8_t *)frost__colbuf(blob, a, 1) + width * i, width, 1);
}

static PyObject *value_at(const char *blob, uint64_t soff, uint64_t aoff, int64_t j);

static PyObject *
child_value(const char *blob, const frost_colschema_t *s, const frost_colarray_t *a, int64_t i, int64_t j)
{
    return value_at(blob, frost__colchild(blob, s->children, i), frost__colchild(blob, a->children, i), j);
}

/* Items [from, to) of child 0 as a list (maps: (key, value) tuples). */
static PyObject *
child_items(const char *blob, const frost_colschema_t *s, const frost_colarray_t *a, int64_t from,
            int64_t to, int map)
{
    PyObject *list = PyList_New(to - from);
    uint64_t cs = frost__colchild(blob, s->children, 0), ca = frost__colchild(blob, a->children, 0);
    const frost_colschema_t *es = frost__colschema(blob, cs);
    const frost_colarray_t *ea = frost__colarray(blob, ca);
    for (int64_t k = from; list != NULL && k < to; k++) {
        PyObject *item;
        if (map) {
            int64_t phys = ea->offset + k;
            PyObject *key = child_value(blob, es, ea, 0, phys);
            PyObject *value = key ? child_value(blob, es, ea, 1, phys) : NULL;
            item = value ? PyTuple_Pack(2, key, value) : NULL;
            Py_XDECREF(key);
            Py_XDECREF(value);
        }
        else {
            item = value_at(blob, cs, ca, k);
        }
        if (item == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, k - from, item);
    }
    return list;
}

/* The value of item `j` (0 <= j < length) of the array at `aoff`. */
static PyObject *
value_at(const char *blob, uint64_t soff, uint64_t aoff, int64_t j)
{
    const frost_colschema_t *s = frost__colschema(blob, soff);
    const frost_colarray_t *a = frost__colarray(blob, aoff);
    const char *format = frost__colstr(blob, s->format);
    frost_colfmt_t fmt;
    (void)frost__colfmt_parse(format, &fmt);
    int64_t i = a->offset + j;
    if (fmt.kind == FROST_COL_NULL) {
        Py_RETURN_NONE;
    }
    const void *validity = frost__colbuf(blob, a, 0);
    if (validity != NULL && !frost__colbit(validity, i)) {
        Py_RETURN_NONE;
    }
    const uint8_t *values = a->n_buffers > 1 ? frost__colbuf(blob, a, 1) : NULL;
    if (s->dictionary != 0) {
        int64_t k = read_int(values + fmt.width * i, fmt.width, fmt.kind == FROST_COL_INT);
        return value_at(blob, s->dictionary, a->dictionary, k);
    }
    switch (fmt.kind) {
    case FROST_COL_BOOL:
        return PyBool_FromLong(frost__colbit(values, i));
    case FROST_COL_INT:
        return PyLong_FromLongLong(read_int(values + fmt.width * i, fmt.width, 1));
    case FROST_COL_UINT:
        if (fmt.width == 8) {
            uint64_t u;
            memcpy(&u, values + 8 * i, 8);
            return PyLong_FromUnsignedLongLong(u);
        }
        return PyLong_FromLongLong(read_int(values + fmt.width * i, fmt.width, 0));
    case FROST_COL_FLOAT:
        if (fmt.width == 2) {
            return PyFloat_FromDouble(PyFloat_Unpack2((const char *)values + 2 * i, 1));
        }
        if (fmt.width == 4) {
            float f;
            memcpy(&f, values + 4 * i, 4);
            return PyFloat_FromDouble(f);
        }
        {
            double d;
            memcpy(&d, values + 8 * i, 8);
            return PyFloat_FromDouble(d);
        }
    case FROST_COL_FIXED:
        return _PyLong_FromByteArray(values + fmt.width * i, (size_t)fmt.width, 1, 1);
    case FROST_COL_FIXED_BINARY:
        return PyBytes_FromStringAndSize((const char *)values + fmt.width * i, fmt.width);
    case FROST_COL_BINARY:
    case FROST_COL_STRING: {
        int64_t from = read_offset(blob, a, fmt.width, i), to = read_offset(blob, a, fmt.width, i + 1);
        const char *data = (const char *)frost__colbuf(blob, a, 2) + from;
        return fmt.kind == FROST_COL_STRING ? PyUnicode_DecodeUTF8(data, to - from, "strict")
                                            : PyBytes_FromStringAndSize(data, to - from);
    }
    case FROST_COL_LIST:
    case FROST_COL_MAP:
        return child_items(blob, s, a, read_offset(blob, a, fmt.width, i),
                           read_offset(blob, a, fmt.width, i + 1), fmt.kind == FROST_COL_MAP);
    case FROST_COL_FIXED_LIST:
        return child_items(blob, s, a, fmt.width * i, fmt.width * (i + 1), 0);
    case FROST_COL_STRUCT: {
        PyObject *d = PyDict_New();
        for (int64_t c = 0; d != NULL && c < s->n_children; c++) {
            const frost_colschema_t *cs = frost__colschema(blob, frost__colchild(blob, s->children, c));
            PyObject *v = child_value(blob, s, a, c, i);
            if (v == NULL || PyDict_SetItemString(d, frost__colstr(blob, cs->name), v) < 0) {
                Py_CLEAR(d);
            }
            Py_XDECREF(v);
        }
        return d;
    }
    case FROST_COL_NULL:
        break;
    }
    Py_RETURN_NONE;
}

/* The value of column `col` at table row `row`. */
static PyObject *
cell(const char *blob, int64_t col, int64_t row)
{
    int64_t j;
    uint64_t chunk = frost__colblob_locate(blob, row, &j);
    return value_at(blob, column_schema(blob, col), column_array(blob, chunk, col), j);
}

/* A readable type description: "int64", "list<string>", "dictionary<int32, string>", ... */
static PyObject *
type_name(const char *blob, uint64_t soff, int depth)
{
    const frost_colschema_t *s = frost__colschema(blob, soff);
    const char *format = frost__colstr(blob, s->format);
    const char *base = frost__colfmt_name(format);
    if (s->dictionary != 0) {
        PyObject *values = type_name(blob, s->dictionary, depth + 1);
        PyObject *r = values ? PyUnicode_FromFormat("dictionary<%s, %U>", base, values) : NULL;
        Py_XDECREF(values);
        return r;
    }
    if (s->n_children == 0 || depth > 8) {
        if (strchr(format, ':') != NULL) {
            return PyUnicode_FromFormat("%s[%s]", base, strchr(format, ':') + 1);
        }
        return PyUnicode_FromString(base);
    }
    PyObject *parts = PyList_New(0);
    for (int64_t i = 0; parts != NULL && i < s->n_children; i++) {
        uint64_t c = frost__colchild(blob, s->children, i);
        PyObject *t = type_name(blob, c, depth + 1);
        PyObject *p = t && !strcmp(base, "struct")
                          ? PyUnicode_FromFormat("%s: %U", frost__colstr(blob, frost__colschema(blob, c)->name), t)
                          : Py_XNewRef(t);
        if (p == NULL || PyList_Append(parts, p) < 0) {
            Py_CLEAR(parts);
        }
        Py_XDECREF(t);
        Py_XDECREF(p);
    }
    if (parts == NULL) {
        return NULL;
    }
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *inner = sep ? PyUnicode_Join(sep, parts) : NULL;
    PyObject *r = inner ? PyUnicode_FromFormat("%s<%U>", base, inner) : NULL;
    Py_XDECREF(sep);
    Py_XDECREF(inner);
    Py_DECREF(parts);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Arrow export                                                              */

typedef struct {
    frost_keep_t keep;
    struct ArrowSchema **children;
    struct ArrowSchema *child_structs;
    struct ArrowSchema *dictionary;
} schema_private_t;

typedef struct {
    frost_keep_t keep;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *child_structs;
    struct ArrowArray *dictionary;
    uint8_t *scratch;            /* bytes of the export's own (a window's validity bits) */
} array_private_t;

/* The release callback of an exported ArrowSchema or ArrowArray (`type`):
 * releases the children and dictionary that were exported (a failed export
 * leaves the rest zeroed, release NULL), then the struct's keep reference. */
#define DEFINE_RELEASE(name, type, private_type)                                \
    static void name(struct type *x)                                            \
    {                                                                           \
        private_type *p = x->private_data;                                      \
        for (int64_t i = 0; i < x->n_children; i++) {                           \
            if (p->children[i]->release != NULL) {                              \
                p->children[i]->release(p->children[i]);                        \
            }                                                                   \
        }                                                                       \
        if (p->dictionary != NULL && p->dictionary->release != NULL) {          \
            p->dictionary->release(p->dictionary);                              \
        }                                                                       \
        frost_keep_release(p->keep);                                            \
        free(p);                                                                \
        x->release = NULL;                                                      \
    }
DEFINE_RELEASE(schema_release, ArrowSchema, schema_private_t)
DEFINE_RELEASE(array_release, ArrowArray, array_private_t)
#undef DEFINE_RELEASE

/* The private part of an exported ArrowArray, with room after it for `nbuf`
 * buffer pointers, `n` children, a dictionary when `has_dict` and `scratch`
 * zeroed bytes (p->scratch, 8-byte aligned); holds a reference on `keep`.
 * NULL when out of memory. */
static array_private_t *
array_private_new(frost_keep_t keep, size_t nbuf, size_t n, size_t has_dict, size_t scratch)
{
    array_private_t *p = calloc(1, sizeof *p + nbuf * sizeof(void *)
                                       + n * (sizeof(void *) + sizeof(struct ArrowArray))
                                       + has_dict * sizeof(struct ArrowArray) + scratch);
    if (p == NULL) {
        return NULL;
    }
    p->buffers = (const void **)(p + 1);
    p->children = (struct ArrowArray **)(p->buffers + nbuf);
    p->child_structs = (struct ArrowArray *)(p->children + n);
    p->dictionary = has_dict ? p->child_structs + n : NULL;
    p->scratch = (uint8_t *)(p->child_structs + n + has_dict);
    for (size_t i = 0; i < n; i++) {
        p->children[i] = &p->child_structs[i];
    }
    frost_keep_acquire(keep);
    p->keep = keep;
    return p;
}

/* Export the schema at `soff` into *out (name: override, or NULL for its own).
 * 0, or -1 (out of memory; *out released). */
static int
export_schema(frost_keep_t keep, const char *blob, uint64_t soff, struct ArrowSchema *out)
{
    const frost_colschema_t *s = frost__colschema(blob, soff);
    size_t n = (size_t)s->n_children, has_dict = s->dictionary != 0;
    schema_private_t *p = calloc(1, sizeof *p + n * (sizeof(void *) + sizeof(struct ArrowSchema))
                                        + has_dict * sizeof(struct ArrowSchema));
    if (p == NULL) {
        out->release = NULL;
        return -1;
    }
    p->children = (struct ArrowSchema **)(p + 1);
    p->child_structs = (struct ArrowSchema *)(p->children + n);
    p->dictionary = has_dict ? p->child_structs + n : NULL;
    frost_keep_acquire(keep);
    p->keep = keep;
    *out = (struct ArrowSchema){
        .format = frost__colstr(blob, s->format),
        .name = frost__colstr(blob, s->name),
        .metadata = s->metadata ? frost__colstr(blob, s->metadata) : NULL,
        .flags = s->flags,
        .n_children = s->n_children,
        .children = p->children,
        .dictionary = p->dictionary,
        .release = schema_release,
        .private_data = p,
    };
    for (size_t i = 0; i < n; i++) {
        p->children[i] = &p->child_structs[i];
        if (export_schema(keep, blob, frost__colchild(blob, s->children, (int64_t)i), p->children[i]) < 0) {
            schema_release(out);
            return -1;
        }
    }
    if (has_dict && export_schema(keep, blob, s->dictionary, p->dictionary) < 0) {
        schema_release(out);
        return -1;
    }
    return 0;
}

/* Export the array at `aoff`, of the schema at `soff` (window: `extra_offset`
 * more, `length` items, or -1 for all) into *out. 0, or -1 (out of memory;
 * *out released).
 *
 * A window is the array's offset, except for a fixed-size list with a
 * validity bitmap: polars (2.1) rejects one whose offset is not 0 ("validity
 * mask length must be equal to the number of values divided by size"; a
 * panic from polars.DataFrame(t[a:b]), as for pyarrow's own
 * RecordBatch.slice). Its window is exported as offset 0, the validity bits of
 * the window copied (length / 8 bytes of the export's own) and the items'
 * window moved to the child. */
static int
export_array(frost_keep_t keep, const char *blob, uint64_t aoff, uint64_t soff,
             struct ArrowArray *out, int64_t extra_offset, int64_t length)
{
    const frost_colarray_t *a = frost__colarray(blob, aoff);
    const frost_colschema_t *s = frost__colschema(blob, soff);
    size_t n = (size_t)a->n_children, nbuf = (size_t)a->n_buffers, has_dict = a->dictionary != 0;
    int whole = length < 0 || (extra_offset == 0 && length == a->length);
    frost_colfmt_t fmt;
    int fsl_window = !whole && frost__colfmt_parse(frost__colstr(blob, s->format), &fmt) == 0
                     && fmt.kind == FROST_COL_FIXED_LIST && nbuf >= 1 && n == 1
                     && frost__colbuf(blob, a, 0) != NULL;
    array_private_t *p = array_private_new(keep, nbuf, n, has_dict,
                                           fsl_window ? (size_t)(length + 7) / 8 : 0);
    if (p == NULL) {
        out->release = NULL;
        return -1;
    }
    for (size_t i = 0; i < nbuf; i++) {
        p->buffers[i] = frost__colbuf(blob, a, (int64_t)i);
    }
    int64_t start = a->offset + (whole ? 0 : extra_offset);   /* the window's first slot */
    if (fsl_window) {
        const void *validity = p->buffers[0];
        for (int64_t k = 0; k < length; k++) {
            if (frost__colbit(validity, start + k)) {
                p->scratch[k / 8] |= (uint8_t)(1u << (k % 8));
            }
        }
        p->buffers[0] = p->scratch;
    }
    *out = (struct ArrowArray){
        .length = whole ? a->length : length,
        .null_count = whole || a->null_count == 0 ? a->null_count : -1,
        .offset = fsl_window ? 0 : start,
        .n_buffers = a->n_buffers,
        .n_children = a->n_children,
        .buffers = p->buffers,
        .children = p->children,
        .dictionary = p->dictionary,
        .release = array_release,
        .private_data = p,
    };
    for (size_t i = 0; i < n; i++) {
        uint64_t child = frost__colchild(blob, a->children, (int64_t)i);
        uint64_t child_schema = frost__colchild(blob, s->children, (int64_t)i);
        int rc = fsl_window ? export_array(keep, blob, child, child_schema, p->children[i],
                                           start * fmt.width, length * fmt.width)
                            : export_array(keep, blob, child, child_schema, p->children[i], 0, -1);
        if (rc < 0) {
            array_release(out);
            return -1;
        }
    }
    if (has_dict && export_array(keep, blob, a->dictionary, s->dictionary, p->dictionary, 0, -1) < 0) {
        array_release(out);
        return -1;
    }
    return 0;
}

/* Rows [lo, hi) of chunk `chunk` as a struct array (column < 0) or as column `column`. */
static int
export_chunk(frost_keep_t keep, const char *blob, uint64_t chunk, int64_t lo, int64_t hi,
             int64_t column, struct ArrowArray *out)
{
    uint64_t root = frost__colchild(blob, header(blob)->chunks, (int64_t)chunk);
    const frost_colarray_t *r = frost__colarray(blob, root);
    const frost_colschema_t *rs = frost__colschema(blob, header(blob)->schema);
    if (column >= 0) {
        return export_array(keep, blob, frost__colchild(blob, r->children, column),
                            frost__colchild(blob, rs->children, column), out, lo, hi - lo);
    }
    size_t n = (size_t)r->n_children;
    array_private_t *p = array_private_new(keep, 1, n, 0, 0);   /* a struct: one (absent) validity buffer */
    if (p == NULL) {
        out->release = NULL;
        return -1;
    }
    *out = (struct ArrowArray){
        .length = hi - lo, .null_count = 0, .offset = 0, .n_buffers = 1, .n_children = (int64_t)n,
        .buffers = p->buffers, .children = p->children, .release = array_release, .private_data = p,
    };
    for (size_t i = 0; i < n; i++) {
        if (export_array(keep, blob, frost__colchild(blob, r->children, (int64_t)i),
                         frost__colchild(blob, rs->children, (int64_t)i), p->children[i], lo, hi - lo) < 0) {
            array_release(out);
            return -1;
        }
    }
    return 0;
}

static void
schema_capsule_destructor(PyObject *capsule)
{
    struct ArrowSchema *s = PyCapsule_GetPointer(capsule, "arrow_schema");
    if (s != NULL && s->release != NULL) {
        s->release(s);
    }
    free(s);
}

static void
array_capsule_destructor(PyObject *capsule)
{
    struct ArrowArray *a = PyCapsule_GetPointer(capsule, "arrow_array");
    if (a != NULL && a->release != NULL) {
        a->release(a);
    }
    free(a);
}

static void
stream_capsule_destructor(PyObject *capsule)
{
    struct ArrowArrayStream *s = PyCapsule_GetPointer(capsule, "arrow_array_stream");
    if (s != NULL && s->release != NULL) {
        s->release(s);
    }
    free(s);
}

/* schema: the root (column < 0) or one column's */
static PyObject *
schema_capsule(const colsrc_t *src, int64_t column)
{
    struct ArrowSchema *s = malloc(sizeof *s);
    uint64_t soff = column < 0 ? header(src->blob)->schema : column_schema(src->blob, column);
    if (s == NULL || export_schema(src->keep, src->blob, soff, s) < 0) {
        free(s);
        return PyErr_NoMemory();
    }
    PyObject *cap = PyCapsule_New(s, "arrow_schema", schema_capsule_destructor);
    if (cap == NULL) {
        s->release(s);
        free(s);
    }
    return cap;
}

static PyObject *
array_capsule(const colsrc_t *src, uint64_t chunk, int64_t lo, int64_t hi, int64_t column)
{
    struct ArrowArray *a = malloc(sizeof *a);
    if (a == NULL || export_chunk(src->keep, src->blob, chunk, lo, hi, column, a) < 0) {
        free(a);
        return PyErr_NoMemory();
    }
    PyObject *cap = PyCapsule_New(a, "arrow_array", array_capsule_destructor);
    if (cap == NULL) {
        a->release(a);
        free(a);
    }
    return cap;
}

typedef struct {
    frost_keep_t keep;
    const char *blob;
    int64_t lo, hi;              /* rows of the table streamed */
    int64_t column;              /* -1: whole rows (struct arrays) */
    uint64_t next_chunk;
    int gave;                    /* a chunk was given */
    const char *error;           /* static */
} stream_private_t;

static int
stream_get_schema(struct ArrowArrayStream *stream, struct ArrowSchema *out)
{
    stream_private_t *p = stream->private_data;
    uint64_t soff = p->column < 0 ? header(p->blob)->schema : column_schema(p->blob, p->column);
    if (export_schema(p->keep, p->blob, soff, out) < 0) {
        p->error = "out of memory";
        return 12;   /* ENOMEM */
    }
    return 0;
}

static int
stream_get_next(struct ArrowArrayStream *stream, struct ArrowArray *out)
{
    stream_private_t *p = stream->private_data;
    const frost_colblob_header_t *h = header(p->blob);
    const int64_t *starts = (const int64_t *)(p->blob + h->row_starts);
    /* The chunks that hold rows of the window, and the empty chunks lying within it
     * (an empty chunk still holds its dictionaries: the categories of pandas' Categorical).
     * A window that gives no chunk that way (no rows, none empty there) gives its rows'
     * place as an empty slice of the chunk there, so a table of chunks never streams none. */
    while (p->next_chunk < h->nchunks) {
        uint64_t k = p->next_chunk++;
        int64_t lo = p->lo > starts[k] ? p->lo : starts[k];
        int64_t hi = p->hi < starts[k + 1] ? p->hi : starts[k + 1];
        int empty_inside = starts[k] == starts[k + 1] && p->lo <= starts[k] && starts[k] <= p->hi;
        if (lo >= hi && !empty_inside) {
            continue;   /* outside the window */
        }
        if (lo > hi) {
            hi = lo;
        }
        if (export_chunk(p->keep, p->blob, k, lo - starts[k], hi - starts[k], p->column, out) < 0) {
            p->error = "out of memory";
            return 12;
        }
        p->gave = 1;
        return 0;
    }
    if (!p->gave && h->nchunks > 0) {
        int64_t in_chunk = 0;
        uint64_t k = p->lo < h->nrows ? frost__colblob_locate(p->blob, p->lo, &in_chunk) : h->nchunks - 1;
        if (p->lo >= h->nrows) {
            in_chunk = starts[k + 1] - starts[k];
        }
        if (export_chunk(p->keep, p->blob, k, in_chunk, in_chunk, p->column, out) < 0) {
            p->error = "out of memory";
            return 12;
        }
        p->gave = 1;
        return 0;
    }
    out->release = NULL;   /* the end */
    return 0;
}

static const char *
stream_get_last_error(struct ArrowArrayStream *stream)
{
    return ((stream_private_t *)stream->private_data)->error;
}

static void
stream_release(struct ArrowArrayStream *stream)
{
    stream_private_t *p = stream->private_data;
    frost_keep_release(p->keep);
    free(p);
    stream->release = NULL;
}

static PyObject *
stream_capsule(const colsrc_t *src, int64_t lo, int64_t hi, int64_t column)
{
    struct ArrowArrayStream *s = malloc(sizeof *s);
    stream_private_t *p = calloc(1, sizeof *p);
    if (s == NULL || p == NULL) {
        free(s);
        free(p);
        return PyErr_NoMemory();
    }
    frost_keep_acquire(src->keep);
    *p = (stream_private_t){.keep = src->keep, .blob = src->blob, .lo = lo, .hi = hi, .column = column};
    *s = (struct ArrowArrayStream){
        .get_schema = stream_get_schema,
        .get_next = stream_get_next,
        .get_last_error = stream_get_last_error,
        .release = stream_release,
        .private_data = p,
    };
    PyObject *cap = PyCapsule_New(s, "arrow_array_stream", stream_capsule_destructor);
    if (cap == NULL) {
        s->release(s);
        free(s);
    }
    return cap;
}

/* requested_schema=None: accepted and ignored (the data keeps its own schema;
 * the consumer casts if it wants another, as the interface allows). */
static int
parse_requested_schema(const char *name, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"requested_schema", NULL};
    PyObject *requested = NULL;
    char fmt[64];
    snprintf(fmt, sizeof fmt, "|O:%s", name);
    return PyArg_ParseTupleAndKeywords(args, kwargs, fmt, kwlist, &requested) ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* pickling a window                                                         */

static PyObject *table_new(FrostLease *lease, const colsrc_t *src, int64_t start, int64_t len);

/* A window (a row slice, a column, a column slice) pickles as the whole table,
 * which pickles by reference (a store reference, or the image's handle and
 * the node's offset), indexed again by the receiver: (operator.getitem, (obj,
 * key)). The receiver's subscript checks a forged key as it checks any.
 * Steals obj and key (either may be NULL: an error is set). */
static PyObject *
reduce_getitem(PyObject *obj, PyObject *key)
{
    PyObject *getitem = NULL;
    if (obj != NULL && key != NULL) {
        PyObject *operator = PyImport_ImportModule("operator");
        getitem = operator ? PyObject_GetAttrString(operator, "getitem") : NULL;
        Py_XDECREF(operator);
    }
    if (getitem == NULL) {
        Py_XDECREF(obj);
        Py_XDECREF(key);
        return NULL;
    }
    return Py_BuildValue("N(NN)", getitem, obj, key);
}

/* slice(start, stop, step) that selects len rows from start by step (len >= 2
 * keeps |step| * len within the rows; stop -1 would mean "the end": None). */
static PyObject *
window_slice(int64_t start, int64_t step, int64_t len)
{
    int64_t stop = start + step * len;
    PyObject *a = PyLong_FromLongLong(start);
    PyObject *b = stop < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(stop);
    PyObject *c = PyLong_FromLongLong(step);
    PyObject *slice = a != NULL && b != NULL && c != NULL ? PySlice_New(a, b, c) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(c);
    return slice;
}

static PyObject *
whole_table(FrostLease *lease, const colsrc_t *src)
{
    return table_new(lease, src, 0, header(src->blob)->nrows);
}

/* ------------------------------------------------------------------------ */
/* frost.Column                                                              */

static PyObject *
column_new(FrostLease *lease, const colsrc_t *src, int64_t column, int64_t start, int64_t step,
           int64_t len)
{
    FrostColumnView *v = PyObject_New(FrostColumnView, src->image ? src->st->mapped_column_type
                                                                   : src->st->column_type);
    if (v == NULL) {
        return NULL;
    }
    v->lease = (FrostLease *)Py_XNewRef(lease);
    v->src = *src;
    Py_XINCREF(src->image);
    v->column = column;
    v->start = start;
    v->step = len > 1 ? step : 1;   /* unused otherwise; keeps a slice of a slice from overflowing */
    v->len = len;
    return (PyObject *)v;
}

static Py_ssize_t
column_length(PyObject *self)
{
    return (Py_ssize_t)CV(self)->len;
}

static PyObject *
column_item(PyObject *self, Py_ssize_t i)
{
    FrostColumnView *v = CV(self);
    if (i < 0 || i >= v->len) {
        PyErr_SetString(PyExc_IndexError, "frost.Column index out of range");
        return NULL;
    }
    return cell(v->src.blob, v->column, v->start + i * v->step);
}

static PyObject *
column_subscript(PyObject *self, PyObject *key)
{
    FrostColumnView *v = CV(self);
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        return column_item(self, i < 0 ? i + (Py_ssize_t)v->len : i);
    }
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0) {
            return NULL;
        }
        Py_ssize_t n = PySlice_AdjustIndices((Py_ssize_t)v->len, &start, &stop, step);
        return column_new(v->lease, &v->src, v->column, v->start + start * v->step,
                          n > 1 ? v->step * step : 1, n);   /* n > 1: the product is within the rows */
    }
    PyErr_Format(PyExc_TypeError, "frost.Column indices must be integers or slices, not %.200s",
                 Py_TYPE(key)->tp_name);
    return NULL;
}

static PyObject *
column_tolist(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostColumnView *v = CV(self);
    PyObject *list = PyList_New((Py_ssize_t)v->len);
    for (int64_t i = 0; list != NULL && i < v->len; i++) {
        PyObject *item = cell(v->src.blob, v->column, v->start + i * v->step);
        if (item == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *
column_get_name(PyObject *self, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(column_name(CV(self)->src.blob, CV(self)->column));
}

static PyObject *
column_get_type(PyObject *self, void *Py_UNUSED(closure))
{
    return type_name(CV(self)->src.blob, column_schema(CV(self)->src.blob, CV(self)->column), 0);
}

static int
column_contiguous(FrostColumnView *v)
{
    if (v->step != 1 && v->len > 1) {
        PyErr_SetString(PyExc_ValueError, "a stepped frost.Column slice has no Arrow export; "
                                          "export the column and slice it there");
        return -1;
    }
    return 0;
}

static PyObject *
column_arrow_schema(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostColumnView *v = CV(self);
    return schema_capsule(&v->src, v->column);
}

static PyObject *
column_arrow_stream(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FrostColumnView *v = CV(self);
    if (parse_requested_schema("__arrow_c_stream__", args, kwargs) < 0 || column_contiguous(v) < 0) {
        return NULL;
    }
    return stream_capsule(&v->src, v->start, v->start + v->len, v->column);
}

/* Column.__dlpack__: fixed-width numeric columns with no nulls in the view,
 * whose rows lie in one chunk; the tensor reads the arena (see dlpack.c). */
static PyObject *
column_dlpack(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FrostColumnView *v = CV(self);
    const char *blob = v->src.blob;
    const frost_colschema_t *s = frost__colschema(blob, column_schema(blob, v->column));
    const char *format = frost__colstr(blob, s->format);
    static const char *const arrow = "cCsSiIlLefg", *const structfmt = "bBhHiIqQefd";
    const char *hit = format[0] && !format[1] && !s->dictionary ? strchr(arrow, format[0]) : NULL;
    if (hit == NULL) {
        PyErr_Format(PyExc_BufferError, "frost.Column of type %s has no DLPack export: only "
                     "(u)int8-64 and float16-64 columns do", frost__colfmt_name(format));
        return NULL;
    }
    char fmt[2] = {structfmt[hit - arrow], '\0'};
    frost_colfmt_t info;
    (void)frost__colfmt_parse(format, &info);
    int64_t first = v->start, last = v->start + (v->len - 1) * v->step, in_first = 0, in_last = 0;
    uint64_t chunk = 0;
    if (v->len > 0) {
        chunk = frost__colblob_locate(blob, first, &in_first);
        if (frost__colblob_locate(blob, last, &in_last) != chunk) {
            PyErr_SetString(PyExc_BufferError, "these rows of the frost.Column span several chunks; "
                                               "DLPack exports one tensor");
            return NULL;
        }
    }
    else if (header(blob)->nchunks == 0) {
        return frost__dlpack_export_1d(v->src.keep, blob, 0, info.width, fmt, info.width, args, kwargs);
    }
    const frost_colarray_t *a = frost__colarray(blob, column_array(blob, chunk, v->column));
    const void *validity = frost__colbuf(blob, a, 0);
    int64_t step = v->step;
    for (int64_t k = 0; validity != NULL && k < v->len; k++) {
        if (!frost__colbit(validity, a->offset + in_first + k * step)) {
            PyErr_SetString(PyExc_BufferError, "this frost.Column has nulls; DLPack has no null mask "
                                               "(use pyarrow, or fill the nulls before freezing)");
            return NULL;
        }
    }
    const char *data = (const char *)frost__colbuf(blob, a, 1) + info.width * (a->offset + in_first);
    return frost__dlpack_export_1d(v->src.keep, data, (Py_ssize_t)v->len, (Py_ssize_t)(info.width * step),
                                   fmt, info.width, args, kwargs);
}

static PyObject *
column_repr(PyObject *self)
{
    FrostColumnView *v = CV(self);
    PyObject *type = column_get_type(self, NULL);
    PyObject *name = type ? column_get_name(self, NULL) : NULL;
    PyObject *r = name ? PyUnicode_FromFormat("%s(name=%R, type='%U', len=%lld)", Py_TYPE(self)->tp_name,
                                              name, type, (long long)v->len)
                       : NULL;
    Py_XDECREF(type);
    Py_XDECREF(name);
    return r;
}

/* MappedTable/MappedColumn: where they read, as every mapped view says it */
static PyObject *
mapped_image(PyObject *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(TV(self)->src.image);   /* `src` sits at the same place in Column views */
}

static PyObject *
mapped_node_offset(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(TV(self)->src.offset);
}

#define MAPPED_GETSET \
    {"image", mapped_image, NULL, "The _frost.MapImage this view reads.", NULL}, \
    {"node_offset", mapped_node_offset, NULL, "The table node's offset in the image.", NULL}
#define COLUMN_GETSET \
    {"name", column_get_name, NULL, "The column's name.", NULL}, \
    {"type", column_get_type, NULL, "The column's type, as text.", NULL}
static PyGetSetDef column_getset[] = {COLUMN_GETSET, {NULL, NULL, NULL, NULL, NULL}};
static PyGetSetDef mapped_column_getset[] = {COLUMN_GETSET, MAPPED_GETSET, {NULL, NULL, NULL, NULL, NULL}};
#undef COLUMN_GETSET

static PyObject *
column_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostColumnView *v = CV(self);
    int64_t nrows = header(v->src.blob)->nrows;
    if (v->start == 0 && v->step == 1 && v->len == nrows) {
        return reduce_getitem(whole_table(v->lease, &v->src), PyLong_FromLongLong(v->column));
    }
    return reduce_getitem(column_new(v->lease, &v->src, v->column, 0, 1, nrows),
                          window_slice(v->start, v->step, v->len));
}

static PyMethodDef column_methods[] = {
    {"tolist", column_tolist, METH_NOARGS, "The values as a list (None for nulls)."},
    {"__reduce__", column_reduce, METH_NOARGS,
     "Pickle as the whole table (by reference) and the column's index and rows."},
    {"__arrow_c_schema__", column_arrow_schema, METH_NOARGS, "An 'arrow_schema' capsule of the column's field."},
    {"__dlpack__", (PyCFunction)(void (*)(void))column_dlpack, METH_VARARGS | METH_KEYWORDS,
     FROST_DLPACK_DOC " Numeric columns without nulls, rows in one chunk."},
    {"__dlpack_device__", frost__dlpack_device, METH_NOARGS, "(1, 0): CPU memory."},
    {"__arrow_c_stream__", (PyCFunction)(void (*)(void))column_arrow_stream, METH_VARARGS | METH_KEYWORDS,
     "__arrow_c_stream__($self, /, requested_schema=None)\n--\n\nAn 'arrow_array_stream' capsule: the column's "
     "chunks, reading the arena."},
    {NULL, NULL, 0, NULL},
};

static void colview_dealloc(PyObject *self);

#define COLUMN_SLOTS(doc, getset)                                               \
    {Py_tp_doc, doc},                                                           \
    {Py_tp_dealloc, colview_dealloc},                                           \
    {Py_tp_repr, column_repr},                                                  \
    {Py_tp_hash, PyObject_HashNotImplemented},                                  \
    {Py_tp_methods, column_methods},                                            \
    {Py_tp_getset, getset},                                                     \
    {Py_sq_length, column_length},                                              \
    {Py_sq_item, column_item},                                                  \
    {Py_mp_length, column_length},                                              \
    {Py_mp_subscript, column_subscript},                                        \
    {Py_mp_ass_subscript, frost__readonly_ass},                                 \
    {0, NULL}

static PyType_Slot column_slots[] = {
    COLUMN_SLOTS("Column: one column of a frost.Table, a read-only sequence of Python values.",
                 column_getset),
};
static PyType_Slot mapped_column_slots[] = {
    COLUMN_SLOTS("MappedColumn: one column of a frost.MappedTable, a read-only sequence of Python "
                 "values.", mapped_column_getset),
};
#undef COLUMN_SLOTS

#define COLUMN_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION \
                      | Py_TPFLAGS_SEQUENCE)
PyType_Spec FrostColumn_spec = {
    .name = "frost.Column", .basicsize = sizeof(FrostColumnView), .flags = COLUMN_FLAGS,
    .slots = column_slots,
};
PyType_Spec FrostMappedColumn_spec = {
    .name = "frost.MappedColumn", .basicsize = sizeof(FrostColumnView), .flags = COLUMN_FLAGS,
    .slots = mapped_column_slots,
};
#undef COLUMN_FLAGS

/* ------------------------------------------------------------------------ */
/* frost.Table                                                               */

static PyObject *
table_new(FrostLease *lease, const colsrc_t *src, int64_t start, int64_t len)
{
    FrostTableView *v = PyObject_New(FrostTableView, src->image ? src->st->mapped_table_type
                                                                : src->st->table_type);
    if (v == NULL) {
        return NULL;
    }
    v->lease = (FrostLease *)Py_XNewRef(lease);
    v->src = *src;
    Py_XINCREF(src->image);
    v->start = start;
    v->len = len;
    return (PyObject *)v;
}

PyObject *
frost__table_view_new(FrostLease *lease, const void *columns_node)
{
    const frost_columns_t *node = columns_node;
    colsrc_t src = {.blob = node->blob, .keep = frost_keep_store(lease->store), .st = lease->st,
                    .node = node};
    return table_new(lease, &src, 0, header(node->blob)->nrows);
}

PyObject *
frost__mapped_table_new(frost_state *st, PyObject *image, struct frost_map_pin_s *pin,
                        const char *blob, uint64_t offset)
{
    colsrc_t src = {.blob = blob, .keep = frost_keep_pin(pin), .image = image, .st = st,
                    .offset = offset};
    return table_new(NULL, &src, 0, header(blob)->nrows);
}

const void *
frost__table_view_node(PyObject *self)
{
    FrostTableView *v = TV(self);
    if (v->src.node == NULL || v->start != 0 || v->len != header(v->src.blob)->nrows) {
        PyErr_SetString(v->src.st->freeze_error, "root: a row slice of a frost.Table is no table of "
                        "its own; share or save the whole table (or slice it in pyarrow and freeze that)");
        return NULL;
    }
    return v->src.node;
}

PyObject *
frost__table_blob(PyObject *module, PyObject *view)
{
    frost_state *st = PyModule_GetState(module);
    if (Py_TYPE(view) != st->table_type && Py_TYPE(view) != st->mapped_table_type) {
        PyErr_Format(PyExc_TypeError, "_table_blob() needs a frost.Table or frost.MappedTable, not %.200s",
                     Py_TYPE(view)->tp_name);
        return NULL;
    }
    const char *blob = TV(view)->src.blob;
    return PyBytes_FromStringAndSize(blob, (Py_ssize_t)header(blob)->size);
}

PyObject *
frost__table_is_whole(PyObject *module, PyObject *view)
{
    frost_state *st = PyModule_GetState(module);
    if (Py_TYPE(view) != st->table_type && Py_TYPE(view) != st->mapped_table_type) {
        PyErr_Format(PyExc_TypeError, "_table_is_whole() needs a frost.Table or frost.MappedTable, "
                     "not %.200s", Py_TYPE(view)->tp_name);
        return NULL;
    }
    FrostTableView *v = TV(view);
    return PyBool_FromLong(v->start == 0 && v->len == header(v->src.blob)->nrows);
}

/* every Table and Column type: the lease (arena) or the image (mapped); `src`
 * sits at the same place in both structs */
static void
colview_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(TV(self)->lease);
    Py_CLEAR(TV(self)->src.image);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static Py_ssize_t
table_length(PyObject *self)
{
    return (Py_ssize_t)TV(self)->len;
}

/* Column index from an int or a name; -1 with an error. */
static int64_t
column_index(FrostTableView *v, PyObject *key)
{
    int64_t n = num_columns(v->src.blob);
    if (PyUnicode_Check(key)) {
        const char *name = PyUnicode_AsUTF8(key);
        if (name == NULL) {
            return -1;
        }
        for (int64_t i = 0; i < n; i++) {
            if (strcmp(column_name(v->src.blob, i), name) == 0) {
                return i;
            }
        }
        PyErr_Format(PyExc_KeyError, "%R: no such column", key);
        return -1;
    }
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (i < 0) {
            i += (Py_ssize_t)n;
        }
        if (i < 0 || i >= n) {
            PyErr_SetString(PyExc_IndexError, "frost.Table column index out of range");
            return -1;
        }
        return i;
    }
    PyErr_Format(PyExc_TypeError, "a frost.Table column is chosen by name (str) or index (int), "
                 "not %.200s", Py_TYPE(key)->tp_name);
    return -1;
}

static PyObject *
table_column(PyObject *self, PyObject *key)
{
    FrostTableView *v = TV(self);
    int64_t i = column_index(v, key);
    return i < 0 ? NULL : column_new(v->lease, &v->src, i, v->start, 1, v->len);
}

static PyObject *
table_subscript(PyObject *self, PyObject *key)
{
    FrostTableView *v = TV(self);
    if (PySlice_Check(key)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(key, &start, &stop, &step) < 0) {
            return NULL;
        }
        if (step != 1) {
            PyErr_SetString(PyExc_ValueError, "frost.Table row slices take no step");
            return NULL;
        }
        Py_ssize_t n = PySlice_AdjustIndices((Py_ssize_t)v->len, &start, &stop, step);
        return table_new(v->lease, &v->src, v->start + start, n);
    }
    return table_column(self, key);
}

static PyObject *
table_row(PyObject *self, PyObject *arg)
{
    FrostTableView *v = TV(self);
    Py_ssize_t i = PyNumber_AsSsize_t(arg, PyExc_IndexError);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0) {
        i += (Py_ssize_t)v->len;
    }
    if (i < 0 || i >= v->len) {
        PyErr_SetString(PyExc_IndexError, "frost.Table row index out of range");
        return NULL;
    }
    int64_t n = num_columns(v->src.blob);
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (int64_t c = 0; t != NULL && c < n; c++) {
        PyObject *value = cell(v->src.blob, c, v->start + i);
        if (value == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)c, value);
    }
    return t;
}

static PyObject *
table_column_names(PyObject *self, void *Py_UNUSED(closure))
{
    const char *blob = TV(self)->src.blob;
    int64_t n = num_columns(blob);
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (int64_t i = 0; t != NULL && i < n; i++) {
        PyObject *name = PyUnicode_FromString(column_name(blob, i));
        if (name == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, name);
    }
    return t;
}

static PyObject *
table_schema(PyObject *self, void *Py_UNUSED(closure))
{
    const char *blob = TV(self)->src.blob;
    int64_t n = num_columns(blob);
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (int64_t i = 0; t != NULL && i < n; i++) {
        uint64_t soff = column_schema(blob, i);
        PyObject *type = type_name(blob, soff, 0);
        PyObject *field = type ? Py_BuildValue("(sNO)", column_name(blob, i), type,
                                               (frost__colschema(blob, soff)->flags
                                                & FROST_ARROW_FLAG_NULLABLE) ? Py_True : Py_False)
                               : NULL;
        if (field == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, field);
    }
    return t;
}

static PyObject *
table_num_rows(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(TV(self)->len);
}

static PyObject *
table_num_columns(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(num_columns(TV(self)->src.blob));
}

static PyObject *
table_arrow_schema(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return schema_capsule(&TV(self)->src, -1);
}

/* Whether the view's rows are one array (in one chunk): its chunk and the
 * first row's index in it, else 0 and ValueError saying why (no chunks, or
 * the rows span several; __arrow_c_stream__ gives those). */
static int
rows_in_one_chunk(FrostTableView *v, uint64_t *chunk, int64_t *lo)
{
    const char *blob = v->src.blob;
    *chunk = 0;
    *lo = 0;
    if (header(blob)->nchunks == 0) {
        PyErr_SetString(PyExc_ValueError, "this frost.Table has no chunks (an empty stream); use "
                                          "__arrow_c_stream__ (pyarrow.table(view))");
        return 0;
    }
    if (v->len > 0) {
        int64_t last_in;
        *chunk = frost__colblob_locate(blob, v->start, lo);
        uint64_t last = frost__colblob_locate(blob, v->start + v->len - 1, &last_in);
        if (last != *chunk) {
            PyErr_Format(PyExc_ValueError, "these rows of the frost.Table span %llu chunks, and "
                         "__arrow_c_array__ gives one array; use __arrow_c_stream__ "
                         "(pyarrow.table(view))", (unsigned long long)(last - *chunk + 1));
            return 0;
        }
    }
    return 1;
}

static PyObject *
table_arrow_array(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FrostTableView *v = TV(self);
    if (parse_requested_schema("__arrow_c_array__", args, kwargs) < 0) {
        return NULL;
    }
    uint64_t chunk;
    int64_t lo;
    if (!rows_in_one_chunk(v, &chunk, &lo)) {
        return NULL;
    }
    PyObject *schema = schema_capsule(&v->src, -1);
    PyObject *array = schema ? array_capsule(&v->src, chunk, lo, lo + v->len, -1) : NULL;
    PyObject *r = array ? PyTuple_Pack(2, schema, array) : NULL;
    Py_XDECREF(schema);
    Py_XDECREF(array);
    return r;
}

static PyObject *
table_arrow_stream(PyObject *self, PyObject *args, PyObject *kwargs)
{
    FrostTableView *v = TV(self);
    if (parse_requested_schema("__arrow_c_stream__", args, kwargs) < 0) {
        return NULL;
    }
    return stream_capsule(&v->src, v->start, v->start + v->len, -1);
}

PyObject *
frost__table_thaw(PyObject *self)
{
    FrostTableView *v = TV(self);
    int64_t n = num_columns(v->src.blob);
    PyObject *d = PyDict_New();
    for (int64_t c = 0; d != NULL && c < n; c++) {
        PyObject *col = column_new(v->lease, &v->src, c, v->start, 1, v->len);
        PyObject *list = col ? column_tolist(col, NULL) : NULL;
        if (list == NULL || PyDict_SetItemString(d, column_name(v->src.blob, c), list) < 0) {
            Py_CLEAR(d);
        }
        Py_XDECREF(col);
        Py_XDECREF(list);
    }
    return d;
}

PyObject *
frost__column_thaw(PyObject *self)
{
    return column_tolist(self, NULL);
}

static PyObject *
table_repr(PyObject *self)
{
    PyObject *names = table_column_names(self, NULL);
    PyObject *r = names ? PyUnicode_FromFormat("%s(rows=%lld, columns=%R)", Py_TYPE(self)->tp_name,
                                               (long long)TV(self)->len, names)
                        : NULL;
    Py_XDECREF(names);
    return r;
}

static PyObject *
table_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    FrostTableView *v = TV(self);
    if (v->start == 0 && v->len == header(v->src.blob)->nrows) {
        if (v->src.image != NULL) {
            return frost__mapped_reduce_at(v->src.image, v->src.offset, Py_TYPE(self)->tp_name);
        }
        return frost__reduce_ref((FrostView *)self, frost_ref_from_node(v->src.node), NULL);
    }
    return reduce_getitem(whole_table(v->lease, &v->src), window_slice(v->start, 1, v->len));
}

#define TABLE_GETSET \
    {"column_names", table_column_names, NULL, "The column names, in order.", NULL}, \
    {"schema", table_schema, NULL, "((name, type, nullable), ...) of the columns.", NULL}, \
    {"num_rows", table_num_rows, NULL, "The number of rows (len(view)).", NULL}, \
    {"num_columns", table_num_columns, NULL, "The number of columns.", NULL}
static PyGetSetDef table_getset[] = {TABLE_GETSET, {NULL, NULL, NULL, NULL, NULL}};
static PyGetSetDef mapped_table_getset[] = {TABLE_GETSET, MAPPED_GETSET, {NULL, NULL, NULL, NULL, NULL}};
#undef TABLE_GETSET
#undef MAPPED_GETSET

static PyMethodDef table_methods[] = {
    {"column", table_column, METH_O, "column($self, i_or_name, /)\n--\n\nA frost.Column view of one column."},
    {"row", table_row, METH_O, "row($self, i, /)\n--\n\nRow i as a tuple of Python values (None for nulls)."},
    {"__arrow_c_schema__", table_arrow_schema, METH_NOARGS,
     "An 'arrow_schema' capsule: the table's schema as a struct type."},
    {"__arrow_c_array__", (PyCFunction)(void (*)(void))table_arrow_array, METH_VARARGS | METH_KEYWORDS,
     "__arrow_c_array__($self, /, requested_schema=None)\n--\n\n(schema, array) capsules: the rows as one "
     "struct array, reading the arena (rows within one chunk only)."},
    {"__arrow_c_stream__", (PyCFunction)(void (*)(void))table_arrow_stream, METH_VARARGS | METH_KEYWORDS,
     "__arrow_c_stream__($self, /, requested_schema=None)\n--\n\nAn 'arrow_array_stream' capsule: the rows, one "
     "struct array per chunk, reading the arena."},
    {"__reduce__", table_reduce, METH_NOARGS,
     "Pickle by reference to the same node (a row slice: the whole table and its rows)."},
    {NULL, NULL, 0, NULL},
};

/* The Arrow PyCapsule interface offers __arrow_c_array__ for data that is one
 * array: a view whose rows are not (several chunks, or none) has only
 * __arrow_c_stream__, so a consumer that prefers the array when it is there
 * (polars.DataFrame(view)) takes the stream instead of failing. */
static PyObject *
table_getattro(PyObject *self, PyObject *name)
{
    if (PyUnicode_Check(name) && PyUnicode_GET_LENGTH(name) == 17
        && PyUnicode_CompareWithASCIIString(name, "__arrow_c_array__") == 0) {
        uint64_t chunk;
        int64_t lo;
        if (!rows_in_one_chunk(TV(self), &chunk, &lo)) {
            PyObject *why = PyErr_GetRaisedException();
            PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute "
                         "'__arrow_c_array__' here: %S", Py_TYPE(self)->tp_name, why);
            Py_DECREF(why);
            return NULL;
        }
    }
    return PyObject_GenericGetAttr(self, name);
}

#define TABLE_SLOTS(doc, getset)                                                \
    {Py_tp_doc, doc},                                                           \
    {Py_tp_getattro, table_getattro},                                           \
    {Py_tp_dealloc, colview_dealloc},                                           \
    {Py_tp_repr, table_repr},                                                   \
    {Py_tp_hash, PyObject_HashNotImplemented},                                  \
    {Py_tp_methods, table_methods},                                             \
    {Py_tp_getset, getset},                                                     \
    {Py_mp_length, table_length},                                               \
    {Py_mp_subscript, table_subscript},                                         \
    {Py_mp_ass_subscript, frost__readonly_ass},                                 \
    {0, NULL}

static PyType_Slot table_slots[] = {
    TABLE_SLOTS("Table: Arrow columns in a frost arena.\n\n"
                "pyarrow.table(t), polars.DataFrame(t) and pandas read it without copying;\n"
                "len(t), t['col'], t.row(i), t[a:b] and frost.thaw(t) work without them.", table_getset),
};
static PyType_Slot mapped_table_slots[] = {
    TABLE_SLOTS("MappedTable: Arrow columns in a format-2 image, read in place from its mapping\n"
                "by any process (frost.share / frost.load). The same API as frost.Table:\n"
                "pyarrow.table(t), polars.DataFrame(t) and pandas read it without copying.",
                mapped_table_getset),
};
#undef TABLE_SLOTS

#define TABLE_FLAGS (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION)
PyType_Spec FrostTable_spec = {
    .name = "frost.Table", .basicsize = sizeof(FrostTableView), .flags = TABLE_FLAGS,
    .slots = table_slots,
};
PyType_Spec FrostMappedTable_spec = {
    .name = "frost.MappedTable", .basicsize = sizeof(FrostTableView), .flags = TABLE_FLAGS,
    .slots = mapped_table_slots,
};
#undef TABLE_FLAGS

/* ------------------------------------------------------------------------ */
/* what exports hold (views.h)                                               */

void
frost_keep_acquire(frost_keep_t keep)
{
    if (keep & 1u) {
        frost_map_pin_acquire((frost_map_pin_t *)(keep & ~(uintptr_t)1));
    }
    else {
        frost_store_acquire((frost_store_t *)keep);
    }
}

void
frost_keep_release(frost_keep_t keep)
{
    if (keep & 1u) {
        frost_map_pin_release((frost_map_pin_t *)(keep & ~(uintptr_t)1));
    }
    else if (keep != 0) {
        frost_store_release((frost_store_t *)keep);
    }
}
