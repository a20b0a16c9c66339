"""Tables (issue 18, items 1, 2, 5): objects exporting the Arrow PyCapsule
interface freeze into a table node; frost.Table hands the arena to pyarrow,
polars and pandas without copying, and offers plain Python access where
those libraries cannot load; capsules that lie give FreezeError naming the
column and its type, leave nothing behind and are released exactly once.

pyarrow, pandas and polars come from the test tooling (tools/env.sh). A test
that needs one skips when it is absent, unless FROST_REQUIRE_ARROW=1, which
turns the absence into a failure. The hostile-capsule tests build their
ArrowSchema/ArrowArray structs with ctypes and need none of them.
"""
import ctypes
import datetime
import decimal
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import _interp_compat  # noqa: E402
from frostcheck import LeakCheckedTestCase, live  # noqa: E402

REQUIRE = os.environ.get("FROST_REQUIRE_ARROW") == "1"
UNDER_TSAN = "tsan" in os.environ.get("LD_PRELOAD", "")
if UNDER_TSAN:
    # polars' bundled jemalloc starts a background thread through the pthread_create it
    # finds with dlsym(RTLD_NEXT), past TSan's interceptor: TSan never registers that
    # thread and its first malloc segfaults inside the TSan allocator, at import. Without
    # background threads polars loads; its own (uninstrumented) threads are then left to
    # tests/tsan.supp (called_from_lib). Read by jemalloc when the library loads.
    os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:false")


def optional(name):
    try:
        return __import__(name)
    except ImportError:
        if REQUIRE:
            raise AssertionError(f"FROST_REQUIRE_ARROW=1 but {name} is not installed")
        return None


pa = optional("pyarrow")
pl = optional("polars")
pd = optional("pandas")
np = optional("numpy")

need_pyarrow = unittest.skipIf(pa is None, "pyarrow is not installed")
need_polars = unittest.skipIf(pa is None or pl is None, "pyarrow or polars is not installed")
need_pandas = unittest.skipIf(pa is None or pd is None, "pyarrow or pandas is not installed")


class RequiredLibraries(unittest.TestCase):
    @unittest.skipUnless(REQUIRE, "FROST_REQUIRE_ARROW is not 1")
    def test_libraries_are_installed(self):
        for mod in (pa, pl, pd, np):
            self.assertIsNotNone(mod)


def every_type_table():
    """One column of each type frost stores, with nulls where the type has them."""
    n = 7
    ints = [1, None, 3, -4, 5, None, 7]
    cols = {
        "int8": pa.array(ints, pa.int8()),
        "int16": pa.array(ints, pa.int16()),
        "int32": pa.array(ints, pa.int32()),
        "int64": pa.array(ints, pa.int64()),
        "uint8": pa.array([0, 1, None, 255, 4, 5, 6], pa.uint8()),
        "uint16": pa.array([0, 1, None, 65535, 4, 5, 6], pa.uint16()),
        "uint32": pa.array([0, 1, None, 2**32 - 1, 4, 5, 6], pa.uint32()),
        "uint64": pa.array([0, 1, None, 2**64 - 1, 4, 5, 6], pa.uint64()),
        "float16": pa.array([np.float16(x) if x is not None else None
                             for x in [0.5, None, 1.5, 2, -3, 4, 5]], pa.float16()),
        "float32": pa.array([0.5, None, 1.5, 2, -3, 4, 5], pa.float32()),
        "float64": pa.array([0.5, None, 1.5, 2, -3, 4, float("inf")], pa.float64()),
        "bool": pa.array([True, False, None, True, True, False, None]),
        "string": pa.array(["a", "", None, "ünïcode", "e" * 100, "f", "g"]),
        "large_string": pa.array(["a", "", None, "d", "e", "f", "g"], pa.large_string()),
        "binary": pa.array([b"a", b"", None, b"\x00\xff", b"e", b"f", b"g"]),
        "large_binary": pa.array([b"a", b"", None, b"d", b"e", b"f", b"g"], pa.large_binary()),
        "fixed_binary": pa.array([b"ab", b"cd", None, b"ef", b"gh", b"ij", b"kl"], pa.binary(2)),
        "decimal": pa.array([decimal.Decimal("1.25"), None] + [decimal.Decimal(k) for k in range(5)],
                            pa.decimal128(10, 2)),
        "date32": pa.array([datetime.date(2024, 1, k + 1) if k != 2 else None for k in range(n)]),
        "date64": pa.array([datetime.date(2024, 1, k + 1) for k in range(n)], pa.date64()),
        "timestamp": pa.array([datetime.datetime(2024, 1, 1, k) for k in range(n)], pa.timestamp("us", tz="UTC")),
        "duration": pa.array([datetime.timedelta(seconds=k) for k in range(n)], pa.duration("ms")),
        "time64": pa.array([datetime.time(k) for k in range(n)], pa.time64("us")),
        "null": pa.nulls(n),
        "list": pa.array([[1, 2], [], None, [3], [4, None], [5], [6]], pa.list_(pa.int64())),
        "large_list": pa.array([["a"], [], None, ["b", "c"], [], [None], ["d"]], pa.large_list(pa.string())),
        "fixed_list": pa.array([[1, 2], [3, 4], None, [5, 6], [7, 8], [9, 0], [1, 1]], pa.list_(pa.int32(), 2)),
        "struct": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": "z"}, {"a": 4, "b": None},
                            {"a": 5, "b": "e"}, {"a": 6, "b": "f"}, {"a": 7, "b": "g"}]),
        "map": pa.array([[("k", 1)], [], None, [("a", 2), ("b", 3)], [("c", None)], [], [("d", 4)]],
                        pa.map_(pa.string(), pa.int64())),
        "dictionary": pa.array(["x", "y", None, "x", "z", "y", "x"]).dictionary_encode(),
        "dict_int8": pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 1, 0, 0, 1], pa.int8()),
                                                    pa.array(["p", "q"])),
        "list_of_struct": pa.array([[{"x": 1}], None, [], [{"x": 2}, {"x": None}], [], [{"x": 3}], []]),
    }
    return pa.table(cols)


# types whose plain-Python value is not pyarrow's to_pylist() value (documented:
# temporal and decimal columns read as their raw integers; maps as (key, value) lists)
RAW_TYPES = {"decimal", "date32", "date64", "timestamp", "duration", "time64"}


