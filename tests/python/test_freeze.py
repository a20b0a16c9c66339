"""frost.freeze and the Store API (issue 2): root, nbytes, stats(), close(),
the context manager, repr, StoreClosedError, lifetimes, FreezeError paths,
what is refused, no leak after a failed freeze, and `import frost` in an
own-GIL subinterpreter."""
import dataclasses
import gc
import os
import socket
import sys
import tempfile
import textwrap
import typing
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
from frost import _frost  # noqa: E402
import _interp_compat  # noqa: E402

try:
    import numpy as np
except ImportError:   # numpy is a test dependency, but this file runs without it
    np = None


@dataclasses.dataclass
class Conn:
    host: str
    conn: object


class Pair(typing.NamedTuple):
    a: int
    conn: object


class Shared:
    def __init__(self, payload):
        self.payload = payload

    def __shared__(self):
        return {"conn": self.payload}


class Boom:
    def __shared__(self):
        raise RuntimeError("boom")


class BadHash:
    def __hash__(self):
        return 1


class StrSub(str):
    pass


class StoreApi(unittest.TestCase):
    def test_root_and_nbytes(self):
        data = {"a": [1, 2, 3], "b": "text", "c": {"x": 1.5}}
        store = frost.freeze(data)
        self.assertIsInstance(store, frost.Store)
        self.assertIsInstance(store.root, frost.FrozenDict)
        self.assertEqual(store.root, data)
        self.assertGreater(store.nbytes, 0)
        bigger = frost.freeze({f"k{i}": f"{i:05d}" * 20 for i in range(1000)})   # 1000 distinct 100-char strs
        self.assertGreater(bigger.nbytes, 100 * 1000)
        self.assertGreater(bigger.nbytes, store.nbytes)
        for root, kind in (([1], frost.FrozenList), ({1}, frost.FrozenSet), (5, int), ("s", str),
                           (None, type(None)), (bytearray(b"ab"), frost.Array)):
            self.assertIsInstance(frost.freeze(root).root, kind)

    def test_stats(self):
        store = frost.freeze({"s": "a string", "n": 10 ** 30, "f": 1.5, "l": [1, 2],
                              "fl": [1.5], "m": ["x", None], "set": {1}, "t": (1, "zz"),
                              "tn": (1, [2]), "b": b"bytes!", "c": 1j, "arr": bytearray(3)})
        stats = store.stats()
        for key in ("bytes", "chunks", "objects", "sealed", "lifetime"):
            self.assertIn(key, stats)
        self.assertTrue(stats["sealed"])
        self.assertEqual(stats["lifetime"], "scoped")
        self.assertEqual(stats["bytes"], store.nbytes)
        self.assertGreaterEqual(stats["chunks"], 1)
        objects = stats["objects"]
        self.assertEqual(objects["dict"], 1)
        self.assertEqual(objects["list"], 4)      # l, fl, m and the one in tn
        self.assertEqual(objects["set"], 1)
        self.assertEqual(objects["array"], 1)
        self.assertEqual(objects["tuple_node"], 1)
        self.assertEqual(objects["tuple"], 1)
        self.assertEqual(objects["complex"], 1)
        self.assertGreaterEqual(objects["str"], 2)
        self.assertGreaterEqual(objects["bytes"], 1)
        self.assertGreaterEqual(objects["int"], 1)
        self.assertEqual(frost.freeze([], lifetime="process").stats()["lifetime"], "process")

    def test_close_and_closed_errors(self):
        store = frost.freeze({"k": [1, 2]})
        view = store.root["k"]
        self.assertFalse(store.closed)
        store.close()
        self.assertTrue(store.closed)
        store.close()                      # idempotent
        for attr in ("root", "nbytes"):
            with self.assertRaises(frost.StoreClosedError):
                getattr(store, attr)
        with self.assertRaises(frost.StoreClosedError):
            store.stats()
        # views already taken keep the memory alive
        self.assertEqual(list(view), [1, 2])
        self.assertTrue(issubclass(frost.StoreClosedError, Exception))

    def test_context_manager(self):
        with frost.freeze([1, 2, 3]) as store:
            self.assertFalse(store.closed)
            self.assertEqual(list(store.root), [1, 2, 3])
        self.assertTrue(store.closed)
        with self.assertRaises(frost.StoreClosedError):
            store.root

    def test_repr(self):
        store = frost.freeze({"a": 1})
        r = repr(store)
        self.assertIn("frost.Store", r)
        self.assertIn("scoped", r)
        self.assertIn("FrozenDict", r)
        self.assertIn(f"nbytes={store.nbytes}", r)
        self.assertIn("process", repr(frost.freeze([1], lifetime="process")))
        store.close()
        self.assertEqual(repr(store), "<frost.Store closed>")

    def test_the_data_stays_the_callers(self):
        data = {"l": [1, 2], "d": {"x": "y"}}
        store = frost.freeze(data)
        data["l"].append(3)
        data["d"]["z"] = 1
        self.assertEqual(store.root, {"l": [1, 2], "d": {"x": "y"}})


