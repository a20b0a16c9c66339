"""frost on a Dask cluster: one copy of a store per node, mapped by every
worker process of that node (docs/dask.md is the user's guide).

    frost.dask.share(client, store, "prices")     # on the client
    root = frost.dask.get("prices")               # inside any task

share() sends the snapshot file once to each *node* (the workers that share
one node-local directory, see frost._nodecache) in chunks, through Dask's own
connections (client.scatter straight to one worker of the node), where it is
checked (size, sha256, frost.verify) and renamed into place; then every worker
process of the node loads it (format 2 maps it in place: one copy in the page
cache for the whole node; format 1 copies it into each process). A
WorkerPlugin gives the same version to workers that join later; on a node that
never received it, the first get() fetches it from a node that has it.
Sharing again under the same name makes version N+1: each node switches as
soon as its copy is complete; a task keeps the view it got (version N) until
it ends; old files go once no process on the node uses them.

Worker side, the state of this process lives in _registry (one _Shared per
name: the version it should use and the one it has loaded). Everything that
touches files is frost._nodecache. Functions named _on_worker_* run inside
worker processes through client.run (the worker's event loop: they never wait
for a free task slot, so a refresh reaches busy workers); they do their file
work in a thread.

distributed is imported here: a frost.Pool subinterpreter cannot load it, so
code that runs there reads shared stores through frost.published(name) or the
views it is handed (see pool()).
"""
try:
    import distributed
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as exc:   # pragma: no cover - depends on the environment
    raise ImportError("frost.dask needs Dask's distributed scheduler, which is not installed:"
                      " pip install distributed") from exc

import asyncio
import contextlib
import dataclasses
import logging
import math
import numbers
import operator
import os
import random
import stat
import tempfile
import threading
import time

import frost
from frost import _mapped
from frost._fd import Fd
from frost._nodecache import (DIR_ENV, NodeCache, NodeDirectoryError, TransferCorrupt,
                              check_name, default_directory, file_digest)

__all__ = ["share", "get", "unshare", "pool", "stats", "ShareReport", "NodeReport",
           "ShareError", "NodeDirectoryError", "FrostSharePlugin", "DIR_ENV", "PROFILER_ENV",
           "default_directory"]

logger = logging.getLogger("frost.dask")

DEFAULT_CHUNK = 8 << 20
_META = "frost-dask"   # client metadata key prefix: [_META, name] -> {"version", "digest", ...}
_RELEASE_PERIOD = 1.0  # s between checks for retired versions no view uses any more


class ShareError(RuntimeError):
    """share() could not bring the snapshot to a node after its retries, or
    at once when the node received it but could not commit it (the message
    says which node, which workers and every attempt's error)."""


class _CommitFailed(Exception):
    """A receiver's commit failed for a reason other than the bytes that
    arrived (TransferCorrupt) or its directory (NodeDirectoryError): sending
    the file again cannot help, so share() does not retry it. Made on the
    worker (_on_worker_commit) so that it is told apart from a receiver lost
    on the way; its message is "<type>: <message>" of the worker's error."""


@dataclasses.dataclass
class NodeReport:
    """What share() did on one node."""
    host: str
    directory: str
    workers: list          # worker addresses of the node
    status: str = "pending"   # "sent", "present" (had it already), "lost" (no worker left)
    receiver: str = None   # the worker that received the bytes
    bytes_sent: int = 0    # snapshot bytes that went to the node (all attempts)
    attempts: int = 0
    errors: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ShareReport:
    """The outcome of share(): version, file digest and size, per node."""
    name: str
    version: int
    digest: str
    size: int
    nodes: dict            # node id -> NodeReport
    seconds: float = 0.0

    @property
    def bytes_sent(self):
        return sum(n.bytes_sent for n in self.nodes.values())


# ---------------------------------------------------------------- client side

def _workers(client):
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:   # distributed before 2025: no n_workers, lists all
        info = client.scheduler_info()
    return info["workers"]


