"""Random object graphs for frost round-trip fuzzing (issue 5).

graph(seed) builds a reproducible graph over the supported types and edge
values: huge ints, NaN/-0.0/inf, every str kind incl. lone surrogates, bytes,
empty containers, packed (all-int / all-float) and unpacked lists, buffers
(bytearray, array 'b','i','d','Q'), records (dataclasses, NamedTuples, a class
with __shared__, all defined here so a worker can import them), shared
substructure and list/dict cycles.  same(a, b) compares with NaN == NaN, exact
types and float bits, and checks that sharing in a is sharing in b.

    python tests/python/fuzzgraph.py --seeds 0:100000   # long manual run
    FROST_FUZZ_SEEDS=0:100000 python tests/python/fuzzgraph.py
"""
import array
import dataclasses
import math
import os
import random
import struct
import sys
import typing


@dataclasses.dataclass
class FPoint:
    x: object
    y: object


class FPair(typing.NamedTuple):
    left: object
    right: object


class FShared:
    def __init__(self, a, b):
        self.a, self.b = a, b

    def __shared__(self):
        return (self.a, self.b)

    @classmethod
    def __from_shared__(cls, state):
        return cls(*state)


INTS = [0, 1, -1, 2**31 - 1, -2**31, 2**63 - 1, -2**63, 2**64, -2**64 - 1, 10**100, -(7**200)]
FLOATS = [0.0, -0.0, 1.5, float("nan"), float("inf"), float("-inf"), 5e-324, 1.7976931348623157e308]
STRS = ["", "a", "ascii text", "é latin1 ÿ", "BMP ☃ Ж", "astral 😀 𝄞", "\ud800", "x\udfffy", "\x00nul"]


class _Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.pool = []          # mutable containers for sharing and cycles
        self.budget = self.r.randint(5, 400)

    def leaf(self):
        r = self.r
        k = r.randrange(9)
        if k == 0:
            return r.choice(INTS) if r.random() < 0.5 else r.randint(-2**70, 2**70)
        if k == 1:
            return r.choice(FLOATS) if r.random() < 0.5 else r.uniform(-1e9, 1e9)
        if k == 2:
            return r.choice(STRS) + "".join(chr(r.choice((r.randrange(128), r.randrange(0x800),
                                                         r.randrange(0xD800), r.randrange(0x10000, 0x110000))))
                                            for _ in range(r.randrange(4)))
        if k == 3:
            return bytes(r.randrange(256) for _ in range(r.randrange(6)))
        if k == 4:
            return r.choice((None, True, False))
        if k == 5:
            return complex(r.choice(FLOATS), r.choice(FLOATS))
        if k == 6:
            return r.choice([[], {}, (), set(), frozenset(), "", b""])
        if k == 7:
            tc = r.choice("bidQ")
            n = r.randrange(5)
            vals = {"b": lambda: r.randint(-128, 127), "i": lambda: r.randint(-2**31, 2**31 - 1),
                    "d": lambda: r.choice(FLOATS), "Q": lambda: r.randint(0, 2**64 - 1)}[tc]
            return array.array(tc, [vals() for _ in range(n)])
        return bytearray(r.randrange(256) for _ in range(r.randrange(5)))

    def hashable(self, depth):
        r = self.r
        if depth > 3 or r.random() < 0.7:
            v = self.leaf()
            while type(v) in (list, dict, set, frozenset, bytearray, array.array):
                v = self.leaf()
            if type(v) in (float, complex) and v != v:
                v = 1.0             # NaN keys and set members compare by identity only
            return v
        return tuple(self.hashable(depth + 1) for _ in range(r.randrange(4)))

    def node(self, depth):
        r = self.r
        self.budget -= 1
        if self.budget <= 0 or depth > 40 or r.random() < 0.35:
            return self.leaf()
        if self.pool and r.random() < 0.1:
            return r.choice(self.pool)          # shared substructure / cycle
        k = r.randrange(10)
        width = r.choice((0, 1, 2, 3, 5, 8, 40)) if depth < 4 else r.randrange(4)
        if k == 0:
            v = [r.randint(-2**62, 2**62) for _ in range(width)]        # packed ints
        elif k == 1:
            v = [r.choice(FLOATS) for _ in range(width)]                  # packed floats
        elif k in (2, 3):
            v = []
            self.pool.append(v)
            v.extend(self.node(depth + 1) for _ in range(width))
        elif k == 4:
            v = {}
            self.pool.append(v)
            for _ in range(width):
                v[self.hashable(0)] = self.node(depth + 1)
        elif k == 5:
            v = tuple(self.node(depth + 1) for _ in range(width))
        elif k == 6:
            v = set(self.hashable(0) for _ in range(width))
        elif k == 7:
            v = FPoint(self.node(depth + 1), self.node(depth + 1))
        elif k == 8:
            v = FPair(self.node(depth + 1), self.node(depth + 1))
        else:
            v = FShared(self.node(depth + 1), self.node(depth + 1))
        return v


