"""How values travel between interpreters (pool tasks, results, channels).

pickle, with one change: frost Stores, views and Channels travel *by
reference*, as tickets (views/xref.c): a ticket holds one count on its store
or channel while the message travels, so a store frozen in a worker stays
alive until the receiver has its own view of the same arena memory: no copy,
O(1) whatever the size. Plain immutables are copied; anything else is
pickled. A mapped store or view (frost.share, frost.load of format 2) names
its image by the handle it pickles (frost._mapped): here that handle travels
as an fd ticket instead, a dup of the image's memfd (or its file, opened
again) that the message owns, so the image lives until the message is
received or discarded even if the sender drops it, or the file is deleted,
at once.

A message is bytes: its tickets, then the pickle (whose persistent ids are
indexes into the tickets). Its life ends exactly once, and ending it releases
its tickets: loads() ends it after loading (also when unpickling fails half
way); discard() ends one that will not be loaded. Ending it again is a no-op,
so no path can release a reference twice.
"""
import io
import os
import pickle
import sys

from frost import _frost

# this interpreter's Store, view and Channel types (each interpreter has its own)
_BY_REFERENCE = frozenset(_frost._shareable_types()) | {_frost.Channel}


class _Pickler(pickle.Pickler):
    def __init__(self, file, tickets):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.tickets = tickets
        self.images = {}   # id(handle) -> its persistent id: one fd ticket per image

    def persistent_id(self, obj):
        if type(obj) in _BY_REFERENCE:
            self.tickets.append(_frost._export(obj))
            return len(self.tickets) - 1
        mapped = sys.modules.get("frost._mapped")   # no image exists before it is imported
        if mapped is not None and type(obj) is mapped._Handle:
            # persistent ids bypass the memo: 10,000 views of one image, one ticket
            pid = self.images.get(id(obj))
            if pid is None:
                pid = self.images[id(obj)] = self._image_ticket(mapped, obj)
            return pid
        return None

    def _image_ticket(self, mapped, handle):
        """The persistent id of an fd ticket for the image (its memfd, or its
        file opened again), or None: a file replaced or deleted since it was
        loaded travels by path (the receiver says what happened)."""
        fd = handle.fd
        if fd is None:
            try:
                fd, _ = mapped._open_file(handle.path, handle.dev, handle.ino)
            except (OSError, _frost.SnapshotError):
                return None
        try:
            self.tickets.append(_frost._export_fd(fd))
        finally:
            if fd is not handle.fd:
                os.close(fd)
        return (len(self.tickets) - 1, handle.path, handle.dev, handle.ino, handle.size,
                handle.store_id)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, tickets):
        super().__init__(file)
        self.tickets = tickets
        self.images = {}   # fd ticket index -> its MapImage here

    def persistent_load(self, pid):
        if type(pid) is tuple and len(pid) == 6:   # a mapped image's fd ticket
            index, path, dev, ino, size, store_id = pid
            if type(index) is int and 0 <= index < len(self.tickets):
                image = self.images.get(index)
                if image is None:
                    from frost import _mapped
                    fd = _frost._import_fd(self.tickets[index])
                    image = self.images[index] = _mapped._attach_fd(fd, path, dev, ino, size,
                                                                    store_id)
                return image
        if type(pid) is not int or not 0 <= pid < len(self.tickets):
            raise pickle.UnpicklingError(f"frost message: no reference #{pid!r}")
        return _frost._import(self.tickets[pid])


def dumps(obj):
    """A message carrying `obj`; frost stores, views and channels by reference.
    Raises TypeError naming what cannot be sent (and holds nothing then)."""
    buf = io.BytesIO()
    tickets = []
    try:
        pickler = _Pickler(buf, tickets)
        pickler.dump(obj)
        pickler.clear_memo()   # 3.12: pickler and its bound persistent_id are a cycle
        return _frost._message(tickets, buf.getbuffer())
    except BaseException as exc:
        for ticket in tickets:
            _frost._discard(ticket)
        if isinstance(exc, (pickle.PicklingError, AttributeError, TypeError)):
            raise TypeError(f"cannot send {type(obj).__name__} object {_short_repr(obj)} to "
                            f"another interpreter: {exc}") from exc
        raise


def _short_repr(obj):
    try:
        text = repr(obj)
    except Exception:
        text = object.__repr__(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def loads(data, *, consume=True):
    """The object a message carries, in this interpreter. Ends the message's
    life (releases its references) unless consume=False: then the caller
    must discard() it later (a message loaded by several interpreters)."""
    tickets, offset = _frost._message_header(data)
    try:
        with memoryview(data) as view:
            unpickler = _Unpickler(io.BytesIO(view[offset:]), tickets)
            try:
                return unpickler.load()
            finally:
                unpickler.memo = {}   # (the same cycle)
    finally:
        if consume:
            for ticket in tickets:
                _frost._discard(ticket)


def discard(data):
    """End the life of a message that will not be loaded (idempotent)."""
    _frost._discard_message(data)


def check_sendable(obj):
    """Raise TypeError if obj cannot be sent; holds no reference afterwards
    (also when interrupted: no Python call between making the message and
    the C call that ends it)."""
    message = None
    try:
        message = dumps(obj)
    finally:
        if message is not None:
            _frost._discard_message(message)
