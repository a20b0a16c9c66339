"""`k in FrozenSet` against `k in frozenset` at 1M entries, wall time, side by side.

    PYTHONPATH=build/release-py3.13/python .venv/py3.13/bin/python bench/set_membership_bench.py
        [--n 1000000] [--rounds 15] [--json FILE]

One process holds both contenders (and, as a reference for the box's noise, `k in
FrozenDict` against `k in dict` over the same keys). Each round times every contender
once, one full pass of `for k in keys: k in s` over the n query keys, in an order that
rotates from round to round, so a slow moment of the shared machine hits all contenders
alike; the ratios of the best and of the median rounds are what to read. Query keys equal
the data's keys but are not the same objects (as keys read from input are), shuffled,
their hashes cached before timing. A second table does the same with keys that are absent.
Instruction counts of the same operation (no cache misses): bench/opcount.py --ops frozenset.
"""
import argparse
import gc
import json
import random
import statistics
import sys
import time

import frost


def probe(s, keys):
    t = time.perf_counter()
    for k in keys:
        k in s
    return time.perf_counter() - t


def run(contenders, keys, rounds):
    names = list(contenders)
    times = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(probe(contenders[name], keys))
    return times


def report(title, times, pairs, n):
    print(f"\n{title}: ns per lookup (best / median of {len(next(iter(times.values())))} rounds)")
    for name, ts in times.items():
        print(f"  {name:12s} {min(ts) / n * 1e9:7.1f} / {statistics.median(ts) / n * 1e9:7.1f}")
    rows = []
    for mine, theirs in pairs:
        best = min(times[mine]) / min(times[theirs])
        med = statistics.median(times[mine]) / statistics.median(times[theirs])
        print(f"  {mine} / {theirs}: best {best:.2f}x, median {med:.2f}x")
        rows.append({"frost": mine, "plain": theirs, "best_ratio": round(best, 3),
                     "median_ratio": round(med, 3)})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    n = args.n
    data = [f"key{i:07d}" for i in range(n)]
    fs = frozenset(data)
    d = dict.fromkeys(data, 0)
    store_set = frost.freeze(fs)
    store_dict = frost.freeze(d)
    contenders = {"FrozenSet": store_set.root, "frozenset": fs,
                  "FrozenDict": store_dict.root, "dict": d}
    rng = random.Random(1)
    hits = [(k + ".")[:-1] for k in data]
    rng.shuffle(hits)
    misses = [f"nok{i:07d}" for i in range(n)]
    for k in hits + misses:
        hash(k)
    del data
    gc.collect()
    gc.disable()
    pairs = [("FrozenSet", "frozenset"), ("FrozenDict", "dict")]
    print(f"CPython {sys.version.split()[0]}, n = {n:,}, frost {frost.__file__}")
    out = {"n": n, "rounds": args.rounds, "python": sys.version.split()[0]}
    out["hits"] = report("present keys", run(contenders, hits, args.rounds), pairs, n)
    out["misses"] = report("absent keys", run(contenders, misses, args.rounds), pairs, n)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    store_set.close()
    store_dict.close()


if __name__ == "__main__":
    main()
