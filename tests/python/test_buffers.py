"""Buffers in and out of frost (issue 14, items 2, 9 and 14).

- Only buffers of pure data freeze: formats that hold pointers ('O' numpy
  object arrays, 'P', ctypes pointers, structs holding either) are refused
  with FreezeError naming the path, because the arena would keep addresses
  of one interpreter's objects.
- What freezes saves and loads with identical bytes, format, shape and numpy
  dtype (complex, long double, unicode, structured, sub-arrays, byte orders,
  long formats); what cannot be read back that way is refused at freeze.
- Buffer exports honour what the requester asked for: a Fortran- or
  C-contiguous request is granted exactly when the data is laid out that way,
  as memoryview and numpy decide it.
"""
import array
import ctypes
import os
import pickle
import sys
import tempfile
import unittest

import numpy as np

import frost
from frost import _frost
from frostcheck import LeakCheckedTestCase

try:
    import _testbuffer
except ImportError:   # a Python built without its test modules
    _testbuffer = None

# Every dtype numpy can export through the buffer protocol, in both byte
# orders where numpy has them, plus structs with padding, nesting, sub-arrays
# and names long enough to make the format longer than 31 characters.
DATA_DTYPES = [
    "?", "b", "B", "<h", ">h", "<H", ">H", "<i", ">i", "<I", ">I", "<l", ">l", "<q", ">q",
    "<Q", ">Q", "<e", ">e", "<f", ">f", "<d", ">d", "g", "<F", ">F", "<D", ">D", "G",
    "U1", "<U7", ">U3", "S1", "S9",
    [("a", "u1"), ("b", "<f8")],
    np.dtype([("a", "u1"), ("b", "<f8")], align=True),
    [("a", "u1"), ("s", [("x", "<f8"), ("y", "u1")])],
    np.dtype([("a", "u1"), ("s", [("x", "<f8"), ("y", "u1")])], align=True),
    [("a", "<i4", (2, 3)), ("b", "<U2"), ("c", ">c16"), ("d", "g")],
    [("identifier", "<i8"), ("price_in_cents", "<f8"), ("quantity", "<i4"),
     ("description", "<U40"), ("flags", "u1", (3,))],
    [(f"field_number_{i}", "<f4") for i in range(200)],
]

# Dtypes whose items are pointers: the buffer holds this process's addresses.
POINTER_DTYPES = ["O", [("a", "<i4"), ("o", "O")], [("s", [("x", "<f8"), ("o", "O")])]]


def fill(a):
    """Deterministic, non-zero bytes in every item (padding included)."""
    raw = a.reshape(-1).view(np.uint8)
    raw[:] = (np.arange(raw.size) * 37 + 11) % 251
    return a


def saved_and_loaded(store, directory):
    path = os.path.join(directory, "a.frost")
    store.save(path, format=1)
    return frost.load(path, lifetime="scoped")


class FreezeRefusesPointers(LeakCheckedTestCase):
    def assertRefused(self, value, fmt_pattern):
        with self.assertRaises(frost.FreezeError) as cm:
            frost.freeze({"data": [value]})
        msg = str(cm.exception)
        self.assertTrue(msg.startswith("root['data'][0]: cannot freeze buffer"), msg)
        self.assertRegex(msg, fmt_pattern)
        return msg

    def test_numpy_object_arrays(self):
        for dt in POINTER_DTYPES:
            with self.subTest(dtype=dt):
                a = np.zeros(3, dtype=dt)
                msg = self.assertRefused(a, "pointers")
                self.assertIn("numpy.ndarray", msg)

    def test_object_arrays_of_any_shape_and_slice(self):
        a = np.array([[object(), 1], ["x", None]], dtype=object)
        self.assertRefused(a, "pointers")
        self.assertRefused(a[1], "pointers")
        self.assertRefused(a.T.copy(), "pointers")

    def test_memoryview_cast_to_pointers(self):
        self.assertRefused(memoryview(bytes(16)).cast("P"), r"format 'P'")

    def test_ctypes_pointers(self):
        class WithPointer(ctypes.Structure):
            _fields_ = [("a", ctypes.c_int), ("p", ctypes.c_void_p)]
        for value in [(ctypes.c_void_p * 2)(), (ctypes.POINTER(ctypes.c_int) * 2)(),
                      (ctypes.c_char_p * 2)(), (ctypes.py_object * 2)(), (WithPointer * 2)()]:
            with self.subTest(type=type(value).__name__):
                self.assertRefused(value, "cannot freeze buffer")

    def test_pure_padding_is_refused(self):
        # numpy's void dtype exports '4x': no data, reads back as another dtype
        self.assertRefused(np.zeros(3, dtype="V4"), "no data")

    def test_format_and_item_size_must_agree(self):
        # numpy exports 'T{xxxxi:a:}' with item size 12, which numpy itself
        # cannot read back (it computes 8)
        dt = np.dtype({"names": ["a"], "formats": ["<i4"], "offsets": [4], "itemsize": 12})
        self.assertRefused(np.zeros(2, dtype=dt), "item size")


