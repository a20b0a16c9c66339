"""Cross-process stores: format-2 images read in place from a read-only
mapping, by any process (issue 13; the layout is store/frost_map.h).

    MappedStore   one mapped image: a sealed memfd made by share(), or a
                  format-2 file opened by load(). Its views (frost.MappedDict,
                  ...) read the mapping in place and hold the image alive.
    share(obj)    writes obj's image into anonymous shared memory (a memfd,
                  sealed: no process can change it any more) and maps it.
    load(path)    format 2: maps the file, O(1) of its size; format 1: the
                  arena loader (frost._frost.load), as before.

Handles. Pickling a MappedStore or a mapped view sends a handle naming the
image, never its bytes (views/view_mapped.c: a view's __reduce__ is
(_rebuild_view, (image.handle, node_offset))). image.handle is a _Handle:
the image's owner of its file descriptor here, and its wire form:
  memory: (pid, fd, st_dev, st_ino, size, store_id) -- the receiver opens
          /proc/<pid>/fd/<fd> (in the same process: dups the fd), checks the
          four seals, maps it read-only, and checks the store_id, so a reused
          fd number or pid never gives another image. The sender must be
          alive, and still hold the image, until the receiver has attached
          (sent by multiprocessing, a handle holds it LINGER seconds more).
  file:   (path, st_dev, st_ino, size, store_id) -- the receiver maps the
          same file (the same inode: a file replaced since is refused).
          multiprocessing's pickler refuses a file handle whose path no
          longer names that inode at the sender (_check_sendable_file): the
          receiver would fail to unpickle, and multiprocessing loses such a
          task (its caller waits for ever). In a frost message (Channel,
          frost.Pool) the handle carries an fd of the file, opened again by
          path: refused the same way (_reopen_to_send).
A receiver's handle names itself (its pid and its own fd), so it can send
the store on even after the creator is gone.

Registry. (store_id, st_dev, st_ino) -> weakref to the MapImage: a process
(each interpreter, as module state) maps an image once however many handles
it receives, and a file carrying a copied store_id never stands in for it.

Arena stores (frost.freeze) live in one process's memory: multiprocessing's
pickler refuses them with a TypeError naming frost.share (frost._forking_guard),
instead of a reference that the other process cannot resolve.
"""
import collections
import errno
import fcntl
import mmap
import os
import stat
import sys
import threading
import time
import weakref

from frost import _forking_guard, _frost
from frost._fd import Fd

__all__ = ["MappedStore", "share", "load"]

MAGIC_V2 = b"FROSTMAP"
_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY   # a FIFO never blocks
# 3.13+: the mmap keeps no dup of the fd (the handle owns the one fd an image needs)
_NO_FD_COPY = {"trackfd": False} if sys.version_info >= (3, 13) else {}
_MAPPED_VIEWS = (_frost.MappedDict, _frost.MappedList, _frost.MappedSet, _frost.MappedRecord,
                 _frost.MappedArray, _frost.MappedTable, _frost.MappedColumn)


def _check_progress(progress, what):
    if progress is not None and not callable(progress):
        raise TypeError(f"{what}() progress must be a callable(done, total) or None, "
                        f"not {type(progress).__name__}")


# ---------------------------------------------------------------------------
# handles