@need_pyarrow
class RoundTrip(LeakCheckedTestCase):
    # RoundTripMapped runs every test again on frost.share: the table in a format-2 image
    freeze = staticmethod(frost.freeze)
    TABLE = frost.Table
    HELD = 1   # arenas (and stores) an export keeps alive after the store is closed

    def test_every_type_round_trips_through_pyarrow(self):
        t = every_type_table()
        store = self.freeze(t)
        view = store.root
        self.assertIsInstance(view, self.TABLE)
        back = pa.table(view)
        self.assertTrue(back.schema.equals(t.schema, check_metadata=True))
        self.assertTrue(back.equals(t))
        back.validate(full=True)
        self.assertTrue(pa.record_batch(view).equals(t.combine_chunks().to_batches()[0]))

    def test_plain_values_match_to_pylist(self):
        t = every_type_table()
        view = self.freeze(t).root
        self.assertEqual(len(view), t.num_rows)
        self.assertEqual(view.num_rows, t.num_rows)
        self.assertEqual(view.num_columns, t.num_columns)
        self.assertEqual(view.column_names, tuple(t.column_names))
        for name in t.column_names:
            with self.subTest(name):
                got = view[name].tolist()
                if name in RAW_TYPES:
                    self.assertEqual([g is None for g in got], [x is None for x in t[name].to_pylist()])
                    continue
                want = t[name].to_pylist()
                if name == "map":
                    want = [None if m is None else [tuple(kv) for kv in m] for m in want]
                self.assertEqual(got, want)
                self.assertEqual(list(view[name]), want)
        self.assertEqual(view.row(0)[:4], (1, 1, 1, 1))
        self.assertEqual(view["date32"][0], 19723)   # days since 1970-01-01
        self.assertEqual(view["decimal"][0], 125)    # unscaled

    def test_schema_description(self):
        t = pa.table({"a": pa.array([1], pa.int32()), "s": pa.array(["x"]),
                      "d": pa.array(["x"]).dictionary_encode(), "l": pa.array([[1.5]]),
                      "st": pa.array([{"x": 1}])},
                     schema=pa.schema([pa.field("a", pa.int32(), nullable=False), ("s", pa.string()),
                                       ("d", pa.dictionary(pa.int32(), pa.string())),
                                       ("l", pa.list_(pa.float64())), ("st", pa.struct([("x", pa.int64())]))]))
        view = self.freeze(t).root
        self.assertEqual(view.schema, (("a", "int32", False), ("s", "string", True),
                                       ("d", "dictionary<int32, string>", True),
                                       ("l", "list<float64>", True), ("st", "struct<x: int64>", True)))
        self.assertEqual(view["d"].type, "dictionary<int32, string>")
        self.assertEqual(view["a"].name, "a")

    def test_field_and_schema_metadata_survive(self):
        schema = pa.schema([pa.field("a", pa.int64(), metadata={"unit": "m"})], metadata={"k": "v"})
        t = pa.table({"a": [1, 2]}, schema=schema)
        back = pa.table(self.freeze(t).root)
        self.assertEqual(back.schema.metadata, {b"k": b"v"})
        self.assertEqual(back.schema.field("a").metadata, {b"unit": b"m"})

    def test_sliced_and_chunked_sources(self):
        base = every_type_table()
        for name, t in (("slice", base.slice(2, 4)), ("slice0", base.slice(0, 0)),
                        ("chunked", pa.concat_tables([base.slice(0, 3), base.slice(1, 5), base.slice(6)])),
                        ("empty", base.schema.empty_table())):
            with self.subTest(name):
                view = self.freeze(t).root
                back = pa.table(view)
                self.assertTrue(back.equals(t))
                back.validate(full=True)
                self.assertEqual(len(view), t.num_rows)
                for col in t.column_names:
                    if col not in RAW_TYPES and col != "map":
                        self.assertEqual(view[col].tolist(), t[col].to_pylist(), col)

    def test_slices_copy_only_their_rows(self):
        n = 100_000
        t = pa.table({"i": pa.array([None if k % 7 == 0 else k for k in range(n)], pa.int64()),
                      "s": [str(k) for k in range(n)], "b": [k % 3 == 0 for k in range(n)],
                      "l": [[k, k] for k in range(n)], "st": [{"x": k} for k in range(n)],
                      "fl": pa.array([[k, k] for k in range(n)], pa.list_(pa.int64(), 2)),
                      "d": pa.array([str(k % 5) for k in range(n)]).dictionary_encode()})
        for start, length in ((50_003, 10), (3, 17), (n - 5, 5), (1, 0)):
            with self.subTest(start=start, length=length):
                part = t.slice(start, length)
                store = self.freeze(part)
                self.assertLess(store.nbytes, 16384)   # the slice, not the whole buffers
                self.assertEqual(frost.thaw(store.root), {**part.to_pydict(),
                                                          "d": part["d"].to_pylist()})
                back = pa.table(store.root)
                back.validate(full=True)
                self.assertTrue(back.equals(part))
                store.close()

    def test_record_batch_array_and_chunked_array(self):
        rb = pa.record_batch({"x": [1, 2, 3], "y": ["a", None, "c"]})
        view = self.freeze(rb).root
        self.assertTrue(pa.record_batch(view).equals(rb))
        arr = pa.array([1, None, 3])
        view = self.freeze(arr).root   # a lone array: a one-column table
        self.assertEqual(view.column_names, ("",))
        self.assertEqual(view[0].tolist(), [1, None, 3])
        chunked = pa.chunked_array([[1, 2], [3]])
        view = self.freeze(chunked).root
        self.assertEqual(view[0].tolist(), [1, 2, 3])

    def test_row_slices(self):
        t = pa.concat_tables([pa.table({"a": [1, 2, 3], "s": ["x", "y", None]}),
                              pa.table({"a": [4, 5], "s": ["u", "v"]})])
        view = self.freeze(t).root
        part = view[1:4]
        self.assertIsInstance(part, self.TABLE)
        self.assertEqual(len(part), 3)
        self.assertEqual(part.row(0), (2, "y"))
        self.assertEqual(part.row(-1), (4, "u"))
        self.assertEqual(frost.thaw(part), {"a": [2, 3, 4], "s": ["y", None, "u"]})
        self.assertEqual(pa.table(part).to_pydict(), {"a": [2, 3, 4], "s": ["y", None, "u"]})
        self.assertEqual(pa.table(view[5:]).num_rows, 0)
        # rows over two chunks are not one array: no __arrow_c_array__ (the PyCapsule
        # interface's rule), so consumers that prefer it take __arrow_c_stream__
        self.assertFalse(hasattr(part, "__arrow_c_array__"))
        with self.assertRaisesRegex(AttributeError, "span 2 chunks.*__arrow_c_stream__"):
            part.__arrow_c_array__
        with self.assertRaises(TypeError):
            pa.record_batch(part)
        self.assertEqual(pa.record_batch(view[3:5]).to_pydict(), {"a": [4, 5], "s": ["u", "v"]})
        with self.assertRaisesRegex(ValueError, "no step"):
            view[::2]
        col = view["a"]
        self.assertEqual(col[::2].tolist(), [1, 3, 5])
        self.assertEqual(col[::-1].tolist(), [5, 4, 3, 2, 1])
        self.assertEqual(col[-1], 5)
        self.assertEqual(pa.chunked_array(view["s"][1:4]).to_pylist(), ["y", None, "u"])
        with self.assertRaises(ValueError):
            pa.chunked_array(col[::2])

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_numeric_columns_export_dlpack(self):
        t = pa.concat_tables([pa.table({"i": pa.array(range(10), pa.int32()), "f": np.arange(10.0),
                                        "n": [1, None] * 5, "s": ["a"] * 10}),
                              pa.table({"i": pa.array([10], pa.int32()), "f": [10.0], "n": [1], "s": ["b"]})])
        view = self.freeze(t).root
        got = np.from_dlpack(view["i"][:10])
        self.assertEqual(got.dtype, np.int32)
        self.assertFalse(got.flags.writeable)
        self.assertEqual(got.ctypes.data, pa.table(view)["i"].chunk(0).buffers()[1].address)
        np.testing.assert_array_equal(np.from_dlpack(view["f"][8:1:-3]), [8.0, 5.0, 2.0])
        np.testing.assert_array_equal(np.from_dlpack(view[10:]["i"]), [10])
        np.testing.assert_array_equal(np.from_dlpack(view["n"][:10:2]), [1] * 5)   # no null in these rows
        with self.assertRaisesRegex(BufferError, "has nulls"):
            np.from_dlpack(view["n"][:10])
        with self.assertRaisesRegex(BufferError, "type string"):
            np.from_dlpack(view["s"])
        with self.assertRaisesRegex(BufferError, "span several chunks"):
            np.from_dlpack(view["i"])
        self.assertEqual(view["i"].__dlpack_device__(), (1, 0))
        got = np.from_dlpack(view["f"][:10])
        del view
        gc.collect()
        self.assertEqual(float(got.sum()), 45.0)

    def test_indexing_errors(self):
        view = self.freeze(pa.table({"a": [1, 2]})).root
        with self.assertRaisesRegex(KeyError, "no such column"):
            view["zz"]
        with self.assertRaises(IndexError):
            view[1]
        with self.assertRaises(IndexError):
            view.row(2)
        with self.assertRaises(IndexError):
            view["a"][2]
        with self.assertRaises(TypeError):
            view[1.5]
        with self.assertRaises(TypeError):
            view.row("0")
        with self.assertRaises(TypeError):
            view["a"] = 1
        with self.assertRaises(TypeError):
            self.TABLE()

    def test_tables_anywhere_in_a_graph(self):
        t1 = pa.table({"a": [1, 2]})
        t2 = pa.table({"b": ["x"]})
        store = self.freeze({"tables": {"one": t1, "two": t2}, "again": t1, "meta": (1, "m")})
        root = store.root
        self.assertEqual(pa.table(root["tables"]["one"]).to_pydict(), {"a": [1, 2]})
        self.assertEqual(root["again"].row(1), (2,))
        thawed = frost.thaw(root)
        self.assertEqual(thawed, {"tables": {"one": {"a": [1, 2]}, "two": {"b": ["x"]}},
                                  "again": {"a": [1, 2]}, "meta": (1, "m")})
        self.assertIs(thawed["again"], thawed["tables"]["one"], "one table: one dict")
        if self.TABLE is frost.Table:
            self.assertEqual(store.stats()["objects"]["table"], 2)   # t1 twice: frozen once
        else:
            # one node in the image
            self.assertEqual(root["again"].node_offset, root["tables"]["one"].node_offset)
            self.assertIs(root["again"].image, root.image)
            self.assertEqual(root["again"]["a"].node_offset, root["again"].node_offset)

    def test_frozen_table_view_freezes_again(self):
        view = self.freeze(pa.table({"a": [1, None]})).root
        again = frost.freeze({"t": view}).root["t"]
        self.assertEqual(again["a"].tolist(), [1, None])

    def test_pickled_view_crosses_as_a_reference(self):
        import pickle
        store = self.freeze(pa.table({"a": [1, 2]}))
        view = pickle.loads(pickle.dumps(store.root))
        self.assertEqual(view.row(0), (1,))

    def test_row_slices_columns_and_column_slices_pickle_as_references(self):
        # they raised TypeError ("cannot pickle 'frost.MappedColumn' object"), so a
        # table could not be handed to workers in chunks or by column
        import pickle
        n = 10
        table = self.freeze(pa.table({"i": list(range(n)), "s": [str(k) for k in range(n)]})).root
        windows = [table[2:5], table[-3:], table[5:5], table[3:7][1:3], table["i"],
                   table["s"][::-1], table["i"][1:8:3], table[2:9]["s"][::2], table["i"][9:0:-4],
                   table["i"][::2**62][::4], table[3:7]["i"], table["s"][7:2:-2][1:]]
        for window in windows:
            with self.subTest(window=window):
                again = pickle.loads(pickle.dumps(window))
                self.assertIs(type(again), type(window))
                self.assertEqual(len(again), len(window))
                if isinstance(window, (frost.Table, frost.MappedTable)):
                    self.assertEqual(frost.thaw(again), frost.thaw(window))
                else:
                    self.assertEqual(again.tolist(), window.tolist())
                    self.assertEqual(again.name, window.name)
        whole = pickle.dumps(table)
        self.assertLess(len(pickle.dumps(table[1:3])), len(whole) + 200)   # a reference, no rows
        self.assertLess(len(pickle.dumps(table["s"][1:3])), len(whole) + 200)

    def test_exports_share_the_arena_and_never_the_source(self):
        t = pa.table({"i": pa.array(range(1000), pa.int64()), "s": pa.array([str(k) for k in range(1000)])})
        view = self.freeze(t).root
        first, second = pa.table(view), pa.table(view)
        for col in ("i", "s"):
            a = [b.address for b in first[col].chunk(0).buffers() if b is not None]
            b = [b.address for b in second[col].chunk(0).buffers() if b is not None]
            src = [b.address for b in t[col].chunk(0).buffers() if b is not None]
            self.assertEqual(a, b)                       # no copy on export
            self.assertFalse(set(a) & set(src))          # the freeze copied
            self.assertTrue(all(x % 64 == 0 for x in a))  # 64-byte aligned

    def test_consumer_outlives_close_and_views(self):
        base = live()
        store = self.freeze(pa.table({"a": [1, 2, 3], "s": ["x", None, "z"]}))
        back = pa.table(store.root)
        schema_cap = store.root.__arrow_c_schema__()
        stream_cap = store.root.__arrow_c_stream__()
        array_caps = store.root.__arrow_c_array__()
        store.close()
        del store
        self.assertEqual(live(), (base[0] + self.HELD, base[1] + self.HELD))
        self.assertEqual(back.to_pydict(), {"a": [1, 2, 3], "s": ["x", None, "z"]})
        del schema_cap, array_caps
        self.assertEqual(pa.RecordBatchReader._import_from_c_capsule(stream_cap).read_all().num_rows, 3)
        del stream_cap
        self.assertEqual(live(), (base[0] + self.HELD, base[1] + self.HELD))
        column = back["s"]
        del back
        self.assertEqual(column.to_pylist(), ["x", None, "z"])
        del column
        self.assertEqual(live(), base)

    def test_consumer_released_in_another_thread(self):
        base = live()
        store = self.freeze(pa.table({"a": list(range(100))}))
        holder = [pa.table(store.root)]
        store.close()
        del store
        t = threading.Thread(target=holder.clear)
        t.start()
        t.join()
        self.assertEqual(live(), base)

    def test_unconsumed_and_half_consumed_streams(self):
        base = live()
        store = self.freeze(pa.concat_tables([pa.table({"a": [1]}), pa.table({"a": [2]})]))
        caps = [store.root.__arrow_c_stream__() for _ in range(3)]
        reader = pa.RecordBatchReader._import_from_c_capsule(caps.pop())
        batch = reader.read_next_batch()
        store.close()
        del store, caps, reader
        self.assertEqual(batch.to_pydict(), {"a": [1]})
        del batch
        self.assertEqual(live(), base)


    def dictionaries(self, table):
        """Each dictionary column's dictionaries, chunk by chunk, and its type."""
        return {name: (col.type, [c.dictionary.to_pylist() for c in col.chunks])
                for name, col in zip(table.column_names, table.columns) if pa.types.is_dictionary(col.type)}

    def test_empty_chunks_keep_their_dictionaries(self):
        """pyarrow streams no chunk for a Table or RecordBatch of no rows, so the dictionary
        of a zero-row dictionary column (its categories) was lost, Table.equals still True;
        and the exported stream skipped empty chunks (one holding other categories)."""
        def dicts(values, indices=(), index_type=pa.int8(), ordered=False):
            return pa.DictionaryArray.from_arrays(pa.array(list(indices), index_type), pa.array(values),
                                                  ordered=ordered)
        schema = pa.schema([pa.field("d", pa.dictionary(pa.int8(), pa.string()), metadata={"f": "1"}),
                            ("o", pa.dictionary(pa.uint32(), pa.int64(), ordered=True)), ("x", pa.int64())],
                           metadata={"s": "2"})

        def table(*chunks):   # chunks: (d values, o values, n rows)
            return pa.Table.from_batches([pa.RecordBatch.from_arrays(
                [dicts(d, [0] * n), dicts(o, [0] * n, pa.uint32(), True), pa.array([7] * n, pa.int64())],
                schema=schema) for d, o, n in chunks], schema=schema)
        full = table((["a", "b"], [10, 20], 3))
        cases = {
            "zero rows": full.slice(0, 0),
            "zero rows, sliced at 2": full.slice(2, 0),
            "every chunk empty": table((["a", "b"], [1], 0), (["z"], [2, 3], 0)),
            "the first chunk empty": table((["y", "z"], [5], 0), (["a", "b"], [10, 20], 3)),
            "an empty chunk in the middle": table((["a"], [1], 2), (["m"], [9], 0), (["b"], [2], 1)),
            "the last chunk empty": table((["a"], [1], 2), (["q"], [4], 0)),
        }
        for name, t in cases.items():
            batches = [pa.RecordBatch.from_arrays([c.chunk(k) for c in t.columns], schema=schema)
                       for k in range(t.column(0).num_chunks)]   # every chunk, the empty ones too
            sources = {"table": t, "reader": pa.RecordBatchReader.from_batches(schema, batches)}
            if len(batches) == 1:
                sources["record batch"] = batches[0]
            for how, src in sources.items():
                want = t
                if how == "table" and name == "the last chunk empty":
                    # pyarrow's stream of a Table ends at its last row: no trailing empty chunk
                    want = pa.Table.from_batches(batches[:1])
                with self.subTest(name, source=how):
                    view = self.freeze(src).root
                    back = pa.table(view)
                    back.validate(full=True)
                    self.assertTrue(back.schema.equals(want.schema, check_metadata=True))
                    self.assertTrue(back.equals(want))
                    self.assertEqual(self.dictionaries(back), self.dictionaries(want))
                    if pd is not None:
                        got, expected = back.to_pandas(), want.to_pandas()
                        for col in ("d", "o"):
                            self.assertEqual(list(got[col].cat.categories), list(expected[col].cat.categories))
                            self.assertEqual(got[col].cat.ordered, expected[col].cat.ordered)
                    # the view, frozen again, and its zero-row windows keep them too
                    self.assertEqual(self.dictionaries(pa.table(frost.freeze(view).root)), self.dictionaries(back))
                    for k in range(len(view) + 1):
                        part = pa.table(view[k:k])
                        self.assertTrue(part.schema.equals(want.schema, check_metadata=True))
                        self.assertEqual(part.num_rows, 0)
                        self.assertGreaterEqual(part.column(0).num_chunks, 1)
                        column = pa.chunked_array(view["d"][k:k])
                        self.assertEqual(column.type, want.schema.field("d").type)
                        self.assertGreaterEqual(column.num_chunks, 1)

    @need_pandas
    def test_zero_row_pandas_categoricals_keep_their_categories(self):
        df = pd.DataFrame({"c": pd.Categorical(["x", "y"], categories=["y", "x", "w"], ordered=True),
                           "u": pd.Categorical(["p", "q"])}).iloc[:0]
        for frame in (df, df.iloc[:, :1]):
            with self.subTest(columns=list(frame.columns)):
                back = pa.table(self.freeze(frame).root).to_pandas()
                pd.testing.assert_frame_equal(back, frame)
                self.assertEqual(list(back["c"].cat.categories), ["y", "x", "w"])
                self.assertTrue(back["c"].cat.ordered)


