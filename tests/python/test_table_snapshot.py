"""Tables and DLPack-able arrays in snapshots (issue 18, item 4, in-process
part): Store.save / frost.load keep every supported column type, and a
loader given a damaged table node (docs/format.md: the table node) raises
SnapshotError instead of handing a bad blob to readers.

Every test runs on both formats: TableSnapshot saves format 1 (the arena
snapshot: the blob is checked at load), TableSnapshotFormat2 format 2 (the
image read in place: the blob is checked when its table node is first
reached, frost_map_columns_check), where the same damage must give the
same SnapshotError at that access.

The targeted corruptions find their field through a small parser of the
blob layout (store/frost_columns.h), then reseal the file's checksum, so each
one reaches the loader's table check rather than the checksum.
"""
import os
import random
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
from frostcheck import LeakCheckedTestCase, live  # noqa: E402
import mapcraft  # noqa: E402
from test_snapshot import reseal  # noqa: E402
import test_tables  # noqa: E402

pa, np = test_tables.pa, test_tables.np
need_pyarrow = unittest.skipIf(pa is None, "pyarrow is not installed")

MAGIC = struct.pack("<I", 0x4C4F4346)   # "FCOL"
HEADER = struct.Struct("<IIQqQQQQQ")     # magic version size nrows nchunks schema chunks desc_end row_starts
SCHEMA = struct.Struct("<QQQQqqQQ")      # format name metadata metadata_len flags n_children children dictionary
ARRAY = struct.Struct("<qqqqqQQQ")       # length null_count offset n_buffers n_children buffers children dictionary


class Blob:
    """Field offsets inside a table blob found in a snapshot file."""

    def __init__(self, data, start):
        self.data, self.start = data, start
        h = HEADER.unpack_from(data, start)
        self.size, self.nrows, self.nchunks, self.schema, self.chunks, self.desc_end, self.row_starts = h[2:]

    def u64(self, off):
        return struct.unpack_from("<Q", self.data, self.start + off)[0]

    def chunk(self, k):
        return self.u64(self.chunks + 8 * k)

    def array(self, off):
        return ARRAY.unpack_from(self.data, self.start + off)

    def column(self, k, i):
        root = self.array(self.chunk(k))
        return self.u64(root[6] + 8 * i)

    def buffer_entry(self, array_off, i):
        """File position of buffer i's (offset, size) entry, and its values."""
        buffers = self.array(array_off)[5]
        pos = self.start + buffers + 16 * i
        return pos, struct.unpack_from("<QQ", self.data, pos)


def find_blob(data):
    start = data.find(MAGIC)
    while start % 64:
        start = data.find(MAGIC, start + 1)
    assert start > 0, "no table blob in the file"
    return Blob(data, start)