class Lifetimes(unittest.TestCase):
    def test_process_returns_the_arena_objects(self):
        s = "a string of some length \u00e9"
        store = frost.freeze({"s": s, "t": (1, "x" * 50), "n": 2 ** 100, "f": 1.25, "b": b"xyz" * 9,
                              "l": [s, s]}, lifetime="process")
        root = store.root
        self.assertEqual(store.lifetime, "process")
        for key in ("s", "t", "n", "f", "b"):
            a, b = root[key], root[key]
            self.assertIs(a, b, key)
            self.assertIsNot(a, s)
        self.assertIs(root["l"][0], root["l"][1])     # one arena str, shared

    def test_scoped_copies_plain_immutables(self):
        s = "a string of some length \u00e9"
        store = frost.freeze({"s": s, "t": (1, "x" * 50), "n": 2 ** 100, "b": b"xyz" * 9})
        root = store.root
        self.assertEqual(store.lifetime, "scoped")
        for key in ("s", "t", "n", "b"):
            a, b = root[key], root[key]
            self.assertEqual(a, b)
            self.assertIsNot(a, b, key)
        self.assertEqual(hash(root["s"]), hash(s))

    def test_bad_lifetime(self):
        with self.assertRaises(ValueError):
            frost.freeze([1], lifetime="forever")
        with self.assertRaises(ValueError):
            frost.freeze([1], lifetime="")
        with self.assertRaises(TypeError):
            frost.freeze([1], lifetime=3)
        self.assertEqual(frost.freeze([1], lifetime="scoped").lifetime, "scoped")


