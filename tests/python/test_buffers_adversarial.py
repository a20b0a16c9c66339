"""frost.Array as a hostile or careless user meets it (issue 14, items 2, 9, 14).

Each class of misuse found by attacking the buffer/array code is a test here:
- an Array is a sequence like memoryview and numpy: iterable (over items, or
  sub-Arrays for rank > 1), not only len() and [i];
- a sub-Array (`a[1]` of a 2-D Array) crosses to another interpreter and
  pickles, as the whole Array does, and reads the same memory there;
- items of every format the struct module reads (byte-swapped, multi-item,
  padded) read in an interpreter without numpy (a pool worker);
- whatever the exporter does (lies about its layout, frees its memory in
  __release_buffer__, holds pointers, suboffsets), freeze copies exactly what
  was exported or refuses with FreezeError, and every export of the result is
  read-only.
"""
import array
import os
import pickle
import shutil
import tempfile
import unittest

import numpy as np

import frost
import bufferwork
from frostcheck import LeakCheckedTestCase

try:
    import _testbuffer
except ImportError:   # a Python built without its test modules
    _testbuffer = None


def saved_and_loaded(value, test):
    fd, path = tempfile.mkstemp(suffix=".frost")
    os.close(fd)
    test.addCleanup(os.unlink, path)
    store = frost.freeze(value)
    store.save(path, format=1)
    store.close()
    loaded = frost.load(path, lifetime="scoped")
    test.addCleanup(loaded.close)
    return loaded.root


class CheckedTestCase(LeakCheckedTestCase):
    """Cleanups (the loaded snapshots) run before the leak check."""

    def tearDown(self):
        self.doCleanups()
        super().tearDown()


# one value of every kind of buffer a user may hand to freeze
SAMPLES = {
    "bool": lambda: np.array([True, False, True]),
    "float16": lambda: np.array([1.5, -2.0, 0.25], np.float16),
    "complex64": lambda: np.array([1 + 2j, 3 - 4j], np.complex64),
    "clongdouble": lambda: np.array([1 + 2j], np.clongdouble),
    "longdouble": lambda: np.array([1.5, 2.5], np.longdouble),
    "unicode": lambda: np.array(["ab", "c", "日本"]),
    "bytes": lambda: np.array([b"ab", b"c"]),
    "big-endian": lambda: np.arange(4, dtype=">i4"),
    "struct": lambda: np.array([(1, 2.0), (3, 4.0)], [("a", "<i4"), ("b", ">f8")]),
    "2-D": lambda: np.arange(12, dtype="<i8").reshape(3, 4),
    "3-D": lambda: np.arange(24, dtype="u1").reshape(2, 3, 4),
    "empty 2-D": lambda: np.zeros((3, 0)),
    "bytearray": lambda: bytearray(b"abc"),
    "array.d": lambda: array.array("d", [1.0, 2.0]),
    "array.w": lambda: array.array("w" if "w" in array.typecodes else "u", "xyz"),
    "memoryview cast": lambda: memoryview(bytes(range(24))).cast("i", (2, 3)),
}


class ArrayIsASequenceTest(CheckedTestCase):
    """iter(a) and `for x in a` work as on memoryview/numpy: items for a 1-D
    Array, sub-Arrays for higher ranks; before, len() and a[i] worked but
    iter() raised TypeError."""

    def test_iteration_matches_indexing_for_every_sample(self):
        for name, make in SAMPLES.items():
            with self.subTest(name):
                value = make()
                for view in (frost.freeze(value).root, saved_and_loaded(value, self)):
                    items = list(view)
                    self.assertEqual(len(items), len(view))
                    for i, item in enumerate(items):
                        if isinstance(item, frost.Array):
                            self.assertEqual(item.tolist(), view[i].tolist())
                        else:
                            self.assertEqual(item, view[i])
                    self.assertEqual([x.tolist() if isinstance(x, frost.Array) else x
                                      for x in view], np.asarray(view).tolist())

    def test_a_0_dimensional_array_is_not_iterable(self):
        view = frost.freeze(np.array(7)).root
        with self.assertRaises(TypeError):
            iter(view)
        with self.assertRaises(TypeError):
            len(view)
        self.assertEqual(view.tolist(), 7)

    def test_membership_and_reversed(self):
        view = frost.freeze(array.array("i", [5, 6, 7])).root
        self.assertIn(6, view)
        self.assertNotIn(8, view)
        self.assertEqual(list(reversed(view)), [7, 6, 5])


