"""Keys of frozen dicts and sets behave like a dict's (issue 14, items 4, 10,
11, 12): lookups follow dict's identity-then-equality rule (a NaN key is found
by the object the view yields, in both lifetimes and after a load); keys whose
CPython hash is an address (NaN, complex NaN, Ellipsis, tuples of them) survive
a save and a load under the same or another hash seed; a Mapping that yields a
key twice gives one entry, as dict() would; tuples nest at most
FROST_MAX_TUPLE_DEPTH levels, and whatever freeze accepts saves, loads and
reads (root, thaw, repr, ==, hash, pickle) without recursion errors or
crashes."""
import dataclasses
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import unittest
from collections.abc import Mapping

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
from frost import _frost  # noqa: E402
import test_snapshot as snap  # noqa: E402  (file layout helpers: HEADER, reseal)
from frostcheck import LeakCheckedTestCase, run_child  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

MAX_DEPTH = 256          # FROST_MAX_TUPLE_DEPTH (store/frost_nodes.h)
LIFETIMES = ("scoped", "process")
PROPERTY = settings(derandomize=True, max_examples=120, deadline=None, database=None)


def nan():
    return float("nan")   # a new NaN object each call


def nest(depth, leaf=1):
    """A tuple `depth` levels deep: ((...(leaf,)...),)."""
    t = leaf
    for _ in range(depth):
        t = (t,)
    return t


class Pairs(Mapping):
    """A Mapping whose items() yields exactly the given pairs, repeats included."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def items(self):
        return list(self.pairs)

    def __getitem__(self, key):
        for k, v in reversed(self.pairs):
            if k is key or k == key:
                return v
        raise KeyError(key)

    def __iter__(self):
        return iter([k for k, _ in self.pairs])

    def __len__(self):
        return len(self.pairs)


def has_nan(x):
    if isinstance(x, float):
        return math.isnan(x)
    if isinstance(x, complex):
        return math.isnan(x.real) or math.isnan(x.imag)
    if isinstance(x, tuple):
        return any(has_nan(i) for i in x)
    return False


def same_key(a, b):
    """Equal as keys, NaNs equal to NaNs (a copy of a NaN is another object)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same_key(x, y) for x, y in zip(a, b))
    if has_nan(a):
        return repr(a) == repr(b)
    return a == b


@dataclasses.dataclass
class Pt:
    x: int
    y: object


def load_v2(data):
    """data saved in a format-2 file and loaded back (a MappedStore)."""
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.frost")
        with frost.freeze(data) as store:
            store.save(p, format=2)
        return frost.load(p)   # the mapping outlives the unlinked file


def load_copy(store, forget_seed=False):
    """The store saved and loaded back; `forget_seed`: the file claims another
    hash seed, so every hash and index is rebuilt (as in another process)."""
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "s.frost")
        store.save(p, format=1)
        if forget_seed:
            with open(p, "rb") as f:
                blob = bytearray(f.read())
            h = list(snap.HEADER.unpack_from(blob))
            h[13] ^= 0x5A5A   # hash_probe
            snap.HEADER.pack_into(blob, 0, *h)
            with open(p, "wb") as f:
                f.write(snap.reseal(blob))
        return frost.load(p, lifetime="scoped")


def every_store(data):
    """(name, store) for data frozen in both lifetimes and loaded back both ways."""
    for lifetime in LIFETIMES:
        yield lifetime, frost.freeze(data, lifetime=lifetime)
    base = frost.freeze(data)
    yield "loaded", load_copy(base)
    yield "loaded, other seed", load_copy(base, forget_seed=True)
    base.close()


