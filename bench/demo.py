"""The main job: freeze the W1 dataset and read it, next to the usual ways.

W1 (DESIGN §5): a dict of N keys f"key{i:07d}" -> (i, i*0.5, f"val{i}"), read
by random lookups that sum the float field. Prints, for one interpreter:
  - freeze time next to pickle.dumps of the same dict;
  - arena bytes next to the size of the original objects;
  - lookups per second through a FrozenDict (both lifetimes) next to a dict.

Usage: python bench/demo.py [--entries N] [--lookups M] [--json]
"""
import argparse
import gc
import json
import os
import pickle
import platform
import random
import sys
import time

import frost


def make_w1(n):
    return {f"key{i:07d}": (i, i * 0.5, f"val{i}") for i in range(n)}


def deep_size(root):
    """Bytes of all distinct objects reachable from `root` (sys.getsizeof,
    GC headers included) — what the original graph occupies."""
    seen = set()
    stack = [root]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
    return total


def lookups_per_second(mapping, queries):
    start = time.perf_counter()
    total = 0.0
    for q in queries:
        total += mapping[q][1]
    elapsed = time.perf_counter() - start
    return len(queries) / elapsed, total


def best_of(runs, fn):
    """The best (rate, checksum) of `runs` calls: less noise from the machine."""
    results = [fn() for _ in range(runs)]
    return max(results, key=lambda r: r[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    data = make_w1(args.entries)
    rng = random.Random(42)
    queries = [f"key{rng.randrange(args.entries):07d}" for _ in range(args.lookups)]

    gc.collect()
    t0 = time.perf_counter()
    blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    pickle_s = time.perf_counter() - t0
    del blob

    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "allocator": frost._frost.allocator,
        "entries": args.entries,
        "lookups": args.lookups,
        "pickle_dumps_s": pickle_s,
        "original_bytes": deep_size(data),
    }
    dict_rate, expected = best_of(3, lambda: lookups_per_second(data, queries))
    result["dict_lookups_per_s"] = dict_rate
    for lifetime in ("process", "scoped"):
        gc.collect()
        t0 = time.perf_counter()
        store = frost.freeze(data, lifetime=lifetime)
        freeze_s = time.perf_counter() - t0
        root = store.root
        rate, total = best_of(3, lambda: lookups_per_second(root, queries))
        if total != expected:
            raise SystemExit(f"checksum mismatch: {total} != {expected}")
        result[lifetime] = {
            "freeze_s": freeze_s,
            "arena_bytes": store.nbytes,
            "lookups_per_s": rate,
        }
        del root
        store.close()

    if args.json:
        print(json.dumps(result))
        return
    p, s = result["process"], result["scoped"]
    print(f"frost demo: W1, {args.entries:,} entries, {args.lookups:,} random lookups, "
          f"Python {result['python']}, {result['cpus']} CPUs, arena backend {result['allocator']}")
    print(f"  freeze            {p['freeze_s']:8.3f} s   vs pickle.dumps {pickle_s:8.3f} s"
          f"   ({p['freeze_s'] / pickle_s:.2f}x; target <= 0.5x)")
    print(f"  arena size        {p['arena_bytes'] / 1e6:8.1f} MB  vs original objects "
          f"{result['original_bytes'] / 1e6:8.1f} MB ({p['arena_bytes'] / result['original_bytes']:.2f}x; "
          f"target <= 1.0x)")
    for name, r in (("process", p), ("scoped", s)):
        print(f"  lookups, {name:8s} {r['lookups_per_s'] / 1e6:8.2f} M/s vs dict "
              f"{dict_rate / 1e6:8.2f} M/s   (time {dict_rate / r['lookups_per_s']:.2f}x a dict "
              f"lookup; target <= 1.2x)")


if __name__ == "__main__":
    main()
