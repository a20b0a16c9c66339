"""What a frost.Pool cell of bench/driver.py pays in memory whatever the dataset:
PSS growth of the process after starting Pool(N) with the workload module imported
in every worker, then after each worker built and dropped W1's 1,000,000 query keys
(what W1/W4 workers do before timing), with no dataset and no store at all.

    PYTHONPATH=build/<preset>/python python3 bench/pool_memory.py 1,2,4,8,16
"""
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402
import workloads  # noqa: E402

OPS = 1_000_000


def imported(_):
    """Runs in a worker: workloads (and this module) are imported there now."""
    return workloads.HOT_KEYS


def build_keys(wid):
    """W1's key list of worker `wid`, built and dropped; returns its length."""
    return len(workloads._keys(wid, 1_000_000, OPS, False))


def main():
    import frost
    for n in [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "16").split(",")]:
        gc.collect()
        base = driver.pss_tree()
        with frost.Pool(n) as pool:
            assert list(pool.map(imported, range(n))) == [workloads.HOT_KEYS] * n
            started = driver.pss_tree() - base
            assert list(pool.map(build_keys, range(n))) == [OPS] * n
            after_keys = driver.pss_tree() - base
        print(f"N={n:3d}  pool started {started / 1e6:7.1f} MB ({started / n / 1e6:5.1f}/worker)"
              f"  after building+dropping W1 keys {after_keys / 1e6:7.1f} MB"
              f" ({after_keys / n / 1e6:5.1f}/worker)", flush=True)


if __name__ == "__main__":
    main()
