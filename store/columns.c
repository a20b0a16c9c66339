/*
 * columns.c -- table nodes (frost_columns.h): copy Arrow arrays given through
 * the C data interface into one position-independent blob in the arena, and
 * check such a blob (the freezer's copy, or one read from a snapshot).
 *
 * Trust: the producer's structs are untrusted. The builder reads from them
 * only what it needs to size each copy (lengths, offsets, the last entry of an
 * offsets buffer), probes that both ends of every source range are mapped
 * (process_vm_readv on ourselves, which fails with EFAULT instead of
 * faulting; skipped where the kernel refuses the call), copies, and then
 * checks the *copy* completely with frost__colblob_check -- so a producer that
 * changes its memory under us cannot get an unchecked blob into the arena.
 * No pointer to foreign memory is kept. The C data interface carries no
 * buffer sizes: a producer whose lengths overstate a buffer that is still
 * mapped makes frost copy whatever lies there (as any consumer would read
 * it), never crash on an unmapped end, never read past the copy later.
 *
 * What is copied: each array's own rows only -- bitmaps shifted to bit 0,
 * values and offsets trimmed to [offset, offset + length), offsets rebased,
 * children cut to the items those rows use -- so every stored array has
 * offset 0 and a stream of sliced batches costs no more than its rows.
 * String/binary views ("vu"/"vz") are converted to large string/binary
 * (stored_format, add_views). The check then sees exactly the copy.
 *
 * Pure C (no Python.h); the capsule side is columns_py.c, called by freeze.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "frost_columns.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define DESC_BASE 64u
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~(uint64_t)((a) - 1))
#define MAX_ELEMENTS (INT64_MAX / 4096)   /* offset + length bound: keeps width * n in range */
#define MAX_WIDTH 4096                    /* widest fixed-size value / fixed list frost takes */

/* ------------------------------------------------------------------------ */
/* formats                                                                   */

/* A decimal number of 1..9 digits at *p, ending at NUL or `stop`. */
static int
parse_count(const char *p, char stop, int64_t *out, const char **end)
{
    int64_t v = 0;
    int n = 0;
    while (*p >= '0' && *p <= '9' && n < 10) {
        v = v * 10 + (*p++ - '0');
        n++;
    }
    if (n == 0 || n > 9 || (*p != '\0' && *p != stop)) {
        return -1;
    }
    *out = v;
    if (end != NULL) {
        *end = p;
    }
    return 0;
}

int
frost__colfmt_parse(const char *f, frost_colfmt_t *o)
{
    memset(o, 0, sizeof *o);
    o->n_buffers = 2;
    static const struct {
        const char *fmt;
        frost_colkind_t kind;
        int width;
    } fixed[] = {
        {"b", FROST_COL_BOOL, 0},   {"c", FROST_COL_INT, 1},    {"C", FROST_COL_UINT, 1},
        {"s", FROST_COL_INT, 2},    {"S", FROST_COL_UINT, 2},   {"i", FROST_COL_INT, 4},
        {"I", FROST_COL_UINT, 4},   {"l", FROST_COL_INT, 8},    {"L", FROST_COL_UINT, 8},
        {"e", FROST_COL_FLOAT, 2},  {"f", FROST_COL_FLOAT, 4},  {"g", FROST_COL_FLOAT, 8},
        {"tdD", FROST_COL_FIXED, 4}, {"tdm", FROST_COL_FIXED, 8}, {"tts", FROST_COL_FIXED, 4},
        {"ttm", FROST_COL_FIXED, 4}, {"ttu", FROST_COL_FIXED, 8}, {"ttn", FROST_COL_FIXED, 8},
        {"tDs", FROST_COL_FIXED, 8}, {"tDm", FROST_COL_FIXED, 8}, {"tDu", FROST_COL_FIXED, 8},
        {"tDn", FROST_COL_FIXED, 8}, {"tiM", FROST_COL_FIXED, 4}, {"tiD", FROST_COL_FIXED, 8},
        {"tin", FROST_COL_FIXED, 16},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(f, fixed[i].fmt) == 0) {
            o->kind = fixed[i].kind;
            o->width = fixed[i].width;
            return 0;
        }
    }
    if (strcmp(f, "n") == 0) {
        o->kind = FROST_COL_NULL;
        o->n_buffers = 0;
        return 0;
    }
    if (f[0] == 't' && f[1] == 's' && f[2] != '\0' && strchr("smun", f[2]) && f[3] == ':') {
        /* timestamp[unit, tz]: the C data interface hands the zone on as UTF-8 text
           (polars panics and pyarrow raises on anything else), so a zone that is not is
           refused like an unknown type, by verify and by every reader */
        if (!frost__utf8_valid((const unsigned char *)f + 4, strlen(f + 4), 0)) {
            return -1;
        }
        o->kind = FROST_COL_FIXED;
        o->width = 8;
        return 0;
    }
    if ((f[0] == 'z' || f[0] == 'Z' || f[0] == 'u' || f[0] == 'U') && f[1] == '\0') {
        o->kind = (f[0] == 'u' || f[0] == 'U') ? FROST_COL_STRING : FROST_COL_BINARY;
        o->width = (f[0] == 'Z' || f[0] == 'U') ? 8 : 4;
        o->n_buffers = 3;
        return 0;
    }
    if (f[0] == 'w' && f[1] == ':') {
        if (parse_count(f + 2, '\0', &o->width, NULL) < 0 || o->width > MAX_WIDTH) {
            return -1;
        }
        o->kind = FROST_COL_FIXED_BINARY;
        return 0;
    }
    if (f[0] == 'd' && f[1] == ':') {   /* decimal: "d:P,S" or "d:P,S,BITS" */
        int64_t precision, scale, bits = 128;
        const char *p = f + 2;
        if (parse_count(p, ',', &precision, &p) < 0 || *p != ',') {
            return -1;
        }
        p++;
        if (*p == '-') {
            p++;   /* negative scales exist */
        }
        if (parse_count(p, ',', &scale, &p) < 0) {
            return -1;
        }
        if (*p == ',' && parse_count(p + 1, '\0', &bits, NULL) < 0) {
            return -1;
        }
        if (bits != 32 && bits != 64 && bits != 128 && bits != 256) {
            return -1;
        }
        o->kind = FROST_COL_FIXED;
        o->width = bits / 8;
        return 0;
    }
    if (f[0] == '+') {
        o->n_children = 1;
        if ((f[1] == 'l' || f[1] == 'L' || f[1] == 'm') && f[2] == '\0') {
            o->kind = f[1] == 'm' ? FROST_COL_MAP : FROST_COL_LIST;
            o->width = f[1] == 'L' ? 8 : 4;
            return 0;
        }
        if (f[1] == 'w' && f[2] == ':') {
            if (parse_count(f + 3, '\0', &o->width, NULL) < 0 || o->width > MAX_WIDTH) {
                return -1;
            }
            o->kind = FROST_COL_FIXED_LIST;
            o->n_buffers = 1;
            return 0;
        }
        if (f[1] == 's' && f[2] == '\0') {
            o->kind = FROST_COL_STRUCT;
            o->n_buffers = 1;
            o->n_children = -1;
            return 0;
        }
    }
    return -1;
}

