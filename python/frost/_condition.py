"""What keeps a Ctrl-C (any raising signal handler) from leaving a lock of frost.Pool's
and frost.ProcessPool's futures held: _InterruptSafeCondition, their Condition, and
the interrupt-safe halves of concurrent.futures.wait() and as_completed() installed
into concurrent.futures._base at import (_install).

concurrent.futures takes a future's `_condition` in every call of it
(done(), result(), exception(), ...) and in the thread that delivers its
result, with `with self._condition:`. threading.Condition's __enter__ and
__exit__ are Python functions around the lock's, so an interrupt landing in
__enter__ just after the acquire, or in __exit__ just before the release,
left the lock held for ever (CPython's with statement covers only what runs
after __enter__ returns): the thread that delivers results hung on it, and
with it the pool's shutdown and the interpreter's exit
(test_pool_stop.py::CtrlCAnywhere, test_process_pool.py::CtrlCTest).

frost.Pool makes its futures with one (pool.py's _TaskFuture). frost.ProcessPool's
are made by ProcessPoolExecutor.submit, already visible to its manager thread
when submit gets them, so submit sets the class of the future's own Condition
(ProcessPool.submit): the same object, lock and waiters, with no moment where a
thread holds one condition's lock and notifies another. That needs only that
this class adds no state to threading.Condition (no __init__, no slots:
only methods).

concurrent.futures.wait() and as_completed() have two windows of their own, which
no Condition closes: they are module functions, and take the futures' locks with
`with _AcquireFutures(fs):`, whose __enter__/__exit__ call acquire()/release() in
a Python loop, so an interrupt between two acquires (or two releases, or after the
last acquire) left the locks taken so far held; and they wait on a waiter's
threading.Event, installed in every future's _waiters, whose Condition has
Condition's windows: an interrupt there left the Event's lock held, with the
waiter still installed (wait() removes it only after its wait returns), and the
delivering thread hung in the waiter's event.set(). Both hung the pool as above
(test_pool_stop.py::CtrlCAnywhere and test_process_pool.py::CtrlCTest::
test_ctrl_c_in_{wait,as_completed}_never_leaves_a_lock_held). wait() and
as_completed() look both names up in concurrent.futures._base at each call, so
_install replaces them there, for every caller however it imported wait(): for a
set of futures with no frost future in it, each replacement calls the stdlib's own
(nothing changes for other executors' futures); with one, _AcquireFutures is a
_frost._LockGuard, which takes all the locks in one C call and releases them in
one (all or none held; and when freed, if CPython 3.13.0 skipped its __exit__:
views/module.c), and the waiter's Event is an _InterruptSafeEvent. A waiter an
interrupted call leaves installed is harmless then, and goes with that call:
frost's futures hold their waiters weakly (_WeakWaiters).
docs/design.md ("Stopping: every wait is interruptible") says why patching the
stdlib is acceptable.

Imported by frost.pool and frost.process_pool only: by a pool worker only when a task
starts a pool of its own (which then patches that interpreter's concurrent.futures).
"""
import concurrent.futures._base as _cf_base
import threading
import weakref

from frost import _frost

__all__ = ["_InterruptSafeCondition", "_InterruptSafeEvent", "_WeakWaiters"]


class _InterruptSafeCondition(threading.Condition):
    """A threading.Condition whose `with` takes and releases its lock in C.

    The with statement looks __enter__/__exit__ up on the type and binds
    them, before it acquires anything: these properties hand it the lock's
    own C methods, so no bytecode runs between the acquire and the with
    block, nor between the block and the release. wait() mends its own
    window (below)."""

    __enter__ = property(lambda self: self._lock.__enter__)
    __exit__ = property(lambda self: self._lock.__exit__)

    def wait(self, timeout=None):
        # Condition.wait releases the lock, then keeps what it must restore: an
        # interrupt landing in between left the lock released, and the with block's
        # release then failed with RuntimeError instead of the KeyboardInterrupt. A
        # future's lock is held once (concurrent.futures never nests it), so taking it
        # once restores it.
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        try:
            return super().wait(timeout)
        finally:
            if not self._is_owned():
                self._lock.acquire()


class _InterruptSafeEvent(threading.Event):
    """The Event of a concurrent.futures waiter on frost futures (_install).

    Its Condition is an _InterruptSafeCondition around an RLock, not the Lock
    of threading.Event: wait()'s repair (above) asks _is_owned(), which for a
    Lock means only "held by someone" -- the delivering thread, in set() --
    and the with block's release would then release that thread's lock."""

    def __init__(self):
        super().__init__()
        self._cond = _InterruptSafeCondition(threading.RLock())


class _WeakWaiters:
    """A frost future's _waiters: the waiters of the concurrent.futures.wait() and
    as_completed() calls on it, held weakly. The stdlib removes a waiter after its
    wait, not in a finally: an interrupt landing in wait()'s Event wait (or in
    as_completed()'s cleanup) left it in every future's list until the futures
    went -- thousands in an interrupt storm (test_..._never_leaves_a_lock_held).
    The call's frame holds its waiter while it waits; once the frame is gone, so
    is the entry. Used as the stdlib uses the list, under the future's lock:
    append, remove, iteration (a snapshot of the live ones), len."""

    __slots__ = ("_refs",)

    def __init__(self, waiters=()):
        self._refs = [weakref.ref(w) for w in waiters]

    def append(self, waiter):
        refs = [ref for ref in self._refs if ref() is not None]   # the dead go here
        refs.append(weakref.ref(waiter))
        self._refs = refs

    def remove(self, waiter):
        # Absent only when the collector cleared its reference first: it clears
        # the weak references to a cycle before running the cycle's finalizers, so
        # an as_completed() generator collected in a cycle removes its waiter after
        # the entry died. The stdlib's list.remove would raise there (ValueError,
        # printed as ignored by the generator's close); the dead entries go too.
        self._refs = [ref for ref in self._refs if ref() is not None and ref() is not waiter]

    def __iter__(self):
        return iter([w for w in [ref() for ref in self._refs] if w is not None])

    def __len__(self):
        return sum(ref() is not None for ref in self._refs)


def _has_frost_future(fs):
    return any(isinstance(f._condition, _InterruptSafeCondition) for f in fs)


def _install():
    """Replace _AcquireFutures and _create_and_install_waiters in
    concurrent.futures._base, for sets of futures with a frost future in them
    (once per interpreter; not at all if a later CPython lacks either name)."""
    base = _cf_base
    stdlib_acquire = getattr(base, "_AcquireFutures", None)
    stdlib_install = getattr(base, "_create_and_install_waiters", None)
    if stdlib_acquire is None or stdlib_install is None or getattr(stdlib_acquire, "_frost", False):
        return

    def acquire_futures(fs):
        if not _has_frost_future(fs):
            return stdlib_acquire(fs)
        # the stdlib's lock order (by id); one C call takes them all, one releases them
        return _frost._LockGuard(tuple(f._condition for f in sorted(fs, key=id)))

    def create_and_install_waiters(fs, return_when):
        waiter = stdlib_install(fs, return_when)
        # Still under acquire_futures' locks: no thread has seen the waiter's Event yet.
        if _has_frost_future(fs):
            waiter.event = _InterruptSafeEvent()
        return waiter

    acquire_futures._frost = True
    base._create_and_install_waiters = create_and_install_waiters
    base._AcquireFutures = acquire_futures


_install()
