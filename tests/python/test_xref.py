"""Cross-interpreter references (views/xref.c): who owns a store or channel
reference while it travels, and what a hostile caller of the private
functions can do with one (issue 14: items 1, 5, 6, 17).

The rule under test: a sent reference is released exactly once, by whoever
ends its message's life (the receiver after loading it, or the sender's side
when it is never delivered); importing never releases, releasing twice is a
no-op, and no Python call -- private or not -- can free memory a live view
reads.
"""
import _thread
import concurrent.futures as cf
import functools
import gc
import copy
import os
import pickle
import random
import signal
import sys
import textwrap
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _interp_compat  # noqa: E402
import frost  # noqa: E402
import poolwork  # noqa: E402
from frost import _frost, _transport  # noqa: E402
from frostcheck import LeakCheckedTestCase, SharedPool, live, run_child  # noqa: E402


def in_flight():
    """Sent references not yet released (stores and channels)."""
    gc.collect()
    return _frost._live_xrefs()


class RunningTaskIsNotCancellable(LeakCheckedTestCase):
    """Item 1: concurrent.futures semantics -- a task a worker has taken is
    running: cancel() is False, running() is True, and its result (a view)
    arrives intact and is released once."""

    def test_cancel_of_a_running_task_fails_and_its_view_stays_valid(self):
        with frost.Pool(1) as pool:
            started, gate = frost.Channel(), frost.Channel()
            fut = pool.submit(poolwork.gated_freeze, started, gate, 1000)
            self.assertEqual(started.recv(timeout=60), "started")
            self.assertFalse(fut.cancel())
            self.assertTrue(fut.running())
            self.assertFalse(fut.cancelled())
            gate.send(None)
            view = fut.result(timeout=60)
            self.assertEqual(len(view), 1000)
            self.assertEqual(sum(view), sum(range(1000)))
            del view, fut
        self.assertEqual(in_flight(), 0)

    def test_cancel_of_a_queued_task_means_it_never_runs(self):
        store = frost.freeze({"k": list(range(10))})
        with frost.Pool(1) as pool:
            started, gate, marks = frost.Channel(), frost.Channel(), frost.Channel()
            busy = pool.submit(poolwork.gated_freeze, started, gate, 10)
            self.assertEqual(started.recv(timeout=60), "started")
            queued = pool.submit(poolwork.mark, marks, store.root["k"])
            self.assertFalse(queued.running())
            self.assertTrue(queued.cancel())
            self.assertTrue(queued.cancelled())
            with self.assertRaises(cf.CancelledError):
                queued.result(timeout=0)
            done, _ = cf.wait([queued], timeout=0)   # wait() sees it done at once
            self.assertEqual(done, {queued})
            gate.send(None)
            self.assertEqual(len(busy.result(timeout=60)), 10)
            after = pool.submit(poolwork.mark, marks, "after")
            self.assertEqual(after.result(timeout=60), "after")
            # the cancelled task never ran: only "after" was marked
            self.assertEqual(marks.recv(timeout=60), "after")
            self.assertEqual(len(marks), 0)
            del busy
        store.close()
        del store
        self.assertEqual(in_flight(), 0)

    def test_map_timeout_cancels_only_what_has_not_started(self):
        with frost.Pool(1) as pool:
            started, gate = frost.Channel(), frost.Channel()
            it = pool.map(poolwork.gated_freeze, [started] * 3, [gate] * 3, [5] * 3, timeout=0.2)
            self.assertEqual(started.recv(timeout=60), "started")
            with self.assertRaises(cf.TimeoutError):
                next(it)
            gate.send(None)   # the running one finishes; the other two were cancelled
        self.assertEqual(in_flight(), 0)


class SliceReferencesAreCheckedWithoutOverflow(LeakCheckedTestCase):
    """Item 5: every field of a reference is range-checked without overflow."""

    def forged(self, view, start, step, length):
        fn, args = view.__reduce__()
        return fn, args[:3] + ((start, step, length),)

    def test_wrapping_slices_are_refused(self):
        store = frost.freeze(list(range(10)))
        big = 2**62
        bad = [(0, big, 5), (0, -big, 5), (9, big, 5), (0, 2**61, 9), (1, 3, 2**62),
               (0, 1, 11), (-1, 1, 1), (0, 0, 1), (0, 1, -1), (0, sys.maxsize, 3),
               (5, -sys.maxsize - 1, 2), (sys.maxsize, 1, 1), (0, 2**63, 1), (2**64, 1, 0)]
        for fields in bad:
            with self.subTest(fields=fields):
                fn, args = self.forged(store.root[1:3], *fields)
                with self.assertRaises((ValueError, OverflowError)):
                    fn(*args)
        # honest slices still rebuild, empty ones included
        for sl in [slice(None), slice(None, None, -1), slice(2, 9, 3), slice(9, 0, -4),
                   slice(5, 5)]:
            view = store.root[sl]
            self.assertEqual(list(pickle.loads(pickle.dumps(view))), list(range(10))[sl])
        store.close()

    def test_forged_slice_reads_nothing_out_of_bounds(self):
        # before the fix: (0, 2**62, 5) passed the check (4 * 2**62 wraps to 0) and
        # item 1 read 2**62 items past the list
        proc = run_child(textwrap.dedent("""
            import frost
            store = frost.freeze(list(range(10)))
            fn, args = store.root[1:3].__reduce__()
            try:
                view = fn(*args[:3], (0, 2**62, 5))
            except ValueError as exc:
                print("refused", exc)
            else:
                print("accepted", view[1])
        """))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("refused", proc.stdout)


