"""The format-2 in-place reader (store/map_read.c) and its views (views/view_mapped.c):
_frost.MapImage, frost.MappedDict/List/Set/Record/Array, on images built by hand
(mapbuild.py), so every field can be damaged. Hostile images must raise
frost.SnapshotError at open, at the access that meets the damage, or from verify(),
never crash or read outside the buffer (this suite runs under the asan preset too).
"""
import collections.abc as abc
import dataclasses
import gc
import mmap
import os
import pickle
import struct
import sys
import tempfile
import textwrap
import unittest
import weakref

import frost
from frost import _frost

import mapbuild as mb
from frostcheck import run_child
from mapbuild import Arr, Rec, build, reseal

SnapshotError = frost.SnapshotError

DATA = {
    "a": (1, 2.5, "xyzxyzxyz"),
    "ints": [1, 2, 3, -(1 << 62)],
    "floats": [1.5, 2.0, float("inf")],
    "mixed": ["s", None, True, False, ..., b"bytes", b"longer bytes here", 1 << 100,
              -(1 << 70), 1 + 2j, 0.1, (), ("t", [1, "x"])],
    "set": {1, "x", (1, 2), b"b"},
    "fset": frozenset({3}),
    "rec": Rec("no_such_module_frost_test", "Point", {"x": 1, "y": "two"}),
    "arr": Arr("d", 8, (2, 3), struct.pack("<6d", *range(6)), 3),
    "long" * 100: "v" * 70000,
    "\udc80surrogate": 1,
    1: "one",
    2.5: "two and a half",
    None: "none",
    (1, "k"): "tuple key",
    b"bk": "bytes key",
}


def image(value=DATA, **kw):
    return build(value, **kw)[0]


def lookup(x, k):
    """x.get(k) and k in x for a key x yielded: a damaged key/hash may be absent
    (verify says why), and a container node where a key must be a leaf is
    unhashable, as the view it reads as is: TypeError, as a dict says."""
    try:
        x.get(k) if isinstance(x, frost.MappedDict) else None
        k in x
    except TypeError as e:
        if "unhashable" not in str(e):
            raise


def walk(x, seen=None):
    """Touch everything reachable from x through the views (as a careless user would)."""
    seen = set() if seen is None else seen
    if isinstance(x, (frost.MappedDict, frost.MappedList, frost.MappedSet,
                      frost.MappedRecord, frost.MappedArray)):
        key = (id(x.image), x.node_offset)
        if key in seen:
            return
        seen.add(key)
        repr(x)
    if isinstance(x, frost.MappedDict):
        for k, v in x.items():
            walk(k, seen)
            walk(v, seen)
            lookup(x, k)
        x.get(object())
    elif isinstance(x, (frost.MappedList, tuple)):
        for v in x:
            walk(v, seen)
        if isinstance(x, frost.MappedList) and len(x):
            x[-1]
            x[::2]
            0 in x
    elif isinstance(x, frost.MappedSet):
        for v in x:
            walk(v, seen)
            lookup(x, v)
    elif isinstance(x, frost.MappedRecord):
        x._fields
        x._module
        walk(x._state, seen)
    elif isinstance(x, frost.MappedArray):
        x.tolist()
        bytes(memoryview(x))


