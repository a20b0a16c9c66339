"""Integer arguments of frost's public API take what operator.index takes (an
int, a numpy integer, an IntEnum, any object with __index__), as the stdlib's
queue.Queue(maxsize=...) or range() do, but not a bool (a flag, not a count):
Channel(maxsize), Pool(workers), ProcessPool(max_tasks_per_child), map(chunksize),
Store.save(format), MapImage.view_at(offset). Non-integers keep TypeError
(a float, a str, None where None means nothing), out-of-range values
ValueError, and an __index__ that raises propagates. Timeouts take any real
number (a numpy integer, a Fraction, a Decimal)."""
import decimal
import enum
import fractions
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy  # noqa: E402

import frost  # noqa: E402
from frostcheck import LeakCheckedTestCase  # noqa: E402


class Two:
    def __index__(self):
        return 2


class Broken:
    def __index__(self):
        raise ZeroDivisionError("index boom")


class Huge:
    def __index__(self):
        return 10 ** 30


class Digits:
    """-10**(n-1): an int whose repr raises past sys.get_int_max_str_digits()."""
    def __init__(self, n):
        self.n = n

    def __index__(self):
        return -10 ** (self.n - 1)

    def __repr__(self):
        return f"Digits({self.n})"


class Count(enum.IntEnum):
    TWO = 2


INT_LIKES = (numpy.int64(2), numpy.uint8(2), numpy.int32(2), Two(), Count.TWO)


class ChannelMaxsize(unittest.TestCase):
    def test_int_likes_are_taken(self):
        for value in INT_LIKES:
            with self.subTest(value=type(value).__name__):
                ch = frost.Channel(maxsize=value)
                self.assertEqual(ch.maxsize, 2)
                self.assertIs(type(ch.maxsize), int)
                ch.send(1)
                ch.send(2)
                with self.assertRaises(TimeoutError):   # full at 2, as maxsize says
                    ch.send(3, timeout=0)
                ch.close()
        self.assertEqual(frost.Channel(numpy.int64(0)).maxsize, 0)

    def test_non_integers_and_bad_values_are_refused(self):
        for value, error, message in [
                (2.0, TypeError, "Channel maxsize must be an int, not float"),
                (numpy.float64(2), TypeError, "not numpy.float64"),
                ("2", TypeError, "not str"),
                (None, TypeError, "not NoneType"),
                (True, TypeError, "not bool"),
                (numpy.int64(-1), ValueError, r"must be >= 0 \(0: unbounded\), not -1"),
                (Huge(), ValueError, "^Channel maxsize out of range: 1000000000000000000000000000000, "
                 r"more than sys\.maxsize \(9223372036854775807\)$"),
                (-10**30, ValueError, "^Channel maxsize out of range: -1000000000000000000000000000000, "
                 r"less than -sys\.maxsize - 1 \(-9223372036854775808\)$"),
                # a huge int by its size: its repr is thousands of digits, or raises
                (10**400, ValueError, "^Channel maxsize out of range: an int of 1329 bits, "
                 r"more than sys\.maxsize \(9223372036854775807\)$"),
                (Digits(5001), ValueError, "^Channel maxsize out of range: a negative int of 16610 bits, "
                 r"less than -sys\.maxsize - 1 \(-9223372036854775808\)$"),
                (Broken(), ZeroDivisionError, "index boom")]:
            with self.subTest(value=repr(value)), self.assertRaisesRegex(error, message):
                frost.Channel(maxsize=value)

    def test_timeouts_take_any_real_number(self):
        ch = frost.Channel(maxsize=1)
        for timeout in (numpy.int64(0), numpy.float32(0), fractions.Fraction(0), decimal.Decimal(0), Count(2) and 0):
            with self.subTest(timeout=repr(timeout)), self.assertRaises(TimeoutError):
                ch.recv(timeout=timeout)
        for timeout, error in ((numpy.int64(-1), ValueError), (float("nan"), ValueError),
                               ("0", TypeError), (b"0", TypeError), ([], TypeError)):
            with self.subTest(timeout=repr(timeout)), self.assertRaises(error):
                ch.recv(timeout=timeout)
        ch.close()


