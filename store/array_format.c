/*
 * array_format.c -- which buffer formats an array node may hold: a
 * whitelist of formats that describe pure data, and the item size each one
 * describes (frost__array_format_check, frost_nodes.h).
 *
 * An array node is read by memoryview (struct-module formats) and numpy (PEP
 * 3118 formats), in any interpreter, possibly after a save and load in
 * another process. So a format is accepted only if:
 *   - every item is data: no 'O' (object pointer), 'P' (void pointer), '&'
 *     (pointer to), 'X{}' (function pointer), 't' (bit field) or 'u' (UCS-2),
 *     at any depth of a 'T{...}' struct; codes we do not know are refused too
 *     (a whitelist: a new code is refused until someone adds it here);
 *   - some item is not padding ('4x' alone, numpy's void dtype, has no data
 *     and reads back as a different dtype);
 *   - every reader that understands the format computes the item size the
 *     exporter gave: numpy's reading (computed here, a port of numpy's
 *     _dtype_from_pep3118: '@' aligns each item and pads the struct to its
 *     common alignment; '^' native sizes unaligned; '=' '<' '>' '!' standard
 *     sizes) and, when the struct module understands the format, its calcsize.
 *     A mismatch would let a reader step past the end of the data.
 * The same check runs when a buffer is frozen and when a snapshot is loaded,
 * so what freezes always saves and loads, and a hostile file cannot smuggle in
 * a format that is refused at freeze.
 */
#include "frost_nodes.h"

#include <limits.h>
#include <string.h>

#define ITEM_MAX ((Py_ssize_t)1 << 40)   /* sanity bound on any size computed here */

typedef struct {
    const char *p;       /* next character */
    char order;          /* current byte order mode: '@' '^' '=' '<' '>' (numpy keeps it across T{}) */
    int numpy_ok;        /* numpy can read every code met so far */
    int has_data;        /* some item is not padding */
    const char *why;     /* refusal reason (static) */
} fmt_parser_t;

static int
refuse(fmt_parser_t *fp, const char *why)
{
    if (fp->why == NULL) {
        fp->why = why;
    }
    return -1;
}

static int
mul_size(Py_ssize_t *acc, Py_ssize_t n)
{
    if (n < 0 || (n > 0 && *acc > ITEM_MAX / n)) {
        return -1;
    }
    *acc *= n;
    return 0;
}

/* Digits at fp->p into *out; 0 if there were none (out untouched), -1 overflow. */
static int
parse_count(fmt_parser_t *fp, Py_ssize_t *out)
{
    if (*fp->p < '0' || *fp->p > '9') {
        return 0;
    }
    Py_ssize_t n = 0;
    while (*fp->p >= '0' && *fp->p <= '9') {
        if (n > ITEM_MAX / 10) {
            return -1;
        }
        n = n * 10 + (*fp->p++ - '0');
    }
    *out = n;
    return 1;
}