class TestViews(unittest.TestCase):
    def setUp(self):
        self.img = _frost.MapImage(image())
        self.r = self.img.root

    def test_types_and_abcs(self):
        r = self.r
        self.assertIsInstance(r, frost.MappedDict)
        self.assertIsInstance(r, abc.Mapping)
        self.assertIsInstance(r["ints"], abc.Sequence)
        self.assertIsInstance(r["set"], abc.Set)
        self.assertIsInstance(r["rec"], frost.MappedRecord)
        self.assertIsInstance(r["arr"], frost.MappedArray)
        self.assertIs(r.image, self.img)
        self.assertIsInstance(r.node_offset, int)

    def test_dict(self):
        r = self.r
        self.assertEqual(len(r), len(DATA))
        self.assertEqual(list(r), list(DATA))
        self.assertEqual(list(reversed(r)), list(reversed(DATA)))
        self.assertEqual(r["a"], (1, 2.5, "xyzxyzxyz"))
        self.assertEqual(r["long" * 100], "v" * 70000)
        self.assertEqual(r["\udc80surrogate"], 1)
        self.assertEqual(r[1], "one")
        self.assertEqual(r[1.0], "one")
        self.assertEqual(r[True], "one")
        self.assertEqual(r[2.5], "two and a half")
        self.assertEqual(r[None], "none")
        self.assertEqual(r[(1, "k")], "tuple key")
        self.assertEqual(r[(1.0, "k")], "tuple key")
        self.assertEqual(r[b"bk"], "bytes key")
        with self.assertRaises(KeyError) as cm:
            r["bk"]                     # str never equals bytes
        self.assertEqual(cm.exception.args, ("bk",))
        for absent in ("zz", 3, 2.25, b"a", (1, "z"), object(), frost, 1j):
            self.assertNotIn(absent, r)
            self.assertIsNone(r.get(absent))
            self.assertEqual(r.get(absent, 7), 7)
            with self.assertRaises(KeyError):
                r[absent]
        for unhashable in ([1], {}):    # as a dict: TypeError (test_key_equality.py)
            for lookup in (lambda: unhashable in r, lambda: r.get(unhashable), lambda: r[unhashable]):
                with self.assertRaisesRegex(TypeError, "unhashable"):
                    lookup()
        self.assertEqual(set(r.keys()), set(DATA))
        self.assertEqual(len(r.values()), len(DATA))
        self.assertIn(("a", (1, 2.5, "xyzxyzxyz")), r.items())

    def test_fresh_leaves(self):
        r = self.r
        self.assertIsNot(r["a"], r["a"])
        self.assertIsInstance(r["a"], tuple)
        nested = r["mixed"][-1]
        self.assertIsInstance(nested, tuple)
        self.assertIsInstance(nested[1], frost.MappedList)

    def test_dict_equality(self):
        r = self.r
        self.assertTrue(r == r)
        self.assertTrue(r == self.img.root)
        small = _frost.MapImage(image({"a": 1, "b": [1, 2]})).root
        self.assertEqual(small, {"a": 1, "b": [1, 2]})
        self.assertNotEqual(small, {"a": 1, "b": [1, 3]})
        self.assertNotEqual(small, {"a": 1})
        self.assertNotEqual(small, [1])
        self.assertEqual(small, _frost.MapImage(image({"b": [1, 2], "a": 1})).root)

    def test_read_only_and_unhashable(self):
        r = self.r
        for op in (lambda: r.__setitem__("a", 1), lambda: r.__delitem__("a"),
                   lambda: r["ints"].__setitem__(0, 1), lambda: r["ints"].__delitem__(0),
                   lambda: setattr(r["rec"], "x", 2), lambda: hash(r), lambda: hash(r["ints"]),
                   lambda: r["set"].add(1), lambda: r.update({}),
                   lambda: r["ints"].append(1)):
            with self.assertRaises((TypeError, AttributeError)):
                op()
        self.assertEqual(r["ints"][0], 1)
        # a set stands for a frozenset: hashable as one (test_parity.py)
        self.assertEqual(hash(r["set"]), hash(frozenset(r["set"])))

    def test_list(self):
        ints, mixed = self.r["ints"], self.r["mixed"]
        self.assertEqual(len(ints), 4)
        self.assertEqual(ints[-1], -(1 << 62))
        self.assertEqual(ints[1:3], [2, 3])
        self.assertEqual(ints[::-1], [-(1 << 62), 3, 2, 1])
        self.assertEqual(list(reversed(ints)), [-(1 << 62), 3, 2, 1])
        self.assertEqual(ints, [1, 2, 3, -(1 << 62)])
        self.assertNotEqual(ints, [1, 2, 3])
        self.assertTrue(ints < [1, 2, 4])
        self.assertTrue(ints > [1, 2])
        self.assertEqual(ints.index(3), 2)
        self.assertEqual(ints.count(2), 1)
        self.assertIn(2.0, ints)
        self.assertNotIn("2", ints)
        with self.assertRaises(IndexError):
            ints[4]
        with self.assertRaises(IndexError):
            ints[-5]
        with self.assertRaises(IndexError):
            ints[1 << 80]
        with self.assertRaises(TypeError):
            ints["0"]
        with self.assertRaises(ValueError):
            ints.index(99)
        self.assertEqual(mixed.index(b"bytes"), 5)
        self.assertEqual(mixed.index(1 << 100), 7)
        self.assertEqual(mixed.count(None), 1)
        self.assertIn((), mixed)
        self.assertIn(("t", [1, "x"]), mixed)
        self.assertEqual(mixed[8], -(1 << 70))
        self.assertEqual(mixed[9], 1 + 2j)
        self.assertIs(mixed[4], ...)
        self.assertEqual(self.r["floats"][2], float("inf"))

    def test_rows_handed_out_again_only_when_no_one_holds_them(self):
        """The scan reuses a row tuple (as zip() does) only when the caller dropped it:
        rows kept by the caller keep their values."""
        rows = [(i, i * 0.5, None, True) for i in range(100)]
        lst = _frost.MapImage(image(rows)).root
        kept = list(lst)                              # every row held: no reuse
        self.assertEqual(kept, rows)
        seen = [tuple(r) for r in lst]                # copies of rows dropped at once
        self.assertEqual(seen, rows)
        floats = [b for _, b, _, _ in lst]            # items kept, rows dropped
        self.assertEqual(floats, [i * 0.5 for i in range(100)])
        it = iter(lst)
        first = next(it)
        second = next(it)
        self.assertEqual((first, second), (rows[0], rows[1]))

    def test_rows_and_items_rewritten_in_place_never_change_what_the_caller_holds(self):
        """A scan rewrites a row, and its ints and floats, in place once no one else holds
        them (two rows in turn, so the loop variables have let go of the older one's
        items): whatever the caller keeps -- rows, some items, nothing -- keeps its value,
        for ints of every size (CPython's cached small ints, one and two 30-bit digits,
        big ints out of line), floats inline and out of line, None and bools, and rows
        that end in something else (a str, a list: the row is rewritten partway, then
        made afresh)."""
        import random
        rng = random.Random(13)
        ints = [0, 1, -1, -5, -6, 256, 257, (1 << 30) - 1, -((1 << 30) - 1), 1 << 30,
                -(1 << 30), (1 << 59) - 1, -(1 << 59), 1 << 59, 1 << 100, -(1 << 64)]
        floats = [0.5, -2.0, 0.1, 1e300, float("inf"), -0.0]   # 0.1: out of line (low bits)
        leaves = ints + floats + [None, True, False]

        def row():
            n = rng.choice((2, 3, 3, 3))
            r = [rng.choice(leaves) if rng.random() < 0.2 else rng.choice(ints[4:10])
                 for _ in range(n)]
            if rng.random() < 0.05:
                r[-1] = rng.choice(("a long str, out of line", [1, 2], "s"))
            return tuple(r)

        rows = [row() for _ in range(3000)]

        def plain(x):   # a row or item as built-ins (a list inside a row is a MappedList)
            if isinstance(x, tuple):
                return tuple(plain(y) for y in x)
            return list(x) if isinstance(x, frost.MappedList) else x

        for lst in (_frost.MapImage(image(rows)).root, frost.share(rows).root):
            got_rows, got_items, want_rows, want_items = [], [], [], []
            for i, r in enumerate(lst):
                self.assertEqual(repr(plain(r)), repr(rows[i]))   # types and -0.0 too
                what = rng.random()
                if what < 0.1:
                    got_rows.append(r)
                    want_rows.append(rows[i])
                elif what < 0.3:
                    j = rng.randrange(len(r))
                    got_items.append(r[j])
                    want_items.append(rows[i][j])
            self.assertEqual(repr([plain(r) for r in got_rows]), repr(want_rows))
            self.assertEqual(repr([plain(x) for x in got_items]), repr(want_items))
        # unpacking loops of 3-item rows: some items kept, then compared
        three = [r for r in rows if len(r) == 3 and not isinstance(r[-1], (str, list))]
        lst3 = frost.share(three).root
        a_s, c_s = [], []
        for a, b, c in lst3:
            a_s.append(a)
            c_s.append(c)
        self.assertEqual(repr(list(zip(a_s, c_s))), repr([(r[0], r[2]) for r in three]))
        self.assertEqual(list(zip(iter(lst3), iter(lst3))), [(r, r) for r in three])
        it3 = iter(lst3)   # one iterator, two rows a step
        self.assertEqual(list(zip(it3, it3)), list(zip(three[0::2], three[1::2])))

    def test_packed_buffers(self):
        self.assertEqual(memoryview(self.r["ints"]).tolist(), [1, 2, 3, -(1 << 62)])
        self.assertEqual(memoryview(self.r["floats"]).format, "d")
        with self.assertRaises(TypeError):   # as a FrozenList's and a list's
            memoryview(self.r["mixed"])

    def test_set(self):
        s = self.r["set"]
        self.assertEqual(len(s), 4)
        self.assertIn((1, 2), s)
        self.assertIn(1.0, s)
        with self.assertRaisesRegex(TypeError, "unhashable"):   # as frozenset
            [1] in s
        self.assertEqual(s, {1, "x", (1, 2), b"b"})
        self.assertEqual(s, frozenset({1, "x", (1, 2), b"b"}))
        self.assertNotEqual(s, {1})
        self.assertTrue(s >= {1})
        self.assertTrue({1} < s)
        self.assertEqual(s & {1, 5}, frozenset({1}))
        self.assertIsInstance(s | {9}, frozenset)
        self.assertEqual(s - {1, "x"}, frozenset({(1, 2), b"b"}))
        self.assertEqual(s ^ {1, 9}, frozenset({"x", (1, 2), b"b", 9}))
        self.assertTrue(s.isdisjoint({7}))
        self.assertEqual(self.r["fset"], {3})

    def test_record(self):
        rec = self.r["rec"]
        self.assertEqual(rec.x, 1)
        self.assertEqual(rec.y, "two")
        self.assertEqual(rec._fields, ("x", "y"))
        self.assertEqual(rec._module, "no_such_module_frost_test")
        self.assertEqual(repr(rec), "Point(x=1, y='two')")
        self.assertEqual(rec._class_name, "no_such_module_frost_test.Point")
        self.assertEqual((rec["x"], rec["y"]), (1, "two"))
        with self.assertRaises(KeyError):
            rec["z"]
        with self.assertRaises(AttributeError):
            rec.z
        shadow = _frost.MapImage(image(Rec("m", "C", {"image": 1, "_fields": 2}))).root
        self.assertEqual((shadow.image, shadow._fields), (1, 2))   # fields win, as Record's

    def test_array(self):
        a = self.r["arr"]
        self.assertEqual((a.shape, a.format, a.itemsize, a.nbytes, a.ndim), ((2, 3), "d", 8, 48, 2))
        self.assertEqual(a.tolist(), [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
        self.assertEqual(len(a), 2)
        self.assertEqual(a.tobytes(), struct.pack("<6d", *range(6)))
        mv = memoryview(a)
        self.assertTrue(mv.readonly)
        self.assertEqual(mv.shape, (2, 3))
        mv.release()

    def test_array_numpy_in_place(self):
        numpy = __import__("numpy")
        data = image({"arr": Arr("d", 8, (4,), struct.pack("<4d", 1, 2, 3, 4))})
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.flush()
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            arr = _frost.MapImage(mm).root["arr"]
            x = numpy.asarray(arr)
            self.assertEqual(x.tolist(), [1, 2, 3, 4])
            self.assertFalse(x.flags.writeable)
            base = numpy.frombuffer(mm, dtype=numpy.uint8)
            self.assertTrue(numpy.shares_memory(x, base))   # zero-copy over the mapping
            del base, arr
            with self.assertRaises(BufferError):
                mm.close()
            del x
            gc.collect()
            mm.close()

    def test_repr_bounded(self):
        big = _frost.MapImage(image({f"k{i}": i for i in range(500)})).root
        text = repr(big)
        self.assertTrue(text.startswith("MappedDict({'k0': 0"))
        self.assertIn("450 more", text)
        self.assertLess(len(text), 2000)
        self.assertIn("MappedList", repr(self.r["ints"]))

    def test_map_image_members(self):
        img = self.img
        self.assertEqual(len(img.store_id), 16)
        self.assertEqual(img.image_size, len(image()) if False else img.image_size)
        self.assertGreater(img.nnodes, 5)
        self.assertIsNone(img.handle)
        img.handle = "h"
        self.assertEqual(img.handle, "h")
        img.handle = None
        self.assertIsNone(img.verify())
        calls = []
        img.verify(progress=lambda done, total: calls.append((done, total)))
        self.assertEqual(calls[-1][0], calls[-1][1])
        self.assertEqual(img.view_at(self.r.node_offset), self.r)
        for bad in (-8, 3, 1 << 70, img.image_size, 8):
            with self.assertRaises(SnapshotError):
                img.view_at(bad)
        with self.assertRaises(TypeError):
            img.view_at("0")
        self.assertIs(weakref.ref(img)(), img)

    def test_map_image_arguments(self):
        with self.assertRaises(TypeError):
            _frost.MapImage("not a buffer")
        with self.assertRaises(TypeError):
            _frost.MapImage()
        with self.assertRaises(TypeError):
            _frost.MapImage(b"", extra=1)
        with self.assertRaises(SnapshotError):
            _frost.MapImage(b"")
        self.assertTrue(issubclass(SnapshotError, ValueError))

    def test_pickle_without_handle_refused(self):
        for v in (self.r, self.r["ints"], self.r["set"], self.r["rec"], self.r["arr"]):
            with self.assertRaises(TypeError) as cm:
                pickle.dumps(v)
            self.assertIn("frost.share", str(cm.exception))

    def test_thaw(self):
        t = frost.thaw(self.r)
        self.assertIs(type(t), dict)
        self.assertEqual(t["a"], (1, 2.5, "xyzxyzxyz"))
        self.assertIs(type(t["ints"]), list)
        self.assertIs(type(t["set"]), set)
        self.assertIs(type(t["fset"]), frozenset)
        self.assertIs(type(t["mixed"][-1][1]), list)
        self.assertEqual(t["rec"].x, 1)                     # a SimpleNamespace
        self.assertNotIn("no_such_module_frost_test", sys.modules)
        t["ints"].append(5)                                 # mutable
        self.assertEqual(frost.thaw(self.r["ints"]), [1, 2, 3, -(1 << 62)])

    def test_thaw_record_classes(self):
        class Point:
            pass
        Point.__module__ = "no_such_module_frost_test"
        Point.__qualname__ = "Point"
        p = frost.thaw(self.r["rec"], classes=[Point])
        self.assertIs(type(p), Point)
        self.assertEqual((p.x, p.y), (1, "two"))

    def test_freeze_of_mapped_views(self):
        """Mapped views freeze like what they show (records stay data from a file)."""
        store = frost.freeze({"r": self.r["rec"], "l": self.r["mixed"], "s": self.r["set"],
                              "d": self.r["a"], "i": self.r["ints"], "arr": self.r["arr"]})
        root = store.root
        self.assertEqual(root["l"][7], 1 << 100)
        self.assertEqual(root["s"], {1, "x", (1, 2), b"b"})
        self.assertEqual(root["i"], [1, 2, 3, -(1 << 62)])
        self.assertEqual(root["r"]._class_name, "no_such_module_frost_test.Point")
        self.assertEqual(root["arr"].tolist(), [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])

        class Point:
            pass
        Point.__module__, Point.__qualname__ = "no_such_module_frost_test", "Point"
        self.assertEqual(type(frost.thaw(root["r"])).__name__, "SimpleNamespace")  # FROM_FILE
        self.assertIs(type(frost.thaw(root["r"], classes=[Point])), Point)
        self.assertEqual(frost.freeze(self.r).root["a"], (1, 2.5, "xyzxyzxyz"))

    def test_thaw_never_imports(self):
        img = _frost.MapImage(image(Rec("os.path", "join", {"a": 1})))
        ns = frost.thaw(img.root)
        self.assertEqual(ns.a, 1)
        self.assertEqual(type(ns).__name__, "SimpleNamespace")

    def test_cycles_through_lists(self):
        lst = [1]
        lst.append(lst)
        d = {"l": lst}
        r = _frost.MapImage(image(d)).root
        inner = r["l"][1]
        self.assertEqual(inner.node_offset, r["l"].node_offset)
        self.assertIn("...", repr(r["l"]))
        t = frost.thaw(r)
        self.assertIs(t["l"][1], t["l"])
        self.assertIsNone(r.image.verify())

    def test_shared_root_leaf(self):
        for leaf in (None, 5, "s", 1 << 90, 2.5, b"x" * 20, ()):
            img = _frost.MapImage(image(leaf))
            self.assertEqual(img.root, leaf)
            self.assertIsNone(img.verify())

    def test_big_tables(self):
        d = {f"key{i:07d}": (i, i * 0.5, f"val{i}") for i in range(5000)}
        r = _frost.MapImage(image(d)).root
        for i in range(0, 5000, 7):
            self.assertEqual(r[f"key{i:07d}"], (i, i * 0.5, f"val{i}"))
        self.assertNotIn("key9999999", r)
        self.assertEqual(frost.thaw(r), d)


def written(value):
    """The MapImage of `value` as frost writes it (_frost._map_write of a Store)."""
    with tempfile.TemporaryFile() as f:
        _frost._map_write(frost.freeze(value), f.fileno())
        f.seek(0)
        return _frost.MapImage(f.read())


@dataclasses.dataclass
class Point:
    x: int
    y: str


class TestWritten(unittest.TestCase):
    """Images made by the writer (store/map_write.c)."""

    VALUES = [
        {"a": [1, 2, 3], "b": {"x": (1, 2.5, "s" * 20)}, "c": {1, 2}, "d": frozenset({"q"})},
        [(i, i * 0.5, i % 7, f"v{i}") for i in range(300)],
        {f"key{i:05d}": (i, i * 0.5, f"val{i}") for i in range(3000)},
        {1: "a", 2.5: "b", None: "c", (1, ("n", b"b")): "d", b"k": "e", "\udcff": "f", 1 << 70: "g"},
        [[], {}, set(), (), "", b"", 0, -1, 1 << 59, -(1 << 59) - 1, float("nan"), -0.0, 1e300],
    ]

    def test_round_trip(self):
        for value in self.VALUES:
            img = written(value)
            img.verify()
            t = frost.thaw(img.root)
            if isinstance(value, list) and value and value[-1] == 1e300:
                self.assertEqual(repr(t), repr(value))
            else:
                self.assertEqual(t, value)
            if isinstance(value, dict):
                for k, v in value.items():
                    self.assertEqual(img.root[k], v)

    def test_records_and_arrays(self):
        numpy = __import__("numpy")
        img = written({"p": Point(1, "y"), "n": numpy.arange(6.0).reshape(2, 3)})
        img.verify()
        r = img.root
        self.assertEqual((r["p"].x, r["p"].y), (1, "y"))
        self.assertIs(type(frost.thaw(r["p"], classes=[Point])), Point)
        self.assertEqual(type(frost.thaw(r["p"])).__name__, "SimpleNamespace")
        self.assertTrue((numpy.asarray(r["n"]) == numpy.arange(6.0).reshape(2, 3)).all())

    def test_thaw_of_a_mapped_store(self):
        with frost.share({"a": [1, (2, "x")]}) as s:
            self.assertEqual(frost.thaw(s), {"a": [1, (2, "x")]})
            self.assertIsInstance(s.root, frost.MappedDict)

    def test_other_hash_seed(self):
        """A reader whose PYTHONHASHSEED differs from the writer's finds every key."""
        data = {f"k{i}": i for i in range(500)}
        data.update({(i, "t"): i for i in range(50)})
        with tempfile.NamedTemporaryFile(suffix=".img", delete=False) as f:
            _frost._map_write(frost.freeze(data), f.fileno())
        try:
            code = (f"from frost import _frost\nimg = _frost.MapImage(open({f.name!r}, 'rb').read())\n"
                    "r = img.root\n"
                    "assert all(r[f'k{i}'] == i for i in range(500))\n"
                    "assert all(r[(i, 't')] == i for i in range(50))\n"
                    "assert 'k500' not in r\nimg.verify()\nprint('ok')")
            for seed in ("0", "1", "12345", "random"):
                env = dict(os.environ, PYTHONHASHSEED=seed)
                out = run_child(code, env=env)
                self.assertEqual(out.stdout.strip(), "ok", out.stderr)
        finally:
            os.unlink(f.name)


class TestLifetime(unittest.TestCase):
    def test_views_outlive_image_and_buffer(self):
        data = bytearray(image())
        view = _frost.MapImage(data).root["ints"]
        gc.collect()
        self.assertEqual(view[0], 1)
        with self.assertRaises(BufferError):
            data.append(0)          # the image still holds the buffer: no resize under it
        del view
        gc.collect()
        data.append(0)

    def test_mmap_close_with_views(self):
        with tempfile.TemporaryFile() as f:
            f.write(image())
            f.flush()
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            root = _frost.MapImage(mm).root
            lst = root["mixed"]
            del root
            gc.collect()
            with self.assertRaises(BufferError):
                mm.close()
            self.assertEqual(lst[0], "s")
            arr = lst  # noqa
            del lst, arr
            gc.collect()
            mm.close()

    def test_exported_buffer_outlives_views(self):
        with tempfile.TemporaryFile() as f:
            f.write(image())
            f.flush()
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            mv = memoryview(_frost.MapImage(mm).root["arr"])
            gc.collect()
            self.assertEqual(mv.tolist()[1], [3.0, 4.0, 5.0])
            with self.assertRaises(BufferError):
                mm.close()
            mv.release()
            gc.collect()
            mm.close()


class TestFileShrunkUnderReader(unittest.TestCase):
    def test_truncated_file_gives_zeros_or_snapshot_error_not_sigbus(self):
        """Another process truncates the mapped file: reads past its new end would be
        SIGBUS; the reader sees zero pages instead (SnapshotError or plain values)."""
        code = textwrap.dedent("""
            import mmap, os, tempfile, frost
            from frost import _frost
            import mapbuild
            data = mapbuild.build({"k%d" % i: ["v" * 50, i, (i, "t" * 30)] for i in range(3000)})[0]
            fd, path = tempfile.mkstemp()
            os.write(fd, data)
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            img = _frost.MapImage(mm)
            root = img.root
            os.truncate(path, 4096)
            errors = 0
            for i in range(3000):
                try:
                    root.get("k%d" % i)
                    list(root)
                except frost.SnapshotError as e:
                    errors += 1
                    assert "shrank" in str(e), e
            try:
                img.verify()
            except frost.SnapshotError:
                errors += 1
            os.unlink(path)
            print("survived", errors == 3001)
        """)
        out = run_child(code)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "survived True")


    def test_a_table_first_reached_after_the_file_shrank(self):
        """The file is cut short between the table's descriptors and its buffers
        before the table is first reached: the blob check reads the structure
        only, so the table handed out zeros as data. Now a SnapshotError (a
        file cut after the first reach is the documented hazard, docs/safety.md)."""
        code = textwrap.dedent("""
            import os, struct, tempfile, frost
            import pyarrow as pa
            fd, path = tempfile.mkstemp()
            os.close(fd)
            n = 200_000
            frost.freeze({"t": pa.table({"a": pa.array(range(1, n + 1), pa.int64())}),
                          "l": list(range(1000))}).save(path)
            data = open(path, "rb").read()
            at = data.index(b"FCOL")
            descriptors_end = struct.unpack_from("<Q", data, at + 48)[0]
            cut = (at + descriptors_end + 64 + 4095) // 4096 * 4096
            assert cut < len(data) - 8 * n // 2, (cut, len(data))
            store = frost.load(path)
            os.truncate(path, cut)
            try:
                column = pa.table(store.root["t"]).column("a")
                print("read", column[0], column[n - 1])
            except frost.SnapshotError as e:
                assert "shrank" in str(e), e
                print("SnapshotError")
            os.unlink(path)
        """)
        out = run_child(code)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "SnapshotError")


