"""The bad-input catalogue (issue 5): every public function and method of
frost, called with wrong types, wrong values and wrong arity, raises the
documented exception with a message that names what was wrong -- one row
per case, each run as its own subTest. No case may crash, hang or leave an
arena or store behind (checked after each class).

A row is (call as written, callable, exception type, regex the message must
match). The regexes name the offending type, value, argument or path.
"""
import dataclasses
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
from frostcheck import LeakCheckedTestCase  # noqa: E402


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Unfreezable:
    pass


class Catalogue(LeakCheckedTestCase):
    """Runs self.rows() as subTests; every row must raise as stated."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()
        super().tearDown()

    def check(self, rows):
        self.assertGreater(len(rows), 0)
        for text, call, exc, pattern in rows:
            with self.subTest(text):
                with self.assertRaisesRegex(exc, pattern) as cm:
                    call()
                # the documented type exactly where it is a frost exception
                if exc in (frost.FreezeError, frost.SnapshotError, frost.StoreClosedError):
                    self.assertIs(type(cm.exception), exc)


class FreezeAndThaw(Catalogue):
    def test_freeze(self):
        self.check([
            ("freeze()", lambda: frost.freeze(), TypeError, r"missing required argument 'obj'"),
            ("freeze(1, 2)", lambda: frost.freeze(1, 2), TypeError, r"at most 1 positional"),
            ("freeze(1, bogus=1)", lambda: frost.freeze(1, bogus=1), TypeError,
             r"unexpected keyword argument 'bogus'|'bogus' is an invalid keyword"),
            ("freeze(1, lifetime=1)", lambda: frost.freeze(1, lifetime=1), TypeError,
             r"lifetime must be a str, not int"),
            ("freeze(1, lifetime='forever')", lambda: frost.freeze(1, lifetime="forever"),
             ValueError, r"lifetime must be 'scoped' or 'process', not 'forever'"),
            ("freeze(1, progress=1)", lambda: frost.freeze(1, progress=1), TypeError,
             r"freeze\(\) progress must be a callable\(done, total\) or None, not int"),
            ("freeze(1, progress='cb')", lambda: frost.freeze(1, progress="cb"), TypeError,
             r"progress must be a callable.*not str"),
            ("freeze(object())", lambda: frost.freeze(object()), frost.FreezeError,
             r"^root: cannot freeze object of type 'object'"),
            ("freeze nested socket-like", lambda: frost.freeze({"users": [{}, {"conn": Unfreezable()}]}),
             frost.FreezeError, r"root\['users'\]\[1\]\['conn'\]: cannot freeze object of type "
                                r"'Unfreezable'"),
            ("freeze record field", lambda: frost.freeze([Point(1, Unfreezable())]),
             frost.FreezeError, r"root\[0\]\.y: cannot freeze object of type 'Unfreezable'"),
            ("freeze frozenset dict key", lambda: frost.freeze({"a": {frozenset({1}): 1}}),
             frost.FreezeError, r"root\['a'\]<key>: dict key must be a plain immutable .*not 'frozenset'"),
            ("freeze generator", lambda: frost.freeze((i for i in range(3))), frost.FreezeError,
             r"cannot freeze object of type 'generator'"),
            ("freeze a view's lambda", lambda: frost.freeze({"f": lambda: 1}), frost.FreezeError,
             r"root\['f'\]: cannot freeze object of type 'function'"),
            ("freeze set of unfreezable", lambda: frost.freeze({Unfreezable()}), frost.FreezeError,
             r"root\{<item>\}: set item must be a plain immutable .*not 'Unfreezable'"),
            ("freeze non-contiguous buffer", lambda: frost.freeze(memoryview(b"abcdef")[::2]),
             frost.FreezeError, r"contiguous"),
        ])

    def test_freezeerror_is_a_type_error(self):
        self.assertTrue(issubclass(frost.FreezeError, TypeError))

    def test_thaw(self):
        self.check([
            ("thaw()", lambda: frost.thaw(), TypeError, r"thaw\(\) missing required argument 'x'"),
            ("thaw(1, 2)", lambda: frost.thaw(1, 2), TypeError,
             r"thaw\(\) takes at most 1 positional argument \(2 given\)"),
            ("thaw(x, classes=1)", lambda: frost.thaw(1, classes=1), TypeError,
             r"thaw\(\) classes must be an iterable of classes, not 'int'"),
            ("thaw(x, classes=['C'])", lambda: frost.thaw(1, classes=["C"]), TypeError,
             r"thaw\(\) classes must be classes, not 'str'"),
            ("thaw(x, nope=1)", lambda: frost.thaw(1, nope=1), TypeError, r"nope"),
            ("thaw(object())", lambda: frost.thaw(object()), TypeError,
             r"thaw\(\) expects a frost view, Store or frozen value, not 'object'"),
            ("thaw([])", lambda: frost.thaw([]), TypeError, r"not 'list'"),
        ])

    def test_thaw_of_a_closed_store(self):
        store = frost.freeze([1])
        store.close()
        self.check([("thaw(closed store)", lambda: frost.thaw(store), frost.StoreClosedError,
                     r"closed frost\.Store")])


class StoreAndSnapshots(Catalogue):
    def test_store_methods(self):
        store = frost.freeze({"a": 1})
        closed = frost.freeze([1])
        closed.close()
        path = os.path.join(self.dir, "s.frost")
        self.check([
            ("Store()", lambda: frost.Store(), TypeError, r"cannot create 'frost\.Store' instances"),
            ("store.save()", lambda: store.save(), TypeError,
             r"missing (1 )?required (positional )?argument:? 'path'"),   # (Python since issue 13)
            ("store.save(p, p)", lambda: store.save(path, path), TypeError, r"at most 1 positional"),
            ("store.save(p, bogus=1)", lambda: store.save(path, bogus=1), TypeError,
             r"unexpected keyword argument 'bogus'|'bogus' is an invalid keyword"),
            ("store.save(p, progress=1)", lambda: store.save(path, progress=1), TypeError,
             r"save\(\) progress must be a callable\(done, total\) or None, not int"),
            ("store.save(5)", lambda: store.save(5), TypeError,
             r"str, bytes or os\.PathLike object, not int"),
            ("store.save(None)", lambda: store.save(None), TypeError, r"not NoneType"),
            ("store.save('a\\0b')", lambda: store.save("a\0b"), ValueError, r"embedded null"),
            ("store.save(missing dir)", lambda: store.save(os.path.join(self.dir, "no", "s")),
             FileNotFoundError, r"No such file or directory"),
            ("store.save(a directory)", lambda: store.save(self.dir), IsADirectoryError,
             r"Is a directory"),
            ("store.stats(1)", lambda: store.stats(1), TypeError, r"takes no arguments"),
            ("store.close(1)", lambda: store.close(1), TypeError, r"takes no arguments"),
            ("store.root = 1", lambda: setattr(store, "root", 1), AttributeError,
             r"'root' of 'frost\.Store' objects is not writable"),
            ("closed.root", lambda: closed.root, frost.StoreClosedError,
             r"root of a closed frost\.Store"),
            ("closed.nbytes", lambda: closed.nbytes, frost.StoreClosedError, r"nbytes of a closed"),
            ("closed.stats()", lambda: closed.stats(), frost.StoreClosedError, r"stats\(\) of a closed"),
            ("closed.save(path)", lambda: closed.save(path), frost.StoreClosedError,
             r"save\(\) of a closed"),
        ])
        self.assertFalse(os.path.exists(path))
        store.close()
        closed.close()   # closing twice is fine

    def test_load(self):
        empty = os.path.join(self.dir, "empty")
        open(empty, "wb").close()
        garbage = os.path.join(self.dir, "garbage")
        with open(garbage, "wb") as f:
            f.write(b"not a snapshot at all" * 100)
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)   # nobody writes: load must not wait for a writer
        self.check([
            ("load()", lambda: frost.load(), TypeError,
             r"missing (1 )?required (positional )?argument:? 'path'"),   # (Python since issue 13)
            ("load(5)", lambda: frost.load(5), TypeError, r"str, bytes or os\.PathLike object, not int"),
            ("load(None)", lambda: frost.load(None), TypeError, r"not NoneType"),
            ("load(path, x=1)", lambda: frost.load(empty, x=1), TypeError,
             r"unexpected keyword argument 'x'|'x' is an invalid keyword"),
            ("load(path, progress=[])", lambda: frost.load(empty, progress=[]), TypeError,
             r"load\(\) progress must be a callable\(done, total\) or None, not list"),
            ("load(path, lifetime='x')", lambda: frost.load(empty, lifetime="x"), ValueError,
             r"lifetime must be 'scoped' or 'process', not 'x'"),
            ("load('a\\0b')", lambda: frost.load("a\0b"), ValueError, r"embedded null"),
            ("load(missing)", lambda: frost.load(os.path.join(self.dir, "missing")),
             FileNotFoundError, r"missing"),
            ("load(a directory)", lambda: frost.load(self.dir), IsADirectoryError,
             r"Is a directory"),
            ("load(empty file)", lambda: frost.load(empty), frost.SnapshotError,
             r"not a frost snapshot: the file has 0 bytes.*empty"),
            ("load(garbage)", lambda: frost.load(garbage), frost.SnapshotError,
             r"not a frost snapshot.*garbage"),
            ("load(a FIFO)", lambda: frost.load(fifo), frost.SnapshotError,
             r"not a regular file.*fifo"),
            ("load('/dev/zero')", lambda: frost.load("/dev/zero"), frost.SnapshotError,
             r"not a regular file"),
        ])

    def test_snapshoterror_is_a_value_error(self):
        self.assertTrue(issubclass(frost.SnapshotError, ValueError))


class Publishing(Catalogue):
    def test_publish(self):
        store = frost.freeze({"a": 1})
        closed = frost.freeze([1])
        closed.close()
        self.check([
            ("publish()", lambda: frost.publish(), TypeError, r"exactly 2 arguments \(0 given\)"),
            ("publish('n')", lambda: frost.publish("n"), TypeError, r"exactly 2 arguments \(1 given\)"),
            ("publish(1, store)", lambda: frost.publish(1, store), TypeError,
             r"name must be str, not int"),
            ("publish('', store)", lambda: frost.publish("", store), ValueError,
             r"name must be a non-empty str without NUL, not ''"),
            ("publish('a\\0', store)", lambda: frost.publish("a\0", store), ValueError,
             r"non-empty str without NUL"),
            ("publish('n', 5)", lambda: frost.publish("n", 5), TypeError,
             r"store must be a frost\.Store or frost\.MappedStore, not int"),
            ("publish('n', view)", lambda: frost.publish("n", store.root), TypeError,
             r"store must be a frost\.Store or frost\.MappedStore, not frost\.FrozenDict"),
            ("publish('n', closed)", lambda: frost.publish("n", closed), frost.StoreClosedError,
             r"publish\(\) of a closed frost\.Store"),
            ("published(1)", lambda: frost.published(1), TypeError, r"name must be str, not int"),
            ("published('missing')", lambda: frost.published("bad-input-missing"), KeyError,
             r"no frost store is published as 'bad-input-missing'"),
            ("unpublish(1)", lambda: frost.unpublish(1), TypeError, r"name must be str, not int"),
            ("unpublish('missing')", lambda: frost.unpublish("bad-input-missing"), KeyError,
             r"no frost store is published as 'bad-input-missing'"),
        ])
        store.close()


class Views(Catalogue):
    def setUp(self):
        super().setUp()
        self.store = frost.freeze({
            "mixed": [1, 2.0, "x"], "ints": [1, 2, 3], "set": {1, 2},
            "buf": bytearray(b"abc"), "rec": Point(1, 2),
        })
        self.root = self.store.root

    def tearDown(self):
        del self.root
        self.store.close()
        super().tearDown()

    def test_views_cannot_be_made_directly(self):
        self.check([
            (f"frost.{name}()", lambda t=getattr(frost, name): t(), TypeError,
             rf"cannot create 'frost\.{name}' instances")
            for name in ("FrozenDict", "FrozenList", "FrozenSet", "Array", "Record")
        ] + [("FrozenDict({})", lambda: frost.FrozenDict({}), TypeError, r"cannot create")])

    def test_frozendict(self):
        d = self.root
        self.check([
            ("d[[1]]", lambda: d[[1]], TypeError, r"unhashable type: 'list'"),
            ("d['missing']", lambda: d["missing"], KeyError, r"'missing'"),
            ("d.get()", lambda: d.get(), TypeError, r"at least 1 argument \(0 given\)"),
            ("d.get(1, 2, 3)", lambda: d.get(1, 2, 3), TypeError, r"at most 2 arguments \(3 given\)"),
            ("d.get([1])", lambda: d.get([1]), TypeError, r"unhashable type: 'list'"),
            ("[1] in d", lambda: [1] in d, TypeError, r"unhashable type: 'list'"),
            ("d['x'] = 1", lambda: d.__setitem__("x", 1), TypeError,
             r"'frost\.FrozenDict' object is read-only"),
            ("del d['mixed']", lambda: d.__delitem__("mixed"), TypeError, r"read-only"),
            ("d.attr = 1", lambda: setattr(d, "attr", 1), AttributeError, r"'attr'"),
            ("d.keys(1)", lambda: d.keys(1), TypeError, r"takes no arguments"),
            ("d < d", lambda: d < d, TypeError, r"'<' not supported"),
            ("d.update({})", lambda: d.update({}), AttributeError, r"'update'"),
        ])

    def test_frozenlist(self):
        ints, mixed = self.root["ints"], self.root["mixed"]
        self.check([
            ("l['x']", lambda: ints["x"], TypeError,
             r"FrozenList indices must be integers or slices, not str"),
            ("l[1.5]", lambda: ints[1.5], TypeError, r"not float"),
            ("l[3]", lambda: ints[3], IndexError, r"FrozenList index out of range"),
            ("l[-4]", lambda: ints[-4], IndexError, r"FrozenList index out of range"),
            ("l[10**100]", lambda: ints[10**100], IndexError, r"cannot fit 'int'"),
            ("l[::0]", lambda: ints[::0], ValueError, r"slice step cannot be zero"),
            ("l[::'a']", lambda: ints[::"a"], TypeError, r"slice indices must be integers"),
            ("l.index(9)", lambda: ints.index(9), ValueError, r"x not in list"),
            ("l.index()", lambda: ints.index(), TypeError, r"at least 1 argument"),
            ("l.index(1, 'a')", lambda: ints.index(1, "a"), TypeError,
             r"'str' object cannot be interpreted as an integer"),
            ("l.count()", lambda: ints.count(), TypeError, r"exactly one argument \(0 given\)"),
            ("l[0] = 1", lambda: ints.__setitem__(0, 1), TypeError,
             r"'frost\.FrozenList' object is read-only"),
            ("del l[0]", lambda: ints.__delitem__(0), TypeError, r"read-only"),
            ("l.append(1)", lambda: ints.append(1), AttributeError, r"'append'"),
            ("l + 1", lambda: ints + 1, TypeError, r"unsupported operand type"),
            ("memoryview(mixed list)", lambda: memoryview(mixed), TypeError,
             r"this FrozenList has no buffer: only lists whose items are all int"),
            ("memoryview(ints) writable", lambda: memoryview(ints).__setitem__(0, 5), TypeError,
             r"read-only"),
        ])

    def test_frozenset(self):
        s = self.root["set"]
        self.check([
            ("[] in s", lambda: [] in s, TypeError, r"unhashable type: 'list'"),
            ("s | 1", lambda: s | 1, TypeError, r"unsupported operand type"),
            ("s - 'ab'", lambda: s - "ab", TypeError, r"unsupported operand type"),
            ("s.isdisjoint(1)", lambda: s.isdisjoint(1), TypeError, r"'int' object is not iterable"),
            ("s.add(1)", lambda: s.add(1), AttributeError, r"'add'"),
            ("s < 1", lambda: s < 1, TypeError, r"'<' not supported"),
        ])

    def test_array(self):
        buf = self.root["buf"]
        grid = frost.freeze(memoryview(bytes(range(6))).cast("B", (2, 3)))
        g = grid.root
        self.check([
            ("a['x']", lambda: buf["x"], TypeError,
             r"frost\.Array indices must be integers, slices or tuples of integers, not str"),
            ("a[3]", lambda: buf[3], IndexError, r"frost\.Array index out of range"),
            ("a[-4]", lambda: buf[-4], IndexError, r"out of range"),
            ("a[0] = 1", lambda: buf.__setitem__(0, 1), TypeError,
             r"'frost\.Array' object is read-only"),
            ("a.tolist(1)", lambda: buf.tolist(1), TypeError, r"takes no arguments"),
            ("memoryview(a) writable", lambda: memoryview(buf).__setitem__(0, 5), TypeError,
             r"read-only"),
            ("a[::0]", lambda: buf[::0], ValueError, r"slice step cannot be zero"),
            ("a[0:'x']", lambda: buf[0:"x"], TypeError, r"slice indices must be integers"),
            ("grid[0, 0, 0]", lambda: g[0, 0, 0], TypeError,
             r"a 2-dimensional frost\.Array needs 2 indices, not 3"),
            ("grid[(0,)]", lambda: g[(0,)], TypeError, r"needs 2 indices, not 1"),
            ("grid[2, 0]", lambda: g[2, 0], IndexError, r"frost\.Array index out of range"),
            ("grid[0, -4]", lambda: g[0, -4], IndexError, r"out of range"),
            ("grid[0, 'x']", lambda: g[0, "x"], TypeError,
             r"frost\.Array indices must be integers, not str \(index 1 of the tuple\)"),
            ("grid[0, 1:2]", lambda: g[0, 1:2], TypeError, r"not slice \(index 1"),
            ("grid[1.0, 0]", lambda: g[1.0, 0], TypeError, r"not float \(index 0"),
            ("grid[5]", lambda: g[5], IndexError, r"out of range"),
        ])
        g = None   # drop the view before closing its store
        grid.close()

    def test_mapped_array_answers_as_array_does(self):
        """frost.Array and frost.MappedArray share one subscript
        (frost__buffer_subscript): every key gets the same item, slice or error
        from both, the type's name aside; a grid's a[i] is its row from both (a
        MappedArray's was a TypeError)."""
        data = {"line": memoryview(bytes(range(6))),
                "grid": memoryview(bytes(range(6))).cast("B", (2, 3)),
                "cplx": memoryview(struct.pack("<2d", 1.0, 2.0)).cast("B").cast("d")}
        frozen, shared = frost.freeze(data), frost.share(data)

        def answer(view, key):
            try:
                r = view[key]
                return ("value", r.tolist() if hasattr(r, "tolist") else r)
            except Exception as e:
                return (type(e).__name__, str(e).replace("MappedArray", "Array"))

        keys = [0, -1, 5, -7, 2**70, (0,), (), (0, 0), (1, 2), (2, 0), (0, -4), (0, 0, 0),
                (0, "x"), (0, slice(1)), slice(None), slice(1, None, 2), slice(None, None, -1),
                slice(2**70, None), "x", 1.0, None, b"0", [0]]
        for name in data:
            for key in keys:
                with self.subTest(name=name, key=key):
                    a, m = frozen.root[name], shared.root[name]
                    if name == "grid" and isinstance(key, int) and -2 <= key < 2:   # a row
                        self.assertEqual(a[key].tolist(), [[0, 1, 2], [3, 4, 5]][key])
                    self.assertEqual(answer(a, key), answer(m, key))
        frozen.close()

    def test_record(self):
        rec = self.root["rec"]
        self.check([
            ("rec.missing", lambda: rec.missing, AttributeError,
             r"'frost\.Record' object has no attribute 'missing'"),
            ("rec['missing']", lambda: rec["missing"], KeyError, r"'missing'"),
            ("rec.x = 2", lambda: setattr(rec, "x", 2), TypeError,
             r"'frost\.Record' object is read-only"),
            ("del rec.x", lambda: delattr(rec, "x"), TypeError, r"read-only"),
            ("rec['x'] = 2", lambda: rec.__setitem__("x", 2), TypeError, r"read-only"),
        ])


class Channels(Catalogue):
    def test_channel(self):
        ch = frost.Channel()
        self.check([
            ("Channel('x')", lambda: frost.Channel("x"), TypeError,
             r"Channel maxsize must be an int, not str"),
            ("Channel(2.0)", lambda: frost.Channel(2.0), TypeError, r"maxsize must be an int, not float"),
            ("Channel(True)", lambda: frost.Channel(True), TypeError, r"not bool"),
            ("Channel(-1)", lambda: frost.Channel(-1), ValueError,
             r"Channel maxsize must be >= 0 \(0: unbounded\), not -1"),
            ("Channel(10**30)", lambda: frost.Channel(10**30), ValueError,
             r"maxsize out of range: 1000000000000000000000000000000"),
            ("Channel(1, 2)", lambda: frost.Channel(1, 2), TypeError, r"at most 1 argument \(2 given\)"),
            ("ch.send()", lambda: ch.send(), TypeError, r"missing required argument 'obj'"),
            ("ch.send(1, timeout=-1)", lambda: ch.send(1, timeout=-1), ValueError,
             r"timeout must be a non-negative number or None"),
            ("ch.send(1, timeout=nan)", lambda: ch.send(1, timeout=float("nan")), ValueError,
             r"non-negative number"),
            ("ch.send(1, timeout='x')", lambda: ch.send(1, timeout="x"), TypeError,
             r"timeout must be a number or None, not str"),
            ("ch.send(lambda)", lambda: ch.send(lambda: 1), TypeError,
             r"cannot send function object .*lambda.* to another interpreter"),
            ("ch.recv(timeout=-1)", lambda: ch.recv(timeout=-1), ValueError, r"non-negative"),
            ("ch.recv(timeout='x')", lambda: ch.recv(timeout="x"), TypeError,
             r"timeout must be a number or None, not str"),
            ("ch.recv(True)", lambda: ch.recv(True), TypeError,
             r"timeout must be a number or None, not bool"),
            ("ch.send(1, timeout=False)", lambda: ch.send(1, timeout=False), TypeError,
             r"not bool"),
            ("ch.recv(timeout=0) empty", lambda: ch.recv(timeout=0), TimeoutError,
             r"recv timed out: the channel is empty"),
            ("ch.recv(1, 2)", lambda: ch.recv(1, 2), TypeError, r"at most 1 argument"),
            ("ch.close(1)", lambda: ch.close(1), TypeError, r"takes no arguments"),
        ])
        ch.close()
        self.check([
            ("closed ch.send(1)", lambda: ch.send(1), frost.ChannelClosedError, r"closed"),
            ("closed ch.recv()", lambda: ch.recv(), frost.ChannelClosedError, r"closed"),
        ])


class Pools(Catalogue):
    def test_pool_constructor(self):
        self.check([
            ("Pool('2')", lambda: frost.Pool("2"), TypeError, r"workers must be an int or None, not str"),
            ("Pool(2.0)", lambda: frost.Pool(2.0), TypeError, r"not float"),
            ("Pool(True)", lambda: frost.Pool(True), TypeError, r"not bool"),
            ("Pool(0)", lambda: frost.Pool(0), ValueError, r"workers must be at least 1, not 0"),
            ("Pool(2000)", lambda: frost.Pool(2000), ValueError,
             r"workers must be between 1 and 1024, not 2000"),
            ("Pool(1 << 70)", lambda: frost.Pool(1 << 70), ValueError,
             r"workers must be between 1 and 1024, not 1180591620717411303424"),
            ("Pool(1, 2)", lambda: frost.Pool(1, 2), TypeError, r"positional argument"),
            ("Pool(1, bogus=1)", lambda: frost.Pool(1, bogus=1), TypeError,
             r"unexpected keyword argument 'bogus'"),
            ("Pool(1, initializer=3)", lambda: frost.Pool(1, initializer=3), TypeError,
             r"initializer must be callable, not int"),
            ("Pool(1, initializer=print, initargs=5)",
             lambda: frost.Pool(1, initializer=print, initargs=5), TypeError,
             r"initargs must be an iterable of arguments, not int"),
            ("Pool(1, initializer=lambda)", lambda: frost.Pool(1, initializer=lambda: 1), TypeError,
             r"cannot send initializer .*lambda.* to a worker interpreter"),
        ])

    def test_pool_methods(self):
        pool = frost.Pool(1)
        try:
            self.check([
                ("submit()", lambda: pool.submit(), TypeError, r"missing 1 required positional argument: 'fn'"),
                ("submit(3)", lambda: pool.submit(3), TypeError, r"submit\(\) needs a callable, not int"),
                ("submit(lambda)", lambda: pool.submit(lambda: 1), TypeError,
                 r"cannot send callable .*lambda.* to a worker interpreter"),
                ("submit(print, lambda)", lambda: pool.submit(print, lambda: 1), TypeError,
                 r"cannot send the arguments of <built-in function print>"),
                ("submit(print, pool)", lambda: pool.submit(print, pool), TypeError,
                 r"cannot send the arguments"),
                ("map(3, [1])", lambda: pool.map(3, [1]), TypeError, r"map\(\) needs a callable, not int"),
                ("map(abs, 5)", lambda: pool.map(abs, 5), TypeError, r"'int' object is not iterable"),
                ("map(abs, [1], chunksize=0)", lambda: pool.map(abs, [1], chunksize=0), ValueError,
                 r"chunksize must be >= 1, not 0"),
                ("map(abs, [1], chunksize=2**63)", lambda: pool.map(abs, [1], chunksize=2**63),
                 ValueError, r"chunksize must be at most sys.maxsize, not 9223372036854775808"),
                ("map(abs, [1], chunksize='a')", lambda: pool.map(abs, [1], chunksize="a"), TypeError,
                 r"chunksize must be an int, not str"),
                ("map(abs, [1], timeout='x')", lambda: pool.map(abs, [1], timeout="x"), TypeError,
                 r"timeout must be a number or None, not str"),
                ("shutdown(1, 2)", lambda: pool.shutdown(1, 2), TypeError, r"positional arguments"),
                ("worker raises TypeError", lambda: pool.submit(abs, "x").result(timeout=60), TypeError,
                 r"bad operand type for abs\(\): 'str'"),
            ])
            self.assertEqual(pool.submit(abs, -3).result(timeout=60), 3)   # still usable
        finally:
            pool.shutdown()
        self.check([("submit after shutdown", lambda: pool.submit(abs, 1), RuntimeError,
                     r"cannot schedule new futures after shutdown")])


if __name__ == "__main__":
    unittest.main()