class FreezeRefusesMaskedArrays(LeakCheckedTestCase):
    def test_a_masked_array_is_refused_naming_the_mask_and_what_to_freeze(self):
        # its buffer is the data alone: freeze and share kept it without the mask,
        # and the masked values read as data (sum 6 for a masked_array whose sum is 4)
        class Sub(np.ma.MaskedArray):
            pass
        m = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
        for value in (m, m.view(Sub), np.ma.masked_array(np.zeros((2, 2)))):
            for make in (frost.freeze, frost.share):
                with self.subTest(type=type(value).__name__, make=make.__name__):
                    with self.assertRaisesRegex(
                            frost.FreezeError, r"^root\['a'\]\[1\]: cannot freeze object of "
                            rf"type '{type(value).__name__}': its buffer holds the data without "
                            r"the mask .*freeze its \.filled\(value\), or its \.data and \.mask"):
                        make({"a": [0, value]})
        for value in (m.filled(0), m.data, m.mask):   # what the message offers
            with self.subTest(offered=type(value).__name__):
                self.assertEqual(np.asarray(frost.freeze(value).root).tolist(), value.tolist())


class DataRoundTrips(LeakCheckedTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()
        super().tearDown()

    def check_same(self, view, original):
        mine = memoryview(view)
        theirs = memoryview(original)
        self.assertEqual(mine.format, theirs.format)
        self.assertEqual(mine.itemsize, theirs.itemsize)
        self.assertEqual(mine.shape, theirs.shape)
        self.assertEqual(mine.tobytes(), theirs.tobytes())
        mine.release()
        theirs.release()

    def test_every_numpy_data_dtype_saves_and_loads(self):
        for dt in DATA_DTYPES:
            for shape in [(5,), (2, 3), ()]:
                with self.subTest(dtype=dt, shape=shape):
                    a = fill(np.zeros(shape, dtype=dt))
                    try:
                        readable = np.asarray(memoryview(a)).dtype == a.dtype
                    except (ValueError, RuntimeError):
                        readable = False
                    if not readable:
                        # numpy exports a format it cannot read back itself
                        # (0-d packed structs): refused, never half-frozen
                        with self.assertRaisesRegex(frost.FreezeError, "item size"):
                            frost.freeze({"a": a})
                        continue
                    store = frost.freeze({"a": a})
                    self.check_same(store.root["a"], a)
                    loaded = saved_and_loaded(store, self.tmp.name)
                    got = np.asarray(loaded.root["a"])
                    self.assertEqual(got.dtype, a.dtype)
                    self.assertEqual(got.shape, a.shape)
                    self.assertEqual(got.tobytes(), a.tobytes())
                    self.check_same(loaded.root["a"], a)
                    thawed = frost.thaw(loaded.root)["a"]
                    self.assertIsInstance(thawed, np.ndarray)
                    self.assertEqual(thawed.dtype, a.dtype)
                    self.assertEqual(thawed.shape, a.shape)
                    # every field's value (numpy's copy leaves struct padding undefined)
                    if a.dtype.fields is None:
                        self.assertEqual(thawed.tobytes(), a.tobytes())
                    else:
                        self.assertEqual(repr(thawed.tolist()), repr(a.tolist()))
                    del got, thawed
                    loaded.close()
                    store.close()

    def test_random_structured_dtypes(self):
        """frost's reading of struct formats (store/array_format.c) against
        numpy's own: a struct numpy reads back from its buffer freezes, saves
        and loads to the dtype numpy reads (the original's, except where
        numpy's own buffer round trip moves the padding of nested aligned
        structs); one numpy cannot read back is refused."""
        import random
        rng = random.Random(14)
        bases = ["u1", "<i2", ">i4", "<i8", "<f4", ">f8", "<c8", "<c16", "g", "S3", "<U2", "?"]

        def struct(depth):
            n = rng.randint(1, 4)
            fields = []
            for i in range(n):
                if depth < 2 and rng.random() < 0.25:
                    base = struct(depth + 1)
                else:
                    base = np.dtype(rng.choice(bases))
                shape = rng.choice([(), (), (2,), (2, 3)])
                fields.append((f"f{depth}_{i}", base, shape) if shape else (f"f{depth}_{i}", base))
            return np.dtype(fields, align=rng.random() < 0.5)

        checked = refused = 0
        for _ in range(300):
            dt = struct(0)
            a = fill(np.zeros(rng.choice([(3,), (2, 2)]), dtype=dt))
            with self.subTest(dtype=dt):
                try:
                    numpy_reads = np.asarray(memoryview(a)).dtype
                except (ValueError, RuntimeError):
                    numpy_reads = None
                if numpy_reads is None:
                    with self.assertRaises(frost.FreezeError):
                        frost.freeze(a)
                    refused += 1
                    continue
                store = frost.freeze(a)
                loaded = saved_and_loaded(store, self.tmp.name)
                got = np.asarray(loaded.root)
                self.assertEqual(got.dtype, numpy_reads)
                self.assertEqual(got.dtype.itemsize, dt.itemsize)
                if not any(isinstance(f[1], list) for f in dt.descr):   # no nested struct
                    self.assertEqual(got.dtype, dt)
                self.assertEqual(got.tobytes(), a.tobytes())
                del got
                loaded.close()
                store.close()
                checked += 1
        self.assertGreater(checked, 200)
        self.assertGreater(refused, 0)

    def test_other_exporters_save_and_load(self):
        class Point(ctypes.Structure):
            _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double)]
        values = [bytearray(b"abc"), array.array("d", [1.5, 2.5]), array.array("w" if sys.version_info >= (3, 13) else "u", "hé"),
                  memoryview(bytes(range(24))).cast("i", (2, 3)), memoryview(b"xy").cast("c"),
                  memoryview(bytes(16)).cast("n"), memoryview(bytes(16)).cast("N"),
                  (ctypes.c_double * 3)(1, 2, 3), (Point * 2)()]
        if _testbuffer is not None:
            values.append(_testbuffer.ndarray([(1, 2, b"ab")] * 3, shape=[3], format="<iq2s"))
        for value in values:
            with self.subTest(value=value):
                store = frost.freeze([value])
                self.check_same(store.root[0], value)
                loaded = saved_and_loaded(store, self.tmp.name)
                self.check_same(loaded.root[0], value)
                loaded.close()
                store.close()

    def test_a_class_named_like_numpys_or_arrays_type_thaws_as_the_buffer_it_exports(self):
        # the freezer knew numpy.ndarray and array.array by their tp_name alone,
        # which a user's class gets by `__name__ = "numpy.ndarray"`: its 2x1
        # buffer thawed as a numpy array, or as a flat array.array('d', [0.0, 0.0])
        class Named:
            def __init__(self, view):
                self.view = view

            def __buffer__(self, flags):
                return self.view

            def __release_buffer__(self, view):
                pass

        for name in ("numpy.ndarray", "array.array"):
            Named.__name__ = name
            with self.subTest(name):
                value = Named(memoryview(bytes(range(16))).cast("d", (2, 1)))
                back = frost.thaw(frost.freeze([value]).root)[0]
                self.assertIs(type(back), memoryview)
                self.assertEqual((back.shape, back.tolist()), ((2, 1), value.view.tolist()))
        # numpy's and array's own still thaw as themselves
        back = frost.thaw(frost.freeze([np.arange(4.0).reshape(2, 2), array.array("d", [1.5])]).root)
        self.assertIs(type(back[0]), np.ndarray)
        self.assertEqual(back[0].tolist(), [[0.0, 1.0], [2.0, 3.0]])
        self.assertEqual(back[1], array.array("d", [1.5]))

    @unittest.skipIf(_testbuffer is None, "needs CPython's _testbuffer")
    def test_every_struct_format_saves_and_loads_or_is_refused_for_a_reason(self):
        import struct
        formats = [prefix + count + code for prefix in ["", "@", "=", "<", ">", "!"]
                   for count in ["", "3"] for code in "?cbBhHiIlLqQnNefdspP"]
        formats += ["bd", "hq", "xxd", "d2x", "=bd", "<hi", "di", "id", "3sd", ">?xH", "bbhi",
                    "2i4x", "@bxi", "^i", "b:name:"]
        accepted = 0
        for fmt in formats:
            try:
                size = struct.calcsize(fmt)
            except struct.error:
                continue   # not a struct format (n/N in standard mode, ...)
            with self.subTest(format=fmt):
                unpacked = struct.unpack(fmt, bytes([1]) * size)
                item = unpacked[0] if len(unpacked) == 1 else unpacked
                value = _testbuffer.ndarray([item] * 3, shape=[3], format=fmt)
                try:   # bytes per item as numpy reads it (sub-array codes become dimensions)
                    numpy_size = np.asarray(memoryview(value)).nbytes // 3
                except (ValueError, RuntimeError, NotImplementedError, TypeError):
                    numpy_size = None
                try:
                    store = frost.freeze([value])
                except frost.FreezeError as e:
                    # refused only for a pointer, or a size numpy reads otherwise ('di':
                    # struct 12, numpy 16), so numpy could not read it back either
                    self.assertTrue("P" in fmt or numpy_size != size, f"{fmt}: {e}")
                    continue
                accepted += 1
                self.assertTrue(numpy_size in (None, size), fmt)
                self.assertNotIn("P", fmt)
                loaded = saved_and_loaded(store, self.tmp.name)
                self.check_same(loaded.root[0], value)
                try:
                    expected = memoryview(value).tolist()
                except NotImplementedError:
                    expected = None
                if expected is not None:
                    self.assertEqual(loaded.root[0].tolist(), expected)
                loaded.close()
                store.close()
        self.assertGreater(accepted, 150)

    def test_standard_size_long_double_is_refused(self):
        # ctypes exports '<g': a long double with no standard size, which
        # neither numpy nor the struct module can read back
        with self.assertRaises(frost.FreezeError):
            frost.freeze((ctypes.c_longdouble * 2)())

    def test_struct_and_numpy_must_agree_on_the_size(self):
        if _testbuffer is None:
            self.skipTest("needs _testbuffer")
        # 'di': struct says 12 bytes, numpy 16 (it pads to the struct's alignment)
        value = _testbuffer.ndarray([(2.0, 1)] * 3, shape=[3], format="di")
        with self.assertRaises(frost.FreezeError):
            frost.freeze(value)

    def test_hostile_file_cannot_smuggle_a_refused_format(self):
        a = fill(np.zeros(4, dtype=[("zzzzq", "<f8")]))
        path = os.path.join(self.tmp.name, "h.frost")
        frost.freeze(a).save(path, format=1)
        blob = bytearray(open(path, "rb").read())
        at = blob.index(b"T{d:zzzzq:}\0")
        for replacement in [b"T{O:zzzzq:}", b"T{P:zzzzq:}", b"T{i:zzzzq:}", b"T{8x}zzzzq:",
                            b"T{d:zzzzq:'", b"T{&:zzzzq:}", b"T{t:zzzzq:}", b"T{d}zzzzq:}"]:
            with self.subTest(replacement=replacement):
                bad = bytearray(blob)
                bad[at:at + 11] = replacement
                bad[8:16] = _frost._snapshot_xxh64(bytes(bad[16:])).to_bytes(8, "little")
                with open(path, "wb") as f:
                    f.write(bad)
                with self.assertRaisesRegex(frost.SnapshotError, "array format refused"):
                    frost.load(path, lifetime="scoped")