@need_polars
class Polars(LeakCheckedTestCase):
    freeze = staticmethod(frost.freeze)
    TABLE = frost.Table

    def test_polars_reads_without_copying(self):
        t = pa.table({"i": pa.array(range(1000), pa.int64()), "f": pa.array([0.5] * 1000),
                      "s": pa.array(["x", None] * 500)})
        view = self.freeze(t).root
        address = pa.table(view)["i"].chunk(0).buffers()[1].address
        for df in (pl.DataFrame(view), pl.from_arrow(pa.table(view))):
            self.assertEqual(df["i"].to_numpy().ctypes.data, address)
            self.assertEqual(df.to_dict(as_series=False), t.to_pydict())

    def test_freezing_a_polars_frame(self):
        df = pl.DataFrame({"a": [1, 2, None], "s": ["x", "a longer string than twelve", None],
                           "c": pl.Series(["u", "v", "u"], dtype=pl.Categorical),
                           "l": [[1], [], None], "b": [True, None, False], "f": [0.5, None, 2.5]})
        view = self.freeze({"df": df}).root["df"]   # strings are views in polars: stored large
        self.assertEqual(frost.thaw(view), df.to_dict(as_series=False))
        back = pl.DataFrame(view)
        self.assertEqual(back.to_dict(as_series=False), df.to_dict(as_series=False))

    def test_polars_reads_tables_of_any_number_of_chunks(self):
        # polars.DataFrame(view) takes __arrow_c_array__ where there is one: it
        # failed ("span 2 chunks", "no chunks") for every table not in one chunk
        schema = pa.schema([("a", pa.int64())])
        two = pa.Table.from_batches([pa.record_batch({"a": [1, 2]}), pa.record_batch({"a": [3]})])
        for name, t in (("two chunks", two), ("no chunks", pa.Table.from_batches([], schema)),
                        ("one chunk", pa.table({"a": [1, 2, 3]}))):
            with self.subTest(name):
                store = self.freeze(t)
                for rows in (slice(None), slice(1, None), slice(0, 0)):
                    view = store.root[rows]
                    self.assertEqual(pl.DataFrame(view).to_dict(as_series=False),
                                     t[rows].to_pydict())
                del view
                store.close()

    def test_row_windows_of_fixed_size_lists_with_nulls(self):
        # polars (2.1) rejects a fixed-size list whose window is an offset and
        # that has a validity bitmap: polars.DataFrame(view[a:b]) panicked for
        # every window (a pyo3 PanicException: no Exception), the column's
        # slices were a ComputeError; the window now moves into the items
        items = [[1, 2], [3, 4], None, [7, 8], None, [11, 12], [13, 14], [15, 16], None, [19, 20]]
        fsl = pa.array(items, pa.list_(pa.int32(), 2))
        nested = pa.array([[[i, None], None] if i % 3 else None for i in range(10)],
                          pa.list_(pa.list_(pa.int16(), 2), 2))
        strs = pa.array([[f"s{i}", None, "x" * i] if i % 4 else None for i in range(10)],
                        pa.list_(pa.string(), 3))
        t = pa.table({"fl": fsl, "nested": nested, "strs": strs, "i": list(range(10))})
        chunked = pa.Table.from_batches(t.to_batches(max_chunksize=3))
        for name, source in (("one chunk", t), ("chunks of 3", chunked)):
            store = self.freeze(source)
            view = store.root
            for a in range(0, 10, 3):
                for b in (a, a + 1, a + 4, 10):
                    with self.subTest(name, rows=(a, b)):
                        want = t.slice(a, b - a).to_pydict()
                        got = pa.table(view[a:b])
                        got.validate(full=True)
                        self.assertEqual(got.to_pydict(), want)
                        self.assertEqual(pl.DataFrame(view[a:b]).to_dict(as_series=False), want)
                        for column in ("fl", "nested", "strs"):
                            self.assertEqual(pl.Series(view[column][a:b]).to_list(), want[column])
            del view
            store.close()

    def test_polars_object_columns_are_refused(self):
        # polars exports dtype Object as fixed_size_binary[8]: the objects'
        # addresses, no mark in the schema; they froze as data (docs/safety.md)
        df = pl.DataFrame({"o": pl.Series([object(), 1], dtype=pl.Object), "i": [1, 2]})
        for value, where in ((df, "root"), (df["o"], "root"), ({"k": [df]}, r"root\['k'\]\[0\]")):
            with self.assertRaisesRegex(frost.FreezeError, f"^{where}: cannot freeze .*Python objects "
                                        "\\(polars dtype Object"):
                self.freeze(value)
        view = self.freeze(df.select("i")).root
        self.assertEqual(pl.DataFrame(view).to_dict(as_series=False), {"i": [1, 2]})
        del view

    def test_polars_all_null_columns(self):
        # polars exports a null-type column with one (NULL) buffer, as older
        # Arrow writers did: FreezeError "1 buffers, the type has 0"
        df = pl.DataFrame({"a": [None, None], "b": [1, 2]})
        store = self.freeze({"df": df})
        view = store.root["df"]
        self.assertEqual(pa.table(view).schema.field("a").type, pa.null())
        self.assertTrue(pl.DataFrame(view).equals(df))
        self.assertEqual(frost.thaw(view), {"a": [None, None], "b": [1, 2]})
        del view
        store.close()

    def test_polars_frame_outlives_the_store(self):
        base = live()
        store = self.freeze(pa.table({"i": list(range(10))}))
        df = pl.DataFrame(store.root)
        store.close()
        del store
        self.assertEqual(df["i"].sum(), 45)
        del df
        self.assertEqual(live(), base)


