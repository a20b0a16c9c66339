"""Mapped (format-2, read in place) vs plain: W1 lookups and a W2 scan, side by side in
one process (issue 13's figures for the reader; bench/process_bench.py has the
cross-process ones).

    PYTHONPATH=build/release-py3.13/python .venv/py3.13/bin/python bench/mapped_read_bench.py [--size N]

Prints the best of --repeat runs of each loop (seconds) and the mapped/plain ratio.
The image is written by _frost._map_write into a temporary file and mapped read-only.
"""
import argparse
import mmap
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402

import frost  # noqa: E402
from frost import _frost  # noqa: E402


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def mapped(data):
    f = tempfile.TemporaryFile()
    _frost._map_write(frost.freeze(data), f.fileno())
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return _frost.MapImage(mm), f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    w1 = workloads.make("W1", args.size)
    keys = workloads._keys(0, args.size, args.ops, False)
    img, f1 = mapped(w1)
    m1 = img.root

    def lookups(d):
        def run():
            total = 0.0
            for k in keys:
                total += d[k][1]
            return total
        return run

    plain = best(lookups(w1), args.repeat)
    mine = best(lookups(m1), args.repeat)
    print(f"W1 lookups ({args.ops} of {args.size}): plain {plain:.3f} s, mapped {mine:.3f} s, "
          f"ratio {mine / plain:.2f}")
    del w1, m1, img

    w2 = workloads.make("W2", args.size)
    img, f2 = mapped(w2)
    m2 = img.root

    def scan(lst):
        def run():
            total = 0.0
            for a, b, c, d in lst:
                total += a + b + c + d
            return total
        return run

    plain = best(scan(w2), args.repeat)
    mine = best(scan(m2), args.repeat)
    print(f"W2 scan ({args.size} 4-tuples): plain {plain:.3f} s, mapped {mine:.3f} s, "
          f"ratio {mine / plain:.2f}")


if __name__ == "__main__":
    main()
