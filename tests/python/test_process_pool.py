"""frost.ProcessPool (frost.Pool's API over worker processes) and the
frost.Pool error for modules that refuse subinterpreters (numpy), which
points to it. Every wait has a deadline."""
import concurrent.futures as cf
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import frost
from frost.process_pool import ProcessPool
from frostcheck import run_child, still_running

import mappedwork

DEADLINE = 120

try:
    import numpy
except ImportError:
    numpy = None


class ProcessPoolTest(unittest.TestCase):
    def test_is_an_executor_exported_lazily(self):
        self.assertIs(frost.ProcessPool, ProcessPool)
        self.assertTrue(issubclass(ProcessPool, cf.ProcessPoolExecutor))
        self.assertIn("ProcessPool", frost.__all__)
        self.assertIn("ProcessPool", dir(frost))

    def test_submit_map_and_results(self):
        with ProcessPool(2) as pool:
            self.assertEqual(pool.workers, 2)
            self.assertEqual(pool.submit(mappedwork.add, 2, b=3).result(DEADLINE), 5)
            self.assertEqual(list(pool.map(mappedwork.add, range(10), range(10),
                                           timeout=DEADLINE)), list(range(0, 20, 2)))
            self.assertEqual(list(pool.map(mappedwork.add, range(10), range(10), chunksize=3,
                                           timeout=DEADLINE)), list(range(0, 20, 2)))
            if sys.version_info >= (3, 14):   # the stdlib's map takes buffersize from 3.14
                self.assertEqual(list(pool.map(mappedwork.add, range(10), range(10), chunksize=3,
                                               buffersize=2, timeout=DEADLINE)),
                                 list(range(0, 20, 2)))
                with self.assertRaisesRegex(ValueError, "buffersize must be None or >= 1"):
                    pool.map(mappedwork.add, [1], [2], buffersize=0)
            else:
                with self.assertRaisesRegex(TypeError, "buffersize from Python 3.14 on"):
                    pool.map(mappedwork.add, [1], [2], buffersize=2)
            pids = set(pool.map(mappedwork.pid, range(8), timeout=DEADLINE))
            self.assertNotIn(os.getpid(), pids)
            self.assertLessEqual(len(pids), 2)
            self.assertIn("spawn running", repr(pool))
        self.assertIn("shut down", repr(pool))

    def test_defaults(self):
        pool = ProcessPool()
        try:
            self.assertEqual(pool.workers, os.cpu_count())
            self.assertEqual(pool._mp_context.get_start_method(), "spawn")
        finally:
            pool.shutdown()
        with ProcessPool(max_workers=1, mp_context="forkserver") as pool:   # the stdlib's names
            self.assertEqual(pool.workers, 1)
            self.assertEqual(pool.submit(mappedwork.add, 1, 1).result(DEADLINE), 2)

    def test_exceptions_come_back(self):
        with ProcessPool(1) as pool:
            future = pool.submit(mappedwork.fail, "bad")
            with self.assertRaisesRegex(ValueError, "bad"):
                future.result(DEADLINE)
            self.assertIn("mappedwork.py", str(future.exception().__cause__))   # remote traceback
            self.assertEqual(pool.submit(mappedwork.add, 1, 2).result(DEADLINE), 3)

    def test_bad_arguments(self):
        for args, kwargs, error in [
                ((0,), {}, ValueError), (("2",), {}, TypeError), ((True,), {}, TypeError),
                ((2,), {"max_workers": 2}, TypeError), ((), {"mp_context": 5}, TypeError),
                ((), {"mp_context": "nope"}, ValueError), ((1,), {"initializer": 3}, TypeError),
                ((1,), {"initargs": 3}, TypeError)]:
            with self.subTest(args=args, kwargs=kwargs):
                with self.assertRaises(error):
                    ProcessPool(*args, **kwargs)
        with ProcessPool(1) as pool:
            for call in (lambda: pool.submit(3), lambda: pool.map(3, [1]),
                         lambda: pool.map(mappedwork.pid, [1], chunksize=0),
                         lambda: pool.map(mappedwork.pid, [1], chunksize="1"),
                         lambda: pool.map(mappedwork.pid, [1], timeout="1")):
                with self.assertRaises((TypeError, ValueError)):
                    call()
            with self.assertRaisesRegex(TypeError, "lambda.*worker process"):
                pool.submit(lambda: 1)
            with self.assertRaisesRegex(TypeError, "lambda.*worker process"):
                pool.map(lambda x: x, [1])
        with self.assertRaisesRegex(TypeError, "initializer.*lambda"):
            ProcessPool(1, initializer=lambda: None)
        with ProcessPool(1) as pool:

            def nested():
                return 1
            with self.assertRaisesRegex(TypeError, "nested function"):
                pool.submit(nested)

    def test_main_of_python_c_is_refused_unless_forked(self):
        code = textwrap.dedent("""
            import frost
            def f():
                return 7
            try:
                frost.ProcessPool(1).submit(f)
            except TypeError as e:
                print("refused", "python -c" in str(e))
            with frost.ProcessPool(1, mp_context="fork") as pool:
                print(pool.submit(f).result(60))
            """)
        r = run_child(code, timeout=DEADLINE)
        self.assertEqual(r.stdout.split(), ["refused", "True", "7"], r.stderr)

    def test_initializer_runs_in_every_worker(self):
        with ProcessPool(2, initializer=mappedwork.init, initargs=("ready",)) as pool:
            for state in pool.map(mappedwork.initialized, range(4), timeout=DEADLINE):
                self.assertEqual(state, ["ready"])

    def test_shutdown(self):
        pool = ProcessPool(1)
        first = pool.submit(mappedwork.sleep_then, 0.5, "first")
        queued = [pool.submit(mappedwork.sleep_then, 5, i) for i in range(5)]
        first.running() or first.result(DEADLINE)      # started (or done)
        pool.shutdown(wait=True, cancel_futures=True)
        self.assertEqual(first.result(0), "first")
        self.assertTrue(any(f.cancelled() for f in queued))
        with self.assertRaises(RuntimeError):
            pool.submit(mappedwork.add, 1, 2)
        pool.shutdown()                                 # again: nothing to do

    def test_wait_and_as_completed_see_tasks_cancelled_by_shutdown_or_cancel(self):
        # the stdlib's manager thread cancels the queued tasks of a
        # shutdown(cancel_futures=True) with cancel(), which wakes no
        # concurrent.futures.wait()/as_completed(): a user's wait for them hung for
        # ever (as did one for a queued task the user cancelled, until the manager
        # reached it); the pool's own waits went round it (_wait_done)
        pool = ProcessPool(1)
        first = pool.submit(mappedwork.sleep_then, 3.0, "first")
        queued = [pool.submit(mappedwork.sleep_then, 0.5, i) for i in range(6)]
        while not first.running():   # the worker's call queue holds two: the sixth waits
            time.sleep(0.01)
        self.assertTrue(queued[-1].cancel())
        done, not_done = cf.wait([queued[-1]], timeout=DEADLINE)
        self.assertEqual((done, not_done), ({queued[-1]}, set()))
        self.assertFalse(first.done())   # woken by the cancel, not by the manager's turn
        pool.shutdown(wait=False, cancel_futures=True)
        done, not_done = cf.wait(queued + [first], timeout=DEADLINE)
        self.assertEqual(not_done, set())
        self.assertEqual(len(list(cf.as_completed(queued + [first], timeout=DEADLINE))), 7)
        self.assertEqual(first.result(0), "first")
        self.assertTrue(queued[-2].cancelled())
        pool.shutdown(wait=True)

    def test_shutdown_waits_for_workers_replaced_by_max_tasks_per_child(self):
        # the stdlib's shutdown(wait=False), which frost's called first, dropped
        # the worker table while the manager still ran; the manager, replacing
        # a worker at its task limit, died on it (TypeError in its thread) and
        # the queued futures stayed pending forever (CPython gh-119592)
        for how in ("with", "shutdown"):
            with self.subTest(how):
                pool = ProcessPool(1, max_tasks_per_child=1)
                futures = [pool.submit(mappedwork.add, i, 1) for i in range(4)]
                if how == "with":
                    with pool:
                        pass
                else:
                    pool.shutdown(wait=True)
                self.assertTrue(all(f.done() for f in futures), [f._state for f in futures])
                self.assertEqual([f.result(0) for f in futures], [1, 2, 3, 4])

    def test_workers_at_max_tasks_per_child_are_replaced(self):
        # the stdlib's manager took a stale idle-worker token for an idle
        # worker and replaced none: after the first worker's last task the
        # queued ones waited forever (CPython gh-115634 on 3.13.0 / 3.12.1)
        for workers, limit, tasks in ((1, 2, 5), (2, 3, 14)):
            with self.subTest(workers=workers, limit=limit):
                pool = ProcessPool(workers, max_tasks_per_child=limit)
                futures = [pool.submit(mappedwork.pid_and, i) for i in range(tasks)]
                done, pending = cf.wait(futures, timeout=DEADLINE)
                self.assertEqual(len(pending), 0, [f._state for f in futures])
                results = [f.result(0) for f in futures]
                self.assertEqual([r[1] for r in results], list(range(tasks)))
                per_pid = {}
                for pid, _ in results:
                    per_pid[pid] = per_pid.get(pid, 0) + 1
                self.assertLessEqual(max(per_pid.values()), limit)
                pool.shutdown(wait=True)

    def test_map_timeout_and_cancel(self):
        with ProcessPool(1) as pool:
            pool.submit(mappedwork.add, 0, 0).result(DEADLINE)          # the worker is up
            blocker = pool.submit(mappedwork.sleep_then, 1.5, "slow")
            queued = [pool.submit(mappedwork.add, i, 0) for i in range(4)]
            cancelled = [f.cancel() for f in queued]
            self.assertIn(True, cancelled)                                # queued ones can be
            results = pool.map(mappedwork.sleep_then, [1.5], ["late"], timeout=0.2)
            with self.assertRaises(cf.TimeoutError):
                list(results)
            self.assertEqual(blocker.result(DEADLINE), "slow")

    def test_broken_worker(self):
        with ProcessPool(1) as pool:
            future = pool.submit(mappedwork.die)
            with self.assertRaises(cf.process.BrokenProcessPool):
                future.result(DEADLINE)
            self.assertIn("broken", repr(pool))
            with self.assertRaises(cf.process.BrokenProcessPool):
                pool.submit(mappedwork.add, 1, 2)

    def test_replies_that_do_not_unpickle_fail_only_their_future(self):
        # The stdlib unpickles replies in its manager thread: one that fails there
        # broke the whole pool ("terminated abruptly"), every running future with it.
        with ProcessPool(2) as pool:
            slow = pool.submit(mappedwork.sleep_then, 1.0, "slow")
            with self.assertRaisesRegex(RuntimeError, r"poolwork\.NeedsTwoArguments: boom "
                                        r"\(the exception cannot be sent back"):
                pool.submit(mappedwork.raise_needs_two, "boom").result(DEADLINE)
            with self.assertRaisesRegex(RuntimeError, r"mappedwork\.RefusesPickling: no"):
                pool.submit(mappedwork.raise_refuses_pickling, "no").result(DEADLINE)
            unloadable = pool.submit(mappedwork.return_rebuilds_nowhere)
            with self.assertRaisesRegex(TypeError, "result of the task cannot be unpickled "
                                        "in the calling process: ValueError: this result"):
                unloadable.result(DEADLINE)
            self.assertIsInstance(unloadable.exception(DEADLINE), TypeError)
            self.assertIsInstance(unloadable, cf.Future)
            with self.assertRaisesRegex(TypeError, "result of 'return_lambda' cannot be sent "
                                        "back from the worker process"):
                pool.submit(mappedwork.return_lambda).result(DEADLINE)
            for chunksize in (1, 3):   # map: the same, through the stdlib's chunks
                with self.assertRaisesRegex(RuntimeError, "NeedsTwoArguments"):
                    list(pool.map(mappedwork.raise_needs_two, "abcd", chunksize=chunksize,
                                  timeout=DEADLINE))
                with self.assertRaisesRegex(TypeError, "cannot be unpickled"):
                    list(pool.map(mappedwork.return_rebuilds_nowhere, range(4),
                                  chunksize=chunksize, timeout=DEADLINE))
            try:
                pool.submit(mappedwork.raise_needs_two, "traced").result(DEADLINE)
            except RuntimeError as exc:   # the original's traceback travels as text
                self.assertIn("NeedsTwoArguments: traced", str(exc.__cause__))
                self.assertIn("raise_needs_two", str(exc.__cause__))
            self.assertEqual(slow.result(DEADLINE), "slow")   # the pool is not broken
            self.assertEqual(pool.submit(mappedwork.add, 1, 2).result(DEADLINE), 3)
            self.assertIn("running", repr(pool))

    def test_refused_in_a_subinterpreter(self):
        # multiprocessing's queues start daemon threads, which a frost.Pool worker
        # refuses: a task that made a ProcessPool failed in submit() or shutdown()
        with frost.Pool(1) as pool:
            self.assertRegex(pool.submit(mappedwork.process_pool_here).result(DEADLINE),
                             "cannot run in a subinterpreter.*main interpreter")

    def test_stores_cross_by_handle(self):
        data = {"xs": list(range(1000)), "name": "n"}
        with frost.share(data) as store, ProcessPool(2) as pool:
            result = pool.submit(mappedwork.describe, store.root).result(DEADLINE)
            self.assertEqual(result[:4], (store.store_id, store.root.node_offset, "MappedDict",
                                          data))
            with frost.freeze(data) as arena:
                with self.assertRaisesRegex(TypeError, "frost.share"):
                    pool.submit(mappedwork.echo, arena.root).result(DEADLINE)

    @unittest.skipIf(numpy is None, "numpy is not installed")
    def test_numpy_runs_in_process_workers(self):
        with frost.share({"xs": list(range(100))}) as store, ProcessPool(1) as pool:
            self.assertEqual(pool.submit(mappedwork.numpy_sum, store.root["xs"]).result(DEADLINE),
                             4950)