@need_pandas
class Pandas(LeakCheckedTestCase):
    freeze = staticmethod(frost.freeze)
    TABLE = frost.Table

    def test_pandas_from_view(self):
        t = pa.table({"i": pa.array(range(10), pa.int64()), "s": pa.array([str(k) for k in range(10)])})
        view = self.freeze(t).root
        make = getattr(pd.DataFrame, "from_arrow", None)
        df = make(view) if make is not None else pa.table(view).to_pandas()
        self.assertEqual(df["i"].tolist(), list(range(10)))
        self.assertEqual(df["s"].tolist(), [str(k) for k in range(10)])

    def test_pandas_arrow_backed_frame_shares_and_outlives_the_store(self):
        base = live()
        store = self.freeze(pa.table({"i": pa.array(range(10), pa.int64())}))
        address = pa.table(store.root)["i"].chunk(0).buffers()[1].address
        df = pa.table(store.root).to_pandas(types_mapper=pd.ArrowDtype)
        self.assertEqual(pa.array(df["i"].array).buffers()[1].address, address)
        numpy_backed = pa.table(store.root).to_pandas(split_blocks=True)
        self.assertEqual(numpy_backed["i"].to_numpy().ctypes.data, address)
        store.close()
        del store
        self.assertEqual(int(df["i"].sum()), 45)
        self.assertEqual(int(numpy_backed["i"].sum()), 45)
        del df, numpy_backed
        gc.collect()
        self.assertEqual(live(), base)

    def test_freezing_a_pandas_frame_makes_a_table(self):
        df = pd.DataFrame({"i": [1, 2, 3], "s": ["a", "b", None]})
        view = self.freeze(df).root
        self.assertIsInstance(view, self.TABLE)
        self.assertEqual(view["i"].tolist(), [1, 2, 3])
        self.assertEqual(view["s"].tolist(), ["a", "b", None])



