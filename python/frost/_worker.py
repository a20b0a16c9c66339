"""What runs inside each pool worker interpreter (imported there, not in main).

A task arrives as a payload made by frost._transport.dumps((fn, args, kwargs))
and leaves as dumps((True, value)) or dumps((False, error)), where error is
(exception or None, type name, message, traceback text). Every exception,
SystemExit included, is caught here: a task can never end its worker.
"""
import os
import runpy
import sys
import traceback
import types

from frost import _frost, _transport

# True while setup() imports the main script: a Pool started then would
# start workers that import the script again, without end.
bootstrapping = False


def setup(sys_path, main):
    """Make the worker see what the main interpreter sees: its sys.path and,
    like multiprocessing's spawn, its __main__ module re-imported under the
    name __mp_main__ (so `if __name__ == "__main__":` blocks don't run)."""
    sys.path[:] = sys_path
    if main is None:
        return
    kind, where = main
    global bootstrapping
    module = types.ModuleType("__mp_main__")
    sys.modules["__mp_main__"] = module
    bootstrapping = True
    try:
        if kind == "name":
            content = runpy.run_module(where, run_name="__mp_main__", alter_sys=False)
        else:
            content = runpy.run_path(where, run_name="__mp_main__")
    except BaseException:
        del sys.modules["__mp_main__"]
        raise
    finally:
        bootstrapping = False
    module.__dict__.update(content)
    sys.modules["__main__"] = module


def _describe(exc):
    tb = "".join(traceback.format_exception(exc))
    try:
        _transport.dumps(exc)
        sendable = exc
    except Exception:
        sendable = None
    return (sendable, f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc), tb)


def run_task(payload):
    """Run one task; always returns a payload (bytes)."""
    try:
        fn, args, kwargs = _transport.loads(payload)
        value = fn(*args, **kwargs)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: reported, never fatal
        return _transport.dumps((False, _describe(exc)))
    try:
        return _transport.dumps((True, value))
    except BaseException as exc:
        try:
            raise TypeError(f"the result of {getattr(fn, '__qualname__', fn)!r} cannot be sent "
                            f"back from the worker: {exc}") from exc
        except TypeError as wrapped:
            return _transport.dumps((False, _describe(wrapped)))


class _Borrowing(_transport._Unpickler):
    """Loads a payload that every worker reads (the initializer's): each takes
    references of its own instead of taking over the payload's, which the
    parent keeps and discards once all have run (N imports of one reference
    released it N times: a store or channel freed under its users)."""

    def persistent_load(self, pid):
        tag, ref = pid
        if tag == _transport._TAG:
            return _frost._rebuild(*ref)
        if tag == _transport._CHANNEL_TAG:
            return _frost._channel_attach(ref[0], ref[1])
        return super().persistent_load(pid)


def run_initializer(payload):
    import io
    fn, args = _Borrowing(io.BytesIO(payload)).load()
    fn(*args)


def process_chunk(fn, chunk):
    """Pool.map with chunksize > 1: one task runs fn over many argument tuples."""
    return [fn(*args) for args in chunk]


def worker_info():
    """(pid, thread id, interpreter id) of the worker running this: for tests."""
    import threading
    try:
        import _interpreters as interpreters
    except ImportError:
        import _xxsubinterpreters as interpreters
    current = interpreters.get_current()
    interp_id = current[0] if isinstance(current, tuple) else int(current)
    return os.getpid(), threading.get_ident(), int(interp_id)
