"""Results rewritten in place (views/reuse.h): a scoped store's reads (and a loaded
format-1 store's) copy their leaves out, and a reader (an iterator, a FrozenList's
l[i], a FrozenDict's d[k]/get) rewrites the copy it handed out two results ago,
and the items of a row tuple, for the next result once no one else holds them.
Whatever a caller keeps -- a row, an item, a str, through any consumer -- must never
change; the cases below are each what one guard of reuse.h is for (removing the
guard makes a test here fail or crash).
"""
import gc
import itertools
import os
import random
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402

import poolwork  # noqa: E402
from frostcheck import SharedPool, run_child  # noqa: E402

INTS = [0, 1, -1, -5, -6, 5, 256, 257, 1000, -1000, (1 << 30) - 1, -((1 << 30) - 1), 1 << 30,
        -(1 << 30), (1 << 59) - 1, -(1 << 59), 1 << 60, -(1 << 62), (1 << 63) - 1, -(1 << 63),
        1 << 64, 1 << 100, -(1 << 70)]
FLOATS = [0.5, -2.0, 0.1, 1e300, float("inf"), -0.0, float("nan")]
# same lengths in every kind (ASCII, Latin-1, BMP, astral), so a str of one kind comes
# round where one of another kind was; short and long ones
STRS = ["ab", "abc", "xyz", "éab", "éb", "€ab", "€b", "😀ab", "😀b", "", "a", "é",
        "a longer str of thirty-one chr", "b longer str of thirty-one chr", "é" * 31]


def sample(n, seed=7):
    rng = random.Random(seed)

    def leaf():
        return rng.choice((rng.choice(INTS), rng.choice(FLOATS), rng.choice(STRS),
                           rng.choice(INTS[4:12]), None, True, False, b"by", 1 + 2j))

    def one():
        what = rng.random()
        if what < 0.4:
            return leaf()
        if what < 0.95:
            return tuple(leaf() for _ in range(rng.choice((1, 2, 3, 3, 4))))
        return (leaf(), (leaf(), leaf()))   # a tuple inside: copied afresh
    return [one() for _ in range(n)]


def same(test, got, want):
    test.assertEqual(repr(got), repr(want))   # types, NaN and -0.0 too


def stores(value):
    """The views that copy `value`'s leaves out on every read: a scoped store's
    root, frost.share's and a format-2 file's (mapped images: their rows go through
    the same helper), and a format-1 file's loaded with lifetime="scoped"."""
    yield frost.freeze(value).root
    yield frost.share(value).root
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.frost")
        frost.freeze(value).save(path, format=1)
        yield frost.load(path, lifetime="scoped").root
        path2 = os.path.join(tmp, "s2.frost")
        frost.freeze(value).save(path2, format=2)
        yield frost.load(path2).root


