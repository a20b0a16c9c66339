"""Sequence and mapping operators of the views (issue 15, item 7).

FrozenList `+` and `*` and FrozenDict `|` behave like list's, tuple's and
MappingProxyType's: they return new plain objects (top level only: nested
containers stay views), and the in-place forms raise TypeError, since a view
cannot change. Every case runs on both lifetimes; scoped ones must leak
nothing (a process-lifetime store is kept until exit by design).
"""
import collections
import collections.abc
import copy
import dataclasses
import gc
import operator
import pickle
import tracemalloc
import types
import typing
import unittest
import weakref

import frost
from frostcheck import LeakCheckedTestCase, live



class FrozenListOperators:
    lifetime = None   # set by the concrete classes below

    def each_view(self, data=(1, [2, 3], "x")):
        store = frost.freeze(list(data), lifetime=self.lifetime)
        try:
            yield store.root
        finally:
            store.close()

    def test_add_gives_a_new_plain_list(self):
        for fl in self.each_view():
            for other in ([4, 5], (4, 5)):
                r = fl + other
                self.assertIs(type(r), list)
                self.assertEqual(r[0], 1)
                self.assertEqual(r[2], "x")
                self.assertEqual(r[3:], [4, 5])
                self.assertIsInstance(r[1], frost.FrozenList)   # top level only
                self.assertEqual(frost.thaw(r[1]), [2, 3])
            r = fl + fl
            self.assertIs(type(r), list)
            self.assertEqual(len(r), 6)
            self.assertEqual(fl + [], [1, fl[1], "x"])

    def test_reflected_add_keeps_the_left_type(self):
        for fl in self.each_view():
            left = [0]
            r = left + fl
            self.assertIs(type(r), list)
            self.assertEqual(r[0], 0)
            self.assertEqual(r[3], "x")
            self.assertEqual(left, [0], "list + FrozenList must not change the list")
            t = (0,) + fl
            self.assertIs(type(t), tuple)
            self.assertEqual(t[0], 0)
            self.assertEqual(t[3], "x")
            # sum() starts from [] and adds: works like on lists
            self.assertEqual(len(sum([fl, fl], [])), 6)

    def test_slices_and_packed_lists(self):
        with frost.freeze(list(range(10)), lifetime=self.lifetime) as store:
            packed = store.root
            self.assertEqual(packed[::3] + [99], [0, 3, 6, 9, 99])
            self.assertEqual(packed[8:] * 2, [8, 9, 8, 9])
        with frost.freeze([0.5], lifetime=self.lifetime) as store:
            self.assertEqual((1.5,) + store.root, (1.5, 0.5))

    def test_repeat(self):
        for fl in self.each_view(data=(1, 2)):
            self.assertEqual(fl * 3, [1, 2] * 3)
            self.assertEqual(3 * fl, [1, 2] * 3)
            self.assertIs(type(fl * 1), list)
            self.assertEqual(fl * 0, [])
            self.assertEqual(fl * -5, [])
            self.assertEqual(fl * True, [1, 2])
            with self.assertRaisesRegex(TypeError, "can't multiply sequence by non-int"):
                fl * "3"
            with self.assertRaisesRegex(TypeError, "can't multiply sequence by non-int"):
                fl * 2.0
            with self.assertRaises((OverflowError, MemoryError)):
                fl * (1 << 62)
            with self.assertRaises(TypeError):
                fl * fl

    def test_in_place_forms_raise_read_only(self):
        for fl in self.each_view():
            before = frost.thaw(fl)
            view = fl
            for op in ("view += [1]", "view += (1,)", "view += view", "view += 5",
                       "view *= 2", "view *= 'a'"):
                with self.subTest(op=op):
                    with self.assertRaisesRegex(TypeError, "FrozenList' object is read-only"):
                        exec(op)
                    self.assertIs(view, fl)
            self.assertEqual(frost.thaw(fl), before)
            with self.assertRaisesRegex(TypeError, "read-only"):
                fl.__iadd__([1])
            with self.assertRaisesRegex(TypeError, "read-only"):
                fl.__imul__(2)

    def test_other_operands_are_refused(self):
        for fl in self.each_view():
            for bad in ("ab", b"ab", 1, None, {1: 2}, {1}, range(2), frost.freeze({1: 2}).root,
                        frost.freeze({1}).root):
                with self.subTest(bad=type(bad).__name__):
                    with self.assertRaises(TypeError):
                        fl + bad
                    with self.assertRaises(TypeError):
                        bad + fl

    def test_a_list_subclass_with_its_own_radd_answers_first(self):
        # list + L() runs L.__radd__ first (a right operand of a subtype); so does
        # view + L() (it gave the concatenated list); a subclass without one concatenates
        class L(list):
            def __radd__(self, other):
                return ("L.__radd__", type(other))

        class Plain(list):
            pass

        for fl in self.each_view(data=(1, 2)):
            self.assertEqual(fl + L([3]), ("L.__radd__", list))
            self.assertEqual([1, 2] + L([3]), ("L.__radd__", list))
            r = fl + Plain([3])
            self.assertIs(type(r), list)
            self.assertEqual(r, [1, 2, 3])
        with frost.share([1, 2]) as shared:
            self.assertEqual(shared.root + L([3]), ("L.__radd__", list))
            self.assertEqual(shared.root + Plain([3]), [1, 2, 3])

    def test_plain_list_augmented_add_still_works(self):
        # `a_list += a_frozen_list` is the reflected +: it rebinds the name to
        # a new list (README "Using it", docs/design.md); list.extend extends in place.
        for fl in self.each_view():
            lst = [0]
            alias = lst
            lst += fl
            self.assertEqual(lst[0], 0)
            self.assertEqual(len(lst), 4)
            alias.extend(fl)
            self.assertEqual(len(alias), 4)

    def test_result_outlives_the_store(self):
        store = frost.freeze([1, [2]], lifetime=self.lifetime)
        r = store.root + [3]
        store.close()
        self.assertEqual(frost.thaw(r[1]), [2])   # the nested view keeps the arena
        del r


