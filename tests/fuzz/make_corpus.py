"""Write the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

    PYTHONPATH=build/dev-py3.13/python python tests/fuzz/make_corpus.py [TARGET...]

snapshot_load: Store.save() of a few small stores (each type once, sharing,
a cycle, a record, an array). freeze_graph: hand-written programs in the
bytecode of freeze_graph.cc (sharing, cycles, every leaf op) plus a few
seeded random ones. map_read: format-2 images made byte by byte
(tests/python/mapcraft.py: every reference tag and node kind, sharing, a cycle,
a tuple DAG) and, when this build writes format 2, Store.save(format=2) of the
snapshot_load stores (those hold a random hash key and store id, so they differ
between runs; the mapcraft ones don't). Keep the corpus small (< 200 KB).
"""
import array
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import frost  # noqa: E402
import fuzzgraph  # noqa: E402
import mapcraft  # noqa: E402


def snapshot_stores():
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
    return stores


def table_stores():
    """A table node (store/frost_columns.h), when pyarrow is there to make one."""
    try:
        import pyarrow as pa
    except ImportError:
        return {}
    return {"table": {"t": pa.table({
        "i": pa.array([1, None, 3], pa.int32()), "s": ["a", None, "ünï"], "b": [True, None, False],
        "d": pa.array(["x", "y", "x"]).dictionary_encode(), "l": [[1], [], None],
        "st": [{"k": 1}, None, {"k": 3}], "m": pa.array([[("a", 1)], [], None], pa.map_(pa.string(), pa.int64())),
        "fl": pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int8(), 2))})}}


def snapshots(out):
    stores = {**snapshot_stores(), **table_stores()}
    for name, value in stores.items():
        frost.freeze(value).save(os.path.join(out, name + ".frost"), format=1)


def map_images(out):
    def img(name, build):
        im = mapcraft.Image()
        with open(os.path.join(out, name + ".map"), "wb") as f:
            f.write(im.finish(build(im)))

    img("root_int", lambda im: im.int(-5))
    img("root_str", lambda im: im.str("a root string"))
    img("leaves", lambda im: im.list([
        im.special(mapcraft.NONE), im.special(mapcraft.FALSE), im.special(mapcraft.TRUE),
        im.special(mapcraft.ELLIPSIS), im.special(mapcraft.EMPTY_TUPLE),
        im.int(0), im.int(-1), im.int((1 << 59) - 1), im.int(-(1 << 59)),
        mapcraft.FLOAT_INLINE | (0x3FF8 << 48), im.float(0.1), im.float(float("nan")),
        im.raw(struct_pack("<dd", 1.5, -2.0)) // 8 << 4 | mapcraft.COMPLEX,
        im.bigint(2**70), im.bigint(-2**100),
        im.inline(b""), im.inline(b"abc"), im.inline(b"1234567", mapcraft.BYTES_INLINE),
        im.str("\u00e9\u2603\U0001f600 \ud800"), im.bytes(b"\x00\xff" * 9)]))
    img("typed_lists", lambda im: im.list([
        im.list([1, -2, 3], mapcraft.LIST_INT64), im.list([0.5, -1.5], mapcraft.LIST_FLOAT64),
        im.list([])]))

    def w1(im):
        return im.dict([(f"key{i:07d}", im.str(f"key{i:07d}"),
                         im.tuple([im.int(i), im.float(i * 0.5), im.str(f"val{i}")]))
                        for i in range(12)])
    img("w1_small", w1)

    def keys(im):
        ks = [None, True, 2, 2.5, "s", b"b", (1, "t"), 2**70, 1j, ""]
        refs = [im.special(mapcraft.NONE), im.special(mapcraft.TRUE), im.int(2), im.float(2.5),
                im.str("s"), im.bytes(b"b"), im.tuple([im.int(1), im.str("t")]), im.bigint(2**70),
                im.raw(struct_pack("<dd", 0.0, 1.0)) // 8 << 4 | mapcraft.COMPLEX, im.inline(b"")]
        return im.list([im.set(list(zip(ks, refs)), flags=1),
                        im.dict([(k, r, im.int(i)) for i, (k, r) in enumerate(zip(ks, refs))])])
    img("keys", keys)

    def shared_cycle(im):
        inner = im.list([im.int(1), im.int(2)])
        # a list that holds itself: written by hand (its own offset is known only now)
        off = im.align()
        me = im.node_ref(off)
        im.words(mapcraft.head(mapcraft.K_LIST, 0, 3), inner, inner, me)
        im.nnodes += 1
        return im.dict([("x", im.str("x"), inner), ("c", im.str("c"), me)])
    img("shared_cycle", shared_cycle)

    def tuple_dag(im):
        t = im.tuple([im.int(7)])
        for _ in range(5):
            t = im.tuple([t, t])
        return im.list([t])
    img("tuple_dag", tuple_dag)

    def record(im):
        state = im.dict([("x", im.str("x"), im.int(1)), ("y", im.str("y"), im.str("two"))])
        return im.list([im.record(im.str("fuzzgraph"), im.str("FPoint"), state, 0),
                        im.record(im.str("nowhere"), im.str("Shared"), im.list([im.int(3)]), 2)])
    img("record", record)
    img("array", lambda im: im.list([
        im.array("d", 8, struct_pack("<3d", 1.0, 2.0, 3.0), [3]),
        im.array("i", 4, bytes(24), [2, 3], origin=0), im.array("B", 1, b"", [0])]))

    for name, value in {**snapshot_stores(), **table_stores()}.items():   # the real writer
        frost.freeze(value).save(os.path.join(out, name + ".frost2"), format=2)
    for name, value in table_stores().items():   # a COLUMNS node made by hand around a real blob
        blob = frost._frost._table_blob(frost.freeze(value).root["t"])
        img(name + "_crafted", lambda im: im.dict([("t", im.str("t"), im.columns(blob))]))
    # an image as frost.share writes it: flagged, no body checksum
    with open(os.path.join(out, "w1_small_no_body_checksum.map"), "wb") as f:
        im = mapcraft.Image()
        f.write(im.finish(w1(im), flags=mapcraft.FLAG_NO_BODY_CHECKSUM))


def struct_pack(fmt, *values):
    import struct
    return struct.pack(fmt, *values)


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
    # make_corpus.py [TARGET...]: only those corpora (default: all)
    for target, fn in (("snapshot_load", snapshots), ("freeze_graph", programs),
                       ("map_read", map_images)):
        if len(sys.argv) > 1 and target not in sys.argv[1:]:
            continue
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        fn(d)
