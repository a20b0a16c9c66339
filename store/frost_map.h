/*
 * frost_map.h -- format version 2: a frozen graph laid out to be read IN PLACE
 * from a read-only mapping, by any process, at any address, under any hash
 * seed (issue 13). This header is the one definition of the layout; the
 * writer (store/map_write.c), the reader (store/map_read.c), the views
 * (views/view_mapped.c) and docs/format.md ("Format version 2") follow it.
 *
 * Why a second layout: an arena (format 1's image) holds real CPython objects,
 * whose ob_type points into one process's libpython and whose str/bytes hashes
 * depend on one process's hash seed, so another process must copy and relocate
 * it. A mapped image holds no pointer and no seed-dependent value: references
 * are file offsets, leaves are encoded bytes materialized into fresh objects
 * on access, and tables are keyed by a per-image hash key stored in the
 * header. In-process stores keep the arena (immortal objects handed out as
 * is, the fastest read path); a mapped image is made from an arena store
 * (frost_map_write walks the sealed arena graph, so freeze's checks, records,
 * buffers formats and depth limits are decided once, in freeze.c).
 *
 * Conventions: little-endian, 64-bit. Every "offset" is a byte offset from the
 * start of the image (the mapping's first byte = the header's first byte).
 * Nodes start at 8-aligned offsets. Nothing in an image is trusted by the
 * reader: every offset and length is checked against the image size before it
 * is followed, without overflow (frost_map_span), and every node's kind is
 * checked against what the referring context allows.
 */
#ifndef FROST_MAP_H
#define FROST_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- header (offset 0, 128 bytes) ---------------------------------------- */

#define FROST_MAP_MAGIC "FROSTMAP"          /* 8 bytes, no NUL */
#define FROST_MAP_VERSION 2u
#define FROST_MAP_HEADER_SIZE 128u

typedef struct {
    char magic[8];             /*   0: FROST_MAP_MAGIC */
    uint32_t format_version;   /*   8: 2 */
    uint32_t header_size;      /*  12: 128 */
    uint64_t image_size;       /*  16: the whole image in bytes (a file may not be longer or shorter) */
    uint64_t root;             /*  24: the root reference */
    uint64_t hash_key[2];      /*  32: the image's keyed-hash key (random per write) */
    uint64_t body_checksum;    /*  48: of bytes [128, image_size): XXH3-64 under
                                      FROST_MAP_FLAG_BODY_XXH3, else XXH64 (seed 0); checked by
                                      verify only; 0 under FROST_MAP_FLAG_NO_BODY_CHECKSUM */
    uint64_t header_checksum;  /*  56: XXH64 (seed 0) of the 128 header bytes with this field
                                      zeroed: checked on every open (O(1)) */
    uint8_t store_id[16];      /*  64: random; names the image in handles (the same bytes = the same image) */
    uint64_t nnodes;           /*  80: container nodes written (informational; verify compares) */
    uint64_t flags;            /*  88: FROST_MAP_FLAG_* (a reader refuses unknown bits) */
    uint8_t reserved[32];      /*  96: 0 */
} frost_map_header_t;
#ifdef __cplusplus
static_assert(sizeof(frost_map_header_t) == FROST_MAP_HEADER_SIZE, "the header is 128 bytes");
#else
_Static_assert(sizeof(frost_map_header_t) == FROST_MAP_HEADER_SIZE, "the header is 128 bytes");
#endif
#define FROST_MAP_HEADER_CHECKSUM_AT 56u   /* offsetof(frost_map_header_t, header_checksum) */

/* header flags */
#define FROST_MAP_FLAG_NO_BODY_CHECKSUM 1u  /* body_checksum is 0 and verify skips it: an image
                                               in sealed memory (frost.share), which nothing can
                                               change once written. Files are checksummed. */
#define FROST_MAP_FLAG_BODY_XXH3 2u         /* body_checksum is XXH3-64 (store/xxh3.c), not XXH64:
                                               what Store.save writes since 2026-11-30 (a
                                               faster checksum: issue 17); files without it
                                               (older ones) keep XXH64. Never with flag 1. */