class FrozenDictOperators:
    lifetime = None

    def each_view(self):
        store = frost.freeze({"a": 1, "b": {"c": 2}}, lifetime=self.lifetime)
        try:
            yield store.root
        finally:
            store.close()

    def test_or_gives_a_new_plain_dict(self):
        for fd in self.each_view():
            r = fd | {"a": 10, "z": 3}
            self.assertIs(type(r), dict)
            self.assertEqual(list(r), ["a", "b", "z"])
            self.assertEqual(r["a"], 10)                       # right wins, as dict's |
            self.assertIsInstance(r["b"], frost.FrozenDict)    # top level only
            r["new"] = 1                                       # plain and mutable
            self.assertNotIn("new", fd)
            r = fd | fd
            self.assertIs(type(r), dict)
            self.assertEqual(list(r), ["a", "b"])

    def test_reflected_or(self):
        for fd in self.each_view():
            left = {"a": 0, "q": 1}
            r = left | fd
            self.assertIs(type(r), dict)
            self.assertEqual(list(r), ["a", "q", "b"])
            self.assertEqual(r["a"], 1)
            self.assertEqual(left, {"a": 0, "q": 1})
            # like MappingProxyType: a proxy on either side works too
            proxy = types.MappingProxyType({"p": 1})
            self.assertEqual(fd | proxy, {"a": 1, "b": fd["b"], "p": 1})
            self.assertEqual(proxy | fd, {"p": 1, "a": 1, "b": fd["b"]})

    def test_in_place_or_raises_read_only(self):
        for fd in self.each_view():
            view = fd
            for op in ("view |= {}", "view |= {'a': 2}", "view |= view", "view |= 5"):
                with self.subTest(op=op):
                    with self.assertRaisesRegex(TypeError, "FrozenDict' object is read-only"):
                        exec(op)
                    self.assertIs(view, fd)
            self.assertEqual(fd["a"], 1)
            with self.assertRaisesRegex(TypeError, "read-only"):
                fd.__ior__({})

    def test_plain_dict_in_place_or_updates_in_place(self):
        for fd in self.each_view():
            d = {"x": 0}
            alias = d
            d |= fd
            self.assertIs(d, alias)
            self.assertEqual(list(d), ["x", "a", "b"])

    def test_other_operands_are_refused(self):
        for fd in self.each_view():
            for bad in ([("a", 1)], 1, None, "ab", {1}, frost.freeze([1]).root,
                        frost.freeze({1}).root):
                with self.subTest(bad=type(bad).__name__):
                    with self.assertRaises(TypeError):
                        fd | bad
                    with self.assertRaises(TypeError):
                        bad | fd

    def test_dict_subclasses_on_either_side_give_a_plain_dict(self):
        class Sub(dict):
            pass
        for fd in self.each_view():
            self.assertIs(type(fd | Sub(k=1)), dict)
            self.assertIs(type(Sub(k=1) | fd), dict)
            self.assertEqual((Sub(k=1) | fd)["k"], 1)

    def test_a_raising_key_comparison_propagates(self):
        class Clash:
            def __hash__(self):
                return hash("a")         # collides with the frozen key "a"

            def __eq__(self, other):
                raise RuntimeError("no comparing")
        for fd in self.each_view():
            with self.assertRaisesRegex(RuntimeError, "no comparing"):
                {Clash(): 1} | fd


class ScopedFrozenListTest(FrozenListOperators, LeakCheckedTestCase):
    lifetime = "scoped"


class ProcessFrozenListTest(FrozenListOperators, unittest.TestCase):
    lifetime = "process"


class ScopedFrozenDictTest(FrozenDictOperators, LeakCheckedTestCase):
    lifetime = "scoped"


class ProcessFrozenDictTest(FrozenDictOperators, unittest.TestCase):
    lifetime = "process"


if __name__ == "__main__":
    unittest.main()


# ---- what the builtins have beyond operators (hash, reversed dict views, copy(),
# mutators) on every kind of store: process, scoped and mapped (frost.share) --------

STORES = {
    "process": lambda value: frost.freeze(value, lifetime="process"),
    "scoped": lambda value: frost.freeze(value, lifetime="scoped"),
    "mapped": frost.share,
}


class EveryStore(unittest.TestCase):
    """Each test body runs on a root view of `value` from every kind of store;
    scoped and mapped stores are closed and must leave nothing behind (a
    process store lives until exit: one arena and store more each)."""

    def setUp(self):
        self.before, self.process_stores = live(), 0

    def tearDown(self):
        n = self.process_stores
        self.assertEqual(live(), (self.before[0] + n, self.before[1] + n),
                         "the test leaked an arena or store")

    def assert_weakly_referenced(self, view, holders):
        """Weak references to `view` (the caller's only reference: it is dropped
        here): one shared callback-less ref, and a callback run with a dead
        reference when the view goes. `holders(view)` makes the weak containers
        the caller checks afterwards, returned."""
        ref = weakref.ref(view)
        self.assertIs(ref(), view)
        self.assertIs(weakref.ref(view), ref)   # one callback-less ref, as CPython shares
        held = holders(view)
        gone = []
        ref2 = weakref.ref(view, lambda r: gone.append(r()))
        del view
        gc.collect()
        self.assertEqual(gone, [None])      # the callback ran, with a dead reference
        self.assertIsNone(ref())
        self.assertIsNone(ref2())
        return held

    def each_root(self, value):
        for kind, make in STORES.items():
            store = make(value)
            self.process_stores += kind == "process"
            try:
                yield store.root
            except BaseException as e:
                e.add_note(f"(a {kind} store)")
                raise
            finally:
                if kind != "process":
                    store.close()


