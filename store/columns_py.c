/*
 * columns_py.c -- the Python side of freezing a table: take the Arrow structs
 * out of an object's PyCapsules (__arrow_c_stream__ or __arrow_c_array__),
 * hand them to frost__columns_build (columns.c), release them.
 *
 * A stream of no chunks whose schema has a dictionary: from_stand_in asks
 * frost/_tables.py for the empty chunks holding the dictionaries (pyarrow and
 * pandas stream none for a table of no rows).
 *
 * Capsules are consumed as the PyCapsule interface says: each struct is moved
 * out (copied, the capsule's `release` set to NULL), so the capsule's
 * destructor leaves it to us, and we release it exactly once on every path.
 */
#include <Python.h>
#include "frost_columns.h"
#include "frost_freeze.h"   /* frost__type_has */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The struct in capsule `cap` named `name`, or NULL with err set. */
static void *
capsule_struct(PyObject *cap, const char *name, const char *method, PyObject *o, char *err, size_t errlen)
{
    if (!PyCapsule_IsValid(cap, name)) {
        snprintf(err, errlen, "%s() of '%.200s' did not return a '%s' capsule", method,
                 Py_TYPE(o)->tp_name, name);
        return NULL;
    }
    return PyCapsule_GetPointer(cap, name);
}

typedef struct {
    struct ArrowArray **items;
    int64_t n, cap;
} chunks_t;

static int
chunks_push(chunks_t *c, struct ArrowArray *a)
{
    if (c->n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 16;
        struct ArrowArray **items = realloc(c->items, (size_t)cap * sizeof *items);
        if (items == NULL) {
            return -1;
        }
        c->items = items;
        c->cap = cap;
    }
    c->items[c->n++] = a;
    return 0;
}

static void
chunks_release(chunks_t *c)
{
    for (int64_t i = 0; i < c->n; i++) {
        if (c->items[i]->release != NULL) {
            c->items[i]->release(c->items[i]);
        }
        free(c->items[i]);
    }
    free(c->items);
}

static int
build(frost_arena_t *arena, struct ArrowSchema *schema, chunks_t *chunks, frost_columns_t **out,
      char *err, size_t errlen)
{
    int rc = frost__columns_build(arena, schema, chunks->items, chunks->n, out, err, errlen);
    if (rc == 0) {
        return 1;
    }
    if (rc == 1) {
        return -2;
    }
    if (rc == FROST_ENOMEM) {
        PyErr_NoMemory();
    }
    else {
        PyErr_Format(PyExc_SystemError, "frost arena: %s", frost_strerror(rc));
    }
    return -1;
}

/* A failed get_schema/get_next of `o`'s stream: -1 with the Python error the
 * producer left set, or with KeyboardInterrupt when the producer's message says
 * its Python code was interrupted (pyarrow turns a Python exception raised in a
 * reader's generator into an Arrow error status with the traceback as text, and
 * clears it: Ctrl-C pressed while the generator runs ends up there); else -2
 * and err names the step, the status and the producer's message. */
static int
stream_failed(PyObject *o, struct ArrowArrayStream *stream, int status, const char *step,
              char *err, size_t errlen)
{
    if (PyErr_Occurred()) {
        return -1;
    }
    const char *why = stream->get_last_error ? stream->get_last_error(stream) : NULL;
    const char *detail = why ? strstr(why, "Python exception: ") : NULL;
    if (detail != NULL) {
        /* the exception's line is the traceback's last: "KeyboardInterrupt" or "KeyboardInterrupt: ..." */
        const char *end = detail + strlen(detail);
        while (end > detail && (end[-1] == '\n' || end[-1] == ' ')) {
            end--;
        }
        const char *line = end;
        while (line > detail && line[-1] != '\n') {
            line--;
        }
        static const char kbi[] = "KeyboardInterrupt";
        size_t n = sizeof kbi - 1;
        if ((size_t)(end - line) >= n && memcmp(line, kbi, n) == 0
            && (line + n == end || line[n] == ':')) {
            PyErr_SetNone(PyExc_KeyboardInterrupt);
            return -1;
        }
    }
    snprintf(err, errlen, "the Arrow stream of '%.200s' failed %s (error %d: %.200s)",
             Py_TYPE(o)->tp_name, step, status, why ? why : "no message");
    return -2;
}