def _check_directory(directory):
    """None (each worker's default) or a str path, the same on every node."""
    if directory is None:
        return None
    path = os.fspath(directory)
    if not isinstance(path, str):
        raise TypeError(f"frost.dask: directory must be a str or os.PathLike[str], not "
                        f"{type(directory).__name__}")
    if "\0" in path:   # else every worker's os call fails: "no worker answered"
        raise ValueError(f"frost.dask: directory must not contain a NUL: {path!r}")
    return path


def _is_index(value):
    """An int or an int-like (numpy integer: __index__), not a bool."""
    return not isinstance(value, bool) and hasattr(type(value), "__index__")


def _check_name(name):
    """A str that names files on every node (frost._nodecache.check_name):
    checked here, before anything is sent, not on a worker after the transfer."""
    if not isinstance(name, str):
        raise TypeError(f"frost.dask: name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("frost.dask: name must not be empty")
    return check_name(name)


def _check_client(client, function):
    """A distributed.Client that is not closed, checked before anything is
    read or sent (else an AttributeError from deep inside, after the
    snapshot was hashed)."""
    if not isinstance(client, distributed.Client):
        raise TypeError(f"frost.dask.{function}: client must be a distributed.Client, not "
                        f"{type(client).__name__}")
    if client.status in ("closing", "closed"):
        raise ValueError(f"frost.dask.{function}: the client is {client.status}")


def _check_timeout(timeout):
    """A positive, finite number of seconds (it makes the share's deadline)."""
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"frost.dask.share: timeout must be a number of seconds, not "
                        f"{type(timeout).__name__}")
    timeout = float(timeout)
    if not (0 < timeout < math.inf):
        raise ValueError(f"frost.dask.share: timeout must be a positive, finite number of "
                         f"seconds, not {timeout!r}")
    return timeout


@contextlib.contextmanager
def _snapshot_file(store_or_path):
    """(fd, name) of the snapshot file to send, open for the whole share (what
    is digested is what is sent, whatever is renamed over its path meanwhile):
    the file at a path; for a MappedStore loaded from a file, that file while
    its path still names it (the store's own inode: a new save renamed over it,
    or its removal, must not change what is shared); else a temporary file the
    store is saved to (removed afterwards). A closed store: StoreClosedError."""
    if isinstance(store_or_path, (str, bytes, os.PathLike)):
        path = os.fsdecode(store_or_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"frost.dask.share: no snapshot file at {path!r}")
        # a FIFO never blocks
        with Fd(os.open, path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK) as opened:
            if not stat.S_ISREG(os.fstat(opened.fd).st_mode):
                raise FileNotFoundError(f"frost.dask.share: no snapshot file at {path!r}")
            yield opened.fd, path
        return
    if isinstance(store_or_path, _mapped.MappedStore):
        image = store_or_path._live_image("frost.dask.share()")   # closed: StoreClosedError
        handle = getattr(image, "handle", None)
        reopened = None
        if handle is not None and handle.path is not None:
            # None: replaced or removed since the load; resized in place: SnapshotError
            reopened = _mapped._reopen(handle, "the Dask workers")
        if reopened is not None:
            with reopened:
                yield reopened.fd, os.fsdecode(handle.path)
            return
    elif not callable(getattr(store_or_path, "save", None)):
        raise TypeError(f"frost.dask.share: expected a frost store or the path of a snapshot "
                        f"file, not {type(store_or_path).__name__} (frost.freeze(data) first)")
    tmp_fd, path = tempfile.mkstemp(prefix="frost-dask-", suffix=".frost")
    os.close(tmp_fd)
    try:
        store_or_path.save(path)
        with Fd(os.open, path, os.O_RDONLY | os.O_CLOEXEC) as opened:
            yield opened.fd, path
    finally:
        os.unlink(path)


def _run(client, fn, *args, workers):
    return client.run(fn, *args, workers=list(workers))


