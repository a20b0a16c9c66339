"""The write matrix (CPYTHON-FACTS §2.3, §3, §8): read-only operations that
CPython might turn into writes on an object, run on the arena's own objects
of a lifetime="process" store, whose pages are sealed PROT_READ. A write
would fault (SIGSEGV), so finishing is the first result; the second is a
deterministic dict of results, compared between the main interpreter, an
own-GIL subinterpreter and the workers of a frost.Pool.

Module-level and importable: subinterpreters and pool workers import it.
Nothing here imports hashlib, random or tempfile (random imports _sha2 /
hashlib, and 3.12.1 aborts at finalization when hashlib was imported in an
own-GIL subinterpreter).
"""
import copy
import gc
import io
import json
import marshal
import math
import operator
import pickle
import re
import sys
import zlib


def data():
    """The frozen data: every kind of arena object, and views holding them."""
    return {
        "ascii": "hello world",
        "ident": "attribute_name",
        "latin1": "caf\u00e9 cr\u00e8me",
        "ucs2": "\u043f\u0440\u0438\u0432\u0435\u0442 \u4e16\u754c",
        "ucs4": "emoji \U0001f600 \U0001f4a9",
        "surrogate": "lone \ud800 half",
        "fmt": "%s-%d",
        "digits": "12345",
        "pattern": r"(\w+) (\w+)",
        "empty": "",
        "small": 7,
        "neg": -123456789,
        "big": 2 ** 200 + 12345,
        "bigneg": -(2 ** 100),
        "float": 3.25,
        "negzero": -0.0,
        "inf": float("inf"),
        "nan": float("nan"),
        "complex": 1.5 - 2.25j,
        "bytes": b"\x00binary\xffdata",
        "tuple": (1, "two", 3.0, b"four", (5, "six")),
        "strs": ("pear", "apple", "fig", "banana", "caf\u00e9"),
        "ints": (5, -3, 2 ** 70, 0, 11),
        "floats": (2.5, -1.0, 1e300, 0.125),
        "packed_ints": list(range(100)),
        "packed_floats": [i * 0.5 for i in range(64)],
        "mixed": ["x", 1, 2.0, ("t",), None, True],
        "set": {"a", "b", "c"},
        "nested": {"k": ("v", 1), "inner": {"deep": "value\u00e9"}},
    }


def _norm(x):
    """repr with floats that compare: NaN and -0.0 keep their spelling."""
    return repr(x)


