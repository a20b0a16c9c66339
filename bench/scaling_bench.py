"""Per-entry cost of frost's read and freeze paths as the data grows (issue 17: "no read or
freeze path grows worse than linearly"), side by side with the same operation on plain
CPython objects in the same run.

    PYTHONPATH=build/release-py3.13/python nice .venv/py3.13/bin/python bench/scaling_bench.py
        [--sizes 10000,100000,1000000,4000000] [--quick] [--repeat 3] [--json FILE]

For each n: ns per entry (best of --repeat; 2 at n >= 1M) of each operation, for frost and
for the CPython baseline, and at the end the growth of the per-entry cost from the smallest
to the largest n (1.0 = exactly linear; cache and TLB misses make 1M+ somewhat worse for
both). "Not worse than linear" means frost's growth tracks the baseline's. Operations
whose cost does not depend on n (len, lookups of a fixed sample) are per call, where
growth should stay near 1 (cache effects aside).

Baselines: a freeze or a thaw against a pickle round trip of the same data (a deep copy);
lookups, iteration, len against a dict/set; save/load against pickle.dump/pickle.load to
a file; share + attach against pickle.dumps/loads; set algebra against frozenset's.

Two key shapes are also measured at the end: n distinct NaN keys (each NaN equals only
itself: frost hashes it by identity, as CPython >= 3.10 does, design.md "NaN keys"), and
int keys that are multiples of 2**61-1 (every one hashes to 0 in CPython too: both grow
quadratically; only small n).
"""
import argparse
import gc
import json
import os
import pickle
import random
import sys
import tempfile
import time

import frost

SAMPLE = 100_000          # lookups per measurement (fixed: per-call cost should not grow)


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def lookups(container, keys):
    def run():
        for k in keys:
            k in container
    return run


def getitems(container, keys):
    def run():
        for k in keys:
            container[k]
    return run


def drain(it):
    def run():
        for _ in it():
            pass
    return run


def pickle_copy(obj):
    return lambda: pickle.loads(pickle.dumps(obj, protocol=5))


def measure(n, repeat, tmp):
    rng = random.Random(n)
    strs = {f"key-{i:09d}": i for i in range(n)}
    tuples = [(i, f"v{i % 1000}", i * 0.5) for i in range(n)]
    ints = frozenset(range(0, 2 * n, 2))
    others = frozenset(range(n, 3 * n, 2))
    superset = ints | others
    sample_hit = [f"key-{rng.randrange(n):09d}" for _ in range(SAMPLE)]
    sample_miss = [f"nokey-{rng.randrange(n):09d}" for _ in range(SAMPLE)]
    for k in sample_hit + sample_miss:
        hash(k)
    rows = []   # (op, per, frost seconds, baseline seconds)

    def row(op, per, frost_fn, base_fn, unit=None):
        unit = unit or ("lookup" if per == SAMPLE else "call" if per == 1 else "entry")
        rows.append((op, unit, per, best(frost_fn, repeat), best(base_fn, repeat)))

    row("freeze dict str->int", n, lambda: frost.freeze(strs).close(), pickle_copy(strs))
    row("freeze list of tuples", n, lambda: frost.freeze(tuples).close(), pickle_copy(tuples))
    row("freeze set of ints", n, lambda: frost.freeze(ints).close(), pickle_copy(ints))
    store = frost.freeze(strs)
    view = store.root
    row("lookup hit (sample)", SAMPLE, lookups(view, sample_hit), lookups(strs, sample_hit))
    row("lookup miss (sample)", SAMPLE, lookups(view, sample_miss), lookups(strs, sample_miss))
    row("d[k] (sample)", SAMPLE, getitems(view, sample_hit), getitems(strs, sample_hit))
    row("iterate keys", n, drain(view.keys), drain(strs.keys))
    row("iterate values", n, drain(view.values), drain(strs.values))
    row("iterate items", n, drain(view.items), drain(strs.items))
    row("len (one call)", 1, lambda: len(view), lambda: len(strs))
    row("thaw dict", n, lambda: frost.thaw(view), pickle_copy(strs))
    row("pickle a view", n, lambda: pickle.dumps(view, protocol=5),
        lambda: pickle.dumps(strs, protocol=5))
    p1, p2, pp = (os.path.join(tmp, name) for name in ("s1.frost", "s2.frost", "s.pickle"))

    def pickle_dump():
        with open(pp, "wb") as f:
            pickle.dump(strs, f, protocol=5)

    def pickle_load():
        with open(pp, "rb") as f:
            pickle.load(f)

    def load_and_find(path):
        def run():
            with frost.load(path) as loaded:
                loaded.root[sample_hit[0]]
        return run

    row("save format 1", n, lambda: store.save(p1, format=1), pickle_dump)
    row("load format 1", n, load_and_find(p1), pickle_load)
    row("save format 2", n, lambda: store.save(p2, format=2), pickle_dump)
    row("load format 2 (+1 lookup)", n, load_and_find(p2), pickle_load)

    def share_attach():
        with frost.share(strs) as shared:
            attached = pickle.loads(pickle.dumps(shared))
            attached.root[sample_hit[0]]
            attached.close()

    row("share + attach + lookup", n, share_attach, pickle_copy(strs))
    with frost.share(strs) as shared:
        mapped = shared.root
        row("mapped lookup hit (sample)", SAMPLE, lookups(mapped, sample_hit),
            lookups(strs, sample_hit))
        row("mapped iterate items", n, drain(mapped.items), drain(strs.items))
        del mapped
    view = None
    store.close()
    with frost.freeze(ints) as a, frost.freeze(others) as b, frost.freeze(superset) as c:
        fa, fb, fc = a.root, b.root, c.root
        row("FrozenSet union", n, lambda: fa | fb, lambda: ints | others)
        row("FrozenSet intersection", n, lambda: fa & fb, lambda: ints & others)
        row("FrozenSet <= its superset", n, lambda: fa <= fc, lambda: ints <= superset)
        row("set lookup hit (sample)", SAMPLE, lookups(fa, sample_ints := [2 * rng.randrange(n) for _ in range(SAMPLE)]),
            lookups(ints, sample_ints))
        del fa, fb, fc
    nans = [float("nan") for _ in range(n)]
    nan_keyed = {x: i for i, x in enumerate(nans)}
    row("freeze dict of n NaN keys", n, lambda: frost.freeze(nan_keyed).close(),
        lambda: {x: i for i, x in enumerate(nans)})
    for lifetime in ("scoped", "process"):
        with frost.freeze(nan_keyed, lifetime=lifetime) as nan_store:
            nv = nan_store.root
            yielded = list(nv)[:SAMPLE]
            row(f"NaN key lookup (yielded keys), {lifetime}", len(yielded), lookups(nv, yielded),
                lookups(nan_keyed, nans[:SAMPLE]), unit="lookup")
            del nv, yielded
    row("share dict of n NaN keys", n, lambda: frost.share(nan_keyed).close(),
        lambda: {x: i for i, x in enumerate(nans)})
    del nans, nan_keyed
    return rows