class ScopedReuse(unittest.TestCase):
    def test_iteration_never_changes_what_the_caller_holds(self):
        """Rows, items and leaves kept at random keep their values, for ints of every
        size (cached small ints stay CPython's), floats (NaN is the Lease's one copy),
        strs of every kind and length, and rows with tuples, bytes, complexes inside."""
        data = sample(4000)
        rng = random.Random(3)
        for view in stores(data):
            kept, want = [], []
            for i, x in enumerate(view):
                same(self, x, data[i])
                what = rng.random()
                if what < 0.1:
                    kept.append(x)
                    want.append(data[i])
                elif what < 0.3 and isinstance(x, tuple):
                    j = rng.randrange(len(x))
                    kept.append(x[j])
                    want.append(data[i][j])
            same(self, kept, want)
            # unpacking loops keep some items
            pairs = [r for r in data if isinstance(r, tuple) and len(r) == 2]
            firsts = []
            for a, b in frost.freeze(pairs).root:
                firsts.append(a)
                same(self, (a, b), pairs[len(firsts) - 1])
            same(self, firsts, [r[0] for r in pairs])

    def test_small_ints_stay_cached_and_nans_stay_the_same_object(self):
        """A value in -5..256 is never written into an int of ours (it stays CPython's
        cached one, as a copy gives), and a NaN is never written into a float of ours:
        a scoped view hands out one NaN object per arena NaN, so `k in d` holds."""
        ints = [1000, 5, 2000, 7, 3000, -5, 4000, 256, -6, 257, 1 << 40, 0] * 20
        for view in (frost.freeze(ints).root, frost.freeze([(i, i) for i in ints]).root):
            for i, x in enumerate(view):
                for got in (x if isinstance(x, tuple) else (x,)):
                    if -5 <= ints[i] <= 256:
                        self.assertIs(got, ints[i])
                    self.assertEqual(got, ints[i])
        nan = float("nan")
        keys = [0.5, nan, 1.5, 2.5, float("nan"), 3.5, 4.5] * 1
        d = frost.freeze({k: i for i, k in enumerate(keys)}).root
        for _ in range(2):
            for k in d:
                self.assertIn(k, d)
            for k, v in d.items():
                self.assertIn(k, d)
                self.assertEqual(d[k], v)
        fl = frost.freeze(["x", nan, 1.5, nan, 2.5, nan, "y"]).root   # not packed: arena NaNs
        got = [x for x in fl if x != x]
        self.assertIs(got[0], got[1])   # the Lease's one copy of that NaN
        self.assertIs(got[1], got[2])

    def test_ints_are_rewritten_only_within_their_digits(self):
        """A one-digit int comes round where a three-digit value goes next: a new int."""
        big = [(1 << 62) - 3, -(1 << 63), (1 << 61) + 5, 1 << 45]
        ints = [v for i in range(300) for v in (1000 + i, big[i % 4], 2000 + i)]
        for view in (frost.freeze(ints).root, frost.freeze([(v, -v) for v in ints]).root):
            kept = []
            for i, x in enumerate(view):
                same(self, x, ints[i] if not isinstance(x, tuple) else (ints[i], -ints[i]))
                if i % 5 == 0:
                    kept.append(x)
            same(self, kept, [(v if not isinstance(kept[0], tuple) else (v, -v))
                              for v in ints[::5]])

    def test_strs_are_rewritten_only_with_their_kind_and_length(self):
        strs = [s for i in range(50) for s in STRS] + [f"k{i:03d}" for i in range(300)]
        for view in stores(strs):
            kept = []
            for i, x in enumerate(view):
                self.assertEqual((x, hash(x)), (strs[i], hash(strs[i])))
                self.assertEqual(x.encode("utf-8"), strs[i].encode("utf-8"))
                if i % 7 == 0:
                    kept.append(x)
            self.assertEqual(kept, strs[::7])

    def test_a_str_with_a_cached_utf8_copy_is_not_rewritten(self):
        """CPython keeps a UTF-8 copy of a non-ASCII str once asked for one (here by
        ctypes, as C extensions do): rewriting the characters would leave it stale."""
        import ctypes
        as_utf8 = ctypes.pythonapi.PyUnicode_AsUTF8
        as_utf8.argtypes, as_utf8.restype = [ctypes.py_object], ctypes.c_char_p
        strs = [f"é{i:04d}" for i in range(400)]
        for view in stores(strs):
            for i, x in enumerate(view):
                self.assertEqual(as_utf8(x), strs[i].encode())
                self.assertEqual(x.encode(), strs[i].encode())

    def test_an_interned_str_is_not_rewritten(self):
        """3.13 does not count the interned dict's references: a str the caller
        interned and let go of has a refcount of 1 and must not change (rewritten, it
        would sit in the interned dict under its old hash and never leave it: the
        interned strs would not all be freed with the iterator). 3.12 makes interned
        strs immortal."""
        code = (
            "import sys, frost\n"
            "strs = [f'w{i:05d}' for i in range(2000)]\n"
            "view = frost.freeze(strs).root\n"
            "it = iter(view)\n"
            "before = getattr(sys, 'getunicodeinternedsize', lambda: 0)()\n"
            "for i, x in enumerate(it):\n"
            "    assert x == strs[i], (x, strs[i])\n"
            "    assert sys.intern(x) == strs[i]\n"
            "del it, x\n"
            "grown = getattr(sys, 'getunicodeinternedsize', lambda: 0)() - before\n"
            "assert sys.version_info < (3, 13) or grown == 0, grown\n"
            "for s in strs:\n"
            "    t = sys.intern((s + '.')[:-1])\n"
            "    assert t == s and hash(t) == hash(s), (t, s)\n"
            "print('ok')\n")
        r = run_child(code)
        self.assertEqual((r.returncode, r.stdout.strip(), r.stderr), (0, "ok", ""))

    def test_a_reused_row_is_tracked_again_for_a_tuple_inside(self):
        """The collector untracks a tuple of atomic items; a row reused for items
        that are tuples must be tracked again (else a cycle through it is never
        found; gc.is_tracked shows it)."""
        rows = [(1000, 0.5), (2000, 1.5), (("a", 2.5), 3000), (("b", 3.5), 4000)]
        view = frost.freeze(rows).root
        it = iter(view)
        first = next(it)
        del first
        second = next(it)
        del second
        gc.collect()   # both rows are untracked now, held by the iterator only
        third = next(it)
        same(self, third, rows[2])
        self.assertTrue(gc.is_tracked(third))
        same(self, next(it), rows[3])

    def test_dict_reads_and_list_indexing_reuse_their_results(self):
        """d[k], d.get(k), l[i], keys()/values()/items(): what a caller keeps stays."""
        data = sample(1500, seed=11)
        d = {f"k{i:05d}": v for i, v in enumerate(data)}
        rng = random.Random(5)
        for view, lst in zip(stores(d), stores(data)):
            keys = list(d)
            rng.shuffle(keys)
            held, want = [], []
            for k in keys:
                a = view[k]
                b = view.get(k)
                same(self, (a, b), (d[k], d[k]))
                view[k]   # a read let go of at once
                same(self, a, d[k])
                if rng.random() < 0.2:
                    held.append(a)
                    want.append(d[k])
            same(self, held, want)
            held = [lst[i] for i in range(0, len(data), 3)]
            for i in range(len(data)):
                a, b = lst[i], lst[-1 - i]
                lst[i]
                same(self, (a, b), (data[i], data[-1 - i]))
            same(self, held, data[::3])
            same(self, list(view.keys()), list(d.keys()))
            same(self, list(view.values()), list(d.values()))
            same(self, list(view.items()), list(d.items()))
            same(self, [(k, v) for k, v in view.items()], list(d.items()))
            same(self, [v for v in view.values()], list(d.values()))