class SetViewsHashLikeFrozenset(EveryStore):
    """A FrozenSet (MappedSet) stands for a frozenset and compares equal to one, so
    it hashes as that frozenset does (docs/design.md, "Hashing"): it can be a dict
    key or a set member, and so can a tuple holding one."""

    def test_hash_is_the_equal_frozensets(self):
        for items in (set(), {1}, {1, "a", (2, b"x"), 3.5, None}, set(range(1000)),
                      frozenset({-1, -2, 2 ** 70})):
            for root in self.each_root({"s": items}):
                view = root["s"]
                self.assertEqual(hash(view), hash(frozenset(items)))
                self.assertEqual(hash(view), hash(root["s"]))   # any read, the same
                self.assertIsInstance(view, collections.abc.Hashable)
                self.assertEqual({view: 1}[frozenset(items)], 1)
                self.assertIn(frozenset(items), {view})
                self.assertEqual(len({view, frozenset(items), root["s"]}), 1)

    def test_a_frozen_sets_hash_is_computed_once(self):
        # hash(view) built a frozenset of every item at each call (O(n) per dict
        # lookup keyed by the view); like a frozenset, a FrozenSet and a MappedSet
        # keep their hash
        import tracemalloc
        for make in (frost.freeze, frost.share):
            with self.subTest(store=make.__name__):
                store = make({"s": set(range(50_000))})
                view = store.root["s"]
                tracemalloc.start()
                try:
                    first = hash(view)
                    _, built = tracemalloc.get_traced_memory()
                    tracemalloc.reset_peak()
                    again = hash(view)
                    _, second = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
                self.assertEqual(first, hash(frozenset(range(50_000))))
                self.assertEqual(again, first)
                self.assertGreater(built, 1 << 20)   # a 50,000-item frozenset
                self.assertLess(second, 4096)        # nothing built the second time
                self.assertEqual({view: 1}[frozenset(range(50_000))], 1)
                del view
                store.close()

    def test_tuples_holding_sets_hash(self):
        for root in self.each_root({"t": (1, frozenset({2, 3})), "d": {"k": frozenset({4})}}):
            self.assertEqual(hash(root["t"]), hash((1, frozenset({2, 3}))))
            # dict views' set algebra hashes the items: a frozenset value is fine, as in a dict
            self.assertEqual(root["d"].items() | set(), {("k", frozenset({4}))})
            self.assertEqual(root["d"].keys() ^ root["d"].items(), {"k", ("k", frozenset({4}))})

    def test_a_nan_member_hashes_as_the_view_compares(self):
        # arena stores yield one NaN object per arena NaN, so the view equals the
        # frozenset of what it yields; a format-2 image makes a new NaN at each read
        # (equal to nothing), so there it equals only views of its own node
        nan = float("nan")
        for items in ({nan, 1.0}, {(1, nan), "a"}, {complex(0, nan)}):
            equal_to_its_frozenset = []
            for root in self.each_root({"s": items}):
                view = root["s"]
                self.assertEqual(view, root["s"])
                self.assertEqual(hash(view), hash(root["s"]))
                if view == frozenset(view):
                    self.assertEqual(hash(view), hash(frozenset(view)))
                equal_to_its_frozenset.append(view == frozenset(view))
            self.assertEqual(equal_to_its_frozenset, [True, True, False])

    def test_set_operators_give_what_frozensets_give(self):
        # every set view answers &, |, -, ^ as frozenset does (values.c's one
        # frost__set_view_binop): the left operand's type, sets and frozensets
        # only. A MappedSet gave a frozenset for {1, 2} & view and took any
        # collections.abc.Set
        from frostcheck import UserSet
        other = frost.freeze({2, 9}).root   # a view of the other kind for the mapped store
        for root in self.each_root({"s": {1, 2, 3}}):
            view = root["s"]
            plain = frozenset({1, 2, 3})
            for left, right in (({1, 2}, view), (view, {1, 2}), (frozenset({2}), view),
                                (view, frozenset({2})), (view, view), (view, other),
                                (other, view)):
                for op in ("__and__", "__or__", "__sub__", "__xor__"):
                    as_plain = (lambda x: plain if x is view else
                                frozenset(x) if x is other else x)
                    expected = getattr(as_plain(left), op)(as_plain(right))
                    got = {"__and__": lambda: left & right, "__or__": lambda: left | right,
                           "__sub__": lambda: left - right, "__xor__": lambda: left ^ right}[op]()
                    with self.subTest(type(view).__name__, left=left, op=op):
                        self.assertEqual(got, expected)
                        self.assertIs(type(got), type(expected))
            with self.assertRaises(TypeError):
                view & [1]
            self.assertEqual(view & UserSet([1]), {1})   # the Set mixin's __rand__
            self.assertIs(type(view & UserSet([1])), UserSet)

    def test_a_dict_with_nan_keys_copies_whole(self):
        # a dict view's own copies read its items: MappedDict.copy() and `|` read
        # keys() then view[key], and a format-2 NaN key (a new NaN at each read)
        # is found by no lookup: KeyError
        import math
        for root in self.each_root({"d": {math.nan: "n", (1, math.nan): "t", "a": 1}}):
            view = root["d"]
            for name, copy in (("copy", view.copy), ("view | {}", lambda: view | {}),
                               ("{} | view", lambda: {} | view), ("thaw", lambda: frost.thaw(view)),
                               ("{'b': 2} | view", lambda: {"b": 2} | view)):
                with self.subTest(type(view).__name__, how=name):
                    got = copy()
                    self.assertIs(type(got), dict)
                    self.assertEqual(len(got), 3 + (name == "{'b': 2} | view"))
                    self.assertEqual(sorted(map(repr, got.values())),
                                     sorted(["'n'", "'t'", "1"] + (["2"] if "'b'" in name else [])))

    def test_other_views_stay_unhashable_as_their_builtins(self):
        import numpy as np
        for root in self.each_root({"l": [1], "d": {"a": 1}, "a": np.arange(3)}):
            for view in (root["l"], root["d"], root["a"], root["d"].keys(), root["d"].items()):
                with self.assertRaisesRegex(TypeError, "unhashable type"):
                    hash(view)
                self.assertNotIsInstance(view, collections.abc.Hashable)