def graph(seed):
    g = _Gen(seed)
    root = g.node(0)
    if g.r.random() < 0.3:                       # a long chain
        for _ in range(g.r.randrange(50, 3000)):
            root = [root]
    return root


def _fields(x):
    t = type(x)
    if t is FPoint:
        return [x.x, x.y]
    if t is FShared:
        return [x.a, x.b]
    if t in (list, tuple, FPair):
        return list(x)
    return None


def same(a, b, path="x"):
    """None if equal (NaN == NaN, exact types, float bits, dict order, and
    identical sharing of mutable containers), else the path of a difference."""
    fwd, back = {}, {}
    stack = [(a, b, path)]
    while stack:
        a, b, path = stack.pop()
        if type(a) is not type(b):
            return f"{path}: type {type(a).__name__} != {type(b).__name__}"
        t = type(a)
        if t in (list, dict, bytearray, array.array, FPoint, FShared):
            if fwd.get(id(a), id(b)) != id(b) or back.get(id(b), id(a)) != id(a):
                return f"{path}: sharing differs"
            if id(a) in fwd:
                continue
            fwd[id(a)], back[id(b)] = id(b), id(a)
        if t is float:
            if struct.pack("<d", a) != struct.pack("<d", b) and not (math.isnan(a) and math.isnan(b)):
                return f"{path}: {a!r} != {b!r}"
        elif t is complex:
            stack += [(a.real, b.real, path + ".real"), (a.imag, b.imag, path + ".imag")]
        elif t is dict:
            if list(map(repr, a)) != list(map(repr, b)):
                return f"{path}: keys differ"
            stack += [(a[k], b[k], f"{path}[{k!r}]") for k in a]
        elif t is array.array:
            if a.typecode != b.typecode or a.tobytes() != b.tobytes():
                return f"{path}: array differs"
        elif _fields(a) is not None:
            fa, fb = _fields(a), _fields(b)
            if len(fa) != len(fb):
                return f"{path}: len {len(fa)} != {len(fb)}"
            stack += [(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(fa, fb))]
        elif a != b:
            return f"{path}: {a!r} != {b!r}"
    return None


def _shadow(g):
    """The plain counterpart of a record view's _state."""
    t = type(g)
    if t is FPoint:
        return {"x": g.x, "y": g.y}
    if t is FPair:
        return {"left": g.left, "right": g.right}
    return (g.a, g.b)


def walk(v, g):
    """Read every reachable value of view `v` (iterative), in lockstep with
    the original `g`: every read makes a new view object, so views can't be
    told apart by id; shared or cyclic parts are visited once by the id of
    their original. Returns a count."""
    import frost
    n, stack, seen = 0, [(v, g)], set()
    while stack:
        v, g = stack.pop()
        n += 1
        if type(g) in (list, dict, bytearray, array.array, FPoint, FPair, FShared):
            if id(g) in seen:
                continue
            seen.add(id(g))
        if isinstance(v, frost.FrozenDict):
            for k, gk in zip(v, g):
                stack.append((k, gk))
                stack.append((v[k], g[gk]))
        elif isinstance(v, (frost.FrozenList, tuple)):
            stack.extend(zip(v, g))
        elif isinstance(v, (frost.FrozenSet, frozenset)):
            n += len(v)
            repr(v)
        elif isinstance(v, frost.Array):
            bytes(memoryview(v)) if hasattr(v, "__buffer__") else list(v)
        elif isinstance(v, frost.Record):
            stack.append((v._state, _shadow(g)))
        else:
            repr(v)
    return n


