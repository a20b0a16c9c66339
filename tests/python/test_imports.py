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


def modules_after(code):
    out = run_python(["-c", code + "\nimport sys\nprint(sorted(sys.modules))"], timeout=120, check=True)
    return set(eval(out.stdout.strip().splitlines()[-1]))


class WorkerImports(unittest.TestCase):
    def test_worker_module_imports_no_pool_machinery(self):
        loaded = modules_after("import frost._worker")
        self.assertFalse(loaded & set(HEAVY), loaded & set(HEAVY))

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
