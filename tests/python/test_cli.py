"""python -m frost (issue 15, item 3; docs/cli.md).

Every command as a user runs it (a child `python -m frost ...`), with the
exit status contract: 0 success, 1 a bad or unreadable file (one line on
stderr), 2 a usage error (one line on stderr). Progress: plain lines when
stderr is not a terminal, a bar when it is (checked through a pty), nothing
with --quiet.
"""
import json
import os
import pickle
import shutil
import sys
import tempfile
import textwrap
import unittest

import frost
from frostcheck import run_python

def frost_cli(*args, input=None, cwd=None):
    return run_python(["-m", "frost", *args], timeout=120, cwd=cwd, input=input)


class CliTestCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="frost-cli-")
        self.addCleanup(shutil.rmtree, self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data, mode="w"):
        with open(self.path(name), mode) as f:
            f.write(data)
        return self.path(name)

    def snapshot(self, obj, name="s.frost", format=1):
        with frost.freeze(obj) as store:
            store.save(self.path(name), format=format)
        return self.path(name)

    def assertOneLineError(self, r, status, *fragments):
        """One error line, the last on stderr (lines before it, if any, are
        the plain progress lines of the phases that succeeded)."""
        self.assertEqual(r.returncode, status, (r.stdout, r.stderr))
        lines = r.stderr.splitlines()
        errors = [line for line in lines if line.startswith("frost: ")]
        self.assertEqual(errors, lines[-1:], r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        for fragment in fragments:
            self.assertIn(fragment, lines[-1])


class UsageTest(CliTestCase):
    def test_help_for_every_command(self):
        r = frost_cli("--help")
        self.assertEqual(r.returncode, 0)
        for command in ("info", "verify", "freeze", "stats"):
            self.assertIn(command, r.stdout)
            with self.subTest(command=command):
                sub = frost_cli(command, "--help")
                self.assertEqual(sub.returncode, 0, sub.stderr)
                self.assertIn(f"usage: python -m frost {command}", sub.stdout)
        self.assertIn("--allow-pickle", frost_cli("freeze", "--help").stdout)

    def test_version(self):
        r = frost_cli("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"frost {getattr(frost, '__version__', 'unknown')}\n")

    def test_usage_errors_exit_2_with_one_line(self):
        cases = [
            ((), "a COMMAND is needed"),
            (("explode",), "invalid choice: 'explode'"),
            (("verify",), "the following arguments are required: FILE"),
            (("freeze", "in.json"), "the following arguments are required: OUT"),
            (("info", "x", "--bogus"), "unrecognized arguments: --bogus"),
            (("freeze", "in.csv", "out.frost"), "cannot tell the format of 'in.csv'"),
            (("freeze", "-", "out.frost"), "reading standard input needs --format"),
            (("freeze", "in.json", "out", "--format", "xml"), "invalid choice: 'xml'"),
        ]
        for args, fragment in cases:
            with self.subTest(args=args):
                r = frost_cli(*args, cwd=self.dir)
                self.assertOneLineError(r, 2, "error:", fragment)
        self.assertEqual(os.listdir(self.dir), [])


class VerifyTest(CliTestCase):
    def test_valid_file(self):
        path = self.snapshot({"a": [1, 2.5, "x"]})
        r = frost_cli("verify", path)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, f"{path}: ok\n", ""))
        r = frost_cli("verify", "-q", path)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_an_error_is_one_line_whatever_the_names_in_it(self):
        # a path (or a file's own strings: column names, formats) with a newline
        # or a terminal escape was written as it was: two lines, escapes obeyed
        path = self.write("bad\nfrost: forged: ok \x1b[2J", "hello, world\n" * 20)
        for command in ("verify", "info", "stats"):
            r = frost_cli(command, path)
            self.assertOneLineError(r, 1, "not a frost snapshot", "bad\\nfrost: forged: ok \\x1b[2J")
            self.assertNotIn("\x1b", r.stderr)

    def test_bad_files_exit_1_with_the_reason(self):
        good = self.snapshot(list(range(1000)) + ["x"] * 10)
        raw = bytearray(open(good, "rb").read())
        flipped = bytearray(raw)
        flipped[len(raw) - 20] ^= 0x01
        cases = {
            "flipped": (bytes(flipped), "checksum mismatch"),
            "truncated": (bytes(raw[:-64]), "truncated"),
            "short": (b"FROSTSNP", "not a frost snapshot"),
            "text": (b"hello, world\n" * 20, "not a frost snapshot (bad magic)"),
            "empty": (b"", "not a frost snapshot"),
        }
        for name, (data, fragment) in cases.items():
            with self.subTest(name=name):
                path = self.write(name, data, "wb")
                r = frost_cli("verify", path)
                self.assertOneLineError(r, 1, path, fragment)
                self.assertEqual(r.stdout, "")
        r = frost_cli("verify", self.path("missing.frost"))
        self.assertOneLineError(r, 1, "No such file or directory")
        r = frost_cli("verify", self.dir)
        self.assertOneLineError(r, 1, "directory")
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        r = frost_cli("verify", fifo)   # must not wait for a writer
        self.assertOneLineError(r, 1, "not a regular file")

    def test_other_python_version(self):
        path = self.snapshot([1, 2])
        raw = bytearray(open(path, "rb").read())
        raw[34] ^= 0x01                      # python_hexversion's minor byte
        from frost import _frost
        raw[8:16] = _frost._snapshot_xxh64(bytes(raw[16:])).to_bytes(8, "little")
        other = self.write("other.frost", bytes(raw), "wb")
        r = frost_cli("verify", other)
        self.assertOneLineError(r, 1, "written by Python 3.")
        # what to do about it: "save it again with this version" could not be done here
        self.assertRegex(r.stderr, r"load it with Python 3\.\d+ and save it in format 2")
        info = frost_cli("info", other)
        self.assertEqual(info.returncode, 1)
        self.assertRegex(info.stdout, r"written by\s+CPython 3\.\d+")
        self.assertIn("valid       no:", info.stdout)


