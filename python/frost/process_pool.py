"""frost.ProcessPool: frost.Pool's API over worker processes.

A concurrent.futures.ProcessPoolExecutor whose workers are processes, so
numpy and every C extension load there (frost.Pool's own-GIL
subinterpreters refuse many of them). frost data crosses by handle: a
MappedStore (frost.share, or frost.load of a format-2 file) or any of its
views is pickled as a handle to the same pages, which the worker maps in
O(1) (frost._mapped); an arena store (frost.freeze) is refused at send with
a TypeError naming frost.share.

    data = frost.share(table)                      # once, in shared memory
    with frost.ProcessPool() as pool:              # one process per core
        totals = list(pool.map(score, data.root["chunks"]))

Differences from frost.Pool: workers start on demand (the stdlib's), with
the "spawn" start method unless mp_context says otherwise (fork in a
process with threads is unsafe, and 3.14 no longer defaults to it);
shutdown(cancel_futures=True) cancels queued tasks but lets running ones
finish (the stdlib's; a process cannot be interrupted the way frost.Pool
interrupts a worker interpreter); a worker that dies breaks the pool
(concurrent.futures.process.BrokenProcessPool), as in the stdlib.

Ctrl-C. A KeyboardInterrupt (or SystemExit, any BaseException that is not
an Exception) that ends a wait of the pool -- shutdown(wait=True), the
iteration of map()'s results, leaving a `with` block -- stops the pool
(_stop_workers): queued tasks are cancelled, the worker processes are
terminated (SIGTERM, then SIGKILL after STOP_GRACE seconds, or at once on a
second Ctrl-C during the stop), their running tasks' futures fail with
BrokenProcessPool, and the exception goes on. The
stdlib would wait for every running and already queued task, at shutdown
and again at interpreter exit: with long tasks the program could not be
stopped, and a killed parent leaves its workers running their tasks.

A parent that ends without stopping its pool (SIGKILL, os._exit) ends its
workers too (_end_with_parent: SIGIO from the kernel), so no worker, no
resource tracker and no semaphore in /dev/shm is left behind.
shutdown() after that returns at once. A program that ends by an uncaught
KeyboardInterrupt raised anywhere else stops every pool it has not shut
down the same way at exit, and a Ctrl-C while the program waits at exit for
the tasks of pools it did not shut down stops them all
(_shut_pools_down_at_exit, run before the stdlib's exit hook, which would
wait for them where Ctrl-C cannot stop it).

Starting a worker. The constructor pickles initializer(*initargs) as a
spawn or forkserver start will (_check_initializer_call; under fork nothing
is pickled): what cannot be sent is a TypeError there, naming it. The stdlib
pickles them only as a worker starts, in the first submit(), whose task was
queued already: submit() raised, and the program then waited for that
future at exit for ever. A start that fails anyway (a store in initargs
closed since, an OSError of fork) breaks the pool (_spawn_process,
_Manager): every queued future fails with a BrokenProcessPool caused by
it, as when a worker dies; the stdlib's raised it from submit() with the
task queued, or ended its manager thread (replacing a worker at
max_tasks_per_child), and the queued futures waited for ever.

What a task is sent and sends back fails only its own future. The stdlib
unpickles a worker's reply in its manager thread, and a reply that does
not unpickle there (an exception whose __init__ needs other arguments than
its args, a result whose class the caller cannot import) breaks the whole
pool, every running future with it, as "terminated abruptly"; a call that
does not unpickle in the worker kills the worker, with the same effect. So
a task's call is pickled at submit (_dumps_call: what cannot be sent is a
TypeError there) and unpickled by the task itself (_run); an exception that
does not survive a pickle round trip is replaced by a RuntimeError naming it
(its traceback in the remote traceback, as frost.Pool does); a result
travels as its own pickle (_Returned) that the caller unpickles apart, and a
failure there becomes that future's exception (_TaskFuture).
"""
import _thread
import concurrent.futures as cf
import concurrent.futures.process   # its exit hook first: ours, registered later, runs before
import fcntl
import io
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.reduction
import os
import sys
import threading
import weakref