class KeyChecks:
    def check_view(self, view, original):
        """`view` (a FrozenDict or FrozenSet) answers like a dict/set of the
        same keys: every key it yields is in it, and every reading agrees."""
        keys = list(view)
        self.assertEqual(len(keys), len(original))
        for got, want in zip(keys, original):      # insertion order kept
            self.assertTrue(same_key(got, want), (got, want))
        for k in keys:
            self.assertIn(k, view)
        if isinstance(original, dict):
            as_dict = dict(view)
            self.assertEqual(len(as_dict), len(original))
            self.assertEqual(list(view.values()), list(original.values()))
            self.assertEqual([view[k] for k in keys], list(original.values()))
            self.assertEqual([view.get(k, "absent") for k in keys], list(original.values()))
            self.assertTrue(all(item in view.items() for item in view.items()))
            thawed = frost.thaw(view)
            self.assertEqual(len(thawed), len(original))
            self.assertTrue(all(k in view for k in thawed))
            self.assertEqual(view, thawed)
        else:
            self.assertEqual(len(set(view)), len(original))
            self.assertEqual(len(frost.thaw(view)), len(original))
        for k in original:                         # keys without NaN: found by value
            if not has_nan(k):
                self.assertIn(k, view)


plain_scalars = st.one_of(
    st.none(), st.booleans(), st.just(...), st.integers(), st.integers(min_value=2 ** 64),
    st.floats(), st.just(-0.0), st.builds(nan), st.complex_numbers(),
    st.builds(complex, st.builds(nan), st.floats(allow_nan=False)),
    st.text(max_size=6), st.binary(max_size=6))
plain_keys = st.recursive(plain_scalars, lambda inner: st.tuples(inner, inner) | st.tuples(inner),
                          max_leaves=6)


class IdentityHashedKeys(KeyChecks, unittest.TestCase):
    """Items 10 and 11."""

    def test_nan_keys_yielded_are_found(self):
        a, b = nan(), nan()
        data = {a: 1, b: 2, (a, 1): 3, complex(0, b): 4, 5: 6}
        for name, store in every_store(data):
            with self.subTest(name):
                self.check_view(store.root, data)
                self.assertEqual(sorted(store.root.values()), [1, 2, 3, 4, 6])
                store.close()

    def test_nan_set_items_yielded_are_found(self):
        a = nan()
        data = {a, nan(), (a,), ..., None, 0.0}
        for name, store in every_store(frozenset(data)):
            with self.subTest(name):
                self.check_view(store.root, frozenset(data))
                self.assertEqual(store.root, frost.thaw(store.root))
                store.close()

    def test_a_nan_yielded_twice_is_one_object(self):
        # the rule behind identity lookups: each read of a NaN gives the same object
        a = nan()
        for name, store in every_store({"x": [a, a, "not a packed float list"], a: "k"}):
            with self.subTest(name):
                pair = store.root["x"]
                self.assertIs(pair[0], pair[1])
                key = next(k for k in store.root if k != "x")
                self.assertIs(key, next(k for k in store.root if k != "x"))
                self.assertEqual(store.root[key], "k")
                store.close()

    def test_distinct_nans_stay_distinct_keys(self):
        data = {nan(): i for i in range(50)}
        for name, store in every_store(data):
            with self.subTest(name):
                self.check_view(store.root, data)
                self.assertNotIn(nan(), store.root)
                store.close()

    def test_identity_hashed_keys_survive_a_load_in_other_processes(self):
        # Ellipsis hashes by its address in libpython: with ASLR it differs
        # between processes even under one PYTHONHASHSEED (the stored hash is
        # kept then), so a load must not depend on it. Writer and readers are
        # separate processes, under the same and under another seed.
        code_write = (
            "import frost, sys\n"
            "n = float('nan')\n"
            "d = {...: 'e', (..., 1): 't', ((None, ...), 2.5): 'tt', None: 'n', (None,): 'tn',\n"
            "     n: 'nan', (n, 'x'): 'tnan', complex(1, n): 'cnan', True: 'b', -0.0: 'z',\n"
            "     'str': 's', b'by': 'y', 2 ** 70: 'big'}\n"
            "frost.freeze(d).save(P, format=1)\n")
        code_read = (
            "import frost, math\n"
            "v = frost.load(P).root\n"
            "keys = list(v)\n"
            "assert len(keys) == 13, keys\n"
            "assert all(k in v for k in keys), [k for k in keys if k not in v]\n"
            "assert len(dict(v)) == 13 and len(list(v.values())) == 13\n"
            "for k, want in [(..., 'e'), ((..., 1), 't'), (((None, ...), 2.5), 'tt'), (None, 'n'),\n"
            "                ((None,), 'tn'), (True, 'b'), (0.0, 'z'), ('str', 's'), (b'by', 'y'),\n"
            "                (2 ** 70, 'big'), (1, 'b')]:\n"
            "    assert v[k] == want, (k, v.get(k))\n"
            "print('ok')\n")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "keys.frost")
            env = dict(os.environ, PYTHONHASHSEED="7")
            r = run_child(f"P = {path!r}\n" + code_write, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            for seed in ("7", "8", "random"):
                with self.subTest(seed=seed):
                    r = run_child(f"P = {path!r}\n" + code_read, env=dict(os.environ, PYTHONHASHSEED=seed))
                    self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)

    def test_equal_objects_of_other_types_find_tuple_keys(self):
        # the stored hash of a tuple is CPython's own, so an equal object
        # hashing like the tuple still finds it (as in a dict)
        class Like:
            def __init__(self, t):
                self.t = t

            def __hash__(self):
                return hash(self.t)

            def __eq__(self, other):
                return other == self.t

        data = {("a", (1, 2.5)): 1, (None, b"x"): 2}
        for name, store in every_store(data):
            with self.subTest(name):
                for k, v in data.items():
                    self.assertEqual(store.root[Like(k)], v)
                store.close()

    @PROPERTY
    @given(st.lists(st.tuples(plain_keys, st.integers()), max_size=10))
    def test_any_plain_keys(self, pairs):
        data = dict(pairs)
        items = frozenset(data)
        for _name, store in every_store([data, items]):   # (no subTest under hypothesis)
            self.check_view(store.root[0], data)
            self.check_view(store.root[1], items)
            store.close()