class FreezeErrors(unittest.TestCase):
    def assertFreezeError(self, obj, message):
        with self.assertRaises(frost.FreezeError) as cm:
            frost.freeze(obj)
        self.assertEqual(str(cm.exception), message)
        return cm.exception

    def test_is_a_type_error(self):
        self.assertTrue(issubclass(frost.FreezeError, TypeError))
        with self.assertRaises(TypeError):
            frost.freeze(object())

    def test_a_refusal_a_million_levels_deep_names_its_path_in_linear_time(self):
        # path_string inserted each step at the front of its list: quadratic in the
        # depth (a refusal 160,000 lists deep took 10 s, a million about 6 minutes,
        # and a Ctrl-C deep in a chain of __shared__ records as long), though a
        # freeze that succeeds at that depth takes a second
        from frostcheck import run_child
        code = textwrap.dedent("""
            import frost
            DEPTH = 1_000_000
            x = object()
            for _ in range(DEPTH):
                x = [x]
            try:
                frost.freeze(x)
            except frost.FreezeError as e:
                message = str(e)
            step = "[0]"
            assert message == "root" + step * DEPTH + ": cannot freeze object of type 'object'", message[-80:]

            class Chain:
                def __init__(self, n):
                    self.n = n
                def __shared__(self):
                    if self.n == 0:
                        raise ValueError("bottom")
                    return {"c": Chain(self.n - 1)}
            try:
                frost.freeze(Chain(200_000))
            except ValueError as e:
                note = e.__notes__[0]
            assert note == "while freezing root" + ".__shared__()['c']" * 200_000, note[-80:]
            print("ok")
        """)
        r = run_child(code, timeout=120)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr[-2000:])

    def test_message_names_type_and_path(self):
        sock = socket.socket()
        try:
            users = [Conn(f"h{i}", None) for i in range(17)] + [Conn("h17", sock)]
            self.assertFreezeError({"users": users},
                                   "root['users'][17].conn: cannot freeze object of type 'socket'")
            self.assertFreezeError({"users": [0] * 17 + [Pair(1, sock)]},
                                   "root['users'][17].conn: cannot freeze object of type 'socket'")
            self.assertFreezeError({"users": {"u": Shared(sock)}},
                                   "root['users']['u'].__shared__()['conn']: "
                                   "cannot freeze object of type 'socket'")
        finally:
            sock.close()
        self.assertFreezeError([1, (2, [3, object()])],
                               "root[1][1][1]: cannot freeze object of type 'object'")
        self.assertFreezeError(object(), "root: cannot freeze object of type 'object'")

    def test_enum_members_are_refused_whatever_their_mixin(self):
        # a member whose class mixes in a dataclass or NamedTuple froze as a
        # record that thaw could not rebuild (Enum.__new__() missing 'value')
        import enum

        @dataclasses.dataclass
        class Planet:
            mass: float

        class Planets(Planet, enum.Enum):
            EARTH = 5.97

        class Pairs(Pair, enum.Enum):
            ONE = (1, 2)

        class Plain(enum.Enum):
            A = 1

        class Numbers(enum.IntEnum):
            ONE = 1

        class Self(enum.Enum):   # a __shared__ of its own still decides
            A = 1

            def __shared__(self):
                return self.name

        for member, name in ((Planets.EARTH, "Planets"), (Pairs.ONE, "Pairs"), (Plain.A, "Plain"),
                             (Numbers.ONE, "Numbers")):
            self.assertFreezeError({"m": [member]},
                                   f"root['m'][0]: cannot freeze object of type '{name}'")
        self.assertEqual(frost.thaw(frost.freeze([Self.A]).root), ["A"])

    def test_a_refused_subclass_of_a_builtin_says_to_convert_it(self):
        # numpy.float64 is a float: 'cannot freeze object of type' alone puzzled
        class MyInt(int):
            pass

        class MyList(list):
            pass

        for obj, tname, base in ((MyInt(1), "MyInt", "int"), (MyList(), "MyList", "list"),
                                 (StrSub("a"), "StrSub", "str")):
            self.assertFreezeError({"x": obj},
                                   f"root['x']: cannot freeze object of type '{tname}' (a "
                                   f"subclass of {base}: only an exact {base} is frozen; "
                                   f"{base}(x) converts it)")

    def test_a_metaclass_that_supplies_shared_is_refused_clearly(self):
        # the class looked like a record through getattr(type(o)), the call on
        # the instance found nothing: a bare AttributeError with a path note
        class Meta(type):
            def __getattr__(cls, name):
                if name == "__shared__":
                    return lambda self: {"x": 1}
                raise AttributeError(name)

        class Supplied(metaclass=Meta):
            pass

        self.assertFreezeError({"c": Supplied()},
                               "root['c']: cannot freeze object of type 'Supplied' (its "
                               "metaclass supplies __shared__, which is looked up on the class "
                               "and its bases only, as special methods are: define __shared__ "
                               "in the class)")

    def test_shared_is_a_special_method(self):
        # found on the class and bound like a special method: an instance
        # attribute or __getattribute__ neither hides nor supplies it
        class Hiding:
            def __shared__(self):
                return {"x": 1}

            def __getattribute__(self, name):
                raise AttributeError(name)

        class OnInstance:
            def __init__(self):
                self.__shared__ = lambda: {"x": 2}

        class NotCallable:
            __shared__ = 3

        class Refusing:   # None: not to be shared, as __hash__ = None makes unhashable
            __shared__ = None

        @dataclasses.dataclass
        class RefusingRecord:
            a: int
            __shared__ = None

        self.assertEqual(frost.freeze([Hiding()]).root[0].x, 1)
        self.assertFreezeError([OnInstance()], "root[0]: cannot freeze object of type 'OnInstance'")
        with self.assertRaises(TypeError) as cm:
            frost.freeze([NotCallable()])
        self.assertEqual(str(cm.exception), "__shared__ of 'NotCallable' is not a method but "
                                            "'int'")
        self.assertIn("while freezing root[0]", cm.exception.__notes__)
        for refusing in (Refusing(), RefusingRecord(1)):
            self.assertFreezeError([refusing], f"root[0]: cannot freeze object of type "
                                   f"'{type(refusing).__name__}' (its class sets __shared__ = "
                                   f"None: its objects are not to be shared)")

    def test_a_lying_class_attribute_is_not_believed(self):
        # isinstance() reads __class__ (proxies rely on it): `__class__ = dict`
        # passed as a Mapping, then items() failed with a bare AttributeError
        class LiesDict:
            __class__ = dict

        class LiesInt:
            @property
            def __class__(self):
                return int

        self.assertFreezeError({"x": LiesDict()}, "root['x']: cannot freeze object of type "
                               "'LiesDict' (its __class__ says <class 'dict'>, a Mapping, but "
                               "items() failed: 'LiesDict' object has no attribute 'items')")
        self.assertFreezeError([LiesInt()], "root[0]: cannot freeze object of type 'LiesInt'")

    def test_a_buffer_that_cannot_be_exported_says_why(self):
        # numpy's datetime64 arrays: "cannot include dtype 'M' in a buffer" was dropped
        released = memoryview(b"ab")
        released.release()
        self.assertFreezeError([released], "root[0]: cannot freeze object of type 'memoryview': "
                               "its buffer cannot be exported (operation forbidden on released "
                               "memoryview object)")

    def test_non_plain_keys_and_set_items(self):
        for bad, where, tname in (({StrSub("a"): 1}, "root<key>", "StrSub"),
                                  ({BadHash(): 1}, "root<key>", "BadHash"),
                                  ({frozenset(): 1}, "root<key>", "frozenset"),
                                  ([{1, BadHash()}], "root[0]{<item>}", "BadHash")):
            with self.assertRaises(frost.FreezeError) as cm:
                frost.freeze(bad)
            self.assertTrue(str(cm.exception).startswith(where + ": "), str(cm.exception))
            self.assertIn(f"'{tname}'", str(cm.exception))
        with self.assertRaises(frost.FreezeError) as cm:
            frost.freeze({(1, BadHash()): 2})
        self.assertIn("cannot freeze object of type 'BadHash'", str(cm.exception))

    def test_user_exception_propagates_with_a_note(self):
        with self.assertRaises(RuntimeError) as cm:
            frost.freeze({"a": [Boom()]})
        self.assertEqual(str(cm.exception), "boom")
        self.assertIn("while freezing root['a'][0]", cm.exception.__notes__)

    def test_tuple_cycle_through_tuples_is_refused(self):
        lst = []
        t = ((lst,),)
        lst.append(t)
        with self.assertRaises(frost.FreezeError) as cm:
            frost.freeze(t)
        self.assertIn("cycle", str(cm.exception))

    def test_failed_freeze_leaks_nothing(self):
        gc.collect()
        arenas, stores = _frost._live_arenas(), _frost._live_stores()
        sock = socket.socket()
        try:
            for bad in ({"users": [Conn("h", sock)]},
                        {"big": list(range(100000)), "x": [{"k": "v" * 1000} for _ in range(2000)],
                         "bad": object()},
                        {BadHash(): 1}, [Boom()], {"l": [1.5] * 50000 + [object()]}):
                for lifetime in ("scoped", "process"):
                    with self.assertRaises((frost.FreezeError, RuntimeError)):
                        frost.freeze(bad, lifetime=lifetime)
        finally:
            sock.close()
        gc.collect()
        self.assertEqual(_frost._live_arenas(), arenas)
        self.assertEqual(_frost._live_stores(), stores)

    def test_closed_scoped_store_is_freed(self):
        gc.collect()
        arenas, stores = _frost._live_arenas(), _frost._live_stores()
        store = frost.freeze({"k": list(range(1000))})
        view = store.root["k"]
        self.assertEqual(_frost._live_stores(), stores + 1)
        store.close()
        self.assertEqual(_frost._live_stores(), stores + 1)   # the view's lease holds it
        self.assertEqual(view[999], 999)
        del view, store
        gc.collect()
        self.assertEqual(_frost._live_arenas(), arenas)
        self.assertEqual(_frost._live_stores(), stores)


