/*
 * map_read.c -- the in-place reader of format-2 images (frost_map_read.h):
 * the O(1) open, node and reference decoding, leaf materialization, table
 * lookups and the full verify pass.
 *
 * Invariants: no byte is read before frost_map_span said it lies inside the
 * image; a node's fields are read only through a frost_mnode_t that
 * frost_map_node filled (so its whole size was checked); an index slot's
 * entry number is checked < len before use; every loop over image data is
 * bounded by a length already checked against the image (the probe loop by
 * nslots, tuple nesting by FROST_MAX_TUPLE_DEPTH, verify's walk by a visited
 * bitmap of the image's 8-byte words). Damage raises img->error.
 */
#include "frost_map_read.h"
#include "frost_columns.h"
#include "frost_nodes.h"
#include "frost_snapshot.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void
damage(const frost_map_image_t *img, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    PyErr_Format(img->error, "damaged frost image: %s", msg);
}

#define ULL(x) ((unsigned long long)(x))

/* A materialized tuple may count, as a tree, FACTOR * (image size + SLACK)
 * items: bounded work per byte of a hostile file (a DAG T0 = (T1, T1), ...
 * has 2^depth paths), room for the sharing real data has ((row,) * 300 of a
 * 300-item row is a 90,000-item tree in a 5 KB image: refused, under the
 * image size + 64 Ki items that this was, as damage, written by frost
 * itself). A larger tree is refused as damage, naming format 1. */
#define FROST_MAP_TUPLE_TREE_FACTOR UINT64_C(64)
#define FROST_MAP_TUPLE_TREE_SLACK (UINT64_C(1) << 20)

static int guard_tripped(const frost_map_image_t *img);   /* the SIGBUS guard, at the end */

/* -1 with img->error when a zero page stood in for a shrunk file's memory */
static int
guard_check(const frost_map_image_t *img)
{
    if (img->guard >= 0 && guard_tripped(img)) {
        PyErr_Clear();
        PyErr_SetString(img->error, FROST_MAP_SHRANK_MESSAGE);
        return -1;
    }
    return 0;
}

/* `result`, unless guard_check fails (then NULL) */
static PyObject *
guarded(const frost_map_image_t *img, PyObject *result)
{
    if (guard_check(img) < 0) {
        Py_XDECREF(result);
        return NULL;
    }
    return result;
}

/* ---- open ------------------------------------------------------------------ */

int
frost_map_open(frost_map_image_t *img, const void *base, uint64_t size, PyObject *error)
{
    memset(img, 0, sizeof *img);
    img->guard = -1;
    img->base = base;
    img->size = size;
    img->error = error;
    if (size < FROST_MAP_HEADER_SIZE) {
        PyErr_Format(error, "not a frost image: %llu bytes, shorter than the %u-byte header",
                     ULL(size), FROST_MAP_HEADER_SIZE);
        return -1;
    }
    frost_map_header_t h;
    memcpy(&h, base, sizeof h);
    if (memcmp(h.magic, FROST_MAP_MAGIC, 8) != 0) {
        PyErr_SetString(error, "not a frost image of format 2 (bad magic)");
        return -1;
    }
    if (h.format_version != FROST_MAP_VERSION) {
        PyErr_Format(error, "frost image format version %u, this reader reads %u",
                     h.format_version, FROST_MAP_VERSION);
        return -1;
    }
    if (h.header_size != FROST_MAP_HEADER_SIZE) {
        PyErr_Format(error, "damaged frost image: header size %u, expected %u", h.header_size,
                     FROST_MAP_HEADER_SIZE);
        return -1;
    }
    if (h.image_size != size) {
        PyErr_Format(error, "damaged or truncated frost image: the header says %llu bytes, "
                     "the buffer has %llu", ULL(h.image_size), ULL(size));
        return -1;
    }
    if (frost_map_header_checksum(base) != h.header_checksum) {
        PyErr_SetString(error, "damaged frost image: header checksum mismatch");
        return -1;
    }
    if ((h.flags & ~(uint64_t)FROST_MAP_FLAGS_KNOWN) != 0) {
        PyErr_Format(error, "frost image has unknown flags 0x%llx (written by a newer frost?)",
                     ULL(h.flags));
        return -1;
    }
    if ((h.flags & FROST_MAP_FLAG_NO_BODY_CHECKSUM) && (h.flags & FROST_MAP_FLAG_BODY_XXH3)) {
        PyErr_SetString(error, "damaged frost image: flagged as having no body checksum and an "
                               "XXH3 one");
        return -1;
    }
    if ((h.flags & FROST_MAP_FLAG_NO_BODY_CHECKSUM) && h.body_checksum != 0) {
        PyErr_SetString(error, "damaged frost image: a body checksum in an image flagged as "
                               "having none");
        return -1;
    }
    for (size_t i = 0; i < sizeof h.reserved; i++) {
        if (h.reserved[i] != 0) {
            PyErr_SetString(error, "damaged frost image: reserved header bytes are not zero");
            return -1;
        }
    }
    unsigned tag = frost_mref_tag(h.root);
    if (tag > FROST_MREF_NODE) {
        PyErr_Format(error, "damaged frost image: root reference has unknown tag %u", tag);
        return -1;
    }
    if (tag == FROST_MREF_NODE
        && (frost_mref_offset8(h.root) < FROST_MAP_HEADER_SIZE
            || frost_map_span(img, frost_mref_offset8(h.root), 8) == NULL)) {
        PyErr_Format(error, "damaged frost image: root node offset %llu outside the image",
                     ULL(frost_mref_offset8(h.root)));
        return -1;
    }
    img->hash_key[0] = h.hash_key[0];
    img->hash_key[1] = h.hash_key[1];
    img->root = h.root;
    img->nnodes = h.nnodes;
    return 0;
}

/* ---- nodes ----------------------------------------------------------------- */

static const char *const kind_names[] = {"?", "tuple", "list", "dict", "set", "record", "array", "table"};

static const char *
kind_name(unsigned kind)
{
    return kind <= FROST_MNODE_KIND_MAX ? kind_names[kind] : "unknown";
}

static int
check_array(const frost_map_image_t *img, frost_mnode_t *n)
{
    uint64_t off = n->offset;
    if (n->len > FROST_ARRAY_MAX_NDIM) {
        damage(img, "array node at %llu has %llu dimensions (at most %d)", ULL(off), ULL(n->len),
               FROST_ARRAY_MAX_NDIM);
        return -1;
    }
    if (n->flags > FROST_ARRAY_FROM_MEMORYVIEW) {
        damage(img, "array node at %llu has unknown origin %u", ULL(off), n->flags);
        return -1;
    }
    const unsigned char *p = frost_map_span(img, off, FROST_MAP_ARRAY_FIXED + n->len * 8u);
    if (p == NULL) {
        damage(img, "array node at %llu runs past the end of the image", ULL(off));
        return -1;
    }
    n->itemsize = frost_map_rd64(p + 8);
    n->nbytes = frost_map_rd64(p + 16);
    uint64_t format_offset = frost_map_rd64(p + 24);
    n->format_len = frost_map_rd64(p + 32);
    uint64_t data_offset = frost_map_rd64(p + 40);
    n->shape = p + FROST_MAP_ARRAY_FIXED;
    if (n->itemsize == 0 || n->itemsize > (uint64_t)PY_SSIZE_T_MAX) {
        damage(img, "array node at %llu has item size %llu", ULL(off), ULL(n->itemsize));
        return -1;
    }
    if (n->format_len > FROST_ARRAY_FORMAT_MAX) {
        damage(img, "array node at %llu has a %llu-byte format", ULL(off), ULL(n->format_len));
        return -1;
    }
    const unsigned char *f = frost_map_span(img, format_offset, n->format_len + 1);
    if (f == NULL || f[n->format_len] != 0 || memchr(f, 0, n->format_len) != NULL) {
        damage(img, "array node at %llu: its format is not a NUL-terminated string inside the image",
               ULL(off));
        return -1;
    }
    n->format = (const char *)f;
    const char *why = NULL;
    if (frost__array_format_check(n->format, (Py_ssize_t)n->itemsize, &why) < 0) {
        damage(img, "array node at %llu: format '%.40s' refused: %s", ULL(off), n->format, why);
        return -1;
    }
    /* total: the bytes; span: the same without its zero extents, which bounds
     * every stride a reader computes (C order: a product of later extents):
     * a zero extent before huge ones made total 0 and the strides overflow */
    uint64_t total = n->itemsize, span = n->itemsize;
    for (uint64_t d = 0; d < n->len; d++) {
        uint64_t dim = frost_map_rd64(n->shape + d * 8u);
        if (dim > (uint64_t)PY_SSIZE_T_MAX || __builtin_mul_overflow(total, dim, &total)
            || (dim != 0 && (__builtin_mul_overflow(span, dim, &span)
                             || span > (uint64_t)PY_SSIZE_T_MAX))) {
            damage(img, "array node at %llu: its shape overflows", ULL(off));
            return -1;
        }
    }
    if (total != n->nbytes || n->nbytes > (uint64_t)PY_SSIZE_T_MAX) {
        damage(img, "array node at %llu: %llu bytes, but shape x item size = %llu", ULL(off),
               ULL(n->nbytes), ULL(total));
        return -1;
    }
    if (data_offset % FROST_MAP_ARRAY_DATA_ALIGN != 0) {
        damage(img, "array node at %llu: data offset %llu is not %u-aligned", ULL(off),
               ULL(data_offset), FROST_MAP_ARRAY_DATA_ALIGN);
        return -1;
    }
    n->data = frost_map_span(img, data_offset, n->nbytes);
    if (n->data == NULL) {
        damage(img, "array node at %llu: its %llu data bytes lie outside the image", ULL(off),
               ULL(n->nbytes));
        return -1;
    }
    return 0;
}

