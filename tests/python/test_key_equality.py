"""Every lookup of a frozen dict or set answers as a plain dict/frozenset of
the same (materialized) keys answers, for queries of any type: format-2 views
(frost.share, a loaded format-2 file) and format-1 views (frost.freeze) alike.

Covered: `in`, get, [], keys()/items() `in`, set comparisons and operators,
== against plain sets and dicts; queries that are numbers of other types
(1 == 1.0 == True == Fraction(1) == Decimal(1)), NaN, -0.0, str subclasses
(plain or with their own __hash__/__eq__), bytes, tuples of those, user
objects equal to a key by their own __hash__/__eq__, objects whose __hash__
or __eq__ raises (the exception propagates, nothing is kept alive), and
unhashables (TypeError, as frozenset says)."""
import decimal
import enum
import fractions
import os
import sys
import unittest
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
from frostcheck import LeakCheckedTestCase  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402
from test_keys import has_nan, load_v2  # noqa: E402

PROPERTY = settings(derandomize=True, max_examples=150, deadline=None, database=None)
ABSENT = object()


class Like:
    """Equal to `value` by its own __hash__ and __eq__ (as a dict finds it)."""

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        return hash(self.value)

    def __eq__(self, other):
        return self.value == other

    def __repr__(self):
        return f"Like({self.value!r})"


class Opaque:
    """object's own == (equal only to itself)."""


class HashBoom:
    def __hash__(self):
        raise ZeroDivisionError("hash boom")


class EqBoom:
    def __init__(self, value):
        self.value = value

    def __hash__(self):
        return hash(self.value)

    def __eq__(self, other):
        raise ZeroDivisionError("eq boom")


class PlainStr(str):
    pass


class SevenStr(str):
    """A str subclass with its own hash: a dict looks it up by 7, not by value."""

    def __hash__(self):
        return 7

    def __eq__(self, other):
        return str.__eq__(self, other)


class LooseStr(str):
    """Equal to everything with its hash, like a user type may be."""

    __hash__ = str.__hash__

    def __eq__(self, other):
        return True


class Color(enum.IntEnum):
    RED = 1


class Shade(enum.StrEnum):
    A = "a"


class MyTuple(tuple):
    pass


class HashedTuple(tuple):
    def __hash__(self):
        return 7

    def __eq__(self, other):
        return tuple.__eq__(self, other)


def views(data):
    """(name, view) for the dict or frozenset `data` in every kind of store."""
    yield "freeze", frost.freeze(data)
    yield "share", frost.share(data)
    yield "load format 2", load_v2(data)


def outcome(call):
    """What call() does: ("ok", result) or ("raises", exception type)."""
    try:
        return ("ok", call())
    except Exception as e:   # noqa: BLE001 -- the type is what is compared
        return ("raises", type(e))


def plain_of(view):
    """The plain container of the view's own keys (and values)."""
    return frost.thaw(view) if hasattr(view, "keys") else frozenset(view)


class Agreement:
    def assert_agree(self, view, query, name=""):
        plain = plain_of(view)
        checks = [("in", lambda c: query in c)]
        if isinstance(plain, dict):
            value = next(iter(plain.values()), None)
            checks += [
                ("get", lambda c: c.get(query, ABSENT)),
                ("[]", lambda c: c[query]),
                ("keys in", lambda c: query in c.keys()),
                ("items in", lambda c: (query, value) in c.items()),
                ("items in, other value", lambda c: (query, ABSENT) in c.items()),
            ]
        elif not any(has_nan(k) for k in plain):   # (the view's NaN keys are other objects)
            checks += [
                ("<=", lambda c: c <= frozenset(plain) | {query}),
                ("&", lambda c: c & {query}),
                ("|", lambda c: c | {query}),
                ("-", lambda c: c - {query}),
                ("^", lambda c: c ^ {query}),
                ("isdisjoint", lambda c: c.isdisjoint([query])),
            ]
        for what, check in checks:
            want = outcome(lambda: check(plain))
            got = outcome(lambda: check(view))
            self.assertEqual(got, want, f"{name}: {what} {query!r}")


# queries and keys ------------------------------------------------------------

