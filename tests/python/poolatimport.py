"""A module that starts a pool at its top level, as a careless user writes
one (tests/python/test_pool_hostile.py::PoolsStartedAtImport): every worker
that loads one of its functions imports it again. POOL_KIND (an environment
variable) says which pool: frost.Pool (with INITIALIZER=1, the function is
the pool's initializer) or frost.ProcessPool."""
import os

import frost


def increment(x):
    return x + 1


def noop():
    pass


if os.environ.get("POOL_KIND") == "process":
    with frost.ProcessPool(1) as _pool:
        RESULT = _pool.submit(increment, 1).result(timeout=60)
elif os.environ.get("INITIALIZER"):
    with frost.Pool(1, initializer=noop) as _pool:
        RESULT = _pool.submit(increment, 1).result(timeout=60)
else:
    with frost.Pool(1) as _pool:
        RESULT = _pool.submit(increment, 1).result(timeout=60)