class InitargsTest(unittest.TestCase):
    """initializer(*initargs) that a spawn or forkserver worker cannot be
    sent: the constructor refuses it (TypeError naming the argument). The
    stdlib pickles them only as a worker starts, in the first submit(), whose
    task was queued already: submit() raised, and exit then waited for that
    future for ever. Each scenario runs in a child with a deadline."""

    def run_scenario(self, body):
        proc = run_child(textwrap.dedent(body), timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout.splitlines()

    def test_initargs_that_do_not_pickle_are_refused_by_the_constructor(self):
        lines = self.run_scenario("""
            import threading
            import frost, mappedwork
            for ctx in ("spawn", "forkserver"):
                for how in ("plain", "with"):
                    try:
                        pool = frost.ProcessPool(1, initializer=mappedwork.init, mp_context=ctx,
                                                 initargs=(1, threading.Lock()))
                        if how == "with":
                            with pool:
                                pool.submit(mappedwork.add, 1, 2)
                        else:
                            pool.submit(mappedwork.add, 1, 2)
                    except TypeError as e:
                        print("refused", ctx, how, e)
            try:   # the initializer itself (a callable instance: pickle decides)
                frost.ProcessPool(1, initializer=mappedwork.UnsendableCallable())
            except TypeError as e:
                print("refused", e)
            print("end")
            """)
        self.assertEqual(len(lines), 6, lines)
        for line in lines[:4]:
            self.assertRegex(line, r"^refused \w+ \w+ cannot send initargs\[1\] of initializer "
                                   r"<function init .*> to a worker process: TypeError: "
                                   r"cannot pickle '_thread.lock' object$")
        self.assertRegex(lines[4], r"^refused cannot send initializer .* to a worker process: "
                                   r"TypeError: UnsendableCallable refuses to be pickled$")
        self.assertEqual(lines[5], "end")

    def test_what_a_worker_can_be_sent_is_accepted(self):
        # multiprocessing's queues and locks pickle only while a worker starts;
        # a forked worker inherits its initargs (nothing is pickled); without an
        # initializer nothing is sent
        lines = self.run_scenario("""
            import multiprocessing, threading
            import frost, mappedwork
            for ctx in ("spawn", "forkserver"):
                c = multiprocessing.get_context(ctx)
                queue = c.Queue()
                with frost.ProcessPool(1, initializer=mappedwork.put_into, mp_context=ctx,
                                       initargs=(queue, c.Lock(), ctx)) as pool:
                    print(pool.submit(mappedwork.add, 1, 2).result(60), queue.get(timeout=60))
            with frost.ProcessPool(1, initializer=mappedwork.init, mp_context="fork",
                                   initargs=(threading.Lock(),)) as pool:
                print(pool.submit(mappedwork.initialized_types).result(60))
            with frost.ProcessPool(1, initargs=(threading.Lock(),)) as pool:
                print(pool.submit(mappedwork.add, 2, 2).result(60))
            """)
        self.assertEqual(lines, ["3 spawn", "3 forkserver", "['lock']", "4"])


class ChildScenario(unittest.TestCase):
    """A scenario run in a child with a deadline (a hang fails); its lines."""

    PRELUDE = """
        import concurrent.futures as cf
        import frost, mappedwork

        def outcome(future):
            try:
                return f"result {future.result(30)}"
            except cf.TimeoutError:
                return "pending"
            except Exception as e:
                return f"{type(e).__name__} ({type(e.__cause__).__name__}): {e}"
        """

    def run_scenario(self, body):
        proc = run_child(textwrap.dedent(self.PRELUDE) + textwrap.dedent(body), timeout=90)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("Exception in thread", proc.stderr)
        return proc.stdout.splitlines()


class WorkerStartFailureTest(ChildScenario):
    """A worker that cannot be started (here: its initargs hold a store closed
    since the constructor) breaks the pool: every queued future fails with a
    BrokenProcessPool caused by the start's error, and the program exits. The
    stdlib raised it from submit() with the task queued (the future pending
    for ever, exit waiting for it), or on its manager thread while replacing
    a worker at max_tasks_per_child, which ended that thread: the queued
    futures waited for ever."""

    BROKEN = ("BrokenProcessPool (StoreClosedError): a worker process could not be started "
              "(StoreClosedError: pickling of a closed frost.MappedStore): the process pool "
              "is not usable any more")

    def test_first_worker(self):
        lines = self.run_scenario("""
            store = frost.share({"a": [1]})
            pool = frost.ProcessPool(1, initializer=mappedwork.init, initargs=(store,))
            store.close()
            print(outcome(pool.submit(mappedwork.add, 1, 2)), flush=True)
            try:
                pool.submit(mappedwork.add, 1, 2)
            except cf.process.BrokenProcessPool as e:
                print("submit:", e)
            print(repr(pool).split()[-1])
            """)
        self.assertEqual(lines, [self.BROKEN, "submit: " + self.BROKEN.split(": ", 1)[1],
                                 "broken>"])

    def test_replacement_at_max_tasks_per_child(self):
        for workers in (1, 2):
            with self.subTest(workers=workers):
                lines = self.run_scenario(f"""
                    store = frost.share({{"a": [1]}})
                    pool = frost.ProcessPool({workers}, initializer=mappedwork.init,
                                             initargs=(store,), max_tasks_per_child=1)
                    first = [pool.submit(mappedwork.sleep_then, 1, "first")
                             for _ in range({workers})]
                    queued = [pool.submit(mappedwork.add, i, 0) for i in range(3)]
                    store.close()   # every worker started already, with the store
                    for future in first + queued:
                        print(outcome(future), flush=True)
                    """)
                # the first worker to end breaks the pool: a task still running
                # on another fails too (as when a worker dies)
                self.assertEqual(len(lines), workers + 3, lines)
                self.assertIn("result first", lines[:workers])
                for line in lines[:workers]:
                    self.assertIn(line, ("result first", self.BROKEN))
                self.assertEqual(lines[workers:], [self.BROKEN] * 3)


class DroppedPoolTest(ChildScenario):
    """A pool dropped with tasks queued runs them (its futures hold it until
    done): with max_tasks_per_child the stdlib's manager replaced an ended
    worker only while the executor lived, so they waited for ever, and so did
    exit. Once its futures are done the pool goes, futures held or not."""

    def test_queued_tasks_of_a_dropped_pool_run(self):
        lines = self.run_scenario("""
            import gc, weakref
            pool = frost.ProcessPool(1, max_tasks_per_child=1)
            futures = [pool.submit(mappedwork.sleep_then, 0.5, "first")]
            futures += [pool.submit(mappedwork.add, i, 0) for i in range(3)]
            ref = weakref.ref(pool)
            del pool
            gc.collect()
            for future in futures:
                print(outcome(future), flush=True)
            gc.collect()
            print("collected" if ref() is None else "alive", flush=True)
            """)
        self.assertEqual(lines, ["result first", "result 0", "result 1", "result 2", "collected"])


class KilledParentTest(unittest.TestCase):
    """A parent killed by SIGKILL while its pool runs tasks: the stdlib's workers
    waited on their call queue for ever, and kept the resource tracker and the
    pool's semaphores in /dev/shm with them."""

    CHILD = textwrap.dedent("""
        import gc, multiprocessing.synchronize, os, signal, sys, time
        import frost, mappedwork
        if __name__ == "__main__":
            pool = frost.ProcessPool(2, mp_context=sys.argv[1])
            futures = [pool.submit(mappedwork.sleep_then, 600, None) for _ in range(3)]
            while len(pool._processes) < 2:
                time.sleep(0.05)
            time.sleep(1)   # the tasks run
            semaphores = [o._semlock.name for o in gc.get_objects()
                          if isinstance(o, multiprocessing.synchronize.SemLock)]
            print(" ".join(map(str, pool._processes)), flush=True)
            print(" ".join(n for n in semaphores if n), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """)

    def test_workers_end_with_their_parent(self):
        import time
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "killed_parent.py")   # spawn workers import it
            with open(script, "w") as f:
                f.write(self.CHILD)
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                [os.path.dirname(os.path.abspath(__file__)),
                 os.path.dirname(os.path.dirname(frost.__file__))]))
            for method in ("spawn", "forkserver", "fork"):
                with self.subTest(method=method):
                    # files, not pipes: workers that outlive the parent would hold a pipe open
                    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
                        returncode = subprocess.run([sys.executable, script, method], env=env,
                                                    stdout=out, stderr=err,
                                                    timeout=DEADLINE).returncode
                        out.seek(0)
                        err.seek(0)
                        lines, errors = out.read().splitlines(), err.read()
                    self.assertEqual(returncode, -signal.SIGKILL, errors)
                    workers = [int(pid) for pid in lines[0].split()]
                    semaphores = lines[1].split() if len(lines) > 1 else []
                    self.assertEqual(len(workers), 2)
                    end = time.monotonic() + DEADLINE
                    while (still_running(workers) or any(
                            os.path.exists(f"/dev/shm/sem.{n.lstrip('/')}") for n in semaphores)) \
                            and time.monotonic() < end:
                        time.sleep(0.1)
                    left = still_running(workers)
                    for pid in left:   # ours to end, so that a failure leaves nothing running
                        os.kill(pid, signal.SIGKILL)
                    self.assertEqual(left, [], "workers outlived their killed parent")
                    self.assertEqual([n for n in semaphores
                                      if os.path.exists(f"/dev/shm/sem.{n.lstrip('/')}")], [])