def mapped_stores(data):
    """(name, store) for data in format-2 images: shared, shared and attached
    again through pickle (what a worker gets), saved and loaded."""
    shared = frost.share(data)
    attached = pickle.loads(pickle.dumps(shared))
    yield "share", shared
    yield "share, attached", attached
    yield "load format 2", load_v2(data)


def nan_keyed(n):
    """A dict of every kind of NaN-holding key, `n` each, and a set of them."""
    floats = [nan() for _ in range(n)]
    data = {}
    for i, x in enumerate(floats):
        data[x] = i
        data[complex(i, nan())] = -i
        data[(x, i)] = i + 0.5
        data[(("deep", (x,)), i)] = str(i)
    return data


class NanKeysHashByIdentity(KeyChecks, unittest.TestCase):
    """Issue 17: a NaN key hashes by its identity (its arena object), as
    CPython's hash does, not by one fixed value: distinct NaN keys spread
    over a table, and lookups answer exactly as with a fixed hash."""

    def check_arena_answers(self, view, data):
        # a NaN equals only itself: a new NaN is no key, the yielded ones are,
        # alone or in a fresh tuple (tuple == compares items by identity first)
        self.assertNotIn(nan(), view)
        self.assertNotIn(complex(0, nan()), view)
        self.assertNotIn((nan(), 0), view)
        self.check_view(view, data)
        for k in view.keys():
            self.assertIn(k, view)
            if isinstance(k, tuple):
                self.assertIn(tuple(list(k)), view)
                self.assertEqual(view[tuple(list(k))], view[k])
        self.assertEqual([view[k] for k in view.keys()], list(data.values()))

    def test_arena_stores_find_the_nans_they_yield(self):
        data = nan_keyed(40)
        for name, store in every_store(data):
            with self.subTest(name):
                self.check_arena_answers(store.root, data)
                store.close()
        with tempfile.TemporaryDirectory() as d, frost.freeze(data) as base:
            p = os.path.join(d, "s.frost")
            base.save(p, format=1)
            with self.subTest("loaded, process lifetime"), frost.load(p) as loaded:
                self.check_arena_answers(loaded.root, data)

    def test_arena_sets_find_the_nans_they_yield(self):
        items = frozenset(nan_keyed(40))
        for name, store in every_store(items):
            with self.subTest(name):
                view = store.root
                self.assertNotIn(nan(), view)
                self.assertTrue(all(k in view for k in view))
                self.assertEqual(len(set(view)), len(items))
                self.assertEqual(view, frost.thaw(view))
                store.close()

    def test_a_scoped_lookup_maps_only_its_own_copies_back(self):
        data = {nan(): i for i in range(20)}
        a = frost.freeze(data, lifetime="scoped")
        b = frost.freeze(data, lifetime="scoped")
        keys_a = list(a.root)
        self.assertTrue(all(k in a.root for k in keys_a))
        self.assertFalse(any(k in b.root for k in keys_a))   # b's NaNs are other objects
        self.assertFalse(any(k in b.root for k in frost.thaw(a.root)))
        a.close()
        b.close()

    def test_mapped_images_find_no_nan_query(self):
        # format 2 hands out a new NaN object for each read: no query NaN is
        # ever a stored key (as before: the hash of a NaN query is no key's)
        data = nan_keyed(30)
        data.update({"plain": 1, (1, "t"): 2, 3.5: 3})
        for name, store in mapped_stores(data):
            with self.subTest(name):
                view = store.root
                keys = list(view)
                self.assertEqual(len(keys), len(data))
                self.assertTrue(all(same_key(g, w) for g, w in zip(keys, data)))
                self.assertEqual(list(view.values()), list(data.values()))
                for k in keys:
                    self.assertEqual(k in view, not has_nan(k), k)
                    self.assertEqual(view.get(k, "absent"), "absent" if has_nan(k) else data[k])
                self.assertNotIn(nan(), view)
                self.assertEqual(view["plain"], 1)
                self.assertEqual(view[(1, "t")], 2)
                self.assertEqual(view[3.5], 3)
                # values() reads the values in order, never by key (its `in` was
                # a KeyError for every query: collections.abc's looked keys up)
                values = list(data.values())
                self.assertTrue(all(v in view.values() for v in values))
                self.assertNotIn(object(), view.values())
                self.assertNotIn(len(values) + 100, view.values())
                store.verify()          # NaN-keyed entries are where their hash says
                store.close()

    def test_images_with_nan_keys_verify(self):
        # verify used to call every image holding a NaN key damaged ("a lookup
        # of entry 0's key finds nothing")
        for data in ({nan(): 1}, {(nan(), 1): 2}, frozenset({nan(), complex(nan(), 1)}),
                     {i: {nan(): i} for i in range(3)}):
            with self.subTest(data=repr(data)), frost.share(data) as shared:
                shared.verify()
                self.assertIsNone(frost.verify(shared.path) if shared.path else None)

    def test_images_keep_nan_keyed_entries_on_their_probe_path(self):
        # the independent reader (test_map_write.Decoder) checks each stored
        # hash against the spec's NaN rule and probes to every entry
        import test_map_write
        data = nan_keyed(20)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "n.frost")
            with frost.freeze(data) as store:
                store.save(p, format=2)
            with open(p, "rb") as f:
                decoded, _ = test_map_write.decode(f.read())
        self.assertEqual(len(decoded), len(data))
        self.assertEqual(sorted(map(repr, decoded.values())), sorted(map(repr, data.values())))
        # and the C hash is the spec's (mapcraft reads docs/format.md on its own)
        import mapcraft
        hk = (0x0123456789ABCDEF, 0xFEDCBA9876543210)
        for i, k in enumerate(list(data)[:8]):
            self.assertEqual(_frost._map_key_hash(k, *hk, i), mapcraft.key_hash(k, hk, i), k)
            self.assertNotEqual(_frost._map_key_hash(k, *hk, i), _frost._map_key_hash(k, *hk, i + 1))
            self.assertIsNone(_frost._map_key_hash(k, *hk))   # a NaN query is no key

    def test_many_nan_keys_build_in_linear_time(self):
        # 200,000 distinct NaN keys in each kind of table. With one fixed NaN
        # hash every insert probed past all the NaNs before it: about 90 s per
        # freeze (20,000 took 0.4-0.9 s), so this child ran out its deadline;
        # by identity each table builds in well under a second. Under a
        # sanitizer (3-15x slower) 50,000: still minutes if quadratic.
        sanitized = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ
        code = (
            "import frost, pickle, tempfile, os, sys\n"
            "sys.path.insert(0, %r)\n"
            "import test_keys as tk\n"
            f"N = {50_000 if sanitized else 200_000}\n"
            "nans = [float('nan') for _ in range(N)]\n"
            "datas = {'dict': {x: i for i, x in enumerate(nans)},\n"
            "         'set': frozenset(nans),\n"
            "         'tuples': {(x, i): i for i, x in enumerate(nans)},\n"
            "         'complex': {complex(i, x): i for i, x in enumerate(nans)}}\n"
            "def check_arena(v, data):\n"
            "    keys = list(v)\n"
            "    assert len(keys) == len(v) == N\n"
            "    assert all(k in v for k in keys)\n"
            "    if isinstance(data, dict):\n"
            "        assert [v[k] for k in keys] == list(range(N))\n"
            "def check_mapped(v, data):\n"
            "    assert len(v) == N and sum(1 for _ in v) == N\n"
            "    if isinstance(data, dict):\n"
            "        assert list(v.values()) == list(range(N))\n"
            "with tempfile.TemporaryDirectory() as d:\n"
            "    for name, data in datas.items():\n"
            "        for lifetime in ('process', 'scoped'):\n"
            "            with frost.freeze(data, lifetime=lifetime) as s:\n"
            "                check_arena(s.root, data)\n"
            "        base = frost.freeze(data)\n"
            "        loaded = tk.load_copy(base)   # NaN tables rehashed (other seeds: as small)\n"
            "        check_arena(loaded.root, data)\n"
            "        loaded.close()\n"
            "        p = os.path.join(d, name + '.frost')\n"
            "        base.save(p, format=2)\n"
            "        base.close()\n"
            "        for m in (frost.share(data), frost.load(p)):\n"
            "            check_mapped(m.root, data)\n"
            "            m.verify()\n"
            "            m.close()\n"
            "print('ok')\n").replace("%r", repr(os.path.dirname(os.path.abspath(__file__))))
        r = run_child(code, timeout=240)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr[-3000:])


