"""The zero-row stand-in of a table whose Arrow stream gives no chunk (store/columns_py.c asks).

A stream of no chunks carries the schema and nothing else, but a dictionary-encoded
column's dictionary (its values: pandas' categories) lives in the arrays. pyarrow's Table
and RecordBatch stream no chunk when they have no rows, whatever their chunks hold, and so
does pandas' DataFrame (it streams through pyarrow.Table.from_pandas). For those the
freezer takes the stand-in built here from what the object holds. Nothing is imported: an
object of pandas' or pyarrow's exists only where they are loaded (sys.modules), and a class
that merely says it comes from them (its __module__) in an interpreter where they are not
(a subinterpreter cannot import them) is none of theirs: its empty stream is all there is.
"""
import sys


def empty_batches(obj):
    """What to freeze instead of obj's empty stream: an object exporting __arrow_c_array__
    (obj itself, one array: pyarrow.RecordBatch) or __arrow_c_stream__ (a reader of obj's
    empty chunks, at least one, each column's k-th chunk or its last), or None (obj is none
    of those: its empty stream is all there is)."""
    if hasattr(obj, "__arrow_c_array__"):   # not hidden by the instance (frost.Table of no chunks)
        return obj   # the array protocol gives the empty batch
    module = getattr(type(obj), "__module__", None)
    package = module.partition(".")[0] if isinstance(module, str) else None
    pandas, pyarrow = sys.modules.get("pandas"), sys.modules.get("pyarrow")
    if package == "pandas":
        if pandas is None or pyarrow is None or not isinstance(obj, pandas.DataFrame):
            return None
        obj = pyarrow.Table.from_pandas(obj)   # what DataFrame.__arrow_c_stream__ streams
    elif package != "pyarrow" or pyarrow is None:
        return None
    if not isinstance(obj, pyarrow.Table) or obj.num_rows != 0:
        return None
    columns = obj.columns
    n = max([col.num_chunks for col in columns] + [1])
    batches = [pyarrow.RecordBatch.from_arrays(
        [col.chunk(min(k, col.num_chunks - 1)) if col.num_chunks else pyarrow.array([], col.type)
         for col in columns], schema=obj.schema) for k in range(n)]
    return pyarrow.RecordBatchReader.from_batches(obj.schema, batches)
