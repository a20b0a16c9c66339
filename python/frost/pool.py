"""frost.Pool: a concurrent.futures.Executor over own-GIL subinterpreters.

One interpreter per worker thread (interp/pool.c), each with its own GIL, so
N workers run Python on N cores at once. Tasks and results travel through
frost._transport: frost stores and views by reference (O(1), no copy), plain
values copied, everything else pickled.

    with frost.Pool() as pool:                     # one worker per core
        totals = list(pool.map(score, chunks))     # score: a module-level function
        fut = pool.submit(train, store.root, 3)    # views cross by reference

Callables: module-level functions are sent by reference and imported in the
worker; functions of the __main__ script work as with multiprocessing's
spawn (a worker imports the script as __mp_main__ the first time it needs
one of its names: frost._worker.setup); anything that
cannot reach a worker (lambdas, nested functions, what an interactive
session, `python -c` or stdin defines, anything unpicklable) raises
TypeError at submit/map saying why and what to do (frost._sendable).
"""
import concurrent.futures as cf
import itertools
import logging
import os
import sys
import threading
import time
import weakref
from functools import partial

from frost import _frost, _sendable, _transport
from frost._condition import _InterruptSafeCondition, _WeakWaiters

# Pool events: start, shutdown, task errors (DEBUG), worker failures (ERROR).
# The "frost" logger has only a NullHandler unless the application adds one.
logging.getLogger("frost").addHandler(logging.NullHandler())   # silent until configured
log = logging.getLogger("frost.pool")

__all__ = ["Pool", "RemoteTraceback"]


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker (set as __cause__)."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return "\n" + self.tb


def _main_module_spec():
    """How a worker finds this process's __main__ (like multiprocessing.spawn)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        if spec.name == "__main__" or spec.name.endswith(".__main__"):
            return None
        return ("name", spec.name)
    path = getattr(main, "__file__", None)
    if path is None or os.path.basename(path).lower().startswith("ipython"):
        return None
    if not os.path.isfile(path):   # '<stdin>' (python - < script), a deleted script
        return None
    return ("path", os.path.abspath(path))


def _alias_main_script():
    """Workers run this process's script as __mp_main__, so what they send back
    names its classes __mp_main__.X: in this interpreter that module is
    __main__ (the alias multiprocessing makes when it is imported; frost makes
    it itself, whether or not multiprocessing is imported). A worker has the
    real __mp_main__ already and is left alone."""
    main = sys.modules.get("__main__")
    if main is not None and "__mp_main__" not in sys.modules:
        sys.modules["__mp_main__"] = main


def _rebuild_error(error):
    exc, type_name, message, tb = error
    if not isinstance(exc, BaseException):
        exc = RuntimeError(f"{type_name}: {message}")
    exc.__cause__ = RemoteTraceback(tb)
    return exc


def _chunks(iterables, chunksize):
    it = zip(*iterables)
    while True:
        chunk = tuple(itertools.islice(it, chunksize))
        if not chunk:
            return
        yield chunk


def _chained(results):
    """map()'s results with chunksize > 1, one by one: a generator, as the
    stdlib's, so close() (or `with contextlib.closing(...)`) cancels the
    chunks not yet started, through the stdlib's own results generator."""
    try:
        for chunk in results:
            yield from chunk
    finally:
        results.close()


