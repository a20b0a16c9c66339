"""Stores and views as cross-interpreter data (views/xidata.c).

On 3.12 and 3.13 frost registers Store and every view type with CPython's
cross-interpreter-data registry, so the stdlib's own channels (3.12:
_xxinterpchannels) and queues (3.13: _interpqueues, with syncobj=True) carry
them without pickling: the receiver gets a view of the same arena memory.
Those stdlib paths refuse anything unregistered (a plain dict is the
control), so a successful send proves the registration is used.
"""
import dataclasses
import gc
import sys
import unittest

import frost
from frost import _frost

PY = sys.version_info[:2]

if PY == (3, 12):
    import _xxinterpchannels as _channels
    import _xxsubinterpreters as _interpreters
elif PY == (3, 13):
    from test.support import interpreters as _interpreters
    from test.support.interpreters import queues as _queues


@dataclasses.dataclass
class _Point:
    x: int
    y: str


class _Link:
    """One own-GIL subinterpreter and one stdlib channel/queue into it."""

    def __init__(self):
        if PY == (3, 12):
            self.interp = _interpreters.create(isolated=True)
            self.cid = _channels.create()
        else:
            self.interp = _interpreters.create()
            self.interp.exec("from test.support.interpreters import queues")
            self.queue = _queues.create()
            self.interp.prepare_main(q=self.queue)

    def send(self, obj):
        if PY == (3, 12):
            _channels.send(self.cid, obj)
        else:
            self.queue.put(obj, syncobj=True)   # refuses what is not XI data

    def run(self, code):
        """Run code in the subinterpreter; `recv()` there takes the next object."""
        if PY == (3, 12):
            prelude = "import _xxinterpchannels\nrecv = lambda: _xxinterpchannels.recv(cid)\n"
            _interpreters.run_string(self.interp, prelude + code, shared={"cid": int(self.cid)})
        else:
            self.interp.exec("recv = q.get\n" + code)

    def close(self):
        if PY == (3, 12):
            _channels.destroy(self.cid)
            _interpreters.destroy(self.interp)
        else:
            del self.queue
            self.interp.close()


@unittest.skipUnless(PY in ((3, 12), (3, 13)),
                     "CPython's XI-data registry exists on 3.12 and 3.13 only; later "
                     "versions pickle, and frost's __reduce__ is by reference")
class CrossInterpreterDataTest(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.stores_before = _frost._live_stores()
        self.link = _Link()

    def tearDown(self):
        self.link.close()

    def test_unregistered_object_is_refused(self):
        # The control: these stdlib paths do not fall back to pickle.
        with self.assertRaises(Exception):
            self.link.send({"plain": "dict"})

    def test_views_and_store_arrive_as_views_of_the_same_memory(self):
        store = frost.freeze({"s": "h\u00e9llo w\u00f6rld", "xs": [1, 2, 3, 4], "set": {1, 2},
                              "buf": bytearray(b"abc")}, lifetime="process")
        root = store.root
        sent = [root, store, root["xs"][1::2], root["set"], root["buf"]]
        for obj in sent:
            self.link.send(obj)
        # process lifetime: reads return the arena's own objects, so the id()
        # of an arena string is the same in both interpreters.
        main_id = id(root["s"])
        self.link.run(
            "import frost\n"
            "v = recv(); s = recv(); sl = recv(); fs = recv(); buf = recv()\n"
            f"assert type(v) is frost.FrozenDict, type(v)\n"
            f"assert id(v['s']) == {main_id}, (id(v['s']), {main_id})\n"
            "assert type(s) is frost.Store and s.root['xs'] == [1, 2, 3, 4]\n"
            "assert type(sl) is frost.FrozenList and list(sl) == [2, 4], list(sl)\n"
            "assert type(fs) is frost.FrozenSet and set(fs) == {1, 2}\n"
            "assert bytes(memoryview(buf)) == b'abc'\n")

    def test_records_of_a_process_store_arrive_as_their_shape_type(self):
        store = frost.freeze([{"pad": 0}, _Point(3, "x"), _Point(4, "y")], lifetime="process")
        self.addCleanup(store.close)
        self.assertEqual(type(store.root[1]).__name__, f"Record[{__name__}._Point]")
        self.link.send(store.root[1])
        self.link.send(store.root[2])
        self.link.run("import frost\n"
                      "a = recv(); b = recv()\n"
                      "assert isinstance(a, frost.Record) and type(a) is type(b), (type(a), type(b))\n"
                      f"assert type(a).__name__ == 'Record[{__name__}._Point]', type(a).__name__\n"
                      "assert (a.x, a.y, b.x, b.y) == (3, 'x', 4, 'y')\n"
                      "del a, b\n")

    def test_scoped_store_outlives_the_senders_handle(self):
        store = frost.freeze({"k": list(range(100))})
        self.link.send(store.root["k"])
        del store            # the message holds its own store reference
        gc.collect()
        self.link.run("v = recv()\nassert sum(v) == 4950, sum(v)\ndel v\n")
        gc.collect()
        self.assertEqual(_frost._live_stores(), self.stores_before)

    def test_undelivered_messages_release_their_stores(self):
        store = frost.freeze({"k": [1, 2, 3]})
        for _ in range(3):
            self.link.send(store.root)
        store.close()
        self.link.close()            # drops the undelivered data
        self.link = _Link()          # for tearDown
        del store
        gc.collect()
        self.assertEqual(_frost._live_stores(), self.stores_before)

    def test_sender_that_ends_drops_its_data_and_releases_the_store(self):
        # The stdlib unbinds what an ended interpreter sent (3.12 closes the
        # channel, 3.13 leaves UnboundItem markers); frost's free function
        # releases the store either way.
        self.link.run("import frost\n"
                      "s = frost.freeze({'k': [1, 2, 3]})\n"
                      + ("import _xxinterpchannels\n_xxinterpchannels.send(cid, s.root)\n"
                         if PY == (3, 12) else "q.put(s.root, syncobj=True)\n"))
        gc.collect()
        self.assertEqual(_frost._live_stores(), self.stores_before + 1)   # in flight
        if PY == (3, 12):
            _interpreters.destroy(self.link.interp)
            self.link.interp = _interpreters.create(isolated=True)   # for tearDown
        else:
            self.link.interp.close()
            self.link.interp = _interpreters.create()
        gc.collect()
        self.assertEqual(_frost._live_stores(), self.stores_before)


if __name__ == "__main__":
    unittest.main()