numbers = st.one_of(
    st.booleans(), st.integers(-3, 3), st.integers(), st.floats(allow_nan=False),
    st.just(-0.0), st.just(0.0), st.complex_numbers(allow_nan=False))
leaves = st.one_of(
    numbers, st.none(), st.just(...), st.text(max_size=3), st.binary(max_size=3),
    st.builds(lambda: float("nan")))
keys = st.recursive(leaves, lambda inner: st.tuples(inner, inner) | st.tuples(inner), max_leaves=4)


def foreign(value):
    """Objects of other types equal to `value` (or not), by Python's rules."""
    out = [Like(value)]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        if value not in (float("inf"), float("-inf")):
            out += [fractions.Fraction(value), decimal.Decimal(value)]
    if isinstance(value, str):
        out += [PlainStr(value), SevenStr(value), LooseStr(value)]
    if isinstance(value, tuple):
        out += [MyTuple(value), HashedTuple(value), tuple(Like(v) for v in value)]
    if isinstance(value, int) and not isinstance(value, bool):
        out.append(Color.RED if value == 1 else value)
    return out


queries = st.one_of(
    keys, keys.flatmap(lambda k: st.sampled_from(foreign(k))),
    st.sampled_from([Shade.A, Opaque(), [], {}, set(), ([],), (1, [1]), bytearray(b"a")]),
    st.tuples(keys, st.sampled_from([[], {}, Opaque()])))