from frost import _forking_guard, _mapped, _sendable
from frost import _worker
from frost._condition import _InterruptSafeCondition, _WeakWaiters
from frost._worker import exception_text
from frost.pool import _Callbacks, _main_module_spec

__all__ = ["ProcessPool"]

# its pickler refuses arena stores (normally done by frost._forking_guard's import
# hook already; again here in case that module came from elsewhere)
_forking_guard.guard(multiprocessing.reduction)

DEFAULT_START_METHOD = "spawn"
STOP_GRACE = 2.0   # seconds a terminated worker has to end before it is killed
_pools = weakref.WeakSet()   # every ProcessPool of this process
# not a forked child's (a "fork" worker runs threading's exit hooks too, ours with them)
os.register_at_fork(after_in_child=_pools.clear)


def _shut_pools_down_at_exit():
    """Interpreter exit (threading's atexit hook, run before the stdlib's):
    if the program ends by an uncaught KeyboardInterrupt, stop the workers of
    every pool instead of waiting for their tasks. Else wait for them here,
    as the stdlib's hook would (every task of every pool finished), but
    where a Ctrl-C stops every pool: in the stdlib's hook it was lost
    (printed as ignored) and the wait went on."""
    pools = list(_pools)
    if isinstance(getattr(sys, "last_exc", None), KeyboardInterrupt):
        for pool in pools:
            pool._stop_workers()
        return
    try:   # (on the tasks' futures: a thread join cut short by Ctrl-C breaks on 3.12, _join)
        for pool in pools:
            for item in list(pool._pending_work_items.values()):
                _wait_done(item.future)
    except BaseException as e:
        # not raised on: it would skip the exit hooks after this one (the
        # stdlib's, which ends the manager threads, frost.Pool's), and exit
        # would then hang on a manager that was never told to stop
        for pool in pools:
            try:
                pool._stop_workers()
            except BaseException:   # another Ctrl-C: its workers are killed, go on
                pass
        print(f"{type(e).__name__} while exit waited for the tasks of a frost.ProcessPool: its "
              f"workers were stopped", file=sys.stderr, flush=True)


threading._register_atexit(_shut_pools_down_at_exit)


def _wait_done(future):
    """Wait until `future` is done, cancelled included, with a wait for the future's
    own outcome (woken by any cancel(), also of a future cancelled before
    _TaskFuture's class was set)."""
    try:
        cf.Future.exception(future)
    except cf.CancelledError:
        pass


if sys.version_info >= (3, 13):
    def _join(thread):
        """thread.join(), ended safely by Ctrl-C: from 3.13 an interrupted
        join changes nothing (a later join waits again), so it is called
        directly. No helper thread: one still running at exit, where the
        3.12 version below leaves one after an interrupted call, is a
        thread never joined (ThreadSanitizer's "thread leak")."""
        thread.join()
else:
    _joiners = weakref.WeakKeyDictionary()   # a thread -> the helper joining it, its Event

    def _join(thread):
        """thread.join(), ended safely by Ctrl-C: on 3.12 an interrupted
        Thread.join() marks a thread that still runs as ended (and a later join
        returns at once), so a helper thread joins it and this waits on an Event.
        The helper of an interrupted call is waited on again by the next one
        (not a second helper), and joined: none outlives the last call."""
        helper, joined = _joiners.get(thread) or _start_joiner(thread)
        joined.wait()
        helper.join()
        _joiners.pop(thread, None)

    def _start_joiner(thread):
        joined = threading.Event()

        def join():
            thread.join()
            joined.set()

        helper = threading.Thread(target=join, name="frost-process-pool-join", daemon=True)
        helper.start()
        _joiners[thread] = helper, joined
        return helper, joined


def _start_worker(initializer, initargs):
    """First thing in every worker: end with the parent, then the initializer."""
    _end_with_parent()
    if initializer is not None:
        initializer(*initargs)


