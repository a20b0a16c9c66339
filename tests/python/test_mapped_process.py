"""Cross-process stores (issue 13; frost._mapped): frost.share() into a sealed
memfd, frost.load() of format-2 files in O(1), handles (pickling sends a
handle, never the data) to workers of every start method, other hash seeds,
a SIGKILLed creator leaving nothing behind, and the refusal of arena stores
by multiprocessing's pickler. Every child process runs with a deadline."""
import concurrent.futures as cf
import copy
import dataclasses
import fcntl
import gc
import glob
import multiprocessing
import os
import pickle
import re
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest

import frost
from frost import _frost, _mapped
from frostcheck import run_child, run_python

import mappedwork

DEADLINE = 120            # seconds any one cross-process wait may take
METHODS = ("spawn", "forkserver", "fork")
# TSan cannot follow a fork of a multi-threaded process into a child that starts threads
# (pyarrow's pool: "starting new threads after multi-threaded fork is not supported");
# the dev and asan builds run the pyarrow children of every method
UNDER_TSAN = "TSAN_OPTIONS" in os.environ
THREADED_CHILD_METHODS = ("spawn", "forkserver") if UNDER_TSAN else METHODS
ALL_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL


@dataclasses.dataclass
class Rec:
    a: int
    b: list


def sample(n=500):
    return {
        "str": "hello", "bmp": "日本語", "astral": "😀x", "ints": [0, -5, 2**100, 2**63 - 1],
        "floats": [1.5, -0.0, float("inf")], "mixed": [1, "a", 2.5, None, True, ..., b"z"],
        "tuple": (1, ("nested", (2.5,)), b"xy"), "set": {1, "two", (3, 4)},
        "frozenset": frozenset({"a", "b"}), 5: "int key", (1, "a"): "tuple key", 2.5: "float",
        "nested": {"deep": {"er": [{"x": [1, 2]}]}},
        "big": {f"key{i}": (i, i * 0.5, f"val{i}") for i in range(n)},
    }


class ShareTest(unittest.TestCase):
    def test_round_trip(self):
        data = sample()
        with frost.share(data) as store:
            self.assertIsInstance(store, frost.MappedStore)
            self.assertIsInstance(store.root, frost.MappedDict)
            self.assertEqual(frost.thaw(store.root), data)
            self.assertIsNone(store.path)
            self.assertEqual(len(store.store_id), 16)
            self.assertGreater(store.nbytes, 128)
            self.assertIn("frost.MappedStore memory", repr(store))
            store.verify()

    def test_store_and_arena_view(self):
        data = sample(20)
        with frost.freeze(data) as arena:
            with frost.share(arena) as whole:
                self.assertEqual(frost.thaw(whole.root), data)
            with frost.share(arena.root["nested"]) as part:   # a view: its subgraph
                self.assertEqual(frost.thaw(part.root), data["nested"])
            self.assertFalse(arena.closed)                     # share() does not close it

    def test_tables_row_slices_and_columns(self):
        try:
            import pyarrow as pa
        except ImportError:   # pragma: no cover
            self.skipTest("pyarrow is not installed")
        t = pa.table({"a": [1, 2, 3, 4], "s": ["w", "x", None, "z"]})
        with frost.freeze({"t": t}) as arena:
            view = arena.root["t"]
            for obj, want in ((view, t), (view[1:3], t.slice(1, 2)), (view[4:], t.slice(4)),
                              (view["s"], pa.table({"s": t["s"]}))):
                with self.subTest(obj=repr(obj)), frost.share(obj) as store:
                    self.assertIsInstance(store.root, frost.MappedTable)
                    self.assertTrue(pa.table(store.root).equals(want))
                    store.verify()
            with frost.share(view) as store:
                for shared in (store.root, store.root[1:], store.root["a"]):
                    with self.assertRaisesRegex(TypeError, "already a shared frost image"):
                        frost.share(shared)

    def test_leaf_roots(self):
        for root in (None, 7, "text", (1, 2), b"\x00"):
            with frost.share(root) as store:
                self.assertEqual(store.root, root)

    def test_bad_arguments(self):
        with frost.share([1]) as store:
            for shared in (store, store.root):
                with self.assertRaisesRegex(TypeError, "already a shared frost image"):
                    frost.share(shared)
        with self.assertRaisesRegex(TypeError, "progress must be a callable"):
            frost.share([1], progress=3)
        with self.assertRaises(frost.FreezeError):
            frost.share([object()])
        closed = frost.freeze([1])
        closed.close()
        with self.assertRaisesRegex(frost.StoreClosedError, r"^share\(\) of a closed frost\.Store$"):
            frost.share(closed)   # was "_map_write() of ...": an internal name
        with self.assertRaisesRegex(TypeError, "frost.share"):
            frost.MappedStore()

    def test_progress(self):
        calls = []
        with frost.share(list(range(200_000)), progress=lambda d, t: calls.append((d, t))):
            pass
        self.assertTrue(calls)
        self.assertEqual(calls[-1][0], calls[-1][1])

    def test_sealed_read_only(self):
        with frost.share({"a": 1}) as store:
            fd = store.root.image.handle.fd
            self.assertEqual(fcntl.fcntl(fd, fcntl.F_GET_SEALS) & ALL_SEALS, ALL_SEALS)
            with self.assertRaises(PermissionError):
                os.pwrite(fd, b"x", 0)
            with self.assertRaises(PermissionError):
                os.ftruncate(fd, 0)
            import mmap
            with self.assertRaises(PermissionError):
                mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    def test_close(self):
        store = frost.share({"a": [1, 2], "b": "x"})
        view = store.root["a"]
        handle = view.image.handle
        memfd = (handle.dev, handle.ino)
        del handle
        self.assertEqual(NothingLeftBehindTest.holders(memfd), {os.getpid()})
        store.close()
        store.close()                                   # idempotent
        self.assertTrue(store.closed)
        self.assertEqual(repr(store), "<frost.MappedStore closed>")
        with self.assertRaises(frost.StoreClosedError):
            store.root
        with self.assertRaises(frost.StoreClosedError):
            pickle.dumps(store)
        with self.assertRaises(frost.StoreClosedError):
            store.verify()
        self.assertEqual(list(view), [1, 2])            # views keep the image alive
        self.assertEqual(pickle.loads(pickle.dumps(view)), view)
        del view
        gc.collect()
        self.assertEqual(NothingLeftBehindTest.holders(memfd), set())   # the last view gone: the memory too

    def test_context_manager_closes_on_error(self):
        with self.assertRaises(KeyError):
            with frost.share({}) as store:
                raise KeyError
        self.assertTrue(store.closed)