const char *
frost__colfmt_name(const char *f)
{
    static const struct {
        const char *prefix;
        const char *name;
        int exact;
    } names[] = {
        {"n", "null", 1},         {"b", "bool", 1},           {"c", "int8", 1},
        {"C", "uint8", 1},        {"s", "int16", 1},          {"S", "uint16", 1},
        {"i", "int32", 1},        {"I", "uint32", 1},         {"l", "int64", 1},
        {"L", "uint64", 1},       {"e", "float16", 1},        {"f", "float32", 1},
        {"g", "float64", 1},      {"z", "binary", 1},         {"Z", "large_binary", 1},
        {"u", "string", 1},       {"U", "large_string", 1},   {"vu", "string_view", 1},
        {"vz", "binary_view", 1}, {"w:", "fixed_size_binary", 0}, {"d:", "decimal", 0},
        {"tdD", "date32", 1},     {"tdm", "date64", 1},       {"tt", "time", 0},
        {"ts", "timestamp", 0},   {"tD", "duration", 0},      {"ti", "interval", 0},
        {"+l", "list", 1},        {"+L", "large_list", 1},    {"+w:", "fixed_size_list", 0},
        {"+s", "struct", 1},      {"+m", "map", 1},           {"+vl", "list_view", 1},
        {"+vL", "large_list_view", 1}, {"+r", "run_end_encoded", 1}, {"+u", "union", 0},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].prefix);
        if (strncmp(f, names[i].prefix, n) == 0 && (!names[i].exact || f[n] == '\0')) {
            return names[i].name;
        }
    }
    return "unknown";
}

/* The integer kind and width of a dictionary's index format, or -1. */
static int
index_format(const char *f, frost_colfmt_t *out)
{
    if (frost__colfmt_parse(f, out) < 0 || (out->kind != FROST_COL_INT && out->kind != FROST_COL_UINT)) {
        return -1;
    }
    return 0;
}

/* Bytes of Arrow-encoded metadata at `m` within `avail` bytes, or -1. */
static int64_t
metadata_length(const char *m, uint64_t avail)
{
    int32_t n;
    uint64_t at = 4;
    if (avail < 4) {
        return -1;
    }
    memcpy(&n, m, 4);
    if (n < 0 || n > 1000000) {
        return -1;
    }
    for (int32_t i = 0; i < 2 * n; i++) {
        int32_t len;
        if (avail - at < 4) {
            return -1;
        }
        memcpy(&len, m + at, 4);
        at += 4;
        if (len < 0 || (uint64_t)len > avail - at) {
            return -1;
        }
        at += (uint64_t)len;
    }
    return (int64_t)at;
}

/* Zero bits of `bitmap` in [from, to). */
static int64_t
count_zeros(const uint8_t *bitmap, int64_t from, int64_t to)
{
    int64_t ones = 0, i = from;
    for (; i < to && (i & 7); i++) {
        ones += (bitmap[i >> 3] >> (i & 7)) & 1;
    }
    for (; i + 64 <= to; i += 64) {
        uint64_t w;
        memcpy(&w, bitmap + (i >> 3), 8);
        ones += __builtin_popcountll(w);
    }
    for (; i + 8 <= to; i += 8) {
        ones += __builtin_popcount(bitmap[i >> 3]);
    }
    for (; i < to; i++) {
        ones += (bitmap[i >> 3] >> (i & 7)) & 1;
    }
    return (to - from) - ones;
}

/* Whether [s, s + n) is all ASCII. */
static bool
ascii_only(const uint8_t *s, int64_t n)
{
    uint64_t acc = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++) {
        acc |= s[i];
    }
    return (acc & 0x8080808080808080ull) == 0;
}

/* Whether [s, s + n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static bool
utf8_valid(const uint8_t *s, int64_t n)
{
    int64_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {   /* ASCII fast path */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (len == 0 || c > 0xF4 || n - i < len) {
            return false;
        }
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
        }
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F)
            || (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F)) {
            return false;
        }
        i += len;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* checking a blob                                                           */

/* Where the checker or the builder is, for its error messages: the dotted path
 * of the column at hand and its format, and where a message goes. */
typedef struct {
    char *err;
    size_t errlen;
    char path[200];
    const char *format;     /* of the column at hand */
} colwhere_t;

/* Write "column 'PATH' of type T ('FMT'): MSG" into w->err, or, above the
 * columns, "table: MSG" (`above` 't') or "Arrow data of type T ('FMT'): MSG"
 * (`above` 'a', a lone array). Returns -1. */
__attribute__((format(printf, 3, 4))) static int
where_fail(colwhere_t *w, char above, const char *fmt, ...)
{
    char msg[300];
    va_list va;
    va_start(va, fmt);
    vsnprintf(msg, sizeof msg, fmt, va);
    va_end(va);
    const char *f = w->format ? w->format : "?";
    if (w->path[0]) {
        snprintf(w->err, w->errlen, "column '%s' of type %s ('%.40s'): %s", w->path,
                 frost__colfmt_name(f), f, msg);
    }
    else if (above == 't') {
        snprintf(w->err, w->errlen, "table: %s", msg);
    }
    else {
        snprintf(w->err, w->errlen, "Arrow data of type %s ('%.40s'): %s", frost__colfmt_name(f), f, msg);
    }
    return -1;
}

/* Append ".name" (or "name" at the top) to the path; returns the old length. */
static size_t
where_push(colwhere_t *w, const char *name)
{
    size_t n = strlen(w->path);
    snprintf(w->path + n, sizeof w->path - n, "%s%s", n ? "." : "", name && *name ? name : "?");
    return n;
}

typedef struct {
    char *blob;
    uint64_t size;
    uint64_t desc_end;
    uint64_t last;          /* the last descriptor visited: the next must lie beyond */
    int fix;
    colwhere_t at;
} checker_t;

#define check_fail(c, ...) where_fail(&(c)->at, 't', __VA_ARGS__)

static bool
in_desc(const checker_t *c, uint64_t off, uint64_t n, uint64_t align)
{
    return off >= DESC_BASE && off % align == 0 && off <= c->desc_end && n <= c->desc_end - off;
}

static const char *
desc_string(checker_t *c, uint64_t off)
{
    if (!in_desc(c, off, 1, 1) || memchr(c->blob + off, '\0', c->desc_end - off) == NULL) {
        return NULL;
    }
    return c->blob + off;
}

static int
visit_desc(checker_t *c, uint64_t off)
{
    if (!in_desc(c, off, 64, 8) || off <= c->last) {
        return -1;
    }
    c->last = off;
    return 0;
}

