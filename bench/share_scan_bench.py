"""Issue 13's two speed targets in one process, alternating, wall and CPU time: (c) a
full scan of W2 (1M 4-tuples) through a mapped format-2 file against the plain list
(target <= 1.5x), and (e) frost.share(W1) against frost.freeze(W1) (target <= 1.2x).

    PYTHONPATH=build/release-py3.13/python python bench/share_scan_bench.py [--repeat R]

Each contender runs in turn, R rounds, best of R each. CPU time (time.process_time: user +
system) counts another process's load on a shared box less than wall time does;
bench/process_bench.py (c, e) gives the same figures with its other parts.
"""
import argparse
import gc
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402

import workloads  # noqa: E402


def alternate(contenders, repeat, cleanup=None):
    """{name: (best wall, best cpu)} over `repeat` rounds of every contender in turn."""
    wall = {k: [] for k in contenders}
    cpu = {k: [] for k in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            gc.collect()
            t, c = time.perf_counter(), time.process_time()
            r = fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
            if cleanup is not None:
                cleanup(r)
            del r
    return {k: (min(wall[k]), min(cpu[k])) for k in contenders}


def scan(rows):
    total = 0.0
    for a, b, c, d in rows:
        total += a + b + c + d
    return total


def report(what, best, base, other):
    (bw, bc), (ow, oc) = best[base], best[other]
    print(f"{what}: {base} {bw * 1e3:.0f} ms (cpu {bc * 1e3:.0f}), {other} {ow * 1e3:.0f} ms "
          f"(cpu {oc * 1e3:.0f}): {other} / {base} wall {ow / bw:.3f}, cpu {oc / bc:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    w2 = workloads.make("W2", args.size)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "w2.frost")
        with frost.freeze(w2) as store:
            store.save(path, format=2)
        mapped = frost.load(path)
        best = alternate({"plain list": lambda: scan(w2), "mapped": lambda: scan(mapped.root)},
                         args.repeat)
        report("(c) W2 scan", best, "plain list", "mapped")
        mapped.close()
    del w2
    w1 = workloads.make("W1", args.size)
    best = alternate({"freeze": lambda: frost.freeze(w1), "share": lambda: frost.share(w1)},
                     args.repeat, cleanup=lambda store: store.close())
    report("(e) W1", best, "freeze", "share")


if __name__ == "__main__":
    main()