class InterruptedShareTest(unittest.TestCase):
    def test_ctrl_c_anywhere_in_share_leaks_no_fd_and_no_mapping(self):
        # a KeyboardInterrupt landing at any point of frost.share (freeze, write, seal,
        # map): whether or not it was interrupted, no memfd stays open or mapped
        code = textwrap.dedent("""
            import gc, os, signal, frost
            data = {f"k{i}": (i, str(i)) for i in range(200000)}
            def raise_ki(*a):
                raise KeyboardInterrupt
            signal.signal(signal.SIGALRM, raise_ki)
            fds = len(os.listdir("/proc/self/fd"))
            s = None
            for delay in (0.001, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4, 0.8):
                try:
                    signal.setitimer(signal.ITIMER_REAL, delay)
                    s = frost.share(data)
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    s.close()
                except KeyboardInterrupt:
                    pass
                s = None   # interrupted after share() returned: that store is ours to drop
            signal.setitimer(signal.ITIMER_REAL, 0)
            gc.collect()
            assert len(os.listdir("/proc/self/fd")) == fds, "an fd leaked"
            left = [l for l in open("/proc/self/maps") if "memfd:" in l]
            assert not left, left
            print("clean")
        """)
        r = run_child(code, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("clean", r.stdout)


    def test_ctrl_c_between_any_two_instructions_leaks_no_fd(self):
        # KeyboardInterrupt timed to land at every point of a short share() and
        # load() (20 us steps): the fd made there is owned from the instant it
        # exists (frost._fd.Fd). It used to leak when the interrupt landed between
        # os.memfd_create/os.open returning and the assignment, and to be closed
        # twice when it landed as the image's handle took it over.
        code = textwrap.dedent("""
            import gc, os, signal, tempfile, frost
            data = {f"k{i}": (i, str(i)) for i in range(2000)}
            path = os.path.join(tempfile.mkdtemp(), "d.frost")
            frost.freeze(data).save(path)
            def raise_ki(*a):
                raise KeyboardInterrupt
            signal.signal(signal.SIGALRM, raise_ki)
            def fds():
                return sorted(os.listdir("/proc/self/fd"))
            before = fds()
            interrupted = 0
            for call in (frost.share, frost.load) * 2:
                for step in range(150):
                    arg = data if call is frost.share else path
                    s = None
                    try:
                        signal.setitimer(signal.ITIMER_REAL, 0.00002 * (step + 1))
                        s = call(arg)
                        signal.setitimer(signal.ITIMER_REAL, 0)
                        assert s.root["k7"] == (7, "7")
                    except KeyboardInterrupt:
                        interrupted += 1
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    s = None
                    gc.collect()
                    assert fds() == before, (call.__name__, step, before, fds())
            left = [l for l in open("/proc/self/maps") if "memfd:" in l or "d.frost" in l]
            assert not left, left
            assert interrupted > 0
            print("clean", interrupted)
        """)
        r = run_child(code, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("clean", r.stdout)


    def test_ctrl_c_as_a_store_is_dropped_leaks_no_fd(self):
        # KeyboardInterrupt timed to land (1-60 us steps) while a shared store is
        # closed and dropped: its memfd's owner, frost._fd.Fd, closes it in C
        # (close and __del__). A Python __del__ was interrupted at its first
        # instruction, before the close: ~1 fd in 25 drops stayed open for ever.
        code = textwrap.dedent("""
            import gc, os, signal, frost
            armed = False
            def raise_ki(*a):
                global armed
                if armed:
                    armed = False
                    raise KeyboardInterrupt
            signal.signal(signal.SIGALRM, raise_ki)
            def fds():
                return sorted(os.listdir("/proc/self/fd"))
            s = frost.share({"a": 1}); s.close(); s = None; gc.collect()
            before, interrupted = fds(), 0
            for step in range(2000):
                try:
                    s = frost.share({"a": 1})
                    armed = True
                    signal.setitimer(signal.ITIMER_REAL, 1e-6 * (step % 60 + 1))
                    s.close(); s = None
                    for _ in range(200): pass
                except KeyboardInterrupt:
                    interrupted += 1
                finally:
                    armed = False
                    signal.setitimer(signal.ITIMER_REAL, 0)
                s = None
            gc.collect()
            assert fds() == before, (len(before), len(fds()))
            assert not [l for l in open("/proc/self/maps") if "memfd:" in l]
            assert interrupted > 0
            print("clean")
        """)
        r = run_child(code, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("clean", r.stdout)


class RegistryTest(unittest.TestCase):
    def test_dead_entries_left_by_an_interrupted_callback_are_pruned(self):
        # A Ctrl-C landing in the weakref callback that drops a freed image's entry
        # (_register's forget: "Exception ignored in ... forget") left the dead ref in
        # _mapped._images for ever: 72 of them after 3,000 interrupted close()s
        # (/work/wt/hfiles-repro/fd_del_ctrlc.py), one per interrupt, never pruned.
        # Here: what such callbacks leave, then registrations prune it.
        import weakref
        from frost import _mapped

        class Gone:
            pass

        with _mapped._images_lock:
            for i in range(1000):
                _mapped._images[(b"%016d" % i, 0, i)] = weakref.ref(Gone())   # dead at once
        stores = [frost.share({"i": i}) for i in range(3)]
        try:
            self.assertEqual(sum(ref() is None for ref in list(_mapped._images.values())), 0)
            for store in stores:   # lookups still find the live ones
                self.assertIs(_mapped._registered((store.store_id, store._image.handle.dev,
                                                   store._image.handle.ino)), store._image)
        finally:
            for store in stores:
                store.close()

    def test_an_image_registered_while_a_dead_ones_entry_is_forgotten_keeps_its_entry(self):
        # forget() (the weakref callback of a freed image) read the entry and popped it
        # without the lock: an image of the same file registered by another thread in
        # between lost its entry, and the next handle of the file mapped it again.
        # Forced here: forget's read of the entry starts a thread loading the file and
        # waits until that load has registered its image or is waiting for the lock.
        import threading
        import weakref
        from unittest import mock
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: [os.unlink(os.path.join(d, f)) for f in os.listdir(d)]
                        or os.rmdir(d))
        path = os.path.join(d, "s.frost")
        with frost.freeze({"a": 1}) as store:
            store.save(path)
        first = frost.load(path)
        key = (first.store_id, first._image.handle.dev, first._image.handle.ino)
        first_image = weakref.ref(first._image)
        real_lock, main = _mapped._images_lock, threading.current_thread()
        moved_on = threading.Event()   # the load registered, or waits for the lock
        second = []

        class Lock:
            def __enter__(self):
                if not real_lock.acquire(blocking=False):
                    if threading.current_thread() is not main:
                        moved_on.set()
                    real_lock.acquire()

            def __exit__(self, *exc):
                real_lock.release()

        def load_again():
            second.append(frost.load(path))
            moved_on.set()

        class Images(dict):
            armed = False
            loader = None

            def get(self, k, default=None):
                value = super().get(k, default)
                if self.armed and k == key and threading.current_thread() is main:
                    self.armed = False
                    self.loader = threading.Thread(target=load_again)
                    self.loader.start()
                    moved_on.wait(DEADLINE)
                return value

        images = Images(_mapped._images)
        with mock.patch.object(_mapped, "_images", images), \
                mock.patch.object(_mapped, "_images_lock", Lock()):
            images.armed = True
            del first
            gc.collect()
            self.assertIsNone(first_image())
            self.assertIsNotNone(images.loader, "forget() did not run")
            images.loader.join(DEADLINE)
            self.assertEqual(len(second), 1)
            self.assertIs(_mapped._registered(key), second[0]._image)
        second[0].close()


class ConcurrentShareTest(unittest.TestCase):
    def test_many_threads_share_at_once(self):
        # 8 threads x 6 shares started together: every image reads back as its
        # own data (and through a pickled handle), and no fd or mapping is left
        code = textwrap.dedent("""
            import gc, os, pickle, threading, frost
            from frost import _mapped
            def fds():
                return sorted(os.listdir("/proc/self/fd"))
            def maps():
                return [l for l in open("/proc/self/maps") if "frost-share" in l]
            def data(t, i):
                return {"t": t, "i": i, "xs": list(range(t * 1000 + i, t * 1000 + i + 300)),
                        "s": f"{t}-{i}" * 50, "set": {t, i, f"{t}.{i}"}}
            before = fds(), maps()
            start = threading.Barrier(8)
            stores, errors = {}, []
            def share_some(t):
                try:
                    start.wait()
                    for i in range(6):
                        stores[t, i] = frost.share(data(t, i))
                except BaseException as exc:
                    errors.append(repr(exc))
            threads = [threading.Thread(target=share_some, args=(t,)) for t in range(8)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            assert not errors, errors
            assert len(stores) == 48 and len({s.store_id for s in stores.values()}) == 48
            for (t, i), s in stores.items():
                assert frost.thaw(s.root) == data(t, i), (t, i)
                assert frost.thaw(pickle.loads(pickle.dumps(s.root))) == data(t, i), (t, i)
            assert len(maps()) == 48 + len(before[1])
            for s in stores.values():
                s.close()
            del stores, s
            gc.collect()
            assert (fds(), maps()) == before, (fds(), maps(), before)
            print("clean")
        """)
        r = run_child(code, timeout=DEADLINE)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "clean"), r.stderr[-3000:])


