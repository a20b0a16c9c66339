"""Instructions per frost message (frost._transport, what frost.Pool tasks and results
and frost.Channel messages are) against plain pickle, counted by callgrind.

    PYTHONPATH=build/release-py3.13/python .venv/py3.13/bin/python bench/transport_opcount.py
        [--payloads REGEX] [-j 2] [--json FILE]

The method of bench/opcount.py (its child zeroes callgrind's counters on entering
os.getppid() and dumps them on entering os.getpgrp(); the payload is built and each
function warmed up before counting): instructions per call = (loop - empty loop) / reps.
Compared: `_transport.dumps(x)` with `pickle.dumps(x, HIGHEST_PROTOCOL)` (the protocol
transport uses), and `_transport.loads(message)` with `pickle.loads(pickled)`. For the
payload carrying a view, plain pickle pickles the view by reference too (`_rebuild`), so
the comparison is with the same by-reference pickle; every transport load gets a message
of its own (loading ends a message's life), and the messages dumped in the loop are left
in flight (the child exits).
"""
import argparse
import concurrent.futures
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opcount import run_counted  # noqa: E402

# name, setup (defines x), calls per loop
PAYLOADS = [
    ("dict str->int, 1k entries", 'x = {f"key{i:05d}": i for i in range(1000)}', 200),
    ("list of 1k floats", "x = [i * 0.5 for i in range(1000)]", 200),
    ("small tuple (1, 'a', 2.0)", "x = (1, 'a', 2.0)", 5000),
    ("one view (FrozenDict) in a tuple",
     'import frost; store = frost.freeze({"k": list(range(100))}); x = (store.root, 1)', 2000),
]

CHILD = '''\
import os, pickle
from frost import _transport
{setup}
reps = range({reps})
P = pickle.HIGHEST_PROTOCOL
pickled = pickle.dumps(x, P)
if {side!r} == "transport":
    dumps = _transport.dumps
    loads = _transport.loads
    msgs = [_transport.dumps(x) for _ in range({reps} + 1)]
else:
    dumps = pickle.dumps
    loads = pickle.loads
    msgs = [pickled] * ({reps} + 1)
warm = msgs.pop()
loads(warm)
def run_empty(x=x, reps=reps, msgs=msgs, P=P, dumps=dumps, loads=loads):
    {empty}
def run_loop(x=x, reps=reps, msgs=msgs, P=P, dumps=dumps, loads=loads):
    {loop}
run_loop.__defaults__ = run_empty.__defaults__
{warmup}
os.getppid(); run_empty(); os.getpgrp()
os.getppid(); run_loop(); os.getpgrp()
'''

# what: (loop, empty loop, warm-up) for each side
LOOPS = {
    ("dumps", "pickle"): ("for _ in reps: dumps(x, P)", "for _ in reps: pass", "dumps(x, P)"),
    ("dumps", "transport"): ("for _ in reps: dumps(x)", "for _ in reps: pass", "dumps(x)"),
    ("loads", "pickle"): ("for m in msgs: loads(m)", "for m in msgs: pass", ""),
    ("loads", "transport"): ("for m in msgs: loads(m)", "for m in msgs: pass", ""),
}


def measure(payload, what, side, python):
    name, setup, reps = payload
    loop, empty, warmup = LOOPS[what, side]
    src = CHILD.format(setup=setup, reps=reps, side=side, loop=loop, empty=empty, warmup=warmup)
    empty_i, loop_i, _ = run_counted(src, python, f"{name} {what} ({side})")
    return (loop_i - empty_i) / reps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--payloads", default="", help="regex: only the payloads it matches")
    ap.add_argument("-j", type=int, default=1, help="children at a time")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    payloads = [p for p in PAYLOADS if re.search(args.payloads, p[0])]
    print("| payload | pickle.dumps | transport.dumps | ratio | pickle.loads | transport.loads | ratio |")
    print("|---|---|---|---|---|---|---|", flush=True)
    rows = []
    with concurrent.futures.ThreadPoolExecutor(args.j) as ex:
        jobs = {(p[0], what, side): ex.submit(measure, p, what, side, sys.executable)
                for p in payloads for what in ("dumps", "loads") for side in ("pickle", "transport")}
        for p in payloads:
            c = {(what, side): jobs[p[0], what, side].result()
                 for what in ("dumps", "loads") for side in ("pickle", "transport")}
            rd = c["dumps", "transport"] / c["dumps", "pickle"]
            rl = c["loads", "transport"] / c["loads", "pickle"]
            print(f"| {p[0]} | {c['dumps', 'pickle']:.0f} | {c['dumps', 'transport']:.0f} | "
                  f"{rd:.2f}x | {c['loads', 'pickle']:.0f} | {c['loads', 'transport']:.0f} | "
                  f"{rl:.2f}x |", flush=True)
            rows.append({"payload": p[0], **{f"{w}_{s}": v for (w, s), v in c.items()},
                         "dumps_ratio": rd, "loads_ratio": rl})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