def _discover(client, directory, digest, size):
    """{node id: NodeReport} of the live workers, grouped by the node-local
    directory they share; NodeDirectoryError naming every worker whose
    directory cannot take the snapshot (nothing was sent then)."""
    facts = client.run(_on_worker_facts, directory, digest, size, on_error="return")
    bad = {addr: f for addr, f in facts.items() if isinstance(f, NodeDirectoryError)}
    if bad:
        first = next(iter(bad.values()))
        raise NodeDirectoryError(first.errno or 0,
                                 "frost.dask.share: node-local directory unusable on "
                                 + "; ".join(f"{addr}: {f}" for addr, f in sorted(bad.items())))
    failed = {addr: f for addr, f in facts.items() if isinstance(f, BaseException)}
    for addr, exc in failed.items():   # gone while asked: it is a late joiner if it returns
        logger.warning("frost.dask.share: worker %s did not answer: %r", addr, exc)
    if len(failed) == len(facts):
        raise ShareError("frost.dask.share: no worker answered"
                         + "".join(f"; {a}: {e!r}" for a, e in failed.items()))
    nodes = {}
    for addr in sorted(set(facts) - set(failed)):
        fact = facts[addr]
        node = nodes.setdefault(fact["node"], NodeReport(fact["host"], fact["directory"], []))
        node.workers.append(addr)
        if fact["has"]:
            node.status = "present"
    return nodes


def _name_lock(client, name):
    """The cluster-wide lock that orders shares of one name (on the scheduler)."""
    try:
        return distributed.Lock(f"{_META}:{name}", scheduler_rpc=client.scheduler,
                                loop=client.loop)
    except TypeError:   # distributed < 2023.4: Lock(name, client)
        return distributed.Lock(f"{_META}:{name}", client=client)


def _reserve_version(client, name):
    meta = client.get_metadata([_META, name], default=None) or {}
    version = max(meta.get("version", 0), meta.get("reserved", 0)) + 1
    client.set_metadata([_META, name, "reserved"], version)   # a failed share burns its number
    return version


def share(client, store_or_path, name, *, directory=None, chunk_size=DEFAULT_CHUNK, retries=3,
          timeout=600.0, progress=None):
    """Make `store_or_path` (a frost store, or the path of a snapshot file)
    readable as `name` by every worker of `client`'s cluster, one copy per node.
    A store is shared as it reads: a store loaded from a file that was since
    replaced or removed is saved to a temporary file (StoreClosedError when it
    is closed; SnapshotError naming the path, nothing sent, when that file was
    grown or cut short in place since the load).

    Each node (the workers sharing one node-local directory: `directory` when
    given, else each worker's $FROST_DASK_DIR or <tmp>/frost-dask-<uid>)
    receives the file once, in `chunk_size` pieces, straight from this client;
    one worker of the node checks it (size, sha256, frost.verify) before
    renaming it into place, and every worker process of the node then loads
    it. A corrupt or truncated transfer, or a receiver that dies, is retried
    (`retries` more attempts per node, on another worker of the node when the
    receiver is gone). Version numbers rise per name: sharing again rolls the
    new version out node by node; tasks that already called get() keep theirs.

    progress(done, total): snapshot bytes written on nodes so far, of total.
    Returns a ShareReport. Raises ValueError or TypeError naming the argument
    (nothing sent) for a client that is not an open distributed.Client, a
    name that cannot be a file name on the nodes (frost._nodecache.check_name)
    or a timeout that is not a positive, finite number of seconds;
    NodeDirectoryError (nothing sent) when a
    node's directory is missing, not writable or too small; ShareError when a
    node could not be served; TimeoutError past `timeout` seconds.
    """
    _check_client(client, "share")
    _check_name(name)
    timeout = _check_timeout(timeout)
    if not _is_index(chunk_size) or chunk_size <= 0:
        raise ValueError(f"frost.dask.share: chunk_size must be a positive int, not {chunk_size!r}")
    if not _is_index(retries) or retries < 0:
        raise ValueError(f"frost.dask.share: retries must be an int >= 0, not {retries!r}")
    chunk_size, retries = operator.index(chunk_size), operator.index(retries)
    if progress is not None and not callable(progress):
        raise TypeError(f"frost.dask.share: progress must be callable, not "
                        f"{type(progress).__name__}")
    directory = _check_directory(directory)
    start = time.monotonic()
    deadline = start + timeout
    with _snapshot_file(store_or_path) as (fd, where):
        size = os.fstat(fd).st_size
        digest = file_digest(fd)
        lock = _name_lock(client, name)
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"frost.dask.share({name!r}): another share of this name "
                               f"held its lock for {timeout:g} s")
        try:
            version = _reserve_version(client, name)
            nodes = _discover(client, directory, digest, size)
            report = ShareReport(name, version, digest, size, nodes)
            sending = [nid for nid, node in nodes.items() if node.status != "present"]
            transfer = _Transfer(client, fd, where, report, directory, chunk_size, retries,
                                 deadline, progress, total=size * len(sending))
            for nid, node in nodes.items():   # node by node: each switches when its copy is in
                if node.status == "present":
                    _run(client, _on_worker_name, name, version, digest, size, directory,
                         workers=node.workers[:1])
                else:
                    transfer.send(nid, node)
                if node.status != "lost":
                    _activate(client, node, name, version, digest, size, directory)
            plugin = FrostSharePlugin(name, version, digest, size, directory)
            _register_plugin(client, plugin)
            client.set_metadata([_META, name], {"version": version, "reserved": version,
                                                "digest": digest, "size": size})
            report.seconds = time.monotonic() - start
            return report
        finally:
            lock.release()