@unittest.skipUnless(_interp_compat.AVAILABLE, "no subinterpreter API on this Python")
@unittest.skipIf(np is None, "needs numpy")
class NumpyScalars(unittest.TestCase):
    """A numpy scalar freezes as its Python value, x.item(), wherever it sits
    (value, key, set item, tuple item): np.int64 and np.bool_ were 0-d Arrays
    (thawed as memoryviews, unequal to 5), np.float64 and np.str_ were refused
    as subclasses of float and str, datetime64 froze as 8 uint8s. Scalars with
    no such value are a FreezeError naming the type and the conversion."""

    def values(self):
        for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                  np.uint64):
            info = np.iinfo(t)
            for v in (info.min, info.max, 0, 1):
                yield t(v)
        for t in (np.float16, np.float32, np.float64):
            info = np.finfo(t)
            for v in (info.max, info.smallest_subnormal, -0.0, 1 / 3, np.inf, -np.inf):
                yield t(v)
        for t in (np.complex64, np.complex128):
            yield t(complex(1 / 3, -2.5))
        yield from (np.bool_(True), np.bool_(False), np.str_("ab\u20ac"), np.str_(""),
                    np.bytes_(b"a\x00b"), np.bytes_(b""))

    def test_every_numeric_str_and_bytes_scalar_freezes_as_its_python_value(self):
        for x in self.values():
            want = x.item()
            for lifetime in ("scoped", "process"):
                with self.subTest(x=repr(x), lifetime=lifetime):
                    store = frost.freeze({"v": x, "t": (x, 1), "s": {x}, "k": {x: 1}},
                                         lifetime=lifetime)
                    root = store.root
                    got = root["v"]
                    self.assertIs(type(got), type(want))
                    self.assertEqual(repr(got), repr(want))   # -0.0, the last bit of a float32
                    self.assertEqual(root["t"], (want, 1))
                    self.assertIs(type(root["t"]), tuple)
                    self.assertIn(want, root["s"])
                    self.assertEqual(root["k"][x], 1)      # found by the scalar and by its value
                    self.assertEqual(root["k"][want], 1)
                    thawed = frost.thaw(root)
                    self.assertEqual(thawed, {"v": want, "t": (want, 1), "s": {want}, "k": {want: 1}})
                    self.assertIs(type(thawed["v"]), type(want))
                    if lifetime == "scoped":
                        store.close()

    def test_nan_scalar_as_value_and_key(self):
        nan = np.float64("nan")
        root = frost.freeze({"v": nan, "k": {nan: 1, np.float32("nan"): 2}}).root
        self.assertIs(type(root["v"]), float)
        self.assertNotEqual(root["v"], root["v"])
        self.assertEqual(len(root["k"]), 2)

    def test_a_nan_scalar_keeps_its_identity_as_key_item_and_value(self):
        # a NaN key is found only by itself: a float NaN met as a key, a set item,
        # a tuple item and a value is one arena NaN (the memo), and d[x] finds it;
        # a numpy NaN became a fresh float at each key or set item, found by nothing
        for nan in (np.float64("nan"), np.float32("nan"), np.complex128(complex(1, float("nan")))):
            data = {"d": {nan: 1}, "e": {nan: 2}, "s": {nan}, "t": (nan, 0), "v": nan}
            self.assertEqual(data["d"][data["v"]], 1)
            for lifetime in ("scoped", "process"):
                with self.subTest(nan=repr(nan), lifetime=lifetime):
                    store = frost.freeze(data, lifetime=lifetime)
                    root = store.root
                    for x in (root["v"], root["t"][0], next(iter(root["s"])), next(iter(root["e"]))):
                        self.assertEqual(root["d"].get(x), 1)
                        self.assertEqual(root["e"].get(x), 2)
                        self.assertIn(x, root["s"])
                    store.close()

    def test_a_scalar_met_twice_freezes_once(self):
        x = np.float64(2.5)
        store = frost.freeze([x, x, {"again": x}], lifetime="process")
        self.assertIs(store.root[0], store.root[1])
        self.assertIs(store.root[0], store.root[2]["again"])

    def test_scalars_without_a_python_value_are_refused(self):
        cases = [(np.longdouble(1.5), "float"), (np.clongdouble(1 + 2j), "complex")]
        for x, conv in cases:
            for obj, path in (({"x": x}, "root['x']"), ({x: 1}, "root<key>"),
                              ([(1, x)], "root[0][1]")):
                with self.subTest(x=repr(x), path=path):
                    with self.assertRaises(frost.FreezeError) as cm:
                        frost.freeze(obj)
                    self.assertEqual(str(cm.exception),
                                     f"{path}: cannot freeze object of type "
                                     f"'{type(x).__module__}.{type(x).__name__}' (a numpy "
                                     f"scalar with no exact Python value: {conv}(x) rounds "
                                     f"it; numpy.asarray(x) freezes it as a 0-d frost.Array)")
            # the way out the message gives
            self.assertEqual(frost.freeze(np.asarray(x)).root.shape, ())
        for x in (np.datetime64("2020-01-01"), np.timedelta64(5, "s"), np.void(b"abc"),
                  np.zeros(1, dtype=[("a", "i4"), ("b", "f8")])[0]):
            with self.subTest(x=repr(x)):
                with self.assertRaises(frost.FreezeError) as cm:
                    frost.freeze({"x": [x]})
                self.assertEqual(str(cm.exception),
                                 f"root['x'][0]: cannot freeze object of type "
                                 f"'numpy.{type(x).__name__}' (only numpy's bool, integer, "
                                 f"float, complex, str and bytes scalars freeze, as their "
                                 f"Python values: convert it, e.g. str(x) or x.item())")

    def test_a_float_subclass_with_a_buffer_is_no_numpy_scalar(self):
        class Tagged(float):   # a 0-d 'd' buffer, like numpy.float64's
            def __buffer__(self, flags):
                return memoryview(np.float64(self))

        with self.assertRaises(frost.FreezeError) as cm:
            frost.freeze({"x": Tagged(1.5)})
        self.assertIn("a subclass of float: only an exact float is frozen", str(cm.exception))

    def test_a_subclass_of_a_numpy_scalar_type_is_refused_as_an_int_subclass_is(self):
        # it exports numpy's buffer: it froze as a 0-d Array, thawed to a memoryview
        class Count(np.int64):
            pass

        class Smaller(Count):
            pass

        class Tagged(np.int64):
            def __shared__(self):   # a class that says how it freezes still does
                return int(self)

        for x in (Count(5), Smaller(6)):
            for freeze in (frost.freeze, frost.share):
                for obj, path in (([x], "root[0]"), ({"a": (1, x)}, "root['a'][1]")):
                    with self.subTest(x=type(x).__name__, freeze=freeze.__name__, path=path):
                        with self.assertRaises(frost.FreezeError) as cm:
                            freeze(obj)
                        self.assertEqual(str(cm.exception),
                                         f"{path}: cannot freeze object of type "
                                         f"'{type(x).__name__}' (a subclass of numpy.int64: "
                                         f"only numpy's own scalar types are frozen; x.item() "
                                         f"converts it)")
        self.assertEqual(frost.thaw(frost.freeze([Count(5).item()]).root), [5])
        self.assertEqual(frost.thaw(frost.freeze([Tagged(7)]).root), [7])

    def test_zero_d_arrays_stay_arrays(self):
        root = frost.freeze({"a": np.asarray(np.int64(5))}).root
        self.assertIsInstance(root["a"], frost.Array)
        self.assertEqual(root["a"].shape, ())
        self.assertEqual(frost.thaw(root)["a"], np.asarray(5))
        self.assertIs(type(frost.thaw(root)["a"]), np.ndarray)


