"""The format-2 writer (store/map_write.c): _frost._map_write and Store.save(format=).

Images are decoded here by an independent reader of the layout in
store/frost_map.h / docs/format.md ("Format version 2"), so these tests check
the writer against the spec, not against the in-place reader; round trips
through frost.MapImage are in MapImageRoundTrip below. Also: the keyed hash
(_frost._map_key_hash: equal keys agree across kinds, process-independent),
XXH64 and XXH3 against reference values, bulk payloads (big arrays, tables,
bytes and strs, written from the arena by the last pass) in every write mode,
and hostile calls (closed stores, bad or
unwritable fds, tables, interrupts)."""
import array
import collections
import dataclasses
import enum
import math
import os
import re
import signal
import struct
import tempfile
import threading
import unittest

import frost
from frost import _frost
from frostcheck import LeakCheckedTestCase, run_child

try:
    import numpy as np
except ImportError:   # pragma: no cover - numpy is part of the test tooling
    np = None

HEADER = struct.Struct("<8sIIQQ2QQQ16sQQ32s")
assert HEADER.size == 128
Header = collections.namedtuple(
    "Header", "magic version header_size image_size root k0 k1 body_checksum header_checksum "
              "store_id nnodes flags reserved")

# reference tags and kinds (frost_map.h)
SPECIAL, INT, FLOAT_INLINE, STR_INLINE, BYTES_INLINE, STR, BYTES, FLOAT, COMPLEX, BIGINT, NODE = range(11)
N_TUPLE, N_LIST, N_DICT, N_SET, N_RECORD, N_ARRAY, N_COLUMNS = range(1, 8)
EMPTY_SLOT = 0xFFFFFFFF


@dataclasses.dataclass
class Point:
    x: int
    y: str


Pair = collections.namedtuple("Pair", "a b")


class Shared:
    def __init__(self, v):
        self.v = v

    def __shared__(self):
        return {"v": self.v}


class Color(enum.IntEnum):
    RED = 1


class StrSub(str):
    pass


class BytesSub(bytes):
    pass


class TupleSub(tuple):
    pass


class FloatSub(float):
    pass


def image_of(obj, **kw):
    """The bytes _map_write writes for `obj` (a Store or a view) into a memfd."""
    fd = os.memfd_create("t")
    try:
        n = _frost._map_write(obj, fd, **kw)
        data = os.pread(fd, n + 1, 0)
        assert len(data) == n == os.fstat(fd).st_size, (len(data), n)
        return data
    finally:
        os.close(fd)


def header(img):
    return Header(*HEADER.unpack_from(img, 0))


class Packed(list):
    """A decoded packed LIST node (flags 1: int64, 2: float64); == as a list."""
    flags = 0


class Record:
    """A decoded RECORD node."""

    def __init__(self, kind, module, qualname, state):
        self.kind, self.module, self.qualname, self.state = kind, module, qualname, state


class Columns:
    """A decoded COLUMNS node: the column blob, byte for byte, and where it lies."""

    def __init__(self, blob, blob_offset):
        self.blob, self.blob_offset = blob, blob_offset


class Array:
    def __init__(self, origin, fmt, itemsize, shape, data, data_offset):
        self.origin, self.format, self.itemsize, self.shape = origin, fmt, itemsize, shape
        self.data, self.data_offset = data, data_offset


