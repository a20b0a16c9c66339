"""Pool start-up (issue 17): how long until a new pool of N workers has run N tasks.

Each measurement runs in a fresh Python process executing a generated user
script, the way a program meets a pool: the script imports what a typical
program imports (the stdlib modules below), then starts the pool, submits N
tasks and waits for their N results. Peers, timed alternately
in the same run (the box is shared and noisy: the ratios are the figure):

  frost.Pool             own-GIL subinterpreters; the task is a module function,
                         so a worker never runs the script (frost._worker.setup)
  frost.Pool, script fn  the same, the task defined in the script: each worker
                         imports the script as __mp_main__ first (what spawn does)
  fork                   concurrent.futures.ProcessPoolExecutor, fork context
  spawn                  the same, spawn context (re-imports the script)

    python bench/pool_start_bench.py [--workers 1 2] [--repeat 7]

Children run with bytecode caching on (PYTHONDONTWRITEBYTECODE removed from
their environment) after one untimed warm-up run of each peer, which writes
the .pyc files, as an installed frost runs (pip writes them at install). The
development box sets PYTHONDONTWRITEBYTECODE=1 and the build copies frost's
.py files afresh, so earlier runs had every worker compile frost's Python
modules from source at start-up: 1.5x the start-up a user sees.

Prints a markdown table: best and median milliseconds, and each peer's best
over fork's best.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

SCRIPT = r'''
import time
import asyncio, decimal, email.mime.text, http.client, json, logging, xml.etree.ElementTree
import concurrent.futures as cf, multiprocessing as mp, operator, os, sys, threading
import frost

def script_fn(x):
    return -x

if __name__ == "__main__":
    peer, n = sys.argv[1], int(sys.argv[2])
    barrier_task = script_fn if peer == "frost-script" else operator.neg
    t0 = time.perf_counter()
    if peer.startswith("frost"):
        pool = frost.Pool(n)
    else:
        pool = cf.ProcessPoolExecutor(n, mp_context=mp.get_context(peer))
    # N tasks, each a first task of the pool: the figure is the time until
    # all N are done (a pool ready to run N tasks), not that every worker ran one
    futures = [pool.submit(barrier_task, i) for i in range(n)]
    for f in futures:
        f.result(120)
    ready = time.perf_counter() - t0
    pool.shutdown()
    print(f"{ready * 1e3:.3f}")
'''

PEERS = ("frost", "frost-script", "fork", "spawn")


def one(path, peer, workers, env):
    out = subprocess.run([sys.executable, path, peer, str(workers)], capture_output=True,
                         text=True, timeout=300, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "user_script.py")
        with open(path, "w") as f:
            f.write(SCRIPT)
        for peer in PEERS:             # untimed: writes the .pyc files the timed runs read
            one(path, peer, 1, env)
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}, best/median of {args.repeat}\n")
        print("| workers | peer | best ms | median ms | best / fork's best |")
        print("|---|---|---|---|---|")
        for n in args.workers:
            times = {peer: [] for peer in PEERS}
            for _ in range(args.repeat):
                for peer in PEERS:      # alternately: load changes hit every peer alike
                    times[peer].append(one(path, peer, n, env))
            fork = min(times["fork"])
            for peer in PEERS:
                t = times[peer]
                print(f"| {n} | {peer} | {min(t):.1f} | {statistics.median(t):.1f} | "
                      f"{min(t) / fork:.2f}x |")


if __name__ == "__main__":
    main()