CTRL_C_PRELUDE = """
import concurrent.futures as cf, os, signal, sys, threading, time
import frost, mappedwork

def ctrl_c_in(seconds):                # what a user's Ctrl-C does, later
    threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT)).start()

def worker_pids(pool):                 # workers start on demand: after the submits
    return sorted(pool._processes)

from frostcheck import still_running as running   # those still running (a zombie has ended)
"""


class CtrlCTest(unittest.TestCase):
    """Ctrl-C while frost.ProcessPool waits (shutdown, map's iteration, the
    end of a with block) ends the wait and stops the pool: queued tasks are
    cancelled, the worker processes end (no orphan, no hang, however long
    their tasks would run), and shutdown() again returns. Tasks sleep 300 s:
    waiting for them fails the child's deadline."""

    def run_scenario(self, body, expect_rc=0):
        # past the deadline run_child ends the workers too (its whole session)
        proc = run_child(CTRL_C_PRELUDE + textwrap.dedent(body), timeout=90)
        self.assertEqual(proc.returncode, expect_rc, proc.stderr)
        lines = proc.stdout.splitlines()
        pids = [int(p) for p in lines[0].split()[1:]] if lines[0].startswith("pids") else []
        self.assertTrue(pids, proc.stdout)
        self.assertEqual(still_running(pids), [], "orphan worker processes")
        return lines[1:], proc

    def test_ctrl_c_while_shutdown_waits(self):
        lines, _ = self.run_scenario("""
            pool = frost.ProcessPool(2)
            futures = [pool.submit(time.sleep, 300) for _ in range(6)]
            pids = worker_pids(pool)
            print("pids", *pids, flush=True)
            ctrl_c_in(1.0)
            try:
                pool.shutdown(wait=True)
                print("not interrupted")
            except KeyboardInterrupt:
                print("interrupted")
            pool.shutdown(wait=True)
            print("shut down again")
            print("all done", all(f.done() for f in futures))
            print("queued cancelled", any(f.cancelled() for f in futures))
            print("running", running(pids))
            # no thread of the pool's outlives it: a helper left joining the manager by
            # the interrupted call ran on, and one still running at exit is a thread
            # never joined (ThreadSanitizer: "thread leak", exit 66, about 1 CI run in 2)
            print("threads", [t.name for t in threading.enumerate()
                              if t is not threading.main_thread()
                              and not isinstance(t, threading.Timer)])
        """)
        self.assertEqual(lines, ["interrupted", "shut down again", "all done True",
                                 "queued cancelled True", "running []", "threads []"])

    def test_ctrl_c_during_map_iteration(self):
        for chunksize in (1, 2):
            with self.subTest(chunksize=chunksize):
                lines, _ = self.run_scenario(f"""
                    pool = frost.ProcessPool(2)
                    results = pool.map(time.sleep, [300] * 6, chunksize={chunksize})
                    pids = worker_pids(pool)
                    print("pids", *pids, flush=True)
                    ctrl_c_in(1.0)
                    try:
                        for r in results:
                            print("result", r)
                    except KeyboardInterrupt:
                        print("interrupted")
                    pool.shutdown(wait=True)
                    print("shut down")
                    print("running", running(pids))
                """)
                self.assertEqual(lines, ["interrupted", "shut down", "running []"])

    def test_ctrl_c_during_map_in_a_with_block(self):
        lines, _ = self.run_scenario("""
            try:
                with frost.ProcessPool(2) as pool:
                    results = pool.map(time.sleep, [300] * 6)
                    pids = worker_pids(pool)
                    print("pids", *pids, flush=True)
                    ctrl_c_in(1.0)
                    list(results)
            except KeyboardInterrupt:
                print("interrupted")
            print("running", running(pids))
            pool.shutdown(wait=True)
            print("shut down again")
        """)
        self.assertEqual(lines, ["interrupted", "running []", "shut down again"])

    def test_a_second_ctrl_c_while_the_pool_is_being_stopped(self):
        # the second Ctrl-C lands in _stop_workers before any worker was
        # terminated (here: in its wakeup of the manager thread). It escaped
        # with every worker still running its task, and interpreter exit then
        # waited for those tasks (300 s; forever for endless ones).
        lines, _ = self.run_scenario("""
            try:
                with frost.ProcessPool(2) as pool:
                    futures = [pool.submit(time.sleep, 300) for _ in range(2)]
                    pids = worker_pids(pool)
                    print("pids", *pids, flush=True)
                    wakeup = pool._executor_manager_thread_wakeup
                    def wakeup_hit_by_a_second_ctrl_c(real=wakeup.wakeup):
                        wakeup.wakeup = real
                        os.kill(os.getpid(), signal.SIGINT)   # raises here
                        real()
                    wakeup.wakeup = wakeup_hit_by_a_second_ctrl_c
                    ctrl_c_in(1.0)
                    futures[0].result()
            except KeyboardInterrupt:
                print("interrupted")
            deadline = time.monotonic() + 30   # (killed: gone in a moment)
            while running(pids) and time.monotonic() < deadline:
                time.sleep(0.05)
            print("running", running(pids))
            pool.shutdown(wait=True)
            print("shut down again", all(f.done() for f in futures))
        """)
        self.assertEqual(lines, ["interrupted", "running []", "shut down again True"])

    def test_ctrl_c_in_a_with_block_while_tasks_run(self):
        lines, _ = self.run_scenario("""
            try:
                with frost.ProcessPool(2) as pool:
                    futures = [pool.submit(time.sleep, 300) for _ in range(4)]
                    pids = worker_pids(pool)
                    print("pids", *pids, flush=True)
                    ctrl_c_in(1.0)
                    time.sleep(60)
            except KeyboardInterrupt:
                print("interrupted")
            print("running", running(pids))
        """)
        self.assertEqual(lines, ["interrupted", "running []"])

    def test_uncaught_ctrl_c_elsewhere_ends_the_program(self):
        # not in a wait of the pool: interpreter exit stops it (the stdlib's
        # exit hook would wait for the tasks)
        lines, proc = self.run_scenario("""
            pool = frost.ProcessPool(2)
            futures = [pool.submit(time.sleep, 300) for _ in range(4)]
            pids = worker_pids(pool)
            print("pids", *pids, flush=True)
            ctrl_c_in(1.0)
            time.sleep(60)
        """, expect_rc=-signal.SIGINT)
        self.assertEqual(lines, [])
        self.assertIn("KeyboardInterrupt", proc.stderr)

    def test_ctrl_c_while_exit_waits_for_a_pool_never_shut_down(self):
        # the script ends with a task running: exit waits for it (as the stdlib
        # does), and a Ctrl-C then stops the pool; in the stdlib's exit hook it
        # was printed as ignored and the wait went on (300 s)
        lines, proc = self.run_scenario("""
            pool = frost.ProcessPool(2)
            futures = [pool.submit(time.sleep, 300) for _ in range(4)]
            pids = worker_pids(pool)
            print("pids", *pids, flush=True)
            ctrl_c_in(1.5)
            print("script ends", flush=True)
        """)
        self.assertEqual(lines, ["script ends"])
        self.assertIn("KeyboardInterrupt while exit waited for the tasks of a frost.ProcessPool",
                      proc.stderr)

    def test_exit_still_waits_for_the_tasks_of_a_pool_never_shut_down(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        lines, _ = self.run_scenario(f"""
            pool = frost.ProcessPool(1)
            futures = [pool.submit(mappedwork.sleep_then_write, 0.5, os.path.join({folder!r}, str(i)))
                       for i in range(3)]
            print("pids", *worker_pids(pool), flush=True)
        """)
        self.assertEqual(sorted(os.listdir(folder)), ["0", "1", "2"])

    def test_exit_after_shutdown_without_wait_that_cancels_the_queued_tasks(self):
        # the manager thread cancels the queued tasks after shutdown returns:
        # exit waited for them with concurrent.futures.wait, which a cancel()
        # never wakes (it hung for ever); the running task still ends
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        lines, _ = self.run_scenario(f"""
            pool = frost.ProcessPool(1)
            futures = [pool.submit(mappedwork.sleep_then_write, 0.5, os.path.join({folder!r}, str(i)))
                       for i in range(10)]
            while not futures[0].running():   # sent to the worker: it runs to its end
                time.sleep(0.01)
            print("pids", *worker_pids(pool), flush=True)
            pool.shutdown(wait=False, cancel_futures=True)
        """)
        written = sorted(os.listdir(folder))
        self.assertIn("0", written)
        self.assertLess(len(written), 10)   # (the next ones may have been sent already)

    def test_uncaught_ctrl_c_during_map_ends_the_program(self):
        lines, proc = self.run_scenario("""
            pool = frost.ProcessPool(2)
            results = pool.map(time.sleep, [300] * 6)
            pids = worker_pids(pool)
            print("pids", *pids, flush=True)
            ctrl_c_in(1.0)
            for r in results:
                print("result", r)
        """, expect_rc=-signal.SIGINT)
        self.assertEqual(lines, [])
        self.assertIn("KeyboardInterrupt", proc.stderr)
        self.assertNotIn("Fatal Python error", proc.stderr)

    def test_ctrl_c_in_a_future_wait_never_leaves_it_locked(self):
        # Thousands of interrupts landing in result(timeout=0) and
        # exception(timeout=0) of a pending future for 2 s, then in
        # result(timeout=0.001) for 1 s (its interrupts mostly land in the timed
        # wait, so it has a phase of its own): each is a KeyboardInterrupt or a
        # TimeoutError. With the stdlib's threading.Condition an interrupt landing
        # in __enter__ just after the acquire (or in __exit__ before the release)
        # left the future's lock held: the manager thread, which takes it to
        # deliver the result, hung, and so did the next result and the pool's
        # shutdown (3 of 3 runs before); one landing in Condition.wait just after
        # it released the lock made the with block's release a RuntimeError. The
        # main thread never waits on f itself after the storm: its wait would
        # release a leaked lock (an RLock it owns).
        lines, _ = self.run_scenario("""
            from frostcheck import interrupt_storm
            with frost.ProcessPool(1) as pool:
                f = pool.submit(time.sleep, 5)
                pids = worker_pids(pool)
                print("pids", *pids, flush=True)
                interrupted, errors = interrupt_storm(
                    [(2, [lambda: f.result(timeout=0), lambda: f.exception(timeout=0)]),
                     (1, [lambda: f.result(timeout=0.001)])], batch=50)
                print("errors", errors[:3], flush=True)
                if f._condition._is_owned():   # the pool's exit would wait for ever
                    print("the future's lock was left held", file=sys.stderr, flush=True)
                    os._exit(1)
                # the next result comes after f's: the manager thread must deliver f first
                print("next", pool.submit(pow, 2, 10).result(timeout=30), flush=True)
                print("delivered", f.done() and f.result() is None, interrupted > 100, flush=True)
            print("running", running(pids), flush=True)
        """)
        self.assertEqual(lines, ["errors []", "next 1024", "delivered True True", "running []"])

    # concurrent.futures.wait() and as_completed() take the futures' locks with
    # _AcquireFutures, whose __enter__/__exit__ loop over acquire()/release() in Python:
    # an interrupt between two left the ones taken held (every run before), and the
    # manager thread hung on them; one in their waiter's Event left its lock held with
    # the waiter installed, and the manager thread hung in its set() (frost/_condition.py).
    # frostcheck.interrupt_storm_in_waits: thousands of interrupts in those calls.
    def assert_waits_survive_an_interrupt_storm(self, which):
        lines, _ = self.run_scenario(f"""
            from frostcheck import interrupt_storm_in_waits
            with frost.ProcessPool(1) as pool:
                pool.submit(pow, 1, 1).result()
                pids = worker_pids(pool)
                print("pids", *pids, flush=True)
                for line in interrupt_storm_in_waits(pool, {which!r}):
                    print(line, flush=True)
            print("running", running(pids), flush=True)
        """)
        self.assertEqual(lines, ["errors []", "next 1024", "results [None, 1, 2, 4, 8]",
                                 "interrupted True", "waiters left 0", "running []"])

    def test_ctrl_c_in_wait_never_leaves_a_lock_held(self):
        self.assert_waits_survive_an_interrupt_storm("wait")

    def test_ctrl_c_in_as_completed_never_leaves_a_lock_held(self):
        self.assert_waits_survive_an_interrupt_storm("as_completed")


@unittest.skipIf(numpy is None, "numpy is not installed")
class SubinterpreterRefusalTest(unittest.TestCase):
    """numpy refuses own-GIL subinterpreters: frost.Pool says so, and points
    to frost.ProcessPool, wherever the import happens."""

    def assertRefusal(self, exc):
        text = str(exc)
        self.assertIsInstance(exc, ImportError)
        self.assertIn("does not support loading in subinterpreters", text)
        self.assertIn("frost.ProcessPool", text)
        self.assertIn("numpy", text)

    def test_task(self):
        with frost.Pool(1) as pool:
            with self.assertRaises(ImportError) as caught:
                pool.submit(mappedwork.numpy_import).result(DEADLINE)
        self.assertRefusal(caught.exception)

    def test_initializer(self):
        with self.assertRaises(ImportError) as caught:
            frost.Pool(1, initializer=mappedwork.numpy_import)
        self.assertRefusal(caught.exception)

    def test_main_script(self):
        with tempfile.TemporaryDirectory() as d:
            script = os.path.join(d, "uses_numpy.py")
            with open(script, "w") as f:
                f.write(textwrap.dedent("""
                    import operator
                    import numpy
                    import frost
                    def double(x):
                        return 2 * x
                    if __name__ == "__main__":
                        # tasks of modules never import the script: they work
                        with frost.Pool(1) as pool:
                            print("neg", pool.submit(operator.neg, 2).result(60))
                            try:   # a task of the script needs it, and numpy with it
                                pool.submit(double, 2).result(60)
                            except ImportError as e:
                                print("task", e)
                        try:       # so does an initializer of the script
                            frost.Pool(1, initializer=double, initargs=(1,))
                        except ImportError as e:
                            print("initializer", e)
                    """))
            r = run_child(f"import runpy, sys\nsys.argv = [{script!r}]\n"
                          f"runpy.run_path({script!r}, run_name='__main__')", timeout=DEADLINE)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "neg -2", r.stderr)
        self.assertEqual([line.split()[0] for line in lines[1:]], ["task", "initializer"])
        for line in lines[1:]:
            self.assertIn("does not support loading in subinterpreters", line)
            self.assertIn("It is imported by the main script", line)
            self.assertIn("frost.ProcessPool", line)

    def test_other_import_errors_unchanged(self):
        with frost.Pool(1) as pool:
            with self.assertRaisesRegex(ImportError, "no_such_module_here") as caught:
                pool.submit(__import__, "no_such_module_here").result(DEADLINE)
        self.assertNotIn("ProcessPool", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