class ClosedStorePicklingTest(unittest.TestCase):
    def test_closed_store_and_its_views(self):
        # a closed MappedStore cannot be pickled (StoreClosedError, by every
        # pickler); its views hold the image: they pickle, and are received
        store = frost.share({"a": [1, 2]})
        view = store.root["a"]
        store.close()
        for dumps in (pickle.dumps, multiprocessing.reduction.ForkingPickler.dumps):
            with self.subTest(dumps=dumps):
                with self.assertRaisesRegex(frost.StoreClosedError,
                                            "pickling of a closed frost.MappedStore"):
                    dumps(store)
                self.assertEqual(list(pickle.loads(dumps(view))), [1, 2])
        with self.assertRaisesRegex(frost.StoreClosedError, "closed frost.MappedStore"):
            copy.copy(store)
        with ProcessPoolExecutorFor("spawn") as pool:
            with self.assertRaisesRegex(frost.StoreClosedError, "closed frost.MappedStore"):
                pool.submit(mappedwork.echo, store).result(DEADLINE)
            self.assertEqual(pool.submit(mappedwork.describe, view).result(DEADLINE)[3], [1, 2])

    def test_forged_fd_tickets(self):
        with self.assertRaisesRegex(ValueError, "not an fd ticket"):
            _frost._import_fd((1, 2))
        with frost.freeze([1]) as arena:
            ticket = _frost._export(arena)
            with self.assertRaisesRegex(ValueError, "not an fd ticket"):
                _frost._import_fd(ticket)
            _frost._discard(ticket)
        for bad in (-1, "3", 2**40, None, True, False, 3.0):
            with self.subTest(bad=bad):
                with self.assertRaises((ValueError, TypeError)):
                    _frost._export_fd(bad)
                with self.assertRaises((ValueError, TypeError)):
                    _frost._capture_fd(bad)   # (checked before the capture)
        with self.assertRaises(OSError):
            _frost._export_fd(999999)   # not an open fd
        fds = sorted(os.listdir("/proc/self/fd"))
        with frost.share([1]) as store:
            ticket = _frost._export_fd(store.root.image.handle.fd)
            with self.assertRaisesRegex(ValueError, "invalid frost reference"):
                _frost._import(ticket)   # an fd ticket is not a store's
            fd = _frost._import_fd(ticket)
            os.close(fd)
            self.assertTrue(_frost._discard(ticket))
            self.assertFalse(_frost._discard(ticket))
            with self.assertRaisesRegex(ValueError, "not an fd ticket"):
                _frost._import_fd(ticket)
        gc.collect()
        self.assertEqual(sorted(os.listdir("/proc/self/fd")), fds)


def ProcessPoolExecutorFor(method):
    return cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method))


class LoadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name="s.frost"):
        return os.path.join(self.dir.name, name)

    def saved(self, data, name="s.frost", format=2):
        with frost.freeze(data) as store:
            store.save(self.path(name), format=format)
        return self.path(name)

    def test_format_two_maps(self):
        data = sample()
        path = self.saved(data)
        with frost.load(path) as store:
            self.assertIsInstance(store, frost.MappedStore)
            self.assertEqual(store.path, os.path.abspath(path))
            self.assertEqual(store.nbytes, os.path.getsize(path))
            self.assertEqual(frost.thaw(store.root), data)
        for lifetime in ("scoped", "process"):   # accepted, does not apply
            with frost.load(path, lifetime=lifetime) as store:
                self.assertEqual(store.root["str"], "hello")
        with frost.load(os.fsencode(path)) as store:   # bytes and PathLike paths
            self.assertEqual(store.root["str"], "hello")

    def test_format_one_still_loads(self):
        path = self.saved([1, 2], format=1)
        store = frost.load(path, lifetime="scoped")
        self.assertIsInstance(store, frost.Store)
        self.assertEqual(list(store.root), [1, 2])
        store.close()

    def test_errors_for_paths(self):
        with self.assertRaises(FileNotFoundError):
            frost.load(self.path("missing"))
        with self.assertRaises(IsADirectoryError):
            frost.load(self.dir.name)
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        with self.assertRaisesRegex(frost.SnapshotError, "not a regular file"):
            frost.load(fifo)                                 # never blocks
        with self.assertRaisesRegex(frost.SnapshotError, "not a regular file"):
            frost.verify(fifo)
        path = self.saved([1])
        with self.assertRaisesRegex(ValueError, "lifetime must be"):
            frost.load(path, lifetime="forever")
        with self.assertRaisesRegex(TypeError, "lifetime must be a str"):
            frost.load(path, lifetime=1)
        with self.assertRaisesRegex(TypeError, "progress must be a callable"):
            frost.load(path, progress=1)
        with self.assertRaises(TypeError):
            frost.load(1.5)

    def test_bad_header(self):
        raw = open(self.saved([1, 2]), "rb").read()
        for blob in (raw[:8], raw[:127], raw[:-1], raw + b"\0" * 8):
            with open(self.path("bad.frost"), "wb") as f:
                f.write(blob)
            with self.assertRaises(frost.SnapshotError):
                frost.load(self.path("bad.frost"))

    def test_load_does_not_check_the_body(self):
        # O(1): a damaged body loads; verify() (the full check) finds it
        raw = bytearray(open(self.saved({"k": list(range(1000))}), "rb").read())
        raw[-100] ^= 0x01
        with open(self.path("bad.frost"), "wb") as f:
            f.write(raw)
        with frost.load(self.path("bad.frost")) as store:
            with self.assertRaisesRegex(frost.SnapshotError, "checksum"):
                store.verify()
        with self.assertRaisesRegex(frost.SnapshotError, "checksum"):
            frost.verify(self.path("bad.frost"))

    def test_load_does_not_read_a_large_file(self):
        # a 1 GiB image (sparse: a valid header and root, then a hole): load
        # maps it without reading it, so this process's memory does not grow
        raw = bytearray(open(self.saved({"k": [1, 2, 3]}), "rb").read())
        size = 1 << 30
        raw[16:24] = size.to_bytes(8, "little")
        raw[56:64] = bytes(8)
        raw[56:64] = _frost._snapshot_xxh64(bytes(raw[:128])).to_bytes(8, "little")
        path = self.path("huge.frost")
        with open(path, "wb") as f:
            f.write(raw)
            f.truncate(size)
        code = textwrap.dedent(f"""
            import resource, frost
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            store = frost.load({path!r})
            assert store.nbytes == {size}, store.nbytes
            assert list(store.root["k"]) == [1, 2, 3]
            grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            print(grew)
            """)
        r = run_child(code, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(int(r.stdout.split()[-1]), 64 * 1024)   # KiB: far below 1 GiB


    def test_a_large_table_attaches_and_reads_without_being_read(self):
        # an 8 GiB int64 column without nulls (sparse: the blob's descriptors, then a hole):
        # load is O(1), and so is reaching the table (the check of a fixed-width column
        # without a bitmap is its sizes), pyarrow's view of it and reading one row
        try:
            import pyarrow as pa
        except ImportError:   # pragma: no cover
            self.skipTest("pyarrow is not installed")
        import struct
        import mapcraft
        with frost.freeze(pa.table({"v": pa.array(range(8), pa.int64())})) as store:
            blob = bytearray(_frost._table_blob(store.root))
        u64 = lambda off: struct.unpack_from("<Q", blob, off)[0]
        nrows = 1 << 30
        chunk = u64(u64(40))                                   # header.chunks[0]
        column = u64(u64(chunk + 48))                          # the chunk's children[0]
        values_entry = u64(column + 40) + 16                   # buffers[1] = {offset, size}
        values_at = u64(values_entry)
        size = values_at + 8 * nrows
        for off, value in ((8, size), (16, nrows), (u64(56) + 8, nrows),   # size, nrows, row_starts[1]
                           (chunk, nrows), (column, nrows), (values_entry + 8, 8 * nrows)):
            struct.pack_into("<Q", blob, off, value)
        im = mapcraft.Image()
        blob_off = im.align(64)
        im.buf += bytes(values_at)                             # the blob up to its values
        im.buf[blob_off:blob_off + values_at] = blob[:values_at]
        im.buf += bytes(64)                                    # the values start (zeros)
        im.nnodes += 1
        node = im.node_ref(im.words(mapcraft.head(mapcraft.K_COLUMNS, 0, 0), blob_off, size))
        image_size = blob_off + size
        data = im.finish(im.dict([("t", im.str("t"), node)]), image_size=image_size)
        self.assertLess(len(data), image_size)
        path = self.path("hugetable.frost")
        with open(path, "wb") as f:
            f.write(data)
            f.truncate(image_size)
        code = textwrap.dedent(f"""
            import resource, frost, pyarrow as pa
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            store = frost.load({path!r})
            view = store.root["t"]
            assert len(view) == {nrows} and view.row({nrows} - 1) == (0,), len(view)
            t = pa.table(view)
            assert t.num_rows == {nrows} and t["v"][{nrows} - 1].as_py() == 0
            grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            print(grew)
            """)
        r = run_child(code, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(int(r.stdout.split()[-1]), 64 * 1024)   # KiB: far below 8 GiB

class HandleTest(unittest.TestCase):
    def test_pickle_sends_a_handle(self):
        big = {f"k{i}": f"value {i} " * 10 for i in range(20_000)}
        with frost.share(big) as store:
            self.assertGreater(store.nbytes, 2_000_000)
            self.assertLess(len(pickle.dumps(store)), 300)
            self.assertLess(len(pickle.dumps(store.root)), 300)

    def test_same_process_gets_the_same_image(self):
        with frost.share(sample(10)) as store:
            view = store.root["nested"]["deep"]
            data = pickle.dumps(view)
            again = pickle.loads(data)
            twice = pickle.loads(data)                  # a handle unpickled twice
            self.assertIs(again.image, view.image)      # the registry: mapped once
            self.assertIs(twice.image, view.image)
            self.assertEqual(again.node_offset, view.node_offset)
            self.assertEqual(frost.thaw(again), frost.thaw(view))
            copy = pickle.loads(pickle.dumps(store))
            self.assertIsInstance(copy, frost.MappedStore)
            self.assertEqual(copy.store_id, store.store_id)

    def test_copy_and_deepcopy_give_the_same_image(self):
        # copy.copy calls the reducer's function on the handle itself (pickle would
        # give the MapImage it unpickles to): it raised "invalid frost handle"
        import array
        import pyarrow as pa
        data = dict(sample(10), rec=Rec(1, [2]), arr=array.array("d", [1.5, 2.5]),
                    t=pa.table({"x": [1, 2, 3]}))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.frost")
            with frost.freeze(data) as arena:
                arena.save(path)
            for store in (frost.share(data), frost.load(path)):
                with store:
                    root = store.root
                    views = [root, root["ints"], root["set"], root["rec"], root["arr"],
                             root["t"], root["t"][1:], root["t"]["x"], root["t"]["x"][::2]]
                    for make in (copy.copy, copy.deepcopy):
                        again = make(store)
                        self.assertIsInstance(again, frost.MappedStore)
                        self.assertIs(again.root.image, root.image)
                        for view in views:
                            with self.subTest(make=make.__name__, view=type(view).__name__):
                                other = make(view)
                                self.assertIs(type(other), type(view))
                                self.assertIs(other.image, root.image)
                                self.assertEqual(frost.thaw(other) if not hasattr(other, "tolist")
                                                 else other.tolist(),
                                                 frost.thaw(view) if not hasattr(view, "tolist")
                                                 else view.tolist())

    def test_handles_of_loaded_files(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.frost")
            frost.freeze({"a": [1, 2]}).save(path, format=2)
            store = frost.load(path)
            data = pickle.dumps(store.root["a"])
            self.assertNotIn(b"\x01\x00\x00\x00", data[:0])   # (a handle, not bytes of data)
            r = run_child(f"import pickle, frost\nv = pickle.loads({data!r})\n"
                          f"print(type(v).__name__, list(v))", timeout=DEADLINE)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "MappedList [1, 2]"), r.stderr)
            # the file replaced since (save renames a new file into place): refused
            frost.freeze({"a": [3]}).save(path, format=2)
            r = run_child(f"import pickle, frost\ntry:\n    pickle.loads({data!r})\n"
                          f"except frost.SnapshotError as e:\n    print('refused:', e)",
                          timeout=DEADLINE)
            self.assertIn("refused:", r.stdout, r.stderr)
            self.assertIn("replaced", r.stdout)
            store.close()

    def test_forged_handles(self):
        with frost.share([1, 2]) as store:
            handle = store.root.image.handle
            good = handle.__reduce__()[1]
        bad = [
            ("nonsense",), ("memory", -1, 3, 0, 0, 0, b"x" * 16), ("memory", 1, 2),
            ("memory", os.getpid(), 3, 0, 0, 0, "not bytes"),
            ("file", 5, 0, 0, 0, b"x" * 16),
        ]
        for fields in bad:
            with self.subTest(fields=fields):
                with self.assertRaisesRegex(frost.SnapshotError, "invalid frost handle"):
                    _mapped._attach(*fields)
        with self.assertRaisesRegex(frost.SnapshotError, "invalid frost handle"):
            _mapped._rebuild_view(("memory",), 128)
        # a live, sealed image named with another store_id: refused
        with frost.share([3]) as other:
            h = other.root.image.handle
            forged = ("memory", os.getpid(), h.fd, h.dev, h.ino, h.size, good[-1])
            gc.collect()
            with self.assertRaisesRegex(frost.SnapshotError, "another frost image"):
                _mapped._attach(*forged)
        # an ordinary file's fd (not sealed): refused
        with tempfile.TemporaryFile() as f:
            f.write(b"FROSTMAP" + bytes(200))
            f.flush()
            st = os.fstat(f.fileno())
            with self.assertRaisesRegex(frost.SnapshotError, "not sealed"):
                _mapped._attach("memory", os.getpid(), f.fileno(), st.st_dev, st.st_ino,
                                st.st_size, b"x" * 16)

    def test_handle_after_the_store_is_closed(self):
        store = frost.share({"a": 1})
        data = pickle.dumps(store.root)
        store.close()
        del store
        gc.collect()
        # the fd number is reused by the next image: the inode and store_id tell them apart
        with frost.share({"b": 2}) as again:
            with self.assertRaisesRegex(frost.SnapshotError, "exited or closed"):
                pickle.loads(data)
            self.assertEqual(frost.thaw(again.root), {"b": 2})

    def test_handle_of_an_exited_creator(self):
        code = textwrap.dedent("""
            import pickle, sys, frost
            store = frost.share({"a": [1, 2]})
            sys.stdout.write(pickle.dumps(store.root).hex())
            """)
        r = run_child(code, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        with self.assertRaisesRegex(frost.SnapshotError, "exited or closed"):
            pickle.loads(bytes.fromhex(r.stdout))

    def test_plain_pickle_to_another_process(self):
        # outside multiprocessing: works while the creator lives and holds it;
        # the receiver maps it once however many times it unpickles the handle
        with frost.share(sample(50)) as store:
            data = pickle.dumps(store.root["big"])
            r = run_child(f"import pickle, frost\nv = pickle.loads({data!r})\n"
                          f"w = pickle.loads({data!r})\n"
                          f"print(v['key49'][2], len(v), w.image is v.image)", timeout=DEADLINE)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "val49 50 True"), r.stderr)

    def test_handle_after_a_living_creator_closed_the_store(self):
        store = frost.share({"a": 1})
        data = pickle.dumps(store)
        store.close()
        del store
        gc.collect()
        r = run_child(f"import pickle, frost\ntry:\n    pickle.loads({data!r})\n"
                      f"except frost.SnapshotError as e:\n    print('refused:', e)",
                      timeout=DEADLINE)
        self.assertIn("refused:", r.stdout, r.stderr)
        self.assertIn("exited or closed", r.stdout)

    def test_other_hash_seeds_find_every_key(self):
        data = sample(300)
        keys = list(data)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.frost")
            frost.freeze(data).save(path, format=2)
            with frost.share(data) as store:
                handle = pickle.dumps(store.root)
                for seed in ("0", "1", "4242", "random"):
                    code = textwrap.dedent(f"""
                        import pickle, frost
                        keys = pickle.loads({pickle.dumps(keys)!r})
                        for root in (frost.load({path!r}).root, pickle.loads({handle!r})):
                            assert len(root) == len(keys)
                            for k in keys:
                                assert k in root, k
                                root[k]
                            assert root["big"]["key299"] == (299, 149.5, "val299")
                            assert "absent" not in root and 6 not in root
                        print("ok")
                        """)
                    env = dict(os.environ, PYTHONHASHSEED=seed)
                    r = run_child(code, timeout=DEADLINE, env=env)
                    self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"),
                                     (seed, r.stderr))


