"""frost's type information (issue 15, item 2): py.typed and the stubs
python/frost/{__init__,_frost,pool}.pyi.

- `mypy --strict` accepts the stubs and typing/typed_usage.py, which also runs;
- mypy rejects exactly the lines of typing/misused.py marked `# error`
  (the stubs say something: they are not Any everywhere);
- mypy.stubtest finds the stubs in step with the built module (every name,
  signature and default), except the few in stubtest_allowlist.txt.

mypy comes with the test tooling (tools/env.sh); without it these tests fail
and say how to install it.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import frost
from frostcheck import HERE

SOURCE_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "python", "frost")
BUILT_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(frost.__file__)))
STUBS = ("__init__.pyi", "_frost.pyi", "_mapped.pyi", "pool.pyi", "process_pool.pyi", "py.typed")


def have_mypy():
    try:
        import mypy  # noqa: F401
    except ImportError:
        return False
    return True


class TypingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not have_mypy():
            raise AssertionError(f"mypy is not installed for {sys.executable}: "
                                 f"{sys.executable} -m pip install mypy (tools/env.sh does)")
        # a stub-only copy of the package: mypy reads only what users' mypy reads
        cls.tmp = tempfile.mkdtemp(prefix="frost-typing-")
        os.mkdir(os.path.join(cls.tmp, "frost"))
        for name in STUBS:
            shutil.copy(os.path.join(SOURCE_PACKAGE, name), os.path.join(cls.tmp, "frost"))
        cls.cache = os.path.join(cls.tmp, "cache")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mypy(self, *args, module="mypy"):
        env = dict(os.environ, MYPYPATH=self.tmp,
                   PYTHONPATH=os.pathsep.join([BUILT_PACKAGE_DIR, HERE]))
        return subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=self.tmp,
                              capture_output=True, text=True, timeout=600)

    def test_package_ships_py_typed_and_stubs(self):
        for name in STUBS:
            self.assertTrue(os.path.isfile(os.path.join(SOURCE_PACKAGE, name)), name)

    def test_stubs_and_typed_usage_pass_mypy_strict(self):
        usage = os.path.join(HERE, "typing", "typed_usage.py")
        stubs = [os.path.join("frost", name) for name in STUBS if name.endswith(".pyi")]
        r = self.mypy("--strict", "--cache-dir", self.cache, *stubs, usage)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Success: no issues found", r.stdout)
        run = subprocess.run([sys.executable, usage], capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, PYTHONPATH=BUILT_PACKAGE_DIR))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout, "typed usage ran\n")

    def test_misuse_is_rejected_line_by_line(self):
        misused = os.path.join(HERE, "typing", "misused.py")
        with open(misused) as f:
            expected = {i for i, line in enumerate(f, 1) if line.rstrip().endswith("# error")}
        r = self.mypy("--strict", "--cache-dir", self.cache, misused)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        reported = {int(m.group(1)) for m in re.finditer(r"misused\.py:(\d+): error", r.stdout)}
        self.assertEqual(reported, expected, r.stdout)

    def test_stubs_match_the_built_module(self):
        r = self.mypy("frost", "--allowlist", os.path.join(HERE, "stubtest_allowlist.txt"),
                      "--mypy-config-file", os.devnull, module="mypy.stubtest")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