class _TaskFuture(cf.Future):
    """The Future of one task, with concurrent.futures' states decided by the
    pool's queue, under the Pool's lock: while the task waits in the queue it
    is PENDING and cancel() takes it back (it never runs); once a worker has
    taken it, it is RUNNING and cancel() returns False. (ThreadPoolExecutor
    marks a future running when a thread takes its work item; frost's queue
    lives in C, so the future asks it when cancel() or running() needs to
    know, and the collector marks it when the result arrives.)"""

    def __init__(self, pool, task_id):
        super().__init__()
        self._condition = _InterruptSafeCondition()
        self._waiters = _WeakWaiters()   # frost/_condition.py
        self._frost_pool = pool
        self._task_id = task_id

    def cancel(self):
        pool = self._frost_pool
        with pool._lock:
            task = pool._futures.get(self._task_id)
            if task is not None:
                payload = pool._pool.cancel(self._task_id)
                if payload is None:      # a worker has taken it
                    self._start()
                    return False
                del pool._futures[self._task_id]
        if task is not None:
            _transport.discard(payload)  # never ran: the message ends here
        if not super().cancel():
            return False
        if self._state == cf._base.CANCELLED:
            self.set_running_or_notify_cancel()   # it will never start: wake wait()ers
        return True

    # A wait inside a worker interpreter (a task waiting on a pool it started)
    # must stop when that worker's pool interrupts the task: KeyboardInterrupt
    # lands only when bytecode runs, never inside the stdlib's wait (a lock's
    # acquire), so a task blocked in result() held shutdown(cancel_futures=
    # True) forever. There the wait is cut in slices of _WAIT_SLICE, with
    # bytecode between them; the final check is the stdlib's own with
    # timeout=0, so what is raised (TimeoutError after `timeout`,
    # CancelledError, the task's error) is unchanged.
    def result(self, timeout=None):
        if _in_worker():
            self._wait_in_slices(timeout)
            timeout = 0
        return super().result(timeout)

    def exception(self, timeout=None):
        if _in_worker():
            self._wait_in_slices(timeout)
            timeout = 0
        return super().exception(timeout)

    def _wait_in_slices(self, timeout):
        """Wait until done, or `timeout` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            slice = _WAIT_SLICE
            if deadline is not None:
                slice = min(slice, deadline - time.monotonic())
                if slice <= 0:
                    return
            with self._condition:
                if self._state in (cf._base.CANCELLED, cf._base.CANCELLED_AND_NOTIFIED,
                                   cf._base.FINISHED):
                    return
                self._condition.wait(slice)

    def _invoke_callbacks(self):
        # On the results thread, the callbacks go to the pool's callback
        # thread (_Callbacks): one that waits for another future (result(),
        # wait(), as_completed) would otherwise block the only thread that
        # delivers results, for ever.
        if self._done_callbacks and self._frost_pool._callbacks.defer(self):
            return
        super()._invoke_callbacks()

    def running(self):
        pool = self._frost_pool
        with pool._lock:
            if self._task_id in pool._futures and not pool._pool.is_queued(self._task_id):
                self._start()
        return super().running()

    def _start(self):
        """PENDING -> RUNNING; whether it is running (not cancelled or done)."""
        with self._condition:
            if self._state == cf._base.PENDING:
                self._state = cf._base.RUNNING
            return self._state == cf._base.RUNNING

    def _stopped(self):
        """Its task was cancelled by shutdown or stopped while running."""
        with self._condition:
            if self._state in (cf._base.CANCELLED, cf._base.CANCELLED_AND_NOTIFIED,
                               cf._base.FINISHED):
                return
            self._state = cf._base.CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        self._invoke_callbacks()


def _in_worker():
    """Whether this is a pool's worker interpreter (frost._worker.setup ran)."""
    worker = sys.modules.get("frost._worker")
    return worker is not None and worker.in_worker


_WAIT_SLICE = 0.1                   # a future's wait in a worker: see _TaskFuture.result
_REINTERRUPT_PERIOD = 1.0           # seconds between interruptions of a task that runs on
# Pools not joined: interpreter exit stops them. Held weakly: a Pool dropped
# without shutdown() is collected and ended (_dropped). One whose workers
# are stuck is never freed (freeing joins them: a hang): a stuck task's
# future is in its results thread's hands, and holds its Pool.
_live_pools = weakref.WeakSet()
# Pools no results thread holds: from their workers' start until their
# results thread starts, and until exit if start-up was interrupted and
# their workers did not end (exit abandons them).
_held_until_ended = set()
_all_pools = weakref.WeakSet()      # every Pool of this process: os.fork() marks them

