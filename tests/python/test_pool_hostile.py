"""Both pools used as a hostile or careless concurrent.futures user would:
exceptions that are hard to report, arguments that fail to pickle or to
unpickle, pools dropped without shutdown, waits inside done-callbacks."""
import concurrent.futures as cf
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import hostilework  # noqa: E402
from frostcheck import SharedPool, run_child  # noqa: E402


class _HardToReport:
    """A task's exception whose pickling raises (a BaseException too), whose
    str() raises, or whose message is too deep to format fails its own future
    with an error naming the exception's type, never a bare 'worker failed'
    nor the KeyboardInterrupt raised while reporting it."""

    def test_exceptions_that_resist_reporting_fail_their_future_with_their_name(self):
        for kind in hostilework.HARD_TO_REPORT:
            with self.subTest(kind=kind):
                future = self.pool.submit(hostilework.raise_, kind)
                error = future.exception(timeout=60)
                self.assertIsInstance(error, Exception)
                self.assertNotIsInstance(error, (KeyboardInterrupt, SystemExit))
                text = f"{type(error).__name__}: {self.safe_str(error)}"
                cls = {"reduce-kbi": "ReduceRaisesKeyboardInterrupt",
                       "reduce-exit": "ReduceRaisesSystemExit", "str": "StrRaises",
                       "str-base": "StrRaisesBase", "deep": "ValueError"}[kind]
                self.assertIn(cls, text)
                self.assertNotIn("worker failed", text)
        self.assertEqual(self.pool.submit(hostilework.identity, 5).result(timeout=60), 5)

    @staticmethod
    def safe_str(error):
        try:
            return str(error)
        except BaseException:
            return "<str() failed>"

    def test_an_argument_that_does_not_unpickle_fails_only_its_future(self):
        future = self.pool.submit(hostilework.identity, hostilework.FailsToLoad())
        with self.assertRaisesRegex(ValueError, "cannot be loaded here"):
            future.result(timeout=60)
        self.assertEqual(self.pool.submit(hostilework.identity, 5).result(timeout=60), 5)
        self.assertEqual(list(self.pool.map(hostilework.identity, range(5))), list(range(5)))

    def test_an_argument_whose_pickling_raises_is_refused_at_submit(self):
        # an Exception is the TypeError naming what cannot be sent; a
        # KeyboardInterrupt or SystemExit is the caller's own and goes on
        for kind, expected in ((ValueError, TypeError), (KeyboardInterrupt, KeyboardInterrupt),
                               (SystemExit, SystemExit)):
            with self.subTest(kind=kind.__name__):
                with self.assertRaisesRegex(expected, "from an argument's __reduce__"):
                    self.pool.submit(hostilework.identity, hostilework.ReduceRaises(kind))
        self.assertEqual(self.pool.submit(hostilework.identity, 5).result(timeout=60), 5)


class PoolHardToReport(_HardToReport, SharedPool, unittest.TestCase):
    pass


class ProcessPoolHardToReport(_HardToReport, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pool = frost.ProcessPool(2)

    @classmethod
    def tearDownClass(cls):
        cls.pool.shutdown()


class PoolLifecycle(unittest.TestCase):
    def test_pools_dropped_without_shutdown_free_their_threads_and_interpreters(self):
        # as a ThreadPoolExecutor's threads end when it is collected; a pool
        # still referenced by a future of a running task stays until it ends
        proc = run_child(
            "import gc, os, threading, time, frost, hostilework\n"
            "try:\n"
            "    import _interpreters as interpreters\n"
            "except ImportError:\n"
            "    import _xxsubinterpreters as interpreters\n"
            "helper = threading.Thread(target=int)   # sanitizers start their own thread then\n"
            "helper.start(); helper.join()\n"
            "def counts(tasks=None):\n"
            "    for t in threading.enumerate():\n"
            "        if t.name.startswith('frost-pool-'):\n"
            "            t.join(60)\n"
            "    # a joined thread's OS task may linger a moment after join() returns\n"
            "    deadline = time.monotonic() + 60\n"
            "    while (tasks is not None and len(os.listdir('/proc/self/task')) > tasks\n"
            "           and time.monotonic() < deadline):\n"
            "        time.sleep(0.01)\n"
            "    return (threading.active_count(), len(os.listdir('/proc/self/task')),\n"
            "            len(interpreters.list_all()), len(os.listdir('/proc/self/fd')))\n"
            "before = counts()\n"
            "for i in range(8):\n"
            "    pool = frost.Pool(2)\n"
            "    assert pool.submit(hostilework.identity, i).result(60) == i\n"
            "    del pool\n"
            "    gc.collect()\n"
            "future = frost.Pool(2).submit(hostilework.identity, 'kept')\n"
            "gc.collect()\n"
            "assert future.result(60) == 'kept'\n"
            "results = frost.Pool(2).map(hostilework.identity, range(20))\n"
            "gc.collect()\n"
            "assert list(results) == list(range(20))\n"
            "del future, results\n"
            "gc.collect()\n"
            "print(before, counts(before[1]))\n", timeout=180)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        (threads, tasks, interps, fds), after = eval(proc.stdout.replace(") (", "), ("))
        # the OS threads: at most as many (the baseline may still count a
        # thread that was just joined)
        self.assertLessEqual(after[1], tasks, proc.stdout)
        self.assertEqual((after[0], after[2], after[3]), (threads, interps, fds), proc.stdout)

    def test_done_callbacks_may_wait_for_other_futures_of_the_pool(self):
        # callbacks run off the thread that delivers the pool's results (a
        # frost.Pool's results thread, a ProcessPool's manager thread)
        for kind in ("Pool", "ProcessPool"):
            with self.subTest(kind):
                proc = run_child("import hostilework\n"
                                 f"print(hostilework.wait_in_done_callbacks({kind!r}))\n",
                                 timeout=120)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(eval(proc.stdout),
                                 {0: 1, 1: None, 2: [3, 4], 3: 1, 4: [0, 1, 2], "shut": 1})


class PoolsStartedAtImport(unittest.TestCase):
    """A module that starts a pool at its top level and sends it one of its
    own functions (or initializer) is imported again by the worker that
    loads it: that pool's start is a RuntimeError saying so, not a chain of
    pools (worker interpreters or processes) without end."""

    def check(self, **env):
        proc = run_child("try:\n"
                         "    import poolatimport\n"
                         "except RuntimeError as exc:\n"
                         "    print(type(exc).__name__, exc)\n",
                         timeout=120, env=dict(os.environ, **env))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("RuntimeError", proc.stdout)
        self.assertIn("not at a module's top level", proc.stdout)
        # imported once here, once in the one worker that loaded it: one refusal
        self.assertEqual(proc.stdout.count("is being started while a worker imports"), 1)

    def test_a_pool_started_by_a_module_its_task_imports(self):
        self.check(POOL_KIND="interpreters")

    def test_a_pool_started_by_a_module_its_initializer_imports(self):
        self.check(POOL_KIND="interpreters", INITIALIZER="1")

    def test_a_process_pool_started_by_a_module_its_task_imports(self):
        self.check(POOL_KIND="process")


if __name__ == "__main__":
    unittest.main()
