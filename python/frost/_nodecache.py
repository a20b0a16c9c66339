"""The node-local directory of frost.dask: snapshot files that every process of
one machine maps, how they arrive, and when they go. No Dask here (this module
is what runs on the node; frost/dask.py moves bytes and tells processes what
to map), so it can be read and tested on its own.

Layout of a node directory D (docs/dask.md shows it to users):

    D/node-id                 random id, made once: processes that read the same
                              id share D, so they are one "node" for frost.dask
    D/.lock                   flock(LOCK_EX) while a file is committed or swept
    D/stores/<sha256>.frost   complete, verified snapshots, content-addressed
    D/incoming/<sha256>.<pid>.<rand>.part
                              a transfer in progress; its writer holds
                              flock(LOCK_EX) on it while it lives
    D/names/<quoted name>.json
                              {"name", "version", "digest", "size"}: the newest
                              version of a shared name this node holds
                              (check_name: a name that fits NAME_MAX so quoted)

Invariants:
- A file under stores/ is only ever made by rename() of a part file whose size,
  sha256 and frost.verify() were checked after fsync: a killed or corrupt
  transfer leaves at most a part file, which no reader opens.
- rename() of a new store file and the write of its manifest happen under
  D/.lock, as does every sweep: a sweep never sees a store file that is
  complete but not yet named.
- A process that uses a version (it is the current one of its name there, or
  its mapping is still alive) holds flock(LOCK_SH) on its store file (a Hold).
  sweep() removes a store file only when no manifest names it and it can take
  flock(LOCK_EX|LOCK_NB) on it, and a part file only when its writer is gone
  (the same test): the kernel drops a dead process's locks, so a killed
  worker never pins a file.
- Every fd here is a frost._fd.Fd, owned from the instant it exists: an
  interrupt (Ctrl-C) anywhere leaks no fd, and so holds no lock, once the
  object that had it goes (closing an fd drops its flock).
"""
import errno
import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
import urllib.parse
import uuid

from frost._fd import Fd

DIR_ENV = "FROST_DASK_DIR"
_DIGEST_LEN = 64   # sha256, hex
_READ_BLOCK = 1 << 20
_LOCK_TIMEOUT = 60.0
_ROOM_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class NodeDirectoryError(OSError):
    """The node-local directory of frost.dask cannot be used on a node: missing,
    not a directory, not writable, or without room for the snapshot. The
    message names the host, the directory and what to do."""


def default_directory():
    """$FROST_DASK_DIR, else frost-dask-<uid> under the node's temporary
    directory (tempfile.gettempdir(): $TMPDIR, else /tmp)."""
    return os.environ.get(DIR_ENV) or os.path.join(tempfile.gettempdir(),
                                                   f"frost-dask-{os.getuid()}")


def file_digest(path):
    """sha256 of a file's bytes (hex): the file at `path`, or an open fd (read
    with pread from offset 0: its offset is not used)."""
    h = hashlib.sha256()
    if isinstance(path, int):
        offset = 0
        while block := os.pread(path, _READ_BLOCK, offset):
            h.update(block)
            offset += len(block)
        return h.hexdigest()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_READ_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


# A name's manifest is names/<quoted name>.json, written through
# <that>.<pid>.tmp: the longest of these file names must fit NAME_MAX (255 bytes
# on the usual Linux file systems), with room for a pid of up to 10 digits.
_NAME_MAX = 255
MAX_QUOTED_NAME = _NAME_MAX - len(".json.") - 10 - len(".tmp")


def check_name(name):
    """ValueError unless the str `name` makes manifest file names that every
    node can write: UTF-8 text (no lone surrogate) whose quoted form
    (urllib.parse.quote: a byte that is not a letter, digit or _.-~ counts 3)
    is at most MAX_QUOTED_NAME bytes."""
    try:
        quoted = urllib.parse.quote(name, safe="")
    except UnicodeEncodeError as exc:
        raise ValueError(f"frost.dask: name {name!r} is not UTF-8 text (a lone surrogate at "
                         f"index {exc.start}); it names files on every node") from None
    if len(quoted) > MAX_QUOTED_NAME:
        raise ValueError(f"frost.dask: name {name[:40]!r}... is too long: {len(quoted)} "
                         f"bytes as a file name, at most {MAX_QUOTED_NAME} (each character "
                         f"that is not a letter, digit or _.-~ takes 3 per UTF-8 byte)")
    return name


