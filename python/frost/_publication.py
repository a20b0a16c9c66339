"""frost.publish / frost.published of a MappedStore (format 2): the Python
half of views/publish.c for mapped images.

The table (store/publish.c) keeps, per name, its own fd of the image (the
memfd of frost.share, or the file of frost.load, opened when published: a
file replaced or deleted at its path since stays the one published) and
`meta`, this module's description of the image: marshal of
(path or None, st_dev, st_ino, size, store_id). published() hands attach()
a dup of that fd, borrowed for the call; attach() maps it in the calling
interpreter (_mapped._attach_fd, with a dup of its own, which the
MappedStore's handle keeps for a memfd image, so the store can be sent on to
other processes), or reuses the interpreter's mapping of the same image
(_mapped's registry). Nothing here holds the image: the table does, until the name is
replaced or withdrawn; then the last mapping or fd, in any interpreter, frees
it.
"""
import fcntl
import marshal

from frost import _frost, _mapped
from frost._fd import Fd


def publish_mapped(name, store):
    """frost.publish(name, store) of a MappedStore -> the version;
    NotImplemented for any other type (publish() raises the TypeError)."""
    if not isinstance(store, _mapped.MappedStore):
        return NotImplemented
    handle = store._live_image("publish()").handle
    meta = marshal.dumps((handle.path, handle.dev, handle.ino, handle.size, handle.store_id))
    if handle.fd is not None:   # the memfd: the table dups it
        return _frost._publish_image(name, handle.fd, meta)
    opened, _ = _mapped._open_file(handle.path, handle.dev, handle.ino, since="frost.load()")
    with opened:
        return _frost._publish_image(name, opened.fd, meta)


def attach(fd, meta):
    """frost.published(name) of an image: a MappedStore of it in this
    interpreter. fd is the caller's (views/publish.c closes it after)."""
    path, dev, ino, size, store_id = marshal.loads(meta)
    own = Fd(fcntl.fcntl, fd, fcntl.F_DUPFD_CLOEXEC, 0)
    return _mapped.MappedStore._new(_mapped._attach_fd(own, path, dev, ino, size, store_id))