class WorkerTest(unittest.TestCase):
    """Views and stores reach workers of every start method as the same node."""

    @classmethod
    def setUpClass(cls):
        cls.data = sample(200)
        cls.store = frost.share(cls.data)
        cls.view = cls.store.root["nested"]["deep"]

    @classmethod
    def tearDownClass(cls):
        cls.store.close()
        del cls.view

    def check(self, result, view=None):
        view = self.view if view is None else view
        store_id, offset, kind, data, pid = result
        self.assertEqual((store_id, offset, kind), (view.image.store_id, view.node_offset,
                                                    type(view).__name__))
        self.assertEqual(data, frost.thaw(view))
        self.assertNotEqual(pid, os.getpid())

    def test_multiprocessing_pool(self):
        for method in METHODS:
            with self.subTest(method=method):
                with multiprocessing.get_context(method).Pool(2) as pool:
                    self.check(pool.apply_async(mappedwork.describe, (self.view,)).get(DEADLINE))
                    facts = pool.apply_async(mappedwork.store_facts, (self.store,)).get(DEADLINE)
                    self.assertEqual(facts, ("MappedStore", self.store.store_id,
                                             self.store.nbytes, self.data))
                    back = pool.apply_async(mappedwork.echo, (self.view,)).get(DEADLINE)
                    self.assertIs(back.image, self.view.image)   # home again: the same mapping

    def test_process_pool_executor(self):
        for method in METHODS:
            with self.subTest(method=method):
                ctx = multiprocessing.get_context(method)
                with cf.ProcessPoolExecutor(2, mp_context=ctx) as pool:
                    self.check(pool.submit(mappedwork.describe, self.view).result(DEADLINE))
                    keys = list(self.data["big"])
                    found = pool.submit(mappedwork.lookup_all, self.store.root["big"],
                                        keys).result(DEADLINE)
                    self.assertEqual(found, [self.data["big"][k] for k in keys])

    def test_process_arguments(self):
        for method in METHODS:
            with self.subTest(method=method):
                ctx = multiprocessing.get_context(method)
                queue = ctx.SimpleQueue()
                p = ctx.Process(target=_put_described, args=(queue, self.view))
                p.start()
                p.join(DEADLINE)
                self.assertEqual(p.exitcode, 0)
                self.check(queue.get())

    def test_sent_handles_linger_once_per_image(self):
        with frost.share({"x": 1}) as store:
            for _ in range(100):
                multiprocessing.reduction.ForkingPickler.dumps(store.root)
            lingering = [image for _, image in _mapped._lingering.values()]
            self.assertEqual(lingering.count(store.root.image), 1)
            pickle.dumps(store.root)                     # plain pickle: no linger
            self.assertEqual(len(_mapped._lingering), len(lingering))

    def test_worker_made_store_comes_back(self):
        # the worker drops its store right after returning it: a handle sent by
        # multiprocessing keeps its image alive in the sender for _mapped.LINGER s
        with frost.ProcessPool(1) as pool:
            views = [pool.submit(mappedwork.share_and_return, {"w": [i]}).result(DEADLINE)
                     for i in range(10)]
            views += list(pool.map(mappedwork.share_and_return, [{"w": [i]} for i in range(10)],
                                   timeout=DEADLINE))
        self.assertEqual([frost.thaw(v) for v in views], [{"w": [i % 10]} for i in range(20)])
        for method in METHODS:
            with self.subTest(method=method):
                with multiprocessing.get_context(method).Pool(1) as pool:
                    view = pool.apply_async(mappedwork.share_and_return,
                                            ({"m": method},)).get(DEADLINE)
                self.assertEqual(frost.thaw(view), {"m": method})   # outlives the worker


class TableWorkerTest(unittest.TestCase):
    """A MappedTable crosses to workers of every start method by handle, and pyarrow in
    the worker reads its columns in place (every buffer inside the image's mapping)."""

    def setUp(self):
        try:
            import pyarrow as pa
        except ImportError:   # pragma: no cover
            self.skipTest("pyarrow is not installed")
        self.table = pa.table({"k": ["a", "b", "a", None], "v": pa.array([1, 2, 3, 4], pa.int64()),
                               "l": [[1], [], None, [2, 3]]})
        self.want_sums = {"k": ["a", "b", None], "v_sum": [4, 2, 4]}

    def check(self, result, view):
        kind, data, in_place, sums, pid = result
        self.assertEqual(kind, type(view).__name__)
        self.assertEqual(data, self.table.to_pydict())
        self.assertTrue(in_place, "the worker's pyarrow copied a buffer out of the mapping")
        self.assertEqual(sums, self.want_sums)
        self.assertNotEqual(pid, os.getpid())

    def test_shared_table_reaches_workers(self):
        with frost.share({"t": self.table, "n": 1}) as store:
            view = store.root["t"]
            for method in THREADED_CHILD_METHODS:
                with self.subTest(method=method):
                    ctx = multiprocessing.get_context(method)
                    with cf.ProcessPoolExecutor(1, mp_context=ctx) as pool:
                        self.check(pool.submit(mappedwork.table_facts, view).result(DEADLINE), view)
                        back = pool.submit(mappedwork.echo, view).result(DEADLINE)
                        self.assertIsInstance(back, frost.MappedTable)
                        self.assertEqual(back.row(0), view.row(0))
                with frost.ProcessPool(2) as pool:   # in chunks of rows, and by column
                    self.assertEqual(list(pool.map(mappedwork.plain,
                                                   [view[:2], view[2:]], timeout=DEADLINE)),
                                     [self.table.slice(0, 2).to_pydict(),
                                      self.table.slice(2).to_pydict()])
                    self.assertEqual(pool.submit(mappedwork.plain, view["v"][::-2])
                                     .result(DEADLINE), [4, 2])

    def test_shared_bare_table_and_loaded_file(self):
        with frost.share(self.table) as store:   # the table is the root
            self.assertIsInstance(store.root, frost.MappedTable)
            with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                self.check(pool.submit(mappedwork.table_facts, store.root).result(DEADLINE), store.root)
        fd, path = tempfile.mkstemp(suffix=".frost")
        os.close(fd)
        self.addCleanup(os.unlink, path)
        with frost.freeze({"t": self.table}) as arena:
            arena.save(path)
        loaded = frost.load(path)
        self.addCleanup(loaded.close)
        with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(THREADED_CHILD_METHODS[-1])) as pool:
            self.check(pool.submit(mappedwork.table_facts, loaded.root["t"]).result(DEADLINE),
                       loaded.root["t"])