class ItemsOfEveryFormatRead(LeakCheckedTestCase):
    """Indexing, tolist() and == give the items of every frozen dtype, not
    only the single native codes memoryview unpacks (complex, unicode,
    byte-swapped, structs, long double go through numpy)."""

    def test_items_tolist_and_equality(self):
        with np.errstate(invalid="ignore"):   # NaN bytes from fill()
            self.check_every_dtype()

    def check_every_dtype(self):
        for dt in DATA_DTYPES:
            for shape in [(4,), (2, 3)]:
                with self.subTest(dtype=dt, shape=shape):
                    a = fill(np.zeros(shape, dtype=dt))
                    if a.dtype.kind == "U":
                        a = np.full(shape, "hé\u20ac"[: a.dtype.itemsize // 4], dtype=dt)
                    store = frost.freeze(a)
                    root = store.root
                    self.assertEqual(repr(root.tolist()), repr(a.tolist()))
                    last = tuple(n - 1 for n in shape)
                    self.assertEqual(repr(root[last]), repr(a[last].item()))
                    self.assertEqual(repr(root[0][0] if len(shape) > 1 else root[0]),
                                     repr(a[(0,) * len(shape)].item()))
                    plain = a.dtype.fields is None and a.dtype.kind not in "fc"
                    if plain or a.dtype.kind in "c":
                        # NaN bytes from fill() are unequal to themselves, as in numpy
                        self.assertEqual(root == a, bool(np.array_equal(a, a)))
                    other = a.copy()
                    other.reshape(-1).view(np.uint8)[:1] ^= 0xFF
                    if not np.array_equal(other, a):
                        self.assertFalse(root == other)
                        self.assertTrue(root != other)
                    with self.assertRaises(IndexError):
                        root[(shape[0],) + (0,) * (len(shape) - 1)]
                    del root
                    store.close()


class EveryStoreKindComparesArraysAlike(LeakCheckedTestCase):
    """An array of every store kind (arena, scoped, shared, loaded formats 1
    and 2) compares as memoryview(a) does, with any buffer, and so do two
    containers holding equal arrays; .tobytes() and .strides as memoryview's.
    A MappedArray was equal to nothing but a memoryview (no == of its own), so
    frost.share(d).root == frost.share(d).root was False."""

    def roots(self, value, tmp):
        yield "freeze", frost.freeze(value).root
        yield "share", frost.share(value).root
        frost.freeze(value).save(os.path.join(tmp, "two.frost"))
        yield "load format 2", frost.load(os.path.join(tmp, "two.frost")).root
        frost.freeze(value).save(os.path.join(tmp, "one.frost"), format=1)
        yield "load format 1", frost.load(os.path.join(tmp, "one.frost"), lifetime="scoped").root

    def test_equality_tobytes_and_strides(self):
        grid = np.arange(12, dtype="<i4").reshape(3, 4)
        data = {"q": array.array("q", [1, 2, 3]), "b": bytearray(b"abc"), "grid": grid,
                "c": np.array([1 + 2j, 3 - 4j]), "be": np.array([1, 2], dtype=">i4")}
        with tempfile.TemporaryDirectory() as tmp:
            for kind, root in self.roots(data, tmp):
                with self.subTest(kind):
                    for key, original in data.items():
                        mine, again = root[key], root[key]
                        expected = memoryview(original)
                        self.assertTrue(mine == again and not mine != again, key)
                        self.assertTrue(mine == original, key)   # (ndarray == mine: numpy's, elementwise)
                        if not isinstance(original, np.ndarray):
                            self.assertTrue(original == mine, key)
                        self.assertTrue(mine == expected, key)
                        if key != "c":   # memoryview == reads 'Zd' items nowhere: unequal
                            self.assertTrue(expected == mine, key)
                        self.assertEqual(mine.tobytes(), expected.tobytes(), key)
                        self.assertEqual(mine.strides, expected.strides, key)
                        self.assertEqual(mine.shape, expected.shape, key)
                    self.assertTrue(root["b"] == b"abc" and root["b"] != b"abd")
                    self.assertFalse(root["q"] == root["b"])
                    self.assertFalse(root["q"] == [1, 2, 3])   # no buffer: identity, as memoryview
                    with self.assertRaises(TypeError):
                        root["q"] < root["q"]   # noqa: B015
                    other = dict(data, c=np.array([1 + 2j, 3 - 5j]))
                    for other_kind, other_root in self.roots(data, tmp):
                        self.assertEqual(root, other_root, other_kind)
                    for other_kind, other_root in self.roots(other, tmp):
                        self.assertNotEqual(root, other_root, other_kind)
                    del root, mine, again


    def test_rows_of_multi_dimensional_arrays(self):
        """a[i] of a rank-2+ array is its row, a view of the same memory, in
        every store kind (a MappedArray's a[i] was a TypeError, "needs 2
        indices"); rows iterate, compare, thaw and pickle as rows."""
        cube = np.arange(24, dtype="<i4").reshape(2, 3, 4)
        with tempfile.TemporaryDirectory() as tmp:
            for kind, root in self.roots({"cube": cube, "empty": np.zeros((3, 0))}, tmp):
                with self.subTest(kind):
                    a = root["cube"]
                    for i in (0, 1, -1, -2):
                        row = a[i]
                        self.assertEqual((row.shape, row.strides, row.nbytes), (cube[i].shape,
                                         cube[i].strides, cube[i].nbytes))
                        self.assertEqual(row.tolist(), cube[i].tolist())
                        self.assertTrue(row == cube[i])
                        self.assertEqual(row[2].tolist(), cube[i][2].tolist())
                        self.assertEqual(row[2][3], cube[i][2][3])
                        self.assertEqual(row[1, 2], cube[i][1, 2])
                        self.assertEqual(np.asarray(row).tolist(), cube[i].tolist())
                        self.assertEqual(frost.thaw(row).tolist(), cube[i].tolist())
                        self.assertEqual(frost.thaw(row[2]).tolist(), cube[i][2].tolist())
                        again = pickle.loads(pickle.dumps(row[2]))
                        self.assertIs(type(again), type(row))
                        self.assertEqual(again.tolist(), cube[i][2].tolist())
                    self.assertEqual([r.tolist() for r in a], cube.tolist())
                    for bad in (2, -3, 2**70):
                        with self.assertRaises(IndexError):
                            a[bad]
                    with self.assertRaises(TypeError):
                        a["0"]
                    empty = root["empty"]
                    self.assertEqual((empty[2].shape, empty[2].tolist()), ((0,), []))
                    del a, row, again, empty, root


class Py_buffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.POINTER(ctypes.c_ssize_t)),
                ("strides", ctypes.POINTER(ctypes.c_ssize_t)),
                ("suboffsets", ctypes.POINTER(ctypes.c_ssize_t)), ("internal", ctypes.c_void_p)]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(Py_buffer), ctypes.c_int]
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(Py_buffer)]