class SetViewsTakeWeakReferences(EveryStore):
    """A FrozenSet (MappedSet) takes weak references as the frozenset it stands for
    does (weakref.WeakSet, WeakKeyDictionary keyed by set views); the dict and list
    views refuse them, as dict and list do. Both set views refused."""

    def test_weak_references_to_set_views(self):
        def holders(view):
            ws = weakref.WeakSet([view, empty])
            self.assertIn(frozenset({1, 2}), ws)   # found by the frozenset it equals
            keyed = weakref.WeakKeyDictionary({view: "v"})
            self.assertEqual(keyed[frozenset({1, 2})], "v")
            self.assertEqual(weakref.proxy(view) & {2, 3}, {2})
            return ws, keyed
        for root in self.each_root({"s": {1, 2}, "e": frozenset(), "l": [1], "d": {"a": 1}}):
            empty = root["e"]
            ws, keyed = self.assert_weakly_referenced(root["s"], holders)
            self.assertEqual(len(keyed), 0)
            self.assertEqual(list(ws), [empty])
            for other, builtin in ((root["l"], [1]), (root["d"], {"a": 1}),
                                   (root["d"].keys(), {}.keys()), (iter(root["s"]), iter(set()))):
                with self.assertRaises(TypeError):
                    weakref.ref(builtin)
                with self.assertRaisesRegex(TypeError, "cannot create weak reference"):
                    weakref.ref(other)
            del empty, ws, keyed


@dataclasses.dataclass
class Flat:   # plain fields: a shape-typed record in a process store (view_record.c)
    x: int
    name: str


class RecordAndArrayViewsTakeWeakReferences(EveryStore):
    """Records (MappedRecord) and arrays (MappedArray), a row of a 2-D one too, take
    weak references as the dataclass instance, memoryview and ndarray they stand for
    do (docs/design.md, "Weak references"): a WeakValueDictionary of them, a
    proxy, a callback when the view goes. All refused them."""

    def test_weak_references_to_record_and_array_views(self):
        import numpy as np
        value = {"flat": Flat(1, "a"), "pair": Pair(2, "b"), "point": Point(3, [4]),
                 "grid": np.arange(6.0).reshape(2, 3), "bytes": bytearray(b"xyz")}
        for builtin in (Flat(1, "a"), memoryview(b"x"), np.arange(2)):
            weakref.ref(builtin)
        reads = {"flat": lambda r: r["flat"], "pair": lambda r: r["pair"],
                 "point": lambda r: r["point"], "grid": lambda r: r["grid"],
                 "row": lambda r: r["grid"][1], "bytes": lambda r: r["bytes"]}
        def holders(view):
            values = weakref.WeakValueDictionary({"v": view})
            self.assertIs(values["v"], view)
            self.assertEqual(str(weakref.proxy(view)), str(view))   # (forwarded)
            return values
        shaped = 0
        for root in self.each_root(value):
            shaped += type(root["flat"]) not in (frost.Record, frost.MappedRecord)
            for what, read in reads.items():
                with self.subTest(what=what, view=type(root).__name__):
                    values = self.assert_weakly_referenced(read(root), holders)
                    self.assertEqual(len(values), 0)
        self.assertEqual(shaped, 1)   # the process store's


class DictViewsReverse(EveryStore):
    """reversed() of keys(), values() and items() as dict's (3.8+)."""

    def test_reversed(self):
        data = {"a": 1, "b": [2], 3: "c", (4, 5): {"x": 6}}
        for root in self.each_root({"d": data, "empty": {}}):
            d = root["d"]
            self.assertEqual(list(reversed(d.keys())), list(reversed(data.keys())))
            self.assertEqual([frost.thaw(v) if not isinstance(v, (int, str)) else v
                              for v in reversed(d.values())], list(reversed(data.values())))
            self.assertEqual([(k, frost.thaw(v) if not isinstance(v, (int, str)) else v)
                              for k, v in reversed(d.items())], list(reversed(data.items())))
            for view in (d.keys(), d.values(), d.items()):
                self.assertIsInstance(view, collections.abc.Reversible)
                it = reversed(view)
                self.assertEqual(len(list(it)), 4)
                self.assertEqual(list(it), [])             # exhausted stays exhausted
            for view in (root["empty"].keys(), root["empty"].values(), root["empty"].items()):
                self.assertEqual(list(reversed(view)), [])

    def test_reversed_runs_over_the_entries_without_copying_them(self):
        # reversed() made a list of every key, value or item first: 8 bytes an
        # entry and more (a scoped store's copies of its leaves) before the first
        data = {f"k{i}": i for i in range(100_000)}
        for root in self.each_root({"d": data}):
            d = root["d"]
            for make in (lambda: reversed(d), lambda: reversed(d.keys()),
                         lambda: reversed(d.values()), lambda: reversed(d.items())):
                make()   # (whatever a first call sets up once)
                tracemalloc.start()
                try:
                    it = make()
                    grown = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                self.assertLess(grown, 10_000)
                self.assertEqual(operator.length_hint(it), 100_000)
                first = next(it)
                self.assertEqual(operator.length_hint(it), 99_999)
                self.assertIn(first, ("k99999", 99999, ("k99999", 99999)))
            self.assertEqual(list(reversed(d)), list(reversed(data)))

    def test_mapping_attribute(self):
        for root in self.each_root({"d": {"a": 1}}):
            d = root["d"]
            for view in (d.keys(), d.values(), d.items()):
                self.assertEqual(view.mapping, d)
                self.assertIs(type(view.mapping), type(d))   # read-only already


class OrAnswersAsAMappingProxy(EveryStore):
    """`view | other` and `other | view` as with a MappingProxyType of the same
    dict: a Mapping that is no dict gets the view read as a dict, so its own
    operator answers (UserDict's `|` takes dicts only: with a FrozenDict or
    MappedDict on either side it was a TypeError)."""

    def test_every_kind_of_other_operand(self):
        data = {"a": 1, "b": 2}
        others = [collections.UserDict(b=20, c=3), collections.OrderedDict(c=3),
                  collections.defaultdict(int, c=3), collections.Counter(c=3),
                  collections.ChainMap({"c": 3}), {"c": 3}, [("c", 3)], {"c"}, 1, None]
        for root in self.each_root({"d": data}):
            view, proxy = root["d"], types.MappingProxyType(dict(data))
            for other in others:
                for name, expr in (("view | other", operator.or_), ("other | view", lambda a, b: b | a)):
                    with self.subTest(type(other).__name__, expr=name):
                        try:
                            want = expr(proxy, other)
                        except TypeError:
                            with self.assertRaises(TypeError):
                                expr(view, other)
                            continue
                        got = expr(view, other)
                        self.assertIs(type(got), type(want))
                        self.assertEqual(dict(got), dict(want))


