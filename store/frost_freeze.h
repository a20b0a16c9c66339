/*
 * frost_freeze.h -- copy a Python object graph into an arena (store/freeze.c).
 *
 * Python.h lives here, not in frost_arena.h: this is the one store/ API that
 * speaks in Python objects.
 */
#ifndef FROST_FREEZE_H
#define FROST_FREEZE_H

#include <Python.h>
#include "frost_arena.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the freezer needs from the extension module (all borrowed). */
typedef struct frost_freeze_env_s {
    PyObject *freeze_error;          /* the FreezeError class to raise */
    PyObject *mapping_abc;           /* collections.abc.Mapping */
    PyObject *dataclass_fields;      /* dataclasses.fields, or NULL to import lazily */
    /* The module's view types, so that views freeze like what they show:
     * FrozenList/FrozenSet views are iterated; record views are unpacked with
     * `record_parts` (new references; 0 ok, -1 error). May be NULL. */
    PyTypeObject *list_view_type;
    PyTypeObject *set_view_type;
    PyTypeObject *record_view_type;      /* frost.Record; its only subtypes are its shape types */
    /* the same for views of format-2 images (frost.MappedList/Set/Record; record_parts
     * takes both record types) */
    PyTypeObject *mapped_list_type;
    PyTypeObject *mapped_set_type;
    PyTypeObject *mapped_record_type;
    int (*record_parts)(PyObject *record_view, PyObject **module, PyObject **qualname,
                        int *record_kind, PyObject **state);
    /* The node a view of a whole container shows (any store kind: an address
     * no other node has while the view lives), NULL for anything else (a
     * slice, an array, no view). Each read makes a new view, so freezing the
     * views of a cyclic container met a new object at every turn and never
     * ended: the freezer takes the first view of each node for all of them.
     * May be NULL. */
    const void *(*view_node)(void *ctx, PyObject *o);
    void *view_ctx;
    /* Progress report (NULL: none): called with the objects visited so far
     * every FROST_FREEZE_PROGRESS_EVERY visits (finished 0), and once more when
     * the walk has succeeded (finished 1). Returning -1 with an exception set
     * stops the freeze with that exception. */
    int (*progress)(void *ctx, size_t done, int finished);
    void *progress_ctx;
    /* The check made every FROST_FREEZE_PROGRESS_EVERY visits, before the
     * progress report (NULL: PyErr_CheckSignals, which sees Ctrl-C only, in
     * the main thread): -1 with an exception set stops the freeze. The module
     * gives frost__wait_tick, which also raises an exception another thread
     * raised in this one (frost.Pool stopping a task): else a task freezing a
     * large graph ran on to the end of its walk. */
    int (*check)(void);
    /* Nonzero: no node gets a lookup structure. A dict node's index is NULL
     * (mask 0), a set node's slots are its items in insertion order (len slots,
     * order[i] == i, mask 0). Only for an arena that is written to an image and
     * freed, never read by lookups (_frost._map_write_fresh, frost.share): the
     * writer reads entries and items in order and builds its own keyed index, so
     * an 8 MiB index allocated, set to -1 and filled at random for a 1M-entry
     * dict was pages and cache misses nobody used. */
    int unindexed;
} frost_freeze_env_t;

/* Objects visited between two progress reports (and signal checks). */
#define FROST_FREEZE_PROGRESS_EVERY 65536

/*
 * Freeze `obj` into `arena` (which must be empty and unsealed) and store the
 * root reference (a frost_ref_t, see frost_nodes.h) in *root. Does not seal.
 * Requires the GIL (attached thread state). On failure: -1 with an exception
 * set; the arena then holds garbage and the caller frees it. Nothing else
 * leaks.
 */
int frost_freeze(PyObject *obj, frost_arena_t *arena, const frost_freeze_env_t *env,
                 uintptr_t *root);

/*
 * Look `name` up on `tp` as Python looks up a special method: in the class and
 * its bases (the MRO), not through the metaclass (whose __getattr__ made a
 * class a "record" whose instances had no __shared__). 1 found (*value a new
 * reference when `value` is not NULL), 0 absent, -1 error. The one lookup of
 * the freezer's protocol checks (__shared__, dataclass and NamedTuple fields,
 * Enum members) and of the Arrow ones (store/columns_py.c).
 */
int frost__type_has(PyTypeObject *tp, const char *name, PyObject **value);

#ifdef __cplusplus
}
#endif
#endif /* FROST_FREEZE_H */
