"""What freezing records costs: instructions vs pickle.dumps, arena bytes vs tuples.

    PYTHONPATH=build/release-py3.13/python .venv/py3.13/bin/python bench/record_freeze_bench.py
        [--n 100000] [--kinds dataclass,namedtuple] [--no-callgrind]

For each record kind, `data` is a list of N records of 4 fields (int, float, str, int;
the str distinct per record) of one class. Two figures (issue 17):

- instructions: `frost.freeze(data)` vs `pickle.dumps(data)`, each counted by callgrind
  in its own child (bench/opcount.py's runner: counters zeroed on entering os.getppid(),
  dumped on entering os.getpgrp(); the empty function is `tuple(data)`, nearly free), per
  record. Target <= 1.0x.
- bytes: `store.nbytes` of the frozen records vs of the same fields frozen as tuples
  (`[(r.a, r.b, r.c, r.d) for r in data]`), per record. Target <= 1.2x.
"""
import argparse
import dataclasses
import os
import sys
import typing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SETUP = '''
import dataclasses, typing
@dataclasses.dataclass
class PointD:
    a: int
    b: float
    c: str
    d: int
class PointN(typing.NamedTuple):
    a: int
    b: float
    c: str
    d: int
def make(kind, n):
    cls = PointD if kind == "dataclass" else PointN
    return [cls(1000 + i, i * 0.5, f"name{i}", i * 7 + 100000) for i in range(n)]
'''

CHILD = '''
import os, pickle, frost
data = make(KIND, N)
def run_empty():
    tuple(data)
def run_loop():
    CALL
os.getppid(); run_empty(); os.getpgrp()
os.getppid(); run_loop(); os.getpgrp()
print(len(data))
'''


def instructions(kind, n, python):
    import opcount
    out = {}
    for side, call in (("frost", "frost.freeze(data).close()"), ("pickle", "pickle.dumps(data)")):
        src = SETUP + CHILD.replace("KIND", repr(kind)).replace("N)", f"{n})").replace("CALL", call)
        empty_i, loop_i, stdout = opcount.run_counted(src, python, f"{kind} {side}")
        out[side] = (loop_i - empty_i) / int(stdout.split()[-1])
    return out


def arena_bytes(kind, n):
    import frost
    ns = {}
    exec(SETUP, ns)
    data = ns["make"](kind, n)
    tuples = [(r.a, r.b, r.c, r.d) for r in data]
    with frost.freeze(data) as s, frost.freeze(tuples) as t:
        return s.nbytes / n, t.nbytes / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--kinds", default="dataclass,namedtuple")
    ap.add_argument("--no-callgrind", action="store_true")
    args = ap.parse_args()
    print(f"| records (N={args.n:,}, 4 fields) | freeze instr/record | pickle.dumps instr/record "
          "| ratio | arena B/record | as tuples B/record | ratio |")
    print("|---|---|---|---|---|---|---|")
    for kind in args.kinds.split(","):
        rec_b, tup_b = arena_bytes(kind, args.n)
        if args.no_callgrind:
            fr = pk = float("nan")
        else:
            i = instructions(kind, args.n, sys.executable)
            fr, pk = i["frost"], i["pickle"]
        print(f"| {kind} | {fr:,.0f} | {pk:,.0f} | {fr / pk:.2f}x | {rec_b:.1f} | {tup_b:.1f} "
              f"| {rec_b / tup_b:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
