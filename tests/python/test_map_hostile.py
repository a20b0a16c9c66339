"""Format-2 images as an enemy writes them, and readers raced by an enemy (issue 13).

A mapped image is read in place by every process that opens it, and nothing in it is
trusted (store/frost_map.h): every offset and length is bounds-checked when followed,
every node's kind checked against what its context allows. Each scenario below is an
image made byte by byte (tests/python/mapcraft.py) or a real image with some bytes
changed and re-sealed (its checksums recomputed, so the damage is met by the checks
behind them, not by the checksum). The outcome allowed is always one of:
- SnapshotError at open (O(1) header checks), or
- an image that opens, whose full verify() raises SnapshotError, and whose access to the
  damage raises SnapshotError (mapwalk.walk follows every reference);
never a crash, a hang, a read outside the buffer (the asan preset and the fuzz target
tests/fuzz/map_read.cc check that), a Python error of another kind, or a leak.
Scenarios that could hang or blow up memory run in a child with a deadline and an
address-space limit.
"""
import os
import pickle
import struct
import tempfile
import textwrap
import threading
import unittest

import frost
from frost import _frost

import mapcraft
import mapwalk
from mapcraft import Image, head, put64
from frostcheck import run_child

SnapshotError = frost.SnapshotError
B60 = (1 << 60) - 1


def with_item(ref_maker):
    """An image whose root is a list holding one reference made by ref_maker(im)."""
    im = Image()
    return im.finish(im.list([im.int(1), ref_maker(im)]))


def resealed(data, edits):
    """A copy of `data` with {offset: bytes} written over it, checksums recomputed."""
    buf = bytearray(data)
    for off, b in edits.items():
        buf[off:off + len(b)] = b
    mapcraft.reseal(buf)
    return bytes(buf)


def node_at(ref):
    return (ref >> 4) * 8


class HostileCase(unittest.TestCase):
    def assertRefused(self, data, what=None):
        """MapImage refuses `data` at open."""
        with self.assertRaises(SnapshotError) as cm:
            _frost.MapImage(data)
        if what:
            self.assertIn(what, str(cm.exception))

    def assertDamaged(self, data, item=None):
        """Opens; verify() raises SnapshotError; the walk meets the damage (SnapshotError);
        with `item`, root[item] raises SnapshotError too. Returns the image."""
        img = _frost.MapImage(data)
        with self.assertRaises(SnapshotError):
            img.verify()
        with self.assertRaises(SnapshotError):
            mapwalk.walk(img.root)
        if item is not None:
            with self.assertRaises(SnapshotError):
                img.root[item]
        self.assertEqual(mapwalk.check_image(data), "damaged")
        return img

    def assertRefusedOrDamaged(self, data, reached=True):
        """Refused at open, or verify() raises SnapshotError and (`reached`) so does the
        walk. reached=False: damage that only a full check can see (a table whose
        entries disagree with its index, a record's state of the wrong kind): the walk
        may then complete, or find a lookup that disagrees (mapwalk.Inconsistent)."""
        try:
            img = _frost.MapImage(data)
        except SnapshotError:
            return
        with self.assertRaises(SnapshotError):
            img.verify()
        if reached:
            with self.assertRaises(SnapshotError):
                mapwalk.walk(img.root)
        else:
            try:
                mapwalk.walk(img.root)
            except (SnapshotError, mapwalk.Inconsistent):
                pass
        self.assertIn(mapwalk.check_image(data), ("refused", "damaged"))

    def assertSafe(self, data):
        """Whatever the image is, the oracle accepts what happens."""
        self.assertIn(mapwalk.check_image(data), ("refused", "damaged", "ok"))

    def assertValid(self, data):
        img = _frost.MapImage(data)
        self.assertIsNone(img.verify())
        mapwalk.walk(img.root)
        self.assertEqual(mapwalk.check_image(data), "ok")
        return img


class MapcraftMatchesTheSpec(HostileCase):
    """The hand-made images are right when meant to be: the scenarios below differ from
    a valid image only by their damage."""

    def test_valid_images_verify_and_read_back(self):
        im = Image()
        inner = im.list([im.int(1), im.int(2)])
        root = im.dict([("k", im.str("k"), im.tuple([im.int(3), im.float(0.5), im.str("v" * 40)])),
                        ("inner", im.str("inner"), inner),
                        (7, im.int(7), im.set([(b"b", im.bytes(b"b")), ((1, "t"), im.tuple([im.int(1), im.inline(b"t")]))])),
                        ("ints", im.str("ints"), im.list([5, -6], mapcraft.LIST_INT64))])
        img = self.assertValid(im.finish(root))
        d = img.root
        self.assertEqual(d["k"], (3, 0.5, "v" * 40))
        self.assertEqual(list(d["inner"]), [1, 2])
        self.assertIn((1, "t"), d[7])
        self.assertIn(b"b", d[7])
        self.assertEqual(list(d["ints"]), [5, -6])
        self.assertEqual(frost.thaw(d)["k"], (3, 0.5, "v" * 40))

    def test_real_writer_output_is_what_mapcraft_reads(self):
        store = frost.freeze({"a": [1, 2.5, "x"], "b": (None, b"y")})
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.frost")
            store.save(path, format=2)
            with open(path, "rb") as f:
                data = f.read()
        store.close()
        self.assertEqual(data[:8], mapcraft.MAGIC)
        buf = bytearray(data)
        mapcraft.reseal(buf)
        self.assertEqual(bytes(buf), data, "mapcraft.reseal computes the writer's checksums")
        self.assertEqual(self.assertValid(data).root["b"], (None, b"y"))


