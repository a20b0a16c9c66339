"""Pool start/stop cycles for test_leaks.py, run in a fresh process
(`python -c "import leakwork; leakwork.main(CYCLES, WARMUP, BARE_CYCLES)"`) so
that its RSS is measured under PYTHONMALLOC=malloc (see test_leaks.py). From
`-c`, workers import no __main__ script, so a pool worker and the bare
baseline interpreter import the same modules. Prints one JSON object:
{"pool": bytes per cycle, "bare": bytes per cycle or null, "counters":
[[arenas, stores] before, after]}.
"""
import gc
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import stresswork  # noqa: E402
from frostcheck import live  # noqa: E402

# A bare interpreter importing what a pool worker imports: the baseline.
BARE_WORKER_CODE = ("import frost, frost._worker, frost._transport, pickle, runpy, traceback, "
                    "logging, concurrent.futures, stresswork")


def rss():
    """Resident set size of this process, in bytes (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def growth_per_cycle(what, cycle, count, warmup):
    """RSS growth per cycle over `count` cycles after `warmup` ones; says how
    far it is on stderr ("leakwork: ...", relayed to the log by test_leaks)."""
    for _ in range(warmup):
        cycle()
    gc.collect()
    before = rss()
    step = max(1, count // 10)
    for i in range(count):
        cycle()
        if (i + 1) % step == 0 or i + 1 == count:
            print(f"leakwork: {what}: {i + 1}/{count} cycles", file=sys.stderr, flush=True)
    gc.collect()
    return (rss() - before) / count


def main(cycles, warmup, bare_cycles):
    counters = [list(live())]
    store = frost.freeze({f"k{i}": i for i in range(100)})

    def pool_cycle():
        with frost.Pool(1) as pool:
            got = pool.submit(stresswork.attach_detach, store, 2).result(timeout=60)
            assert got == 200, got

    bare = None
    if bare_cycles:
        import _interp_compat
        bare = growth_per_cycle("bare interpreter start/stop (the baseline)",
                                lambda: _interp_compat.run(BARE_WORKER_CODE), bare_cycles, warmup)
    pool = growth_per_cycle("Pool(1) start/task/stop", pool_cycle, cycles, warmup)
    store.close()
    del store
    counters.append(list(live()))
    print(json.dumps({"pool": pool, "bare": bare, "counters": counters}))