def matrix(root):
    """Run every operation on the arena objects under `root` (a FrozenDict
    of `data()`); return {operation: repr(result) or exception name}."""
    out = {}

    def rec(name, fn):
        try:
            out[name] = _norm(fn())
        except Exception as e:  # noqa: BLE001 - the exception type is the result
            out[name] = f"raised {type(e).__name__}"

    keys = list(root)
    strs = [root[k] for k in keys if type(root[k]) is str]
    nums = [root[k] for k in keys if type(root[k]) in (int, float, complex)]
    plain = [root[k] for k in keys if type(root[k]) in (str, int, float, complex, bytes, tuple)]
    out["keys"] = repr(keys)
    out["types"] = repr([type(root[k]).__name__ for k in keys])

    # hash, ==, <, dict keys, set members, `in`
    for i, v in enumerate(plain):
        rec(f"hash{i}", lambda: hash(v))
        rec(f"eq_self{i}", lambda: (v == v, v != v))
        rec(f"eq_copy{i}", lambda: v == pickle.loads(pickle.dumps(v)))
        rec(f"dictkey{i}", lambda: {v: i}.get(pickle.loads(pickle.dumps(v))))
        rec(f"setmember{i}", lambda: v in {v} and v in [v] and v in (v,))
        rec(f"str{i}", lambda: (str(v), repr(v), ascii(v)))
        rec(f"format{i}", lambda: (format(v), f"{v!r:>30}|{v!s:<5}", "%r" % (v,), "{0!a}".format(v)))
        rec(f"pickle{i}", lambda: pickle.dumps(v, protocol=4))
        rec(f"pickle_rt{i}", lambda: pickle.loads(pickle.dumps(v)) == v or v != v)
        rec(f"marshal{i}", lambda: marshal.loads(marshal.dumps(v)) == v or v != v)
        rec(f"copy{i}", lambda: (copy.copy(v) is v, copy.deepcopy(v) is v))
        rec(f"gc_tracked{i}", lambda: gc.is_tracked(v))
        buf = io.StringIO()
        rec(f"print{i}", lambda: (print(v, v, sep="|", file=buf), buf.getvalue())[1])
    rec("dict_of_arena_keys", lambda: sorted({k: root[k] for k in keys if k in root}.keys()) == sorted(keys))
    rec("lookup_by_local_keys", lambda: [root[k.encode().decode()] is root[k] for k in keys
                                          if type(root[k]) is str])
    rec("in_root", lambda: [("x" + k[1:]) in root for k in keys])

    # str methods, encode/decode, setattr/intern, re, join, sorting
    for i, s in enumerate(strs):
        rec(f"methods{i}", lambda: (s.upper(), s.lower(), s.casefold(), s.title(), s.split(),
                                    s.replace("l", "L"), s.find("o"), s.startswith("h"),
                                    s.strip(), s[1:4], s[::-1], len(s), s.isidentifier(),
                                    s.isdigit(), s.center(30, "*"), s.partition(" "),
                                    s.count("e"), s.zfill(3), s.expandtabs(), s * 2, s + "!"))
        rec(f"contains{i}", lambda: ("e" in s, s in s, s in "hello world and more"))
        rec(f"utf8_{i}", lambda: s.encode("utf-8", "surrogatepass"))
        rec(f"utf8_strict{i}", lambda: s.encode("utf-8"))
        rec(f"utf16_{i}", lambda: s.encode("utf-16-le", "surrogatepass"))
        rec(f"utf32_{i}", lambda: s.encode("utf-32", "surrogatepass"))
        rec(f"latin1_{i}", lambda: s.encode("latin-1", "replace"))
        rec(f"ascii_{i}", lambda: s.encode("ascii", "backslashreplace"))
        rec(f"decode{i}", lambda: s.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass") == s)
        rec(f"intern{i}", lambda: sys.intern(s) is s)

        class O:
            pass
        o = O()
        rec(f"setattr{i}", lambda: (setattr(o, s, i), getattr(o, s), s in vars(o))[1:])
        rec(f"setattr_cls{i}", lambda: (setattr(O, s, i), getattr(O, s))[1])
        rec(f"type_ns{i}", lambda: getattr(type("T", (), {s: i}), s))
        rec(f"attrgetter{i}", lambda: operator.attrgetter(s)(o))
        rec(f"kwargs{i}", lambda: (lambda **kw: sorted(kw.items()))(**{s: i}))
        rec(f"re_findall{i}", lambda: re.findall(r"\w+", s))
        rec(f"re_sub{i}", lambda: re.sub(r"[aeiou]", "_", s))
        rec(f"translate{i}", lambda: s.translate(str.maketrans("lo", "01")))
        rec(f"json{i}", lambda: json.dumps(s))
        rec(f"json_ascii{i}", lambda: json.dumps(s, ensure_ascii=False))
    rec("join", lambda: "|".join(strs))
    rec("join_by_arena", lambda: root["ascii"].join(root["strs"]))
    rec("sorted_strs", lambda: sorted(root["strs"]))
    rec("sorted_strs_key", lambda: sorted(root["strs"], key=len, reverse=True))
    rec("max_min", lambda: (max(root["strs"]), min(root["strs"]), max(root["ints"]), min(root["floats"])))
    rec("fmt_as_format", lambda: root["fmt"] % ("a", 5))
    rec("int_of_str", lambda: (int(root["digits"]), float(root["digits"])))
    rec("re_compile_arena_pattern", lambda: re.compile(root["pattern"]).match("hello world").groups())
    rec("re_arena_subject", lambda: re.match(root["pattern"], root["ascii"]).group(2))

    # numbers
    big, neg, small, fl, cx = root["big"], root["neg"], root["small"], root["float"], root["complex"]
    rec("int_ops", lambda: (big + 1, big * big, big // 7, big % 1000003, -big, abs(root["bigneg"]),
                            big.bit_length(), pow(big, 3, 1000003), big >> 100, big & 0xFFFF,
                            neg * small, divmod(neg, small), (small).to_bytes(2, "big"),
                            big.to_bytes(32, "little"), int.from_bytes(root["bytes"], "big")))
    rec("float_ops", lambda: (fl * 2.5, fl / 3, fl ** 2, math.floor(fl), fl.hex(), fl.as_integer_ratio(),
                              round(fl, 1), math.copysign(1.0, root["negzero"]), math.isnan(root["nan"]),
                              root["inf"] > 1e308, fl.is_integer(), math.fsum(root["floats"])))
    rec("complex_ops", lambda: (cx * cx, abs(cx), cx.conjugate(), cx.real, cx.imag, cx + fl))
    rec("mixed_cmp", lambda: [(a < b, a == b) for a in nums for b in nums if type(a) is not complex
                              and type(b) is not complex])

    # bytes
    b = root["bytes"]
    rec("bytes_ops", lambda: (b.hex(), b.upper(), b + b, b[1:5], b.find(b"data"), b.decode("latin-1"),
                              memoryview(b).tolist(), bytes(b) is b, bytearray(b), b.split(b"\xff"),
                              zlib.crc32(b), b.startswith(b"\x00"), b in {b}, len(b)))

    # tuples
    t = root["tuple"]
    rec("tuple_ops", lambda: (hash(t), t + t, t * 2, t.index("two"), t.count(1), t[1:], t[::-1],
                              hash(t[4]), "two" in t, (5, "six") in t, tuple(t) is t, len(t),
                              sorted(root["ints"]), sum(root["ints"]), hash((t, t))))
    rec("tuple_unpack", lambda: (lambda a, b, c, d, e: (a, b, c, d, e))(*t))

    # gc with local containers that hold arena objects (tuples have a zeroed
    # PyGC_Head prefix; the collector must not write to it)
    def collect():
        holders = [[root[k] for k in keys] for _ in range(10)]
        cyc = []
        cyc.append(cyc)
        cyc.append(t)
        holders.append(cyc)
        gc.collect()
        refs = gc.get_referents(t)
        return (len(holders), sorted(map(id, refs)) == sorted(map(id, t)), gc.is_tracked(t),
                t in gc.get_referents(holders[0]))
    rec("gc", collect)

    # specialised loops: > 1000 iterations so the adaptive interpreter
    # specialises the bytecodes (BINARY_OP_ADD_INT/FLOAT, COMPARE_OP_STR,
    # FOR_ITER_TUPLE, BINARY_SUBSCR_TUPLE_INT, ...) on arena operands
    def hot():
        ti, tf, hits, cnt = 0, 0.0, 0, 0
        s1, s2 = root["ascii"], root["ident"]
        ints, floats = root["ints"], root["floats"]
        for _ in range(3000):
            ti += small + ints[0]
            tf += fl + floats[0]
            if s1 == s2 or s1 < s2:
                hits += 1
            for x in ints:
                cnt += x & 1
            d = {s1: 1, s2: 2}
            hits += d[s1]
        return ti, tf, hits, cnt
    rec("hot_loop", hot)

    # the views around them
    rec("packed_sum", lambda: (sum(root["packed_ints"]), sum(root["packed_floats"])))
    rec("packed_buffer", lambda: (memoryview(root["packed_ints"]).format,
                                  memoryview(root["packed_ints"]).tolist()[:5],
                                  memoryview(root["packed_floats"]).tobytes()[:16]))
    rec("mixed_list", lambda: (list(root["mixed"]), root["mixed"][3], root["mixed"].index(2.0)))
    rec("set_view", lambda: (sorted(root["set"]), "a" in root["set"], root["set"] | {"z"}))
    rec("nested", lambda: (root["nested"]["inner"]["deep"], dict(root["nested"]["inner"])))
    rec("views_pickle", lambda: pickle.loads(pickle.dumps(root["nested"]))["k"])
    rec("json_dumps_all", lambda: json.dumps([root[k] for k in keys if type(root[k]) in (str, int, float, tuple)]))
    rec("sys_getsizeof", lambda: [sys.getsizeof(root[k]) > 0 for k in keys])
    return out


def matrix_repr(root):
    """The matrix as one string (for pool workers and subinterpreters)."""
    return repr(sorted(matrix(root).items()))


def matrix_in_worker(store, ready, go):
    """Pool task: report in, wait until every worker has, then run the matrix
    on the store's root at the same time as the others."""
    from frost import _worker
    ready.send("ready")
    go.recv(timeout=120)
    return _worker.worker_info()[2], store.lifetime, matrix_repr(store.root)
