"""W2's scan, one interpreter, best of 7: the list as built, the same list after a
pickle round trip (what spawn + pickle and subinterpreters + pickle workers scan), and
frost views of it in both lifetimes -- to tell frost's iteration cost from the memory
layout of the list being scanned.

    PYTHONPATH=build/<preset>/python python3 bench/scan_locality.py [entries]
"""
import pickle
import sys
import time

import frost


def scan(data):
    t0 = time.perf_counter()
    total = 0.0
    for a, b, c, d in data:
        total += a + b + c + d
    return time.perf_counter() - t0


def best(data, repeat=7):
    return min(scan(data) for _ in range(repeat))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    built = [(i, i * 0.5, i % 7, i * 3) for i in range(n)]
    unpickled = pickle.loads(pickle.dumps(built, protocol=pickle.HIGHEST_PROTOCOL))
    process = frost.freeze(built, lifetime="process")
    scoped = frost.freeze(built, lifetime="scoped")
    rows = [("list as built", built), ("list after pickle round trip", unpickled),
            ("frost view, process lifetime", process.root),
            ("frost view, scoped lifetime", scoped.root)]
    print(f"W2 scan of {n:,} 4-tuples, Python {sys.version.split()[0]}, best of 7")
    for name, data in rows:
        print(f"  {name:30s} {best(data) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
