"""Follow every reference of a format-2 image through frost's mapped views.

`walk(root)` visits everything reachable from a MapImage's root: every leaf is
materialized, every container iterated AND indexed (both read paths), every key looked
up again (`[k]`, `in`, `.get`), every record's fields read, every array's bytes and items
read, every table's columns, rows and Arrow exports read (through pyarrow too, when the
caller imported it). Iterative (no recursion limit), each view node visited once (by node_offset), so
the work is bounded by the image's nodes, not by its paths.

`check_image(buffer)` is the whole oracle of tests/fuzz/map_read.cc and of
test_map_hostile.py: open (`_frost.MapImage`), walk, full `verify()`, `frost.thaw`; the
only accepted failure is frost.SnapshotError, and when verify() passes the walk must
not have met damage. Returns "refused" (open failed), "damaged" (verify failed) or "ok".
"""
import collections.abc as abc
import sys

import frost
from frost import _frost

# a record from a file imports nothing unless asked (docs/safety.md FROM_FILE): thaw may
# refuse it with one of these; anything else is a bug
RECORD_REFUSALS = (frost.SnapshotError, frost.FreezeError)


class Inconsistent(AssertionError):
    """Two read paths of one container disagree (a key its iteration yields is not found,
    len() differs from what iteration yields): allowed only in an image that verify()
    refuses (the O(1) reads can't see a table whose index and entries disagree)."""


def _short(x):
    r = repr(x)
    return r if len(r) <= 200 else r[:200] + "..."


def _agree(cond, what, *values):
    if not cond:
        raise Inconsistent(what, *map(_short, values))


def _is_record(obj):
    return hasattr(obj, "_state") and hasattr(obj, "_fields")