static int from_array(PyObject *o, frost_arena_t *arena, frost_columns_t **out, char *err,
                      size_t errlen);

/* Whether `s` or a field under it is dictionary-encoded. Reads the producer's
 * schema defensively (the builder checks it later): NULLs, bad counts, nesting
 * past FROST_COL_MAX_DEPTH and fields past `*budget` (FROST_COL_MAX_FIELDS in
 * all, as the builder counts them) count as no dictionary. */
static int
has_dictionary(const struct ArrowSchema *s, int depth, int64_t *budget)
{
    if (s == NULL || depth > FROST_COL_MAX_DEPTH || --*budget < 0) {
        return 0;
    }
    if (s->dictionary != NULL) {
        return 1;
    }
    if (s->n_children <= 0 || s->n_children > 100000 || s->children == NULL) {
        return 0;
    }
    for (int64_t i = 0; i < s->n_children; i++) {
        if (has_dictionary(s->children[i], depth + 1, budget)) {
            return 1;
        }
    }
    return 0;
}

static int from_stream(PyObject *o, frost_arena_t *arena, frost_columns_t **out, char *err,
                       size_t errlen, int stand_in);

/*
 * A stream of no chunks has a schema and nothing else: a dictionary-encoded
 * column's dictionary (pandas' categories) lives in the arrays. pyarrow's
 * Table and RecordBatch (and pandas' DataFrame, which streams through
 * pyarrow.Table.from_pandas) stream no chunk when they have no rows, whatever
 * their chunks hold; frost._tables.empty_batches(o) gives a stand-in holding
 * them (exporting __arrow_c_array__, or a stream of at least one chunk), which
 * is frozen instead. 1, 0 or -1 as frost__columns_freeze (-2: err); 2: no
 * stand-in (freeze the empty stream).
 */
static int
from_stand_in(PyObject *o, frost_arena_t *arena, frost_columns_t **out, char *err, size_t errlen)
{
    PyObject *module = PyImport_ImportModule("frost._tables");
    PyObject *stand_in = module ? PyObject_CallMethod(module, "empty_batches", "O", o) : NULL;
    Py_XDECREF(module);
    if (stand_in == NULL) {
        return -1;
    }
    int rc = 2;
    if (stand_in != Py_None) {
        int array = frost__type_has(Py_TYPE(stand_in), "__arrow_c_array__", NULL);
        int stream = array == 0 ? frost__type_has(Py_TYPE(stand_in), "__arrow_c_stream__", NULL) : 0;
        rc = array < 0 || stream < 0 ? -1
             : array ? from_array(stand_in, arena, out, err, errlen)
             : stream ? from_stream(stand_in, arena, out, err, errlen, 1) : 2;
    }
    Py_DECREF(stand_in);
    return rc;
}

