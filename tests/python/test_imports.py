"""What importing frost costs a pool worker (issue 17: pool start-up).

A worker interpreter imports frost._worker; frost.Pool (frost.pool, and with it
concurrent.futures and logging) loads only when first used.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402,F401 (the build under test is importable)
from frostcheck import run_python  # noqa: E402

HEAVY = ("frost.pool", "concurrent.futures", "logging")
# what a worker imports only when it needs it (a failed task's traceback, the main script)
ON_DEMAND = ("traceback", "runpy")   # (re comes with pickle)


def modules_after(code):
    out = run_python(["-c", code + "\nimport sys\nprint(sorted(sys.modules))"], timeout=120, check=True)
    return set(eval(out.stdout.strip().splitlines()[-1]))


class WorkerImports(unittest.TestCase):
    def test_worker_module_imports_no_pool_machinery(self):
        loaded = modules_after("import frost._worker")
        self.assertFalse(loaded & set(HEAVY), loaded & set(HEAVY))

    def test_worker_interpreter_after_a_task_is_light(self):
        # in the worker interpreter itself, after it ran a task: no traceback module
        # (a failed task imports it), no runpy (import_main=False: no main script)
        code = ("import frost\n"
                "with frost.Pool(1, import_main=False) as pool:\n"
                "    names = pool.submit(eval, 'sorted(__import__(\"sys\").modules)').result(60)\n"
                "    failed = pool.submit(int, 'x').exception(60)\n"
                "assert 'invalid literal' in str(failed), failed\n"
                "print(names)")
        out = run_python(["-c", code], timeout=120, check=True)
        loaded = set(eval(out.stdout.strip().splitlines()[-1]))
        self.assertIn("frost._worker", loaded)
        self.assertFalse(loaded & set(HEAVY + ON_DEMAND), loaded & set(HEAVY + ON_DEMAND))

    def test_refusal_message_is_recognized_without_re(self):
        from frost import _worker
        numpy = ("module numpy._core._multiarray_umath does not support loading in "
                 "subinterpreters")
        self.assertIn("numpy cannot be used in a frost.Pool task",
                      _worker.subinterpreter_refusal(numpy))
        self.assertIn("module numpy._core._multiarray_umath does not",
                      _worker.subinterpreter_refusal("ImportError: " + numpy))
        for other in ("", "no module named x", " does not support loading in subinterpreters",
                      "module  does not support loading in subinterpreters",
                      "the module a b does not support loading in subinterpreters"):
            self.assertIsNone(_worker.subinterpreter_refusal(other), other)

    def test_plain_import_frost_is_light(self):
        loaded = modules_after("import frost; frost.freeze({'a': 1}).root['a']")
        self.assertFalse(loaded & set(HEAVY), loaded & set(HEAVY))

    def test_pool_still_reachable(self):
        code = ("import frost\nfrom frost import *\n"
                "assert Pool is frost.Pool and RemoteTraceback is frost.RemoteTraceback\n"
                "assert 'Pool' in dir(frost) and 'Pool' in frost.__all__\n"
                "import frost.pool\nassert frost.Pool is frost.pool.Pool\n"
                "try:\n    frost.no_such_name\nexcept AttributeError:\n    pass\n"
                "else:\n    raise SystemExit('no AttributeError')\n")
        loaded = modules_after(code)
        self.assertIn("frost.pool", loaded)


if __name__ == "__main__":
    unittest.main()
