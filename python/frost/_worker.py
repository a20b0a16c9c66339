"""What runs inside each pool worker interpreter (imported there, not in main).

A task arrives as a message made by frost._transport.dumps((fn, args, kwargs)),
loaded (which ends its life) here, and leaves as dumps((True, value)) or
dumps((False, error)), where error is
(exception or None, type name, message, traceback text). Every exception,
SystemExit included, is caught here: a task can never end its worker.

Imports are what every worker needs to run a task: runpy (the main script,
run on first use) and traceback (a failed task) are imported where they are
used, which keeps them out of a worker's start-up (tests/python/test_imports.py).
"""
import _thread
import os
import sys
import types

from frost import _frost, _transport

# True while a worker imports the main script: a Pool started then would
# start workers that import the script again, without end.
bootstrapping = False
# The thread that is loading a task's call or an initializer (importing the
# modules its function and arguments come from), else None: a module that
# starts a pool at import time would start one in every worker that loads
# one of its functions, which imports it again, without end.
loading_thread = None
# True in a pool's worker interpreter (set by setup, its first code): there
# frost.Pool's futures wait in slices, so that the pool's interrupt lands.
in_worker = False


def check_pool_start(kind):
    """RuntimeError if a pool (kind: its class name) started here would
    start itself again in its own workers without end."""
    if bootstrapping:
        raise RuntimeError(
            f"a {kind} is being started while a worker imports the main script: "
            "start pools under `if __name__ == '__main__':` (the script is imported "
            "again in a worker that needs one of its names, as with multiprocessing's "
            "spawn)")
    if loading_thread is not None and loading_thread == _thread.get_ident():
        raise RuntimeError(
            f"a {kind} is being started while a worker imports a module to load a task or "
            "initializer: a module that starts a pool when imported is imported again by "
            "every worker that needs one of its functions, without end. Start pools in a "
            "function, or under `if __name__ == '__main__':`, not at a module's top level")


def load_call(loads, payload):
    """loads(payload) with this thread marked as loading a call (check_pool_start)."""
    global loading_thread
    outer = loading_thread
    loading_thread = _thread.get_ident()
    try:
        return loads(payload)
    finally:
        loading_thread = outer

# What a refusal met while importing the main script adds to the message.
MAIN_SCRIPT_HINT = (". It is imported by the main script, which a worker imports as "
                    "__mp_main__ when a task, initializer or message needs something "
                    "defined there: define those in a module instead, import it inside "
                    "the functions that need it, or use frost.ProcessPool")


def setup(sys_path, main):
    """Make the worker see what the main interpreter sees: its sys.path and,
    like multiprocessing's spawn, its __main__ module imported under the name
    __mp_main__ (so `if __name__ == "__main__":` blocks don't run). Unlike
    spawn, the script runs only when something first needs one of its names
    (a task's function, an argument's class): a script whose tasks all come
    from modules is never run in the worker, which keeps start-up cheap and
    lets a script that imports numpy (which refuses subinterpreters) still
    use a frost.Pool for its pure-Python tasks."""
    global in_worker
    in_worker = True
    sys.path[:] = sys_path
    if main is None:
        return
    module = types.ModuleType("__mp_main__")
    module.__getattr__ = _MainScriptOnDemand(module, main)   # PEP 562
    sys.modules["__mp_main__"] = module
    sys.modules["__main__"] = module