int
frost_map_node(const frost_map_image_t *img, uint64_t offset, unsigned want, frost_mnode_t *n)
{
    memset(n, 0, sizeof *n);
    n->offset = offset;
    const unsigned char *p = offset >= FROST_MAP_HEADER_SIZE && offset % 8 == 0
                             ? frost_map_span(img, offset, 8) : NULL;
    if (p == NULL) {
        damage(img, "node offset %llu is outside the image or misaligned", ULL(offset));
        return -1;
    }
    uint64_t head = frost_map_rd64(p);
    n->kind = frost_mnode_kind(head);
    n->flags = frost_mnode_flags(head);
    n->len = frost_mnode_len(head);
    if (n->kind == 0 || n->kind > FROST_MNODE_KIND_MAX) {
        damage(img, "node at %llu has unknown kind %u", ULL(offset), n->kind);
        return -1;
    }
    if (want != 0 && n->kind != want) {
        damage(img, "node at %llu is a %s where a %s belongs", ULL(offset), kind_name(n->kind),
               kind_name(want));
        return -1;
    }
    switch (n->kind) {
    case FROST_MNODE_TUPLE:
    case FROST_MNODE_LIST:
        if ((n->kind == FROST_MNODE_TUPLE && n->flags != 0) || n->flags > FROST_MLIST_FLOAT64) {
            damage(img, "%s node at %llu has unknown flags 0x%x", kind_name(n->kind), ULL(offset),
                   n->flags);
            return -1;
        }
        n->items = frost_map_span(img, offset + 8, n->len * 8u);
        if (n->items == NULL) {
            damage(img, "%s node at %llu: its %llu items run past the end of the image",
                   kind_name(n->kind), ULL(offset), ULL(n->len));
            return -1;
        }
        return 0;
    case FROST_MNODE_DICT:
    case FROST_MNODE_SET: {
        int is_dict = n->kind == FROST_MNODE_DICT;
        if (n->flags > (is_dict ? 0u : FROST_MSET_WAS_FROZENSET)) {
            damage(img, "%s node at %llu has unknown flags 0x%x", kind_name(n->kind), ULL(offset),
                   n->flags);
            return -1;
        }
        const unsigned char *t = frost_map_span(img, offset, 16);
        uint64_t log2 = t ? frost_map_rd64(t + 8) : 0;
        if (t == NULL || log2 < FROST_MAP_TABLE_MIN_LOG2 || log2 > FROST_MAP_TABLE_MAX_LOG2) {
            damage(img, "%s node at %llu: bad table size (log2 %llu)", kind_name(n->kind),
                   ULL(offset), ULL(log2));
            return -1;
        }
        uint64_t nslots = UINT64_C(1) << log2;
        if (n->len > nslots * 2 / 3) {
            damage(img, "%s node at %llu: %llu entries in %llu slots (more than 2/3 full)",
                   kind_name(n->kind), ULL(offset), ULL(n->len), ULL(nslots));
            return -1;
        }
        t = frost_map_span(img, offset, frost_map_table_size(n->len, (unsigned)log2, is_dict));
        if (t == NULL) {
            damage(img, "%s node at %llu runs past the end of the image", kind_name(n->kind),
                   ULL(offset));
            return -1;
        }
        n->log2_nslots = (unsigned)log2;
        n->mask = nslots - 1;
        n->hashes = t + frost_map_table_hashes();
        n->entries = t + frost_map_table_entries(n->len);
        n->index = t + frost_map_table_index(n->len, is_dict);
        return 0;
    }
    case FROST_MNODE_RECORD: {
        if (n->len != 0 || n->flags > FROST_RECORD_SHARED) {
            damage(img, "record node at %llu has bad kind %u or length %llu", ULL(offset), n->flags,
                   ULL(n->len));
            return -1;
        }
        const unsigned char *r = frost_map_span(img, offset, 32);
        if (r == NULL) {
            damage(img, "record node at %llu runs past the end of the image", ULL(offset));
            return -1;
        }
        n->module = frost_map_rd64(r + 8);
        n->qualname = frost_map_rd64(r + 16);
        n->state = frost_map_rd64(r + 24);
        return 0;
    }
    case FROST_MNODE_COLUMNS: {
        const unsigned char *c = n->flags == 0 && n->len == 0
                                 ? frost_map_span(img, offset, FROST_MAP_COLUMNS_SIZE) : NULL;
        if (c == NULL) {
            damage(img, "table node at %llu has flags 0x%x, length %llu or runs past the end of "
                   "the image", ULL(offset), n->flags, ULL(n->len));
            return -1;
        }
        uint64_t at = frost_map_rd64(c + 8);
        n->nbytes = frost_map_rd64(c + 16);
        n->data = at % FROST_MAP_COLUMNS_ALIGN == 0 ? frost_map_span(img, at, n->nbytes) : NULL;
        if (n->data == NULL) {
            damage(img, "table node at %llu: its %llu-byte blob at %llu is misaligned or lies "
                   "outside the image", ULL(offset), ULL(n->nbytes), ULL(at));
            return -1;
        }
        return 0;   /* the blob itself: frost_map_columns_check */
    }
    default:
        return check_array(img, n);
    }
}

int
frost_map_columns_check(const frost_map_image_t *img, const frost_mnode_t *n)
{
    char err[FROST_COL_ERRLEN];
    char *blob = (char *)n->data;   /* frost__colblob_check writes nothing with fix = 0 */
    char *aligned = NULL;
    if ((uintptr_t)blob % 8 != 0) {   /* a buffer at an odd address: check an aligned copy */
        aligned = malloc(n->nbytes ? (size_t)n->nbytes : 1);
        if (aligned == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(aligned, blob, (size_t)n->nbytes);
        blob = aligned;
    }
    int rc = frost__colblob_check(blob, n->nbytes, 0, err, sizeof err);
    free(aligned);
    if (rc < 0) {
        PyErr_Format(img->error, "damaged frost image: table node at %llu: %s", ULL(n->offset), err);
        return -1;
    }
    return guard_check(img);
}

/* ---- leaves ---------------------------------------------------------------- */

int
frost_map_ref_bytes(const frost_map_image_t *img, frost_mref_t ref, uint64_t *scratch,
                    const unsigned char **p, uint64_t *n)
{
    unsigned tag = frost_mref_tag(ref);
    if (tag == FROST_MREF_STR_INLINE || tag == FROST_MREF_BYTES_INLINE) {
        uint64_t len = (ref >> 4) & 0xF;
        if (len > 7 || (len < 7 && (ref >> (8 + 8 * len)) != 0)) {
            damage(img, "inline %s reference 0x%llx is malformed",
                   tag == FROST_MREF_STR_INLINE ? "str" : "bytes", ULL(ref));
            return -1;
        }
        *scratch = ref >> 8;
        *p = (const unsigned char *)scratch;
        *n = len;
        return 0;
    }
    uint64_t off = frost_mref_byte_offset(ref), len = frost_mref_len_field(ref);
    const unsigned char *q;
    if (len == FROST_MREF_LONG_LEN) {
        q = off % 8 == 0 ? frost_map_span(img, off, 8) : NULL;
        if (q != NULL) {
            len = frost_map_rd64(q);
            q = off <= UINT64_MAX - 8 ? frost_map_span(img, off + 8, len) : NULL;
        }
    }
    else {
        q = frost_map_span(img, off, len);
    }
    if (q == NULL || off < FROST_MAP_HEADER_SIZE) {
        damage(img, "%s reference 0x%llx points outside the image",
               tag == FROST_MREF_STR ? "str" : "bytes", ULL(ref));
        return -1;
    }
    *p = q;
    *n = len;
    return 0;
}

static PyObject *
load_str(const frost_map_image_t *img, frost_mref_t ref)
{
    uint64_t scratch, n;
    const unsigned char *p;
    if (frost_map_ref_bytes(img, ref, &scratch, &p, &n) < 0) {
        return NULL;
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n, "surrogatepass");
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        damage(img, "str reference 0x%llx holds bytes that are not UTF-8", ULL(ref));
    }
    return s;
}

