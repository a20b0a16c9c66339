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


def wait_in_done_callbacks():
    """(the errors of waits for a future of the same pool in its
    done-callbacks, what callbacks read of done futures)."""
    import threading
    import frost
    waits = (lambda f: f.result(), lambda f: f.exception(), lambda f: f.result(timeout=60))
    errors = []
    all_ran = threading.Event()
    with frost.Pool(2) as pool:
        def callback(future):
            try:
                waits[future.result()](pool.submit(identity, 1))
            except RuntimeError as exc:
                errors.append(str(exc))
            if len(errors) == len(waits):
                all_ran.set()
        for i in range(len(waits)):
            pool.submit(identity, i).add_done_callback(callback)
        all_ran.wait(60)
    seen = []
    with frost.Pool(1) as pool:
        pool.submit(identity, 3).add_done_callback(
            lambda f: seen.append(f.result() + f.result(timeout=0)))
    return errors, seen