static int
check_schema(checker_t *c, uint64_t off, int depth)
{
    if (depth > FROST_COL_MAX_DEPTH) {
        return check_fail(c, "nested deeper than %d levels", FROST_COL_MAX_DEPTH);
    }
    if (visit_desc(c, off) < 0) {
        return check_fail(c, "bad schema descriptor offset %llu", (unsigned long long)off);
    }
    const frost_colschema_t *s = frost__colschema(c->blob, off);
    const char *format = desc_string(c, s->format);
    const char *name = s->name != 0 ? desc_string(c, s->name) : "";
    if (format == NULL || name == NULL
        || !frost__utf8_valid((const unsigned char *)name, strlen(name), 0)) {
        return check_fail(c, "bad format or name string (names are UTF-8)");
    }
    c->at.format = format;
    frost_colfmt_t fmt;
    if (frost__colfmt_parse(format, &fmt) < 0) {
        return check_fail(c, "type not supported by frost");
    }
    if (s->metadata != 0 && (!in_desc(c, s->metadata, s->metadata_len, 1)
                             || metadata_length(c->blob + s->metadata, s->metadata_len)
                                    != (int64_t)s->metadata_len)) {
        return check_fail(c, "malformed metadata");
    }
    if (s->n_children < 0 || (fmt.n_children >= 0 && s->n_children != fmt.n_children)
        || s->n_children > 100000 || (s->n_children > 0 && !in_desc(c, s->children, 8 * (uint64_t)s->n_children, 8))) {
        return check_fail(c, "%lld children (bad for this type)", (long long)s->n_children);
    }
    for (int64_t i = 0; i < s->n_children; i++) {
        uint64_t child = frost__colchild(c->blob, s->children, i);
        const char *child_name = in_desc(c, child, 64, 8) ? desc_string(c, frost__colschema(c->blob, child)->name) : NULL;
        size_t mark = where_push(&c->at, child_name);
        if (check_schema(c, child, depth + 1) < 0) {
            return -1;
        }
        c->at.path[mark] = '\0';
        c->at.format = format;
    }
    if (fmt.kind == FROST_COL_MAP) {
        const frost_colschema_t *entries = frost__colschema(c->blob, frost__colchild(c->blob, s->children, 0));
        if (strcmp(c->blob + entries->format, "+s") != 0 || entries->n_children != 2) {
            return check_fail(c, "a map's child must be a struct of (key, value)");
        }
    }
    if (s->dictionary != 0) {
        frost_colfmt_t index;
        if (index_format(format, &index) < 0) {
            return check_fail(c, "dictionary indices must be integers");
        }
        if (check_schema(c, s->dictionary, depth + 1) < 0) {
            return -1;
        }
        c->at.format = format;
    }
    return 0;
}

/* Buffer `i` of `a`, at least `need` bytes: its bytes, or NULL after an error. */
static const uint8_t *
need_buffer(checker_t *c, const frost_colarray_t *a, int64_t i, uint64_t need)
{
    const frost_colbuf_t *b = (const frost_colbuf_t *)(c->blob + a->buffers) + i;
    if (b->offset == 0) {
        check_fail(c, "buffer %lld is missing", (long long)i);
        return NULL;
    }
    if (b->size < need) {
        check_fail(c, "buffer %lld holds %llu bytes, %llu needed", (long long)i,
                   (unsigned long long)b->size, (unsigned long long)need);
        return NULL;
    }
    return (const uint8_t *)c->blob + b->offset;
}

static int64_t
offset_at(const uint8_t *offsets, int64_t width, int64_t i)
{
    if (width == 4) {
        int32_t v;
        memcpy(&v, offsets + 4 * i, 4);
        return v;
    }
    int64_t v;
    memcpy(&v, offsets + 8 * i, 8);
    return v;
}

static uint64_t
unsigned_at(const uint8_t *values, int64_t width, int64_t i, int is_signed, int *negative)
{
    switch (width) {
    case 1: { int8_t s; uint8_t u; memcpy(&u, values + i, 1); memcpy(&s, values + i, 1);
              *negative = is_signed && s < 0; return u; }
    case 2: { int16_t s; uint16_t u; memcpy(&u, values + 2 * i, 2); memcpy(&s, values + 2 * i, 2);
              *negative = is_signed && s < 0; return u; }
    case 4: { int32_t s; uint32_t u; memcpy(&u, values + 4 * i, 4); memcpy(&s, values + 4 * i, 4);
              *negative = is_signed && s < 0; return u; }
    default: { int64_t s; uint64_t u; memcpy(&u, values + 8 * i, 8); memcpy(&s, values + 8 * i, 8);
               *negative = is_signed && s < 0; return u; }
    }
}

static int check_array(checker_t *c, uint64_t soff, uint64_t aoff, int depth);

static int
check_child(checker_t *c, const frost_colschema_t *s, uint64_t a_children, int64_t i, int depth,
            const char *format)
{
    uint64_t cs = frost__colchild(c->blob, s->children, i);
    size_t mark = where_push(&c->at, c->blob + frost__colschema(c->blob, cs)->name);
    if (check_array(c, cs, frost__colchild(c->blob, a_children, i), depth + 1) < 0) {
        return -1;
    }
    c->at.path[mark] = '\0';
    c->at.format = format;
    return 0;
}