def digest(x):
    """A sha256 hex digest of a plain graph: exact types, float bits (any NaN
    alike), dict order, set contents, and sharing (a container seen again
    hashes as a back-reference to its first visit). Equal graphs with equal
    sharing give equal digests in any interpreter."""
    import hashlib
    h, ids, stack = hashlib.sha256(), {}, [x]
    while stack:
        o = stack.pop()
        t = type(o)
        if t in (list, dict, bytearray, array.array, FPoint, FShared):
            if id(o) in ids:
                h.update(b"@%d;" % ids[id(o)])
                continue
            ids[id(o)] = len(ids)
        h.update(t.__name__.encode() + b":")
        if t is float:
            h.update(b"nan" if math.isnan(o) else struct.pack("<d", o))
        elif t is complex:
            stack += [o.imag, o.real]
        elif t is dict:
            h.update(b"%d;" % len(o))
            for k, v in reversed(o.items()):
                stack += [v, k]
        elif t in (set, frozenset):
            h.update(repr(sorted(map(repr, o))).encode("utf-8", "backslashreplace"))
        elif t is array.array:
            h.update(o.typecode.encode() + o.tobytes())
        elif _fields(o) is not None:
            fs = _fields(o)
            h.update(b"%d;" % len(fs))
            stack += reversed(fs)
        else:
            h.update(repr(o).encode("utf-8", "backslashreplace"))
        h.update(b";")
    return h.hexdigest()


def worker_digest(view):
    """Run in a worker interpreter: the digest of the thawed view."""
    import frost
    return digest(frost.thaw(view))


def check(seed, lifetime="scoped"):
    import frost
    g = graph(seed)
    store = frost.freeze(g, lifetime=lifetime)
    try:
        walk(store.root, g)
        diff = same(g, frost.thaw(store.root))
    finally:
        if hasattr(store, "close"):
            store.close()
    return diff


def check_value(g, lifetimes=("scoped", "process")):
    """check() for a given graph (the libFuzzer target freeze_graph.cc):
    None, or the first difference. FreezeError (a cycle through a tuple
    reached first as a plain tuple) and thaw's ValueError for a cycle through
    a tuple node are the documented outcomes, not differences."""
    import frost
    for lifetime in lifetimes:
        try:
            store = frost.freeze(g, lifetime=lifetime)
        except frost.FreezeError:
            return None
        try:
            walk(store.root, g)
            diff = same(g, frost.thaw(store.root))
            try:
                diff = diff or same(g, frost.thaw(store))
            except ValueError as e:   # docs/design.md: thaw of a cycle through a tuple
                if "cycle through a tuple" not in str(e):
                    raise
        finally:
            if hasattr(store, "close"):
                store.close()
        if diff:
            return f"{lifetime}: {diff}"
    return None


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default=os.environ.get("FROST_FUZZ_SEEDS", "1000"),
                   help="N (seeds 0..N-1) or A:B (seeds A..B-1); default $FROST_FUZZ_SEEDS or 1000")
    a = p.parse_args()
    lo, _, hi = a.seeds.rpartition(":")
    seeds = range(int(lo or 0), int(hi))
    bad = 0
    for s in seeds:
        for lt in ("scoped", "process"):
            d = check(s, lt)
            if d:
                bad += 1
                print(f"seed {s} {lt}: {d}", flush=True)
    print(f"{len(seeds)} seeds ({seeds.start}..{seeds.stop - 1}), {bad} failures")
    sys.exit(1 if bad else 0)
