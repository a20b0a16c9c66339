"""What the fork tests run (test_fork.py): worker functions, and the script
a forked child runs to check that it is usable."""
import concurrent.futures as cf
import os
import time

import frost


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


def wait_for(gate):
    return gate.recv()


def churn(ch, seconds):
    """Keep the process-wide locks busy (store registry, publish table, the
    channel's lock) so that a fork() lands while a worker holds one."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        store = frost.freeze({"n": n, "items": list(range(20))})
        frost.publish("forkwork.churn", store)
        ch.send(store.root)
        ch.recv()
        frost.published("forkwork.churn")
        n += 1
    return n


def total(view):
    return sum(view["items"])


def child_checks(pool, pending, store, ch, new_pool=True):
    """In the forked child: everything frost offers still works there, and
    the parent's pool says clearly that it is not usable. Returns a list of
    lines; os._exit()s with 0 only if all went right."""
    out = []
    out.append(f"store {sum(store.root['items'])}")
    try:
        pool.submit(sleep_then, 0, 1)
    except cf.BrokenExecutor as exc:
        out.append("submit BrokenExecutor" + (" fork" if "fork" in str(exc) else ""))
    try:
        pending.result(timeout=30)
    except cf.BrokenExecutor:
        out.append("pending BrokenExecutor")
    pool.shutdown(wait=True)                      # nothing to wait for: returns
    ch.send(store.root["items"])
    out.append(f"channel {list(ch.recv(timeout=30))[:3]}")
    again = frost.freeze({"items": [1, 2, 3]})
    frost.publish("forkwork.child", again)
    out.append(f"published {list(frost.published('forkwork.child').root['items'])}")
    if new_pool:
        with frost.Pool(2) as child_pool:         # a pool of the child's own
            out.append(f"new pool {child_pool.submit(total, again.root).result(timeout=60)}")
    return out
