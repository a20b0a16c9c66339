"""Helpers shared by the Python suites (not a test module itself).

live()            -- (live arenas, live stores) after a full GC pass: a test
                     compares it before and after to prove nothing leaked.
LeakCheckedTestCase -- a TestCase whose every test must leave live() as it
                     found it.
run_child(code)   -- run `code` in a fresh `python -c` process that imports
                     this folder's helper modules and the built frost package,
                     with a deadline, so a hang fails instead of blocking.
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


def run_child(code, timeout=60, env=None):
    """subprocess.CompletedProcess of `python -c code` (text output); raises
    subprocess.TimeoutExpired past `timeout` seconds."""
    import frost
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(frost.__file__)))
    child_env = dict(os.environ if env is None else env,
                     PYTHONPATH=os.pathsep.join([HERE, package_dir]))
    return subprocess.run([sys.executable, "-c", code], env=child_env, cwd=HERE,
                          capture_output=True, text=True, timeout=timeout)
