"""The main job: freeze the W1 dataset and read it, next to the usual ways.

W1 (DESIGN §5): a dict of N keys f"key{i:07d}" -> (i, i*0.5, f"val{i}"), read
by random lookups that sum the float field. Prints, for one interpreter:
  - freeze time next to pickle.dumps of the same dict;
  - arena bytes next to the size of the original objects;
  - lookups per second through a FrozenDict (both lifetimes) next to a dict;
then, with one own-GIL subinterpreter per core (frost.Pool):
  - the time until every worker can read the data: the frozen store arrives
    by reference, next to the usual way (each worker pickle.loads a copy);
  - aggregate lookups per second of all workers reading the same store.

Usage: python bench/demo.py [--entries N] [--lookups M] [--workers K] [--json]
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


def worker_read(view, seed, n):
    """In a worker: n random lookups in the shared view -> (elapsed s, checksum)."""
    rng = random.Random(seed)
    size = len(view)
    keys = [f"key{rng.randrange(size):07d}" for _ in range(n)]
    start = time.perf_counter()
    total = 0.0
    for k in keys:
        total += view[k][1]
    return time.perf_counter() - start, total


def worker_ready(view):
    """In a worker: the view has arrived; touch it once."""
    return view["key0000000"][0]


def worker_unpickle(blob):
    """In a worker, the usual way: rebuild a private copy from pickle bytes."""
    start = time.perf_counter()
    data = pickle.loads(blob)
    return time.perf_counter() - start, data["key0000000"][0]


def run_pool(result, data, store, workers, lookups):
    blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    with frost.Pool(workers) as pool:
        pool.submit(worker_ready, store.root).result()   # warm: workers import the script
        t0 = time.perf_counter()
        list(pool.map(worker_ready, [store.root] * workers))
        frost_ready = time.perf_counter() - t0
        t0 = time.perf_counter()
        loads = list(pool.map(worker_unpickle, [blob] * workers))
        pickle_ready = time.perf_counter() - t0
        per_worker = max(1, lookups // workers)
        rates = {}
        for k in sorted({1, workers}):
            runs = list(pool.map(worker_read, [store.root] * k, range(k), [per_worker] * k))
            # the workers ran side by side: the slowest one sets the pace
            rates[k] = k * per_worker / max(elapsed for elapsed, _ in runs)
    result["pool"] = {
        "workers": workers,
        "frost_ready_s": frost_ready,
        "pickle_ready_s": pickle_ready,
        "pickle_loads_s_per_worker": max(t for t, _ in loads),
        "pickle_bytes": len(blob),
        "lookups_per_s_1": rates[1],
        "lookups_per_s_all": rates[workers],
        "lookups_per_worker": per_worker,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="worker interpreters (default: one per core; 0 skips the pool part)")
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
        if lifetime == "scoped" and args.workers > 0:
            run_pool(result, data, store, args.workers, args.lookups)
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
    if "pool" in result:
        q = result["pool"]
        w = q["workers"]
        print(f"  {w} own-GIL interpreters (frost.Pool), scoped store:")
        print(f"    ready to read   {q['frost_ready_s'] * 1e3:8.1f} ms  (store passed by reference) vs "
              f"{q['pickle_ready_s'] * 1e3:8.1f} ms (pickle.loads of {q['pickle_bytes'] / 1e6:.0f} MB "
              f"in each)")
        print(f"    lookups         {q['lookups_per_s_all'] / 1e6:8.2f} M/s with {w} workers vs "
              f"{q['lookups_per_s_1'] / 1e6:.2f} M/s with 1 "
              f"({q['lookups_per_s_all'] / q['lookups_per_s_1']:.2f}x)")


if __name__ == "__main__":
    main()