static PyObject *
load_bigint(const frost_map_image_t *img, frost_mref_t ref)
{
    uint64_t off = frost_mref_offset8(ref);
    const unsigned char *p = off >= FROST_MAP_HEADER_SIZE ? frost_map_span(img, off, 8) : NULL;
    uint64_t n = p ? frost_map_rd64(p) : 0;
    if (p == NULL || n < 1 || n > (UINT64_C(1) << 24) || frost_map_span(img, off + 8, n) == NULL) {
        damage(img, "big int reference 0x%llx is outside the image or malformed", ULL(ref));
        return NULL;
    }
    return _PyLong_FromByteArray(p + 8, (size_t)n, 1, 1);
}

static const unsigned char *
fixed_leaf(const frost_map_image_t *img, frost_mref_t ref, uint64_t size, const char *what)
{
    uint64_t off = frost_mref_offset8(ref);
    const unsigned char *p = off >= FROST_MAP_HEADER_SIZE ? frost_map_span(img, off, size) : NULL;
    if (p == NULL) {
        damage(img, "%s reference 0x%llx points outside the image", what, ULL(ref));
    }
    return p;
}

static PyObject *load_ref(const frost_map_image_t *img, frost_mref_t ref, int depth, PyObject **memo);

/* The leaves that need no image bytes (inline ints, floats, None/True/False,
 * short ASCII strs), without a call: NULL (no exception) for the others. */
static inline PyObject *
load_inline(frost_mref_t ref)
{
    switch (frost_mref_tag(ref)) {
    case FROST_MREF_INT:
        return PyLong_FromLongLong((int64_t)ref >> 4);
    case FROST_MREF_FLOAT_INLINE: {
        double d;
        uint64_t bits = ref & ~(uint64_t)0xF;
        memcpy(&d, &bits, 8);
        return PyFloat_FromDouble(d);
    }
    case FROST_MREF_SPECIAL:
        switch (ref >> 4) {
        case FROST_MSPECIAL_NONE: Py_RETURN_NONE;
        case FROST_MSPECIAL_FALSE: Py_RETURN_FALSE;
        case FROST_MSPECIAL_TRUE: Py_RETURN_TRUE;
        default: return NULL;
        }
    case FROST_MREF_STR_INLINE: {
        uint64_t len = (ref >> 4) & 0xF, bytes = ref >> 8;
        if (len < 2 || len > 7 || (bytes & UINT64_C(0x8080808080808080)) != 0
            || (bytes >> (8 * len)) != 0) {
            return NULL;   /* 0/1 chars (CPython's singletons), non-ASCII, malformed: the slow path */
        }
        PyObject *s = PyUnicode_New((Py_ssize_t)len, 127);
        if (s != NULL) {
            memcpy(PyUnicode_1BYTE_DATA(s), &bytes, (size_t)len);
        }
        return s;
    }
    default:
        return NULL;
    }
}

/* A TUPLE node as a real tuple (`in_key`: a table key's, whose items are
 * leaves or tuples: any other node is damage); *tree = the items of the
 * tuple counted as a tree (shared sub-tuples once per path). Sub-tuples met again are shared
 * (`memo`: {offset: (tuple, tree)}, made on first use), and the tree is
 * bounded by the image size: a hostile DAG of tuples (T0 = (T1, T1), T1 =
 * (T2, T2), ...) would otherwise hand out an object whose hash, repr or
 * comparison walks 2^depth paths. */
static PyObject *
load_tuple(const frost_map_image_t *img, const frost_mnode_t *n, int depth, PyObject **memo,
           uint64_t *tree, int in_key)
{
    if (depth >= FROST_MAX_TUPLE_DEPTH) {
        damage(img, "tuples nest deeper than %d levels (or form a cycle) at node %llu",
               FROST_MAX_TUPLE_DEPTH, ULL(n->offset));
        return NULL;
    }
    PyObject *key = NULL;
    if (depth > 0) {
        if (*memo == NULL && (*memo = PyDict_New()) == NULL) {
            return NULL;
        }
        key = PyLong_FromUnsignedLongLong(n->offset);
        PyObject *seen = key ? PyDict_GetItemWithError(*memo, key) : NULL;
        if (seen != NULL || PyErr_Occurred()) {
            Py_XDECREF(key);
            if (seen == NULL) {
                return NULL;
            }
            *tree = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(seen, 1));
            return Py_NewRef(PyTuple_GET_ITEM(seen, 0));
        }
    }
    uint64_t limit = FROST_MAP_TUPLE_TREE_FACTOR * (img->size + FROST_MAP_TUPLE_TREE_SLACK);
    *tree = n->len;
    PyObject *t = PyTuple_New((Py_ssize_t)n->len);
    for (uint64_t i = 0; t != NULL && i < n->len; i++) {
        frost_mref_t ref = frost_map_rd64(n->items + i * 8);
        PyObject *item = load_inline(ref);
        frost_mnode_t child;
        if (item != NULL) {
            /* done */
        }
        else if (PyErr_Occurred()) {
            /* MemoryError */
        }
        else if (frost_mref_tag(ref) != FROST_MREF_NODE) {
            item = load_ref(img, ref, depth + 1, memo);
        }
        else if (frost_map_node(img, frost_mref_offset8(ref), 0, &child) == 0) {
            if (child.kind == FROST_MNODE_TUPLE) {
                uint64_t sub = 0;
                item = load_tuple(img, &child, depth + 1, memo, &sub, in_key);
                *tree += sub;
                if (item != NULL && *tree > limit) {
                    damage(img, "tuple node at %llu shares sub-tuples beyond %llu items as a tree "
                           "(64 x (the image size + 1 Mi)): refused as a hostile graph; data "
                           "sharing tuples this much saves in format 1",
                           ULL(n->offset), ULL(limit));
                    Py_CLEAR(item);
                }
            }
            else if (in_key) {
                damage(img, "a table key holds a %s node at %llu (keys are leaves or tuples of "
                       "leaves)", kind_name(child.kind), ULL(child.offset));
            }
            else {
                item = img->make_view ? img->make_view(img->view_ctx, &child) : Py_NewRef(Py_None);
            }
        }
        if (item == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, item);
    }
    if (t != NULL && key != NULL) {
        PyObject *entry = Py_BuildValue("(OK)", t, (unsigned long long)*tree);
        if (entry == NULL || PyDict_SetItem(*memo, key, entry) < 0) {
            Py_CLEAR(t);
        }
        Py_XDECREF(entry);
    }
    Py_XDECREF(key);
    return t;
}

static PyObject *
load_ref(const frost_map_image_t *img, frost_mref_t ref, int depth, PyObject **memo)
{
    switch (frost_mref_tag(ref)) {
    case FROST_MREF_SPECIAL:
        switch (ref >> 4) {
        case FROST_MSPECIAL_NONE: Py_RETURN_NONE;
        case FROST_MSPECIAL_FALSE: Py_RETURN_FALSE;
        case FROST_MSPECIAL_TRUE: Py_RETURN_TRUE;
        case FROST_MSPECIAL_ELLIPSIS: return Py_NewRef(Py_Ellipsis);
        case FROST_MSPECIAL_EMPTY_TUPLE: return PyTuple_New(0);
        default:
            damage(img, "unknown special value %llu", ULL(ref >> 4));
            return NULL;
        }
    case FROST_MREF_INT:
        return PyLong_FromLongLong((int64_t)ref >> 4);
    case FROST_MREF_FLOAT_INLINE: {
        double d;
        uint64_t bits = ref & ~(uint64_t)0xF;
        memcpy(&d, &bits, 8);
        return PyFloat_FromDouble(d);
    }
    case FROST_MREF_STR_INLINE:
    case FROST_MREF_STR:
        return load_str(img, ref);
    case FROST_MREF_BYTES_INLINE:
    case FROST_MREF_BYTES: {
        uint64_t scratch, n;
        const unsigned char *p;
        if (frost_map_ref_bytes(img, ref, &scratch, &p, &n) < 0) {
            return NULL;
        }
        return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
    }
    case FROST_MREF_FLOAT: {
        const unsigned char *p = fixed_leaf(img, ref, 8, "float");
        double d;
        return p ? (memcpy(&d, p, 8), PyFloat_FromDouble(d)) : NULL;
    }
    case FROST_MREF_COMPLEX: {
        const unsigned char *p = fixed_leaf(img, ref, 16, "complex");
        double d[2];
        return p ? (memcpy(d, p, 16), PyComplex_FromDoubles(d[0], d[1])) : NULL;
    }
    case FROST_MREF_BIGINT:
        return load_bigint(img, ref);
    case FROST_MREF_NODE: {
        frost_mnode_t n;
        if (frost_map_node(img, frost_mref_offset8(ref), 0, &n) < 0) {
            return NULL;
        }
        if (n.kind == FROST_MNODE_TUPLE) {
            uint64_t tree;
            return load_tuple(img, &n, depth, memo, &tree, 0);
        }
        if (img->make_view == NULL) {
            Py_RETURN_NONE;
        }
        return img->make_view(img->view_ctx, &n);
    }
    default:
        damage(img, "reference 0x%llx has unknown tag %u", ULL(ref), frost_mref_tag(ref));
        return NULL;
    }
}

