"""Tasks, results and exceptions a hostile or careless user hands a pool
(tests/python/test_pool_hostile.py): module-level, so that both pools'
workers import them."""


class ReduceRaisesKeyboardInterrupt(Exception):
    def __reduce__(self):
        raise KeyboardInterrupt("from __reduce__")


class ReduceRaisesSystemExit(Exception):
    def __reduce__(self):
        raise SystemExit("from __reduce__")


class StrRaises(Exception):
    def __str__(self):
        raise RuntimeError("from __str__")


class StrRaisesBase(Exception):
    def __str__(self):
        raise KeyboardInterrupt("from __str__")


def deep_list(depth=100_000):
    nested = []
    for _ in range(depth):
        nested = [nested]
    return nested


def raise_(kind):
    """Raise one of the exceptions that are hard to report."""
    if kind == "reduce-kbi":
        raise ReduceRaisesKeyboardInterrupt("x")
    if kind == "reduce-exit":
        raise ReduceRaisesSystemExit("x")
    if kind == "str":
        raise StrRaises()
    if kind == "str-base":
        raise StrRaisesBase()
    if kind == "deep":
        raise ValueError(deep_list())
    raise AssertionError(kind)


HARD_TO_REPORT = ("reduce-kbi", "reduce-exit", "str", "str-base", "deep")


def identity(value):
    return value


def _fail_to_load(message):
    raise ValueError(message)


class FailsToLoad:
    """Pickles fine; raises ValueError where it is unpickled."""

    def __reduce__(self):
        return (_fail_to_load, ("cannot be loaded here",))


class ReduceRaises:
    """Pickling raises `kind` (an exception class) from __reduce__."""

    def __init__(self, kind):
        self.kind = kind

    def __reduce__(self):
        raise self.kind("from an argument's __reduce__")