#define FROST_MAP_FLAGS_KNOWN (FROST_MAP_FLAG_NO_BODY_CHECKSUM | FROST_MAP_FLAG_BODY_XXH3)

/* ---- references (8 bytes) ------------------------------------------------
 *
 * The low 4 bits (the tag) say what the other 60 bits are. Leaves that fit
 * are inline (no bytes elsewhere); the rest point at bytes or nodes.
 */
typedef uint64_t frost_mref_t;

enum {
    FROST_MREF_SPECIAL = 0x0,   /* payload (ref >> 4): FROST_MSPECIAL_* */
    FROST_MREF_INT = 0x1,       /* int: value = (int64_t)ref >> 4 (arithmetic), i.e. a signed 60-bit int */
    FROST_MREF_FLOAT_INLINE = 0x2, /* float whose 4 low mantissa bits are 0: bits = ref & ~0xF */
    FROST_MREF_STR_INLINE = 0x3,   /* str of 0..7 UTF-8 bytes: length = (ref >> 4) & 0xF (<= 7),
                                      bytes = ref >> 8 (byte 0 = bits 8..15), unused bytes 0 */
    FROST_MREF_BYTES_INLINE = 0x4, /* bytes of 0..7 bytes, same layout as STR_INLINE */
    FROST_MREF_STR = 0x5,       /* str out of line: UTF-8 bytes at an offset, see FROST_MREF_LEN/OFFSET */
    FROST_MREF_BYTES = 0x6,     /* bytes out of line, same */
    FROST_MREF_FLOAT = 0x7,     /* float: 8 bytes (a double) at offset (ref >> 4) * 8 */
    FROST_MREF_COMPLEX = 0x8,   /* complex: 16 bytes (real, imag) at offset (ref >> 4) * 8 */
    FROST_MREF_BIGINT = 0x9,    /* int beyond 60 bits: at offset (ref >> 4) * 8, a u64 n then n bytes
                                   of two's complement, little-endian, minimal (1 <= n <= 2^24) */
    FROST_MREF_NODE = 0xA,      /* a container node at offset (ref >> 4) * 8 */
};

/* FROST_MREF_SPECIAL payloads */
enum {
    FROST_MSPECIAL_NONE = 0,
    FROST_MSPECIAL_FALSE = 1,
    FROST_MSPECIAL_TRUE = 2,
    FROST_MSPECIAL_ELLIPSIS = 3,
    FROST_MSPECIAL_EMPTY_TUPLE = 4,
};
#define FROST_MREF_MAKE_SPECIAL(s) (((uint64_t)(s) << 4) | FROST_MREF_SPECIAL)

/*
 * STR / BYTES out of line: bits 4..19 hold the length in bytes when it is
 * < 0xFFFF, and the bytes are at byte offset ref >> 20 (any alignment).
 * Length field 0xFFFF: the offset is 8-aligned and holds a u64 length, the
 * bytes follow it. str bytes are UTF-8 written with "surrogatepass" (a frozen
 * str may hold lone surrogates) and read back the same way; a reader that
 * meets bytes that do not decode raises SnapshotError.
 */
#define FROST_MREF_LONG_LEN 0xFFFFu
static inline uint64_t frost_mref_len_field(frost_mref_t r) { return (r >> 4) & 0xFFFFu; }
static inline uint64_t frost_mref_byte_offset(frost_mref_t r) { return r >> 20; }
#define FROST_MREF_MAX_BYTE_OFFSET ((UINT64_C(1) << 44) - 1)   /* 16 TiB */

static inline unsigned frost_mref_tag(frost_mref_t r) { return (unsigned)(r & 0xFu); }
static inline uint64_t frost_mref_offset8(frost_mref_t r) { return (r >> 4) * 8u; }  /* FLOAT, COMPLEX, BIGINT, NODE */
static inline frost_mref_t frost_mref_at8(uint64_t offset, unsigned tag) { return ((offset / 8u) << 4) | tag; }

/* ---- nodes ----------------------------------------------------------------
 *
 * Every node starts with one u64 head: kind in bits 0..7, flags in 8..15,
 * len in 16..63 (items, entries or dimensions: < 2^48).
 */