/* A small TUPLE node of leaves (W1's values, W2's rows) without the general
 * path's node descriptor and memo: NULL without an exception when the node is
 * anything else (the general path then decides, and says why); NULL with one
 * for damage in a leaf. */
static PyObject *
load_small_tuple(const frost_map_image_t *img, uint64_t off)
{
    const unsigned char *p = off >= FROST_MAP_HEADER_SIZE ? frost_map_span(img, off, 8) : NULL;
    if (p == NULL) {
        return NULL;
    }
    uint64_t head = frost_map_rd64(p), len = frost_mnode_len(head);
    const unsigned char *items = (head & 0xFFFFu) == FROST_MNODE_TUPLE && len <= 16
                                 ? frost_map_span(img, off + 8, len * 8) : NULL;
    if (items == NULL) {
        return NULL;
    }
    for (uint64_t i = 0; i < len; i++) {
        if (frost_mref_tag(frost_map_rd64(items + i * 8)) == FROST_MREF_NODE) {
            return NULL;   /* nested containers: the general path */
        }
    }
    PyObject *t = PyTuple_New((Py_ssize_t)len), *no_memo = NULL;
    for (uint64_t i = 0; t != NULL && i < len; i++) {
        frost_mref_t ref = frost_map_rd64(items + i * 8);
        PyObject *item = load_inline(ref);
        if (item == NULL && !PyErr_Occurred()) {
            item = load_ref(img, ref, 1, &no_memo);   /* a leaf: no memo needed */
        }
        if (item == NULL) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, item);
    }
    return t;
}

PyObject *
frost_map_load(const frost_map_image_t *img, frost_mref_t ref)
{
    PyObject *r = load_inline(ref);
    if (r != NULL || PyErr_Occurred()) {
        return r;   /* (inline: read from a ref the caller read; the caller checks) */
    }
    if (frost_mref_tag(ref) == FROST_MREF_NODE) {
        r = load_small_tuple(img, frost_mref_offset8(ref));
        if (r != NULL || PyErr_Occurred()) {
            return guarded(img, r);
        }
    }
    PyObject *memo = NULL;
    r = load_ref(img, ref, 0, &memo);
    Py_XDECREF(memo);
    return guarded(img, r);
}

PyObject *
frost_map_load_key(const frost_map_image_t *img, frost_mref_t ref)
{
    if (frost_mref_tag(ref) != FROST_MREF_NODE) {
        return frost_map_load(img, ref);   /* a leaf */
    }
    frost_mnode_t n;
    PyObject *r = NULL;
    if (frost_map_node(img, frost_mref_offset8(ref), 0, &n) < 0) {
        /* damage raised */
    }
    else if (n.kind != FROST_MNODE_TUPLE) {
        damage(img, "a table key is a %s node at %llu (keys are leaves or tuples of leaves)",
               kind_name(n.kind), ULL(n.offset));
    }
    else {
        PyObject *memo = NULL;
        uint64_t tree;
        r = load_tuple(img, &n, 0, &memo, &tree, 1);
        Py_XDECREF(memo);
    }
    return guarded(img, r);
}

PyObject *
frost_map_seq_item(const frost_map_image_t *img, const frost_mnode_t *n, uint64_t i)
{
    const unsigned char *p = n->items + i * 8;
    PyObject *r;
    switch (n->flags) {
    case FROST_MLIST_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        r = PyLong_FromLongLong(v);
        break;
    }
    case FROST_MLIST_FLOAT64: {
        double d;
        memcpy(&d, p, 8);
        r = PyFloat_FromDouble(d);
        break;
    }
    default:
        return frost_map_load(img, frost_map_rd64(p));   /* (guarded there) */
    }
    return guarded(img, r);
}

/* ---- equality against a query ------------------------------------------------ */

static int
is_numeric_ref(frost_mref_t ref)
{
    switch (frost_mref_tag(ref)) {
    case FROST_MREF_INT:
    case FROST_MREF_FLOAT_INLINE:
    case FROST_MREF_FLOAT:
    case FROST_MREF_COMPLEX:
    case FROST_MREF_BIGINT:
        return 1;
    case FROST_MREF_SPECIAL:
        return (ref >> 4) == FROST_MSPECIAL_TRUE || (ref >> 4) == FROST_MSPECIAL_FALSE;
    default:
        return 0;
    }
}

/* `key`: ref is a table key (frost_map_load_key) */
static Py_NO_INLINE int
compare_materialized(const frost_map_image_t *img, frost_mref_t ref, PyObject *query, int key)
{
    PyObject *mine = key ? frost_map_load_key(img, ref) : frost_map_load(img, ref);
    if (mine == NULL) {
        return -1;
    }
    int eq = PyObject_RichCompareBool(mine, query, Py_EQ);
    Py_DECREF(mine);
    return eq;
}

/* `ref` (a STR or BYTES ref, by `str_tags`) against bytes (q, qn) */
static int
bytes_equal(const frost_map_image_t *img, frost_mref_t ref, int want_str, const char *q,
            Py_ssize_t qn)
{
    unsigned tag = frost_mref_tag(ref);
    int is_str = tag == FROST_MREF_STR || tag == FROST_MREF_STR_INLINE;
    int is_bytes = tag == FROST_MREF_BYTES || tag == FROST_MREF_BYTES_INLINE;
    if (want_str ? !is_str : !is_bytes) {
        return 0;
    }
    uint64_t scratch, n;
    const unsigned char *p;
    if (frost_map_ref_bytes(img, ref, &scratch, &p, &n) < 0) {
        return -1;
    }
    return n == (uint64_t)qn && memcmp(p, q, (size_t)qn) == 0;
}

/* The UTF-8 (surrogatepass) of a str query, in place or in scratch/heap. */
typedef struct {
    const char *data;
    size_t len;
    char *heap;
    char scratch[FROST_MAP_UTF8_SCRATCH];
} utf8_t;

static int
utf8_of(PyObject *s, utf8_t *u)
{
    u->heap = NULL;
    return frost_map_str_utf8(s, u->scratch, &u->heap, &u->data, &u->len);
}

/* The type of image keys that `query` is, when its value stands for it
 * (frost_map_compares_as); NULL for anything Python must compare. */
static PyTypeObject *
by_value_type(PyObject *query)
{
    PyTypeObject *tp = Py_TYPE(query);
    PyTypeObject *base = PyUnicode_Check(query) ? &PyUnicode_Type
                         : PyBytes_Check(query) ? &PyBytes_Type
                         : PyLong_Check(query)  ? &PyLong_Type
                         : PyFloat_Check(query) ? &PyFloat_Type
                         : PyComplex_Check(query) ? &PyComplex_Type
                         : PyTuple_Check(query) ? &PyTuple_Type
                                                : NULL;
    return base != NULL && frost_map_compares_as(tp, base) ? base : NULL;
}

/* frost_map_ref_equal; `key`: ref is a table key. (Not inlined: the lookups'
 * probe walk inlines its str/bytes/int cases and calls this for the rest.) */
