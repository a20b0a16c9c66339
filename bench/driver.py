"""DESIGN §5 scaling driver: W1-W4 x peers x worker counts, one fresh process per cell.

Peers (same worker body, bench/workloads.py:work, for all of them):
  serial        one thread does the work of all N workers, one after another
  threads       concurrent.futures.ThreadPoolExecutor(N) on the one dataset
  fork          multiprocessing fork pool, dataset inherited by the children
  spawn-pickle  multiprocessing spawn pool, each worker pickle.loads a copy (initializer)
  shm           (W3 only) spawn pool, each worker maps one float64 file in /dev/shm
  subi-pickle   frost.Pool own-GIL subinterpreters, each unpickles a copy (initializer)
  subi-shm      (W3 only) frost.Pool, each subinterpreter maps the /dev/shm file (mmap)
  frost-process frost.freeze(lifetime="process"), the root view passed to frost.Pool tasks
  frost-scoped  the same with lifetime="scoped"

Each cell runs as `driver.py --cell W P N ...` in a fresh process and prints one JSON
object: setup_s (dataset exists -> every worker can read it; includes freeze_s for frost),
work_s (wall time of the N tasks), ops, checksum, and memory: pss_extra (PSS summed over
the cell's processes minus the PSS right after the dataset was built) and rss_growth
(the cell process alone). The parent checks every checksum against serial's, adds
throughput and speedup, and writes JSON lines to bench/results/<machine>/<stamp>.jsonl.

Usage: python bench/driver.py [--small] [--workers 1,2] [--workloads W1,W2,W3,W4]
                              [--peers ...] [--budget SECONDS] [--machine NAME]
"""
import argparse
import datetime
import gc
import json
import os
import platform
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import workloads  # noqa: E402

PEERS = ["serial", "threads", "fork", "spawn-pickle", "shm", "subi-pickle", "subi-shm",
         "frost-process", "frost-scoped"]
FLAT_ONLY = {"shm", "subi-shm"}
SIZES = {   # workload -> (entries, lookups per worker)
    "default": {"W1": (1_000_000, 1_000_000), "W2": (1_000_000, 0),
                "W3": (16_000_000, 0), "W4": (1_000_000, 1_000_000)},
    "small": {"W1": (20_000, 20_000), "W2": (20_000, 0),
              "W3": (200_000, 0), "W4": (20_000, 20_000)},
}


# -- memory --------------------------------------------------------------------------
def _children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_tree(pid=None):
    """PSS (bytes) of `pid` and all its descendants."""
    todo, total = [pid or os.getpid()], 0
    while todo:
        p = todo.pop()
        total += _pss(p)
        todo += _children(p)
    return total


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- one cell --------------------------------------------------------------------------
def run_cell(workload, peer, n, size, ops):
    import multiprocessing as mp
    import pickle
    res = {"workload": workload, "peer": peer, "workers": n, "size": size, "ops": ops}
    t0 = time.perf_counter()
    data = workloads.make(workload, size)
    res["build_s"] = time.perf_counter() - t0
    gc.collect()
    pss0, rss0 = pss_tree(), rss()
    args = [(workload, w, n, ops) for w in range(n)]
    shm_path = None
    pool = None

    def finish(runs, t_work):
        res["work_s"] = time.perf_counter() - t_work
        res["worker_max_s"] = max(r[0] for r in runs)
        res["checksum"] = sum(r[1] for r in runs)
        res["pss_extra"] = pss_tree() - pss0
        res["rss_growth"] = rss() - rss0

    t0 = time.perf_counter()
    if peer == "serial":
        res["setup_s"] = 0.0
        tw = time.perf_counter()
        finish([workloads.work(data, *a) for a in args], tw)
    elif peer == "threads":
        import concurrent.futures as cf
        import threading
        workloads.set_data(data, threading.Barrier(n))
        with cf.ThreadPoolExecutor(n) as pool:
            list(pool.map(workloads.ready, range(n)))
            res["setup_s"] = time.perf_counter() - t0
            tw = time.perf_counter()
            finish(list(pool.map(workloads.task, *zip(*args))), tw)
    elif peer in ("fork", "spawn-pickle", "shm"):
        ctx = mp.get_context("fork" if peer == "fork" else "spawn")
        barrier = ctx.Barrier(n)
        if peer == "fork":
            workloads.set_data(data, barrier)
            pool = ctx.Pool(n)
        elif peer == "spawn-pickle":
            blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
            pool = ctx.Pool(n, initializer=workloads.load_pickle, initargs=(blob, barrier))
            del blob
        else:
            shm_path = _write_shm(data)
            pool = ctx.Pool(n, initializer=workloads.attach_mmap, initargs=(shm_path, barrier))
        with pool:
            pool.map(workloads.ready, range(n), chunksize=1)
            res["setup_s"] = time.perf_counter() - t0
            tw = time.perf_counter()
            finish(pool.starmap(workloads.task, args, chunksize=1), tw)
    else:
        import frost
        res["allocator"] = frost._frost.allocator
        if peer.startswith("frost-"):
            store = frost.freeze(data, lifetime=peer.split("-", 1)[1])
            res["freeze_s"] = time.perf_counter() - t0
            res["arena_bytes"] = store.nbytes
            del data
            gc.collect()
            root = store.root
            with frost.Pool(n) as pool:
                list(pool.map(workloads.ready_view, [root] * n))
                res["setup_s"] = time.perf_counter() - t0
                tw = time.perf_counter()
                finish(list(pool.map(workloads.task_view, [root] * n, *zip(*args))), tw)
            del root
            store.close()
        else:
            if peer == "subi-pickle":
                blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
                init, initargs = workloads.load_pickle, (blob,)
            else:
                shm_path = _write_shm(data)
                init, initargs = workloads.attach_mmap, (shm_path,)
            with frost.Pool(n, initializer=init, initargs=initargs) as pool:
                initargs = None
                list(pool.map(workloads.ready, range(n)))
                res["setup_s"] = time.perf_counter() - t0
                tw = time.perf_counter()
                finish(list(pool.map(workloads.task, *zip(*args))), tw)
    if shm_path:
        os.unlink(shm_path)
    return res


