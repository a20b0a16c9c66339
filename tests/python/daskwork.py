"""Task bodies for test_dask.py and bench/dask_bench.py: Dask workers import
this module by name. It imports only frost at the top, so frost.Pool
subinterpreters can import it too (distributed does not load there); the task
functions import frost.dask when they run, in the worker process."""
import os
import sys
import time

import frost


def make_data(n, tag):
    """n entries key -> (i, tag, str): every value names its version."""
    return {f"key{i:07d}": (i, tag, f"val{i}") for i in range(n)}


# ---- Dask tasks (run in worker processes) ------------------------------------

def lookup(name, keys):
    """Task: the values of `keys` in the shared store, and this worker's pid."""
    import frost.dask
    root = frost.dask.get(name)
    return os.getpid(), [tuple(root[k]) for k in keys]


def hold_and_read(name, keys, flag_path, started_path, deadline_s=60):
    """Task: take the current version, say so (creates `started_path`), then
    read `keys` again and again until `flag_path` exists: a refresh while it
    runs must not change what this task sees. -> (tags seen, reads)."""
    import frost.dask
    root = frost.dask.get(name)
    with open(started_path, "w") as f:
        f.write(str(os.getpid()))
    tags = set()
    reads = 0
    deadline = time.monotonic() + deadline_s
    while not os.path.exists(flag_path):
        if time.monotonic() > deadline:
            raise TimeoutError("hold_and_read: no flag")
        for k in keys:
            tags.add(root[k][1])
            reads += 1
        time.sleep(0.005)
    for k in keys:   # once more after the refresh is complete
        tags.add(root[k][1])
    return sorted(tags), reads


def in_pool(name, keys, nchunks):
    """Task: the inner loop in this worker process's frost.Pool (own-GIL
    subinterpreters) and in plain threads, on the same shared view."""
    import concurrent.futures
    import frost.dask
    root = frost.dask.get(name)
    chunks = [keys[i::nchunks] for i in range(nchunks)]
    pool = frost.dask.pool(2)
    by_pool = list(pool.map(sum_first, [root] * nchunks, chunks))
    by_published = sum(pool.map(sum_first_published, [name] * nchunks, chunks))
    sub_modules = pool.submit(loaded_modules).result(timeout=60)
    with concurrent.futures.ThreadPoolExecutor(nchunks) as threads:
        by_threads = list(threads.map(sum_first, [root] * nchunks, chunks))
    return {"pool": sum(by_pool), "published": by_published, "threads": sum(by_threads),
            "direct": sum_first(root, keys), "sub_modules": sub_modules}


# ---- inner loops (run in frost.Pool subinterpreters or threads) -------------

def sum_first(root, keys):
    return sum(root[k][0] for k in keys)


def sum_first_published(name, keys):
    root = frost.published(name).root
    return sum(root[k][0] for k in keys)


def loaded_modules():
    """Whether this interpreter loaded distributed / frost.dask (the worker
    process's main interpreter has both: False proves another interpreter)."""
    return {"distributed": "distributed" in sys.modules, "frost.dask": "frost.dask" in sys.modules}