PRIVATE_ABUSE = textwrap.dedent("""
    import gc, pickle
    import frost
    from frost import _frost
    store = frost.freeze({"data": list(range(100))})
    view = store.root["data"]
    store.close(); del store
    live = _frost._live_stores()

    ticket = _frost._export(view)
    for _ in range(3):
        _frost._discard(ticket)              # twice or more: the second is a no-op
    for _ in range(3):
        try:
            _frost._import(ticket)           # released: refused
        except Exception as exc:
            pass
    ch = frost.Channel()
    cticket = _frost._export(ch)
    for _ in range(3):
        _frost._discard(cticket)
    fn, args = ch.__reduce__()
    for forged in [args + (1,), args + (5,), (args[0], args[1], 2**31)]:
        try:
            fn(*forged)                      # no count can be forged any more
        except Exception:
            pass
    handles = [fn(*args) for _ in range(5)]
    del handles; gc.collect()
    ch.send("still here")
    print("channel", ch.recv(timeout=1))
    for bogus in [None, (), (1,), (1, 2), (1, 2, 3), "x", b"x" * 16, 2**70, -1,
                  (2**64, 2**64), (-1, -1)]:
        for name in ("_import", "_discard"):
            try:
                getattr(_frost, name)(bogus)
            except Exception:
                pass
    gc.collect()
    print("stores", _frost._live_stores() == live, "sum", sum(view))
""")


class PrivateCallsCannotFreeLiveMemory(unittest.TestCase):
    """Item 6: repeated, forged or out-of-order calls of the private
    reference functions never free a store (or channel) under a live view."""

    def test_private_reference_functions_abused(self):
        proc = run_child(PRIVATE_ABUSE)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("channel still here", proc.stdout)
        self.assertIn(f"stores True sum {sum(range(100))}", proc.stdout)

    def test_import_many_times_release_once(self):
        before = live()
        store = frost.freeze([1, 2, 3])
        ticket = _frost._export(store.root)
        views = [_frost._import(ticket) for _ in range(3)]
        _frost._discard(ticket)
        _frost._discard(ticket)
        store.close()
        del store
        self.assertEqual([list(v) for v in views], [[1, 2, 3]] * 3)
        del views
        self.assertEqual(live(), before)
        self.assertEqual(in_flight(), 0)