typedef enum {
    FROST_MNODE_TUPLE = 1,   /* a tuple; len refs follow the head. Materialized as a real tuple
                                (its container items as views); nests <= FROST_MAX_TUPLE_DEPTH */
    FROST_MNODE_LIST = 2,    /* a list view; flags FROST_MLIST_*; len items follow the head */
    FROST_MNODE_DICT = 3,    /* a mapping view; a table (below) */
    FROST_MNODE_SET = 4,     /* a set view; a table without values; flags FROST_MSET_WAS_FROZENSET */
    FROST_MNODE_RECORD = 5,  /* a record view; flags = frost_record_kind_t; len = 0; then refs
                                module (str), qualname (str), state (dataclass/namedtuple: a DICT
                                node of fields; shared: anything) */
    FROST_MNODE_ARRAY = 6,   /* a typed buffer; flags = frost_array_origin_t; len = ndim (0..64) */
    FROST_MNODE_COLUMNS = 7, /* a frost.Table (Arrow columns); flags 0, len 0; see below */
} frost_mnode_kind_t;
#define FROST_MNODE_KIND_MAX 7

static inline unsigned frost_mnode_kind(uint64_t head) { return (unsigned)(head & 0xFFu); }
static inline unsigned frost_mnode_flags(uint64_t head) { return (unsigned)((head >> 8) & 0xFFu); }
static inline uint64_t frost_mnode_len(uint64_t head) { return head >> 16; }
static inline uint64_t frost_mnode_head(unsigned kind, unsigned flags, uint64_t len)
{
    return (uint64_t)kind | ((uint64_t)flags << 8) | (len << 16);
}

/* LIST items: */
#define FROST_MLIST_REFS 0u      /* len frost_mref_t */
#define FROST_MLIST_INT64 1u     /* len int64_t (every item was an exact int) */
#define FROST_MLIST_FLOAT64 2u   /* len double (every item was an exact float) */

#define FROST_MSET_WAS_FROZENSET 1u

/*
 * DICT and SET: an ordered, open-addressed table. After the head:
 *   u64 log2_nslots                 (3 .. 32; nslots = 1 << log2_nslots, len <= nslots * 2 / 3)
 *   u32 hash_lo[len]                (low 32 bits of each entry's keyed hash), padded to 8 bytes
 *   entries[len]                    DICT: {key ref, value ref} (16 bytes); SET: key ref (8 bytes)
 *   u32 index[nslots]               entry number, or FROST_MAP_EMPTY_SLOT
 * in insertion order. Lookup: h = frost_map_key_hash(key); slot = h & (nslots-1);
 * linear probing (slot = (slot + 1) & mask) until an empty slot; an entry
 * matches when hash_lo equals (uint32_t)h and its key equals the query.
 * Keys are leaves (never NODE refs, except a TUPLE node of leaves), unique.
 */
#define FROST_MAP_EMPTY_SLOT UINT32_MAX
#define FROST_MAP_TABLE_MIN_LOG2 3u
#define FROST_MAP_TABLE_MAX_LOG2 32u

static inline uint64_t frost_map_pad8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }

/* byte offsets of a table's parts from the node's start (valid len, log2 only) */
static inline uint64_t frost_map_table_hashes(void) { return 16u; }
static inline uint64_t frost_map_table_entries(uint64_t len) { return 16u + frost_map_pad8(len * 4u); }
static inline uint64_t frost_map_table_index(uint64_t len, int is_dict)
{
    return frost_map_table_entries(len) + len * (is_dict ? 16u : 8u);
}
static inline uint64_t frost_map_table_size(uint64_t len, unsigned log2_nslots, int is_dict)
{
    return frost_map_pad8(frost_map_table_index(len, is_dict) + ((uint64_t)4u << log2_nslots));
}

/*
 * ARRAY: after the head (len = ndim):
 *   u64 itemsize, u64 nbytes, u64 format_offset (NUL-terminated ASCII, format_len bytes before
 *   the NUL), u64 format_len, u64 data_offset (64-aligned; nbytes bytes), u64 shape[ndim].
 * Strides are C-contiguous (derived). format passes frost__array_format_check.
 */
