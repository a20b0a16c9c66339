"""Snapshots: save/load time and file size next to pickle, and the memory each
extra process pays when N processes load the same snapshot.

W1 (bench/demo.py, DESIGN §5): a dict of N keys f"key{i:07d}" -> (i, i*0.5,
f"val{i}"). Also W3-like numeric data (a list of floats, packed in the
snapshot's bulk section, which loads zero-copy) to show what is shared.

Memory: N spawn workers each frost.load() the file, touch the data (one
lookup per 1,000 keys, or a full sum for the numeric list), then report
PSS from /proc/self/smaps_rollup; the parent does the same with 1 process.
"extra per process" = (PSS of N workers - N * PSS of an idle worker) / N:
what each reader costs beyond an interpreter with frost imported.

Sharing without a file: N forked children each scan a W1 store frozen in
the parent (lifetime="process": sealed, immortal, never written) next to the
plain dict (refcount writes copy its pages into every child); reported as
the private memory (Private_Clean + Private_Dirty) the scan adds per child.

Usage: python bench/snapshot_bench.py [--entries N] [--procs 4] [--json]
Prints one JSON object with --json. Timings are best of --repeat runs.
"""
import argparse
import gc
import json
import multiprocessing
import os
import pickle
import platform
import tempfile
import time

import frost


def make_w1(n):
    return {f"key{i:07d}": (i, i * 0.5, f"val{i}") for i in range(n)}


def make_w3(n):
    return {"values": [i * 0.25 for i in range(n)]}


def pss_kib():
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def private_kib():
    """Memory only this process holds (Private_Clean + Private_Dirty)."""
    total = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


_FORK_DATA = None   # what forked readers inherit (set in the parent before forking)


def fork_reader(barrier, results):
    """In a forked child: scan every value of the inherited data; put the
    private memory the scan cost this child (KiB) on `results`."""
    gc.collect()
    before = private_kib()
    total = 0.0
    for value in _FORK_DATA.values():
        total += value[1]
    assert total >= 0
    after = private_kib()
    barrier.wait()          # every child holds its pages while the others measure
    results.put(after - before)


def measure_fork(data, procs):
    """Forked readers of one in-memory dataset: a process-lifetime frost store
    (sealed, immortal objects: reading writes nothing) vs the plain dict
    (every read writes refcounts, so pages are copied into each child)."""
    global _FORK_DATA
    ctx = multiprocessing.get_context("fork")
    out = {}
    store = frost.freeze(data, lifetime="process")
    for name, obj in (("frost", store.root), ("dict", data)):
        _FORK_DATA = obj
        barrier, results = ctx.Barrier(procs), ctx.Queue()
        children = [ctx.Process(target=fork_reader, args=(barrier, results)) for _ in range(procs)]
        for c in children:
            c.start()
        costs = [results.get(timeout=600) for _ in children]
        for c in children:
            c.join()
        out[name + "_private_mib_per_child"] = sum(costs) / procs / 1024
    _FORK_DATA = None
    return out


def best(repeat, fn):
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        del result
    return min(times)


def worker(args):
    """In a spawn worker: PSS before, load + touch, PSS after, load time."""
    path, kind, barrier = args
    gc.collect()
    idle = pss_kib()
    t0 = time.perf_counter()
    if path is None:
        store = None
    else:
        store = frost.load(path)
        root = store.root
        if kind == "w1":
            n = len(root)
            total = sum(root[f"key{i:07d}"][1] for i in range(0, n, 1000))
        else:
            total = sum(root["values"])
        assert total >= 0
    load_s = time.perf_counter() - t0
    barrier.wait()          # every worker holds its store while PSS is read
    pss = pss_kib()
    barrier.wait()
    return idle, pss, load_s


def measure_procs(path, kind, procs):
    ctx = multiprocessing.get_context("spawn")
    with multiprocessing.Manager() as mgr:
        barrier = mgr.Barrier(procs)
        with ctx.Pool(procs) as pool:
            rows = pool.map(worker, [(path, kind, barrier)] * procs, chunksize=1)
    idle = [r[0] for r in rows]
    loaded = [r[1] for r in rows]
    return {
        "procs": procs,
        "pss_idle_kib": idle,
        "pss_loaded_kib": loaded,
        "extra_per_process_mib": (sum(loaded) - sum(idle)) / procs / 1024,
        "worker_load_s": [r[2] for r in rows],
    }


def run(kind, data, tmp, repeat, procs):
    path = os.path.join(tmp, f"{kind}.frost")
    ppath = os.path.join(tmp, f"{kind}.pickle")
    store = frost.freeze(data, lifetime="process")
    out = {"arena_bytes": store.nbytes}
    out["save_s"] = best(repeat, lambda: store.save(path))
    out["file_bytes"] = os.path.getsize(path)

    def pdump():
        with open(ppath, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    out["pickle_dump_s"] = best(repeat, pdump)
    out["pickle_bytes"] = os.path.getsize(ppath)

    loaded = []
    def load():
        s = frost.load(path, lifetime="scoped")
        loaded.append(s.nbytes)
        s.close()
    out["load_s"] = best(repeat, load)

    def pload():
        with open(ppath, "rb") as f:
            return pickle.load(f)
    out["pickle_load_s"] = best(repeat, pload)
    # the same with a different hash seed is measured by the workers (spawn
    # children get a random seed unless PYTHONHASHSEED is set)
    out["memory"] = measure_procs(path, kind, procs)
    out["memory_baseline_1proc"] = measure_procs(path, kind, 1)
    os.unlink(ppath)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--floats", type=int, default=4_000_000)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "allocator": frost._frost.allocator,
        "hashseed": os.environ.get("PYTHONHASHSEED", "random"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["w1"] = run("w1", make_w1(args.entries), tmp, args.repeat, args.procs)
        result["w1"]["entries"] = args.entries
        result["w1"]["fork"] = measure_fork(make_w1(args.entries), args.procs)
        result["w3"] = run("w3", make_w3(args.floats), tmp, args.repeat, args.procs)
        result["w3"]["floats"] = args.floats
    if args.json:
        print(json.dumps(result))
        return
    print(f"frost snapshots: Python {result['python']}, {result['cpus']} CPUs, "
          f"arena backend {result['allocator']}, PYTHONHASHSEED={result['hashseed']}")
    for name in ("w1", "w3"):
        r = result[name]
        m = r["memory"]
        print(f"  {name}: file {r['file_bytes'] / 1e6:7.1f} MB (pickle {r['pickle_bytes'] / 1e6:7.1f} MB), "
              f"arena {r['arena_bytes'] / 1e6:7.1f} MB")
        print(f"      save  {r['save_s']:7.3f} s   pickle.dump {r['pickle_dump_s']:7.3f} s")
        print(f"      load  {r['load_s']:7.3f} s   pickle.load {r['pickle_load_s']:7.3f} s   "
              f"(workers, other seed: {min(m['worker_load_s']):.3f} s)")
        print(f"      {m['procs']} processes: {m['extra_per_process_mib']:7.1f} MiB PSS each beyond an idle "
              f"worker (1 process alone: {r['memory_baseline_1proc']['extra_per_process_mib']:.1f} MiB)")
        if "fork" in r:
            f = r["fork"]
            print(f"      {m['procs']} forked readers of one in-memory copy, full scan: "
                  f"{f['frost_private_mib_per_child']:7.1f} MiB private each (frost store) vs "
                  f"{f['dict_private_mib_per_child']:7.1f} MiB (plain dict)")


if __name__ == "__main__":
    main()
