"""Format-2 writer figures (issue 13): image size against pickle protocol 5 and format 1,
and the time of _map_write into a memfd against frost.freeze, for W1 and W2 of
bench/workloads.py (1M entries each): with the body checksum (Store.save's files) and
without (checksum=False: frost.share's sealed memfd). CPU time (time.process_time), min of
--repeat runs.

    PYTHONPATH=build/release/python python bench/map_write_bench.py [--size N] [--repeat R]
"""
import argparse
import os
import pickle
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
from frost import _frost  # noqa: E402

import workloads  # noqa: E402


def measure(workload, size, repeat):
    data = workloads.make(workload, size)
    pickled = len(pickle.dumps(data, 5))
    freeze_s, write_s, bare_s = [], [], []
    for _ in range(repeat):
        t = time.process_time()
        store = frost.freeze(data)
        freeze_s.append(time.process_time() - t)
        fd = os.memfd_create("map_write_bench")
        try:
            t = time.process_time()
            image = _frost._map_write(store, fd)
            write_s.append(time.process_time() - t)
        finally:
            os.close(fd)
        fd = os.memfd_create("map_write_bench")
        try:
            t = time.process_time()
            _frost._map_write(store, fd, checksum=False)
            bare_s.append(time.process_time() - t)
        finally:
            os.close(fd)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "v1.frost")
            store.save(path, format=1)
            v1 = os.path.getsize(path)
        store.close()
    f, w, b = min(freeze_s), min(write_s), min(bare_s)
    print(f"{workload}: pickle5={pickled} format2={image} ({image / pickled:.2f}x) "
          f"format1={v1} ({v1 / pickled:.2f}x); freeze={f * 1e3:.0f} ms, _map_write to memfd="
          f"{w * 1e3:.0f} ms, (freeze + write) / freeze = {(f + w) / f:.2f}; without the body "
          f"checksum {b * 1e3:.0f} ms, {(f + b) / f:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for workload in ("W1", "W2"):
        measure(workload, args.size, args.repeat)


if __name__ == "__main__":
    main()