def _end_with_parent():
    """Have the kernel end this worker when its parent process ends.

    The stdlib's workers outlive a parent killed by SIGKILL: they wait on
    their call queue for ever (each holds its write end too), and with them
    the resource tracker and the pool's semaphores in /dev/shm. multiprocessing
    gives every child (spawn, forkserver, fork) a sentinel: the read end of a
    pipe whose write end only the parent holds. With O_ASYNC the parent's end
    (its exit, however it comes) raises SIGIO here, whose default action
    ends the process at once, in a task's C call too; no thread is needed.
    The owner is a struct pid in the kernel, so a forked child of this worker
    that inherited the fd never signals a process that reused the pid."""
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is None:
        return
    try:
        fcntl.fcntl(sentinel, fcntl.F_SETOWN, os.getpid())
        fcntl.fcntl(sentinel, fcntl.F_SETFL, fcntl.fcntl(sentinel, fcntl.F_GETFL) | os.O_ASYNC)
    except OSError:
        return
    if multiprocessing.connection.wait([sentinel], 0):   # ended before O_ASYNC was set
        os._exit(1)


def _dumps(obj):
    """obj pickled by multiprocessing's pickler (its reducers: frost handles
    linger, arena stores refused), as bytes (its dumps gives a memoryview)."""
    buffer = io.BytesIO()
    multiprocessing.reduction.ForkingPickler(buffer).dump(obj)
    return buffer.getvalue()


def _dumps_call(fn, args, kwargs):
    """The pickle of a task's call, made at submit: TypeError naming what
    cannot be sent (a KeyboardInterrupt or SystemExit that pickling raises is
    the caller's and goes on). The stdlib pickles it later in its feeder
    thread, which a BaseException from a __reduce__ ends, and with it every
    later task of the pool (they wait for ever)."""
    try:
        return _dumps((fn, args, kwargs))
    except Exception as exc:
        raise TypeError(f"cannot send the arguments of {fn!r} to a worker process: "
                        f"{exception_text(exc)}") from exc


class _StartingWorker:
    """Stands for the Popen of a worker being started while ProcessPool()
    pickles the initializer's call as a spawn or forkserver start will:
    multiprocessing's queues, locks and pipes pickle only then (they go to
    the new process with it), and their fds need no real duplication to be
    checked (what multiprocessing.reduction.DupFd asks of a spawning Popen)."""

    @staticmethod
    def duplicate_for_child(fd):
        return fd

    @staticmethod
    def DupFd(fd):
        return fd


def _dumps_for_start(obj):
    """_dumps(obj) as a worker's start pickles its Process (popen_spawn_posix,
    popen_forkserver: multiprocessing's spawning Popen set, this thread's)."""
    previous = multiprocessing.context.get_spawning_popen()
    multiprocessing.context.set_spawning_popen(_StartingWorker())
    try:
        return _dumps(obj)
    finally:
        multiprocessing.context.set_spawning_popen(previous)


def _check_initializer_call(initializer, initargs):
    """TypeError naming what of initializer(*initargs) a spawn or forkserver
    worker cannot be sent (a KeyboardInterrupt or SystemExit that pickling
    raises is the caller's and goes on). The stdlib pickles them only when a
    worker starts, in submit() or on its manager thread, where the error left
    the task queued and its future pending for ever (ProcessPool._spawn_process)."""
    try:
        _dumps_for_start((initializer, initargs))
        return
    except Exception as exc:
        what, error = f"the arguments of initializer {initializer!r}", exc
    parts = [(f"initializer {initializer!r}", initializer)]
    parts += [(f"initargs[{i}] of initializer {initializer!r}", arg)
              for i, arg in enumerate(initargs)]
    for name, part in parts:   # the first that does not pickle alone, if any
        try:
            _dumps_for_start(part)
        except Exception as exc:
            what, error = name, exc
            break
    raise TypeError(f"cannot send {what} to a worker process: {type(error).__name__}: "
                    f"{exception_text(error)}") from error