class _Handle:
    """image.handle: owns the image's fd (memory images, as an _fd.Fd; files
    keep none) and pickles as the wire form that _attach resolves in the
    receiver."""

    __slots__ = ("owned_fd", "path", "dev", "ino", "size", "store_id", "image", "__weakref__")

    def __init__(self, owned_fd, path, st, store_id):
        self.image = None   # a weakref.ref to the image (set by _own; no cycle)
        self.owned_fd = owned_fd   # an Fd (closed with its last reference), or None
        self.path = path
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.size = st.st_size
        self.store_id = store_id

    def __reduce__(self):
        # In a frost message (frost.Pool tasks and results, Channel) the fd itself
        # travels as an fd ticket the message owns: the image lives as long as the
        # message, whoever drops it meanwhile (views/xref.c). _capture_fd must be
        # called from this frame: the pickler's own call of this reducer.
        # A loaded file's handle keeps no fd: it opens the file again, and
        # refuses (SnapshotError naming the path, at send()/submit(), nothing
        # queued) when the path no longer names the file it maps -- removed
        # or replaced since the load. It used to travel by path then, and
        # the receiver failed to unpickle it (a Channel message lost).
        if _frost._capturing():
            if self.fd is not None:
                sent = _frost._capture_fd(self.fd)
            else:
                with _reopen_to_send(self) as reopened:
                    sent = _frost._capture_fd(reopened.fd)
            return (_attach_ticket, sent + (self.path, self.dev, self.ino, self.size,
                                            self.store_id))
        if self.fd is not None:   # os.getpid(): a forked child names itself (it has the fd too)
            return (_attach, ("memory", os.getpid(), self.fd, self.dev, self.ino, self.size,
                              self.store_id))
        return (_attach, ("file", self.path, self.dev, self.ino, self.size, self.store_id))

    @property
    def fd(self):
        owned = self.owned_fd
        return None if owned is None else owned.fd


def _own(image, handle):
    """Make handle the image's (image.handle) and return the image."""
    handle.image = weakref.ref(image)
    image.handle = handle
    return image


# Sent to another process by multiprocessing (ForkingPickler), a memory
# handle keeps its image alive here for LINGER seconds at least: a pool
# worker that returns a store it made drops it right after sending, before
# the caller has attached. (Plain pickle.dumps does not: docs/design.md.)
LINGER = 30.0
_lingering = collections.OrderedDict()   # id(image) -> (deadline, image), soonest first
_lingering_lock = threading.Lock()


def _prune_lingering():
    now = time.monotonic()
    with _lingering_lock:
        while _lingering:
            key = next(iter(_lingering))
            if _lingering[key][0] > now:
                break
            del _lingering[key]


def _reduce_sent_handle(handle):
    if handle.fd is None:
        _check_sendable_file(handle)
    image = handle.image() if handle.image is not None else None
    if image is not None and handle.fd is not None:
        _prune_lingering()
        with _lingering_lock:   # once per image, whatever the number of sends
            _lingering[id(image)] = (time.monotonic() + LINGER, image)
            _lingering.move_to_end(id(image))
    return handle.__reduce__()


def _changed_in_place(handle, st):
    """Why a loaded file's image is not what its path holds, st being that same
    file (device and inode) with another size: grown or cut short in place."""
    return f"changed in place since it was loaded ({st.st_size} bytes now, {handle.size} then)"


def _check_sendable_file(handle, to="another process"):
    """SnapshotError unless the path of a loaded file's handle still names the
    file it was loaded from. A receiver maps the file by path and refuses
    another inode; multiprocessing loses a task (or a result) whose unpickling
    fails in the receiver -- a Pool's map waits for ever -- so the sender
    refuses it, as it refuses arena stores (frost._forking_guard). A frost
    message (to another interpreter) carries an fd of the file, opened by
    path too: the same refusal (_reopen_to_send)."""
    path = os.fsdecode(handle.path)
    try:
        st = os.stat(handle.path)
        if (st.st_dev, st.st_ino) != (handle.dev, handle.ino) or not stat.S_ISREG(st.st_mode):
            why = "replaced since it was loaded (another file is at that path now)"
        elif st.st_size != handle.size:   # the receiver checks the size too
            why = _changed_in_place(handle, st)
        else:
            why = None
    except OSError as exc:
        why = f"removed since it was loaded ({exc.strerror})"
    if why is not None:
        raise _frost.SnapshotError(
            f"cannot send the frost store loaded from {path} to {to}: that path "
            f"is not the file the store maps any more, {why}, so the receiver could not "
            f"map it. Load the new file and send its views, or keep the file in place "
            f"while its stores are sent (save new versions to a new path)")


# (store_id, st_dev, st_ino) -> weakref.ref(MapImage): the same image in the same
# file (memfd or file): a file carrying a copied store_id never stands in for another.
# An image's entry goes with it (_register's forget), unless a Ctrl-C lands in that
# weakref callback (CPython prints it as ignored): a dead ref then stays, which
# _registered reads as absent and _register prunes, whenever the registry has doubled
# since its last pass (_prune_at), so dead entries never outnumber the live ones much.
_images = {}
_images_lock = threading.RLock()   # reentrant: forget() may run inside _register's block
_PRUNE_MIN = 64
_prune_at = _PRUNE_MIN   # the size of _images at which _register next prunes dead refs


