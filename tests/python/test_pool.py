"""frost.Pool: an Executor over own-GIL subinterpreters, with frost stores and
views crossing by reference (issue 3)."""
import concurrent.futures as cf
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import poolwork  # noqa: E402
from frostcheck import SharedPool, run_python  # noqa: E402


class PoolBasics(SharedPool, unittest.TestCase):
    def test_is_an_executor(self):
        self.assertIsInstance(self.pool, cf.Executor)
        self.assertEqual(self.pool.workers, 2)

    def test_submit_and_map(self):
        self.assertEqual(self.pool.submit(poolwork.add, 2, 3).result(timeout=60), 5)
        self.assertEqual(list(self.pool.map(poolwork.add, range(10), range(10))),
                         [2 * i for i in range(10)])
        self.assertEqual(list(self.pool.map(poolwork.add, range(100), range(100), chunksize=7)),
                         [2 * i for i in range(100)])
        with self.assertRaises(ValueError):
            self.pool.map(poolwork.add, [1], [2], chunksize=0)

    def test_map_buffersize_as_the_stdlib_has_it(self):
        # concurrent.futures' map takes buffersize from Python 3.14 on; before, frost's
        # map says which Python it needs (as the stdlib's, it is no keyword there)
        for chunksize in (1, 3):
            with self.subTest(chunksize=chunksize):
                self.assertEqual(list(self.pool.map(poolwork.add, range(10), range(10),
                                                    chunksize=chunksize, buffersize=None)),
                                 [2 * i for i in range(10)])
                if sys.version_info >= (3, 14):
                    self.assertEqual(list(self.pool.map(poolwork.add, range(10), range(10),
                                                        chunksize=chunksize, buffersize=2)),
                                     [2 * i for i in range(10)])
                    with self.assertRaisesRegex(ValueError, "buffersize must be None or >= 1"):
                        self.pool.map(poolwork.add, [1], [2], chunksize=chunksize, buffersize=0)
                    with self.assertRaisesRegex(TypeError, "buffersize must be an int or None"):
                        self.pool.map(poolwork.add, [1], [2], chunksize=chunksize, buffersize=1.5)
                else:
                    with self.assertRaisesRegex(TypeError, "buffersize from Python 3.14 on"):
                        self.pool.map(poolwork.add, [1], [2], chunksize=chunksize, buffersize=2)

    def test_closing_a_chunked_map_early_cancels_the_chunks_not_started(self):
        # map() with chunksize > 1 returns a generator, as with chunksize=1 and
        # the stdlib: close() cancels what has not started (it was an
        # itertools.chain, which has no close())
        gate, marks = frost.Channel(), frost.Channel()
        with frost.Pool(1) as pool:
            gates = [None, None] + [gate] * 8   # the first chunk runs at once, the rest wait
            results = pool.map(poolwork.mark_after, gates, [marks] * 10, range(10), chunksize=2)
            try:
                self.assertEqual(next(results), 0)
                results.close()   # the second chunk may have started: it waits for the gate
                with self.assertRaises(StopIteration):
                    next(results)
            finally:
                for _ in range(8):   # enough for all: what was not cancelled runs now
                    gate.send(None)
        ran = [marks.recv(timeout=60) for _ in range(len(marks))]
        self.assertIn(ran, ([0, 1], [0, 1, 2, 3]))

    def test_futures_work_with_wait_and_as_completed(self):
        futures = [self.pool.submit(poolwork.add, i, 1) for i in range(20)]
        done, not_done = cf.wait(futures, timeout=60)
        self.assertEqual(len(done), 20)
        self.assertFalse(not_done)
        self.assertEqual(sorted(f.result() for f in cf.as_completed(futures)), list(range(1, 21)))

    def test_default_workers_are_the_cpus_the_process_may_use(self):
        # a process pinned to one CPU (taskset, a cpuset) gets one worker, not
        # one per CPU of the machine: os.cpu_count() ignores the affinity mask
        proc = run_python(["-c",
                           "import os, frost\n"
                           "os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
                           "with frost.Pool() as pool, frost.ProcessPool() as procs:\n"
                           "    print(pool.workers, procs.workers)\n"],
                          timeout=120, check=True)
        self.assertEqual(proc.stdout.split(), ["1", "1"])

    def test_workers_are_distinct_own_gil_interpreters(self):
        infos = set()
        futures = [self.pool.submit(poolwork.sleep_then, 0.2, None) for _ in range(2)]
        cf.wait(futures)
        for _ in range(20):
            infos.add(self.pool.submit(poolwork.whoami).result(timeout=60))
        pids = {pid for pid, _, _ in infos}
        self.assertEqual(pids, {os.getpid()})          # one process
        self.assertGreaterEqual(len({i for _, _, i in infos}), 1)
        self.assertNotIn(0, {i for _, _, i in infos})  # never the main interpreter

    def test_worker_exception_reraises_with_remote_traceback(self):
        fut = self.pool.submit(poolwork.fail, "boom")
        with self.assertRaises(ValueError) as cm:
            fut.result(timeout=60)
        self.assertEqual(str(cm.exception), "boom")
        self.assertIsInstance(cm.exception.__cause__, frost.RemoteTraceback)
        self.assertIn("poolwork.py", str(cm.exception.__cause__))
        self.assertIn("raise ValueError(message)", str(cm.exception.__cause__))
        # the pool survives
        self.assertEqual(self.pool.submit(poolwork.add, 1, 1).result(timeout=60), 2)

    def test_exception_that_does_not_unpickle_keeps_its_name_and_traceback(self):
        # it pickles in the worker but its __init__ needs two arguments: the caller
        # used to get that TypeError, with an empty remote traceback
        with self.assertRaises(RuntimeError) as cm:
            self.pool.submit(poolwork.raise_needs_two, "boom").result(timeout=60)
        self.assertEqual(str(cm.exception), "poolwork.NeedsTwoArguments: boom")
        self.assertIn("raise NeedsTwoArguments(message, 7)", str(cm.exception.__cause__))
        self.assertEqual(self.pool.submit(poolwork.add, 1, 1).result(timeout=60), 2)

    def test_sys_exit_in_worker_is_an_error_not_a_dead_pool(self):
        with self.assertRaises(SystemExit):
            self.pool.submit(poolwork.exit_worker).result(timeout=60)
        self.assertEqual(self.pool.submit(poolwork.add, 1, 2).result(timeout=60), 3)

    def test_unpicklable_callable_fails_at_submit_naming_it(self):
        with self.assertRaises(TypeError) as cm:
            self.pool.submit(lambda: 1)
        self.assertIn("lambda", str(cm.exception))
        with self.assertRaises(TypeError):
            self.pool.submit(poolwork.echo, lambda: 2)
        with self.assertRaises(TypeError):
            self.pool.submit(42)

    def test_unpicklable_result_is_a_clear_error(self):
        with self.assertRaises(TypeError) as cm:
            self.pool.submit(poolwork.unpicklable_result).result(timeout=60)
        self.assertIn("cannot be sent back", str(cm.exception))

    def test_plain_values_round_trip(self):
        for value in [None, True, 1, 2**100, 1.5, 1j, "s\u00e9", b"b", (1, "x"), [1, {2: 3}]]:
            self.assertEqual(self.pool.submit(poolwork.echo, value).result(timeout=60), value)

    def test_sys_path_and_cwd_are_the_main_interpreters(self):
        cwd, path = self.pool.submit(poolwork.cwd_and_path).result(timeout=60)
        self.assertEqual(cwd, os.getcwd())
        self.assertIn(os.path.dirname(os.path.abspath(__file__)), path)


