"""The main job: freeze the W1 dataset and read it, next to the usual ways.

W1 (DESIGN §5): a dict of N keys f"key{i:07d}" -> (i, i*0.5, f"val{i}"), read
by random lookups that sum the float field. Prints, for one interpreter:
  - freeze time next to pickle.dumps of the same dict;
  - arena bytes next to the size of the original objects;
  - lookups per second through a FrozenDict (both lifetimes) next to a dict;
then, with one own-GIL subinterpreter per core (frost.Pool), next to the
usual way (subinterpreters that each pickle.loads a private copy):
  - pool start-up, and the time until every worker can read the data;
  - the round trip of a task that receives a store (1,000 entries vs all);
  - memory growth (RSS of the process: every interpreter is in it);
  - aggregate lookups per second with 1 and with N workers.

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
    """Bytes of all distinct objects reachable from `root`: (sys.getsizeof sum,
    GC headers included; the same with each object of <= 512 bytes rounded up
    to obmalloc's 16-byte size classes -- what those objects really occupy)."""
    seen = set()
    stack = [root]
    total = allocated = 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        size = sys.getsizeof(o)
        total += size
        allocated += (size + 15) // 16 * 16 if size <= 512 else size
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
    return total, allocated


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
    """In a worker: n random lookups in the shared view (None: in this
    worker's unpickled copy) -> (elapsed s, checksum)."""
    view = _COPY if view is None else view
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


_COPY = None   # the subinterpreters + pickle way: this worker's private copy


def worker_load_copy(blob):
    """Pool initializer, the usual way: every worker unpickles its own copy."""
    global _COPY
    _COPY = pickle.loads(blob)


def rss_bytes():
    """Resident memory of this process: every interpreter of the pool included."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def aggregate_rate(pool, fn, first_args, workers, per_worker):
    """Lookups per second of `workers` tasks running side by side (the slowest sets the pace)."""
    runs = list(pool.map(fn, first_args[:workers], range(workers), [per_worker] * workers))
    return workers * per_worker / max(elapsed for elapsed, _ in runs)


def pass_time(pool, view, repeats=30):
    """Median round trip of a task that receives `view` and touches it once."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pool.submit(worker_ready, view).result()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def run_pool(result, data, store, workers, lookups):
    """One own-GIL interpreter per core reading W1: frost (the store by
    reference) next to subinterpreters + pickle (a copy unpickled in each)."""
    per_worker = max(1, lookups // workers)
    q = {"workers": workers, "lookups_per_worker": per_worker}

    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    with frost.Pool(workers) as pool:
        q["pool_start_s"] = time.perf_counter() - t0
        list(pool.map(worker_ready, [store.root] * workers))   # workers import this script
        q["frost_setup_s"] = time.perf_counter() - t0
        q["frost_rss_growth"] = rss_bytes() - rss0
        small = frost.freeze(make_w1(1000))
        q["pass_s_1k"] = pass_time(pool, small.root)
        q["pass_s_full"] = pass_time(pool, store.root)
        small.close()
        views = [store.root] * workers
        q["frost_rate"] = {k: aggregate_rate(pool, worker_read, views, k, per_worker)
                           for k in sorted({1, workers})}

    blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    q["pickle_bytes"] = len(blob)
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    with frost.Pool(workers, initializer=worker_load_copy, initargs=(blob,)) as pool:
        q["pickle_setup_s"] = time.perf_counter() - t0
        q["pickle_rss_growth"] = rss_bytes() - rss0
        del blob
        q["pickle_rate"] = {k: aggregate_rate(pool, worker_read, [None] * workers, k, per_worker)
                            for k in sorted({1, workers})}
    result["pool"] = q


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
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
        "original_bytes": (sizes := deep_size(data))[0],
        "original_allocated_bytes": sizes[1],
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
          f"target <= 1.0x) by sys.getsizeof,")
    print(f"                                  {result['original_allocated_bytes'] / 1e6:8.1f} MB "
          f"({p['arena_bytes'] / result['original_allocated_bytes']:.2f}x) in obmalloc's 16-byte "
          f"size classes")
    for name, r in (("process", p), ("scoped", s)):
        print(f"  lookups, {name:8s} {r['lookups_per_s'] / 1e6:8.2f} M/s vs dict "
              f"{dict_rate / 1e6:8.2f} M/s   (time {dict_rate / r['lookups_per_s']:.2f}x a dict "
              f"lookup; target <= 1.2x)")
    if "pool" in result:
        q = result["pool"]
        w = q["workers"]
        mb = 1e6
        print(f"  {w} own-GIL interpreters, frost.Pool + scoped store vs subinterpreters + pickle "
              f"({q['pickle_bytes'] / mb:.0f} MB unpickled in each):")
        print(f"    pool start-up    {q['pool_start_s'] * 1e3:8.1f} ms")
        print(f"    setup            {q['frost_setup_s'] * 1e3:8.1f} ms  vs {q['pickle_setup_s'] * 1e3:8.1f} ms"
              f"  (start-up until every worker can read)")
        print(f"    pass a store     {q['pass_s_1k'] * 1e3:8.2f} ms for 1,000 entries, "
              f"{q['pass_s_full'] * 1e3:.2f} ms for {result['entries']:,} (task round trip)")
        print(f"    memory growth    {q['frost_rss_growth'] / mb:8.1f} MB  vs {q['pickle_rss_growth'] / mb:8.1f} MB"
              f"  (RSS, {w} workers: {q['frost_rss_growth'] / w / mb:.1f} vs "
              f"{q['pickle_rss_growth'] / w / mb:.1f} MB each)")
        for k in sorted(q["frost_rate"]):
            f_rate, p_rate = q["frost_rate"][k], q["pickle_rate"][k]
            print(f"    lookups, N={k:<3d} {f_rate / mb:8.2f} M/s vs {p_rate / mb:8.2f} M/s"
                  f"  ({f_rate / p_rate:.2f}x)")

if __name__ == "__main__":
    main()