# Seconds that interpreter exit (and leaving a `with` block by Ctrl-C or
# SystemExit) gives the interrupted tasks to end. A worker still running
# after that is blocked in a C call no exception reaches (time.sleep, a
# lock, a read): exit abandons it (docs/design.md, "Stopping").
EXIT_GRACE = 2.0


def _shutdown_all():
    """Interpreter exit (threading's atexit hook: before threads are joined
    and before Py_Finalize, which in 3.13 ends every subinterpreter left):
    stop every pool not yet joined, give the tasks EXIT_GRACE seconds
    together, then abandon the workers still stuck. Bounded in time."""
    pools = list(_live_pools)
    try:
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + EXIT_GRACE
        for pool in pools:
            if not pool._wait_ended(deadline):
                pool._abandon(deadline)
    except BaseException:   # Ctrl-C during the wait: exit must still finish
        for pool in pools:
            pool._abandon(time.monotonic())
        raise
    finally:
        if pools and isinstance(getattr(sys, "last_exc", None), KeyboardInterrupt):
            _exit_by_sigint_again()


def _exit_by_sigint_again():
    """A program ended by an uncaught KeyboardInterrupt exits by SIGINT
    (status 130 in a shell, which stops a shell loop): CPython marks it in
    a process-wide flag that any eval() or exec() of a str in any
    interpreter clears, and a task stopped here formats its traceback,
    which imports traceback and tokenize in the worker (their namedtuples
    are made by eval()), so such a program exited with status 1. The flag
    is set again as CPython sets it: a KeyboardInterrupt out of an exec()."""
    try:
        exec("raise KeyboardInterrupt")
    except KeyboardInterrupt:
        pass


# Runs before the interpreter waits for threads at exit: workers must end
# before the main interpreter finalizes.
threading._register_atexit(_shutdown_all)


def _after_fork_in_child():
    """The child of os.fork() has none of its parent's worker threads: each
    Pool it inherited is unusable there (submit raises BrokenExecutor,
    shutdown does nothing) and its unfinished futures fail the same way.
    See docs/design.md, "fork"."""
    _live_pools.clear()
    _held_until_ended.clear()
    for pool in list(_all_pools):
        pool._forked_away()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Callbacks:
    """The thread that runs the done-callbacks of the futures a pool's
    results thread completes (started at the first of them), in order: a
    callback may wait for another future of the pool (result(), wait(),
    as_completed), which only the results thread can deliver. It holds its
    queue, never the pool. close() ends it once its queue is run; a later
    callback starts another. frost.ProcessPool's (process_pool) is one
    whose results thread is the executor's manager thread.

    A daemon where the interpreter allows one (the main interpreter; a Pool
    in a Pool's task runs in a subinterpreter, which forbids them): a
    callback that blocks forever holds interpreter exit EXIT_GRACE seconds,
    not for ever (_join_collector)."""
    daemon = None   # None: a daemon if _thread.daemon_threads_allowed()

    def __init__(self):
        self.results_thread = None   # the Pool's, set once that thread runs
        self.thread = None
        self.ended = None            # the thread close() ended last: to join
        self._lock = threading.Lock()
        self._queue = None

    def delivering(self):
        return threading.current_thread() is self.results_thread

    def defer(self, future):
        """Queue future's callbacks if this is the results thread; False
        when they are to run here (any other thread, or no thread can start)."""
        if not self.delivering():
            return False
        with self._lock:
            if self.thread is None:
                import _queue
                queue = _queue.SimpleQueue()
                import _thread
                daemon = _thread.daemon_threads_allowed() if self.daemon is None else self.daemon
                thread = threading.Thread(target=self._run, name="frost-pool-callbacks",
                                          args=(queue,), daemon=daemon)
                try:
                    thread.start()
                except RuntimeError:   # interpreter shutdown: no new threads
                    return False
                self.thread, self._queue = thread, queue
            self._queue.put(future)
        return True

    @staticmethod
    def _run(queue):
        while (future := queue.get()) is not None:
            try:
                cf.Future._invoke_callbacks(future)   # logs what a callback raises
            except BaseException:   # a KeyboardInterrupt: the next callbacks still run
                log.exception("a done-callback of a pool's future raised")
            del future

    def close(self):
        """End the thread once its queue is run (then it is `ended`)."""
        with self._lock:
            if self.thread is not None:
                self._queue.put(None)
                self.ended, self.thread, self._queue = self.thread, None, None