static int
check_array(checker_t *c, uint64_t soff, uint64_t aoff, int depth)
{
    const frost_colschema_t *s = frost__colschema(c->blob, soff);
    const char *format = c->blob + s->format;
    c->at.format = format;
    frost_colfmt_t fmt;
    (void)frost__colfmt_parse(format, &fmt);   /* checked with the schema */
    if (s->dictionary != 0) {
        (void)index_format(format, &fmt);
    }
    if (visit_desc(c, aoff) < 0) {
        return check_fail(c, "bad array descriptor offset %llu", (unsigned long long)aoff);
    }
    frost_colarray_t *a = (frost_colarray_t *)(c->blob + aoff);
    if (a->length < 0 || a->offset < 0 || a->length > MAX_ELEMENTS || a->offset > MAX_ELEMENTS - a->length) {
        return check_fail(c, "bad length %lld or offset %lld", (long long)a->length, (long long)a->offset);
    }
    int64_t e = a->offset + a->length;
    if (a->n_buffers != fmt.n_buffers || a->n_children != s->n_children
        || (a->n_buffers > 0 && !in_desc(c, a->buffers, 16 * (uint64_t)a->n_buffers, 8))
        || (a->n_children > 0 && !in_desc(c, a->children, 8 * (uint64_t)a->n_children, 8))
        || (a->dictionary != 0) != (s->dictionary != 0)) {
        return check_fail(c, "%lld buffers and %lld children do not match the type",
                          (long long)a->n_buffers, (long long)a->n_children);
    }
    for (int64_t i = 0; i < a->n_buffers; i++) {
        const frost_colbuf_t *b = (const frost_colbuf_t *)(c->blob + a->buffers) + i;
        if (b->offset == 0 ? (i != 0 || b->size != 0)
                           : (b->offset % 64 != 0 || b->offset < c->desc_end || b->offset > c->size
                              || b->size > c->size - b->offset)) {
            return check_fail(c, "buffer %lld lies outside the table", (long long)i);
        }
    }
    int64_t nulls = 0;
    const uint8_t *validity = NULL;
    if (fmt.kind == FROST_COL_NULL) {
        nulls = a->length;
    }
    else if (((const frost_colbuf_t *)(c->blob + a->buffers))->offset != 0) {
        validity = need_buffer(c, a, 0, (uint64_t)(e + 7) / 8);
        if (validity == NULL) {
            return -1;
        }
        nulls = count_zeros(validity, a->offset, e);
    }
    if (c->fix) {
        a->null_count = nulls;
    }
    else if (a->null_count != nulls) {
        return check_fail(c, "null_count %lld, but the bitmap has %lld nulls", (long long)a->null_count,
                          (long long)nulls);
    }
    switch (fmt.kind) {
    case FROST_COL_NULL:
    case FROST_COL_STRUCT:
        break;
    case FROST_COL_BOOL:
        if (need_buffer(c, a, 1, (uint64_t)(e + 7) / 8) == NULL) {
            return -1;
        }
        break;
    case FROST_COL_INT:
    case FROST_COL_UINT:
    case FROST_COL_FLOAT:
    case FROST_COL_FIXED:
    case FROST_COL_FIXED_BINARY:
        if (need_buffer(c, a, 1, (uint64_t)fmt.width * (uint64_t)e) == NULL) {
            return -1;
        }
        break;
    case FROST_COL_BINARY:
    case FROST_COL_STRING:
    case FROST_COL_LIST:
    case FROST_COL_MAP: {
        const uint8_t *offsets = need_buffer(c, a, 1, (uint64_t)fmt.width * (uint64_t)(e + 1));
        if (offsets == NULL) {
            return -1;
        }
        int64_t prev = offset_at(offsets, fmt.width, a->offset);
        if (prev < 0) {
            return check_fail(c, "negative offset %lld", (long long)prev);
        }
        for (int64_t i = a->offset + 1; i <= e; i++) {
            int64_t o = offset_at(offsets, fmt.width, i);
            if (o < prev) {
                return check_fail(c, "offsets decrease at slot %lld (%lld after %lld)",
                                  (long long)(i - 1), (long long)o, (long long)prev);
            }
            prev = o;
        }
        if (fmt.kind == FROST_COL_BINARY || fmt.kind == FROST_COL_STRING) {
            const uint8_t *data = need_buffer(c, a, 2, (uint64_t)prev);
            if (data == NULL) {
                return -1;
            }
            int64_t first = offset_at(offsets, fmt.width, a->offset);
            /* every value must be UTF-8 on its own: pure ASCII is, else value by value */
            if (fmt.kind == FROST_COL_STRING && !ascii_only(data + first, prev - first)) {
                for (int64_t i = a->offset; i < e; i++) {
                    int64_t from = offset_at(offsets, fmt.width, i), to = offset_at(offsets, fmt.width, i + 1);
                    if (!utf8_valid(data + from, to - from)) {
                        return check_fail(c, "value %lld is not valid UTF-8", (long long)(i - a->offset));
                    }
                }
            }
        }
        else {
            if (check_child(c, s, a->children, 0, depth, format) < 0) {
                return -1;
            }
            const frost_colarray_t *child = frost__colarray(c->blob, frost__colchild(c->blob, a->children, 0));
            if (child->length < prev) {
                return check_fail(c, "offsets reach %lld, past the child's %lld items", (long long)prev,
                                  (long long)child->length);
            }
        }
        break;
    }
    case FROST_COL_FIXED_LIST: {
        if (check_child(c, s, a->children, 0, depth, format) < 0) {
            return -1;
        }
        const frost_colarray_t *child = frost__colarray(c->blob, frost__colchild(c->blob, a->children, 0));
        if (child->length / (fmt.width ? fmt.width : 1) < e && fmt.width != 0) {
            return check_fail(c, "the child has %lld items, %lld needed", (long long)child->length,
                              (long long)(fmt.width * e));
        }
        break;
    }
    }
    if (fmt.kind == FROST_COL_STRUCT) {
        for (int64_t i = 0; i < a->n_children; i++) {
            if (check_child(c, s, a->children, i, depth, format) < 0) {
                return -1;
            }
            const frost_colarray_t *child = frost__colarray(c->blob, frost__colchild(c->blob, a->children, i));
            if (child->length < e) {
                return check_fail(c, "field %lld has %lld items, %lld needed", (long long)i,
                                  (long long)child->length, (long long)e);
            }
        }
    }
    if (s->dictionary != 0) {
        size_t mark = where_push(&c->at, "<dictionary>");
        if (check_array(c, s->dictionary, a->dictionary, depth + 1) < 0) {
            return -1;
        }
        c->at.path[mark] = '\0';
        c->at.format = format;
        const frost_colarray_t *dict = frost__colarray(c->blob, a->dictionary);
        const uint8_t *indices = (const uint8_t *)c->blob + ((const frost_colbuf_t *)(c->blob + a->buffers))[1].offset;
        for (int64_t i = a->offset; i < e; i++) {
            if (validity != NULL && !frost__colbit(validity, i)) {
                continue;
            }
            int negative;
            uint64_t k = unsigned_at(indices, fmt.width, i, fmt.kind == FROST_COL_INT, &negative);
            if (negative || k >= (uint64_t)dict->length) {
                return check_fail(c, "dictionary index %s%llu at slot %lld is outside the dictionary "
                                  "of %lld values", negative ? "-" : "",
                                  (unsigned long long)(negative ? (uint64_t)0 - k : k),
                                  (long long)(i - a->offset), (long long)dict->length);
            }
        }
    }
    return 0;
}

int
frost__colblob_check(char *blob, uint64_t size, int fix, char *err, size_t errlen)
{
    checker_t c = {.blob = blob, .size = size, .fix = fix, .at = {.err = err, .errlen = errlen}};
    const frost_colblob_header_t *h = frost__colblob_header(blob);
    if (size < DESC_BASE + 64 || h->magic != FROST_COLBLOB_MAGIC || h->version != FROST_COLBLOB_VERSION
        || h->size != size || h->desc_end % 64 != 0 || h->desc_end < DESC_BASE
        || h->desc_end > size - 64 || h->nrows < 0) {
        return check_fail(&c, "malformed table header");
    }
    c.desc_end = h->desc_end;
    if (check_schema(&c, h->schema, 0) < 0) {
        return -1;
    }
    const frost_colschema_t *root = frost__colschema(blob, h->schema);
    if (strcmp(blob + root->format, "+s") != 0 || root->dictionary != 0) {
        return check_fail(&c, "the root is not a struct");
    }
    if (h->nchunks > size / 64 || (h->nchunks > 0 && !in_desc(&c, h->chunks, 8 * h->nchunks, 8))
        || !in_desc(&c, h->row_starts, 8 * (h->nchunks + 1), 8)) {
        return check_fail(&c, "bad chunk table");
    }
    const int64_t *starts = (const int64_t *)(blob + h->row_starts);
    int64_t rows = 0;
    for (uint64_t k = 0; k < h->nchunks; k++) {
        if (starts[k] != rows) {
            return check_fail(&c, "chunk %llu starts at row %lld, not %lld", (unsigned long long)k,
                              (long long)starts[k], (long long)rows);
        }
        uint64_t aoff = frost__colchild(blob, h->chunks, (int64_t)k);
        if (check_array(&c, h->schema, aoff, 0) < 0) {
            return -1;
        }
        const frost_colarray_t *a = frost__colarray(blob, aoff);
        if (a->offset != 0 || a->null_count != 0 || a->length > INT64_MAX - rows) {
            return check_fail(&c, "chunk %llu is sliced or has null rows", (unsigned long long)k);
        }
        rows += a->length;
    }
    if (rows != h->nrows || starts[h->nchunks] != rows) {
        return check_fail(&c, "the chunks hold %lld rows, the header says %lld", (long long)rows,
                          (long long)h->nrows);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* building a blob from Arrow structs                                        */

typedef enum {
    COPY_BYTES,             /* memcpy */
    COPY_BITS,              /* a bitmap starting `shift` bits into src: shifted to bit 0 */
    COPY_OFFSETS,           /* offsets of `width` bytes, each minus `base` */
} copy_kind_t;

typedef struct {
    const void *src;        /* NULL: the zero pad */
    uint64_t size;          /* bytes written */
    uint64_t entry;         /* blob offset of its frost_colbuf_t */
    copy_kind_t kind;
    int shift;              /* COPY_BITS */
    int width;              /* COPY_OFFSETS */
    int64_t base;           /* COPY_OFFSETS */
    uint64_t src_size;      /* source bytes that may be read */
} pending_t;

typedef struct {
    char *desc;             /* the descriptor area, blob offsets DESC_BASE.. */
    size_t len, cap;
    pending_t *pend;
    size_t npend, cappend;
    uint64_t buf_bytes;     /* buffers, each rounded up to 64 */
    int nomem;
    void **temps;           /* malloc'd conversions (string views), freed at the end */
    size_t ntemps;
    int64_t fields;         /* schema nodes built: <= FROST_COL_MAX_FIELDS */
    colwhere_t at;
} builder_t;

#define build_fail(b, ...) where_fail(&(b)->at, 'a', __VA_ARGS__)

static uint64_t
desc_alloc(builder_t *b, size_t n)
{
    n = (size_t)ALIGN_UP(n ? n : 1, 8);
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) {
            cap *= 2;
        }
        char *d = realloc(b->desc, cap);
        if (d == NULL) {
            b->nomem = 1;
            return 0;
        }
        b->desc = d;
        b->cap = cap;
    }
    memset(b->desc + b->len, 0, n);
    uint64_t off = DESC_BASE + b->len;
    b->len += n;
    return off;
}

