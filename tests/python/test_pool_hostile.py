"""Both pools used as a hostile or careless concurrent.futures user would:
exceptions that are hard to report, arguments that fail to pickle or to
unpickle, pools dropped without shutdown, waits inside done-callbacks."""
import concurrent.futures as cf
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import hostilework  # noqa: E402
from frostcheck import SharedPool, run_child  # noqa: E402


class _HardToReport:
    """A task's exception whose pickling raises (a BaseException too), whose
    str() raises, or whose message is too deep to format fails its own future
    with an error naming the exception's type, never a bare 'worker failed'
    nor the KeyboardInterrupt raised while reporting it."""

    def test_exceptions_that_resist_reporting_fail_their_future_with_their_name(self):
        for kind in hostilework.HARD_TO_REPORT:
            with self.subTest(kind=kind):
                future = self.pool.submit(hostilework.raise_, kind)
                error = future.exception(timeout=60)
                self.assertIsInstance(error, Exception)
                self.assertNotIsInstance(error, (KeyboardInterrupt, SystemExit))
                text = f"{type(error).__name__}: {self.safe_str(error)}"
                cls = {"reduce-kbi": "ReduceRaisesKeyboardInterrupt",
                       "reduce-exit": "ReduceRaisesSystemExit", "str": "StrRaises",
                       "str-base": "StrRaisesBase", "deep": "ValueError"}[kind]
                self.assertIn(cls, text)
                self.assertNotIn("worker failed", text)
        self.assertEqual(self.pool.submit(hostilework.identity, 5).result(timeout=60), 5)

    @staticmethod
    def safe_str(error):
        try:
            return str(error)
        except BaseException:
            return "<str() failed>"

    def test_an_argument_that_does_not_unpickle_fails_only_its_future(self):
        future = self.pool.submit(hostilework.identity, hostilework.FailsToLoad())
        with self.assertRaisesRegex(ValueError, "cannot be loaded here"):
            future.result(timeout=60)
        self.assertEqual(self.pool.submit(hostilework.identity, 5).result(timeout=60), 5)
        self.assertEqual(list(self.pool.map(hostilework.identity, range(5))), list(range(5)))

    def test_an_argument_whose_pickling_raises_is_refused_at_submit(self):
        # an Exception is the TypeError naming what cannot be sent; a
        # KeyboardInterrupt or SystemExit is the caller's own and goes on
        for kind, expected in ((ValueError, TypeError), (KeyboardInterrupt, KeyboardInterrupt),
                               (SystemExit, SystemExit)):
            with self.subTest(kind=kind.__name__):
                with self.assertRaisesRegex(expected, "from an argument's __reduce__"):
                    self.pool.submit(hostilework.identity, hostilework.ReduceRaises(kind))
        self.assertEqual(self.pool.submit(hostilework.identity, 5).result(timeout=60), 5)


class PoolHardToReport(_HardToReport, SharedPool, unittest.TestCase):
    pass


class ProcessPoolHardToReport(_HardToReport, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pool = frost.ProcessPool(2)

    @classmethod
    def tearDownClass(cls):
        cls.pool.shutdown()


if __name__ == "__main__":
    unittest.main()