class Decoder:
    """An independent reader of a format-2 image: every node decoded once
    (memoized by offset, so sharing and cycles come out as in the original)."""

    def __init__(self, img):
        self.img = img
        self.h = header(img)
        self.memo = {}
        self.nodes_seen = set()

    def u64(self, off):
        return struct.unpack_from("<Q", self.img, off)[0]

    def ref(self, r):
        tag = r & 0xF
        if tag == SPECIAL:
            return {0: None, 1: False, 2: True, 3: ..., 4: ()}[r >> 4]
        if tag == INT:
            v = r >> 4
            return v - (1 << 60) if v >= 1 << 59 else v
        if tag == FLOAT_INLINE:
            return struct.unpack("<d", struct.pack("<Q", r & ~0xF))[0]
        if tag in (STR_INLINE, BYTES_INLINE):
            n = (r >> 4) & 0xF
            assert n <= 7
            raw = (r >> 8).to_bytes(7, "little")
            assert raw[n:] == bytes(7 - n), "unused inline bytes are 0"
            return raw[:n].decode("utf-8", "surrogatepass") if tag == STR_INLINE else raw[:n]
        if tag in (STR, BYTES):
            n, off = (r >> 4) & 0xFFFF, r >> 20
            if n == 0xFFFF:
                assert off % 8 == 0
                n = self.u64(off)
                off += 8
            raw = bytes(self.img[off:off + n])
            assert off + n <= len(self.img)
            return raw.decode("utf-8", "surrogatepass") if tag == STR else raw
        off = (r >> 4) * 8
        if tag == FLOAT:
            return struct.unpack_from("<d", self.img, off)[0]
        if tag == COMPLEX:
            return complex(*struct.unpack_from("<dd", self.img, off))
        if tag == BIGINT:
            n = self.u64(off)
            raw = bytes(self.img[off + 8:off + 8 + n])
            v = int.from_bytes(raw, "little", signed=True)
            assert n == max(1, (v.bit_length() + 8) // 8) if v >= 0 else n == ((~v).bit_length() + 8) // 8, \
                "big ints are minimal"
            return v
        assert tag == NODE, hex(r)
        return self.node(off)

    def node(self, off):
        if off in self.memo:
            return self.memo[off]
        assert off % 8 == 0 and off >= 128
        self.nodes_seen.add(off)
        head = self.u64(off)
        kind, flags, n = head & 0xFF, (head >> 8) & 0xFF, head >> 16
        refs = lambda start, count: [self.u64(start + 8 * i) for i in range(count)]
        if kind == N_TUPLE:
            assert flags == 0 and n > 0
            out = tuple(self.ref(r) for r in refs(off + 8, n))
        elif kind == N_LIST:
            if flags == 0:
                out = self.memo[off] = []
                out.extend(self.ref(r) for r in refs(off + 8, n))
            else:
                assert flags in (1, 2)
                out = self.memo[off] = Packed(struct.unpack_from(("<%dq" if flags == 1 else "<%dd") % n,
                                                                 self.img, off + 8))
                out.flags = flags
        elif kind in (N_DICT, N_SET):
            out = self.table(off, kind, flags, n)
        elif kind == N_RECORD:
            assert n == 0
            out = self.memo[off] = Record(flags, None, None, None)
            out.module, out.qualname, out.state = (self.ref(r) for r in refs(off + 8, 3))
        elif kind == N_ARRAY:
            itemsize, nbytes, fmt_off, fmt_len, data_off = refs(off + 8, 5)
            shape = refs(off + 48, n)
            fmt = bytes(self.img[fmt_off:fmt_off + fmt_len + 1])
            assert fmt[-1:] == b"\0"
            assert data_off % 64 == 0
            assert nbytes == itemsize * math.prod(shape)
            out = Array(flags, fmt[:-1].decode("ascii"), itemsize, shape,
                        bytes(self.img[data_off:data_off + nbytes]), data_off)
        elif kind == N_COLUMNS:
            assert flags == 0 and n == 0
            blob_off, size = refs(off + 8, 2)
            assert blob_off % 64 == 0 and blob_off + size <= len(self.img)
            blob = bytes(self.img[blob_off:blob_off + size])
            assert blob[:4] == b"FCOL" and struct.unpack_from("<Q", blob, 8)[0] == size
            out = Columns(blob, blob_off)
        else:
            raise AssertionError(f"bad node kind {kind} at {off}")
        self.memo[off] = out
        return out

    def table(self, off, kind, flags, n):
        is_dict = kind == N_DICT
        log2 = self.u64(off + 8)
        assert 3 <= log2 <= 32 and n * 3 <= (2 << log2), "load <= 2/3"
        nslots = 1 << log2
        hashes_at = off + 16
        entries_at = off + 16 + (n * 4 + 7) // 8 * 8
        index_at = entries_at + n * (16 if is_dict else 8)
        hashes = struct.unpack_from("<%dI" % n, self.img, hashes_at)
        index = struct.unpack_from("<%dI" % nslots, self.img, index_at)
        out = self.memo[off] = {} if is_dict else []
        keys = []
        for i in range(n):
            key = self.ref(self.u64(entries_at + i * (16 if is_dict else 8)))
            keys.append(key)
            if is_dict:
                out[key] = None
        for i, key in enumerate(keys):   # probe as a reader does: every key is found
            h = _frost._map_key_hash(key, self.h.k0, self.h.k1, i)
            assert h is not None and (h & 0xFFFFFFFF) == hashes[i], (key, h, hashes[i])
            slot = h & (nslots - 1)
            while index[slot] != i:
                assert index[slot] != EMPTY_SLOT, f"key {key!r} not found by probing"
                slot = (slot + 1) & (nslots - 1)
        assert sorted(x for x in index if x != EMPTY_SLOT) == list(range(n)), "each entry once"
        if is_dict:
            for i, key in enumerate(keys):
                out[key] = self.ref(self.u64(entries_at + i * 16 + 8))
            return out
        return frozenset(keys) if flags & 1 else set(keys)

    def root(self):
        return self.ref(self.h.root)


def decode(img):
    d = Decoder(img)
    return d.root(), d


FLAG_NO_BODY_CHECKSUM = 1   # frost_map.h: body_checksum 0, not checked (frost.share)
FLAG_BODY_XXH3 = 2          # frost_map.h: body_checksum is XXH3-64 (what the writer writes)
BULK_MIN = 1 << 20          # map_write.c: payloads this big are pwritten by the last pass


def check_header(test, img, size=None, checksum=True):
    """The header's fields; the body checksum (XXH3 of the body, flagged), or, for an
    image written with checksum=False, the flag that says there is none and a zero field."""
    h = header(img)
    test.assertEqual(h.magic, b"FROSTMAP")
    test.assertEqual((h.version, h.header_size), (2, 128))
    test.assertEqual(h.flags, FLAG_BODY_XXH3 if checksum else FLAG_NO_BODY_CHECKSUM)
    test.assertEqual(h.reserved, bytes(32))
    test.assertEqual(h.image_size, len(img))
    test.assertEqual(h.image_size % 8, 0)
    if size is not None:
        test.assertEqual(size, len(img))
    test.assertEqual(h.body_checksum, _frost._xxh3(bytes(img[128:])) if checksum else 0)
    zeroed = bytearray(img[:128])
    zeroed[56:64] = bytes(8)
    test.assertEqual(h.header_checksum, _frost._snapshot_xxh64(bytes(zeroed)))
    return h


def socket_like():
    """An object freeze refuses (no plain type, no __shared__)."""
    return threading.Lock()


def freeze_image(obj):
    with frost.freeze(obj) as store:
        return image_of(store)


class XXH64(unittest.TestCase):
    def test_published_vectors(self):
        # XXH64 reference values (xxhsum / the xxhash package)
        self.assertEqual(_frost._snapshot_xxh64(b""), 0xEF46DB3751D8E999)
        self.assertEqual(_frost._snapshot_xxh64(b"a"), 0xD24EC4F1A98C6E5B)
        self.assertEqual(_frost._snapshot_xxh64(b"abc"), 0x44BC2CF5AD770999)
        self.assertEqual(_frost._snapshot_xxh64(b"Nobody inspects the spammish repetition"),
                         0xFBCEA83C8A378BF1)
        self.assertEqual(_frost._snapshot_xxh64(bytes(range(256)) * 3), 0x8E03C838C596036F)


class XXH3(unittest.TestCase):
    """store/xxh3.c, format 2's body checksum: the reference XXH3-64 (seed 0), one-shot
    and streaming, for every length class (0, 1-3, 4-8, 9-16, 17-128, 129-240, longer:
    stripes, 1 KiB blocks and the last stripe reaching back before the buffer)."""

    def test_reference_values(self):
        # xxhsum -H3 / the xxhash package's xxh3_64
        self.assertEqual(_frost._xxh3(b""), 0x2D06800538D394C2)
        self.assertEqual(_frost._xxh3(b"a"), 0xE6C632B61E964E1F)
        self.assertEqual(_frost._xxh3(b"abc"), 0x78AF5F94892F3950)
        self.assertEqual(_frost._xxh3(b"Nobody inspects the spammish repetition"), 0x6CB00603B5CC47E9)
        self.assertEqual(_frost._xxh3(bytes(range(256)) * 3), 0x4066A57F4496584A)

    PATTERN = bytes((i * 131 + (i >> 8) * 7) & 0xFF for i in range(4200))

    def test_every_length_to_4200(self):
        # the XXH64 of the reference xxh3_64 of PATTERN[:n] for n = 0..4200, packed
        values = [_frost._xxh3(self.PATTERN[:n]) for n in range(4201)]
        self.assertEqual(_frost._snapshot_xxh64(struct.pack(f"<{len(values)}Q", *values)), 0x5F8E460D822EA908)

    def test_any_split_gives_the_one_shot_value(self):
        for n in (0, 1, 16, 64, 240, 241, 255, 256, 257, 320, 1024, 1025, 2048, 4200):
            data = self.PATTERN[:n]
            whole = _frost._xxh3(data)
            for chunk in (1, 3, 63, 64, 65, 200, 256, 257, 1000, 4096):
                with self.subTest(n=n, chunk=chunk):
                    self.assertEqual(_frost._xxh3(data, chunk), whole)
        with self.assertRaises(ValueError):
            _frost._xxh3(b"x", -1)


class KeyedHash(unittest.TestCase):
    K = (0x0123456789ABCDEF, 0xFEDCBA9876543210)

    def h(self, key, k=None):
        return _frost._map_key_hash(key, *(k or self.K))

    def test_equal_keys_agree_across_kinds(self):
        groups = [
            (1, 1.0, True, 1 + 0j, Color.RED),
            (0, 0.0, -0.0, False, 0j),
            (-1, -1.0),
            (2 ** 70, float(2 ** 70)),
            (-(2 ** 80), float(-(2 ** 80))),
            (1.5, FloatSub(1.5), complex(1.5, 0)),
            ("abc", StrSub("abc")),
            ("h\u00e9llo \u20ac \U0001F600", StrSub("h\u00e9llo \u20ac \U0001F600")),
            (b"abc", BytesSub(b"abc")),
            ((1, "a"), (1.0, StrSub("a")), TupleSub((True, "a"))),
            (((1,), ()), ((1.0,), ())),
        ]
        for g in groups:
            with self.subTest(g=g):
                self.assertEqual(len({self.h(k) for k in g}), 1)

    def test_different_keys_and_kinds_differ(self):
        keys = [None, ..., 0, 1, -1, 12345, 0.5, float("inf"), float("-inf"), 1j, "", "a", "b",
                b"", b"a", (), ("a",), (b"a",), ((),), "\ud800", "\udfff", "x" * 1000]
        hashes = [self.h(k) for k in keys]
        self.assertEqual(len(set(hashes)), len(keys))
        self.assertNotEqual(self.h("a"), self.h(b"a"))

    def test_the_key_changes_str_bytes_and_tuple_hashes(self):
        other = (1, 2)
        for k in ("abc", b"abc", ("a", 1), 5, None):
            with self.subTest(k=k):
                self.assertNotEqual(self.h(k), self.h(k, other))

    def test_nan_is_fixed(self):
        nans = [float("nan"), -float("nan"), complex(float("nan"), 0), complex(0, float("nan"))]
        self.assertEqual(len({self.h(x) for x in nans}), 1)
        self.assertEqual(self.h((float("nan"),)), self.h((float("nan"),)))

    def test_lone_surrogates_and_long_strs(self):
        s = "a\ud800b" * 200   # no UTF-8 cache: encoded on the fly (heap buffer past 256 bytes)
        self.assertEqual(self.h(s), self.h(StrSub(s)))
        self.assertNotEqual(self.h(s), self.h(s[:-1]))

    def test_not_keys(self):
        deep = ()
        for _ in range(300):
            deep = (deep,)
        for k in ([], {}, set(), frozenset(), object(), (1, []), deep, bytearray(b"a")):
            with self.subTest(k=type(k)):
                self.assertIsNone(self.h(k))
        ok = ()
        for _ in range(255):
            ok = (ok,)
        self.assertIsNotNone(self.h(ok))

    def test_same_in_another_process_with_another_seed(self):
        keys = ["abc", b"xyz", (1, "a", (2.5, b"q")), 12345, 1.25, None, "\u20ac\ud800"]
        here = [self.h(k) for k in keys]
        code = ("from frost import _frost\n"
                f"print([_frost._map_key_hash(k, {self.K[0]}, {self.K[1]}) for k in {keys!r}])")
        for seed in ("0", "12345"):
            r = run_child(code, env=dict(os.environ, PYTHONHASHSEED=seed))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(eval(r.stdout), here)


class Leaves(LeakCheckedTestCase):
    def root(self, obj):
        img = freeze_image(obj)
        check_header(self, img)
        return header(img).root, Decoder(img)

    def test_inline_and_out_of_line_leaves(self):
        cases = [None, True, False, ..., 0, -1, 2 ** 59 - 1, -(2 ** 59), 0.5, -0.0, float("inf"), 0.1,
                 "", "abcdefg", "abcdefgh", b"1234567", b"12345678", 1 + 2j]
        for want in cases:
            with self.subTest(obj=want):
                r, d = self.root([want, "not packed"])
                got = d.root()[0]
                self.assertEqual(type(got), type(want))
                self.assertEqual(repr(got), repr(want))

    def test_tags(self):
        def item_ref(obj):
            img = freeze_image([obj, "pad"])   # a REFS list (not packed)
            head_off = (header(img).root >> 4) * 8
            return struct.unpack_from("<Q", img, head_off + 8)[0]
        self.assertEqual(item_ref(None), 0)
        self.assertEqual(item_ref(True), 0x20)
        self.assertEqual(item_ref(()), 0x40)
        self.assertEqual(item_ref(5) , (5 << 4) | INT)
        self.assertEqual(item_ref(-3) & 0xF, INT)
        self.assertEqual(item_ref(2 ** 59) & 0xF, BIGINT)
        self.assertEqual(item_ref(-(2 ** 59) - 1) & 0xF, BIGINT)
        self.assertEqual(item_ref(0.5) & 0xF, FLOAT_INLINE)
        self.assertEqual(item_ref(0.1) & 0xF, FLOAT)
        self.assertEqual(item_ref("abc"), (int.from_bytes(b"abc", "little") << 8) | (3 << 4) | STR_INLINE)
        self.assertEqual(item_ref(b"") & 0xFF, BYTES_INLINE)
        self.assertEqual(item_ref("abcdefgh") & 0xF, STR)
        self.assertEqual(item_ref(1j) & 0xF, COMPLEX)

    def test_big_ints_are_minimal_twos_complement(self):
        values = [2 ** 59, -(2 ** 59) - 1, 2 ** 63 - 1, 2 ** 63, -(2 ** 63), -(2 ** 63) - 1, 2 ** 64,
                  255 << 60, -(255 << 60), 10 ** 100, -(10 ** 100), 2 ** 4000 - 1, -(2 ** 4000)]
        img = freeze_image(values)
        self.assertEqual(Decoder(img).root(), values)   # the decoder asserts minimality

    def test_nan_negative_zero_and_special_floats(self):
        values = [float("nan"), -0.0, float("inf"), -float("inf"), 5e-324, 1.7976931348623157e308]
        got = Decoder(freeze_image({"f": values, "t": tuple(values)})).root()
        self.assertEqual(got["f"].flags, 2)
        for a, b in zip(got["f"], values):   # a packed FLOAT64 list
            self.assertEqual(struct.pack("<d", a), struct.pack("<d", b))
        for a, b in zip(got["t"], values):
            self.assertEqual(struct.pack("<d", a), struct.pack("<d", b))

    def test_strs_of_every_width_and_lone_surrogates(self):
        values = ["ascii only text", "lat\u00efn-1 t\u00e9xt", "\u20ac uro \u4e2d\u6587", "\U0001F600 astral",
                  "\ud800", "lone \udfff surrogate", "a\ud83d\ude00b", "\x00nul\x00inside", "x" * 70000,
                  "\u20ac" * 30000]
        img = freeze_image(values)
        self.assertEqual(Decoder(img).root(), values)
        # a long str uses the u64-length form (its length field is 0xFFFF)
        off = (header(img).root >> 4) * 8
        long_ref = struct.unpack_from("<Q", img, off + 8 + 8 * 8)[0]
        self.assertEqual((long_ref >> 4) & 0xFFFF, 0xFFFF)

    def test_leaf_roots(self):
        for obj in (None, 7, "a str longer than seven", b"b", 2.5, 10 ** 30, (1, "two")):
            with self.subTest(obj=obj):
                img = freeze_image(obj)
                check_header(self, img)
                self.assertEqual(Decoder(img).root(), obj)


class Containers(LeakCheckedTestCase):
    def test_empty_containers(self):
        obj = {"l": [], "d": {}, "s": set(), "f": frozenset(), "t": ()}
        img = freeze_image(obj)
        got = Decoder(img).root()
        self.assertEqual(got["l"], [])
        self.assertEqual(got["d"], {})
        self.assertEqual(got["s"], set())
        self.assertEqual(got["f"], frozenset())
        self.assertIsInstance(got["f"], frozenset)
        self.assertEqual(got["t"], ())

    def test_nested_data_round_trips_through_the_decoder(self):
        obj = {"users": [{"name": f"u{i}", "id": i, "tags": ("a", i % 3), "score": i / 7}
                         for i in range(300)],
               (1, "k"): {1.5: "x", None: [b"bytes", 2 ** 70]},
               "sets": [{1, 2, 3}, frozenset({"a", "b"})]}
        got = Decoder(freeze_image(obj)).root()
        self.assertEqual(got["users"], obj["users"])
        self.assertEqual(got[(1, "k")], obj[(1, "k")])
        self.assertEqual(got["sets"], obj["sets"])

    def test_big_table_probes(self):
        obj = {f"key{i:07d}": (i, i * 0.5, f"val{i}") for i in range(20000)}
        got = Decoder(freeze_image(obj)).root()   # every key found by probing
        self.assertEqual(got, obj)
        self.assertEqual(list(got), list(obj))   # insertion order kept

    def test_big_tables_of_every_key_kind(self):
        # tables this long hash their keys on a helper thread (map_write.c's hasher), which
        # leaves tuples and non-ASCII strs to the writer: every kind, interleaved, must
        # still land where a reader probes for it
        kinds = (lambda i: f"k{i}", lambda i: f"é{i}", lambda i: f"\U0001F600{i}", lambda i: i,
                 lambda i: i + 0.5, lambda i: 2 ** 70 + i, lambda i: (i, f"t{i}"), lambda i: b"b%d" % i,
                 lambda i: complex(i, 1), lambda i: f"\ud800{i}")
        keys = [kinds[i % len(kinds)](i) for i in range(40_000)] + [None]
        obj = {"d": {k: i for i, k in enumerate(keys)}, "s": set(keys), "f": frozenset(keys)}
        got = Decoder(freeze_image(obj)).root()   # every key found by probing
        self.assertEqual(got["d"], obj["d"])
        self.assertEqual(list(got["d"]), keys)
        self.assertEqual(got["s"], obj["s"])
        self.assertEqual(got["f"], obj["f"])

    def test_an_image_larger_than_its_window_while_a_table_is_hashed(self):
        # the writer maps the file over twice the arena's size; an image that outgrows that
        # (here: 16k distinct 2 KiB strs, each referred to 4 times, more than the leaf cache
        # keeps, so most are written again) leaves the window and moves the buffer while a
        # helper thread hashes the table, which must be waited for first
        strs = [f"{i:08d}" * 256 for i in range(16384)]
        obj = {i: strs[i % len(strs)] for i in range(4 * len(strs))}
        with frost.freeze(obj) as store:
            arena = store.stats()["bytes"]
            img = image_of(store)
        self.assertGreater(len(img), 2 * arena)
        self.assertEqual(Decoder(img).root(), obj)

    def test_numeric_keys_of_mixed_kinds(self):
        obj = {1: "int", 2.5: "float", 3j: "complex", 2 ** 80: "big", -5: "neg", True and "t": 0,
               (1, 2.5): "tuple", b"b": "bytes", None: "none"}
        self.assertEqual(Decoder(freeze_image(obj)).root(), obj)

    def test_shared_subobjects_are_written_once(self):
        inner = [1, 2, "x"]
        d = {"k": "v"}
        obj = [inner, inner, d, {"again": d}]
        img = freeze_image(obj)
        got, dec = decode(img)
        self.assertIs(got[0], got[1])
        self.assertIs(got[2], got[3]["again"])
        self.assertEqual(header(img).nnodes, len(dec.nodes_seen))

    def test_repeated_strs_are_shared(self):
        # what the arena shares (freeze memoizes objects referred to more than once) the
        # image writes once, through the writer's leaf cache
        value = "a str value longer than seven bytes"
        rows = [value] * 5000 + [(value, b"bytes longer than seven")] * 5000
        img = freeze_image(rows)
        self.assertEqual(Decoder(img).root(), rows)
        self.assertEqual(img.count(value.encode()), 1)
        self.assertEqual(img.count(b"bytes longer than seven"), 1)
        self.assertLess(len(img), 128 + 8 + 8 * 10000 + 100 + 4096)

    def test_cycles(self):
        a = []
        a.append(a)
        d = {}
        d["self"] = d
        d["list"] = [d, a]
        got = Decoder(freeze_image({"a": a, "d": d})).root()
        self.assertIs(got["a"][0], got["a"])
        self.assertIs(got["d"]["self"], got["d"])
        self.assertIs(got["d"]["list"][0], got["d"])
        self.assertIs(got["d"]["list"][1], got["a"])

    def test_deep_nesting(self):
        root = []
        for _ in range(100_000):
            root = [root]
        img = freeze_image(root)
        h = check_header(self, img)
        self.assertEqual(h.nnodes, 100_001)
        # walk it iteratively: every list holds the next
        off, depth = (h.root >> 4) * 8, 0
        while True:
            head = struct.unpack_from("<Q", img, off)[0]
            self.assertEqual(head & 0xFF, N_LIST)
            if head >> 16 == 0:
                break
            off = (struct.unpack_from("<Q", img, off + 8)[0] >> 4) * 8
            depth += 1
        self.assertEqual(depth, 100_000)

    def test_packed_lists_stay_packed(self):
        ints = list(range(-5, 1000))
        floats = [i / 3 for i in range(1000)]
        got = Decoder(freeze_image({"i": ints, "f": floats, "mixed": [1, 2.0]})).root()
        self.assertEqual((got["i"], got["i"].flags), (ints, 1))
        self.assertEqual((got["f"], got["f"].flags), (floats, 2))
        self.assertEqual(got["mixed"], [1, 2.0])
        self.assertNotIsInstance(got["mixed"], Packed)

    def test_tuples_with_containers_and_nested_tuples(self):
        obj = ((1, (2, (3, ("deep",)))), ([1, 2], {"a": 1}), ((), ((),)))
        got = Decoder(freeze_image([obj])).root()[0]
        self.assertEqual(got[0], obj[0])
        self.assertEqual(got[1], obj[1])
        self.assertEqual(got[2], obj[2])

    def test_records(self):
        obj = {"dc": Point(1, "a"), "nt": Pair(2, [3]), "sh": Shared([4, 5])}
        got = Decoder(freeze_image(obj)).root()
        kinds = {"dc": 0, "nt": 1, "sh": 2}
        for name, rec in got.items():
            with self.subTest(name=name):
                self.assertIsInstance(rec, Record)
                self.assertEqual(rec.kind, kinds[name])
                self.assertEqual(rec.module, __name__)
                self.assertEqual(rec.qualname, type(obj[name]).__qualname__)
        self.assertEqual(got["dc"].state, {"x": 1, "y": "a"})
        self.assertEqual(got["nt"].state, {"a": 2, "b": [3]})
        self.assertEqual(got["sh"].state, {"v": [4, 5]})

    def test_arrays(self):
        arrays = {"d": array.array("d", [0.5, 1.5, 2.5]), "i": array.array("i", range(7)),
                  "ba": bytearray(b"hello"), "empty": array.array("q")}
        if np is not None:
            arrays.update({f"np{nd}": np.arange(24, dtype=np.int16)[: [1, 24, 24, 24][nd]]
                           .reshape([(), (24,), (4, 6), (2, 3, 4)][nd]) for nd in range(4)})
            arrays["np0"] = np.array(3.25)
            arrays["u8"] = np.arange(5, dtype=np.uint8)
        got = Decoder(freeze_image(arrays)).root()
        for name, a in arrays.items():
            with self.subTest(name=name):
                g = got[name]
                m = memoryview(a)
                self.assertEqual(g.format, m.format)
                self.assertEqual(g.itemsize, m.itemsize)
                self.assertEqual(tuple(g.shape), m.shape)
                self.assertEqual(g.data, m.tobytes())

    def test_views_write_their_subgraph(self):
        with frost.freeze({"d": {"a": [1, "x" * 20]}, "l": list(range(100)), "r": ["a", "b", "c", "d"],
                           "arr": array.array("i", range(12))}) as store:
            root = store.root
            self.assertEqual(Decoder(image_of(root["d"])).root(), {"a": [1, "x" * 20]})
            self.assertEqual(Decoder(image_of(root["r"][::-2])).root(), ["d", "b"])
            self.assertEqual(Decoder(image_of(root["l"][10:13])).root(), [10, 11, 12])
            self.assertEqual(Decoder(image_of(root["l"][50:10:-20])).root(), [50, 30])
            self.assertEqual(Decoder(image_of(root["r"][4:])).root(), [])
            whole = Decoder(image_of(root["arr"])).root()
            self.assertEqual(whole.shape, [12])
        if np is not None:
            with frost.freeze({"m": np.arange(24, dtype=np.int32).reshape(2, 3, 4)}) as store:
                sub = store.root["m"][1]
                got = Decoder(image_of(sub)).root()
                self.assertEqual(got.shape, [3, 4])
                self.assertEqual(got.data, np.arange(12, 24, dtype=np.int32).tobytes())

    def test_no_body_checksum_for_shared_memory_files_keep_theirs(self):
        """checksum=False (frost.share's images: sealed memory, which nothing can change
        once written) writes the flag and a zero body checksum, and the same body;
        Store.save's files and the default keep the checksum. verify checks the
        structure either way."""
        data = {f"k{i}": (i, i * 0.5, f"v{i}" * (i % 5)) for i in range(2000)}
        with frost.freeze(data) as store:
            plain, bare = image_of(store), image_of(store, checksum=False)
            self.assertEqual(decode(bare)[0], data)
            self.assertEqual(len(bare), len(plain))
            check_header(self, plain)
            check_header(self, bare, checksum=False)
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "s.frost")
                store.save(p, format=2)
                with open(p, "rb") as f:
                    check_header(self, f.read())
                with frost.load(p) as m:
                    self.assertTrue(m.stats()["body_checksum"])
            for img, has in ((plain, True), (bare, False)):
                mi = _frost.MapImage(img)
                self.assertIs(mi.body_checksum, has)
                mi.verify()
                self.assertEqual(frost.thaw(mi.root), data)
        with frost.share(data) as shared:
            self.assertFalse(shared.stats()["body_checksum"])
            check_header(self, os.pread(shared._image.handle.fd, shared.nbytes, 0), checksum=False)
            shared.verify()

    def test_each_write_has_its_own_key_and_id(self):
        with frost.freeze({"a": 1}) as store:
            a, b = header(image_of(store)), header(image_of(store))
        self.assertNotEqual((a.k0, a.k1), (b.k0, b.k1))
        self.assertNotEqual(a.store_id, b.store_id)


