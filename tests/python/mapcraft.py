"""Hand-made format-2 images (store/frost_map.h), for hostile-file tests and fuzz seeds.

The real writer is Store.save(format=2) / frost._frost._map_write; this module writes
images byte by byte so a test can make exactly the file an enemy would: a node whose
length runs past the end, a reference into a header, a tuple DAG that explodes when
materialized, a table whose probe never ends, ... Each builder call appends one part
and returns its reference; `finish(root)` writes the header and both checksums.

Also `reseal(buf)`: recompute both checksums of an image in a bytearray (after a test
changed some bytes, so the reader meets the damage instead of the checksum), and
`xxh64` (pure Python, any seed: the reference XXH64, as store/xxh64.c).
"""
import math
import struct

MAGIC = b"FROSTMAP"
HEADER = 128
M64 = (1 << 64) - 1

# references (frost_map.h)
SPECIAL, INT, FLOAT_INLINE, STR_INLINE, BYTES_INLINE, STR, BYTES, FLOAT, COMPLEX, BIGINT, NODE = range(11)
NONE, FALSE, TRUE, ELLIPSIS, EMPTY_TUPLE = range(5)
LONG_LEN = 0xFFFF
# nodes
K_TUPLE, K_LIST, K_DICT, K_SET, K_RECORD, K_ARRAY, K_COLUMNS = range(1, 8)
LIST_REFS, LIST_INT64, LIST_FLOAT64 = range(3)
EMPTY_SLOT = 0xFFFFFFFF
# header field offsets
H_IMAGE_SIZE, H_ROOT, H_HASH_KEY, H_BODY_SUM, H_HEADER_SUM, H_STORE_ID, H_NNODES, H_FLAGS = (
    16, 24, 32, 48, 56, 64, 80, 88)
# header flags
FLAG_NO_BODY_CHECKSUM = 1   # body_checksum 0, not checked (frost.share images)
FLAG_BODY_XXH3 = 2          # body_checksum is XXH3-64 (Store.save's files since issue 17)

_P1, _P2, _P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
_P4, _P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, lane):
    return (_rotl((acc + lane * _P2) & M64, 31) * _P1) & M64