class ThawOfEveryBufferTest(CheckedTestCase):
    """thaw() gives a local copy of every Array that froze, including empty
    ones (a memoryview with a 0 in its shape cannot be cast, which made
    thaw of `memoryview(b'')` raise TypeError), sub-Arrays, and arrays of
    formats memoryview cannot cast to (their bytes)."""

    def test_thaw_copies_bytes_for_every_exporter(self):
        class Exporter:
            def __init__(self, target):
                self.target = target

            def __buffer__(self, flags):
                return memoryview(self.target)

        values = [memoryview(b""), memoryview(b"").cast("i"), bytearray(), array.array("q"),
                  Exporter(np.zeros((2, 0))), Exporter(np.zeros((0,), "i2")),
                  Exporter(np.zeros(2, complex)), memoryview(bytes(8)).cast("d", ()),
                  memoryview(bytes(range(24))).cast("i", (2, 3))]
        values += [make() for make in SAMPLES.values()]
        for value in values:
            with self.subTest(value=value):
                for view in (frost.freeze(value).root, saved_and_loaded(value, self)):
                    thawed = frost.thaw(view)
                    self.assertEqual(memoryview(thawed).tobytes(), memoryview(value).tobytes())
                    self.assertEqual(memoryview(thawed).nbytes, memoryview(value).nbytes)
                    if len(view.shape) > 1 and view.shape[0] > 0:
                        part = frost.thaw(view[-1])
                        self.assertEqual(memoryview(part).tobytes(),
                                         memoryview(view[-1]).tobytes())


class SubArraysTravelTest(CheckedTestCase):
    """a[i] of a multi-dimensional Array pickles and goes to a pool worker as
    a view of the same memory, like the whole Array; before it raised
    TypeError, so `pool.submit(fn, a[1])` failed."""

    def test_sub_arrays_pickle_to_the_same_memory(self):
        value = np.arange(24, dtype="<i4").reshape(2, 3, 4)
        store = frost.freeze({"a": value})
        a = store.root["a"]
        for sub, expect in ((a[1], value[1]), (a[1][2], value[1][2]), (a[-1][-3], value[-1][-3]),
                            (a[0][0], value[0][0])):
            again = pickle.loads(pickle.dumps(sub))
            self.assertIsInstance(again, frost.Array)
            self.assertEqual(again.shape, expect.shape)
            self.assertEqual(again.tolist(), expect.tolist())
            self.assertEqual(np.asarray(again).__array_interface__["data"][0],
                             np.asarray(sub).__array_interface__["data"][0])

    def test_sub_arrays_of_a_loaded_snapshot_pickle(self):
        value = np.arange(6, dtype=">f8").reshape(3, 2)
        a = saved_and_loaded(value, self)
        self.assertEqual(pickle.loads(pickle.dumps(a[2])).tolist(), value[2].tolist())

    def test_forged_sub_array_indices_are_refused(self):
        store = frost.freeze(np.arange(24, dtype="<i4").reshape(2, 3, 4))
        rebuild, args = store.root[1][2].__reduce__()
        self.assertEqual(args[3], (2, 5))   # first 2 indices (1, 2), flattened: 1*3 + 2
        for forged in ((3, 0), (0, 0), (-1, 0), (1, 2), (2, 6), (2, -1), (0, 0, 0), (), (1,),
                       (2 ** 70, 0), (2, 2 ** 70), (1.0, 0), ("1", 0), (None, 0)):
            with self.subTest(forged=forged):
                with self.assertRaisesRegex((TypeError, ValueError), "invalid frost reference"):
                    rebuild(*args[:3], forged)
        self.assertEqual(rebuild(*args[:3], (2, 3)).tolist(), list(range(12, 16)))
        self.assertEqual(rebuild(*args[:3], (1, 1)).tolist(), np.arange(12, 24).reshape(3, 4).tolist())
        store.close()

    def test_a_pool_worker_reads_sub_arrays_read_only(self):
        value = np.arange(12, dtype="<i8").reshape(3, 4)
        store = frost.freeze({"a": value, "s": np.arange(6, dtype=">i4").reshape(2, 3)})
        with frost.Pool(2) as pool:
            for view, expect in ((store.root["a"][1], value[1]),
                                 (store.root["a"], value),
                                 (store.root["s"][1], np.arange(3, 6, dtype=">i4"))):
                fmt, shape, readonly, data, items, listed, refused = pool.submit(
                    bufferwork.array_facts, view).result(timeout=120)
                self.assertEqual((fmt, shape, readonly, refused),
                                 (memoryview(view).format, expect.shape, True, True))
                self.assertEqual(data, expect.tobytes())
                self.assertEqual(items, expect.tolist())
                self.assertEqual([x.tolist() if hasattr(x, "tolist") else x for x in listed],
                                 expect.tolist())
            del view


