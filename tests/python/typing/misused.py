"""Each line marked `# error` is a misuse the stubs must make mypy reject
(so the stubs are not all Any); tests/python/test_typing.py checks that mypy
reports exactly these lines."""
import frost


def add(a: int, b: int) -> int:
    return a + b


def check(store: frost.Store, items: frost.FrozenList[int], pool: frost.Pool) -> None:
    frost.freeze([1], lifetime="forever")  # error
    frost.load(42)  # error
    frost.verify(1.5)  # error
    store.save("x.frost", progress=5)  # error
    pool.submit(add, "one", 2)  # error
    items.index()  # error
    frost.Channel(maxsize="10")  # error
    n: int = store.lifetime  # error
    s: str = store.nbytes  # error
    frost.freeze([1], progres=print)  # error
    names: frost.FrozenSet[str] = items  # error