def _after_fork_in_child():
    global _images_lock, _lingering_lock
    _images_lock = threading.RLock()   # a thread that is not in the child may have held them
    _lingering_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _registered(key):
    ref = _images.get(key)
    return None if ref is None else ref()


def _register(image):
    """image, or the live image already registered for the same file and store_id."""
    key = (image.store_id, image.handle.dev, image.handle.ino)

    def forget(ref, key=key):
        # compare and pop under the lock: unlocked, an image of the same file
        # registered by another thread between the two left no entry (the next
        # handle of it mapped the file again instead of sharing that image).
        # An RLock: this runs from a collection inside _register's own block too.
        with _images_lock:
            if _images.get(key) is ref:   # not a newer image's entry
                del _images[key]

    global _prune_at
    with _images_lock:
        existing = _registered(key)
        if existing is not None:
            return existing
        if len(_images) >= _prune_at:
            # a copy (one C call): a forget() may run inside this loop (a collection
            # here: the lock is reentrant), popping entries
            for k, ref in list(_images.items()):
                if ref() is None and _images.get(k) is ref:
                    _images.pop(k, None)
            _prune_at = max(_PRUNE_MIN, 2 * len(_images))
        _images[key] = weakref.ref(image, forget)
    return image


def _map_fd(fd, size, path, store_id=None):
    """The MapImage of the image in fd (which the caller keeps owning)."""
    if size < 8:   # the header check says why; an mmap of 0 bytes cannot be made
        with open(fd, "rb", closefd=False) as f:
            return _frost.MapImage(f.read())
    try:
        buffer = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ, **_NO_FD_COPY)
    except OSError as e:   # ENOMEM (RLIMIT_AS, vm.max_map_count): which file it was
        raise OSError(e.errno, e.strerror, path) from None
    try:
        image = _frost.MapImage(buffer)
    except BaseException:
        try:
            buffer.close()
        except BufferError:
            pass
        raise
    if store_id is not None and image.store_id != store_id:
        raise _frost.SnapshotError(f"{path}: holds another frost image than the one the handle "
                                   f"names (a reused file descriptor, or a rewritten file)")
    return image


def _gone(pid, fd, why):
    return _frost.SnapshotError(
        f"cannot attach the shared frost store of process {pid} (its fd {fd}): {why}. The "
        f"creator has exited or closed the store: a handle is valid only while the process "
        f"that sent it is alive and holds the store")


def _attach(kind, *fields):
    """The MapImage a handle names, in this process (pickle calls this)."""
    try:
        if kind == "memory":
            pid, fd, dev, ino, size, store_id = fields
        elif kind == "file":
            path, dev, ino, size, store_id = fields
        else:
            raise ValueError(kind)
        if not (isinstance(store_id, bytes) and len(store_id) == 16
                and all(type(x) is int and x >= 0 for x in (dev, ino, size))):
            raise ValueError(fields)
        if kind == "memory" and not (type(pid) is int and pid > 0 and type(fd) is int and fd >= 0):
            raise ValueError(fields)
        if kind == "file" and not isinstance(path, (str, bytes)):
            raise ValueError(fields)
    except (ValueError, TypeError):
        raise _frost.SnapshotError("invalid frost handle (corrupted or forged data)") from None
    image = _registered((store_id, dev, ino))
    if image is not None:
        return image
    if kind == "memory":
        owned, st = _open_memory(pid, fd, dev, ino)
        return _map_owned(owned, None, st, size, f"/proc/{pid}/fd/{fd}", store_id)
    owned, st = _open_file(path, dev, ino)
    return _map_owned(owned, path, st, size, os.fsdecode(path), store_id)


