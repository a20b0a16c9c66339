"""Hostile and careless use of the newest features: results rewritten in place
(views/reuse.h) under every way of keeping them, FrozenSet membership and
comparisons against every kind of key and set-like, records of every dataclass
and NamedTuple shape, frost.share interrupted, forked from, or out of space,
and wrong arguments, cycles, deep nesting and lifetimes ended in every order.
Each case says what a user would do; none may crash, hang, leak or change a
value a caller holds.
"""
import collections
import collections.abc
import copy
import dataclasses
import fractions
import functools
import decimal
import gc
import heapq
import itertools
import os
import pickle
import sys
import tempfile
import textwrap
import threading
import typing
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402

import poolwork  # noqa: E402
from frostcheck import LeakCheckedTestCase, SharedPool, UserSet, run_child  # noqa: E402


ROWS = [(i * 1000 + 7, f"s{i:05d}", i + 0.5, (i * 1000 + 9, f"x{i:04d}")) for i in range(1500)]


def every_store(value, tmp):
    """A root view of `value` from each kind of store whose reads copy leaves out
    (and so reuse them): scoped freeze, share, format-1 scoped load, format-2 load."""
    yield frost.freeze(value).root
    yield frost.share(value).root
    frost.freeze(value).save(os.path.join(tmp, "one.frost"), format=1)
    yield frost.load(os.path.join(tmp, "one.frost"), lifetime="scoped").root
    frost.freeze(value).save(os.path.join(tmp, "two.frost"), format=2)
    yield frost.load(os.path.join(tmp, "two.frost")).root


@dataclasses.dataclass
class ShapePoint:
    x: int
    y: str


@functools.cache
def records_and_arrays():
    import numpy as np   # (imported by the tests that use it)
    return {"pairs": {i: ShapePoint(i, f"p{i}") if i % 2 else np.arange(float(i), i + 2.0)
                      for i in range(300)},
            "list": [ShapePoint(i, f"q{i}") for i in range(300)],
            "grid": np.arange(600.0).reshape(300, 2)}


def pull_from_weakref_callbacks(test, root):
    """Each record and array a scan of `root` (records_and_arrays()) hands out gets a
    weak reference whose callback pulls from that scan's iterator. In an items() pair
    the view goes when the reader rewrites the pair for the next entry (iter.c
    next_pair), a next() from within that next(): every entry must still come once."""
    import weakref
    value = records_and_arrays()

    def plain(x):
        return (x.x, x.y) if hasattr(x, "y") else tuple(x.tolist())
    for scan, want in ((lambda: root["pairs"].items(), value["pairs"].items()),
                       (lambda: enumerate(root["list"]), enumerate(value["list"])),
                       (lambda: enumerate(root["grid"]), enumerate(value["grid"]))):
        it = iter(scan())
        pulled, refs, kept = [], [], []

        def pull(_):
            pulled.extend([next(it, None), next(it, None)])
        for k, x in it:
            kept.append((k, plain(x)))
            refs.append(weakref.ref(x, pull))
            del x
        pairs = kept + [(k, plain(x)) for k, x in filter(None, pulled)]
        test.assertEqual(sorted(pairs), sorted((k, plain(x)) for k, x in want))
        test.assertGreater(len(pulled), 0)   # the callbacks ran
        del refs            # (first: the views the iterator keeps call no one)
        del it, pull, pulled


