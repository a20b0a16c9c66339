"""A model-based test of message ownership (issue 14, item 17): a hypothesis
state machine over submit / cancel / raise / send / recv / close / shutdown,
checking after every step that the live stores and the sent references in
flight are exactly what the model says the program still holds.

The model tags every store; a held object (a view, a future's result or
exception, a queued message) keeps its tags alive. Channels are reachable
from what is held and, transitively, from messages queued in reachable
channels -- a channel reachable only from its own queue is garbage.
"""
import concurrent.futures as cf
import functools
import gc
import itertools
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hypothesis import HealthCheck, settings, strategies as st  # noqa: E402
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant,  # noqa: E402
                                 precondition, rule)

import frost  # noqa: E402
import poolwork  # noqa: E402
from frost import _frost  # noqa: E402

_tags = itertools.count(1)


class _Chan:
    """The model of one frost.Channel."""

    def __init__(self):
        self.real = frost.Channel()
        self.queue = []           # [(tags, channels, tickets)] per queued message
        self.closed = False


class MessageLifecycle(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        gc.collect()
        self.base_stores = _frost._live_stores()
        self.base_channels = _frost._live_channels()
        self.pool = frost.Pool(2)
        self.views = []           # [(tag, view)] held by main
        self.futures = []         # [(future, tags if it succeeds, tags if it raises)]
        self.received = []        # [(tags, channels)] objects main holds from recv
        self.channels = []        # [_Chan] main holds
        self.log = []             # the steps so far, for failure messages

    @initialize()
    def first_store(self):
        self.log.append(("first_store",))
        self.freeze(close=True)

    # ---- stores ----
    @rule(close=st.booleans())
    def freeze(self, close):
        self.log.append(("freeze", close,))
        tag = next(_tags)
        store = frost.freeze([[i, str(i)] for i in range(20)])
        self.views.append((tag, store.root))
        if close:
            store.close()
        else:
            self.views.append((tag, store))

    @precondition(lambda self: len(self.views) > 1)
    @rule(data=st.data())
    def drop_view(self, data):
        self.log.append(("drop_view",))
        self.views.pop(data.draw(st.integers(0, len(self.views) - 1)))

    def pick_view(self, data):
        tag, obj = self.views[data.draw(st.integers(0, len(self.views) - 1))]
        return tag, (obj.root if isinstance(obj, frost.Store) else obj)

    # ---- tasks ----
    @rule(data=st.data(), kind=st.sampled_from(
        ["echo", "slice", "raise", "bomb_args", "bomb_result", "partial", "freeze_in_worker"]))
    def submit(self, data, kind):
        self.log.append(("submit", kind))
        tag, view = self.pick_view(data)
        if kind == "echo":
            fut, ok, err = self.pool.submit(poolwork.echo, view), {tag}, set()
        elif kind == "slice":
            fut, ok, err = self.pool.submit(poolwork.echo, view[1:7:2]), {tag}, set()
        elif kind == "raise":
            fut, ok, err = self.pool.submit(poolwork.raise_holding, view), set(), {tag}
        elif kind == "bomb_args":
            fut, ok, err = self.pool.submit(poolwork.first_of, view, poolwork.Bomb()), set(), set()
        elif kind == "bomb_result":
            fut, ok, err = self.pool.submit(poolwork.return_bomb_then, view), set(), set()
        elif kind == "partial":
            fut, ok, err = (self.pool.submit(functools.partial(poolwork.first_of, view), 1),
                            set(), set())
        else:
            fut, ok, err = self.pool.submit(poolwork.freeze_in_worker, 5), {next(_tags)}, set()
        self.futures.append((fut, ok, err))

    @rule(data=st.data(), n=st.integers(1, 6))
    def submit_then_cancel(self, data, n):
        self.log.append(("submit_then_cancel", n,))
        tag, view = self.pick_view(data)
        futures = [self.pool.submit(poolwork.sleep_then, 0.01, view) for _ in range(n)]
        for fut in futures:
            was_running = fut.running()
            cancelled = fut.cancel()
            assert not (was_running and cancelled), "a running task was cancelled"
            self.futures.append((fut, {tag}, set()))

    @precondition(lambda self: self.futures)
    @rule(data=st.data())
    def drop_future(self, data):
        self.log.append(("drop_future",))
        self.futures.pop(data.draw(st.integers(0, len(self.futures) - 1)))

    @rule(cancel=st.booleans())
    def shutdown_and_restart(self, cancel):
        self.log.append(("shutdown_and_restart", cancel,))
        self.pool.shutdown(wait=True, cancel_futures=cancel)
        self.pool = frost.Pool(2)

    # ---- channels ----
    @rule()
    def new_channel(self):
        self.log.append(("new_channel",))
        self.channels.append(_Chan())

    @precondition(lambda self: self.channels)
    @rule(data=st.data(), shape=st.sampled_from(["view", "self_and_view", "self_twice",
                                                  "other", "bomb"]))
    def send(self, data, shape):
        self.log.append(("send", shape))
        ch = self.channels[data.draw(st.integers(0, len(self.channels) - 1))]
        tag, view = self.pick_view(data)
        other = self.channels[data.draw(st.integers(0, len(self.channels) - 1))]
        msg = {"view": (view, ({tag}, [], 1)),
               "self_and_view": ((ch.real, view), ({tag}, [ch], 2)),
               "self_twice": ([ch.real, ch.real], (set(), [ch], 1)),   # one ticket: pickle's memo
               "other": ((other.real, view), ({tag}, [other], 2)),
               "bomb": ((view, poolwork.Bomb()), ({tag}, [], 1))}[shape]
        try:
            ch.real.send(msg[0], timeout=5)
        except frost.ChannelClosedError:
            assert ch.closed
            return
        assert not ch.closed
        ch.queue.append(msg[1] + (shape == "bomb",))

    @precondition(lambda self: any(ch.queue for ch in self.channels))
    @rule(data=st.data(), keep=st.booleans())
    def recv(self, data, keep):
        self.log.append(("recv", keep,))
        ch = data.draw(st.sampled_from([ch for ch in self.channels if ch.queue]))
        tags, channels, _, bomb = ch.queue.pop(0)
        try:
            obj = ch.real.recv(timeout=5)
        except RuntimeError:
            assert bomb
            return
        assert not bomb
        if keep:
            self.received.append((tags, channels, obj))

    @precondition(lambda self: self.channels)
    @rule(data=st.data())
    def close(self, data):
        self.log.append(("close",))
        ch = self.channels[data.draw(st.integers(0, len(self.channels) - 1))]
        ch.real.close()
        ch.closed = True

    @precondition(lambda self: self.channels)
    @rule(data=st.data())
    def drop_channel(self, data):
        self.log.append(("drop_channel",))
        self.channels.pop(data.draw(st.integers(0, len(self.channels) - 1)))

    # ---- the check ----
    def reachable_channels(self):
        seen = {}
        todo = list(self.channels) + [c for _, chans, _ in self.received for c in chans]
        while todo:
            ch = todo.pop()
            if id(ch) not in seen:
                seen[id(ch)] = ch
                todo.extend(c for _, chans, _, _ in ch.queue for c in chans)
        return list(seen.values())

    @invariant()
    def live_stores_and_tickets_match_the_model(self):
        cf.wait([f for f, _, _ in self.futures], timeout=60)
        tags = {tag for tag, _ in self.views}
        for fut, ok, err in self.futures:
            assert fut.done()
            if not fut.cancelled():
                tags |= err if fut.exception() is not None else ok
        channels = self.reachable_channels()
        for tags_, _, _ in self.received:
            tags |= tags_
        tickets = 0
        for ch in channels:
            for tags_, _, n, _ in ch.queue:
                tags |= tags_
                tickets += n
        gc.collect()
        assert _frost._live_stores() - self.base_stores == len(tags), (
            _frost._live_stores() - self.base_stores, tags, self.log)
        assert _frost._live_xrefs() == tickets, (_frost._live_xrefs(), tickets, self.log)
        assert _frost._live_channels() - self.base_channels == len(channels), self.log

    def teardown(self):
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.views = self.futures = self.received = self.channels = None
        gc.collect()
        assert _frost._live_stores() == self.base_stores
        assert _frost._live_channels() == self.base_channels
        assert _frost._live_xrefs() == 0


MessageLifecycle.TestCase.settings = settings(
    max_examples=int(os.environ.get("FROST_MODEL_EXAMPLES", "8")), stateful_step_count=20,
    deadline=None, suppress_health_check=list(HealthCheck))
TestMessageLifecycle = MessageLifecycle.TestCase

if __name__ == "__main__":
    unittest.main()
