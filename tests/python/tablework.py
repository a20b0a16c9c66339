"""Functions that test_tables.py runs in frost.Pool workers (own-GIL
subinterpreters, where pyarrow cannot load): plain access to a frost.Table."""


def describe(view):
    """What a worker sees of a table view, as plain data."""
    return {
        "len": len(view),
        "columns": view.column_names,
        "schema": view.schema,
        "first": view.row(0),
        "tail": view[1:].row(0),
        "column": view[view.column_names[0]].tolist(),
    }


def thaw_in_worker(view):
    import frost
    return frost.thaw(view)


def sum_column(view, name):
    return sum(v for v in view[name] if v is not None)


def echo_list(column):
    return column.tolist()


def freeze_as_if_from(view, module):
    """Freeze a producer re-streaming `view` (of no chunks) whose class says it
    comes from `module` (pyarrow, pandas: neither can load here): what froze, as
    (type name, rows, column names), or the error as its type name and text."""
    import frost

    class Producer:
        def __arrow_c_stream__(self, requested_schema=None):
            return view.__arrow_c_stream__(requested_schema)

    Producer.__module__ = module
    try:
        root = frost.freeze(Producer()).root
    except Exception as e:   # what the test reports
        return f"{type(e).__name__}: {e}"
    return type(root).__name__, len(root), root.column_names