def _walk_table(t):
    """Every read path of a MappedTable (its blob passed the full check to exist). Bytes
    changed inside a string buffer are still in bounds, and no structural check sees
    them: reading them as str may raise UnicodeDecodeError (pyarrow's full validation
    ArrowInvalid), which is allowed."""
    n = len(t)
    names = t.column_names
    _agree(len(names) == t.num_columns and len(t.schema) == len(names), "columns", names)
    repr(t)
    for i, name in enumerate(names):
        col = t[i]
        col.type, repr(col)
        _agree(len(col) == n, "column len", name, len(col), n)
        try:
            values = col.tolist()
            if n:
                _agree(col[-1] == values[-1] or values[-1] != values[-1], "column item", name)
                col[::-1].tolist()
        except UnicodeDecodeError:
            pass
    try:
        if n:
            t.row(0), t.row(n - 1)
            t[n // 2:].row(0)
        frost.thaw(t)
    except UnicodeDecodeError:
        pass
    t.__arrow_c_schema__()
    t.__arrow_c_stream__()
    pa = sys.modules.get("pyarrow")   # not imported by the fuzz target
    if pa is not None:
        back = pa.table(t)
        _agree(back.num_rows == n, "pyarrow rows", back.num_rows, n)
        try:
            back.validate(full=True)
        except pa.ArrowInvalid:
            pass


def walk(root, budget=1_000_000):
    """Visit everything reachable from `root`; raises what the views raise. Returns the
    number of values visited. `budget` bounds the values materialized (a hostile image
    may be legal and big): past it, the walk stops quietly."""
    seen = set()
    todo = [root]
    visited = 0
    while todo and visited < budget:
        obj = todo.pop()
        visited += 1
        off = getattr(obj, "node_offset", None)
        if off is not None:
            if (type(obj), off) in seen:
                continue
            seen.add((type(obj), off))
            img = obj.image
            again = img.view_at(off)           # the same node from its offset
            assert type(again) is type(obj), (type(again), type(obj))
        if isinstance(obj, (str, bytes, int, float, complex, bool)) or obj is None or obj is Ellipsis:
            hash(obj)
            continue
        if isinstance(obj, tuple):
            todo.extend(obj)
            continue
        if isinstance(obj, frost.MappedTable):
            visited += len(obj)
            _walk_table(obj)
            continue
        if isinstance(obj, abc.Mapping):
            n = len(obj)
            keys = list(obj)
            _agree(len(keys) == n, "len", len(keys), n)
            try:
                pairs = list(obj.items())
            except KeyError as e:       # items() may look each key up again
                raise Inconsistent("items() met a key it cannot find", _short(e)) from None
            _agree(len(pairs) == n, "items len", len(pairs), n)
            for k, (k2, v2) in zip(keys, pairs):
                _agree(k == k2 or k != k, "items", k, k2)   # NaN: unequal to itself
                v = v2
                if k == k:
                    try:
                        v = obj[k]
                    except KeyError:
                        raise Inconsistent("a key from iteration is not found", _short(k)) from None
                    except TypeError:   # a damaged key: a container node where a leaf must be
                        raise Inconsistent("a key from iteration is unhashable", _short(k)) from None
                    _agree(k in obj, "in", k)
                    _agree(obj.get(k, obj) is not obj, "get", k)
                todo.append(k)
                todo.append(v)
            _agree("\x00no such key\x00" not in obj, "absent key found")
            continue
        if isinstance(obj, abc.Set):
            n = len(obj)
            items = list(obj)
            _agree(len(items) == n, "len", len(items), n)
            for k in items:
                if k == k:
                    _agree(k in obj, "in", k)
                todo.append(k)
            continue
        if isinstance(obj, abc.Sequence):
            n = len(obj)
            items = list(obj)
            _agree(len(items) == n, "len", len(items), n)
            for i in range(n):
                todo.append(obj[i])
            if n:
                obj[-1]
                obj[n // 2:]
            try:
                obj[n]
            except IndexError:
                pass
            else:
                raise AssertionError("index past the end did not raise IndexError")
            continue
        if _is_record(obj):
            for name in ("_module", "_qualname", "_class_name"):
                getattr(obj, name, None)
            todo.append(obj._state)
            for f in obj._fields or ():
                try:   # a damaged image may name a field by a non-str key: read it as a key
                    todo.append(getattr(obj, f) if isinstance(f, str) else obj._state[f])
                except (AttributeError, KeyError):   # _fields iterates; these look it up
                    raise Inconsistent("a field from _fields is not found", f) from None
            continue
        if hasattr(obj, "tolist") and hasattr(obj, "nbytes"):   # an array
            mv = memoryview(obj)
            assert mv.nbytes == obj.nbytes
            mv.tobytes()
            mv.release()
            obj.tolist()
            continue
        raise AssertionError(f"walk: what is a {type(obj).__name__}?")
    return visited


def check_image(buf, budget=1_000_000):
    """The fuzz oracle over one buffer (see the module doc). Every view and the MapImage
    are released before it returns, so the caller can release `buf`."""
    try:
        img = _frost.MapImage(buf)
    except frost.SnapshotError:
        return "refused"
    try:
        img.image_size, img.nnodes, img.store_id
        try:
            img.verify()
            verified = True
        except frost.SnapshotError:
            verified = False
        try:
            walk(img.root, budget)
        except (frost.SnapshotError, Inconsistent) as e:
            if verified:
                raise AssertionError(f"verify() passed, but the walk met damage: {e!r}") from e
        try:
            frost.thaw(img.root)
        except RecursionError:
            pass        # a legal, deeply nested image (thaw recurses)
        except UnicodeDecodeError:
            pass        # bytes changed inside a table's string buffer (see _walk_table)
        except RECORD_REFUSALS as e:
            if verified and isinstance(e, frost.SnapshotError) and "class" not in str(e):
                raise AssertionError(f"verify() passed, but thaw met damage: {e}") from e
        except ValueError as e:
            # a legal image may hold a record in a cycle (through its state): thaw refuses
            # it as it does for an arena store (views/thaw.c); any other ValueError is a bug
            if not str(e).startswith(
                    "cannot thaw a reference cycle"):
                raise
        return "ok" if verified else "damaged"
    finally:
        del img