static Py_NO_INLINE int
ref_equal(const frost_map_image_t *img, frost_mref_t ref, PyObject *query, int key)
{
    if (query == Py_None) {
        return ref == FROST_MREF_MAKE_SPECIAL(FROST_MSPECIAL_NONE);
    }
    if (query == Py_Ellipsis) {
        return ref == FROST_MREF_MAKE_SPECIAL(FROST_MSPECIAL_ELLIPSIS);
    }
    PyTypeObject *tp = Py_TYPE(query);
    if (tp != &PyUnicode_Type && tp != &PyLong_Type && tp != &PyBytes_Type && tp != &PyFloat_Type
        && tp != &PyTuple_Type && by_value_type(query) == NULL) {
        return compare_materialized(img, ref, query, key);   /* user objects, own __eq__ */
    }
    if (PyUnicode_Check(query)) {
        utf8_t u;
        if (utf8_of(query, &u) < 0) {
            return -1;
        }
        int eq = bytes_equal(img, ref, 1, u.data, (Py_ssize_t)u.len);
        PyMem_Free(u.heap);
        return eq;
    }
    if (PyBytes_Check(query)) {
        return bytes_equal(img, ref, 0, PyBytes_AS_STRING(query), PyBytes_GET_SIZE(query));
    }
    if (PyLong_Check(query) || PyFloat_Check(query) || PyComplex_Check(query)) {
        if (!is_numeric_ref(ref)) {
            return 0;
        }
        if (frost_mref_tag(ref) == FROST_MREF_INT && PyLong_CheckExact(query)) {
            int overflow;
            long long v = PyLong_AsLongLongAndOverflow(query, &overflow);
            if (v == -1 && PyErr_Occurred()) {
                return -1;
            }
            return !overflow && v == ((int64_t)ref >> 4);
        }
        return compare_materialized(img, ref, query, key);
    }
    if (PyTuple_Check(query)) {
        if (ref == FROST_MREF_MAKE_SPECIAL(FROST_MSPECIAL_EMPTY_TUPLE)) {
            return PyTuple_GET_SIZE(query) == 0;
        }
        if (frost_mref_tag(ref) != FROST_MREF_NODE) {
            return 0;
        }
        return compare_materialized(img, ref, query, key);
    }
    return compare_materialized(img, ref, query, key);
}

int
frost_map_ref_equal(const frost_map_image_t *img, frost_mref_t ref, PyObject *query)
{
    return ref_equal(img, ref, query, 0);
}

/* ---- tables ------------------------------------------------------------------ */

/* A query's in-place form, computed once per lookup. */
typedef struct {
    int kind;                    /* 1 str, 2 bytes, 3 exact int64, 0 other */
    const char *bytes;
    Py_ssize_t n;
    int64_t value;
    utf8_t utf8;                 /* str */
} query_t;

static int
query_prepare(PyObject *key, query_t *q)
{
    q->kind = 0;
    q->utf8.heap = NULL;   /* (not the whole struct: its scratch is 256 bytes) */
    if (PyUnicode_Check(key)) {
        q->kind = 1;
        if (utf8_of(key, &q->utf8) < 0) {
            return -1;
        }
        q->bytes = q->utf8.data;
        q->n = (Py_ssize_t)q->utf8.len;
        return 0;
    }
    if (PyBytes_Check(key)) {
        q->kind = 2;
        q->bytes = PyBytes_AS_STRING(key);
        q->n = PyBytes_GET_SIZE(key);
        return 0;
    }
    if (PyLong_CheckExact(key)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (!overflow) {
            q->kind = 3;
            q->value = v;
        }
    }
    return 0;
}

static int
query_equal(const frost_map_image_t *img, frost_mref_t ref, PyObject *key, const query_t *q)
{
    switch (q->kind) {
    case 1:
        return bytes_equal(img, ref, 1, q->bytes, q->n);
    case 2:
        return bytes_equal(img, ref, 0, q->bytes, q->n);
    case 3:
        if (frost_mref_tag(ref) == FROST_MREF_INT) {
            return q->value == ((int64_t)ref >> 4);
        }
        return is_numeric_ref(ref) ? compare_materialized(img, ref, key, 1) : 0;
    default:
        return ref_equal(img, ref, key, 1);
    }
}

/*
 * The one walk of a table's probe sequence for keyed hash h: `match` is asked
 * about each entry whose stored hash is (uint32_t)h, in probe order, until it
 * says 1 (that entry's number is returned) or -1 (-2 returned, its exception
 * set); -1 at an empty slot or after nslots slots; -2 with damage raised for
 * an index slot naming no entry. Inlined into each caller with its own match
 * (the hot lookup keeps its direct calls).
 */
typedef int (*probe_match_t)(const frost_map_image_t *img, const frost_mnode_t *t, uint32_t ix,
                             void *ctx);

static inline __attribute__((always_inline)) Py_ssize_t
probe_walk(const frost_map_image_t *img, const frost_mnode_t *t, uint64_t h, probe_match_t match,
           void *ctx)
{
    uint64_t slot = h & t->mask;
    for (uint64_t probes = 0; probes <= t->mask; probes++) {
        uint32_t ix = frost_map_rd32(t->index + slot * 4);
        if (ix == FROST_MAP_EMPTY_SLOT) {
            return -1;
        }
        if (ix >= t->len) {
            damage(img, "%s node at %llu: index slot %llu names entry %u of %llu",
                   kind_name(t->kind), ULL(t->offset), ULL(slot), ix, ULL(t->len));
            return -2;
        }
        if (frost_map_rd32(t->hashes + (uint64_t)ix * 4) == (uint32_t)h) {
            int m = match(img, t, ix, ctx);
            if (m != 0) {
                return m > 0 ? (Py_ssize_t)ix : -2;
            }
        }
        slot = (slot + 1) & t->mask;
    }
    return -1;
}

typedef struct {
    PyObject *key;
    const query_t *q;
} query_ctx_t;

static int
query_match(const frost_map_image_t *img, const frost_mnode_t *t, uint32_t ix, void *ctx)
{
    const query_ctx_t *c = ctx;
    return query_equal(img, frost_map_table_key(t, ix), c->key, c->q);
}

/* probe for `key` with keyed hash h: entry >= 0, -1 absent, -2 error */
static inline __attribute__((always_inline)) Py_ssize_t
table_probe(const frost_map_image_t *img, const frost_mnode_t *t, PyObject *key, uint64_t h,
            const query_t *q)
{
    query_ctx_t c = {key, q};
    return probe_walk(img, t, h, query_match, &c);
}

static int
entry_match(const frost_map_image_t *Py_UNUSED(img), const frost_mnode_t *Py_UNUSED(t), uint32_t ix,
            void *ctx)
{
    return (uint64_t)ix == *(const uint64_t *)ctx;
}

/* Whether the probe sequence of hash h meets entry `entry` before an empty
 * slot (verify, for keys holding a NaN, which no query equals): entry, -1
 * not, -2 damage. */
static Py_ssize_t
probe_reaches(const frost_map_image_t *img, const frost_mnode_t *t, uint64_t h, uint64_t entry)
{
    return probe_walk(img, t, h, entry_match, &entry);
}

/* ---- keys Python compares (FROST_MAP_HASH_FOREIGN) ----------------------------- */

typedef struct {
    PyObject *key;
    Py_hash_t hash;              /* hash(key) */
} foreign_t;

/* Whether image key `ref` is one a dict holding it would find for f->key:
 * hash(ref) == hash(key) and ref == key (Python's, in a dict's order) */
static int
foreign_equal(const frost_map_image_t *img, frost_mref_t ref, const foreign_t *f)
{
    PyObject *mine = frost_map_load_key(img, ref);
    if (mine == NULL) {
        return -1;
    }
    Py_hash_t h = PyObject_Hash(mine);
    int eq = h == -1 ? -1 : h == f->hash ? PyObject_RichCompareBool(mine, f->key, Py_EQ) : 0;
    Py_DECREF(mine);
    return eq;
}

static int
foreign_match(const frost_map_image_t *img, const frost_mnode_t *t, uint32_t ix, void *ctx)
{
    frost_mref_t ref = frost_map_table_key(t, ix);
    return is_numeric_ref(ref) ? foreign_equal(img, ref, ctx) : 0;
}

/*
 * A FOREIGN key (a Fraction, a Decimal, a user object, a str subclass with
 * its own __eq__, ...): found as a dict of the materialized keys finds it.
 * Its Python hash is computed (TypeError for an unhashable, its __hash__'s
 * exception propagates). A type with object's own == equals only itself, and
 * every image key is a fresh object: absent. Else the numeric keys whose
 * Python hash is its own lie on one probe sequence (their keyed hash is that
 * hash, finalized), and the other kinds' (str, bytes, tuple, None) keyed
 * hashes are not Python's: those keys are compared one by one.
 */