/* `stand_in`: `o` is one (from_stand_in): an empty stream is not replaced again. */
static int
from_stream(PyObject *o, frost_arena_t *arena, frost_columns_t **out, char *err, size_t errlen,
            int stand_in)
{
    PyObject *cap = PyObject_CallMethod(o, "__arrow_c_stream__", NULL);
    if (cap == NULL) {
        return -1;
    }
    struct ArrowArrayStream *src = capsule_struct(cap, "arrow_array_stream", "__arrow_c_stream__", o,
                                                  err, errlen);
    if (src == NULL || src->release == NULL) {
        if (src != NULL) {
            snprintf(err, errlen, "__arrow_c_stream__() of '%.200s' returned a released stream",
                     Py_TYPE(o)->tp_name);
        }
        Py_DECREF(cap);
        return -2;
    }
    struct ArrowArrayStream stream = *src;
    src->release = NULL;   /* moved out */
    Py_DECREF(cap);

    struct ArrowSchema schema = {0};
    chunks_t chunks = {0};
    int rc = -2;
    int status = stream.get_schema(&stream, &schema);
    if (status != 0 || schema.release == NULL) {
        rc = stream_failed(o, &stream, status, "to give its schema", err, errlen);
        goto done;
    }
    for (;;) {
        struct ArrowArray *a = calloc(1, sizeof *a);
        if (a == NULL || chunks_push(&chunks, a) < 0) {
            free(a);
            PyErr_NoMemory();
            rc = -1;
            goto done;
        }
        status = stream.get_next(&stream, a);
        if (status != 0) {
            char step[64];
            snprintf(step, sizeof step, "after %lld chunks", (long long)(chunks.n - 1));
            rc = stream_failed(o, &stream, status, step, err, errlen);
            goto done;
        }
        if (a->release == NULL) {   /* the end */
            chunks.n--;
            free(a);
            break;
        }
        if (PyErr_CheckSignals() < 0) {
            rc = -1;
            goto done;
        }
    }
    int64_t budget = FROST_COL_MAX_FIELDS;
    if (chunks.n == 0 && !stand_in && has_dictionary(&schema, 0, &budget)) {
        rc = from_stand_in(o, arena, out, err, errlen);
        if (rc != 2) {
            goto done;
        }
    }
    rc = build(arena, &schema, &chunks, out, err, errlen);
done:
    chunks_release(&chunks);
    if (schema.release != NULL) {
        schema.release(&schema);
    }
    stream.release(&stream);
    return rc;
}

static int
from_array(PyObject *o, frost_arena_t *arena, frost_columns_t **out, char *err, size_t errlen)
{
    PyObject *pair = PyObject_CallMethod(o, "__arrow_c_array__", NULL);
    if (pair == NULL) {
        return -1;
    }
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        snprintf(err, errlen, "__arrow_c_array__() of '%.200s' did not return a (schema, array) "
                 "pair of capsules", Py_TYPE(o)->tp_name);
        Py_DECREF(pair);
        return -2;
    }
    struct ArrowSchema *s = capsule_struct(PyTuple_GET_ITEM(pair, 0), "arrow_schema",
                                           "__arrow_c_array__", o, err, errlen);
    struct ArrowArray *a = s ? capsule_struct(PyTuple_GET_ITEM(pair, 1), "arrow_array",
                                              "__arrow_c_array__", o, err, errlen) : NULL;
    if (a == NULL || s->release == NULL || a->release == NULL) {
        if (a != NULL) {
            snprintf(err, errlen, "__arrow_c_array__() of '%.200s' returned released structs",
                     Py_TYPE(o)->tp_name);
        }
        Py_DECREF(pair);
        return -2;
    }
    struct ArrowSchema schema = *s;
    s->release = NULL;
    struct ArrowArray *array = malloc(sizeof *array);
    chunks_t chunks = {0};
    int rc = -1;
    if (array == NULL || chunks_push(&chunks, array) < 0) {
        free(array);
        PyErr_NoMemory();
    }
    else {
        *array = *a;
        a->release = NULL;
        rc = build(arena, &schema, &chunks, out, err, errlen);
    }
    Py_DECREF(pair);   /* the capsules: their structs are moved out (or left to them on failure) */
    chunks_release(&chunks);
    if (schema.release != NULL) {
        schema.release(&schema);
    }
    return rc;
}

/* Whether `dtype` is polars' Object (Python objects). */
static int
is_polars_object_dtype(PyObject *dtype)
{
    PyObject *name = PyType_GetName(Py_TYPE(dtype));
    int is = name == NULL ? -1 : PyUnicode_CompareWithASCIIString(name, "Object") == 0;
    Py_XDECREF(name);
    return is;
}