#define DESC(b, off) ((void *)((b)->desc + ((off) - DESC_BASE)))

static uint64_t
desc_bytes(builder_t *b, const void *src, size_t n, int nul)
{
    uint64_t off = desc_alloc(b, n + (size_t)nul);
    if (off != 0) {
        memcpy(DESC(b, off), src, n);
    }
    return off;
}

/* Whether both ends of [p, p + n) are mapped (see the banner). */
static bool
readable(const void *p, uint64_t n)
{
    static _Atomic int unsupported;   /* freezes run in any interpreter's thread */
    if (n == 0) {
        return true;
    }
    if ((uintptr_t)p > UINTPTR_MAX - n) {
        return false;
    }
    if (unsupported) {
        return true;
    }
    const char *ends[2] = {p, (const char *)p + n - 1};
    for (int i = 0; i < 2; i++) {
        char c;
        struct iovec local = {&c, 1}, remote = {(void *)ends[i], 1};
        ssize_t r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (r < 0 && (errno == ENOSYS || errno == EPERM)) {
            unsupported = 1;
            return true;
        }
        if (r != 1) {
            return false;
        }
    }
    return true;
}

/* Plan a copy of `size` bytes of `src` into buffer `i` of the array at `aoff`
 * (`src_size`: the source bytes read, when a transform reads more than it writes). */
static int
add_copy(builder_t *b, uint64_t bufs, int64_t i, const void *src, uint64_t size, uint64_t src_size,
         pending_t how)
{
    if (src == NULL && size > 0) {
        return build_fail(b, "buffer %lld is NULL but must hold %llu bytes", (long long)i,
                          (unsigned long long)size);
    }
    if (src != NULL && !readable(src, src_size)) {
        return build_fail(b, "buffer %lld is not readable over the %llu bytes its length and "
                          "offsets need", (long long)i, (unsigned long long)size);
    }
    if (b->npend == b->cappend) {
        size_t cap = b->cappend ? 2 * b->cappend : 64;
        pending_t *p = realloc(b->pend, cap * sizeof *p);
        if (p == NULL) {
            b->nomem = 1;
            return -1;
        }
        b->pend = p;
        b->cappend = cap;
    }
    how.src = size ? src : NULL;
    how.size = size;
    how.src_size = src_size;
    how.entry = bufs + 16 * (uint64_t)i;
    b->pend[b->npend++] = how;
    if (size > UINT64_MAX / 2 - b->buf_bytes) {
        return build_fail(b, "buffers too large");
    }
    b->buf_bytes += ALIGN_UP(size, 64);
    return 0;
}

static int
add_buffer(builder_t *b, uint64_t bufs, int64_t i, const void *src, uint64_t size)
{
    return add_copy(b, bufs, i, src, size, size, (pending_t){.kind = COPY_BYTES});
}

/* Bits [from, from + n) of the bitmap at `src`, copied to start at bit 0. */
static int
add_bits(builder_t *b, uint64_t bufs, int64_t i, const uint8_t *src, int64_t from, int64_t n)
{
    const uint8_t *start = src ? src + from / 8 : NULL;
    int shift = (int)(from % 8);
    uint64_t size = (uint64_t)(n + 7) / 8, src_size = (uint64_t)(shift + n + 7) / 8;
    return add_copy(b, bufs, i, start, size, src_size, (pending_t){.kind = COPY_BITS, .shift = shift});
}

/* The format frost stores for `format`: string/binary views ("vu"/"vz", polars'
 * strings) are stored as large_string/large_binary ("U"/"Z"). */
static const char *
stored_format(const char *format)
{
    if (strcmp(format, "vu") == 0) {
        return "U";
    }
    if (strcmp(format, "vz") == 0) {
        return "Z";
    }
    return format;
}

static void *
temp_alloc(builder_t *b, size_t n)
{
    void **temps = realloc(b->temps, (b->ntemps + 1) * sizeof *temps);
    void *p = temps ? malloc(n ? n : 1) : NULL;
    if (temps != NULL) {
        b->temps = temps;
    }
    if (p == NULL) {
        b->nomem = 1;
        return NULL;
    }
    b->temps[b->ntemps++] = p;
    return p;
}

/*
 * A string/binary view array (Arrow "vu"/"vz": validity, 16-byte views, the
 * variadic data buffers, then their int64 sizes) converted into large
 * string/binary buffers 1 (int64 offsets) and 2 (data) of `bufs`. Every view
 * is checked against its data buffer's size; a null slot's view is ignored.
 */
