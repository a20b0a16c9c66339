"""Issue 16's figures: W1 on a Dask cluster of 2 nodes x 2 worker processes,
frost.dask.share() against client.scatter(broadcast=True) of the plain dict
and against each task loading the data itself (a pickle file), in one run.

    PYTHONPATH=build/dev-py3.13/python .venv/py3.13/bin/python bench/dask_bench.py [--small]

The cluster is real: a `dask scheduler` and two `dask worker --nworkers 2`
groups on 127.0.0.1, each group a "node" with its own FROST_DASK_DIR
(tests/python/daskcluster.py). Per method:
- bytes: snapshot/data bytes that reached workers (frost: counted where they
  are written, frost.dask.stats(); scatter: pickled size x workers; self-load:
  file size x workers read from the shared disk) and the loopback interface's
  byte counter over the phase (everything on the wire, scheduler chatter too);
- setup: from the call until every worker can read;
- USS per worker: private memory growth of each worker process for the data;
- lookups: 1M (--small: 100k) random lookups per worker, all workers at once,
  lookups/s per worker; and for frost a refresh to version 2 while lookups run.
"""
import argparse
import json
import os
import pickle
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "tests", "python")]

import workloads  # noqa: E402


# ---- in the workers ----------------------------------------------------------

def uss():
    import psutil
    return psutil.Process().memory_full_info().uss


def lookups(data, wid, ops):
    """-> (seconds, checksum) of `ops` random lookups of W1 (workloads.work)."""
    return workloads.work(data, "W1", wid, 4, ops)


def frost_lookups(name, wid, ops):
    import frost.dask
    return lookups(frost.dask.get(name), wid, ops)


def frost_version(name):
    import frost.dask
    return frost.dask.stats()["versions"].get(name)


def touch(data):
    return len(data)


def self_load_lookups(path, wid, ops):
    """Each task loads the data itself: -> (load s, USS growth, lookup s, checksum)."""
    import gc
    gc.collect()
    before = uss()
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        data = pickle.load(f)
    load = time.perf_counter() - t0
    grew = uss() - before
    seconds, total = lookups(data, wid, ops)
    return load, grew, seconds, total


# ---- in the client -----------------------------------------------------------

def lo_bytes():
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                return int(rest.split()[0])   # received on loopback = sent on loopback
    return 0


def per_worker_lookups(client, addrs, fn, args_of, ops):
    futs = [client.submit(fn, *args_of(i), ops, workers=[a], allow_other_workers=False,
                          pure=False) for i, a in enumerate(addrs)]
    out = client.gather(futs)
    return [ops / r[-2] for r in out], out


def phase(what, _t0=time.perf_counter()):
    print(f"[{time.perf_counter() - _t0:7.1f} s] {what}", file=sys.stderr, flush=True)


