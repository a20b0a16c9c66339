"""Follow every reference of a format-2 image through frost's mapped views.

`walk(root)` visits everything reachable from a MapImage's root: every leaf is
materialized, every container iterated AND indexed (both read paths), every key looked
up again (`[k]`, `in`, `.get`), every record's fields read, every array's bytes and items
read. Iterative (no recursion limit), each view node visited once (by node_offset), so
the work is bounded by the image's nodes, not by its paths.

`check_image(buffer)` is the whole oracle of tests/fuzz/map_read.cc and of
test_map_hostile.py: open (`_frost.MapImage`), walk, full `verify()`, `frost.thaw`; the
only accepted failure is frost.SnapshotError, and when verify() passes the walk must
not have met damage. Returns "refused" (open failed), "damaged" (verify failed) or "ok".
"""
import collections.abc as abc

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
                try:
                    todo.append(getattr(obj, f))
                except AttributeError:   # _fields iterates the state; getattr looks it up
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
        except RECORD_REFUSALS as e:
            if verified and isinstance(e, frost.SnapshotError) and "class" not in str(e):
                raise AssertionError(f"verify() passed, but thaw met damage: {e}") from e
        return "ok" if verified else "damaged"
    finally:
        del img