static int
add_views(builder_t *b, uint64_t bufs, const struct ArrowArray *a, int64_t offset, int64_t length)
{
    int64_t nvar = a->n_buffers - 3;
    const int64_t *sizes = a->buffers[a->n_buffers - 1];
    const uint8_t *views = a->buffers[1], *validity = a->buffers[0];
    if (nvar < 0 || (nvar > 0 && (sizes == NULL || !readable(sizes, 8 * (uint64_t)nvar)))
        || (length > 0 && (views == NULL || !readable(views + 16 * offset, 16 * (uint64_t)length)))
        || (validity != NULL && !readable(validity + offset / 8, (uint64_t)(offset % 8 + length + 7) / 8))) {
        return build_fail(b, "view buffers missing or not readable");
    }
    for (int64_t k = 0; k < nvar; k++) {
        if (sizes[k] < 0 || (sizes[k] > 0 && (a->buffers[2 + k] == NULL || !readable(a->buffers[2 + k], (uint64_t)sizes[k])))) {
            return build_fail(b, "variadic data buffer %lld (%lld bytes) missing or not readable",
                              (long long)k, (long long)sizes[k]);
        }
    }
    int64_t *offsets = temp_alloc(b, 8 * (size_t)(length + 1));
    if (offsets == NULL) {
        return -1;
    }
    /* pass 1: check every view and size the data */
    int64_t total = 0;
    for (int64_t i = 0; i < length; i++) {
        int64_t at = offset + i;
        offsets[i] = total;
        if (validity != NULL && !frost__colbit(validity, at)) {
            continue;
        }
        const uint8_t *v = views + 16 * at;
        int32_t len, index, start;
        memcpy(&len, v, 4);
        memcpy(&index, v + 8, 4);
        memcpy(&start, v + 12, 4);
        if (len < 0 || (len > 12 && (index < 0 || index >= nvar || start < 0
                                     || (int64_t)start + len > sizes[index]))) {
            return build_fail(b, "view %lld (length %d, buffer %d, offset %d) points outside the data",
                              (long long)i, len, index, start);
        }
        total += len;
    }
    offsets[length] = total;
    char *data = temp_alloc(b, (size_t)total);
    if (data == NULL) {
        return -1;
    }
    /* pass 2: gather (bounds re-checked: the producer's memory may have changed) */
    for (int64_t i = 0; i < length; i++) {
        int64_t at = offset + i, room = offsets[i + 1] - offsets[i];
        if (room == 0) {
            continue;
        }
        const uint8_t *v = views + 16 * at;
        int32_t len, index, start;
        memcpy(&len, v, 4);
        memcpy(&index, v + 8, 4);
        memcpy(&start, v + 12, 4);
        if (len != room || (len > 12 && (index < 0 || index >= nvar || start < 0
                                         || (int64_t)start + len > sizes[index]))) {
            return build_fail(b, "view %lld changed while it was copied", (long long)i);
        }
        memcpy(data + offsets[i], len <= 12 ? (const char *)v + 4 : (const char *)a->buffers[2 + index] + start,
               (size_t)len);
    }
    return (add_buffer(b, bufs, 1, offsets, 8 * (uint64_t)(length + 1)) < 0
            || add_buffer(b, bufs, 2, data, (uint64_t)total) < 0) ? -1 : 0;
}

static uint64_t
build_schema(builder_t *b, const struct ArrowSchema *s, int depth)
{
    if (depth > FROST_COL_MAX_DEPTH) {
        build_fail(b, "nested deeper than %d levels", FROST_COL_MAX_DEPTH);
        return 0;
    }
    if (++b->fields > FROST_COL_MAX_FIELDS) {
        build_fail(b, "more than %d fields in all (nested fields and dictionaries count, a "
                      "child handed in several places counts in each)", FROST_COL_MAX_FIELDS);
        return 0;
    }
    if (s == NULL || s->release == NULL || s->format == NULL) {
        build_fail(b, "a schema is missing or released");
        return 0;
    }
    b->at.format = s->format;
    frost_colfmt_t fmt;
    if (strlen(s->format) > 64 || frost__colfmt_parse(stored_format(s->format), &fmt) < 0) {
        build_fail(b, "frost cannot store this type (supported: null, bool, (u)int8-64, float16-64, "
                      "(large) string/binary, fixed_size_binary, decimal, temporal, (large/fixed "
                      "size) list, struct, map, dictionary)");
        return 0;
    }
    if (s->n_children < 0 || s->n_children > 100000 || (fmt.n_children >= 0 && s->n_children != fmt.n_children)
        || (s->n_children > 0 && s->children == NULL)) {
        build_fail(b, "%lld children (bad for this type)", (long long)s->n_children);
        return 0;
    }
    uint64_t off = desc_alloc(b, sizeof(frost_colschema_t));
    const char *stored = stored_format(s->format);
    uint64_t format = off ? desc_bytes(b, stored, strlen(stored), 1) : 0;
    const char *name = s->name ? s->name : "";
    uint64_t name_off = format ? desc_bytes(b, name, strnlen(name, 4096), 1) : 0;
    if (name_off == 0) {
        return 0;
    }
    uint64_t metadata = 0;
    int64_t metadata_len = 0;
    if (s->metadata != NULL) {
        metadata_len = metadata_length(s->metadata, UINT32_MAX);
        if (metadata_len < 0) {
            build_fail(b, "malformed metadata");
            return 0;
        }
        metadata = desc_bytes(b, s->metadata, (size_t)metadata_len, 0);
        if (metadata == 0) {
            return 0;
        }
    }
    uint64_t children = s->n_children ? desc_alloc(b, 8 * (size_t)s->n_children) : 0;
    if (s->n_children && children == 0) {
        return 0;
    }
    frost_colschema_t *d = DESC(b, off);
    d->format = format;
    d->name = name_off;
    d->metadata = metadata;
    d->metadata_len = (uint64_t)metadata_len;
    d->flags = s->flags;
    d->n_children = s->n_children;
    d->children = children;
    for (int64_t i = 0; i < s->n_children; i++) {
        const struct ArrowSchema *child = s->children[i];
        size_t mark = where_push(&b->at, child && child->name ? child->name : NULL);
        uint64_t c = build_schema(b, child, depth + 1);
        if (c == 0) {
            return 0;
        }
        b->at.path[mark] = '\0';
        b->at.format = s->format;
        ((uint64_t *)DESC(b, children))[i] = c;
    }
    if (s->dictionary != NULL) {
        frost_colfmt_t index;
        if (index_format(s->format, &index) < 0) {
            build_fail(b, "dictionary indices must be integers");
            return 0;
        }
        uint64_t dict = build_schema(b, s->dictionary, depth + 1);
        if (dict == 0) {
            return 0;
        }
        b->at.format = s->format;
        ((frost_colschema_t *)DESC(b, off))->dictionary = dict;
    }
    return off;
}