class ThawIntoARedefinedDataclass(unittest.TestCase):
    """A dataclass redefined between freeze and thaw with other fields: thaw
    set the record's fields and left the new ones unset (a half-built object,
    as pickle gives; with slots=True pickle zips the values onto the wrong
    fields). Now a field the record lacks gets its default; one with no
    default, or a record field the class no longer has, is a TypeError."""

    def frozen(self, *fields, **kw):
        old = dataclasses.make_dataclass("Evolving", fields, module=__name__, **kw)
        return frost.freeze([old(*range(1, len(fields) + 1))]).root[0]

    def test_new_fields_with_defaults_get_them(self):
        record = self.frozen(("a", int), ("b", int))
        new = dataclasses.make_dataclass(
            "Evolving", [("a", int), ("b", int), ("c", int, dataclasses.field(default=7)),
                         ("d", list, dataclasses.field(default_factory=list))], module=__name__)
        got = frost.thaw(record, classes=[new])
        self.assertEqual(got, new(1, 2, 7, []))
        self.assertIsNot(got.d, frost.thaw(record, classes=[new]).d)   # one list each

    def test_lacking_or_removed_fields_are_a_type_error(self):
        for kw in ({}, {"slots": True, "frozen": True}):
            with self.subTest(**kw):
                record = self.frozen(("a", int), ("b", int), **kw)
                new = dataclasses.make_dataclass("Evolving", [("a", int), ("c", int)],
                                                 module=__name__, **kw)
                with self.assertRaises(TypeError) as cm:
                    frost.thaw(record, classes=[new])
                self.assertEqual(str(cm.exception),
                                 f"cannot thaw a record into {new!r}: the class's fields changed "
                                 f"since it was frozen (fields with no default the record lacks: "
                                 f"['c']; record fields the class does not define: ['b']); "
                                 f"thaw(x, classes=()) gives the record's fields as a "
                                 f"types.SimpleNamespace")
                self.assertEqual(vars(frost.thaw(record, classes=())), {"a": 1, "b": 2})
        record = self.frozen(("a", int), ("b", int))
        fewer = dataclasses.make_dataclass("Evolving", [("a", int)], module=__name__)
        with self.assertRaisesRegex(TypeError, r"lacks: \[\]; record fields the class does not "
                                               r"define: \['b'\]"):
            frost.thaw(record, classes=[fewer])

    def test_unchanged_classes_with_class_and_init_vars(self):
        @dataclasses.dataclass
        class WithVars:
            a: int
            k: typing.ClassVar[int] = 3
            b: int = 2

        got = frost.thaw(frost.freeze(WithVars(1)).root, classes=[WithVars])
        self.assertEqual(got, WithVars(1, 2))

    def test_a_field_that_became_a_class_or_init_var_is_no_field(self):
        # __dataclass_fields__ lists ClassVar and InitVar pseudo-fields too: a record
        # field that became one was set as an instance attribute (the quick test of the
        # keys took the pseudo-field for a field)
        record = self.frozen(("a", int), ("b", int))
        for pseudo in (typing.ClassVar[int], dataclasses.InitVar[int]):
            with self.subTest(pseudo=pseudo):
                new = dataclasses.make_dataclass(
                    "Evolving", [("a", int), ("b", pseudo, dataclasses.field(default=9))],
                    module=__name__)
                with self.assertRaisesRegex(TypeError, r"lacks: \[\]; record fields the class "
                                                       r"does not define: \['b'\]"):
                    frost.thaw(record, classes=[new])