class CopyGivesAPlainContainer(EveryStore):
    """copy() as MappingProxyType.copy(): a new plain dict/list (frozenset for a
    set view, whose algebra gives frozensets too), top level only."""

    def test_copy(self):
        data = {"d": {"a": 1, "b": [2]}, "l": [1, [2], "x"], "s": {1, 2}, "p": [1, 2, 3]}
        for root in self.each_root(data):
            for key, plain in (("d", dict), ("l", list), ("s", frozenset), ("p", list)):
                view = root[key]
                c = view.copy()
                self.assertIs(type(c), plain)
                self.assertEqual(c, view)
                self.assertIsNot(c, view)
                if plain is not frozenset:
                    c.clear()                            # a copy of its own
                    self.assertGreater(len(view), 0)
            self.assertIsInstance(root["d"].copy()["b"], (frost.FrozenList, frost.MappedList))
            self.assertEqual(root["l"][1:].copy(), [root["l"][1], "x"])   # a slice view too
            with self.assertRaisesRegex(TypeError, "takes no arguments"):
                root["d"].copy(1)


class WhatDoesNotPickleSaysSo(EveryStore):
    """View iterators (and a FrozenDict's keys()/values()/items(), as dict's) do
    not pickle (docs/design.md, "Known differences"): a TypeError "cannot pickle
    'T' object" at every protocol, as list_iterator and dict_keys give. Protocols
    0 and 1 raised a PicklingError ("attribute lookup iterator on frost._frost
    failed"), from copyreg reducing the heap type as a plain object."""

    def test_every_protocol_is_a_type_error(self):
        data = {"d": {"a": 1}, "l": [1, "x"], "p": [1, 2], "f": [0.5], "s": {1}}
        for root in self.each_root(data):
            d = root["d"]
            # a MappedDict's keys()/values()/items() pickled by their mapping (and
            # copy.copy() gave a view), where a FrozenDict's, as a dict's, refuse
            unpicklable = [iter(root[k]) for k in data] + [reversed(root["l"]), iter(d.items()),
                                                           d.keys(), d.values(), d.items()]
            for obj in unpicklable:
                for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
                    with self.assertRaisesRegex(TypeError, rf"^cannot pickle '{type(obj).__module__}"
                                                           rf"\.{type(obj).__name__}' object$"):
                        pickle.dumps(obj, protocol)
                for how in (copy.copy, copy.deepcopy):
                    with self.assertRaisesRegex(TypeError, "cannot pickle"):
                        how(obj)
            del unpicklable, obj, d


class MutatorsSayReadOnly(EveryStore):
    """Every mutation of every view is a TypeError naming the view's type and
    saying it is read-only (not "does not support item assignment")."""

    def test_item_assignment_and_deletion(self):
        import numpy as np

        @dataclasses.dataclass
        class Point:
            x: int

        data = {"l": [1], "d": {"a": 1}, "s": {1}, "a": np.arange(3), "r": Point(1)}
        for root in self.each_root(data):
            for key in data:
                view = root[key]
                name = type(view).__name__.split("[")[0]
                for mutate in (lambda: view.__setitem__(0, 1), lambda: view.__delitem__(0)):
                    if key == "s":   # frozenset has neither: nor has a set view
                        with self.assertRaises(AttributeError):
                            mutate()
                        continue
                    with self.assertRaisesRegex(TypeError, rf"'frost\.{name}' object is read-only"):
                        mutate()
                with self.assertRaisesRegex(TypeError, "read-only|does not support item assignment"):
                    view[0] = 1
                with self.assertRaisesRegex(TypeError, "read-only|doesn't support item deletion"):
                    del view[0]


class MappingEqualityReadsAsDicts(EveryStore):
    """FrozenDict/MappedDict == other answers as dict's == (or, for a Mapping
    that is no dict, as Mapping.__eq__'s items()): a dict subclass is read from
    its table, so a defaultdict is not changed and a Counter or a __missing__/
    __getitem__ override does not make absent keys present."""

    def test_dict_subclasses_answer_as_with_a_dict(self):
        class Missing(dict):
            def __missing__(self, key):
                return 0

        class AnyKey(dict):
            def __getitem__(self, key):
                return 0

        class DefaultMapping(collections.abc.Mapping):   # __getitem__ never raises
            def __init__(self, keys):
                self.keys_ = list(keys)

            def __getitem__(self, key):
                return 0

            def __iter__(self):
                return iter(self.keys_)

            def __len__(self):
                return len(self.keys_)

        for root in self.each_root({"d": {"a": 0}}):
            d = root["d"]
            dd = collections.defaultdict(int, b=0)
            others = [dd, collections.Counter(b=0), Missing(b=0), AnyKey(b=0),
                      types.MappingProxyType(dd), collections.UserDict(b=0), DefaultMapping("b")]
            for other in others:
                with self.subTest(other=type(other).__name__):
                    want = {"a": 0} == other if isinstance(other, dict) else \
                        dict({"a": 0}.items()) == dict(other.items())
                    self.assertFalse(want)
                    self.assertIs(d == other, want)
                    self.assertIs(other == d, want)
                    self.assertIs(d != other, not want)
            self.assertEqual(dict(dd), {"b": 0}, "== changed the defaultdict")
            for same in (collections.defaultdict(int, a=0), collections.Counter(a=0), Missing(a=0),
                         collections.OrderedDict(a=0), DefaultMapping("a")):
                self.assertTrue(d == same and same == d, type(same).__name__)


