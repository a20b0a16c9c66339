"""Versioned refresh (issue 6): a named store is published again with new
data; readers holding the old version keep reading it; new readers get the
new one; the old version's memory goes when its last reader lets go.

Within a process: frost.publish / published / unpublish (every interpreter).
Across processes: Store.save() to the same path (an atomic rename); readers
that loaded the old file keep its mapping, new loads get the new file, and
the old pages go with the last mapping.
"""
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import publishwork  # noqa: E402
from frost import _frost  # noqa: E402


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
