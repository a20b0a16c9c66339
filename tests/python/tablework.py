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