def patched(data, offset, fmt, value, seal=True):
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return reseal(b) if seal else bytes(b)


FLAG_NO_BODY_CHECKSUM = 1   # frost_map.h header flag (frost.share's images)


def without_body_checksum(data):
    """`data` as frost.share writes it: the flag set, body checksum 0, the header resealed."""
    b = bytearray(data)
    struct.pack_into("<Q", b, 88, FLAG_NO_BODY_CHECKSUM)
    struct.pack_into("<Q", b, 48, 0)
    struct.pack_into("<Q", b, 56, 0)
    struct.pack_into("<Q", b, 56, _frost._snapshot_xxh64(bytes(b[:mb.HEADER])))
    return bytes(b)


class TestMappedStoreSave(unittest.TestCase):
    """MappedStore.save: a frost.share image (or a loaded one) written to a
    format-2 file as Store.save writes one -- atomically, with a body checksum."""

    DATA = {"big": list(range(2_000_000)), "rows": [(i, f"s{i}", i / 2) for i in range(1000)],
            "nested": {"a": {"b": frozenset({1, 2, float("nan")})}}}

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(lambda: [os.unlink(os.path.join(self.dir, f)) for f in os.listdir(self.dir)]
                        and None or os.rmdir(self.dir))

    def path(self, name="s.frost"):
        return os.path.join(self.dir, name)

    def test_a_shared_image_saves_with_a_checksum_and_loads_equal(self):
        with frost.share(self.DATA) as shared:
            self.assertFalse(shared.stats()["body_checksum"])
            calls = []
            shared.save(self.path(), progress=lambda done, total: calls.append((done, total)))
            size = shared.nbytes
        self.assertEqual(calls[-1], (size, size))
        dones = [done for done, _ in calls]
        self.assertEqual(dones, sorted(dones))
        self.assertTrue(all(total is None for _, total in calls[:-1]))
        self.assertEqual(os.path.getsize(self.path()), size)
        self.assertIsNone(frost.verify(self.path()))
        with frost.load(self.path()) as loaded:
            self.assertTrue(loaded.stats()["body_checksum"])
            loaded.verify()
            self.assertEqual(len(loaded.root["big"]), 2_000_000)
            self.assertEqual(loaded.root["rows"][999], (999, "s999", 499.5))
            self.assertEqual(frost.thaw(loaded.root["rows"]), self.DATA["rows"])
            # a loaded image saves to the same bytes
            loaded.save(self.path("again.frost"))
        with open(self.path(), "rb") as a, open(self.path("again.frost"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(sorted(os.listdir(self.dir)), ["again.frost", "s.frost"])

    def test_bad_targets_and_arguments(self):
        with frost.share({"a": 1}) as shared:
            with self.assertRaises(TypeError):
                shared.save(None)
            with self.assertRaises(TypeError):
                shared.save(self.path(), progress=5)
            with self.assertRaises(IsADirectoryError):
                shared.save(self.dir)
            with self.assertRaisesRegex(OSError, "not a regular file"):
                shared.save("/dev/null")
            self.assertFalse(os.path.isfile("/dev/null"))   # still the device
            with self.assertRaises(FileNotFoundError):
                shared.save(os.path.join(self.dir, "no", "such", "dir.frost"))
            with self.assertRaises(ValueError):
                shared.save(self.path() + "\0x")
        with self.assertRaises(frost.StoreClosedError):
            shared.save(self.path())
        self.assertEqual(os.listdir(self.dir), [])

    def test_a_failing_or_interrupting_callback_leaves_the_old_file(self):
        with open(self.path(), "wb") as f:
            f.write(b"the old file")

        class Stop(Exception):
            pass

        def raises(kind):
            def progress(done, total):
                if total is None:
                    raise kind("stop")
            return progress

        with frost.share(self.DATA) as shared:
            for kind in (Stop, KeyboardInterrupt):
                with self.assertRaises(kind):
                    shared.save(self.path(), progress=raises(kind))
            with self.assertRaisesRegex(OSError, "replaced|truncated|extended"):
                shared.save(self.path(), progress=lambda done, total: total is not None and [
                    os.truncate(os.path.join(self.dir, n), 100) for n in os.listdir(self.dir)
                    if ".tmp." in n])
            # the callback may close the store: the image is held until the save ends
            shared.save(self.path(), progress=lambda done, total: shared.close())
        self.assertEqual(os.listdir(self.dir), ["s.frost"])
        with frost.load(self.path()) as loaded:
            self.assertEqual(loaded.root["rows"][1], (1, "s1", 0.5))

    def test_a_full_disk_is_an_oserror_naming_the_file(self):
        code = textwrap.dedent(f"""
            import errno, os, resource, frost
            shared = frost.share({{"big": list(range(1_000_000))}})
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
            try:
                shared.save({self.path()!r})
            except OSError as e:
                print(e.errno == errno.EFBIG, e.filename == {self.path()!r}, os.listdir({self.dir!r}))
            """)
        proc = run_child(code, timeout=120)
        self.assertEqual(proc.stdout.strip(), "True True []", proc.stderr)


class TestHostile(unittest.TestCase):
    def assert_damage_caught(self, data):
        """Open, walk everything, verify: only SnapshotError may come out."""
        try:
            img = _frost.MapImage(data)
        except SnapshotError:
            return "open"
        try:
            walk(img.root)
        except SnapshotError:
            pass
        except RecursionError:
            pass
        try:
            img.verify()
        except SnapshotError:
            return "verify"
        try:
            frost.thaw(img.root)
        except (SnapshotError, RecursionError):
            pass
        return "ok"

    def test_header_fields(self):
        good = image()
        cases = {
            "magic": patched(good, 0, "<8s", b"FROSTMAQ"),
            "version": patched(good, 8, "<I", 1),
            "version 3": patched(good, 8, "<I", 3),
            "header size": patched(good, 12, "<I", 64),
            "image size +": patched(good, 16, "<Q", len(good) + 8),
            "image size -": patched(good, 16, "<Q", len(good) - 8),
            "image size huge": patched(good, 16, "<Q", (1 << 64) - 1),
            "root tag": patched(good, 24, "<Q", 0xF),
            "root outside": patched(good, 24, "<Q", mb.node_ref(len(good) + 64)),
            "root in header": patched(good, 24, "<Q", mb.node_ref(16)),
            "root huge": patched(good, 24, "<Q", (1 << 64) - 6),
            "header checksum": patched(good, 56, "<Q", 1, seal=False),
            "unknown flag": patched(good, 88, "<Q", 4),
            "unknown flags": patched(good, 88, "<Q", (1 << 64) - 1),
            "no-body-checksum flag with a body checksum": patched(good, 88, "<Q", 1),
            "body checksum under the no-body-checksum flag":
                patched(without_body_checksum(good), 48, "<Q", 1, seal=False),
            "reserved": patched(good, 100, "<I", 1),
            "hash key flip (unsealed)": patched(good, 32, "<Q", 5, seal=False),
        }
        for name, data in cases.items():
            with self.subTest(name), self.assertRaises(SnapshotError):
                _frost.MapImage(data)

    def test_misaligned_buffer(self):
        """An image at an odd address (a memoryview slice) reads and verifies (UBSan: no
        misaligned loads)."""
        data = image()
        backing = bytearray(len(data) + 1)
        backing[1:] = data
        img = _frost.MapImage(memoryview(backing)[1:])
        self.assertEqual(img.root["a"], (1, 2.5, "xyzxyzxyz"))
        img.verify()
        walk(img.root)

    def test_body_checksum(self):
        good = bytearray(image())
        good[-9] ^= 0x40
        img = _frost.MapImage(bytes(good))     # O(1) open does not read the body
        with self.assertRaises(SnapshotError):
            img.verify()

    def test_no_body_checksum_flag(self):
        """An image flagged as having no body checksum (frost.share's) opens and verifies
        by its structure alone: a changed byte that keeps it well-formed goes unseen (the
        memory is sealed; files carry the checksum), while every structural damage is
        still a SnapshotError, at the access or from verify()."""
        good = image()
        flagged = without_body_checksum(good)
        img = _frost.MapImage(flagged)
        self.assertFalse(img.body_checksum)
        self.assertTrue(_frost.MapImage(good).body_checksum)
        img.verify()
        self.assertEqual(img.root["a"], (1, 2.5, "xyzxyzxyz"))
        b = bytearray(flagged)
        at = bytes(b).index(b"xyzxyzxyz")
        b[at] = ord("q")                     # still UTF-8, still in bounds
        img = _frost.MapImage(bytes(b))
        img.verify()
        self.assertEqual(img.root["a"], (1, 2.5, "qyzxyzxyz"))
        value = {"l": [1, "s" * 9, (2, b"b" * 9), [1 << 80, 1.1, 2j]], "p": [1, 2],
                 "s": {"a", 1}, "r": Rec("m", "C", {"x": 1}), ("t", 1): None}
        good = without_body_checksum(image(value))
        outcomes = set()
        for pos in range(mb.HEADER, len(good)):
            for mutate in (lambda x: 0xFF, lambda x: x ^ 0x10):
                b = bytearray(good)
                b[pos] = mutate(b[pos])
                outcomes.add(self.assert_damage_caught(bytes(b)))
        self.assertIn("verify", outcomes)
        self.assertEqual(outcomes - {"verify", "ok"}, set())   # the header is untouched

    def test_truncated(self):
        good = image()
        for n in list(range(0, 200)) + list(range(len(good) - 300, len(good))):
            with self.assertRaises(SnapshotError):
                _frost.MapImage(good[:n])
            # truncated, but the header says so (sealed): references past the end
            if n >= mb.HEADER:
                data = patched(good[:n], 16, "<Q", n)
                self.assertIn(self.assert_damage_caught(data), ("open", "verify"))

    def test_every_byte_damaged(self):
        """Each byte of a small image with every node kind set to 0xFF, 0x00 and
        flipped, checksums resealed so the damage reaches the decoders."""
        value = {"l": [1, "s" * 9, (2, b"b" * 9), [1 << 80, 1.1, 2j]], "p": [1, 2],
                 "f": [0.5], "s": {"a", 1}, "r": Rec("m", "C", {"x": 1}),
                 "y": Arr("<i", 4, (3,), struct.pack("<3i", 1, 2, 3)), ("t", 1): None}
        good = image(value)
        outcomes = set()
        for pos in range(mb.HEADER, len(good)):
            for mutate in (lambda x: 0xFF, lambda x: 0, lambda x: x ^ 0x10, lambda x: x ^ 1):
                b = bytearray(good)
                b[pos] = mutate(b[pos])
                if b == good:
                    continue
                outcomes.add(self.assert_damage_caught(reseal(b)))
        self.assertIn("verify", outcomes)

    def test_table_without_empty_slot(self):
        b = mb.Builder()
        keys = ["a", "b", "c", "d", "e"]
        hashes = [b.key_hash(k) for k in keys]
        root = b.table(mb.DICT, 0, [(k, 1) for k in keys], log2=3, index=[0, 1, 2, 3, 4, 0, 1, 2],
                       hashes=hashes)
        img = _frost.MapImage(b.image(root))
        r = img.root
        for k in ("zz", "q", 17, b"x"):
            self.assertNotIn(k, r)          # terminates: the probe stops after nslots
        with self.assertRaises(SnapshotError):
            img.verify()

    def test_index_entry_out_of_range(self):
        b = mb.Builder()
        h = b.key_hash("a")
        idx = [mb.EMPTY] * 8
        idx[h & 7] = 7                       # entry 7 of 1
        root = b.table(mb.DICT, 0, [("a", 1)], index=idx, hashes=[h])
        img = _frost.MapImage(b.image(root))
        with self.assertRaises(SnapshotError):
            img.root["a"]
        with self.assertRaises(SnapshotError):
            img.verify()

    def test_table_shape(self):
        for log2, n in ((2, 1), (33, 1), (3, 6), (60, 1)):
            b = mb.Builder()
            b.buf += struct.pack("<QQ", b.head(mb.DICT, 0, n), log2) + bytes(64)
            data = b.image(mb.node_ref(mb.HEADER))
            with self.subTest(log2=log2, n=n), self.assertRaises(SnapshotError):
                _frost.MapImage(data).root

    def test_wrong_hash_and_duplicates(self):
        b = mb.Builder()
        root = b.table(mb.DICT, 0, [("a", 1)], hashes=[b.key_hash("a") ^ 1])
        img = _frost.MapImage(b.image(root))
        self.assertNotIn("a", img.root)
        with self.assertRaises(SnapshotError):
            img.verify()
        b = mb.Builder()
        root = b.table(mb.DICT, 0, [("a", 1), ("a", 2)])
        with self.assertRaises(SnapshotError):
            _frost.MapImage(b.image(root)).verify()

    def test_cyclic_tuple(self):
        b = mb.Builder()
        off = b.reserve(16)
        b.set_u64(off, b.head(mb.TUPLE, 0, 1))
        b.set_u64(off + 8, mb.node_ref(off))
        b.nnodes = 1
        img = _frost.MapImage(b.image(mb.node_ref(off)))
        with self.assertRaises(SnapshotError):
            img.root
        with self.assertRaises(SnapshotError):
            img.verify()
        # inside a list: the view is fine, reading or thawing the tuple is damage
        b.nnodes += 1
        lst = b.node(mb.LIST, 0, [mb.node_ref(off)])
        img = _frost.MapImage(b.image(lst))
        with self.assertRaises(SnapshotError):
            img.root[0]
        with self.assertRaises(SnapshotError):
            frost.thaw(img.root)

    def test_tuple_depth(self):
        t = ("leaf",)
        for _ in range(300):
            t = (t,)
        img = _frost.MapImage(image([t]))
        with self.assertRaises(SnapshotError):
            img.root[0]
        with self.assertRaises(SnapshotError):
            img.verify()

    def test_tuples_shared_as_real_data_shares_them_read_back(self):
        # (row,) * 300 of a 300-item row: a 90,000-item tree in a 5 KB image,
        # refused as damage under the old bound (image size + 64 Ki items)
        row = tuple(range(300))
        grid = (row,) * 300
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "grid.frost")
            frost.freeze(grid).save(path)
            frost.verify(path)
            for root in (frost.load(path).root, frost.share({"g": grid}).root["g"]):
                self.assertEqual(root, grid)
                self.assertIs(root[0], root[299])   # shared, as in the file
                self.assertEqual(hash(root), hash(grid))

    def test_tuple_billion_laughs(self):
        """T0 = (T1, T1), T1 = (T2, T2), ...: a tiny image that would hand out a
        2^60-path tuple; refused at access and by verify, in bounded time."""
        b = mb.Builder()
        ref = b.ref("x")
        for _ in range(60):
            ref = b.node(mb.TUPLE, 0, [ref, ref])
        root = b.node(mb.LIST, 0, [ref])
        img = _frost.MapImage(b.image(root))
        with self.assertRaises(SnapshotError):
            img.root[0]
        img.verify()     # the graph is valid: only materializing it is refused
        # as a dict key
        b = mb.Builder()
        ref = b.ref("x")
        for _ in range(60):
            ref = b.node(mb.TUPLE, 0, [ref, ref])
        root = b.put_u64s([b.head(mb.DICT, 0, 1), 3, 0, ref, 1] + [0xFFFFFFFFFFFFFFFF] * 4)
        b.nnodes += 1
        img = _frost.MapImage(b.image(mb.node_ref(root)))
        with self.assertRaises(SnapshotError):
            img.verify()
        with self.assertRaises(SnapshotError):
            list(img.root)
        self.assertNotIn(("x", "x"), img.root)

    def test_non_utf8_str(self):
        for raw in (b"\xff", b"\xc0\x80", b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"abc\xe2\x82",
                    b"\xf8\x88\x80\x80\x80", b"x" * 10 + b"\xff", b"x" * 70000 + b"\x80"):
            b = mb.Builder()
            ref = b.bytes_ref(raw, mb.STR_INLINE, mb.STR)
            root = b.node(mb.LIST, 0, [ref])
            img = _frost.MapImage(b.image(root))
            with self.subTest(raw=raw):
                with self.assertRaises(SnapshotError):
                    img.root[0]
                with self.assertRaises(SnapshotError):
                    img.verify()
        # lone surrogates are valid (surrogatepass)
        self.assertEqual(_frost.MapImage(image(["\ud800x"])).root[0], "\ud800x")

    def test_refs_outside_misaligned_wrong_kind(self):
        b = mb.Builder()
        s = b.ref("a string longer than 7")
        size_guess = 4096
        refs = [
            (size_guess << 20) | (9 << 4) | mb.STR,                 # str past the end
            ((1 << 44) - 1 << 20) | (0xFFFE << 4) | mb.BYTES,       # huge offset and length
            (129 << 20) | (0xFFFF << 4) | mb.STR,                   # long form, misaligned
            (130 << 20) | (0xFFFF << 4) | mb.BYTES,                 # long form, misaligned
            ((1 << 60) - 1) << 4 | mb.FLOAT,                        # float far outside
            ((1 << 60) - 1) << 4 | mb.COMPLEX,
            ((1 << 60) - 1) << 4 | mb.BIGINT,
            ((1 << 60) - 1) << 4 | mb.NODE,                         # node far outside
            (3 << 4) | mb.NODE,                                     # node inside the header
            (s & ~0xF) | mb.NODE,                                   # not a node at all
            0xB, 0xC, 0xF,                                          # unknown tags
            (9 << 4) | mb.SPECIAL,                                  # unknown special
            (8 << 4) | mb.STR_INLINE,                               # inline length 8
            (1 << 63) | (1 << 4) | mb.BYTES_INLINE,                 # junk past the length
        ]
        for r in refs:
            bb = mb.Builder()
            root = bb.node(mb.LIST, 0, [bb.ref("pad" * 10), r])
            data = bb.image(root)
            img = _frost.MapImage(data)
            with self.subTest(ref=hex(r)):
                with self.assertRaises(SnapshotError):
                    img.root[1]
                with self.assertRaises(SnapshotError):
                    img.verify()

    def test_huge_lengths(self):
        for kind in (mb.TUPLE, mb.LIST, mb.DICT, mb.SET, mb.ARRAY):
            for n in ((1 << 48) - 1, 1 << 20):
                b = mb.Builder()
                off = b.put_u64s([b.head(kind, 0, n), 3, 0, 0, 0, 0])
                b.nnodes = 1
                with self.subTest(kind=kind, n=n), self.assertRaises(SnapshotError):
                    _frost.MapImage(b.image(mb.node_ref(off))).root

    def test_bigint(self):
        for n, payload in ((0, b""), (1 << 25, b""), (3, b"\x01\x00\x00"), (2, b"\xff\xff")):
            b = mb.Builder()
            off = b.put(struct.pack("<Q", n) + payload + bytes(8), 8)
            b.align(8)
            root = b.node(mb.LIST, 0, [((off // 8) << 4) | mb.BIGINT])
            with self.subTest(n=n, payload=payload):
                self.assertEqual(self.assert_damage_caught(b.image(root)), "verify")

    def test_arrays(self):
        def arr_image(fmt=b"d\0", itemsize=8, nbytes=16, shape=(2,), align_off=0, origin=0,
                      format_len=None):
            b = mb.Builder()
            f = b.put(fmt)
            b.align(64)
            data = len(b.buf) + align_off
            b.buf += bytes(min(nbytes, 4096) + 64)
            words = [itemsize, nbytes, f, len(fmt) - 1 if format_len is None else format_len, data]
            root = b.node(mb.ARRAY, origin, words + list(shape), length=len(shape))
            return b.image(root)
        self.assertEqual(_frost.MapImage(arr_image()).root.shape, (2,))
        bad = {
            "nbytes": arr_image(nbytes=24),
            "overflow": arr_image(shape=(1 << 62, 1 << 62), nbytes=0),
            "misaligned": arr_image(align_off=8),
            "format object": arr_image(fmt=b"O\0"),
            "format pointer": arr_image(fmt=b"P\0"),
            "format no NUL": arr_image(fmt=b"dd", format_len=2),
            "format len": arr_image(format_len=1 << 40),
            "itemsize": arr_image(itemsize=4),
            "itemsize 0": arr_image(itemsize=0, nbytes=0),
            "origin": arr_image(origin=9),
            "ndim": arr_image(shape=(1,) * 65, nbytes=8),
            "data outside": arr_image(nbytes=1 << 40, shape=(1 << 37,)),
        }
        for name, data in bad.items():
            with self.subTest(name), self.assertRaises(SnapshotError):
                _frost.MapImage(data).root

    def test_records(self):
        def rec_image(module, qualname, state, kind=0):
            b = mb.Builder()
            root = b.node(mb.RECORD, kind, [module(b), qualname(b), state(b)], length=0)
            return b.image(root)
        s = lambda b: b.ref("m")
        fields = lambda b: b.ref({"x": 1})
        for name, data in {
            "module int": rec_image(lambda b: b.ref(1), s, fields),
            "qualname list": rec_image(s, lambda b: b.ref([1]), fields),
            "state list": rec_image(s, s, lambda b: b.ref([1, 2])),
            "state leaf": rec_image(s, s, lambda b: 5 << 4 | 1),
            "kind": rec_image(s, s, fields, kind=7),
        }.items():
            with self.subTest(name):
                self.assertIn(self.assert_damage_caught(data), ("open", "verify"))

    def test_unknown_flags_and_kinds(self):
        for kind, flags in ((mb.TUPLE, 1), (mb.LIST, 3), (mb.DICT, 1), (mb.SET, 2), (0, 0), (7, 0),
                            (0xFF, 0)):
            b = mb.Builder()
            off = b.put_u64s([b.head(kind, flags, 0), 3] + [0xFFFFFFFFFFFFFFFF] * 4)
            b.nnodes = 1
            with self.subTest(kind=kind, flags=flags), self.assertRaises(SnapshotError):
                _frost.MapImage(b.image(mb.node_ref(off))).root

    def test_key_of_the_wrong_kind(self):
        """A table key that is a list node: damage wherever it is read (a lookup that
        reaches it, iteration, verify, thaw), as verify finds it: never a view."""
        b = mb.Builder()
        lst = b.ref([1, "x", None])
        h = b.key_hash((1, "x", None))
        root = b.put_u64s([b.head(mb.DICT, 0, 1), 3, h & 0xFFFFFFFF, lst, 1]
                          + [0xFFFFFFFFFFFFFFFF] * 4)
        b.nnodes += 1
        data = bytearray(b.image(mb.node_ref(root)))
        idx_at = root + 40
        struct.pack_into("<I", data, idx_at + 4 * (h & 7), 0)
        img = _frost.MapImage(reseal(data))
        with self.assertRaises(SnapshotError):
            (1, "x", None) in img.root
        with self.assertRaises(SnapshotError):
            list(img.root)
        with self.assertRaises(SnapshotError):
            img.verify()
        with self.assertRaises(SnapshotError):       # no dict can hold it: damage, not TypeError
            frost.thaw(img.root)

    def test_deep_chains_in_a_child(self):
        """200,000 nested lists: verify (iterative), thaw, repr: errors, not a C stack overflow."""
        code = textwrap.dedent("""
            import frost, mapbuild as mb
            from frost import _frost
            b = mb.Builder()
            r = b.node(mb.LIST, 0, [b.ref(0)])
            for _ in range(200_000):
                r = b.node(mb.LIST, 0, [r])
            img = _frost.MapImage(b.image(r))
            img.verify()
            for f in (frost.thaw, repr, lambda x: x == x, lambda x: x == [[]]):
                try:
                    f(img.root)
                except RecursionError:
                    pass
            print("done")
        """)
        out = run_child(code, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertEqual(out.stdout.strip(), "done")

    def test_nnodes_mismatch(self):
        data, b = build({"a": [1, "x"]})
        img = _frost.MapImage(patched(data, 80, "<Q", b.nnodes + 1))
        self.assertEqual(img.root["a"][1], "x")
        with self.assertRaises(SnapshotError):
            img.verify()


if __name__ == "__main__":
    unittest.main()