class MappedTableLifetimeTest(unittest.TestCase):
    """An export of a MappedTable keeps the mapping (the image's pin) after the store is
    closed and every view and the MapImage are gone, and the last release unmaps it."""

    def setUp(self):
        # images sent by multiprocessing in earlier tests linger LINGER seconds; one
        # that expired (share() prunes them) while a test counts would change the count
        with _mapped._lingering_lock:
            _mapped._lingering.clear()
        gc.collect()

    def memfd_mappings(self):
        with open("/proc/self/maps") as f:
            return sum("frost-share" in line for line in f)

    def test_exports_keep_the_mapping_then_let_it_go(self):
        import pyarrow as pa
        np = __import__("numpy")
        before = self.memfd_mappings()
        store = frost.share({"t": pa.table({"v": pa.array(range(1000), pa.int64()),
                                            "s": [str(i) for i in range(1000)]})})
        view = store.root["t"]
        back = pa.table(view)
        stream = view.__arrow_c_stream__()
        tensor = np.from_dlpack(view["v"])
        self.assertEqual(self.memfd_mappings(), before + 2)   # the image's, and its pin's
        store.close()
        del store, view
        gc.collect()
        self.assertEqual(self.memfd_mappings(), before + 1, "the MapImage's own mapping went")
        self.assertEqual(back["s"][999].as_py(), "999")
        self.assertEqual(int(tensor.sum()), 499500)
        self.assertEqual(pa.RecordBatchReader._import_from_c_capsule(stream).read_all().num_rows, 1000)
        del back, stream
        gc.collect()
        self.assertEqual(self.memfd_mappings(), before + 1, "the tensor still holds the pin")
        self.assertEqual(int(tensor[-1]), 999)
        del tensor
        gc.collect()
        self.assertEqual(self.memfd_mappings(), before, "the last release unmapped it")

    def test_release_in_another_thread_without_the_view(self):
        import pyarrow as pa
        import threading
        before = self.memfd_mappings()
        with frost.share(pa.table({"a": list(range(100))})) as store:
            holder = [pa.table(store.root)]
        gc.collect()
        t = threading.Thread(target=holder.clear)
        t.start()
        t.join(DEADLINE)
        gc.collect()
        self.assertEqual(self.memfd_mappings(), before)


class InterpreterPoolTest(unittest.TestCase):
    def test_mapped_views_reach_frost_pool_workers(self):
        # a worker interpreter attaches by dup of the fd (same process) and has
        # its own registry (module state): a view of the same node
        with frost.share({"a": {"b": [1, 2]}}) as store, frost.Pool(2) as pool:
            view = store.root["a"]
            result = pool.submit(mappedwork.thaw_in_worker, view).result(DEADLINE)
            self.assertEqual(result, ("MappedDict", store.store_id, view.node_offset,
                                      {"b": [1, 2]}))
            back = pool.submit(mappedwork.echo, view).result(DEADLINE)
            self.assertIs(back.image, view.image)

    def test_the_message_holds_the_image_until_it_is_received(self):
        # A mapped view or store sent to another interpreter (task arguments,
        # results, channels) carries the image's fd with the message: the sender
        # may close the store and drop every view right after sending.
        gc.collect()
        fds, maps = open_fds(), shared_mappings()
        with frost.Pool(1) as pool:
            store = frost.share({"xs": list(range(100))})
            view = store.root["xs"]
            store.close()                                   # only the view holds it now
            started, go = frost.Channel(), frost.Channel()
            blocker = pool.submit(mappedwork.wait_for, started, go)   # the task waits in the queue
            self.assertEqual(started.recv(timeout=DEADLINE), "waiting")
            future = pool.submit(mappedwork.thaw_in_worker, view)
            del view
            gc.collect()                                    # the image's last holder here is gone
            go.send("go")
            self.assertEqual(future.result(DEADLINE)[3], list(range(100)))
            blocker.result(DEADLINE)
            # a result the worker drops as soon as it is sent
            back = pool.submit(mappedwork.share_and_return, {"b": [2]}).result(DEADLINE)
            self.assertEqual(frost.thaw(back), {"b": [2]})
            # a channel message whose sender dropped everything before it was received
            channel = frost.Channel()
            self.assertEqual(pool.submit(mappedwork.share_and_send, channel, [3, 4])
                             .result(DEADLINE), "sent")
            gc.collect()
            self.assertEqual(list(channel.recv(timeout=DEADLINE)), [3, 4])
            # a message never received: discarded with the channel, its fd closed
            unread = frost.Channel()
            pool.submit(mappedwork.share_and_send, unread, [5]).result(DEADLINE)
            del unread
            del back, future
        gc.collect()
        self.assertEqual(open_fds(), fds)
        self.assertEqual(shared_mappings(), maps)

    def test_a_loaded_file_deleted_after_sending(self):
        # a format-2 file's view sent, then every view dropped and the file
        # deleted before the worker attaches: the message holds the file
        with tempfile.TemporaryDirectory() as tmp, frost.Pool(1) as pool:
            path = os.path.join(tmp, "data.frost")
            frost.freeze({"xs": [1, 2, 3]}).save(path)
            store = frost.load(path)
            view = store.root["xs"]
            store.close()
            started, go = frost.Channel(), frost.Channel()
            blocker = pool.submit(mappedwork.wait_for, started, go)
            self.assertEqual(started.recv(timeout=DEADLINE), "waiting")
            future = pool.submit(mappedwork.thaw_in_worker, view)
            del view, store
            gc.collect()
            os.unlink(path)
            go.send("go")
            self.assertEqual(future.result(DEADLINE)[3], [1, 2, 3])
            blocker.result(DEADLINE)

    def test_one_fd_ticket_per_image_however_many_views(self):
        from frost import _transport
        with frost.share({f"k{i}": [i] for i in range(3000)}) as store, frost.Pool(1) as pool:
            views = [store.root[f"k{i}"] for i in range(3000)] + [store]
            message = _transport.dumps(views)
            try:
                self.assertEqual(len(_frost._message_tickets(message)), 1)
            finally:
                _transport.discard(message)
            back = pool.submit(mappedwork.echo, views).result(DEADLINE)
            self.assertEqual([v[0] for v in back[:-1]], list(range(3000)))
            self.assertIs(back[0].image, store.root.image)

    def test_closed_store_is_refused_at_the_sender(self):
        with frost.Pool(1) as pool:
            store = frost.share([1])
            store.close()
            with self.assertRaisesRegex(TypeError, "closed frost.MappedStore"):
                pool.submit(mappedwork.echo, store)
            with self.assertRaisesRegex(frost.StoreClosedError, "closed frost.MappedStore"):
                frost.Channel().send(store)
            self.assertEqual(pool.submit(mappedwork.add, 1, 2).result(DEADLINE), 3)


def open_fds():
    return sorted(os.listdir("/proc/self/fd"))


def shared_mappings():
    with open("/proc/self/maps") as f:
        return [line for line in f if "frost-share" in line]


def _put_described(queue, view):
    queue.put(mappedwork.describe(view))


HALF_IMPORTED_REDUCTION = """
import importlib.machinery, sys, threading, time
partial, go, a_done = threading.Event(), threading.Event(), threading.Event()

class HeldLoader:
    def __init__(self, loader):
        self.loader = loader
    def create_module(self, spec):
        return self.loader.create_module(spec)
    def exec_module(self, module):
        partial.set()                    # multiprocessing.reduction is half imported now
        go.wait(60)
        self.loader.exec_module(module)

class HoldReduction:                     # holds thread B inside reduction's `import socket`
    def find_spec(self, name, path=None, target=None):
        if name == "socket" and threading.current_thread().name == "B":
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            spec.loader = HeldLoader(spec.loader)
            return spec
        return None

sys.meta_path.insert(0, HoldReduction())
b = threading.Thread(target=lambda: __import__("multiprocessing.reduction"), name="B")
b.start()
partial.wait(60)
a_ident = threading.get_ident()

def release_once_a_waits_in_guard():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not a_done.is_set():
        f = sys._current_frames().get(a_ident)
        while f is not None and f.f_code.co_name != "guard":
            f = f.f_back
        if f is not None:
            break
        time.sleep(0.005)
    go.set()
threading.Thread(target=release_once_a_waits_in_guard).start()
try:
    import frost                         # A: its guard meets the half-imported module
finally:
    a_done.set()
b.join(60)
import multiprocessing.reduction as r
try:
    r.ForkingPickler.dumps(frost.freeze([1]).root); print("NOT REFUSED")
except TypeError as e:
    print("refused", "frost.share" in str(e))
"""


FROZEN_APP_MULTIPROCESSING = """
import importlib.util, os, sys
real = os.path.dirname(importlib.util.find_spec("multiprocessing").origin)

class Supplier:   # multiprocessing from files PathFinder cannot see, as a frozen app's importer
    def find_spec(self, name, path=None, target=None):
        if name == "multiprocessing":
            return importlib.util.spec_from_file_location(
                name, os.path.join(real, "__init__.py"), submodule_search_locations=["/nonexistent/frozen-app"])
        if name.startswith("multiprocessing."):
            f = os.path.join(real, *name.split(".")[1:]) + ".py"
            if os.path.exists(f):
                return importlib.util.spec_from_file_location(name, f)
        return None

sys.meta_path.insert(0, Supplier())
import frost
import multiprocessing.reduction as r
assert r.__spec__.origin.startswith(real), r.__spec__.origin
try:
    r.ForkingPickler.dumps(frost.freeze([1]).root)
except TypeError as e:
    print("frost.share" in str(e))
"""


