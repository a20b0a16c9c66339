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


def _is_record(obj):
    return hasattr(obj, "_class_name") and hasattr(obj, "_state")


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
            assert len(keys) == n, (len(keys), n)
            for k, (k2, v2) in zip(keys, obj.items()):
                assert k == k2 or k != k, (k, k2)   # NaN keys compare unequal to themselves
                v = obj[k] if k == k else v2
                if k == k:
                    assert k in obj
                    assert obj.get(k, obj) is not obj
                todo.append(k)
                todo.append(v)
            assert "\x00no such key\x00" not in obj
            continue
        if isinstance(obj, abc.Set):
            n = len(obj)
            items = list(obj)
            assert len(items) == n
            for k in items:
                if k == k:
                    assert k in obj, k
                todo.append(k)
            continue
        if isinstance(obj, abc.Sequence):
            n = len(obj)
            items = list(obj)
            assert len(items) == n
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
            obj._class_name
            state = obj._state
            todo.append(state)
            for f in (getattr(obj, "_fields", None) or ()):
                todo.append(getattr(obj, f))
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
        except frost.SnapshotError as e:
            if verified:
                raise AssertionError(f"verify() passed, but the walk met damage: {e}") from e
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
