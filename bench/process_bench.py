"""Issue 13's figures: stores shared across processes (format 2, mapped in place), each
next to its baseline measured in the same run.

  (a) load      frost.load of W1's format-2 file and of a store 10x its size (O(1): the
                pair), against today's format-1 load of W1.
  (b) procs     N spawned processes (ProcessPoolExecutor), each with its own random hash
                seed, do `--lookups` random W1 lookups on one store passed as a saved
                file and as a shared-memory store (frost.share): private memory (USS) each
                as % of the store, against spawn + pickle of the plain dict, fork of the
                plain dict and today's format-1 frost.load in every process.
  (c) speed     in one spawned process (a hash seed other than the writer's): W1 lookups
                through the mapped store / the plain dict, and a W2 scan (1M 4-tuples)
                through a mapped store / the plain list, as ratios of the same run.
  (d) loader    DataLoader-style: N worker processes (fork and spawn) each read their
                shard of a random permutation of a 1M-record list for one epoch: USS growth
                per worker, plain list (copy-on-read; a pickled copy under spawn) against
                the frost mapped list (and the process-lifetime arena under fork).
  (e) freeze    frost.share (freeze into shared memory) against frost.freeze, and W1's
                format-2 file size against len(pickle.dumps(data, 5)) (and format 1's).

USS = Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup. Every process measures
while all N hold their data (a barrier), so pages read by all of them count as shared.
Workers' seeds: PYTHONHASHSEED is removed from the environment the children inherit, so
each draws its own; the run reports how many distinct hash("frost") values they saw.

A frost part that the build does not have yet (frost.share, Store.save(format=2),
frost.load of a format-2 file) is reported as {"missing": "..."}, never estimated.

Usage: python bench/process_bench.py [--small] [--procs 2] [--entries N] [--records N]
                                     [--big 10] [--json] [--no-write] [--out DIR]
--small: small sizes for CI smoke (< 60 s); --require-all: exit 1 when a part is missing
or failed. The JSON document goes to bench/results/<--machine>/process_bench-<stamp>.json
unless --no-write.
"""
import argparse
import concurrent.futures
import datetime
import gc
import json
import multiprocessing
import os
import pickle
import platform
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import workloads  # noqa: E402

import frost  # noqa: E402

MiB = 1024 * 1024
BARRIER_TIMEOUT = 900
# a stride that visits every index of a list of n once (n not a multiple of it: n is a
# round number in this benchmark), in an order with no locality
PERM_STRIDE = 1_000_003


# -- memory ----------------------------------------------------------------------------
def smaps(pid="self"):
    """{field: KiB} of /proc/<pid>/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def uss_bytes(pid="self"):
    """Memory only this process holds: Private_Clean + Private_Dirty."""
    s = smaps(pid)
    return (s.get("Private_Clean", 0) + s.get("Private_Dirty", 0)) * 1024


def pss_bytes(pid="self"):
    return smaps(pid).get("Pss", 0) * 1024


def seed_probe():
    """Differs between two processes iff their str hash seeds differ (as good as)."""
    return hash("frost-seed-probe")


# -- what this build of frost can do (siblings' parts of issue 13) -----------------------
def save_v2(store, path):
    """Store.save(path, format=2); the reason when this build can't."""
    try:
        store.save(path, format=2)
    except TypeError as e:
        return f"Store.save(format=2) not in this build ({e})"
    with open(path, "rb") as f:
        if f.read(8) != b"FROSTMAP":
            return "Store.save(format=2) did not write a format-2 image"
    return None


def save_v1(store, path):
    try:
        store.save(path, format=1)
    except TypeError:
        store.save(path)    # a build before format 2: format 1 is the only one
    with open(path, "rb") as f:
        assert f.read(8) != b"FROSTMAP"


def load_v2(path):
    """frost.load of a format-2 file: a MappedStore (exception if the build can't)."""
    return frost.load(path)


def share(obj):
    fn = getattr(frost, "share", None)
    if fn is None:
        raise NotImplementedError("frost.share not in this build")
    return fn(obj)


