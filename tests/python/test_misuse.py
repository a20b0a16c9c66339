"""Misuse scenarios (issue 5), freeze side: a __shared__ that raises or
returns itself, a __hash__/__eq__ that raises, a dict mutated by a key's
__hash__ while being frozen, and KeyboardInterrupt during a freeze.  Each
one must end in a clear exception, never a crash or a hang, and leave no
live arena or store behind."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
from frostcheck import LeakCheckedTestCase  # noqa: E402


class SharedRaises:
    def __shared__(self):
        raise RuntimeError("state unavailable")


class SharedSelf:
    def __shared__(self):
        return self


class SharedInterrupt:
    def __shared__(self):
        raise KeyboardInterrupt


class BadHash:
    def __hash__(self):
        raise ValueError("no hash for you")


class MutatingKey(str):
    target = None

    def __hash__(self):
        if MutatingKey.target is not None:
            MutatingKey.target.clear()
            MutatingKey.target.update({f"n{i}": i for i in range(50)})
        return str.__hash__(self)


class FreezeMisuse(LeakCheckedTestCase):

    def test_shared_raises_propagates(self):
        with self.assertRaises(RuntimeError) as cm:
            frost.freeze({"a": [SharedRaises()]})
        self.assertIn("state unavailable", str(cm.exception))

    def test_shared_returns_itself(self):
        with self.assertRaises(frost.FreezeError):
            frost.freeze({"x": SharedSelf()})

    def test_hash_raises_during_dict_freeze(self):
        # an unhashable/raising key is refused (keys must be plain immutables)
        with self.assertRaises((ValueError, TypeError)):
            frost.freeze({BadHash(): 1})

    def test_dict_mutated_by_key_hash(self):
        d = {}
        for i in range(20):
            d[MutatingKey(f"k{i}")] = i
        MutatingKey.target = d
        try:
            # keys must be exact plain immutables: a str subclass is refused
            # before its __hash__ can run, so the mutation never happens
            with self.assertRaises(frost.FreezeError) as cm:
                frost.freeze(d)
            self.assertIn("dict key must be a plain immutable", str(cm.exception))
            self.assertEqual(len(d), 20)
        finally:
            MutatingKey.target = None

    def test_keyboard_interrupt_in_shared(self):
        graph = {"a": list(range(1000)), "b": [SharedInterrupt()]}
        with self.assertRaises(KeyboardInterrupt):
            frost.freeze(graph)


if __name__ == "__main__":
    unittest.main()


class ClosingRecord:
    """A record whose rebuild (during thaw) closes the store being thawed."""
    store = None

    def __init__(self, v):
        self.v = v

    def __shared__(self):
        return {"v": self.v}

    @classmethod
    def __from_shared__(cls, state):
        ClosingRecord.store.close()
        return cls(state["v"])


class UserCodeClosesTheStore(LeakCheckedTestCase):
    """User code that thaw() or save() runs may close the Store they read:
    thaw(store) borrowed the Store's lease (freed by close: a use after free,
    a segfault), save(path, format=1) read it before calling the path's
    __fspath__. The walk now holds the lease; save reads it after."""

    DATA = [ClosingRecord(1), list(range(1000)), ["x" * 100 for _ in range(1000)]]

    def test_thaw_of_a_store_closed_by_a_record(self):
        for wrap in (lambda s: s, lambda s: (s,)):
            store = ClosingRecord.store = frost.freeze(self.DATA)
            out = frost.thaw(wrap(store))
            out = out if isinstance(out, list) else out[0]
            self.assertEqual((out[0].v, out[1], out[2]), (1, self.DATA[1], self.DATA[2]))
            with self.assertRaises(frost.StoreClosedError):
                store.root
        ClosingRecord.store = None

    def test_save_to_a_path_whose_fspath_closes_the_store(self):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            for fmt in (1, 2, None):
                store = frost.freeze({"k": list(range(10000))})

                class ClosingPath:
                    def __fspath__(self):
                        store.close()
                        return os.path.join(tmp, f"out{fmt}.frost")
                with self.subTest(format=fmt), self.assertRaises(frost.StoreClosedError):
                    store.save(ClosingPath(), format=fmt)
                self.assertFalse(os.path.exists(os.path.join(tmp, f"out{fmt}.frost")))
