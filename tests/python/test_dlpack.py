"""DLPack export of frost.Array and packed FrozenLists (issue 18, item 3).

numpy.from_dlpack is the consumer: it must share the arena memory (same
address), read-only; every supported dtype round-trips; everything else is
refused with BufferError naming the format; the capsule keeps the store alive
until the consumer's deleter runs, also after Store.close() and the deletion
of every view, and also when it is never consumed. Capsules are inspected
through ctypes too, so the ABI fields (version, flags, device, dtype, shape,
strides) are checked without trusting a consumer.
"""
import array
import ctypes
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import _interp_compat  # noqa: E402
from frostcheck import LeakCheckedTestCase, live  # noqa: E402

try:
    import numpy
except ImportError:   # part of the test tooling (tools/env.sh); the ctypes checks still run
    numpy = None

need_numpy = unittest.skipIf(numpy is None, "numpy is not installed")


# ---------------------------------------------------------------------------
# the ABI, read through ctypes

class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensorVersioned(ctypes.Structure):
    pass


DELETER_V = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensorVersioned))
DLManagedTensorVersioned._fields_ = [
    ("major", ctypes.c_uint32), ("minor", ctypes.c_uint32), ("manager_ctx", ctypes.c_void_p),
    ("deleter", ctypes.c_void_p), ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_set_name = ctypes.pythonapi.PyCapsule_SetName
_set_name.restype = ctypes.c_int
_set_name.argtypes = [ctypes.py_object, ctypes.c_char_p]
_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.restype = ctypes.c_char_p
_get_name.argtypes = [ctypes.py_object]

READ_ONLY, IS_COPIED = 1, 2
KDL_INT, KDL_UINT, KDL_FLOAT, KDL_COMPLEX, KDL_BOOL = 0, 1, 2, 5, 6


def managed(capsule):
    name = _get_name(capsule)
    ptr = _get_pointer(capsule, name)
    cls = DLManagedTensorVersioned if name == b"dltensor_versioned" else DLManagedTensor
    return cls.from_address(ptr)


# ---------------------------------------------------------------------------

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128", "bool"]


def check_every_dtype(test, lifetime):
    for dtype in DTYPES:
        with test.subTest(dtype=dtype, lifetime=lifetime):
            data = (numpy.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
            view = frost.freeze(data, lifetime=lifetime).root
            got = numpy.from_dlpack(view)
            test.assertEqual(got.dtype, data.dtype)
            test.assertEqual(got.shape, (2, 3, 4))
            numpy.testing.assert_array_equal(got, data)
            test.assertEqual(got.ctypes.data, numpy.asarray(view).ctypes.data)
            test.assertTrue(numpy.shares_memory(got, numpy.asarray(view)))
            test.assertFalse(got.flags.writeable)
            with test.assertRaises(ValueError):
                got[0, 0, 0] = 1


@need_numpy
class ProcessLifetime(unittest.TestCase):
    """Process stores are never freed, so no leak check here."""

    def test_every_supported_dtype_shares_memory_read_only(self):
        check_every_dtype(self, "process")


@need_numpy
class NumpyConsumer(LeakCheckedTestCase):
    def test_every_supported_dtype_shares_memory_read_only(self):
        check_every_dtype(self, "scoped")

    def test_sub_array_and_zero_dim_and_empty(self):
        data = numpy.arange(12, dtype=numpy.int32).reshape(3, 4)
        view = frost.freeze({"a": data, "z": numpy.full((), 2.5),
                             "e": numpy.zeros((0, 3))}).root
        row = numpy.from_dlpack(view["a"][1])
        numpy.testing.assert_array_equal(row, data[1])
        self.assertEqual(row.ctypes.data, numpy.asarray(view["a"]).ctypes.data + 16)
        zero = numpy.from_dlpack(view["z"])
        self.assertEqual(zero.shape, ())
        self.assertEqual(float(zero), 2.5)
        self.assertEqual(numpy.from_dlpack(view["e"]).shape, (0, 3))

    def test_array_array_and_bytearray(self):
        view = frost.freeze({"d": array.array("d", [1.5, 2.5]), "b": bytearray(b"xyz")}).root
        numpy.testing.assert_array_equal(numpy.from_dlpack(view["d"]), [1.5, 2.5])
        numpy.testing.assert_array_equal(numpy.from_dlpack(view["b"]), list(b"xyz"))

    def test_packed_lists_and_their_slices(self):
        view = frost.freeze({"i": list(range(10)), "f": [0.5 * k for k in range(10)], "e": []}).root
        for key, ref in (("i", numpy.arange(10)), ("f", 0.5 * numpy.arange(10))):
            lst = view[key]
            got = numpy.from_dlpack(lst)
            numpy.testing.assert_array_equal(got, ref)
            self.assertEqual(got.ctypes.data, numpy.asarray(lst).ctypes.data)
            self.assertFalse(got.flags.writeable)
            for sl in (slice(2, 8), slice(None, None, 3), slice(None, None, -2), slice(5, 5)):
                with self.subTest(key=key, sl=sl):
                    part = numpy.from_dlpack(lst[sl])
                    numpy.testing.assert_array_equal(part, ref[sl])
                    if part.size:
                        self.assertTrue(numpy.shares_memory(part, got))

    def test_copy_true_gives_a_private_writable_copy(self):
        view = frost.freeze(numpy.arange(5.0)).root
        got = numpy.from_dlpack(view, copy=True)
        self.assertTrue(got.flags.writeable)
        self.assertFalse(numpy.shares_memory(got, numpy.asarray(view)))
        got[0] = 42
        self.assertEqual(view.tolist()[0], 0.0)

    def test_copy_false_shares(self):
        view = frost.freeze(numpy.arange(5.0)).root
        got = numpy.from_dlpack(view, copy=False)
        self.assertTrue(numpy.shares_memory(got, numpy.asarray(view)))

    def test_refused_dtypes_name_the_format(self):
        cases = {
            "big-endian": numpy.arange(3, dtype=">i4"),
            "long double": numpy.arange(3, dtype=numpy.longdouble),
            "unicode": numpy.array(["ab", "c"]),
            "structured": numpy.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
            "bytes": numpy.array([b"ab"]),
        }
        for name, data in cases.items():
            with self.subTest(name):
                try:
                    view = frost.freeze(data).root
                except frost.FreezeError:
                    continue   # not freezable at all: nothing to export
                with self.assertRaisesRegex(BufferError, "format '.*'"):
                    view.__dlpack__(max_version=(1, 0))
                with self.assertRaises(BufferError):
                    numpy.from_dlpack(view)

    def test_consumer_outlives_close_and_every_view(self):
        base = live()
        store = frost.freeze({"a": numpy.arange(1000, dtype=numpy.int64), "l": list(range(100))})
        a = numpy.from_dlpack(store.root["a"])
        lst = numpy.from_dlpack(store.root["l"])
        store.close()
        del store
        self.assertEqual(live(), (base[0] + 1, base[1] + 1))   # still held by the consumers
        self.assertEqual(int(a.sum()), sum(range(1000)))
        del a
        self.assertEqual(live(), (base[0] + 1, base[1] + 1))
        self.assertEqual(int(lst.sum()), sum(range(100)))
        del lst
        self.assertEqual(live(), base)

    def test_torch_if_installed(self):
        try:
            import torch
        except ImportError:
            self.skipTest("torch is not installed")
        view = frost.freeze(numpy.arange(6, dtype=numpy.float32)).root
        t = torch.from_dlpack(view)
        self.assertEqual(t.data_ptr(), numpy.asarray(view).ctypes.data)
        self.assertEqual(t.tolist(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])


class Capsules(LeakCheckedTestCase):
    """The ABI as a consumer sees it (ctypes, no numpy)."""

    def test_device(self):
        view = frost.freeze({"a": array.array("q", [1]), "l": [1, 2]}).root
        self.assertEqual(view["a"].__dlpack_device__(), (1, 0))
        self.assertEqual(view["l"].__dlpack_device__(), (1, 0))

    def test_versioned_capsule_fields(self):
        view = frost.freeze(array.array("i", range(6))).root
        cap = view.__dlpack__(max_version=(1, 0), dl_device=(1, 0))
        self.assertEqual(_get_name(cap), b"dltensor_versioned")
        m = managed(cap)
        self.assertEqual((m.major, m.minor), (1, 0))
        self.assertEqual(m.flags, READ_ONLY)
        t = m.dl_tensor
        self.assertEqual((t.device.device_type, t.device.device_id), (1, 0))
        self.assertEqual((t.dtype.code, t.dtype.bits, t.dtype.lanes), (KDL_INT, 32, 1))
        self.assertEqual(t.ndim, 1)
        self.assertEqual((t.shape[0], t.strides[0], t.byte_offset), (6, 1, 0))
        self.assertEqual(list((ctypes.c_int32 * 6).from_address(t.data)), list(range(6)))
        self.assertEqual(t.data, _pointer_of(memoryview(view)))

    def test_higher_minor_and_major_versions_get_the_versioned_capsule(self):
        view = frost.freeze([1.0, 2.0]).root
        for mv in ((1, 0), (1, 3), (2, 0), (2**70, 0)):   # (any major past a C long: newer)
            self.assertEqual(_get_name(view.__dlpack__(max_version=mv)), b"dltensor_versioned")
        self.assertEqual(_get_name(view.__dlpack__(max_version=(0, 8))), b"dltensor")
        self.assertEqual(_get_name(view.__dlpack__(max_version=(-2**70, 0))), b"dltensor")

    def test_legacy_capsule_is_a_copy(self):
        view = frost.freeze(array.array("d", [1.5, 2.5])).root
        cap = view.__dlpack__()
        self.assertEqual(_get_name(cap), b"dltensor")
        t = managed(cap).dl_tensor
        self.assertNotEqual(t.data, _pointer_of(memoryview(view)))
        self.assertEqual(list((ctypes.c_double * 2).from_address(t.data)), [1.5, 2.5])
        with self.assertRaisesRegex(BufferError, "legacy"):
            view.__dlpack__(copy=False)

    def test_copy_true_versioned_flags(self):
        view = frost.freeze(array.array("B", b"abc")).root
        cap = view.__dlpack__(max_version=(1, 0), copy=True)   # the capsule owns what m reads
        m = managed(cap)
        self.assertEqual(m.flags, IS_COPIED)
        self.assertEqual(bytes((ctypes.c_uint8 * 3).from_address(m.dl_tensor.data)), b"abc")

    def test_dtype_codes(self):
        cases = [("b", KDL_INT, 8), ("B", KDL_UINT, 8), ("h", KDL_INT, 16), ("H", KDL_UINT, 16),
                 ("i", KDL_INT, 32), ("I", KDL_UINT, 32), ("q", KDL_INT, 64), ("Q", KDL_UINT, 64),
                 ("f", KDL_FLOAT, 32), ("d", KDL_FLOAT, 64)]
        for fmt, code, bits in cases:
            with self.subTest(fmt):
                view = frost.freeze(array.array(fmt, [1, 2])).root
                cap = view.__dlpack__(max_version=(1, 0))
                dt = managed(cap).dl_tensor.dtype
                self.assertEqual((dt.code, dt.bits), (code, bits))
        packed = frost.freeze({"i": [1], "f": [1.0]}).root
        cap = packed["i"].__dlpack__(max_version=(1, 0))
        dt = managed(cap).dl_tensor.dtype
        self.assertEqual((dt.code, dt.bits), (KDL_INT, 64))
        cap = packed["f"].__dlpack__(max_version=(1, 0))
        dt = managed(cap).dl_tensor.dtype
        self.assertEqual((dt.code, dt.bits), (KDL_FLOAT, 64))

    def test_refused(self):
        view = frost.freeze({"c": array.array("w" if sys.version_info >= (3, 13) else "u", "ab"), "refs": [1, "x"],
                             "mv": memoryview(b"ab").cast("c")}).root
        with self.assertRaisesRegex(BufferError, "format .[uw]."):
            view["c"].__dlpack__(max_version=(1, 0))
        with self.assertRaisesRegex(BufferError, "format 'c'"):
            view["mv"].__dlpack__(max_version=(1, 0))
        with self.assertRaisesRegex(BufferError, "packed"):
            view["refs"].__dlpack__(max_version=(1, 0))

    def test_bad_arguments(self):
        view = frost.freeze(array.array("i", [1])).root
        with self.assertRaisesRegex(ValueError, "stream"):
            view.__dlpack__(stream=1)
        with self.assertRaisesRegex(BufferError, r"device \(2, 0\)"):
            view.__dlpack__(dl_device=(2, 0))
        with self.assertRaisesRegex(BufferError, r"device \(1, 3\)"):
            view.__dlpack__(dl_device=(1, 3))
        # the device as given, not clamped to a C integer
        with self.assertRaisesRegex(BufferError, r"device \(18446744073709551616, 0\)"):
            view.__dlpack__(dl_device=(2**64, 0))
        for kwargs in ({"dl_device": "cpu"}, {"max_version": 1}, {"max_version": (1,)},
                       {"max_version": ("1", 0)}, {"copy": 1}, {"copy": "yes"}):
            with self.subTest(kwargs):
                with self.assertRaises(TypeError):
                    view.__dlpack__(**kwargs)
        with self.assertRaises(TypeError):
            view.__dlpack__(None)   # keyword-only
        with self.assertRaises(TypeError):
            view.__dlpack__(bogus=None)
        with self.assertRaises(TypeError):
            view.__dlpack_device__(1)

    def test_unconsumed_capsule_keeps_the_store_until_it_dies(self):
        base = live()
        store = frost.freeze(array.array("q", range(100)))
        cap = store.root.__dlpack__(max_version=(1, 0))
        store.close()
        del store
        self.assertEqual(live(), (base[0] + 1, base[1] + 1))
        t = managed(cap).dl_tensor
        self.assertEqual(sum((ctypes.c_int64 * 100).from_address(t.data)), sum(range(100)))
        del cap, t
        self.assertEqual(live(), base)

    def test_consumed_capsule_is_released_only_by_the_deleter_from_any_thread(self):
        base = live()
        store = frost.freeze([float(k) for k in range(50)])
        cap = store.root.__dlpack__(max_version=(1, 0))
        m = managed(cap)
        _set_name(cap, b"used_dltensor_versioned")   # what a consumer does
        address = ctypes.addressof(m)
        deleter = DELETER_V(m.deleter)
        del cap, store
        self.assertEqual(live(), (base[0] + 1, base[1] + 1))   # renamed: the destructor leaves it
        data = (ctypes.c_double * 50).from_address(m.dl_tensor.data)
        self.assertEqual(sum(data), sum(range(50)))
        del data, m
        # a consumer thread calls the deleter with the GIL released (ctypes drops it)
        t = threading.Thread(target=deleter, args=(ctypes.cast(address, ctypes.POINTER(DLManagedTensorVersioned)),))
        t.start()
        t.join()
        self.assertEqual(live(), base)


def _pointer_of(mv):
    """The buffer address of a memoryview (via a ctypes array view, no numpy)."""
    if mv.readonly:
        # ctypes.from_buffer needs a writable buffer: read the address from a Py_buffer
        buf = _PyBuffer()
        get = ctypes.pythonapi.PyObject_GetBuffer
        get.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
        get.restype = ctypes.c_int
        if get(mv, ctypes.byref(buf), 0) != 0:
            raise AssertionError("PyObject_GetBuffer failed")
        address = buf.buf
        rel = ctypes.pythonapi.PyBuffer_Release
        rel.argtypes = [ctypes.POINTER(_PyBuffer)]
        rel(ctypes.byref(buf))
        return address
    return ctypes.addressof(ctypes.c_char.from_buffer(mv))


class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


SUBINTERP_CODE = """
import array, frost
from frost import _frost
def live():
    import gc; gc.collect(); return _frost._live_arenas(), _frost._live_stores()
base = live()
store = frost.freeze({"a": array.array("d", [1.0, 2.0]), "l": [1, 2, 3]})
caps = [store.root["a"].__dlpack__(max_version=(1, 0)), store.root["l"].__dlpack__(max_version=(1, 0)),
        store.root["a"].__dlpack__(), store.root["l"].__dlpack__(max_version=(1, 0), copy=True)]
assert store.root["a"].__dlpack_device__() == (1, 0)
store.close(); del store
assert live() == (base[0] + 1, base[1] + 1), live()
del caps
assert live() == base, live()
"""


@unittest.skipUnless(_interp_compat.AVAILABLE, "no subinterpreter API on this Python")
class Subinterpreter(LeakCheckedTestCase):
    def test_capsules_made_and_destroyed_in_a_subinterpreter(self):
        _interp_compat.run(SUBINTERP_CODE)

    def test_capsule_of_a_store_made_here_outlives_the_subinterpreter_view(self):
        base = live()
        store = frost.freeze(array.array("q", [7, 8, 9]))
        code = ("import frost\nfrom frost import _frost\n"
                "view = frost.published('dlpack-test').root\n"
                "cap = view.__dlpack__(max_version=(1, 0))\n"
                "del view, cap\n")
        frost.publish("dlpack-test", store)
        try:
            _interp_compat.run(code)
        finally:
            frost.unpublish("dlpack-test")
        cap = store.root.__dlpack__(max_version=(1, 0))
        store.close()
        del store
        self.assertEqual(live(), (base[0] + 1, base[1] + 1))
        del cap
        self.assertEqual(live(), base)


if __name__ == "__main__":
    unittest.main()