def _activate(client, node, name, version, digest, size, directory):
    alive = set(client.nthreads())
    workers = [w for w in node.workers if w in alive]
    if not workers:
        return
    results = client.run(_on_worker_activate, name, version, digest, size, directory,
                         workers=workers, on_error="return")
    failed = {w: r for w, r in results.items() if isinstance(r, BaseException)}
    if failed:
        raise ShareError(f"frost.dask.share({name!r}): version {version} arrived on "
                         f"{node.host} ({node.directory}) but could not be loaded by "
                         + "; ".join(f"{w}: {type(e).__name__}: {e}" for w, e in failed.items()))


class _Transfer:
    """Sends one snapshot file to nodes, one node at a time."""

    def __init__(self, client, fd, where, report, directory, chunk_size, retries, deadline,
                 progress, total):
        self.client, self.fd, self.where, self.report = client, fd, where, report
        self.directory, self.chunk_size, self.retries = directory, chunk_size, retries
        self.deadline, self.progress, self.total, self.done = deadline, progress, total, 0

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"frost.dask.share({self.report.name!r}): timed out")
        return left

    def send(self, nid, node):
        r = self.report
        tried = []
        while True:
            alive = set(self.client.nthreads())
            candidates = [w for w in node.workers if w in alive]
            if not candidates:
                node.status = "lost"   # its workers are gone: a returning worker fetches it
                node.errors.append("no live worker left on the node")
                return
            # a receiver that failed before goes last
            candidates.sort(key=lambda w: tried.count(w))
            receiver = candidates[0]
            node.attempts += 1
            node.receiver = receiver
            tried.append(receiver)
            counted = self.done
            try:
                self._send_once(node, receiver)
                node.status = "sent"
                return
            except _CommitFailed as exc:
                node.errors.append(f"attempt {node.attempts} via {receiver}: {exc}")
                raise ShareError(f"frost.dask.share({r.name!r}): node {node.host} "
                                 f"({node.directory}) received the snapshot but could not "
                                 f"commit it (not retried): {exc}") from exc
            except (TransferCorrupt, OSError, distributed.comm.CommClosedError, TimeoutError,
                    ValueError) as exc:
                if isinstance(exc, NodeDirectoryError):   # full / not writable: not for retry
                    raise
                if isinstance(exc, TimeoutError) and time.monotonic() >= self.deadline:
                    raise
                node.errors.append(f"attempt {node.attempts} via {receiver}: "
                                   f"{type(exc).__name__}: {exc}")
                logger.warning("frost.dask.share(%r): %s", r.name, node.errors[-1])
                self.done = counted
                if node.attempts > self.retries:
                    raise ShareError(f"frost.dask.share({r.name!r}): node {node.host} "
                                     f"({node.directory}, workers {node.workers}) failed "
                                     f"{node.attempts} times: " + "; ".join(node.errors)) from exc

    def _send_once(self, node, receiver):
        r, client = self.report, self.client
        token = _run(client, _on_worker_begin, r.digest, r.size, self.directory,
                     workers=[receiver])[receiver]
        ok = False
        try:
            offset = 0
            while offset < r.size:
                data = _read_source_chunk(self.fd, self.where, offset,
                                          min(self.chunk_size, r.size - offset))
                if receiver not in client.nthreads():
                    raise distributed.comm.CommClosedError(f"receiver {receiver} left")
                fut = client.scatter(data, workers=[receiver], direct=True, hash=False,
                                     timeout=min(self._left(), 30))
                try:
                    node.bytes_sent += len(data)
                    _run(client, _on_worker_write, token, offset, fut.key, workers=[receiver])
                finally:
                    fut.release()
                offset += len(data)
                self.done += len(data)
                if self.progress is not None:
                    self.progress(self.done, self.total)
            self._left()
            if receiver not in client.nthreads():
                raise distributed.comm.CommClosedError(f"receiver {receiver} left")
            _run(client, _on_worker_commit, token, r.name, r.version, workers=[receiver])
            ok = True
        finally:
            if not ok and receiver in client.nthreads():
                with contextlib.suppress(Exception):
                    _run(client, _on_worker_abort, token, workers=[receiver])