def close(store):
    if store is not None and hasattr(store, "close"):
        store.close()


def best(repeat, fn, cleanup=None):
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t0)
        if cleanup is not None:
            cleanup(r)
        del r
    return min(times)


# -- (a) load time ---------------------------------------------------------------------
def bench_load(cfg, tmp, w1_store):
    out = {}
    p1 = os.path.join(tmp, "w1.v1.frost")
    save_v1(w1_store, p1)
    out["v1_w1_file_bytes"] = os.path.getsize(p1)
    out["v1_w1_load_s"] = best(cfg.repeat, lambda: frost.load(p1, lifetime="scoped"), close)
    os.unlink(p1)

    p2 = os.path.join(tmp, "w1.v2.frost")
    missing = save_v2(w1_store, p2)
    if missing:
        out["v2"] = {"missing": missing}
        return out
    big_entries = cfg.entries * cfg.big
    pb = os.path.join(tmp, "big.v2.frost")
    data = workloads.make("W1", big_entries)
    big = frost.freeze(data)
    del data
    gc.collect()
    save_v2(big, pb)
    big.close()
    del big
    gc.collect()
    v2 = {"w1_file_bytes": os.path.getsize(p2), "big_entries": big_entries,
          "big_file_bytes": os.path.getsize(pb)}
    try:
        for name, path in (("w1", p2), ("big", pb)):
            # open + map + header check (what frost.load does for format 2), then the
            # first lookup on top of it (the root's table is touched for the first time)
            v2[f"{name}_load_s"] = best(cfg.load_repeat, lambda: load_v2(path), close)

            def first_lookup():
                s = load_v2(path)
                s.root["key0000000"]
                return s
            v2[f"{name}_load_lookup_s"] = best(cfg.load_repeat, first_lookup, close)
    except Exception as e:   # noqa: BLE001 - the build's reader isn't there (yet)
        v2 = {"missing": f"frost.load of a format-2 file: {type(e).__name__}: {e}"}
    os.unlink(pb)
    out["v2"] = v2
    if "w1_load_s" in v2:
        v2["big_over_w1"] = v2["big_load_s"] / v2["w1_load_s"]
        v2["v1_over_v2_w1"] = out["v1_w1_load_s"] / v2["w1_load_s"]
    return out


# -- (b) N spawned processes, random lookups on one W1 ---------------------------------
_W = {}   # per worker process: barrier, idle USS


def worker_init(barrier):
    """ProcessPoolExecutor initializer (the barrier crosses by inheritance, as
    synchronization primitives must): the worker's USS before it holds any data."""
    gc.collect()
    _W["barrier"], _W["idle"] = barrier, uss_bytes()


def lookups(data, size, ops, wid):
    """`ops` lookups of random keys (made on the fly: no key list held), summing a field."""
    x = 0x9E3779B97F4A7C15 ^ (wid + 1)
    total = 0.0
    t0 = time.perf_counter()
    for _ in range(ops):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        total += data[f"key{(x >> 33) % size:07d}"][1]
    return time.perf_counter() - t0, total


def lookup_task(source, kind, size, ops, wid):
    """One worker of (b): attach/load/unpickle `source`, run the lookups, then (all N
    workers holding their data) report USS beyond the worker's idle USS."""
    store = None
    if kind == "v2file":
        store = load_v2(source)
        data = store.root
    elif kind == "v1file":
        store = frost.load(source, lifetime="scoped")
        data = store.root
    elif kind == "fork":
        data = _FORK_DATA
    else:          # "shared" (a mapped view, unpickled from a handle) or "pickle" (a dict)
        data = source
    secs, total = lookups(data, size, ops, wid)
    gc.collect()
    _W["barrier"].wait(BARRIER_TIMEOUT)    # every worker holds its data and pages now
    uss, pss = uss_bytes(), pss_bytes()
    _W["barrier"].wait(BARRIER_TIMEOUT)    # ... until every one has measured
    del data
    close(store)
    return {"uss_extra": uss - _W["idle"], "pss": pss, "lookup_s": secs, "checksum": total,
            "seed": seed_probe(), "pid": os.getpid()}