class MembershipAgrees(Agreement, unittest.TestCase):
    def test_numbers_of_other_types(self):
        data = {1: "one", 2.5: "two and a half", -0.0: "zero", 1j: "i", 2 ** 70: "big", True: "x"}
        queries = [fractions.Fraction(1), decimal.Decimal(1), 1.0, True, Color.RED,
                   fractions.Fraction(5, 2), decimal.Decimal("2.5"), decimal.Decimal(0), 0,
                   fractions.Fraction(0), False, complex(0, 1), fractions.Fraction(2 ** 70),
                   decimal.Decimal(2 ** 70), decimal.Decimal("NaN"), float("nan"),
                   fractions.Fraction(7), decimal.Decimal("2.25")]
        for name, store in views(data):
            with self.subTest(name):
                for q in queries:
                    self.assert_agree(store.root, q, name)
                self.assertIn(fractions.Fraction(1), store.root)
                self.assertEqual(store.root[decimal.Decimal(1)], "x")
                store.close()
        for name, store in views(frozenset(data)):
            with self.subTest(name):
                for q in queries:
                    self.assert_agree(store.root, q, name)
                self.assertIn(decimal.Decimal(1), store.root)
                store.close()

    def test_user_objects_equal_to_keys_of_every_kind(self):
        data = frozenset([1, "a", b"b", (1, "a"), None, ..., 2.5, (), (None, (b"x",))])
        for name, store in views(data):
            with self.subTest(name):
                for key in data:
                    self.assertIn(Like(key), store.root)
                    self.assert_agree(store.root, Like(key), name)
                self.assertIn((fractions.Fraction(1), Like("a")), store.root)
                self.assertNotIn(Like("zz"), store.root)
                self.assertNotIn(Opaque(), store.root)
                store.close()

    def test_user_objects_equal_to_keys_holding_ellipsis(self):
        # format 1 stores `...` under a fixed hash (its CPython hash is an
        # address): a tuple key holding one is still found by an object that
        # hashes as Python hashes the tuple, as a dict finds it
        data = {(..., 1): "a", (1, (..., "a")): "b", ...: "c", "x": "d"}
        stores = list(views(data)) + [("freeze process", frost.freeze(data, lifetime="process"))]
        for name, store in stores:
            with self.subTest(name):
                root = store.root
                for key, value in data.items():
                    self.assertEqual(root.get(Like(key)), value)
                    self.assertIn(Like(key), root.keys())
                    self.assert_agree(root, Like(key), name)
                self.assertIsNone(root.get(Like((..., 2))))
                store.close()
        for name, store in views(frozenset(data)):
            with self.subTest(name):
                for key in data:
                    self.assertIn(Like(key), store.root)
                self.assertNotIn(Like((..., 2)), store.root)
                store.close()

    def test_str_subclasses_are_looked_up_as_a_dict_would(self):
        data = {"a": 1, "b": 2}
        for name, store in views(data):
            with self.subTest(name):
                self.assertEqual(store.root[PlainStr("a")], 1)
                self.assertEqual(store.root[Shade.A], 1)
                self.assertNotIn(SevenStr("a"), store.root)     # hash 7: not found by a dict
                self.assertIsNone(store.root.get(SevenStr("a")))
                for q in (PlainStr("a"), SevenStr("a"), LooseStr("zz"), LooseStr("a"), Shade.A,
                          MyTuple(("a",)), HashedTuple(("a",))):
                    self.assert_agree(store.root, q, name)
                store.close()

    def test_unhashable_queries_raise_type_error(self):
        for data in ({"a": 1, (1,): 2}, frozenset(["a", (1,)]), {}):
            for name, store in views(data):
                with self.subTest(name, data=data):
                    for q in ([], {}, set(), bytearray(b"a"), (1, []), ((1, {}),),
                              (float("nan"), []), MyTuple(([],))):
                        if not (isinstance(q, set) and isinstance(data, frozenset)):
                            # (as frozenset: a set query stands for a frozenset: absent)
                            with self.assertRaisesRegex(TypeError, "unhashable"):
                                q in store.root
                        self.assert_agree(store.root, q, name)
                    store.close()

    def test_deep_query_tuples_stay_absent_without_hashing(self):
        # CPython's own hash() of this overflows the C stack: frost never calls it
        deep = ()
        for _ in range(300_000):
            deep = (deep,)
        for name, store in views(frozenset([(1,), "a"])):
            with self.subTest(name):
                self.assertNotIn(deep, store.root)
                self.assertNotIn((fractions.Fraction(1), deep), store.root)
                # (no answer to copy: frozenset crashes; absent, or the list's TypeError)
                self.assertIn(outcome(lambda: (Like(1), [], deep) in store.root),
                              [("ok", False), ("raises", TypeError)])
                store.close()

    def test_mapped_list_membership_follows_the_query_type(self):
        data = ["a", 1, (1, "a")]
        for name, store in views(data):
            with self.subTest(name):
                root = store.root
                for q in (LooseStr("zz"), fractions.Fraction(1), Like((1, "a")), SevenStr("a")):
                    self.assertEqual(q in root, q in data, (name, q))
                    self.assertEqual(root.count(q), data.count(q), (name, q))
                store.close()

    @PROPERTY
    @given(st.lists(st.tuples(keys, st.integers()), max_size=8), st.lists(queries, max_size=6))
    def test_any_query_against_any_keys(self, pairs, qs):
        data = dict(pairs)
        for name, store in views([data, frozenset(data)]):
            for view in (store.root[0], store.root[1]):
                for q in qs + list(data):
                    self.assert_agree(view, q, name)
                if not any(has_nan(k) for k in data):   # (a NaN key equals no copy of it)
                    self.assertEqual(view, plain_of(view))
                    self.assertEqual(plain_of(view), view)
            store.close()


class RaisingQueries(LeakCheckedTestCase, Agreement):
    def test_exceptions_of_hash_and_eq_propagate_and_leak_nothing(self):
        data = {1: "x", "a": "y", (1, 2): "z"}
        for name, store in views(data):
            with self.subTest(name):
                root = store.root
                for q in (HashBoom(), EqBoom(1), EqBoom("a"), EqBoom((1, 2)), (1, HashBoom())):
                    before = sys.getrefcount(q)
                    for lookup in (lambda: q in root, lambda: root[q], lambda: root.get(q),
                                   lambda: q in root.keys(), lambda: (q, "x") in root.items()):
                        with self.assertRaises(ZeroDivisionError):
                            lookup()
                    self.assertEqual(sys.getrefcount(q), before)
                    self.assert_agree(root, q, name)
                probe = EqBoom(1)
                gone = weakref.ref(probe)
                with self.assertRaises(ZeroDivisionError):
                    probe in root
                del probe
                self.assertIsNone(gone())
                # an __eq__ raising for a non-matching key is not called: hashes differ
                self.assertNotIn(EqBoom(99), root)
                del root
                store.close()


if __name__ == "__main__":
    unittest.main()