class HostileMessages(LeakCheckedTestCase):
    """Corrupted or forged message bytes and tickets: clean errors, nothing
    released that a live view needs, nothing leaked."""

    def test_corrupt_messages_are_refused_and_release_nothing_live(self):
        store = frost.freeze({"k": list(range(10))})
        view = store.root["k"]
        good = _transport.dumps([view, view[0:9:3]])
        body = len(good) - 2 * 16 - 8   # the pickle, 2 tickets, (u32 count, magic)
        self.assertEqual(len(_frost._message_tickets(good)), 2)
        forged_ref = pickle.dumps(ForgedRef(0, 12345))   # a ticket id not in the message
        corrupt = [b"", b"FXM2", good[-7:], good[:-4] + b"XXXX", good[:-3],
                   good[:-8] + b"\xff\xff\xff\xff" + good[-4:],
                   good[:body] + b"\x00" * 32 + good[-8:],                   # tickets zeroed
                   good[:body] + good[body + 16:-8] + b"\x01\x00\x00\x00" + good[-4:],  # one lost
                   _frost._message([], b"\x80\x05K"),                       # truncated pickle
                   _frost._message([], b"\x80\x05K\x00Q."),                  # a persistent id
                   _frost._message([(1, 2)], forged_ref),
                   _frost._message(list(_frost._message_tickets(good)), forged_ref),
                   _frost._message([], pickle.dumps(ForgedRef(-1, 1))),
                   _frost._message([], pickle.dumps(ForgedRef("x", 1)))]
        for data in corrupt:
            with self.subTest(data=data[:40]):
                with self.assertRaises(Exception):
                    _transport.loads(data)
                _transport.discard(data)
        self.assertEqual(list(view), list(range(10)))
        good = _transport.dumps([view, view[0:9:3]])   # the copies above shared its tickets
        self.assertEqual([list(x) for x in _transport.loads(good)], [list(range(10)), [0, 3, 6]])
        _transport.discard(good)
        store.close()
        del view, store
        self.assertEqual(in_flight(), 0)

    def test_bad_tickets_are_clean_errors(self):
        for bad in [None, 1, (), (1,), (1, 2, 3), ("a", 1), (-1, 0), (2**64, 0), (0, 2**64),
                    (1.5, 2), [1, 2]]:
            with self.subTest(ticket=bad):
                with self.assertRaises((TypeError, ValueError)):
                    _frost._import(bad)
                with self.assertRaises((TypeError, ValueError)):
                    _frost._discard(bad)
        self.assertFalse(_frost._discard((12345, 678)))   # well formed, never issued
        with self.assertRaises(TypeError):
            _frost._export([1, 2])
        for bad in [(1,), (1, 2, 3), (-1, 2), (2**64, 1), ("x", 1)]:
            with self.subTest(attach=bad):
                with self.assertRaises((TypeError, ValueError)):
                    _frost._channel_attach(*bad)

    def test_forged_rebuild_fields_are_refused(self):
        store = frost.freeze([1, 2, 3])
        fn, args = store.root.__reduce__()
        for forged in [(args[0] + 1,) + args[1:], (args[0], args[1] + 8, args[2]),
                       (args[0], args[1], args[2] ^ 1), (-1,) + args[1:], (2**64,) + args[1:],
                       (args[0], -args[1], args[2]), args[:2], args + ((0, 1, 1), 5),
                       args + ("slice",), args + ((0, 1),), args + ((0.0, 1, 1),)]:
            with self.subTest(forged=forged):
                with self.assertRaises((TypeError, ValueError, frost.StoreClosedError)):
                    fn(*forged)
        self.assertEqual(list(fn(*args)), [1, 2, 3])
        store.close()


class Bomb:
    def __reduce__(self):
        return (poolwork.explode, ())


class ForgedRef:
    """Pickles as a message reference (index, ticket id) made up by hand."""

    def __init__(self, index, ticket):
        self.args = (index, ticket)

    def __reduce__(self):
        return (_frost._ticket_ref, self.args)


class RaisesWhenPickled:
    def __init__(self, exc):
        self.exc = exc

    def __reduce__(self):
        raise self.exc


class InterruptedWhenPickled:
    """Ctrl-C arriving while its message is pickled (after a view was captured)."""

    def __reduce__(self):
        signal.raise_signal(signal.SIGINT)   # the handler raises at the next bytecode
        return (int, (0,))


class PicklesItsViewItself:
    """A reducer that pickles (or copies) a view in its own code: the plain way."""

    def __init__(self, view, how):
        self.view, self.how = view, how

    def __reduce__(self):
        if self.how == "pickle":
            return (pickle.loads, (pickle.dumps(self.view),))
        if self.how == "deepcopy":
            return (list, (list(copy.deepcopy(self.view)),))
        fn, args = self.view.__reduce__()
        return (fn, args)


SUBINTERPRETER_SENDS = textwrap.dedent("""
    import pickle
    import frost
    from frost import _frost, _transport
    store = frost.freeze([1, 2, 3])
    assert b"_ticket_ref" not in pickle.dumps(store.root), "captured into another interpreter's message"
    message = _transport.dumps([store.root, store.root[1:]])
    assert len(_frost._message_tickets(message)) == 2, _frost._message_tickets(message)
    assert [list(x) for x in _transport.loads(message)] == [[1, 2, 3], [2, 3]]
""")


class RunsASubinterpreter:
    """Runs an own-GIL subinterpreter on this thread that sends views of its
    own, both while its message is pickled and while it is loaded."""

    def __reduce__(self):
        _interp_compat.run(SUBINTERPRETER_SENDS)
        return (_interp_compat.run, (SUBINTERPRETER_SENDS,))


def interrupt(*args):
    raise KeyboardInterrupt


class InterruptedWhenLoaded:
    def __reduce__(self):
        return (interrupt, ())


class SendsItsViewItself:
    """A reducer that makes a message of its own; loading it loads that message
    (a dumps inside a dumps, a loads inside a loads)."""

    def __init__(self, view):
        self.view = view

    def __reduce__(self):
        return (_transport.loads, (_transport.dumps(self.view),))