class Mapped:
    """Mixin: the same tests on the table in a format-2 image (frost.share), read in place."""
    freeze = staticmethod(frost.share)
    TABLE = frost.MappedTable
    HELD = 0   # the image's pin is no arena: nothing counted, the mapping stays


class RoundTripMapped(Mapped, RoundTrip):
    pass


class PolarsMapped(Mapped, Polars):
    pass


class PandasMapped(Mapped, Pandas):
    pass


@need_pyarrow
class Unsupported(LeakCheckedTestCase):
    def test_unsupported_types_name_the_column_and_type(self):
        cases = {
            "union": pa.UnionArray.from_sparse(pa.array([0], pa.int8()), [pa.array([1]), pa.array(["a"])]),
            "run_end_encoded": pa.RunEndEncodedArray.from_arrays([1], [5]),
        }
        for type_name, arr in cases.items():
            with self.subTest(type_name):
                with self.assertRaisesRegex(frost.FreezeError, rf"root\['t'\]: .*column 'bad' of type "
                                                               rf"{type_name}"):
                    frost.freeze({"t": pa.table({"ok": [1], "bad": arr})})

    def test_nested_unsupported_type_names_the_path(self):
        union = pa.UnionArray.from_sparse(pa.array([0], pa.int8()), [pa.array([1]), pa.array(["a"])])
        arr = pa.StructArray.from_arrays([union], ["x"])
        with self.assertRaisesRegex(frost.FreezeError, r"column 'st\.x' of type union"):
            frost.freeze(pa.table({"st": arr}))

    def test_string_and_binary_views_are_stored_as_large_types(self):
        long = "a string longer than twelve bytes"
        t = pa.table({"v": pa.array(["short", None, long, "", "ü" * 20], pa.string_view()),
                      "b": pa.array([b"1", b"22" * 10, None, b"", b"z"], pa.binary_view())})
        for part in (t, t.slice(1, 3), pa.concat_tables([t, t.slice(2)])):
            view = frost.freeze(part).root
            self.assertEqual(view.schema, (("v", "large_string", True), ("b", "large_binary", True)))
            self.assertEqual(frost.thaw(view), part.to_pydict())
            back = pa.table(view)
            back.validate(full=True)
            self.assertEqual(back.to_pydict(), part.to_pydict())

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_running_out_of_memory_is_a_memory_error(self):
        """A table whose copy the arena cannot hold: MemoryError. FROST_ENOMEM is -1, which the
        builder also returned for bad input, so it was a FreezeError with an empty message.
        In a child process whose address space is capped (not under ASan, which reserves
        terabytes of it)."""
        if "asan" in os.environ.get("LD_PRELOAD", ""):
            self.skipTest("RLIMIT_AS cannot cap a process under ASan")
        script = textwrap.dedent("""
            import resource, sys
            import numpy as np, pyarrow as pa
            import frost
            t = pa.table({"x": np.arange(16 << 20)})   # 128 MiB
            size = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1])
            cap = size * 1024 + (32 << 20)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            try:
                frost.freeze(t)
            except MemoryError:
                print("MemoryError")
            except frost.FreezeError as e:
                print("FreezeError", e)
        """)
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertEqual(r.stdout.strip(), "MemoryError")

    def test_stream_failing_half_way(self):
        def batches():
            yield pa.record_batch({"x": [1, 2]})
            yield pa.record_batch({"x": [3]})
            raise ValueError("the source broke")
        reader = pa.RecordBatchReader.from_batches(pa.schema({"x": pa.int64()}), batches())
        with self.assertRaisesRegex(frost.FreezeError, "failed after 2 chunks.*the source broke"):
            frost.freeze({"r": reader})

    def test_ctrl_c_in_a_reader_generator_is_a_keyboard_interrupt(self):
        """pyarrow turns an exception in a reader's generator into an Arrow error
        with the traceback as text: a KeyboardInterrupt there (Ctrl-C while the
        generator runs) is a KeyboardInterrupt from freeze, not a FreezeError; an
        exception whose message merely names it stays a FreezeError."""
        def batches(stop):
            for i in range(10**6):
                if stop(i):
                    raise KeyboardInterrupt
                yield pa.record_batch({"x": [i]})

        def signal_soon(i):
            if i == 2:
                os.kill(os.getpid(), signal.SIGINT)   # the handler runs in the generator
            return False

        for stop in (lambda i: i == 3, signal_soon):
            reader = pa.RecordBatchReader.from_batches(pa.schema({"x": pa.int64()}), batches(stop))
            with self.assertRaises(KeyboardInterrupt):
                frost.freeze({"r": reader})

        def named():
            yield pa.record_batch({"x": [1]})
            raise ValueError("not a KeyboardInterrupt")
        reader = pa.RecordBatchReader.from_batches(pa.schema({"x": pa.int64()}), named())
        with self.assertRaisesRegex(frost.FreezeError, "not a KeyboardInterrupt"):
            frost.freeze({"r": reader})

    def test_exporter_raising(self):
        class Bad:
            def __arrow_c_stream__(self, requested_schema=None):
                raise RuntimeError("no stream today")
        with self.assertRaisesRegex(RuntimeError, "no stream today") as cm:
            frost.freeze({"b": Bad()})
        self.assertIn("root['b']", " ".join(getattr(cm.exception, "__notes__", [])))

    def test_a_class_that_gains_the_arrow_interface_is_frozen_as_a_table(self):
        # freeze asks once per class whether its objects export Arrow data
        # (class_info): a class given __arrow_c_stream__ later, even in the middle
        # of a freeze, is asked again (its type was modified)
        import dataclasses
        table = pa.table({"x": [1, 2, 3]})

        def stream(self, requested_schema=None):
            return table.__arrow_c_stream__(requested_schema)

        @dataclasses.dataclass
        class Row:
            x: object

        with frost.freeze([Row(1)]) as store:
            self.assertEqual(store.root[0].x, 1)
        Row.__arrow_c_stream__ = stream
        with frost.freeze([Row(1)]) as store:
            self.assertIsInstance(store.root[0], frost.Table)
            self.assertTrue(pa.table(store.root[0]).equals(table))
        del Row.__arrow_c_stream__

        @dataclasses.dataclass
        class Gains:
            y: int

            def __getattribute__(self, name):
                if name == "y":   # read by the freeze, between the two Rows
                    Row.__arrow_c_stream__ = stream
                return object.__getattribute__(self, name)

        try:
            with frost.freeze([Row(1), Gains(5), Row(2)]) as store:
                self.assertIn("__arrow_c_stream__", vars(Row))
                self.assertEqual(store.root[0].x, 1)
                self.assertEqual(store.root[1].y, 5)
                self.assertIsInstance(store.root[2], frost.Table)
                self.assertTrue(pa.table(store.root[2]).equals(table))
        finally:
            del Row.__arrow_c_stream__

    def test_exporter_returning_junk(self):
        class Junk:
            def __arrow_c_stream__(self, requested_schema=None):
                return 42

        class JunkArray:
            def __arrow_c_array__(self, requested_schema=None):
                return (1, 2, 3)
        with self.assertRaisesRegex(frost.FreezeError, "did not return a 'arrow_array_stream' capsule"):
            frost.freeze(Junk())
        with self.assertRaisesRegex(frost.FreezeError, r"\(schema, array\) pair"):
            frost.freeze(JunkArray())