def _collect(cpool, lock, futures, callbacks):
    """The results thread of a Pool: hands each result to its future. It
    holds the pool's parts, never the Pool: a Pool dropped without shutdown()
    is collected once no task is queued or running (their futures hold it),
    and its finalizer (_dropped) shuts it down, which ends this thread."""
    callbacks.results_thread = threading.current_thread()
    try:
        _collect_until_drained(cpool, lock, futures)
    finally:
        callbacks.close()   # Pool._join_collector joins it


def _collect_until_drained(cpool, lock, futures):
    while True:
        try:
            item = cpool.next_result(None)
        except EOFError:
            break
        if item is not None:
            _deliver(lock, futures, *item)
        del item   # holds nothing between results (a result can hold a view)
    with lock:
        leftover = list(futures.values())
        futures.clear()
    for future, tickets in leftover:
        for ticket in tickets:
            _frost._discard(ticket)
        future._stopped()


def _deliver(lock, futures, task_id, status, data):
    with lock:
        future, tickets = futures.pop(task_id, (None, ()))
        running = future is not None and future._start()
    # The task's message has ended (run, taken back or stopped): release
    # what it held, whether or not the worker got as far as loading it.
    for ticket in tickets:
        _frost._discard(ticket)
    if status == "ok" and running:
        try:
            ok, value = _transport.loads(data)
        except BaseException as exc:
            from frost import _worker
            ok, value = False, (exc, type(exc).__name__, _worker.exception_text(exc), "")
        if not ok:
            log.debug("task %d raised %s: %s", task_id, value[1], value[2])
        if ok:
            future.set_result(value)
        else:
            future.set_exception(_rebuild_error(value))
        return
    if status != "error" and data is not None:
        # ok for a future no one waits on; cancelled: the task payload,
        # never run; interrupted: what the task returned, or nothing (None:
        # it raised, or its machinery was interrupted before it returned)
        _transport.discard(data)
    if future is None:
        return
    if status == "error" and running:   # the worker could not run the task machinery
        log.error("a worker failed to run task %d:\n%s", task_id, data.decode("utf-8", "replace"))
        future.set_exception(_rebuild_error(
            (None, "RuntimeError", "worker failed", data.decode("utf-8", "replace"))))
    else:
        log.debug("task %d %s", task_id, "stopped" if status != "ok" else "not awaited")
        future._stopped()


def _dropped(pid, cpool):
    """A Pool collected without shutdown(): no task is queued or running, so
    its workers end now, and its results thread with them, which frees the
    worker interpreters (as a ThreadPoolExecutor's threads end when it is
    collected). Not at interpreter exit: _shutdown_all stops what is left."""
    if os.getpid() == pid:
        cpool.shutdown(False)


