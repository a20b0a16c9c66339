"""Issue 18's cross-process figure: a groupby/sum in 4 worker processes reading
ONE frozen table, against pandas DataFrames pickled to each worker, in the same run.

    PYTHONPATH=build/release-py3.13/python .venv/py3.13/bin/python bench/table_groupby_bench.py
    [--rows 10000000] [--workers 4]

The table is bench/table_bench.py's (int64, float64, string, nullable int32, a
dictionary column of 100 categories). The job in every worker: sum f64 and i64
per category (pyarrow's hash aggregation on the frozen table; pandas' groupby on
its own frame), the results checked equal across all workers and both ways.

  frost   -- frost.share(table) once (a sealed memfd); each worker is sent the
             MappedTable view (pickled: a handle, a few hundred bytes), maps the
             image and runs pyarrow.table(view).group_by(...) on the columns in place;
  pandas  -- table.to_pandas() once; each worker is sent the DataFrame (pickled:
             the whole frame) and runs DataFrame.groupby(...).

Each worker is a fresh spawned process that imports pyarrow, pandas and frost and
runs a tiny groupby of each kind first, then reports its USS (private memory:
Private_Clean + Private_Dirty of /proc/self/smaps_rollup) before it receives
its data ("baseline") and after its job; "USS added" is the difference: the
memory this worker holds on its own for the data and the job. The image's pages
are shared memory (the memfd), counted once for the machine, not per worker.
The workers of one way run at the same time; the two ways one after the other.
"""
import argparse
import json
import multiprocessing
import os
import pickle
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def uss_bytes():
    """Private_Clean + Private_Dirty of this process, in bytes."""
    total = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


def frost_job(view):
    import pyarrow as pa
    t = pa.table(view)   # the columns in place: no copy
    r = t.group_by("dict").aggregate([("f64", "sum"), ("i64", "sum")])
    return {k: (f, i) for k, f, i in zip(r["dict"].to_pylist(), r["f64_sum"].to_pylist(),
                                          r["i64_sum"].to_pylist())}


def pandas_job(frame):
    r = frame.groupby("dict", observed=True)[["f64", "i64"]].sum()
    return {str(k): (float(f), int(i)) for k, f, i in zip(r.index, r["f64"], r["i64"])}


def worker(conn):
    import pandas as pd
    import pyarrow as pa
    import frost  # noqa: F401
    small = pa.table({"dict": pa.array(["a", "b", "a"]).dictionary_encode(), "f64": [1.0, 2.0, 3.0],
                      "i64": [1, 2, 3]})
    frost_job(small)             # lazily loaded kernels and pools: part of the baseline
    pandas_job(small.to_pandas())
    del small, pd
    conn.send(("ready", uss_bytes()))
    kind = conn.recv()
    t0 = time.perf_counter()
    payload = conn.recv()        # unpickled here: the view's handle, or the whole frame
    received = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = frost_job(payload) if kind == "frost" else pandas_job(payload)
    job = time.perf_counter() - t1
    conn.send((result, uss_bytes(), received, job))
    conn.recv()                  # hold everything until the parent has every report
    conn.close()


def run_way(kind, payload, workers):
    ctx = multiprocessing.get_context("spawn")
    procs, conns = [], []
    for _ in range(workers):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker, args=(child,))
        p.start()
        child.close()
        procs.append(p)
        conns.append(parent)
    baselines = []
    for c in conns:
        tag, uss = c.recv()
        assert tag == "ready"
        baselines.append(uss)
    t0 = time.perf_counter()
    for c in conns:
        c.send(kind)
        c.send(payload)          # pickled once per worker, as ProcessPoolExecutor would
    reports = [c.recv() for c in conns]
    wall = time.perf_counter() - t0
    for c in conns:
        c.send("done")
    for p in procs:
        p.join(120)
    rows = [{"baseline_uss": b, "uss": r[1], "uss_added": r[1] - b, "receive_s": r[2], "job_s": r[3]}
            for b, r in zip(baselines, reports)]
    return [r[0] for r in reports], rows, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import frost
    from table_bench import make_table

    print(json.dumps({"python": platform.python_version(), "pyarrow": pa.__version__,
                      "pandas": pd.__version__, "numpy": np.__version__, "rows": args.rows,
                      "workers": args.workers}))
    table = make_table(args.rows)
    table_bytes = table.nbytes
    t0 = time.perf_counter()
    store = frost.share(table)
    share_s = time.perf_counter() - t0
    view = store.root
    frame = table.to_pandas()
    frame_pickle = len(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
    view_pickle = len(pickle.dumps(view, protocol=pickle.HIGHEST_PROTOCOL))
    del table

    results = {}
    out = {"table_bytes": table_bytes, "image_bytes": store.nbytes, "share_s": share_s,
           "view_pickle_bytes": view_pickle, "frame_pickle_bytes": frame_pickle}
    for kind, payload in (("frost", view), ("pandas", frame)):
        got, rows, wall = run_way(kind, payload, args.workers)
        results[kind] = got
        out[kind] = {"wall_s": wall, "workers": rows}
        print(json.dumps({kind: out[kind]}))
    every = results["frost"] + results["pandas"]
    for r in every[1:]:
        assert r.keys() == every[0].keys()
        for k, (f, i) in r.items():
            f0, i0 = every[0][k]
            assert i == i0 and abs(f - f0) <= 1e-9 * max(1.0, abs(f0)), (k, f, f0, i, i0)
    print(json.dumps(out))
    print()
    mib = 2 ** 20
    print(f"table: {args.rows:,} rows, {table_bytes / mib:.0f} MiB of Arrow buffers; "
          f"image {out['image_bytes'] / mib:.0f} MiB, frost.share {share_s:.2f} s; "
          f"pickled: view {view_pickle} B, DataFrame {frame_pickle / mib:.0f} MiB")
    print()
    print("| way | sent to each worker | USS added per worker (min-max) | % of the table | "
          "worker USS (max) | receive (max) | groupby (max) | 4 workers, wall |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, sent in (("frost", f"{view_pickle} B (a handle)"),
                       ("pandas", f"{frame_pickle / mib:.0f} MiB (the frame)")):
        ws = out[kind]["workers"]
        added = [w["uss_added"] for w in ws]
        print(f"| {kind} | {sent} | {min(added) / mib:.1f}-{max(added) / mib:.1f} MiB | "
              f"{100 * min(added) / table_bytes:.1f}-{100 * max(added) / table_bytes:.1f}% | "
              f"{max(w['uss'] for w in ws) / mib:.0f} MiB | "
              f"{max(w['receive_s'] for w in ws) * 1e3:.0f} ms | {max(w['job_s'] for w in ws) * 1e3:.0f} ms | "
              f"{out[kind]['wall_s']:.2f} s |")
    store.close()


if __name__ == "__main__":
    main()