_FORK_DATA = None   # what fork-context workers inherit


def run_lookup_procs(cfg, kind, source, method):
    ctx = multiprocessing.get_context(method)
    barrier = ctx.Barrier(cfg.procs)
    with concurrent.futures.ProcessPoolExecutor(cfg.procs, mp_context=ctx, initializer=worker_init,
                                                initargs=(barrier,)) as ex:
        futs = [ex.submit(lookup_task, source, kind, cfg.entries, cfg.lookups, w)
                for w in range(cfg.procs)]
        rows = [f.result() for f in futs]
    assert len({r["pid"] for r in rows}) == cfg.procs
    assert len({r["checksum"] for r in rows}) >= 1
    return rows


def summarize_procs(rows, store_bytes):
    uss = [r["uss_extra"] for r in rows]
    return {"uss_extra_mib": [u / MiB for u in uss],
            "pss_mib": [r["pss"] / MiB for r in rows],
            "uss_extra_mean_mib": sum(uss) / len(uss) / MiB,
            "uss_pct_of_store": 100.0 * sum(uss) / len(uss) / store_bytes,
            "lookup_s": [r["lookup_s"] for r in rows],
            "distinct_seeds": len({r["seed"] for r in rows})}


def bench_procs(cfg, tmp, data, w1_store, v2_path):
    global _FORK_DATA
    out = {"procs": cfg.procs, "lookups": cfg.lookups}
    store_bytes = os.path.getsize(v2_path) if v2_path else None
    p1 = os.path.join(tmp, "w1.procs.v1.frost")
    save_v1(w1_store, p1)
    if store_bytes is None:
        store_bytes = os.path.getsize(p1)
        out["store_bytes_is"] = "format-1 file (no format-2 writer in this build)"
    out["store_bytes"] = store_bytes
    out["writer_seed"] = seed_probe()
    cells = [("spawn_pickle_dict", "pickle", data, "spawn"),
             ("fork_dict", "fork", None, "fork"),
             ("spawn_v1_file_load", "v1file", p1, "spawn")]
    if v2_path:
        cells.append(("spawn_v2_file", "v2file", v2_path, "spawn"))
    else:
        out["spawn_v2_file"] = {"missing": "no format-2 file (Store.save(format=2))"}
    shared = None
    try:
        shared = share(w1_store)
        cells.append(("spawn_shared_memory", "shared", shared.root, "spawn"))
    except Exception as e:   # noqa: BLE001
        out["spawn_shared_memory"] = {"missing": f"{type(e).__name__}: {e}"}
    for name, kind, source, method in cells:
        _FORK_DATA = data if kind == "fork" else None
        gc.collect()
        try:
            out[name] = summarize_procs(run_lookup_procs(cfg, kind, source, method), store_bytes)
        except Exception as e:   # noqa: BLE001 - a sibling's part failing is a result too
            out[name] = {"failed": f"{type(e).__name__}: {e}"}
        print(f"  (b) {name}: {out[name]}", file=sys.stderr, flush=True)
    _FORK_DATA = None
    close(shared)
    os.unlink(p1)
    return out