class ComparisonsReadSubclassesAsTheirBuiltins(EveryStore):
    """A view compares with a dict, list or set subclass as dict's, list's and
    frozenset's == do: by the builtin's own size and items, whatever the
    subclass's __len__, __getitem__, __iter__ or __contains__ say."""

    def test_overridden_protocols_are_not_asked(self):
        class LyingDict(dict):
            def __len__(self):
                return 5

        class LyingSet(set):
            def __iter__(self):
                return iter([1, 2])

            def __len__(self):
                return 2

            def __contains__(self, x):
                return True

        class LyingList(list):
            def __len__(self):
                return 0

            def __getitem__(self, i):
                return 99

            def __iter__(self):
                return iter([])

        cases = [("d", {"a": 1}, LyingDict(a=1)), ("d", {"a": 1}, LyingDict(b=1)),
                 ("s", {1, 2}, LyingSet({3, 4})), ("s", {1, 2}, LyingSet({1, 2})),
                 ("l", [1], LyingList([1])), ("l", [1], LyingList([2])), ("l", [1], LyingList([]))]
        for root in self.each_root({"d": {"a": 1}, "s": {1, 2}, "l": [1]}):
            for key, plain, other in cases:
                view = root[key]
                plain = frozenset(plain) if key == "s" else plain
                with self.subTest(other=type(other).__name__, items=list(other)):
                    for op in ("__eq__", "__ne__") + (("__lt__", "__le__", "__gt__", "__ge__")
                                                      if key != "d" else ()):
                        got = getattr(operator, op)(view, other)
                        self.assertIs(got, getattr(operator, op)(plain, other), op)
                        self.assertIs(getattr(operator, op)(other, view),
                                      getattr(operator, op)(other, plain), "reflected " + op)

    def test_a_subclass_with_its_own_comparison_answers_first(self):
        # `builtin op sub` runs the subclass's reflected method first (Python's rule
        # for a right operand of a subtype); a view stands for the builtin, so
        # `view op sub` does too. A FrozenList/FrozenDict/FrozenSet answered alone.
        class L(list):
            __hash__ = None

            def __eq__(self, other):
                return "L.__eq__"

            def __gt__(self, other):
                return "L.__gt__"

        class D(dict):
            def __ne__(self, other):
                return "D.__ne__"

        class S(frozenset):
            __hash__ = frozenset.__hash__

            def __eq__(self, other):
                return "S.__eq__"

            def __le__(self, other):
                return NotImplemented   # the view answers

        class Plain(list):
            pass

        ops = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)
        data = {"l": [1], "d": {"a": 1}, "s": {1}}
        for root in self.each_root(data):
            for key, other in (("l", L([1])), ("l", Plain([1])), ("d", D(a=1)), ("s", S({1}))):
                plain = frozenset(data[key]) if key == "s" else data[key]
                for op in ops:
                    self.assertEqual(outcome(lambda: op(root[key], other)), outcome(lambda: op(plain, other)),
                                     (type(other).__name__, op.__name__))
                    self.assertEqual(outcome(lambda: op(other, root[key])), outcome(lambda: op(other, plain)),
                                     (type(other).__name__, op.__name__))
            self.assertEqual(root["l"] == L([1]), "L.__eq__")
            self.assertIs(root["s"] >= S({1}), True)

    def test_a_subclass_that_hands_the_comparison_back_is_asked_once(self):
        # `return other.__eq__(self)`: the builtin answers that second call itself;
        # the view did too, until it asked the subclass first (RecursionError)
        class Back(list):
            __hash__ = None

            def __eq__(self, other):
                return other.__eq__(self)

            def __lt__(self, other):
                return other.__gt__(self)

        class BackDict(dict):
            def __eq__(self, other):
                return other.__eq__(self)

        class BackSet(frozenset):
            __hash__ = frozenset.__hash__

            def __eq__(self, other):
                return other.__eq__(self)

        for root in self.each_root({"l": [1], "d": {"a": 1}, "s": {1}}):
            for key, other, plain in (("l", Back([1]), [1]), ("l", Back([2]), [1]),
                                      ("d", BackDict(a=1), {"a": 1}), ("s", BackSet({1}), frozenset({1}))):
                for op in (operator.eq, operator.ne, operator.lt, operator.gt):
                    self.assertEqual(outcome(lambda: op(root[key], other)), outcome(lambda: op(plain, other)),
                                     (type(other).__name__, op.__name__))

    def test_a_list_shrunk_by_an_items_eq(self):
        # list's == reads the other list's size again at each step: an item's
        # __eq__ that empties it ends the comparison (unequal), not an IndexError
        class Clearing:
            def __init__(self, victim):
                self.victim = victim

            def __eq__(self, other):
                self.victim.clear()
                return True

            __hash__ = object.__hash__

        def victim():
            v = []
            v.extend([Clearing(v), 2])
            return v

        want = [1, 2] == victim()
        self.assertIs(want, False)
        for root in self.each_root({"l": [1, 2]}):
            for op in (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge):
                v = victim()
                self.assertIs(op(root["l"], v), op([1, 2], victim()), op.__name__)
                self.assertEqual(v, [])
                self.assertIs(op(victim(), root["l"]), op(victim(), [1, 2]), op.__name__)


# ---- hypothesis: a view answers every read as the builtin it stands for ---------

from hypothesis import given, settings, strategies as hs  # noqa: E402

PROPERTY = settings(derandomize=True, max_examples=60, deadline=None, database=None)
LEAVES = hs.one_of(hs.integers(-300, 300), hs.integers(), hs.floats(allow_nan=False),
                   hs.text(max_size=3), hs.booleans(), hs.none(), hs.binary(max_size=2))
KEYS = hs.recursive(LEAVES, lambda inner: hs.tuples(inner, inner), max_leaves=4)
VALUES = hs.recursive(KEYS, lambda inner: hs.one_of(
    hs.lists(inner, max_size=5), hs.dictionaries(KEYS, inner, max_size=4),
    hs.sets(KEYS, max_size=4), hs.frozensets(KEYS, max_size=4)), max_leaves=12)
INDEXES = hs.one_of(hs.integers(-8, 8), hs.integers(), hs.booleans(), hs.none())
SLICES = hs.builds(slice, INDEXES, INDEXES, hs.one_of(hs.integers(-4, 4).filter(bool), hs.none(),
                                                     hs.sampled_from([2 ** 63, -2 ** 63, 2 ** 100])))


VIEW_TYPES = (frost.FrozenList, frost.FrozenDict, frost.FrozenSet, frost.MappedList,
              frost.MappedDict, frost.MappedSet)


