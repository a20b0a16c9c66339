"""Snapshots: Store.save(path) / frost.load(path) round trips, hash seeds,
lifetimes, cross-process loading, and bad files (each a clear SnapshotError,
never a crash). The format is docs/format.md."""
import array
import collections
import dataclasses
import os
import random
import struct
import tempfile
import typing
import unittest

import frost
from frostcheck import run_python
from mapcraft import M64, xxh64   # the reference XXH64, to re-seal edited files

HEADER = struct.Struct("<8sQIIIBBBBIIQQq16sQQQ24x")   # docs/format.md, 128 bytes
SECTION = struct.Struct("<IIQQ")
assert HEADER.size == 128


@dataclasses.dataclass
class Point:
    x: int
    y: str


Pair = collections.namedtuple("Pair", "a b")
CLASSES = (Point, Pair)   # thaw rebuilds records read from a file only into classes it is given

def reseal(blob):
    """Recompute the checksum of an edited snapshot (bytes [16, end) -> field at 8)."""
    blob = bytearray(blob)
    blob[8:16] = xxh64(bytes(blob[16:])).to_bytes(8, "little")
    return bytes(blob)


def sample(n=2000):
    cyc = [1]
    cyc.append(cyc)
    return {
        "str": "hello", "latin1": "é", "bmp": "日本語", "astral": "😀x", "surrogate": "\ud800x",
        "ints": [0, 1, -5, 256, 257, -6, 2**100, -(2**70), 2**63 - 1],
        "mixed": [1, "a", 2.5, None, True, False, ..., (), "", b"", b"z", "q"],
        "floats": [1.5, -0.0, float("inf")], "complex": 1 + 2j, "bytes": b"\x00abc",
        "tuple": (1, ("nested", (2.5,)), b"xy"), "tuple_node": ([1, 2], "x"),
        "set": {1, "two", (3, 4)}, "frozenset": frozenset({"a", "b"}),
        5: "int key", (1, "a"): "tuple key", 2.5: "float key",
        "array": array.array("i", range(10)), "bytearray": bytearray(b"buf"),
        "record": Point(1, "one"), "named": Pair([1], {"k": "v"}),
        "shared": [[7, 8]] * 3, "cycle": cyc, "deep": {"a": {"b": {"c": [{"d": 1}]}}},
        "big": {f"key{i}": (i, i * 0.5, f"val{i}") for i in range(n)},
    }


def same(a, b):
    """Compare thawed graphs, cycles aside."""
    a, b = dict(a), dict(b)
    ca, cb = a.pop("cycle"), b.pop("cycle")
    return a == b and ca[1] is ca and cb[1] is cb and ca[0] == cb[0]


class SnapshotCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name="s.frost"):
        return os.path.join(self.dir.name, name)

    def saved(self, data=..., name="s.frost"):
        p = self.path(name)
        frost.freeze(sample() if data is ... else data).save(p, format=1)
        return p