# inspect.BufferFlags names (3.12+), as plain ints
SIMPLE, WRITABLE, FORMAT, ND = 0, 0x1, 0x4, 0x8
STRIDES = 0x10 | ND
C_CONTIGUOUS, F_CONTIGUOUS, ANY_CONTIGUOUS = 0x20 | STRIDES, 0x40 | STRIDES, 0x80 | STRIDES
REQUESTS = {
    "SIMPLE": SIMPLE, "FORMAT": FORMAT, "ND": ND, "STRIDES": STRIDES, "C_CONTIGUOUS": C_CONTIGUOUS,
    "F_CONTIGUOUS": F_CONTIGUOUS, "ANY_CONTIGUOUS": ANY_CONTIGUOUS, "CONTIG_RO": ND,
    "STRIDED_RO": STRIDES, "RECORDS_RO": STRIDES | FORMAT, "FULL_RO": STRIDES | FORMAT | 0x100,
    "C_CONTIGUOUS|FORMAT": C_CONTIGUOUS | FORMAT, "F_CONTIGUOUS|FORMAT": F_CONTIGUOUS | FORMAT,
    "ANY_CONTIGUOUS|FORMAT": ANY_CONTIGUOUS | FORMAT, "WRITABLE": WRITABLE,
}


def request(obj, flags):
    """What a C consumer asking `obj` for `flags` gets: the layout it may
    rely on and the bytes it reads through it, or the exception class."""
    view = Py_buffer()
    try:
        _get_buffer(obj, ctypes.byref(view), flags)
    except (BufferError, ValueError, TypeError) as e:   # numpy refuses with ValueError
        return type(e).__name__ if not isinstance(e, ValueError) else "BufferError"
    try:
        ndim = view.ndim
        # a 0-dimensional buffer may give NULL or an empty array: the same
        shape = [view.shape[i] for i in range(ndim)] if view.shape or ndim == 0 else None
        strides = [view.strides[i] for i in range(ndim)] if view.strides or ndim == 0 else None
        items = []
        if shape is not None and strides is not None and view.len:
            # every item's first byte, walked through the strides given
            def walk(d, at):
                if d == ndim:
                    items.append(ctypes.string_at(at, view.itemsize))
                    return
                for i in range(shape[d]):
                    walk(d + 1, at + i * strides[d])
            walk(0, view.buf)
        else:
            items.append(ctypes.string_at(view.buf, view.len) if view.len else b"")
        return {"len": view.len, "ndim": ndim if shape is not None else None, "shape": shape,
                "strides": strides, "items": items,
                "format": view.format.decode() if view.format else None}
    finally:
        _release_buffer(ctypes.byref(view))


