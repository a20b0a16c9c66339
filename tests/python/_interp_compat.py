"""Run code in a fresh own-GIL subinterpreter, on 3.12 and 3.13 alike.

3.12 has `_xxsubinterpreters` (`create(isolated=True)`, `run_string(id, code,
shared=...)`); 3.13 has `test.support.interpreters` (`create()` makes an
isolated, own-GIL interpreter; `prepare_main(**values)`, `exec(code)`).
Values passed in must be str, bytes, int or None; results come back through a
file the code writes. The subinterpreter gets the caller's sys.path, so it
imports this folder's helper modules and the built frost package.
"""
import sys

PY = sys.version_info[:2]

if PY == (3, 12):
    import _xxsubinterpreters as _interpreters
    AVAILABLE = True
else:
    try:
        from test.support import interpreters as _interpreters
        AVAILABLE = True
    except ImportError:   # pragma: no cover - 3.14 moved it to concurrent.interpreters
        try:
            from concurrent import interpreters as _interpreters
            AVAILABLE = True
        except ImportError:
            AVAILABLE = False


class SubinterpreterError(RuntimeError):
    """The code raised in the subinterpreter (the message names the error)."""


def run(code, **values):
    """Run `code` in a new own-GIL subinterpreter with `values` as globals,
    then destroy it. An exception in there raises SubinterpreterError."""
    prelude = f"import sys\nsys.path[:0] = {list(sys.path)!r}\n"
    if PY == (3, 12):
        interp = _interpreters.create(isolated=True)
        try:
            _interpreters.run_string(interp, prelude + code, shared=values)
        except _interpreters.RunFailedError as e:
            raise SubinterpreterError(str(e)) from None
        finally:
            _interpreters.destroy(interp)
    else:
        interp = _interpreters.create()
        try:
            if values:
                interp.prepare_main(**values)
            interp.exec(prelude + code)
        except _interpreters.ExecutionFailed as e:
            raise SubinterpreterError(str(e)) from None
        finally:
            interp.close()
