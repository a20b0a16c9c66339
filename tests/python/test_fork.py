"""os.fork() while a frost.Pool runs (issue 14 item 7): the child must be
usable -- its stores readable, channels and publication working, new pools
startable -- and the parent's pool unusable in it with a clear error. It
used to abort in CPython's after-fork cleanup of the worker interpreters
(3.13) or hang (3.12). Each scenario runs in a child process with a
deadline, so a hang fails."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from frostcheck import ChildHung, run_child, still_running  # noqa: E402

UNDER_TSAN = "TSAN_OPTIONS" in os.environ
UNDER_ASAN = "ASAN_OPTIONS" in os.environ
# GCC 12's sanitizer runtimes do not hold their allocators' locks across
# fork(): a child forked while another thread is inside malloc inherits that
# size class's lock held by a thread it does not have, and its next malloc of
# that size deadlocks.
# - libasan: seen with the churn of one fork below (9 hangs in ~96 runs of the
#   1-fork scenario under asan, 0 in 50 dev runs); every hung child stopped in
#     __sanitizer::Mutex::Lock <- SizeClassAllocator64::GetFromAllocator
#     <- SizeClassAllocator64LocalCache::Refill <- __asan::Allocator::Allocate
#     <- malloc <- PyUnicode_New / Pdata_New / list_resize (its own next step)
#   while the parent's threads were all idle.
# - libtsan: its fork handler (__tsan::ForkBefore) locks only the thread
#   registry and the report mutexes (its disassembly), not the allocator nor
#   the sync-object table. The 12-fork churn hung one child once on CI (of
#   ~25 CI runs; 0 in 300 runs here), in its first allocations after a
#   publish: child_checks's `published` line.
# So under a sanitizer a fork lands only where no other thread can be
# allocating ("quiet"): the churn's result is in (its worker handed it over
# under the pool's lock, released only by its wait for more work), the
# pending task's worker is blocked in a read(2) (PipeGate: a Channel's wait
# wakes every slice and allocates), the result collector waits in C or for
# the GIL the forking thread holds. frost's own locks are what the churn is
# about, and its locks are plain pthread mutexes the sanitizers do see: the
# dev (and 3.12) builds run every scenario.
UNDER_SANITIZER = UNDER_ASAN or UNDER_TSAN

FORK_WHILE_BUSY = r"""
import os, sys, warnings
import frost, forkwork
warnings.simplefilter("ignore", DeprecationWarning)   # "multi-threaded, use of fork()"
store = frost.freeze({"items": list(range(10))})
ch = frost.Channel()
with frost.Pool(2) as pool:
    churning = pool.submit(forkwork.churn, frost.Channel(), CHURN_SECONDS)
    gate = forkwork.PipeGate() if QUIET_FORK else frost.Channel()
    pending = pool.submit(forkwork.wait_for, gate)   # runs until the parent opens the gate
    if QUIET_FORK:   # no thread allocates at the fork (see UNDER_SANITIZER)
        churning.result(timeout=60)
        gate.wait_until_waited_at()
    for round in range(FORKS):
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                lines = forkwork.child_checks(pool, pending, store, ch, NEW_POOL)
                if round == 0:
                    print("\n".join(lines), flush=True)
                ok = len(lines) == 5 + NEW_POOL
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            print("child", round, "status", status, flush=True)
    gate.send("parent's")
    print("parent", pending.result(timeout=60), churning.result(timeout=60) > 0,
          pool.submit(forkwork.total, store.root).result(timeout=60), flush=True)
print("exit", flush=True)
"""


class ForkWhileAPoolRuns(unittest.TestCase):
    def run_scenario(self, forks, churn_seconds, quiet=False):
        code = (FORK_WHILE_BUSY.replace("FORKS", str(forks))
                .replace("CHURN_SECONDS", str(churn_seconds)))
        # ThreadSanitizer cannot follow a multi-threaded fork into new threads
        # (it dies: "dup thread with used id"), so under it the child does
        # everything but start a pool; the other builds check that too
        code = code.replace("NEW_POOL", str(not UNDER_TSAN)).replace("QUIET_FORK", str(quiet))
        proc = run_child(code, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout.splitlines()

    def test_child_is_usable_and_parents_pool_is_clearly_unusable(self):
        # quiet: the fork lands after the churn, with the pending task blocked
        # in read(2); the only one the sanitizers' allocators survive
        for quiet in (True,) if UNDER_SANITIZER else (False, True):
            with self.subTest(quiet=quiet):
                lines = self.run_scenario(forks=1, churn_seconds=0.5, quiet=quiet)
                self.assertEqual(lines, [
                    "store 45",
                    "submit BrokenExecutor fork",
                    "pending BrokenExecutor",
                    "channel [0, 1, 2]",
                    "published [1, 2, 3]",
                ] + ([] if UNDER_TSAN else ["new pool 6"]) + [
                    "parent parent's True 45",
                    "exit",
                ])

    def test_forks_landing_while_workers_hold_frost_locks(self):
        # workers freeze, publish and use a channel in a loop: some forks land
        # while a worker holds the store registry, publish table or a channel
        # lock, which the child must not inherit held
        if UNDER_SANITIZER:
            self.skipTest("the sanitizers' allocators are not fork-safe under churn "
                          "(see UNDER_SANITIZER); the dev build runs this")
        lines = self.run_scenario(forks=12, churn_seconds=3)
        self.assertEqual(lines[-2:], ["parent parent's True 45", "exit"])
        self.assertEqual(len(lines), 5 + (not UNDER_TSAN) + 2, lines)   # every child exited 0


FORK_WHILE_ANOTHER_THREAD_IMPORTS = r"""
import os, sys, threading, time, warnings
import frost
warnings.simplefilter("ignore", DeprecationWarning)   # "multi-threaded, use of fork()"
assert SLOW not in sys.modules, SLOW
importing = threading.Event()

