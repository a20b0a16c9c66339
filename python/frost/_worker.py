"""What runs inside each pool worker interpreter (imported there, not in main).

A task arrives as a message made by frost._transport.dumps((fn, args, kwargs)),
loaded (which ends its life) here, and leaves as dumps((True, value)) or
dumps((False, error)), where error is
(exception or None, type name, message, traceback text). Every exception,
SystemExit included, is caught here: a task can never end its worker.

Imports are what every worker needs to run a task: runpy (the main script)
and traceback (a failed task) are imported where they are used, which keeps
them out of a worker's start-up (tests/python/test_imports.py).
"""
import os
import sys
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
    import runpy
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


_REFUSES_SUBINTERPRETERS = " does not support loading in subinterpreters"


def subinterpreter_refusal(text):
    """The ImportError message for a module that refuses subinterpreters
    (numpy and many C extensions), if `text` is that error, else None."""
    end = text.find(_REFUSES_SUBINTERPRETERS)
    start = text.rfind("module ", 0, end) + len("module ") if end > 0 else -1
    module = text[start:end] if start >= len("module ") else ""
    if not module or any(c.isspace() for c in module):
        return None
    package = module.split(".")[0]
    return (f"module {module} does not support loading in subinterpreters, and every frost.Pool "
            f"worker is one (an own-GIL subinterpreter), so {package} cannot be used in a "
            f"frost.Pool task or initializer. Run this work in a frost.ProcessPool (worker "
            f"processes, where every extension loads; frost stores cross by handle: "
            f"frost.share(data)); see README.md, 'Which pool'")


def _clear_refusal(exc):
    """exc, or an ImportError that says the module refuses subinterpreters
    (with exc as its cause) when that is what exc, or its cause, is."""
    seen = 0
    cause = exc
    while cause is not None and seen < 8:
        if isinstance(cause, ImportError):
            message = subinterpreter_refusal(str(cause))
            if message is not None:
                clear = ImportError(message, name=cause.name)
                clear.__cause__ = exc
                return clear
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return exc


def _describe(exc):
    exc = _clear_refusal(exc)
    import traceback
    tb = "".join(traceback.format_exception(exc))
    # sent as it is only if it also loads: an exception whose __init__ needs
    # other arguments than its args pickles but does not unpickle, and the
    # caller would get that TypeError instead, without this traceback
    message = None
    try:
        message = _transport.dumps(exc)
        _transport.loads(message)   # ends the message
        sendable = exc
    except Exception:
        sendable = None
    finally:
        if message is not None:
            _transport.discard(message)   # a no-op once loaded
    return (sendable, f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc), tb)


def _load_call(payload):
    try:
        return _transport.loads(payload)
    except AttributeError as exc:
        if "__mp_main__" not in str(exc) and "'__main__'" not in str(exc):
            raise
        raise AttributeError(
            f"{exc}. The worker imported the main script as __mp_main__ and it does not "
            "define this name at the top level: define functions and classes the pool uses "
            "outside `if __name__ == '__main__':`, or in a module") from exc


def run_task(payload):
    """Run one task; always returns a message (bytes). The KeyboardInterrupt
    of Pool.shutdown(cancel_futures=True) may land anywhere in here, once: a
    result message already made is then discarded, never dropped (dumps
    itself discards what it exported when interrupted inside)."""
    message = None
    try:
        fn, args, kwargs = _load_call(payload)
        value = fn(*args, **kwargs)
        try:
            message = _transport.dumps((True, value))
        except Exception as exc:
            raise TypeError(f"the result of {getattr(fn, '__qualname__', fn)!r} cannot be sent "
                            f"back from the worker: {exc}") from exc
        return message
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: reported, never fatal
        if message is not None:
            _transport.discard(message)
        return _transport.dumps((False, _describe(exc)))


def run_initializer(payload):
    # every worker loads the same message; the pool discards it after
    fn, args = _transport.loads(payload, consume=False)
    try:
        fn(*args)
    except ImportError as exc:
        clear = _clear_refusal(exc)
        if clear is exc:
            raise
        raise clear from exc


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