def _attach_fd(owned, path, dev, ino, size, store_id):
    """The MapImage of the image in owned (an Fd of this process handed over):
    frost._transport's fd tickets and frost.published() (same process: the
    fd is the image's own, no /proc lookup and no sender that must live on).
    path None: shared memory."""
    try:
        image = _registered((store_id, dev, ino))
        if image is None:
            st = os.fstat(owned.fd)
            if (st.st_dev, st.st_ino) != (dev, ino) or (path is None and st.st_size != size):
                raise _frost.SnapshotError("invalid frost handle (corrupted or forged data)")
    except BaseException:
        owned.close()
        raise
    if image is not None:
        owned.close()   # the registry's image has its own
        return image
    # a file grown in place since the send still holds the image sent at its start:
    # the message arrives, as when the path changed (a memfd is sealed: checked above)
    return _map_owned(owned, path, st, size, "frost image" if path is None else os.fsdecode(path),
                      store_id, grown=path is not None)


def _map_owned(owned, path, st, size, where, store_id, grown=False):
    """The registered MapImage of the image in owned (an Fd of this process,
    handed over; st its fstat, `where` names it in errors). Who keeps owned:
    a new shared-memory image's handle (path None), by reference, so that
    closing it early on an error path is never a double close; otherwise
    (a file's image keeps no fd, and an image registered meanwhile by another
    thread has its own) it is closed here, as on any failure. grown: a file
    longer than `size` (grown in place since a frost message of it was sent)
    holds the image at its start; the handle keeps the image's size."""
    try:
        if st.st_size < size or (st.st_size != size and not grown):
            raise _frost.SnapshotError(
                f"{where}: is {st.st_size} bytes, the handle names an image of {size}"
                + (" (the file was cut short in place since it was sent)" if grown else ""))
        handle = _Handle(owned if path is None else None, path, st, store_id)
        handle.size = size   # the image's, which a file grown since holds at its start
        image = _register(_own(_map_fd(owned.fd, size, where, store_id), handle))
    except BaseException:
        owned.close()
        raise
    if image.handle.owned_fd is not owned:
        owned.close()
    return image


def _reopen(handle, to):
    """A new Fd of a loaded file's image, or None when the file at its path is
    no longer that file (frost.dask.share then saves the store instead).
    SnapshotError naming the path when it is that file with another size:
    grown or cut short in place since the load, it no longer holds just the
    image the store maps (and the mapping may be changed or cut short too), so
    neither the file nor a copy of the mapping is sent (`to` names where)."""
    try:
        owned, st = _open_file(handle.path, handle.dev, handle.ino)
    except (OSError, _frost.SnapshotError):
        return None
    if st.st_size != handle.size:
        owned.close()
        raise _frost.SnapshotError(
            f"cannot send the frost store loaded from {os.fsdecode(handle.path)} to {to}: "
            f"that file {_changed_in_place(handle, st)}. Load it again once it is written, "
            f"and save new versions to a new path")
    return owned


def _reopen_to_send(handle):
    """A new Fd of a loaded file's image, for a frost message; SnapshotError
    naming the path (_check_sendable_file) when it is no longer that file.
    The image stays mapped in this process, but a mapping gives no fd back
    (opening /proc/self/map_files needs CAP_CHECKPOINT_RESTORE), and keeping one per loaded
    file would cost an fd per load, so the send is refused."""
    error = None
    try:
        owned, st = _open_file(handle.path, handle.dev, handle.ino)
    except (OSError, _frost.SnapshotError) as exc:
        error = exc
    else:
        if st.st_size == handle.size:   # (the receiver refuses another size)
            return owned
        owned.close()
        error = _frost.SnapshotError(_changed_in_place(handle, st))
    _check_sendable_file(handle, to="another interpreter")   # removed, replaced or resized
    raise _frost.SnapshotError(   # still that file, not readable now (permissions, fd limit)
        f"cannot send the frost store loaded from {os.fsdecode(handle.path)} to another "
        f"interpreter: {error}") from error


def _attach_ticket(index, ticket, path, dev, ino, size, store_id):
    """A handle's unpickling from a frost message: the image of its fd ticket."""
    return _attach_fd(Fd(_frost._ticket_fd, index, ticket), path, dev, ino, size, store_id)


