"""Shutdown and interpreter exit always finish (issue 14 item 16): a worker
blocked in Channel.recv()/send(), a task that leaves threads running, and
Ctrl-C inside `with frost.Pool()` while a task spins each hung them forever.
Every scenario runs in a child process with a deadline, so a hang fails."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frostcheck import run_child  # noqa: E402

PRELUDE = """
import concurrent.futures as cf, os, signal, sys, threading
import frost, stopwork

def ctrl_c_in(seconds):                # what a user's Ctrl-C does, later
    threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT)).start()
"""


class StopTest(unittest.TestCase):
    def run_scenario(self, body, expect_rc=0):
        proc = run_child(PRELUDE + body, timeout=90)
        self.assertEqual(proc.returncode, expect_rc, proc.stderr)
        self.assertNotIn("Fatal Python error", proc.stderr)
        return proc


class BlockedInAChannel(StopTest):
    def test_exit_with_a_worker_blocked_in_recv(self):
        proc = self.run_scenario(
            "ch = frost.Channel()\n"
            "pool = frost.Pool(1)\n"
            "fut = pool.submit(stopwork.recv_forever, ch)\n"
            "print('submitted', flush=True)\n")     # exit: shutdown stops the task
        self.assertEqual(proc.stdout.strip(), "submitted")

    def test_cancelling_shutdown_stops_blocked_recv_and_send(self):
        proc = self.run_scenario(
            "empty, full = frost.Channel(), frost.Channel(maxsize=1)\n"
            "full.send('occupies it')\n"
            "pool = frost.Pool(2)\n"
            "futs = [pool.submit(stopwork.recv_forever, empty),\n"
            "        pool.submit(stopwork.send_forever, full)]\n"
            "import time; time.sleep(0.5)\n"          # both in their C wait (else: never begun)
            "pool.shutdown(wait=True, cancel_futures=True)\n"
            "print([f.cancelled() for f in futs], flush=True)\n")
        self.assertEqual(proc.stdout.strip(), "[True, True]")


class LeftoverThreads(StopTest):
    def test_shutdown_ends_threads_a_task_left_running(self):
        proc = self.run_scenario(
            "ch = frost.Channel()\n"
            "with frost.Pool(1) as pool:\n"
            "    print(pool.submit(stopwork.leave_threads, ch).result(timeout=60), flush=True)\n"
            "print('shut down', flush=True)\n")
        self.assertEqual(proc.stdout.split("\n")[:2], ["left 3 threads", "shut down"])

    def test_exit_ends_threads_a_task_left_running(self):
        proc = self.run_scenario(
            "pool = frost.Pool(1)\n"
            "print(pool.submit(stopwork.leave_threads, frost.Channel()).result(timeout=60),\n"
            "      flush=True)\n")
        self.assertEqual(proc.stdout.strip(), "left 3 threads")


class CtrlC(StopTest):
    def test_ctrl_c_in_with_block_while_a_task_spins(self):
        proc = self.run_scenario(
            "started = frost.Channel()\n"
            "with frost.Pool(1) as pool:\n"
            "    fut = pool.submit(stopwork.spin, started)\n"
            "    started.recv(timeout=60)\n"
            "    ctrl_c_in(0.2)\n"
            "    fut.result()\n",                       # Ctrl-C lands in this wait
            expect_rc=-2)                               # KeyboardInterrupt: killed by SIGINT
        self.assertIn("KeyboardInterrupt", proc.stderr)

    def test_uncaught_ctrl_c_with_a_task_running_exits_by_sigint(self):
        # exit stops the task, and its worker formats the traceback, whose
        # imports (traceback, tokenize) run eval(): that cleared CPython's
        # process-wide mark of an uncaught KeyboardInterrupt, and the program
        # exited with status 1, not by SIGINT (a shell loop went on)
        proc = self.run_scenario(
            "started = frost.Channel()\n"
            "pool = frost.Pool(1)\n"
            "fut = pool.submit(stopwork.spin, started)\n"
            "started.recv(timeout=60)\n"
            "ctrl_c_in(0.2)\n"
            "fut.result()\n",                       # Ctrl-C lands in this wait
            expect_rc=-2)
        self.assertIn("KeyboardInterrupt", proc.stderr)

    def test_ctrl_c_while_with_exit_waits_for_a_spinning_task(self):
        proc = self.run_scenario(
            "started = frost.Channel()\n"
            "try:\n"
            "    with frost.Pool(1) as pool:\n"
            "        fut = pool.submit(stopwork.spin, started)\n"
            "        started.recv(timeout=60)\n"
            "        ctrl_c_in(0.3)\n"                   # lands in __exit__'s wait
            "except KeyboardInterrupt:\n"
            "    try:\n"
            "        fut.result(timeout=60)\n"
            "    except cf.CancelledError:\n"
            "        print('interrupted, task stopped', flush=True)\n")
        self.assertEqual(proc.stdout.strip(), "interrupted, task stopped")

    def test_ctrl_c_while_with_exit_waits_for_a_task_blocked_in_recv(self):
        proc = self.run_scenario(
            "try:\n"
            "    with frost.Pool(1) as pool:\n"
            "        fut = pool.submit(stopwork.recv_forever, frost.Channel())\n"
            "        ctrl_c_in(0.5)\n"                   # lands in __exit__'s wait
            "except KeyboardInterrupt:\n"
            "    try:\n"
            "        fut.result(timeout=60)\n"
            "    except cf.CancelledError:\n"
            "        print('interrupted, task stopped', flush=True)\n")
        self.assertEqual(proc.stdout.strip(), "interrupted, task stopped")

    def test_exit_after_ctrl_c_with_a_task_that_swallows_interrupts(self):
        # the first interruptions are caught by the task: interpreter exit
        # keeps stopping it until it gives in
        proc = self.run_scenario(
            "started = frost.Channel()\n"
            "pool = frost.Pool(1)\n"
            "fut = pool.submit(stopwork.spin_catching_interrupts, started)\n"
            "started.recv(timeout=60)\n"
            "print('exiting', flush=True)\n")
        self.assertEqual(proc.stdout.strip(), "exiting")


BLOCKED_KINDS = ["sleep_forever", "wait_event_forever", "acquire_forever",
                 "queue_get_forever", "select_pipe_forever"]


class StoppedInAFrostWalk(StopTest):
    def test_cancelling_shutdown_stops_a_long_freeze_or_thaw(self):
        # frost.freeze and frost.thaw checked for Ctrl-C only (signals, which a
        # worker never gets): the pool's KeyboardInterrupt landed once the walk
        # of its whole graph had ended (seconds, for millions of objects), so
        # shutdown(cancel_futures=True) and a Ctrl-C'd `with` waited for it
        for what in ("freeze", "thaw", "thaw_mapped"):
            with self.subTest(what):
                proc = self.run_scenario(
                    "started, reached = frost.Channel(), frost.Channel()\n"
                    "pool = frost.Pool(1)\n"
                    f"fut = pool.submit(stopwork.long_walk, {what!r}, started, reached)\n"
                    "started.recv(timeout=60)\n"             # the walk has begun
                    "pool.shutdown(wait=True, cancel_futures=True)\n"
                    "print(fut.cancelled(), len(reached), flush=True)\n")
                self.assertEqual(proc.stdout.strip(), "True 0")


class BlockedOutsideFrost(StopTest):
    """A task blocked in a C call nothing interrupts: interpreter exit gives it
    EXIT_GRACE seconds, then abandons its worker and finishes (rc 0, no
    warning); shutdown(wait=False, cancel_futures=True) returns at once."""

    def run_blocked(self, kind, body, expect_rc=0):
        proc = self.run_scenario(
            "started = frost.Channel()\n"
            f"task = stopwork.{kind}\n" + body, expect_rc=expect_rc)
        self.assertNotIn("Warning", proc.stderr)
        return proc

    def test_exit_abandons_a_task_blocked_in_c(self):
        for kind in BLOCKED_KINDS + ["leave_a_sleeping_thread"]:
            with self.subTest(kind):
                proc = self.run_blocked(kind,
                    "pool = frost.Pool(1)\n"
                    "fut = pool.submit(task, started)\n"
                    "started.recv(timeout=60)\n"
                    "print('exiting', flush=True)\n")
                self.assertEqual(proc.stdout.strip(), "exiting")
                self.assertNotIn("Traceback", proc.stderr)

    def test_shutdown_without_wait_returns_and_exit_finishes(self):
        proc = self.run_blocked("sleep_forever",
            "pool = frost.Pool(2)\n"
            "futs = [pool.submit(task, started) for _ in range(2)]\n"
            "queued = pool.submit(task, started)\n"
            "stopwork.wait_until_blocked(started); stopwork.wait_until_blocked(started)\n"
            "pool.shutdown(wait=False, cancel_futures=True)\n"
            "print('returned', flush=True)\n"
            "cf.wait([queued], timeout=60)\n"
            "print([f.cancelled() for f in futs + [queued]], flush=True)\n")
        self.assertEqual(proc.stdout.split("\n")[:2], ["returned", "[False, False, True]"])

    def test_leaving_with_by_ctrl_c_or_exit_with_a_blocked_task(self):
        for leave, rc in [("raise KeyboardInterrupt", -2), ("sys.exit(3)", 3),
                          ("ctrl_c_in(0.2); fut.result()", -2)]:
            with self.subTest(leave):
                self.run_blocked("sleep_forever",
                    "with frost.Pool(1) as pool:\n"
                    "    fut = pool.submit(task, started)\n"
                    "    started.recv(timeout=60)\n"
                    f"    {leave}\n", expect_rc=rc)

    def test_ctrl_c_during_the_exit_grace_still_exits(self):
        proc = self.run_blocked("acquire_forever",
            "pool = frost.Pool(1)\n"
            "fut = pool.submit(task, started)\n"
            "started.recv(timeout=60)\n"
            "frost.pool.EXIT_GRACE = 30\n"
            "ctrl_c_in(0.5)\n"                       # lands in exit's wait
            "print('exiting', flush=True)\n")
        self.assertEqual(proc.stdout.strip(), "exiting")


class BlockedDoneCallback(StopTest):
    """A done-callback that never returns holds neither interpreter exit nor
    a Ctrl-C'd `with` exit for more than EXIT_GRACE (it hung both for ever:
    the callback thread was joined without a limit and was no daemon); one
    that ends within the grace still runs to its end at exit."""
    BODY = ("import frost.pool\n"
            "cb_started = threading.Event()\n"
            "def blocking(f):\n"
            "    cb_started.set()\n"
            "    threading.Event().wait()\n")

    def test_exit_with_a_callback_blocked_for_ever(self):
        proc = self.run_scenario(self.BODY +
            "frost.pool.EXIT_GRACE = 0.5\n"
            "pool = frost.Pool(1)\n"
            "pool.submit(stopwork.square, 3).add_done_callback(blocking)\n"
            "assert cb_started.wait(60)\n"
            "print('exiting', flush=True)\n")
        self.assertEqual(proc.stdout.strip(), "exiting")

    def test_ctrl_c_in_with_exit_waiting_for_a_blocked_callback(self):
        proc = self.run_scenario(self.BODY +
            "frost.pool.EXIT_GRACE = 0.5\n"
            "with frost.Pool(1) as pool:\n"
            "    pool.submit(stopwork.square, 3).add_done_callback(blocking)\n"
            "    assert cb_started.wait(60)\n"
            "    ctrl_c_in(0.3)\n"                   # lands in __exit__'s wait for the callback
            "print('not reached', flush=True)\n", expect_rc=-2)
        self.assertEqual(proc.stdout, "")

    def test_a_callback_ending_within_the_grace_runs_to_its_end_at_exit(self):
        proc = self.run_scenario(
            "import time, frost.pool\n"
            "frost.pool.EXIT_GRACE = 60\n"
            "cb_started = threading.Event()\n"
            "def slow(f):\n"
            "    cb_started.set()\n"
            "    time.sleep(0.5)\n"
            "    print('callback', f.result(), flush=True)\n"
            "pool = frost.Pool(1)\n"
            "pool.submit(stopwork.square, 3).add_done_callback(slow)\n"
            "assert cb_started.wait(60)\n"
            "print('exiting', flush=True)\n")
        self.assertEqual(proc.stdout.split(), ["exiting", "callback", "9"])


class CtrlCAtStartUp(StopTest):
    """Ctrl-C while the workers start or run a slow initializer raises
    KeyboardInterrupt from Pool() and leaves nothing running: interruptible
    initializers end with their workers (no thread, no pool left); one blocked
    in time.sleep is left to interpreter exit, which finishes."""

    def test_ctrl_c_during_a_slow_initializer(self):
        for how, ends in [("spin", True), ("naps", True), ("sleep", False)]:
            with self.subTest(how):
                proc = self.run_scenario(
                    "started = frost.Channel()\n"
                    "def ctrl_c_once_both_run():\n"      # both initializers have begun
                    "    started.recv(timeout=60); started.recv(timeout=60)\n"
                    "    os.kill(os.getpid(), signal.SIGINT)\n"
                    "timer = threading.Thread(target=ctrl_c_once_both_run)\n"
                    "timer.start()\n"
                    "try:\n"
                    "    frost.Pool(2, initializer=stopwork.slow_initializer,\n"
                    f"               initargs=({how!r}, started))\n"
                    "except KeyboardInterrupt:\n"
                    "    print('interrupted', flush=True)\n"
                    "timer.join()\n"
                    "print(threading.active_count(), len(frost.pool._live_pools),\n"
                    "      flush=True)\n")
                expect = "1 0" if ends else "1 1"
                self.assertEqual(proc.stdout.split("\n")[:2], ["interrupted", expect])

    def test_ctrl_c_while_the_interpreters_are_created(self):
        # Pool(N) creating its interpreters used to see Ctrl-C only once all N
        # existed. Measured side by side in one child: a whole creation of N,
        # then one interrupted a tenth of the way in, which must end in well
        # under half the whole (the interpreters in creation finish; the rest
        # are never made), and frost.Pool(N) interrupted the same way leaves
        # no thread and no pool behind.
        proc = self.run_scenario(
            "import time\n"
            "from frost import _frost\n"
            "N = 96\n"
            "t0 = time.monotonic(); whole = _frost._Pool(N); full = time.monotonic() - t0\n"
            "del whole\n"
            "def interrupted_after(delay, start):\n"
            "    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))\n"
            "    t0 = time.monotonic(); timer.start()\n"
            "    try:\n"
            "        start()\n"
            "    except KeyboardInterrupt:\n"
            "        timer.join()\n"
            "        return time.monotonic() - t0\n"
            "    timer.join()\n"
            "    return None\n"
            "took = interrupted_after(full / 10, lambda: _frost._Pool(N))\n"
            "print('creation', took is not None and took < full / 2, f'{took} of {full}',\n"
            "      flush=True)\n"
            "took = interrupted_after(full / 10, lambda: frost.Pool(N))\n"
            "print('pool', took is not None, threading.active_count(),\n"
            "      len(frost.pool._live_pools), flush=True)\n")
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0].split()[:2], ["creation", "True"], lines)
        self.assertEqual(lines[1], "pool True 1 0", lines)

    def test_ctrl_c_while_the_workers_import_a_slow_main_script(self):
        # the script is imported again in each worker (as __mp_main__) when
        # the initializer, defined there, is loaded: here that import never ends
        script = ("import os, signal, sys, threading, frost, stopwork\n"
                  "def nothing():\n"
                  "    pass\n"
                  "if __name__ == '__mp_main__':\n"
                  "    stopwork.spin()\n"
                  "threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
                  "try:\n"
                  "    frost.Pool(2, initializer=nothing)\n"
                  "except KeyboardInterrupt:\n"
                  "    print('interrupted', len(frost.pool._live_pools), flush=True)\n")
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "slow_main.py")
            with open(path, "w") as f:
                f.write(script)
            proc = run_child(f"import runpy; runpy.run_path({path!r}, run_name='__main__')",
                             timeout=90)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "interrupted 0")


class InitializerReferences(StopTest):
    def test_every_worker_borrows_the_initializers_store_and_channel(self):
        # one payload, loaded by every worker: each imported (took over) its
        # single reference, which was released once per worker -- the store
        # and channel were freed under their owner (a crash)
        proc = self.run_scenario(
            "from frostcheck import live\n"
            "before = live()\n"
            "store, ch = frost.freeze(list(range(10))), frost.Channel()\n"
            "with frost.Pool(3, initializer=stopwork.keep, initargs=(store, ch)):\n"
            "    pass\n"
            "print(list(store.root), [ch.recv(timeout=60) for _ in range(3)], flush=True)\n"
            "del store, ch\n"
            "print(live() == before, flush=True)\n")
        self.assertEqual(proc.stdout.split("\n")[:2],
                         [str(list(range(10))) + " [45, 45, 45]", "True"])


class WaitingOnANestedPool(StopTest):
    """A task waiting on the future of a frost.Pool it started: the stdlib's
    Future.result() waits in a lock's acquire, which the KeyboardInterrupt of
    the outer pool's shutdown never reaches, so shutdown(wait=True,
    cancel_futures=True) waited forever. In a worker the wait is cut in
    slices: the interrupt lands, the inner `with` stops the inner pool, and
    the outer task's future is cancelled."""

    def test_cancelling_shutdown_stops_a_task_waiting_on_its_own_pool(self):
        for inner, how in [("spin", "result"), ("spin", "exception"),
                           ("spin", "result-timeout"), ("recv", "result")]:
            with self.subTest(inner=inner, how=how):
                proc = self.run_scenario(
                    "import time\n"
                    "started = frost.Channel()\n"
                    "pool = frost.Pool(1)\n"
                    f"fut = pool.submit(stopwork.wait_on_a_nested_pool, started, {inner!r}, {how!r})\n"
                    "started.recv(timeout=60)\n"
                    "time.sleep(0.3)\n"                     # the outer task in its wait
                    "t0 = time.monotonic()\n"
                    "pool.shutdown(wait=True, cancel_futures=True)\n"
                    "print(fut.cancelled(), time.monotonic() - t0 < 30, flush=True)\n")
                self.assertEqual(proc.stdout.strip(), "True True")

    def test_a_timeout_in_a_worker_still_ends_the_wait_on_time(self):
        proc = self.run_scenario(
            "with frost.Pool(1) as pool:\n"
            "    for name, waited in pool.submit(stopwork.nested_timeouts, 0.35).result(60):\n"
            "        print(name, waited if name == 'result' else 0.35 <= waited < 2, flush=True)\n")
        self.assertEqual(proc.stdout.split("\n")[:3],
                         ["TimeoutError True", "TimeoutError True", "result None"])