def _run(call):
    """A task, in the worker: its call unpickled here (one that does not
    unpickle fails this task only; the stdlib's worker would die of it and
    break the pool), its result pickled (a _Returned), its exception one the
    caller can unpickle."""
    try:
        fn, args, kwargs = _worker.load_call(multiprocessing.reduction.ForkingPickler.loads, call)
        value = fn(*args, **kwargs)
    except BaseException as exc:
        standin = _unsendable_error(exc)
        if standin is None:
            raise
        raise standin from exc   # the original is in the remote traceback's text
    try:
        return _Returned(_dumps(value))
    except Exception as exc:
        raise TypeError(f"the result of {getattr(fn, '__qualname__', fn)!r} cannot be sent "
                        f"back from the worker process: {exception_text(exc)}") from exc


def _unsendable_error(exc):
    """None if exc survives a pickle round trip, else a RuntimeError naming
    it. Never raises: see frost._worker.exception_text."""
    try:
        multiprocessing.reduction.ForkingPickler.loads(_dumps(exc))
        return None
    except BaseException as why:
        return RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: "
                            f"{exception_text(exc)} (the exception cannot be sent back from "
                            f"the worker process: {type(why).__name__}: {exception_text(why)})")


class _Returned:
    """A task's result on its way back, pickled apart in the worker: the
    caller's manager thread unpickles only bytes, and a result that does not
    unpickle fails its own future (_load_returned, _TaskFuture)."""
    __slots__ = ("payload",)

    def __init__(self, payload):
        self.payload = payload

    def __reduce__(self):
        return (_load_returned, (self.payload,))


class _Unloadable:
    """What _load_returned gives for a result that does not unpickle here."""
    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