static Py_ssize_t
foreign_find(const frost_map_image_t *img, const frost_mnode_t *t, PyObject *key)
{
    foreign_t f = {key, PyObject_Hash(key)};
    if (f.hash == -1) {
        return -2;
    }
    if (Py_TYPE(key)->tp_richcompare == PyBaseObject_Type.tp_richcompare || t->len == 0) {
        return -1;
    }
    uint64_t h = frost_map_mix((uint64_t)(int64_t)f.hash ^ img->hash_key[1]);
    Py_ssize_t ix = probe_walk(img, t, h, foreign_match, &f);
    for (uint64_t i = 0; ix == -1 && i < t->len; i++) {
        frost_mref_t ref = frost_map_table_key(t, i);
        int eq = is_numeric_ref(ref) ? 0 : foreign_equal(img, ref, &f);
        ix = eq == 0 ? -1 : eq > 0 ? (Py_ssize_t)i : -2;
    }
    return ix;
}

Py_ssize_t
frost_map_table_find(const frost_map_image_t *img, const frost_mnode_t *t, PyObject *key)
{
    uint64_t h;
    Py_ssize_t ix;
    int rc = frost_map_key_hash(img->hash_key, key, &h);
    if (rc == FROST_MAP_HASH_FOREIGN) {
        ix = foreign_find(img, t, key);
    }
    else if (rc != 0) {
        return rc == FROST_MAP_HASH_NOT_KEY ? -1 : -2;
    }
    else if (t->len == 0) {
        return -1;
    }
    else {
        query_t q;
        if (query_prepare(key, &q) < 0) {
            return -2;
        }
        ix = table_probe(img, t, key, h, &q);
        PyMem_Free(q.utf8.heap);
    }
    return ix != -2 && guard_check(img) < 0 ? -2 : ix;
}

/* ---- verify ------------------------------------------------------------------ */

typedef struct {
    const frost_map_image_t *img;
    unsigned flags;
    uint64_t *visited;           /* one bit per 8-byte word of the image */
    uint64_t *stack;             /* node offsets to check */
    size_t nstack, capstack;
    uint64_t nodes;
    uint64_t blob_bytes;         /* table blobs checked: at most the image's size (one check of
                                    overlapping or repeated blobs each would be quadratic) */
} verifier_t;

