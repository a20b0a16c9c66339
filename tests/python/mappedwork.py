"""Module-level functions that test_mapped_process.py sends to worker
processes (spawn and forkserver workers import them by name)."""
import os

import frost


def describe(view):
    """What a worker sees of a mapped view: which image and node, its type,
    its data, and this process's pid."""
    return (view.image.store_id, view.node_offset, type(view).__name__, frost.thaw(view),
            os.getpid())


def store_facts(store):
    return (type(store).__name__, store.store_id, store.nbytes, frost.thaw(store.root))


def lookup_all(view, keys):
    """Every key found, with its value (thawed), under this process's hash seed."""
    return [frost.thaw(view[k]) for k in keys]


def echo(obj):
    return obj


def item(view, key):
    return view[key]


def numpy_sum(view):
    import numpy
    return int(numpy.asarray(list(view), dtype=numpy.int64).sum())


def numpy_import():
    import numpy  # noqa: F401


def fail(message):
    raise ValueError(message)


def die(_=None):
    os._exit(3)


def pid(_=None):
    return os.getpid()


def sleep_then(seconds, value):
    import time
    time.sleep(seconds)
    return value


def sleep_then_write(seconds, path):
    import time
    time.sleep(seconds)
    with open(path, "w") as f:
        f.write("done")


def pid_and(value):
    return os.getpid(), value


def add(a, b):
    return a + b


_initialized = []


def init(value):
    _initialized.append(value)


def initialized(_=None):
    return list(_initialized)


def initialized_types(_=None):
    return [type(value).__name__ for value in _initialized]


def put_into(queue, lock, value):
    """An initializer: value into a multiprocessing queue, under its lock."""
    with lock:
        queue.put(value)


def share_and_return(data):
    """A worker-made shared store, dropped by the worker as soon as it is sent."""
    return frost.share(data).root


def thaw_in_worker(view):
    """Run in a frost.Pool worker interpreter: what it reads of a mapped view."""
    return (type(view).__name__, view.image.store_id, view.node_offset, frost.thaw(view))


def _mapped_ranges():
    """(start, end) of every mapping of a frost memfd or file in this process."""
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            if "frost" in line:
                lo, hi = line.split()[0].split("-")
                ranges.append((int(lo, 16), int(hi, 16)))
    return ranges


def table_facts(view):
    """What a worker's pyarrow makes of a MappedTable: its data, whether every
    buffer it reads lies inside a mapping of the image (read in place, not
    copied), a groupby-sum, and this process's pid."""
    import pyarrow as pa
    t = pa.table(view)
    t.validate(full=True)
    ranges = _mapped_ranges()
    addresses = [b.address for col in t.columns for chunk in col.chunks
                 for b in chunk.buffers() if b is not None and b.size]
    in_place = bool(addresses) and all(any(lo <= a < hi for lo, hi in ranges) for a in addresses)
    sums = t.group_by("k").aggregate([("v", "sum")]).sort_by("k").to_pydict()
    return type(view).__name__, t.to_pydict(), in_place, sums, os.getpid()


def share_and_send(channel, data):
    """Run in a frost.Pool worker: share data, send its root on channel and
    drop both at once (the receiver attaches later)."""
    channel.send(frost.share(data).root)
    return "sent"


def recv_plain(channel):
    """The next message of channel, thawed (plain)."""
    return plain(channel.recv(timeout=60))


def wait_for(started, go):
    """Say so on started, then wait for a message on go (keeps a worker busy)."""
    started.send("waiting")
    return go.recv(timeout=120)


from poolwork import NeedsTwoArguments, raise_needs_two  # noqa: E402,F401  (one definition, both pools)


class RefusesPickling(Exception):
    def __reduce__(self):
        raise TypeError("RefusesPickling refuses to be pickled")


class UnsendableCallable:
    """A callable instance that refuses to be pickled."""

    def __call__(self, *args):
        return args

    def __reduce__(self):
        raise TypeError("UnsendableCallable refuses to be pickled")


def raise_refuses_pickling(message):
    raise RefusesPickling(message)


def _not_here():
    raise ValueError("this result cannot be rebuilt here")


class RebuildsNowhere:
    """Pickles in the worker; unpickling it raises."""

    def __reduce__(self):
        return (_not_here, ())


def return_rebuilds_nowhere(_=None):
    return RebuildsNowhere()


def return_lambda(_=None):
    return lambda: None


def plain(view):
    """A table window thawed ({name: list}), a column as a list."""
    return view.tolist() if hasattr(view, "tolist") else frost.thaw(view)


def process_pool_here():
    """In a frost.Pool worker: what making a frost.ProcessPool there does."""
    try:
        frost.ProcessPool(1).shutdown()
    except RuntimeError as exc:
        return str(exc)
    return "made"