def measure_zero_hash(n, repeat):
    """int keys that all hash to 0 (multiples of 2**61-1): quadratic in dict too."""
    keys = [i * (2 ** 61 - 1) for i in range(n)]
    data = dict.fromkeys(keys, 1)
    return [("freeze, int keys all hashing to 0", "entry", n,
             best(lambda: frost.freeze(data).close(), repeat),
             best(lambda: dict.fromkeys(keys, 1), repeat))]


def table(results, sizes):
    """The markdown table: ns per unit for frost and CPython at each n, and the growth of
    the per-unit cost from the smallest n (and, past the caches, from 10**6) to the largest."""
    ops = [r[0] for r in results[sizes[0]]]
    big = 1_000_000 if 1_000_000 in sizes and sizes[-1] > 1_000_000 else None
    lines = ["| operation | per | " + " | ".join(f"n={n:,}: frost / CPython ns (ratio)" for n in sizes)
             + f" | growth {sizes[0]:,}→{sizes[-1]:,}: frost / CPython |"
             + (f" growth {big:,}→{sizes[-1]:,}: frost / CPython |" if big else ""),
             "|---|---|" + "---|" * (len(sizes) + 1 + bool(big))]
    for i, op in enumerate(ops):
        cells, ns = [], {}
        for n in sizes:
            _, unit, per, f, b = results[n][i]
            fns, bns = f / per * 1e9, b / per * 1e9
            cells.append(f"{fns:,.1f} / {bns:,.1f} ({fns / bns:.2f}x)")
            ns[n] = (fns, bns)
        first, last = ns[sizes[0]], ns[sizes[-1]]
        lines.append(f"| {op} | {results[sizes[0]][i][1]} | " + " | ".join(cells)
                     + f" | {last[0] / first[0]:.2f} / {last[1] / first[1]:.2f} |"
                     + (f" {last[0] / ns[big][0]:.2f} / {last[1] / ns[big][1]:.2f} |" if big else ""))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000,4000000")
    ap.add_argument("--quick", action="store_true", help="stop at 10**6")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the raw seconds here")
    ap.add_argument("--from-json", help="only print the tables of an earlier --json FILE")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        for part in (saved["sizes"], saved["zero_hash"]):
            runs = {int(n): rows for n, rows in part.items()}
            print(table(runs, sorted(runs)))
            print()
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes = [n for n in sizes if n <= 1_000_000]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            t = time.perf_counter()
            results[n] = measure(n, args.repeat if n < 1_000_000 else min(args.repeat, 2), tmp)
            print(f"n={n:,} done in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    print(table(results, sizes))
    zero = {n: measure_zero_hash(n, args.repeat) for n in (2_000, 4_000, 8_000)}
    print()
    print(table(zero, sorted(zero)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": results, "zero_hash": zero}, f)


if __name__ == "__main__":
    main()