class TableSnapshot(LeakCheckedTestCase):
    FORMAT = 1

    def reseal(self, data):
        """Fix the file's checksums after a test changed some bytes."""
        if self.FORMAT == 1:
            return reseal(data)
        buf = bytearray(data)
        mapcraft.reseal(buf)
        return bytes(buf)

    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "t.frost")

    def save(self, data):
        store = frost.freeze(data)
        store.save(self.path, format=self.FORMAT)
        store.close()

    def load_bytes(self, data, lifetime="scoped"):
        p = os.path.join(self.dir.name, "bad.frost")
        with open(p, "wb") as f:
            f.write(data)
        return frost.load(p, lifetime=lifetime)

    @need_pyarrow
    def test_every_column_type_saves_and_loads(self):
        t = test_tables.every_type_table()
        chunked = pa.concat_tables([t.slice(0, 3), t.slice(2)])
        self.save({"t": t, "chunked": chunked, "sliced": t.slice(1, 4), "empty": t.schema.empty_table()})
        for lifetime in ("scoped", "process"):
            with self.subTest(lifetime=lifetime):
                if lifetime == "process" and self.FORMAT == 1:
                    self.before = (self.before[0] + 1, self.before[1] + 1)   # never freed, by design
                store = frost.load(self.path, lifetime=lifetime)
                root = store.root
                for name, want in (("t", t), ("chunked", chunked), ("sliced", t.slice(1, 4)),
                                   ("empty", t.schema.empty_table())):
                    back = pa.table(root[name])
                    back.validate(full=True)
                    self.assertTrue(back.equals(want), name)
                    self.assertEqual(frost.thaw(root[name])["string"], want["string"].to_pylist())
                if self.FORMAT == 1:
                    self.assertEqual(store.stats()["objects"]["table"], 4)
                else:
                    self.assertIsInstance(root["t"], frost.MappedTable)
                    self.assertEqual(len(root["sliced"]), 4)
                    with frost.freeze({"c": chunked}, lifetime="scoped") as arena:
                        self.assertEqual(root["chunked"].row(4), arena.root["c"].row(4))
                        self.assertEqual(root["chunked"]["string"][1:5].tolist(),
                                         arena.root["c"]["string"][1:5].tolist())
                if lifetime == "scoped" or self.FORMAT == 2:
                    store.close()

    @need_pyarrow
    def test_empty_chunks_keep_their_dictionaries(self):
        """A zero-row dictionary column keeps its dictionary (pandas' categories) and type
        through save and load, as do empty chunks among others (test_tables.py::RoundTrip::
        test_empty_chunks_keep_their_dictionaries has the freezing side)."""
        d = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int16()), pa.array(["a", "b"]), ordered=True)
        t = pa.table({"d": d, "x": [1, 2, 3]})
        other = pa.table({"d": pa.DictionaryArray.from_arrays(pa.array([], pa.int16()), pa.array(["z"]),
                                                              ordered=True), "x": pa.array([], pa.int64())})
        tables = {"zero": t.slice(0, 0), "first_empty": pa.concat_tables([other, t]),
                  "all_empty": pa.concat_tables([t.slice(1, 0), other])}
        self.save(tables)
        store = frost.load(self.path, lifetime="scoped")
        for name, want in tables.items():
            with self.subTest(name):
                back = pa.table(store.root[name])
                back.validate(full=True)
                self.assertTrue(back.equals(want))
                self.assertEqual(back.schema.field("d").type, want.schema.field("d").type)
                self.assertEqual([c.dictionary.to_pylist() for c in back["d"].chunks],
                                 [c.dictionary.to_pylist() for c in want["d"].chunks])
                cats = back.to_pandas()["d"].cat
                self.assertEqual(list(cats.categories), list(want.to_pandas()["d"].cat.categories))
                self.assertTrue(cats.ordered)
        store.close()

    @need_pyarrow
    def test_loaded_table_outlives_the_store_in_a_consumer(self):
        self.save(pa.table({"a": list(range(100)), "s": [str(k) for k in range(100)]}))
        base = live()
        store = frost.load(self.path, lifetime="scoped")
        back = pa.table(store.root)
        store.close()
        del store
        self.assertEqual(back["a"].to_pylist(), list(range(100)))
        del back
        self.assertEqual(live(), base)

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_dlpack_arrays_save_and_load(self):
        data = {"f32": np.arange(12, dtype=np.float32).reshape(3, 4), "u16": np.arange(3, dtype=np.uint16),
                "c": np.arange(3) * 1j,
                "b": np.array([True, False]), "ints": list(range(10)), "floats": [0.5, 1.5]}
        self.save(data)
        store = frost.load(self.path, lifetime="scoped")
        root = store.root
        for key in ("f32", "u16", "c", "b"):
            got = np.from_dlpack(root[key])
            np.testing.assert_array_equal(got, data[key])
            self.assertEqual(got.ctypes.data, np.asarray(root[key]).ctypes.data)
            self.assertFalse(got.flags.writeable)
        np.testing.assert_array_equal(np.from_dlpack(root["ints"]), data["ints"])
        np.testing.assert_array_equal(np.from_dlpack(root["floats"][::-1]), data["floats"][::-1])
        store.close()

    # ---- damaged table nodes ---------------------------------------------------------

    def saved_bytes(self):
        t = pa.table({"i": pa.array([1, None, 3], pa.int64()), "s": ["ab", "c", None],
                      "d": pa.array(["x", "y", "x"]).dictionary_encode(),
                      "l": pa.array([[1], [], [2, 3]])})
        self.save({"t": t})
        with open(self.path, "rb") as f:
            return f.read()

    def assertBad(self, data, pattern):
        """Format 1 refuses the file at load; format 2 at the first access of the table."""
        with self.assertRaisesRegex(frost.SnapshotError, pattern):
            store = self.load_bytes(self.reseal(data))
            self.addCleanup(store.close)
            store.root["t"]

    def patch(self, data, pos, fmt, value):
        bad = bytearray(data)
        struct.pack_into(fmt, bad, pos, value)
        return bytes(bad)

    @need_pyarrow
    def test_good_file_loads(self):
        data = self.saved_bytes()
        store = self.load_bytes(data)
        self.assertEqual(frost.thaw(store.root)["t"]["s"], ["ab", "c", None])
        store.close()

    @need_pyarrow
    def test_header_fields(self):
        data = self.saved_bytes()
        b = find_blob(data)
        self.assertBad(self.patch(data, b.start + 8, "<Q", b.size + 64), "malformed table")
        self.assertBad(self.patch(data, b.start + 16, "<q", b.nrows + 1), "header says")
        self.assertBad(self.patch(data, b.start, "<I", 0), "malformed table header")
        self.assertBad(self.patch(data, b.start + 4, "<I", 2), "malformed table header")
        self.assertBad(self.patch(data, b.start + 24, "<Q", 2**40), "bad chunk table")
        self.assertBad(self.patch(data, b.start + 32, "<Q", 3), "bad schema descriptor")
        self.assertBad(self.patch(data, b.start + 56, "<Q", b.size), "malformed table|bad chunk table")

    @need_pyarrow
    def test_column_fields(self):
        data = self.saved_bytes()
        b = find_blob(data)
        col_i, col_s, col_d = b.column(0, 0), b.column(0, 1), b.column(0, 2)
        at = b.start
        self.assertBad(self.patch(data, at + col_i, "<q", 1000), "column 'i'.*needed")         # length
        self.assertBad(self.patch(data, at + col_i + 8, "<q", 0), "column 'i'.*null_count 0")   # null_count
        self.assertBad(self.patch(data, at + col_i + 16, "<q", -1), "column 'i'.*bad length")   # offset
        self.assertBad(self.patch(data, at + col_i + 24, "<q", 3), "column 'i'.*buffers")       # n_buffers
        pos, (off, size) = b.buffer_entry(col_i, 1)
        self.assertBad(self.patch(data, pos + 8, "<Q", 8), "column 'i'.*holds 8 bytes, 24 needed")
        self.assertBad(self.patch(data, pos, "<Q", off + 8), "column 'i'.*outside the table")
        self.assertBad(self.patch(data, pos, "<Q", b.size), "column 'i'.*outside the table")
        self.assertBad(self.patch(data, pos, "<Q", 0), "column 'i'.*outside the table")
        # string offsets decreasing, and reaching past the data
        pos, (off, size) = b.buffer_entry(col_s, 1)
        self.assertBad(self.patch(data, b.start + off + 4, "<i", 9), "column 's'.*(decrease|needed)")
        self.assertBad(self.patch(data, b.start + off + 8, "<i", 1), "column 's'.*offsets decrease")
        self.assertBad(self.patch(data, b.start + off, "<i", -1), "column 's'.*negative offset")
        # a dictionary index outside the dictionary
        pos, (off, size) = b.buffer_entry(col_d, 1)
        self.assertBad(self.patch(data, b.start + off + 4, "<i", 2), "column 'd'.*dictionary index 2")
        # a format frost does not store, and a string without its NUL
        fmt = struct.unpack_from("<Q", data, b.start + b.schema)[0]
        schema_i = struct.unpack_from("<Q", data, b.start + SCHEMA.unpack_from(data, b.start + b.schema)[6])[0]
        fmt_i = struct.unpack_from("<Q", data, b.start + schema_i)[0]
        self.assertBad(self.patch(data, b.start + fmt_i, "<B", ord("v")), "not supported")
        self.assertBad(self.patch(data, b.start + schema_i, "<Q", b.desc_end), "bad format")
        self.assertGreater(fmt, 0)

    @need_pyarrow
    def test_column_names_that_are_not_utf8_are_refused(self):
        # names reach Python as str (column_names, schema, pyarrow's field names): bytes that
        # are no UTF-8 are damage, found by the check, not at a read
        data = self.saved_bytes()
        b = find_blob(data)
        root_schema = SCHEMA.unpack_from(data, b.start + b.schema)
        schema_i = struct.unpack_from("<Q", data, b.start + root_schema[6])[0]
        name_i = struct.unpack_from("<Q", data, b.start + schema_i + 8)[0]
        self.assertEqual(data[b.start + name_i:b.start + name_i + 2], b"i\0")
        self.assertBad(self.patch(data, b.start + name_i, "<B", 0xFF), "name string")
        schema_s = struct.unpack_from("<Q", data, b.start + root_schema[6] + 8)[0]
        name_s = struct.unpack_from("<Q", data, b.start + schema_s + 8)[0]
        self.assertBad(self.patch(data, b.start + name_s, "<B", 0x80), "name string")   # a lone continuation byte

    @need_pyarrow
    def test_a_time_zone_that_is_not_utf8_is_refused(self):
        # the zone of a timestamp format reaches consumers as UTF-8 text (polars panicked,
        # pyarrow's to_pylist raised UnicodeDecodeError): bytes that are not UTF-8 are
        # damage, found by the check like a name's
        self.save({"t": pa.table({"ts": pa.array([1, None], pa.timestamp("us", tz="UTC"))})})
        with open(self.path, "rb") as f:
            data = f.read()
        at = data.find(b"tsu:UTC\0")
        self.assertGreater(at, 0)
        self.assertBad(self.patch(data, at + 6, "<B", 0xC3), "not supported")   # "UT\xc3"
        self.assertBad(self.patch(data, at + 4, "<B", 0x80), "not supported")   # a lone continuation byte

    @need_pyarrow
    def test_descriptor_cycles_and_sharing_are_refused(self):
        data = self.saved_bytes()
        b = find_blob(data)
        root = b.array(b.chunk(0))
        # column 1 pointing at column 0's descriptor (sharing / a backward reference)
        self.assertBad(self.patch(data, b.start + root[6] + 8, "<Q", b.column(0, 0)), "bad array descriptor")
        # the list column's child pointing back at the list itself (a cycle)
        col_l = b.column(0, 3)
        self.assertBad(self.patch(data, b.start + b.array(col_l)[6], "<Q", col_l), "bad array descriptor")

    @need_pyarrow
    def test_random_damage_in_the_blob_never_crashes(self):
        data = self.saved_bytes()
        b = find_blob(data)
        rng = random.Random(18)
        loaded = 0
        for i in range(400):
            bad = bytearray(data)
            pos = b.start + (rng.randrange(b.desc_end) & ~7 if i % 2 else rng.randrange(b.size))
            if i % 3 == 0:
                bad[pos:pos + 8] = rng.getrandbits(64).to_bytes(8, "little")
            elif i % 3 == 1:
                v = int.from_bytes(bad[pos:pos + 8], "little")
                bad[pos:pos + 8] = ((v + rng.choice((-64, -8, -1, 1, 8, 64))) % 2**64).to_bytes(8, "little")
            else:
                bad[pos] ^= 1 << rng.randrange(8)
            try:
                store = self.load_bytes(self.reseal(bytes(bad)))
                view = store.root["t"]
            except frost.SnapshotError:
                if self.FORMAT == 2:
                    store.close()
                continue
            loaded += 1
            try:
                frost.thaw(view)
                pa.table(view).validate(full=True)
            except (UnicodeDecodeError, pa.ArrowInvalid):
                pass   # bytes changed inside a buffer: still in bounds
            del view
            store.close()
        self.assertLess(loaded, 400)



