"""The DESIGN §5 workloads and the one worker body every peer of bench/driver.py runs.

Importable by workers (threads, fork/spawn processes, frost.Pool subinterpreters), so it
imports nothing heavy: no hashlib (CPython 3.12.1 aborts finalizing an own-GIL
interpreter that imported it) and no `random` (query keys come from a small LCG).
"""
import array
import time

HOT_KEYS = 64


def make(workload, size):
    """The dataset of `workload` with `size` entries (elements for W3)."""
    if workload in ("W1", "W4"):
        return {f"key{i:07d}": (i, i * 0.5, f"val{i}") for i in range(size)}
    if workload == "W2":
        return [(i, i * 0.5, i % 7, i * 3) for i in range(size)]
    if workload == "W3":
        return array.array("d", (i * 0.25 for i in range(size)))
    raise ValueError(workload)


def _keys(wid, size, ops, hot):
    """The query keys of worker `wid`, built before timing (a seeded LCG)."""
    x = 0x9E3779B97F4A7C15 ^ (wid + 1)
    span = min(size, HOT_KEYS) if hot else size
    keys = []
    for _ in range(ops):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        keys.append(f"key{(x >> 33) % span:07d}")
    return keys


def as_doubles(data):
    """A float64 memoryview of a flat buffer (array, frost Array, mmap)."""
    mv = memoryview(data)
    if mv.format != "d":
        mv = mv.cast("B").cast("d")
    return mv


def work(data, workload, wid, workers, ops):
    """One worker's share: -> (seconds, checksum). W1/W4: `ops` lookups summing the
    float field; W2: a scan of the whole list; W3: the sum of slice `wid` of `workers`."""
    if workload in ("W1", "W4"):
        keys = _keys(wid, len(data), ops, workload == "W4")
        t0 = time.perf_counter()
        total = 0.0
        for k in keys:
            total += data[k][1]
        return time.perf_counter() - t0, total
    if workload == "W2":
        t0 = time.perf_counter()
        total = 0.0
        for a, b, c, d in data:
            total += a + b + c + d
        return time.perf_counter() - t0, total
    if workload == "W3":
        mv = as_doubles(data)
        n = len(mv)
        lo, hi = n * wid // workers, n * (wid + 1) // workers
        t0 = time.perf_counter()
        total = sum(mv[lo:hi])
        return time.perf_counter() - t0, total
    raise ValueError(workload)


# -- per-worker state for peers whose workers hold the data themselves ---------------
_DATA = None
_BARRIER = None


def set_data(data, barrier=None):
    """fork: the dataset (inherited by the children) and a start barrier."""
    global _DATA, _BARRIER
    _DATA, _BARRIER = data, barrier


def load_pickle(blob, barrier=None):
    """Initializer, spawn + pickle and subinterpreters + pickle: a private copy."""
    import pickle
    global _DATA, _BARRIER
    _DATA, _BARRIER = pickle.loads(blob), barrier


def attach_mmap(path, barrier=None):
    """Initializer, shared memory: map the file under /dev/shm, read it as float64."""
    import mmap
    global _DATA, _BARRIER
    with open(path, "rb") as f:
        _DATA = as_doubles(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ))
    _BARRIER = barrier


def ready(_=None):
    """The worker can read its data (with a barrier: N distinct workers answered)."""
    if _BARRIER is not None:
        _BARRIER.wait()
    return len(_DATA)


def ready_view(view):
    return len(view)


def task(workload, wid, workers, ops):
    return work(_DATA, workload, wid, workers, ops)


def task_view(view, workload, wid, workers, ops):
    return work(view, workload, wid, workers, ops)
