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
                     blocking; run_child(code) is `python -c code`.
"""
import gc
import os
import subprocess
import sys
import unittest

from frost import _frost

HERE = os.path.dirname(os.path.abspath(__file__))


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


def run_python(args, timeout=60, env=None, cwd=HERE, text=True, **kwargs):
    """subprocess.CompletedProcess of `python *args` run in child_env(env) and
    `cwd`, output captured (text unless text=False); raises
    subprocess.TimeoutExpired past `timeout` seconds. kwargs: input, check."""
    return subprocess.run([sys.executable, *args], env=child_env(env), cwd=cwd,
                          capture_output=True, text=text, timeout=timeout, **kwargs)


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
