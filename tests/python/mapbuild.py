"""Format-2 images built by hand (store/frost_map.h's layout), for reader tests that
need images the writer would never make: damaged, hostile, or just small and exact.

    b = Builder()
    img = b.image(b.ref({"a": (1, 2.5, "x")}))      # bytes of a complete image

`Builder.ref(value)` writes what `value` needs and returns its 8-byte reference;
`Rec(...)` and `Arr(...)` stand for record and array nodes. Shared containers are
written once (by id), so cycles through lists/dicts work. `image()` seals the
header and body checksums; `reseal(data)` does it again after a test damages bytes.
"""
import os
import struct

from frost import _frost

MAGIC = b"FROSTMAP"
HEADER = 128
TUPLE, LIST, DICT, SET, RECORD, ARRAY = 1, 2, 3, 4, 5, 6
SPECIAL, INT, FLOAT_INLINE, STR_INLINE, BYTES_INLINE, STR, BYTES, FLOAT, COMPLEX, BIGINT, NODE = range(11)
M64 = (1 << 64) - 1
EMPTY = 0xFFFFFFFF


def special(n):
    return n << 4


NONE, FALSE, TRUE, ELLIPSIS, EMPTY_TUPLE = (special(i) for i in range(5))


def node_ref(offset):
    return ((offset // 8) << 4) | NODE


class Rec:
    def __init__(self, module, qualname, fields, kind=0):
        self.module, self.qualname, self.fields, self.kind = module, qualname, fields, kind


class Arr:
    def __init__(self, fmt, itemsize, shape, data, origin=0):
        self.fmt, self.itemsize, self.shape, self.data, self.origin = fmt, itemsize, shape, data, origin


class Builder:
    def __init__(self, hash_key=(0x1234567890ABCDEF, 0x0FEDCBA987654321)):
        self.buf = bytearray(HEADER)
        self.hash_key = hash_key
        self.nnodes = 0
        self.memo = {}

    # -- raw space ---------------------------------------------------------------
    def align(self, a):
        while len(self.buf) % a:
            self.buf.append(0)

    def put(self, data, align=1):
        self.align(align)
        off = len(self.buf)
        self.buf += data
        return off

    def put_u64s(self, values):
        return self.put(struct.pack(f"<{len(values)}Q", *[v & M64 for v in values]), 8)

    def reserve(self, nbytes):
        self.align(8)
        off = len(self.buf)
        self.buf += bytes(nbytes)
        self.align(8)
        return off

    def set_u64(self, off, value):
        struct.pack_into("<Q", self.buf, off, value & M64)

    def head(self, kind, flags, length):
        return kind | (flags << 8) | (length << 16)

    # -- leaves --------------------------------------------------------------------
    def bytes_ref(self, b, inline_tag, tag):
        if len(b) <= 7:
            return (int.from_bytes(b, "little") << 8) | (len(b) << 4) | inline_tag
        if len(b) < 0xFFFF:
            off = self.put(b)
            return (off << 20) | (len(b) << 4) | tag
        off = self.put(struct.pack("<Q", len(b)) + b, 8)
        return (off << 20) | (0xFFFF << 4) | tag

    def ref(self, v):
        if v is None:
            return NONE
        if v is True:
            return TRUE
        if v is False:
            return FALSE
        if v is Ellipsis:
            return ELLIPSIS
        if isinstance(v, int):
            if -(1 << 59) <= v < (1 << 59):
                return ((v << 4) | INT) & M64
            n = (v.bit_length() + 8) // 8
            while n > 1 and -(1 << (8 * n - 9)) <= v < (1 << (8 * n - 9)):
                n -= 1
            off = self.put(struct.pack("<Q", n) + v.to_bytes(n, "little", signed=True), 8)
            self.align(8)
            return ((off // 8) << 4) | BIGINT
        if isinstance(v, float):
            bits = struct.unpack("<Q", struct.pack("<d", v))[0]
            if bits & 0xF == 0:
                return bits | FLOAT_INLINE
            off = self.put(struct.pack("<d", v), 8)
            return ((off // 8) << 4) | FLOAT
        if isinstance(v, complex):
            off = self.put(struct.pack("<dd", v.real, v.imag), 8)
            return ((off // 8) << 4) | COMPLEX
        if isinstance(v, str):
            return self.bytes_ref(v.encode("utf-8", "surrogatepass"), STR_INLINE, STR)
        if isinstance(v, bytes):
            return self.bytes_ref(v, BYTES_INLINE, BYTES)
        if isinstance(v, tuple) and not v:
            return EMPTY_TUPLE
        if id(v) in self.memo:
            return self.memo[id(v)][0]
        if isinstance(v, tuple):
            items = [self.ref(x) for x in v]
            return self.node(TUPLE, 0, items)
        if isinstance(v, list):
            if v and all(type(x) is int and -(1 << 63) <= x < (1 << 63) for x in v):
                return self.node(LIST, 1, [x & M64 for x in v])
            if v and all(type(x) is float for x in v):
                return self.node(LIST, 2, [struct.unpack("<Q", struct.pack("<d", x))[0] for x in v])
            off = self.reserve(8 + 8 * len(v))
            r = node_ref(off)
            self.memo[id(v)] = (r, v)
            self.nnodes += 1
            self.set_u64(off, self.head(LIST, 0, len(v)))
            for i, x in enumerate(v):
                self.set_u64(off + 8 + 8 * i, self.ref(x))
            return r
        if isinstance(v, dict):
            return self.table(DICT, 0, list(v.items()), v)
        if isinstance(v, (set, frozenset)):
            return self.table(SET, 1 if isinstance(v, frozenset) else 0, [(k, None) for k in v], v)
        if isinstance(v, Rec):
            state = self.ref(v.fields)
            r = self.node(RECORD, v.kind, [self.ref(v.module), self.ref(v.qualname), state], length=0)
            return r
        if isinstance(v, Arr):
            return self.array(v)
        raise TypeError(type(v))

    def node(self, kind, flags, words, length=None):
        off = self.put_u64s([self.head(kind, flags, len(words) if length is None else length)] + words)
        self.nnodes += 1
        return node_ref(off)

    def key_hash(self, key, entry=None):
        h = _frost._map_key_hash(key, *self.hash_key, entry)
        assert h is not None, key
        return h

    def table(self, kind, flags, entries, obj=None, log2=None, index=None, hashes=None):
        n = len(entries)
        if log2 is None:
            log2 = 3
            while n > (1 << log2) * 2 // 3:
                log2 += 1
        nslots = 1 << log2
        keys = [self.ref(k) for k, _ in entries]
        values = [self.ref(v) for _, v in entries] if kind == DICT else []
        if hashes is None:
            hashes = [self.key_hash(k, i) for i, (k, _) in enumerate(entries)]
        if index is None:
            index = [EMPTY] * nslots
            for i, h in enumerate(hashes):
                s = h & (nslots - 1)
                while index[s] != EMPTY:
                    s = (s + 1) & (nslots - 1)
                index[s] = i
        self.align(8)
        off = len(self.buf)
        body = struct.pack("<QQ", self.head(kind, flags, n), log2)
        body += struct.pack(f"<{n}I", *[h & 0xFFFFFFFF for h in hashes])
        body += bytes(-len(body) % 8)
        for i in range(n):
            body += struct.pack("<Q", keys[i])
            if kind == DICT:
                body += struct.pack("<Q", values[i])
        body += struct.pack(f"<{nslots}I", *index)
        body += bytes(-len(body) % 8)
        self.buf += body
        self.nnodes += 1
        r = node_ref(off)
        if obj is not None:
            self.memo[id(obj)] = (r, obj)
        return r

    def array(self, a):
        fmt = self.put(a.fmt.encode() + b"\0")
        self.align(64)
        data = len(self.buf)
        self.buf += a.data
        words = [a.itemsize, len(a.data), fmt, len(a.fmt), data] + list(a.shape)
        return self.node(ARRAY, a.origin, words, length=len(a.shape))

    # -- the image ---------------------------------------------------------------
    def image(self, root, nnodes=None, flags=0, version=2):
        self.align(8)
        data = bytearray(self.buf)
        struct.pack_into("<8sIIQQQQ", data, 0, MAGIC, version, HEADER, len(data), root & M64,
                         *self.hash_key)
        data[64:80] = os.urandom(16)
        struct.pack_into("<QQ", data, 80, self.nnodes if nnodes is None else nnodes, flags)
        return reseal(data)


def reseal(data):
    """Recompute the body and header checksums of an image (bytes or bytearray); the
    body's by the algorithm its flags name (bit 2: XXH3, what the writer writes; else XXH64)."""
    data = bytearray(data)
    if len(data) >= HEADER:
        body = bytes(data[HEADER:])
        xxh3 = struct.unpack_from("<Q", data, 88)[0] & 2
        struct.pack_into("<Q", data, 48, _frost._xxh3(body) if xxh3 else _frost._snapshot_xxh64(body))
        struct.pack_into("<Q", data, 56, 0)
        struct.pack_into("<Q", data, 56, _frost._snapshot_xxh64(bytes(data[:HEADER])))
    return bytes(data)


def build(value, **kw):
    """A complete image of `value` (and the builder, to find offsets)."""
    b = Builder()
    root = b.ref(value)
    return b.image(root, **kw), b