class InterruptedResults(unittest.TestCase):
    def test_a_task_interrupted_without_a_result_stops_its_future(self):
        # A worker interrupted inside the task machinery (not the task's own
        # code) returns no bytes: the result is ("interrupted", None). The
        # collector passed None to discard() (TypeError in the results thread,
        # seen once by test_ctrl_c_at_every_point_of_a_map on 3.12) and never
        # stopped the future, so whoever waited on it waited forever.
        import concurrent.futures as cf
        import threading
        from frost import pool as frost_pool
        future = frost_pool._TaskFuture(None, 7)
        lock = threading.Lock()
        frost_pool._deliver(lock, {7: (future, ())}, 7, "interrupted", None)
        self.assertTrue(future.cancelled())
        with self.assertRaises(cf.CancelledError):
            future.result(timeout=5)


class LockGuard(unittest.TestCase):
    """_frost._LockGuard, the `with` of concurrent.futures.wait()/as_completed() over
    frost futures (frost/_condition.py): all locks or none, and none once freed."""

    def test_an_acquire_that_raises_leaves_none_held(self):
        import threading
        from frost import _frost

        class Refusing:
            def acquire(self):
                raise KeyboardInterrupt   # what a raising signal handler does to a wait

        first, last = threading.RLock(), threading.RLock()
        with self.assertRaises(KeyboardInterrupt):
            with _frost._LockGuard((first, Refusing(), last)):
                pass
        self.assertFalse(first._is_owned())
        self.assertFalse(last._is_owned())

    def test_a_guard_freed_without_its_exit_releases_its_locks(self):
        import threading
        from frost import _frost
        locks = (threading.RLock(), threading.RLock())
        guard = _frost._LockGuard(locks)
        guard.__enter__()
        self.assertTrue(all(lock._is_owned() for lock in locks))
        del guard
        self.assertFalse(any(lock._is_owned() for lock in locks))
        with _frost._LockGuard(locks):
            self.assertTrue(all(lock._is_owned() for lock in locks))
        self.assertFalse(any(lock._is_owned() for lock in locks))


