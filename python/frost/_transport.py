"""How values travel between interpreters (pool tasks, results, channels).

pickle, with one change: frost Stores and views travel *by reference*, as a
small tuple that owns one reference to their store (frost._frost._export), so
a store frozen in a worker stays alive until the receiver attaches to it, and
the receiver gets a view of the same arena memory: no copy, O(1) whatever the
size. A frost.Channel travels the same way (a reference owning one count
of the channel). Plain immutables are copied (pickle copies them); anything
else is pickled. A payload that is never loaded must be passed to discard().
"""
import io
import pickle

from frost import _frost

_TAG = "frost-ref"
_CHANNEL_TAG = "frost-channel"
# this interpreter's Store and view types (each interpreter has its own)
_SHAREABLE = frozenset(_frost._shareable_types())
_CHANNEL = _frost.Channel


class _Pickler(pickle.Pickler):
    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.exported = []           # store references this payload owns
        self.channels = []           # channel references this payload owns

    def persistent_id(self, obj):
        tp = type(obj)
        if tp in _SHAREABLE:
            ref = _frost._export(obj)
            self.exported.append(ref)
            return (_TAG, ref)
        if tp is _CHANNEL:
            ref = _frost._channel_export(obj)
            self.channels.append(ref)
            return (_CHANNEL_TAG, ref)
        return None

    def discard(self):
        for ref in self.exported:
            _frost._discard(ref)
        for ref in self.channels:
            _frost._channel_discard(ref)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        tag, ref = pid
        if tag == _TAG:
            return _frost._import(ref)
        if tag == _CHANNEL_TAG:
            return _frost._channel_attach(*ref)
        raise pickle.UnpicklingError(f"unknown persistent id {tag!r}")


class _Collector(pickle.Unpickler):
    """Reads a payload only to find the references it owns."""

    def __init__(self, file):
        super().__init__(file)
        self.refs = []
        self.channels = []

    def persistent_load(self, pid):
        (self.channels if pid[0] == _CHANNEL_TAG else self.refs).append(pid[1])
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


def dumps_with_refs(obj):
    """(payload, store references it owns): for frost.Channel, which releases
    the references itself if the message is never received."""
    buf = io.BytesIO()
    pickler = _Pickler(buf)
    try:
        pickler.dump(obj)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        pickler.discard()
        raise TypeError(f"cannot send {type(obj).__name__} object {_short_repr(obj)} to "
                        f"another interpreter: {exc}") from exc
    except BaseException:
        pickler.discard()
        raise
    return buf.getvalue(), pickler.exported


def _short_repr(obj):
    try:
        text = repr(obj)
    except Exception:
        text = object.__repr__(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def dumps(obj):
    """Pickle `obj`; frost stores, views and channels by reference."""
    return dumps_with_refs(obj)[0]


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
    for ref in collector.channels:
        _frost._channel_discard(ref)