class ItemsWithoutNumpyTest(unittest.TestCase):
    """Formats memoryview cannot unpack but the struct module can ('>i',
    multi-item 'id', '<iq2s', padded 'b3xi') read in an interpreter where
    numpy is not imported; before, tolist() and a[i] raised
    NotImplementedError there."""

    def test_struct_formats_read_without_numpy(self):
        from frostcheck import run_child
        code = r"""
import sys, struct, frost
assert "numpy" not in sys.modules
cases = [(">i", [1, -2, 3]), ("<q", [1, 2]), ("!H", [7, 8]), ("id", [(1, 2.5), (3, 4.5)]),
         ("<iq2s", [(1, 2, b"ab"), (3, 4, b"cd")]), ("b3xi", [(1, 2), (-3, 4)]), ("=e", [1.5])]
for fmt, items in cases:
    raw = b"".join(struct.pack(fmt, *(it if isinstance(it, tuple) else (it,))) for it in items)
    mv = memoryview(raw).cast("B")
    store = frost.freeze(bytearray(raw))
    # re-freeze the bytes under `fmt` through an exporter that reports it
    class Exporter:
        def __buffer__(self, flags):
            import _testbuffer
            return memoryview(_testbuffer.ndarray(list(items), shape=[len(items)], format=fmt))
    # frost.Array and frost.MappedArray read them alike (before, MappedArray's
    # a[i] and iteration raised NotImplementedError)
    for a in (frost.freeze(Exporter()).root, frost.share(Exporter()).root):
        assert a.format == fmt, (type(a), a.format, fmt)
        assert a.tolist() == items, (type(a), fmt, a.tolist(), items)
        assert [a[i] for i in range(len(items))] == items, (type(a), fmt)
        assert a[-1] == items[-1], (type(a), fmt)
        assert list(a) == items, (type(a), fmt)
        try:
            a[len(items)]
            raise AssertionError("no IndexError")
        except IndexError as e:
            assert "index out of range" in str(e), e
    assert "numpy" not in sys.modules
print("ok")
"""
        if _testbuffer is None:
            self.skipTest("needs CPython's _testbuffer")
        proc = run_child(code, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("ok", proc.stdout)


    def test_empty_dimensions_without_numpy(self):
        # a shape with a 0 read through the struct module: MappedArray.tolist()
        # gave [] for (3, 0) (its outer dimension dropped), not [[], [], []]
        from frostcheck import run_child
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        shapes = [(3, 0), (2, 0, 4), (0, 3), (0,)]
        data = {str(s): np.zeros(s, dtype=">i4") for s in shapes}
        paths = [os.path.join(folder, "array.frost"), os.path.join(folder, "mapped.frost")]
        frozen, shared = frost.freeze(data), frost.share(data)
        frozen.save(paths[0], format=1)
        shared.save(paths[1])
        frozen.close()
        shared.close()
        expected = [(str(s), np.zeros(s).tolist()) for s in shapes]
        code = f"""
import sys, frost
assert "numpy" not in sys.modules
for path, kind in (({paths[0]!r}, "Array"), ({paths[1]!r}, "MappedArray")):
    root = frost.load(path).root
    for shape, expected in {expected!r}:
        assert type(root[shape]).__name__ == kind, type(root[shape])
        got = root[shape].tolist()
        assert got == expected, (kind, shape, got, expected)
print("ok")
"""
        proc = run_child(code, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("ok", proc.stdout)


class FakeNumpyTest(unittest.TestCase):
    """Items memoryview cannot unpack are read through sys.modules['numpy'],
    whatever a program put there: a module whose asarray(x) gave x back made
    a[i] read a[i] again until the C stack overflowed (SIGSEGV). Such an
    asarray now reads nothing (the struct module reads what it can, else
    memoryview's NotImplementedError); one whose result reads the array again
    is a RecursionError."""

    def test_an_asarray_that_returns_its_argument_or_reads_it_again(self):
        from frostcheck import run_child
        code = r"""
import sys, types, numpy as np, frost
data = {"c": np.array([1 + 2j, 3j]), "g": np.arange(4, dtype=">i4").reshape(2, 2)}
views = [frost.freeze(data).root, frost.share(data).root]
fake = types.ModuleType("numpy")
fake.asarray = lambda x, *args, **kw: x
sys.modules["numpy"] = fake
for root in views:
    for read in (lambda: root["c"][0], lambda: list(root["c"]), lambda: root["c"].tolist()):
        try:
            read()
            raise AssertionError(f"{type(root['c']).__name__}: read complex items")
        except NotImplementedError:   # memoryview's: nothing here reads 'Zd'
            pass
    assert root["g"][1, 1] == 3 and root["g"].tolist() == [[0, 1], [2, 3]]   # struct reads '>i'

class Again:   # an "array" whose items read the frost array again
    def __init__(self, a):
        self.a = a
    def __getitem__(self, key):
        return self.a[key]
fake.asarray = lambda x, *args, **kw: Again(x)
sys.setrecursionlimit(200)
for root in views:
    try:
        root["c"][0]
        raise AssertionError(f"{type(root['c']).__name__}: no RecursionError")
    except RecursionError:
        pass
sys.modules["numpy"] = np
assert views[1]["c"][1] == 3j and views[0]["g"][1, 1] == 3
print("ok")
"""
        proc = run_child(code, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("ok", proc.stdout)


class NumpyBlockedTest(unittest.TestCase):
    """`sys.modules['numpy'] = None` (the usual way to block an import) is
    "numpy not imported": items and thaw() fall back to the struct module or
    bytes instead of raising AttributeError on None."""

    def test_items_and_thaw_with_numpy_blocked(self):
        from frostcheck import run_child
        code = r"""
import sys, numpy as np, frost
store = frost.freeze({"be": np.arange(3, dtype=">i4"), "c": np.array([1 + 2j]),
                      "n": np.arange(4, dtype="<i8").reshape(2, 2)})
sys.modules["numpy"] = None
root = store.root
assert root["be"].tolist() == [0, 1, 2], root["be"].tolist()
assert list(root["be"]) == [0, 1, 2]
assert root["be"][-1] == 2
assert root["n"].tolist() == [[0, 1], [2, 3]]
for key in ("be", "c", "n"):
    thawed = frost.thaw(root[key])
    assert memoryview(thawed).tobytes() == memoryview(root[key]).tobytes(), key
try:
    root["c"].tolist()
except NotImplementedError:
    pass
assert (root["be"] == root["be"]) is True
print("ok")
"""
        proc = run_child(code, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("ok", proc.stdout)


class HostileExportersTest(LeakCheckedTestCase):
    """Exporters that lie, free or change their memory: freeze copies what
    was exported at that moment, or refuses with FreezeError; never crashes."""

    def test_exporter_frees_its_memory_in_release_buffer(self):
        class Vanishing:
            def __buffer__(self, flags):
                self.owner = bytearray(b"abcd" * 1000)
                return memoryview(self.owner)

            def __release_buffer__(self, view):
                view.release()
                del self.owner[:]     # resizes (frees) the memory freeze copied from

        store = frost.freeze([Vanishing()])
        self.assertEqual(bytes(memoryview(store.root[0])), b"abcd" * 1000)
        store.close()

    def test_exporter_hands_out_a_frost_view_and_closes_its_store(self):
        class Borrowing:
            def __buffer__(self, flags):
                self.inner = frost.freeze(bytearray(b"hello"))
                return memoryview(self.inner.root)

            def __release_buffer__(self, view):
                view.release()
                self.inner.close()

        b = Borrowing()
        store = frost.freeze(b)
        self.assertEqual(bytes(memoryview(store.root)), b"hello")
        store.close()
        del b

    def test_exporter_that_raises_or_returns_garbage(self):
        class Raising:
            def __buffer__(self, flags):
                raise RuntimeError("no buffer today")

        class Garbage:
            def __buffer__(self, flags):
                return b"not a memoryview"

        with self.assertRaises(RuntimeError):
            frost.freeze(Raising())
        with self.assertRaises(frost.FreezeError):
            frost.freeze(Garbage())

    def test_released_memoryview_is_refused(self):
        m = memoryview(bytearray(b"abc"))
        m.release()
        with self.assertRaisesRegex(frost.FreezeError, "memoryview"):
            frost.freeze({"m": m})

    def test_bytearray_resized_by_another_thread_while_freezing(self):
        import threading
        data = bytearray(1 << 16)
        stop = threading.Event()

        def resize():
            while not stop.is_set():
                try:
                    data.extend(b"x")
                    del data[-1:]
                except BufferError:   # exported to freeze at this moment
                    pass

        t = threading.Thread(target=resize)
        t.start()
        try:
            for _ in range(50):
                store = frost.freeze([data, {"k": data}])
                self.assertIn(len(memoryview(store.root[0])), (1 << 16, (1 << 16) + 1))
                store.close()
        finally:
            stop.set()
            t.join()

    @unittest.skipIf(_testbuffer is None, "needs CPython's _testbuffer")
    def test_suboffsets_and_negative_strides_are_refused(self):
        tb = _testbuffer
        for value in (tb.ndarray(list(range(12)), shape=[3, 4], format="i", flags=tb.ND_PIL),
                      tb.ndarray(list(range(12)), shape=[3, 4], format="i", flags=tb.ND_FORTRAN),
                      tb.ndarray(list(range(12)), shape=[12], strides=[-4], offset=44, format="i"),
                      np.arange(10)[::-1], np.arange(10)[::2], np.zeros((3, 4), order="F"),
                      np.broadcast_to(np.arange(3), (4, 3))):
            with self.subTest(value=value):
                with self.assertRaisesRegex(frost.FreezeError, "non-contiguous"):
                    frost.freeze({"x": value})


class EveryExportIsReadOnlyTest(LeakCheckedTestCase):
    """No consumer gets a writable view of a sealed page: each writer raises."""

    def test_writers_are_refused(self):
        import ctypes
        import io
        import struct
        store = frost.freeze({"a": np.arange(12, dtype="i4").reshape(3, 4),
                              "b": bytearray(b"wxyz"), "l": [1, 2, 3, 4]})
        for view in (store.root["a"], store.root["a"][1], store.root["b"], store.root["l"]):
            with self.subTest(view=view):
                with self.assertRaises(TypeError):
                    ctypes.c_char.from_buffer(view)
                with self.assertRaises(TypeError):
                    struct.pack_into("b", view, 0, 1)
                with self.assertRaises(TypeError):
                    io.BytesIO(b"abcdefgh").readinto(view)
                with self.assertRaises(TypeError):
                    memoryview(view).cast("B")[0] = 1
                arr = np.asarray(view)
                with self.assertRaises(ValueError):
                    arr[...] = 0
                with self.assertRaises(ValueError):
                    arr.setflags(write=True)
                with self.assertRaises(ValueError):
                    np.frombuffer(view, "u1").setflags(write=True)
        del view, arr


if __name__ == "__main__":
    unittest.main()