class Pool(cf.Executor):
    """An Executor with one own-GIL subinterpreter per worker.

    workers (or max_workers, the stdlib's name): how many (default: the CPUs
    this process may run on, its affinity mask). initializer(*initargs) runs in
    every worker first; it must be a module-level callable (one that raises fails
    the constructor with a concurrent.futures.BrokenExecutor). import_main: whether
    a worker imports this process's main script as __mp_main__ (as
    multiprocessing's spawn does), so that functions and classes defined there
    can be used in it; it does so the first time a task, initializer or message
    needs one of the script's names, so a script whose tasks all come from
    modules never runs in the workers. False where the main module cannot load
    in a subinterpreter (a Dask worker's is distributed's command line:
    frost.dask.pool()), and then only functions of importable modules can be sent.
    """

    def __init__(self, workers=None, *, initializer=None, initargs=(), import_main=True,
                 max_workers=None):
        workers, initargs = _sendable.check_pool_arguments(workers, initializer, initargs,
                                                           max_workers)
        worker = sys.modules.get("frost._worker")
        if worker is not None:   # in a worker: not while it imports what a task needs
            worker.check_pool_start("frost.Pool")
        main_spec = _main_module_spec() if import_main else None
        # what workers import as __mp_main__ is fixed now: later calls are checked against it
        self._main_importable = main_spec is not None
        init_payload = None
        if initializer is not None:
            init_payload = self._dumps_call(initializer, initargs, None, main_spec is not None,
                                            what="initializer")
        _alias_main_script()
        init_code = (
            "import frost._worker as _frost_worker\n"
            f"_frost_worker.setup({list(sys.path)!r}, {main_spec!r})\n"
        )
        self._lock = threading.Lock()
        self._futures = {}          # task id -> (_TaskFuture, task's tickets), guarded by _lock
        self._shutdown = False
        self._pid = os.getpid()     # the process whose threads are the workers
        self._collector = None
        self._callbacks = _Callbacks()   # runs done-callbacks off the results thread
        self._workers = workers
        # The workers' set-up and the initializer (which may import the main
        # script) run as run_all, whose wait Ctrl-C ends; then the workers are
        # stopped, waited for EXIT_GRACE seconds, and left to interpreter
        # exit (which abandons them) if they are blocked in a C call.
        self._pool = _frost._Pool(workers)   # creates the interpreters only
        _live_pools.add(self)   # from here on, whatever interrupts us: exit stops it
        _held_until_ended.add(self)
        initializing = False
        try:
            self._pool.run_all(init_code)
            if init_payload is not None:   # every worker imports it (an import takes counts of its own)
                initializing = True
                self._pool.run_all(
                    f"import frost._worker as _frost_worker\n"
                    f"_frost_worker.run_initializer({init_payload!r})\n")
        except BaseException as exc:
            self._shutdown = True
            self._pool.shutdown(True)
            self._pool.interrupt()
            self._wait_ended(time.monotonic() + EXIT_GRACE)   # else exit abandons it
            refusal = _subinterpreter_refusal(exc)
            if refusal is not None:
                raise refusal from exc
            if initializing and type(exc) is RuntimeError:   # what it raised, in the worker
                raise _initializer_failure(initializer, exc) from None
            raise
        finally:
            if init_payload is not None:
                _transport.discard(init_payload)   # every worker has loaded it (or failed)
        # Not a daemon (subinterpreters forbid those): interpreter exit first runs
        # _shutdown_all (threading's atexit), which ends it.
        self._collector = threading.Thread(target=_collect, name="frost-pool-results",
                                           args=(self._pool, self._lock, self._futures,
                                                 self._callbacks))
        weakref.finalize(self, _dropped, self._pid, self._pool).atexit = False
        _all_pools.add(self)
        self._collector.start()
        _held_until_ended.discard(self)   # its futures hold it while tasks are in flight
        log.info("frost.Pool started: %d worker interpreter(s)", workers)

    @property
    def workers(self):
        return self._workers

    @staticmethod
    def _dumps_call(fn, args, kwargs, main_importable, what="callable"):
        """The payload of a call; TypeError if it cannot reach a worker
        (main_importable: whether the workers imported this __main__)."""
        why = _sendable.problem(fn, main_importable, what)
        if why is not None:
            raise TypeError(why)
        call = (fn, args, kwargs) if what == "callable" else (fn, args)
        try:
            payload = _transport.dumps(call)
        except _frost.SnapshotError:
            raise   # a store that cannot be sent as it is now (its file removed): it says why
        except Exception as exc:
            try:
                _transport.check_sendable(fn)
            except Exception as fn_exc:
                raise TypeError(f"cannot send {what} {fn!r} to a worker interpreter: {fn_exc}. "
                                "Use a module-level function (or one defined in the __main__ "
                                "script), not a lambda, closure or bound method of an "
                                "unpicklable object.") from fn_exc
            raise TypeError(f"cannot send the arguments of {fn!r} to a worker interpreter: "
                            f"{exc}") from exc
        why = _sendable.main_reference_problem(call, payload, main_importable,
                                               f"arguments of {fn!r}")
        if why is not None:
            _transport.discard(payload)
            raise TypeError(why)
        return payload

    def submit(self, fn, /, *args, **kwargs):
        if not callable(fn):
            raise TypeError(f"submit() needs a callable, not {type(fn).__name__}")
        payload = future = None
        try:
            payload = self._dumps_call(fn, args, kwargs, self._main_importable)
            tickets = _frost._message_tickets(payload)
            with self._lock:
                if self._pid != os.getpid():
                    raise self._forked_error()
                if self._shutdown:
                    raise RuntimeError("cannot schedule new futures after shutdown")
                task_id = self._pool.submit("frost._worker", "run_task", payload)
                future = _TaskFuture(self, task_id)
                self._futures[task_id] = (future, tickets)
        except BaseException:
            # not handed over (or Ctrl-C landed just after): the message ends here;
            # a task already queued then fails to load it, and reports that
            if payload is not None and future is None:
                _transport.discard(payload)
            raise
        return future

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
        chunksize, options = _sendable.check_map_arguments(fn, timeout, chunksize, buffersize)
        why = _sendable.problem(fn, self._main_importable)
        if why is not None:   # before the chunks wrap fn in a partial
            raise TypeError(why)
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout, **options)
        results = super().map(partial(_worker_process_chunk(), fn), _chunks(iterables, chunksize),
                              timeout=timeout, **options)   # buffersize counts chunks, as the stdlib's
        return _chained(results)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Stop taking work; with wait, return once every worker has ended.

        cancel_futures=True cancels the queued tasks and, unlike the stdlib's
        executors, also stops the running ones: KeyboardInterrupt is raised in
        each (it lands at the task's next bytecode or frost wait -- the
        result() of a frost.Pool future the task waits on is one -- so a task
        blocked in another C call stops when that call returns), and their
        futures are cancelled; a task that catches it is interrupted again
        every second while shutdown waits. The wait itself ends on Ctrl-C: then the
        running tasks are stopped as with cancel_futures=True, and the
        KeyboardInterrupt goes on (interpreter exit finishes the wait).
        """
        if self._pid != os.getpid():
            return              # a parent's pool: nothing of it runs here
        with self._lock:
            already = self._shutdown
            self._shutdown = True
        if not already:
            log.info("frost.Pool shutting down (wait=%s, cancel_futures=%s)", wait, cancel_futures)
        if cancel_futures:   # the queued ones are cancelled when this returns, as the stdlib's
            with self._lock:
                queued = [future for future, _ in self._futures.values()]
            for future in queued:
                future.cancel()   # False for a task a worker has taken: stopped below
        if not already or cancel_futures:
            self._pool.shutdown(bool(cancel_futures))   # idempotent
        if cancel_futures:
            self._pool.interrupt()
        if wait:
            self._wait_ended(None, reinterrupt=cancel_futures)

    def _wait_ended(self, deadline, reinterrupt=True):
        """Wait until every worker has ended (deadline: a time.monotonic()
        value, or None for no limit); True once joined. With reinterrupt, a
        task that caught its KeyboardInterrupt is stopped again every second.
        Ctrl-C ends the wait: the running tasks are stopped and it goes on
        (the pool stays on the exit list until joined)."""
        try:
            while True:
                slice = None if not reinterrupt else _REINTERRUPT_PERIOD
                if deadline is not None:
                    slice = max(0.0, min(slice or _REINTERRUPT_PERIOD,
                                         deadline - time.monotonic()))
                if self._pool.join(slice):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                if reinterrupt:
                    self._pool.interrupt()
            self._join_collector(deadline)
        except BaseException:
            self._pool.shutdown(True)
            self._pool.interrupt()
            raise
        _live_pools.discard(self)   # until joined, interpreter exit joins it
        _held_until_ended.discard(self)
        log.info("frost.Pool stopped: every worker interpreter has ended")
        return True

    def _abandon(self, deadline):
        """Interpreter exit only: give up on the workers that did not end
        (frost_pool_abandon); their futures are cancelled. A done-callback
        still running at `deadline` (time.monotonic()) is left running."""
        self._pool.abandon()
        self._join_collector(deadline)   # drains at once: abandoned tasks never report
        _live_pools.discard(self)
        _held_until_ended.discard(self)

    def _join_collector(self, deadline=None):
        """Join the results thread, then the callback thread (which it ends),
        that one until `deadline` (time.monotonic(); None: no limit). A
        callback still running then is left to end by itself, or with the
        process: it is a daemon in the main interpreter (_Callbacks)."""
        collector = self._collector   # None, or not started, if __init__ was interrupted
        if (collector is not None and collector.ident is not None
                and threading.current_thread() is not collector):
            collector.join()
            callbacks = self._callbacks.ended
            if callbacks is not None and threading.current_thread() is not callbacks:
                callbacks.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
                if callbacks.is_alive():
                    log.warning("frost.Pool: a done-callback is still running %.1f s after exit "
                                "began; it is left running", EXIT_GRACE)

    def __exit__(self, exc_type, exc, tb):
        # Leaving the block by Ctrl-C or SystemExit stops the running tasks
        # too, and waits for them at most EXIT_GRACE seconds: a task blocked
        # in a C call that nothing interrupts is left to interpreter exit,
        # which abandons it (a task spinning or sleeping forever would
        # otherwise hold the exit forever). An ordinary exception waits for
        # the running tasks, as in the stdlib.
        if exc_type is not None and not issubclass(exc_type, Exception):
            self.shutdown(wait=False, cancel_futures=True)
            self._wait_ended(time.monotonic() + EXIT_GRACE)
        else:
            self.shutdown(wait=True)
        return False

    def _forked_error(self):
        return cf.BrokenExecutor(
            f"this frost.Pool was started by process {self._pid}; os.fork() does not copy "
            f"its worker threads into the child (process {os.getpid()}): start a new "
            "frost.Pool in the child")

    def _forked_away(self):
        """In the child of os.fork(), with no other thread: see _after_fork_in_child."""
        self._lock = threading.Lock()   # a thread that is not here may have held it
        self._shutdown = True
        futures = list(self._futures.values())
        self._futures.clear()
        # Their tickets stay counted in this child's copy of the ticket table:
        # the parent's workers that would have ended those messages are not here.
        for future, _tickets in futures:
            future._condition = _InterruptSafeCondition()   # likewise
            if not future.done():
                future.set_exception(self._forked_error())

    def __repr__(self):
        if self._pid != os.getpid():
            return f"<frost.Pool workers={self._workers} of parent process {self._pid}>"
        state = "shut down" if self._shutdown else "running"
        return f"<frost.Pool workers={self._workers} {state}>"


def _subinterpreter_refusal(exc):
    """An ImportError saying that a module refuses subinterpreters, when the
    workers' set-up failed for that reason (exc: run_all's RuntimeError)."""
    from frost import _worker
    message = _worker.subinterpreter_refusal(str(exc)) if isinstance(exc, Exception) else None
    if message is None:
        return None
    if _worker.MAIN_SCRIPT_HINT in str(exc):   # the initializer needed the main script
        message += _worker.MAIN_SCRIPT_HINT
    return ImportError(message)


def _initializer_failure(initializer, exc):
    """The BrokenExecutor (as the stdlib's BrokenThreadPool) for an initializer
    that raised in a worker (exc: run_all's RuntimeError, with its traceback)."""
    text = str(exc)
    prefix = "run_all failed in a worker interpreter:"
    if text.startswith(prefix):
        text = text[len(prefix):]
    return cf.BrokenExecutor(f"the initializer {initializer!r} failed in a worker interpreter, "
                             f"so the pool did not start:{text}")


def _worker_process_chunk():
    from frost import _worker
    return _worker.process_chunk