class BufferRequestsAreHonoured(LeakCheckedTestCase):
    """Every view's answer to every request equals memoryview's answer for an
    object with the same layout: granted with the same shape, strides and
    bytes, or refused with BufferError."""

    def assertAnswersLike(self, view, reference):
        for name, flags in REQUESTS.items():
            with self.subTest(request=name):
                mine, theirs = request(view, flags), request(reference, flags)
                if isinstance(theirs, dict) and theirs["format"] is None and mine != "BufferError":
                    mine = dict(mine, format=None)
                if (isinstance(mine, dict) and (flags & FORMAT) and not (flags & ND)
                        and theirs == "BufferError"):
                    continue   # memoryview refuses a formatted flat view; granting it is fine
                self.assertEqual(mine, theirs)

    def test_numpy_arrays_of_every_rank(self):
        for shape in [(), (0,), (1,), (6,), (2, 3), (3, 1), (1, 4), (2, 3, 4), (2, 0, 3)]:
            for dt in ["<i4", "<f8", "u1", "<c16"]:
                with self.subTest(shape=shape, dtype=dt):
                    a = fill(np.zeros(shape, dtype=dt))
                    store = frost.freeze(a)
                    self.assertAnswersLike(store.root, memoryview(a).toreadonly())
                    if a.ndim > 1:
                        for i in range(min(a.shape[0], 2)):
                            self.assertAnswersLike(store.root[i], memoryview(a[i]).toreadonly())
                    store.close()

    def test_fortran_requests_on_2d_arrays_are_refused(self):
        a = np.arange(6, dtype="<i8").reshape(2, 3)
        store = frost.freeze(a)
        self.assertEqual(request(store.root, F_CONTIGUOUS), "BufferError")
        self.assertEqual(request(store.root, C_CONTIGUOUS)["shape"], [2, 3])
        with self.assertRaises(BufferError):
            _testbuffer_or_memoryview_f(store.root)
        store.close()

    def test_packed_list_slices(self):
        for values in [list(range(10)), [i / 4 for i in range(10)]]:
            store = frost.freeze(values)
            packed = array.array("q" if isinstance(values[0], int) else "d", values)
            for sl in [slice(None), slice(2, 7), slice(None, None, 2), slice(None, None, -1),
                       slice(8, 1, -3), slice(5, 5), slice(3, 4), slice(4, 3, -1), slice(1, None, 100)]:
                with self.subTest(values=type(values[0]).__name__, slice=sl):
                    self.assertAnswersLike(store.root[sl], memoryview(packed).toreadonly()[sl])
            store.close()

    def test_numpy_reads_strided_slices_without_copy_errors(self):
        store = frost.freeze(list(range(10)))
        for sl in [slice(None, None, 2), slice(None, None, -1), slice(7, 2, -2)]:
            got = np.asarray(store.root[sl])
            self.assertEqual(got.tolist(), list(range(10))[sl])
            self.assertFalse(got.flags.writeable)
        del got
        store.close()


