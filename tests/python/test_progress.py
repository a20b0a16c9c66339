"""Progress callbacks of freeze/save/load and the "frost" logger (issue 15, item 4).

The contract (frost.freeze / Store.save / frost.load docstrings): the
callback gets (done, total) with done never decreasing, total None while
unknown, at most one call per FROST_FREEZE_PROGRESS_EVERY (65,536) units of
work plus a last call with done == total; an exception it raises stops the
work, propagates unchanged, and leaves no arena, store or file behind.
"""
import logging
import os
import tempfile
import threading
import unittest

import frost
from frostcheck import LeakCheckedTestCase, run_child

EVERY = 65536
N = 200_000          # strings: each one is an object the freezer visits


def data():
    return [f"s{i}" for i in range(N)]


class Recorder:
    def __init__(self, fail_at=None, exc=None):
        self.calls = []
        self.fail_at = fail_at
        self.exc = exc or KeyError("stop here")

    def __call__(self, done, total):
        self.calls.append((done, total))
        if self.fail_at is not None and len(self.calls) >= self.fail_at:
            raise self.exc


def replace_with_corrupt_copy(path):
    """Rename a same-size copy of `path`, one byte changed, over it."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0xFF
    with open(path + ".x", "wb") as f:
        f.write(data)
    os.replace(path + ".x", path)


class ProgressContract:
    def check_calls(self, calls, final_total=None):
        self.assertGreaterEqual(len(calls), 2, calls)
        dones = [d for d, _ in calls]
        self.assertEqual(dones, sorted(dones), "done must never decrease")
        for done, total in calls:
            self.assertIsInstance(done, int)
            if total is not None:
                self.assertLessEqual(done, total)
        last_done, last_total = calls[-1]
        self.assertEqual(last_done, last_total, "the last call reports completion")
        if final_total is not None:
            self.assertEqual(last_total, final_total)
        for (d1, _), (d2, _) in zip(calls, calls[1:-1]):
            self.assertGreaterEqual(d2 - d1, 1)


class FreezeProgressTest(ProgressContract, LeakCheckedTestCase):
    def test_reports_while_walking_and_at_the_end(self):
        rec = Recorder()
        with frost.freeze(data(), progress=rec) as store:
            self.assertEqual(len(store.root), N)
        self.check_calls(rec.calls)
        self.assertEqual(rec.calls[0], (EVERY, None))
        self.assertTrue(all(t is None for _, t in rec.calls[:-1]))
        self.assertEqual(len(rec.calls), N // EVERY + 1)
        self.assertGreater(rec.calls[-1][0], N)   # the root list and every string

    def test_small_data_gets_one_final_call(self):
        rec = Recorder()
        frost.freeze({"a": [1, 2]}, progress=rec).close()
        self.assertEqual(len(rec.calls), 1)
        done, total = rec.calls[0]
        self.assertEqual(done, total)
        self.assertGreater(done, 0)

    def test_none_is_no_callback_and_bad_values_are_refused(self):
        frost.freeze([1], progress=None).close()
        for bad in (1, "cb", [print]):
            with self.subTest(bad=bad):
                with self.assertRaisesRegex(TypeError, r"freeze\(\) progress must be a callable"):
                    frost.freeze([1], progress=bad)

    def test_exception_stops_the_freeze_and_leaks_nothing(self):
        for fail_at in (1, 2):                      # mid-walk
            with self.subTest(fail_at=fail_at):
                rec = Recorder(fail_at=fail_at)
                with self.assertRaises(KeyError) as cm:
                    frost.freeze(data(), progress=rec)
                self.assertIs(cm.exception, rec.exc)
                self.assertEqual(len(rec.calls), fail_at)
        rec = Recorder(fail_at=1)                   # the final call on small data
        with self.assertRaises(KeyError):
            frost.freeze([1, "x"], progress=rec)
        for exc in (KeyboardInterrupt(), SystemExit(3), MemoryError()):
            with self.subTest(exc=type(exc).__name__):
                with self.assertRaises(type(exc)):
                    frost.freeze(data(), progress=Recorder(fail_at=1, exc=exc))

    def test_callback_may_reenter_frost(self):
        inner = []

        def cb(done, total):
            with frost.freeze({"n": done}) as s:   # a freeze inside a freeze
                inner.append(s.root["n"])
        with frost.freeze(data(), progress=cb) as store:
            self.assertEqual(store.root[5], "s5")
        self.assertEqual(len(inner), N // EVERY + 1)

    def test_callback_mutating_the_source_does_not_change_the_result(self):
        src = data()
        nested = {"list": src}

        def cb(done, total):
            src.clear()
            nested["list"] = None
        with frost.freeze(nested, progress=cb) as store:
            self.assertEqual(len(store.root["list"]), N)   # taken before the walk went on
            self.assertEqual(store.root["list"][N - 1], f"s{N - 1}")


class SnapshotProgressTest(ProgressContract, LeakCheckedTestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "p.frost")

    def tearDown(self):
        self.dir.cleanup()
        super().tearDown()

    def test_save_reports_both_walks(self):
        rec = Recorder()
        with frost.freeze(data()) as store:
            store.save(self.path, format=1, progress=rec)
        self.check_calls(rec.calls)
        totals = {t for _, t in rec.calls}
        self.assertIn(None, totals)                 # first walk: total unknown
        known = [t for t in totals if t is not None]
        self.assertEqual(len(known), 1)             # then one fixed total
        self.assertTrue(os.path.exists(self.path))

    def test_a_callback_shrinking_the_file_being_written_is_an_oserror(self):
        """The temporary file a save writes into (mapped) truncated, emptied or
        removed-and-truncated by the progress callback: OSError, no file left -- never a
        SIGBUS on the next write through the mapping. In a child: the crash it was."""
        for fmt in (1, 2):
            for cut in (0, 4096):
                with self.subTest(format=fmt, cut=cut):
                    sub = os.path.join(self.dir.name, f"{fmt}-{cut}")
                    os.mkdir(sub)
                    r = run_child(
                        "import frost, glob, os, sys\n"
                        f"path = {os.path.join(sub, 'p.frost')!r}\n"
                        "def cb(done, total):\n"
                        "    for tmp in glob.glob(path + '.tmp.*'):\n"
                        f"        os.truncate(tmp, {cut})\n"
                        "store = frost.freeze({'d': {str(i): i for i in range(300000)}, 's': 'z' * (1 << 21)})\n"
                        "try:\n"
                        f"    store.save(path, format={fmt}, progress=cb)\n"
                        "except OSError as e:\n"
                        "    print('OSError', 'truncated' in str(e), os.listdir(os.path.dirname(path)))\n",
                        timeout=120)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stdout.strip(), "OSError True []")

    def test_a_last_call_that_changes_the_finished_file_is_an_oserror(self):
        """The last progress call of a save (done == total) comes when the temporary
        file is complete and not yet renamed over the target: a callback that truncates
        it, extends it or replaces it (with a same-size corrupt copy) makes the save an
        OSError, with the old target unchanged and no temporary left -- not a success
        whose file load and verify refuse later. Both formats."""
        tamper = {
            "emptied": lambda tmp: os.truncate(tmp, 0),
            "truncated": lambda tmp: os.truncate(tmp, 4096),
            "extended": lambda tmp: os.truncate(tmp, os.path.getsize(tmp) + 8),
            "replaced": replace_with_corrupt_copy,
        }
        old = b"the old target, kept"
        with frost.freeze({"d": {str(i): i for i in range(3000)}, "l": list(range(50))}) as store:
            for fmt in (1, 2):
                for how, change in tamper.items():
                    with self.subTest(format=fmt, change=how):
                        with open(self.path, "wb") as f:
                            f.write(old)
                        finals = []

                        def cb(done, total):
                            if total is not None and done == total:
                                (tmp,) = [os.path.join(self.dir.name, n) for n in os.listdir(self.dir.name)
                                          if n.startswith("p.frost.tmp.")]
                                finals.append(os.path.getsize(tmp))
                                change(tmp)
                        with self.assertRaises(OSError) as cm:
                            store.save(self.path, format=fmt, progress=cb)
                        self.assertEqual(len(finals), 1)
                        self.assertGreater(finals[0], 4096)
                        self.assertRegex(str(cm.exception), "truncated|extended|replaced")
                        with open(self.path, "rb") as f:
                            self.assertEqual(f.read(), old)
                        self.assertEqual(os.listdir(self.dir.name), ["p.frost"])
                # a last call that only looks: saved, and it loads
                seen = []
                store.save(self.path, format=fmt, progress=lambda d, t: seen.append((d, t)))
                self.assertEqual(seen[-1][0], seen[-1][1])
                frost.verify(self.path)

    def test_a_last_call_that_changes_a_written_image_is_an_oserror(self):
        """The same for the format-2 writer's other targets: frost.share's memfd (found
        through /proc/self/fd) and a file _map_write writes, truncated or extended by
        the last progress call: OSError (share maps nothing; the file is emptied, no
        partial image), never an image the size it reports that the file does not hold."""
        payload = {"d": {str(i): i for i in range(3000)}}

        def memfds():
            out = []
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:frost-share"):
                        out.append(int(fd))
                except OSError:
                    pass
            return out

        for how, size_of in (("truncated", lambda n: 4096), ("extended", lambda n: n + 8)):
            with self.subTest(target="share", change=how):
                def cb(done, total):
                    if total is not None and done == total:
                        for fd in memfds():
                            os.truncate(fd, size_of(os.fstat(fd).st_size))
                for obj in (payload, ):
                    with self.assertRaises(OSError):
                        frost.share(obj, progress=cb)
                with frost.freeze(payload) as store:
                    with self.assertRaises(OSError):
                        frost.share(store, progress=cb)
                self.assertEqual(memfds(), [])
            with self.subTest(target="_map_write", change=how):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
                try:
                    def cb(done, total):
                        if total is not None and done == total:
                            os.truncate(fd, size_of(os.fstat(fd).st_size))
                    with frost.freeze(payload) as store:
                        with self.assertRaises(OSError):
                            frost._frost._map_write(store, fd, progress=cb)
                    self.assertEqual(os.fstat(fd).st_size, 0)
                finally:
                    os.close(fd)

    def test_a_callback_shrinking_the_file_being_loaded_is_an_oserror(self):
        """frost.load's progress callback truncating the format-1 file it maps (whose
        bulk section the load reads next and the store reads in place), at any call,
        the last one included: OSError, no store -- never a SIGBUS. In a child."""
        with frost.freeze({"d": {str(i): i for i in range(300000)}, "l": list(range(200000))}) as store:
            store.save(self.path, format=1)
        good = open(self.path, "rb").read()
        for at in ("first", "last"):
            with self.subTest(at=at):
                with open(self.path, "wb") as f:
                    f.write(good)
                r = run_child(
                    "import frost, os\n"
                    f"path = {self.path!r}\n"
                    "def cb(done, total):\n"
                    f"    if {at!r} == 'first' or done == total:\n"
                    "        os.truncate(path, 4096)\n"
                    "try:\n"
                    "    s = frost.load(path, progress=cb)\n"
                    "    print('loaded', sum(s.root['l']))\n"
                    "except OSError as e:\n"
                    "    print('OSError', 'truncated' in str(e))\n",
                    timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.strip(), "OSError True")

    def test_save_stopped_by_the_callback_leaves_no_file(self):
        for fail_at in (1, 4):                      # first walk, second walk
            with self.subTest(fail_at=fail_at):
                rec = Recorder(fail_at=fail_at)
                with frost.freeze(data()) as store:
                    with self.assertRaises(KeyError) as cm:
                        store.save(self.path, format=1, progress=rec)
                self.assertIs(cm.exception, rec.exc)
                self.assertEqual(os.listdir(self.dir.name), [])

    def test_small_save_and_load_get_one_final_call_which_can_stop_them(self):
        with frost.freeze({"a": [1, "x"]}) as store:
            rec = Recorder()
            store.save(self.path, format=1, progress=rec)
            self.assertEqual(len(rec.calls), 1)
            self.assertEqual(rec.calls[0][0], rec.calls[0][1])
            os.unlink(self.path)
            with self.assertRaises(KeyError):    # raised by the last call, before the rename
                store.save(self.path, format=1, progress=Recorder(fail_at=1))
            self.assertEqual(os.listdir(self.dir.name), [])
            store.save(self.path, format=1)
        rec = Recorder()
        frost.load(self.path, lifetime="scoped", progress=rec).close()
        self.assertEqual(len(rec.calls), 1)
        self.assertEqual(rec.calls[0][0], rec.calls[0][1])
        with self.assertRaises(KeyError):
            frost.load(self.path, lifetime="scoped", progress=Recorder(fail_at=1))
        with self.assertRaises(KeyError):
            frost.verify(self.path, progress=Recorder(fail_at=1))

    def test_save_callback_runs_on_the_saving_thread_with_the_gil(self):
        threads = set()

        def cb(done, total):
            threads.add(threading.get_ident())
            [str(i) for i in range(100)]           # Python work: needs the GIL
        with frost.freeze(data()) as store:
            store.save(self.path, format=1, progress=cb)
        self.assertEqual(threads, {threading.get_ident()})

    def test_save_callback_closing_the_store(self):
        store = frost.freeze(data())
        store.save(self.path, format=1, progress=lambda d, t: store.close())
        self.assertTrue(store.closed)
        with frost.load(self.path, lifetime="scoped") as again:
            self.assertEqual(again.root[N - 1], f"s{N - 1}")

    def test_load_and_verify_report_bytes(self):
        with frost.freeze(data()) as store:
            store.save(self.path, format=1)
        rec = Recorder()
        with frost.load(self.path, lifetime="scoped", progress=rec) as loaded:
            self.assertEqual(len(loaded.root), N)
        self.check_calls(rec.calls)
        self.assertEqual(len({t for _, t in rec.calls}), 1)   # total known from the start
        rec = Recorder()
        self.assertIsNone(frost.verify(self.path, progress=rec))
        self.check_calls(rec.calls)

    def test_load_stopped_by_the_callback(self):
        with frost.freeze(data()) as store:
            store.save(self.path, format=1)
        for fail_at in (1, 3):
            with self.subTest(fail_at=fail_at):
                rec = Recorder(fail_at=fail_at)
                with self.assertRaises(KeyError) as cm:
                    frost.load(self.path, lifetime="scoped", progress=rec)
                self.assertIs(cm.exception, rec.exc)
        with self.assertRaisesRegex(TypeError, r"load\(\) progress must be a callable"):
            frost.load(self.path, progress=3)
        with frost.freeze([1]) as store:
            with self.assertRaisesRegex(TypeError, r"save\(\) progress must be a callable"):
                store.save(self.path, format=1, progress="x")


class VerifyTest(LeakCheckedTestCase):
    def test_valid_and_invalid_files(self):
        with tempfile.TemporaryDirectory() as d:
            good = os.path.join(d, "good.frost")
            with frost.freeze({"a": [1, 2.5, "x"]}) as store:
                store.save(good, format=1)
            self.assertIsNone(frost.verify(good))
            raw = bytearray(open(good, "rb").read())
            raw[len(raw) // 2] ^= 0xFF
            bad = os.path.join(d, "bad.frost")
            with open(bad, "wb") as f:
                f.write(raw)
            with self.assertRaisesRegex(frost.SnapshotError, "checksum mismatch"):
                frost.verify(bad)
            with open(bad, "wb") as f:
                f.write(b"not a snapshot at all")
            with self.assertRaisesRegex(frost.SnapshotError, "not a frost snapshot"):
                frost.verify(bad)
            with self.assertRaises(FileNotFoundError):
                frost.verify(os.path.join(d, "missing.frost"))
            with self.assertRaises(IsADirectoryError):
                frost.verify(d)


class LoggerTest(unittest.TestCase):
    def test_frost_logger_has_a_null_handler(self):
        frost.Pool   # the module that logs (frost.pool) installs it when first used
        handlers = logging.getLogger("frost").handlers
        self.assertTrue(any(isinstance(h, logging.NullHandler) for h in handlers))

    def test_nothing_is_printed_without_configuration(self):
        # lastResort would print WARNING+ records to stderr if frost had no handler
        r = run_child("import frost, poolwork\n"
                      "with frost.Pool(1) as p:\n"
                      "    f = p.submit(poolwork.fail, 'x')\n"
                      "    try: f.result(30)\n"
                      "    except ValueError: pass\n"
                      "print('done')\n", timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "done")
        self.assertEqual(r.stderr, "")

    def test_pool_events_are_logged(self):
        import poolwork
        with self.assertLogs("frost", level="DEBUG") as logs:
            with frost.Pool(1) as pool:
                with self.assertRaises(ValueError):
                    pool.submit(poolwork.fail, "boom").result(timeout=60)
        text = "\n".join(logs.output)
        self.assertIn("INFO:frost.pool:frost.Pool started: 1 worker interpreter(s)", text)
        self.assertRegex(text, r"DEBUG:frost.pool:task \d+ raised .*ValueError: boom")
        self.assertIn("frost.Pool shutting down", text)
        self.assertIn("frost.Pool stopped", text)


if __name__ == "__main__":
    unittest.main()
