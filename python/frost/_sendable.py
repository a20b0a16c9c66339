"""Why a callable cannot reach a pool worker, said at submit()/map() time.

Workers are other interpreters: a function travels as its module and
qualified name and is imported there (pickle by reference, as with
multiprocessing's spawn). So lambdas and nested functions (no importable
name) and anything defined in a __main__ that workers cannot import (the
interactive interpreter, `python -c`, a script read from stdin) can never
run in a worker. Without these checks they fail late and obscurely: a
pickle error naming `<lambda>`, or, in the worker, FileNotFoundError
'<stdin>' or "Can't get attribute 'f' on <module '__main__'>".
"""
import functools
import operator
import os
import pickle
import sys
import types

from frost import _frost

_SHAREABLE = frozenset(_frost._shareable_types()) | {_frost.Channel}
_FIX_MAIN = ("Define it in a module (a .py file) and import it, or run the program as a "
             "script file (python yourscript.py), whose functions workers import as "
             "with multiprocessing's spawn")


def _main_origin():
    """How this process's __main__ came to be, when workers cannot import it."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path == "<stdin>":
        return "a script read from standard input"
    if path is None and sys.argv and sys.argv[0] == "-c":
        return "`python -c`"
    if path is None:
        return "the interactive interpreter"
    return f"{path}, which is not a file workers can import"


def _target(fn):
    """The function that names `fn` (through partial objects and methods)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    return fn


def usable_cpu_count():
    """The CPUs this process may run on: its affinity mask (taskset, a cpuset,
    a container's CPU limit by cpuset), not every CPU of the machine, which is
    os.cpu_count() (os.process_cpu_count() on 3.13+, the stdlib pools' default)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def as_index(value, what, expected="an int"):
    """`value` as an int: an int or any object with __index__ (a numpy integer,
    an IntEnum), as operator.index takes it (and the C API's frost__parse_index),
    but not a bool (a flag, not a count); TypeError naming `what` otherwise."""
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{what} must be {expected}, not {type(value).__name__}")
    return operator.index(value)


def check_pool_arguments(workers, initializer, initargs, max_workers=None):
    """A pool constructor's checks, the same for frost.Pool and frost.ProcessPool:
    the number of workers (None: usable_cpu_count(); max_workers, the stdlib
    executors' name, is the same argument) and initargs as a tuple."""
    if max_workers is not None:
        if workers is not None:
            raise TypeError("pass workers or max_workers (the same thing), not both")
        workers = max_workers
    if workers is None:
        workers = usable_cpu_count()
    workers = as_index(workers, "workers", "an int or None")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {_frost._int_repr(workers)}")
    if initializer is not None and not callable(initializer):
        raise TypeError(f"initializer must be callable, not {type(initializer).__name__}")
    try:
        initargs = tuple(initargs)
    except TypeError:
        raise TypeError(f"initargs must be an iterable of arguments, "
                        f"not {type(initargs).__name__}") from None
    return workers, initargs


# concurrent.futures' Executor.map takes buffersize from 3.14 on
MAP_TAKES_BUFFERSIZE = sys.version_info >= (3, 14)


def check_map_arguments(fn, timeout, chunksize, buffersize=None):
    """map()'s argument checks, the same for frost.Pool and frost.ProcessPool:
    (chunksize as an int, the keyword arguments for the stdlib's map: buffersize
    when given, an int >= 1, which needs Python 3.14 as the stdlib's does)."""
    options = {}
    if buffersize is not None:
        if not MAP_TAKES_BUFFERSIZE:
            raise TypeError("map() takes buffersize from Python 3.14 on (concurrent.futures' "
                            f"map has it from then), not on {sys.version.split()[0]}")
        buffersize = as_index(buffersize, "buffersize", "an int or None")
        if buffersize < 1:
            raise ValueError(f"buffersize must be None or >= 1, not {_frost._int_repr(buffersize)}")
        options["buffersize"] = buffersize
    chunksize = as_index(chunksize, "chunksize")
    if chunksize < 1:
        raise ValueError(f"chunksize must be >= 1, not {_frost._int_repr(chunksize)}")
    if chunksize > sys.maxsize:   # (the stdlib's islice would refuse it, less clearly)
        raise ValueError(f"chunksize must be at most sys.maxsize, not {_frost._int_repr(chunksize)}")
    if timeout is not None and (isinstance(timeout, bool) or not (
            hasattr(type(timeout), "__float__") or hasattr(type(timeout), "__index__"))):
        raise TypeError(f"timeout must be a number or None, not {type(timeout).__name__}")
    if not callable(fn):
        raise TypeError(f"map() needs a callable, not {type(fn).__name__}")
    return chunksize, options


def problem(fn, main_importable, what="callable", to="a worker interpreter"):
    """None if `fn` can be sent to a worker by name, else a TypeError message
    saying why not and what to do (`to`: the worker, in words)."""
    target = _target(fn)
    if not isinstance(target, (types.FunctionType, type)):
        return None   # builtins, callable instances: pickle decides
    qualname = getattr(target, "__qualname__", "") or ""
    module = getattr(target, "__module__", None)
    if target.__name__ == "<lambda>":
        return (f"cannot send {what} {fn!r} to {to}: it is a lambda, and "
                f"workers import functions by module and name, which a lambda lacks. "
                f"Define it with `def` at the top level of a module")
    if "<locals>" in qualname:
        outer = qualname.rsplit(".<locals>.", 1)[0]
        return (f"cannot send {what} {fn!r} to {to}: it is defined inside "
                f"{outer}() (a nested function or closure), so it exists only while that "
                f"call runs and workers cannot import it by name. Move it to the top level "
                f"of a module and pass what it uses as arguments (functools.partial helps)")
    if module == "__main__" and not main_importable:
        return (f"cannot send {what} {fn!r} to {to}: it is defined in "
                f"__main__ of {_main_origin()}, which workers cannot import. {_FIX_MAIN}")
    return None


class _FoundMain(Exception):
    pass


class _Sink:
    def write(self, data):
        pass


class _MainFinder(pickle.Pickler):
    """Pickles to nowhere, stopping at the first function or class of __main__."""

    def persistent_id(self, obj):
        # views, stores and channels travel by reference: nothing of __main__ in them
        return 0 if type(obj) in _SHAREABLE else None

    def reducer_override(self, obj):
        if (isinstance(obj, (types.FunctionType, type))
                and getattr(obj, "__module__", None) == "__main__"):
            raise _FoundMain(obj)
        return NotImplemented


def main_reference(obj):
    """The first function or class of __main__ that pickling `obj` names, or None."""
    try:
        _MainFinder(_Sink(), protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    except _FoundMain as found:
        return found.args[0]
    except Exception:
        return None   # the real pickling already succeeded; nothing more to say
    return None


def main_reference_problem(obj, payload, main_importable, what):
    """A TypeError message if the pickled `payload` of `obj` refers to __main__
    that workers cannot import, else None (a cheap byte search first)."""
    if main_importable or b"__main__" not in payload:
        return None
    culprit = main_reference(obj)
    if culprit is None:
        return None
    return (f"cannot send the {what} to a worker interpreter: it refers to "
            f"{getattr(culprit, '__qualname__', culprit)!s}, defined in __main__ of "
            f"{_main_origin()}, which workers cannot import. {_FIX_MAIN}")