def xxh64(data, seed=0):
    data = bytes(data)
    n, p = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & M64, (seed + _P2) & M64, seed & M64, (seed - _P1) & M64]
        while p + 32 <= n:
            for i in range(4):
                v[i] = _round(v[i], int.from_bytes(data[p + 8 * i:p + 8 * i + 8], "little"))
            p += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for x in v:
            h = ((h ^ _round(0, x)) * _P1 + _P4) & M64
    else:
        h = (seed + _P5) & M64
    h = (h + n) & M64
    while p + 8 <= n:
        h ^= _round(0, int.from_bytes(data[p:p + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & M64
        p += 8
    if p + 4 <= n:
        h ^= (int.from_bytes(data[p:p + 4], "little") * _P1) & M64
        h = (_rotl(h, 23) * _P2 + _P3) & M64
        p += 4
    while p < n:
        h ^= (data[p] * _P5) & M64
        h = (_rotl(h, 11) * _P1) & M64
        p += 1
    h ^= h >> 33
    h = (h * _P2) & M64
    h ^= h >> 29
    h = (h * _P3) & M64
    return h ^ (h >> 32)


def _mix(z):   # the splitmix64 finalizer
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def key_hash(key, hash_key, entry=None):
    """frost_map.h's keyed hash of a key (as table entry `entry` stores it: a
    NaN in the key hashes by the entry), as this module reads the spec."""
    def raw(k):
        if k is None:
            return 0x6E6F6E65
        if k is Ellipsis:
            return 0x656C6C69
        if (isinstance(k, float) and math.isnan(k)) or (
                isinstance(k, complex) and (math.isnan(k.real) or math.isnan(k.imag))):
            if entry is None:
                raise ValueError("a NaN is no query key: pass the entry that holds it")
            return 0x6E616E ^ ((entry + 1) << 24)
        if isinstance(k, (bool, int, float, complex)):
            return hash(k) & M64
        if isinstance(k, str):
            return xxh64(k.encode("utf-8", "surrogatepass"), hash_key[0])
        if isinstance(k, bytes):
            return xxh64(k, hash_key[1])
        if isinstance(k, tuple):
            items = [key_hash(x, hash_key, entry) for x in k]
            return xxh64(struct.pack(f"<{len(items)}Q", *items), hash_key[0] ^ 0x7475706C65)
        raise TypeError(type(k))
    return _mix(raw(key) ^ hash_key[1])


def _checksum(data):
    """XXH64, seed 0: frost's C one when built (fast for big images), else xxh64."""
    try:
        from frost._frost import _snapshot_xxh64
    except ImportError:
        return xxh64(data)
    return _snapshot_xxh64(data)


def reseal(buf):
    """Recompute the body and header checksums of the image in `buf` (a bytearray or a
    writable memoryview) over its actual length, the body's by the algorithm its flags
    name (FLAG_BODY_XXH3: XXH3, what the writer writes; else XXH64; an image flagged
    FLAG_NO_BODY_CHECKSUM keeps body checksum 0); does nothing to a buffer shorter than
    a header."""
    if len(buf) < HEADER:
        return
    flags = u64(buf, H_FLAGS)
    if not flags & FLAG_NO_BODY_CHECKSUM:
        body = bytes(buf[HEADER:])
        if flags & FLAG_BODY_XXH3:
            from frost._frost import _xxh3
            body_sum = _xxh3(body)
        else:
            body_sum = _checksum(body)
        buf[H_BODY_SUM:H_BODY_SUM + 8] = body_sum.to_bytes(8, "little")
    head = bytearray(buf[:HEADER])
    head[H_HEADER_SUM:H_HEADER_SUM + 8] = bytes(8)
    buf[H_HEADER_SUM:H_HEADER_SUM + 8] = _checksum(head).to_bytes(8, "little")


def u64(buf, off):
    return int.from_bytes(buf[off:off + 8], "little")


def put64(buf, off, value):
    buf[off:off + 8] = (value & M64).to_bytes(8, "little")


def head(kind, flags, length):
    return kind | (flags << 8) | (length << 16)


class Image:
    """An image under construction: header space, then parts appended in order."""

    def __init__(self, hash_key=(0x0123456789ABCDEF, 0xFEDCBA9876543210)):
        self.buf = bytearray(HEADER)
        self.hash_key = hash_key
        self.nnodes = 0

    # -- raw space ---------------------------------------------------------------
    def align(self, n=8):
        self.buf += bytes(-len(self.buf) % n)
        return len(self.buf)

    def raw(self, data, align=8):
        off = self.align(align)
        self.buf += data
        return off

    def words(self, *values):
        return self.raw(b"".join((v & M64).to_bytes(8, "little") for v in values))

    # -- leaves --------------------------------------------------------------------
    @staticmethod
    def special(s):
        return (s << 4) | SPECIAL

    @staticmethod
    def int(v):
        assert -(1 << 59) <= v < (1 << 59)
        return ((v << 4) | INT) & M64

    def str(self, s, tag=STR):
        data = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else bytes(s)
        if len(data) < LONG_LEN:
            off = self.raw(data, 1)
            return (off << 20) | (len(data) << 4) | tag
        off = self.words(len(data))
        self.buf += data
        return (off << 20) | (LONG_LEN << 4) | tag

    def bytes(self, b):
        return self.str(b, BYTES)

    @staticmethod
    def inline(data, tag=STR_INLINE):
        assert len(data) <= 7
        return (int.from_bytes(data, "little") << 8) | (len(data) << 4) | tag

    def float(self, x):
        return ((self.raw(struct.pack("<d", x)) // 8) << 4) | FLOAT

    def bigint(self, v, nbytes=None):
        n = nbytes or (v.bit_length() + 8) // 8
        off = self.words(n)
        self.buf += v.to_bytes(n, "little", signed=True)
        return ((off // 8) << 4) | BIGINT

    @staticmethod
    def node_ref(off):
        return ((off // 8) << 4) | NODE

    # -- nodes ---------------------------------------------------------------------
    def tuple(self, refs):
        self.nnodes += 1
        return self.node_ref(self.words(head(K_TUPLE, 0, len(refs)), *refs))

    def list(self, refs, flags=LIST_REFS):
        self.nnodes += 1
        if flags == LIST_INT64:
            off = self.words(head(K_LIST, flags, len(refs)))
            self.buf += struct.pack(f"<{len(refs)}q", *refs)
            return self.node_ref(off)
        if flags == LIST_FLOAT64:
            off = self.words(head(K_LIST, flags, len(refs)))
            self.buf += struct.pack(f"<{len(refs)}d", *refs)
            return self.node_ref(off)
        return self.node_ref(self.words(head(K_LIST, flags, len(refs)), *refs))

    def table(self, items, is_dict, log2=None, flags=0, hashes=None, index=None):
        """items: [(key object, key ref, value ref or None)]. hashes/index: override the
        computed ones (for hostile tables)."""
        self.nnodes += 1
        n = len(items)
        if log2 is None:
            log2 = 3
            while n > (1 << log2) * 2 // 3:
                log2 += 1
        full = [key_hash(k, self.hash_key, i) for i, (k, _, _) in enumerate(items)]
        if index is None:
            mask = (1 << log2) - 1
            index = [EMPTY_SLOT] * (1 << log2)
            for i, h in enumerate(full):
                slot = h & mask
                while index[slot] != EMPTY_SLOT:
                    slot = (slot + 1) & mask
                index[slot] = i
        if hashes is None:
            hashes = [h & 0xFFFFFFFF for h in full]
        off = self.words(head(K_DICT if is_dict else K_SET, flags, n), log2)
        self.buf += struct.pack(f"<{n}I", *hashes)
        self.align()
        for _, kref, vref in items:
            self.buf += kref.to_bytes(8, "little")
            if is_dict:
                self.buf += vref.to_bytes(8, "little")
        self.buf += struct.pack(f"<{len(index)}I", *index)
        self.align()
        return self.node_ref(off)

    def record(self, module_ref, qualname_ref, state_ref, kind=0):
        """kind: frost_record_kind_t (0 dataclass, 1 namedtuple, 2 __shared__)."""
        self.nnodes += 1
        return self.node_ref(self.words(head(K_RECORD, kind, 0), module_ref, qualname_ref, state_ref))

    def array(self, fmt, itemsize, data, shape, origin=2):
        """origin: frost_array_origin_t (2 = array.array)."""
        self.nnodes += 1
        fmt_off = self.raw(fmt.encode("ascii") + b"\0", 1)
        data_off = self.raw(bytes(data), 64)
        return self.node_ref(self.words(head(K_ARRAY, origin, len(shape)), itemsize, len(data),
                                        fmt_off, len(fmt), data_off, *shape))

    def columns(self, blob, *, size=None, align=64, flags=0, length=0):
        """A frost.Table node: `blob` (a column blob, store/frost_columns.h) copied at an
        `align`-aligned offset; size/flags/length override the node's fields."""
        self.nnodes += 1
        off = self.align(64)
        if align % 64:
            self.buf += bytes(align)
        blob_off = self.raw(bytes(blob), 1)
        return self.node_ref(self.words(head(K_COLUMNS, flags, length), blob_off,
                                        len(blob) if size is None else size))

    def dict(self, items, **kw):
        return self.table(items, True, **kw)

    def set(self, items, **kw):
        return self.table([(k, r, None) for k, r in items], False, **kw)

    def finish(self, root, *, nnodes=None, image_size=None, flags=0, version=2,
               store_id=b"mapcraft-image-0", seal=True):
        self.align()
        h = self.buf
        h[0:8] = MAGIC
        h[8:12] = version.to_bytes(4, "little")
        h[12:16] = HEADER.to_bytes(4, "little")
        put64(h, H_IMAGE_SIZE, len(h) if image_size is None else image_size)
        put64(h, H_ROOT, root)
        put64(h, H_HASH_KEY, self.hash_key[0])
        put64(h, H_HASH_KEY + 8, self.hash_key[1])
        h[H_STORE_ID:H_STORE_ID + 16] = store_id
        put64(h, H_NNODES, self.nnodes if nnodes is None else nnodes)
        put64(h, H_FLAGS, flags)
        if seal:
            reseal(h)
        return bytes(h)