# ---------------------------------------------------------------------------
# hostile capsules built with ctypes


class ArrowSchema(ctypes.Structure):
    pass


class ArrowArray(ctypes.Structure):
    pass


SCHEMA_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowSchema))
ARRAY_RELEASE = ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArray))
ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_void_p),
    ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
    ("dictionary", ctypes.POINTER(ArrowSchema)), ("release", SCHEMA_RELEASE),
    ("private_data", ctypes.c_void_p)]
ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
    ("dictionary", ctypes.POINTER(ArrowArray)), ("release", ARRAY_RELEASE),
    ("private_data", ctypes.c_void_p)]

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class Producer:
    """A hand-made exporter of one array (ctypes structs that may lie).

    Each struct's release callback counts its calls, so tests check that
    frost releases every struct exactly once."""

    def __init__(self, fmt, length, buffers, null_count=0, offset=0, children=(), dictionary=None,
                 name=b"col", n_buffers=None):
        self.released = []
        self.keep = []
        self.schema, self.array = self._make(fmt, length, buffers, null_count, offset, children,
                                             dictionary, name, n_buffers)

    def _make(self, fmt, length, buffers, null_count, offset, children, dictionary, name, n_buffers):
        tag = len(self.released)   # this struct pair's release counters: [tag], [tag + 1]
        self.released += [0, 0]
        bufs = []
        for b in buffers:
            if b is None:
                bufs.append(None)
            else:
                raw = ctypes.create_string_buffer(bytes(b), max(len(b), 1))
                self.keep.append(raw)
                bufs.append(ctypes.addressof(raw))
        buf_array = (ctypes.c_void_p * max(len(bufs), 1))(*bufs)
        self.keep.append(buf_array)
        schema = ArrowSchema(format=fmt, name=name, flags=2)
        array = ArrowArray(length=length, null_count=null_count, offset=offset,
                           n_buffers=len(bufs) if n_buffers is None else n_buffers,
                           buffers=ctypes.cast(buf_array, ctypes.POINTER(ctypes.c_void_p)))
        kids = [self._make(*c) if isinstance(c, tuple) else (c.schema, c.array) for c in children]
        if kids:
            sch_ptrs = (ctypes.POINTER(ArrowSchema) * len(kids))(*[ctypes.pointer(k[0]) for k in kids])
            arr_ptrs = (ctypes.POINTER(ArrowArray) * len(kids))(*[ctypes.pointer(k[1]) for k in kids])
            self.keep += [sch_ptrs, arr_ptrs]
            schema.n_children = array.n_children = len(kids)
            schema.children = sch_ptrs
            array.children = arr_ptrs
        if dictionary is not None:
            schema.dictionary = ctypes.pointer(dictionary.schema)
            array.dictionary = ctypes.pointer(dictionary.array)

        def release_schema(p, tag=tag):
            self.released[tag] += 1
            p.contents.release = SCHEMA_RELEASE()

        def release_array(p, tag=tag + 1):
            self.released[tag] += 1
            p.contents.release = ARRAY_RELEASE()
        schema.release = SCHEMA_RELEASE(release_schema)
        array.release = ARRAY_RELEASE(release_array)
        self.keep += [schema.release, array.release, schema, array]
        return schema, array

    def __arrow_c_array__(self, requested_schema=None):
        return (_capsule_new(ctypes.addressof(self.schema), b"arrow_schema", None),
                _capsule_new(ctypes.addressof(self.array), b"arrow_array", None))


def offsets32(*values):
    return b"".join(int(v).to_bytes(4, "little", signed=True) for v in values)


def int64s(*values):
    return b"".join(int(v).to_bytes(8, "little", signed=True) for v in values)


