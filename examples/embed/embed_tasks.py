"""Tasks of examples/embed/embed_pool.c, run in the pool's workers.

A task is a module-level function taking bytes and returning bytes (the C
API's contract, frost_pool.h). `data` is the frozen store that
frost_pool_attach bound in each worker's __main__.
"""
import __main__


def total(payload: bytes) -> bytes:
    """payload b"START STOP": sum of data.root[f"k{i}"] for START <= i < STOP."""
    start, stop = map(int, payload.split())
    root = __main__.data.root
    return str(sum(root[f"k{i}"] for i in range(start, stop))).encode()