def _read_source_chunk(fd, where, offset, n):
    data = os.pread(fd, n, offset)
    if len(data) != n:
        raise ShareError(f"frost.dask.share: the snapshot file shrank while it was sent "
                         f"({where}: {len(data)} bytes at {offset}, {n} expected)")
    return data


def _register_plugin(client, plugin):
    register = getattr(client, "register_plugin", None)
    if register is None:   # distributed < 2023.9.2
        client.register_worker_plugin(plugin, name=plugin.name)
    else:
        register(plugin, name=plugin.name)


def unshare(client, name, *, directory=None):
    """Stop sharing `name`: workers forget it (tasks keep the views they hold),
    late joiners no longer get it, and each node removes its files once no
    process uses them."""
    _check_client(client, "unshare")
    _check_name(name)
    directory = _check_directory(directory)
    lock = _name_lock(client, name)
    if not lock.acquire(timeout=60):
        raise TimeoutError(f"frost.dask.unshare({name!r}): the name stayed locked for 60 s")
    try:
        with contextlib.suppress(KeyError, ValueError):
            client.unregister_worker_plugin(f"{_META}:{name}")
        client.run(_on_worker_forget, name, directory, on_error="return")
        meta = client.get_metadata([_META, name], default=None) or {}
        client.set_metadata([_META, name], {"reserved": max(meta.get("version", 0),
                                                            meta.get("reserved", 0))})
    finally:
        lock.release()


# ---------------------------------------------------------------- worker side

@dataclasses.dataclass(frozen=True)
class _Target:
    version: int
    digest: str
    size: int
    directory: str   # None: the worker's default


class _Loaded:
    """One version of one name loaded in this process."""
    __slots__ = ("version", "digest", "store", "root", "hold")

    def __init__(self, version, digest, store, root, hold):
        self.version, self.digest, self.store, self.root, self.hold = (
            version, digest, store, root, hold)


class _Shared:
    """This process's state of one shared name."""
    __slots__ = ("name", "target", "current", "switching")

    def __init__(self, name, target):
        self.name, self.target, self.current = name, target, None
        self.switching = threading.Lock()   # one load at a time per name


_lock = threading.Lock()   # guards _registry, _retired, _parts, _stats
_registry = {}             # name -> _Shared
_retired = []              # _Loaded that were current: their Hold goes when unmapped
_parts = {}                # transfer token -> PartFile (this process is the receiver)
_stats = {"bytes_received": 0, "bytes_served": 0, "loads": 0, "transfers": 0}
_releaser = None           # the thread that drops retired holds (started on first retire)
_release_wake = threading.Condition(_lock)


def stats():
    """This worker process's frost.dask counters: snapshot bytes received into
    its node directory, bytes served to other nodes, loads, and {name: loaded
    version}. (client.run(frost.dask.stats) collects them.)"""
    with _lock:
        out = dict(_stats)
        out["versions"] = {n: s.current.version for n, s in _registry.items() if s.current}
        out["retired"] = len(_retired)
        out["pid"] = os.getpid()
    return out