class RoundTripTest(SnapshotCase):
    def test_round_trip_equal(self):
        data = sample()
        p = self.saved(data)
        for lifetime in ("process", "scoped"):
            with self.subTest(lifetime=lifetime):
                s = frost.load(p, lifetime=lifetime)
                self.assertEqual(s.lifetime, lifetime)
                self.assertTrue(same(frost.thaw(s.root, classes=CLASSES),
                                     frost.thaw(frost.freeze(data).root)))
                s.close()

    def test_views_read_loaded_data(self):
        root = frost.load(self.saved()).root
        self.assertEqual(root["big"]["key1999"], (1999, 999.5, "val1999"))
        self.assertEqual(root[(1, "a")], "tuple key")
        self.assertEqual(root[5], "int key")
        self.assertIn("two", root["set"])
        self.assertEqual(root["record"].y, "one")
        self.assertEqual(memoryview(root["array"]).tolist(), list(range(10)))
        self.assertEqual(root["astral"].encode(), "😀x".encode())
        self.assertEqual(sum(root["ints"][:4]), 252)
        self.assertIs(root["mixed"][0], 1)   # singletons stay singletons

    def test_sharing_preserved(self):
        shared = frost.thaw(frost.load(self.saved()).root["shared"])
        self.assertEqual(shared[0], [7, 8])
        self.assertIs(shared[0], shared[2])   # one node in the file, not three

    def test_other_roots(self):
        for value in (None, 42, "text", (1, 2), [1.0, 2.0], [], {}, 2**80):
            with self.subTest(value=value):
                p = self.saved(value)
                self.assertEqual(frost.thaw(frost.load(p).root), value)

    def test_save_replaces_atomically(self):
        p = self.saved({"v": 1})
        old = frost.load(p)
        frost.freeze({"v": 2}).save(p, format=1)
        self.assertEqual(old.root["v"], 1)   # the old mapping is intact
        self.assertEqual(frost.load(p).root["v"], 2)
        self.assertEqual(os.listdir(self.dir.name), ["s.frost"])

    def test_scoped_load_frees(self):
        p = self.saved()
        before = frost._frost._live_arenas()
        s = frost.load(p, lifetime="scoped")
        self.assertEqual(frost._frost._live_arenas(), before + 1)
        s.close()
        del s
        self.assertEqual(frost._frost._live_arenas(), before)

    def test_other_hash_seed(self):
        # written under one seed, read under others: hashes and indexes are rebuilt
        p = self.path()
        r = run_python(["-c", "import frost,sys; frost.freeze({f'k{i}': i for i in range(500)} | "
                              "{('t', 'u'): 1, b'bb': 2, 's': {f's{i}' for i in range(300)} | {('t', 1), b'b'}})"
                              ".save(sys.argv[1], format=1); print(list(frost.load(sys.argv[1]).root['s']))", p],
                       env=dict(os.environ, PYTHONHASHSEED="1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        written_order = r.stdout.strip()
        for seed in ("1", "2", "random"):
            code = ("import frost,sys; r = frost.load(sys.argv[1]).root; "
                    "assert r['k499'] == 499 and r[('t', 'u')] == 1 and r[b'bb'] == 2; "
                    "assert 'k500' not in r and len(r) == 503; s = r['s']; "
                    "assert all(f's{i}' in s for i in range(300)) and ('t', 1) in s and b'b' in s; "
                    "assert 's300' not in s and ('t', 2) not in s and len(s) == 302; print(list(s))")
            r = run_python(["-c", code, p], env=dict(os.environ, PYTHONHASHSEED=seed))
            self.assertEqual(r.returncode, 0, (seed, r.stderr))
            self.assertEqual(r.stdout.strip(), written_order, seed)   # the set's insertion order kept

    def test_closed_store(self):
        s = frost.freeze({})
        s.close()
        with self.assertRaises(frost.StoreClosedError):
            s.save(self.path(), format=1)

    def test_errors_for_paths(self):
        with self.assertRaises(FileNotFoundError):
            frost.load(self.path("missing"))
        with self.assertRaises(OSError):
            frost.freeze({}).save(os.path.join(self.dir.name, "no", "dir", "x"))
        with self.assertRaises(ValueError):
            frost.load(self.saved(), lifetime="forever")

    def test_checksum_matches_reference(self):
        for n in (0, 1, 3, 4, 7, 8, 31, 32, 33, 100):
            data = bytes(range(n))
            self.assertEqual(frost._frost._snapshot_xxh64(data), xxh64(data))
        self.assertEqual(xxh64(b""), 0xEF46DB3751D8E999)


class BadFileTest(SnapshotCase):
    def blob(self):
        with open(self.saved(sample(50)), "rb") as f:
            return f.read()

    def load_bytes(self, blob):
        p = self.path("bad.frost")
        with open(p, "wb") as f:
            f.write(blob)
        return frost.load(p)

    def assertBad(self, blob, pattern):
        with self.assertRaisesRegex(frost.SnapshotError, pattern):
            self.load_bytes(blob)

    def test_is_value_error(self):
        self.assertTrue(issubclass(frost.SnapshotError, ValueError))

    def test_empty_and_shorter_than_header(self):
        self.assertBad(b"", "shorter than")
        self.assertBad(self.blob()[:100], "shorter than")

    def test_wrong_magic(self):
        self.assertBad(b"NOTFROST" + self.blob()[8:], "bad magic")

    def test_truncated(self):
        blob = self.blob()
        for cut in (len(blob) - 1, len(blob) // 2, 129):
            self.assertBad(blob[:cut], "truncated")

    def test_bit_flips(self):
        blob = self.blob()
        rng = random.Random(1)
        for _ in range(30):
            pos = rng.randrange(16, len(blob))
            flipped = bytearray(blob)
            flipped[pos] ^= 1 << rng.randrange(8)
            with self.assertRaises(frost.SnapshotError):
                self.load_bytes(bytes(flipped))

    def header(self, blob):
        return list(HEADER.unpack_from(blob))

    def with_header(self, blob, fields):
        return HEADER.pack(*fields) + blob[HEADER.size:]

    def test_format_version(self):
        h = self.header(self.blob())
        h[2] = 99
        self.assertBad(reseal(self.with_header(self.blob(), h)), "format version 99")

    def test_other_python_version(self):
        blob = self.blob()
        h = self.header(blob)
        h[9] = 0x030B00F0   # written by 3.11
        self.assertBad(reseal(self.with_header(blob, h)), r"Python 3\.11")
        self.assertBad(self.with_header(blob, h), r"Python 3\.11")   # checked before the checksum

    def test_other_layout_or_platform(self):
        blob = self.blob()
        for field, value, pattern in ((11, 12345, "layout"), (5, 4, "platform"), (4, 0x04030201, "platform")):
            h = self.header(blob)
            h[field] = value
            self.assertBad(reseal(self.with_header(blob, h)), pattern)

    def test_older_or_newer_node_encoding(self):
        # files of frosts before set nodes became slot tables hold 0 here
        blob = self.blob()
        for value, pattern in ((0, "older frost.*save it again"), (2, "newer frost")):
            h = self.header(blob)
            h[8] = value
            self.assertBad(reseal(self.with_header(blob, h)), pattern)

    def test_root_out_of_range(self):
        blob = self.blob()
        for root in (1 << 40 | 2, 1 << 40 | 1, 0x12345, 0, (1 << 60) | 3, (999 << 8) | (7 << 4) | 4):
            h = self.header(blob)
            h[15] = root
            self.assertBad(reseal(self.with_header(blob, h)), "root")

    def test_sections_out_of_range(self):
        blob = self.blob()
        table = self.header(blob)[17]
        for i in range(2):
            sec = bytearray(blob)
            ident, flags, off, size = SECTION.unpack_from(blob, table + i * SECTION.size)
            SECTION.pack_into(sec, table + i * SECTION.size, ident, flags, off, len(blob) - off + 64)
            self.assertBad(reseal(sec), "out of range")

    def test_record_count(self):
        h = self.header(self.blob())
        h[16] += 1
        self.assertBad(reseal(self.with_header(self.blob(), h)), "records")

    def test_file_being_written_while_read(self):
        # a writer that is not frost's save() (which renames a finished file
        # into place) copies the snapshot piece by piece; a reader that loads
        # meanwhile gets SnapshotError until the last byte is there, then the data
        import threading
        blob = self.blob()
        p = self.path("copying.frost")
        open(p, "wb").close()
        written, tried = threading.Event(), threading.Event()

        def writer():
            with open(p, "r+b") as f:
                for pos in range(0, len(blob), 4096):
                    tried.wait(10)      # let the reader try at every stage
                    tried.clear()
                    f.write(blob[pos:pos + 4096])
                    f.flush()
            written.set()

        t = threading.Thread(target=writer)
        errors = 0
        t.start()
        try:
            while not written.is_set():
                try:
                    s = frost.load(p)
                except frost.SnapshotError as e:
                    tried.set()
                    self.assertRegex(str(e), "shorter than|truncated|checksum")
                    errors += 1
                    continue
                tried.set()
                self.assertTrue(same(frost.thaw(s.root, classes=CLASSES), sample(50)))   # the copy happened to finish
        finally:
            t.join()
        self.assertGreater(errors, 0)
        self.assertTrue(same(frost.thaw(frost.load(p).root, classes=CLASSES), sample(50)))

    def test_preallocated_file_being_filled(self):
        # a writer that sizes the file first (ftruncate, then fills it): every
        # stage before the last byte is a checksum mismatch, never a bad store
        blob = self.blob()
        step = max(1, len(blob) // 40)
        for filled in range(0, len(blob), step):
            partial = blob[:filled] + bytes(len(blob) - filled)
            with self.assertRaises(frost.SnapshotError):
                self.load_bytes(partial)
        self.assertTrue(same(frost.thaw(self.load_bytes(blob).root, classes=CLASSES), sample(50)))

    def test_random_corruption_never_crashes(self):
        # resealed garbage inside the sections: a SnapshotError, or a store
        # that reads without crashing (a changed float, say)
        blob = self.blob()
        start = HEADER.size + 2 * SECTION.size
        rng = random.Random(7)
        loaded = 0
        for i in range(300):
            bad = bytearray(blob)
            pos = rng.randrange(start, len(blob) - 8) & ~7
            if i % 3 == 0:
                bad[pos:pos + 8] = rng.getrandbits(64).to_bytes(8, "little")
            elif i % 3 == 1:
                bad[pos:pos + 8] = (int.from_bytes(bad[pos:pos + 8], "little") + rng.choice((-16, 16, 1, 2))
                                    & M64).to_bytes(8, "little")
            else:
                bad[pos] ^= 1 << rng.randrange(8)
            try:
                s = self.load_bytes(reseal(bad))
            except frost.SnapshotError:
                continue
            loaded += 1
            try:
                frost.thaw(s.root)
                repr(s.root)
            except (ValueError, RecursionError, TypeError, KeyError, ImportError, AttributeError):
                pass
        self.assertLess(loaded, 300)


SET_NODE = struct.Struct("<IIqqQQ")   # frost_set_t in the image: kind, flags, len, mask, slots, order
SLOT = struct.Struct("<qQ")            # frost_set_slot_t: hash, key ref (0: empty)
DICT_NODE = struct.Struct("<IIqqQQ")  # frost_table_t: kind, flags, len, mask, index, entries


class BadSetNodeTest(SnapshotCase):
    """A set node whose slot table or order lies: a SnapshotError naming it,
    or a set that answers (perhaps wrongly) without crashing or hanging."""

    def setUp(self):
        super().setUp()
        with open(self.saved({"kk", "ll", "mm"}), "rb") as f:
            self.blob = f.read()
        h = HEADER.unpack_from(self.blob)
        image, bulk = (SECTION.unpack_from(self.blob, h[17] + i * SECTION.size) for i in range(2))
        self.assertEqual(h[15] & 0xF, 1)   # the root: an image node
        self.node = image[2] + (h[15] & ~0xF)
        kind, flags, n, mask, slots, order = SET_NODE.unpack_from(self.blob, self.node)
        self.assertEqual((kind, n, mask, slots), (4, 3, 7, (h[15] & ~0xF) + 48))
        self.slots = image[2] + slots
        self.order = bulk[2] + order
        self.used = [struct.unpack_from("<i", self.blob, self.order + 4 * i)[0] for i in range(3)]
        self.empty = [j for j in range(8) if j not in self.used]

    def slot(self, j):
        return self.slots + SLOT.size * j

    def edited(self, *edits):
        bad = bytearray(self.blob)
        for at, data in edits:
            bad[at:at + len(data)] = data
        p = self.path("bad.frost")
        with open(p, "wb") as f:
            f.write(reseal(bad))
        return p

    def assertBad(self, pattern, *edits):
        with self.assertRaisesRegex(frost.SnapshotError, pattern):
            frost.load(self.edited(*edits))

    def test_unchanged_file_loads(self):
        s = frost.load(self.edited())
        self.assertEqual(set(s.root), {"kk", "ll", "mm"})
        self.assertIn("ll", s.root)

    def test_bad_order(self):
        i32 = struct.Struct("<i").pack
        for i, value in ((1, self.used[0]), (0, 8), (0, -1), (2, self.empty[0]), (0, 1 << 30)):
            with self.subTest(i=i, value=value):
                self.assertBad("bad set order", (self.order + 4 * i, i32(value)))

    def test_bad_slot_table(self):
        self.assertBad("empty set slot with a hash", (self.slot(self.empty[0]), SLOT.pack(5, 0)))
        key_ref = self.blob[self.slot(self.used[0]) + 8:self.slot(self.used[0]) + 16]
        self.assertBad("uses 4 slots for 3 items", (self.slot(self.empty[0]) + 8, key_ref))
        self.assertBad("uses 2 slots for 3 items", (self.slot(self.used[1]), SLOT.pack(0, 0)))
        self.assertBad("bad reference", (self.slot(self.used[1]) + 8, (12345 << 4 | 1).to_bytes(8, "little")))

    def test_bad_header(self):
        # (a mask of INT64_MAX: mask + 1 overflowed, undefined behaviour UBSan reports)
        for field, value in ((2, 4), (2, -1), (3, 15), (3, 3), (3, 2**63 - 1), (3, -1),
                             (3, -2**63), (4, 0), (5, 1 << 40), (5, 2)):
            with self.subTest(field=field, value=value):
                fields = list(SET_NODE.unpack_from(self.blob, self.node))
                fields[field] = value
                with self.assertRaises(frost.SnapshotError):
                    frost.load(self.edited((self.node, SET_NODE.pack(*fields))))
        fields = list(SET_NODE.unpack_from(self.blob, self.node))
        fields[1] = 2   # an unknown flag
        with self.assertRaises(frost.SnapshotError):
            frost.load(self.edited((self.node, SET_NODE.pack(*fields))))

    def test_misplaced_items_answer_without_hanging(self):
        # every item moved one slot on (wrong hashes or wrong places): the
        # file is well formed, lookups may miss, iteration and len still work
        bad = []
        moved = {j: (j + 1) % 8 for j in self.used}   # distinct targets
        for j in range(8):
            bad.append((self.slot(j), SLOT.pack(0, 0)))
        for j, t in moved.items():
            bad.append((self.slot(t), self.blob[self.slot(j):self.slot(j) + SLOT.size]))
        for i, j in enumerate(self.used):
            bad.append((self.order + 4 * i, struct.pack("<i", moved[j])))
        s = frost.load(self.edited(*bad))
        self.assertEqual(sorted(s.root), ["kk", "ll", "mm"])
        for k in ("kk", "ll", "mm", "nn"):
            self.assertIn(k in s.root, (True, False))
        swapped = [(self.slot(self.used[0]), self.blob[self.slot(self.used[1]):self.slot(self.used[1]) + 8]),
                   (self.slot(self.used[1]), self.blob[self.slot(self.used[0]):self.slot(self.used[0]) + 8])]
        s = frost.load(self.edited(*swapped))   # two hashes swapped
        self.assertEqual(len(s.root), 3)
        self.assertIn("mm" in s.root, (True, False))


class BadDictNodeTest(SnapshotCase):
    """A dict node whose header lies about its table: a SnapshotError."""

    def test_bad_mask(self):
        with open(self.saved({"a": 1}), "rb") as f:
            blob = f.read()
        h = HEADER.unpack_from(blob)
        image = SECTION.unpack_from(blob, h[17])
        node = image[2] + (h[15] & ~0xF)
        kind, flags, n, mask, index, entries = DICT_NODE.unpack_from(blob, node)
        self.assertEqual((kind, n, mask), (1, 1, 7))
        # (a mask of INT64_MAX: mask + 1 overflowed, undefined behaviour UBSan reports)
        for bad in (2**63 - 1, -1, -2**63, 3, 15):
            with self.subTest(mask=bad):
                edited = bytearray(blob)
                DICT_NODE.pack_into(edited, node, kind, flags, n, bad, index, entries)
                p = self.path("bad.frost")
                with open(p, "wb") as f:
                    f.write(reseal(edited))
                with self.assertRaisesRegex(frost.SnapshotError, "malformed record"):
                    frost.load(p)


class BadRecordNodeTest(SnapshotCase):
    """A dataclass or namedtuple record is rebuilt as cls(**state): a format-1 file whose
    record state is no dict node, or whose field names are not strs, is refused as the
    format-2 check refuses it (it loaded, and Store.save then wrote a format-2 file that
    verify refused)."""

    class NT(typing.NamedTuple):
        a: int
        b: int

    def record_file(self):
        with open(self.saved(self.NT(1, 2)), "rb") as f:
            blob = f.read()
        h = HEADER.unpack_from(blob)
        image = SECTION.unpack_from(blob, h[17])
        return blob, h[15], image[2] + (h[15] & ~0xF)   # the file, the root reference, the record

    def assertRefused(self, edited, pattern):
        p = self.path("bad.frost")
        with open(p, "wb") as f:
            f.write(reseal(edited))
        for lifetime in ("process", "scoped"):
            with self.assertRaisesRegex(frost.SnapshotError, pattern):
                frost.load(p, lifetime=lifetime)
        with self.assertRaisesRegex(frost.SnapshotError, pattern):
            frost.verify(p)

    def test_state_that_is_not_a_dict_node(self):
        blob, root, record = self.record_file()
        self.assertEqual(struct.unpack_from("<I", blob, record)[0], 6)   # FROST_NODE_RECORD
        for name, state in [("an int", (5 << 8) | (7 << 4) | 4), ("None", 4),
                            ("a str", (ord("q") << 8) | (8 << 4) | 4), ("the record itself", root)]:
            with self.subTest(state=name):
                edited = bytearray(blob)
                struct.pack_into("<Q", edited, record + 24, state)
                self.assertRefused(edited, "state is not a dict node")

    def test_field_name_that_is_not_a_str(self):
        blob, root, record = self.record_file()
        str_a, bytes_a = (ord("a") << 8) | (8 << 4) | 4, (ord("a") << 8) | (9 << 4) | 4
        edited = bytearray(blob)
        found = [o for o in range(128, len(blob) - 7, 8) if struct.unpack_from("<Q", blob, o)[0] == str_a]
        self.assertTrue(found)
        for o in found:
            struct.pack_into("<Q", edited, o, bytes_a)   # 'a' -> b'a'
        self.assertRefused(edited, "field name 0 is not a str")


class SaveTargetTest(SnapshotCase):
    """save() writes a new file beside its target and renames it over: a target that
    exists and is not a regular file (a FIFO, a socket, a device such as /dev/null, a
    directory, or a link to one) is refused before anything is written, and is left as
    it was -- never replaced by a regular file."""

    def targets(self):
        import socket
        import stat
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        sock = self.path("sock")
        srv = socket.socket(socket.AF_UNIX)
        self.addCleanup(srv.close)
        srv.bind(sock)
        link = self.path("link")
        os.symlink(fifo, link)
        directory = self.path("dir")
        os.mkdir(directory)
        return [(fifo, stat.S_ISFIFO, "a FIFO"), (sock, stat.S_ISSOCK, "a socket"),
                (link, stat.S_ISFIFO, "a FIFO"), (directory, stat.S_ISDIR, "Is a directory")]

    def test_a_target_that_is_not_a_regular_file_is_refused_and_kept(self):
        import errno
        store = frost.freeze({"k": list(range(100)), "b": b"x" * (2 << 20)})
        for target, kind, named in self.targets():
            for fmt in (1, 2, None):
                with self.subTest(target=os.path.basename(target), format=fmt):
                    before = sorted(os.listdir(self.dir.name))
                    with self.assertRaises(OSError) as cm:
                        store.save(target, format=fmt)
                    self.assertEqual(cm.exception.errno,
                                     errno.EISDIR if named == "Is a directory" else errno.EINVAL)
                    self.assertEqual(cm.exception.filename, target)
                    self.assertIn(named, str(cm.exception))
                    self.assertTrue(kind(os.stat(target).st_mode))   # still what it was
                    self.assertEqual(sorted(os.listdir(self.dir.name)), before)   # no temporary left
        regular = self.path("regular")   # a regular file, and a link to one: replaced as before
        store.save(regular, format=1)
        os.symlink(regular, self.path("to-regular"))
        store.save(self.path("to-regular"), format=2)
        self.assertEqual(frost.load(self.path("to-regular")).root["k"][99], 99)


class CrossProcessTest(SnapshotCase):
    def test_spawn_workers_read_one_file(self):
        import multiprocessing
        p = self.saved()
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(3) as pool:
            results = pool.map(_worker_read, [p] * 3)
        self.assertEqual(results, [(1999, 999.5, "val1999")] * 3)


def _worker_read(path):
    return tuple(frost.load(path).root["big"]["key1999"])


if __name__ == "__main__":
    unittest.main()
