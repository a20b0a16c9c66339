"""A typed use of frost: `mypy --strict` must accept it (with frost's stubs)
and it must run (tests/python/test_typing.py does both)."""
from concurrent.futures import Future
from typing import Any, Literal, assert_type

import frost


def add(a: int, b: int) -> int:
    return a + b


def report(done: int, total: int | None) -> None:
    assert total is None or done <= total


def main(path: str) -> None:
    store = frost.freeze({"k": [1, 2], "s": {"x"}}, lifetime="scoped", progress=report)
    assert_type(store, frost.Store)
    with store:
        root = store.root
        assert isinstance(root, frost.FrozenDict)
        items = root["k"]
        assert isinstance(items, frost.FrozenList)
        assert_type(items + [3], list[Any])
        assert_type((0,) + items, tuple[Any, ...])
        assert_type(items * 2, list[Any])
        assert_type(root | {"z": 1}, dict[Any, Any])
        assert_type(len(items), int)
        assert_type(items[0:1], frost.FrozenList[Any])
        counts: frost.FrozenList[int] = items          # generic, as list[int]
        assert_type(counts[0:1], frost.FrozenList[int])
        assert repr(frost.FrozenDict[str, int]) == "frost.FrozenDict[str, int]"   # and at run time
        assert_type(store.nbytes, int)
        assert_type(store.lifetime, Literal["scoped", "process"])
        tags = root["s"]
        assert isinstance(tags, frost.FrozenSet)
        assert_type(tags | {"y"}, frozenset[Any])
        assert "x" in tags
        plain = frost.thaw(root)
        assert plain == {"k": [1, 2], "s": {"x"}}
        store.save(path, format=1, progress=report)
    frost.verify(path)
    loaded = frost.load(path, lifetime="scoped")
    assert_type(loaded, frost.Store | frost.MappedStore)
    assert_type(loaded.stats(), dict[str, Any])
    loaded.close()
    with frost.share({"k": [1, 2]}, progress=report) as shared:
        assert_type(shared, frost.MappedStore)
        assert_type(shared.store_id, bytes)
        assert_type(shared.nbytes, int)
        assert isinstance(shared.root, frost.MappedDict)
        with frost.ProcessPool(1, mp_context="spawn") as processes:
            assert_type(processes.workers, int)
            assert processes.submit(add, 1, 2).result(timeout=60) == 3
    with frost.Pool(1) as pool:
        future = pool.submit(add, 1, 2)
        assert_type(future, Future[int])
        assert future.result(timeout=60) == 3
        assert list(pool.map(add, [1, 2], [3, 4])) == [4, 6]
    channel = frost.Channel(maxsize=2)
    channel.send("x", timeout=1.0)
    assert channel.recv(timeout=1.0) == "x"
    channel.close()
    version: str = frost.__version__ if hasattr(frost, "__version__") else "?"
    assert version


if __name__ == "__main__":
    import os
    import sys
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        main(os.path.join(d, "typed.frost"))
    sys.stdout.write("typed usage ran\n")