class ScopedNanCopies(LeakCheckedTestCase):
    """The stable NaN copies of a scoped store go with its lease."""

    def test_copies_keep_nothing_alive(self):
        for _ in range(3):
            store = frost.freeze({nan(): i for i in range(100)}, lifetime="scoped")
            view = store.root
            keys = list(view)
            self.assertEqual(dict(view), {k: i for i, k in enumerate(keys)})
            store.close()
            del view, store          # the store goes (tearDown checks); the copies stay plain floats
            self.assertTrue(all(math.isnan(k) for k in keys))


class RepeatedKeys(KeyChecks, unittest.TestCase):
    """Item 12: a key given twice is one entry, as in dict(pairs)."""

    def check_pairs(self, pairs):
        want = dict(pairs)                          # CPython's rule: first key, last value
        for lifetime in LIFETIMES:
            store = frost.freeze(Pairs(pairs), lifetime=lifetime)
            view = store.root
            self.assertEqual(len(view), len(want), lifetime)
            self.check_view(view, want)
            self.assertEqual(len(frost.thaw(view)), len(want), lifetime)
            for loaded in (load_copy(store), load_copy(store, forget_seed=True)):
                self.check_view(loaded.root, want)
                loaded.close()
            store.close()

    def test_the_same_key_twice(self):
        self.check_pairs([("a", 1), ("b", 2), ("a", 3)])

    def test_equal_keys_of_other_types(self):
        self.check_pairs([(1, "int"), (1.0, "float"), (True, "bool"), (complex(1, 0), "complex"),
                          (0, "zero"), (-0.0, "negzero"), (False, "false")])

    def test_equal_tuples(self):
        self.check_pairs([((1, ("x", 2.0)), 1), ((1.0, ("x", 2)), 2), ((True, ("x", 2)), 3)])

    def test_a_nan_object_twice_and_two_nans(self):
        a = nan()
        self.check_pairs([(a, 1), (nan(), 2), (a, 3), ((a,), 4), ((a,), 5)])

    def test_repeated_keys_in_a_record_state_mapping(self):
        # a Mapping is frozen wherever it appears, nested too
        store = frost.freeze({"m": Pairs([("k", 1), ("k", 2)])})
        self.assertEqual(dict(store.root["m"]), {"k": 2})
        self.assertEqual(len(store.root["m"]), 1)
        store.close()

    @PROPERTY
    @given(st.lists(st.tuples(plain_keys, st.integers()), max_size=12).flatmap(
        lambda pairs: st.permutations(pairs + pairs[:3])))
    def test_any_repeats(self, pairs):
        self.check_pairs(pairs)