class ArraysSliceAndIndexAsMemoryview(LeakCheckedTestCase):
    """frost.Array (freeze, both lifetimes) and frost.MappedArray (share):
    a[i:j:k] is a read-only memoryview of the same memory (first dimension),
    items by one index per dimension, bad keys a TypeError naming their type.
    Both raised TypeError for any slice; MappedArray took no index at all."""

    SLICES = [slice(None), slice(2, 7), slice(None, None, 2), slice(None, None, -1),
              slice(8, 1, -3), slice(5, 5), slice(-3, None), slice(100, None),
              slice(None, None, 2**63 - 1), slice(-2**63, 2**63 - 1)]

    def stores(self, data):
        return [("process", frost.freeze(data)),
                ("scoped", frost.freeze(data, lifetime="scoped")),
                ("mapped", frost.share(data))]

    def test_one_dimension(self):
        values = [float(i) for i in range(10)]
        for kind, store in self.stores({"a": array.array("d", values)}):
            with self.subTest(kind=kind):
                a = store.root["a"]
                for sl in self.SLICES:
                    got = a[sl]
                    self.assertIsInstance(got, memoryview)
                    self.assertTrue(got.readonly)
                    self.assertEqual(got.tolist(), values[sl], sl)
                    self.assertEqual(np.asarray(got).tolist(), values[sl])
                    del got
                self.assertEqual((a[0], a[9], a[-1]), (0.0, 9.0, 9.0))
                self.assertEqual(list(a), values)
                self.assertIn(3.0, a)
                self.assertEqual(len(a), 10)
                with self.assertRaises(TypeError):
                    a[1:3][0] = 5.0              # read-only, as the Array
                with self.assertRaisesRegex(IndexError, "index out of range"):
                    a[10]
                with self.assertRaisesRegex(TypeError, "not str"):
                    a["x"]
                with self.assertRaisesRegex(TypeError, "not float"):
                    a[1.5]
                del a
                store.close()

    def test_a_slice_shares_the_memory_and_keeps_the_store(self):
        for kind, store in self.stores({"a": array.array("q", range(1000))}):
            with self.subTest(kind=kind):
                a = store.root["a"]
                whole = np.asarray(a)
                part = np.asarray(a[10:20])
                self.assertTrue(np.shares_memory(whole, part))   # no copy
                del whole, a
                store.close()                    # the slice is a reader
                self.assertEqual(part.tolist(), list(range(10, 20)))
                del part
        # (LeakCheckedTestCase: every arena and store gone with the slice)

    def test_many_dimensions(self):
        data = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
        for kind, store in self.stores({"m": data}):
            with self.subTest(kind=kind):
                m = store.root["m"]
                self.assertEqual(m[1:].tolist(), data[1:].tolist())
                self.assertEqual(m[::-1].tolist(), data[::-1].tolist())
                self.assertEqual(m[1, 2, 3], 23)
                self.assertEqual(m[-1, -1, -1], 23)
                with self.assertRaisesRegex(TypeError, "needs 3 indices, not 2"):
                    m[0, 1]
                with self.assertRaisesRegex(TypeError, "not slice"):
                    m[0, slice(None), 1]         # slices of the first dimension only
                with self.assertRaisesRegex(IndexError, "index out of range"):
                    m[2, 0, 0]
                self.assertEqual(m[1][2].tolist(), data[1][2].tolist())   # rows, either kind
                del m
                store.close()

    def test_zero_dimensions(self):
        for kind, store in self.stores({"z": np.array(3.5)}):
            with self.subTest(kind=kind):
                z = store.root["z"]
                self.assertEqual(z[()], 3.5)
                with self.assertRaisesRegex(TypeError, "0-dimensional"):
                    z[:]
                # not iterable and without len(), in every kind, as a 0-d ndarray
                # (a MappedArray said "needs 0 indices, not 1": iter() fell back to z[0])
                for op in (len, list, iter, sum, bool):
                    with self.assertRaisesRegex(TypeError, r"^(len\(\) of|iteration over) a "
                                                           r"0-dimensional frost\.(Mapped)?Array$"):
                        op(z)
                with self.assertRaisesRegex(TypeError, "is not iterable"):
                    3.5 in z
                del z
                store.close()

    def test_items_memoryview_cannot_unpack_come_through_numpy(self):
        data = np.arange(4, dtype=complex)
        for kind, store in self.stores({"c": data}):
            with self.subTest(kind=kind):
                c = store.root["c"]
                self.assertEqual(c[1], 1 + 0j)
                self.assertEqual(c[1:3].nbytes, 32)   # a slice needs no unpacking
                del c
                store.close()

    def test_slices_memoryview_cannot_unpack_read_through_numpy(self):
        # a complex (or big-endian) Array read item by item, but its slice, a
        # memoryview, could not: list(a[::-1]) / a[1:].tolist() raised
        # NotImplementedError "memoryview: unsupported format Zd". Where numpy is
        # imported the slice is the read-only ndarray of the same memory.
        import unittest.mock
        data = {"c": np.arange(6, dtype=complex).reshape(3, 2), "be": np.arange(5, dtype=">i4"),
                "d": np.arange(5, dtype=float)}
        for kind, store in self.stores(data):
            with self.subTest(kind=kind):
                c, be, whole = store.root["c"], store.root["be"], np.asarray(store.root["c"])
                for sl in self.SLICES:
                    got = c[sl]
                    self.assertIs(type(got), np.ndarray)
                    self.assertEqual(got.tolist(), data["c"][sl].tolist(), sl)
                    self.assertFalse(got.flags.writeable)
                    self.assertTrue(got.size == 0 or np.shares_memory(got, whole))
                    self.assertEqual(be[sl].tolist(), data["be"][sl].tolist(), sl)
                self.assertEqual(list(c[::-1][0]), [4 + 0j, 5 + 0j])
                self.assertIsInstance(store.root["d"][1:], memoryview)   # memoryview reads it
                with unittest.mock.patch.dict(sys.modules, {"numpy": None}):   # none here
                    self.assertIsInstance(c[1:], memoryview)
                    self.assertEqual(c[1:].nbytes, 64)
                part = be[1:3]
                del c, be, whole, got
                store.close()                    # the slice is a reader
                self.assertEqual(part.tolist(), [1, 2])
                del part


def _testbuffer_or_memoryview_f(obj):
    """A Fortran-order request through public API: PyMemoryView_GetContiguous
    would copy, so use the raw request."""
    result = request(obj, F_CONTIGUOUS)
    if result == "BufferError":
        raise BufferError("refused")
    return result


if __name__ == "__main__":
    unittest.main()