class InfoStatsTest(CliTestCase):
    def test_info(self):
        path = self.snapshot({"k": [1, 2, 3], "s": {"a", "b"}, "t": (1, [2])})
        r = frost_cli("info", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        v = sys.version_info
        for fragment in ("frost snapshot version 1", f"CPython {v.major}.{v.minor}.",
                         "root        FrozenDict with 3 items", "dict 1", "set 1",
                         "tuple_node 1", "valid       yes", "image", "bulk"):
            self.assertIn(fragment, r.stdout)
        doc = json.loads(frost_cli("info", "--json", path).stdout)
        self.assertEqual(doc["format_version"], 1)
        self.assertEqual(doc["file_size"], os.path.getsize(path))
        self.assertEqual(doc["root"], "FrozenDict with 3 items")
        self.assertTrue(doc["valid"])
        self.assertEqual(doc["objects"]["set"], 1)

    def test_loaded_counts_match_the_frozen_store(self):
        packed = [1, 2, 3]                       # stored packed, in the bulk section
        data = {"p": packed, "again": packed, "floats": [0.5, 1.5], "mixed": [1, "x", [2]],
                "t": ("a", [4]), "s": {1, 2}}
        with frost.freeze(data) as store:
            frozen = store.stats()["objects"]
            store.save(self.path("c.frost"), format=1)
        self.assertEqual(frozen["list"], 5)      # p (shared: once), floats, mixed, [2], [4]
        doc = json.loads(frost_cli("stats", "--json", self.path("c.frost")).stdout)
        self.assertEqual(doc["objects"], frozen)
        with frost.load(self.path("c.frost"), lifetime="scoped") as loaded:
            self.assertEqual(loaded.stats()["objects"], frozen)

    def test_info_of_a_non_snapshot(self):
        path = self.write("x.txt", "just text, long enough to fill a header? " * 5)
        self.assertOneLineError(frost_cli("info", path), 1, "not a frost snapshot")

    def test_info_of_a_scalar_root(self):
        path = self.snapshot("just a string")
        r = frost_cli("info", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("root        str with 13 items", r.stdout)

    def test_stats(self):
        path = self.snapshot([{"x": i} for i in range(100)])
        r = frost_cli("stats", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("FrozenList with 100 items", r.stdout)
        doc = json.loads(frost_cli("stats", "--json", path).stdout)
        self.assertEqual(doc["objects"]["dict"], 100)
        self.assertEqual(doc["root"], "FrozenList with 100 items")
        self.assertOneLineError(frost_cli("stats", self.path("nope")), 1, "No such file")


class FormatTwoTest(CliTestCase):
    """Format 2 (Store.save's default): info, verify and stats check the whole
    image, although frost.load() maps it without reading it."""

    def damaged(self):
        path = self.snapshot({"k": list(range(50)), "s": "text" * 20}, format=2)
        raw = bytearray(open(path, "rb").read())
        raw[-9] ^= 0x40                          # a body byte: the body checksum fails
        return path, self.write("bad.frost", bytes(raw), "wb")

    def test_info_verify_stats(self):
        path = self.snapshot({"k": [1, 2, 3], "s": {"a", "b"}}, format=2)
        r = frost_cli("info", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        for fragment in ("frost snapshot version 2", "root        MappedDict with 2 items",
                         "valid       yes"):
            self.assertIn(fragment, r.stdout)
        doc = json.loads(frost_cli("info", "--json", path).stdout)
        self.assertEqual((doc["format_version"], doc["valid"]), (2, True))
        self.assertEqual(doc["file_size"], os.path.getsize(path))
        with frost.load(path) as store:
            self.assertEqual(doc["store_id"], store.store_id.hex())
        r = frost_cli("verify", path)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, f"{path}: ok"), r.stderr)
        doc = json.loads(frost_cli("stats", "--json", path).stdout)
        self.assertEqual((doc["format_version"], doc["bytes"]), (2, os.path.getsize(path)))
        self.assertEqual(doc["root"], "MappedDict with 2 items")

    def test_damaged_body_loads_but_fails_every_check(self):
        _, bad = self.damaged()
        with frost.load(bad) as store:           # O(1): the body is not read at load
            self.assertIsInstance(store, frost.MappedStore)
        with self.assertRaisesRegex(frost.SnapshotError, "checksum"):
            frost.verify(bad)
        self.assertOneLineError(frost_cli("verify", bad), 1, "checksum")
        r = frost_cli("info", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("valid       no:", r.stdout)
        self.assertOneLineError(frost_cli("stats", bad), 1, "checksum")

    def test_verify_says_when_there_is_no_body_checksum(self):
        """An image copied out of frost.share's memfd (no body checksum, header flag 1)
        verifies by its structure, and verify says that is all it could check."""
        with frost.share({"k": [1, 2, 3]}) as shared:
            raw = os.pread(shared._image.handle.fd, shared.nbytes, 0)
        path = self.write("shared.frost", raw, "wb")
        r = frost_cli("verify", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{path}: ok (structure only: the image has no body checksum", r.stdout)
        self.assertEqual(json.loads(frost_cli("info", "--json", path).stdout)["flags"], 1)
        saved = self.snapshot({"k": [1, 2, 3]}, format=2)
        self.assertEqual(frost_cli("verify", saved).stdout.strip(), f"{saved}: ok")

    def test_tables_are_checked_in_full(self):
        # format 2 holds tables; a blob damaged behind a valid checksum is found by verify
        # (and by info/stats, which verify), though load stays O(1) and the rest reads
        try:
            import pyarrow as pa
        except ImportError:   # pragma: no cover
            self.skipTest("pyarrow is not installed")
        import mapcraft
        t = pa.table({"i": [1, None, 3], "s": ["a", "b", None]})
        path = self.snapshot({"t": t, "n": 1}, format=2)
        r = frost_cli("verify", path)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, f"{path}: ok"), r.stderr)
        self.assertIn("MappedDict with 2 items", frost_cli("info", path).stdout)
        bare = self.snapshot(t, name="bare.frost", format=2)
        self.assertIn("root        MappedTable with 3 rows of 2 columns", frost_cli("info", bare).stdout)
        raw = bytearray(open(path, "rb").read())
        start = raw.find(b"FCOL")
        while start % 64:
            start = raw.find(b"FCOL", start + 1)
        raw[start + 16:start + 24] = (4).to_bytes(8, "little")   # nrows: 4 rows of 3
        mapcraft.reseal(raw)
        bad = self.write("badtable.frost", bytes(raw), "wb")
        with frost.load(bad) as store:
            self.assertEqual(store.root["n"], 1)
        with self.assertRaisesRegex(frost.SnapshotError, "table node at .*header says"):
            frost.verify(bad)
        self.assertOneLineError(frost_cli("verify", bad), 1, "table node at")
        self.assertEqual(frost_cli("info", bad).returncode, 1)

    def test_truncated_header(self):
        path = self.snapshot([1, 2], format=2)
        short = self.write("short.frost", open(path, "rb").read()[:60], "wb")
        for command in ("info", "verify", "stats"):
            self.assertEqual(frost_cli(command, short).returncode, 1, command)


class FilesGoneMidway(CliTestCase):
    """A file another program deletes while `stats` or `freeze` works on it is
    one error line and exit 1, not a traceback (both read its size afterwards
    and raised FileNotFoundError)."""

    def run_patched(self, patch, *argv):
        code = ("import os, sys, frost, frost._cli as cli\n" + textwrap.dedent(patch)
                + f"sys.exit(cli.main({list(argv)!r}))\n")
        return run_python(["-c", code], timeout=120)

    def test_stats_of_a_file_deleted_once_loaded(self):
        path = self.snapshot(list(range(10)))
        r = self.run_patched("""
            real_load = frost.load
            def load_then_delete(path, **kw):
                store = real_load(path, **kw)
                os.unlink(path)
                return store
            frost.load = load_then_delete
        """, "stats", path)
        self.assertOneLineError(r, 1, path, "No such file")

    def test_freeze_whose_output_is_deleted_once_saved(self):
        src = self.write("in.json", "[1, 2, 3]")
        out = self.path("out.frost")
        r = self.run_patched("""
            real_freeze = frost.freeze
            class SavedThenDeleted:
                def __init__(self, store):
                    self.store, self.nbytes = store, store.nbytes
                def save(self, path, progress=None):
                    self.store.save(path, progress=progress)
                    os.unlink(path)
                def close(self):
                    self.store.close()
            frost.freeze = lambda data, progress=None: SavedThenDeleted(
                real_freeze(data, progress=progress))
        """, "freeze", src, out)
        self.assertOneLineError(r, 1, out, "No such file")


class FreezeTest(CliTestCase):
    def roundtrip(self, path):
        with frost.load(path, lifetime="scoped") as store:
            return frost.thaw(store.root)

    def test_json(self):
        data = {"a": [1, 2.5, None, True], "b": {"c": "ü"}}
        src = self.write("in.json", json.dumps(data))
        r = frost_cli("freeze", src, self.path("out.frost"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.roundtrip(self.path("out.frost")), data)
        self.assertIn("out.frost: written", r.stdout)
        self.assertNotIn("\r", r.stderr)            # not a terminal: plain lines
        self.assertIn("reading", r.stderr)
        self.assertIn("freezing", r.stderr)
        self.assertIn("saving", r.stderr)

    def test_json_lines_and_format_flag(self):
        src = self.write("rows.ndjson", '{"id": 1}\n\n[2, 3]\n"four"\n')
        r = frost_cli("freeze", "-q", src, self.path("o.frost"))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        self.assertEqual(self.roundtrip(self.path("o.frost")), [{"id": 1}, [2, 3], "four"])
        odd = self.write("rows.txt", '1\n2\n')
        r = frost_cli("freeze", "--format", "jsonl", odd, self.path("o2.frost"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.roundtrip(self.path("o2.frost")), [1, 2])

    def test_standard_input(self):
        r = frost_cli("freeze", "--format", "json", "-", self.path("o.frost"), input='[1, "x"]')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.roundtrip(self.path("o.frost")), [1, "x"])

    def test_pickle_needs_the_flag(self):
        src = self.write("in.pkl", pickle.dumps({"p": (1, 2)}), "wb")
        r = frost_cli("freeze", src, self.path("o.frost"))
        self.assertOneLineError(r, 2, "is a pickle", "runs", "--allow-pickle")
        self.assertFalse(os.path.exists(self.path("o.frost")))
        r = frost_cli("freeze", "--allow-pickle", src, self.path("o.frost"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.roundtrip(self.path("o.frost")), {"p": (1, 2)})

    def test_bad_inputs_exit_1(self):
        bad_json = self.write("bad.json", '{"a": [1, 2}')
        self.assertOneLineError(frost_cli("freeze", bad_json, self.path("o.frost")), 1,
                                "bad.json: not valid JSON")
        bad_lines = self.write("bad.jsonl", '1\n2\n{oops\n')
        self.assertOneLineError(frost_cli("freeze", bad_lines, self.path("o.frost")), 1,
                                "bad.jsonl:3: not valid JSON")
        deep = self.write("deep.json", "[" * 100000 + "]" * 100000)
        self.assertOneLineError(frost_cli("freeze", deep, self.path("o.frost")), 1,
                                "deep.json: not valid JSON")
        garbage = self.write("g.pkl", b"\x80\x05garbage", "wb")
        self.assertOneLineError(frost_cli("freeze", "--allow-pickle", garbage,
                                          self.path("o.frost")), 1, "cannot unpickle")
        unfreezable = self.write("u.pkl", pickle.dumps({"when": Exception("x")}), "wb")
        self.assertOneLineError(frost_cli("freeze", "--allow-pickle", unfreezable,
                                          self.path("o.frost")), 1,
                                "u.pkl: root['when']: cannot freeze object of type 'Exception'")
        self.assertOneLineError(frost_cli("freeze", self.path("none.json"),
                                          self.path("o.frost")), 1, "No such file")
        good = self.write("good.json", "[1]")
        self.assertOneLineError(frost_cli("freeze", good, self.path("no/such/dir/o.frost")), 1,
                                "o.frost")
        self.assertOneLineError(frost_cli("freeze", good, "-"), 2, "OUT must be a file path")
        # the same file as IN, by another spelling or a link: the snapshot replaced the
        # data it was made from
        os.symlink(good, self.path("link.json"))
        for same in (good, os.path.join(os.path.dirname(good), ".", "good.json"),
                     self.path("link.json")):
            self.assertOneLineError(frost_cli("freeze", good, same), 2,
                                    "OUT is IN", "would replace the file it is made from")
            with open(good) as f:
                self.assertEqual(f.read(), "[1]")
        self.assertFalse(os.path.exists(self.path("o.frost")))

    def test_progress_bar_on_a_terminal(self):
        src = self.write("big.json", json.dumps({f"k{i}": [i, str(i)] for i in range(100_000)}))
        out = self.path("big.frost")
        code = textwrap.dedent(f"""
            import os, pty, sys
            pid, fd = pty.fork()
            if pid == 0:
                os.execve(sys.executable, [sys.executable, "-m", "frost", "freeze",
                          {src!r}, {out!r}], os.environ)
            chunks = []
            while True:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(b"".join(chunks).decode("utf-8", "replace"))
            sys.exit(os.waitstatus_to_exitcode(status))
        """)
        r = run_python(["-c", code], timeout=180, cwd=None, text=False)
        screen = r.stdout.decode()
        self.assertEqual(r.returncode, 0, screen + r.stderr.decode())
        self.assertIn("\rfreezing: 65,536 objects...", screen)
        self.assertRegex(screen, r"\rsaving .*\[#+\.*\] +\d+\.\d%")
        self.assertIn("big.frost: written", screen)
        self.assertEqual(frost_cli("verify", "-q", out).returncode, 0)


if __name__ == "__main__":
    unittest.main()
