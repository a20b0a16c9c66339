"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

    PYTHONPATH=build/dev-py3.13/python python tests/fuzz/make_corpus.py

snapshot_load: Store.save() of a few small stores (each type once, sharing,
a cycle, a record, an array). freeze_graph: hand-written programs in the
bytecode of freeze_graph.cc (sharing, cycles, every leaf op) plus a few
seeded random ones. Deterministic; keep the corpus small (< 200 KB).
"""
import array
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import frost  # noqa: E402
import fuzzgraph  # noqa: E402


def snapshots(out):
    shared = [1, 2]
    cyc = [0]
    cyc.append(cyc)
    stores = {
        "empty_dict": {},
        "scalars": [0, -1, 2**70, 1.5, float("nan"), -0.0, "é☃😀", b"\x00b", None, True, 1j],
        "nested": {"a": (1, "x", (2.5,)), "b": {"c": [None, False]}, "s": {1, 2}, "f": frozenset("ab")},
        "shared_cycle": {"x": shared, "y": (shared, shared), "c": cyc},
        "record": fuzzgraph.FPoint([1], fuzzgraph.FPair("l", {"k": 3})),
        "buffers": [bytearray(b"ab"), array.array("d", [1.0, 2.0]), [1, 2, 3], [0.5, 1.5]],
        "graph7": fuzzgraph.graph(7),
    }
    try:   # a table node (store/frost_columns.h), when pyarrow is there to make one
        import pyarrow as pa
        stores["table"] = {"t": pa.table({
            "i": pa.array([1, None, 3], pa.int32()), "s": ["a", None, "ünï"], "b": [True, None, False],
            "d": pa.array(["x", "y", "x"]).dictionary_encode(), "l": [[1], [], None],
            "st": [{"k": 1}, None, {"k": 3}], "m": pa.array([[("a", 1)], [], None], pa.map_(pa.string(), pa.int64())),
            "fl": pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int8(), 2))})}
    except ImportError:
        pass
    for name, value in stores.items():
        frost.freeze(value).save(os.path.join(out, name + ".frost"))


def programs(out):
    P = {   # op, k, payload...: see freeze_graph.cc
        "leaves": [0, 0, *b"\x01\x02\x03\x04\x05\x06\x07\x08", 1, 0, *b"\x3f\xf8\0\0\0\0\0\0",
                   2, 0, 2, 1, 2, 2, 3, 1, 4, *b"\xed\xa0\x80a", 4, 0, 3, *b"xyz", 5, 0, 5, 1, 7, 8],
        "shared_list": [0, 0, *b"12345678", 7, 1, 10, 0, 0, 10, 0, 6, 3],
        "list_cycle": [7, 0, 0, 0, *b"abcdefgh", 11, 0, 1, 10, 0, 1, 7, 2],
        "tuple_cycle": [7, 0, 10, 0, 0, 6, 1, 11, 0, 1],
        "dict_set": [3, 0, 1, *b"k", 0, 0, *b"\0\0\0\0\0\0\0\x05", 8, 2, 0, 0, *b"\0" * 8,
                     0, 0, *b"\0" * 7 + b"\x01", 9, 2, 7, 2],
        "nan_key": [2, 0, 5, 0, 8, 2, 2, 0, 9, 1, 7, 2],
    }
    for name, prog in P.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes(prog))
    r = random.Random(5)
    for i in range(8):
        with open(os.path.join(out, f"random{i}"), "wb") as f:
            f.write(bytes(r.randrange(256) for _ in range(r.randrange(16, 400))))


if __name__ == "__main__":
    for target, fn in (("snapshot_load", snapshots), ("freeze_graph", programs)):
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        fn(d)
