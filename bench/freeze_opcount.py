"""Instructions per entry of `frost.freeze(data).close()` against `pickle.dumps(data, 5)`
and `marshal.dumps(data)` for the workloads W1 and W2 (bench/workloads.py), counted by
callgrind (issue 17: freeze <= 0.5x pickle.dumps).

    PYTHONPATH=build/release-py3.13/python .venv/py3.13/bin/python bench/freeze_opcount.py
        [--sizes 100000,200000] [--sides REGEX] [-j 2] [--annotate] [--json FILE]
    ... bench/freeze_opcount.py --wall 1000000 [--repeat 5]   # wall time, side by side

The method of bench/opcount.py (run_counted): the child builds the data and warms every
side up on a small copy, then callgrind's counters are zeroed on entering os.getppid()
and dumped on entering os.getpgrp() around an empty call and around the measured call,
so building the data, imports and start-up are not counted:

    instructions per entry = (call - empty call) / entries

The freeze side includes closing the store (the arena's munmap), as pickle's includes
freeing its bytes.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opcount import run_counted  # noqa: E402

CHILD = '''\
import os, sys, pickle, marshal
sys.path.insert(0, {bench!r})
import frost, workloads
data = workloads.make({workload!r}, {size})
small = workloads.make({workload!r}, 1000)
P = pickle.HIGHEST_PROTOCOL
{setup}
def run_empty(data=data):
    pass
def run(data=data):
    {call}
run(small); run(small)      # warm up: first-call set-up is not per entry
os.getppid(); run_empty(); os.getpgrp()
os.getppid(); run(); os.getpgrp()
print(len(data))
'''

# side: (setup, measured call body)
SIDES = {
    "freeze": ("", "frost.freeze(data).close()"),
    "pickle": ("", "pickle.dumps(data, P)"),
    "marshal": ("", "marshal.dumps(data)"),
}


def child_src(workload, size, side):
    setup, call = SIDES[side]
    return CHILD.format(bench=os.path.dirname(os.path.abspath(__file__)), workload=workload,
                        size=size, setup=setup, call=call)


def measure(workload, size, side, python, annotate=False):
    def show(dump, total, stdout):
        for inclusive in ("no", "yes"):
            a = subprocess.run(["callgrind_annotate", f"--inclusive={inclusive}",
                                "--threshold=100", dump], capture_output=True, text=True)
            # (the frames active at the dump show up at 100%: not the call's own cost)
            lines = [ln for ln in a.stdout.splitlines()
                     if re.match(r"\s*[0-9,]+ \(", ln) and "(100.0%)" not in ln]
            print(f"## {workload} n={size} {side}: {total:,} instructions "
                  f"(inclusive={inclusive})\n" + "\n".join(lines[:40]), file=sys.stderr)

    empty_i, call_i, stdout = run_counted(child_src(workload, size, side), python,
                                          f"{workload} {side}", show if annotate else None)
    return (call_i - empty_i) / int(stdout.split()[-1])


def wall(workloads, size, repeat):
    """Wall time of each side in this process, side by side, best of `repeat`
    (alternating the sides, so a change in the machine's load hits them all)."""
    import gc
    import marshal
    import pickle
    import time
    import frost
    import workloads as wl
    calls = {"freeze": lambda d: frost.freeze(d).close(),
             "pickle": lambda d: pickle.dumps(d, pickle.HIGHEST_PROTOCOL),
             "marshal": marshal.dumps}
    print(f"| workload | entries | load avg (1 min) | " + " | ".join(f"{s} s" for s in calls)
          + " | freeze / pickle | freeze / marshal |")
    print("|---" * (5 + len(calls)) + "|")
    for w in workloads:
        data = wl.make(w, size)
        best = dict.fromkeys(calls, float("inf"))
        gc.disable()
        for _ in range(repeat):
            for side, call in calls.items():
                t0 = time.perf_counter()
                call(data)
                best[side] = min(best[side], time.perf_counter() - t0)
        gc.enable()
        print(f"| {w} | {size} | {os.getloadavg()[0]:.1f} | "
              + " | ".join(f"{best[s]:.3f}" for s in calls)
              + f" | {best['freeze'] / best['pickle']:.2f}x | {best['freeze'] / best['marshal']:.2f}x |",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,200000")
    ap.add_argument("--workloads", default="W1,W2")
    ap.add_argument("--sides", default="", help="regex: only the sides it matches")
    ap.add_argument("-j", type=int, default=1, help="children at a time")
    ap.add_argument("--annotate", action="store_true",
                    help="print each call's top functions (callgrind_annotate) to stderr")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--wall", type=int, metavar="ENTRIES",
                    help="instead: wall time at this size, best of --repeat, no callgrind")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.wall:
        wall(args.workloads.split(","), args.wall, args.repeat)
        return
    sides = [s for s in SIDES if re.search(args.sides, s)]
    sizes = [int(s) for s in args.sizes.split(",")]
    workloads = args.workloads.split(",")
    with concurrent.futures.ThreadPoolExecutor(args.j) as ex:
        jobs = {(w, n, s): ex.submit(measure, w, n, s, sys.executable, args.annotate)
                for w in workloads for n in sizes for s in sides}
        rows = []
        print("| workload | entries | " + " | ".join(f"{s} instr/entry" for s in sides)
              + (" | freeze / pickle | freeze / marshal |" if "freeze" in sides else " |"))
        print("|---" * (2 + len(sides) + (2 if "freeze" in sides else 0)) + "|", flush=True)
        for w in workloads:
            for n in sizes:
                got = {s: jobs[w, n, s].result() for s in sides}
                line = f"| {w} | {n} | " + " | ".join(f"{got[s]:.0f}" for s in sides)
                if "freeze" in got:
                    for other in ("pickle", "marshal"):
                        line += (f" | {got['freeze'] / got[other]:.2f}x" if other in got else " | ")
                print(line + " |", flush=True)
                rows.append({"workload": w, "entries": n, **got})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