class HotPaths(unittest.TestCase):
    """What the frameless paths of the walk (issue 17: tuples of leaves copied at once,
    a dict's leaf keys frozen with its node, small objects placed in an allocation
    window) must keep: sharing, tuple depth, visit counts, error paths, the stats."""

    @staticmethod
    def nest(levels, leaf):
        t = leaf
        for _ in range(levels - 1):
            t = (t,)
        return t

    def test_a_tuple_of_leaves_reached_twice_is_frozen_once(self):
        row = (1, 2.5, "x" * 20, None, True, b"by", 3j, ..., 10**30)
        word = "shared" * 3
        root = frost.freeze([row, row, {"k": row}, (word, 1), (word, 2), {word: word}],
                            lifetime="process").root
        self.assertIs(root[0], root[1])
        self.assertIs(root[0], root[2]["k"])
        self.assertEqual(root[0], row)
        self.assertIs(root[3][0], root[4][0])
        self.assertIs(root[3][0], root[5][word])
        self.assertIs(root[3][0], next(iter(root[5])))

    def test_an_immortal_str_reached_many_times_is_frozen_once(self):
        # an identifier-like literal is interned, and interned strs are immortal (3.12+):
        # it was copied anew at every reference (the memo skipped immortal objects)
        key = "hot_path_interned_key"
        data = [key, [key], {key: key}, (key, 1), {key: (key, key)}]
        with frost.freeze(data, lifetime="process") as store:
            root = store.root
            copies = {id(root[0]), id(root[1][0]), id(next(iter(root[2]))), id(root[2][key]),
                      id(root[3][0]), id(root[4][key][0]), id(root[4][key][1])}
            self.assertEqual(len(copies), 1)
            self.assertEqual(store.stats()["objects"]["str"], 1)

    def test_tuple_depth_counts_a_tuple_of_leaves_as_one_level(self):
        limit = 256   # FROST_MAX_TUPLE_DEPTH
        for shared in (False, True):
            leaf = (1, 2)
            for levels, ok in ((limit, True), (limit + 1, False)):
                data = [leaf, self.nest(levels, leaf)] if shared else self.nest(levels, leaf)
                with self.subTest(levels=levels, shared=shared):
                    if ok:
                        frost.freeze(data).close()
                    else:
                        with self.assertRaisesRegex(frost.FreezeError, "nested deeper than 256"):
                            frost.freeze(data)

    def test_progress_counts_every_object_once(self):
        n = 70_000   # past one 65,536-object tick
        data = {f"key{i}": (i, i * 0.5, f"val{i}") for i in range(n)}
        calls = []
        frost.freeze(data, progress=lambda done, total: calls.append((done, total))).close()
        self.assertEqual(calls[0], (65_536, None))
        self.assertEqual(calls[-1], (1 + 5 * n, 1 + 5 * n))   # the dict, 5 objects an entry

    def test_errors_under_frameless_paths_name_the_path(self):
        for data, path in (({"good": (1, "a"), "bad": object()}, "root['bad']"),
                           ({"k": (1, "a", object())}, "root['k'][2]"),
                           ({(1, "t"): 1, "s": [object()]}, "root['s'][0]"),
                           ([(1, 2), (3, (4, object()))], "root[1][1][1]")):
            with self.subTest(path=path):
                with self.assertRaises(frost.FreezeError) as cm:
                    frost.freeze(data)
                self.assertTrue(str(cm.exception).startswith(path + ":"), cm.exception)

    def test_mixed_keys_and_values_read_back_in_order(self):
        data = {"a": 1, 2: "b", (1, "x"): [1], 3.5: None, b"k": (1,), None: 1, True: 2,
                "row": (1, 2.0, "s"), "nested": ((1, 2), 3)}
        with frost.freeze(data) as store:
            self.assertEqual(list(store.root.keys()), list(data))
            self.assertEqual(frost.thaw(store.root), data)

    def test_stats_count_the_objects_and_small_stores_stay_small(self):
        with frost.freeze({"key": (10**6, 2.5, "value"), "n": 3}) as store:
            st = store.stats()
            self.assertEqual(st["objects"]["str"], 2)     # "key", "value" ("n" is CPython's own)
            self.assertEqual(st["objects"]["tuple"], 1)
            self.assertEqual(st["objects"]["int"], 1)     # 3 is CPython's own
            self.assertEqual(st["objects"]["float"], 1)
            self.assertEqual(st["objects"]["dict"], 1)
            self.assertEqual(st["chunks"], 1)
            self.assertLess(st["bytes"], 1024)            # the window's unused end went back