#define FROST_MAP_ARRAY_FIXED 48u   /* head + 5 u64 */
#define FROST_MAP_ARRAY_DATA_ALIGN 64u

/*
 * COLUMNS (a frost.Table): after the head (flags 0, len 0):
 *   u64 blob_offset (64-aligned), u64 blob_size.
 * The blob is store/frost_columns.h's column blob copied byte for byte: it is
 * position-independent already (offsets from the blob's start, buffers
 * 64-aligned in it). Readers check it with frost__colblob_check before any
 * of it is used (frost_map_columns_check, once per blob per mapping).
 */
#define FROST_MAP_COLUMNS_SIZE 24u
#define FROST_MAP_COLUMNS_ALIGN 64u

/*
 * The keyed hash tables use (frost_map_key_hash, store/map_hash.c; the writer
 * and every reader call this one function):
 *   None: 0x6E6F6E65; Ellipsis: 0x656C6C69;
 *   bool/int/float (incl. subclasses, by value): CPython's numeric hash of the
 *     value (process-independent), so 1 == 1.0 == True agree;
 *   complex (incl. subclasses, by value): CPython's hash;
 *   a NaN float, or a complex with a NaN part, in the key of entry i (the
 *     key itself or in a tuple): 0x6E616E ^ ((i + 1) << 24), so a table's
 *     distinct NaN keys spread (a NaN equals only itself: no query finds one,
 *     a reader's NaN being another object; frost_map_key_hash says NOT_KEY);
 *   str (incl. subclasses): XXH64(UTF-8 surrogatepass bytes, seed hash_key[0]);
 *   bytes (incl. subclasses): XXH64(bytes, seed hash_key[1]);
 *   tuple (incl. subclasses): XXH64 of the u64 array (little-endian) of its
 *     items' keyed hashes (each already finalized), seed hash_key[0] ^ 0x7475706C65
 *     (iterative, depth <= FROST_MAX_TUPLE_DEPTH);
 * then finalized: h = mix(h ^ hash_key[1]) with the splitmix64 finalizer
 * (frost_map_mix), so numeric keys spread over the table too.
 */
#define FROST_MAP_HASH_NONE UINT64_C(0x6E6F6E65)
#define FROST_MAP_HASH_ELLIPSIS UINT64_C(0x656C6C69)
#define FROST_MAP_HASH_NAN UINT64_C(0x6E616E)
#define FROST_MAP_HASH_NAN_ENTRY_SHIFT 24
#define FROST_MAP_HASH_TUPLE_SEED UINT64_C(0x7475706C65)

static inline uint64_t
frost_map_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

#ifdef __cplusplus
extern "C" {
#endif

struct _object;   /* PyObject: this header does not need Python.h */

/* frost_map_key_hash's results besides 0 (ok, *out set) and -1 (error, exception set) */
#define FROST_MAP_HASH_NOT_KEY 1   /* a query equal to no image key: a NaN (or a tuple holding
                                      one, and only leaves the image has), which equals only
                                      itself, or a tuple nested deeper than
                                      FROST_MAX_TUPLE_DEPTH (not hashed: CPython's hash of it
                                      can overflow the C stack); no exception; a lookup says
                                      absent. For an entry's key: not a kind a table holds */
#define FROST_MAP_HASH_FOREIGN 3   /* (queries only) a key Python must hash and compare, as a
                                      dict would: of a type no image key has (a Fraction, a
                                      user object, a list), a subclass of str/bytes/int/float/
                                      complex/tuple with its own __hash__ or __eq__, or a tuple
                                      holding one of those; no exception */

/*
 * The keyed hash of a query `key` (or a materialized/arena key) under
 * `hash_key` (the image header's): 0 with *out set; FROST_MAP_HASH_NOT_KEY;
 * FROST_MAP_HASH_FOREIGN; -1 with an exception set (MemoryError only). Needs
 * the GIL (or, for the writer, objects no other thread can change: arena
 * objects). Never runs Python code (no __hash__, no __eq__; subclasses that
 * keep their base's __hash__ and __eq__ are hashed by value).
 */