class WaitersOfFrostFutures(unittest.TestCase):
    """frost futures hold their concurrent.futures waiters weakly (frost/_condition.py,
    _WeakWaiters)."""

    def test_an_as_completed_collected_in_a_cycle_leaves_nothing_and_raises_nothing(self):
        # The collector clears the weak references to a cycle before it runs the
        # cycle's finalizers: the generator's finally then removed a waiter whose
        # entry had died, and _WeakWaiters.remove raised ValueError (printed as
        # ignored, the other futures' entries left behind).
        import concurrent.futures as cf
        import gc
        import time
        import frost
        unraisable = []
        previous = sys.unraisablehook
        sys.unraisablehook = lambda u: unraisable.append(f"{u.exc_type.__name__}: {u.exc_value}")
        try:
            with frost.Pool(1) as pool:
                fast = pool.submit(pow, 2, 3)
                slow = pool.submit(time.sleep, 0.5)
                fast.result(timeout=60)
                it = cf.as_completed([fast, slow])
                self.assertIs(next(it), fast)
                cycle = [it]
                cycle.append(cycle)
                del it, cycle
                gc.collect()
                self.assertEqual(unraisable, [])
                self.assertEqual((len(fast._waiters), len(slow._waiters)), (0, 0))
                self.assertIsNone(slow.result(timeout=60))
        finally:
            sys.unraisablehook = previous


    def test_wait_and_as_completed_over_two_pools_and_stdlib_futures_from_threads_and_callbacks(self):
        # one call over futures of two frost.Pools and a ThreadPoolExecutor (the
        # frost lock guard takes the stdlib's locks too), from four threads at once
        # and from a done callback (on the pool's callback thread); every call
        # returns what the stdlib's would, and no waiter is left on any future
        import concurrent.futures as cf
        import threading
        import time
        import frost
        import poolwork
        with frost.Pool(2) as one, frost.Pool(1) as two, cf.ThreadPoolExecutor(2) as threads:
            slow = two.submit(poolwork.sleep_then, 0.3, "slow")
            seen, errors = [], []

            def user():
                try:
                    for i in range(30):
                        fs = [one.submit(poolwork.add, i, 1), two.submit(poolwork.add, i, 2),
                              threads.submit(pow, i, 2)]
                        done, _ = cf.wait(fs + [slow], timeout=60, return_when=cf.FIRST_COMPLETED)
                        self.assertTrue(done)
                        got = sorted(f.result() for f in cf.as_completed(fs, timeout=60))
                        self.assertEqual(got, sorted([i + 1, i + 2, i * i]))
                        done, not_done = cf.wait(fs, timeout=60)
                        self.assertEqual((len(done), not_done), (3, set()))
                    seen.append(1)
                except BaseException as e:   # (a thread's failure would pass unseen)
                    errors.append(e)

            def callback(fut):
                try:
                    g, h = two.submit(poolwork.add, 5, 5), threads.submit(pow, 3, 3)
                    seen.append(sorted(f.result() for f in cf.as_completed([fut, g, h], timeout=60)))
                except BaseException as e:
                    errors.append(e)

            users = [threading.Thread(target=user) for _ in range(4)]
            for t in users:
                t.start()
            first = one.submit(poolwork.add, 1, 2)
            first.add_done_callback(callback)
            for t in users:
                t.join(120)
            self.assertEqual(errors, [])
            self.assertEqual(slow.result(timeout=60), "slow")
            deadline = time.monotonic() + 60
            while len(seen) < 5 and time.monotonic() < deadline:   # the callback's
                time.sleep(0.01)
            self.assertEqual(sorted(seen, key=repr), [1, 1, 1, 1, [3, 10, 27]])
            self.assertEqual((len(first._waiters), len(slow._waiters)), (0, 0))

