"""frost.dask: one copy of a store per node of a real Dask cluster.

NodeCacheTest checks the node-local directory (frost._nodecache) alone: what
a killed, corrupt or truncated transfer leaves, and when files go.
ClusterTest starts a real `dask scheduler` and real `dask worker` processes
on 127.0.0.1 (tests/python/daskcluster.py): two "nodes" (worker groups, each
with its own node-local directory, two worker processes each), and checks
share(), get(), late joiners, refresh under load, failures and the pool
pattern. It is skipped only when distributed is not installed and
FROST_REQUIRE_DASK is unset (tools/env.sh installs it for the tests).
"""
import errno
import fcntl
import glob
import json
import mmap
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import frost
from frost import _nodecache
from frost._nodecache import NodeCache, NodeDirectoryError, TransferCorrupt, file_digest

from frostcheck import run_child

try:
    import distributed
except ImportError:
    distributed = None
    if os.environ.get("FROST_REQUIRE_DASK"):
        raise

CHUNK = 64 << 10


def _tmpdir(test):
    path = tempfile.mkdtemp(prefix="frost-dask-")
    test.addCleanup(shutil.rmtree, path, True)
    return path


def _snapshot(test, directory, n=2000, tag="v1"):
    import daskwork
    path = os.path.join(directory, f"snap-{tag}.frost")
    with frost.freeze(daskwork.make_data(n, tag)) as store:
        store.save(path)
    return path, file_digest(path), os.path.getsize(path)


def _copy_into(part, path, chunk=CHUNK):
    with open(path, "rb") as f:
        offset = 0
        while block := f.read(chunk):
            part.write(offset, block)
            offset += len(block)