int frost_map_key_hash(const uint64_t hash_key[2], struct _object *key, uint64_t *out);

/* The hash table entry `entry` stores for its key `key`: frost_map_key_hash's,
 * except that a NaN in it gets the entry's NaN hash (above) where a query's
 * gives NOT_KEY, and a subclass is hashed by value whatever its __hash__
 * (the image holds its base's value): never FOREIGN. The writer's and verify's. */
int frost_map_entry_key_hash(const uint64_t hash_key[2], struct _object *key, uint64_t entry,
                             uint64_t *out);

/* frost_map_entry_key_hash's result for the keys whose hash is a pure function of
 * their value that needs no memory (every leaf kind but a non-ASCII str):
 * callable without the GIL on objects no thread changes (the writer's hasher
 * thread, on a sealed arena). 0 with *out set (the same value), or
 * FROST_MAP_HASH_NEEDS_GIL for anything else (tuples, non-ASCII strs, what
 * is no key: frost_map_key_hash, with the GIL, says which). */
#define FROST_MAP_HASH_NEEDS_GIL 2
int frost_map_entry_key_hash_nogil(const uint64_t hash_key[2], struct _object *key, uint64_t entry,
                                   uint64_t *out);

/* XXH64 (seed 0) of the 128 header bytes at `header` with header_checksum
 * (bytes 56..63) taken as zero. */
uint64_t frost_map_header_checksum(const void *header);

/*
 * The UTF-8 ("surrogatepass") bytes of a str object (any subclass): ASCII
 * and strs with a cached UTF-8 form are returned in place; others are
 * encoded into `scratch` (FROST_MAP_UTF8_SCRATCH bytes) or, when longer,
 * into a PyMem buffer stored in *heap (free it with PyMem_Free; NULL when
 * none). 0 ok; -1 MemoryError set.
 */
#define FROST_MAP_UTF8_SCRATCH 256
int frost_map_str_utf8(struct _object *str, char *scratch, char **heap, const char **data,
                       size_t *len);

/*
 * The writer (store/map_write.c): walk a sealed arena graph and write its
 * format-2 image at offset 0 of `fd` (pwrite; the fd's position is left
 * alone; a longer regular file is truncated to the image). Requires the GIL.
 * `root` is a frost_ref_t (frost_nodes.h). A list view slice or a sub-array
 * is written as a list/array of just what it shows (has_slice / sub_data).
 * Returns 0 with *size_out set, or -1 with an exception set: FreezeError
 * (env->freeze_error) naming a node format 2 cannot hold and its path,
 * OSError, MemoryError, KeyboardInterrupt (signals are checked every
 * FROST_MAP_WRITE_PROGRESS_EVERY items), or the progress callback's.
 */
#define FROST_MAP_WRITE_PROGRESS_EVERY 65536
typedef struct {
    uintptr_t ref;                 /* the root: a frost_ref_t */
    int has_slice;                 /* ref is a list node: only items start + i*step, i < len */
    int64_t start, step, len;
    const char *sub_data;          /* non-NULL: ref is an array node; write the sub-array at */
    int sub_ndim;                  /* sub_data with the node's last sub_ndim dimensions */
    /* progress(ctx, done, 0) every FROST_MAP_WRITE_PROGRESS_EVERY items written, then
     * progress(ctx, total, 1) once at the end; -1 (exception set) stops the write. */
    int (*progress)(void *ctx, uint64_t done, int finished);
    void *progress_ctx;
    struct _object *freeze_error;  /* the exception type for what format 2 cannot hold */
    uint64_t memo_hint;            /* container nodes in the arena (sizes the memo); 0 ok */
    uint64_t size_hint;            /* bytes in use in the arena (sizes the file window); 0 ok */
    int no_body_checksum;          /* write FROST_MAP_FLAG_NO_BODY_CHECKSUM, not the checksum */
} frost_map_write_args_t;

int frost_map_write(const frost_map_write_args_t *args, int fd, uint64_t *size_out);

#ifdef __cplusplus
}
#endif

#endif /* FROST_MAP_H */