class PoolWithStores(unittest.TestCase):
    def test_views_cross_by_reference(self):
        data = {f"key{i}": (i, i * 0.5, f"val{i}") for i in range(10000)}
        for lifetime in ("scoped", "process"):
            with self.subTest(lifetime=lifetime), frost.freeze(data, lifetime=lifetime) as store:
                keys = [f"key{i}" for i in range(0, 10000, 7)]
                expected = sum(data[k][1] for k in keys)
                with frost.Pool(2) as pool:
                    results = [pool.submit(poolwork.lookup_sum, store.root, keys) for _ in range(4)]
                    self.assertEqual([f.result(timeout=60) for f in results], [expected] * 4)
                    # a view that comes back is a view of the same node
                    back = pool.submit(poolwork.echo, store.root).result(timeout=60)
                    self.assertIsInstance(back, frost.FrozenDict)
                    self.assertEqual(back, store.root)

    def test_records_cross_and_read_through_each_interpreters_shape_type(self):
        from test_views import Quad
        recs = [Quad(i, i * 0.5, f"q{i}", -i) for i in range(50)]
        with frost.freeze(recs, lifetime="process") as store:
            with frost.Pool(2) as pool:
                got = [pool.submit(poolwork.record_reads, store.root, "abcd") for _ in range(2)]
                want = [(f"Record[test_views.Quad]", [r.a, r.b, r.c, r.d]) for r in recs]
                self.assertEqual([f.result(timeout=60) for f in got], [want, want])
                # records of a class defined only in the worker come back readable
                local = pool.submit(poolwork.freeze_local_records, 5, "process").result(timeout=60)
        self.assertEqual(type(local[3]).__name__, "Record[poolwork.freeze_local_records.<locals>.Local]")
        self.assertEqual([(r.a, r.b) for r in local], [(i, str(i)) for i in range(5)])

    def test_workers_import_only_what_a_task_needs(self):
        # issue 17: pool start-up is interpreter creation + `import frost._worker`
        heavy = ["frost._mapped", "frost.pool", "concurrent.futures", "logging", "threading",
                 "mmap", "multiprocessing", "pickle", "re", "enum"]   # a task pickles with _pickle
        with frost.Pool(1) as pool:                # a fresh one: no earlier task imported anything
            self.assertEqual(pool.submit(poolwork.loaded, heavy).result(timeout=60), [])
        r = run_python(["-c", "import sys, frost\n"
                              "print('frost._mapped' in sys.modules)\n"
                              "from frost import load, share, verify\n"
                              "print(frost.MappedStore is frost.share(b'x').__class__)\n"
                              "print({'load', 'share', 'verify', 'MappedStore', 'Pool'} <= set(dir(frost)))\n"
                              "print(frost.load is load and frost.verify is verify)\n"])
        self.assertEqual((r.returncode, r.stdout.split()), (0, ["False", "True", "True", "True"]),
                         r.stderr)
        with self.assertRaisesRegex(AttributeError, "no attribute 'nope'"):
            frost.nope

    def test_store_frozen_in_worker_outlives_its_handle(self):
        before = frost._frost._live_stores()
        with frost.Pool(1) as pool:
            view = pool.submit(poolwork.freeze_in_worker, 100).result(timeout=60)
        self.assertIsInstance(view, frost.FrozenDict)
        self.assertEqual(view["k42"], [42, "42"])
        self.assertEqual(frost.thaw(view["k7"]), [7, "7"])
        del view
        self.assertEqual(frost._frost._live_stores(), before)

    def test_initializer_runs_in_every_worker(self):
        with frost.Pool(2, initializer=poolwork.remember, initargs=("ready",)) as pool:
            logs = [pool.submit(poolwork.initialized).result(timeout=60) for _ in range(6)]
        self.assertTrue(all(log == ["ready"] for log in logs), logs)

    def test_failing_initializer_fails_the_constructor(self):
        # a BrokenExecutor, as the stdlib's BrokenThreadPool (it was a
        # RuntimeError saying only that "run_all" failed, then the traceback)
        with self.assertRaises(cf.BrokenExecutor) as cm:
            frost.Pool(1, initializer=poolwork.fail, initargs=("init broke",))
        self.assertIn("init broke", str(cm.exception))
        self.assertIn("the initializer <function fail", str(cm.exception))

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            frost.Pool(0)
        with self.assertRaises(TypeError):
            frost.Pool("2")
        with self.assertRaises(TypeError):
            frost.Pool(1, initializer=3)
        with self.assertRaisesRegex(TypeError, "workers or max_workers"):
            frost.Pool(2, max_workers=2)
        with self.assertRaisesRegex(ValueError, "workers must be at least 1"):
            frost.Pool(max_workers=0)

    def test_max_workers_is_the_stdlibs_name_for_workers(self):
        with frost.Pool(max_workers=1) as pool:   # as ThreadPoolExecutor(max_workers=1)
            self.assertEqual(pool.workers, 1)
            self.assertEqual(pool.submit(poolwork.add, 1, 2).result(timeout=60), 3)

    def test_shutdown(self):
        pool = frost.Pool(1)
        started = frost.Channel()
        slow = pool.submit(poolwork.signal_then_sleep, started, 0.5, "slow")
        self.assertEqual(started.recv(timeout=60), "started")   # running now
        queued = [pool.submit(poolwork.sleep_then, 0.5, i) for i in range(5)]
        pool.shutdown(wait=True, cancel_futures=True)
        # queued: cancelled; running: stopped by KeyboardInterrupt, then cancelled
        self.assertEqual([f.cancelled() for f in queued], [True] * 5)
        self.assertTrue(slow.cancelled())
        with self.assertRaises(RuntimeError):
            pool.submit(poolwork.add, 1, 2)
        pool.shutdown()   # idempotent

    def test_shutdown_without_wait_cancels_the_queued_tasks_before_it_returns(self):
        # as the stdlib's executors: the queued futures are cancelled when
        # shutdown(wait=False, cancel_futures=True) returns (they were PENDING
        # until the results thread got round to them)
        pool = frost.Pool(1)
        started = frost.Channel()
        running = pool.submit(poolwork.signal_then_sleep, started, 1, "slow")
        self.assertEqual(started.recv(timeout=60), "started")   # the one worker is busy
        queued = [pool.submit(poolwork.sleep_then, 0.5, i) for i in range(5)]
        pool.shutdown(wait=False, cancel_futures=True)
        self.assertEqual([f.cancelled() for f in queued], [True] * 5)
        self.assertEqual(cf.wait(queued, timeout=0).not_done, set())
        pool.shutdown(wait=True)
        self.assertTrue(running.cancelled())   # stopped by KeyboardInterrupt after its sleep

    def test_shutdown_again_from_a_thread_that_took_an_ended_workers_thread_id(self):
        # glibc gives a new thread the pthread_t (and threading ident) of a
        # thread that has ended: a thread started after the pool's workers
        # ended often has a worker's id. It was taken for one of the pool's
        # own workers, and shutdown() from it raised "not possible from one of
        # the pool's own workers". Several threads alive at once reuse the
        # freed stacks; some rounds make a reuse all but certain.
        import threading
        reused = False
        for _ in range(10):
            pool = frost.Pool(2)
            workers = {pool.submit(poolwork.thread_ident).result(timeout=60) for _ in range(20)}
            pool.shutdown(wait=True)   # every worker thread has ended and been joined
            barrier = threading.Barrier(6)
            outcomes = []

            def later_thread():
                barrier.wait()
                took_id = threading.get_ident() in workers
                for kwargs in (dict(cancel_futures=True), dict(wait=True)):
                    try:
                        pool.shutdown(**kwargs)   # a no-op on a pool shut down
                        outcomes.append((took_id, kwargs, None))
                    except Exception as e:
                        outcomes.append((took_id, kwargs, f"{type(e).__name__}: {e}"))

            threads = [threading.Thread(target=later_thread) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            self.assertEqual([o for o in outcomes if o[2] is not None], [])
            self.assertEqual(len(outcomes), 12)
            reused = any(o[0] for o in outcomes)
            if reused:
                break
        if not reused:
            self.skipTest("no new thread took an ended worker's id here: nothing checked")

    def test_write_matrix_in_eight_workers_gives_identical_digests(self):
        data = {"ascii": "hello", "latin": "caf\xe9", "ucs2": "\u4e2d\u6587", "ucs4": "\U0001f600!",
                "surrogate": "a\ud800b", "big": -(2**300), "f": -0.0, "c": 1 - 2j, "b": b"\x00\xff",
                "t": (1, "two", (3.0, b"four"))}
        with frost.freeze(data, lifetime="process") as store:
            expected = poolwork.write_matrix_digest(store.root)
            with frost.Pool(8) as pool:
                digests = [pool.submit(poolwork.write_matrix_digest, store.root) for _ in range(32)]
                self.assertEqual({f.result(timeout=120) for f in digests}, {expected})


SCRIPT_WITH_MAIN_FUNCTIONS = r"""
import os, sys
import frost

def square(x):                      # defined in __main__: workers import this script
    return x * x

# one write(2) per line: workers run this at the same time, and print()'s
# separate writes of words and spaces interleave between interpreters
os.write(1, f"module body ran as {__name__}\n".encode())

if __name__ == "__main__":
    pool = frost.Pool(2)            # never shut down by hand: interpreter exit does it
    print("squares", list(pool.map(square, range(5))), flush=True)
"""


SCRIPT_WITH_MAIN_CLASSES = r"""
import sys
import frost

class Point:                        # workers know it as __mp_main__.Point
    def __init__(self, x):
        self.x = x

class Oops(Exception):
    pass

def make(x):
    return Point(x)

def fail(x):
    raise Oops(x)

def echo(obj):
    return obj

def send_point(ch):
    ch.send(Point(7))

if __name__ == "__main__":
    assert "multiprocessing" not in sys.modules   # nothing else makes the alias
    with frost.Pool(1) as pool:
        p = pool.submit(make, 3).result(timeout=60)
        print("result", type(p) is Point, p.x, flush=True)
        try:
            pool.submit(fail, 4).result(timeout=60)
        except Oops as exc:
            print("exception", exc.args, flush=True)
        print("echo", type(pool.submit(echo, Point(5)).result(timeout=60)) is Point, flush=True)
        ch = frost.Channel()
        pool.submit(send_point, ch).result(timeout=60)
        print("channel", ch.recv(timeout=60).x, flush=True)
"""


class PoolInAScript(unittest.TestCase):
    """Run as a separate process: __main__ functions and shutdown at exit."""

    def run_script(self, source):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "script.py")
            with open(path, "w") as f:
                f.write(source)
            return run_python([path], timeout=120, cwd=tmp)

    def test_main_script_functions_work_like_spawn(self):
        proc = self.run_script(SCRIPT_WITH_MAIN_FUNCTIONS)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertIn("squares [0, 1, 4, 9, 16]", lines)
        # the script's body ran once as __main__ and once in each worker that
        # ran a square (as __mp_main__), and the `if __name__ == "__main__":`
        # block only in the main interpreter
        self.assertEqual(lines.count("module body ran as __main__"), 1)
        self.assertIn(lines.count("module body ran as __mp_main__"), (1, 2))
        self.assertEqual(sum(line.startswith("squares") for line in lines), 1)

    def test_main_script_classes_come_back_without_multiprocessing(self):
        # issue 14 item 13: results, exceptions and channel messages of classes
        # defined in the script were ModuleNotFoundError: __mp_main__
        proc = self.run_script(SCRIPT_WITH_MAIN_CLASSES)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.splitlines(),
                         ["result True 3", "exception (4,)", "echo True", "channel 7"])

    def test_workers_run_the_script_only_when_a_task_needs_it(self):
        # issue 17 (pool start-up): tasks of modules never run the script in a
        # worker; the first task of the script runs it there, once
        proc = self.run_script(
            "import operator, os, frost\n"
            "os.write(1, f'module body ran as {__name__}\\n'.encode())\n"
            "def square(x):\n    return x * x\n"
            "if __name__ == '__main__':\n"
            "    with frost.Pool(1) as pool:\n"
            "        print('neg', list(pool.map(operator.neg, range(3))), flush=True)\n"
            "        view = frost.freeze({'a': [1, 2]}).root\n"
            "        print('len', pool.submit(len, view['a']).result(60), flush=True)\n"
            "        print('square', [pool.submit(square, 3).result(60) for _ in range(3)],\n"
            "              flush=True)\n")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.splitlines(), [
            "module body ran as __main__", "neg [0, -1, -2]", "len 2",
            "module body ran as __mp_main__", "square [9, 9, 9]"])

    def test_a_script_failing_in_a_worker_fails_only_its_tasks_and_runs_once(self):
        for how in ("raise ValueError('not in workers')", "raise SystemExit('usage: ...')"):
            with self.subTest(how):
                proc = self.run_script(
                    "import operator, os, frost\n"
                    "def square(x):\n    return x * x\n"
                    "if __name__ == '__mp_main__':\n"
                    "    os.write(1, b'failing\\n')\n"
                    f"    {how}\n"
                    "if __name__ == '__main__':\n"
                    "    with frost.Pool(1) as pool:\n"
                    "        for _ in range(2):\n"
                    "            try:\n"
                    "                pool.submit(square, 3).result(60)\n"
                    "            except ImportError as exc:\n"
                    "                print('refused', exc, flush=True)\n"
                    "        print('neg', pool.submit(operator.neg, 4).result(60), flush=True)\n")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                lines = proc.stdout.splitlines()
                self.assertEqual(lines[0], "failing")   # once: never run again
                self.assertRegex(lines[1], r"^refused importing the main script .*script\.py "
                                           r"as __mp_main__ .*'square'.*(not in workers|usage)")
                self.assertEqual(lines[2], lines[1])   # the same failure, remembered
                self.assertEqual(lines[3:], ["neg -4"])

    def test_import_main_false_leaves_the_main_script_alone(self):
        # a host whose main module cannot load in a subinterpreter (a Dask
        # worker's is distributed's command line): the workers never import it
        proc = self.run_script(
            "import os, frost\n"
            "assert __name__ == '__main__', 'the main script was imported by a worker'\n"
            "def square(x):\n    return x * x\n"
            "if __name__ == '__main__':\n"
            "    with frost.Pool(2, import_main=False) as pool:\n"
            "        print('pow', list(pool.map(pow, [2, 3], [3, 2])), flush=True)\n"
            "        try:\n            pool.submit(square, 3)\n"
            "        except TypeError as exc:\n            print('refused', exc, flush=True)\n")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0], "pow [8, 9]")
        self.assertRegex(lines[1], "^refused .*square")
        self.assertEqual(len(lines), 2)

    def test_interpreter_exit_with_busy_pool_is_clean(self):
        proc = self.run_script(
            "import frost, time\n"
            "if __name__ == '__main__':\n"
            "    pool = frost.Pool(2)\n"
            "    futures = [pool.submit(time.sleep, 0.2) for _ in range(6)]\n"
            "    print('submitted', flush=True)\n")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "submitted")
        self.assertNotIn("Fatal", proc.stderr)

    def test_unguarded_pool_in_script_is_a_clear_error_not_a_fork_bomb(self):
        # tasks of modules never import the script in the workers: it works
        proc = self.run_script("import frost, operator\npool = frost.Pool(1)\n"
                               "print(pool.submit(operator.neg, 1).result(60))\n"
                               "pool.shutdown()\n")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "-1")
        # a task of the script does: the worker's import would start a pool
        # again, and so on without end; it raises instead
        proc = self.run_script("import frost\ndef f():\n    return 1\n"
                               "pool = frost.Pool(1)\n"
                               "print(pool.submit(f).result(60))\npool.shutdown()\n")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("ImportError", proc.stderr)
        self.assertIn("if __name__ == '__main__':", proc.stderr)

    def test_pool_inside_a_worker(self):
        with frost.Pool(1) as pool:
            self.assertEqual(pool.submit(poolwork.nested_pool_sum, [1, 2, 3]).result(timeout=120),
                             14)


if __name__ == "__main__":
    unittest.main()
