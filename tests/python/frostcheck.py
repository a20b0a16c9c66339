"""Helpers shared by the Python suites (not a test module itself).

live()            -- (live arenas, live stores) after a full GC pass: a test
                     compares it before and after to prove nothing leaked.
LeakCheckedTestCase -- a TestCase whose every test must leave live() as it
                     found it.
SharedPool        -- mixin: one frost.Pool(pool_workers) for a class's tests
                     (cls.pool), shut down after the last.
run_python(args)  -- run a fresh `python *args` process that imports this
                     folder's helper modules and the built frost package
                     (child_env), with a deadline, so a hang fails instead of
                     blocking: past it, every process the child started is
                     ended and the error shows their Python stacks (ChildHung);
                     run_child(code) is `python -c code`.
interrupt_storm(phases) -- thousands of KeyboardInterrupts landing in the
                     calls given (run in a child's main thread);
interrupt_storm_in_waits(pool) -- that storm in concurrent.futures.wait() and
                     as_completed() over a pool's pending futures; then the
                     pool must still deliver (a lock left held hangs it).
"""
import collections.abc
import functools
import gc
import os
import signal
import subprocess
import sys
import unittest

from frost import _frost

HERE = os.path.dirname(os.path.abspath(__file__))


class UserSet(collections.abc.Set):
    """A user's set-like: a collections.abc.Set that is no set (the Set mixin's
    operators and comparisons, its own storage)."""

    def __init__(self, items=()):
        self.items = list(dict.fromkeys(items))

    def __contains__(self, x):
        return x in self.items

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


def live():
    gc.collect()
    return _frost._live_arenas(), _frost._live_stores()


class LeakCheckedTestCase(unittest.TestCase):
    """Each test must leave no live arena or store behind."""

    def setUp(self):
        self.before = live()

    def tearDown(self):
        self.assertEqual(live(), self.before, "the test leaked an arena or store")


def child_env(env=None):
    """`env` (default os.environ) with PYTHONPATH set so that a child python
    imports this folder's helper modules and the built frost package."""
    import frost
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(frost.__file__)))
    return dict(os.environ if env is None else env, PYTHONPATH=os.pathsep.join([HERE, package_dir]))


class ChildHung(subprocess.TimeoutExpired):
    """run_python's deadline passed: the message lists the child and the
    processes it had started and ends with the tail of their output, which
    holds the Python stacks of every thread of each (faulthandler's, dumped
    one process after the other, in the order listed)."""

    def __init__(self, cmd, timeout, output=None, stderr=None, processes=()):
        super().__init__(cmd, timeout, output=output, stderr=stderr)
        self.processes = list(processes)   # (pid, parent pid), in the order they dumped

    def __str__(self):
        def tail(out, n=8000):
            if isinstance(out, bytes):
                out = out.decode("utf-8", "replace")
            return (out or "")[-n:]
        listed = ", ".join(f"{pid} (parent {ppid})" for pid, ppid in self.processes)
        return (f"{super().__str__()}; the Python stacks of its processes then, dumped by "
                f"faulthandler on SIGABRT in this order: {listed}\n"
                f"--- stderr (tail)\n{tail(self.stderr)}\n"
                f"--- stdout (tail)\n{tail(self.output, 2000)}")