class MessagesAreReleasedExactlyOnce(SharedPool, LeakCheckedTestCase):
    """Item 17: every path a message can take -- delivered, failed half way,
    never delivered, cancelled -- releases its references exactly once."""

    def setUp(self):
        super().setUp()
        self.store = frost.freeze({"rows": [[i, str(i)] for i in range(50)]})
        self.view = self.store.root["rows"]

    def tearDown(self):
        self.store.close()
        del self.store, self.view
        self.assertEqual(in_flight(), 0)
        super().tearDown()

    def test_partial_holding_a_view(self):
        fn = functools.partial(poolwork.first_of, self.view)
        self.assertEqual(self.pool.submit(fn, 1, 2).result(timeout=60), 3)

    def test_exception_holding_a_view(self):
        fut = self.pool.submit(poolwork.raise_holding, self.view)
        with self.assertRaises(ValueError) as cm:
            fut.result(timeout=60)
        self.assertEqual(frost.thaw(cm.exception.args[1]), frost.thaw(self.view))
        del cm, fut

    def test_arguments_that_fail_to_unpickle_half_way(self):
        fut = self.pool.submit(poolwork.first_of, self.view, Bomb(), self.view[1])
        with self.assertRaises(RuntimeError):
            fut.result(timeout=60)
        del fut

    def test_result_that_fails_to_unpickle_half_way(self):
        fut = self.pool.submit(poolwork.return_bomb_then, self.view)
        with self.assertRaises(RuntimeError):
            fut.result(timeout=60)
        del fut

    def test_channel_message_that_fails_to_unpickle_half_way(self):
        ch = frost.Channel()
        ch.send((self.view, Bomb(), self.view[2]))
        with self.assertRaises(RuntimeError):
            ch.recv(timeout=1)
        ch.send((self.view[3], Bomb()))
        del ch   # never received: released with the channel

    def test_channel_sent_on_itself_and_dropped(self):
        channels_before = _frost._live_channels()
        ch = frost.Channel()
        ch.send((ch, self.view))
        ch.send([ch, ch])
        del ch
        gc.collect()
        self.assertEqual(_frost._live_channels(), channels_before)

    def test_channels_sent_on_each_other_and_dropped(self):
        channels_before = _frost._live_channels()
        a, b = frost.Channel(), frost.Channel()
        a.send((b, self.view))
        b.send((a, self.view[0]))
        del a, b
        gc.collect()
        self.assertEqual(_frost._live_channels(), channels_before)

    def test_many_reply_channels_queued_then_dropped(self):
        # each dropped handle ran the collection over every ticket in flight
        # (O(N^2) for N reply channels queued then dropped: 10,000 took 28 s;
        # with a linear search of its candidates, O(N^3)); now it walks the
        # tickets to the dropped channel and the channels they are queued in:
        # a few steps a drop, however many tickets are in flight. Those
        # received stay usable, the rest go with the queue.
        n = 20000
        channels_before = _frost._live_channels()
        requests = frost.Channel()
        steps_before = _frost._collect_steps()
        for i in range(n):
            reply = frost.Channel()
            reply.send(i)
            requests.send(reply)
            del reply
        self.assertLess(_frost._collect_steps() - steps_before, 10 * n)
        self.assertEqual(_frost._live_channels(), channels_before + n + 1)
        for i in range(n // 2):
            self.assertEqual(requests.recv(timeout=1).recv(timeout=1), i)
        self.assertLess(_frost._collect_steps() - steps_before, 20 * n)
        del requests
        gc.collect()
        self.assertEqual(_frost._live_channels(), channels_before)

    def test_collection_walks_chains_and_cycles_of_handleless_channels(self):
        # a chain a <- b <- c (each queued in the next) held by `root`, and a
        # ring of three channels queued in each other: dropping the handles
        # collects the ring, never the chain while root holds it
        channels_before = _frost._live_channels()
        root = frost.Channel()
        holder = root
        for _ in range(3):
            c = frost.Channel()
            holder.send(c)
            holder = c
        del c, holder
        x, y, z = frost.Channel(), frost.Channel(), frost.Channel()
        x.send(y)
        y.send(z)
        z.send(x)
        z.send(self.view)
        del x, y
        self.assertEqual(_frost._live_channels(), channels_before + 7)
        del z
        self.assertEqual(_frost._live_channels(), channels_before + 4)
        c = root.recv(timeout=1)
        del root
        self.assertEqual(_frost._live_channels(), channels_before + 3)
        c = c.recv(timeout=1).recv(timeout=1)
        c.send("still usable")
        self.assertEqual(c.recv(timeout=1), "still usable")
        del c
        self.assertEqual(_frost._live_channels(), channels_before)

    def test_a_chain_grown_at_its_tail_costs_a_few_steps_a_drop(self):
        # a chain of handle-less channels, each queued in the one made before
        # it, grown at its tail while the handles are dropped: each drop
        # walked back to the chain's held head, O(length) a drop (2,000:
        # 4,000,000 steps; 8,000: 64M, 2.9 s); the walk forward from the
        # dropped channel meets the tail's handle in a step or two. The chain
        # stays whole, and a ring hung on its tail goes with it, not before.
        n = 2000
        channels_before = _frost._live_channels()

        def chain():
            root = frost.Channel()
            steps_before = _frost._collect_steps()
            tail = root
            for _ in range(n):
                c = frost.Channel()
                tail.send(c)
                tail = c
            del c
            self.assertLess(_frost._collect_steps() - steps_before, 20 * n)
            x, y = frost.Channel(), frost.Channel()
            tail.send(x)
            x.send(y)
            y.send(x)
            y.send(self.view)
            return root

        walked, dropped = chain(), chain()
        self.assertEqual(_frost._live_channels(), channels_before + 2 * (n + 3))
        c = walked
        for _ in range(n):
            c = c.recv(timeout=1)
            self.assertFalse(c.closed)
        x = c.recv(timeout=1)
        y = x.recv(timeout=1)
        self.assertIsInstance(y.recv(timeout=1), frost.Channel)
        self.assertEqual(len(y.recv(timeout=1)), len(self.view))
        del c, x, y
        self.assertEqual(_frost._live_channels(), channels_before + 1 + n + 3)
        del dropped
        self.assertEqual(_frost._live_channels(), channels_before + 1)
        del walked
        self.assertEqual(_frost._live_channels(), channels_before)
        self.assertEqual(in_flight(), 0)

    def test_collection_frees_exactly_the_channels_no_handle_reaches(self):
        # random graphs of channels queued in each other (chains, rings,
        # channels sent on themselves, several tickets to one), their handles
        # dropped and their messages received in random orders: after every
        # step the live channels are those that a handle reaches through
        # queued messages, none of them closed
        rng = random.Random(1729)
        channels_before = _frost._live_channels()
        for _ in range(300):
            k = rng.randint(1, 7)
            held = {i: frost.Channel() for i in range(k)}   # model index -> a handle
            queues = [[] for _ in range(k)]                  # the indices each message carries
            for _ in range(rng.randint(1, 4 * k)):
                if held and rng.random() < 0.75:
                    i = rng.choice(list(held))
                    carried = [rng.choice(list(held)) for _ in range(rng.randint(1, 2))]
                    held[i].send(tuple(held[j] for j in carried))
                    queues[i].append(carried)
                elif held:
                    del held[rng.choice(list(held))]
                reachable, todo = set(), list(held)
                while todo:
                    i = todo.pop()
                    if i not in reachable:
                        reachable.add(i)
                        todo.extend(j for msg in queues[i] for j in msg)
                self.assertEqual(_frost._live_channels() - channels_before, len(reachable))
                full = [i for i in held if queues[i]]
                if full and rng.random() < 0.3:
                    i = rng.choice(full)
                    got = held[i].recv(timeout=1)
                    carried = queues[i].pop(0)
                    self.assertEqual(len(got), len(carried))
                    for j, ch in zip(carried, got):
                        self.assertFalse(ch.closed)
                        if rng.random() < 0.5:
                            held.setdefault(j, ch)
                    del got, ch
            del held
            self.assertEqual(_frost._live_channels(), channels_before)
        self.assertEqual(in_flight(), 0)

    def test_chains_and_rings_churned_by_pool_workers_are_all_collected(self):
        # the collections of poolwork.channel_chain_churn run at once on each
        # worker's thread (own GILs), while this interpreter receives and
        # drops what they hand over (a chain's head, one of a pair): a
        # collection that leaves a channel to another's (views/xref.c) never
        # leaves one behind, nor drains one still reachable
        channels_before = _frost._live_channels()
        shared = frost.Channel()
        futures = [self.pool.submit(poolwork.channel_chain_churn, shared, seed, 100)
                   for seed in range(4)]
        while not all(f.done() for f in futures) or len(shared):
            try:
                got = shared.recv(timeout=0.05)
            except TimeoutError:
                continue
            self.assertFalse(got.closed)
            del got
        self.assertEqual([f.result() for f in futures], list(range(4)))
        del shared, futures
        gc.collect()
        self.assertEqual(_frost._live_channels(), channels_before)

    def test_cycles_dropped_and_received_by_many_threads_are_all_collected(self):
        # collections run on every thread that drops a handle or releases a
        # ticket, each walking its own neighbourhood under the ticket table's
        # lock: pairs sent on each other, channels sent on themselves, and
        # channels that other threads receive (and drop) from a shared queue
        channels_before = _frost._live_channels()
        shared = frost.Channel()
        rounds, senders = 300, 4

        def send():
            for i in range(rounds):
                a, b = frost.Channel(), frost.Channel()
                a.send(b)
                b.send(a)
                b.send(self.view[i % 10])
                a.send(a)
                shared.send(a if i % 2 else b)
                del a, b

        def receive():
            for _ in range(rounds * senders):
                got = shared.recv(timeout=60)
                del got

        threads = [threading.Thread(target=send) for _ in range(senders)]
        threads.append(threading.Thread(target=receive))
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(len(shared), 0)
        del shared
        gc.collect()
        self.assertEqual(_frost._live_channels(), channels_before)
        self.assertEqual(in_flight(), 0)

    def test_channel_sent_on_itself_is_still_usable_while_held(self):
        ch = frost.Channel()
        ch.send(ch)
        again = ch.recv(timeout=1)
        again.send(self.view)
        self.assertEqual(frost.thaw(ch.recv(timeout=1)), frost.thaw(self.view))

    def test_channel_that_travels_in_a_task_survives_its_only_handle(self):
        ch = frost.Channel()
        ch.send(self.view[4])
        fut = self.pool.submit(poolwork.channel_recv_one, ch, 60)
        del ch
        self.assertEqual(frost.thaw(fut.result(timeout=60)), [4, "4"])

    def test_payload_loaded_twice_cannot_double_release(self):
        data = _transport.dumps([self.view, self.view[0]])
        first = _transport.loads(data)
        with self.assertRaises(Exception):
            _transport.loads(data)   # its references were released by the first load
        _transport.discard(data)     # and releasing again is a no-op
        self.assertEqual(frost.thaw(first[0]), frost.thaw(self.view))
        del first


class TransportCapture(LeakCheckedTestCase):
    """Issue 17: a message pickles with pickle.dumps itself; the by-reference
    types become tickets only for the pickler of a transport dumps on their
    own thread (views/xref.c section 3), and every ticket exported is
    released exactly once, whatever fails or interrupts half way."""

    def setUp(self):
        super().setUp()
        self.store = frost.freeze({"a": list(range(10)), "b": {"x": 1}, "c": [[1, "one"]]})
        self.a, self.b, self.c = (self.store.root[k] for k in "abc")

    def tearDown(self):
        self.store.close()
        del self.store, self.a, self.b, self.c
        self.assertEqual(in_flight(), 0)
        super().tearDown()

    def test_plain_pickle_outside_a_message_is_a_plain_reference(self):
        for obj in (self.a, self.a[1:8:3], self.store, frost.Channel()):
            data = pickle.dumps(obj)
            self.assertNotIn(b"_ticket_ref", data)
            self.assertEqual(in_flight(), 0)
            self.assertEqual(type(pickle.loads(data)), type(obj))
        message = _transport.dumps((self.a, self.store, frost.Channel()))
        self.assertEqual(len(_frost._message_tickets(message)), 3)
        self.assertEqual(in_flight(), 3)
        _transport.discard(message)

    def test_an_object_sent_twice_is_one_ticket_and_one_object(self):
        message = _transport.dumps([self.a, self.a, {"again": self.a}])
        self.assertEqual(len(_frost._message_tickets(message)), 1)
        x, y, z = _transport.loads(message)
        self.assertIs(x, y)
        self.assertIs(x, z["again"])
        self.assertEqual(list(x), list(range(10)))

    def test_user_code_during_pickling_gets_plain_references(self):
        for how in ("pickle", "deepcopy", "reduce"):
            with self.subTest(how=how):
                message = _transport.dumps((PicklesItsViewItself(self.a, how), self.b))
                self.assertEqual(len(_frost._message_tickets(message)), 1)   # self.b only
                inner, b = _transport.loads(message)
                self.assertEqual(list(inner), list(range(10)))
                self.assertEqual(frost.thaw(b), {"x": 1})

    def test_reentrant_dumps_and_loads(self):
        message = _transport.dumps((self.a, SendsItsViewItself(self.b),
                                    SendsItsViewItself([self.c, SendsItsViewItself(self.a)]), self.c))
        self.assertEqual(len(_frost._message_tickets(message)), 2)   # a, c; the rest nested
        self.assertEqual(in_flight(), 2 + 1 + 1 + 1)   # and one in each nested message
        a, b, (c, a2), c2 = _transport.loads(message)
        self.assertEqual(frost.thaw(b), {"x": 1})
        self.assertEqual(list(a), list(a2))
        self.assertEqual(frost.thaw(c), [[1, "one"]])
        self.assertEqual(frost.thaw(c2), [[1, "one"]])
        self.assertEqual(in_flight(), 0)

    def test_a_reducer_that_raises_after_a_view_was_captured(self):
        for exc, raised in [(ValueError("no"), ValueError), (TypeError("no"), TypeError),
                            (pickle.PicklingError("no"), TypeError),
                            (KeyboardInterrupt(), KeyboardInterrupt), (SystemExit(3), SystemExit)]:
            with self.subTest(exc=type(exc).__name__):
                with self.assertRaises(raised) as cm:
                    _transport.dumps([self.a, frost.Channel(), self.store, RaisesWhenPickled(exc)])
                if raised is TypeError:
                    self.assertRegex(str(cm.exception), r"^cannot send list object \[.*to another "
                                     r"interpreter: no$")
                    self.assertIs(cm.exception.__cause__, exc)
                self.assertEqual(in_flight(), 0)
                del cm

    def test_interrupt_inside_dumps(self):
        with self.assertRaises(KeyboardInterrupt):
            _transport.dumps([self.a, self.c[0], InterruptedWhenPickled(), self.b])
        self.assertEqual(in_flight(), 0)
        with self.assertRaises(KeyboardInterrupt):
            _transport.check_sendable((self.store, InterruptedWhenPickled()))
        self.assertEqual(in_flight(), 0)

    def test_too_deep_a_message_leaves_no_ticket(self):
        # views captured on the way down, then pickle's recursion limit: every ticket
        # the failed dumps took is released (store, view, channel and a mapped image's fd)
        with frost.share([1, 2]) as mapped:
            fds = len(os.listdir("/proc/self/fd"))
            deep = [self.a, frost.Channel(), self.store, mapped.root]
            for _ in range(100_000):
                deep = [deep, self.b]
            with self.assertRaises((RecursionError, TypeError)):
                _transport.dumps(deep)
            self.assertEqual(in_flight(), 0)
            self.assertEqual(len(os.listdir("/proc/self/fd")), fds)
            self.assertEqual(_transport.loads(_transport.dumps([mapped.root, self.a]))[0][1], 2)
            self.assertEqual(in_flight(), 0)

    def test_many_tickets_in_one_message(self):
        views = [self.a[i:] for i in range(10)] * 3 + [self.a[:i] for i in range(1, 10)]
        message = _transport.dumps(views)
        self.assertEqual(len(_frost._message_tickets(message)), 19)   # a repeat is one ticket
        self.assertEqual([list(v) for v in _transport.loads(message)], [list(v) for v in views])
        self.assertEqual(in_flight(), 0)
        with self.assertRaises(ValueError):
            _transport.dumps(views + [RaisesWhenPickled(ValueError("late"))])
        self.assertEqual(in_flight(), 0)

    def test_interrupt_inside_loads(self):
        message = _transport.dumps([self.a, InterruptedWhenLoaded(), self.b])
        with self.assertRaises(KeyboardInterrupt):
            _transport.loads(message)
        self.assertEqual(in_flight(), 0)

    @unittest.skipUnless(_interp_compat.AVAILABLE, "no subinterpreter API in this Python")
    def test_another_interpreter_on_this_thread_sends_its_own(self):
        # dumps called from a thread's only Python frame, and the subinterpreter's
        # module code pickling, run at the same Python depth: only the thread state
        # tells the two interpreters apart
        out, done = [], threading.Event()

        def send():
            try:
                out.append(_transport.dumps((self.a, RunsASubinterpreter(), self.b)))
            except BaseException as exc:
                out.append(exc)
            done.set()

        _thread.start_new_thread(send, ())
        self.assertTrue(done.wait(120))
        message = out.pop()
        if isinstance(message, BaseException):
            raise message
        self.assertEqual(len(_frost._message_tickets(message)), 2)
        a, _, b = _transport.loads(message)
        self.assertEqual(list(a), list(range(10)))
        self.assertEqual(frost.thaw(b), {"x": 1})
        del a, b

    def test_unpicklable_and_closed_are_named_and_hold_nothing(self):
        with self.assertRaisesRegex(TypeError, r"cannot send tuple object \(.*lambda"):
            _transport.dumps((self.a, lambda: 1))
        with self.assertRaisesRegex(TypeError, r"cannot send dict object .*_thread.lock"):
            _transport.dumps({"view": self.a, "lock": threading.Lock(), "channel": frost.Channel()})
        closed = frost.freeze([1])
        closed.close()
        with self.assertRaisesRegex(frost.StoreClosedError, "sending of a closed"):
            _transport.dumps((self.a, closed))
        self.assertEqual(in_flight(), 0)

    def test_message_references_resolve_only_while_their_message_loads(self):
        message = _transport.dumps([self.a])
        (ticket,) = _frost._message_tickets(message)
        with self.assertRaisesRegex(ValueError, "outside the loading of its message"):
            _frost._ticket_ref(0, ticket[0])
        with self.assertRaisesRegex(ValueError, "outside the loading of its message"):
            pickle.loads(message)   # the pickle alone: no message is loading
        self.assertEqual(in_flight(), 1)
        self.assertEqual(list(_transport.loads(message)[0]), list(range(10)))
        for bad in [(), (0,), (0, 1, 2), ("0", 1), (0, -1), (0, 2**64)]:
            with self.subTest(args=bad):
                with self.assertRaises((TypeError, ValueError)):
                    _frost._ticket_ref(*bad)

    def test_loads_consume_false_then_discard(self):
        message = _transport.dumps((self.a, self.store))
        first = _transport.loads(message, consume=False)
        second = _transport.loads(message, consume=False)
        self.assertEqual(in_flight(), 2)
        _transport.discard(message)
        self.assertEqual(in_flight(), 0)
        self.assertEqual(list(first[0]), list(second[0]))
        for bad in [dict(consume=True, other=1), dict(other=1)]:
            with self.assertRaises(TypeError):
                _transport.loads(message, **bad)
        with self.assertRaises(TypeError):
            _transport.loads()
        with self.assertRaises(ValueError):
            _transport.loads(b"not a message")
        del first, second

    def test_threads_sending_views_while_others_pickle_them_plainly(self):
        views = [self.a, self.b, self.c, self.a[::2], self.store]
        errors, barrier = [], threading.Barrier(4)

        def sender(k):
            barrier.wait()
            for i in range(300):
                obj = (views[(i + k) % len(views)], i, [views[k % len(views)]] * 2)
                message = _transport.dumps(obj)
                if len(_frost._message_tickets(message)) != (1 if obj[0] is obj[2][0] else 2):
                    errors.append(("tickets", k, i))
                back = _transport.loads(message)
                if back[1] != i or type(back[0]) is not type(obj[0]):
                    errors.append(("value", k, i))

        def plain(k):
            barrier.wait()
            for i in range(300):
                data = pickle.dumps(views[(i + k) % len(views)])
                if b"_ticket_ref" in data:
                    errors.append(("captured", k, i))

        threads = [threading.Thread(target=f, args=(k,)) for k, f in
                   enumerate([sender, sender, plain, plain])]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])

    def test_messages_of_mapped_stores_share_one_fd_per_file(self):
        # before the fix each message's fd ticket held a dup of its own: 250 channel
        # messages or pool tasks carrying views of one mapped store ran the process
        # out of fds (EMFILE under RLIMIT_NOFILE 256, a TypeError from Pool.submit).
        # Now the tickets in flight of one file share one dup, closed by the last.
        proc = run_child(textwrap.dedent("""
            import gc, os, resource, tempfile, frost
            from frost import _frost, _transport
            def fds():
                gc.collect()
                return len(os.listdir("/proc/self/fd"))
            resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
            shared = frost.share({"y": list(range(10))})
            tmp = tempfile.mkdtemp()
            path = os.path.join(tmp, "s.frost")
            frost.freeze({"y": [1, 2]}).save(path)
            loaded = frost.load(path)
            before = fds()
            ch = frost.Channel()
            for i in range(1000):   # memfd and file alike, views and stores
                ch.send((shared.root["y"], loaded.root["y"], shared if i % 2 else loaded))
            print("queued", fds() - before, _frost._live_xrefs())
            messages = [_transport.dumps([shared, loaded.root]) for _ in range(1000)]
            print("held", fds() - before)
            for i in range(500):
                got = ch.recv()
                assert list(got[0]) == list(range(10)) and list(got[1]) == [1, 2], got
            for m in messages[::2]:
                _transport.discard(m)
            os.unlink(path)   # still received: the fd travels
            for m in messages[1::2]:
                back = _transport.loads(m)
                assert list(back[1]["y"]) == [1, 2]
            del ch, got, back, messages
            print("after", fds() - before, _frost._live_xrefs())
        """))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.split(), ["queued", "2", "2000", "held", "2", "after", "0", "0"])

    def test_threads_sharing_the_fds_of_mapped_stores(self):
        # fd tickets of three mapped stores made, loaded and discarded by four threads
        # at once: every message reads its own store, and the shared fds all close
        def fds():
            gc.collect()
            return len(os.listdir("/proc/self/fd"))
        stores = [frost.share([i]) for i in range(3)]
        before, errors, barrier = fds(), [], threading.Barrier(4)

        def sender(k):
            barrier.wait()
            held = []
            for i in range(600):
                message = _transport.dumps([stores[(i + k) % 3].root, stores[k % 3]])
                if i % 3 == 0:
                    held.append(message)
                elif i % 3 == 1:
                    _transport.discard(message)
                elif _transport.loads(message)[0][0] != (i + k) % 3:
                    errors.append((k, i))
                if len(held) > 50:
                    for message in held:
                        _transport.discard(message)
                    held = []
            for message in held:
                if _transport.loads(message)[1].root[0] != k % 3:
                    errors.append((k, "held"))

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        self.assertEqual((fds() - before, in_flight()), (0, 0))
        for store in stores:
            store.close()


if __name__ == "__main__":
    unittest.main()