static int
push_node(verifier_t *v, uint64_t off)
{
    uint64_t word = off / 8;
    if (off % 8 != 0 || off < FROST_MAP_HEADER_SIZE || off >= v->img->size) {
        damage(v->img, "node offset %llu is outside the image or misaligned", ULL(off));
        return -1;
    }
    if (v->visited[word / 64] & (UINT64_C(1) << (word % 64))) {
        return 0;
    }
    v->visited[word / 64] |= UINT64_C(1) << (word % 64);
    if (v->nstack == v->capstack) {
        size_t cap = v->capstack ? v->capstack * 2 : 256;
        uint64_t *s = PyMem_Realloc(v->stack, cap * sizeof *s);
        if (s == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        v->stack = s;
        v->capstack = cap;
    }
    v->stack[v->nstack++] = off;
    return 0;
}

/* check a leaf (everything but its nodes), push a node */
static int
check_ref(verifier_t *v, frost_mref_t ref)
{
    const frost_map_image_t *img = v->img;
    unsigned tag = frost_mref_tag(ref);
    switch (tag) {
    case FROST_MREF_SPECIAL:
        if ((ref >> 4) > FROST_MSPECIAL_EMPTY_TUPLE) {
            damage(img, "unknown special value %llu", ULL(ref >> 4));
            return -1;
        }
        return 0;
    case FROST_MREF_INT:
        return 0;
    case FROST_MREF_FLOAT_INLINE:
        return 0;
    case FROST_MREF_STR_INLINE:
    case FROST_MREF_STR:
    case FROST_MREF_BYTES_INLINE:
    case FROST_MREF_BYTES: {
        uint64_t scratch, n;
        const unsigned char *p;
        if (frost_map_ref_bytes(img, ref, &scratch, &p, &n) < 0) {
            return -1;
        }
        if ((tag == FROST_MREF_STR || tag == FROST_MREF_STR_INLINE) && !frost__utf8_valid(p, n, 1)) {
            damage(img, "str reference 0x%llx holds bytes that are not UTF-8", ULL(ref));
            return -1;
        }
        return 0;
    }
    case FROST_MREF_FLOAT:
        return fixed_leaf(img, ref, 8, "float") ? 0 : -1;
    case FROST_MREF_COMPLEX:
        return fixed_leaf(img, ref, 16, "complex") ? 0 : -1;
    case FROST_MREF_BIGINT: {
        PyObject *i = load_bigint(img, ref);
        if (i == NULL) {
            return -1;
        }
        Py_DECREF(i);
        const unsigned char *p = img->base + frost_mref_offset8(ref);
        uint64_t n = frost_map_rd64(p);
        if (n > 1) {   /* minimal: the top byte is not just sign extension */
            unsigned top = p[8 + n - 1], next = p[8 + n - 2];
            if ((top == 0 && !(next & 0x80)) || (top == 0xFF && (next & 0x80))) {
                damage(img, "big int reference 0x%llx is not minimal", ULL(ref));
                return -1;
            }
        }
        return 0;
    }
    case FROST_MREF_NODE:
        return push_node(v, frost_mref_offset8(ref));
    default:
        damage(img, "reference 0x%llx has unknown tag %u", ULL(ref), tag);
        return -1;
    }
}

/* A key: a leaf or a TUPLE node of keys (checked here, not pushed). */
static int
check_key(verifier_t *v, frost_mref_t ref, int depth, uint64_t *budget)
{
    if (frost_mref_tag(ref) != FROST_MREF_NODE) {
        return check_ref(v, ref);
    }
    frost_mnode_t n;
    if (depth >= FROST_MAX_TUPLE_DEPTH) {
        damage(v->img, "a tuple key nests deeper than %d levels (or forms a cycle)",
               FROST_MAX_TUPLE_DEPTH);
        return -1;
    }
    if (frost_map_node(v->img, frost_mref_offset8(ref), 0, &n) < 0) {
        return -1;
    }
    if (n.kind != FROST_MNODE_TUPLE) {
        damage(v->img, "a table key is a %s node (keys are leaves or tuples of leaves)",
               kind_name(n.kind));
        return -1;
    }
    if (n.len > *budget) {
        damage(v->img, "a tuple key at %llu is too large", ULL(n.offset));
        return -1;
    }
    *budget -= n.len;
    for (uint64_t i = 0; i < n.len; i++) {
        if (check_key(v, frost_map_rd64(n.items + i * 8), depth + 1, budget) < 0) {
            return -1;
        }
    }
    return push_node(v, n.offset);
}

static int
verify_table(verifier_t *v, const frost_mnode_t *t)
{
    const frost_map_image_t *img = v->img;
    uint64_t nslots = t->mask + 1, used = 0;
    for (uint64_t s = 0; s < nslots; s++) {
        uint32_t ix = frost_map_rd32(t->index + s * 4);
        if (ix != FROST_MAP_EMPTY_SLOT) {
            if (ix >= t->len) {
                damage(img, "%s node at %llu: index slot %llu names entry %u of %llu",
                       kind_name(t->kind), ULL(t->offset), ULL(s), ix, ULL(t->len));
                return -1;
            }
            used++;
        }
    }
    if (used != t->len) {
        damage(img, "%s node at %llu: %llu index slots used for %llu entries", kind_name(t->kind),
               ULL(t->offset), ULL(used), ULL(t->len));
        return -1;
    }
    for (uint64_t i = 0; i < t->len; i++) {
        frost_mref_t kref = frost_map_table_key(t, i);
        uint64_t budget = 1u << 16;
        if (check_key(v, kref, 0, &budget) < 0) {
            return -1;
        }
        if (t->kind == FROST_MNODE_DICT && check_ref(v, frost_map_table_value(t, i)) < 0) {
            return -1;
        }
        PyObject *key = frost_map_load(img, kref);
        if (key == NULL) {
            return -1;
        }
        uint64_t h;
        int rc = frost_map_entry_key_hash(img->hash_key, key, i, &h);
        Py_ssize_t found = -2;
        if (rc == 0) {
            if (frost_map_rd32(t->hashes + i * 4) != (uint32_t)h) {
                damage(img, "%s node at %llu: entry %llu's stored hash is not its key's",
                       kind_name(t->kind), ULL(t->offset), ULL(i));
            }
            else if (frost__key_holds_nan(key)) {   /* equal to no query: its probe must reach it */
                found = probe_reaches(img, t, h, i);
                if (found == -1) {
                    damage(img, "%s node at %llu: entry %llu is not on its hash's probe sequence",
                           kind_name(t->kind), ULL(t->offset), ULL(i));
                    found = -2;
                }
            }
            else {
                query_t q;
                if (query_prepare(key, &q) == 0) {
                    found = table_probe(img, t, key, h, &q);
                    PyMem_Free(q.utf8.heap);
                }
                if (found != -2 && found != (Py_ssize_t)i) {
                    damage(img, "%s node at %llu: a lookup of entry %llu's key finds %s",
                           kind_name(t->kind), ULL(t->offset), ULL(i),
                           found < 0 ? "nothing" : "another entry (a duplicate key)");
                    found = -2;
                }
            }
        }
        else if (rc > 0) {
            damage(img, "%s node at %llu: entry %llu's key cannot be a key", kind_name(t->kind),
                   ULL(t->offset), ULL(i));
        }
        Py_DECREF(key);
        if (found < 0) {
            return -1;
        }
    }
    return 0;
}

static int
verify_node(verifier_t *v, uint64_t off)
{
    const frost_map_image_t *img = v->img;
    frost_mnode_t n;
    if (frost_map_node(img, off, 0, &n) < 0) {
        return -1;
    }
    v->nodes++;
    switch (n.kind) {
    case FROST_MNODE_TUPLE:
    case FROST_MNODE_LIST:
        if (n.kind == FROST_MNODE_LIST && n.flags != FROST_MLIST_REFS) {
            return 0;   /* packed numbers: any bits are a valid int64/double */
        }
        for (uint64_t i = 0; i < n.len; i++) {
            if (check_ref(v, frost_map_rd64(n.items + i * 8)) < 0) {
                return -1;
            }
        }
        return 0;
    case FROST_MNODE_DICT:
    case FROST_MNODE_SET:
        return verify_table(v, &n);
    case FROST_MNODE_RECORD: {
        unsigned mt = frost_mref_tag(n.module), qt = frost_mref_tag(n.qualname);
        if ((mt != FROST_MREF_STR && mt != FROST_MREF_STR_INLINE)
            || (qt != FROST_MREF_STR && qt != FROST_MREF_STR_INLINE)) {
            damage(img, "record node at %llu: module and qualname must be strs", ULL(off));
            return -1;
        }
        if (check_ref(v, n.module) < 0 || check_ref(v, n.qualname) < 0) {
            return -1;
        }
        if (n.flags != FROST_RECORD_SHARED) {
            frost_mnode_t state;
            if (frost_mref_tag(n.state) != FROST_MREF_NODE
                || frost_map_node(img, frost_mref_offset8(n.state), FROST_MNODE_DICT, &state) < 0) {
                if (!PyErr_Occurred()) {
                    damage(img, "record node at %llu: its state is not a dict node", ULL(off));
                }
                return -1;
            }
            /* a dataclass or namedtuple is rebuilt as cls(**state): its field names are
             * strs (freeze never writes another key; thaw must not meet one) */
            for (uint64_t i = 0; i < state.len; i++) {
                unsigned kt = frost_mref_tag(frost_map_table_key(&state, i));
                if (kt != FROST_MREF_STR && kt != FROST_MREF_STR_INLINE) {
                    damage(img, "record node at %llu: field name %llu is not a str", ULL(off),
                           ULL(i));
                    return -1;
                }
            }
        }
        return check_ref(v, n.state);
    }
    case FROST_MNODE_COLUMNS:
        v->blob_bytes += n.nbytes;   /* no overflow: each term <= size, nodes < size / 8 */
        if (v->blob_bytes > img->size) {
            damage(img, "table node at %llu: table blobs overlap or repeat (more blob bytes than "
                   "the image holds)", ULL(off));
            return -1;
        }
        return frost_map_columns_check(img, &n);
    default:
        return 0;   /* ARRAY: frost_map_node checked all of it */
    }
}

/* The height of TUPLE node `off` (1 + its tallest tuple item), memoized in
 * `heights` ({offset: height}; 0 = being computed, so a cycle among tuples
 * shows up): <= FROST_MAX_TUPLE_DEPTH, or damage. C recursion is bounded by
 * that depth. */
static int
tuple_height(verifier_t *v, uint64_t off, int depth, PyObject *heights, long *out)
{
    PyObject *key = PyLong_FromUnsignedLongLong(off);
    PyObject *known = key ? PyDict_GetItemWithError(heights, key) : NULL;
    if (key == NULL || (known == NULL && PyErr_Occurred())) {
        Py_XDECREF(key);
        return -1;
    }
    if (known != NULL) {
        Py_DECREF(key);
        *out = PyLong_AsLong(known);
        if (*out == 0) {
            damage(v->img, "tuple node at %llu contains itself", ULL(off));
            return -1;
        }
        return 0;
    }
    frost_mnode_t n;
    int rc = depth >= FROST_MAX_TUPLE_DEPTH ? -2 : frost_map_node(v->img, off, FROST_MNODE_TUPLE, &n);
    if (rc == 0) {
        PyObject *zero = PyLong_FromLong(0);
        rc = zero ? PyDict_SetItem(heights, key, zero) : -1;
        Py_XDECREF(zero);
    }
    long height = 1;
    for (uint64_t i = 0; rc == 0 && i < n.len; i++) {
        frost_mref_t item = frost_map_rd64(n.items + i * 8);
        frost_mnode_t child;
        if (frost_mref_tag(item) != FROST_MREF_NODE) {
            continue;
        }
        rc = frost_map_node(v->img, frost_mref_offset8(item), 0, &child);
        long h = 0;
        if (rc == 0 && child.kind == FROST_MNODE_TUPLE) {
            rc = tuple_height(v, child.offset, depth + 1, heights, &h);
        }
        if (h + 1 > height) {
            height = h + 1;
        }
    }
    if (rc == -2 || (rc == 0 && height > FROST_MAX_TUPLE_DEPTH)) {
        damage(v->img, "tuples nest deeper than %d levels at node %llu", FROST_MAX_TUPLE_DEPTH,
               ULL(off));
        rc = -1;
    }
    if (rc == 0) {
        PyObject *hv = PyLong_FromLong(height);
        rc = hv ? PyDict_SetItem(heights, key, hv) : -1;
        Py_XDECREF(hv);
    }
    Py_DECREF(key);
    *out = height;
    return rc;
}

/* After the walk: tuple nesting (every reachable TUPLE node); with
 * FROST_MAP_VERIFY_LOAD, materialize every reachable item once (fuzzing). */
static int
verify_after_walk(verifier_t *v)
{
    const frost_map_image_t *img = v->img;
    PyObject *heights = PyDict_New();
    if (heights == NULL) {
        return -1;
    }
    int rc = 0;
    uint64_t words = img->size / 8;
    for (uint64_t w = 0; rc == 0 && w < words; w++) {
        if (!(v->visited[w / 64] & (UINT64_C(1) << (w % 64)))) {
            continue;
        }
        frost_mnode_t n;
        rc = frost_map_node(img, w * 8, 0, &n);
        if (rc < 0) {
            break;
        }
        if (n.kind == FROST_MNODE_TUPLE) {
            long h;
            rc = tuple_height(v, n.offset, 0, heights, &h);
        }
        if (rc < 0 || !(v->flags & FROST_MAP_VERIFY_LOAD)) {
            continue;
        }
        int seq = n.kind == FROST_MNODE_TUPLE || n.kind == FROST_MNODE_LIST;
        uint64_t count = seq || n.kind == FROST_MNODE_DICT ? n.len : 0;
        for (uint64_t i = 0; rc == 0 && i < count; i++) {
            PyObject *o = seq ? frost_map_seq_item(img, &n, i)
                              : frost_map_load(img, frost_map_table_value(&n, i));
            rc = o ? 0 : -1;
            Py_XDECREF(o);
        }
    }
    Py_DECREF(heights);
    return rc;
}

/* The body checksum of an image whose header has `flags`: XXH3 or (older files) XXH64. */
static uint64_t
body_checksum(uint64_t flags, const unsigned char *body, size_t len)
{
    return (flags & FROST_MAP_FLAG_BODY_XXH3) ? frost_xxh3(body, len) : frost_snapshot_xxh64(body, len, 0);
}

int
frost_map_verify(const frost_map_image_t *img, unsigned flags,
                 int (*progress)(void *ctx, uint64_t done, uint64_t total), void *progress_ctx)
{
    verifier_t v = {.img = img, .flags = flags};
    uint64_t header_flags = frost_map_rd64(img->base + offsetof(frost_map_header_t, flags));
    if (!(flags & FROST_MAP_VERIFY_NO_CHECKSUM) && !(header_flags & FROST_MAP_FLAG_NO_BODY_CHECKSUM)) {
        uint64_t want = frost_map_rd64(img->base + offsetof(frost_map_header_t, body_checksum));
        if (body_checksum(header_flags, img->base + FROST_MAP_HEADER_SIZE,
                          img->size - FROST_MAP_HEADER_SIZE) != want) {
            damage(img, "body checksum mismatch");
            return -1;
        }
    }
    uint64_t words = img->size / 8 + 1;
    v.visited = PyMem_Calloc(words / 64 + 1, sizeof(uint64_t));
    if (v.visited == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = 0;
    if (frost_mref_tag(img->root) == FROST_MREF_NODE) {
        rc = push_node(&v, frost_mref_offset8(img->root));
    }
    else {
        rc = check_ref(&v, img->root);
    }
    while (rc == 0 && v.nstack > 0) {
        rc = verify_node(&v, v.stack[--v.nstack]);
        if (rc == 0 && (v.nodes & 0xFFFF) == 0
            && (PyErr_CheckSignals() < 0   /* Ctrl-C stops a long verify */
                || (progress != NULL && progress(progress_ctx, v.nodes, img->nnodes) != 0))) {
            rc = -1;
        }
    }
    if (rc == 0 && v.nodes != img->nnodes) {
        damage(img, "the header counts %llu nodes, %llu are reachable", ULL(img->nnodes),
               ULL(v.nodes));
        rc = -1;
    }
    if (rc == 0) {
        rc = verify_after_walk(&v);
    }
    if (rc == 0 && progress != NULL && progress(progress_ctx, v.nodes, v.nodes) != 0) {
        rc = -1;
    }
    PyMem_Free(v.visited);
    PyMem_Free(v.stack);
    return rc == 0 ? guard_check(img) : rc;
}

int
frost_map_verify_buffer_flags(const void *base, size_t size, unsigned flags, char *errbuf,
                              size_t errlen)
{
    frost_map_image_t img;
    int rc = frost_map_open(&img, base, size, PyExc_ValueError);
    if (rc == 0) {
        rc = frost_map_verify(&img, flags | FROST_MAP_VERIFY_LOAD, NULL, NULL);
    }
    if (rc == 0 && !(flags & FROST_MAP_VERIFY_LOAD)) {
        PyObject *root = frost_map_load(&img, img.root);
        rc = root ? 0 : -1;
        Py_XDECREF(root);
    }
    if (rc < 0) {
        PyObject *exc = PyErr_GetRaisedException();
        PyObject *s = exc ? PyObject_Str(exc) : NULL;
        const char *u = s ? PyUnicode_AsUTF8(s) : NULL;
        if (errbuf != NULL && errlen > 0) {
            snprintf(errbuf, errlen, "%s", u ? u : "error");
        }
        Py_XDECREF(s);
        Py_XDECREF(exc);
        PyErr_Clear();
    }
    return rc;
}

int
frost_map_verify_buffer(const void *base, size_t size, char *errbuf, size_t errlen)
{
    return frost_map_verify_buffer_flags(base, size, 0, errbuf, errlen);
}

/* ---- SIGBUS guard (frost_map_read.h) ------------------------------------------ */

#define GUARD_SLOTS 4096
static _Atomic uintptr_t guard_start[GUARD_SLOTS], guard_end[GUARD_SLOTS];
static _Atomic int guard_hit[GUARD_SLOTS];   /* a zero page stood in for this range's memory */
static struct sigaction guard_previous;
static uintptr_t guard_page;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int guard_installed;

static void
guard_handler(int sig, siginfo_t *si, void *uctx)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t start = atomic_load_explicit(&guard_start[i], memory_order_acquire);
        if (start != 0 && start <= a && a < atomic_load_explicit(&guard_end[i], memory_order_acquire)) {
            void *page = (void *)(a & ~(guard_page - 1));
            if (mmap(page, guard_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
                != MAP_FAILED) {
                atomic_store_explicit(&guard_hit[i], 1, memory_order_release);
                return;   /* the read is retried and sees zeros */
            }
            break;
        }
    }
    if (guard_previous.sa_flags & SA_SIGINFO) {
        guard_previous.sa_sigaction(sig, si, uctx);
    }
    else if (guard_previous.sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL);   /* returning re-faults into the default action */
    }
    else if (guard_previous.sa_handler != SIG_IGN) {
        guard_previous.sa_handler(sig);
    }
}