class Pools(LeakCheckedTestCase):
    def test_pool_workers_and_map_chunksize(self):
        for value in (numpy.int64(1), Two(), Count.TWO):
            with self.subTest(value=type(value).__name__):
                with frost.Pool(value) as pool:
                    self.assertEqual(list(pool.map(abs, [-1, -2, -3], chunksize=value,
                                                   timeout=numpy.int64(60))), [1, 2, 3])
                    self.assertEqual(list(pool.map(abs, [-4], timeout=fractions.Fraction(60))), [4])
        for bad, error in ((1.0, TypeError), ("1", TypeError), (True, TypeError),
                           (numpy.int64(0), ValueError), (Broken(), ZeroDivisionError)):
            with self.subTest(bad=repr(bad)), self.assertRaises(error):
                frost.Pool(bad)
        with frost.Pool(1) as pool:
            for bad, error in ((1.0, TypeError), (True, TypeError), (numpy.int64(0), ValueError)):
                with self.subTest(chunksize=repr(bad)), self.assertRaises(error):
                    pool.map(abs, [1], chunksize=bad)
            for bad in ("1", True, []):
                with self.subTest(timeout=repr(bad)), self.assertRaises(TypeError):
                    pool.map(abs, [1], timeout=bad)

    def test_huge_worker_counts_are_named_by_their_size(self):
        # the count was printed whole (401 digits for 10**400), and past
        # sys.get_int_max_str_digits() the message raised about that instead
        for bad, named in ((2000, "2000"), (10**400, "an int of 1329 bits"),
                           (10**5000, "an int of 16610 bits")):
            with self.subTest(bad=named), self.assertRaisesRegex(
                    ValueError, f"^workers must be between 1 and 1024, not {named}$"):
                frost.Pool(bad)

    def test_huge_counts_below_one_and_chunksizes_are_named_by_their_size(self):
        # _sendable.py printed these whole too, and past 4300 digits raised
        # "Exceeds the limit ... for integer string conversion" instead
        for bad, named in ((-10**400, "a negative int of 1329 bits"),
                           (-10**5000, "a negative int of 16610 bits")):
            for pool_type in (frost.Pool, frost.ProcessPool):
                with self.subTest(pool=pool_type.__name__, bad=named), self.assertRaisesRegex(
                        ValueError, f"^workers must be at least 1, not {named}$"):
                    pool_type(bad)
        with frost.Pool(1) as pool:
            for bad, named in ((10**400, "at most sys.maxsize, not an int of 1329 bits"),
                               (-10**5000, ">= 1, not a negative int of 16610 bits")):
                with self.subTest(chunksize=named), self.assertRaisesRegex(
                        ValueError, f"^chunksize must be {named}$"):
                    pool.map(abs, [1], chunksize=bad)

    def test_process_pool_max_tasks_per_child(self):
        pool = frost.ProcessPool(1, max_tasks_per_child=numpy.int64(1), mp_context="spawn")
        pool.shutdown()
        for bad in (1.5, "1", True):
            with self.subTest(bad=repr(bad)), self.assertRaisesRegex(TypeError, "max_tasks_per_child"):
                frost.ProcessPool(1, max_tasks_per_child=bad, mp_context="spawn")


def thawed_file(path, fmt):
    # (a format-1 file loads into a process-lifetime store by default: one that never ends)
    with frost.load(path, **({"lifetime": "scoped"} if int(fmt) == 1 else {})) as loaded:
        return frost.thaw(loaded.root)


class SaveAndViewAt(LeakCheckedTestCase):
    def test_save_format_and_view_at(self):
        with tempfile.TemporaryDirectory() as d, frost.freeze({"a": [1, 2]}) as store:
            for fmt in (numpy.int64(1), numpy.int8(2), Two()):
                path = os.path.join(d, f"s{int(fmt)}.frost")
                store.save(path, format=fmt)
                self.assertEqual(thawed_file(path, fmt), {"a": [1, 2]})
            for bad in (True, 2.0, "2", numpy.int64(3), Broken()):
                with self.subTest(format=repr(bad)), self.assertRaisesRegex(
                        ValueError, "save\\(\\) format must be 1, 2 or None"):
                    store.save(os.path.join(d, "x.frost"), format=bad)
        shared = frost.share({"a": [1, 2]})
        root = shared.root
        # a huge int is named by its size, not printed whole (past
        # sys.get_int_max_str_digits() printing it raised about that instead)
        with frost.freeze([1]) as store, tempfile.TemporaryDirectory() as d:
            for bad, named in ((10**400, "an int of 1329 bits"), (-10**5000, "a negative int of 16610 bits")):
                with self.subTest(format=named), self.assertRaisesRegex(
                        ValueError, f"^save\\(\\) format must be 1, 2 or None, not {named}$"):
                    store.save(os.path.join(d, "x.frost"), format=bad)
                with self.subTest(offset=named), self.assertRaisesRegex(
                        frost.SnapshotError, f"^no node at offset {named} of this image$"):
                    root.image.view_at(bad)
        inner = root["a"]
        self.assertEqual(list(root.image.view_at(numpy.int64(inner.node_offset))), [1, 2])
        with self.assertRaisesRegex(TypeError, "view_at\\(\\) takes an int offset, not 'float'"):
            root.image.view_at(float(inner.node_offset))
        with self.assertRaises(ZeroDivisionError):
            root.image.view_at(Broken())
        del root, inner
        shared.close()


if __name__ == "__main__":
    unittest.main()