class ArenaRefusedTest(unittest.TestCase):
    """Arena stores live in one process: multiprocessing's pickler refuses
    them at the sender, naming frost.share (never a hang in a worker)."""

    def test_refused_everywhere(self):
        with frost.freeze({"a": [1]}) as arena:
            for obj in (arena, arena.root, arena.root["a"]):
                with self.assertRaisesRegex(TypeError, "frost.share"):
                    multiprocessing.reduction.ForkingPickler.dumps(obj)
            with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as p:
                future = p.submit(mappedwork.echo, arena.root)
                with self.assertRaisesRegex(TypeError, "frost.share"):
                    future.result(DEADLINE)
                self.assertEqual(p.submit(mappedwork.add, 1, 2).result(DEADLINE), 3)   # not broken
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                with self.assertRaisesRegex(TypeError, "frost.share"):
                    pool.apply_async(mappedwork.echo, (arena.root,)).get(DEADLINE)
            ctx = multiprocessing.get_context("spawn")
            with self.assertRaisesRegex(TypeError, "frost.share"):
                ctx.Process(target=mappedwork.echo, args=(arena.root,)).start()
        with self.assertRaisesRegex(TypeError, "one process"):
            multiprocessing.reduction.ForkingPickler.dumps(frost.Channel())

    def test_guard_installed_whatever_the_import_order(self):
        code = ("import frost, multiprocessing.reduction as r\n"
                "try:\n    r.ForkingPickler.dumps(frost.freeze([1]).root)\n"
                "except TypeError as e:\n    print('frost.share' in str(e))\n")
        for first in ("", "import multiprocessing\n"):
            r = run_child(first + code, timeout=DEADLINE)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "True"), r.stderr)

    def test_record_shape_types_refused_whenever_they_are_made(self):
        # a process store's records are instances of types made at run time (view_record.c)
        code = textwrap.dedent("""
            import dataclasses, sys, frost
            @dataclasses.dataclass
            class P:
                x: int
            early = frost.freeze([P(1)], lifetime="process").root[0]   # before multiprocessing
            import multiprocessing.reduction as r
            late = frost.freeze([P(2)], lifetime="process").root[0]    # after
            assert type(early).__name__ == type(late).__name__ == "Record[__main__.P]"
            assert type(early) is not type(late)                        # one per store
            for v in (early, late):
                try:
                    r.ForkingPickler.dumps(v)
                except TypeError as e:
                    print("frost.share" in str(e) and "frost.Record" in str(e))
            print("frost._mapped" in sys.modules)
            """)
        r = run_child(code, timeout=DEADLINE)
        self.assertEqual((r.returncode, r.stdout.split()), (0, ["True", "True", "False"]), r.stderr)

    def test_shape_types_made_before_multiprocessing_or_by_a_second_guard(self):
        # a type made before multiprocessing.reduction is imported, and one made after
        # frost._forking_guard was taken out of sys.modules (a second copy reports it):
        # both refused, and each registered once
        code = textwrap.dedent("""
            import dataclasses, gc, sys, frost
            @dataclasses.dataclass
            class P:
                x: int
            early = frost.freeze([P(1)], lifetime="process").root[0]
            assert type(early) is not frost.Record
            import multiprocessing.reduction as r
            del sys.modules["frost._forking_guard"]
            import frost._forking_guard                       # a second copy
            late = frost.freeze([P(2)], lifetime="process").root[0]
            assert type(late) is not frost.Record and type(late) is not type(early)
            for v in (early, late):
                try:
                    r.ForkingPickler.dumps(v)
                except TypeError as e:
                    print("frost.share" in str(e))
            gc.collect()
            print(sum("Record[" in t.__name__ for t in r.ForkingPickler._extra_reducers),
                  len(frost.Record.__subclasses__()))
            """)
        r = run_child(code, timeout=DEADLINE)
        self.assertEqual((r.returncode, r.stdout.split()), (0, ["True", "True", "2", "2"]), r.stderr)

    def test_frost_process_pool_refuses_shape_typed_records(self):
        @dataclasses.dataclass
        class P:
            x: int
        store = frost.freeze([P(1)], lifetime="process")
        self.addCleanup(store.close)
        self.assertIsNot(type(store.root[0]), frost.Record)
        with frost.ProcessPool(1) as pool:
            with self.assertRaisesRegex(TypeError, "frost.share"):
                pool.submit(mappedwork.echo, store.root[0]).result(DEADLINE)
            self.assertEqual(pool.submit(mappedwork.add, 1, 2).result(DEADLINE), 3)   # not broken
            shared = frost.share(store.root[0])                # what the message asks for
            self.addCleanup(shared.close)
            self.assertEqual(pool.submit(mappedwork.echo, shared.root).result(DEADLINE).x, 1)

    def test_imports_that_meet_each_other_half_done(self):
        # multiprocessing.reduction imported while frost._mapped is half imported, and
        # frost imported while multiprocessing.reduction is (up the same stack: an import
        # hook): neither import fails on the other's missing names (AttributeError:
        # partially initialized module), and both stay guarded
        code = textwrap.dedent("""
            import sys
            class Reenter:
                def __init__(self, trigger, second):
                    self.trigger, self.second, self.done = trigger, second, False
                def find_spec(self, name, path=None, target=None):
                    if name == self.trigger and not self.done:
                        self.done = True
                        __import__(self.second)
                    return None
            if sys.argv[1] == "mapped":
                import frost
                sys.meta_path.insert(0, Reenter("mmap", "multiprocessing.reduction"))
                import frost._mapped
            else:
                sys.meta_path.insert(0, Reenter("socket", "frost"))
                import multiprocessing.reduction
                import frost._mapped            # the next import after it is complete guards it
            import multiprocessing.reduction as r, frost, pickle
            try:
                r.ForkingPickler.dumps(frost.freeze([1]).root)
            except TypeError as e:
                print("frost.share" in str(e))
            s = frost.share({"k": [1]})
            print(pickle.loads(r.ForkingPickler.dumps(s.root))["k"] == [1])
            """)
        for first in ("mapped", "reduction"):
            r = run_python(["-c", code, first], timeout=DEADLINE)
            self.assertEqual((r.returncode, r.stdout.split()), (0, ["True", "True"]), (first, r.stderr))

    def test_frost_imported_while_another_thread_imports_multiprocessing(self):
        # thread B is inside multiprocessing.reduction's import when this thread's
        # `import frost` guards it: the guard waits for B's import, then registers
        r = run_child(HALF_IMPORTED_REDUCTION, timeout=DEADLINE)
        self.assertEqual((r.returncode, r.stdout.split()), (0, ["refused", "True"]), r.stderr)

    def test_multiprocessing_supplied_by_an_importer_path_finder_cannot_see(self):
        # a frozen application's importer (a meta_path finder before PathFinder) supplies
        # multiprocessing: frost's import hook used to remove itself and return None,
        # which made importlib skip that finder: `import multiprocessing` failed
        r = run_child(FROZEN_APP_MULTIPROCESSING, timeout=DEADLINE)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "True"), r.stderr)

    def test_handles_reduced_whatever_the_import_order(self):
        # frost._mapped loads on first use: before or after multiprocessing.reduction
        code = textwrap.dedent("""
            import {first}
            import frost, multiprocessing.reduction as r, pickle
            s = frost.share({{"k": [1, 2]}})
            print(pickle.loads(r.ForkingPickler.dumps(s.root))["k"] == [1, 2])
            """)
        for first in ("frost._mapped", "sys"):
            r = run_child(code.format(first=first), timeout=DEADLINE)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "True"), r.stderr)

    def test_in_process_pickling_unchanged(self):
        with frost.freeze({"a": 1}) as arena:
            self.assertEqual(pickle.loads(pickle.dumps(arena.root)), {"a": 1})