def _load_returned(payload):
    try:
        return multiprocessing.reduction.ForkingPickler.loads(payload)
    except Exception as exc:
        error = TypeError(f"the result of the task cannot be unpickled in the calling "
                          f"process: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return _Unloadable(error)


class _ManagerCallbacks(_Callbacks):
    """frost.pool._Callbacks for a ProcessPool: the executor's manager thread
    delivers its results; a daemon (a pool dropped unshut ends without it)."""
    daemon = True

    def delivering(self):
        return isinstance(threading.current_thread(), cf.process._ExecutorManagerThread)


class _Manager(cf.process._ExecutorManagerThread):
    """The executor's manager thread, which also ends the pool as broken
    when a worker could not be started (ProcessPool._spawn_process). It
    holds the pool's list of those errors itself, not through its weak
    reference to the executor, which a pool dropped unshut clears: its
    queued futures still fail (the stdlib's exit hook joins this thread,
    which would otherwise wait for them for ever)."""

    def __init__(self, executor):
        self.start_failures = executor._start_failures
        super().__init__(executor)

    def wait_result_broken_or_wakeup(self):
        if self.start_failures:   # woken by _spawn_process: no worker will run the queue
            return None, True, None
        return super().wait_result_broken_or_wakeup()

    def terminate_broken(self, cause):
        """The stdlib's, but a failed worker start is the queued futures'
        error: a BrokenProcessPool saying so, its cause the start's exception
        (the stdlib's says a process "terminated abruptly")."""
        if not self.start_failures:
            return super().terminate_broken(cause)
        failure = self.start_failures[0]
        message = (f"a worker process could not be started ({type(failure).__name__}: "
                   f"{exception_text(failure)}): the process pool is not usable any more")
        error = cf.process.BrokenProcessPool(message)
        error.__cause__ = failure
        with self.shutdown_lock:
            for item in list(self.pending_work_items.values()):
                try:
                    item.future.set_exception(error)
                except cf.InvalidStateError:   # cancelled (the stdlib's does the same)
                    pass
            self._terminate_broken(cause)   # cleans up (what it fails again is done already)
            executor = self.executor_reference()
            if executor is not None:   # what a later submit() raises
                executor._broken = message


class _TaskFuture(cf.Future):
    """A ProcessPool task's future (its class is set at submit: no reference
    cycle, nothing the manager thread calls is changed, so there is no race
    with a task that ends before submit returns): a result that did not
    unpickle here (_Unloadable) is the future's exception; the callbacks of
    one the manager thread completes run on the pool's callback thread
    (_ManagerCallbacks), so that they may wait for other futures of the pool,
    which only the manager thread delivers; a cancel() wakes the
    concurrent.futures.wait()s and as_completed()s on it at once, as frost.Pool's."""

    def _invoke_callbacks(self):
        self.__dict__.pop("_frost_pool", None)   # done: its pool may go now (submit)
        callbacks = getattr(self, "_frost_callbacks", None)   # set at submit
        if self._done_callbacks and callbacks is not None and callbacks.defer(self):
            return
        super()._invoke_callbacks()

    # The stdlib's manager thread cancels the queued tasks of a shutdown(cancel_futures=
    # True) with cancel() alone, which wakes no concurrent.futures.wait() or
    # as_completed() (only set_running_or_notify_cancel() does, which the manager
    # calls when it reaches a task still queued): a wait for them hung for ever. So
    # cancel() notifies the waiters at once, and the manager's later call finds it done.
    def cancel(self):
        if not super().cancel():
            return False
        with self._condition:
            if self._state == cf._base.CANCELLED:
                self._state = cf._base.CANCELLED_AND_NOTIFIED
                for waiter in self._waiters:
                    waiter.add_cancelled(self)
        return True

    def set_running_or_notify_cancel(self):
        with self._condition:   # (an RLock: the stdlib's takes it again)
            if self._state == cf._base.CANCELLED_AND_NOTIFIED:   # by cancel() above
                return False
            return super().set_running_or_notify_cancel()

    def result(self, timeout=None):
        value = super().result(timeout)
        if type(value) is _Unloadable:
            raise value.error
        return value

    def exception(self, timeout=None):
        error = super().exception(timeout)
        if error is None:
            value = super().result()   # done, without an exception
            if type(value) is _Unloadable:
                return value.error
        return error


def _context(mp_context):
    if mp_context is None:
        return multiprocessing.get_context(DEFAULT_START_METHOD)
    if isinstance(mp_context, str):
        return multiprocessing.get_context(mp_context)   # ValueError for an unknown method
    if not hasattr(mp_context, "get_start_method"):
        raise TypeError(f"mp_context must be a multiprocessing context, a start method name "
                        f"or None, not {type(mp_context).__name__}")
    return mp_context


class ProcessPool(cf.ProcessPoolExecutor):
    """An Executor with one worker process per core (frost.Pool's API).

    workers (or max_workers, the stdlib's name): how many (default: the CPUs
    this process may run on, its affinity mask). initializer(*initargs) runs in every worker first
    (what a spawn or forkserver worker cannot be sent is a TypeError here).
    mp_context: a multiprocessing context or a start method name ("spawn",
    the default; "forkserver"; "fork"). max_tasks_per_child: as in the stdlib.
    """

    def __init__(self, workers=None, *, initializer=None, initargs=(), mp_context=None,
                 max_tasks_per_child=None, max_workers=None):
        if not _thread.daemon_threads_allowed():
            raise RuntimeError("frost.ProcessPool cannot run in a subinterpreter (a frost.Pool "
                               "worker): multiprocessing's queues need daemon threads, which "
                               "it does not allow. Start the ProcessPool in the main "
                               "interpreter")
        _worker.check_pool_start("frost.ProcessPool")   # not while a worker loads a task
        workers, initargs = _sendable.check_pool_arguments(workers, initializer, initargs,
                                                           max_workers)
        if max_tasks_per_child is not None:   # (the stdlib takes only an exact int)
            max_tasks_per_child = _sendable.as_index(max_tasks_per_child, "max_tasks_per_child",
                                                     "an int or None")
        context = _context(mp_context)
        self._start_method = context.get_start_method()
        # a forked worker has this process's __main__; a spawned one imports the script
        self._main_importable = (self._start_method == "fork"
                                 or _main_module_spec() is not None)
        if initializer is not None:
            self._check_callable(initializer, "initializer")
            if self._start_method != "fork":   # a forked worker inherits them: nothing is pickled
                _check_initializer_call(initializer, initargs)
        else:
            initargs = ()   # nothing runs with them: nothing to send
        self._workers = workers
        self._stopped = False        # by a Ctrl-C (_stop_workers)
        self._manager = None         # the manager thread shutdown() must still join
        self._known_processes = []   # the workers as shutdown() or _stop_workers last saw them
        self._callbacks = _ManagerCallbacks()   # done-callbacks off the manager thread
        self._start_failures = []    # why workers could not be started (_spawn_process)
        super().__init__(workers, mp_context=context, initializer=_start_worker,
                         initargs=(initializer, initargs), max_tasks_per_child=max_tasks_per_child)
        _pools.add(self)
        weakref.finalize(self, self._callbacks.close).atexit = False

    @property
    def workers(self):
        return self._workers

    def _adjust_process_count(self):
        """The stdlib's, but a worker that ended at max_tasks_per_child is
        always replaced (its manager thread calls this then): the stdlib took
        a stale token of its idle-worker semaphore for an idle worker and
        spawned none, so with no workers left the queued tasks waited
        forever (CPython gh-115634, fixed in releases after 3.13.0 and
        3.12.1, which replace workers elsewhere and call this from submit()
        only). A table dropped by shutdown(wait=False) means no new worker."""
        if threading.current_thread() is self._executor_manager_thread:
            if self._processes is not None and len(self._processes) < self._max_workers:
                self._spawn_process()
            return
        super()._adjust_process_count()

    def _spawn_process(self):
        """The stdlib's, but a worker that cannot be started breaks the pool:
        its error (initargs that no longer pickle -- a store closed since the
        constructor checked them --, an OSError of fork or pipe) is kept in
        _start_failures, and the manager thread (_Manager) ends the pool as
        broken, every queued future failed with a BrokenProcessPool whose
        cause it is. The stdlib let it propagate: from submit(), after the
        task was queued (a first submit had not started the manager thread
        yet: its future stayed pending for ever, and interpreter exit waited
        for it); on the manager thread, replacing a worker that ended at
        max_tasks_per_child, it ended that thread with the queued futures
        pending for ever."""
        try:
            super()._spawn_process()
        except Exception as exc:
            self._start_failures.append(exc)
            if self._executor_manager_thread_wakeup is not None:
                self._executor_manager_thread_wakeup.wakeup()   # the manager sees it now

    def _start_executor_manager_thread(self):
        """The stdlib's (3.12 to 3.14), with frost's manager thread (_Manager)."""
        if self._executor_manager_thread is None:
            if not self._safe_to_dynamically_spawn_children:   # fork: all workers first
                self._launch_processes()
            self._executor_manager_thread = _Manager(self)
            self._executor_manager_thread.start()
            cf.process._threads_wakeups[self._executor_manager_thread] = \
                self._executor_manager_thread_wakeup

    def _check_callable(self, fn, what):
        why = _sendable.problem(fn, self._main_importable, what, to="a worker process")
        if why is not None:
            raise TypeError(why)

    def submit(self, fn, /, *args, **kwargs):
        if not callable(fn):
            raise TypeError(f"submit() needs a callable, not {type(fn).__name__}")
        self._check_callable(fn, "callable")
        future = super().submit(_run, _dumps_call(fn, args, kwargs))
        # Until it is done, a future holds its pool (the manager thread holds
        # the queued futures): the stdlib's manager replaces a worker ended at
        # max_tasks_per_child only while the executor lives, so a pool dropped
        # with tasks queued left them pending for ever, and exit waited for them.
        future._frost_pool = self
        future._frost_callbacks = self._callbacks
        future.__class__ = _TaskFuture
        # the stdlib's Condition, made interrupt-safe in place (frost/_condition.py):
        # the manager thread may be using it already
        future._condition.__class__ = _InterruptSafeCondition
        with future._condition:   # (only wait() and as_completed() use it: none yet)
            future._waiters = _WeakWaiters(future._waiters)
        if future.done():   # before the class was set: _TaskFuture._invoke_callbacks did not run
            future.__dict__.pop("_frost_pool", None)
        return future

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
        chunksize, options = _sendable.check_map_arguments(fn, timeout, chunksize, buffersize)
        self._check_callable(fn, "callable")
        return self._stopped_by_interrupts(
            super().map(fn, *iterables, timeout=timeout, chunksize=chunksize, **options))

    def _stopped_by_interrupts(self, results):
        """map()'s results: a Ctrl-C while waiting for one stops the pool."""
        try:
            yield from results
        except GeneratorExit:   # closed early (break, or dropped): the stdlib's cancels
            results.close()
            raise
        except Exception:
            raise
        except BaseException:
            self._stop_workers()
            raise

    def shutdown(self, wait=True, *, cancel_futures=False):
        """The stdlib's, with a wait that a Ctrl-C ends safely: then the pool
        is stopped (see the module's doc) and the KeyboardInterrupt goes on.
        After a stop, queued tasks are always cancelled.

        The stdlib's shutdown(wait=False) drops the executor's references
        (its worker table among them) while the manager thread still runs,
        and a manager that then replaces a worker (max_tasks_per_child) dies
        on the missing table, leaving the queued futures pending forever
        (CPython gh-119592). So the manager is told to stop first, and the
        references are dropped only once it has ended."""
        with self._shutdown_lock:   # what a later call (after a Ctrl-C) must still reach
            if self._executor_manager_thread is not None:
                self._manager = self._executor_manager_thread
            if self._processes:
                self._known_processes = list(self._processes.values())
            self._cancel_pending_futures = cancel_futures or self._stopped
            self._shutdown_thread = True
            if self._executor_manager_thread_wakeup is not None:
                self._executor_manager_thread_wakeup.wakeup()
        try:
            if wait and self._manager is not None:
                _join(self._manager)
                self._manager = None
            if self._manager is None or not self._manager.is_alive():
                self._manager = None   # (ended: nothing uses the references any more)
                super().shutdown(wait=False, cancel_futures=self._cancel_pending_futures)
            if wait:   # the manager has delivered every result
                self._callbacks.close()
                ended = self._callbacks.ended
                if ended is not None and threading.current_thread() is not ended:
                    _join(ended)
        except BaseException:
            self._stop_workers()
            raise

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not issubclass(exc_type, Exception):
            self._stop_workers()   # Ctrl-C, SystemExit: do not wait for the running tasks
        self.shutdown(wait=True)
        return False

    def _stop_workers(self):
        """Cancel the queued tasks and end every worker process now: SIGTERM,
        SIGKILL to those still there after STOP_GRACE seconds. The executor's
        manager thread sees them end, fails their running futures with
        BrokenProcessPool and reaps them; shutdown(wait=True) joins it. A
        second Ctrl-C landing anywhere here kills the workers at once and goes
        on (one landing before the terminations, in the manager's wakeup, say,
        left every worker running its task, and exit waited for them)."""
        self._stopped = True
        try:
            self._terminate_workers()
        except BaseException:   # a second Ctrl-C: no grace
            self._kill_workers()
            raise

    def _terminate_workers(self):
        with self._shutdown_lock:
            self._shutdown_thread = True
            self._cancel_pending_futures = True
            if self._processes:
                self._known_processes = list(self._processes.values())
            if self._executor_manager_thread_wakeup is not None:
                self._executor_manager_thread_wakeup.wakeup()
        for item in list(self._pending_work_items.values()):
            item.future.cancel()   # queued ones (the manager skips them); running ones: no-op
        # A Process signals only while it is not reaped (no pid reuse race); its
        # sentinel says it ended without reaping it (the manager thread does).
        sentinels = {}
        for process in self._known_processes:
            try:
                process.terminate()
                sentinels[process.sentinel] = process
            except ValueError:   # closed: reaped already
                pass
        ended = multiprocessing.connection.wait(list(sentinels), STOP_GRACE) if sentinels else []
        for sentinel in sentinels.keys() - set(ended):
            sentinels[sentinel].kill()

    def _kill_workers(self):
        """SIGKILL every worker not reaped yet, whatever _terminate_workers got to."""
        self._shutdown_thread = True
        self._cancel_pending_futures = True
        for process in {*self._known_processes, *(self._processes or {}).values()}:
            try:
                process.kill()
            except ValueError:   # closed: reaped already
                pass

    def __repr__(self):
        state = "shut down" if self._shutdown_thread else "running"
        if self._broken:
            state = "broken"
        return f"<frost.ProcessPool workers={self._workers} {self._start_method} {state}>"