/* polars exports a column of dtype Object as fixed_size_binary[8] holding the
 * objects' addresses, with no mark in the schema: a polars DataFrame or Series
 * with one is refused here (-2, err names the column), as a numpy object
 * array is: an arena holds data, never addresses. 0: not polars, or no such
 * column; -1: an error. */
/* Whether `tp` is a polars class (its __module__ starts with "polars."). */
static int
is_polars_type(PyTypeObject *tp)
{
    PyObject *module = PyObject_GetAttrString((PyObject *)tp, "__module__");
    if (module == NULL) {
        PyErr_Clear();
        return 0;
    }
    const char *name = PyUnicode_Check(module) ? PyUnicode_AsUTF8(module) : NULL;
    int polars = name != NULL && strncmp(name, "polars.", 7) == 0;
    PyErr_Clear();   /* a module name that is no str (or not UTF-8): not polars */
    Py_DECREF(module);
    return polars;
}

static int
refuse_polars_objects(PyObject *o, char *err, size_t errlen)
{
    if (!is_polars_type(Py_TYPE(o))) {
        return 0;
    }
    int rc = 0;
    PyObject *dtype = NULL, *schema = NULL, *items = NULL;
    if (PyObject_HasAttrString(o, "schema")) {   /* a DataFrame: {name: dtype} */
        schema = PyObject_GetAttrString(o, "schema");
        items = schema ? PyMapping_Items(schema) : NULL;
        rc = items ? 0 : -1;
        for (Py_ssize_t i = 0; items != NULL && i < PyList_GET_SIZE(items); i++) {
            PyObject *pair = PyList_GET_ITEM(items, i);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                continue;
            }
            int is = is_polars_object_dtype(PyTuple_GET_ITEM(pair, 1));
            if (is != 0) {
                if (is > 0) {
                    snprintf(err, errlen, "column '%.200s' of '%.200s' holds Python objects (polars "
                             "dtype Object, exported as their addresses)",
                             PyUnicode_Check(PyTuple_GET_ITEM(pair, 0))
                                 ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 0)) : "?",
                             Py_TYPE(o)->tp_name);
                }
                rc = is > 0 ? -2 : -1;
                break;
            }
        }
    }
    else if (PyObject_HasAttrString(o, "dtype")) {   /* a Series */
        dtype = PyObject_GetAttrString(o, "dtype");
        int is = dtype ? is_polars_object_dtype(dtype) : -1;
        if (is > 0) {
            snprintf(err, errlen, "'%.200s' holds Python objects (polars dtype Object, exported as "
                     "their addresses)", Py_TYPE(o)->tp_name);
        }
        rc = is > 0 ? -2 : is;
    }
    Py_XDECREF(dtype);
    Py_XDECREF(schema);
    Py_XDECREF(items);
    return rc;
}

int
frost__columns_type_is_candidate(PyTypeObject *tp)
{
    int has = frost__type_has(tp, "__arrow_c_stream__", NULL);
    if (has == 0) {
        has = frost__type_has(tp, "__arrow_c_array__", NULL);
    }
    return has != 0 ? has : is_polars_type(tp);
}

int
frost__columns_freeze(PyObject *o, frost_arena_t *arena, frost_columns_t **out, char *err, size_t errlen)
{
    int refused = refuse_polars_objects(o, err, errlen);
    if (refused != 0) {
        return refused;
    }
    int has = frost__type_has(Py_TYPE(o), "__arrow_c_stream__", NULL);
    if (has != 0) {
        return has < 0 ? -1 : from_stream(o, arena, out, err, errlen, 0);
    }
    has = frost__type_has(Py_TYPE(o), "__arrow_c_array__", NULL);
    if (has != 0) {
        return has < 0 ? -1 : from_array(o, arena, out, err, errlen);
    }
    return 0;
}