class TupleDepth(unittest.TestCase):
    """Item 4: tuples nest at most MAX_DEPTH levels, everywhere."""

    def read_all(self, store, value):
        """Every read of a store holding `value` works without RecursionError."""
        root = store.root
        self.assertEqual(root, value)
        self.assertEqual(frost.thaw(root), value)
        self.assertEqual(repr(root), repr(value))
        self.assertEqual(hash(root), hash(value))
        self.assertEqual(pickle.loads(pickle.dumps(root)), value)

    def test_deepest_tuple_freezes_and_reads_everywhere(self):
        deep = nest(MAX_DEPTH, "leaf")
        for name, store in every_store(deep):
            with self.subTest(name):
                self.read_all(store, deep)
                store.close()

    def test_deepest_tuple_key_saves_loads_and_is_found(self):
        deep = nest(MAX_DEPTH, "leaf")
        data = {deep: 1, "x": deep}
        for name, store in every_store(data):
            with self.subTest(name):
                self.assertEqual(store.root[deep], 1)
                self.assertEqual(store.root, data)
                self.assertEqual(frost.thaw(store.root), data)
                key = next(iter(store.root))
                self.assertEqual(hash(key), hash(deep))
                self.assertIn(key, store.root)
                store.close()

    def test_deeper_tuples_are_refused_at_freeze(self):
        for depth in (MAX_DEPTH + 1, 300_000):
            with self.subTest(depth=depth):
                with self.assertRaisesRegex(frost.FreezeError, f"nested deeper than {MAX_DEPTH}"):
                    frost.freeze(nest(depth))
                with self.assertRaisesRegex(frost.FreezeError, f"nested deeper than {MAX_DEPTH}"):
                    frost.freeze({"k": [nest(depth)]})

    def test_dict_keyed_by_a_very_deep_tuple_is_refused(self):
        # CPython's tuple hash recurses without a limit: a dict keyed by a
        # 300,000-level tuple can be built only on a big stack, and a load in
        # another process (another seed: keys rehashed) overflowed the C
        # stack. Such a key is refused at freeze (in a child: a crash must
        # fail this test, not end the run).
        code = (
            "import threading, frost\n"
            "threading.stack_size(1 << 30)\n"
            "out = []\n"
            "def work():\n"
            "    t = 1\n"
            "    for _ in range(300_000):\n"
            "        t = (t,)\n"
            "    d = {t: 1}\n"
            "    try:\n"
            "        frost.freeze(d).save(P, format=1)\n"
            "        out.append('saved')\n"
            "    except frost.FreezeError as e:\n"
            "        out.append(str(e)[-60:])\n"
            "th = threading.Thread(target=work)\n"
            "th.start(); th.join()\n"
            "print(out[0])\n"
            "if out[0] == 'saved':\n"
            "    import subprocess, sys, os\n"
            "    r = subprocess.run([sys.executable, '-c', f'import frost; frost.load({P!r}).root'],\n"
            "                       env=dict(os.environ, PYTHONHASHSEED='1'))\n"
            "    print('load rc', r.returncode)\n")
        with tempfile.TemporaryDirectory() as d:
            r = run_child(f"P = {os.path.join(d, 'deep.frost')!r}\n" + code, timeout=120,
                          env=dict(os.environ, PYTHONHASHSEED="2"))
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn(f"dict key is a tuple nested deeper than {MAX_DEPTH} levels", r.stdout)

    def test_deep_tuple_key_is_refused_without_hashing_it(self):
        # A Mapping hands frost the key unhashed: frost's own hash stops at
        # the limit instead of recursing.
        deep = nest(300_000)
        with self.assertRaisesRegex(frost.FreezeError, f"dict key is a tuple nested deeper than {MAX_DEPTH}"):
            frost.freeze(Pairs([(deep, 1)]))
        with self.assertRaisesRegex(frost.FreezeError, f"nested deeper than {MAX_DEPTH}"):
            frost.freeze(Pairs([("k", 1), ((1, nest(MAX_DEPTH)), 2)]))

    def test_deep_tuple_nodes_are_refused_and_the_deepest_read(self):
        # tuples holding a container are nodes, read back as real tuples
        ok = nest(MAX_DEPTH - 1, ([1, 2],))
        for name, store in every_store(ok):
            with self.subTest(name):
                root = store.root
                self.assertEqual(frost.thaw(root), ok)
                self.assertEqual(repr(root), repr(ok).replace("[1, 2]", "FrozenList([1, 2])"))
                store.close()
        with self.assertRaisesRegex(frost.FreezeError, f"nested deeper than {MAX_DEPTH}"):
            frost.freeze(nest(MAX_DEPTH, ([1, 2],)))

    def test_a_shared_tuple_reached_deeper_is_refused(self):
        # the second time a tuple is met it comes from the memo, with its height
        inner = nest(200)
        frost.freeze([inner, nest(MAX_DEPTH - 200, inner)]).close()
        with self.assertRaisesRegex(frost.FreezeError, f"nested deeper than {MAX_DEPTH}"):
            frost.freeze([inner, nest(MAX_DEPTH - 199, inner)])
        node = nest(200, ([],))
        with self.assertRaisesRegex(frost.FreezeError, f"nested deeper than {MAX_DEPTH}"):
            frost.freeze([node, nest(MAX_DEPTH - 199, node)])

    def test_deep_query_tuples_are_just_absent(self):
        store = frost.freeze({nest(3): 1, "x": 2})
        for depth in (MAX_DEPTH + 1, 300_000):
            self.assertNotIn(nest(depth), store.root)
            self.assertIsNone(store.root.get(nest(depth)))
        store.close()

    def test_loader_refuses_deeper_tuples(self):
        # a file frost would not write: two chains of 200 levels, the inner
        # end of the second relinked to the top of the first (400 levels)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "deep.frost")
            frost.freeze([nest(200, "a"), nest(200, "b")]).save(p, format=1)
            with open(p, "rb") as f:
                blob = bytearray(f.read())
            h = snap.HEADER.unpack_from(blob)
            table = h[17]
            _, _, image, image_size = snap.SECTION.unpack_from(blob, table)
            list_refs = struct.unpack_from("<QQ", blob, image + 16)   # the root list node's items
            imm_b = (ord("b") << 8) | (8 << 4) | 4                   # the singleton 'b'
            relinked = 0
            for pos in range(image, image + image_size, 16):
                kind, size = struct.unpack_from("<IxxxxQ", blob, pos)
                if kind == 21 and struct.unpack_from("<q", blob, pos + 32)[0] == 1 \
                        and struct.unpack_from("<Q", blob, pos + 40)[0] == imm_b:
                    struct.pack_into("<Q", blob, pos + 40, list_refs[0])
                    relinked += 1
            self.assertEqual(relinked, 1)
            with open(p, "wb") as f:
                f.write(snap.reseal(blob))
            with self.assertRaisesRegex(frost.SnapshotError, f"nested deeper than {MAX_DEPTH}"):
                frost.load(p)