def _open_memory(pid, fd, dev, ino):
    """(Fd of our own, its stat) for the creator's memfd, checked to be the
    same sealed file (device and inode) before and after opening."""
    if pid == os.getpid():
        try:
            st = os.fstat(fd)
        except OSError as exc:
            raise _gone(pid, fd, exc.strerror) from None
        if (st.st_dev, st.st_ino) != (dev, ino):
            raise _gone(pid, fd, "that fd is now another file")
        owned = Fd(fcntl.fcntl, fd, fcntl.F_DUPFD_CLOEXEC, 0)
    else:
        proc = f"/proc/{pid}/fd/{fd}"
        try:
            st = os.stat(proc)   # the target, not opened yet: a device or FIFO is never opened
        except FileNotFoundError:
            raise _gone(pid, fd, "no such process or fd") from None
        except PermissionError as exc:
            raise PermissionError(exc.errno, f"cannot attach the shared frost store of process "
                                  f"{pid}: {exc.strerror} (another user's process, or /proc "
                                  f"is restricted)", proc) from None
        if (st.st_dev, st.st_ino) != (dev, ino) or not stat.S_ISREG(st.st_mode):
            raise _gone(pid, fd, "that fd is now another file")
        try:
            owned = Fd(os.open, proc, _OPEN_FLAGS)
        except FileNotFoundError:
            raise _gone(pid, fd, "no such process or fd") from None
    try:
        st = os.fstat(owned.fd)
        if (st.st_dev, st.st_ino) != (dev, ino) or not stat.S_ISREG(st.st_mode):
            raise _gone(pid, fd, "that fd is now another file")
        try:
            seals = fcntl.fcntl(owned.fd, fcntl.F_GET_SEALS)
        except OSError:
            seals = 0
        if seals & _SEALS != _SEALS:
            raise _frost.SnapshotError(f"the shared memory of process {pid} (fd {fd}) is not "
                                       f"sealed read-only: not a frost.share() image")
    except BaseException:
        owned.close()
        raise
    return owned, st


def _open_file(path, dev, ino, since="it was sent"):
    """(Fd, stat) of the loaded file at path, checked to be that file (dev, ino)
    still; SnapshotError "replaced since <since>" if another file is there."""
    replaced = (f"{os.fsdecode(path)}: is not the file the frost handle names any more "
                f"(replaced since {since})")
    st = os.stat(path)   # before opening: a path that now names a device or FIFO is never opened
    if (st.st_dev, st.st_ino) != (dev, ino) or not stat.S_ISREG(st.st_mode):
        raise _frost.SnapshotError(replaced)
    owned = Fd(os.open, path, _OPEN_FLAGS)
    try:
        st = os.fstat(owned.fd)
        if (st.st_dev, st.st_ino) != (dev, ino) or not stat.S_ISREG(st.st_mode):
            raise _frost.SnapshotError(replaced)
    except BaseException:
        owned.close()
        raise
    return owned, st


def _image_of(image):
    """What a handle unpickled to (a MapImage), or the handle itself: copy.copy
    calls the reducer's function on its arguments as they are."""
    if type(image) is _Handle:
        ref = getattr(image, "image", None)   # (a forged one may have no slots set)
        image = ref() if isinstance(ref, weakref.ref) else None
    if not isinstance(image, _frost.MapImage):
        raise _frost.SnapshotError("invalid frost handle (corrupted or forged data)")
    return image


def _rebuild_view(image, offset):
    """A mapped view's unpickling: image is what its handle unpickled to."""
    return _image_of(image).view_at(offset)


def _rebuild_store(image):
    return MappedStore._new(_image_of(image))


# ---------------------------------------------------------------------------
# MappedStore