def check_digest(digest):
    if not (isinstance(digest, str) and len(digest) == _DIGEST_LEN
            and all(c in "0123456789abcdef" for c in digest)):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return digest


def _flock(fd, op, what, timeout=_LOCK_TIMEOUT):
    """flock(fd, op) waiting at most `timeout` s in short non-blocking tries
    (so a wait is bounded and a signal handler can interrupt it)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"frost.dask: {what} stayed locked for {timeout:g} s") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _lock_file(path, op, wait):
    """An Fd of `path` holding flock(op) while it is still the file at `path`;
    None when `path` is gone (or removed or replaced before the lock was
    taken) or, without `wait`, when another open file holds a conflicting
    lock. With `wait`, _flock's bounded wait."""
    try:
        owned = Fd(os.open, path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if wait:
            _flock(owned.fd, op, path)
        else:
            fcntl.flock(owned.fd, op | fcntl.LOCK_NB)
        st = os.fstat(owned.fd)
        now = os.stat(path)
        if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
            return owned
    except (BlockingIOError, FileNotFoundError):
        pass
    except BaseException:
        owned.close()   # the lock goes now, not with the traceback
        raise
    owned.close()
    return None


class Hold:
    """flock(LOCK_SH) on one store file, through `owned` (an Fd): while a
    process holds it, no sweep removes the file. release() is idempotent."""

    __slots__ = ("path", "owned", "ino")

    def __init__(self, path, owned):
        self.path, self.owned, self.ino = path, owned, os.fstat(owned.fd).st_ino

    @property
    def fd(self):
        """The held file's fd, to read it (None once released); the Hold owns it."""
        return self.owned.fd

    def mapped_here(self):
        """Whether this process maps the file now (/proc/self/maps lists its
        inode): a format-2 store is read in place, so its file must stay
        while any view of it lives; a format-1 load copied it. The inode
        alone decides: on overlayfs (containers) maps shows the device of
        the layer that holds the file, not the one stat() gives, and a
        mapping of another file with the same inode number only keeps this
        file longer (the safe way, as when maps cannot be read)."""
        ino = str(self.ino)
        try:
            with open("/proc/self/maps") as maps:
                for line in maps:
                    fields = line.split(None, 5)
                    if len(fields) >= 5 and fields[4] == ino:
                        return True
        except OSError:
            return True   # cannot tell: keep the file
        return False

    def release(self):
        self.owned.close()


class NodeCache:
    """One node directory (see the module docstring). Creating it checks that
    it can be used and raises NodeDirectoryError when not."""

    def __init__(self, directory=None):
        self.path = os.path.abspath(os.fspath(directory or default_directory()))
        self.host = socket.gethostname()
        self._ensure()

    def _error(self, err, what):
        return NodeDirectoryError(err, f"frost.dask node-local directory {self.path} on "
                                       f"{self.host}: {what}")

    def _ensure(self):
        parent = os.path.dirname(self.path)
        if not os.path.isdir(parent):
            raise self._error(errno.ENOENT, f"missing: its parent {parent} does not exist "
                              f"(create it, or point {DIR_ENV} / directory= at a local "
                              "directory)")
        try:
            os.mkdir(self.path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise self._error(exc.errno, f"cannot be created: {exc.strerror}") from exc
        if not os.path.isdir(self.path):
            raise self._error(errno.ENOTDIR, "exists but is not a directory")
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise self._error(errno.EACCES, f"not writable by uid {os.getuid()}")
        try:
            for sub in ("stores", "incoming", "names"):
                os.makedirs(os.path.join(self.path, sub), 0o700, exist_ok=True)
        except OSError as exc:
            raise self._error(exc.errno, f"cannot make its subdirectories: {exc.strerror}") from exc

    # ---- facts ----------------------------------------------------------

    @property
    def node_id(self):
        """This directory's id, made on first use (two processes that see the
        same id share the directory)."""
        path = os.path.join(self.path, "node-id")
        try:
            with open(path) as f:
                return f.read().strip()
        except FileNotFoundError:
            pass
        tmp = os.path.join(self.path, f".node-id.{os.getpid()}.{uuid.uuid4().hex}")
        try:
            with open(tmp, "w") as f:
                f.write(uuid.uuid4().hex + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)   # fails if another process made it first
            except FileExistsError:
                pass
        except OSError as exc:
            raise self._error(exc.errno, f"cannot write node-id: {exc.strerror}") from exc
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        with open(path) as f:
            return f.read().strip()

    def free_bytes(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def check_room(self, size):
        free = self.free_bytes()
        if free < size:
            raise self._error(errno.ENOSPC, f"full: the snapshot needs {size} bytes, "
                              f"{free} are free")

    def store_path(self, digest):
        return os.path.join(self.path, "stores", check_digest(digest) + ".frost")

    def has(self, digest):
        return os.path.isfile(self.store_path(digest))

    def _manifest_path(self, name):
        return os.path.join(self.path, "names", urllib.parse.quote(name, safe="") + ".json")

    def manifest(self, name):
        """{"name", "version", "digest", "size"} of `name` on this node, or None."""
        try:
            with open(self._manifest_path(name)) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def _manifests(self):
        names = os.path.join(self.path, "names")
        out = []
        for entry in os.listdir(names):
            if entry.endswith(".json"):
                try:
                    with open(os.path.join(names, entry)) as f:
                        out.append(json.load(f))
                except (FileNotFoundError, ValueError):
                    pass
        return out

    # ---- locks ----------------------------------------------------------

    class _NodeLock:
        def __init__(self, cache):
            self.cache = cache

        def __enter__(self):
            self.owned = Fd(os.open, os.path.join(self.cache.path, ".lock"),
                            os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                _flock(self.owned.fd, fcntl.LOCK_EX, f"{self.cache.path}/.lock")
            except BaseException:
                self.owned.close()
                raise
            return self

        def __exit__(self, *exc):
            self.owned.close()   # drops the lock

    def node_lock(self):
        return self._NodeLock(self)

    def hold(self, digest):
        """A Hold on the store file of `digest`, or None when the node has no
        such file (never arrived, or swept)."""
        path = self.store_path(digest)
        owned = _lock_file(path, fcntl.LOCK_SH, wait=True)
        return None if owned is None else Hold(path, owned)

    # ---- names ----------------------------------------------------------

    def name_version(self, name, version, digest, size):
        """Record (under the node lock) that `name` is at `version` here, unless
        the node already has a newer one; the store file must be present."""
        with self.node_lock():
            self._write_manifest(name, version, digest, size)

    def _write_manifest(self, name, version, digest, size):
        old = self.manifest(name)
        if old is not None and old.get("version", 0) >= version:
            return
        if not self.has(digest):
            raise FileNotFoundError(errno.ENOENT, "no store file to name", self.store_path(digest))
        path = self._manifest_path(name)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump({"name": name, "version": version, "digest": digest, "size": size}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            if exc.errno in _ROOM_ERRNOS:
                raise self._error(exc.errno, f"full: {exc.strerror}") from exc
            raise

    def forget(self, name):
        """Drop `name`'s manifest: its files go once no process uses them."""
        with self.node_lock():
            try:
                os.unlink(self._manifest_path(name))
            except FileNotFoundError:
                pass
        self.sweep()

    # ---- arrival --------------------------------------------------------

    def begin(self, digest, size):
        """A PartFile to receive the snapshot `digest` of `size` bytes."""
        check_digest(digest)
        self.check_room(size)
        return PartFile(self, digest, size)

    # ---- removal --------------------------------------------------------

    def sweep(self):
        """Remove store files no manifest names and no process holds, and part
        files whose writer is gone. Returns the names of the removed files."""
        removed = []
        with self.node_lock():
            named = {m.get("digest") for m in self._manifests()}
            stores = os.path.join(self.path, "stores")
            for entry in os.listdir(stores):
                if entry.endswith(".frost") and entry[:-6] in named:
                    continue
                self._remove_if_free(os.path.join(stores, entry), removed)
            incoming = os.path.join(self.path, "incoming")
            for entry in os.listdir(incoming):
                self._remove_if_free(os.path.join(incoming, entry), removed)
        return removed

    @staticmethod
    def _remove_if_free(path, removed):
        owned = _lock_file(path, fcntl.LOCK_EX, wait=False)
        if owned is None:
            return
        with owned:
            os.unlink(path)
            removed.append(os.path.basename(path))


class PartFile:
    """A snapshot arriving on a node: written (in any order, from any thread)
    to incoming/<digest>.<pid>.<rand>.part under flock(LOCK_EX) (its Fd,
    `owned`, closed when the transfer ends), then commit() or abort().
    Nothing reads a part file."""

    def __init__(self, cache, digest, size):
        self.cache, self.digest, self.size = cache, digest, size
        self.path = os.path.join(cache.path, "incoming",
                                 f"{digest}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
        try:
            self.owned = Fd(os.open, self.path,
                            os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise cache._error(exc.errno, f"cannot create {self.path}: {exc.strerror}") from exc
        fcntl.flock(self.owned.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # a new file: never contended
        self.written = 0

    def write(self, offset, data):
        if self.owned.fd is None:
            raise ValueError(f"frost.dask: write to a finished transfer ({self.path})")
        view = memoryview(data).cast("B")
        if offset < 0 or offset + len(view) > self.size:
            raise ValueError(f"frost.dask: chunk [{offset}, {offset + len(view)}) outside "
                             f"the snapshot's {self.size} bytes")
        try:
            done = 0
            while done < len(view):
                done += os.pwrite(self.owned.fd, view[done:], offset + done)
        except OSError as exc:
            if exc.errno in _ROOM_ERRNOS:
                raise self.cache._error(exc.errno, f"full while writing {self.path}: "
                                        f"{exc.strerror}") from exc
            raise
        self.written += len(view)

    def commit(self, name=None, version=None, verify=None):
        """Check the arrived bytes and make them the store file of `digest`
        (and, with `name`, that name's `version` on this node). Raises
        TransferCorrupt (the part file is removed) when the size, the sha256
        or verify(path) disagree; the caller may send it again."""
        try:
            try:
                os.fsync(self.owned.fd)
            except OSError as exc:
                if exc.errno in _ROOM_ERRNOS:
                    raise self.cache._error(exc.errno, f"full at fsync of {self.path}: "
                                            f"{exc.strerror}") from exc
                raise
            actual = os.fstat(self.owned.fd).st_size
            if actual != self.size:
                raise TransferCorrupt(f"{self.path}: {actual} bytes arrived, "
                                      f"{self.size} expected (truncated transfer)")
            got = file_digest(self.path)
            if got != self.digest:
                raise TransferCorrupt(f"{self.path}: sha256 {got} differs from the "
                                      f"sent snapshot's {self.digest} (corrupt transfer)")
            if verify is not None:
                try:
                    verify(self.path)
                except ValueError as exc:   # frost.SnapshotError
                    raise TransferCorrupt(f"{self.path}: {exc}") from exc
            final = self.cache.store_path(self.digest)
            renamed = False
            with self.cache.node_lock():
                if os.path.exists(final):
                    os.unlink(self.path)   # another process brought the same bytes
                else:
                    os.rename(self.path, final)
                    renamed = True
                    with Fd(os.open, os.path.dirname(final), os.O_RDONLY | os.O_CLOEXEC) as d:
                        os.fsync(d.fd)
                if name is not None:
                    try:
                        self.cache._write_manifest(name, version, self.digest, self.size)
                    except BaseException:
                        if renamed:   # no store file without a name left (the sweep's rule)
                            self._unlink_unnamed(final)
                        raise
            self.owned.close()
            return final
        except BaseException:
            self.abort()
            raise

    def _unlink_unnamed(self, final):
        """Remove `final`, just renamed from this part file, when no manifest
        names it (the caller holds the node lock). Nothing else holds it: this
        part file's fd still holds flock(LOCK_EX) on it, and a Hold taken
        meanwhile sees it gone."""
        if self.digest not in {m.get("digest") for m in self.cache._manifests()}:
            try:
                os.unlink(final)
            except FileNotFoundError:
                pass

    def abort(self):
        """Remove the part file (idempotent)."""
        if self.owned.fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.owned.close()


class TransferCorrupt(ValueError):
    """The bytes that arrived on a node are not the snapshot that was sent
    (size, sha256 or frost.verify disagree); nothing was made readable."""