class TableSnapshotFormat2(TableSnapshot):
    FORMAT = 2

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_dlpack_arrays_save_and_load(self):
        """Format 2's arrays have the buffer protocol, not DLPack; its table columns have DLPack,
        reading the mapping in place, and the tensor keeps the mapping after the store is gone."""
        self.save({"t": pa.table({"f": np.arange(6, dtype=np.float64), "i": pa.array([1, 2, 3, 4, 5, 6], pa.int32())})})
        store = frost.load(self.path)
        col = store.root["t"]["f"]
        got = np.from_dlpack(col)
        self.assertFalse(got.flags.writeable)
        np.testing.assert_array_equal(got, np.arange(6.0))
        np.testing.assert_array_equal(np.from_dlpack(store.root["t"]["i"][2:4]), [3, 4])
        self.assertEqual(got.ctypes.data, np.from_dlpack(col).ctypes.data, "no copy")
        store.close()
        del store, col
        np.testing.assert_array_equal(got, np.arange(6.0))

    @need_pyarrow
    def test_a_damaged_table_does_not_stop_the_rest_of_the_image(self):
        """O(1) open: the blob is checked when the table is reached, so the rest reads."""
        data = bytearray(self.saved_bytes())
        b = find_blob(bytes(data))
        struct.pack_into("<q", data, b.start + 16, b.nrows + 1)
        self.save({"t": pa.table({"a": [1]}), "x": [1, 2]})
        with open(self.path, "rb") as f:
            good = f.read()
        b2 = find_blob(good)
        bad = bytearray(good)
        struct.pack_into("<q", bad, b2.start + 16, 2)
        store = self.load_bytes(self.reseal(bytes(bad)))
        self.assertEqual(list(store.root["x"]), [1, 2])
        for _ in range(2):   # the failure is not cached as a success
            with self.assertRaisesRegex(frost.SnapshotError, "table node at .*header says"):
                store.root["t"]
        with self.assertRaisesRegex(frost.SnapshotError, "header says"):
            frost.thaw(store.root)
        p = os.path.join(self.dir.name, "bad.frost")
        with self.assertRaisesRegex(frost.SnapshotError, "header says"):
            frost.verify(p)
        store.close()


if __name__ == "__main__":
    unittest.main()