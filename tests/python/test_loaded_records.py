"""Records read from a snapshot file (issue 14, items 3 and 8).

A snapshot is data: a record's module and qualname come from the file, so
thawing a loaded store must not import or call anything the caller did not
allow. frost.thaw(x, classes=[...]) rebuilds records of the listed classes
only; without the list a loaded record comes back as a types.SimpleNamespace
of its fields (or its plain state), while records frozen in this process keep
today's convenience (their class is imported by name). The rule follows the
record: into a new store frozen from a loaded view, through save and load
again. Records of classes or modules with one-character names save and load.
"""
import dataclasses
import os
import pickle
import sys
import tempfile
import textwrap
import types
import typing
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
from frostcheck import run_child  # noqa: E402


@dataclasses.dataclass
class Point:
    x: int
    y: str


class Pair(typing.NamedTuple):
    a: int
    b: list


class Shared:
    def __init__(self, v):
        self.v = v

    def __shared__(self):
        return {"v": self.v}

    @classmethod
    def __from_shared__(cls, state):
        return cls(state["v"])

    def __eq__(self, other):
        return type(other) is Shared and other.v == self.v


class SharedList:
    def __init__(self, items):
        self.items = items

    def __shared__(self):
        return list(self.items)

    def __setstate__(self, state):
        self.items = state

    def __eq__(self, other):
        return type(other) is SharedList and other.items == self.items


class FakePopen(typing.NamedTuple):
    """Frozen under the name subprocess.Popen: thawing it by name would call
    the real subprocess.Popen(args=...)."""
    args: list


FakePopen.__module__ = "subprocess"
FakePopen.__qualname__ = "Popen"


class LoadCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name="s.frost"):
        return os.path.join(self.dir.name, name)

    def reload(self, data, lifetime="process"):
        p = self.path()
        store = frost.freeze(data)
        store.save(p, format=1)
        store.close()
        return frost.load(p, lifetime=lifetime)


class LoadedRecordsAreData(LoadCase):
    DATA = {"point": Point(1, "one"), "pair": Pair(2, [3]), "shared": Shared(4),
            "list_state": SharedList([5, 6]), "nested": [Point(7, "seven"), (Pair(8, []),)]}

    def test_a_file_naming_subprocess_popen_runs_nothing(self):
        marker = self.path("popen-ran")
        code = f"open({marker!r}, 'w').close()"
        for lifetime in ("process", "scoped"):
            with self.subTest(lifetime=lifetime):
                store = self.reload({"p": FakePopen([sys.executable, "-c", code])}, lifetime)
                self.assertEqual(store.root["p"]._class_name, "subprocess.Popen")
                back = frost.thaw(store.root)["p"]
                self.assertIsInstance(back, types.SimpleNamespace)
                self.assertEqual(back.args, [sys.executable, "-c", code])
                self.assertIsInstance(frost.thaw(store.root["p"]), types.SimpleNamespace)
                self.assertIsInstance(frost.thaw(store)["p"], types.SimpleNamespace)
                self.assertFalse(os.path.exists(marker))
                store.close()

    def test_without_classes_loaded_records_are_namespaces(self):
        for lifetime in ("process", "scoped"):
            with self.subTest(lifetime=lifetime):
                back = frost.thaw(self.reload(self.DATA, lifetime).root)
                self.assertEqual(back["point"], types.SimpleNamespace(x=1, y="one"))
                self.assertEqual(back["pair"], types.SimpleNamespace(a=2, b=[3]))
                self.assertEqual(back["shared"], types.SimpleNamespace(v=4))
                self.assertEqual(back["list_state"], [5, 6])
                self.assertEqual(back["nested"][0], types.SimpleNamespace(x=7, y="seven"))
                self.assertEqual(back["nested"][1][0], types.SimpleNamespace(a=8, b=[]))

    def test_classes_allows_exactly_the_listed_classes(self):
        root = self.reload(self.DATA).root
        back = frost.thaw(root, classes=[Point, Pair, Shared, SharedList])
        self.assertEqual(back["point"], Point(1, "one"))
        self.assertEqual(back["pair"], Pair(2, [3]))
        self.assertEqual(back["shared"], Shared(4))
        self.assertEqual(back["list_state"], SharedList([5, 6]))
        self.assertEqual(back["nested"][1][0], Pair(8, []))
        partial = frost.thaw(root, classes=(c for c in [Point]))   # any iterable
        self.assertEqual(partial["point"], Point(1, "one"))
        self.assertEqual(partial["pair"], types.SimpleNamespace(a=2, b=[3]))
        self.assertEqual(frost.thaw(root["point"], classes=[Point]), Point(1, "one"))

    def test_a_listed_class_of_the_same_name_elsewhere_is_not_used(self):
        # matched by module and qualname: another class called Point is not it
        Other = type("Point", (), {"__module__": "elsewhere"})
        back = frost.thaw(self.reload(self.DATA).root, classes=[Other])
        self.assertIsInstance(back["point"], types.SimpleNamespace)

    def test_in_process_records_keep_importing_unless_classes_is_given(self):
        store = frost.freeze(self.DATA)
        self.assertEqual(frost.thaw(store.root)["point"], Point(1, "one"))
        self.assertEqual(frost.thaw(store.root)["shared"], Shared(4))
        only_pair = frost.thaw(store.root, classes=[Pair])
        self.assertEqual(only_pair["pair"], Pair(2, [3]))
        self.assertEqual(only_pair["point"], types.SimpleNamespace(x=1, y="one"))

    def test_refreezing_a_loaded_record_keeps_it_data(self):
        loaded = self.reload(self.DATA)
        refrozen = frost.freeze(loaded.root)
        self.assertIsInstance(frost.thaw(refrozen.root)["point"], types.SimpleNamespace)
        self.assertEqual(frost.thaw(refrozen.root, classes=[Point])["point"], Point(1, "one"))
        inproc = frost.freeze({"old": loaded.root["point"], "new": Point(0, "zero")})
        back = frost.thaw(inproc.root)
        self.assertIsInstance(back["old"], types.SimpleNamespace)
        self.assertEqual(back["new"], Point(0, "zero"))
        p = self.path("again.frost")
        refrozen.save(p, format=1)
        self.assertIsInstance(frost.thaw(frost.load(p).root)["point"], types.SimpleNamespace)

    def test_reading_a_loaded_store_imports_nothing(self):
        # a record names a module whose import has a side effect; every read
        # of the loaded store, in a fresh process, leaves it unimported
        pkg = self.path("pkg")
        os.mkdir(pkg)
        marker = self.path("imported")
        with open(os.path.join(pkg, "evil_mod.py"), "w") as f:
            f.write(f"open({marker!r}, 'w').close()\n"
                    "import dataclasses\n"
                    "@dataclasses.dataclass\n"
                    "class Thing:\n"
                    "    x: int\n")
        p = self.path()
        writer = textwrap.dedent(f"""
            import dataclasses, frost
            @dataclasses.dataclass
            class Thing:
                x: int
            Thing.__module__ = "evil_mod"
            frost.freeze({{"t": Thing(1), "l": [Thing(2)], "k": (Thing(3), 4)}}).save({p!r}, format=1)
        """)
        reader = textwrap.dedent(f"""
            import sys, pickle, frost
            sys.path.insert(0, {pkg!r})
            for lifetime in ("process", "scoped"):
                s = frost.load({p!r}, lifetime=lifetime)
                root = s.root
                repr(root); str(root); root == root; list(root.items())
                r = root["t"]
                assert r.x == 1 and r["x"] == 1 and r._fields == ("x",), r
                assert r._class_name == "evil_mod.Thing"
                repr(r); r == root["t"]; r._state
                pickle.loads(pickle.dumps(root))
                t = frost.thaw(root)
                assert type(t["t"]).__name__ == "SimpleNamespace", t
                frost.thaw(s); frost.thaw(root["k"]); frost.thaw(root["l"])
                again = frost.freeze(root)
                frost.thaw(again.root)
                again.save({p + ".2"!r}, format=1)
                frost.thaw(frost.load({p + ".2"!r}).root)
            assert "evil_mod" not in sys.modules
            print("ok")
        """)
        r = run_child(writer)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_child(reader)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)
        self.assertFalse(os.path.exists(marker))


