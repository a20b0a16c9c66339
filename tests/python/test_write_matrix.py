"""The write matrix (CPYTHON-FACTS §2-§4, §8) on sealed arena objects.

A lifetime="process" store hands out the arena's own str/int/float/complex/
bytes/tuple objects; its pages are PROT_READ, so any write CPython made to
them (hash or UTF-8 caches, interning, GC headers, refcounts, freelists)
would kill the process with SIGSEGV. writematrixwork.matrix runs the
operations and returns a deterministic dict of results, which must be the
same in the main interpreter, in an own-GIL subinterpreter and in 8 own-GIL
pool workers running it at once (issue 3).
"""
import os
import pickle
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import _interp_compat  # noqa: E402
import writematrixwork  # noqa: E402

# Process stores are never freed: one for the whole module.
STORE = frost.freeze(writematrixwork.data(), lifetime="process")

# Results that legitimately differ between arena objects read through views
# and a plain local copy of the data (identity, GC tracking, view types).
VIEW_DEPENDENT = ("types", "copy", "gc_tracked", "gc", "intern", "lookup_by_local_keys", "str",
                  "format", "print", "mixed_list", "set_view", "views_pickle", "pickle", "sys_getsizeof",
                  "packed_buffer", "marshal", "eq_copy", "nested", "tuple_ops")


class WriteMatrixMainInterpreter(unittest.TestCase):
    def test_store_is_sealed_process_store_of_arena_objects(self):
        stats = STORE.stats()
        self.assertTrue(stats["sealed"])
        self.assertEqual(stats["lifetime"], "process")
        root = STORE.root
        # reads return the arena's own objects: the same object every time
        for key in ("ascii", "ucs2", "ucs4", "surrogate", "big", "float", "complex", "bytes", "tuple"):
            self.assertIs(root[key], root[key], key)
        self.assertGreater(stats["objects"]["str"], 5)
        self.assertGreater(stats["objects"]["tuple"], 2)

    def test_matrix_runs_and_is_deterministic(self):
        first = writematrixwork.matrix(STORE.root)
        second = writematrixwork.matrix(STORE.root)
        self.assertEqual(first, second)
        self.assertGreater(len(first), 300)

    def test_arena_strings_are_pre_interned_and_untracked(self):
        m = writematrixwork.matrix(STORE.root)
        interned = [v for k, v in m.items() if k.startswith("intern")]
        self.assertTrue(interned)
        self.assertEqual(set(interned), {"True"})          # sys.intern(s) is s: never re-interned
        tracked = [v for k, v in m.items() if k.startswith("gc_tracked")]
        self.assertEqual(set(tracked), {"False"})          # never GC-tracked
        self.assertEqual(m["gc"], repr((11, True, False, True)))
        self.assertTrue(all(v == "(True, True)" for k, v in m.items() if k.startswith("copy")))

    def test_results_match_plain_objects(self):
        arena = writematrixwork.matrix(STORE.root)
        plain = writematrixwork.matrix(writematrixwork.data())
        self.assertEqual(arena.keys(), plain.keys())
        plain_values = [v for v in writematrixwork.data().values()
                        if type(v) in (str, int, float, complex, bytes, tuple)]
        nan_hash = f"hash{[i for i, v in enumerate(plain_values) if v != v][0]}"
        self.assertEqual(arena[nan_hash], repr(hash(STORE.root["nan"])))  # NaN hashes by identity
        compared = 0
        for key in arena:
            if key.startswith(VIEW_DEPENDENT) or key == nan_hash:
                continue
            self.assertEqual(arena[key], plain[key], key)
            compared += 1
        self.assertGreater(compared, 200)
        # the view-dependent ones still agree where the value is plain
        for key in arena:
            if key.startswith(("str", "format", "print", "pickle_rt", "marshal", "eq_copy")):
                if "Frozen" not in arena[key]:
                    self.assertEqual(arena[key], plain[key], key)

    def test_surrogates_fail_to_encode_strictly_without_writing(self):
        m = writematrixwork.matrix(STORE.root)
        strict = {k: v for k, v in m.items() if k.startswith("utf8_strict")}
        self.assertEqual(sum(v == "raised UnicodeEncodeError" for v in strict.values()), 1)


@unittest.skipUnless(_interp_compat.AVAILABLE, "no subinterpreter API on this Python")
class WriteMatrixSubinterpreter(unittest.TestCase):
    def test_own_gil_subinterpreter_gets_identical_results(self):
        expected = writematrixwork.matrix_repr(STORE.root)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result.txt")
            _interp_compat.run(
                "import pickle, writematrixwork\n"
                "store = pickle.loads(blob)\n"
                "assert store.lifetime == 'process'\n"
                "with open(path, 'w', encoding='utf-8', errors='surrogatepass') as f:\n"
                "    f.write(writematrixwork.matrix_repr(store.root))\n"
                "with open(path + '.ids', 'w') as f:\n"
                "    f.write(repr([id(store.root[k]) for k in ('ascii', 'ucs4', 'big', 'tuple')]))\n",
                blob=pickle.dumps(STORE), path=path)
            with open(path, encoding="utf-8", errors="surrogatepass") as f:
                got = f.read()
            with open(path + ".ids") as f:
                ids = f.read()
        self.assertEqual(got, expected)
        # the subinterpreter read the very same arena objects
        self.assertEqual(ids, repr([id(STORE.root[k]) for k in ("ascii", "ucs4", "big", "tuple")]))


class WriteMatrixPool(unittest.TestCase):
    def test_eight_concurrent_own_gil_workers_get_identical_results(self):
        expected = writematrixwork.matrix_repr(STORE.root)
        ready, go = frost.Channel(), frost.Channel()
        with frost.Pool(8) as pool:
            futures = [pool.submit(writematrixwork.matrix_in_worker, STORE, ready, go)
                       for _ in range(8)]
            # all 8 tasks running at once means 8 distinct workers
            for _ in range(8):
                self.assertEqual(ready.recv(timeout=120), "ready")
            for _ in range(8):
                go.send("go")
            results = [f.result(timeout=300) for f in futures]
        self.assertEqual(len({interp for interp, _, _ in results}), 8)
        self.assertNotIn(0, {interp for interp, _, _ in results})
        for _, lifetime, got in results:
            self.assertEqual(lifetime, "process")
            self.assertEqual(got, expected)


if __name__ == "__main__":
    unittest.main()