class HostileCapsules(LeakCheckedTestCase):
    def freeze_fails(self, producer, pattern):
        with self.assertRaisesRegex(frost.FreezeError, pattern):
            frost.freeze({"t": producer})
        # frost moved both top-level structs out and released each once (children are theirs)
        self.assertEqual(producer.released[:2], [1, 1])
        return producer

    def test_a_good_hand_made_array(self):
        p = Producer(b"u", 3, [None, offsets32(0, 1, 1, 4), b"abcd"])
        view = frost.freeze(p).root
        self.assertEqual(view[0].tolist(), ["a", "", "bcd"])
        self.assertEqual(p.released[:2], [1, 1])

    def test_good_array_with_offset_and_nulls(self):
        p = Producer(b"l", 2, [bytes([0b110]), int64s(9, 8, 7)], null_count=0, offset=1)
        self.assertEqual(frost.freeze(p).root[0].tolist(), [8, 7])
        p = Producer(b"l", 3, [bytes([0b101]), int64s(9, 8, 7)], null_count=-1)
        self.assertEqual(frost.freeze(p).root[0].tolist(), [9, None, 7])

    def test_lies(self):
        cases = [
            ("negative length", Producer(b"l", -1, [None, int64s(1)]), "bad length"),
            ("negative offset", Producer(b"l", 1, [None, int64s(1)], offset=-3), "bad length"),
            ("huge length", Producer(b"l", 2**62, [None, int64s(1)]), "bad length"),
            ("offsets decrease", Producer(b"u", 2, [None, offsets32(0, 5, 3), b"abcde"]),
             r"column 'col' of type string \('u'\): offsets decrease at slot 1"),
            ("invalid UTF-8", Producer(b"u", 2, [None, offsets32(0, 1, 2), "é".encode()]),
             "value 0 is not valid UTF-8"),
            ("surrogate in UTF-8", Producer(b"U", 1, [None, int64s(0, 3), b"\xed\xa0\x80"]),
             "value 0 is not valid UTF-8"),
            ("overlong UTF-8", Producer(b"u", 1, [None, offsets32(0, 2), b"\xc0\xaf"]),
             "value 0 is not valid UTF-8"),
            ("negative first offset", Producer(b"u", 1, [None, offsets32(-2, 1), b"ab"]),
             "negative or decreasing"),
            ("negative last offset", Producer(b"u", 1, [None, offsets32(0, -1), b"ab"]),
             "negative or decreasing"),
            ("offsets past the data (unmapped)", Producer(b"u", 2, [None, offsets32(0, 1, 2**31 - 1), b"ab"]),
             "not readable"),
            ("nulls without a bitmap", Producer(b"l", 2, [None, int64s(1, 2)], null_count=1),
             "null_count 1 but no validity bitmap"),
            ("missing values buffer", Producer(b"l", 2, [None, None]), "buffer 1 is NULL"),
            ("too few buffers", Producer(b"u", 1, [None, offsets32(0, 1)]), "2 buffers, the type has 3"),
            ("too many buffers", Producer(b"l", 1, [None, int64s(1), int64s(1)]), "3 buffers, the type has 2"),
            ("no buffers pointer", Producer(b"l", 1, [None, int64s(1)], n_buffers=5), "5 buffers"),
            ("unsupported format", Producer(b"+ud:0", 1, [None]), "type union.*cannot store"),
            ("garbage format", Producer(b"\x01zz", 1, [None]), "cannot store"),
            ("bad decimal", Producer(b"d:5,2,99", 1, [None, b"\0" * 16]), "cannot store"),
            ("bad fixed width", Producer(b"w:", 1, [None, b"a"]), "cannot store"),
            ("time zone not UTF-8", Producer(b"tsu:UT\xc3", 1, [None, int64s(1)]), "timestamp.*cannot store"),
            ("dictionary index out of range",
             Producer(b"c", 2, [None, bytes([0, 7])], dictionary=Producer(b"u", 2, [None, offsets32(0, 1, 2), b"xy"])),
             "dictionary index 7 at slot 1 is outside the dictionary of 2 values"),
            ("negative dictionary index",
             Producer(b"c", 1, [None, bytes([255])], dictionary=Producer(b"u", 1, [None, offsets32(0, 1), b"x"])),
             "dictionary index -1"),
            ("dictionary of floats", Producer(b"g", 1, [None, int64s(0)],
                                              dictionary=Producer(b"u", 1, [None, offsets32(0, 1), b"x"])),
             "dictionary indices must be integers"),
            ("list child too short",
             Producer(b"+l", 1, [None, offsets32(0, 3)], children=[(b"l", 2, [None, int64s(1, 2)], 0, 0, (), None, b"item", None)]),
             r"column 'col\.item' of type int64 \('l'\): 2 items, 3 needed"),
            ("struct child too short",
             Producer(b"+s", 3, [None], children=[(b"l", 2, [None, int64s(1, 2)], 0, 0, (), None, b"x", None)]),
             r"column 'x' of type int64 \('l'\): 2 items, 3 needed"),
            ("fixed list child too short",
             Producer(b"+w:2", 2, [None], children=[(b"l", 3, [None, int64s(1, 2, 3)], 0, 0, (), None, b"item", None)]),
             r"column 'col\.item' of type int64 \('l'\): 3 items, 4 needed"),
            ("list without child", Producer(b"+l", 1, [None, offsets32(0, 0)]), "children"),
            ("map of non-struct",
             Producer(b"+m", 1, [None, offsets32(0, 1)], children=[(b"l", 1, [None, int64s(1)], 0, 0, (), None, b"e", None)]),
             "a map's child must be a struct"),
        ]
        for name, producer, pattern in cases:
            with self.subTest(name):
                self.freeze_fails(producer, pattern)

    def test_lying_string_views(self):
        def view(length, index=0, start=0, inline=b""):
            if length <= 12:
                return length.to_bytes(4, "little") + inline.ljust(12, b"\0")
            return (length.to_bytes(4, "little") + b"abcd" + index.to_bytes(4, "little", signed=True)
                    + start.to_bytes(4, "little", signed=True))
        data = b"x" * 40
        sizes = int64s(40)
        ok = Producer(b"vu", 2, [None, view(3, inline=b"abc") + view(20, 0, 10), data, sizes])
        self.assertEqual(frost.freeze(ok).root[0].tolist(), ["abc", "x" * 20])
        cases = [
            ("past the data", [None, view(20, 0, 30), data, sizes], "points outside the data"),
            ("negative length", [None, view(2**32 - 5), data, sizes], "points outside the data"),
            ("bad buffer index", [None, view(20, 3, 0), data, sizes], "points outside the data"),
            ("negative start", [None, view(20, 0, -1), data, sizes], "points outside the data"),
            ("no sizes buffer", [None, view(3, inline=b"abc")], "buffers"),
            ("negative size", [None, view(3, inline=b"abc"), data, int64s(-1)], "variadic data buffer 0"),
            ("unmapped data", [None, view(20, 0, 0), None, int64s(2**40)], "variadic data buffer 0"),
        ]
        for name, buffers, pattern in cases:
            with self.subTest(name):
                self.freeze_fails(Producer(b"vu", 1, buffers), pattern)

    def test_released_structs_are_refused(self):
        p = Producer(b"l", 1, [None, int64s(1)])
        p.array.release = ARRAY_RELEASE()
        with self.assertRaisesRegex(frost.FreezeError, "released"):
            frost.freeze(p)
        self.assertEqual(p.released[:2], [0, 0])   # nothing to release: it was never taken

    def test_nested_children_released_only_through_the_parent(self):
        child = (b"l", 2, [None, int64s(1, 2)], 0, 0, (), None, b"item", None)
        p = Producer(b"+l", 1, [None, offsets32(0, 2)], children=[child])
        self.assertEqual(frost.freeze(p).root[0].tolist(), [[1, 2]])
        self.assertEqual(p.released, [1, 1, 0, 0])   # frost released the parents; they own the rest

    def test_children_handed_in_several_places_count_in_each(self):
        """A producer may hand one child struct in several places (a DAG: 2 children per level,
        both the same): the builder walks the schema as a tree, which made 2^25 fields of 25
        levels (memory and time without bound). Past FROST_COL_MAX_FIELDS fields in all it is
        refused. In a child process capped in time and address space: it ran out of both before."""
        script = textwrap.dedent("""
            import resource, sys
            sys.path.insert(0, sys.argv[1])
            import frost
            from test_tables import Producer, int64s
            p = Producer(b"l", 1, [None, int64s(7)], name=b"x")
            for level in range(25):
                p = Producer(b"+s", 1, [None], children=[p, p], name=b"s%d" % level)
            if "asan" not in sys.argv[2]:   # ASan reserves terabytes of address space
                size = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1])
                cap = size * 1024 + (2 << 30)
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            try:
                frost.freeze(p)
            except frost.FreezeError as e:
                print(e)
        """)
        r = subprocess.run([sys.executable, "-c", script, os.path.dirname(os.path.abspath(__file__)),
                            os.environ.get("LD_PRELOAD", "")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("more than 1048576 fields in all", r.stdout)

    def test_hypothesis_offsets_and_lengths(self):
        try:
            from hypothesis import given, settings, strategies as st
        except ImportError:
            self.skipTest("hypothesis is not installed")
        data = bytes(range(64))

        @settings(max_examples=300, deadline=None)
        @given(st.lists(st.integers(-3, 64), min_size=1, max_size=12), st.integers(0, 12), st.integers(0, 12),
               st.booleans(), st.integers(-1, 4))
        def check(offs, length, offset, large, null_count):
            # the offsets buffer always covers offset + length + 1 entries (zeros after the
            # drawn ones): a buffer shorter than its array says is a lie the C data interface
            # cannot reveal (it carries no sizes), so it is not what this test draws
            offs = offs + [0] * (26 - len(offs))
            fmt = b"Z" if large else b"z"
            raw = b"".join(o.to_bytes(8 if large else 4, "little", signed=True) for o in offs)
            p = Producer(fmt, length, [None, raw, data], null_count=null_count, offset=offset)
            window = offs[offset:offset + length + 1]
            valid = (null_count <= 0 and window[0] >= 0
                     and all(a <= b for a, b in zip(window, window[1:])))
            try:
                view = frost.freeze(p).root
            except frost.FreezeError:
                self.assertFalse(valid, (offs, length, offset))
                return
            self.assertTrue(valid, (offs, length, offset))
            self.assertEqual(view[0].tolist(), [data[a:b] for a, b in zip(window, window[1:])])
        check()


# ---------------------------------------------------------------------------
# subinterpreters: plain access where pyarrow cannot load

SUBINTERP_CODE = """
import frost
from frost import _frost
view = frost.published("tables-test").root["t"]
assert len(view) == 3, len(view)
assert view.column_names == ("a", "s"), view.column_names
assert view["a"].tolist() == [1, None, 3]
assert view.row(1) == (None, "y")
assert view[1:].row(0) == (None, "y")
assert frost.thaw(view) == {"a": [1, None, 3], "s": ["x", "y", None]}
assert view.schema == (("a", "int64", True), ("s", "string", True))
cap = view.__arrow_c_stream__()
del cap
"""


@need_pyarrow
@unittest.skipUnless(_interp_compat.AVAILABLE, "no subinterpreter API on this Python")
class Subinterpreter(LeakCheckedTestCase):
    def test_table_views_cross_to_pool_workers_by_reference(self):
        import tablework
        t = pa.table({"a": [1, None, 3], "s": ["x", "y", None]})
        store = frost.freeze({"t": t})
        with frost.Pool(2) as pool:
            got = pool.submit(tablework.describe, store.root["t"]).result(timeout=120)
            self.assertEqual(got, {"len": 3, "columns": ("a", "s"),
                                   "schema": (("a", "int64", True), ("s", "string", True)),
                                   "first": (1, "x"), "tail": (None, "y"), "column": [1, None, 3]})
            self.assertEqual(pool.submit(tablework.thaw_in_worker, store.root["t"]).result(timeout=120),
                             t.to_pydict())
            self.assertEqual(list(pool.map(tablework.sum_column, [store.root["t"]] * 4, ["a"] * 4)), [4] * 4)
        store.close()

    def test_mapped_table_views_reach_pool_workers_by_handle(self):
        import tablework
        t = pa.table({"a": [1, None, 3], "s": ["x", "y", None]})
        with frost.share({"t": t}) as store, frost.Pool(2) as pool:
            view = store.root["t"]
            got = pool.submit(tablework.describe, view).result(timeout=120)
            self.assertEqual(got["first"], (1, "x"))
            self.assertEqual(got["tail"], (None, "y"))
            self.assertEqual(pool.submit(tablework.thaw_in_worker, view).result(timeout=120),
                             t.to_pydict())
            self.assertEqual(list(pool.map(tablework.sum_column, [view] * 4, ["a"] * 4)), [4] * 4)

    def test_row_slices_and_columns_reach_pool_workers(self):
        import tablework
        t = pa.table({"a": list(range(10)), "s": [str(k) for k in range(10)]})
        for make in (frost.freeze, frost.share):
            with self.subTest(make=make.__name__), make({"t": t}) as store, frost.Pool(2) as pool:
                view = store.root["t"]
                chunks = [view[k:k + 4] for k in range(0, 10, 4)]
                self.assertEqual([r["a"] for r in pool.map(tablework.thaw_in_worker, chunks)],
                                 [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
                self.assertEqual(pool.submit(tablework.echo_list, view["s"][::-3])
                                 .result(timeout=120), ["9", "6", "3", "0"])
                self.assertEqual(pool.submit(tablework.echo_list, view[2:6]["a"])
                                 .result(timeout=120), [2, 3, 4, 5])

    def test_a_class_saying_it_is_pyarrows_or_pandas_freezes_in_a_worker(self):
        # a stream of no chunks with a dictionary column asks frost._tables for a
        # stand-in when the class's __module__ names pyarrow or pandas: in a worker,
        # where neither can load, that was an ImportError instead of the empty table
        import tablework
        schema = pa.schema([("c", pa.dictionary(pa.int8(), pa.string()))])

        class NoChunks:
            def __arrow_c_stream__(self, requested_schema=None):
                return pa.RecordBatchReader.from_batches(schema, []).__arrow_c_stream__()

        store = frost.freeze(NoChunks())
        self.assertEqual(len(list(pa.RecordBatchReader.from_stream(store.root))), 0)
        with frost.Pool(1) as pool:
            for module in ("pyarrow.lib", "pandas.core.frame", "mine"):
                with self.subTest(module=module):
                    got = pool.submit(tablework.freeze_as_if_from, store.root, module).result(timeout=120)
                    self.assertEqual(got, ("Table", 0, ("c",)))
        store.close()

    def test_plain_access_in_a_subinterpreter(self):
        store = frost.freeze({"t": pa.table({"a": [1, None, 3], "s": ["x", "y", None]})})
        frost.publish("tables-test", store)
        try:
            _interp_compat.run(SUBINTERP_CODE)
        finally:
            frost.unpublish("tables-test")


if __name__ == "__main__":
    unittest.main()
