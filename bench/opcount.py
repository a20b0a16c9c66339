"""Instructions per read operation, frost vs plain CPython, counted by callgrind.

    PYTHONPATH=build/release-py3.13/python .venv/py3.13/bin/python bench/opcount.py
        [--ops REGEX] [-j 2] [--json FILE] [--list]

Each (operation, side) runs in its own child `valgrind --tool=callgrind` process. The
child builds the data, then runs two functions compiled from the same template: the
operation's loop and its empty loop (the same loop without the operation, or the same
iteration over an empty container). Callgrind zeroes its counters on entering
os.getppid() and dumps them on entering os.getpgrp(), which the child calls around each
function, so start-up, imports and freezing are not counted:

    instructions per op = (loop - empty loop) / n

Instruction counts are repeatable on a loaded machine where wall time is not; they do not
see cache misses (FrozenSet membership's wall-time gap at 1M entries was one, until set
nodes became slot tables: bench/set_membership_bench.py, RESULTS.md). Sizes are small (10^4 entries): the counts per op do not depend on the size
once the loop dominates, and the whole table takes a few minutes under valgrind.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap

N = 10_000

# Shared setup: `data` is the plain object, `E` an empty one of the same kind; the frost
# side replaces both by views (`frost.freeze(...).root`, or `frost.share(...).root` for
# lifetime "mapped": format 2), lifetime per op.
DICT = f'data = {{f"key{{i:07d}}": i * 0.5 for i in range({N})}}; E = {{}}'
DICT_TUPLES = f'data = {{f"key{{i:07d}}": (i, i * 0.5, f"val{{i}}") for i in range({N})}}; E = {{}}'
POST = "\n#post\n"   # what follows runs once `d` is set
# query keys equal to the data's but not the same objects (as keys read from input are),
# their hashes computed (cached in the str) before counting
KEYS = ('import random; keys = [(k + ".")[:-1] for k in data]; random.Random(1).shuffle(keys)\n'
        'for k in keys: hash(k)')
LIST_STR = f'data = [f"s{{i}}" for i in range({N})]; E = []'
LIST_INT = f'data = list(range(1000, 1000 + {N})); E = []'         # packed int64 in frost
LIST_FLOAT = f'data = [i * 0.5 for i in range({N})]; E = []'       # packed float64 in frost
LIST_W2 = f'data = [(i, i * 0.5, i % 7, i * 3) for i in range({N})]; E = []'
SET = f'data = frozenset(f"key{{i:07d}}" for i in range({N})); E = frozenset()'
RECORDS = textwrap.dedent(f'''
    import dataclasses
    @dataclasses.dataclass
    class Point:
        x: int
        y: float
        name: str
    data = [Point(i, i * 0.5, f"p{{i}}") for i in range({N})]; E = []
''')
ARRAY = f'import numpy; data = numpy.arange({N}, dtype=numpy.float64); E = data[:0]'

# name, setup, frost lifetime, loop, empty loop, target (frost/plain), what `n` counts
OPS = [
    ("dict[k] hit", DICT + POST + KEYS, "process",
     "for k in keys: d[k]", "for k in keys: pass", 1.2),
    ("k in dict", DICT + POST + KEYS, "process",
     "for k in keys: k in d", "for k in keys: pass", 1.2),
    ("dict.get(k)", DICT + POST + KEYS, "process",
     "for k in keys: d.get(k)", "for k in keys: pass", 1.2),
    ("for k in dict", DICT, "process", "for k in d: pass", "for k in E: pass", 1.2),
    ("for k in dict.keys()", DICT, "process",
     "for k in d.keys(): pass", "for k in E.keys(): pass", 1.2),
    ("for v in dict.values()", DICT, "process",
     "for v in d.values(): pass", "for v in E.values(): pass", 1.2),
    ("for kv in dict.items()", DICT, "process",
     "for kv in d.items(): pass", "for kv in E.items(): pass", 1.2),
    ("for k, v in dict.items()", DICT, "process",
     "for k, v in d.items(): pass", "for k, v in E.items(): pass", 1.2),
    ("list[i] sequential", LIST_STR + POST + f"idx = list(range({N}))", "process",
     "for i in idx: d[i]", "for i in idx: pass", 1.3),
    ("list[i] random", LIST_STR + POST + f"import random; idx = list(range({N})); "
     "random.Random(1).shuffle(idx)", "process",
     "for i in idx: d[i]", "for i in idx: pass", 1.3),
    ("for x in list", LIST_STR, "process", "for x in d: pass", "for x in E: pass", 1.3),
    ("for x in packed int list", LIST_INT, "process", "for x in d: pass", "for x in E: pass", 2.0),
    ("sum(packed int list)", LIST_INT, "process", "sum(d)", "sum(E)", 2.0),
    ("sum(packed float list)", LIST_FLOAT, "process", "sum(d)", "sum(E)", 2.0),
    ("packed int list[i]", LIST_INT + POST + f"idx = list(range({N}))", "process",
     "for i in idx: d[i]", "for i in idx: pass", 2.0),
    ("record.attr", RECORDS + POST + "recs = list(d)", "process",
     "for r in recs: r.y", "for r in recs: pass", 1.5),
    ("record scan r.x+r.y", RECORDS, "process",
     "for r in d: r.x + r.y", "for r in d: pass", 1.5),
    ("k in frozenset", SET + POST + KEYS,
     "process", "for k in keys: k in d", "for k in keys: pass", 1.2),
    ("numpy.asarray(view)", ARRAY + POST + f"reps = range({N // 10})", "process",
     "for _ in reps: numpy.asarray(d)", "for _ in reps: pass", 2.0),
    # the floor for any buffer exporter: numpy builds a memoryview and a new array each call
    ("numpy.asarray(memoryview) vs (view)", ARRAY + POST + f"reps = range({N // 10})\n"
     "d = memoryview(d) if isinstance(d, numpy.ndarray) else d", "process",
     "for _ in reps: numpy.asarray(d)", "for _ in reps: pass", 2.0),
    ("scoped dict[k] -> tuple", DICT_TUPLES + POST + KEYS, "scoped",
     "for k in keys: d[k]", "for k in keys: pass", 2.0),
    ("scoped for x in list", LIST_STR, "scoped", "for x in d: pass", "for x in E: pass", 3.0),
    ("scoped W2 scan", LIST_W2, "scoped",
     "for a, b, c, e in d: a + b + c + e", "for a, b, c, e in E: pass", 1.3),
    # format 2 (frost.share; issue 13 (c): a scan of W2 <= 1.5x the plain list's time)
    ("mapped W2 scan", LIST_W2, "mapped",
     "for a, b, c, e in d: a + b + c + e", "for a, b, c, e in E: pass", 1.5),
    # format 2 lookups: the keyed hash and the probe walk (store/map_read.c)
    ("mapped dict[k] hit", DICT + POST + KEYS, "mapped",
     "for k in keys: d[k]", "for k in keys: pass", 2.5),
    ("mapped k in frozenset", SET + POST + KEYS, "mapped",
     "for k in keys: k in d", "for k in keys: pass", 2.5),
]

CHILD = '''\
import os, sys
{pre}
if {frost!r}:
    import frost
    if {lifetime!r} == "mapped":   # format 2 (frost.share): leaves materialized per access
        store = frost.share(data)
        E = frost.share(E).root
    else:
        store = frost.freeze(data, lifetime={lifetime!r})
        E = frost.freeze(E, lifetime={lifetime!r}).root
    d = store.root
else:
    d = data
{post}
n = {n_expr}
# the data as locals (default arguments), as in a hot function
ARGS = ", ".join(f"{{v}}={{v}}" for v in ("d", "E", "keys", "idx", "recs", "reps", "numpy")
                 if v in globals())
exec(f"def run_empty({{ARGS}}):\\n    " + {empty!r} + f"\\ndef run_loop({{ARGS}}):\\n    " + {loop!r})
os.getppid(); run_empty(); os.getpgrp()
os.getppid(); run_loop(); os.getpgrp()
print(n)
'''


def n_expr(name, loop):
    if loop.startswith("for _ in reps"):
        return "len(reps)"
    if loop.startswith(("for k in keys", "for i in idx", "for r in recs")):
        return loop.split(" in ")[1].split(":")[0].join(["len(", ")"])
    return "len(data)"


def totals(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def run_counted(src, python, label, on_dumps=None):
    """Run child script `src` under callgrind (counters zeroed on entering
    os.getppid(), dumped on entering os.getpgrp(): two dumps, the empty loop
    then the loop); (empty loop instructions, loop instructions, child stdout).
    on_dumps(loop_dump_path, loop_instructions, stdout) runs while the dumps
    still exist (annotate)."""
    with tempfile.TemporaryDirectory(prefix="opcount") as tmp:
        script = os.path.join(tmp, "child.py")
        with open(script, "w") as f:
            f.write(src)
        out = os.path.join(tmp, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               "--zero-before=os_getppid", "--dump-before=os_getpgrp", python, script]
        # one thread: BLAS worker threads would add their own instructions to the counts
        env = dict(os.environ, PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        if r.returncode != 0:
            raise RuntimeError(f"{label} failed:\n{r.stderr[-3000:]}")
        empty_i, loop_i = totals(out + ".1"), totals(out + ".2")
        if on_dumps is not None:
            on_dumps(out + ".2", loop_i, r.stdout)
        return empty_i, loop_i, r.stdout


def measure(op, side, python, annotate=False):
    name, setup, lifetime, loop, empty, _target = op
    pre, _, post = setup.partition(POST)
    src = CHILD.format(pre=pre, post=post, frost=side == "frost", lifetime=lifetime,
                       n_expr=n_expr(name, loop), loop=loop, empty=empty)

    def show(loop_dump, loop_i, stdout):   # where the loop's instructions go (self cost per function)
        a = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                            loop_dump], capture_output=True, text=True)
        # (the frames active at the dump show up at 100%: not the loop's own cost)
        lines = [ln for ln in a.stdout.splitlines()
                 if re.match(r"\s*[0-9,]+ \(", ln) and "(100.0%)" not in ln]
        print(f"## {name} ({side}): loop {loop_i:,} instructions for n={int(stdout.split()[-1])}\n"
              + "\n".join(lines[:25]), file=sys.stderr)

    empty_i, loop_i, stdout = run_counted(src, python, f"{name} ({side})",
                                          show if annotate else None)
    n = int(stdout.split()[-1])
    return (loop_i - empty_i) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", default="", help="regex: only the operations it matches")
    ap.add_argument("-j", type=int, default=1, help="children at a time")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--annotate", action="store_true",
                    help="print each loop's top functions (callgrind_annotate) to stderr")
    args = ap.parse_args()
    ops = [op for op in OPS if re.search(args.ops, op[0])]
    if args.list:
        print("\n".join(op[0] for op in ops))
        return
    rows = []
    print("| operation | lifetime | plain instr/op | frost instr/op | ratio | target |")
    print("|---|---|---|---|---|---|", flush=True)
    with concurrent.futures.ThreadPoolExecutor(args.j) as ex:
        jobs = {(op[0], side): ex.submit(measure, op, side, sys.executable, args.annotate)
                for op in ops for side in ("plain", "frost")}
        for op in ops:
            try:
                plain, fr = jobs[op[0], "plain"].result(), jobs[op[0], "frost"].result()
            except RuntimeError as e:
                print(f"| {op[0]} | {op[2]} | failed: {str(e).splitlines()[0]} | | | |", flush=True)
                print(e, file=sys.stderr)
                continue
            ratio = fr / plain if plain > 0 else float("inf")
            flag = "" if ratio <= op[5] else " **over**"
            print(f"| {op[0]} | {op[2]} | {plain:.1f} | {fr:.1f} | {ratio:.2f}x{flag} | ≤ {op[5]}x |",
                  flush=True)
            rows.append({"op": op[0], "lifetime": op[2], "plain": plain, "frost": fr,
                         "ratio": ratio, "target": op[5]})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
