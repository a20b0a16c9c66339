"""Store.save against pickle.dump and numpy.save (issue 17's save targets), side by side.

    PYTHONPATH=build/release-py3.13/python .venv/py3.13/bin/python bench/save_bench.py \
        [--entries 1000000] [--floats 16000000] [--repeat 3] [--array-repeat 7]

W1 (bench/workloads.py, 1M entries) saved as format 2 and format 1 next to
pickle.dump (protocol 5) of the dict; a float64 array of --floats items saved
next to numpy.save of the ndarray. Each pair is timed alternately, best of
--repeat, into a temporary directory (the page cache: what is timed is the
writer, not the disk).

The array is saved twice over: over the file the last repeat wrote (both
contenders overwrite their own file), and to a fresh path (both files removed,
untimed, after each repeat). They differ on ext4: Store.save renames its
temporary over the old file, which starts writeback of the new one
(auto_da_alloc), and the next save waits in rename() for that I/O when the old
inode is freed; numpy.save truncates in place and never waits. The fresh row is
what the writer costs; the overwrite row adds the atomic replace's I/O
(docs/design.md, "Big payloads"). The last row is the floor: one write() of the
array's bytes from Python, next to numpy.save. Each ratio is of wall times, then
(CPU) of the calling thread's CPU times (time.thread_time(): system time
included, waiting not), steadier on a busy machine. bench/save_floor.c is the
same comparison in C, with the writer's choices one at a time.
"""
import argparse
import os
import pickle
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402

import workloads  # noqa: E402


def timed(fn, cpu):
    c = time.thread_time()
    t = time.perf_counter()
    fn()
    t = time.perf_counter() - t
    cpu.append(time.thread_time() - c)
    return t


CPU_RATIOS = []   # the CPU-time ratio of each pair (best of each), printed after its wall one


def pair(repeat, ours, theirs, between=None):
    a, b, ca, cb = [], [], [], []
    for _ in range(repeat):
        a.append(timed(ours, ca))
        b.append(timed(theirs, cb))
        if between is not None:
            between()
    CPU_RATIOS.append(min(ca) / min(cb))
    return min(a), min(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--floats", type=int, default=16_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--array-repeat", type=int, default=7, help="repeats of the array rows (fast, noisy)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "store.frost")
        w1 = workloads.make("W1", args.entries)
        store = frost.freeze(w1)

        def dump():
            with open(os.path.join(tmp, "w1.pickle"), "wb") as f:
                pickle.dump(w1, f, protocol=5)
        for fmt in (2, 1):
            ours, theirs = pair(args.repeat, lambda: store.save(path, format=fmt), dump)
            print(f"W1 {args.entries:,} entries, format {fmt}: save {ours:.3f} s, "
                  f"pickle.dump {theirs:.3f} s: {ours / theirs:.2f}x (CPU {CPU_RATIOS[-1]:.2f}x) "
                  f"(file {os.path.getsize(path) / 2**20:.1f} MiB)")
        try:
            import numpy
        except ImportError:
            print("numpy not installed: no array row")
            return
        array = numpy.random.default_rng(1).random(args.floats)
        astore = frost.freeze(array)
        npy = os.path.join(tmp, "a.npy")

        def remove_both():
            os.unlink(path)
            os.unlink(npy)
        for fmt, how in ((2, "fresh path"), (2, "over the last file"), (1, "over the last file")):
            ours, theirs = pair(args.array_repeat, lambda: astore.save(path, format=fmt),
                                lambda: numpy.save(npy, array),
                                remove_both if how == "fresh path" else None)
            print(f"float64 array of {args.floats:,}, format {fmt}, {how}: save {ours:.3f} s, "
                  f"numpy.save {theirs:.3f} s: {ours / theirs:.2f}x (CPU {CPU_RATIOS[-1]:.2f}x)")
        raw = os.path.join(tmp, "a.raw")

        def write_raw():
            with open(raw, "wb") as f:
                f.write(memoryview(array).cast("B"))
        floor, theirs = pair(args.array_repeat, write_raw, lambda: numpy.save(npy, array),
                             lambda: (os.unlink(raw), os.unlink(npy)))
        print(f"the floor, one write() of the array's bytes to a fresh path: {floor:.3f} s, "
              f"numpy.save {theirs:.3f} s: {floor / theirs:.2f}x (CPU {CPU_RATIOS[-1]:.2f}x)")


if __name__ == "__main__":
    main()