class MappedStore:
    """A frost store read in place from a read-only shared mapping: made by
    frost.share() (anonymous shared memory) or frost.load() of a format-2
    file. Any number of processes map the same pages; pickling it, or one of
    its views, sends a handle (see docs/design.md, "Cross-process stores").

    close() releases this object's hold on the image (idempotent; .root then
    raises StoreClosedError); views already handed out keep the mapping alive
    and keep working. The memory goes when the last view, in every process,
    is gone.
    """

    __slots__ = ("_image", "_store_id", "_path", "_nbytes", "__weakref__")

    def __init__(self, *args, **kwargs):
        raise TypeError("frost.MappedStore cannot be created directly: use frost.share(data) "
                        "or frost.load(path) of a format-2 file")

    @classmethod
    def _new(cls, image):
        self = object.__new__(cls)
        self._image = image
        self._store_id = image.store_id
        self._path = image.handle.path if image.handle is not None else None
        self._nbytes = image.image_size
        return self

    def _live_image(self, what):
        image = self._image
        if image is None:
            raise _frost.StoreClosedError(f"{what} of a closed frost.MappedStore")
        return image

    @property
    def root(self):
        """The frozen data: a read-only view (MappedDict, MappedList, ...) or a leaf,
        read in place from the image. StoreClosedError after close()."""
        return self._live_image("root").root

    @property
    def closed(self):
        """True once close() was called."""
        return self._image is None

    @property
    def store_id(self):
        """16 bytes naming the image (the same bytes in every process)."""
        return self._store_id

    @property
    def path(self):
        """The file's absolute path, or None for shared memory."""
        return self._path

    @property
    def nbytes(self):
        """The image's size in bytes (one copy, whatever the number of readers)."""
        return self._nbytes

    def verify(self, *, progress=None):
        """Check every byte and reference reachable (and the body checksum, when the
        image has one: files do, frost.share images in sealed memory do not):
        None, or frost.SnapshotError naming the first problem."""
        _check_progress(progress, "verify")
        self._live_image("verify()").verify(progress)

    def save(self, path, *, progress=None):
        """Write the image to a format-2 file at path, as Store.save does: a new
        file beside it renamed over it (an existing target that is not a regular
        file is refused), with a body checksum (a frost.share image has none:
        the file gets one). frost.load(path) maps it in O(1). progress(done,
        total) is called while writing: total None, then (size, size)."""
        _check_progress(progress, "save")
        self._live_image("save()").save(path, progress=progress)

    def stats(self):
        """Facts of the image (a dict): bytes (the image: one copy, shared by
        every process that maps it), nodes (containers written), the
        store_id (hex), body_checksum (whether verify has one to check: files,
        not frost.share images), where it lives (path, or None: shared memory)."""
        image = self._live_image("stats()")
        return {"format_version": 2, "bytes": self._nbytes, "nodes": image.nnodes,
                "store_id": self._store_id.hex(), "body_checksum": image.body_checksum,
                "path": None if self._path is None else os.fsdecode(self._path)}

    def close(self):
        """Release this object's hold on the image (idempotent): views already
        handed out keep the mapping alive and keep working."""
        self._image = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()

    def __reduce__(self):
        return (_rebuild_store, (self._live_image("pickling").handle,))

    def __repr__(self):
        if self._image is None:
            return "<frost.MappedStore closed>"
        where = "memory" if self._path is None else f"path={os.fsdecode(self._path)!r}"
        try:
            root = type(self._image.root).__name__
        except Exception as exc:   # a damaged image meets it at the root
            root = f"<{type(exc).__name__}>"
        return (f"<frost.MappedStore {where} id={self._store_id.hex()[:12]} root={root} "
                f"nbytes={self._nbytes}>")


# ---------------------------------------------------------------------------
# share / load


def _is_arena(obj):
    """An arena store or view whose graph _map_write writes as it is (a frost.Table's row
    slice is no node: it is frozen, like any Arrow data, into the rows it shows)."""
    if type(obj) is _frost.Table:
        return _frost._table_is_whole(obj)
    return isinstance(obj, _forking_guard._ARENA_TYPES)