class ScopedReuseUnderEveryConsumer(SharedPool, unittest.TestCase):
    pool_workers = 1

    def test_every_consumer(self):
        """Builtins and itertools keeping results their own way (tee, groupby, chain,
        islice, zip of two iterators and of one twice, sorted, sets, dict keys, star
        unpacking, min/max keys), gc.get_objects() snapshots, threads sharing one
        iterator, rows sent on a Channel and to a subinterpreter (a frost.Pool worker)
        mid-scan."""
        rows = [(i, i * 1000 + 7, i + 0.5, f"s{i:04d}", -(1 << 40) - i, (1 << 59) - i, i % 3 == 0, None)
                for i in range(500)]
        rows += [(float("nan"), -0.0, 2 ** 30, "é" * 5), (5, 1e300, -(2 ** 59), "€" * 5)] * 10
        rows += [((1 << 59) - 1,), (300,), (-300,), (2 ** 31,), ("ab",), (5,), (True,), (0.5,)] * 10
        strs = [r[3] for r in rows if len(r) > 3]
        for lst, sl in zip(stores(rows), stores(strs)):
            for view, want in ((lst, rows), (sl, strs)):
                self.consume(view, want)

    def consume(self, view, want):
        def s(got, exp):
            same(self, got, exp)

        def ok(r):
            return not isinstance(r, tuple) or r[0] == r[0]   # no NaN: equal keys merge alike

        s(list(iter(view)), want)
        s(sorted(iter(view), key=repr), sorted(want, key=repr))
        s(list(zip(iter(view), iter(view))), [(r, r) for r in want])
        it = iter(view)
        s(list(zip(it, it)), list(zip(want[0::2], want[1::2])))
        s([list(t) for t in itertools.tee(iter(view), 3)], [want] * 3)
        key = (lambda r: len(r)) if isinstance(want[0], tuple) else (lambda r: r[:2])
        s([(k, list(g)) for k, g in itertools.groupby(iter(view), key=key)],
          [(k, list(g)) for k, g in itertools.groupby(want, key=key)])
        s(list(itertools.chain(iter(view), reversed(view))), want + want[::-1])
        s(list(itertools.islice(iter(view), 3, None, 7)), want[3::7])
        s({r: i for i, r in enumerate(view) if ok(r)}, {r: i for i, r in enumerate(want) if ok(r)})
        s(sorted({r for r in view if ok(r)}, key=repr), sorted({r for r in want if ok(r)}, key=repr))
        s(max(iter(view), key=repr), max(want, key=repr))
        s([rest for _, *rest in view], [list(r[1:]) for r in want])
        it = iter(view)
        first, second = next(it), next(it)
        snap = [o for o in gc.get_objects() if o is first or o is second]   # rows (tracked)
        del first, second
        s([next(it) for _ in range(6)], want[2:8])
        if isinstance(want[0], tuple):
            s(sorted(snap, key=repr), sorted(want[:2], key=repr))
        del snap
        it, out = iter(view), [[] for _ in range(4)]

        def drain(k):
            for r in it:
                out[k].append(r)
        threads = [threading.Thread(target=drain, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        s(sorted(sum(out, []), key=repr), sorted(want, key=repr))
        ch = frost.Channel()
        futures = []
        for i, r in enumerate(view):
            if i % 9 == 0:
                ch.send(r)
            if i % 50 == 0:
                futures.append(self.pool.submit(poolwork.echo, r))
        s([ch.recv(timeout=60) for _ in want[::9]], want[::9])
        s([f.result(timeout=60) for f in futures], want[::50])


if __name__ == "__main__":
    unittest.main()