class Header(HostileCase):
    def setUp(self):
        im = Image()
        self.good = im.finish(im.list([im.int(1), im.str("two")]))

    def test_every_truncation_is_refused(self):
        for n in list(range(0, 130)) + [len(self.good) - 8, len(self.good) - 1]:
            with self.subTest(n=n):
                self.assertRefused(self.good[:n])

    def test_appended_bytes_are_refused(self):
        self.assertRefused(self.good + bytes(8), "header says")

    def test_bad_magic_version_header_size(self):
        for off, b in ((0, b"FROSTMAQ"), (0, b"FROSTSNP"), (8, (1).to_bytes(4, "little")),
                       (8, (3).to_bytes(4, "little")), (8, b"\xff\xff\xff\xff"),
                       (12, (64).to_bytes(4, "little")), (12, (256).to_bytes(4, "little"))):
            with self.subTest(off=off, b=b):
                self.assertRefused(resealed(self.good, {off: b}))

    def test_image_size_that_lies(self):
        for size in (0, 127, 128, len(self.good) - 8, len(self.good) + 8, 1 << 63, (1 << 64) - 1):
            with self.subTest(size=size):
                self.assertRefused(resealed(self.good, {mapcraft.H_IMAGE_SIZE: size.to_bytes(8, "little")}))

    def test_header_checksum_is_checked_on_open(self):
        buf = bytearray(self.good)
        buf[mapcraft.H_ROOT] ^= 0x10     # another root, checksum left as it was
        self.assertRefused(bytes(buf), "checksum")

    def test_body_checksum_is_checked_by_verify_only(self):
        im = Image()
        data = bytearray(im.finish(im.list([im.int(1), im.str("a string of bytes")])))
        data[-3] ^= 0x01    # inside the str's bytes: still UTF-8, still in bounds
        head_only = bytearray(data)
        h = bytearray(head_only[:128])
        h[56:64] = bytes(8)
        head_only[56:64] = mapcraft.xxh64(h).to_bytes(8, "little")
        img = _frost.MapImage(bytes(head_only))          # O(1): the body is not read
        with self.assertRaises(SnapshotError):
            img.verify()
        self.assertEqual(len(img.root), 2)               # reads still work (bounds-checked)

    def test_every_unknown_flag_bit_is_refused(self):
        # bit 0 (no body checksum) with a body checksum is refused too; bit 1
        # (FLAG_BODY_XXH3) is known: alone, it names the body checksum's algorithm
        for bit in [0] + list(range(2, 64)):
            with self.subTest(bit=bit):
                self.assertRefused(resealed(self.good, {mapcraft.H_FLAGS: (1 << bit).to_bytes(8, "little")}))
        xxh3 = resealed(self.good, {mapcraft.H_FLAGS: mapcraft.FLAG_BODY_XXH3.to_bytes(8, "little")})
        _frost.MapImage(xxh3).verify()
        for bits in (mapcraft.FLAG_BODY_XXH3 | 4, mapcraft.FLAG_BODY_XXH3 | (1 << 63)):
            with self.subTest(bits=bits):
                self.assertRefused(resealed(self.good, {mapcraft.H_FLAGS: bits.to_bytes(8, "little")}))

    def test_reserved_bytes_are_zero(self):
        self.assertRefusedOrDamaged(resealed(self.good, {100: b"\x01"}))

    def test_hostile_roots(self):
        n = len(self.good)
        roots = {
            "node in the header": mapcraft.Image.node_ref(0),
            "node at 120": mapcraft.Image.node_ref(120),
            "node at the end": mapcraft.Image.node_ref(n),
            "node past the end": mapcraft.Image.node_ref(n + 8 * 1000),
            "node at the largest offset": (B60 << 4) | mapcraft.NODE,
            "str past the end": ((n - 2) << 20) | (5 << 4) | mapcraft.STR,
            "str at the largest offset": (((1 << 44) - 1) << 20) | (1 << 4) | mapcraft.STR,
            "long str, no length word": ((n - 4) << 20) | (0xFFFF << 4) | mapcraft.STR,
            "float past the end": ((n // 8) << 4) | mapcraft.FLOAT,
            "complex across the end": (((n - 8) // 8) << 4) | mapcraft.COMPLEX,
            "bigint past the end": ((n // 8 + 3) << 4) | mapcraft.BIGINT,
            "special 5": (5 << 4) | mapcraft.SPECIAL,
            "special 2^59": ((1 << 59) << 4) | mapcraft.SPECIAL,
            "inline str of 8 bytes": (8 << 4) | mapcraft.STR_INLINE,
            "inline str of 15 bytes": (15 << 4) | mapcraft.STR_INLINE,
            "inline str, invalid UTF-8": (0xFF << 8) | (1 << 4) | mapcraft.STR_INLINE,
            "inline bytes of 9": (9 << 4) | mapcraft.BYTES_INLINE,
        }
        roots.update({f"tag {t:#x}": (1 << 4) | t for t in range(0xB, 0x10)})
        for what, root in roots.items():
            with self.subTest(what):
                self.assertRefusedOrDamaged(resealed(self.good, {mapcraft.H_ROOT: (root & mapcraft.M64).to_bytes(8, "little")}))

    def test_nnodes_that_lies_is_found_by_verify(self):
        data = resealed(self.good, {mapcraft.H_NNODES: (1000).to_bytes(8, "little")})
        img = _frost.MapImage(data)
        with self.assertRaises(SnapshotError):
            img.verify()


# references that must never be followed outside the image; each is placed as item 1
# of a list (item 0 is fine), so the image opens and the damage is met at root[1]
def _hostile_refs():
    R = {}
    R["str one byte past the end"] = lambda im: ((len(im.buf) + 64) << 20) | (1 << 4) | mapcraft.STR
    R["str whose length runs past the end"] = lambda im: (im.raw(b"abc", 1) << 20) | (0xFFFE << 4) | mapcraft.STR
    R["long str, length 2^64-1"] = lambda im: (im.words((1 << 64) - 1) << 20) | (0xFFFF << 4) | mapcraft.STR
    R["long str, length 2^63"] = lambda im: (im.words(1 << 63) << 20) | (0xFFFF << 4) | mapcraft.STR
    R["long str, length word misaligned"] = lambda im: ((im.words(3, 0x616263) + 1) << 20) | (0xFFFF << 4) | mapcraft.STR
    R["str, lone continuation byte"] = lambda im: im.str(b"a\x80b")
    R["str, truncated sequence"] = lambda im: im.str(b"ab\xe2\x98")
    R["str, overlong NUL"] = lambda im: im.str(b"\xc0\x80")
    R["str, beyond U+10FFFF"] = lambda im: im.str(b"\xf4\x90\x80\x80")
    R["str, 0xFF"] = lambda im: im.str(b"\xff")
    R["bytes past the end"] = lambda im: ((len(im.buf) + 4096) << 20) | (2 << 4) | mapcraft.BYTES
    R["inline str, invalid UTF-8"] = lambda im: (0x80FF << 8) | (2 << 4) | mapcraft.STR_INLINE
    R["inline str, length 8"] = lambda im: (0x41 << 8) | (8 << 4) | mapcraft.STR_INLINE
    R["float past the end"] = lambda im: (((len(im.buf) + 4096) // 8) << 4) | mapcraft.FLOAT
    R["complex past the end"] = lambda im: (((len(im.buf) + 4096) // 8) << 4) | mapcraft.COMPLEX
    R["bigint of 0 bytes"] = lambda im: ((im.words(0) // 8) << 4) | mapcraft.BIGINT
    R["bigint of 2^24+1 bytes"] = lambda im: ((im.words((1 << 24) + 1) // 8) << 4) | mapcraft.BIGINT
    R["bigint of 2^64-1 bytes"] = lambda im: ((im.words((1 << 64) - 1) // 8) << 4) | mapcraft.BIGINT
    R["node past the end"] = lambda im: im.node_ref(len(im.buf) + 4096)
    R["node at the largest offset"] = lambda im: (B60 << 4) | mapcraft.NODE
    R["node in the header"] = lambda im: im.node_ref(64)
    R["node of kind 0"] = lambda im: im.node_ref(im.words(head(0, 0, 1), 0))
    R["node of kind 7"] = lambda im: im.node_ref(im.words(head(7, 0, 0)))
    R["node of kind 255"] = lambda im: im.node_ref(im.words(head(255, 0, 0)))
    R["list longer than the image"] = lambda im: im.node_ref(im.words(head(mapcraft.K_LIST, 0, (1 << 48) - 1)))
    R["int64 list longer than the image"] = lambda im: im.node_ref(im.words(head(mapcraft.K_LIST, 1, 1 << 40)))
    R["list with unknown flags"] = lambda im: im.node_ref(im.words(head(mapcraft.K_LIST, 3, 1), 0))
    R["tuple with flags"] = lambda im: im.node_ref(im.words(head(mapcraft.K_TUPLE, 1, 1), im.int(1)))
    R["a node head inside a str's bytes"] = lambda im: im.node_ref(im.raw(b"\x02\x00\xff\xff\xff\xff\xff\x00"))
    for t in range(0xB, 0x10):
        R[f"tag {t:#x}"] = (lambda tag: lambda im: (12345 << 4) | tag)(t)
    return R


HOSTILE_REFS = _hostile_refs()

# references the spec does not plainly forbid: whatever the reader decides, safely
ODD_REFS = {
    "float in the header": lambda im: (1 << 4) | mapcraft.FLOAT,
    "str in the header": lambda im: (8 << 20) | (16 << 4) | mapcraft.STR,
    "bigint that fits 60 bits": lambda im: im.bigint(5, nbytes=1),
    "long str, length < 0xFFFF": lambda im: (im.words(3, 0x616263) << 20) | (0xFFFF << 4) | mapcraft.STR,
    "inline str, bytes after its length": lambda im: (0x4141 << 8) | (1 << 4) | mapcraft.STR_INLINE,
    "special 4 as a key part": lambda im: im.tuple([im.special(mapcraft.EMPTY_TUPLE)]),
}

# encodings the spec forbids that a read can't tell from good ones: verify() refuses them
UNCANONICAL_REFS = {
    "bigint not minimal": lambda im: im.bigint(5, nbytes=9),
    "bigint of 2^70, one byte too many": lambda im: im.bigint(2**70, nbytes=11),
}


class References(HostileCase):
    def test_each_hostile_reference(self):
        for what, make in HOSTILE_REFS.items():
            with self.subTest(what):
                self.assertDamaged(with_item(make), item=1)

    def test_uncanonical_references(self):
        for what, make in UNCANONICAL_REFS.items():
            with self.subTest(what):
                self.assertRefusedOrDamaged(with_item(make), reached=False)

    def test_odd_references(self):
        for what, make in ODD_REFS.items():
            with self.subTest(what):
                self.assertSafe(with_item(make))


class Tables(HostileCase):
    """A dict/set node (frost_map.h: head, log2, hash_lo[len], entries[len], index[nslots])."""

    def table(self, n=4, **kw):
        im = Image()
        items = [(f"k{i}", im.str(f"k{i}"), im.int(i)) for i in range(n)]
        return im, im.dict(items, **kw)

    def finish(self, im, ref):
        return im.finish(im.list([im.int(0), ref]))

    def test_log2_out_of_range(self):
        for log2 in (0, 1, 2, 33, 63, (1 << 64) - 1):
            with self.subTest(log2=log2):
                im, ref = self.table()
                data = bytearray(self.finish(im, ref))
                put64(data, node_at(ref) + 8, log2)
                mapcraft.reseal(data)
                self.assertDamaged(bytes(data), item=1)

    def test_too_full(self):
        im, ref = self.table(n=6, log2=3)     # 6 > 8 * 2 / 3
        self.assertDamaged(self.finish(im, ref), item=1)

    def test_entry_number_out_of_range(self):
        # the slot a probe for "k0" looks at first names entry 99 of 4
        im = Image()
        items = [(f"k{i}", im.str(f"k{i}"), im.int(i)) for i in range(4)]
        idx = [mapcraft.EMPTY_SLOT] * 8
        for i, (k, _, _) in enumerate(items):
            slot = mapcraft.key_hash(k, im.hash_key) & 7
            while idx[slot] != mapcraft.EMPTY_SLOT:
                slot = (slot + 1) & 7
            idx[slot] = i
        idx[mapcraft.key_hash("k0", im.hash_key) & 7] = 99
        ref = im.dict(items, index=idx)
        img = self.assertDamaged(self.finish(im, ref))
        with self.assertRaises(SnapshotError):
            img.root[1]["k0"]

    def test_lookup_of_an_absent_key_in_an_index_with_no_empty_slot_ends(self):
        # every slot names an entry: a probe for a key that is not there has no empty slot
        # to stop at; it must stop after nslots probes (or the table be refused)
        im = Image()
        items = [(i, im.int(i), im.int(i)) for i in range(5)]
        ref = im.dict(items, index=[0, 1, 2, 3, 4, 0, 1, 2], log2=3)
        data = self.finish(im, ref)
        r = run_child(textwrap.dedent(f"""
            import frost
            from frost import _frost
            img = _frost.MapImage({data!r})
            try:
                d = img.root[1]
                for k in ("absent", 99, (1, 2), b"x", 2.5):
                    try:
                        d[k]
                    except KeyError:
                        pass
                    assert (k in d) is False
                    assert d.get(k) is None
            except frost.SnapshotError:
                pass
            try:
                img.verify()
                raise SystemExit("verify passed an index without an empty slot")
            except frost.SnapshotError:
                pass
            print("done")
        """), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "done")

    def test_an_entry_twice_in_the_index(self):
        im = Image()
        items = [("a", im.str("a"), im.int(1)), ("b", im.str("b"), im.int(2))]
        ref = im.dict(items, index=[0, 0] + [mapcraft.EMPTY_SLOT] * 6)
        self.assertRefusedOrDamaged(self.finish(im, ref), reached=False)

    def test_duplicate_keys(self):
        im = Image()
        items = [("a", im.str("a"), im.int(1)), ("a", im.str("a"), im.int(2))]
        self.assertRefusedOrDamaged(self.finish(im, im.dict(items)), reached=False)

    def test_wrong_stored_hash(self):
        im, ref = self.table(hashes=[0, 1, 2, 3])
        self.assertRefusedOrDamaged(self.finish(im, ref), reached=False)

    def test_entry_not_reachable_by_its_hash(self):
        # a correct hash_lo, but the index puts it where no probe for it looks first
        im = Image()
        items = [("a", im.str("a"), im.int(1))]
        h = mapcraft.key_hash("a", im.hash_key) & 7
        idx = [mapcraft.EMPTY_SLOT] * 8
        idx[(h + 3) & 7] = 0
        self.assertRefusedOrDamaged(self.finish(im, im.dict(items, index=idx)), reached=False)

    def test_unhashable_keys(self):
        # keys are leaves or tuples of leaves: a list/dict node, a tuple holding a list
        for what in ("list", "dict", "tuple of a list", "set"):
            with self.subTest(what):
                im = Image()
                inner = im.list([im.int(1)])
                key = {"list": inner, "dict": im.dict([]), "set": im.set([]),
                       "tuple of a list": im.tuple([im.int(1), inner])}[what]
                items = [("x", key, im.int(1))]   # hashed as "x": the kind check must come first
                self.assertRefusedOrDamaged(self.finish(im, im.dict(items)), reached=True)

    def test_a_container_key_is_damage_at_every_read(self):
        # a key is checked as it is read, as verify checks it: before, a set node's
        # key was handed out as a view (a MappedSet holding itself: hash() and ==
        # recursed until the C stack overflowed, SIGSEGV)
        for what in ("the set itself", "a tuple holding the set", "another set", "a list"):
            with self.subTest(what):
                im = Image()
                placeholder = im.int(12345)   # patched into the set's own reference below
                if what == "the set itself":
                    key = placeholder
                elif what == "a tuple holding the set":
                    key = im.tuple([im.int(1), placeholder])
                else:
                    key = im.set([]) if what == "another set" else im.list([im.int(1)])
                ref = im.set([("x", key)])
                data = bytearray(im.finish(ref))
                if what in ("the set itself", "a tuple holding the set"):
                    put64(data, data.index(struct.pack("<Q", placeholder), mapcraft.HEADER), ref)
                    mapcraft.reseal(data)
                try:
                    img = _frost.MapImage(bytes(data))
                except SnapshotError:
                    continue   # refused at open: nothing to read
                s = img.root
                for name, read in (("iter", lambda: list(s)), ("hash", lambda: hash(s)),
                                   ("eq", lambda: s == frozenset({1})), ("in", lambda: s in s),
                                   ("frozenset", lambda: frozenset(s)), ("or", lambda: s | {1}),
                                   ("le", lambda: s <= s), ("repr", lambda: repr(s)),
                                   ("copy", lambda: s.copy()), ("verify", img.verify)):
                    with self.subTest(what, read=name):
                        self.assertRaises(SnapshotError, read)

    def test_table_running_past_the_end(self):
        im, ref = self.table(n=4)
        data = self.finish(im, ref)
        off = node_at(ref)
        self.assertRefusedOrDamaged(resealed(data, {off: head(mapcraft.K_DICT, 0, 5).to_bytes(8, "little")}))
        self.assertRefusedOrDamaged(resealed(data, {off + 8: (20).to_bytes(8, "little")}))

    def test_set_node_where_a_dict_is_read(self):
        im = Image()
        s = im.set([("a", im.str("a"))])
        data = bytearray(im.finish(im.list([s])))
        put64(data, node_at(s), head(mapcraft.K_DICT, 0, 1))   # its entries are 8 bytes, not 16
        mapcraft.reseal(data)
        self.assertRefusedOrDamaged(bytes(data))

    def test_queries_of_every_kind_on_a_good_table(self):
        im = Image()
        keys = ["a", b"b", 3, 2.5, None, (1, "x")]
        refs = [im.str("a"), im.bytes(b"b"), im.int(3), im.float(2.5),
                im.special(mapcraft.NONE), im.tuple([im.int(1), im.str("x")])]
        d = self.assertValid(im.finish(im.dict([(k, r, im.int(i)) for i, (k, r) in enumerate(zip(keys, refs))]))).root
        for i, k in enumerate(keys):
            self.assertEqual(d[k], i)

        class Evil(str):
            def __eq__(self, other):
                raise ZeroDivisionError("the reader ran a query's __eq__")

            def __hash__(self):
                raise ZeroDivisionError("the reader ran a query's __hash__")

        class Plain(str):
            pass
        self.assertEqual(d[Plain("a")], 0)    # subclasses keeping str's ==: by value
        with self.assertRaisesRegex(ZeroDivisionError, "__hash__"):
            d[Evil("a")]                      # their own __hash__/__eq__: as a dict does
        self.assertEqual(d[3.0], 2)
        deep = ()
        for _ in range(400):
            deep = (deep,)
        for q in ([1], {}, deep, (1, [2]), object(), 2**200, float("nan"), "\ud800", -1, -2):
            with self.subTest(q=type(q).__name__):
                try:
                    self.assertNotIn(q, d)
                    self.assertIsNone(d.get(q))
                except TypeError:
                    pass     # an unhashable query may say so, as a dict does


class Tuples(HostileCase):
    def test_a_tuple_that_holds_itself(self):
        im = Image()
        off = im.align()
        im.words(head(mapcraft.K_TUPLE, 0, 1), im.node_ref(off))
        self.assertDamaged(im.finish(im.list([im.node_ref(off)])), item=0)

    def test_two_tuples_that_hold_each_other(self):
        im = Image()
        a = im.align()
        b = a + 16
        im.words(head(mapcraft.K_TUPLE, 0, 1), im.node_ref(b))
        im.words(head(mapcraft.K_TUPLE, 0, 1), im.node_ref(a))
        self.assertDamaged(im.finish(im.list([im.node_ref(a)])), item=0)

    def test_nesting_deeper_than_the_limit(self):
        im = Image()
        t = im.tuple([im.int(1)])
        for _ in range(300):
            t = im.tuple([t])
        self.assertDamaged(im.finish(im.list([t])), item=0)

    def test_a_tuple_key_that_holds_itself(self):
        im = Image()
        off = im.align()
        im.words(head(mapcraft.K_TUPLE, 0, 1), im.node_ref(off))
        items = [("x", im.node_ref(off), im.int(1))]
        self.assertRefusedOrDamaged(im.finish(im.dict(items)), reached=False)

    def test_billion_laughs(self):
        # T0 = (T1, T1), T1 = (T2, T2), ... 64 levels: a 1 KB file whose every path is
        # 2^64 leaves. Reading, hashing, comparing, verifying and thawing it must cost
        # what the file holds, not what its paths hold.
        im = Image()
        t = im.tuple([im.int(7), im.str("leaf")])
        for _ in range(64):
            t = im.tuple([t, t])
        data = im.finish(im.dict([("k", im.str("k"), t)]))
        im2 = Image()
        t2 = im2.tuple([im2.int(7)])
        for _ in range(64):
            t2 = im2.tuple([t2, t2])
        as_key = im2.finish(im2.set([("placeholder", t2)]))
        code = textwrap.dedent(f"""
            import os, resource
            if "ASAN_OPTIONS" not in os.environ and "TSAN_OPTIONS" not in os.environ:
                # a blow-up fails as MemoryError, not by eating the machine (a sanitizer's
                # shadow memory needs the address space: there the deadline alone bounds it)
                resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
            import frost, mapwalk
            from frost import _frost
            for data in ({data!r}, {as_key!r}):
                img = _frost.MapImage(data)
                try:
                    img.verify()
                except frost.SnapshotError:
                    pass
                try:
                    root = img.root
                    v = root["k"] if "k" in getattr(root, "keys", lambda: ())() else None
                    if v is not None:
                        assert v[0] is v[1]    # shared, as the file shares it
                    mapwalk.walk(root, budget=10_000)
                    (1, 2) in root
                except frost.SnapshotError:
                    pass
            print("done")
        """)
        r = run_child(code, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertEqual(r.stdout.strip(), "done")


class Records(HostileCase):
    def test_hostile_records(self):
        cases = {
            "module is an int": lambda im: im.record(im.int(1), im.str("Q"), im.dict([])),
            "qualname is a list": lambda im: im.record(im.str("m"), im.list([]), im.dict([])),
            "dataclass state is a list": lambda im: im.record(im.str("m"), im.str("Q"), im.list([im.int(1)]), 0),
            "unknown record kind": lambda im: im.record(im.str("m"), im.str("Q"), im.dict([]), 7),
            "record with len 1": lambda im: im.node_ref(im.words(head(mapcraft.K_RECORD, 0, 1), im.str("m"), im.str("Q"), im.node_ref(0))),
            "state past the end": lambda im: im.record(im.str("m"), im.str("Q"), im.node_ref(1 << 30)),
        }
        cases["dataclass field named by a non-str"] = lambda im: im.record(
            im.str("m"), im.str("Q"), im.dict([(None, im.special(mapcraft.NONE), im.int(1))]), 0)
        cases["namedtuple field named by an int"] = lambda im: im.record(
            im.str("m"), im.str("Q"), im.dict([(3, im.int(3), im.int(1))]), 1)
        semantic = {"dataclass state is a list", "dataclass field named by a non-str",
                    "namedtuple field named by an int"}
        for what, make in cases.items():
            with self.subTest(what):
                self.assertRefusedOrDamaged(with_item(make), reached=what not in semantic)

    def test_a_record_from_an_image_imports_nothing(self):
        # module "this" prints the Zen of Python when imported: a read that imports it fails
        import sys
        self.assertNotIn("this", sys.modules)
        im = Image()
        state = im.dict([("x", im.str("x"), im.int(1))])
        data = im.finish(im.list([im.record(im.str("this"), im.str("Point"), state, 0)]))
        img = self.assertValid(data)
        rec = img.root[0]
        self.assertEqual((rec._module, rec._qualname), ("this", "Point"))
        self.assertEqual(rec._state["x"], 1)
        out = frost.thaw(img.root)[0]
        self.assertEqual(out.x, 1)
        self.assertNotIn("this", sys.modules)


class Arrays(HostileCase):
    BOUNDS = {"ndim 65", "shape overflows", "zero extent, strides overflow", "data past the end",
              "data runs past the end", "format past the end", "format length huge",
              "nbytes != itemsize * shape", "data in the header"}

    def array(self, im, fmt="d", itemsize=8, data=b"\0" * 24, shape=(3,), **over):
        """An ARRAY node with some of its words replaced: over = {name: value}."""
        fmt_off = im.raw(fmt.encode("latin-1") + b"\0", 1)
        data_off = im.raw(bytes(data), 64)
        fields = {"itemsize": itemsize, "nbytes": len(data), "format_offset": fmt_off,
                  "format_len": len(fmt), "data_offset": data_off}
        fields.update(over)
        ndim = over.pop("ndim", len(shape))
        im.nnodes += 1
        return im.node_ref(im.words(head(mapcraft.K_ARRAY, over.pop("origin", 2), ndim),
                                    fields["itemsize"], fields["nbytes"], fields["format_offset"],
                                    fields["format_len"], fields["data_offset"], *shape))

    def test_array_data_in_the_header(self):
        # in bounds and 64-aligned: the reader may take it or refuse it, safely
        im = Image()
        self.assertSafe(im.finish(im.list([self.array(im, data_offset=0)])))

    def test_a_good_array(self):
        im = Image()
        a = self.array(im, data=struct.pack("<3d", 1, 2, 3))
        arr = self.assertValid(im.finish(im.list([a]))).root[0]
        self.assertEqual(arr.tolist(), [1.0, 2.0, 3.0])
        self.assertTrue(memoryview(arr).readonly)

    def test_hostile_arrays(self):
        cases = {
            "ndim 65": dict(shape=(1,) * 65, data=b"\0" * 8),
            "nbytes != itemsize * shape": dict(nbytes=32),
            "itemsize != the format's": dict(itemsize=4),
            "itemsize 0": dict(itemsize=0),
            "shape overflows": dict(shape=(1 << 32, 1 << 32, 4), data=b"\0" * 8),
            # no bytes, but strides past Py_ssize_t (UBSan: signed overflow in the reader)
            "zero extent, strides overflow": dict(shape=(0, 1 << 40, 1 << 40), data=b""),
            "shape product 0 but bytes": dict(shape=(0,)),
            "data past the end": dict(data_offset=1 << 40),
            "data misaligned": dict(data_offset=8),
            "data runs past the end": dict(nbytes=1 << 20, shape=(1 << 17,)),
            "format past the end": dict(format_offset=1 << 40),
            "format without its NUL": dict(format_len=2),
            "format length huge": dict(format_len=(1 << 64) - 1),
            "format that struct refuses": dict(fmt="zz", itemsize=8),
            "format with a NUL inside": dict(fmt="d\0d", format_len=3),
            "unknown origin": dict(origin=9),
        }
        for what, over in cases.items():
            with self.subTest(what):
                im = Image()
                a = self.array(im, **over)
                self.assertRefusedOrDamaged(im.finish(im.list([a])), reached=what in self.BOUNDS)


def _pyarrow():
    try:
        import pyarrow
    except ImportError:   # pragma: no cover
        raise unittest.SkipTest("pyarrow is not installed")
    return pyarrow


class TableNodes(HostileCase):
    """COLUMNS nodes (a frost.Table's blob, store/frost_columns.h): the node is checked
    when followed, the blob in full (frost_map_columns_check) before any of it is used;
    the blob-level damage cases are test_table_snapshot.TableSnapshotFormat2's."""

    def blob(self):
        pa = _pyarrow()
        t = pa.table({"i": pa.array([1, None, 3], pa.int64()), "s": ["ab", None, "c"],
                      "d": pa.array(["x", "y", "x"]).dictionary_encode(), "l": [[1], [], None]})
        with frost.freeze(t) as store:
            return t, _frost._table_blob(store.root)

    def image(self, blob, **over):
        im = Image()
        return im.finish(im.dict([("t", im.str("t"), im.columns(blob, **over)),
                                  ("n", im.str("n"), im.int(7))]))

    def test_a_good_table_node(self):
        t, blob = self.blob()
        img = self.assertValid(self.image(blob))
        view = img.root["t"]
        self.assertIsInstance(view, frost.MappedTable)
        self.assertTrue(_pyarrow().table(view).equals(t))
        self.assertEqual(frost.thaw(img.root)["t"]["s"], ["ab", None, "c"])

    def test_hostile_table_nodes(self):
        _, blob = self.blob()
        cases = {
            "unknown flags": dict(flags=1),
            "a length": dict(length=3),
            "blob misaligned": dict(align=72),
            "blob size past the end": dict(size=len(blob) + 64),
            "blob size huge": dict(size=(1 << 64) - 64),
            "blob size 0": dict(size=0),
            "blob shorter than its header says": dict(size=len(blob) - 64),
        }
        for what, over in cases.items():
            with self.subTest(what):
                self.assertDamaged(self.image(blob, **over), item="t")

    def test_blob_offsets_anywhere(self):
        # a node whose blob offset points at the header, at the node itself, past the end
        _, blob = self.blob()
        for blob_off in (0, 64, 128, 1 << 40, (1 << 64) - 64):
            with self.subTest(blob_off=blob_off):
                im = Image()
                im.nnodes += 1
                node = im.node_ref(im.words(head(mapcraft.K_COLUMNS, 0, 0), blob_off, len(blob)))
                self.assertDamaged(im.finish(im.dict([("t", im.str("t"), node)])), item="t")

    def test_a_table_node_is_no_key(self):
        _, blob = self.blob()
        im = Image()
        t = im.columns(blob)
        self.assertRefusedOrDamaged(im.finish(im.dict([(None, t, im.int(1))])), reached=False)

    def test_a_table_node_in_a_tuple(self):
        t, blob = self.blob()
        im = Image()
        img = self.assertValid(im.finish(im.list([im.tuple([im.columns(blob), im.int(1)])])))
        view, one = img.root[0]
        self.assertEqual((view.num_rows, one), (3, 1))

    def test_blobs_that_repeat_or_nest_are_checked_within_the_image_size(self):
        # the check is O(blob): nodes sharing one blob are checked once; valid blobs nested
        # in each other (one inside the other's binary column) would each be checked, so
        # the bytes checked per mapping are bounded by the image size (linear, not
        # quadratic), and verify() bounds its sum over nodes the same way
        pa = _pyarrow()
        t, inner = self.blob()
        im = Image()
        b = im.columns(inner)
        blob_off = struct.unpack_from("<Q", im.buf, (b >> 4) * 8 + 8)[0]
        im.nnodes += 5
        nodes = [b] + [im.node_ref(im.words(head(mapcraft.K_COLUMNS, 0, 0), blob_off, len(inner)))
                       for _ in range(5)]
        data = im.finish(im.list(nodes))
        img = _frost.MapImage(data)
        self.assertEqual([len(v) for v in img.root], [3] * 6)   # six nodes, one blob: checked once
        with self.assertRaisesRegex(SnapshotError, "blobs overlap or repeat"):
            img.verify()
        outer_table = pa.table({"b": pa.array([inner], pa.binary())})
        with frost.freeze(outer_table) as store:
            outer = _frost._table_blob(store.root)
        at = outer.find(inner)
        self.assertEqual(at % 64, 0)
        for first in ("outer", "inner"):
            with self.subTest(first=first):
                im = Image()
                o = im.columns(outer)
                blob_off = struct.unpack_from("<Q", im.buf, (o >> 4) * 8 + 8)[0]
                im.nnodes += 1
                i = im.node_ref(im.words(head(mapcraft.K_COLUMNS, 0, 0), blob_off + at, len(inner)))
                data = im.finish(im.dict([("outer", im.str("outer"), o), ("inner", im.str("inner"), i)]))
                img = _frost.MapImage(data)
                second = "inner" if first == "outer" else "outer"
                self.assertIsInstance(img.root[first], frost.MappedTable)
                with self.assertRaisesRegex(SnapshotError, "blobs overlap or repeat"):
                    img.root[second]
                with self.assertRaisesRegex(SnapshotError, "blobs overlap or repeat"):
                    img.verify()
                self.assertEqual(mapwalk.check_image(data), "damaged")

    def test_random_damage_in_the_blob_never_crashes(self):
        pa = _pyarrow()
        _, blob = self.blob()
        data = self.image(blob)
        start = data.find(blob)
        import random
        rng = random.Random(13)
        outcomes = set()
        for i in range(300):
            buf = bytearray(data)
            pos = start + rng.randrange(len(blob))
            if i % 2:
                buf[pos & ~7:(pos & ~7) + 8] = rng.getrandbits(64).to_bytes(8, "little")
            else:
                buf[pos] ^= 1 << rng.randrange(8)
            mapcraft.reseal(buf)
            with self.subTest(i=i, pos=pos - start):
                outcomes.add(mapwalk.check_image(bytes(buf)))
        self.assertIn("damaged", outcomes)
        self.assertIsNotNone(pa)

    def test_exports_outlive_a_buffer_image(self):
        # an image over bytes (no shared mapping to pin): the table reads a private copy,
        # which every export keeps, so the MapImage and its buffer may go first
        pa = _pyarrow()
        t, blob = self.blob()
        for misaligned in (False, True):
            with self.subTest(misaligned=misaligned):
                data = self.image(blob)
                if misaligned:
                    data = memoryview(b"x" + data)[1:]
                img = _frost.MapImage(data)
                back = pa.table(img.root["t"])
                stream = img.root["t"].__arrow_c_stream__()
                del img, data
                self.assertTrue(back.equals(t))
                self.assertTrue(pa.RecordBatchReader._import_from_c_capsule(stream).read_all().equals(t))

    def test_a_writable_buffer_changed_after_the_table_was_reached(self):
        # the table reads the copy that was checked, never the buffer the enemy holds
        pa = _pyarrow()
        t, blob = self.blob()
        buf = bytearray(self.image(blob))
        img = _frost.MapImage(buf)
        view = img.root["t"]
        start = bytes(buf).find(blob)
        buf[start:start + len(blob)] = b"\xff" * len(blob)
        self.assertTrue(pa.table(view).equals(t))
        self.assertEqual(view["s"].tolist(), ["ab", None, "c"])
        del view
        # a new reach of the table reads the same checked copy; verify() reads the buffer
        self.assertTrue(pa.table(img.root["t"]).equals(t))
        with self.assertRaises(SnapshotError):
            img.verify()
        del img


class Structure(HostileCase):
    def test_a_list_that_holds_itself_is_legal(self):
        im = Image()
        off = im.align()
        me = im.node_ref(off)
        im.words(head(mapcraft.K_LIST, 0, 2), im.int(1), me)
        im.nnodes += 1
        img = self.assertValid(im.finish(me))
        self.assertEqual(img.root[1].node_offset, img.root.node_offset)

    def test_deep_chains_do_not_overflow_the_stack(self):
        # 200,000 nested lists (3.2 MB): verify, walk, thaw in a child (a C recursion
        # would crash it, not raise)
        code = textwrap.dedent("""
            import frost, mapcraft, mapwalk
            from frost import _frost
            im = mapcraft.Image()
            r = im.list([im.int(0)])
            for _ in range(200_000):
                r = im.list([r])
            img = _frost.MapImage(im.finish(r))
            for step in ("verify", "walk", "thaw"):
                try:
                    if step == "verify":
                        img.verify()
                    elif step == "walk":
                        mapwalk.walk(img.root)
                    else:
                        frost.thaw(img.root)
                except (frost.SnapshotError, RecursionError, frost.FreezeError) as e:
                    print(step, type(e).__name__)
            print("done")
        """)
        r = run_child(code, timeout=600)     # a deadline for a hang, not a timing
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("done", r.stdout)

    def test_overlapping_nodes(self):
        # a list whose items region is also a dict's table: each read bounds- and
        # kind-checked, whatever it means
        im = Image()
        inner = im.dict([("a", im.str("a"), im.int(1))])
        off = node_at(inner)
        outer = im.node_ref(off - 8 if off >= 136 else off)
        self.assertSafe(im.finish(im.list([inner, outer, im.node_ref(off + 8)])))

    def test_view_at_every_offset(self):
        im = Image()
        root = im.dict([("a", im.str("a"), im.list([im.int(1), im.str("x" * 20)])),
                        ("b", im.str("b"), im.set([(1, im.int(1))])),
                        ("c", im.str("c"), im.tuple([im.float(0.25), im.bytes(b"zz")]))])
        data = im.finish(root)
        img = _frost.MapImage(data)
        for off in list(range(0, len(data) + 16)) + [1 << 40, (1 << 63) - 8, (1 << 64) - 8, -8, -1]:
            with self.subTest(off=off):
                try:
                    v = img.view_at(off)
                except (SnapshotError, OverflowError, ValueError):
                    continue
                try:
                    mapwalk.walk(v, budget=1000)
                except SnapshotError:
                    pass

    def test_every_byte_flipped_and_resealed(self):
        # every single-byte change of a small image, checksums recomputed: each is
        # refused, damaged or still valid, and when verify() passes every read agrees
        im = Image()
        root = im.dict([("k", im.str("k"), im.tuple([im.int(1), im.float(0.5), im.str("val")])),
                        ("l", im.str("l"), im.list([im.int(3), im.bytes(b"bb")]))])
        data = im.finish(root)
        for off in range(len(data)):
            if off in range(mapcraft.H_BODY_SUM, mapcraft.H_HEADER_SUM + 8):
                continue
            for x in (0x01, 0x80, 0xFF):
                with self.subTest(off=off, xor=x):
                    buf = bytearray(data)
                    buf[off] ^= x
                    mapcraft.reseal(buf)
                    self.assertSafe(bytes(buf))


class Buffers(HostileCase):
    """What MapImage is handed, and what happens to it afterwards."""

    def good(self):
        im = Image()
        lst = im.list([im.int(1), im.str("two"), im.list([im.int(3)])])
        return im.finish(lst), node_at(lst)

    def test_non_buffers_and_strided_buffers(self):
        data, _ = self.good()
        for bad in (None, 1, "str", [data]):
            with self.subTest(type(bad).__name__):
                with self.assertRaises(TypeError):
                    _frost.MapImage(bad)
        mv = memoryview(data + data)[::2]      # not contiguous
        with self.assertRaises((TypeError, ValueError, BufferError)):
            _frost.MapImage(mv)

    def test_misaligned_buffer(self):
        data, _ = self.good()
        backing = bytearray(len(data) + 1)
        backing[1:] = data
        mv = memoryview(backing)[1:]
        try:
            img = _frost.MapImage(mv)
        except (SnapshotError, ValueError):
            return         # refusing an image not 8-aligned is fine
        self.assertEqual(img.root[1], "two")
        img.verify()

    def test_a_writable_buffer_changed_after_open(self):
        # an enemy holding the bytes under a reader: every access re-checks what it reads
        data, list_off = self.good()
        buf = bytearray(data)
        try:
            img = _frost.MapImage(buf)
        except (SnapshotError, TypeError, ValueError, BufferError):
            return         # refusing writable buffers is the other safe answer
        root = img.root
        self.assertEqual(root[1], "two")
        put64(buf, list_off, head(mapcraft.K_LIST, 0, (1 << 48) - 1))      # len: huge
        try:
            for i in range(5):
                root[i]
        except (SnapshotError, IndexError):
            pass
        put64(buf, list_off, head(9, 0, 3))      # kind: unknown
        for fn in (lambda: root[0], lambda: list(root), lambda: len(root), img.verify,
                   lambda: frost.thaw(root)):
            try:
                fn()
            except (SnapshotError, IndexError):
                pass
        buf[:] = bytes(len(buf))                  # all zero, header included
        for fn in (lambda: root[2], img.verify, lambda: img.view_at(list_off)):
            try:
                fn()
            except (SnapshotError, IndexError):
                pass
        del root, img
        buf.extend(b"x")      # nothing still holds the buffer

    def test_writer_racing_readers_in_threads(self):
        data, list_off = self.good()
        buf = bytearray(data)
        try:
            img = _frost.MapImage(buf)
        except (SnapshotError, TypeError, ValueError, BufferError):
            return
        stop = threading.Event()
        errors = []

        def read():
            while not stop.is_set():
                try:
                    mapwalk.walk(img.root, budget=100)
                    img.verify()
                except (SnapshotError, IndexError):
                    pass
                except Exception as e:   # noqa: BLE001
                    errors.append(e)
                    return
        threads = [threading.Thread(target=read) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            words = [head(mapcraft.K_LIST, 0, 3), head(mapcraft.K_LIST, 0, 1 << 40),
                     head(mapcraft.K_DICT, 0, 3), head(0, 0, 0)]
            for i in range(2000):
                put64(buf, list_off, words[i % len(words)])
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(errors, [])

    def test_the_image_outlives_its_creator_reference(self):
        data, _ = self.good()
        img = _frost.MapImage(bytes(data))
        inner = img.root[2]
        del img
        self.assertEqual(list(inner), [3])
        self.assertEqual(inner.image.root[1], "two")

    def test_views_do_not_pickle_without_a_handle(self):
        data, _ = self.good()
        img = _frost.MapImage(data)
        for v in (img.root, img.root[2]):
            with self.assertRaises(TypeError) as cm:
                pickle.dumps(v)
            self.assertIn("share", str(cm.exception))

    def test_verify_progress_callback_that_misbehaves(self):
        im = Image()
        r = im.list([im.list([im.int(i)]) for i in range(100_000)])
        img = _frost.MapImage(im.finish(r))
        calls = []

        def boom(done, total):
            calls.append((done, total))
            raise KeyboardInterrupt

        try:
            img.verify(progress=boom)
        except KeyboardInterrupt:
            self.assertTrue(calls)
        self.assertIsNone(img.verify(progress=lambda d, t: None))

        def drop(done, total):
            nonlocal img
            img = None           # the caller's reference: verify holds its own
        _frost.MapImage(im.finish(r)).verify(progress=drop)


# ---------------------------------------------------------------------------
# files and handles (frost.load, frost.share, pickled handles: python/frost/_mapped.py)


def saved(value, test):
    """The path of a format-2 file of `value` (removed after the test)."""
    fd, path = tempfile.mkstemp(suffix=".frost")
    os.close(fd)
    test.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
    store = frost.freeze(value)
    store.save(path, format=2)
    store.close()
    return path


class _Forged:
    """Pickles as an arbitrary call: what an enemy puts in a pickle."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


W = {f"key{i:05d}": (i, i * 0.5, f"val{i}") for i in range(3000)}


class Files(HostileCase):
    def run_ok(self, code, timeout=60):
        r = run_child(textwrap.dedent(code), timeout=timeout)
        self.assertEqual(r.returncode, 0, f"the reader died (signal {-r.returncode})"
                         if r.returncode < 0 else r.stderr[-2000:])
        return r.stdout

    def test_file_truncated_under_a_reader(self):
        # another process truncates the file a reader has mapped: pages past the new end
        # fault (SIGBUS) in a plain mapping; a frost reader must not die of it
        path = saved(W, self)
        out = self.run_ok(f"""
            import os, frost
            s = frost.load({path!r})
            root = s.root
            assert root["key00001"][0] == 1
            os.truncate({path!r}, 128)          # header only: every node is gone
            try:
                for i in range(0, 3000, 7):
                    root[f"key{{i:05d}}"]
                s.verify()
            except (frost.SnapshotError, OSError, KeyError) as e:   # the bytes are gone
                print("refused", type(e).__name__)
            print("alive")
        """)
        self.assertIn("alive", out)

    def test_file_rewritten_in_place_under_a_reader(self):
        # same inode, same size, other bytes (zeros, then another image's bytes): every
        # access re-checks what it reads
        path = saved(W, self)
        other = saved({f"key{i:05d}": [i] * 3 for i in range(3000)}, self)
        out = self.run_ok(f"""
            import frost, mapwalk
            s = frost.load({path!r})
            root = s.root
            size = s.nbytes
            with open({other!r}, "rb") as f:
                other = f.read()
            for junk in (bytes(size), (other * 2)[:size], bytes(range(256)) * (size // 256 + 1)):
                with open({path!r}, "r+b") as f:
                    f.write(junk[:size])
                try:
                    mapwalk.walk(root, budget=20000)
                except (frost.SnapshotError, mapwalk.Inconsistent, KeyError):
                    pass
                try:
                    s.verify()
                except frost.SnapshotError:
                    pass
            print("alive")
        """)
        self.assertIn("alive", out)

    def test_special_files(self):
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: os.rmdir(d))
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        self.addCleanup(os.unlink, fifo)
        out = self.run_ok(f"""
            import frost
            for path in ("/dev/zero", "/dev/null", {fifo!r}, {d!r}, "/proc/self/status",
                         "/proc/self/mem"):
                try:
                    frost.load(path)
                except (frost.SnapshotError, OSError) as e:   # /proc/self/mem: EIO
                    print(path, type(e).__name__)
                else:
                    raise SystemExit(f"{{path}} loaded")
            print("done")
        """, timeout=30)
        self.assertIn("done", out)

    def test_short_files(self):
        for data in (b"", b"FROST", mapcraft.MAGIC, mapcraft.MAGIC + bytes(100)):
            with self.subTest(data=data):
                fd, path = tempfile.mkstemp()
                os.write(fd, data)
                os.close(fd)
                self.addCleanup(os.unlink, path)
                with self.assertRaises(SnapshotError):
                    frost.load(path)

    def test_a_huge_sparse_file_is_not_work(self):
        # a 1 TiB file (sparse: no disk) whose header says 1 TiB: load is O(1), and reading
        # meets a node of zeros, not a 1 TiB pass
        size = 1 << 40
        im = Image()
        data = bytearray(im.finish(im.node_ref(4096), image_size=size, seal=False))
        h = bytearray(data[:128])
        h[56:64] = bytes(8)
        data[56:64] = mapcraft.xxh64(h).to_bytes(8, "little")
        fd, path = tempfile.mkstemp()
        self.addCleanup(os.unlink, path)
        try:
            os.write(fd, data[:128])
            os.ftruncate(fd, size)
        except OSError as e:
            os.close(fd)
            self.skipTest(f"no sparse 1 TiB file here: {e}")
        os.close(fd)
        out = self.run_ok(f"""
            import errno, time, frost
            t0 = time.perf_counter()
            try:
                s = frost.load({path!r})
            except OSError as e:
                # a process whose address space cannot hold 1 TiB (ulimit -v; TSan's
                # shadow layout) gets ENOMEM from mmap: a clean error, just as fast
                assert e.errno == errno.ENOMEM, e
                s = None
            assert time.perf_counter() - t0 < 5, "load read the file"
            try:
                s is None or s.root
            except frost.SnapshotError as e:
                print("refused", e)
            print("done")
        """, timeout=60)
        self.assertIn("done", out)


class Handles(HostileCase):
    def test_forged_handle_fields(self):
        from frost import _mapped
        sid = os.urandom(16)
        st = os.stat(__file__)
        cases = [
            ("disk", "/x", 0, 0, 0, sid),
            ("memory", os.getpid(), 0, 0, 0, sid[:15]),
            ("memory", os.getpid(), 0, 0, -1, sid),
            ("memory", 0, 0, 0, 0, sid),
            ("memory", os.getpid(), -1, 0, 0, sid),
            ("memory", "1", 0, 0, 0, sid),
            ("memory", os.getpid(), 0, 0, 0, "x" * 16),
            ("file", 123, 0, 0, 0, sid),
            ("file", __file__, st.st_dev, st.st_ino, st.st_size, sid),   # not an image
            ("file", __file__, st.st_dev, st.st_ino + 1, st.st_size, sid),
            ("memory", os.getpid(), 10**6, 0, 0, sid),                   # no such fd
            ("memory", 1, 0, 0, 0, sid),                                 # init's stdin
            ("memory", 2**22 + 12345, 3, 0, 0, sid),                     # no such process
        ]
        for fields in cases:
            with self.subTest(fields=fields[:2]):
                blob = pickle.dumps(_Forged(_mapped._attach, *fields))
                with self.assertRaises((SnapshotError, PermissionError)):
                    pickle.loads(blob)
        for bad in (None, 1, "img", object()):
            with self.assertRaises(SnapshotError):
                pickle.loads(pickle.dumps(_Forged(_mapped._rebuild_view, bad, 128)))

    def test_forged_view_offsets(self):
        from frost import _mapped
        s = frost.share({"a": [1, 2], "b": "x" * 50})
        self.addCleanup(s.close)
        img = s.root.image
        for off in (0, 8, 127, 128 + 4, s.nbytes, s.nbytes - 8, 1 << 40, -8, (1 << 64) - 8):
            with self.subTest(off=off):
                try:
                    v = _mapped._rebuild_view(img, off)
                except (SnapshotError, OverflowError, ValueError):
                    continue
                try:
                    mapwalk.walk(v, budget=1000)
                except SnapshotError:
                    pass

    def test_an_unsealed_memfd_is_refused(self):
        # a handle naming shared memory that its sender could still write: refused, since
        # the checks made on open would not hold for the bytes read later
        from frost import _mapped
        fd = os.memfd_create("hostile", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        self.addCleanup(os.close, fd)
        store = frost.freeze({"a": 1})
        size = _frost._map_write(store, fd)
        store.close()
        with open(fd, "rb", closefd=False) as f:
            f.seek(mapcraft.H_STORE_ID)
            sid = f.read(16)
        st = os.fstat(fd)
        for seals in (0, fcntl_seals("F_SEAL_SHRINK", "F_SEAL_GROW"),
                      fcntl_seals("F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_SEAL")):
            with self.subTest(seals=seals):
                if seals:
                    try:
                        import fcntl
                        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
                    except OSError:
                        pass     # F_SEAL_SEAL already set by the previous round
                blob = pickle.dumps(_Forged(_mapped._attach, "memory", os.getpid(), fd,
                                            st.st_dev, st.st_ino, size, sid))
                with self.assertRaises(SnapshotError) as cm:
                    pickle.loads(blob)
                self.assertIn("sealed", str(cm.exception))

    def test_a_handle_to_a_replaced_file(self):
        path = saved({"v": 1}, self)
        s = frost.load(path)
        self.addCleanup(s.close)
        blob = pickle.dumps(s.root)
        other = saved({"v": 2}, self)
        os.replace(other, path)
        r = run_child(textwrap.dedent(f"""
            import pickle, frost
            try:
                print(pickle.loads({blob!r})["v"])
            except frost.SnapshotError as e:
                print("refused:", e)
        """), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("refused", r.stdout)

    def test_a_file_with_a_copied_store_id_does_not_stand_in(self):
        # an enemy's file that carries the store_id of a shared store: a process that
        # loaded it first, then receives a handle of the real store, must read the real one
        real = frost.share({"who": "real"})
        self.addCleanup(real.close)
        # the real image's own bytes (same layout, same store_id), one value changed
        image_bytes = os.pread(real.root.image.handle.fd, real.nbytes, 0)
        self.assertEqual(image_bytes.count(b"real"), 1)
        forged = bytearray(image_bytes.replace(b"real", b"fake"))
        mapcraft.reseal(forged)
        fd, path = tempfile.mkstemp(suffix=".frost")
        os.write(fd, forged)
        os.close(fd)
        self.addCleanup(os.unlink, path)
        blob = pickle.dumps(real.root)
        r = run_child(textwrap.dedent(f"""
            import pickle, frost
            squatter = frost.load({path!r})
            assert squatter.root["who"] == "fake"
            try:
                print(pickle.loads({blob!r})["who"])
            except frost.SnapshotError as e:
                print("refused:", e)
        """), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertTrue(r.stdout.startswith(("real", "refused")), r.stdout)


def fcntl_seals(*names):
    import fcntl
    v = 0
    for n in names:
        v |= getattr(fcntl, n)
    return v


if __name__ == "__main__":
    unittest.main()
