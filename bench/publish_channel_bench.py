"""Costs that grew with the size of a process-wide table, wall time.

    PYTHONPATH=build/dev-py3.13/python .venv/py3.13/bin/python bench/publish_channel_bench.py
        [--names 1000,4000,16000] [--channels 2000,10000,40000]

- `frost.published(name)` with N names published (store/publish.c's table: a list
  searched by name, then a hash of names): microseconds a lookup, the best of 5 rounds
  of 2,000 lookups of the name published first.
- N reply channels, each sent on one request channel and its handle dropped, then
  received in order and dropped (views/xref.c's collection of channels held only by
  queued tickets, views/channel.c's registry): seconds for each half.
"""
import argparse
import time

import frost


def published_us(n, rounds=5, lookups=2000):
    store = frost.freeze(1)
    names = [f"bench-{n}-{i}" for i in range(n)]
    for name in names:
        frost.publish(name, store)
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(lookups):
            frost.published(names[0])
        best = min(best, time.perf_counter() - t)
    for name in names:
        frost.unpublish(name)
    return best / lookups * 1e6


def reply_channels_s(n):
    requests = frost.Channel()
    t = time.perf_counter()
    for _ in range(n):
        reply = frost.Channel()
        requests.send(reply)
        del reply
    queued = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(n):
        requests.recv()
    return queued, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", default="1000,4000,16000")
    ap.add_argument("--channels", default="2000,10000,40000")
    args = ap.parse_args()
    for n in map(int, filter(None, args.names.split(","))):
        print(f"published() with {n:>6} names: {published_us(n):7.2f} us")
    for n in map(int, filter(None, args.channels.split(","))):
        queued, received = reply_channels_s(n)
        print(f"{n:>6} reply channels: queued+dropped {queued:7.2f} s, received+dropped {received:7.2f} s")


if __name__ == "__main__":
    main()