static void
guard_install(void)
{
    long page = sysconf(_SC_PAGESIZE);
    guard_page = page > 0 ? (uintptr_t)page : 4096;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    guard_installed = sigaction(SIGBUS, &sa, &guard_previous) == 0;
}

int
frost_map_guard_add(const void *base, uint64_t size)
{
    pthread_once(&guard_once, guard_install);
    if (!guard_installed || size == 0) {
        return -1;
    }
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t expected = 0;
        if (atomic_compare_exchange_strong(&guard_start[i], &expected, (uintptr_t)1)) {
            /* claimed; the range matches nothing until its end is set, last */
            atomic_store_explicit(&guard_hit[i], 0, memory_order_release);
            atomic_store_explicit(&guard_start[i], (uintptr_t)base, memory_order_release);
            atomic_store_explicit(&guard_end[i], (uintptr_t)base + size, memory_order_release);
            return i;
        }
    }
    return -1;
}

void
frost_map_guard_remove(int slot)
{
    if (slot >= 0 && slot < GUARD_SLOTS) {
        atomic_store_explicit(&guard_end[slot], 0, memory_order_release);
        atomic_store_explicit(&guard_start[slot], 0, memory_order_release);
    }
}

int
frost_map_guard_check(const frost_map_image_t *img)
{
    return guard_check(img);
}

int
frost_map_guard_tripped(int slot)
{
    return slot >= 0 && slot < GUARD_SLOTS
           && atomic_load_explicit(&guard_hit[slot], memory_order_acquire) != 0;
}

static int
guard_tripped(const frost_map_image_t *img)
{
    return frost_map_guard_tripped(img->guard);
}

/* ---- pins (frost_map_read.h) ------------------------------------------------ */

struct frost_map_pin_s {
    _Atomic size_t refs;
    unsigned char *base;
    uint64_t size;
    int mapped;                  /* base is our own mapping (munmap), else malloc'd (free) */
    int guard;
};

frost_map_pin_t *
frost_map_pin_new(const void *base, uint64_t size)
{
    frost_map_pin_t *pin = calloc(1, sizeof *pin);
    if (pin == NULL) {
        return NULL;
    }
    long page = sysconf(_SC_PAGESIZE);
    void *dup = MAP_FAILED;
    if (page > 0 && (uintptr_t)base % (uintptr_t)page == 0 && size > 0) {
        /* old_size 0: a second mapping of the same shared pages (no copy) */
        dup = mremap((void *)base, 0, (size_t)size, MREMAP_MAYMOVE);
    }
    if (dup != MAP_FAILED) {
        pin->base = dup;
        pin->mapped = 1;
        pin->guard = frost_map_guard_add(dup, size);
    }
    else {   /* not a shared mapping (bytes, a private copy): a copy of our own */
        if (posix_memalign((void **)&pin->base, 64, size ? (size_t)size : 1) != 0) {
            free(pin);
            return NULL;
        }
        memcpy(pin->base, base, (size_t)size);
        pin->guard = -1;
    }
    pin->size = size;
    atomic_init(&pin->refs, 1);
    return pin;
}

const unsigned char *
frost_map_pin_base(const frost_map_pin_t *pin)
{
    return pin->base;
}

int
frost_map_pin_reaches(const frost_map_pin_t *pin, uint64_t offset, uint64_t len)
{
    if (len == 0 || !pin->mapped) {
        return 1;   /* a private copy cannot shrink */
    }
    /* a file shrinks from its end: if the last byte is still there, all are.
     * Past the end the read faults and the guard puts a zero page in. */
    volatile const unsigned char *last = pin->base + offset + len - 1;
    (void)*last;
    return !frost_map_guard_tripped(pin->guard);
}

void
frost_map_pin_acquire(frost_map_pin_t *pin)
{
    atomic_fetch_add_explicit(&pin->refs, 1, memory_order_relaxed);
}

void
frost_map_pin_release(frost_map_pin_t *pin)
{
    if (pin == NULL || atomic_fetch_sub_explicit(&pin->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    if (pin->mapped) {
        frost_map_guard_remove(pin->guard);
        munmap(pin->base, (size_t)pin->size);
    }
    else {
        free(pin->base);
    }
    free(pin);
}
