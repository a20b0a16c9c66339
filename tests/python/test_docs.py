"""Docs that run (issue 15, item 5): every ```python block of README.md and
docs/*.md runs as written, as a script file in a fresh process (so frost.Pool
workers can import it), and prints what its `# -> text` comments say, in
that order. The ```sh blocks of docs/cli.md (a `python -m frost` session) run
too, under `bash -e`, with `python` being this Python. Other shell blocks
(building, testing) are run by CI itself, not here.

FROST_EXAMPLE_ENTRIES=20000 keeps the README example small; the block reads
it itself, so the text that runs is the text a reader copies.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

import frost
from frostcheck import HERE

ROOT = os.path.dirname(os.path.dirname(HERE))
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(frost.__file__)))
SHELL_RUN_IN = {"docs/cli.md"}
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
EXPECT = re.compile(r"#\s*->\s*(.+?)\s*$")


def documents():
    yield "README.md"
    docs = os.path.join(ROOT, "docs")
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            yield f"docs/{name}"


def blocks(language):
    """(document, line, code) of every block in `language`."""
    for doc in documents():
        with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
            text = f.read()
        for m in BLOCK.finditer(text):
            if m.group(1) == language:
                yield doc, text.count("\n", 0, m.start()) + 1, m.group(2)


def expected_lines(code):
    return [m.group(1) for line in code.splitlines() for m in [EXPECT.search(line)] if m]


def child_env(folder):
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR, FROST_EXAMPLE_ENTRIES="20000",
               PYTHONDONTWRITEBYTECODE="1")
    bin_dir = os.path.join(folder, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    os.symlink(sys.executable, os.path.join(bin_dir, "python"))
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    if "tsan" in env.get("LD_PRELOAD", ""):
        # docs/dask.md's example runs a LocalCluster: distributed's worker processes end
        # with daemon threads still alive, which TSan reports as "thread leak" (exit 66).
        # Those are distributed's threads, not frost's; frost's own thread lifetimes are
        # checked under TSan by the pool, channel and xref suites.
        env["TSAN_OPTIONS"] = env.get("TSAN_OPTIONS", "") + ":report_thread_leaks=0"
    return env


class DocsRunTest(unittest.TestCase):
    def assertPrintsInOrder(self, stdout, wanted, where):
        lines = [line.rstrip() for line in stdout.splitlines()]
        at = 0
        for text in wanted:
            try:
                at = lines.index(text, at) + 1
            except ValueError:
                self.fail(f"{where}: expected a line {text!r} (in order) in:\n{stdout}")

    def test_python_blocks_run_as_written(self):
        found = list(blocks("python"))
        self.assertGreaterEqual(len(found), 2, "README.md and docs/cli.md have Python blocks")
        for doc, line, code in found:
            where = f"{doc}:{line}"
            with self.subTest(block=where), tempfile.TemporaryDirectory() as folder:
                script = os.path.join(folder, "example.py")
                with open(script, "w", encoding="utf-8") as f:
                    f.write(code)
                r = subprocess.run([sys.executable, script], cwd=folder, env=child_env(folder),
                                   capture_output=True, text=True, timeout=240)
                self.assertEqual(r.returncode, 0, f"{where} failed:\n{r.stdout}\n{r.stderr}")
                self.assertPrintsInOrder(r.stdout, expected_lines(code), where)

    # bash itself crashes (SIGSEGV) with the ThreadSanitizer runtime preloaded,
    # as every child of the tsan build gets it; the dev and asan builds run it.
    @unittest.skipIf("TSAN_OPTIONS" in os.environ, "bash crashes with libtsan preloaded")
    def test_shell_sessions_run(self):
        found = [b for b in blocks("sh") if b[0] in SHELL_RUN_IN]
        self.assertGreaterEqual(len(found), 1)
        for doc, line, code in found:
            where = f"{doc}:{line}"
            with self.subTest(block=where), tempfile.TemporaryDirectory() as folder:
                r = subprocess.run(["bash", "-e", "-c", code], cwd=folder, env=child_env(folder),
                                   capture_output=True, text=True, timeout=240)
                self.assertEqual(r.returncode, 0, f"{where} failed:\n{r.stdout}\n{r.stderr}")
                self.assertNotIn("Traceback", r.stderr)

    def test_readme_example_is_a_complete_script(self):
        # the main example, then the process-pool one (issue 13): each a whole script
        readme = [code for doc, _, code in blocks("python") if doc == "README.md"]
        self.assertEqual(len(readme), 2)
        for code in readme:
            self.assertIn('if __name__ == "__main__":', code)
            self.assertNotRegex(code, r"\nwith frost\.(Process)?Pool")   # no pool at module level
        code = readme[0]
        self.assertRegex(code, r"\n\s*chunks = ")              # defined before use
        self.assertIn("FROST_EXAMPLE_ENTRIES", code)           # the size knob is in the text
        self.assertIn("frost.ProcessPool", readme[1])


class SetupFunctionsTest(unittest.TestCase):
    def test_frost_setup_python_without_frost_root_makes_the_venv_in_the_checkout(self):
        # `source tools/env.sh; frost_setup_python 3.13` without FROST_ROOT=$PWD (README)
        # made /.venv/py3.13 and installed the test tooling there
        with tempfile.TemporaryDirectory() as folder:
            fake = os.path.join(folder, "python")
            with open(fake, "w") as f:   # prints a version; `-m venv DIR` notes DIR
                f.write('#!/bin/sh\nif [ "$1" = -m ]; then echo "$3" > "$0.venv"; '
                        'else echo 3.99; fi\n')
            os.chmod(fake, 0o755)
            script = (f'source "{ROOT}/tools/env.sh"; frost_find_python() {{ echo "{fake}"; }}; '
                      'frost_pip() { :; }; frost_setup_python 3.99 build; echo "$FROST_PYTHON"')
            # (and without a sanitizer runtime: bash crashes with libtsan preloaded, and
            # what runs here is env.sh, not frost)
            env = {k: v for k, v in os.environ.items() if k not in ("FROST_ROOT", "LD_PRELOAD")}
            r = subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            venv = os.path.join(ROOT, ".venv", "py3.99")
            self.assertEqual(r.stdout.splitlines()[-1], os.path.join(venv, "bin", "python"))
            with open(fake + ".venv") as f:
                self.assertEqual(f.read().strip(), venv)


if __name__ == "__main__":
    unittest.main()
