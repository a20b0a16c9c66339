"""frost: freeze Python object graphs into sealed, read-only memory that every
interpreter of the process reads in place, without copies or refcount traffic.

    store = frost.freeze(data)            # deep copy into a sealed arena
    root = store.root                     # a read-only view (FrozenDict, FrozenList, ...)
    frost.thaw(root["key"])               # a plain, mutable, local deep copy

See README.md and docs/design.md; `python -m frost --help` for the command
line (docs/cli.md). Pool events are logged to the "frost" logger, which has
only a NullHandler until the application configures logging.
"""
import logging as _logging

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
from frost._version import __version__  # written by the build from pyproject.toml
from frost._snapshotfile import verify

_logging.getLogger("frost").addHandler(_logging.NullHandler())

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
    "verify",
]
