/*
 * frost_snapshot.h -- save a sealed store to a file and load it back, in this
 * process or any other (store/snapshot.c; the format is docs/format.md).
 *
 * A snapshot is position-independent: records refer to each other by offset,
 * never by address, and hold type codes instead of type pointers. Loading maps
 * the file read-only, validates every offset, kind and count (and the
 * checksum), then:
 *   - copies the *image* section (objects and node headers) into a fresh
 *     arena and relocates it: type pointers, immortal headers, refs, and --
 *     when this process's hash seed differs from the writer's -- str/bytes
 *     hashes and table indexes are recomputed;
 *   - uses the *bulk* section in place (zero-copy, shared between processes
 *     by the page cache): packed int64/float64 lists, array shapes and data,
 *     and table indexes when the hash seed matches.
 * The mapping is owned by the store's arena and unmapped with it.
 *
 * A snapshot file must not be modified in place while a store loaded from it
 * is alive (frost_snapshot_save never does: it writes a temporary file and
 * renames it over the target). What happens if it is: a progress callback
 * (Python code) of a save or a load that shrinks the file being written or
 * loaded is FROST_SNAPSHOT_EIO (EIO), not a SIGBUS; so is another process
 * truncating the file during the load (its mapping is guarded like a format-2
 * image's while the load runs: frost_map_guard_add). Once loaded, truncating
 * it faults (SIGBUS) at the store's next read of its bulk data, and rewriting
 * it in place changes what that data reads.
 */
#ifndef FROST_SNAPSHOT_H
#define FROST_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include "frost_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes of this component, beside the FROST_E* of frost_arena.h. */
enum {
    FROST_SNAPSHOT_EIO = -20,          /* open/read/write/rename failed; sys_errno says why */
    FROST_SNAPSHOT_EFORMAT = -21,      /* not a valid snapshot: corrupt, truncated, bad offsets */
    FROST_SNAPSHOT_EVERSION = -22,     /* a valid snapshot of another format/Python/platform */
    FROST_SNAPSHOT_EUNSUPPORTED = -23, /* save: the store holds something the format can't */
    FROST_SNAPSHOT_ECANCELED = -24,    /* the progress callback asked to stop */
};

/* Why a call failed: a status code and a message naming the cause (and for
 * corrupt files, the offset). */
typedef struct frost_snapshot_error_s {
    int code;               /* FROST_OK or a negative status */
    int sys_errno;          /* FROST_SNAPSHOT_EIO: errno; else 0 */
    char message[256];      /* NUL-terminated; "" when code == FROST_OK */
} frost_snapshot_error_t;

/* The current format version (docs/format.md). */
#define FROST_SNAPSHOT_FORMAT_VERSION 1u

/*
 * Progress of a long save or load (see the *_with_progress variants): `fn`
 * is called with the work done and the total, in units of the call's own
 * (save: items written over its two walks, the total 0 until the first walk
 * has counted them; load: bytes of the image checked over its two walks), at
 * most every FROST_SNAPSHOT_PROGRESS_EVERY items or records, and once at the
 * end with done == total. Returning nonzero stops the call, which cleans up
 * and returns FROST_SNAPSHOT_ECANCELED. save calls it without the GIL, from
 * the saving thread; load calls it with the GIL held.
 * `check` (NULL: none) is called, with `ctx`, between
 * FROST_SNAPSHOT_CHECK_SLICE-byte slices of the passes over the whole file
 * that report no progress -- a load's before its walks (the checksum, the
 * copy of the image), with the GIL held; a save's checksum after its walks,
 * without it, from the saving thread: nonzero stops the call as `fn` does
 * (Ctrl-C reached a format-1 load only once they were done, most of its
 * time, and a save only once its file was complete).
 */
typedef struct frost_snapshot_progress_s {
    int (*fn)(void *ctx, uint64_t done, uint64_t total);
    void *ctx;
    int (*check)(void *ctx);
} frost_snapshot_progress_t;

#define FROST_SNAPSHOT_CHECK_SLICE ((size_t)8 << 20)   /* a multiple of 32 */

#define FROST_SNAPSHOT_PROGRESS_EVERY 65536

/*
 * Write the graph of `store` (sealed, and kept alive by the caller for the
 * whole call) to `path`: a temporary file beside it, then rename(2), so
 * readers of an older file at `path` keep their (unlinked) copy. A `path`
 * that is not a regular file (frost_snapshot_target_kind) is refused:
 * FROST_SNAPSHOT_EIO, nothing written.
 * Reads only the sealed arena: may run without the GIL, from any thread,
 * once frost_snapshot_init() has run.
 * Returns 0, or a negative status with `err` (NULL ok) filled in.
 */
FROST_NODISCARD int frost_snapshot_save(const frost_store_t *store, const char *path,
                                        frost_snapshot_error_t *err);
