"""Module-level functions the pool tests send to worker interpreters.

(Workers import them by name: they must live in an importable module.)
"""
import os
import sys
import time


def add(a, b):
    return a + b


def echo(x):
    return x


def lookup_sum(view, keys):
    return sum(view[k][1] for k in keys)


def whoami():
    from frost import _worker
    return _worker.worker_info()


def thread_ident():
    import threading
    return threading.get_ident()


def fail(message):
    raise ValueError(message)


def exit_worker():
    sys.exit(3)


def unpicklable_result():
    return lambda: None


def freeze_in_worker(n):
    import frost
    store = frost.freeze({f"k{i}": [i, str(i)] for i in range(n)})
    return store.root   # the store handle dies here; the view travels


def store_stats(view_or_store):
    import frost
    return type(view_or_store).__name__, frost._frost._live_stores()


def write_matrix_digest(root):
    """A digest of read-only operations on arena objects (no hashlib: 3.12.1
    aborts at finalization when hashlib is imported in a subinterpreter)."""
    import pickle
    import zlib
    out = []
    for key in root:
        v = root[key]
        out.append(repr((key, hash(v), v == v, str(v)[:50])))
        if isinstance(v, str):
            out.append(repr((sys.intern(v) is v, v.upper(), v.encode("utf-8", "surrogatepass"))))
            o = type("O", (), {})()
            setattr(o, v, 1)
            out.append(repr(getattr(o, v)))
        out.append(repr(pickle.loads(pickle.dumps(v)) == v or v != v))
    return zlib.crc32("\n".join(out).encode("utf-8", "surrogatepass"))


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


def cwd_and_path():
    return os.getcwd(), list(sys.path)


INIT_LOG = []


def remember(tag):
    INIT_LOG.append(tag)


def initialized():
    return list(INIT_LOG)


def channel_sum_until_none(channel):
    """Receive views until None, sum their 'v' fields, send the total back."""
    total = 0
    while True:
        item = channel.recv(timeout=60)
        if item is None:
            break
        total += item["v"]
    channel.send(total)
    return type(channel).__name__


def channel_made_here(items):
    """A channel created in this worker, filled, and returned: it must outlive
    the interpreter that made it."""
    import frost
    channel = frost.Channel()
    for item in items:
        channel.send(item)
    return channel


def channel_recv_one(channel, timeout):
    return channel.recv(timeout=timeout)


def channel_chain_churn(shared, seed, rounds):
    """Chains of channels grown at their tail (each queued in the one before,
    its handle dropped), a pair sent on each other and on itself hung on the
    tail, and now and then the chain's head or the pair handed to `shared`."""
    import random
    import frost
    rng = random.Random(seed)
    for _ in range(rounds):
        root = tail = frost.Channel()
        for _ in range(rng.randint(1, 30)):
            c = frost.Channel()
            tail.send(c)
            tail = c
            del c
        a, b = frost.Channel(), frost.Channel()
        a.send(b)
        b.send(a)
        a.send(a)
        tail.send(a)
        if rng.random() < 0.5:
            shared.send(root if rng.random() < 0.5 else b)
        del root, tail, a, b
    return seed


def signal_then_sleep(channel, seconds, value):
    """Tell the caller (through `channel`) that this task is running, then sleep."""
    channel.send("started")
    time.sleep(seconds)
    return value


def nested_pool_sum(values):
    """A pool started inside a worker interpreter: sum of squares."""
    import frost
    with frost.Pool(2) as inner:
        return sum(inner.map(square, values))


def square(x):
    return x * x


# ---- message ownership (test_xref.py) ----

def gated_freeze(started, gate, n):
    """Say 'started', wait for the gate, then return a view of a store frozen
    here (its only other holder, this frame, dies on return)."""
    import frost
    started.send("started")
    gate.recv(timeout=60)
    return frost.freeze(list(range(n))).root


def mark(channel, value):
    channel.send(value)
    return value


def mark_after(gate, channel, value):
    """mark(channel, value), first waiting for an item of `gate` (if not None)."""
    if gate is not None:
        gate.recv(timeout=60)
    return mark(channel, value)


def raise_holding(view):
    raise ValueError("holds a view", view)


def explode(*args):
    raise RuntimeError("unpickling blew up on purpose")


class Bomb:
    """Pickles fine; unpickling it raises (half-way through a message)."""

    def __reduce__(self):
        return (explode, ())


def return_bomb_then(view):
    return (Bomb(), view)


def first_of(*args):
    return len(args)


class NeedsTwoArguments(Exception):
    """Pickles, but does not unpickle: its __init__ needs more than its args."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def raise_needs_two(message):
    raise NeedsTwoArguments(message, 7)


def scan_rows(view):
    """Every row of `view`, kept, as reprs (a scoped reader reuses results)."""
    kept = [row for row in view]
    return [repr(row) for row in kept]


def freeze_local_records(n, lifetime="scoped"):
    """Records of a dataclass defined in this worker interpreter (not importable)."""
    import dataclasses
    import frost

    @dataclasses.dataclass
    class Local:
        a: int
        b: str
    return frost.freeze([Local(i, str(i)) for i in range(n)], lifetime=lifetime).root


def record_reads(records, names):
    """(type name, the fields `names` of each record) as read here."""
    return [(type(r).__name__, [getattr(r, n) for n in names]) for r in records]


def set_compares(s, n):
    return (s == dict.fromkeys(range(n)).keys(), s <= set(range(n + 1)), n - 1 in s, str(n) in s)


def loaded(names):
    """Which of the modules `names` this interpreter has imported."""
    import sys
    return [n for n in names if n in sys.modules]


def shape_type_churn(rounds, import_reduction):
    """A process store of three classes read through a new Lease `rounds` times
    in this interpreter, multiprocessing's pickler imported first or not: (how
    many more pickler registrations and live shape types there are after than
    before, and whether the pickler refused a record naming frost.share)."""
    import dataclasses
    import gc
    import pickle
    import frost
    classes = [dataclasses.make_dataclass(f"Churn{k}", [("a", int), (f"b{k}", str)])
               for k in range(3)]
    if import_reduction:
        import multiprocessing.reduction
    gc.collect()
    reduction = sys.modules.get("multiprocessing.reduction")

    def registered():
        return len(reduction.ForkingPickler._extra_reducers) if reduction else 0

    def live():
        return sum("Churn" in t.__name__ for t in frost.Record.__subclasses__())
    before = (registered(), live())
    blob = pickle.dumps(frost.freeze([c(7, "x") for c in classes] * 2, lifetime="process"))
    refused = None
    for i in range(rounds):
        root = pickle.loads(blob).root               # the last Lease ended: a new one
        assert [r.a for r in root] == [7] * 6
        assert len({type(r) for r in root}) == 3 and type(root[0]) is not frost.Record
        if reduction is not None and i == rounds - 1:
            try:
                reduction.ForkingPickler.dumps(root[0])
            except TypeError as e:
                refused = "frost.share" in str(e)
        del root
        gc.collect()
    return registered() - before[0], live() - before[1], refused


def mapped_arrives(store, view):
    """A MappedStore and a view of it, received in a worker that had not imported
    frost._mapped: what they read, and whether that import happened on demand."""
    was = "frost._mapped" in sys.modules
    return was, type(store).__name__, store.root["k"][1], view[0], "frost._mapped" in sys.modules