class Bulk(LeakCheckedTestCase):
    """Payloads of BULK_MIN bytes or more (array data, long bytes and ASCII strs, table
    blobs) are not copied into the image buffer: the last pass checksums them and
    pwrites them from the arena. The image is the same as ever in every write mode (the
    file mapped: a memfd or a file open O_RDWR; a write-only fd: everything pwritten) and
    wherever they fall: first, last (the padding after one lies past the buffer), one after
    another, between small nodes; a long str that is not in the arena as UTF-8 is copied."""

    def setUp(self):
        super().setUp()
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        self.dir = d.name

    @staticmethod
    def data():
        return {"before": [f"s{i}" for i in range(1000)],
                "big": array.array("d", [i * 0.25 for i in range(BULK_MIN // 8 + 3)]),
                "odd": array.array("B", bytes(range(256)) * (BULK_MIN // 256) + b"xyz"),
                "bytes": b"\x01\x02" * (BULK_MIN // 2 + 5), "str": "ab" * (BULK_MIN // 2 + 1),
                "wide": "\u00e9" * BULK_MIN, "after": {i: str(i) for i in range(1000)},
                "small": array.array("i", range(10))}

    def check(self, img, want, checksum=True):
        check_header(self, img, checksum=checksum)
        got = Decoder(img).root()
        self.assertEqual(got.keys(), want.keys())
        for k, v in want.items():
            with self.subTest(key=k):
                if isinstance(v, array.array):
                    self.assertEqual(got[k].data, v.tobytes())
                    self.assertEqual(got[k].data_offset % 64, 0)
                else:
                    self.assertEqual(got[k], v)
        _frost.MapImage(img).verify()

    def write_to(self, store, flags, old=b"", **kw):
        p = os.path.join(self.dir, "f")
        with open(p, "wb") as f:
            f.write(old)
        fd = os.open(p, flags)
        try:
            n = _frost._map_write(store, fd, **kw)
        finally:
            os.close(fd)
        with open(p, "rb") as f:
            img = f.read()
        self.assertEqual(len(img), n)
        return img

    def test_every_write_mode(self):
        want = self.data()
        with frost.freeze(want) as store:
            self.check(image_of(store), want)
            self.check(image_of(store, checksum=False), want, checksum=False)
            self.check(self.write_to(store, os.O_RDWR), want)
            # write-only, over a longer file: no mapping, every byte pwritten, the rest cut
            self.check(self.write_to(store, os.O_WRONLY, b"\xff" * (8 * BULK_MIN)), want)
            # no checksum: mapped, only the bulk payloads are left for the last pass; not
            # mapped, every byte still is
            self.check(self.write_to(store, os.O_RDWR, checksum=False), want, checksum=False)
            self.check(self.write_to(store, os.O_WRONLY, b"\xff" * (8 * BULK_MIN), checksum=False),
                       want, checksum=False)
            p = os.path.join(self.dir, "s.frost")
            store.save(p)
            frost.verify(p)
            with open(p, "rb") as f:
                self.check(f.read(), want)
            with frost.load(p) as m:
                self.assertEqual(bytes(m.root["bytes"]), want["bytes"])
                self.assertEqual(m.root["wide"], want["wide"])
                self.assertEqual(memoryview(m.root["big"]).tobytes(), want["big"].tobytes())

    def test_first_last_and_in_a_row(self):
        big = array.array("B", b"\x07" * BULK_MIN + b"tail!")   # ends 3 bytes short of 8-alignment
        for root in (big, [big, big[::-1], b"x" * BULK_MIN], ("t" * BULK_MIN, b"y" * BULK_MIN)):
            with self.subTest(kind=type(root).__name__), frost.freeze(root) as store:
                for img in (image_of(store), self.write_to(store, os.O_WRONLY, b"\xff" * 100)):
                    check_header(self, img)
                    self.assertEqual(len(img) % 8, 0)
                    _frost.MapImage(img).verify()
                    got = Decoder(img).root()
                    if isinstance(root, array.array):
                        self.assertEqual(got.data, root.tobytes())
                    elif isinstance(root, list):
                        self.assertEqual([g.data for g in got[:2]], [root[0].tobytes(), root[1].tobytes()])
                        self.assertEqual(got[2], root[2])
                    else:
                        self.assertEqual(tuple(got), root)

    def test_views_and_sub_arrays(self):
        with frost.freeze({"a": array.array("q", range(BULK_MIN // 4))}) as store:
            got = Decoder(image_of(store.root["a"])).root()
            self.assertEqual(got.data, array.array("q", range(BULK_MIN // 4)).tobytes())
        if np is not None:
            m = np.arange(4 * BULK_MIN // 8, dtype=np.int64).reshape(4, -1)
            with frost.freeze({"m": m}) as store:
                img = image_of(store.root["m"][2])
                _frost.MapImage(img).verify()
                self.assertEqual(Decoder(img).root().data, m[2].tobytes())

    def test_damage_in_a_bulk_payload_fails_verify(self):
        want = self.data()
        p = os.path.join(self.dir, "s.frost")
        with frost.freeze(want) as store:
            store.save(p)
        with open(p, "rb") as f:
            img = bytearray(f.read())
        at = Decoder(bytes(img)).root()["big"].data_offset + BULK_MIN // 2
        img[at] ^= 0x40
        with open(p, "wb") as f:
            f.write(img)
        with self.assertRaisesRegex(frost.SnapshotError, "body checksum mismatch"):
            frost.verify(p)

    def test_a_write_failing_in_the_last_pass_leaves_the_file_empty(self):
        # a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: EFBIG) met while the last pass
        # pwrites a 4 MiB array, in both modes (mapped: O_RDWR; anonymous: O_WRONLY over
        # old content): OSError, and the file is empty, not a partial image
        code = (
            "import array, errno, os, resource, signal, frost\n"
            "from frost import _frost\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "store = frost.freeze({'small': list(range(100)), 'big': array.array('d', range(1 << 19))})\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, resource.RLIM_INFINITY))\n"
            "for flags in (os.O_RDWR, os.O_WRONLY):\n"
            f"    p = os.path.join({self.dir!r}, 'f')\n"
            "    with open(p, 'wb') as f:\n"
            "        f.write(b'old' * 100)\n"
            "    fd = os.open(p, flags)\n"
            "    try:\n"
            "        _frost._map_write(store, fd)\n"
            "        print('written')\n"
            "    except OSError as e:\n"
            "        print(errno.errorcode[e.errno], os.fstat(fd).st_size)\n"
            "    os.close(fd)\n")
        r = run_child(code, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["EFBIG", "0", "EFBIG", "0"])

    def test_a_table_blob_as_bulk(self):
        try:
            import pyarrow as pa
        except ImportError:   # pragma: no cover
            self.skipTest("pyarrow is not installed")
        t = pa.table({"a": list(range(BULK_MIN // 4)), "s": [str(i) for i in range(BULK_MIN // 16)] * 4})
        with frost.freeze({"t": t, "after": ["x" * 20] * 10}) as store:
            blob = _frost._table_blob(store.root["t"])
            self.assertGreaterEqual(len(blob), BULK_MIN)
            for img in (image_of(store), self.write_to(store, os.O_WRONLY)):
                check_header(self, img)
                _frost.MapImage(img).verify()
                got = Decoder(img).root()
                self.assertEqual(got["t"].blob, blob)
                self.assertEqual(got["after"], ["x" * 20] * 10)


class BodyChecksumKinds(LeakCheckedTestCase):
    """Files written before FROST_MAP_FLAG_BODY_XXH3 (flags 0, an XXH64 body checksum)
    still open and verify; each kind is checked by its own algorithm; a flag that is
    not known, or both checksum flags at once, is refused at open."""

    @staticmethod
    def resealed(img, flags, body_checksum):
        b = bytearray(img)
        struct.pack_into("<Q", b, 88, flags)
        struct.pack_into("<Q", b, 48, body_checksum)
        struct.pack_into("<Q", b, 56, 0)
        struct.pack_into("<Q", b, 56, _frost._snapshot_xxh64(bytes(b[:128])))
        return bytes(b)

    def test_old_xxh64_images(self):
        data = {"k": list(range(1000)), "a": array.array("d", range(BULK_MIN // 8))}
        with frost.freeze(data) as store:
            img = image_of(store)
        body = img[128:]
        old = self.resealed(img, 0, _frost._snapshot_xxh64(body))
        mi = _frost.MapImage(old)
        self.assertTrue(mi.body_checksum)
        mi.verify()
        self.assertEqual(frost.thaw(mi.root)["k"], data["k"])
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "old.frost")
            with open(p, "wb") as f:
                f.write(old)
            frost.verify(p)
            with frost.load(p) as m:
                self.assertEqual(list(m.root["k"]), data["k"])
        for flags, checksum in ((0, _frost._xxh3(body)), (FLAG_BODY_XXH3, _frost._snapshot_xxh64(body))):
            with self.subTest(flags=flags):   # the other algorithm's value: a mismatch
                with self.assertRaisesRegex(frost.SnapshotError, "body checksum mismatch"):
                    _frost.MapImage(self.resealed(img, flags, checksum)).verify()
        damaged = bytearray(old)
        damaged[-1] ^= 1
        with self.assertRaisesRegex(frost.SnapshotError, "body checksum mismatch"):
            _frost.MapImage(bytes(damaged)).verify()

    def test_unknown_and_contradictory_flags_are_refused_at_open(self):
        with frost.freeze([1, 2, 3]) as store:
            img = image_of(store)
        body_sum = header(img).body_checksum
        with self.assertRaisesRegex(frost.SnapshotError, "unknown flags 0x6"):
            _frost.MapImage(self.resealed(img, 4 | FLAG_BODY_XXH3, body_sum))
        with self.assertRaisesRegex(frost.SnapshotError, "no body checksum and an XXH3 one"):
            _frost.MapImage(self.resealed(img, FLAG_NO_BODY_CHECKSUM | FLAG_BODY_XXH3, 0))


class Hostile(LeakCheckedTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name="x"):
        return os.path.join(self.dir.name, name)

    def test_closed_store(self):
        store = frost.freeze({"a": 1})
        store.close()
        fd = os.memfd_create("t")
        self.addCleanup(os.close, fd)
        with self.assertRaises(frost.StoreClosedError):
            _frost._map_write(store, fd)

    def test_views_outlive_their_store_handle(self):
        store = frost.freeze({"a": [1, 2]})
        view = store.root["a"]
        store.close()
        self.assertEqual(Decoder(image_of(view)).root(), [1, 2])
        del view

    def test_bad_arguments(self):
        with frost.freeze([1]) as store:
            fd = os.memfd_create("t")
            self.addCleanup(os.close, fd)
            for args, kw, exc in [((store, "3"), {}, TypeError), ((store, 1.5), {}, TypeError),
                                  ((store, -1), {}, ValueError), (([1], fd), {}, TypeError),
                                  ((store,), {}, TypeError), ((store, fd), {"progress": 1}, TypeError),
                                  ((store, fd), {"bogus": 1}, TypeError), ((store, 2 ** 70), {}, OverflowError),
                                  ((store, True), {}, TypeError), ((store, None), {}, TypeError)]:
                with self.subTest(args=args, kw=kw), self.assertRaises(exc):
                    _frost._map_write(*args, **kw)

    def test_map_write_fresh_frees_its_arena_whatever_happens(self):
        # frost.share's path: plain data frozen into a private, unindexed arena, written,
        # freed. Every outcome leaves no arena (LeakCheckedTestCase) and no partial image;
        # the image reads like one written from an indexed store.
        import fcntl
        data = {f"k{i}": (i, i / 3, f"v{i}") for i in range(40_000)}
        fd = os.memfd_create("t", os.MFD_ALLOW_SEALING)
        self.addCleanup(os.close, fd)
        n = _frost._map_write_fresh(data, fd, checksum=False)
        self.assertEqual(Decoder(os.pread(fd, n, 0)).root(), data)   # every key found by probing
        os.ftruncate(fd, 0)
        for obj, kw, exc in [(data, {"progress": 1}, TypeError), ({"x": object()}, {}, frost.FreezeError),
                             ([1, [2, socket_like()]], {}, frost.FreezeError),
                             (data, {"progress": lambda d, t: 1 / 0}, ZeroDivisionError)]:
            with self.subTest(obj=type(obj), kw=kw), self.assertRaises(exc):
                _frost._map_write_fresh(obj, fd, **kw)
            self.assertEqual(os.fstat(fd).st_size, 0, "no partial image is left")
        for args in [(data, "3"), (data, True), (data, -1), (data,)]:
            with self.subTest(args=args[1:]), self.assertRaises((TypeError, ValueError)):
                _frost._map_write_fresh(*args)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW)   # a full disk: after the freeze
        with self.assertRaises(OSError):
            _frost._map_write_fresh(data, fd)

    def test_unwritable_fds(self):
        with frost.freeze({"a": list(range(100))}) as store:
            with open(self.path("ro"), "w"):
                pass
            ro = os.open(self.path("ro"), os.O_RDONLY)
            r, w = os.pipe()
            closed = os.open(self.path("c"), os.O_RDWR | os.O_CREAT)
            os.close(closed)
            dirfd = os.open(self.dir.name, os.O_RDONLY)
            full = os.open("/dev/full", os.O_WRONLY)   # every write: ENOSPC
            self.addCleanup(os.close, full)
            try:
                for name, fd in [("read-only", ro), ("pipe", w), ("closed", closed), ("directory", dirfd),
                                 ("/dev/full", full)]:
                    with self.subTest(name), self.assertRaises(OSError):
                        _frost._map_write(store, fd)
                self.assertEqual(os.fstat(ro).st_size, 0)
            finally:
                for fd in (ro, r, w, dirfd):
                    os.close(fd)

    def test_write_only_and_append_fds_get_the_image(self):
        with frost.freeze({"a": list(range(100))}) as store:
            want = Decoder(image_of(store)).root()
            for flags in (os.O_WRONLY, os.O_RDWR | os.O_APPEND, os.O_WRONLY | os.O_APPEND):
                with self.subTest(flags=flags):
                    p = self.path("w")
                    with open(p, "wb") as f:
                        f.write(b"old content that is longer than nothing" * 1000)
                    fd = os.open(p, flags)
                    try:
                        if flags & os.O_APPEND and not flags & os.O_RDWR:
                            # pwrite on an O_APPEND fd appends (Linux): not at offset 0
                            with self.assertRaises(Exception):
                                n = _frost._map_write(store, fd)
                                data = open(p, "rb").read()
                                check_header(self, data, n)
                            continue
                        n = _frost._map_write(store, fd)
                        self.assertEqual(os.lseek(fd, 0, os.SEEK_CUR), 0, "the position is left alone")
                    finally:
                        os.close(fd)
                    data = open(p, "rb").read()
                    check_header(self, data, n)
                    self.assertEqual(Decoder(data).root(), want)

    def test_an_existing_longer_file_is_replaced(self):
        p = self.path("f")
        with open(p, "wb") as f:
            f.write(b"\xff" * 1_000_000)
        with frost.freeze({"k": "v" * 100}) as store:
            fd = os.open(p, os.O_RDWR)
            try:
                n = _frost._map_write(store, fd)
            finally:
                os.close(fd)
        data = open(p, "rb").read()
        check_header(self, data, n)

    def test_a_full_disk_is_an_oserror(self):
        fd = os.memfd_create("t", os.MFD_ALLOW_SEALING)
        self.addCleanup(os.close, fd)
        import fcntl
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_GROW)   # nothing may be written
        with frost.freeze({"a": "x" * 100}) as store:
            with self.assertRaises(OSError):
                _frost._map_write(store, fd)

    def test_tables_are_written_as_their_blob_verbatim(self):
        pa = self.pyarrow()
        t = pa.table({"a": [1, 2], "s": ["x", None]})
        with frost.freeze({"ok": [1], "nested": [{"t": t}], "again": None}) as store:
            blob = _frost._table_blob(store.root["nested"][0]["t"])
            d = Decoder(image_of(store)).root()
            got = d["nested"][0]["t"]
            self.assertIsInstance(got, Columns)
            self.assertEqual(got.blob, blob, "the arena's blob, byte for byte")
            self.assertEqual(got.blob_offset % 64, 0)
            root_t = Decoder(image_of(store.root["nested"][0]["t"])).root()
            self.assertEqual(root_t.blob, blob)
        with frost.freeze(Pair(1, t)) as store:   # a table inside a record
            self.assertEqual(Decoder(image_of(store)).root().state["b"].blob,
                             _frost._table_blob(store.root.b))

    def test_a_row_slice_of_a_table_is_refused_as_a_root(self):
        pa = self.pyarrow()
        with frost.freeze({"t": pa.table({"a": [1, 2, 3]})}) as store:
            fd = os.memfd_create("t")
            self.addCleanup(os.close, fd)
            with self.assertRaisesRegex(frost.FreezeError, r"^root: a row slice of a frost.Table"):
                _frost._map_write(store.root["t"][1:], fd)
            self.assertEqual(os.fstat(fd).st_size, 0)
            self.assertIsInstance(Decoder(image_of(store.root["t"][0:3])).root(), Columns)

    def pyarrow(self):
        try:
            import pyarrow
        except ImportError:   # pragma: no cover
            self.skipTest("pyarrow is not installed")
        return pyarrow

    def test_progress(self):
        calls = []
        with frost.freeze(list(range(200_000)) + [str(i) * 3 for i in range(200_000)]) as store:
            fd = os.memfd_create("t")
            self.addCleanup(os.close, fd)
            n = _frost._map_write(store, fd, progress=lambda d, t: calls.append((d, t)))
        self.assertGreater(n, 0)
        self.assertGreaterEqual(len(calls), 3)
        self.assertTrue(all(t is None for _, t in calls[:-1]))
        done = [d for d, _ in calls]
        self.assertEqual(done, sorted(done))
        self.assertEqual(calls[-1][0], calls[-1][1])

    def test_progress_exceptions_and_keyboard_interrupt_stop_the_write(self):
        # a list, and a dict long enough to be hashed on a helper thread, which must stop
        data = [str(i) * 3 for i in range(300_000)]
        for exc, data in ((ZeroDivisionError, data), (KeyboardInterrupt, data),
                          (ZeroDivisionError, dict.fromkeys(data)), (KeyboardInterrupt, dict.fromkeys(data))):
            with self.subTest(exc=exc), frost.freeze(data) as store:
                fd = os.memfd_create("t")
                self.addCleanup(os.close, fd)

                def cb(done, total):
                    if exc is KeyboardInterrupt:
                        signal.raise_signal(signal.SIGINT)   # the default handler: KeyboardInterrupt
                    raise exc

                with self.assertRaises(exc):
                    _frost._map_write(store, fd, progress=cb)
                self.assertEqual(os.fstat(fd).st_size, 0, "no partial image is left")

    def test_the_file_shrunk_by_python_code_during_the_write(self):
        # the progress callback (or a signal handler) truncates the fd being written:
        # an OSError, never a SIGBUS from storing into the mapping
        data = [str(i) * 3 for i in range(300_000)]
        for how in ("progress", "signal"):
            with self.subTest(how=how), frost.freeze(data) as store:
                fd = os.memfd_create("t")
                self.addCleanup(os.close, fd)
                if how == "progress":
                    with self.assertRaisesRegex(OSError, "truncated"):
                        _frost._map_write(store, fd, progress=lambda d, t: os.ftruncate(fd, 0))
                else:
                    old = signal.signal(signal.SIGUSR1, lambda *a: os.ftruncate(fd, 4096))
                    try:
                        with self.assertRaisesRegex(OSError, "truncated"):
                            _frost._map_write(store, fd, progress=lambda d, t: os.kill(os.getpid(), signal.SIGUSR1))
                    finally:
                        signal.signal(signal.SIGUSR1, old)
                self.assertEqual(os.fstat(fd).st_size, 0)

    def test_sigint_during_a_write_in_a_child(self):
        # a real Ctrl-C from outside while a big image is written: KeyboardInterrupt, exit 0
        code = (
            "import os, signal, threading, frost\n"
            "from frost import _frost\n"
            "store = frost.freeze([str(i) * 5 for i in range(2_000_000)])\n"
            "fd = os.memfd_create('t')\n"
            "first = threading.Event()\n"
            "def cb(done, total):\n"
            "    if not first.is_set():\n"
            "        first.set()\n"
            "        os.kill(os.getpid(), signal.SIGINT)\n"
            "try:\n"
            "    while True:\n"
            "        _frost._map_write(store, fd, progress=cb)\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', os.fstat(fd).st_size)\n")
        r = run_child(code, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["interrupted", "0"])


class StoreSave(LeakCheckedTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.p = os.path.join(self.dir.name, "s.frost")

    def magic(self):
        with open(self.p, "rb") as f:
            return f.read(8)

    def test_format_choice(self):
        with frost.freeze({"a": [1, 2]}) as store:
            store.save(self.p)
            self.assertEqual(self.magic(), b"FROSTMAP")
            data = open(self.p, "rb").read()
            check_header(self, data)
            self.assertEqual(Decoder(data).root(), {"a": [1, 2]})
            store.save(self.p, format=1)
            self.assertEqual(self.magic(), b"FROSTSNP")
            store.save(self.p, format=2)
            self.assertEqual(self.magic(), b"FROSTMAP")
            store.save(self.p, format=None)
            self.assertEqual(self.magic(), b"FROSTMAP")
            for bad in (0, 3, -1, "2", 2.0, True, 2 ** 70):
                with self.subTest(bad=bad), self.assertRaisesRegex(ValueError, "format must be 1, 2 or None"):
                    store.save(self.p, format=bad)
        self.assertEqual(os.listdir(self.dir.name), ["s.frost"])

    def test_tables_are_saved_in_format_2_unless_format_1_is_asked(self):
        try:
            import pyarrow as pa
        except ImportError:   # pragma: no cover
            self.skipTest("pyarrow is not installed")
        t = pa.table({"a": [1]})
        with frost.freeze({"t": t}) as store:
            for fmt, magic in ((None, b"FROSTMAP"), (2, b"FROSTMAP"), (1, b"FROSTSNP")):
                with self.subTest(format=fmt):
                    store.save(self.p, format=fmt)
                    self.assertEqual(self.magic(), magic)
                    loaded = frost.load(self.p, lifetime="scoped")
                    root = loaded.root
                    self.assertTrue(pa.table(root["t"]).equals(t))
                    del root
                    loaded.close()
        self.assertEqual(os.listdir(self.dir.name), ["s.frost"], "no temporary left")

    def test_atomic_replace_and_failures_leave_no_temporary(self):
        with frost.freeze({"v": 1}) as store:
            store.save(self.p)
        with open(self.p, "rb") as f:
            old = f.read()
        with frost.freeze([str(i) for i in range(200_000)]) as store:
            with self.assertRaises(ZeroDivisionError):
                store.save(self.p, progress=lambda d, t: 1 / 0)
            self.assertEqual(open(self.p, "rb").read(), old, "the old file stays whole")
            self.assertEqual(os.listdir(self.dir.name), ["s.frost"])
            missing = os.path.join(self.dir.name, "no", "dir", "x")
            with self.assertRaises(FileNotFoundError) as cm:
                store.save(missing)
            self.assertEqual(cm.exception.filename, missing)
            with self.assertRaises(IsADirectoryError):
                store.save(self.dir.name)
            calls = []
            store.save(self.p, progress=lambda d, t: calls.append((d, t)))
            self.assertEqual(calls[-1][0], calls[-1][1])
        check_header(self, open(self.p, "rb").read())
        self.assertEqual(os.listdir(self.dir.name), ["s.frost"])

    def test_a_size_limit_met_by_the_bulk_payloads_leaves_the_old_file_and_no_temporary(self):
        # RLIMIT_FSIZE (SIGXFSZ ignored: EFBIG) below an array's 8 MiB: the bulk range's
        # fallocate fails before any of it is written, over an old file and to a fresh
        # path; the OSError names the path the caller gave, the old file is whole and no
        # temporary is left. Under the limit (a 1 MiB array, 4 last-pass chunks) it saves.
        code = (
            "import array, errno, os, resource, signal, frost\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"d = {self.dir.name!r}\n"
            "old = os.path.join(d, 'old.frost')\n"
            "with frost.freeze([1, 2]) as s:\n"
            "    s.save(old)\n"
            "before = open(old, 'rb').read()\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, resource.RLIM_INFINITY))\n"
            "big = frost.freeze({'head': list(range(100)), 'a': array.array('d', range(1 << 20))})\n"
            "for p in (old, os.path.join(d, 'new.frost')):\n"
            "    try:\n"
            "        big.save(p)\n"
            "        print('saved')\n"
            "    except OSError as e:\n"
            "        print(errno.errorcode[e.errno], e.filename == p)\n"
            "print(open(old, 'rb').read() == before, sorted(os.listdir(d)))\n"
            "small = frost.freeze(array.array('d', range(1 << 17)))\n"
            "small.save(old)\n"
            "frost.verify(old)\n"
            "with frost.load(old) as m:\n"
            "    print(memoryview(m.root).tolist()[-3:], sorted(os.listdir(d)))\n")
        r = run_child(code, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [
            "EFBIG True", "EFBIG True", "True ['old.frost']",
            "[131069.0, 131070.0, 131071.0] ['old.frost']"])

    def test_an_interrupt_during_the_chunked_writes_leaves_the_old_file_and_no_temporary(self):
        # a 64 MiB array (the walk is trivial: a save is almost all last pass, 256 chunks,
        # signals checked every 16) saved over its last file with a SIGALRM handler that
        # raises, the timer set 8% later each time (0.5 ms up: past any save's length on a
        # loaded machine): an interrupted save leaves the old file (same inode) and no
        # temporary; one that finished first left a whole new file. Some must be each.
        code = (
            "import array, os, signal, frost\n"
            f"d = {self.dir.name!r}\n"
            "p = os.path.join(d, 'a.frost')\n"
            "store = frost.freeze(array.array('d', bytes(64 << 20)))\n"
            "store.save(p)\n"
            "class Stop(Exception): pass\n"
            "def stop(*a): raise Stop\n"
            "signal.signal(signal.SIGALRM, stop)\n"
            "interrupted = finished = 0\n"
            "for k in range(200):\n"
            "    ino = os.stat(p).st_ino\n"
            "    try:\n"
            "        signal.setitimer(signal.ITIMER_REAL, 0.0005 * 1.08 ** k)\n"
            "        store.save(p)\n"
            "        signal.setitimer(signal.ITIMER_REAL, 0)\n"
            "    except Stop:\n"
            "        pass\n"
            "    assert os.listdir(d) == ['a.frost'], os.listdir(d)\n"
            "    if os.stat(p).st_ino == ino:\n"
            "        interrupted += 1\n"
            "    else:\n"
            "        finished += 1\n"
            "    if interrupted >= 5 and finished >= 1:\n"
            "        break\n"
            "frost.verify(p)\n"
            "print(interrupted >= 1, finished >= 1)\n")
        r = run_child(code, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["True", "True"])

    def test_bulk_payloads_at_every_offset_within_a_chunk(self):
        # the last pass cuts each payload at EMIT_CHUNK-aligned file offsets: payloads
        # starting at assorted offsets, of lengths that are not whole chunks, saved over
        # one another, read back byte for byte
        chunk = 1 << 18
        for lead in (0, 1, 7, 500, 4096, chunk - 8, chunk + 24):
            data = {"lead": b"\x05" * lead if lead >= 8 else lead,
                    "a": array.array("B", bytes(range(251)) * ((BULK_MIN + 3 * chunk) // 251 + lead % 5)),
                    "b": b"\x09" * (BULK_MIN + chunk // 3)}
            with self.subTest(lead=lead), frost.freeze(data) as store:
                store.save(self.p)
                frost.verify(self.p)
                with frost.load(self.p) as m:
                    self.assertEqual(memoryview(m.root["a"]).tobytes(), data["a"].tobytes())
                    self.assertEqual(bytes(m.root["b"]), data["b"])
                    self.assertEqual(m.root["lead"], data["lead"])
        self.assertEqual(os.listdir(self.dir.name), ["s.frost"])

    def test_closed_store(self):
        store = frost.freeze([1])
        store.close()
        with self.assertRaises(frost.StoreClosedError):
            store.save(self.p)
        with self.assertRaises(frost.StoreClosedError):
            store.save(self.p, format=2)

    def test_closing_from_the_progress_callback(self):
        store = frost.freeze([str(i) for i in range(200_000)])
        store.save(self.p, progress=lambda d, t: store.close())
        check_header(self, open(self.p, "rb").read())


if __name__ == "__main__":
    unittest.main()


try:
    from hypothesis import given, settings, strategies as st
except ImportError:   # pragma: no cover - hypothesis is part of the test tooling
    given = None
else:
    _keys = st.recursive(st.none() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
                         lambda k: st.tuples(k, k) | st.tuples(k), max_leaves=5)
    _data = st.recursive(
        st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2 ** 200), max_value=2 ** 200)
        | st.floats(allow_nan=False) | st.text() | st.binary() | st.complex_numbers(allow_nan=False)
        | st.just(...),
        lambda c: (st.lists(c, max_size=6) | st.dictionaries(_keys, c, max_size=6)
                   | st.tuples(c, c) | st.sets(_keys, max_size=5) | st.frozensets(_keys, max_size=5)),
        max_leaves=40)


def mapped(obj):
    """frost.freeze -> _map_write -> MapImage over the bytes: (image, root)."""
    img = _frost.MapImage(freeze_image(obj))
    img.verify()
    return img, img.root


class MapImageRoundTrip(LeakCheckedTestCase):
    """The writer's images read back by the in-place reader (views/view_mapped.c)."""

    def test_thaw_gives_the_data_back(self):
        a = []
        a.append(a)
        cases = [
            {"users": [{"name": f"u{i}", "id": i, "score": i / 7, "tags": ("a", i % 3)} for i in range(500)]},
            [None, True, False, ..., 0, -1, 2 ** 59, -(2 ** 59) - 1, 10 ** 100, -0.0, 0.1, 1 + 2j, "",
             "short", "a much longer str", "\u20ac\ud800\U0001F600", b"", b"bytes that are long"],
            {(1, "a"): {1.5: [b"x"]}, None: frozenset({1, "2", (3,)}), 7: {1, 2}},
            list(range(1000)), [i / 4 for i in range(1000)], (1, (2, (3, ()))), "x" * 70000,
            {}, [], set(), (), 5, None,
        ]
        for obj in cases:
            with self.subTest(obj=repr(obj)[:60]):
                img, root = mapped(obj)
                self.assertEqual(frost.thaw(root), obj)
        img, root = mapped({"cycle": a})
        got = frost.thaw(root)["cycle"]
        self.assertIs(got[0], got)

    def test_lookups_by_equal_keys_of_other_kinds(self):
        img, root = mapped({1: "one", "s": "str", b"b": "bytes", (1, "t"): "tuple", 2.5: "float", None: "n"})
        self.assertEqual(root[1.0], "one")
        self.assertEqual(root[True], "one")
        self.assertEqual(root[Color.RED], "one")
        self.assertEqual(root[StrSub("s")], "str")
        self.assertEqual(root[BytesSub(b"b")], "bytes")
        self.assertEqual(root[(1.0, "t")], "tuple")
        self.assertEqual(root[FloatSub(2.5)], "float")
        self.assertEqual(root[None], "n")
        for missing in ("t", 2, b"s", (1, "u"), 1.25):
            with self.subTest(missing=missing):
                self.assertNotIn(missing, root)
                with self.assertRaises(KeyError):
                    root[missing]
        for unhashable in ([1], {}, (1, [])):   # as a dict: TypeError
            with self.subTest(unhashable=unhashable), self.assertRaisesRegex(TypeError, "unhashable"):
                root[unhashable]

    def test_records_and_arrays(self):
        obj = {"p": Point(1, "a"), "pair": Pair(2, [3]), "arr": array.array("d", [1.5, 2.5])}
        img, root = mapped(obj)
        got = frost.thaw(root, classes=[Point, Pair])
        self.assertEqual(got["p"], Point(1, "a"))
        self.assertEqual(got["pair"], Pair(2, [3]))
        self.assertEqual(memoryview(got["arr"]).tobytes(), memoryview(obj["arr"]).tobytes())

    def test_a_reader_with_another_hash_seed(self):
        data = {f"key{i}": (i, f"val{i}") for i in range(2000)}
        data.update({(i, f"t{i}"): i for i in range(100)})
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "s.frost")
            with frost.freeze(data) as store:
                store.save(p)
            code = (
                "import sys\nfrom frost import _frost\n"
                "root = _frost.MapImage(open(sys.argv[1], 'rb').read()).root\n"
                "assert all(root[f'key{i}'] == (i, f'val{i}') for i in range(2000))\n"
                "assert all(root[(i, f't{i}')] == i for i in range(100))\n"
                "assert 'key2000' not in root\n"
                "print('ok')\n")
            for seed in ("0", "1", "4242"):
                r = run_child(code.replace("sys.argv[1]", repr(p)), env=dict(os.environ, PYTHONHASHSEED=seed))
                self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)

    if given is not None:
        @settings(max_examples=150, deadline=None)
        @given(_data)
        def test_property_round_trip(self, obj):
            img, root = mapped({"v": obj})
            self.assertEqual(frost.thaw(root)["v"], obj)
            self.assertEqual(Decoder(freeze_image({"v": obj})).root()["v"], obj)


class HelperThreads(unittest.TestCase):
    """The writer's helper threads (the pager, the hasher) start only when the writing
    thread may run on more than one CPU: its affinity mask counts, not the CPUs online
    (a process pinned to one CPU would only share it with them). Counted from the
    progress callback, which runs while they do (a large share: pager and hasher)."""

    CHILD = (
        "import os, frost\n"
        "cpus = sorted(os.sched_getaffinity(0))\n"
        "data = {f'key{i:07d}': (i, i * 0.5, f'val{i}') for i in range(300000)}\n"
        "def most_threads(pin):\n"
        "    os.sched_setaffinity(0, pin)\n"
        "    seen = []\n"
        "    def cb(done, total):\n"
        "        seen.append(len(os.listdir('/proc/self/task')))\n"
        "    with frost.share(data, progress=cb) as s:\n"
        "        assert s.root['key0000007'][2] == 'val7'\n"
        "    return max(seen)\n"
        "print(most_threads(cpus[:1]), most_threads(cpus), len(cpus))\n")

    def test_one_cpu_in_the_affinity_mask_starts_no_helper(self):
        r = run_child(self.CHILD, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        pinned, free, ncpus = map(int, r.stdout.split())
        self.assertEqual(pinned, 1)                  # the writer alone
        self.assertEqual(free > 1, ncpus > 1)        # and with two CPUs, a helper beside it


class CallArguments(LeakCheckedTestCase):
    """freeze, _map_write and _map_write_fresh parse their arguments in one place
    (views/module.c frost__parse_freeze_call): each keeps its own words and order --
    freeze checks lifetime before progress, a writer progress before fd."""

    def test_each_bad_argument_is_named_with_its_call(self):
        fd = os.memfd_create("t")
        self.addCleanup(os.close, fd)
        cb = "progress must be a callable(done, total) or None, not int"
        checks = [(frost.freeze, (1,), {"lifetime": 3, "progress": 3}, TypeError,
                   "freeze() lifetime must be a str, not int"),
                  (frost.freeze, (1,), {"lifetime": "x"}, ValueError,
                   "freeze() lifetime must be 'scoped' or 'process', not 'x'"),
                  (frost.freeze, (1,), {"progress": 3}, TypeError, f"freeze() {cb}"),
                  (frost.freeze, (1, 2), {}, TypeError, "freeze() takes at most 1 positional argument (2 given)")]
        with frost.freeze({"a": 1}) as store:
            for name, obj in (("_map_write", store), ("_map_write_fresh", {"a": 1})):
                f = getattr(_frost, name)
                checks += [(f, (obj, "x"), {"progress": 3}, TypeError, f"{name}() {cb}"),
                           (f, (obj, "x"), {}, TypeError, f"{name}() fd must be an int, not str"),
                           (f, (obj, True), {}, TypeError, f"{name}() fd must be an int, not bool"),
                           (f, (obj, -1), {}, ValueError, "file descriptor cannot be a negative integer (-1)"),
                           (f, (obj,), {}, TypeError, f"{name}() takes exactly 2 positional arguments (1 given)"),
                           (f, (obj, fd), {"lifetime": "scoped"}, TypeError,   # CPython's words
                            re.compile(rf"'lifetime'.*{name}\(\)|{name}\(\).*'lifetime'"))]
            for f, args, kw, exc, message in checks:
                with self.subTest(message=message):
                    with self.assertRaises(exc) as cm:
                        f(*args, **kw)
                    if isinstance(message, str):
                        self.assertEqual(str(cm.exception), message)
                    else:
                        self.assertRegex(str(cm.exception), message)
            self.assertGreater(_frost._map_write(store, fd, checksum=False), 0)
