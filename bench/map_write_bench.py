"""Format-2 writer figures (issue 13): image size against pickle protocol 5 and format 1,
and the time of _map_write into a memfd against frost.freeze, for W1 and W2 of
bench/workloads.py (1M entries each): with the body checksum (Store.save's files) and
without (checksum=False: frost.share's sealed memfd), and frost.share itself (freeze into a
scoped arena + write + seal + map + free the arena). CPU time (time.process_time: user +
system, so another process's load on a shared box counts less than in wall time), min of
--repeat runs, freeze and share alternating.

    PYTHONPATH=build/release/python python bench/map_write_bench.py [--size N] [--repeat R]
"""
import argparse
import mmap
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
    freeze_s, write_s, bare_s, share_s = [], [], [], []
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
        t = time.process_time()
        shared = frost.share(data)
        share_s.append(time.process_time() - t)
        shared.close()
    f, w, b, s = min(freeze_s), min(write_s), min(bare_s), min(share_s)
    print(f"{workload}: pickle5={pickled} format2={image} ({image / pickled:.2f}x) "
          f"format1={v1} ({v1 / pickled:.2f}x); freeze={f * 1e3:.0f} ms, _map_write to memfd="
          f"{w * 1e3:.0f} ms, (freeze + write) / freeze = {(f + w) / f:.2f}; without the body "
          f"checksum {b * 1e3:.0f} ms, {(f + b) / f:.2f}; frost.share {s * 1e3:.0f} ms, "
          f"share / freeze = {s / f:.2f}")


def floor(workload, size, repeat):
    """What any share of this data pays besides the freeze, whatever the writer's own
    work: the memfd's pages (fallocate + MADV_POPULATE_WRITE of the image's size), one
    read of the arena (the writer walks every object once) and the arena's munmap."""
    import numpy
    data = workloads.make(workload, size)
    with frost.freeze(data, lifetime="scoped") as store:
        arena = store.stats()["bytes_reserved"]
        fd = os.memfd_create("map_write_bench")
        image = _frost._map_write(store, fd, checksum=False)
        os.close(fd)
    del data
    pages, read, unmap = [], [], []
    for _ in range(repeat):
        t = time.perf_counter()
        fd = os.memfd_create("map_write_bench")
        os.posix_fallocate(fd, 0, image)
        m = mmap.mmap(fd, image, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        m.madvise(getattr(mmap, "MADV_POPULATE_WRITE", 23))
        pages.append(time.perf_counter() - t)
        m.close()
        os.close(fd)
        a = mmap.mmap(-1, arena)
        a.madvise(getattr(mmap, "MADV_POPULATE_WRITE", 23))
        t = time.perf_counter()
        numpy.frombuffer(a, numpy.uint64).sum()   # a read at memory speed
        read.append(time.perf_counter() - t)
        t = time.perf_counter()
        a.close()
        unmap.append(time.perf_counter() - t)
    p, r, u = min(pages), min(read), min(unmap)
    print(f"{workload} floor (wall): memfd pages for {image / 2**20:.1f} MiB {p * 1e3:.0f} ms, "
          f"one read of the {arena / 2**20:.0f} MiB arena {r * 1e3:.0f} ms, its munmap "
          f"{u * 1e3:.0f} ms: {(p + r + u) * 1e3:.0f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--floor", action="store_true",
                    help="also the kernel and memory cost any share pays (see floor())")
    args = ap.parse_args()
    for workload in ("W1", "W2"):
        measure(workload, args.size, args.repeat)
        if args.floor:
            floor(workload, args.size, args.repeat)


if __name__ == "__main__":
    main()