def _cache(directory):
    return NodeCache(directory)


def _on_worker_facts(directory, digest, size):
    cache = _cache(directory)
    has = cache.has(digest)
    if not has:
        cache.check_room(size)
    return {"node": cache.node_id, "host": cache.host, "directory": cache.path, "has": has,
            "pid": os.getpid()}


async def _in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def _on_worker_begin(digest, size, directory):
    def begin():
        part = _cache(directory).begin(digest, size)
        token = os.urandom(8).hex()
        with _lock:
            _parts[token] = part
            _stats["transfers"] += 1
        return token
    return await _in_thread(begin)


def _part(token):
    with _lock:
        part = _parts.get(token)
    if part is None:
        raise ValueError(f"frost.dask: no transfer {token!r} in worker process {os.getpid()}")
    return part


async def _on_worker_write(token, offset, key, dask_worker=None):
    data = dask_worker.data[key]
    part = _part(token)

    def write():
        part.write(offset, data)
        with _lock:
            _stats["bytes_received"] += len(data)
    await _in_thread(write)


async def _on_worker_commit(token, name, version):
    part = _part(token)

    def commit():
        final = part.commit(name, version, frost.verify)
        try:
            part.cache.sweep()   # what earlier, killed receivers left (the next sweep may)
        except Exception:
            logger.exception("frost.dask: sweeping %s after a transfer failed", part.cache.path)
        return final
    try:
        return await _in_thread(commit)
    except (TransferCorrupt, NodeDirectoryError, TimeoutError):   # sent again / as it is
        raise
    except Exception as exc:
        raise _CommitFailed(f"{type(exc).__name__}: {exc}" if str(exc)
                            else repr(exc)) from None
    finally:
        with _lock:
            _parts.pop(token, None)


def _on_worker_abort(token):
    with _lock:
        part = _parts.pop(token, None)
    if part is not None:
        part.abort()


def _on_worker_name(name, version, digest, size, directory):
    _cache(directory).name_version(name, version, digest, size)


async def _on_worker_activate(name, version, digest, size, directory):
    _set_target(name, _Target(version, digest, size, directory))
    return await _in_thread(_switch, name, False)


def _on_worker_holds(digest, directory):
    """This worker's node id when its node has the store file of `digest`."""
    cache = _cache(directory)
    return cache.node_id if cache.has(digest) else None


def _read_chunk(digest, directory, offset, n):
    """A task: `n` bytes at `offset` of this node's store file `digest`."""
    hold = _cache(directory).hold(digest)
    if hold is None:
        raise FileNotFoundError(f"frost.dask: store {digest} left this node")
    try:
        data = os.pread(hold.fd, n, offset)
    finally:
        hold.release()
    with _lock:
        _stats["bytes_served"] += len(data)
    return data


def _on_worker_forget(name, directory):
    with _lock:
        shared = _registry.pop(name, None)
    if shared is not None:
        with shared.switching:
            current, shared.current = shared.current, None
        if current is not None:
            with contextlib.suppress(KeyError):
                frost.unpublish(name)
            _retire(current)
    _cache(directory).forget(name)


def _set_target(name, target):
    """Version `target` is the one `name` should use in this process (newer
    ones only: messages may arrive out of order)."""
    with _lock:
        shared = _registry.get(name)
        if shared is None:
            _registry[name] = _Shared(name, target)
        elif target.version > shared.target.version:
            shared.target = target


def _retire(loaded):
    """`loaded` is no longer current: close it (views that tasks hold keep its
    memory, and its mapping) and keep only its Hold, which the releaser drops
    once this process no longer maps the file."""
    global _releaser
    store, loaded.store, loaded.root = loaded.store, None, None
    with contextlib.suppress(Exception):
        store.close()
    del store
    with _lock:
        _retired.append(loaded)
        if _releaser is None:
            _releaser = threading.Thread(target=_release_loop, name="frost-dask-release",
                                         daemon=True)
            _releaser.start()
        _release_wake.notify()