class _MainScriptOnDemand:
    """The module __getattr__ of a worker's __mp_main__ (also its __main__):
    the first lookup of a name the module lacks runs the main script into it,
    once. A failure (an exception, SystemExit) is remembered and raised again
    to every later lookup, the script never run again (its side effects
    happen at most once); a KeyboardInterrupt leaves it to run next time.
    Dunder names never run it: they are what libraries probe modules for."""

    def __init__(self, module, main):
        import _thread
        self._module = module
        self._main = main                 # ("name", module name) or ("path", file)
        self._lock = _thread.RLock()      # tasks' own threads may unpickle too
        self._state = "not run"           # -> "running" -> "ran" or "failed"
        self._failure = None              # the message of the failure

    def __call__(self, name):
        if not (name.startswith("__") and name.endswith("__")):
            with self._lock:
                if self._state == "not run":
                    self._run(name)
            if self._state == "failed":
                raise self._error(self._failure)
            value = self._module.__dict__.get(name, self)
            if value is not self:
                return value
        raise AttributeError(f"module '__mp_main__' has no attribute {name!r}")

    def _run(self, name):
        import runpy
        global bootstrapping
        kind, where = self._main
        self._state = "running"           # a lookup from the script itself: AttributeError
        bootstrapping = True
        try:
            if kind == "name":
                content = runpy.run_module(where, run_name="__mp_main__", alter_sys=False)
            else:
                content = runpy.run_path(where, run_name="__mp_main__")
        except (Exception, SystemExit) as exc:   # a script's sys.exit(usage) too
            refusal = subinterpreter_refusal(exception_text(exc))
            self._failure = ((refusal + MAIN_SCRIPT_HINT) if refusal is not None else
                             f"importing the main script {where} as __mp_main__ in this "
                             f"worker (to find {name!r}) failed: {type(exc).__name__}: "
                             f"{exception_text(exc)}")
            self._state = "failed"
            raise self._error(self._failure) from exc
        except BaseException:             # KeyboardInterrupt: shutdown's, or Ctrl-C
            self._state = "not run"
            raise
        finally:
            bootstrapping = False
        self._module.__dict__.update(content)
        self._state = "ran"

    @staticmethod
    def _error(message):
        error = ImportError(message)
        error.frost_clear = True          # _clear_refusal keeps it as it is
        return error


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
        if getattr(cause, "frost_clear", False):
            return cause
        if isinstance(cause, ImportError):
            message = subinterpreter_refusal(exception_text(cause))
            if message is not None:
                clear = ImportError(message, name=cause.name)
                clear.__cause__ = exc
                return clear
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return exc


def exception_text(exc):
    """str(exc), or a stand-in naming what str() raised: an exception being
    reported may have a __str__ that raises anything (a KeyboardInterrupt
    too) or recurses too deep, and reporting it must not fail."""
    try:
        return str(exc)
    except BaseException as why:
        return f"<str() failed: {type(why).__name__}>"


def exception_traceback(exc):
    """The formatted traceback of exc; never raises (see exception_text)."""
    import traceback
    try:
        return "".join(traceback.format_exception(exc))
    except BaseException as why:
        return (f"{type(exc).__module__}.{type(exc).__qualname__}: {exception_text(exc)}\n"
                f"(its traceback could not be formatted: {type(why).__name__})\n")


def _describe(exc):
    """What run_task reports of exc; never raises: what the exception's own
    code raises (its __reduce__, __str__, __init__ when unpickled, a
    KeyboardInterrupt included) only keeps it from being sent as it is."""
    exc = _clear_refusal(exc)
    tb = exception_traceback(exc)
    # sent as it is only if it also loads: an exception whose __init__ needs
    # other arguments than its args pickles but does not unpickle, and the
    # caller would get that TypeError instead, without this traceback
    message = None
    try:
        message = _transport.dumps(exc)
        _transport.loads(message)   # ends the message
        sendable = exc
    except BaseException:
        sendable = None
    finally:
        if message is not None:
            _transport.discard(message)   # a no-op once loaded
    return (sendable, f"{type(exc).__module__}.{type(exc).__qualname__}", exception_text(exc), tb)


def _load_call(payload):
    try:
        return load_call(_transport.loads, payload)
    except AttributeError as exc:
        text = exception_text(exc)
        if "__mp_main__" not in text and "'__main__'" not in text:
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
    fn, args = load_call(lambda data: _transport.loads(data, consume=False), payload)
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