class OneCharacterNames(LoadCase):
    """Item 8: one-character str are CPython singletons, saved as immediates."""

    def test_classes_and_modules_with_one_character_names_load(self):
        pkg = self.path("pkg")
        os.mkdir(pkg)
        with open(os.path.join(pkg, "m.py"), "w", encoding="utf-8") as f:
            f.write(textwrap.dedent("""
                import dataclasses, typing
                @dataclasses.dataclass
                class A:
                    x: int
                class N(typing.NamedTuple):
                    a: int
                class S:
                    def __init__(self, v):
                        self.v = v
                    def __shared__(self):
                        return {"v": self.v}
                    def __eq__(self, other):
                        return type(other) is S and other.v == self.v
                @dataclasses.dataclass
                class \u00c9:
                    x: int
                Empty = dataclasses.make_dataclass("Empty", ["x"])
                Empty.__qualname__ = ""
            """))
        sys.path.insert(0, pkg)
        self.addCleanup(sys.path.remove, pkg)
        import m
        self.addCleanup(sys.modules.pop, "m", None)
        data = {"a": m.A(1), "n": m.N(2), "s": m.S(3), "e": getattr(m, "\u00c9")(4), "empty": m.Empty(5)}
        for lifetime in ("process", "scoped"):
            with self.subTest(lifetime=lifetime):
                root = self.reload(data, lifetime).root
                self.assertEqual([root[k]._class_name for k in data],
                                 ["m.A", "m.N", "m.S", "m.\u00c9", "m."])
                self.assertEqual(root["a"].x, 1)
                E = getattr(m, "\u00c9")   # (a one-character Latin-1 name)
                back = frost.thaw(root, classes=[m.A, m.N, m.S, E])
                self.assertEqual(back["a"], m.A(1))
                self.assertEqual(back["n"], m.N(2))
                self.assertEqual(back["s"], m.S(3))
                self.assertEqual(back["e"], E(4))
                self.assertEqual(back["empty"], types.SimpleNamespace(x=5))


if __name__ == "__main__":
    unittest.main()
