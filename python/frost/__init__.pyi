# Type stubs of the frost package (python/frost/__init__.py); the extension
# module's types are in _frost.pyi. Checked by tests/python/test_typing.py.
import os

from frost._frost import (
    Array as Array,
    Channel as Channel,
    ChannelClosedError as ChannelClosedError,
    Column as Column,
    FreezeError as FreezeError,
    FrozenDict as FrozenDict,
    FrozenList as FrozenList,
    FrozenSet as FrozenSet,
    MappedArray as MappedArray,
    MappedColumn as MappedColumn,
    MappedDict as MappedDict,
    MappedList as MappedList,
    MappedRecord as MappedRecord,
    MappedSet as MappedSet,
    MappedTable as MappedTable,
    Record as Record,
    SnapshotError as SnapshotError,
    Store as Store,
    StoreClosedError as StoreClosedError,
    Table as Table,
    freeze as freeze,
    publish as publish,
    published as published,
    thaw as thaw,
    unpublish as unpublish,
)
from frost._frost import _ProgressCallback
from frost._mapped import MappedStore as MappedStore, load as load, share as share
from frost.pool import Pool as Pool, RemoteTraceback as RemoteTraceback
from frost.process_pool import ProcessPool as ProcessPool

__version__: str  # frost/_version.py, written by the build from pyproject.toml

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
    "MappedStore",
    "MappedTable",
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

def verify(path: str | bytes | os.PathLike[str] | os.PathLike[bytes], *,
           progress: _ProgressCallback | None = None) -> None: ...

