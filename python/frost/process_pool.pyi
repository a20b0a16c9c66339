# Type stubs of frost.process_pool (process_pool.py); checked by tests/python/test_typing.py.
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import Any, Final, ParamSpec, TypeVar

__all__ = ["ProcessPool"]

DEFAULT_START_METHOD: Final[str]

_P = ParamSpec("_P")
_T = TypeVar("_T")

class ProcessPool(ProcessPoolExecutor):
    def __init__(
        self,
        workers: int | None = None,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: Iterable[Any] = (),
        mp_context: BaseContext | str | None = None,
        max_tasks_per_child: int | None = None,
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
