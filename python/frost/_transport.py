"""How values travel between interpreters (pool tasks, results, channels).

pickle, with one change: frost Stores and views travel *by reference*, as a
small tuple that owns one reference to their store (frost._frost._export), so
a store frozen in a worker stays alive until the receiver attaches to it, and
the receiver gets a view of the same arena memory: no copy, O(1) whatever the
size. Plain immutables are copied (pickle copies them); anything else is
pickled. A payload that is never loaded must be passed to discard().
"""
import io
import pickle

from frost import _frost

_TAG = "frost-ref"
# this interpreter's Store and view types (each interpreter has its own)
_SHAREABLE = frozenset(_frost._shareable_types())


class _Pickler(pickle.Pickler):
    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.exported = []

    def persistent_id(self, obj):
        if type(obj) in _SHAREABLE:
            ref = _frost._export(obj)
            self.exported.append(ref)
            return (_TAG, ref)
        return None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        tag, ref = pid
        if tag != _TAG:
            raise pickle.UnpicklingError(f"unknown persistent id {tag!r}")
        return _frost._import(ref)


class _Collector(pickle.Unpickler):
    """Reads a payload only to find the references it owns."""

    def __init__(self, file):
        super().__init__(file)
        self.refs = []

    def persistent_load(self, pid):
        self.refs.append(pid[1])
        return None

    def find_class(self, module, name):
        return _Dummy


class _Dummy:
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return self

    def __setstate__(self, state):
        pass


def dumps(obj):
    """Pickle `obj`; frost stores and views by reference."""
    buf = io.BytesIO()
    pickler = _Pickler(buf)
    try:
        pickler.dump(obj)
    except BaseException:
        for ref in pickler.exported:
            _frost._discard(ref)
        raise
    return buf.getvalue()


def loads(data):
    """Unpickle what dumps() made, in any interpreter of the same process."""
    return _Unpickler(io.BytesIO(data)).load()


def discard(data):
    """Release the store references held by a payload that won't be loaded."""
    collector = _Collector(io.BytesIO(data))
    try:
        collector.load()
    except Exception:
        pass
    for ref in collector.refs:
        _frost._discard(ref)
