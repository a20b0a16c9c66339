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


def wait_in_done_callbacks(kind="Pool"):
    """What done-callbacks that wait for other futures of the same pool (a
    frost.`kind`) in every way (result, exception, wait, as_completed, map,
    shutdown) got."""
    import concurrent.futures as cf
    import threading
    import frost

    def waits(pool):
        return (lambda: pool.submit(identity, 1).result(),
                lambda: pool.submit(identity, 2).exception(),
                lambda: sorted(f.result() for f in cf.as_completed(
                    [pool.submit(identity, 3), pool.submit(identity, 4)])),
                lambda: len(cf.wait([pool.submit(identity, 5)])[0]),
                lambda: list(pool.map(identity, range(3))))
    got = {}
    all_ran = threading.Event()
    pool_class = getattr(frost, kind)
    with pool_class(2) as pool:
        todo = waits(pool)

        def callback(future):
            got[future.result()] = todo[future.result()]()
            if len(got) == len(todo):
                all_ran.set()
        for i in range(len(todo)):
            pool.submit(identity, i).add_done_callback(callback)
        all_ran.wait(60)
    # shutdown(wait=True) from a callback: it returns, and so does the caller's
    with pool_class(1) as pool:
        pool.submit(identity, 0).add_done_callback(lambda f: pool.shutdown(wait=True))
        pool.submit(identity, 1).add_done_callback(lambda f: got.setdefault("shut", f.result()))
    return got
