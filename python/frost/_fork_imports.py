"""Imports in flight at a fork: a forked child never waits for one forever.

frost imports some modules on first use, after `import frost` (the `_LAZY`
table of frost/__init__.py, and the C code's PyImport_ImportModule calls).
An import holds importlib's per-module lock while it runs. If a process
forks while another thread is inside such an import, the child inherits
that lock held by a thread that does not exist there, and the child's first
use of the module (frost.share, a channel's first send, ...) waits forever:
CPython re-initialises only its global import lock after a fork.

So an at-fork "before" handler, run by the forking thread, lets every import
of these modules that is in flight finish first: it imports each one that
has a module lock or is still initializing, which waits for the thread that
is importing it and returns at once otherwise. Only these names are waited
for: their module code takes no lock of the application's, so the wait ends.
An import the forking thread itself is making never waits for itself
(importlib's lock is re-entrant for its owner).

IMPORTED_ON_FIRST_USE lists every such module, frost's and the standard
library's (tests/python/test_fork.py checks it against the sources).
"""
import os
import sys

IMPORTED_ON_FIRST_USE = (
    # frost/__init__.py's _LAZY table and pool.py's deferred worker import
    "frost.pool",
    "frost.process_pool",
    "frost._mapped",
    "frost._snapshotfile",
    "frost._worker",
    # imported by the C code on first use
    "frost._publication",
    "frost._mappedviews",
    "frost._tables",
    "frost._forking_guard",
    "_pickle",
    "pickle",
    "array",
    "collections.abc",
    "dataclasses",
    "operator",
    "struct",
    "types",
)


def _in_flight(name, module_locks):
    """True if some thread may be importing `name` now."""
    if name in module_locks:          # held for the whole import, dropped after it
        return True
    spec = getattr(sys.modules.get(name), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _finish_imports_in_flight():
    import importlib
    # CPython's name -> weakref of the _ModuleLock of an import in flight
    # (importlib/_bootstrap.py since 3.3); without it, only the sys.modules check
    module_locks = getattr(getattr(importlib, "_bootstrap", None), "_module_locks", {})
    for name in IMPORTED_ON_FIRST_USE:
        if _in_flight(name, module_locks):
            importlib.import_module(name)   # waits for the importing thread


os.register_at_fork(before=_finish_imports_in_flight)