def share(obj, *, progress=None):
    """A MappedStore holding obj in anonymous shared memory (a sealed memfd):
    pickling it or its views to other processes sends a handle, and they map
    the same pages in O(1). Nothing is left behind when the processes end,
    even by SIGKILL.

    obj: plain data (frozen first, as frost.freeze would), a frost.Store (its
    root) or an arena view (its subgraph). progress(done, total) is called
    while freezing (plain data), then while writing the image.
    """
    _check_progress(progress, "share")
    if isinstance(obj, MappedStore) or isinstance(obj, _MAPPED_VIEWS):
        raise TypeError(f"{type(obj).__name__} is already a shared frost image: send it (or "
                        f"its views) to other processes as it is")
    if isinstance(obj, _frost.Store) and obj.closed:   # not the writer's name, _map_write()
        raise _frost.StoreClosedError("share() of a closed frost.Store")
    # owned from its creation (an interrupt anywhere leaks nothing): kept by the
    # image's handle, closed here on any error
    owned = Fd(os.memfd_create, "frost-share", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        fd = owned.fd
        # no body checksum: the memfd is sealed before anyone else can see it, so nothing
        # can change its bytes (every reference is still checked when followed). Plain
        # data is frozen into a private arena that only the writer reads and that is
        # freed before this returns (_map_write_fresh: its dicts need no index).
        write = _frost._map_write if _is_arena(obj) else _frost._map_write_fresh
        size = write(obj, fd, progress=progress, checksum=False)
        # no writable mapping of fd is left (the writer unmaps its own), so sealing succeeds
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        image = _map_fd(fd, size, "frost.share()")
        _own(image, _Handle(owned, None, os.fstat(fd), image.store_id))
    except BaseException:
        owned.close()
        raise
    _prune_lingering()
    return MappedStore._new(_register(image))


_LIFETIMES = ("scoped", "process")


def load(path, *, lifetime="process", progress=None):
    """The store saved in a snapshot file.

    Format 2 (Store.save's default): a MappedStore over a read-only mapping
    of the file, in O(1) of its size -- the header is checked, the body is
    read (and checked: references are bounds- and kind-checked when
    followed) only as it is used; frost.verify(path) checks it all.
    `lifetime` does not apply (the mapping lives while the store or a view
    of it does) and `progress` is never called.

    Format 1: a frost.Store built from the file (copied and relocated into an
    arena of this lifetime, the whole file checked first; progress(done,
    total) every 65,536 records).
    """
    path = os.fspath(path)   # TypeError naming the type (os.open says "open: ...")
    if not isinstance(lifetime, str):
        raise TypeError(f"load() lifetime must be a str, not {type(lifetime).__name__}")
    if lifetime not in _LIFETIMES:
        raise ValueError(f"load() lifetime must be 'scoped' or 'process', not {lifetime!r}")
    _check_progress(progress, "load")
    with Fd(os.open, path, _OPEN_FLAGS) as opened:
        fd = opened.fd
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(st.st_mode):
            raise _frost.SnapshotError(f"not a frost snapshot: not a regular file (a device, "
                                       f"FIFO or socket): {os.fsdecode(path)}")
        if pread(fd, len(MAGIC_V2), 0, path) == MAGIC_V2:
            image = _map_fd(fd, st.st_size, os.fsdecode(path))
            _own(image, _Handle(None, _abspath(path), st, image.store_id))
            _register(image)   # handles received later for it use this mapping
            return MappedStore._new(image)
    return _frost.load(path, lifetime=lifetime, progress=progress)


def _abspath(path):
    """The path a handle carries: absolute (receivers may run elsewhere), str or bytes."""
    path = os.fspath(path)
    return os.path.abspath(path)


def open_image(path):
    """(MapImage, None) for a format-2 file, (None, header bytes) otherwise:
    frost.verify and the command line (no registry: a fresh, private mapping)."""
    path = os.fspath(path)   # TypeError naming the type, as load()
    with Fd(os.open, path, _OPEN_FLAGS) as opened:
        fd = opened.fd
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(st.st_mode):
            return None, b""
        head = pread(fd, len(MAGIC_V2), 0, path)
        if head == MAGIC_V2:
            return _map_fd(fd, st.st_size, os.fsdecode(path)), None
        return None, head


def pread(fd, n, offset, path):
    """os.pread whose OSError names the file: a regular file that refuses
    reads (/proc/self/mem: EIO, a failing disk) was a bare "[Errno 5]
    Input/output error" from frost.load, frost.verify and read_header."""
    try:
        return os.pread(fd, n, offset)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None


# ---------------------------------------------------------------------------
# multiprocessing's pickler: arena stores refused (frost._forking_guard), handles reduced here


def _register_handle(reduction):
    reduction.ForkingPickler.register(_Handle, _reduce_sent_handle)


# else (not imported yet, or still being imported) frost._forking_guard.guard does it then
if getattr(sys.modules.get("multiprocessing.reduction"), "ForkingPickler", None) is not None:
    _register_handle(sys.modules["multiprocessing.reduction"])