def plain(x):
    """x with every view in it thawed (x may be a plain container holding views)."""
    if isinstance(x, VIEW_TYPES):
        return frost.thaw(x)
    if type(x) is list:
        return [plain(i) for i in x]
    if type(x) is tuple:
        return tuple(plain(i) for i in x)
    if type(x) is dict:
        return {k: plain(v) for k, v in x.items()}
    return x


def outcome(f):
    """f()'s result, or its exception type (a view raises what the builtin raises)."""
    try:
        return "ok", f()
    except Exception as e:   # noqa: BLE001
        return "raised", type(e)


class ViewsAnswerAsBuiltins(EveryStore):
    """Random nested data: each read of a view (sequence, mapping and set reads,
    comparisons with the builtin and with other views, hashing of set views)
    gives what the same read of the plain data gives (thaw() on the way out)."""

    def same(self, view_answer, plain_answer):
        self.assertEqual(view_answer[0], plain_answer[0], (view_answer, plain_answer))
        if view_answer[0] == "ok":
            self.assertEqual(plain(view_answer[1]), plain_answer[1])
        else:
            self.assertIs(view_answer[1], plain_answer[1])

    @PROPERTY
    @given(hs.lists(VALUES, max_size=6), hs.lists(hs.tuples(VALUES, INDEXES, INDEXES), max_size=4),
           hs.lists(SLICES, max_size=4), hs.lists(VALUES, max_size=3))
    def test_lists(self, items, index_calls, slices, others):
        for root in self.each_root({"l": items}):
            view = root["l"]
            self.assertEqual(len(view), len(items))
            self.assertEqual(plain(view.copy()), items)
            for value, start, stop in index_calls:
                args = [a for a in (value, start, stop) if a is not None]
                self.same(outcome(lambda: view.index(*args)), outcome(lambda: items.index(*args)))
                self.same(outcome(lambda: view.count(value)), outcome(lambda: items.count(value)))
                self.assertEqual(value in view, value in items)
                if start is not None:
                    self.same(outcome(lambda: view[start]), outcome(lambda: items[start]))
            for s in slices:
                self.same(outcome(lambda: view[s]), outcome(lambda: items[s]))
                self.same(outcome(lambda: view[s][::-1]), outcome(lambda: items[s][::-1]))
            self.assertEqual([plain(x) for x in reversed(view)], items[::-1])
            for other in others + [items, items[:-1], items + [0]]:
                if not isinstance(other, list):
                    continue
                for op in (operator.eq, operator.ne, operator.lt, operator.le, operator.gt,
                           operator.ge):
                    self.same(outcome(lambda: op(view, other)), outcome(lambda: op(items, other)))
                    self.same(outcome(lambda: op(other, view)), outcome(lambda: op(other, items)))

    @PROPERTY
    @given(hs.dictionaries(KEYS, VALUES, max_size=6), hs.lists(KEYS, max_size=4),
           hs.lists(hs.sets(KEYS, max_size=4), max_size=3), hs.dictionaries(KEYS, VALUES, max_size=3))
    def test_dicts(self, data, queries, sets, other):
        for root in self.each_root({"d": data, "o": other}):
            view = root["d"]
            self.assertEqual(plain(view.copy()), data)
            self.assertEqual(list(reversed(view.keys())), list(reversed(data.keys())))
            self.assertEqual(len(view.items()), len(data))
            for q in queries + list(data)[:2]:
                self.assertEqual(q in view, q in data)
                self.same(outcome(lambda: view[q]), outcome(lambda: data[q]))
                self.same(outcome(lambda: view.get(q, "absent")), outcome(lambda: data.get(q, "absent")))
                self.assertEqual(q in view.keys(), q in data.keys())
            for s in sets + [set(data)]:
                for op in (operator.and_, operator.or_, operator.sub, operator.xor):
                    self.same(outcome(lambda: op(view.keys(), s)), outcome(lambda: op(data.keys(), s)))
                    self.same(outcome(lambda: op(s, view.keys())), outcome(lambda: op(s, data.keys())))
                for op in (operator.eq, operator.lt, operator.le, operator.gt, operator.ge):
                    self.assertIs(op(view.keys(), s), op(data.keys(), s))
                self.assertIs(view.keys().isdisjoint(s), data.keys().isdisjoint(s))
            for theirs, same_plain in ((other, other), (root["o"], other), (dict(data), dict(data))):
                self.assertIs(view == theirs, data == same_plain)
                self.assertIs(theirs != view, same_plain != data)
                self.same(outcome(lambda: view | theirs), outcome(lambda: data | same_plain))

    @PROPERTY
    @given(hs.frozensets(KEYS, max_size=8), hs.lists(hs.frozensets(KEYS, max_size=5), max_size=3),
           hs.lists(KEYS, max_size=4))
    def test_sets(self, data, others, queries):
        for root in self.each_root({"s": data, "o": others}):
            view = root["s"]
            self.assertEqual(hash(view), hash(data))
            self.assertEqual(view.copy(), data)
            for q in queries:
                self.assertEqual(q in view, q in data)
            for other, theirs in zip(others + [data], list(root["o"]) + [view]):
                for op in (operator.and_, operator.or_, operator.sub, operator.xor):
                    self.assertEqual(op(view, other), op(data, other))
                    self.assertEqual(op(view, theirs), op(data, other))
                for op in (operator.eq, operator.ne, operator.lt, operator.le, operator.gt,
                           operator.ge):
                    self.assertIs(op(view, other), op(data, other))
                    self.assertIs(op(other, view), op(other, data))
                    self.assertIs(op(view, theirs), op(data, other))
                self.assertIs(view.isdisjoint(other), data.isdisjoint(other))
                self.assertEqual(hash(theirs), hash(other))