# -- (c) speed in a process with another hash seed ---------------------------------------
def speed_child(paths, entries, ops, repeat, writer_seed, conn):
    """In one spawned process: best-of-`repeat` times of W1 lookups and W2 scans, plain
    containers (unpickled here) against the mapped stores, alternating."""
    res = {"seed_differs_from_writer": seed_probe() != writer_seed}
    try:
        with open(paths["w1_pickle"], "rb") as f:
            w1 = pickle.load(f)
        with open(paths["w2_pickle"], "rb") as f:
            w2 = pickle.load(f)
        contenders = {"w1": {"plain": w1}, "w2": {"plain": w2}}
        stores = []
        for wl in ("w1", "w2"):
            if paths.get(f"{wl}_v1"):
                s = frost.load(paths[f"{wl}_v1"], lifetime="scoped")
                stores.append(s)
                contenders[wl]["v1_scoped"] = s.root
            if paths.get(f"{wl}_v2"):
                try:
                    s = load_v2(paths[f"{wl}_v2"])
                    stores.append(s)
                    contenders[wl]["mapped"] = s.root
                except Exception as e:   # noqa: BLE001
                    res[f"{wl}_mapped_missing"] = f"{type(e).__name__}: {e}"
        keys = workloads._keys(0, entries, ops, False)
        times = {wl: {name: [] for name in c} for wl, c in contenders.items()}
        sums = {wl: {} for wl in contenders}
        for _ in range(repeat):
            for wl, c in contenders.items():
                for name, obj in c.items():
                    gc.collect()
                    t0 = time.perf_counter()
                    if wl == "w1":
                        total = 0.0
                        for k in keys:
                            total += obj[k][1]
                    else:
                        total = 0.0
                        for a, b, cc, d in obj:
                            total += a + b + cc + d
                    times[wl][name].append(time.perf_counter() - t0)
                    sums[wl][name] = total
        for wl in times:
            assert len(set(sums[wl].values())) == 1, sums[wl]
            res[wl] = {name: min(t) for name, t in times[wl].items()}
            for name in list(res[wl]):
                if name != "plain":
                    res[wl][f"{name}_over_plain"] = res[wl][name] / res[wl]["plain"]
        del contenders, w1, w2
        for s in stores:
            close(s)
    except Exception as e:   # noqa: BLE001
        res["failed"] = f"{type(e).__name__}: {e}"
    conn.send(res)


def bench_speed(cfg, tmp, data, w1_store, v2_path):
    paths = {"w1_pickle": os.path.join(tmp, "w1.pickle"), "w2_pickle": os.path.join(tmp, "w2.pickle"),
             "w1_v1": os.path.join(tmp, "w1.speed.v1.frost"), "w1_v2": v2_path,
             "w2_v1": os.path.join(tmp, "w2.speed.v1.frost")}
    with open(paths["w1_pickle"], "wb") as f:
        pickle.dump(data, f, 5)
    w2 = workloads.make("W2", cfg.w2_entries)
    with open(paths["w2_pickle"], "wb") as f:
        pickle.dump(w2, f, 5)
    w2_store = frost.freeze(w2)
    del w2
    save_v1(w1_store, paths["w1_v1"])
    save_v1(w2_store, paths["w2_v1"])
    p = os.path.join(tmp, "w2.speed.v2.frost")
    paths["w2_v2"] = None if save_v2(w2_store, p) else p
    w2_store.close()
    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=speed_child, args=(paths, cfg.entries, cfg.lookups, cfg.repeat,
                                                 seed_probe(), send))
    proc.start()
    send.close()
    out = recv.recv()
    proc.join()
    out["w2_entries"] = cfg.w2_entries
    if not v2_path:
        out.setdefault("w1_mapped_missing", "no format-2 file (Store.save(format=2))")
    if not paths["w2_v2"]:
        out.setdefault("w2_mapped_missing", "no format-2 file (Store.save(format=2))")
    for key, path in paths.items():
        if path and key != "w1_v2":
            os.unlink(path)
    return out