def _release_loop():
    with _lock:
        while True:
            if not _retired:
                _release_wake.wait()
            else:
                _release_wake.wait(_RELEASE_PERIOD)
            _lock.release()
            try:
                _release_retired()
            except Exception:   # a sweep that failed tries again next period
                logger.exception("frost.dask: releasing old versions failed")
            finally:
                _lock.acquire()


def _release_retired():
    """Drop the Hold of each retired version this process no longer maps, then
    let the node remove files no process holds."""
    with _lock:
        candidates = list(_retired)
    freed = [old for old in candidates if not old.hold.mapped_here()]
    if not freed:
        return
    directories = set()
    with _lock:
        for old in freed:
            _retired.remove(old)
    for old in freed:
        directories.add(os.path.dirname(os.path.dirname(old.hold.path)))
        old.hold.release()
    for directory in directories:
        NodeCache(directory).sweep()


def _load(path):
    """A scoped store of the file at `path` (format 2: mapped in place)."""
    return frost.load(path, lifetime="scoped")


def _switch(name, fetch):
    """Make `name`'s target version the current one in this process, loading
    it from the node directory (with `fetch`, from another node when this one
    lacks it: only inside a task). Returns the current version."""
    with _lock:
        shared = _registry.get(name)
    if shared is None:
        raise LookupError(_not_shared(name))
    with shared.switching:
        target = shared.target
        current = shared.current
        if current is not None and current.version >= target.version:
            return current.version
        cache = _cache(target.directory)
        newer = cache.manifest(name)
        if newer is not None and newer.get("version", 0) > target.version:
            target = _Target(newer["version"], newer["digest"], newer["size"], target.directory)
        hold = cache.hold(target.digest)
        if hold is None:
            if not fetch:
                return None if current is None else current.version
            _fetch(cache, name, target)
            hold = cache.hold(target.digest)
            if hold is None:
                raise FileNotFoundError(f"frost.dask: store {target.digest} of {name!r} left "
                                        f"{cache.path} just after it arrived")
        try:
            store = _load(hold.path)
            root = store.root
        except BaseException:
            hold.release()
            raise
        loaded = _Loaded(target.version, target.digest, store, root, hold)
        with _lock:
            old, shared.current = shared.current, loaded
            _stats["loads"] += 1
        frost.publish(name, store)   # frost.Pool interpreters: frost.published(name)
        if old is not None:
            _retire(old)
        return target.version


def _fetch(cache, name, target):
    """Bring `target`'s store file to this node from another node that has it
    (a worker of this node that joined after share(), or whose node lost its
    copy). One process of the node fetches; the others wait for it."""
    import fcntl
    from frost._nodecache import _flock
    lock_path = os.path.join(cache.path, "incoming", f"{target.digest}.fetch")
    with Fd(os.open, lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600) as lock:
        _flock(lock.fd, fcntl.LOCK_EX, lock_path, timeout=600)
        if cache.has(target.digest):
            return
        try:
            distributed.get_worker()
        except ValueError:
            raise LookupError(f"frost.dask.get({name!r}): this node ({cache.path}) does not "
                              "have it yet; call get() inside a Dask task so it can be "
                              "fetched from another node") from None
        with distributed.worker_client() as client:
            _fetch_with(client, cache, name, target)


def _fetch_with(client, cache, name, target):
    me = cache.node_id
    holders = client.run(_on_worker_holds, target.digest, target.directory, on_error="return")
    sources = [addr for addr, node in holders.items() if isinstance(node, str) and node != me]
    random.shuffle(sources)   # late nodes spread over the holders
    if not sources:
        raise LookupError(f"frost.dask.get({name!r}): no node of the cluster has version "
                          f"{target.version} ({target.digest}) any more; share it again")
    errors = []
    for source in sources:
        part = cache.begin(target.digest, target.size)
        try:
            offset = 0
            while offset < target.size:
                n = min(DEFAULT_CHUNK, target.size - offset)
                fut = client.submit(_read_chunk, target.digest, target.directory, offset, n,
                                    workers=[source], allow_other_workers=False, pure=False,
                                    priority=1_000_000)
                data = fut.result(timeout=300)
                fut.release()
                part.write(offset, data)
                with _lock:
                    _stats["bytes_received"] += len(data)
                offset += n
            part.commit(name, target.version, frost.verify)
            return
        except NodeDirectoryError:
            raise
        except Exception as exc:   # that source failed: the next one
            part.abort()
            errors.append(f"{source}: {type(exc).__name__}: {exc}")
    raise ShareError(f"frost.dask.get({name!r}): fetching version {target.version} failed "
                     "from every node that has it: " + "; ".join(errors))