FROST_NODISCARD int frost_snapshot_save_with_progress(const frost_store_t *store, const char *path,
                                                      const frost_snapshot_progress_t *progress,
                                                      frost_snapshot_error_t *err);

/*
 * What the existing `path` (links followed) is when it is not a regular file
 * -- "a directory", "a FIFO", "a socket", "a character device" (/dev/null),
 * "a block device", "a special file" -- else NULL (a regular file, or
 * nothing there). Both savers (this one and Store.save's format 2) refuse
 * such a target before writing anything, with errno
 * frost_snapshot_target_errno(kind) (EISDIR for a directory, else EINVAL):
 * their rename(2) would replace it with a regular file.
 */
const char *frost_snapshot_target_kind(const char *path);
int frost_snapshot_target_errno(const char *kind);

/*
 * Create the temporary file a save of `path` writes before renaming it over
 * `path` (both savers): beside it, named `path.tmp.<pid>.<n>` -- its last
 * component cut short so that the name fits NAME_MAX and `cap` (a target
 * whose own name is 255 bytes long saves too) -- with O_EXCL and O_NOFOLLOW
 * (a name taken, by a link planted there or another save, is skipped, never
 * opened), open O_RDWR | O_CLOEXEC. A regular file at `path` that the caller
 * may not write is not replaced (-1, EACCES: what open(path, "w") would say).
 * Replacing a regular file, the new one gets its permission bits (rwx for
 * user, group, others: a 0600 file stays private, the umask aside) and, for
 * root, its owner; else 0644 less the umask. A link at `path` is replaced
 * by the rename, never followed. The fd, with its name in `tmp`; or -1 with
 * errno (ENAMETOOLONG: no name fits; ENOENT for "", EISDIR for a path
 * ending in '/', as open(2) would).
 */
int frost_snapshot_create_temp(const char *path, char *tmp, size_t cap);

/*
 * Whether `path` still names the file open as `fd` and that file holds `size`
 * bytes: both savers ask after their last progress call (Python code) and
 * before renaming their temporary file over the target, so a callback that
 * truncated, extended or replaced it is an error, not a success whose file
 * load refuses later (its bytes rewritten in place are load's checksum's to
 * find). A `path` gone or unreadable: 0.
 */
int frost_snapshot_file_intact(int fd, const char *path, uint64_t size);

/*
 * Map `path`, validate it and build a new sealed store from it; on success
 * *out owns one reference (release with frost_store_release). Requires the
 * GIL (attached thread state): str/bytes hashes are computed with this
 * process's seed. Never leaves a Python exception set. Returns 0, or a
 * negative status with `err` (NULL ok) filled in and *out NULL.
 */
FROST_NODISCARD int frost_snapshot_load(const char *path, frost_lifetime_t lifetime,
                                        frost_store_t **out, frost_snapshot_error_t *err);
FROST_NODISCARD int frost_snapshot_load_with_progress(const char *path, frost_lifetime_t lifetime,
                                                      const frost_snapshot_progress_t *progress,
                                                      frost_store_t **out, frost_snapshot_error_t *err);

/* Fingerprint this process's hash seed (needed by save, which may run
 * without the GIL). Call with the GIL, once or more (module exec does).
 * 0 ok, -1 out of memory (no exception left set). */
int frost_snapshot_init(void);

/* XXH64 of `len` bytes with `seed` (store/xxh64.c: the reference algorithm; the
 * checksum of both file formats and format 2's table hash of str/bytes). */
uint64_t frost_snapshot_xxh64(const void *data, size_t len, uint64_t seed);

/* The same XXH64 into *out, calling check(ctx) between `slice`-byte slices
 * (a nonzero multiple of 32) of the input: 0, or -1 as soon as check returns
 * nonzero (*out then unset). */
int frost_snapshot_xxh64_checked(const void *data, size_t len, uint64_t seed, size_t slice,
                                 int (*check)(void *ctx), void *ctx, uint64_t *out);

/* XXH3-64, seed 0, default secret (store/xxh3.c: the reference algorithm):
 * format 2's body checksum under FROST_MAP_FLAG_BODY_XXH3. One-shot, or
 * streaming: init, update any number of times (any split gives the one-shot
 * value of the concatenation), digest (the state is left as it was). A
 * caller-allocated state, nothing to free. */
typedef struct {
    uint64_t acc[8];
    uint64_t total;          /* bytes given so far */
    size_t buflen;           /* bytes in buf not yet consumed */
    unsigned stripe;         /* stripes consumed in the current 1 KiB block */
    unsigned char buf[256];
    unsigned char prev[64];  /* the 64 bytes before buf, once anything was consumed */
} frost_xxh3_t;
void frost_xxh3_init(frost_xxh3_t *state);
void frost_xxh3_update(frost_xxh3_t *state, const void *data, size_t len);
uint64_t frost_xxh3_digest(const frost_xxh3_t *state);
uint64_t frost_xxh3(const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* FROST_SNAPSHOT_H */