class InSubinterpreter(unittest.TestCase):
    def test_own_gil_subinterpreter_imports_and_uses_frost(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.txt")
            _interp_compat.run(
                "import frost\n"
                "from frost import _frost\n"
                "arenas = _frost._live_arenas()\n"
                "with frost.freeze({'k': [1, 2, 3], 's': 'x\\u00e9'}) as st:\n"
                "    root = st.root\n"
                "    assert root['k'][-1] == 3 and root['s'] == 'x\\u00e9'\n"
                "    out = repr(frost.thaw(root))\n"
                "del root\n"
                "try:\n"
                "    frost.freeze({'bad': object()})\n"
                "except frost.FreezeError as e:\n"
                "    out += '|' + str(e)\n"
                "out += '|%d' % (_frost._live_arenas() - arenas)\n"
                "with open(path, 'w', encoding='utf-8') as f:\n"
                "    f.write(out)\n",
                path=path)
            with open(path, encoding="utf-8") as f:
                out = f.read()
        self.assertEqual(out, "{'k': [1, 2, 3], 's': 'x\u00e9'}|root['bad']: "
                              "cannot freeze object of type 'object'|0")

    def test_error_in_subinterpreter_is_reported(self):
        with self.assertRaises(_interp_compat.SubinterpreterError):
            _interp_compat.run("raise ValueError('inside')")


if __name__ == "__main__":
    unittest.main()