class CtrlCAnywhere(StopTest):
    def test_ctrl_c_at_every_point_of_a_map(self):
        """Ctrl-C at delays spread over the whole of `with Pool() as p:
        list(p.map(...))` (start-up, submitting, collecting, shutting down):
        each time KeyboardInterrupt or the right result, never a hang or a
        crash, and the process exits cleanly."""
        proc = self.run_scenario(
            "import time\n"
            "expected = [x * x for x in range(1000)]\n"
            "def run():\n"
            "    with frost.Pool(2) as p:\n"
            "        return list(p.map(stopwork.square, range(1000)))\n"
            "t0 = time.monotonic(); assert run() == expected\n"
            "whole = time.monotonic() - t0\n"     # spread the Ctrl-Cs over one run
            "outcomes = {'ok': 0, 'interrupted': 0}\n"
            "for k in range(30):\n"
            "    timer = threading.Timer(whole * k / 25, os.kill, (os.getpid(), signal.SIGINT))\n"
            "    try:\n"
            "        timer.start()\n"
            "        got = run()\n"
            "        timer.join()\n"                 # a late Ctrl-C lands in this try too
            "        assert got == expected\n"
            "        outcomes['ok'] += 1\n"
            "    except KeyboardInterrupt:\n"
            "        timer.join()\n"
            "        outcomes['interrupted'] += 1\n"
            "print(sum(outcomes.values()), outcomes['interrupted'] > 0, flush=True)\n",
        )
        self.assertEqual(proc.stdout.strip(), "30 True")
        for report in proc.stderr.split("Traceback")[1:]:   # CPython's, of a Ctrl-C landing
            self.assertIn("KeyboardInterrupt", report)      # in a weakref callback: harmless

    def test_ctrl_c_in_a_future_call_never_leaves_it_locked(self):
        """Thousands of interrupts landing in done(), running(), cancelled(),
        result(timeout=0) and exception(timeout=0) of a pending future: each
        is a KeyboardInterrupt (or the call's answer), and the result is
        still delivered. An interrupt landing in Condition.wait just after it
        released the lock made the with block's release a RuntimeError.
        threading.Condition's __enter__/__exit__ are Python functions, so an
        interrupt landing just after the acquire or just before the release
        left the future's lock held, and the results thread, which takes it
        to deliver, hung -- and with it the pool's exit (the map scenario
        above hung this way about once in ten runs). The main thread never
        waits on f itself: its wait would release the leaked lock."""
        proc = self.run_scenario(
            "import time\n"
            "from frostcheck import interrupt_storm\n"
            "with frost.Pool(1) as p:\n"
            "    f = p.submit(time.sleep, 2.5)\n"
            "    interrupted, errors = interrupt_storm([(2, [\n"
            "        f.done, f.running, f.cancelled,\n"
            "        lambda: f.result(timeout=0), lambda: f.exception(timeout=0)])], batch=50)\n"
            "    assert not errors, errors\n"
            # the next result comes after f's: the results thread must deliver f first
            "    assert p.submit(pow, 2, 10).result(timeout=20) == 1024\n"
            "    assert f.done() and f.result() is None\n"
            "print('delivered', interrupted > 100, flush=True)\n",
        )
        self.assertEqual(proc.stdout.strip(), "delivered True")

    def assert_waits_survive_an_interrupt_storm(self, which):
        # concurrent.futures.wait() and as_completed() take the futures' locks with
        # _AcquireFutures, whose __enter__/__exit__ loop over acquire()/release() in
        # Python: an interrupt between two left the ones taken held (every run before),
        # and the results thread hung on them; one in their waiter's Event left its lock
        # held with the waiter installed, and the results thread hung in its set()
        # (frost/_condition.py). frostcheck.interrupt_storm_in_waits: thousands of
        # interrupts in those calls, then the next result must arrive.
        proc = self.run_scenario(
            "from frostcheck import interrupt_storm_in_waits\n"
            "with frost.Pool(1) as p:\n"
            f"    for line in interrupt_storm_in_waits(p, {which!r}):\n"
            "        print(line, flush=True)\n"
            "print('exited', flush=True)\n")
        self.assertEqual(proc.stdout.splitlines(),
                         ["errors []", "next 1024", "results [None, 1, 2, 4, 8]",
                          "interrupted True", "waiters left 0", "exited"])

    def test_ctrl_c_in_wait_never_leaves_a_lock_held(self):
        self.assert_waits_survive_an_interrupt_storm("wait")

    def test_ctrl_c_in_as_completed_never_leaves_a_lock_held(self):
        self.assert_waits_survive_an_interrupt_storm("as_completed")


if __name__ == "__main__":
    unittest.main()
