# Type stubs of frost.pool (pool.py); checked by tests/python/test_typing.py.
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

__all__ = ["Pool", "RemoteTraceback"]

log: logging.Logger

_P = ParamSpec("_P")
_T = TypeVar("_T")

class RemoteTraceback(Exception):
    tb: str
    def __init__(self, tb: str) -> None: ...

class Pool(Executor):
    def __init__(
        self,
        workers: int | None = None,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: Iterable[Any] = (),
        import_main: bool = True,
        max_workers: int | None = None,
    ) -> None: ...
    @property
    def workers(self) -> int: ...
    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]: ...
    def map(
        self,
        fn: Callable[..., _T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
    ) -> Iterator[_T]: ...
    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None: ...