def _not_shared(name):
    with _lock:
        known = sorted(_registry)
    return (f"frost.dask.get({name!r}): nothing is shared under that name with this worker "
            f"process (shared here: {known}); frost.dask.share(client, store, {name!r}) first")


def get(name):
    """The root view of the version of `name` this worker process uses now
    (loaded once per version per process). Call it in each task and keep the
    result for the task: a refresh does not change a view already handed out.
    LookupError when nothing is shared under `name`."""
    _check_name(name)
    with _lock:
        shared = _registry.get(name)
    if shared is None:
        raise LookupError(_not_shared(name))
    current = shared.current
    if current is None or current.version < shared.target.version:
        _switch(name, True)
        current = shared.current
    return current.root


# ---------------------------------------------------------------- the plugin

class FrostSharePlugin(WorkerPlugin):
    """Gives version `version` of `name` to every worker, including the ones
    that join later (share() registers it as "frost-dask:<name>"; a new
    version replaces it). setup() never raises: a worker whose node lacks the
    file loads it on its first get()."""

    def __init__(self, name, version, digest, size, directory):
        self.name = f"{_META}:{name}"
        self.shared_name, self.version, self.digest = name, version, digest
        self.size, self.directory = size, directory

    async def setup(self, worker):
        target = _Target(self.version, self.digest, self.size, self.directory)
        _set_target(self.shared_name, target)
        try:
            await _in_thread(_switch, self.shared_name, False)
        except Exception:
            logger.exception("frost.dask: worker %s could not load %r version %d now; its "
                             "first get() tries again", worker.address, self.shared_name,
                             self.version)


# ---------------------------------------------------------------- pools

PROFILER_ENV = "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"


def _check_no_profiler():
    """Dask's profiler samples sys._current_frames() (every 10 ms while a task
    runs, every second on the event loop). CPython 3.12-3.14's version walks
    the threads of *every* interpreter and makes frame objects of frames that
    other own-GIL interpreters are running: memory corruption, the process
    dies. A frost.Pool in a worker needs it off."""
    import dask
    if dask.config.get("distributed.worker.profile.enabled", False):
        raise RuntimeError(
            "frost.dask.pool(): Dask's profiler is on in this process, and with own-GIL "
            "subinterpreters running it crashes it (its sys._current_frames() reads every "
            "interpreter's frames on CPython 3.12-3.14). Start the workers with "
            f"{PROFILER_ENV}=False (or distributed.worker.profile.enabled: false in the Dask "
            "config) to run a frost.Pool in them, or run the inner loop in threads")


_pool = None
_pool_lock = threading.Lock()


def pool(workers=None):
    """The frost.Pool of this worker process (own-GIL subinterpreters), made
    on the first call and shared by its tasks; `workers` (first call only):
    its size, by default the worker's thread count (the cores Dask gave it).

    Needs Dask's profiler off in the worker (DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False when the
    workers start): RuntimeError otherwise (it would crash the process).
    A pool task runs in a subinterpreter where distributed cannot be
    imported: define its function in a module that imports only frost and
    what it needs, and hand it views (they travel by reference) or read
    frost.published(name) there:

        def lookups(root, keys):               # mymod.py: no distributed import
            return sum(root[k][0] for k in keys)

        def task(keys):                        # the Dask task
            root = frost.dask.get("prices")
            p = frost.dask.pool()
            return sum(p.map(mymod.lookups, [root] * 4, split(keys, 4)))
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _check_no_profiler()
            if workers is None:
                try:
                    workers = distributed.get_worker().nthreads
                except ValueError:   # not in a worker: frost.Pool's default
                    workers = None
            # the worker's __main__ is distributed's command line: not for subinterpreters
            _pool = frost.Pool(workers, import_main=False)
        return _pool

