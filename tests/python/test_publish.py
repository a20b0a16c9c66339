"""Versioned refresh (issue 6): a named store is published again with new
data; readers holding the old version keep reading it; new readers get the
new one; the old version's memory goes when its last reader lets go.

Within a process: frost.publish / published / unpublish (every interpreter),
of arena stores (frost.freeze) and mapped ones (frost.share, frost.load of a
format-2 file) alike.
Across processes: Store.save() to the same path (an atomic rename); readers
that loaded the old file keep its mapping, new loads get the new file, and
the old pages go with the last mapping.
"""
import gc
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import publishwork  # noqa: E402
from frost import _frost  # noqa: E402
from frostcheck import run_child  # noqa: E402


def version(tag, n=1000):
    return {"tag": tag, "values": list(range(n)), "text": f"version {tag}" * 10}


class PublishInOneInterpreter(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.arenas = _frost._live_arenas()
        self.name = f"prices-{self._testMethodName}"   # versions are process-wide
        self.addCleanup(self.withdraw, self.name)

    @staticmethod
    def withdraw(name):
        try:
            frost.unpublish(name)
        except KeyError:
            pass

    def test_versions_grow_and_new_readers_see_the_newest(self):
        with frost.freeze(version("v1")) as s1:
            self.assertEqual(frost.publish(self.name, s1), 1)
        # the publication holds the store: the closed handle does not matter
        self.assertEqual(frost.published(self.name).root["tag"], "v1")
        with frost.freeze(version("v2")) as s2:
            self.assertEqual(frost.publish(self.name, s2), 2)
        self.assertEqual(frost.published(self.name).root["tag"], "v2")
        frost.unpublish(self.name)
        with self.assertRaises(KeyError):
            frost.published(self.name)
        with frost.freeze(version("v3")) as s3:   # versions never restart
            self.assertEqual(frost.publish(self.name, s3), 3)

    def test_old_readers_keep_the_old_version_until_they_let_go(self):
        with frost.freeze(version("v1")) as s1:
            frost.publish(self.name, s1)
        old = frost.published(self.name).root
        with frost.freeze(version("v2")) as s2:
            frost.publish(self.name, s2)
        gc.collect()
        self.assertEqual(_frost._live_arenas(), self.arenas + 2)   # v1 still read
        self.assertEqual((old["tag"], sum(old["values"])), ("v1", sum(range(1000))))
        del old
        gc.collect()
        self.assertEqual(_frost._live_arenas(), self.arenas + 1)   # v1 gone
        frost.unpublish(self.name)
        gc.collect()
        self.assertEqual(_frost._live_arenas(), self.arenas)

    def test_many_names(self):
        # the table was a list searched by name: N names published cost
        # O(N^2) and each lookup O(N) (~90 us at 16,000 names); these 200,000
        # took minutes (a child with a deadline: that fails, not hangs)
        code = textwrap.dedent("""
            import frost
            s = frost.freeze(["many"])
            n = 200000
            for i in range(n):
                frost.publish(f"many-{i}", s)
            print(frost.publish("many-7", s),
                  all(frost.published(f"many-{i}").root[0] == "many" for i in range(0, n, 7)))
            for i in range(n):
                frost.unpublish(f"many-{i}")
            try:
                frost.published("many-7")
            except KeyError:
                print("withdrawn")
        """)
        r = run_child(code, timeout=120)
        self.assertEqual(r.stdout.split(), ["2", "True", "withdrawn"], r.stderr[-3000:])

    def test_bad_arguments(self):
        store = frost.freeze([1])
        with self.assertRaisesRegex(TypeError, "name must be str, not int"):
            frost.publish(3, store)
        with self.assertRaisesRegex(ValueError, "non-empty"):
            frost.publish("", store)
        with self.assertRaisesRegex(ValueError, "NUL"):
            frost.published("a\0b")
        with self.assertRaisesRegex(TypeError, "must be a frost.Store or frost.MappedStore, not frost.FrozenList"):
            frost.publish(self.name, store.root)
        with self.assertRaisesRegex(KeyError, "no frost store is published as 'nothing'"):
            frost.published("nothing")
        with self.assertRaisesRegex(KeyError, "nothing"):
            frost.unpublish("nothing")
        store.close()
        with self.assertRaises(frost.StoreClosedError):
            frost.publish(self.name, store)
        with self.assertRaises(TypeError):
            frost.publish("prices")

    def test_names_that_are_not_utf8_or_are_str_subclasses(self):
        # a lone surrogate raised a raw UnicodeEncodeError, naming no argument;
        # a str subclass's __repr__ ran in the KeyError (and could raise)
        store = frost.freeze([1])
        for func, call in (("publish", lambda n: frost.publish(n, store)),
                           ("published", frost.published), ("unpublish", frost.unpublish)):
            for name in ("\ud800", "prices-\udfff"):
                with self.subTest(func=func, name=ascii(name)):
                    with self.assertRaisesRegex(
                            ValueError, rf"^{func}\(\): name must be a str encodable as UTF-8 "
                                        rf"\(no lone surrogate\), not {re.escape(repr(name))}$"):
                        call(name)
            with self.subTest(func=func, name=b"prices"):
                with self.assertRaisesRegex(TypeError, rf"^{func}\(\): name must be str, not bytes$"):
                    call(b"prices")

        class Name(str):
            def __repr__(self):
                raise RuntimeError("a name's own __repr__ ran")

        with self.assertRaisesRegex(KeyError, "no frost store is published as 'nothing'"):
            frost.published(Name("nothing"))
        with self.assertRaisesRegex(ValueError, r"name must be a non-empty str without NUL, not 'a\\x00'"):
            frost.publish(Name("a\0"), store)
        self.assertEqual(frost.publish(Name(self.name), store), 1)   # the same name as a str
        self.assertEqual(frost.published(self.name).root[0], 1)
        frost.unpublish(Name(self.name))
        with self.assertRaises(KeyError):
            frost.published(self.name)


class PublishAcrossInterpreters(unittest.TestCase):
    def test_worker_keeps_old_version_while_main_republishes(self):
        gc.collect()
        arenas = _frost._live_arenas()
        with frost.freeze(version("v1")) as s1:
            frost.publish("shared", s1)
        ready, go = frost.Channel(), frost.Channel()
        with frost.Pool(2) as pool:
            holder = pool.submit(publishwork.hold_old_version, "shared", ready, go)
            self.assertEqual(ready.recv(timeout=120), "holding")
            with frost.freeze(version("v2")) as s2:
                self.assertEqual(frost.publish("shared", s2), 2)
            self.assertEqual(pool.submit(publishwork.read_current, "shared").result(timeout=120),
                             ("v2", sum(range(1000))))
            go.send("read it now")
            self.assertEqual(holder.result(timeout=120), ("v1", sum(range(1000))))
            # published in a worker, read in main
            self.assertEqual(pool.submit(publishwork.publish_from_worker, "shared", "w").result(), 3)
        self.assertEqual(frost.published("shared").root["tag"], "w")
        frost.unpublish("shared")
        del holder
        gc.collect()
        self.assertEqual(_frost._live_arenas(), arenas)   # v1, v2 and w all freed


def open_fds():
    return sorted(os.listdir("/proc/self/fd"))


def shared_mappings():
    """Lines of /proc/self/maps that map a frost.share() memfd."""
    with open("/proc/self/maps") as f:
        return [line for line in f if "frost-share" in line]


def numbered(k):
    """Version k of a mapped test store: tag vK, values 10K .. 10K+9."""
    return {"tag": f"v{k}", "values": list(range(10 * k, 10 * k + 10))}


class PublishMapped(unittest.TestCase):
    """frost.publish of a MappedStore: the same versions and refresh as arena
    stores; the table keeps the image (its fd), not a mapping; each
    interpreter maps it once; nothing is left once it is withdrawn and its
    readers are gone."""

    def setUp(self):
        gc.collect()
        self.fds, self.maps = open_fds(), shared_mappings()
        self.name = f"mapped-{self._testMethodName}"
        self.addCleanup(PublishInOneInterpreter.withdraw, self.name)

    def assertNothingLeft(self):
        gc.collect()
        self.assertEqual(open_fds(), self.fds)
        self.assertEqual(shared_mappings(), self.maps)

    def test_versions_grow_and_new_readers_see_the_newest(self):
        with frost.share(numbered(1)) as s1:
            self.assertEqual(frost.publish(self.name, s1), 1)
        reader = frost.published(self.name)   # the publication holds the image, not s1
        self.assertIsInstance(reader, frost.MappedStore)
        self.assertEqual(reader.root["tag"], "v1")
        self.assertIsNone(reader.path)
        with frost.freeze(numbered(2)) as s2:   # an arena store replaces a mapped one ...
            self.assertEqual(frost.publish(self.name, s2), 2)
        self.assertIsInstance(frost.published(self.name), frost.Store)
        with frost.share(numbered(3)) as s3:   # ... and the other way round
            self.assertEqual(frost.publish(self.name, s3), 3)
        self.assertEqual(frost.published(self.name).root["tag"], "v3")
        self.assertEqual(reader.root["tag"], "v1")   # old readers keep theirs
        frost.unpublish(self.name)
        with self.assertRaisesRegex(KeyError, "no frost store is published as"):
            frost.published(self.name)
        with self.assertRaises(KeyError):
            frost.unpublish(self.name)
        with frost.share(numbered(4)) as s4:   # versions never restart
            self.assertEqual(frost.publish(self.name, s4), 4)
        frost.unpublish(self.name)
        reader.close()
        del reader
        self.assertNothingLeft()

    def test_one_mapping_per_interpreter_and_the_last_reader_frees_it(self):
        shared = frost.share(numbered(1))
        frost.publish(self.name, shared)
        first, second = frost.published(self.name), frost.published(self.name)
        self.assertIs(first._image, shared._image)   # this interpreter's mapping, reused
        self.assertIs(second._image, shared._image)
        self.assertEqual(len(shared_mappings()), len(self.maps) + 1)
        shared.close()
        del shared, first, second
        gc.collect()
        # only the table holds it: no mapping, one fd (the table's)
        self.assertEqual(shared_mappings(), self.maps)
        self.assertEqual(len(open_fds()), len(self.fds) + 1)
        old = frost.published(self.name).root   # mapped again from the table's fd
        self.assertEqual(frost.publish(self.name, frost.share(numbered(2))), 2)
        gc.collect()
        self.assertEqual(len(shared_mappings()), len(self.maps) + 1)   # v1 (v2: table only)
        self.assertEqual(sum(old["values"]), 145)
        del old
        gc.collect()
        self.assertEqual(shared_mappings(), self.maps)   # v1 freed with its last reader
        frost.unpublish(self.name)
        self.assertNothingLeft()

    def test_a_loaded_file_stays_published_when_its_path_is_replaced(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "prices.frost")
            frost.freeze(numbered(1)).save(path)   # format 2
            loaded = frost.load(path)
            self.assertIsInstance(loaded, frost.MappedStore)
            self.assertEqual(frost.publish(self.name, loaded), 1)
            loaded.close()
            del loaded
            gc.collect()
            frost.freeze(numbered(2)).save(path)   # replaced at the same path
            again = frost.published(self.name)
            self.assertEqual((again.root["tag"], again.path), ("v1", path))
            self.assertEqual(frost.load(path).root["tag"], "v2")
            del again
            os.unlink(path)
            self.assertEqual(frost.published(self.name).root["tag"], "v1")   # the table's fd
            frost.unpublish(self.name)
        self.assertNothingLeft()

    def test_replaced_file_cannot_be_published(self):
        # a file replaced at its path since frost.load is named as such (before:
        # "replaced since it was sent", of a store that was never sent); nothing
        # is published and the store still reads its own image
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "swapped.frost")
            frost.freeze(numbered(1)).save(path)
            loaded = frost.load(path)
            frost.freeze(numbered(2)).save(path)   # atomic replace: another inode
            with self.assertRaisesRegex(frost.SnapshotError,
                                        r"swapped.frost: .*replaced since frost.load\(\)"):
                frost.publish(self.name, loaded)
            self.assertEqual(loaded.root["tag"], "v1")
            loaded.close()
        with self.assertRaises(KeyError):
            frost.published(self.name)
        del loaded
        self.assertNothingLeft()

    def test_deleted_file_cannot_be_published(self):
        # publishing opens the loaded file again (the table keeps that fd): a
        # file deleted since is an error naming it, and nothing is published
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "gone.frost")
            frost.freeze(numbered(1)).save(path)
            loaded = frost.load(path)
            os.unlink(path)
            with self.assertRaisesRegex(FileNotFoundError, "gone.frost"):
                frost.publish(self.name, loaded)
            self.assertEqual(loaded.root["tag"], "v1")
            loaded.close()
        with self.assertRaises(KeyError):
            frost.published(self.name)
        del loaded
        self.assertNothingLeft()

    def test_out_of_file_descriptors(self):
        # EMFILE while publishing or attaching: OSError, no fd leaked, and both
        # work again once descriptors are free
        code = textwrap.dedent("""
            import errno, gc, os, resource, frost
            def fds():
                return sorted(os.listdir("/proc/self/fd"))
            shared = frost.share({"tag": "v1"})
            frost.publish("emfile", shared)
            shared.close(); del shared; gc.collect()
            extra = frost.share([1])
            before = fds()
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            # no fd to spare (listing /proc/self/fd counted the one it used)
            resource.setrlimit(resource.RLIMIT_NOFILE, (len(before) - 1, hard))
            outcomes = []
            for call in (lambda: frost.published("emfile"),
                         lambda: frost.publish("emfile2", extra)):
                try:
                    call()
                    outcomes.append("ok")
                except OSError as exc:
                    outcomes.append(errno.errorcode[exc.errno])
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            gc.collect()
            print(outcomes, fds() == before, frost.published("emfile").root["tag"],
                  frost.publish("emfile2", extra))
        """)
        r = run_child(code, timeout=120)
        self.assertEqual(r.stdout.strip(), "['EMFILE', 'EMFILE'] True v1 1", r.stderr[-3000:])

    def test_bad_arguments(self):
        shared = frost.share([1, 2])
        with self.assertRaisesRegex(TypeError, "name must be str, not int"):
            frost.publish(3, shared)
        with self.assertRaisesRegex(ValueError, "non-empty"):
            frost.publish("", shared)
        with self.assertRaisesRegex(TypeError, "must be a frost.Store or frost.MappedStore, "
                                               "not frost.MappedList"):
            frost.publish(self.name, shared.root)
        for wrong in (None, 5, "store", b"x", [1], frost.MappedStore):
            with self.subTest(wrong=wrong):
                with self.assertRaisesRegex(TypeError, f"not {type(wrong).__name__}"):
                    frost.publish(self.name, wrong)
        shared.close()
        with self.assertRaisesRegex(frost.StoreClosedError,
                                    r"publish\(\) of a closed frost.MappedStore"):
            frost.publish(self.name, shared)
        with self.assertRaises(KeyError):   # nothing was published by any of these
            frost.published(self.name)
        del shared
        self.assertNothingLeft()


