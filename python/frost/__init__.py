"""frost: freeze Python object graphs into sealed, read-only memory that every
interpreter of the process reads in place, without copies or refcount traffic.

    store = frost.freeze(data)            # deep copy into a sealed arena
    root = store.root                     # a read-only view (FrozenDict, FrozenList, ...)
    frost.thaw(root["key"])               # a plain, mutable, local deep copy

See README.md and docs/design.md.
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
    Record,
    SnapshotError,
    Store,
    StoreClosedError,
    Table,
    freeze,
    load,
    publish,
    published,
    thaw,
    unpublish,
)

from frost.pool import Pool, RemoteTraceback

__all__ = [
    "Pool",
    "RemoteTraceback",
    "Array",
    "Channel",
    "ChannelClosedError",
    "Column",
    "FreezeError",
    "FrozenDict",
    "FrozenList",
    "FrozenSet",
    "Record",
    "SnapshotError",
    "Store",
    "StoreClosedError",
    "Table",
    "freeze",
    "load",
    "publish",
    "published",
    "thaw",
    "unpublish",
]