def _write_shm(data):
    path = f"/dev/shm/frost-bench-{os.getpid()}"
    with open(path, "wb") as f:
        f.write(memoryview(data).cast("B"))
    return path


# -- the parent ------------------------------------------------------------------------
def machine_info():
    info = {"host": socket.gethostname(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "platform": platform.platform(),
            "python": platform.python_version(), "python_exe": sys.executable,
            "implementation": platform.python_implementation()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        info["loadavg"] = os.getloadavg()
    except OSError:
        pass
    try:
        import frost
        info["frost_allocator"] = frost._frost.allocator
        info["frost_path"] = os.path.dirname(frost.__file__)
    except ImportError:
        pass
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default=str(os.cpu_count() or 1),
                    help="comma-separated worker counts (default: the core count)")
    ap.add_argument("--workloads", default="W1,W2,W3,W4")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--small", action="store_true", help="tiny sizes: a smoke run")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the default sizes (entries and lookups)")
    ap.add_argument("--budget", type=float, default=0,
                    help="seconds: start no new cell after this (results still written)")
    ap.add_argument("--cell-timeout", type=float, default=600)
    ap.add_argument("--machine", default=socket.gethostname(),
                    help="results go to bench/results/<machine>/")
    ap.add_argument("--out", help="the JSON-lines file (default: results/<machine>/<stamp>.jsonl)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--cell", nargs=5, metavar=("W", "PEER", "N", "SIZE", "OPS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.cell:
        w, peer, n, size, ops = args.cell
        print(json.dumps(run_cell(w, peer, int(n), int(size), int(ops))))
        return

    sizes = SIZES["small" if args.small else "default"]
    ns = [int(x) for x in args.workers.split(",")]
    wls = args.workloads.split(",")
    peers = args.peers.split(",")
    if "serial" not in peers:
        peers.insert(0, "serial")
    info = machine_info()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or os.path.join(HERE, "results", args.machine, f"{stamp}.jsonl")
    lines = [{"kind": "run", "stamp": stamp, "argv": sys.argv[1:], **info}]
    start = time.monotonic()
    failures = skipped = 0
    print(f"driver: {info['python']} on {info['cpus']} CPUs, workers {ns}, "
          f"{'small' if args.small else f'scale {args.scale}'} sizes")
    for w in wls:
        size, ops = sizes[w]
        size, ops = int(size * args.scale), int(ops * args.scale)
        for n in ns:
            serial = None
            for peer in peers:
                if peer in FLAT_ONLY and w != "W3":
                    continue
                if args.budget and time.monotonic() - start > args.budget:
                    skipped += 1
                    continue
                cmd = [sys.executable, os.path.abspath(__file__), "--cell", w, peer,
                       str(n), str(size), str(ops)]
                t0 = time.monotonic()
                try:
                    p = subprocess.run(cmd, capture_output=True, text=True,
                                       timeout=args.cell_timeout)
                    ok = p.returncode == 0
                    err = p.stderr[-2000:]
                except subprocess.TimeoutExpired:
                    ok, err = False, "timeout"
                if ok:
                    r = json.loads(p.stdout.strip().splitlines()[-1])
                else:
                    r = {"workload": w, "peer": peer, "workers": n, "error": err}
                r["kind"] = "cell"
                r["cell_s"] = time.monotonic() - t0
                if ok:
                    total = n * ops if w in ("W1", "W4") else n * size if w == "W2" else size
                    r["throughput"] = total / r["work_s"]
                    if peer == "serial":
                        serial = r
                    if serial is not None:
                        r["speedup"] = serial["work_s"] / r["work_s"]
                        r["checksum_ok"] = r["checksum"] == serial["checksum"]
                        if not r["checksum_ok"]:
                            failures += 1
                else:
                    failures += 1
                lines.append(r)
                mark = ("FAIL " + r["error"].strip().splitlines()[-1] if not ok
                        else "" if r.get("checksum_ok", True) else "CHECKSUM MISMATCH")
                print(f"  {w} {peer:13s} N={n:<3d} " + (
                    f"setup {r['setup_s']:8.4f} s  work {r['work_s']:8.4f} s  "
                    f"x{r.get('speedup', 0):5.2f}  extra {r['pss_extra'] / 1e6:8.1f} MB  "
                    if ok else "") + mark, flush=True)
    lines.append({"kind": "end", "elapsed_s": time.monotonic() - start,
                  "failures": failures, "skipped_cells": skipped})
    if not args.no_write:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")
        print(f"wrote {out}")
    print(f"{len(lines) - 2} cells in {time.monotonic() - start:.1f} s, "
          f"{failures} failed, {skipped} skipped (budget)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