class NodeCacheTest(unittest.TestCase):
    def setUp(self):
        self.tmp = _tmpdir(self)
        self.cache = NodeCache(os.path.join(self.tmp, "node"))
        self.snap, self.digest, self.size = _snapshot(self, self.tmp)

    def listing(self, sub):
        return sorted(os.listdir(os.path.join(self.cache.path, sub)))

    def test_commit_makes_the_store_file_and_names_it(self):
        part = self.cache.begin(self.digest, self.size)
        _copy_into(part, self.snap)
        self.assertEqual(self.listing("stores"), [])   # nothing readable before commit
        final = part.commit("w", 1, frost.verify)
        self.assertEqual(final, self.cache.store_path(self.digest))
        self.assertEqual(file_digest(final), self.digest)
        self.assertEqual(self.listing("incoming"), [])
        self.assertEqual(self.cache.manifest("w"), {"name": "w", "version": 1,
                                                    "digest": self.digest, "size": self.size})
        with frost.load(final, lifetime="scoped") as loaded:
            self.assertEqual(tuple(loaded.root["key0000007"]), (7, "v1", "val7"))

    def test_corrupt_transfer_is_refused_and_removed(self):
        part = self.cache.begin(self.digest, self.size)
        _copy_into(part, self.snap)
        part.write(100, b"\xff\x00\xff")
        with self.assertRaisesRegex(TransferCorrupt, "corrupt transfer"):
            part.commit("w", 1, frost.verify)
        self.assertEqual(self.listing("stores"), [])
        self.assertEqual(self.listing("incoming"), [])
        self.assertIsNone(self.cache.manifest("w"))

    def test_truncated_transfer_is_refused(self):
        part = self.cache.begin(self.digest, self.size)
        with open(self.snap, "rb") as f:
            part.write(0, f.read(self.size // 2))
        with self.assertRaisesRegex(TransferCorrupt, "truncated"):
            part.commit("w", 1, frost.verify)
        self.assertEqual(self.listing("stores"), [])

    def test_bytes_that_match_the_digest_but_are_no_snapshot_are_refused(self):
        junk = os.path.join(self.tmp, "junk")
        with open(junk, "wb") as f:
            f.write(b"not a frost snapshot" * 100)
        part = self.cache.begin(file_digest(junk), os.path.getsize(junk))
        _copy_into(part, junk)
        with self.assertRaisesRegex(TransferCorrupt, "snapshot"):
            part.commit("w", 1, frost.verify)
        self.assertEqual(self.listing("stores"), [])

    def test_chunk_outside_the_snapshot_is_refused(self):
        part = self.cache.begin(self.digest, self.size)
        self.addCleanup(part.abort)
        with self.assertRaisesRegex(ValueError, "outside"):
            part.write(self.size - 1, b"ab")
        with self.assertRaisesRegex(ValueError, "outside"):
            part.write(-1, b"a")

    def test_bad_digest_is_refused(self):
        for bad in ("", "../../etc/passwd", "A" * 64, 7):
            with self.assertRaises(ValueError):
                self.cache.begin(bad, 10)

    def test_killed_writer_leaves_only_a_part_file_that_sweep_removes(self):
        code = (f"import os, signal\nfrom frost._nodecache import NodeCache\n"
                f"part = NodeCache({self.cache.path!r}).begin({self.digest!r}, {self.size})\n"
                f"part.write(0, open({self.snap!r}, 'rb').read(1000))\n"
                f"os.kill(os.getpid(), signal.SIGKILL)\n")
        child = run_child(code)
        self.assertEqual(child.returncode, -signal.SIGKILL, child.stderr)
        parts = self.listing("incoming")
        self.assertEqual(len(parts), 1)
        self.assertEqual(self.listing("stores"), [])   # nothing a reader would map
        live = self.cache.begin(self.digest, self.size)   # a live writer's part stays
        self.addCleanup(live.abort)
        self.assertEqual(self.cache.sweep(), parts)
        self.assertEqual(self.listing("incoming"), [os.path.basename(live.path)])

    def test_sweep_keeps_named_and_held_files(self):
        part = self.cache.begin(self.digest, self.size)
        _copy_into(part, self.snap)
        part.commit("w", 1, frost.verify)
        snap2, digest2, size2 = _snapshot(self, self.tmp, tag="v2")
        part = self.cache.begin(digest2, size2)
        _copy_into(part, snap2)
        hold = self.cache.hold(self.digest)   # a process still on version 1
        part.commit("w", 2, frost.verify)
        self.assertEqual(self.cache.manifest("w")["version"], 2)
        self.assertEqual(self.cache.sweep(), [])   # 1: held, 2: named
        hold.release()
        self.assertEqual(self.cache.sweep(), [f"{self.digest}.frost"])
        self.assertIsNone(self.cache.hold(self.digest))
        self.assertEqual(self.listing("stores"), [f"{digest2}.frost"])

    def test_hold_in_another_process_blocks_removal(self):
        part = self.cache.begin(self.digest, self.size)
        _copy_into(part, self.snap)
        part.commit(None, None, frost.verify)   # unnamed: removable when free
        ready = os.path.join(self.tmp, "ready")
        code = (f"import time, os\nfrom frost._nodecache import NodeCache\n"
                f"h = NodeCache({self.cache.path!r}).hold({self.digest!r})\n"
                f"open({ready!r}, 'w').close()\n"
                f"while os.path.exists({ready!r}): time.sleep(0.01)\n")
        import frostcheck
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [frostcheck.HERE, os.path.dirname(os.path.dirname(frost.__file__))]))
        child = subprocess.Popen([sys.executable, "-c", code], env=env)
        try:
            deadline = time.monotonic() + 60
            while not os.path.exists(ready):
                self.assertIsNone(child.poll())
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.01)
            self.assertEqual(self.cache.sweep(), [])
            os.unlink(ready)
            child.wait(60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        self.assertEqual(self.cache.sweep(), [f"{self.digest}.frost"])

    def test_mapped_here_follows_the_mapping(self):
        part = self.cache.begin(self.digest, self.size)
        _copy_into(part, self.snap)
        part.commit("w", 1, frost.verify)
        hold = self.cache.hold(self.digest)
        self.addCleanup(hold.release)
        self.assertFalse(hold.mapped_here())
        with open(hold.path, "rb") as f:
            m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.assertTrue(hold.mapped_here())
        m.close()
        self.assertFalse(hold.mapped_here())

    def test_a_name_that_cannot_be_written_leaves_no_store_file(self):
        # the store file was renamed into stores/ before its manifest failed: a
        # file no name pointed to stayed until some later sweep
        for name, error in (("a\udcff", UnicodeEncodeError), ("n" * 300, OSError)):
            with self.subTest(error=error.__name__):
                part = self.cache.begin(self.digest, self.size)
                _copy_into(part, self.snap)
                with self.assertRaises(error):
                    part.commit(name, 1, frost.verify)
                self.assertEqual(self.listing("stores"), [])
                self.assertEqual(self.listing("incoming"), [])
                self.assertEqual(self.listing("names"), [])

    def test_check_name_takes_what_the_node_can_write(self):
        longest = _nodecache.MAX_QUOTED_NAME
        for name in ("a\udcff", "n" * (longest + 1), "\u00e9" * (longest // 6 + 1)):
            with self.assertRaisesRegex(ValueError, "lone surrogate|too long"):
                _nodecache.check_name(name)
        part = self.cache.begin(self.digest, self.size)
        _copy_into(part, self.snap)
        part.commit("first", 1, frost.verify)
        # the longest names each way, and names that quote() makes file names
        for name in ("n" * longest, "\u00e9" * (longest // 6), "a/b\0c", ".."):
            self.assertEqual(_nodecache.check_name(name), name)
            self.cache.name_version(name, 1, self.digest, self.size)
            self.assertEqual(self.cache.manifest(name)["name"], name)

    def test_ctrl_c_anywhere_in_put_get_hold_leaks_no_fd(self):
        # KeyboardInterrupt timed to land at every point (20 us steps) of a
        # transfer (begin, write, commit: the part file, .lock, the directory's
        # fd for fsync), a Hold taken, read and released, and a sweep: every fd
        # the node cache makes is owned from the instant it exists
        # (frost._fd.Fd). A bare `fd = os.open(...)` leaked its fd when the
        # interrupt landed between os.open returning and the assignment, or
        # inside the except/finally that was to close it.
        code = textwrap.dedent(f"""
            import gc, hashlib, os, signal
            from frost._nodecache import NodeCache
            cache = NodeCache({os.path.join(self.tmp, "storm")!r})
            data = bytes(range(256)) * 256
            digest = hashlib.sha256(data).hexdigest()
            def cycle():
                part = cache.begin(digest, len(data))
                part.write(0, data)
                part.commit("w", 1)
                hold = cache.hold(digest)
                assert os.pread(hold.fd, 4, 0) == data[:4]
                hold.release()
                cache.forget("w")   # the node lock, and a sweep that removes the file
            def raise_ki(*a):
                raise KeyboardInterrupt
            signal.signal(signal.SIGALRM, raise_ki)
            def fds():
                return sorted(os.listdir("/proc/self/fd"))
            cycle()
            before = fds()
            interrupted = 0
            for round in range(4):
                for step in range(200):
                    try:
                        signal.setitimer(signal.ITIMER_REAL, 0.00002 * (step + 1))
                        cycle()
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    except KeyboardInterrupt:
                        interrupted += 1
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    gc.collect()
                    assert fds() == before, (round, step, before, fds())
                    cache.forget("w")
            assert interrupted > 0
            print("clean", interrupted)
        """)
        r = run_child(code, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("clean", r.stdout)

    def test_manifest_only_moves_forward(self):
        part = self.cache.begin(self.digest, self.size)
        _copy_into(part, self.snap)
        part.commit("w", 5, frost.verify)
        self.cache.name_version("w", 3, self.digest, self.size)
        self.assertEqual(self.cache.manifest("w")["version"], 5)
        self.cache.name_version("a/b c", 1, self.digest, self.size)   # any name: quoted
        self.assertEqual(self.cache.manifest("a/b c")["name"], "a/b c")
        with self.assertRaises(FileNotFoundError):
            self.cache.name_version("x", 1, "0" * 64, 1)

    def test_node_id_is_stable_and_shared(self):
        other = NodeCache(self.cache.path)
        self.assertEqual(self.cache.node_id, other.node_id)
        self.assertEqual(len(self.cache.node_id), 32)
        self.assertNotEqual(NodeCache(os.path.join(self.tmp, "n2")).node_id, self.cache.node_id)

    def test_missing_directory_says_so(self):
        path = os.path.join(self.tmp, "absent", "frost")
        with self.assertRaisesRegex(NodeDirectoryError, "missing: its parent .*absent") as cm:
            NodeCache(path)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertFalse(os.path.exists(os.path.dirname(path)))   # not made behind the user's back

    def test_not_a_directory_says_so(self):
        path = os.path.join(self.tmp, "file")
        open(path, "w").close()
        with self.assertRaisesRegex(NodeDirectoryError, "not a directory"):
            NodeCache(path)

    def test_not_writable_says_so(self):
        path = os.path.join(self.tmp, "ro")
        os.mkdir(path, 0o555)
        os.chmod(self.tmp, 0o755)
        self.addCleanup(os.chmod, path, 0o700)
        # as root (who writes anywhere) the check runs as user "nobody"
        code = ("import os\nfrom frost._nodecache import NodeCache, NodeDirectoryError\n"
                "if os.geteuid() == 0:\n    os.setgid(65534); os.setuid(65534)\n"
                f"for p in ({path!r}, {os.path.join(path, 'sub')!r}):\n"
                "    try:\n        NodeCache(p)\n"
                "    except NodeDirectoryError as e:\n        print(e.errno, e)\n")
        lines = run_child(code).stdout.splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], f"^{errno.EACCES} .*{path}.*not writable by uid")
        self.assertRegex(lines[1], f"^{errno.EACCES} .*cannot be created: Permission denied")

    def test_full_directory_says_so(self):
        # a file size limit stands in for a full disk: write() fails the same way
        code = (f"import resource\nfrom frost._nodecache import NodeCache, NodeDirectoryError\n"
                f"part = NodeCache({self.cache.path!r}).begin({self.digest!r}, {self.size})\n"
                f"resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
                f"try:\n    part.write(0, b'x' * 8192)\n"
                f"except NodeDirectoryError as e:\n    print('ERR', e.errno, e)\n"
                f"part.abort()\n")
        child = run_child(code)
        self.assertIn("ERR", child.stdout, child.stderr)
        self.assertIn("full while writing", child.stdout)
        self.assertEqual(self.listing("incoming"), [])
        with self.assertRaisesRegex(NodeDirectoryError, "full: the snapshot needs"):
            self.cache.check_room(self.cache.free_bytes() + (1 << 40))

    def test_default_directory(self):
        env = dict(os.environ)
        env.pop(_nodecache.DIR_ENV, None)
        code = "from frost._nodecache import default_directory as d; print(d())"
        self.assertEqual(run_child(code, env=dict(env, TMPDIR=self.tmp)).stdout.strip(),
                         os.path.join(self.tmp, f"frost-dask-{os.getuid()}"))
        self.assertEqual(run_child(code, env=dict(env, FROST_DASK_DIR="/x/y")).stdout.strip(),
                         "/x/y")


class ImportTest(unittest.TestCase):
    def test_missing_distributed_names_the_install(self):
        child = run_child("import sys\nsys.modules['distributed'] = None\n"
                          "try:\n    import frost.dask\n"
                          "except ImportError as e:\n    print(e)\n")
        self.assertIn("pip install distributed", child.stdout, child.stderr)


@unittest.skipIf(distributed is None, "distributed is not installed (pip install distributed; "
                 "FROST_REQUIRE_DASK=1 makes this a failure)")
class ClusterTest(unittest.TestCase):
    """Two nodes (A, B) of two worker processes each, for the whole class."""

    @classmethod
    def setUpClass(cls):
        import dask
        import daskcluster
        import frost.dask   # noqa: F401
        cls.dc = daskcluster
        cls.tmp = tempfile.mkdtemp(prefix="frost-dask-cluster-")
        cls.nodes = daskcluster.LocalNodes(cls.tmp)
        try:
            cls.nodes.start_scheduler()
            cls.dir = {"A": cls.nodes.start_node("nodeA", 2), "B": cls.nodes.start_node("nodeB", 2)}
            cls._config = dask.config.set({"distributed.comm.timeouts.connect": "5s"})
            cls.client = distributed.Client(scheduler_file=cls.nodes.scheduler_file, timeout=60)
            daskcluster.wait_workers(cls.client, 4)
        except BaseException:
            logs = cls.nodes.all_logs()
            cls.nodes.close()
            shutil.rmtree(cls.tmp, True)
            raise RuntimeError("the test cluster did not start:\n" + logs)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.client.close(timeout=10)
        finally:
            cls.nodes.close()
            cls._config.__exit__(None, None, None)
            shutil.rmtree(cls.tmp, True)

    # ---- helpers --------------------------------------------------------

    def workers_of(self):
        """{node directory: [worker addresses]} of the live workers."""
        dirs = self.client.run(lambda: os.environ["FROST_DASK_DIR"])
        out = {}
        for addr, d in sorted(dirs.items()):
            out.setdefault(d, []).append(addr)
        return out

    def stats(self):
        import frost.dask
        return self.client.run(frost.dask.stats)

    def share(self, name, n=3000, tag="v1", **kw):
        import daskwork
        import frost.dask
        data = daskwork.make_data(n, tag)
        with frost.freeze(data) as store:
            report = frost.dask.share(self.client, store, name, timeout=120, **kw)
        return report, data

    def read_everywhere(self, name, data, keys=("key0000000", "key0000042", "key0000999")):
        """Every live worker reads `keys` of `name` in a task pinned to it."""
        import daskwork
        addrs = sorted(self.client.nthreads())
        futs = [self.client.submit(daskwork.lookup, name, list(keys), workers=[a],
                                   allow_other_workers=False, pure=False) for a in addrs]
        results = self.client.gather(futs)
        for addr, (pid, values) in zip(addrs, results):
            self.assertEqual(values, [data[k] for k in keys], addr)
        self.assertEqual(len({pid for pid, _ in results}), len(addrs))   # one per process
        return addrs

    def wait_workers(self, n):
        return self.dc.wait_workers(self.client, n)

    def stores(self, directory):
        return sorted(os.listdir(os.path.join(directory, "stores")))

    def parts(self, directory):
        return glob.glob(os.path.join(directory, "incoming", "*.part"))

    # ---- tests ----------------------------------------------------------

    def test_share_sends_one_copy_per_node_and_every_worker_reads(self):
        import daskwork
        import frost.dask
        before = self.stats()
        data = daskwork.make_data(3000, "v1")
        path = os.path.join(self.tmp, "one.frost")
        with frost.freeze(data) as store:
            store.save(path)
        report = frost.dask.share(self.client, path, "one", timeout=120)
        self.assertEqual((report.digest, report.size), (file_digest(path), os.path.getsize(path)))
        after = self.stats()
        by_dir = self.workers_of()
        self.assertEqual(len(report.nodes), 2)
        self.assertEqual(sorted(n.directory for n in report.nodes.values()),
                         sorted(self.dir.values()))
        for node in report.nodes.values():
            self.assertEqual((node.status, node.attempts, node.bytes_sent),
                             ("sent", 1, report.size))
            self.assertEqual(sorted(node.workers), by_dir[node.directory])
            # counted where the bytes land: one worker of the node got one copy
            received = sorted(after[w]["bytes_received"] - before[w]["bytes_received"]
                              for w in node.workers)
            self.assertEqual(received, [0, report.size])
            path = os.path.join(node.directory, "stores", report.digest + ".frost")
            self.assertEqual(file_digest(path), report.digest)
        self.assertEqual(report.bytes_sent, 2 * report.size)
        for w in after:
            self.assertEqual(after[w]["versions"]["one"], report.version)
            self.assertEqual(after[w]["loads"] - before[w]["loads"], 1)
        self.read_everywhere("one", data)
        # sharing the same file again sends nothing: every node has its bytes
        again = frost.dask.share(self.client, path, "one", timeout=120)
        self.assertEqual(again.version, report.version + 1)
        self.assertEqual(again.bytes_sent, 0)
        self.assertEqual({n.status for n in again.nodes.values()}, {"present"})

    def test_a_loaded_store_is_shared_as_it_was_loaded(self):
        # share(mapped_store) sent whatever file was at store.path at the time: after
        # a new save renamed over it, the workers got the new file's data
        import daskwork
        import frost.dask
        path = os.path.join(self.tmp, "as-loaded.frost")
        data = daskwork.make_data(3000, "loaded")
        with frost.freeze(data) as arena:
            arena.save(path)
        store = frost.load(path)
        with frost.freeze(daskwork.make_data(3000, "saved-over")) as arena:
            arena.save(path)   # a new version renamed over the path: the store keeps its own
        report = frost.dask.share(self.client, store, "as-loaded", timeout=120)
        self.assertNotEqual(report.digest, file_digest(path))
        self.read_everywhere("as-loaded", data)
        os.unlink(path)        # no file of its own left: a saved copy of its image is sent
        again = frost.dask.share(self.client, store, "as-loaded", timeout=120)
        self.assertEqual(again.version, report.version + 1)
        self.read_everywhere("as-loaded", data)
        # a closed store is refused, as every other call on it, before anything is sent
        before = self.stats()
        store.close()
        with self.assertRaises(frost.StoreClosedError):
            frost.dask.share(self.client, store, "as-loaded", timeout=120)
        after = self.stats()
        self.assertEqual({w: s["bytes_received"] for w, s in after.items()},
                         {w: s["bytes_received"] for w, s in before.items()})
        self.assertEqual({s["versions"]["as-loaded"] for s in after.values()}, {again.version})

    def test_a_loaded_store_whose_file_changed_in_place_is_refused(self):
        # same inode, another size since the load: share() sent the file as it is now
        # (its digest, its bytes), not the image the store maps -- refused, nothing sent
        import daskwork
        import frost.dask
        path = os.path.join(self.tmp, "in-place.frost")
        with frost.freeze(daskwork.make_data(300, "in-place")) as arena:
            arena.save(path)
        for change in ("grown", "cut short"):
            with self.subTest(change=change), frost.load(path) as store:
                size = os.path.getsize(path)
                before = self.stats()
                with open(path, "r+b") as f:
                    if change == "grown":
                        f.seek(0, os.SEEK_END)
                        f.write(b"\0" * 4096)
                    else:
                        f.truncate(size - 4096)
                with self.assertRaises(frost.SnapshotError) as caught:
                    frost.dask.share(self.client, store, "in-place", timeout=120)
                self.assertIn(path, str(caught.exception))
                self.assertIn("changed in place since it was loaded", str(caught.exception))
                after = self.stats()
                self.assertEqual({w: s["bytes_received"] for w, s in after.items()},
                                 {w: s["bytes_received"] for w, s in before.items()})
            with frost.freeze(daskwork.make_data(300, "in-place")) as arena:
                arena.save(path)   # whole again for the next change

    def test_late_workers_get_it_on_a_known_and_on_a_new_node(self):
        import daskwork
        report, data = self.share("late")
        before = set(self.client.nthreads())
        dir_c = os.path.join(self.tmp, "nodeC")
        self.nodes.start_node("nodeA-late", 1, directory=self.dir["A"])
        self.nodes.start_node("nodeC", 1, directory=dir_c,   # Dask's default: profiler on
                              extra_env={"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "True"})
        try:
            self.wait_workers(6)
            self.read_everywhere("late", data)
            stats = self.stats()
            by_dir = self.workers_of()
            (late_a,) = set(by_dir[self.dir["A"]]) - before
            (late_c,) = by_dir[dir_c]
            self.assertEqual(stats[late_a]["bytes_received"], 0)   # mapped the node's copy
            self.assertEqual(stats[late_a]["versions"]["late"], report.version)
            self.assertEqual(stats[late_c]["bytes_received"], report.size)   # fetched one copy
            self.assertEqual(self.stores(dir_c), [report.digest + ".frost"])
            self.assertEqual(sum(s["bytes_served"] for s in stats.values()), report.size)
            # a frost.Pool next to Dask's profiler would crash the process: refused
            fut = self.client.submit(daskwork.in_pool, "late", ["key0000001"], 1,
                                     workers=[late_c], allow_other_workers=False, pure=False)
            with self.assertRaisesRegex(RuntimeError, "DASK_DISTRIBUTED__WORKER__PROFILE__"
                                                      "ENABLED=False"):
                fut.result(timeout=60)
        finally:
            self.nodes.stop("nodeA-late")
            self.nodes.stop("nodeC")
            self.wait_workers(4)

    def test_refresh_under_load(self):
        import daskwork
        first, data1 = self.share("live", tag="v1")
        keys = [f"key{i:07d}" for i in range(0, 3000, 97)]
        flag = os.path.join(self.tmp, "flag-live")
        addrs = sorted(self.client.nthreads())
        started = [os.path.join(self.tmp, f"started-live-{i}") for i in range(len(addrs))]
        holders = [self.client.submit(daskwork.hold_and_read, "live", keys, flag, s,
                                      workers=[a], allow_other_workers=False, pure=False)
                   for a, s in zip(addrs, started)]
        try:
            self.dc.wait_for(lambda: all(map(os.path.exists, started)), 60, "tasks on v1")
            second, data2 = self.share("live", tag="v2")
            self.assertEqual(second.version, first.version + 1)
            self.assertEqual(second.bytes_sent, 2 * second.size)
            self.assertFalse(any(f.done() for f in holders))   # refreshed while they run
            self.read_everywhere("live", data2)                 # new tasks: version 2
        finally:
            open(flag, "w").close()
        for tags, reads in self.client.gather(holders):
            self.assertEqual(tags, ["v1"])                      # old tasks ended on version 1
            self.assertGreater(reads, 0)
        for directory in self.dir.values():   # version 1 goes once no process uses it
            self.dc.wait_for(lambda: first.digest + ".frost" not in self.stores(directory), 30,
                             f"version 1 to leave {directory}")
            self.assertIn(second.digest + ".frost", self.stores(directory))

    def test_worker_killed_mid_transfer(self):
        pids = {pid: addr for addr, pid in self.client.run(os.getpid).items()}
        killed = {}

        def progress(done, total):
            if killed or done < 3 * CHUNK:
                return
            for directory in self.dir.values():
                for part in self.parts(directory):
                    pid = int(os.path.basename(part).split(".")[1])
                    killed.update(directory=directory, part=part, addr=pids[pid],
                                  stores=self.stores(directory))
                    os.kill(pid, signal.SIGKILL)
                    self.dc.wait_for(lambda: pids[pid] not in self.client.nthreads(), 30,
                                     "the scheduler to lose the killed worker")
                    return

        report, data = self.share("killed", n=20000, chunk_size=CHUNK, progress=progress)
        self.assertTrue(killed, "no transfer was seen to kill")
        self.assertNotIn(report.digest + ".frost", killed["stores"])   # nothing mappable
        node = next(n for n in report.nodes.values() if n.directory == killed["directory"])
        self.assertEqual((node.status, node.attempts), ("sent", 2))
        self.assertIn(killed["addr"], node.errors[0])
        self.assertNotEqual(node.receiver, killed["addr"])
        self.assertEqual(file_digest(os.path.join(killed["directory"], "stores",
                                                  report.digest + ".frost")), report.digest)
        self.assertEqual(self.parts(killed["directory"]), [])   # the dead writer's part: swept
        self.wait_workers(4)   # its nanny restarts it: a late joiner gets the version
        self.read_everywhere("killed", data)

    def test_corrupt_and_truncated_transfers_are_detected_and_sent_again(self):
        for how in ("corrupt", "truncate"):
            with self.subTest(how):
                damaged = {}

                def progress(done, total, how=how):
                    if damaged or done < (3 * CHUNK if how == "corrupt" else total // 2):
                        return
                    for directory in self.dir.values():
                        for part in self.parts(directory):
                            with open(part, "r+b") as f:
                                if how == "corrupt":
                                    f.seek(100)
                                    f.write(b"\xde\xad\xbe\xef")
                                else:
                                    f.truncate(CHUNK)
                            damaged.update(directory=directory, stores=self.stores(directory))
                            return

                report, data = self.share(f"damaged-{how}", n=20000, chunk_size=CHUNK,
                                          progress=progress)
                self.assertTrue(damaged)
                self.assertNotIn(report.digest + ".frost", damaged["stores"])
                node = next(n for n in report.nodes.values()
                            if n.directory == damaged["directory"])
                self.assertEqual((node.status, node.attempts), ("sent", 2))
                self.assertRegex(node.errors[0], "truncated transfer|corrupt transfer")
                self.assertEqual(node.bytes_sent, 2 * report.size)
                self.assertEqual(file_digest(os.path.join(damaged["directory"], "stores",
                                                          report.digest + ".frost")),
                                 report.digest)
                self.read_everywhere(f"damaged-{how}", data)

    def test_corruption_every_time_fails_with_nothing_mapped(self):
        import frost.dask

        def progress(done, total):
            for directory in self.dir.values():
                for part in self.parts(directory):
                    with open(part, "r+b") as f:
                        f.write(b"\0\0\0\0")

        with self.assertRaisesRegex(frost.dask.ShareError, "failed 2 times.*corrupt transfer"):
            self.share("always-bad", n=2000, chunk_size=CHUNK, retries=1, progress=progress)
        for directory in self.dir.values():
            self.assertEqual(self.parts(directory), [])
        self.assertFalse(any("always-bad" in s["versions"] for s in self.stats().values()))

    def test_unusable_directory_fails_before_sending(self):
        import frost.dask
        before = self.stats()
        ro = os.path.join(self.tmp, "ro")
        os.makedirs(ro, exist_ok=True)
        os.chmod(ro, 0o500)
        self.addCleanup(os.chmod, ro, 0o700)
        afile = os.path.join(self.tmp, "a-file")
        open(afile, "w").close()
        cases = [(os.path.join(self.tmp, "absent", "x"), "missing: its parent")]
        cases.append((afile, "not a directory"))
        if os.geteuid() != 0:
            cases.append((ro, "not writable"))
        for directory, message in cases:
            with self.subTest(message):
                with self.assertRaisesRegex(NodeDirectoryError, message) as cm:
                    self.share("nowhere", directory=directory)
                for addr in self.client.nthreads():
                    self.assertIn(addr, str(cm.exception))   # every worker's problem named
        self.assertEqual({w: s["bytes_received"] for w, s in self.stats().items()},
                         {w: s["bytes_received"] for w, s in before.items()})

    def test_full_node_directory_is_a_clear_error(self):
        import frost.dask
        dir_f = os.path.join(self.tmp, "nodeFull")

        def small_files():   # a file size limit stands in for a full disk
            resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))

        self.nodes.start_node("nodeFull", 1, directory=dir_f, preexec_fn=small_files)
        try:
            self.wait_workers(5)
            with self.assertRaisesRegex(NodeDirectoryError, f"{dir_f}.*full while writing"):
                self.share("too-big", n=20000, chunk_size=CHUNK)
            self.assertEqual(self.parts(dir_f), [])
            self.assertEqual(self.stores(dir_f), [])
        finally:
            self.nodes.stop("nodeFull")
            self.wait_workers(4)

    def test_inner_loop_in_the_node_pool_and_threads(self):
        import daskwork
        report, data = self.share("pooled")
        keys = sorted(data)[:500]
        addr = sorted(self.client.nthreads())[0]
        out = self.client.submit(daskwork.in_pool, "pooled", keys, 4, workers=[addr],
                                 pure=False).result(timeout=120)
        expected = sum(data[k][0] for k in keys)
        self.assertEqual((out["pool"], out["threads"], out["direct"]), (expected,) * 3)
        # frost.published(name) in the subinterpreters: either format
        self.assertEqual(out["published"], expected)
        self.assertEqual(out["sub_modules"], {"distributed": False, "frost.dask": False})

    def test_get_errors(self):
        import daskwork
        import frost.dask
        fut = self.client.submit(daskwork.lookup, "never-shared", ["k"], pure=False)
        with self.assertRaisesRegex(LookupError, "nothing is shared under that name"):
            fut.result(timeout=60)
        with self.assertRaisesRegex(LookupError, "nothing is shared"):
            frost.dask.get("never-shared")   # the client process has no copy
        with self.assertRaisesRegex(TypeError, "name must be a str"):
            frost.dask.get(3)
        with self.assertRaisesRegex(TypeError, r"not dict \(frost.freeze\(data\) first\)"):
            frost.dask.share(self.client, {"a": 1}, "x")
        with self.assertRaisesRegex(ValueError, "chunk_size"):
            frost.dask.share(self.client, "/nonexistent", "x", chunk_size=0)
        # a client that is not one failed deep inside, after the snapshot was hashed
        for client in (None, "tcp://127.0.0.1:8786", self.nodes):
            with self.assertRaisesRegex(TypeError, "client must be a distributed.Client, not "
                                        + type(client).__name__):
                frost.dask.share(client, "/nonexistent", "x")
            with self.assertRaisesRegex(TypeError, "client must be a distributed.Client"):
                frost.dask.unshare(client, "x")
        closed = distributed.Client(scheduler_file=self.nodes.scheduler_file, timeout=60)
        closed.close()
        with self.assertRaisesRegex(ValueError, "share: the client is closed"):
            frost.dask.share(closed, "/nonexistent", "x")
        with self.assertRaisesRegex(ValueError, "unshare: the client is closed"):
            frost.dask.unshare(closed, "x")
        with self.assertRaisesRegex(TypeError, "progress must be callable, not int"):
            frost.dask.share(self.client, "/nonexistent", "x", progress=3)
        with self.assertRaisesRegex(TypeError, "directory must be a str .*not bytes"):
            frost.dask.share(self.client, "/nonexistent", "x", directory=b"/tmp")
        with self.assertRaisesRegex(FileNotFoundError, "no snapshot file"):
            frost.dask.share(self.client, os.path.join(self.tmp, "nope.frost"), "x")

    def test_bad_names_and_timeouts_fail_before_anything_is_sent(self):
        # a name that cannot be a file name on the nodes failed on the receiver after the
        # transfer, was retried as a bad transfer (4 transfers a node) and ended in a bare
        # OSError or a ShareError of empty messages; timeout=None was a TypeError from '+'
        import frost.dask
        before = self.stats()
        longest = _nodecache.MAX_QUOTED_NAME
        for name in ("a\udcff", "n" * (longest + 1), "\u00e9" * (longest // 6 + 1)):
            with self.subTest(name=name[:8]):
                with self.assertRaisesRegex(ValueError, "lone surrogate|too long"):
                    self.share(name)
                with self.assertRaisesRegex(ValueError, "lone surrogate|too long"):
                    frost.dask.unshare(self.client, name)
                with self.assertRaisesRegex(ValueError, "lone surrogate|too long"):
                    frost.dask.get(name)
        for timeout, error in ((None, TypeError), ("5", TypeError), (True, TypeError),
                               (0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                               (float("inf"), ValueError)):
            with self.subTest(timeout=timeout):
                with self.assertRaisesRegex(error, "timeout"):
                    with frost.freeze({"x": 1}) as store:
                        frost.dask.share(self.client, store, "t", timeout=timeout)
        with self.assertRaisesRegex(ValueError, "directory must not contain a NUL"):
            self.share("nul-dir", directory="/tmp/a\0b")
        with self.assertRaisesRegex(ValueError, "directory must not contain a NUL"):
            frost.dask.unshare(self.client, "nul-dir", directory="/tmp/a\0b")
        after = self.stats()
        self.assertEqual({w: (s["transfers"], s["bytes_received"]) for w, s in after.items()},
                         {w: (s["transfers"], s["bytes_received"]) for w, s in before.items()})
        # the longest name a node takes is shared and read
        report, data = self.share("n" * longest)
        self.read_everywhere("n" * longest, data)
        frost.dask.unshare(self.client, "n" * longest)

    def test_a_commit_that_fails_on_the_node_is_not_sent_again(self):
        # names are checked by the client now: skip that check to fail on the node (a name
        # with a lone surrogate fails in distributed's msgpack before it gets there)
        import frost.dask
        from unittest import mock
        for name, message in (("n" * 300, "OSError: .*File name too long"),):
            with self.subTest(message.split(":")[0]):
                before = self.stats()
                with mock.patch.object(frost.dask, "_check_name", lambda name: name), \
                        self.assertRaisesRegex(frost.dask.ShareError,
                                               f"could not commit it \\(not retried\\): "
                                               f"{message}"):
                    self.share(name, n=500)
                after = self.stats()
                self.assertEqual(sum(after[w]["transfers"] - before[w]["transfers"]
                                     for w in after), 1)   # one node, once: then the error
                for directory in self.dir.values():
                    self.assertEqual(self.parts(directory), [])
                    named = {json.load(open(os.path.join(directory, "names", f)))["digest"]
                             for f in os.listdir(os.path.join(directory, "names"))}
                    self.assertEqual({s[:-6] for s in self.stores(directory)} - named, set(),
                                     "a store file no name points to")

    def test_unshare_removes_the_files(self):
        import daskwork
        import frost.dask
        report, _ = self.share("gone")
        frost.dask.unshare(self.client, "gone")
        fut = self.client.submit(daskwork.lookup, "gone", ["key0000001"], pure=False)
        with self.assertRaises(LookupError):
            fut.result(timeout=60)
        for directory in self.dir.values():
            self.dc.wait_for(lambda: report.digest + ".frost" not in self.stores(directory), 30,
                             "the unshared file to go")
        again, data = self.share("gone", tag="back")   # the name can be shared again, newer
        self.assertGreater(again.version, report.version)
        self.read_everywhere("gone", data)


if __name__ == "__main__":
    unittest.main()