class KeptResultsNeverChange(LeakCheckedTestCase):
    """Whatever a consumer keeps from a scoped read keeps its value."""

    def each_view(self, value=ROWS):
        with tempfile.TemporaryDirectory() as tmp:
            for view in every_store(value, tmp):
                yield view
                del view
                gc.collect()

    def same(self, got, want):
        self.assertEqual([repr(x) for x in got], [repr(x) for x in want])

    def test_itertools_and_builtins_that_keep_items(self):
        by_first = lambda r: r[0]  # noqa: E731
        for v in self.each_view():
            self.same(list(v), ROWS)
            self.same([a for a, _ in zip(v, v)], ROWS)
            self.same([b for _, b in zip(v, v)], ROWS)
            self.same([x for _, x in enumerate(v)], ROWS)
            t1, t2 = itertools.tee(v)
            self.same(list(t1), ROWS)
            self.same(list(t2), ROWS)
            self.same(list(itertools.islice(v, 3, None, 2)), ROWS[3::2])
            self.same(sorted(v, key=lambda r: -r[0]), sorted(ROWS, key=lambda r: -r[0]))
            self.same(list(reversed(v)), ROWS[::-1])
            heap = []
            for r in v:
                heapq.heappush(heap, r)
            self.same([heapq.heappop(heap) for _ in range(len(heap))], sorted(ROWS))
            self.same(heapq.nsmallest(5, v, key=by_first), ROWS[:5])
            self.same(list(collections.Counter(v)), ROWS)
            self.same(list(dict.fromkeys(v)), ROWS)
            self.same([a for a, _ in itertools.pairwise(v)], ROWS[:-1])
            self.same([k for k, _ in itertools.groupby(v)], ROWS)
            self.same([max(v, key=lambda r: -r[0]), min(v, key=lambda r: -r[0])], [ROWS[0], ROWS[-1]])
            self.same(list(map(lambda r: r, v)), ROWS)
            self.same(list(itertools.chain.from_iterable(v)), list(itertools.chain.from_iterable(ROWS)))
            self.same(collections.deque(v, maxlen=3), ROWS[-3:])
            self.assertEqual(" ".join(r[1] for r in v), " ".join(r[1] for r in ROWS))
            self.assertEqual([f"{r[1]}:{r[0]}" for r in v], [f"{r[1]}:{r[0]}" for r in ROWS])
            self.same([(a, b, c, (d, e)) for a, b, c, (d, e) in v], ROWS)

    def test_generators_kept_alive_and_traceback_frames(self):
        for v in self.each_view():
            gen = (r for r in v)
            kept = [next(gen), next(gen), next(gen)]
            rest = list(gen)
            self.same(kept + rest, ROWS)

            def scan():
                for row in v:
                    if row[0] == ROWS[7][0]:
                        raise LookupError("stop")
            try:
                scan()
            except LookupError as e:
                caught = e
            frame = caught.__traceback__.tb_next.tb_frame
            self.same(list(v)[:50], ROWS[:50])   # the reader goes on; the frame's row stays
            self.same([frame.f_locals["row"]], [ROWS[7]])
            del frame, caught

    def test_gc_callbacks_and_finalizers_reading_the_same_iterator(self):
        """A gc callback or a __del__ that pulls from the iterator being scanned."""
        for v in self.each_view():
            it = iter(v)
            pulled = []

            def on_gc(phase, info):
                if phase == "start":
                    pulled.append(next(it, None))
            gc.callbacks.append(on_gc)
            try:
                kept = []
                for r in it:
                    kept.append(r)
                    if len(kept) % 100 == 0:
                        gc.collect()
            finally:
                gc.callbacks.remove(on_gc)
            got = sorted((r for r in kept + pulled if r is not None), key=lambda r: r[0])
            self.same(got, ROWS)

            it2 = iter(v)
            from_del = []

            class PullsOnDel:
                def __del__(self):
                    from_del.append(next(it2, None))
            kept = []
            for r in it2:
                kept.append(r)
                PullsOnDel()
            got = sorted((r for r in kept + from_del if r is not None), key=lambda r: r[0])
            self.same(got, ROWS)

    def test_weakref_callbacks_reading_the_same_items_iterator(self):
        """A set view in an items() pair is weakly referenced; its callback, run when
        the reader drops it from a reused pair, pulls from that iterator. The pair
        being rewritten was taken for the inner next() too: entries came twice and
        others never (scoped arena stores)."""
        import weakref
        value = {i: frozenset({i, -i - 1}) for i in range(300)}
        for v in self.each_view(value):
            it = iter(v.items())
            pulled, refs, kept = [], [], []

            def pull(_):
                pulled.extend([next(it, None), next(it, None)])
            for k, s in it:
                kept.append((k, set(s)))
                refs.append(weakref.ref(s, pull))
                del s
            pairs = kept + [(k, set(s)) for k, s in filter(None, pulled)]
            self.assertEqual(sorted(pairs), sorted((k, set(s)) for k, s in value.items()))
            del refs            # (first: the views the iterator keeps call no one)
            del it, pull, pulled

    def test_weakref_callbacks_on_records_and_arrays_reading_the_same_iterator(self):
        """Record and array views take weak references, as dataclass instances and
        memoryviews do: the pattern above with a callback on each record and array
        (a row of a 2-D array too) pulling from the iterator that handed it out."""
        for root in self.each_view(records_and_arrays()):
            pull_from_weakref_callbacks(self, root)

    def test_threads_share_one_iterator(self):
        for v in self.each_view():
            it = iter(v)
            parts = [[] for _ in range(4)]

            def drain(k):
                for r in it:
                    parts[k].append(r)
            threads = [threading.Thread(target=drain, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.same(sorted(itertools.chain(*parts), key=lambda r: r[0]), ROWS)

    def test_rows_are_not_weakly_referenceable_pickle_and_thaw_by_value(self):
        for v in self.each_view():
            row = next(iter(v))
            with self.assertRaises(TypeError):
                __import__("weakref").ref(row)
            self.same([pickle.loads(pickle.dumps(r)) for r in v], ROWS)
            self.same(frost.thaw(v), ROWS)

    def test_objects_found_through_gc_keep_their_values(self):
        """gc.get_objects() hands out the rows a reader keeps for reuse."""
        for v in self.each_view():
            it = iter(v)
            next(it), next(it)
            found = [o for o in gc.get_objects()
                     if type(o) is tuple and len(o) == 4 and type(o[0]) is int and o[0] % 1000 == 7]
            list(it)
            for row in found:
                self.same([row], [ROWS[row[0] // 1000]])
            del found

    def test_dict_reads_kept_through_consumers(self):
        data = {f"k{i:04d}": (i * 1000 + 300, f"v{i:04d}", i + 0.25) for i in range(1500)}
        for d in self.each_view(data):
            self.assertEqual(list(d.items()), list(data.items()))
            self.assertEqual(dict(d.items()), data)
            self.assertEqual(dict(zip(d.keys(), d.values())), data)
            self.assertEqual([d[k] for k in data], list(data.values()))
            self.assertEqual([d.get(k) for k in data], list(data.values()))
            self.assertEqual([(x, y) for x, y in zip(d.values(), d.values())],
                             [(x, x) for x in data.values()])
            self.assertEqual({v[1]: v[0] for v in d.values()}, {v[1]: v[0] for v in data.values()})
            self.assertEqual(sorted(d.values(), key=lambda r: -r[0]),
                             sorted(data.values(), key=lambda r: -r[0]))


class FrozenSetHostileKeys(LeakCheckedTestCase):
    DATA = {1, 2.5, "a", b"b", (1, 2), None, -1, -2, 1 << 100, (1, ("x", 2.0))}

    def sets(self):
        with tempfile.TemporaryDirectory() as tmp:
            for s in every_store(self.DATA, tmp):
                yield s
                del s
                gc.collect()

    def test_membership_agrees_with_frozenset_for_numbers_of_every_type(self):
        plain = frozenset(self.DATA)
        for s in self.sets():
            for key in (1, 1.0, True, 1 + 0j, -1, -2, -1.0, -2.0, 1 << 100, float(1 << 100), 1 << 64,
                        0, False, -0.0, "a", b"a", "b", b"b", (1, 2), (1.0, 2.0), (True, 2),
                        (1, ("x", 2.0)), None, float("nan"), (), set(), frozenset()):
                self.assertEqual(key in s, key in plain, key)

    def test_user_numbers_equal_to_a_member(self):
        """Fraction(1) == 1 and hashes alike: every frozen set answers as a
        frozenset, arena and mapped (format 2) alike (test_key_equality.py)."""
        for s in self.sets():
            self.assertTrue(fractions.Fraction(1) in s)
            self.assertTrue(decimal.Decimal(-2) in s)
            self.assertFalse(fractions.Fraction(3) in s)

    def test_unhashable_keys_raise_typeerror_naming_the_type(self):
        for s in self.sets():
            for key, name in (([1], "list"), ({1: 2}, "dict"), ((1, [2]), "list"),
                              ((1, (2, {3})), "set"), (bytearray(b"b"), "bytearray")):
                with self.assertRaisesRegex(TypeError, name):
                    key in s   # noqa: B015

    def test_hash_and_eq_that_raise_or_lie(self):
        class HashRaises:
            def __hash__(self):
                raise RuntimeError("hash boom")

        class EqRaises:
            def __hash__(self):
                return hash(1)

            def __eq__(self, other):
                raise RuntimeError("eq boom")

        seen = []

        class EqMutates:
            def __hash__(self):
                return hash("a")

            def __eq__(self, other):
                seen.append(other)
                self.DATA = None
                return False

        class EqAll:
            def __hash__(self):
                return hash(-2)

            def __eq__(self, other):
                return True

        for s in self.sets():   # arena and mapped sets alike, as a frozenset
            with self.assertRaisesRegex(RuntimeError, "hash boom"):
                HashRaises() in s   # noqa: B015
            with self.assertRaisesRegex(RuntimeError, "eq boom"):
                EqRaises() in s   # noqa: B015
            self.assertEqual(EqRaises() in frozenset(), False)
            self.assertFalse(EqMutates() in s)
            self.assertIn("a", seen)
            self.assertTrue(EqAll() in s)
            with self.assertRaisesRegex(RuntimeError, "hash boom"):
                s.isdisjoint([HashRaises()])
            self.assertEqual(len(s), len(self.DATA))

    def test_comparisons_with_every_set_like(self):
        """As frozenset(...) == d.keys(): dict keys/items views and any
        collections.abc.Set compare by value in both directions."""
        plain = frozenset(self.DATA)
        smaller = set(self.DATA) - {None}
        for s in self.sets():
            for other in (set(self.DATA), plain, dict.fromkeys(self.DATA).keys(), UserSet(self.DATA),
                          frost.freeze(self.DATA).root, frost.share(self.DATA).root):
                name = type(other).__name__
                self.assertTrue(s == other and other == s, name)
                self.assertFalse(s != other or other != s, name)
                self.assertTrue(s <= other and s >= other and not s < other and not s > other, name)
            for other in (smaller, dict.fromkeys(smaller).keys(), UserSet(smaller)):
                name = type(other).__name__
                self.assertFalse(s == other or other == s, name)
                self.assertTrue(s > other and other < s and s >= other and not s <= other, name)
            pairs = frost.freeze({(1, "a"), (2, "b")}).root
            self.assertEqual(pairs, {1: "a", 2: "b"}.items())
            self.assertEqual({1: "a", 2: "b"}.items(), pairs)
            for other in ([*self.DATA], tuple(self.DATA), dict.fromkeys(self.DATA), None, 5):
                self.assertFalse(s == other)
                self.assertTrue(s != other)
                with self.assertRaises(TypeError):
                    s < other   # noqa: B015

    def test_a_set_like_whose_len_or_iter_raises_compares_as_with_frozenset(self):
        """A collections.abc.Set that is no set is compared by its own (reflected)
        mixin methods, as with a frozenset: their exception propagates from every
        comparison, never swallowed into a False (MappedSet) or skipped (FrozenSet's
        ordering comparisons did not call its __len__)."""
        class Raises(UserSet):
            def __init__(self, items, where):
                super().__init__(items)
                self.where = where

            def __len__(self):
                if self.where == "len":
                    raise RuntimeError("len boom")
                return super().__len__()

            def __iter__(self):
                if self.where == "iter":
                    raise RuntimeError("iter boom")
                return super().__iter__()

        ops = ["==", "!=", "<", "<=", ">", ">="]
        for where in ("len", "iter"):
            for s in self.sets():
                for op in ops:
                    for expr in (f"s {op} other", f"other {op} s"):
                        other = Raises(list(self.DATA)[:3], where)
                        try:
                            expected = eval(expr, {"s": frozenset(self.DATA), "other": other})
                        except RuntimeError as e:
                            expected = e
                        with self.subTest(type(s).__name__, where=where, expr=expr):
                            if isinstance(expected, RuntimeError):
                                with self.assertRaisesRegex(RuntimeError, str(expected)):
                                    eval(expr, {"s": s, "other": other})
                            else:
                                self.assertEqual(eval(expr, {"s": s, "other": other}), expected)

    def test_set_algebra_with_plain_sets_views_and_other_stores(self):
        plain = frozenset(self.DATA)
        other_store = frost.freeze({1, "zz"}).root
        for s in self.sets():
            self.assertEqual(s | {9}, plain | {9})
            self.assertEqual({9} | s, plain | {9})
            self.assertEqual(s & {1, "a", 7}, {1, "a"})
            self.assertEqual(s - {1}, plain - {1})
            self.assertEqual(s ^ {1, 99}, plain ^ {1, 99})
            self.assertEqual(s | other_store, plain | {"zz"})
            self.assertEqual(s & dict.fromkeys([1, 5]).keys(), {1})
            self.assertTrue(s.isdisjoint({"zz"}) and not s.isdisjoint(iter([1])))
            with self.assertRaises(TypeError):
                s | [1]   # noqa: B015
            with self.assertRaises(TypeError):
                s.isdisjoint(5)
            self.assertEqual(hash(s), hash(plain))   # as a frozenset (test_parity.py)

    def test_frozensets_named_methods_on_every_set_view(self):
        """s.union(...), s.issubset(...): an arena FrozenSet has what a MappedSet
        and a frozenset have, with the same results (plain frozensets)."""
        plain = frozenset(self.DATA)
        for s in self.sets():
            for name, args in (("union", ([9], {10})), ("union", ()), ("intersection", ({1, "a"}, [1])),
                               ("difference", ((1,), "a")), ("symmetric_difference", ([1, 99],)),
                               ("issubset", (list(self.DATA) + [5],)), ("issubset", ([1],)),
                               ("issuperset", ((1, "a"),)), ("issuperset", ([7],)), ("isdisjoint", ([7],))):
                self.assertEqual(getattr(s, name)(*args), getattr(plain, name)(*args), name)
            for name in ("union", "issubset", "difference"):
                with self.assertRaisesRegex(TypeError, "int"):
                    getattr(s, name)(5)
                with self.assertRaisesRegex(TypeError, "list"):
                    getattr(s, name)([[1]])

    def test_a_set_of_more_than_a_million_items(self):
        n = (1 << 20) + 3
        data = set(range(-5, n - 5)) | {f"s{i}" for i in range(500)} | {(i, -i) for i in range(500)}
        probes = list(range(-5, n - 5, 331)) + [f"s{i}" for i in range(0, 500, 7)] + [(3, -3)]
        for mk in (frost.freeze, frost.share):
            s = mk(data).root
            self.assertEqual(len(s), len(data))
            self.assertTrue(all(x in s for x in probes))
            self.assertTrue(all(float(x) in s for x in range(0, n - 5, 997)))
            self.assertFalse(any(x in s for x in (n, n + 1, -6, "s500", (1, 1), 0.5)))
            self.assertEqual(s - set(range(-5, n - 5)), data - set(range(-5, n - 5)))
            del s

    def test_empty_and_one_item_sets(self):
        for value in (set(), frozenset(), {0}, {-1}, {"x"}, {()}):
            for mk in (frost.freeze, frost.share):
                s = mk(value).root
                self.assertEqual(len(s), len(value))
                self.assertEqual(set(s), set(value))
                self.assertEqual(s, value)
                self.assertEqual(s | set(), value)
                self.assertEqual(s & {0, -1, "x", ()}, value)
                self.assertNotIn(12345, s)
                self.assertEqual(-1 in s, -1 in value)
                del s


def plain(x):
    """x with every view in it (at any depth of plain lists, tuples, dicts) thawed."""
    if type(x) in (list, tuple):
        return type(x)(plain(i) for i in x)
    if type(x) is dict:
        return {k: plain(v) for k, v in x.items()}
    try:
        return frost.thaw(x)
    except TypeError:
        return x


class OperatorsOnEveryStore(LeakCheckedTestCase):
    """A careless user switching frost.freeze for frost.share or a loaded file:
    the list and dict operators (issue 15), reversed() and the set methods work
    alike on every store's views (a MappedList had no `+`, a MappedDict no `|`,
    a FrozenDict no reversed())."""

    def test_list_dict_operators_and_reversed(self):
        data = {"l": [1, [2], "x"], "d": {1: "a", 2: [3]}}
        with tempfile.TemporaryDirectory() as tmp:
            for root in every_store(data, tmp):
                lst, dct = root["l"], root["d"]
                kind = type(lst)
                self.assertEqual([type(x) for x in (lst + [4], [0] + lst, lst + lst, lst * 2, 2 * lst)],
                                 [list] * 5)
                self.assertEqual(plain(lst + [4]), [1, [2], "x", 4])
                self.assertIsInstance((lst + [4])[1], kind)   # top level only
                self.assertEqual(plain((0,) + lst), (0, 1, [2], "x"))
                self.assertIs(type((0,) + lst), tuple)
                self.assertEqual(plain(lst * 2), [1, [2], "x"] * 2)
                self.assertEqual((lst * 0, lst * -1), ([], []))
                for n in (sys.maxsize, sys.maxsize // 2 + 1, 1 << 62):
                    with self.assertRaises((MemoryError, OverflowError)):
                        lst * n   # noqa: B018
                for bad in (lambda: lst + 5, lambda: lst * "a", lambda: lst + {1}, lambda: dct | [1],
                            lambda: dct | 5, lambda: 5 | dct):
                    with self.assertRaises(TypeError):
                        bad()
                x = lst
                with self.assertRaisesRegex(TypeError, "read-only"):
                    x += [1]
                x = lst
                with self.assertRaisesRegex(TypeError, "read-only"):
                    x *= 2
                y = dct
                with self.assertRaisesRegex(TypeError, "read-only"):
                    y |= {1: 2}
                merged = dct | {3: "c"}
                self.assertIs(type(merged), dict)
                self.assertEqual(plain(merged), {1: "a", 2: [3], 3: "c"})
                self.assertEqual(plain({0: "z", 1: "q"} | dct), {0: "z", 1: "a", 2: [3]})
                self.assertEqual(plain(dct | dct), {1: "a", 2: [3]})
                self.assertEqual(list(reversed(dct)), [2, 1])
                self.assertEqual(plain(list(reversed(lst))), ["x", [2], 1])
                del root, lst, dct, merged, x, y
                gc.collect()


class RecordShapes(LeakCheckedTestCase):
    """Dataclass and NamedTuple shapes: fields read as attributes, dir() lists
    them, a missing one names itself, thaw rebuilds the same class and value."""

    def test_every_dataclass_shape(self):
        cases = [Slotted(1), Slotted(2, "z"), Base(3), Derived(4, 1.5), WithInitVar(5, 9),
                 KwOnly(a=6), Defaults(7), Empty(), Wide(*range(1000)), WithProperty(8),
                 Point(1.0, 2.0)]
        extra = Base(9)
        extra.not_a_field = "dropped"
        cases.append(extra)
        with tempfile.TemporaryDirectory() as tmp:
            for obj in cases:
                names = ([f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj)
                         else list(obj._fields))
                for made, view in enumerate(every_store([obj], tmp)):
                    rec = view[0]
                    with self.subTest(cls=type(obj).__name__, view=type(rec).__name__):
                        self.assertEqual([getattr(rec, n) for n in names],
                                         [getattr(obj, n) for n in names])
                        self.assertEqual(tuple(rec._fields), tuple(names))
                        listed = dir(rec)
                        self.assertTrue(set(names) <= set(listed), names[:5])
                        self.assertEqual(listed, sorted(listed))
                        with self.assertRaisesRegex(AttributeError, "no_such_field"):
                            rec.no_such_field   # noqa: B018
                        with self.assertRaisesRegex(AttributeError, "not_a_field"):
                            rec.not_a_field   # noqa: B018
                        self.assertEqual(rec, view[0])
                        with self.assertRaises(TypeError):
                            hash(rec)
                        self.assertEqual(pickle.loads(pickle.dumps(rec)), rec)
                        self.assertIn(type(obj).__name__, repr(rec))
                        if made == 0:   # frozen here: thaw imports its class (a file's never)
                            back = frost.thaw(rec)
                            self.assertIs(type(back), type(obj))
                            self.assertEqual(back, obj)
                    if made == 2:   # a snapshot's record: rebuilt only from classes=
                        self.assertEqual(frost.thaw(rec, classes=[type(obj)]), obj)
                    del rec, view
                    gc.collect()

    def test_fields_named_like_view_attributes_and_shared_states_of_every_shape(self):
        """dir() of a record whose fields are named _fields, _state, image,
        node_offset or __dir__, and of __shared__ states with non-identifier, int
        or no keys: every str field once, sorted, the view's attributes too."""
        cases = [(LikeViewAttributes(1, 2, 3, 4, 5), ["_state", "_fields", "_class_name", "image",
                                                      "node_offset", "__dir__"]),
                 (SharedOddKeys(), ["a", "not an identifier", "1"]),
                 (SharedIntKey(), ["a"]),
                 (SharedTuple(), [])]
        for obj, names in cases:
            for make in (frost.freeze, frost.share):
                rec = make(obj).root
                with self.subTest(cls=type(obj).__name__, view=type(rec).__name__):
                    listed = dir(rec)
                    self.assertEqual(listed, sorted(set(listed)))
                    self.assertTrue(set(names) <= set(listed), (names, listed))
                    self.assertIn("_class_name", listed)
                del rec
        rec = frost.freeze(LikeViewAttributes(1, 2, 3, 4, 5)).root
        self.assertEqual((rec._state, rec._fields, rec.image, rec.node_offset), (1, 2, 4, 5))   # fields first
        del rec

    def test_fields_named_like_special_methods_leave_the_protocols_alone(self):
        """A field named __reduce_ex__, __reduce__, __class__ or __copy__ is read
        as r[name]; as an attribute it is the view type's, so pickle, copy, a
        Channel send and r.__class__ work (they called the field's value: 'int'
        object is not callable); a dunder the type lacks reads the field."""
        with tempfile.TemporaryDirectory() as tmp:
            for rec in every_store(SharedDunderKeys(), tmp):
                with self.subTest(view=type(rec).__name__):
                    self.assertIs(rec.__class__, type(rec))
                    self.assertEqual(pickle.loads(pickle.dumps(rec)), rec)
                    self.assertEqual(copy.copy(rec), rec)
                    self.assertEqual(copy.deepcopy(rec), rec)
                    channel = frost.Channel()
                    channel.send(rec)
                    self.assertEqual(channel.recv(timeout=5), rec)
                    self.assertEqual([rec[k] for k in ("__reduce_ex__", "__reduce__", "__class__")],
                                     [1, 2, "x"])
                    self.assertEqual((rec.__custom__, rec.plain), (4, 5))
                del rec
                gc.collect()

    def test_a_missing_field_attribute_is_an_error_at_freeze(self):
        gone = Base(1)
        del gone.a
        slotted = Slotted(1)
        object.__delattr__(slotted, "x")
        for obj in (gone, slotted):
            for mk in (frost.freeze, frost.share):
                with self.assertRaises((AttributeError, frost.FreezeError)):
                    mk(obj)

    def test_a_field_getter_that_raises_propagates(self):
        for mk in (frost.freeze, frost.share):
            with self.assertRaisesRegex(RuntimeError, "no field a"):
                mk(GetattrRaises(1))

    def test_a_class_redefined_between_freezes(self):
        ns = {}
        exec(textwrap.dedent("""
            import dataclasses
            @dataclasses.dataclass
            class Again:
                a: int
            """), ns)
        first = frost.freeze(ns["Again"](1))
        exec(textwrap.dedent("""
            @dataclasses.dataclass
            class Again:
                a: int
                b: int = 2
            """), ns)
        second = frost.freeze(ns["Again"](1))
        self.assertEqual(first.root._fields, ("a",))
        self.assertEqual(second.root._fields, ("a", "b"))
        self.assertNotEqual(first.root, second.root)
        self.assertEqual(frost.thaw(second.root, classes=[ns["Again"]]), ns["Again"](1, 2))
        del first, second


@dataclasses.dataclass(slots=True, frozen=True)
class Slotted:
    x: int
    y: str = "y"


@dataclasses.dataclass
class Base:
    a: int
    shared: typing.ClassVar[int] = 5


@dataclasses.dataclass
class Derived(Base):
    b: float = 1.0


@dataclasses.dataclass
class WithInitVar:
    a: int
    seed: dataclasses.InitVar[int] = 0
    n: int = dataclasses.field(init=False, default=7)

    def __post_init__(self, seed):
        self.n = seed * 2


@dataclasses.dataclass(kw_only=True)
class KwOnly:
    a: int
    b: int = 2


@dataclasses.dataclass
class Defaults:
    a: int
    b: list = dataclasses.field(default_factory=lambda: [1, 2])


@dataclasses.dataclass
class Empty:
    pass


Wide = dataclasses.make_dataclass("Wide", [(f"f{i}", int) for i in range(1000)])
Wide.__module__ = __name__


@dataclasses.dataclass
class WithProperty:
    a: int

    @property
    def b(self):
        return "computed"


class Point(typing.NamedTuple):
    x: float
    y: float = 0.0


@dataclasses.dataclass
class LikeViewAttributes:
    _state: int
    _fields: int
    _class_name: int
    image: int
    node_offset: int
    __dir__: int = 7


class SharedOddKeys:
    def __init__(self):
        self.a = 1
        setattr(self, "not an identifier", 2)
        setattr(self, "1", 3)

    def __shared__(self):
        return self.__dict__


class SharedIntKey:
    def __shared__(self):
        return {1: "int key", "a": 2}


class SharedTuple:
    def __shared__(self):
        return (1, 2)


class SharedDunderKeys:
    """A state whose keys are named like the view type's special methods."""
    def __shared__(self):
        return {"__reduce_ex__": 1, "__reduce__": 2, "__class__": "x", "__copy__": 3,
                "__custom__": 4, "plain": 5}


@dataclasses.dataclass
class GetattrRaises:
    a: int

    def __getattribute__(self, name):
        if name == "a":
            raise RuntimeError("no field a")
        return object.__getattribute__(self, name)


class AcrossInterpreters(SharedPool, unittest.TestCase):
    def test_workers_scan_scoped_views_while_the_main_interpreter_scans_and_closes(self):
        want = [repr(r) for r in ROWS]
        for make in (frost.freeze, frost.share):
            store = make(ROWS)
            futures = [self.pool.submit(poolwork.scan_rows, store.root) for _ in range(3)]
            mine = [r for r in store.root]
            store.close()
            self.assertEqual([repr(r) for r in mine], want)
            for f in futures:
                self.assertEqual(f.result(timeout=120), want)
            del store, mine

    def test_records_of_a_class_defined_in_a_worker(self):
        recs = self.pool.submit(poolwork.freeze_local_records, 50).result(timeout=120)
        self.assertEqual((recs[7].a, recs[7].b), (7, "7"))
        self.assertIn("Local", recs[7]._class_name)
        self.assertTrue({"a", "b"} <= set(dir(recs[7])))
        back = frost.thaw(recs[7])   # its class cannot be imported here
        self.assertEqual((type(back).__name__, back.a, back.b), ("SimpleNamespace", 7, "7"))
        with self.assertRaisesRegex(AttributeError, "missing"):
            recs[7].missing   # noqa: B018
        del recs, back

    def test_frozen_sets_compare_with_dict_views_in_every_interpreter(self):
        for make in (frost.freeze, frost.share):
            s = make(set(range(100))).root
            self.assertEqual(self.pool.submit(poolwork.set_compares, s, 100).result(timeout=120),
                             (True, True, True, False))
            self.assertEqual(poolwork.set_compares(s, 100), (True, True, True, False))
            del s

    def test_shape_types_go_in_every_interpreter_at_once(self):
        # worker interpreters (own GIL) and this one read a store through new Leases at
        # the same time, multiprocessing's pickler imported in some: each makes its
        # types once
        futures = [self.pool.submit(poolwork.shape_type_churn, 12, imported)
                   for imported in (True, False, True, True)]
        here = poolwork.shape_type_churn(12, True)
        self.assertEqual(here, (3, 3, True))
        self.assertEqual([f.result(timeout=120) for f in futures],
                         [(3, 3, True), (0, 3, None), (3, 3, True), (3, 3, True)])


BIG_SHARE = """
import _thread, gc, os, signal, sys, threading, time
import frost
from frost import _frost
# a dict >= 16,384 entries (the hasher thread) in an arena >= 16 MiB (the pager thread)
data = {f"key{i}": (i, f"v{i}") for i in range(400_000)}
"""


class ShareUnderFire(unittest.TestCase):
    """frost.share with its pager and hasher threads running, stopped from
    outside; each in a child with a deadline (a hang fails, not blocks)."""

    def child(self, body, timeout=240):
        r = run_child(BIG_SHARE + textwrap.dedent(body), timeout=timeout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_keyboard_interrupt_from_a_timer_thread_and_from_progress(self):
        out = self.child("""
            for delay in (0.02, 0.3):
                t = threading.Timer(delay, _thread.interrupt_main)
                t.start()
                try:
                    frost.share(data).close()
                    time.sleep(5)   # finished first: the interrupt lands here
                except KeyboardInterrupt:
                    pass
                t.join()
            calls = []
            def progress(done, total):
                calls.append(done)
                if len(calls) == 2:
                    signal.raise_signal(signal.SIGINT)
            try:
                frost.share(data, progress=progress)
                print("not interrupted")
            except KeyboardInterrupt:
                pass
            gc.collect()
            assert (_frost._live_arenas(), _frost._live_stores()) == (0, 0), (_frost._live_arenas(), _frost._live_stores())
            s = frost.share({"key7": (7, "v7")})   # still works afterwards
            assert s.root["key7"] == (7, "v7")
            print("ok")
        """)
        self.assertEqual(out.split(), ["ok"])

    def test_two_threads_share_at_once_and_a_fork_from_a_third(self):
        out = self.child("""
            import warnings
            warnings.simplefilter("ignore", DeprecationWarning)
            results, pids = [], []
            def share():
                s = frost.share(data)
                results.append(s.root["key399999"])
                s.close()
            def fork_later():
                time.sleep(0.2)
                pid = os.fork()
                if pid == 0:
                    try:
                        os._exit(0 if frost.share({"a": [1]}).root["a"][0] == 1 else 3)
                    except BaseException:
                        os._exit(4)
                pids.append(pid)
            threads = [threading.Thread(target=share) for _ in range(2)] + [threading.Thread(target=fork_later)]
            for t in threads: t.start()
            for t in threads: t.join()
            deadline = time.monotonic() + 60
            for pid in pids:
                while True:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        assert os.waitstatus_to_exitcode(status) == 0, status
                        break
                    if time.monotonic() > deadline:
                        os.kill(pid, 9); os.waitpid(pid, 0)
                        raise SystemExit("the forked child hung")
                    time.sleep(0.05)
            assert results == [(399999, "v399999")] * 2, results
            print("ok")
        """)
        self.assertEqual(out.split(), ["ok"])

    def test_out_of_space_is_an_oserror_and_leaves_nothing(self):
        out = self.child("""
            import errno, resource, tempfile
            small = {f"k{i}": i for i in range(100_000)}
            tmp = tempfile.mkdtemp()
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
            for what, call in (("share", lambda: frost.share(small)),
                               ("share big", lambda: frost.share(data)),
                               ("save 2", lambda: frost.freeze(small).save(tmp + "/a", format=2)),
                               ("save 1", lambda: frost.freeze(small).save(tmp + "/b", format=1))):
                try:
                    call()
                    raise SystemExit(what + ": no error")
                except OSError as e:
                    assert e.errno == errno.EFBIG, (what, e)
                    if what.startswith("save"):   # both formats name the file
                        assert e.filename == tmp + "/" + "ab"[what == "save 1"], (what, e)
            assert os.listdir(tmp) == [], os.listdir(tmp)
            gc.collect()
            assert (_frost._live_arenas(), _frost._live_stores()) == (0, 0)
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
            assert frost.share(small).root["k5"] == 5
            print("ok")
        """)
        self.assertEqual(out.split(), ["ok"])


class HostileArguments(LeakCheckedTestCase):
    def test_wrong_types_for_every_public_function(self):
        view = frost.freeze([1]).root
        bad_calls = [
            (TypeError, frost.freeze, (1,), {"lifetime": None}),
            (ValueError, frost.freeze, (1,), {"lifetime": "forever"}),
            (TypeError, frost.freeze, (1,), {"progress": 5}),
            (TypeError, frost.share, (1,), {"progress": "no"}),
            (TypeError, frost.load, (None,), {}),
            (TypeError, frost.load, (3,), {}),
            (ValueError, frost.load, ("/nonexistent\0x",), {}),
            (ValueError, frost.load, ("/nonexistent",), {"lifetime": "bogus"}),
            (TypeError, frost.verify, (None,), {}),
            (TypeError, frost.thaw, (object(),), {}),
            (TypeError, frost.thaw, (view,), {"classes": 5}),
            (TypeError, frost.publish, (None, None), {}),
            (TypeError, frost.publish, ("x", 5), {}),
            (TypeError, frost.published, (5,), {}),
            (KeyError, frost.unpublish, ("never published",), {}),
            (ValueError, frost.Channel, (-1,), {}),
            (TypeError, frost.Channel, ("1",), {}),
            (ValueError, frost.Channel, (1 << 80,), {}),
            (ValueError, frost.Pool, (0,), {}),
            (ValueError, frost.Pool, (-3,), {}),
            (TypeError, frost.Pool, ("2",), {}),
            (TypeError, frost.Pool, (True,), {}),
        ]
        for exc, func, args, kwargs in bad_calls:
            with self.subTest(func=func.__name__, args=args, kwargs=kwargs):
                with self.assertRaises(exc):
                    func(*args, **kwargs)
        store = frost.freeze({"a": 1})
        with tempfile.TemporaryDirectory() as tmp:
            for fmt in (0, 3, -1, 1 << 70):
                with self.assertRaisesRegex(ValueError, "format"):
                    store.save(os.path.join(tmp, "x"), format=fmt)
            for fmt in ("2", 2.0):
                with self.assertRaises((TypeError, ValueError)):
                    store.save(os.path.join(tmp, "x"), format=fmt)
            for path in (None, 5, ["x"]):
                with self.assertRaises(TypeError):
                    store.save(path)
            with self.assertRaises(OSError):
                store.save("/dev/full")
            self.assertEqual(os.listdir(tmp), [])
        for tp in (frost.FrozenDict, frost.FrozenList, frost.FrozenSet, frost.Record, frost.Store,
                   frost.Array, frost.Table, frost.MappedDict, frost.MappedSet, frost.Column):
            with self.assertRaisesRegex(TypeError, "cannot create"):
                tp()
        del view, store

    def test_list_indices_of_every_kind(self):
        class IndexRaises(int):
            def __index__(self):
                raise RuntimeError("index boom")

        class HugeIndex:
            def __index__(self):
                return 1 << 80
        for lst in (frost.freeze([1, 2, 3]).root, frost.share([1, 2, 3]).root):
            self.assertEqual((lst[True], lst[-1], lst[IndexRaises(1)]), (2, 3, 2))
            for key, exc in ((-4, IndexError), (3, IndexError), (1 << 70, IndexError),
                             (-(1 << 70), IndexError), (HugeIndex(), IndexError),
                             (None, TypeError), ("1", TypeError), (1.0, TypeError)):
                with self.assertRaises(exc):
                    lst[key]   # noqa: B018
            self.assertEqual(list(lst[::-1]), [3, 2, 1])
            self.assertEqual(list(lst[0:1 << 70]), [1, 2, 3])
            with self.assertRaises(ValueError):
                lst[::0]   # noqa: B018
            self.assertEqual(lst.index(2, -100, 1 << 80), 1)
            with self.assertRaises(TypeError):
                lst.index(2, "a")
            del lst

    def test_str_subclass_keys_whose_hash_or_eq_raise(self):
        class Hostile(str):
            def __hash__(self):
                raise RuntimeError("strsub hash")

            def __eq__(self, other):
                raise RuntimeError("strsub eq")
        for mk in (frost.freeze, frost.share):
            with self.assertRaisesRegex(RuntimeError, "strsub hash"):
                mk({Hostile("a"): 1})
        d = frost.freeze({"a": 1}).root
        with self.assertRaisesRegex(RuntimeError, "strsub hash"):
            d[Hostile("a")]   # noqa: B018
        with self.assertRaisesRegex(RuntimeError, "strsub hash"):
            Hostile("a") in d   # noqa: B015
        del d

    def test_cycles_and_deep_nesting(self):
        cyclic_list = []
        cyclic_list.append(cyclic_list)
        cyclic_dict = {}
        cyclic_dict["self"] = cyclic_dict
        cyclic_record = Base(None)
        cyclic_record.a = cyclic_record
        for value in (cyclic_list, cyclic_dict, cyclic_record):
            for mk in (frost.freeze, frost.share):
                root = mk(value).root
                self.assertIn("...", repr(root))
                del root
        deep_list, deep_dict, deep_tuple = [], {}, ()
        for _ in range(100_000):
            deep_list, deep_dict, deep_tuple = [deep_list], {"k": deep_dict}, (deep_tuple,)
        for mk in (frost.freeze, frost.share):
            self.assertEqual(len(mk(deep_list).root), 1)
            self.assertEqual(len(mk(deep_dict).root), 1)
            with self.assertRaises(frost.FreezeError):
                mk(deep_tuple)
        with self.assertRaisesRegex(frost.FreezeError, "deeper than"):
            frost.freeze({deep_tuple})

    def test_repr_compare_thaw_of_deep_chains_never_overflow_the_c_stack(self):
        """repr/str/== of a chain of records, lists or dicts around CPython's C
        recursion limit (10,000) and far past it: a value or RecursionError, never
        a crash (a MappedRecord chain's repr overflowed the stack at 9,990, and
        one whose state is the next record, not a dict, at 10,000).
        Under ThreadSanitizer only 2,000 levels: it keeps the stack of every
        allocation, so thousands of nested C frames cost gigabytes per
        operation (the OOM killer ended a CI run at 22 GB), and time that grows
        with the square of the depth (4,000 levels took 3-30 s an operation on
        the 2-core box, and ran past the child's 300 s); the other builds run
        every depth."""
        depths = (2_000,) if "TSAN_OPTIONS" in os.environ else (4_000, 9_995, 100_000)
        r = run_child(DEEP_CHAINS + textwrap.dedent("""
            for depth in DEPTHS:
                read_chains(depth, thaw=True)
            print("ok")
        """).replace("DEPTHS", repr(depths)), timeout=300)
        self.assertEqual((r.returncode, r.stdout.split()), (0, ["ok"]), r.stderr[-3000:])

    def test_deep_chains_in_a_thread_with_a_small_stack(self):
        """The same chains, 100,000 deep, read in a thread started with a 2 MiB
        stack, where CPython's own list and dataclass chains raise RecursionError:
        repr/str/== of FrozenDict, Record, MappedDict and MappedRecord chains
        overflowed it before the recursion count ran out (a segfault); each
        level now checks the thread's stack itself (frost__stack_check)."""
        depth = 2_000 if "TSAN_OPTIONS" in os.environ else 100_000   # (TSan: as above)
        r = run_child(DEEP_CHAINS + textwrap.dedent("""
            def run():
                read_chains(DEPTH, thaw=False)
                print("ok")
            threading.stack_size(2 << 20)
            t = threading.Thread(target=run)
            t.start()
            t.join()
        """).replace("DEPTH", str(depth)), timeout=300)
        self.assertEqual((r.returncode, r.stdout.split()), (0, ["ok"]), r.stderr[-3000:])


# Chains of records, records whose state is the next record (no dict between),
# lists and dicts, `depth` deep, frozen and shared; repr, str and == of each (a
# value or RecursionError), then thaw: HostileArguments' deep-chain tests.
DEEP_CHAINS = textwrap.dedent("""
    import dataclasses, threading
    import frost
    @dataclasses.dataclass
    class Link:
        next: object
    class Next:   # a record whose state is no dict: the next record itself
        def __init__(self, next):
            self.next = next
        def __shared__(self):
            return self.next
        @classmethod
        def __from_shared__(cls, state):
            return cls(state)
    def read_chains(depth, thaw):
        for kind in ("record", "state", "list", "dict"):
            chain = None
            for _ in range(depth):
                chain = (Link(chain) if kind == "record" else Next(chain) if kind == "state"
                         else [chain] if kind == "list" else {"k": chain})
            for make in (frost.freeze, frost.share):
                root = make(chain).root
                for op in (repr, str, lambda v: v == make(chain).root, lambda v: v == chain):
                    try:
                        op(root)
                    except RecursionError:
                        pass
                if thaw:
                    frost.thaw(root)
                del root
""")


class LifetimesInEveryOrder(LeakCheckedTestCase):
    def test_close_while_a_lookup_runs_user_eq(self):
        """A key's __eq__ closes the store during a lookup that compares it."""
        for mk in (frost.freeze, frost.share):
            store = mk({"s": set(range(100)), "d": {i: str(i) for i in range(100)}})
            s, d = store.root["s"], store.root["d"]

            class ClosesStore:
                def __hash__(self):
                    return hash(5)

                def __eq__(self, other):
                    store.close()
                    gc.collect()
                    return False
            self.assertNotIn(ClosesStore(), s)
            self.assertIsNone(d.get(ClosesStore()))
            self.assertIn(5, s)   # views outlive close()
            self.assertEqual(d[5], "5")
            store.close()
            with self.assertRaises(frost.StoreClosedError):
                store.root   # noqa: B018
            del store, s, d, ClosesStore

    def test_close_while_other_threads_iterate(self):
        for mk in (frost.freeze, frost.share):
            for _ in range(5):
                store = mk([(i, str(i)) for i in range(20_000)])
                root, errors, counts = store.root, [], []

                def scan():
                    try:
                        counts.append(sum(1 for _ in root))
                    except Exception as e:   # pragma: no cover - a failure names it
                        errors.append(e)
                threads = [threading.Thread(target=scan) for _ in range(2)]
                for t in threads:
                    t.start()
                store.close()
                store.close()
                for t in threads:
                    t.join()
                self.assertEqual((errors, counts), ([], [20_000, 20_000]))
                del store, root


if __name__ == "__main__":
    unittest.main()


@dataclasses.dataclass
class ShapeBase:
    a: int


@dataclasses.dataclass
class ShapeSub(ShapeBase):
    b: float


class CountIndex(typing.NamedTuple):
    count: int
    index: str


EDGE_VALUES = (None, True, float("nan"), -0.0, 10 ** 100, b"xy", "", 2 ** 63, -(2 ** 63) - 1)
Edges = dataclasses.make_dataclass("Edges", [(f"f{i}", object) for i in range(len(EDGE_VALUES))])
# a field named like type's only non-dunder attribute; frozen, slotted
TypeNamed = dataclasses.make_dataclass("TypeNamed", [("_state", object), ("mro", object)],
                                       frozen=True, slots=True)


class ShapeTypesAsAUserFindsThem(unittest.TestCase):
    """Records of a process store whose fields are plain values are instances of a
    shape type, frost.Record[module.QualName] (view_record.c): every protocol a
    user may try on one answers as on a plain frost.Record, and the types go
    when their Lease does, whatever else has seen them."""

    def freeze(self, data):
        store = frost.freeze(data, lifetime="process")
        self.addCleanup(store.close)
        return store.root

    def test_every_protocol_on_a_shape_typed_record(self):
        import copy
        import json
        import weakref
        r = self.freeze(ShapePoint(1, "a"))
        t = type(r)
        self.assertIsNot(t, frost.Record)
        with self.assertRaises(TypeError):
            r.__class__ = frost.Record
        with self.assertRaises(AttributeError):
            r.__dict__
        with self.assertRaises(TypeError):
            vars(r)
        ref = weakref.ref(r)   # as a dataclass instance's (docs/design.md, "Weak references")
        self.assertIs(ref(), r)
        self.assertEqual(weakref.proxy(r).y, "a")
        with self.assertRaises((AttributeError, TypeError)):   # 3.12: TypeError
            object.__setattr__(r, "x", 2)
        with self.assertRaises((AttributeError, TypeError)):
            object.__delattr__(r, "y")
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):    # by reference, in-process
            back = pickle.loads(pickle.dumps(r, protocol=protocol))
            self.assertIs(type(back), t)
            self.assertEqual((back.x, back.y), (1, "a"))
            self.assertEqual(r.__reduce_ex__(protocol), r.__reduce__())
            with self.assertRaises(pickle.PicklingError):     # the type is no global
                pickle.dumps(t, protocol=protocol)
        for clone in (copy.copy(r), copy.deepcopy(r)):
            self.assertEqual((type(clone), clone.x, clone.y), (t, 1, "a"))
        self.assertEqual(sorted(k for k in t.__dict__ if not k.startswith("__")), ["x", "y"])
        self.assertEqual(t.__subclasses__(), [])
        self.assertIn(t, frost.Record.__subclasses__())
        self.assertEqual(t.__mro__, (t, frost.Record, object))
        self.assertGreaterEqual(sys.getsizeof(r), sys.getsizeof(self.freeze([ShapePoint(1, [])])[0]))
        for abc in (collections.abc.Hashable, collections.abc.Mapping, collections.abc.Sequence,
                    collections.abc.Iterable, collections.abc.Sized):
            self.assertFalse(isinstance(r, abc), abc)
        match r:
            case frost.Record(x=1, y=y):
                self.assertEqual(y, "a")
            case _:
                self.fail("a class pattern with keywords reads the fields")
        for call in (dataclasses.fields, dataclasses.asdict, lambda o: dataclasses.replace(o, x=2),
                     json.dumps, hash, lambda o: {o}, lambda o: {o: 1}, lambda o: r < o,
                     lambda o: r >= o, iter, len, t, lambda o: object.__new__(t),
                     lambda o: frost.Record.__new__(t)):
            with self.assertRaises(TypeError):
                call(r)
        with self.assertRaises(KeyError):
            r[0]                                                 # a key, not a position
        self.assertEqual((r.x, r.y, r["x"]), (1, "a", 1))       # unchanged by all of it
        gone = []
        ref2 = weakref.ref(r, lambda w: gone.append(w()))
        del r, back, clone
        gc.collect()
        self.assertEqual((ref(), ref2(), gone), (None, None, [None]))   # (dead in the callback)

    def test_weakref_callbacks_on_shape_typed_records_reading_the_same_iterator(self):
        """KeptResultsNeverChange's case on a process store: its records are shape
        typed, and its items() pairs hold the arena's own objects (iter.c next_pair)."""
        root = self.freeze(records_and_arrays())
        self.assertIsNot(type(root["list"][0]), frost.Record)
        pull_from_weakref_callbacks(self, root)

    def test_edge_values_and_odd_field_names(self):
        root = self.freeze([Edges(*EDGE_VALUES), CountIndex(2, "b"), TypeNamed(3, 4),
                            ShapeBase(1), ShapeSub(1, 2.0)])
        edges, named, typenamed, base, sub = root
        for r in root:
            self.assertIsNot(type(r), frost.Record)
        got = [getattr(edges, f"f{i}") for i in range(len(EDGE_VALUES))]
        self.assertTrue(got[2] != got[2])                         # NaN stays NaN
        del got[2]
        want = list(EDGE_VALUES[:2] + EDGE_VALUES[3:])
        self.assertEqual(got, want)
        self.assertEqual([type(v) for v in got], [type(v) for v in want])
        self.assertEqual(str(edges.f3), "-0.0")
        self.assertEqual((named.count, named.index, named["count"]), (2, "b", 2))
        self.assertEqual(frost.thaw(named), CountIndex(2, "b"))
        self.assertEqual((typenamed._state, typenamed.mro), (3, 4))
        # the member shadows type.mro, as a class attribute of a Python class would
        self.assertIs(type(typenamed).mro, type(typenamed).__dict__["mro"])
        self.assertEqual(type(typenamed).__mro__[1:], (frost.Record, object))
        self.assertFalse(isinstance(typenamed, collections.abc.Hashable))   # abc reads __mro__
        import abc
        import functools
        import pydoc

        @functools.singledispatch
        def kind(obj):
            return "other"
        kind.register(frost.Record, lambda obj: "record")

        class Registered(abc.ABC):                                # its own: no stdlib ABC learns of it
            pass
        Registered.register(frost.Record)
        for r in (typenamed, named):
            self.assertEqual(kind(r), "record")                   # dispatch walks __mro__
            self.assertIsInstance(r, Registered)
            self.assertIn("Record", pydoc.render_doc(r))
        self.assertEqual(frost.thaw(typenamed), TypeNamed(3, 4))
        self.assertIsNot(type(base), type(sub))                   # a base and its subclass: two types
        self.assertEqual((base.a, sub.a, sub.b), (1, 1, 2.0))
        self.assertEqual(frost.thaw(root)[3:], [ShapeBase(1), ShapeSub(1, 2.0)])
        for again in (frost.freeze(list(root)), frost.freeze(list(root), lifetime="process")):
            self.addCleanup(again.close)
            self.assertEqual(frost.thaw(again.root)[1:], [CountIndex(2, "b"), TypeNamed(3, 4),
                                                          ShapeBase(1), ShapeSub(1, 2.0)])

    def test_sixty_four_fields_a_saved_store_and_a_channel(self):
        wide = dataclasses.make_dataclass("W64", [(f"f{i}", int) for i in range(64)])
        store = frost.freeze([wide(*range(64)), ShapePoint(1, "a")], lifetime="process")
        self.addCleanup(store.close)
        r = store.root[0]
        self.assertIsNot(type(r), frost.Record)                    # 64 members: the most
        self.assertEqual([getattr(r, f"f{i}") for i in range(64)], list(range(64)))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "shapes.frost")
            store.save(path)
            loaded = frost.load(path)
            self.assertEqual((loaded.root[1].x, loaded.root[0].f63), (1, 63))
            loaded.close()
        channel = frost.Channel()
        channel.send(store.root[1])
        got = channel.recv()
        self.assertIs(type(got), type(store.root[1]))              # this interpreter's type
        self.assertEqual((got.x, got.y), (1, "a"))

    def test_a_ctrl_c_while_a_lost_type_is_reported_gone_propagates(self):
        from frost import _forking_guard
        made, gone = _forking_guard._arena_type_made, _forking_guard._arena_types_gone
        root = self.freeze([ShapePoint(1, "a"), ShapePoint(2, "b")])
        depth = []

        def reads_again(cls):                                # the inner type is stored first
            depth.append(1)
            made(cls)
            if len(depth) == 1:
                root[1]

        def interrupted(types):
            gone(types)
            raise KeyboardInterrupt
        _forking_guard._arena_type_made, _forking_guard._arena_types_gone = reads_again, interrupted
        try:
            with self.assertRaises(KeyboardInterrupt):       # the outer type lost: never swallowed
                root[0]
        finally:
            _forking_guard._arena_type_made, _forking_guard._arena_types_gone = made, gone
        self.assertIsNot(type(root[0]), frost.Record)        # the winner stayed
        self.assertIs(type(root[0]), type(root[1]))
        self.assertEqual((root[0].x, root[1].y), (1, "b"))

    def test_a_store_read_again_and_again_makes_its_types_once(self):
        # multiprocessing's pickler holds the types it refuses: a type made again for
        # each new Lease would stay there (and alive) for good
        import multiprocessing.reduction as reduction
        reducers = reduction.ForkingPickler._extra_reducers
        store = frost.freeze([ShapePoint(i, "a") for i in range(3)], lifetime="process")
        blob = pickle.dumps(store)                          # a new Lease on each load
        first = type(store.root[0])
        store.close()
        del store
        gc.collect()
        for i in range(30):
            again = pickle.loads(blob)
            r = again.root[i % 3]
            self.assertEqual(r.x, i % 3)
            self.assertIs(type(r), first)                    # the interpreter's one type
            with self.assertRaisesRegex(TypeError, "frost.share"):
                reduction.ForkingPickler.dumps(r)
            del again, r
            gc.collect()
        self.assertIs(reducers[first], reducers[frost.Record])
        mine = [t for t in frost.Record.__subclasses__() if t.__name__.endswith(".ShapePoint]")]
        self.assertEqual(mine.count(first), 1)

    def test_types_that_lose_or_fail_leave_no_registration(self):
        import multiprocessing.reduction as reduction
        from frost import _forking_guard
        reducers = reduction.ForkingPickler._extra_reducers
        saved = _forking_guard._arena_type_made

        def registers_then_fails(cls):
            saved(cls)
            raise RuntimeError("after registering")
        def shape_point_types():
            return [c for c in reducers if c.__name__.endswith(".ShapePoint]")]
        gc.collect()
        before = shape_point_types()
        _forking_guard._arena_type_made = registers_then_fails
        try:
            root = self.freeze([ShapePoint(1, "a")])
            self.assertIs(type(root[0]), frost.Record)          # left plain
        finally:
            _forking_guard._arena_type_made = saved
        gc.collect()
        self.assertEqual(shape_point_types(), before)

        depth = []   # each made type's report reads the class again: the innermost is stored
        inner = self.freeze([ShapePoint(1, "a"), ShapePoint(2, "b")])
        _forking_guard._arena_type_made = lambda cls: (depth.append(1), saved(cls),
                                                       len(depth) < 3 and inner[1])
        try:
            t = type(inner[0])
        finally:
            _forking_guard._arena_type_made = saved
        self.assertEqual(len(depth), 3)
        self.assertIsNot(t, frost.Record)
        self.assertIs(type(inner[1]), t)
        gc.collect()
        self.assertEqual(shape_point_types(), before + [t])        # the winner only
        self.assertIs(reducers[t], reducers[frost.Record])


SUBINTERP_SHAPES = """
import dataclasses, gc, sys, frost
import multiprocessing.reduction
import test_hostile_more as t
store = frost.published(name)
kept = [r for r in store.root]                     # shape-typed, alive when the interpreter ends
assert type(kept[0]) is not frost.Record and kept[0].x == 0
cycle = [kept, type(kept[0])]
cycle.append(cycle)                                 # the type in a cycle, left for the final gc
sys.modules["kept_shapes"] = type(sys)("kept_shapes")
sys.modules["kept_shapes"].t = type(kept[-1])       # and in a module of its own
from frost import _forking_guard
def made(cls, _orig=_forking_guard._arena_type_made):
    gc.collect()                                    # a collection while a type is made
    return _orig(cls)
_forking_guard._arena_type_made = made
gc.disable()
dropped = frost.freeze([t.ShapePoint(-1, "d")], lifetime="process").root[0]
dropped_type = type(dropped)
assert dropped_type is not frost.Record
loop = [dropped]
loop.append(loop)
del dropped, loop                                   # ends this Lease (its type is the interpreter's)
again = frost.freeze([t.ShapeSub(1, 2.0)], lifetime="process")
assert again.root[0].b == 2.0 and type(again.root[0]) is not frost.Record
gc.enable()
gc.collect()
reducers = multiprocessing.reduction.ForkingPickler._extra_reducers
assert [c for c in reducers if c.__name__.endswith(".ShapePoint]")] == [type(kept[0]), dropped_type]
"""


EXIT_HOLDING_SHAPES = """
import dataclasses, sys, frost
import multiprocessing.reduction
@dataclasses.dataclass
class P:
    x: int
stores = [frost.freeze([P(i)], lifetime="process") for i in range(20)]
kept = [s.root[0] for s in stores]
loop = [kept]
loop.append(loop)
import frost._forking_guard as guard
guard.kept = loop             # the guard's own module holds records (and their types) at exit
del stores
print("bye")
"""


class ShapeTypesOfEndedInterpreters(unittest.TestCase):
    def test_the_process_exits_holding_shape_types(self):
        # their Leases end while the interpreter finalizes and report the types gone
        r = run_child(EXIT_HOLDING_SHAPES, timeout=120)
        self.assertEqual((r.returncode, r.stdout.strip(), r.stderr), (0, "bye", ""))

    def test_interpreters_end_holding_shape_types_of_a_published_store(self):
        import _interp_compat
        if not _interp_compat.AVAILABLE:
            self.skipTest("no subinterpreter module on this Python")
        store = frost.freeze([ShapePoint(i, "s") for i in range(20)], lifetime="process")
        self.addCleanup(store.close)
        frost.publish("hostile-shapes", store)
        for _ in range(3):
            _interp_compat.run(SUBINTERP_SHAPES, name="hostile-shapes")
        gc.collect()
        mine = frost.published("hostile-shapes").root         # this interpreter's own type
        self.assertEqual([(r.x, r.y) for r in mine], [(i, "s") for i in range(20)])
        self.assertEqual(type(mine[0]).__name__, f"Record[{__name__}.ShapePoint]")


LAZY_STAR = """
import importlib, subprocess, sys, threading
import frost
lazy = sorted(frost._LAZY)
ns = {}
exec("from frost import *", ns)
missing = [n for n in frost.__all__ if n not in ns]
assert not missing, missing
assert set(frost.__all__) <= set(dir(frost)), set(frost.__all__) - set(dir(frost))
assert set(lazy) <= set(frost.__all__) | {"RemoteTraceback"}, lazy
print("star-ok")
"""

LAZY_THREADS = """
import sys, threading
import frost
barrier = threading.Barrier(16)
got = [None] * 16
def first(i):
    barrier.wait()
    got[i] = (frost.share, frost.load, frost.verify, frost.MappedStore, frost.ProcessPool, frost.Pool)
ts = [threading.Thread(target=first, args=(i,)) for i in range(16)]
[t.start() for t in ts]; [t.join(60) for t in ts]
assert len({tuple(map(id, g)) for g in got}) == 1, got
import importlib
frost2 = importlib.reload(frost)
assert frost2 is frost and frost.share is got[0][0]
hooks = [h for h in sys.meta_path if type(h).__module__ == "frost._forking_guard"]
assert len(hooks) <= 1, hooks
s = frost.share({"a": [1]})
assert frost.load is got[0][1] and s.root["a"] == [1]
print("threads-ok")
"""

LAZY_BROKEN_MMAP = """
import sys
sys.modules["mmap"] = None                          # a broken mmap: frost._mapped cannot import
import frost
for name in ("load", "share", "verify", "MappedStore"):
    for _ in range(2):                              # the same clear error every time
        try:
            getattr(frost, name)
        except ImportError as e:
            assert "mmap" in str(e), e
        else:
            raise SystemExit(f"frost.{name} without an ImportError")
try:
    from frost import load
except ImportError:
    pass
else:
    raise SystemExit("from frost import load without an ImportError")
assert frost.freeze({"a": 1}).root["a"] == 1         # the rest of frost works
del sys.modules["mmap"]                             # mended: the names load now
assert frost.share({"a": 1}).root["a"] == 1 and callable(frost.load)
print("broken-ok")
"""


class LazyNamesAsAUserFindsThem(unittest.TestCase):
    """`import frost` loads frost._mapped, _snapshotfile, pool and process_pool on
    first use (frost/__init__.py _LAZY): every way of reaching a name still does."""

    def test_star_import_dir_threads_reload_and_a_broken_dependency(self):
        for code, said in ((LAZY_STAR, "star-ok"), (LAZY_THREADS, "threads-ok"),
                           (LAZY_BROKEN_MMAP, "broken-ok")):
            r = run_child(code, timeout=120)
            self.assertEqual((r.returncode, r.stdout.split()[-1:]), (0, [said]), r.stderr)

    def test_the_command_line_still_runs(self):
        from frostcheck import run_python
        r = run_python(["-m", "frost", "--version"], timeout=120)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, f"frost {frost.__version__}"), r.stderr)

    def test_a_worker_imports_frost_mapped_when_a_mapped_store_arrives(self):
        store = frost.share({"k": [1, 2, 3]})
        self.addCleanup(store.close)
        with frost.Pool(1) as pool:                  # fresh: it has not needed frost._mapped yet
            self.assertEqual(pool.submit(poolwork.loaded, ["frost._mapped"]).result(timeout=120), [])
            self.assertEqual(pool.submit(poolwork.mapped_arrives, store, store.root["k"]).result(timeout=120),
                             (True, "MappedStore", 2, 1, True))