class DeepContainers(unittest.TestCase):
    """Item 4, other containers: views read lazily and nest without limit;
    a view equals another view of the same node at any depth (as `l == l`)."""

    @staticmethod
    def deep_list(n):
        top = cur = []
        for _ in range(n):
            nxt = []
            cur.append(nxt)
            cur = nxt
        return top

    @staticmethod
    def deep_dict(n):
        top = cur = {}
        for _ in range(n):
            nxt = {}
            cur["k"] = nxt
            cur = nxt
        return top

    def test_deep_lists_and_dicts_read_save_and_load(self):
        for make in (self.deep_list, self.deep_dict):
            for name, store in every_store(make(100_000)):
                with self.subTest(make.__name__, store=name):
                    self.assertEqual(store.root, store.root)
                    self.assertFalse(store.root != store.root)
                    inner = store.root
                    for _ in range(1000):
                        inner = inner[0] if isinstance(inner, frost.FrozenList) else inner["k"]
                    self.assertEqual(inner, inner)
                    back = frost.thaw(store.root)
                    depth = 0
                    while back:
                        back = back[0] if isinstance(back, list) else back["k"]
                        depth += 1
                    self.assertEqual(depth, 100_000)
                    with self.assertRaises(RecursionError):   # as repr of such a list
                        repr(store.root)
                    store.close()

    def test_deep_containers_thaw_from_a_mapped_image(self):
        # thaw of a format-2 image (Store.save's default, frost.share) recursed: past
        # CPython's C recursion limit (~1,500 levels on 3.12, ~10,000 on 3.13) it
        # raised RecursionError where the arena's thaw has no limit
        n = 100_000
        top = cur = []
        for i in range(n):   # lists, dicts and tuples in turn: each kind's values are frames
            nxt = {} if i % 3 == 1 else []
            item = (nxt, i) if i % 3 == 2 else nxt
            if isinstance(cur, dict):
                cur["k"] = item
            else:
                cur.append(item)
            cur = nxt
        shared_leaf = [1.5, 2.5]
        data = {"deep": top, "again": [shared_leaf, shared_leaf], "fs": frozenset({(1, (2,))}),
                "rec": Pt(1, [Pt(2, [[[]]])])}
        for name, store in (("share", frost.share(data)), ("format 2", load_v2(data))):
            with self.subTest(name):
                back = frost.thaw(store.root, classes=[Pt])
                depth, cur = 0, back["deep"]
                while cur:
                    cur = cur["k"] if isinstance(cur, dict) else cur[0]
                    if isinstance(cur, tuple):
                        self.assertEqual(cur[1], depth)
                        cur = cur[0]
                    depth += 1
                self.assertEqual(depth, n)
                self.assertIs(back["again"][0], back["again"][1])   # one node: one list
                self.assertEqual(back["fs"], frozenset({(1, (2,))}))
                self.assertEqual(back["rec"], Pt(1, [Pt(2, [[[]]])]))
                cyclic = []
                cyclic.append(cyclic)
                again = frost.thaw(frost.share({"c": cyclic}).root)["c"]
                self.assertIs(again[0], again)
                store.close()

    def test_a_view_equals_itself_with_nans_inside(self):
        a = nan()
        data = {"d": {"k": a}, "l": [a, "x"], "packed": [a, 1.5], "s": frozenset({a})}
        for name, store in every_store(data):
            with self.subTest(name):
                for key in data:
                    self.assertEqual(store.root[key], store.root[key])
                self.assertEqual(store.root, store.root)
                store.close()


if __name__ == "__main__":
    unittest.main()