def mib(n):
    return round(n / 2**20, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="100k entries and lookups (smoke)")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--ops", type=int, default=None)
    ap.add_argument("--json", help="append the results as one JSON line to this file")
    args = ap.parse_args()
    size = args.size or (100_000 if args.small else 1_000_000)
    ops = args.ops or (100_000 if args.small else 1_000_000)

    import distributed
    import dask
    import frost
    import frost.dask
    import daskcluster

    tmp = tempfile.mkdtemp(prefix="frost-dask-bench-")
    nodes = daskcluster.LocalNodes(tmp, pythonpath=[HERE], connect_timeout="30s")
    result = {"size": size, "ops": ops, "nodes": 2, "workers_per_node": 2,
              "python": sys.version.split()[0], "cpus": os.cpu_count()}
    try:
        nodes.start_scheduler()
        for label in ("nodeA", "nodeB"):
            nodes.start_node(label, 2, nthreads=1)
        client = distributed.Client(scheduler_file=nodes.scheduler_file, timeout=60)
        addrs = daskcluster.wait_workers(client, 4)

        data = workloads.make("W1", size)
        blob = pickle.dumps(data, 5)
        pickle_path = os.path.join(tmp, "w1.pickle")
        with open(pickle_path, "wb") as f:
            f.write(blob)
        snap = os.path.join(tmp, "w1.frost")
        snap2 = os.path.join(tmp, "w1-v2.frost")
        data2 = dict(data)
        data2["key0000000"] = (-1, -0.5, "version 2")   # other bytes: a real transfer
        for path, d in ((snap, data), (snap2, data2)):
            with frost.freeze(d) as store:
                store.save(path)
        del data2
        result["pickle_bytes"] = len(blob)
        result["snapshot_bytes"] = os.path.getsize(snap)
        loaded = frost.load(snap)   # Store: format 1 (copied); MappedStore: format 2 (mapped)
        result["loads_as"] = type(loaded).__name__
        del loaded

        # -- frost.dask
        phase("frost.dask.share")
        base = client.run(uss)
        lo0, before = lo_bytes(), client.run(frost.dask.stats)
        t0 = time.perf_counter()
        report = frost.dask.share(client, snap, "w1")
        setup = time.perf_counter() - t0
        lo = lo_bytes() - lo0
        after = client.run(frost.dask.stats)
        grown = {a: u - base[a] for a, u in client.run(uss).items()}
        rates, _ = per_worker_lookups(client, addrs, frost_lookups, lambda i: ("w1", i), ops)
        result["frost"] = {
            "bytes_to_nodes": report.bytes_sent,
            "bytes_received_per_worker": [after[a]["bytes_received"] - before[a]["bytes_received"]
                                          for a in addrs],
            "loopback_bytes": lo, "setup_s": round(setup, 3),
            "uss_growth_mib_per_worker": [mib(grown[a]) for a in addrs],
            "uss_pct_of_store": [round(100 * grown[a] / result["snapshot_bytes"], 1)
                                 for a in addrs],
            "lookups_per_s_per_worker": [round(r) for r in rates]}
        phase("frost refresh under load")
        # refresh to version 2 while every worker runs lookups on version 1
        long_ops = ops * 3
        futs = [client.submit(frost_lookups, "w1", i, long_ops, workers=[a],
                              allow_other_workers=False, pure=False)
                for i, a in enumerate(addrs)]
        time.sleep(0.5)
        t0 = time.perf_counter()
        report2 = frost.dask.share(client, snap2, "w1")
        refresh = time.perf_counter() - t0
        busy_during = sum(not f.done() for f in futs)
        out = client.gather(futs)
        versions = client.run(frost_version, "w1")
        result["frost"]["refresh"] = {
            "seconds": round(refresh, 3), "bytes_to_nodes": report2.bytes_sent,
            "tasks_still_running_when_done": busy_during,
            "lookups_per_s_per_worker_during": [round(long_ops / s) for s, _ in out],
            "versions_after": sorted(set(versions.values()))}
        phase("unshare")
        frost.dask.unshare(client, "w1")

        phase("scatter(broadcast=True)")
        # -- client.scatter(broadcast=True) of the plain dict
        client.run(lambda: __import__("gc").collect())
        base = client.run(uss)
        lo0 = lo_bytes()
        t0 = time.perf_counter()
        # client.scatter([data], broadcast=True) did not finish in minutes on this box
        # (the scheduler's replicate step, distributed 2026.8.0); the same bytes and the
        # same deserialized copy per worker: one direct scatter to each worker
        fut = [client.scatter([data], workers=[a], hash=False, direct=True)[0] for a in addrs]
        how = "one scatter([data], workers=[w], direct=True) per worker"
        futs = fut if isinstance(fut, list) else [fut] * len(addrs)
        client.gather([client.submit(touch, f, workers=[a], allow_other_workers=False,
                                     pure=False) for f, a in zip(futs, addrs)])
        setup = time.perf_counter() - t0
        lo = lo_bytes() - lo0
        grown = {a: u - base[a] for a, u in client.run(uss).items()}
        rates, _ = per_worker_lookups(client, addrs, lookups, lambda i: (futs[i], i), ops)
        result["scatter_broadcast"] = {"how": how,
            "bytes_to_workers": len(blob) * len(addrs), "loopback_bytes": lo,
            "setup_s": round(setup, 3),
            "uss_growth_mib_per_worker": [mib(grown[a]) for a in addrs],
            "lookups_per_s_per_worker": [round(r) for r in rates]}
        del fut, futs

        phase("each task loads itself")
        # -- each task loads the data itself (pickle file on a shared disk)
        client.run(lambda: __import__("gc").collect())
        lo0 = lo_bytes()
        t0 = time.perf_counter()
        futs = [client.submit(self_load_lookups, pickle_path, i, ops, workers=[a],
                              allow_other_workers=False, pure=False) for i, a in enumerate(addrs)]
        out = client.gather(futs)
        result["task_loads_itself"] = {
            "bytes_read_per_worker": len(blob), "loopback_bytes": lo_bytes() - lo0,
            "setup_s_per_worker": [round(r[0], 3) for r in out],
            "uss_growth_mib_per_worker": [mib(r[1]) for r in out],
            "lookups_per_s_per_worker": [round(ops / r[2]) for r in out]}
        client.close()
    finally:
        nodes.close()
        import shutil
        shutil.rmtree(tmp, True)
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    import faulthandler
    import signal
    faulthandler.register(signal.SIGUSR1, all_threads=True)   # `timeout -s USR1`: where it hangs
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))    # `timeout`: close the cluster first
    main()