static uint64_t
build_array(builder_t *b, const struct ArrowSchema *s, const struct ArrowArray *a, int depth,
            int64_t extra_offset, int64_t length_override)
{
    b->at.format = s->format;
    frost_colfmt_t fmt;
    int is_view = stored_format(s->format) != s->format;
    (void)frost__colfmt_parse(stored_format(s->format), &fmt);   /* checked by build_schema */
    if (s->dictionary != NULL) {
        (void)index_format(s->format, &fmt);
    }
    if (a == NULL || a->release == NULL) {
        build_fail(b, "an array is missing or released");
        return 0;
    }
    if (a->length < 0 || a->offset < 0 || a->null_count < -1 || a->length > MAX_ELEMENTS
        || a->offset > MAX_ELEMENTS - a->length) {
        build_fail(b, "bad length %lld, offset %lld or null_count %lld", (long long)a->length,
                   (long long)a->offset, (long long)a->null_count);
        return 0;
    }
    int64_t offset = a->offset + extra_offset;
    int64_t length = length_override >= 0 ? length_override : a->length;
    if (extra_offset + length > a->length) {
        build_fail(b, "%lld items, %lld needed", (long long)a->length, (long long)(extra_offset + length));
        return 0;
    }
    /* a null-type array from older writers (polars) names one buffer, NULL: the
     * validity bitmap the format once had */
    int legacy_null = fmt.n_buffers == 0 && a->n_buffers == 1 && a->buffers != NULL
                      && a->buffers[0] == NULL && strcmp(s->format, "n") == 0;
    if ((is_view ? a->n_buffers < 3 : a->n_buffers != fmt.n_buffers && !legacy_null)
        || (a->n_buffers > 0 && a->buffers == NULL)) {
        build_fail(b, "%lld buffers, the type has %d", (long long)a->n_buffers, fmt.n_buffers);
        return 0;
    }
    if (a->n_children != s->n_children || (a->n_children > 0 && a->children == NULL)) {
        build_fail(b, "%lld children, the schema has %lld", (long long)a->n_children,
                   (long long)s->n_children);
        return 0;
    }
    if ((a->dictionary != NULL) != (s->dictionary != NULL)) {
        build_fail(b, "the array's dictionary does not match the schema");
        return 0;
    }
    uint64_t off = desc_alloc(b, sizeof(frost_colarray_t));
    uint64_t bufs = off && fmt.n_buffers ? desc_alloc(b, 16 * (size_t)fmt.n_buffers) : 0;
    uint64_t children = off && a->n_children ? desc_alloc(b, 8 * (size_t)a->n_children) : 0;
    if (off == 0 || (fmt.n_buffers && bufs == 0) || (a->n_children && children == 0)) {
        return 0;
    }
    /* The copy starts at this array's first item: buffers are trimmed to
     * [offset, offset + length) and the copy's offset is 0 (bitmaps shifted,
     * offsets rebased, children cut to what the items use). */
    frost_colarray_t *d = DESC(b, off);
    d->length = length;
    d->offset = 0;
    d->null_count = -1;   /* counted by the check */
    d->n_buffers = fmt.n_buffers;
    d->n_children = a->n_children;
    d->buffers = bufs;
    d->children = children;
    int64_t child_from = 0, child_len = -1;   /* the window of every child */
    if (fmt.kind != FROST_COL_NULL) {
        if (a->buffers[0] == NULL) {
            if (a->null_count > 0) {
                build_fail(b, "null_count %lld but no validity bitmap", (long long)a->null_count);
                return 0;
            }
        }
        else if (add_bits(b, bufs, 0, a->buffers[0], offset, length) < 0) {
            return 0;
        }
    }
    switch (fmt.kind) {
    case FROST_COL_NULL:
        break;
    case FROST_COL_STRUCT:
        child_from = offset;
        child_len = length;
        break;
    case FROST_COL_FIXED_LIST:
        child_from = offset * fmt.width;
        child_len = length * fmt.width;
        break;
    case FROST_COL_BOOL:
        if (add_bits(b, bufs, 1, a->buffers[1], offset, length) < 0) {
            return 0;
        }
        break;
    case FROST_COL_INT:
    case FROST_COL_UINT:
    case FROST_COL_FLOAT:
    case FROST_COL_FIXED:
    case FROST_COL_FIXED_BINARY: {
        const char *values = a->buffers[1];
        if (add_buffer(b, bufs, 1, values ? values + fmt.width * offset : NULL,
                       (uint64_t)fmt.width * (uint64_t)length) < 0) {
            return 0;
        }
        break;
    }
    case FROST_COL_BINARY:
    case FROST_COL_STRING:
    case FROST_COL_LIST:
    case FROST_COL_MAP: {
        if (is_view) {
            if (add_views(b, bufs, a, offset, length) < 0) {
                return 0;
            }
            break;
        }
        const char *offsets = a->buffers[1];
        int64_t first = 0, last = 0;
        if (offsets == NULL && length == 0) {
            if (add_buffer(b, bufs, 1, NULL, 0) < 0) {   /* the zero pad: one offset 0 */
                return 0;
            }
            b->pend[b->npend - 1].size = (uint64_t)fmt.width;
        }
        else {
            const char *window = offsets ? offsets + fmt.width * offset : NULL;
            uint64_t osize = (uint64_t)fmt.width * (uint64_t)(length + 1);
            if (add_copy(b, bufs, 1, window, osize, osize, (pending_t){.kind = COPY_OFFSETS, .width = (int)fmt.width}) < 0) {
                return 0;
            }
            first = offset_at((const uint8_t *)window, fmt.width, 0);
            last = offset_at((const uint8_t *)window, fmt.width, length);
            if (first < 0 || last < first) {
                build_fail(b, "offsets %lld .. %lld: negative or decreasing", (long long)first,
                           (long long)last);
                return 0;
            }
            b->pend[b->npend - 1].base = first;
        }
        if (fmt.kind == FROST_COL_BINARY || fmt.kind == FROST_COL_STRING) {
            const char *data = a->buffers[2];
            if (add_buffer(b, bufs, 2, data ? data + first : NULL, (uint64_t)(last - first)) < 0) {
                return 0;
            }
        }
        else {
            child_from = first;
            child_len = last - first;
        }
        break;
    }
    }
    for (int64_t i = 0; i < a->n_children; i++) {
        size_t mark = where_push(&b->at, s->children[i]->name);
        uint64_t c = build_array(b, s->children[i], a->children[i], depth + 1, child_from, child_len);
        if (c == 0) {
            return 0;
        }
        b->at.path[mark] = '\0';
        b->at.format = s->format;
        ((uint64_t *)DESC(b, children))[i] = c;
    }
    if (a->dictionary != NULL) {
        size_t mark = where_push(&b->at, "<dictionary>");
        uint64_t dict = build_array(b, s->dictionary, a->dictionary, depth + 1, 0, -1);
        if (dict == 0) {
            return 0;
        }
        b->at.path[mark] = '\0';
        ((frost_colarray_t *)DESC(b, off))->dictionary = dict;
    }
    return off;
}

static void
copy_pending(char *dst, const pending_t *p)
{
    const uint8_t *src = p->src;
    switch (p->kind) {
    case COPY_BYTES:
        memcpy(dst, src, p->size);
        break;
    case COPY_BITS:
        if (p->shift == 0) {
            memcpy(dst, src, p->size);
            break;
        }
        for (uint64_t k = 0; k < p->size; k++) {
            uint8_t lo = (uint8_t)(src[k] >> p->shift);
            uint8_t hi = k + 1 < p->src_size ? (uint8_t)(src[k + 1] << (8 - p->shift)) : 0;
            dst[k] = (char)(lo | hi);
        }
        break;
    case COPY_OFFSETS:
        memcpy(dst, src, p->size);
        if (p->width == 4) {
            for (uint64_t k = 0; k < p->size / 4; k++) {
                int32_t v;
                memcpy(&v, dst + 4 * k, 4);
                v = (int32_t)((int64_t)v - p->base);
                memcpy(dst + 4 * k, &v, 4);
            }
        }
        else {
            for (uint64_t k = 0; k < p->size / 8; k++) {
                int64_t v;
                memcpy(&v, dst + 8 * k, 8);
                v = (int64_t)((uint64_t)v - (uint64_t)p->base);
                memcpy(dst + 8 * k, &v, 8);
            }
        }
        break;
    }
}

