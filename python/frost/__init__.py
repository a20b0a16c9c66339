"""frost: freeze Python object graphs into sealed, read-only memory that every
interpreter of the process reads in place, without copies or refcount traffic.

    store = frost.freeze(data)            # deep copy into a sealed arena
    root = store.root                     # a read-only view (FrozenDict, FrozenList, ...)
    frost.thaw(root["key"])               # a plain, mutable, local deep copy
    shared = frost.share(data)            # in sealed shared memory: any process maps it
    frost.load(path)                      # a saved store; format 2 is mapped in O(1)

See README.md and docs/design.md; `python -m frost --help` for the command
line (docs/cli.md). frost.Pool runs tasks in own-GIL subinterpreters,
frost.ProcessPool in processes (numpy and other extensions that refuse
subinterpreters); both load lazily. Pool events are logged to the "frost" logger, which has
only a NullHandler until the application configures logging (set up by
frost.pool, the module that logs, so that pool workers never import logging).
"""

from frost._frost import (
    Array,
    Channel,
    ChannelClosedError,
    Column,
    FreezeError,
    FrozenDict,
    FrozenList,
    FrozenSet,
    MappedArray,
    MappedColumn,
    MappedDict,
    MappedList,
    MappedRecord,
    MappedSet,
    MappedTable,
    Record,
    SnapshotError,
    Store,
    StoreClosedError,
    Table,
    freeze,
    publish,
    published,
    thaw,
    unpublish,
)

from frost._version import __version__  # written by the build from pyproject.toml
from frost import _forking_guard  # noqa: F401 - guards multiprocessing's pickler
from frost import _fork_imports  # noqa: F401 - a fork waits for frost's imports in flight

# Loaded on first use (issue 17): a pool worker imports frost._worker, which needs none of
# them. frost.pool brings concurrent.futures and logging; frost._mapped (share, load,
# MappedStore) threading, mmap and weakref, a tenth of a worker's start-up.
_LAZY = {
    "Pool": "frost.pool",
    "RemoteTraceback": "frost.pool",
    "ProcessPool": "frost.process_pool",
    "MappedStore": "frost._mapped",
    "load": "frost._mapped",
    "share": "frost._mapped",
    "verify": "frost._snapshotfile",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'frost' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value   # later reads find it without this call
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Pool",
    "ProcessPool",
    "RemoteTraceback",
    "Array",
    "Channel",
    "ChannelClosedError",
    "Column",
    "FreezeError",
    "FrozenDict",
    "FrozenList",
    "FrozenSet",
    "MappedArray",
    "MappedColumn",
    "MappedDict",
    "MappedList",
    "MappedRecord",
    "MappedSet",
    "MappedTable",
    "MappedStore",
    "Record",
    "SnapshotError",
    "Store",
    "StoreClosedError",
    "Table",
    "freeze",
    "load",
    "publish",
    "published",
    "share",
    "thaw",
    "unpublish",
    "verify",
]
