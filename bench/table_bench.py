"""Tables and tensors (issue 18): what freezing an Arrow table costs, and what
handing a frozen table or array to pyarrow / numpy costs.

    PYTHONPATH=build/bench-py3.13/python .venv/py3.13/bin/python bench/table_bench.py
    [--rows 10000000] [--small-rows 1000000] [--repeat 3]

The table: int64, float64, a string column ("s1234567"-style, 8-9 bytes), a
nullable int32 (1 in 10 null), a dictionary column (int32 indices into 100
strings). Measured, best of --repeat (freeze, copy, pickle) or median of 200
calls (the O(1) exports):

  copy    -- every buffer of the table copied once into fresh memory with
             memoryview slice assignment (memcpy; the floor for any freeze,
             page faults included, as the arena's pages are fresh too);
  freeze  -- frost.freeze(table) (copy + the table check) and close;
  pickle  -- pickle.dumps(table, protocol=5) (pyarrow's own serialisation, itself
             a buffer copy), and of the same data as a pandas DataFrame with
             numpy/object columns (what sharing a frame with workers costs today);
  pa.table(view), numpy.from_dlpack(array view) -- at --small-rows and --rows,
            to show they do not grow with the size.

The cross-process figure (4 worker processes reading one frozen table, against
pandas frames pickled to each) is bench/table_groupby_bench.py.
"""
import argparse
import gc
import json
import pickle
import platform
import statistics
import time

import numpy as np
import pyarrow as pa

import frost


def make_table(n, seed=0):
    rng = np.random.default_rng(seed)
    ints = np.arange(n, dtype=np.int64)
    floats = rng.random(n)
    strings = pa.array(np.char.add("s", (ints % 10_000_000).astype(str)))
    nullable = pa.array(rng.integers(0, 1 << 30, n, dtype=np.int32), mask=(ints % 10 == 0))
    categories = pa.array([f"category-{k}" for k in range(100)])
    dictionary = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 100, n, dtype=np.int32)), categories)
    return pa.table({"i64": ints, "f64": floats, "s": strings, "i32_nullable": nullable, "dict": dictionary})


def buffers_of(table):
    out = []
    for column in table.columns:
        for chunk in column.chunks:
            out += [b for b in chunk.buffers() if b is not None]
            if isinstance(chunk, pa.DictionaryArray):
                out += [b for b in chunk.dictionary.buffers() if b is not None]
    return out


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median_us(fn, calls=200):
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def copy_once(buffers, total):
    dst = bytearray(total)   # calloc: fresh pages, like the arena's
    mv = memoryview(dst)
    at = 0
    for b in buffers:
        n = b.size
        mv[at:at + n] = memoryview(b).cast("B")
        at += n
    return dst


def measure_size(rows, repeat):
    table = make_table(rows)
    buffers = buffers_of(table)
    total = sum(b.size for b in buffers)
    result = {"rows": rows, "buffer_bytes": total}
    result["copy_s"] = best(lambda: copy_once(buffers, total), repeat)

    def freeze_close():
        frost.freeze(table).close()
    result["freeze_s"] = best(freeze_close, repeat)
    result["pickle_s"] = best(lambda: pickle.dumps(table, protocol=5), repeat)
    frame = table.to_pandas(types_mapper=None, strings_to_categorical=False)
    result["pickle_pandas_s"] = best(lambda: pickle.dumps(frame, protocol=5), repeat)
    del frame
    store = frost.freeze({"t": table, "a": np.arange(rows, dtype=np.float64)})
    view, array = store.root["t"], store.root["a"]
    assert pa.table(view).equals(table)
    result["pa_table_us"] = median_us(lambda: pa.table(view))
    result["from_dlpack_us"] = median_us(lambda: np.from_dlpack(array))
    result["table_nbytes_in_arena"] = store.nbytes
    del view, array
    store.close()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--small-rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps({"python": platform.python_version(), "pyarrow": pa.__version__,
                      "numpy": np.__version__, "machine": platform.machine()}))
    rows = []
    for n in (args.small_rows, args.rows):
        r = measure_size(n, args.repeat)
        rows.append(r)
        print(json.dumps(r))
    print()
    print("| rows | buffers | copy once | frost.freeze | freeze / copy | pickle.dumps(pa.Table) | pickle.dumps(pandas) | pa.table(view) | numpy.from_dlpack(view) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rows']:,} | {r['buffer_bytes'] / 2**20:.0f} MiB | {r['copy_s'] * 1e3:.0f} ms | "
              f"{r['freeze_s'] * 1e3:.0f} ms | {r['freeze_s'] / r['copy_s']:.2f}x | {r['pickle_s'] * 1e3:.0f} ms | "
              f"{r['pickle_pandas_s'] * 1e3:.0f} ms | "
              f"{r['pa_table_us']:.1f} µs | {r['from_dlpack_us']:.1f} µs |")


if __name__ == "__main__":
    main()
