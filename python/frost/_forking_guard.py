"""multiprocessing's pickler refuses arena stores and their views.

Arena stores (frost.freeze, frost.load of a format-1 file) live in one
process's memory: sent to another process, a view would arrive as a reference
that process cannot resolve. So multiprocessing's ForkingPickler gets a
reducer for each of their types (and frost.Channel) that raises a TypeError
naming frost.share instead.

`import frost` imports this module (small: no stdlib import beyond sys and
weakref), and it guards ForkingPickler as soon as multiprocessing.reduction
is imported: at once if it already is, else through a sys.meta_path hook
(importing multiprocessing here would cost every `import frost` ~20 ms).
frost._mapped, loaded on first use (a pool worker never needs it), adds its
handle reducer the same way (`_register_handle`). The record shape types that
view_record.c makes at run time are reported here (`_arena_type_made`) and
guarded like the module's own types; as the pickler holds the types it guards,
view_record.c reports a type that goes after all (`_arena_types_gone`: it lost
a race, or its report failed), and its registration goes with it.

Either module may meet the other half imported (another thread's import, or an
import hook up this thread's stack): a multiprocessing.reduction without its
ForkingPickler yet is waited for (another thread) or guarded at the next import
(_LateGuard), a frost._mapped without _register_handle yet registers its
handle itself at its end; neither import fails on the other's missing name.
"""
import sys
import weakref

from frost import _frost

_ARENA_TYPES = tuple(_frost._shareable_types())
_shape_types = weakref.WeakSet()   # record shape types made in this interpreter so far


def _refuse_arena(obj):
    if isinstance(obj, _frost.Channel):
        raise TypeError("cannot send a frost.Channel to another process: it connects the "
                        "interpreters of one process (use a multiprocessing.Queue between "
                        "processes)")
    raise TypeError(
        f"cannot send a frost.{type(obj).__name__} to another process: arena stores "
        f"(frost.freeze, frost.load of a format-1 file) live in this process's memory. Use "
        f"frost.share(...) (shared memory) or Store.save(path) + frost.load(path) (a file), "
        f"and send the MappedStore or its views: they cross by handle, in O(1)")


def guard(reduction):
    """Register the refusing reducers with `reduction` (multiprocessing.reduction)."""
    pickler = getattr(reduction, "ForkingPickler", None)
    if pickler is None:
        # still being imported: by another thread (importing it waits for that one) or
        # further up this thread's stack (it comes back at once: _LateGuard does it)
        import importlib
        reduction = importlib.import_module("multiprocessing.reduction")
        pickler = getattr(reduction, "ForkingPickler", None)
        if pickler is None:
            sys.meta_path.insert(0, _LateGuard())
            return
    for cls in _ARENA_TYPES + (_frost.Channel,) + tuple(_shape_types):
        pickler.register(cls, _refuse_arena)
    register_handle = getattr(sys.modules.get("frost._mapped"), "_register_handle", None)
    if register_handle is not None:   # else frost._mapped, still being imported, does it at its end
        register_handle(reduction)


def _arena_type_made(cls):
    """Called by frost._frost for each record shape type it makes."""
    _shape_types.add(cls)
    pickler = getattr(sys.modules.get("multiprocessing.reduction"), "ForkingPickler", None)
    if pickler is not None:   # else guard() registers it, once that module is complete
        pickler.register(cls, _refuse_arena)


def _arena_types_gone(types):
    """Called by frost._frost with shape types that go (another thread's type won,
    or reporting it failed): the pickler's registration would keep them for good."""
    reduction = sys.modules.get("multiprocessing.reduction")
    reducers = getattr(getattr(reduction, "ForkingPickler", None), "_extra_reducers", None)
    for cls in types:
        if cls is None:
            continue
        _shape_types.discard(cls)   # guard() would register it again until it is collected
        if isinstance(reducers, dict) and _is_refusal(reducers.get(cls)):
            del reducers[cls]


def _is_refusal(reducer):
    """Whether `reducer` is _refuse_arena, of this module or of an earlier copy of
    it (one taken out of sys.modules and imported again registered its own)."""
    return (reducer is _refuse_arena
            or (getattr(reducer, "__module__", None) == __name__
                and getattr(reducer, "__qualname__", None) == "_refuse_arena"))


class _ReductionImportHook:
    """A sys.meta_path entry that guards multiprocessing's pickler as soon as
    multiprocessing.reduction is imported. It asks the finders after it for that
    module (PathFinder, or a frozen application's own importer that PathFinder
    cannot see) and wraps the loader of the spec found. It stays in
    sys.meta_path, inert once the module is guarded: importlib iterates the live
    list, so a finder that removed itself and returned None would make it skip
    the next finder (the one that would have found the module)."""

    def __init__(self):
        self._guarded = False

    def find_spec(self, name, path=None, target=None):
        if self._guarded or name != "multiprocessing.reduction":
            return None
        finders = list(sys.meta_path)
        after = finders[finders.index(self) + 1:] if self in finders else finders
        for finder in after:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _GuardingLoader(spec.loader, self)
                return spec
        return None


class _GuardingLoader:
    def __init__(self, loader, hook):
        self._loader = loader
        self._hook = hook

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._hook._guarded = True
        guard(module)

    def __getattr__(self, name):   # get_source, get_filename, ... for tracebacks
        return getattr(self._loader, name)


class _LateGuard:
    """A sys.meta_path entry for a multiprocessing.reduction that was still being
    imported up this thread's stack when guard() was called: the first import
    after that module is complete guards it. It stays in sys.meta_path, inert
    then (importlib iterates the live list: a finder that removed itself and
    returned None would make it skip the next finder)."""

    def __init__(self):
        self._done = False

    def find_spec(self, name, path=None, target=None):
        reduction = sys.modules.get("multiprocessing.reduction")
        if not self._done and getattr(reduction, "ForkingPickler", None) is not None:
            self._done = True
            guard(reduction)
        return None


if "multiprocessing.reduction" in sys.modules:
    guard(sys.modules["multiprocessing.reduction"])
else:
    sys.meta_path.insert(0, _ReductionImportHook())