class SlowFinder:   # the first import of SLOW takes a second, under its module lock
    def find_spec(self, name, path=None, target=None):
        if name == SLOW:
            importing.set()
            time.sleep(1.0)
        return None

sys.meta_path.insert(0, SlowFinder())
# the thread only imports: the fork waits for that (frost._fork_imports), and
# then the thread has nothing left to do but end
thread = threading.Thread(target=__import__, args=(IMPORTED,))
thread.start()
importing.wait(30)
pid = os.fork()            # lands inside the other thread's import
if pid == 0:
    import signal
    signal.alarm(20)       # a child left waiting for the dead thread's import dies
    USE
    os._exit(0)
_, status = os.waitpid(pid, 0)
thread.join()
print("child status", status)
"""


class ForkWhileAnotherThreadImports(unittest.TestCase):
    """A fork that lands while another thread is inside the first import of a
    module frost imports on first use (frost._fork_imports): the child's own
    first use must not wait forever for the thread it does not have. It did:
    the child died of its 20 s alarm."""

    def check(self, imported, slow, use):
        code = (FORK_WHILE_ANOTHER_THREAD_IMPORTS.replace("IMPORTED", repr(imported))
                .replace("SLOW", repr(slow)).replace("USE", use))
        env = dict(os.environ)
        if UNDER_TSAN:
            # the child inherits ThreadSanitizer's record of the importing
            # thread, which ends (and is joined) in the parent only: its exit
            # check would call that a leaked thread and exit 66
            env["TSAN_OPTIONS"] += ":report_thread_leaks=0"
        proc = run_child(code, timeout=120, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.splitlines(), ["child status 0"], proc.stderr)

    def test_share_whose_module_is_being_found(self):
        # the module lock is held, the module not yet in sys.modules
        self.check("frost._mapped", "frost._mapped", "frost.share([1, 2]).close()")

    def test_share_whose_module_is_running(self):
        # frost._mapped is in sys.modules, half initialized, importing mmap
        self.check("frost._mapped", "mmap", "frost.share([1, 2]).close()")

    def test_a_channels_first_send(self):
        self.check("_pickle", "_pickle", "ch = frost.Channel(); ch.send({'a': 1}); ch.recv()")

    def test_the_list_names_every_module_frost_imports_on_first_use(self):
        from frost._fork_imports import IMPORTED_ON_FIRST_USE
        import re
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        named = set()
        for folder in ("store", "views"):
            for name in os.listdir(os.path.join(root, folder)):
                if name.endswith(".c"):
                    with open(os.path.join(root, folder, name)) as f:
                        named.update(re.findall(r'PyImport_ImportModule\("([\w.]+)"\)', f.read()))
        import frost
        named.update(frost._LAZY.values())
        named.discard("frost._frost")   # the extension itself, loaded by `import frost`
        self.assertTrue({"_pickle", "frost._mapped", "frost.pool"} <= named, named)
        self.assertEqual(sorted(named - set(IMPORTED_ON_FIRST_USE)), [])


class AHungForkedChild(unittest.TestCase):
    """What a fork test shows when a forked child hangs past run_child's
    deadline (as test_child_is_usable... once did on CI): the Python stacks of
    the child and of its parent, and nothing left running."""

    def test_fails_with_every_process_stacks_and_leaves_none_running(self):
        code = (
            "import os\n"
            "r, w = os.pipe()\n"
            "def forked_child_blocks():\n"
            "    os.read(r, 1)   # nobody writes\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    forked_child_blocks()\n"
            "print('child', pid, flush=True)\n"
            "def parent_waits():\n"
            "    os.waitpid(pid, 0)\n"
            "parent_waits()\n")
        with self.assertRaises(ChildHung) as hung:
            run_child(code, timeout=20)
        message = str(hung.exception)
        child = int(hung.exception.stdout.split()[1])
        self.assertEqual([pid for pid, _ in hung.exception.processes][1:], [child], message)
        self.assertIn('line 4 in forked_child_blocks', message)
        self.assertIn('line 10 in parent_waits', message)
        self.assertEqual(still_running([pid for pid, _ in hung.exception.processes]), [])


if __name__ == "__main__":
    unittest.main()