static Py_ssize_t
gcd(Py_ssize_t a, Py_ssize_t b)
{
    while (b != 0) {
        Py_ssize_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Size and alignment of one scalar code in the current mode; `fp->p` at the
 * code. 0 ok, -1 refused. Sets *padding for 'x'. */
static int
scalar(fmt_parser_t *fp, Py_ssize_t *size, Py_ssize_t *align, int *padding)
{
    int native = fp->order == '@' || fp->order == '^';
    char c = *fp->p++;
    *padding = 0;
    switch (c) {
    case '?': case 'c': case 'b': case 'B': case 's':
        *size = *align = 1;
        return 0;
    case 'x':
        *size = *align = 1;
        *padding = 1;
        return 0;
    case 'h': case 'H': case 'e':
        *size = *align = 2;
        return 0;
    case 'i': case 'I': case 'f': case 'w':
        *size = *align = 4;
        return 0;
    case 'l': case 'L':
        *size = *align = native ? (Py_ssize_t)sizeof(long) : 4;
        return 0;
    case 'q': case 'Q': case 'd':
        *size = *align = 8;
        return 0;
    case 'g':
        if (!native) {
            return refuse(fp, "long double ('g') has no standard size");
        }
        *size = (Py_ssize_t)sizeof(long double);
        *align = (Py_ssize_t)_Alignof(long double);
        return 0;
    case 'Z':
        c = *fp->p++;
        if (c == 'f' || c == 'd') {
            *align = c == 'f' ? 4 : 8;
            *size = 2 * *align;
            return 0;
        }
        if (c == 'g' && native) {
            *size = 2 * (Py_ssize_t)sizeof(long double);
            *align = (Py_ssize_t)_Alignof(long double);
            return 0;
        }
        return refuse(fp, "unknown complex type");
    case 'n': case 'N': case 'p':
        /* struct-module codes numpy does not read: the struct check decides */
        fp->numpy_ok = 0;
        *size = *align = c == 'p' ? 1 : (Py_ssize_t)sizeof(Py_ssize_t);
        return 0;
    case 'O': case 'P': case '&': case 'X':
        return refuse(fp, "its items hold pointers (objects or addresses of this process)");
    case 'u':
        return refuse(fp, "UCS-2 ('u') items are not supported");
    case 't':
        return refuse(fp, "bit fields ('t') are not supported");
    default:
        return refuse(fp, "unknown item code");
    }
}

/* A sequence of items up to '}' (sub) or the end (top). numpy's reading:
 * the size and common alignment of the struct. 0 ok, -1 refused. */
static int
parse_items(fmt_parser_t *fp, int sub, int depth, Py_ssize_t *size_out, Py_ssize_t *align_out)
{
    if (depth > 64) {
        return refuse(fp, "structs nested too deep");
    }
    Py_ssize_t offset = 0, common = 1;
    for (;;) {
        if (*fp->p == '\0') {
            if (sub) {
                return refuse(fp, "unterminated 'T{'");
            }
            break;
        }
        if (*fp->p == '}') {
            if (!sub) {
                return refuse(fp, "unbalanced '}'");
            }
            fp->p++;
            break;
        }
        Py_ssize_t repeat = 1;                 /* (shape) and count: numpy sub-arrays */
        if (*fp->p == '(') {
            fp->p++;
            for (;;) {
                Py_ssize_t dim = 0;
                if (parse_count(fp, &dim) <= 0 || mul_size(&repeat, dim) < 0) {
                    return refuse(fp, "malformed sub-array shape");
                }
                if (*fp->p == ',') {
                    fp->p++;
                    continue;
                }
                if (*fp->p++ != ')') {
                    return refuse(fp, "malformed sub-array shape");
                }
                break;
            }
        }
        if (strchr("@=<>^!", *fp->p) != NULL && *fp->p != '\0') {
            fp->order = *fp->p == '!' ? '>' : *fp->p;
            fp->p++;
        }
        Py_ssize_t count = 1;
        if (parse_count(fp, &count) < 0) {
            return refuse(fp, "item count too large");
        }
        Py_ssize_t size, align;
        int padding = 0, string_like = 0;
        if (fp->p[0] == 'T' && fp->p[1] == '{') {
            fp->p += 2;
            if (parse_items(fp, 1, depth + 1, &size, &align) < 0) {
                return -1;
            }
        }
        else {
            char code = *fp->p;
            if (scalar(fp, &size, &align, &padding) < 0) {
                return -1;
            }
            string_like = code == 's' || code == 'w' || code == 'x';
        }
        if (string_like) {        /* '5s' is one 5-byte string, not 5 items */
            if (mul_size(&size, count) < 0) {
                return refuse(fp, "item too large");
            }
            count = 1;
        }
        if (!padding) {
            fp->has_data = 1;
        }
        Py_ssize_t extra = 0;
        if (fp->order == '@') {    /* native alignment (numpy's rule) */
            offset += (align - offset % align) % align;
            Py_ssize_t intra = (align - size % align) % align;
            if (intra != 0) {
                if (count > 1 || repeat > 1) {
                    size += intra;
                }
                else {
                    extra = intra;
                }
            }
            common = common / gcd(common, align) * align;
            if (common > 4096) {
                return refuse(fp, "alignment too large");
            }
        }
        if (mul_size(&size, count) < 0 || mul_size(&size, repeat) < 0) {
            return refuse(fp, "item too large");
        }
        if (*fp->p == ':') {                   /* a field name: anything up to ':' */
            const char *end = strchr(fp->p + 1, ':');
            if (end == NULL) {
                return refuse(fp, "unterminated field name");
            }
            fp->p = end + 1;
            fp->has_data |= padding;           /* a named pad is a (void) field */
        }
        offset += size + extra;
        if (offset > ITEM_MAX) {
            return refuse(fp, "item too large");
        }
    }
    if (fp->order == '@') {
        offset += (common - offset % common) % common;
    }
    *size_out = offset;
    *align_out = common;
    return 0;
}

int
frost__array_format_check(const char *format, Py_ssize_t itemsize, const char **why)
{
    fmt_parser_t fp = {.p = format, .order = '@', .numpy_ok = 1, .has_data = 0, .why = NULL};
    Py_ssize_t numpy_size = 0, align = 1;
    *why = NULL;
    if (strlen(format) > FROST_ARRAY_FORMAT_MAX) {
        *why = "format string too long";
        return -1;
    }
    if (parse_items(&fp, 0, 0, &numpy_size, &align) < 0) {
        *why = fp.why;
        return -1;
    }
    if (!fp.has_data) {
        *why = "its items hold no data, only padding";
        return -1;
    }
    /* The struct module's reading, where it has one ('T{', 'Z', 'w', 'g', '^'
     * are numpy's alone). Any error here just means "struct can't read it". */
    PyObject *exc = PyErr_GetRaisedException();
    Py_ssize_t struct_size = PyBuffer_SizeFromFormat(format);
    if (struct_size < 0) {
        PyErr_Clear();
    }
    PyErr_SetRaisedException(exc);
    if (!fp.numpy_ok && struct_size < 0) {
        *why = "the format is neither numpy's nor the struct module's";
        return -1;
    }
    if ((fp.numpy_ok && numpy_size != itemsize) || (struct_size >= 0 && struct_size != itemsize)) {
        *why = "the item size does not match the format";
        return -1;
    }
    return 0;
}
