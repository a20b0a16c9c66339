/*
 * frost_arrow.h -- the Arrow C data interface and C stream interface
 * (https://arrow.apache.org/docs/format/CDataInterface.html, ...CStreamInterface.html):
 * a stable ABI, so the three structs are written out here rather than vendored.
 *
 * Ownership rules of the ABI that frost relies on (both directions):
 *   - a struct whose `release` is NULL is released (moved out or never set);
 *   - the consumer calls `release` exactly once on each struct it was given;
 *     the producer's release frees the struct's private data and must also
 *     release children/dictionary structs not yet moved out (release != NULL);
 *   - moving a struct = memcpy it, then set the source's release to NULL.
 * PyCapsule names: "arrow_schema", "arrow_array", "arrow_array_stream"; a
 * capsule's destructor releases its struct unless it was moved out.
 */
#ifndef FROST_ARROW_H
#define FROST_ARROW_H

#include <stdint.h>

#define FROST_ARROW_FLAG_DICTIONARY_ORDERED 1
#define FROST_ARROW_FLAG_NULLABLE 2
#define FROST_ARROW_FLAG_MAP_KEYS_SORTED 4

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};
#endif

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE
struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};
#endif

#endif /* FROST_ARROW_H */