class PublishMappedAcrossInterpreters(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.fds, self.maps = open_fds(), shared_mappings()

    def test_worker_keeps_old_version_while_main_republishes(self):
        name = "mapped-shared"
        self.addCleanup(PublishInOneInterpreter.withdraw, name)
        with frost.share(version("v1")) as s1:
            frost.publish(name, s1)
        ready, go = frost.Channel(), frost.Channel()
        with frost.Pool(2) as pool:
            holder = pool.submit(publishwork.hold_old_version, name, ready, go)
            self.assertEqual(ready.recv(timeout=120), "holding")
            with frost.share(version("v2")) as s2:
                self.assertEqual(frost.publish(name, s2), 2)
            self.assertEqual(pool.submit(publishwork.read_current, name).result(timeout=120),
                             ("v2", sum(range(1000))))
            self.assertEqual(pool.submit(publishwork.published_type, name).result(timeout=120),
                             "MappedStore")
            go.send("read it now")
            self.assertEqual(holder.result(timeout=120), ("v1", sum(range(1000))))
            # shared and published in a worker, read in main after the worker let go
            self.assertEqual(pool.submit(publishwork.share_and_publish_from_worker, name,
                                         "w").result(timeout=120), 3)
        self.assertEqual(frost.published(name).root["tag"], "w")
        frost.unpublish(name)
        del holder
        gc.collect()
        self.assertEqual(open_fds(), self.fds)   # v1, v2 and w: no fd, no mapping left
        self.assertEqual(shared_mappings(), self.maps)

    def test_replaced_and_withdrawn_while_interpreters_attach(self):
        name = "mapped-race"
        self.addCleanup(PublishInOneInterpreter.withdraw, name)
        stores = [frost.share(numbered(k)) for k in range(1, 5)]
        frost.publish(name, stores[0])
        stop = threading.Event()

        def republish():
            k = 0
            while not stop.is_set():
                k += 1
                if k % 5 == 0:
                    try:
                        frost.unpublish(name)
                    except KeyError:
                        pass
                else:
                    frost.publish(name, stores[k % len(stores)])

        with frost.Pool(3) as pool:
            publisher = threading.Thread(target=republish)
            publisher.start()
            try:
                futures = [pool.submit(publishwork.read_while_republished, name, 300)
                           for _ in range(3)]
                results = [f.result(timeout=300) for f in futures]
            finally:
                stop.set()
                publisher.join()
            # how many reads found it depends on the scheduling: each was whole
            for found, tags in results:
                self.assertLessEqual(set(tags), {"v1", "v2", "v3", "v4"})
            frost.publish(name, stores[3])   # settled: every worker reads it
            for found, tags in [pool.submit(publishwork.read_while_republished, name, 5)
                                .result(timeout=120) for _ in range(3)]:
                self.assertEqual((found, tags), (5, ["v4"]))
        try:
            frost.unpublish(name)
        except KeyError:
            pass
        for s in stores:
            s.close()
        del stores, results
        gc.collect()
        self.assertEqual(open_fds(), self.fds)
        self.assertEqual(shared_mappings(), self.maps)


READER = textwrap.dedent("""
    import gc, sys, frost
    path = sys.argv[1]
    store = frost.load(path, lifetime="scoped")
    root = store.root
    print("loaded", root["tag"], flush=True)
    sys.stdin.readline()                  # the file is replaced meanwhile
    maps = open("/proc/self/maps").read()
    print("read", root["tag"], sum(root["values"]), "(deleted)" in maps, flush=True)
    store.close(); del store, root; gc.collect()
    maps = open("/proc/self/maps").read()
    print("released", path in maps, flush=True)
""")


class RefreshAcrossProcesses(unittest.TestCase):
    def test_reader_keeps_old_file_new_reader_gets_new_and_old_pages_go(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "prices.frost")
            frost.freeze(version("v1", 5000)).save(path, format=1)
            env = dict(os.environ)
            reader = subprocess.Popen([sys.executable, "-c", READER, path], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(reader.stdout.readline().split(), ["loaded", "v1"])
                frost.freeze(version("v2", 5000)).save(path, format=1)   # atomic replace
                fresh = subprocess.run([sys.executable, "-c",
                                        "import sys, frost; print(frost.load(sys.argv[1]).root['tag'])",
                                        path], env=env, capture_output=True, text=True, check=True)
                self.assertEqual(fresh.stdout.strip(), "v2")
                reader.stdin.write("go\n")
                reader.stdin.flush()
                self.assertEqual(reader.stdout.readline().split(),
                                 ["read", "v1", str(sum(range(5000))), "True"])
                self.assertEqual(reader.stdout.readline().split(), ["released", "False"])
            finally:
                reader.stdin.close()
                self.assertEqual(reader.wait(timeout=60), 0)
                reader.stdout.close()


if __name__ == "__main__":
    unittest.main()
