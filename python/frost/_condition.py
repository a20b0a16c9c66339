"""_InterruptSafeCondition: the Condition of frost.Pool's and frost.ProcessPool's
futures, which a Ctrl-C (any raising signal handler) never leaves locked.

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

Imported by frost.pool and frost.process_pool only: never by a pool worker.
"""
import threading

__all__ = ["_InterruptSafeCondition"]


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
