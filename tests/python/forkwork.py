"""What the fork tests run (test_fork.py): worker functions, and the script
a forked child runs to check that it is usable."""
import concurrent.futures as cf
import os
import platform
import time

import frost


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


def wait_for(gate):
    return gate.recv()


class PipeGate:
    """A gate (recv/send, like a frost.Channel) that a worker waits at in a
    plain read(2) of a pipe: unlike a Channel's wait, which wakes every slice
    to run the interpreter's checks (and allocates), it stays still until
    send(). Workers are threads of this process: the fds are theirs too."""

    def __init__(self):
        self.r, self.w = os.pipe()

    def recv(self):
        return os.read(self.r, 64).decode()

    def send(self, text):
        os.write(self.w, text.encode())

    def wait_until_waited_at(self, timeout=60):
        """Return once a thread of this process is blocked in read(2) of the
        gate (Linux: /proc/self/task/*/syscall); AssertionError past
        `timeout` seconds."""
        read_syscall = {"x86_64": "0", "aarch64": "63"}[platform.machine()]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for tid in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{tid}/syscall") as f:
                        call = f.read().split()
                except OSError:   # the thread ended
                    continue
                if call[:2] == [read_syscall, hex(self.r)]:
                    return
            time.sleep(0.01)
        raise AssertionError(f"no thread blocked reading the gate in {timeout} s")


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