static void
no_release_schema(struct ArrowSchema *s)
{
    s->release = NULL;
}

static void
no_release_array(struct ArrowArray *a)
{
    a->release = NULL;
}

/* A chunk's root struct array: its columns, with the root's offset pushed down. */
static uint64_t
build_root(builder_t *b, const struct ArrowSchema *root, const struct ArrowArray *a, int64_t k)
{
    b->at.format = "+s";
    if (a != NULL && (a->length < 0 || a->offset < 0 || a->length > MAX_ELEMENTS
                      || a->offset > MAX_ELEMENTS - a->length)) {
        build_fail(b, "chunk %lld: bad length %lld or offset %lld", (long long)k, (long long)a->length,
                   (long long)a->offset);
        return 0;
    }
    if (a == NULL || a->release == NULL || a->n_buffers != 1 || a->buffers == NULL
        || a->n_children != root->n_children || (a->n_children > 0 && a->children == NULL)
        || a->dictionary != NULL) {
        build_fail(b, "chunk %lld is not a struct array matching the schema", (long long)k);
        return 0;
    }
    if (a->buffers[0] != NULL && a->null_count != 0) {
        const uint8_t *v = a->buffers[0];
        int64_t e = a->offset + a->length;
        if (!readable(v, (uint64_t)(e + 7) / 8) || count_zeros(v, a->offset, e) != 0) {
            build_fail(b, "chunk %lld has null rows (a table's rows cannot be null)", (long long)k);
            return 0;
        }
    }
    uint64_t off = desc_alloc(b, sizeof(frost_colarray_t));
    uint64_t bufs = off ? desc_alloc(b, 16) : 0;
    uint64_t children = bufs && a->n_children ? desc_alloc(b, 8 * (size_t)a->n_children) : 0;
    if (bufs == 0 || (a->n_children && children == 0)) {
        return 0;
    }
    frost_colarray_t *d = DESC(b, off);
    d->length = a->length;
    d->null_count = 0;
    d->n_buffers = 1;
    d->n_children = a->n_children;
    d->buffers = bufs;
    d->children = children;
    for (int64_t i = 0; i < a->n_children; i++) {
        size_t mark = where_push(&b->at, root->children[i]->name);
        uint64_t c = build_array(b, root->children[i], a->children[i], 1, a->offset, a->length);
        if (c == 0) {
            return 0;
        }
        b->at.path[mark] = '\0';
        ((uint64_t *)DESC(b, children))[i] = c;
    }
    return off;
}

int
frost__columns_build(frost_arena_t *arena, const struct ArrowSchema *schema,
                     struct ArrowArray *const *chunks, int64_t nchunks, frost_columns_t **out,
                     char *err, size_t errlen)
{
    builder_t b = {.at = {.err = err, .errlen = errlen}};
    int rc = 1;   /* bad input, until the end */
    struct ArrowSchema *wrapped_schema[1] = {(struct ArrowSchema *)schema};
    struct ArrowSchema wrapper = {.format = "+s", .name = "", .n_children = 1,
                                  .children = wrapped_schema, .release = no_release_schema};
    int wrap = schema == NULL || schema->format == NULL || strcmp(schema->format, "+s") != 0;
    const struct ArrowSchema *root = wrap ? &wrapper : schema;
    if (schema == NULL || schema->release == NULL) {
        build_fail(&b, "the schema is missing or released");
        goto done;
    }
    if (root->dictionary != NULL) {
        b.at.format = root->format;
        build_fail(&b, "a dictionary-encoded struct cannot be a table");
        goto done;
    }
    uint64_t schema_off = build_schema(&b, root, 0);
    uint64_t chunk_table = schema_off && nchunks ? desc_alloc(&b, 8 * (size_t)nchunks) : 0;
    uint64_t row_starts = schema_off ? desc_alloc(&b, 8 * (size_t)(nchunks + 1)) : 0;
    if (schema_off == 0 || (nchunks && chunk_table == 0) || row_starts == 0) {
        goto done;
    }
    int64_t nrows = 0;
    for (int64_t k = 0; k < nchunks; k++) {
        const struct ArrowArray *a = chunks[k];
        struct ArrowArray *wrapped_array[1] = {chunks[k]};
        const void *no_validity[1] = {NULL};
        struct ArrowArray outer;
        if (wrap) {
            outer = (struct ArrowArray){.length = a && a->length > 0 ? a->length : 0, .n_buffers = 1,
                                        .buffers = no_validity, .n_children = 1,
                                        .children = wrapped_array, .release = no_release_array};
            a = &outer;
        }
        uint64_t c = build_root(&b, root, a, k);
        if (c == 0) {
            goto done;
        }
        ((uint64_t *)DESC(&b, chunk_table))[k] = c;
        ((int64_t *)DESC(&b, row_starts))[k] = nrows;
        nrows += a->length;
        if (nrows > MAX_ELEMENTS) {
            build_fail(&b, "too many rows");
            goto done;
        }
    }
    uint64_t desc_end = ALIGN_UP(DESC_BASE + b.len, 64);
    uint64_t total = desc_end + 64 + b.buf_bytes;
    char *blob = frost_arena_alloc(arena, total, 64);
    frost_columns_t *node = blob ? frost_arena_alloc(arena, sizeof *node, 8) : NULL;
    if (node == NULL) {
        rc = frost_arena_last_error(arena) < 0 ? frost_arena_last_error(arena) : FROST_ENOMEM;
        goto done;
    }
    frost_colblob_header_t *h = (frost_colblob_header_t *)blob;
    h->magic = FROST_COLBLOB_MAGIC;
    h->version = FROST_COLBLOB_VERSION;
    h->size = total;
    h->nrows = nrows;
    h->nchunks = (uint64_t)nchunks;
    h->schema = schema_off;
    h->chunks = chunk_table;
    h->desc_end = desc_end;
    h->row_starts = row_starts;
    ((int64_t *)DESC(&b, row_starts))[nchunks] = nrows;
    memcpy(blob + DESC_BASE, b.desc, b.len);
    uint64_t at = desc_end + 64;   /* after the zero pad */
    for (size_t i = 0; i < b.npend; i++) {
        frost_colbuf_t *entry = (frost_colbuf_t *)(blob + b.pend[i].entry);
        entry->size = b.pend[i].size;
        if (b.pend[i].src == NULL) {
            entry->offset = desc_end;   /* the zero pad */
            continue;
        }
        copy_pending(blob + at, &b.pend[i]);
        entry->offset = at;
        at += ALIGN_UP(b.pend[i].size, 64);
    }
    if (frost__colblob_check(blob, total, 1, err, errlen) < 0) {
        goto done;
    }
    node->hdr.kind = FROST_NODE_COLUMNS;
    node->nbytes = total;
    node->blob = blob;
    *out = node;
    rc = 0;
done:
    if (b.nomem && rc == 1) {
        rc = FROST_ENOMEM;
    }
    for (size_t i = 0; i < b.ntemps; i++) {
        free(b.temps[i]);
    }
    free(b.temps);
    free(b.desc);
    free(b.pend);
    return rc;
}