# -- (d) DataLoader-style epoch ----------------------------------------------------------
def loader_worker(source, kind, wid, nworkers, barrier, conn):
    """One DataLoader worker: its shard (every nworkers-th position) of a permutation of
    the records, each sample read field by field; USS at 0/25/50/75/100 % of the shard."""
    gc.collect()
    idle = uss_bytes()
    store = None
    if kind == "fork":
        data = _FORK_DATA
    elif kind == "pickle":
        data = pickle.loads(source)
        del source
    else:          # "shared": a mapped view (unpickled from a handle under spawn)
        data = source
    gc.collect()
    start = uss_bytes()
    n = len(data)
    shard = range(wid, n, nworkers)
    marks = {len(shard) * q // 4: q for q in (1, 2, 3, 4)}
    curve = [0]
    total = 0.0
    t0 = time.perf_counter()
    for step, pos in enumerate(shard, 1):
        a, b, c, d = data[(pos * PERM_STRIDE) % n]
        total += a + b + c + d
        if step in marks:
            curve.append(uss_bytes() - start)
    secs = time.perf_counter() - t0
    barrier.wait(BARRIER_TIMEOUT)
    end = uss_bytes() - start
    barrier.wait(BARRIER_TIMEOUT)
    del data
    close(store)
    conn.send({"attach_uss": start - idle, "growth": end, "curve": curve, "epoch_s": secs,
               "checksum": total})


def run_loader(cfg, kind, method, source):
    ctx = multiprocessing.get_context(method)
    barrier = ctx.Barrier(cfg.procs)
    procs, pipes = [], []
    for w in range(cfg.procs):
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=loader_worker, args=(source, kind, w, cfg.procs, barrier, send))
        p.start()
        send.close()
        procs.append(p)
        pipes.append(recv)
    rows = [r.recv() for r in pipes]
    for p in procs:
        p.join()
    return {"growth_mib": [r["growth"] / MiB for r in rows],
            "growth_mean_mib": sum(r["growth"] for r in rows) / len(rows) / MiB,
            "attach_mib": [r["attach_uss"] / MiB for r in rows],
            "curve_mib": [[c / MiB for c in r["curve"]] for r in rows],
            "epoch_s": [r["epoch_s"] for r in rows]}


def bench_loader(cfg):
    global _FORK_DATA
    data = workloads.make("W2", cfg.records)
    out = {"records": cfg.records, "workers": cfg.procs}
    cells = [("plain_fork", "fork", "fork", data), ("plain_spawn_pickle", "pickle", "spawn", None)]
    arena = frost.freeze(data, lifetime="process")
    cells.append(("frost_arena_fork", "fork", "fork", arena.root))
    shared = None
    try:
        shared = share(data)
        cells.append(("frost_mapped_fork", "fork", "fork", shared.root))
        cells.append(("frost_mapped_spawn", "shared", "spawn", shared.root))
    except Exception as e:   # noqa: BLE001
        out["frost_mapped"] = {"missing": f"{type(e).__name__}: {e}"}
    for name, kind, method, obj in cells:
        _FORK_DATA = obj if kind == "fork" else None
        source = pickle.dumps(data, 5) if kind == "pickle" else (obj if kind == "shared" else None)
        gc.collect()
        try:
            out[name] = run_loader(cfg, kind, method, source)
        except Exception as e:   # noqa: BLE001
            out[name] = {"failed": f"{type(e).__name__}: {e}"}
        del source
        print(f"  (d) {name}: {out[name].get('growth_mean_mib', out[name])}", file=sys.stderr,
              flush=True)
    _FORK_DATA = None
    close(shared)
    return out


# -- (e) freeze into shared memory, sizes -------------------------------------------------
def bench_freeze(cfg, data, v2_path, v1_bytes):
    # freeze and share alternate, best of `repeat` each: on a shared box the load drifts,
    # and two blocks of runs would compare two different loads
    freeze_s, share_s = [], []
    out = {}
    for _ in range(cfg.repeat):
        freeze_s.append(best(1, lambda: frost.freeze(data), close))
        if "share" not in out:
            try:
                share_s.append(best(1, lambda: share(data), close))
            except Exception as e:   # noqa: BLE001
                out["share"] = {"missing": f"{type(e).__name__}: {e}"}
    out["freeze_s"] = min(freeze_s)
    if share_s:
        out["share_s"] = min(share_s)
        out["share_over_freeze"] = out["share_s"] / out["freeze_s"]
    out["pickle5_bytes"] = len(pickle.dumps(data, 5))
    out["v1_file_bytes"] = v1_bytes
    out["v1_over_pickle"] = v1_bytes / out["pickle5_bytes"]
    if v2_path:
        out["v2_file_bytes"] = os.path.getsize(v2_path)
        out["v2_over_pickle"] = out["v2_file_bytes"] / out["pickle5_bytes"]
    else:
        out["v2_file"] = {"missing": "Store.save(format=2) not in this build"}
    return out