def _group_members(pgid):
    """(pid, parent pid) of the running processes of process group pgid (Linux /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append((int(entry), int(fields[1])))
    return members


def _end_hung_group(proc):
    """proc is past its deadline: have each process of its group (its own
    session: the child and all it forked or spawned) dump the Python stacks
    of its threads (faulthandler's SIGABRT handler; no core file), one after
    the other so that the dumps do not interleave, then kill what is left.
    Parents go first: a parent's end changes nothing in a hung child, while
    a child's end would wake a parent waiting for it. Returns (stdout,
    stderr, [(pid, parent pid)] in the order they dumped)."""
    import resource
    import time
    members = sorted(_group_members(proc.pid), key=lambda m: (m[0] != proc.pid, m[0]))
    for pid, _ in members:
        try:
            resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
            os.kill(pid, signal.SIGABRT)
        except OSError:   # gone already
            continue
        end = time.monotonic() + 2
        while still_running([pid]) and time.monotonic() < end:   # its dump, whole
            time.sleep(0.01)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        stdout, stderr = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:   # a process outside the group holds our pipes
        proc.kill()
        proc.wait()
        stdout = stderr = None
    return stdout, stderr, members


def run_python(args, timeout=60, env=None, cwd=HERE, text=True, input=None, check=False):
    """subprocess.CompletedProcess of `python *args` run in child_env(env) and
    `cwd`, output captured (text unless text=False). Past `timeout` seconds it
    raises ChildHung (a subprocess.TimeoutExpired) with the Python stacks of
    every process the child started (it runs in a session of its own, with
    faulthandler on), all of which are killed. check: as subprocess.run's."""
    env = child_env(env)
    env.setdefault("PYTHONFAULTHANDLER", "1")
    proc = subprocess.Popen([sys.executable, *args], env=env, cwd=cwd, text=text,
                            stdin=subprocess.PIPE if input is not None else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    with proc:
        try:
            stdout, stderr = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            stdout, stderr, members = _end_hung_group(proc)
            raise ChildHung(proc.args, timeout, output=stdout, stderr=stderr,
                            processes=members) from None
        except BaseException:   # Ctrl-C: leave nothing running
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if check:
        result.check_returncode()
    return result


class SharedPool:
    """Mixin before a TestCase: setUpClass starts cls.pool, a frost.Pool of
    `pool_workers` workers that the class's tests share; tearDownClass shuts it
    down."""
    pool_workers = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import frost
        cls.pool = frost.Pool(cls.pool_workers)

    @classmethod
    def tearDownClass(cls):
        cls.pool.shutdown()
        super().tearDownClass()


def still_running(pids):
    """The processes of pids that run (not gone, not zombies)."""
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return alive


def run_child(code, timeout=60, env=None):
    """run_python(["-c", code])."""
    return run_python(["-c", code], timeout=timeout, env=env)


def interrupt_storm(phases, batch=20):
    """In the main thread of a child: a raising SIGUSR1 handler, armed once per
    batch of calls and sent every 0.1 ms by a thread, interrupts the calls of
    each phase for its seconds. phases: (seconds, calls) pairs, calls being
    callables run in turn, `batch` rounds an arming; a TimeoutError of a call
    is its normal outcome. Returns (how many KeyboardInterrupts landed, the
    reprs of the RuntimeErrors raised: a Condition.wait window)."""
    import threading
    import time

    armed = False

    def interrupt(*args):   # at most once per arming: never outside the try below
        nonlocal armed
        if armed:
            armed = False
            raise KeyboardInterrupt

    stop = threading.Event()

    def send():
        while not stop.is_set():
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.0001)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    sender = threading.Thread(target=send)
    sender.start()
    interrupted, errors = 0, []
    for seconds, calls in phases:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                armed = True
                for _ in range(batch):
                    for call in calls:
                        try:
                            call()
                        except TimeoutError:
                            pass
                armed = False
            except KeyboardInterrupt:
                interrupted += 1
            except RuntimeError as e:
                armed = False
                errors.append(repr(e))
    stop.set()
    sender.join()
    signal.signal(signal.SIGUSR1, previous)
    return interrupted, errors


def interrupt_storm_in_waits(pool, which, seconds=0.7):
    """interrupt_storm() of concurrent.futures.wait() (which="wait": timeout 0,
    ALL_COMPLETED then FIRST_COMPLETED, then timeout 0.001) or as_completed()
    (which="as_completed": timeouts 0 and 0.001), `seconds` each, over five
    pending futures of `pool` (one worker: a task sleeping through the phases,
    four queued behind it). Returns the lines the caller prints: RuntimeErrors
    seen, the next result, the five results, whether over 100 interrupts
    landed, how many waiters the interrupted calls left in the futures'
    _waiters. A lock of a future left held ends the child at once (exit
    status 1): the pool's exit would wait for ever."""
    import concurrent.futures as cf
    import time

    def as_completed(fs, timeout):
        for _ in cf.as_completed(fs, timeout=timeout):
            pass

    assert pool.submit(pow, 2, 2).result(timeout=60) == 4   # its worker started
    phases = {"wait": ((cf.wait, 0, cf.ALL_COMPLETED), (cf.wait, 0, cf.FIRST_COMPLETED),
                       (cf.wait, 0.001, cf.ALL_COMPLETED)),
              "as_completed": ((as_completed, 0), (as_completed, 0.001))}[which]
    fs = ([pool.submit(time.sleep, len(phases) * seconds + 0.5)]
          + [pool.submit(pow, 2, i) for i in range(4)])
    interrupted, errors = interrupt_storm(
        [(seconds, [functools.partial(call, fs, *args)]) for call, *args in phases])
    held = [i for i, f in enumerate(fs) if f._condition._is_owned()]
    if held:
        print(f"the locks of futures {held} were left held", file=sys.stderr, flush=True)
        os._exit(1)
    lines = [f"errors {errors[:3]}",
             f"next {pool.submit(pow, 2, 10).result(timeout=30)}",
             f"results {[f.result(timeout=30) for f in fs]}",
             f"interrupted {interrupted > 100}"]
    gc.collect()
    return lines + [f"waiters left {sum(len(f._waiters) for f in fs)}"]