class FileGoneSinceTheLoad:
    """Mixin: check_refused(change, why) for a loaded file replaced by a new
    save, for one removed, and for one grown in place."""

    def test_a_file_replaced_since_the_load(self):
        self.check_refused(lambda path: frost.freeze({"xs": [4]}).save(path, format=2),
                           "replaced since it was loaded")

    def test_a_file_removed_since_the_load(self):
        self.check_refused(os.unlink, "removed since it was loaded")

    def test_a_file_grown_in_place_since_the_load(self):
        # same inode, another size: a receiver by path refuses it (the handle's size),
        # and the sender let it go (a spawned multiprocessing.Pool worker lost the
        # task); a frost message sent before holds an fd, and its receiver refused the
        # grown file ("invalid frost handle"): the message was lost
        def grow(path):
            with open(path, "ab") as f:
                f.write(b"\0" * 4096)
        self.check_refused(grow, "changed in place since it was loaded")


class ReplacedFileRefusedTest(FileGoneSinceTheLoad, unittest.TestCase):
    """A store loaded from a file whose path now names another file (a new
    save renamed over it) or none: a receiver cannot map it, and a
    multiprocessing.Pool worker that fails to unpickle its task loses it (the
    caller waited for ever), so multiprocessing's pickler refuses it at the
    sender. Plain pickle is unchanged: its receiver says why."""

    def check_refused(self, change, why):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "v.frost")
            frost.freeze({"xs": [1, 2, 3]}).save(path, format=2)
            with frost.load(path) as store:
                view = store.root["xs"]
                multiprocessing.reduction.ForkingPickler.dumps(view)   # intact: sent
                change(path)
                self.assertEqual(list(view), [1, 2, 3])   # still read here
                for obj in (store, store.root, view):
                    with self.assertRaisesRegex(frost.SnapshotError,
                                                f"{re.escape(path)}.*{why}"):
                        multiprocessing.reduction.ForkingPickler.dumps(obj)
                pickle.dumps(view)   # plain pickle: the receiver refuses it (HandleTest)
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(1) as pool:   # refused, not lost: the caller gets the error
                    with self.assertRaisesRegex(frost.SnapshotError, why):
                        pool.map_async(mappedwork.plain, [view]).get(DEADLINE)
                    self.assertEqual(pool.apply_async(mappedwork.add, (1, 2)).get(DEADLINE), 3)
                with cf.ProcessPoolExecutor(1, mp_context=ctx) as pool:
                    with self.assertRaisesRegex(frost.SnapshotError, why):
                        pool.submit(mappedwork.plain, view).result(DEADLINE)
                    self.assertEqual(pool.submit(mappedwork.add, 1, 2).result(DEADLINE), 3)
                with self.assertRaisesRegex(frost.SnapshotError, why):
                    ctx.Process(target=mappedwork.plain, args=(view,)).start()



class ReplacedFileRefusedByFrostTransportsTest(FileGoneSinceTheLoad, unittest.TestCase):
    """The same file, sent to another interpreter of this process (a frost
    Channel, frost.Pool task arguments): a loaded file's handle keeps no fd
    and opens the file again by path for the message. When that path is gone
    or names another file, the handle travelled by path: send() accepted it
    and the receiver failed to unpickle (a bare FileNotFoundError, or
    "replaced since it was sent"), and the Channel message was lost. Now the
    sender refuses it (SnapshotError naming the path), nothing is queued, and
    what was sent before the change still arrives (its message holds an fd)."""

    def check_refused(self, change, why):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "v.frost")
            frost.freeze({"xs": [1, 2, 3]}).save(path, format=2)
            channel = frost.Channel()
            with frost.load(path) as store, frost.Pool(1) as pool:
                view = store.root["xs"]
                channel.send(view)                       # intact: sent (with an fd of it)
                change(path)
                self.assertEqual(list(view), [1, 2, 3])   # still read here
                refused = f"{re.escape(path)}.*{why}"
                for obj in (store, store.root, view):
                    with self.assertRaisesRegex(frost.SnapshotError, refused):
                        channel.send(obj)
                    with self.assertRaisesRegex(frost.SnapshotError, refused):
                        pool.submit(mappedwork.plain, obj)
                with self.assertRaisesRegex(frost.SnapshotError, refused):
                    list(pool.map(mappedwork.plain, [view]))
                self.assertEqual(len(channel), 1)         # only what was sent before
                self.assertEqual(pool.submit(mappedwork.recv_plain, channel).result(DEADLINE),
                                 [1, 2, 3])
                self.assertEqual(pool.submit(mappedwork.add, 1, 2).result(DEADLINE), 3)
                channel.send("still works")
                self.assertEqual(channel.recv(timeout=0), "still works")



class NothingLeftBehindTest(unittest.TestCase):
    def test_sigkilled_creator(self):
        # the creator shares a store, hands it to a peer process, and is
        # killed with SIGKILL; the peer still reads it; once both are gone no
        # process holds or maps the memfd and /dev/shm is as it was
        shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
        creator_code = textwrap.dedent("""
            import os, pickle, subprocess, sys, frost
            store = frost.share({"k": list(range(1000)), "s": "x" * 10000})
            peer = subprocess.Popen([sys.executable, "-c", sys.argv[1], pickle.dumps(store.root).hex()],
                                    stdout=sys.stdout, stdin=subprocess.PIPE)
            print("peer", peer.pid, flush=True)
            import time
            time.sleep(600)
            """)
        peer_code = textwrap.dedent("""
            import os, pickle, sys, frost
            root = pickle.loads(bytes.fromhex(sys.argv[1]))
            h = root.image.handle
            print("attached", h.dev, h.ino, flush=True)
            sys.stdin.readline()                      # EOF: the creator (the pipe's writer) is dead
            assert sum(root["k"]) == 499500 and len(root["s"]) == 10000
            print("read", flush=True)
            """)
        import frost as _f
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(_f.__file__)))
        creator = subprocess.Popen([sys.executable, "-c", creator_code, peer_code], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            peer_pid = int(self.readline(creator).split()[1])
            _, dev, ino = self.readline(creator).split()
            target = (int(dev), int(ino))
            os.kill(creator.pid, signal.SIGKILL)
            creator.wait(DEADLINE)
            self.assertTrue(self.holders(target) <= {peer_pid})
            self.assertEqual(self.readline(creator), "read")
            deadline_wait(peer_pid)
        finally:
            if creator.poll() is None:
                creator.kill()
            creator.wait(DEADLINE)
            creator.stdout.close()
            creator.stderr.close()
        self.assertEqual(self.holders(target), set())
        shm_after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
        # (multiprocessing's semaphores of any process on the machine come and go there)
        self.assertEqual({n for n in shm_after - shm_before if not n.startswith("sem.mp-")}, set())

    def readline(self, proc):
        import select
        ready, _, _ = select.select([proc.stdout], [], [], DEADLINE)
        if not ready:
            raise AssertionError("no answer from the child in time: " + proc.stderr.read())
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("the child ended: " + proc.stderr.read())
        return line.strip()

    @staticmethod
    def holders(target):
        """Pids of processes with the file (dev, ino) open or mapped."""
        found = set()
        for entry in glob.glob("/proc/[0-9]*/fd/*"):
            try:
                st = os.stat(entry)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == target:
                found.add(int(entry.split("/")[2]))
        for maps in glob.glob("/proc/[0-9]*/maps"):
            try:
                with open(maps) as f:
                    for line in f:
                        fields = line.split()
                        if len(fields) >= 6 and fields[5].startswith("/memfd:frost-share") \
                                and int(fields[4]) == target[1]:
                            found.add(int(maps.split("/")[2]))
            except (OSError, ValueError):
                continue
        return found


def deadline_wait(pid):
    """Wait for a process that is not our child to end (with the deadline)."""
    import time
    end = time.monotonic() + DEADLINE
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    return
        except OSError:
            return
        time.sleep(0.05)


if __name__ == "__main__":
    unittest.main()