# -- driver ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="CI smoke sizes (< 60 s)")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--entries", type=int, help="W1 entries (default 1,000,000; --small 20,000)")
    ap.add_argument("--lookups", type=int, help="lookups per process (default = entries)")
    ap.add_argument("--records", type=int, help="(d) list records (default 1,000,000)")
    ap.add_argument("--big", type=int, default=10, help="(a) the larger store, x W1's entries")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parts", default="a,b,c,d,e")
    ap.add_argument("--json", action="store_true", help="print the JSON document")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--machine", default="dev-2core")
    ap.add_argument("--require-all", action="store_true",
                    help="exit 1 if a frost part is missing or failed (CI smoke)")
    cfg = ap.parse_args()
    default = 20_000 if cfg.small else 1_000_000
    cfg.entries = cfg.entries or default
    cfg.lookups = cfg.lookups or cfg.entries
    cfg.records = cfg.records or default
    cfg.w2_entries = cfg.records
    cfg.load_repeat = max(cfg.repeat, 5)
    parts = set(cfg.parts.split(","))
    # every child draws its own hash seed (the writer's is this process's)
    os.environ.pop("PYTHONHASHSEED", None)

    result = {"python": platform.python_version(), "host": socket.gethostname(),
              "cpus": os.cpu_count(), "small": cfg.small, "entries": cfg.entries,
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join([os.path.basename(sys.executable)] + sys.argv)}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="frost-process-bench-") as tmp:
        data = workloads.make("W1", cfg.entries)
        w1_store = frost.freeze(data)
        v2_path = os.path.join(tmp, "w1.v2.frost")
        if save_v2(w1_store, v2_path):
            v2_path = None
        p1 = os.path.join(tmp, "w1.size.v1.frost")
        save_v1(w1_store, p1)
        v1_bytes = os.path.getsize(p1)
        os.unlink(p1)
        steps = [("a", "load", lambda: bench_load(cfg, tmp, w1_store)),
                 ("e", "freeze", lambda: bench_freeze(cfg, data, v2_path, v1_bytes)),
                 ("c", "speed", lambda: bench_speed(cfg, tmp, data, w1_store, v2_path)),
                 ("b", "procs", lambda: bench_procs(cfg, tmp, data, w1_store, v2_path)),
                 ("d", "loader", lambda: bench_loader(cfg))]
        for letter, name, fn in steps:
            if letter not in parts:
                continue
            t0 = time.perf_counter()
            result[name] = fn()
            result[name]["bench_s"] = time.perf_counter() - t0
            print(f"({letter}) {name}: {json.dumps(result[name])}", file=sys.stderr, flush=True)
        w1_store.close()
    result["total_s"] = time.perf_counter() - t_all
    doc = json.dumps(result, indent=1)
    if cfg.json:
        print(doc)
    else:
        report(result)
    if not cfg.no_write:
        d = os.path.join(HERE, "results", cfg.machine)
        os.makedirs(d, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = os.path.join(d, f"process_bench-{'small-' if cfg.small else ''}{stamp}.json")
        with open(path, "w") as f:
            f.write(doc + "\n")
        print(f"wrote {path}", file=sys.stderr)
    if cfg.require_all:
        gaps = list(_gaps(result))
        for where, why in gaps:
            print(f"not measured: {where}: {why}", file=sys.stderr)
        if gaps:
            sys.exit(1)


def _gaps(node, where=""):
    """(path, reason) of every part reported missing or failed."""
    if not isinstance(node, dict):
        return
    for k, v in node.items():
        here = f"{where}.{k}" if where else k
        if k in ("missing", "failed") or k.endswith("_missing"):
            yield here, v
        yield from _gaps(v, here)


def _fmt(d, key, spec, unit="", scale=1.0):
    if not isinstance(d, dict):
        return "-"
    if key in d:
        return format(d[key] * scale, spec) + unit
    for k in ("missing", "failed"):
        if k in d:
            return f"{k}"
    return "-"


def report(r):
    print(f"frost issue 13 figures: Python {r['python']}, {r['cpus']} CPUs, W1 = {r['entries']:,} entries")
    if "load" in r:
        a = r["load"]
        v2 = a.get("v2", {})
        print(f"(a) load: format 2 W1 {_fmt(v2, 'w1_load_s', '.3f', ' ms', 1e3)}, "
              f"{v2.get('big_entries', '?')} entries {_fmt(v2, 'big_load_s', '.3f', ' ms', 1e3)} "
              f"(x{_fmt(v2, 'big_over_w1', '.2f')}); format 1 W1 {a['v1_w1_load_s'] * 1e3:.1f} ms"
              + (f"  [{v2['missing']}]" if "missing" in v2 else ""))
    if "procs" in r:
        b = r["procs"]
        print(f"(b) {b['procs']} processes x {b['lookups']:,} lookups, USS each beyond an idle worker"
              f" (% of the {b['store_bytes'] / MiB:.1f} MiB store):")
        for name in ("spawn_v2_file", "spawn_shared_memory", "spawn_pickle_dict", "fork_dict",
                     "spawn_v1_file_load"):
            c = b.get(name, {})
            print(f"      {name:22s} {_fmt(c, 'uss_extra_mean_mib', '8.1f', ' MiB')} "
                  f"{_fmt(c, 'uss_pct_of_store', '6.1f', ' %')}  seeds {c.get('distinct_seeds', '-')}"
                  + (f"  [{c.get('missing') or c.get('failed')}]" if "missing" in c or "failed" in c else ""))
    if "speed" in r:
        c = r["speed"]
        for wl in ("w1", "w2"):
            t = c.get(wl, {})
            print(f"(c) {wl}: plain {_fmt(t, 'plain', '.3f', ' s')}  mapped {_fmt(t, 'mapped', '.3f', ' s')}"
                  f" (x{_fmt(t, 'mapped_over_plain', '.2f')})  format-1 scoped {_fmt(t, 'v1_scoped', '.3f', ' s')}"
                  f" (x{_fmt(t, 'v1_scoped_over_plain', '.2f')})  other seed: {c.get('seed_differs_from_writer')}"
                  + (f"  [{c.get(wl + '_mapped_missing')}]" if c.get(wl + "_mapped_missing") else ""))
    if "loader" in r:
        d = r["loader"]
        print(f"(d) {d['workers']} loader workers, {d['records']:,} records, USS growth per worker over an epoch:")
        for name in ("plain_fork", "plain_spawn_pickle", "frost_arena_fork", "frost_mapped_fork",
                     "frost_mapped_spawn"):
            c = d.get(name, d.get("frost_mapped", {}))
            extra = ""
            if "attach_mib" in c:
                extra = f"  (after attach/unpickle: {max(c['attach_mib']):.1f} MiB)"
            print(f"      {name:20s} {_fmt(c, 'growth_mean_mib', '8.1f', ' MiB')}{extra}")
    if "freeze" in r:
        e = r["freeze"]
        print(f"(e) frost.freeze {e['freeze_s']:.3f} s, frost.share {_fmt(e, 'share_s', '.3f', ' s')}"
              f" (x{_fmt(e, 'share_over_freeze', '.2f')}); pickle(5) {e['pickle5_bytes'] / MiB:.1f} MiB,"
              f" format 2 {_fmt(e, 'v2_file_bytes', '.1f', ' MiB', 1 / MiB)} (x{_fmt(e, 'v2_over_pickle', '.2f')}),"
              f" format 1 {e['v1_file_bytes'] / MiB:.1f} MiB (x{e['v1_over_pickle']:.2f})")
    print(f"total {r['total_s']:.1f} s")


if __name__ == "__main__":
    main()