class ArenaAndMappedKindsMix(unittest.TestCase):
    """A FrozenList and a MappedList (a FrozenDict and a MappedDict) of the same
    data are two lists (dicts): they compare and combine as lists (dicts) do, so
    switching frost.freeze for frost.share changes no answer, mixed or not."""

    def test_lists(self):
        data = [1, [2, "x"], (3,)]
        arena, mapped = frost.freeze(data).root, frost.share(data).root
        shorter = frost.share(data[:2]).root
        for a, b in ((arena, mapped), (mapped, arena)):
            for op in (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge):
                self.assertIs(op(a, b), op(data, data), op.__name__)
                self.assertIs(op(a, shorter), op(data, data[:2]), op.__name__)
                self.assertIs(op(shorter, a), op(data[:2], data), op.__name__)
            self.assertEqual(plain(a + b), data + data)
            self.assertIs(type(a + b), list)
            self.assertEqual((0,) + b, (0,) + tuple(b))
        self.assertEqual(frost.thaw(arena[1:]), frost.thaw(mapped)[1:])
        self.assertTrue(arena[1:] == mapped[1:])    # a FrozenList slice vs a list slice

    def test_a_list_of_objects_has_no_buffer_in_either_kind(self):
        # memoryview(list) is a TypeError; a MappedList's was a BufferError
        data = [1, "x"]
        for root in (frost.freeze(data).root, frost.share(data).root):
            with self.assertRaisesRegex(TypeError, r"has no buffer; only lists of ints or of floats"
                                                   r"|has no buffer: only lists whose items are all"):
                memoryview(root)
        for root in (frost.freeze([1, 2]).root, frost.share([1.5]).root):
            self.assertEqual(memoryview(root).tolist(), frost.thaw(root))

    def test_dicts(self):
        data = {"a": [1], "b": {"c": 2}}
        arena, mapped = frost.freeze(data).root, frost.share(data).root
        for a, b in ((arena, mapped), (mapped, arena)):
            self.assertTrue(a == b and not a != b)
            self.assertTrue(a.keys() == b.keys() and a.items() == b.items())
            r = a | b
            self.assertIs(type(r), dict)
            self.assertEqual(list(r), ["a", "b"])
            self.assertIsInstance(r["a"], type(b["a"]))   # the right operand's value wins
            self.assertEqual(plain(r), data)
            self.assertEqual(list({"z": 0} | a | b), ["z", "a", "b"])
            self.assertFalse(a == frost.share({"a": [1], "b": {"c": 3}}).root)


@dataclasses.dataclass
class Point:
    x: int
    tags: list


class Pair(typing.NamedTuple):
    a: int
    b: str


class RecordsOfBothKindsCompare(unittest.TestCase):
    """A frost.Record and a MappedRecord of equal objects are equal, as two
    Records are: the same class (module, qualname) and equal states."""

    def test_records(self):
        data = [Point(1, ["a"]), Pair(2, "b"), Point(1, ["z"]), Pair(1, ["a"])]
        stores = [frost.freeze(data), frost.freeze(data, lifetime="process"), frost.share(data)]
        roots = [s.root for s in stores]
        for a in roots:
            for b in roots:
                for i in range(4):
                    for j in range(4):
                        self.assertIs(a[i] == b[j], i == j, (type(a[i]), type(b[j]), i, j))
                        self.assertIs(a[i] != b[j], i != j)
        with self.assertRaises(TypeError):
            roots[0][0] < roots[2][0]   # noqa: B015  (records do not order)
        for s in stores[::2]:
            s.close()

    def test_records_print_alike(self):
        # a frost.Record printed "Record(mod.Point, FrozenDict({...}))", a MappedRecord
        # "Point(a=1, ...)": switching freeze for share changed repr, str and f-strings.
        # Both print as the class's own repr reads: QualName(field=value, ...).
        Wide = dataclasses.make_dataclass("Wide", [(f"f{i}", int) for i in range(60)])

        class Shared:
            def __init__(self, state):
                self.state = state

            def __shared__(self):
                return self.state
        loop = []
        data = [Point(1, ["a", Pair(2, "b")]), Pair(1, "x"), Shared([1, 2]), Wide(*range(60)),
                Point(loop, None)]
        loop.append(data[-1])
        stores = [frost.freeze(data), frost.freeze(data, lifetime="process"), frost.share(data)]
        for store in stores:
            r = store.root
            kind = type(r).__name__.replace("List", "")   # Frozen / Mapped
            with self.subTest(kind=type(r[0]).__name__):
                self.assertEqual(repr(r[0]), f"Point(x=1, tags={kind}List(['a', Pair(a=2, b='b')]))")
                self.assertEqual(str(r[1]), "Pair(a=1, b='x')")
                self.assertEqual(f"{r[1]}", "Pair(a=1, b='x')")
                self.assertEqual(repr(r[2]), f"{Shared.__qualname__}({kind}List([1, 2]))")
                self.assertEqual(repr(r[3]), "Wide(" + ", ".join(f"f{i}={i}" for i in range(50))
                                 + ", ...)")
                self.assertEqual(repr(r[4]), f"Point(x={kind}List([...]), tags=None)")
        for s in stores[::2]:
            s.close()


class HugeStepsOnShortSlices(EveryStore):
    """A slice with a huge step holds one item or none, as list's does; its
    view reads, slices again, exports and pickles as a one-item list (a step of
    2**63-1 once overflowed the buffer stride, step * 8: memoryview strides -8)."""

    def test_huge_steps(self):
        import pickle
        big = 2 ** 63 - 1
        for packed in ([10, 20, 30, 40], [1.5, 2.5, 3.5], ["a", [1], "c"]):
            items = list(packed)
            for root in self.each_root({"l": packed}):
                view = root["l"]
                for s in ((None, None, big), (None, None, -big), (1, None, big), (None, None, -big - 1),
                          (-1, None, 2 ** 100), (5, None, big)):
                    sl = slice(*s)
                    got = view[sl]
                    self.assertEqual(plain(got), items[sl])
                    for again in (slice(None, None, -1), slice(None, None, big), slice(None, None, 3)):
                        self.assertEqual(plain(got[again]), items[sl][again])
                        self.assertEqual(plain(view[::2][again][sl]), items[::2][again][sl])
                    self.assertEqual(plain(pickle.loads(pickle.dumps(got))), items[sl])
                    if isinstance(packed[0], (int, float)) and isinstance(got, frost.FrozenList):
                        m = memoryview(got)
                        self.assertEqual(m.tolist(), items[sl])
                        self.assertIn(m.strides, ((8,), (0,)) if not items[sl] else ((8,),))
