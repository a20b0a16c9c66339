"""Stress (ctest label `stress`): many interpreters read one store while
others freeze, attach, detach and close stores and channels pass views
around; afterwards every arena is freed and no store is left (issue 3).

FROST_STRESS_SCALE (default 1.0) scales the rounds; sanitizer builds set it
lower (tests/CMakeLists.txt).
"""
import gc
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import frost  # noqa: E402
import stresswork  # noqa: E402
from frost import _frost  # noqa: E402

SCALE = float(os.environ.get("FROST_STRESS_SCALE", "1.0"))


def scaled(n):
    return max(1, int(n * SCALE))


class StressTest(unittest.TestCase):
    def test_readers_writers_and_channels_together(self):
        gc.collect()
        arenas_before, stores_before = _frost._live_arenas(), _frost._live_stores()
        shared = frost.freeze({f"k{i}": (i, "v" * (i % 7)) for i in range(20_000)})
        keys = [f"k{i}" for i in range(0, 20_000, 37)]
        rounds = scaled(300)
        want_read = stresswork.read_rounds(shared.root, keys, rounds)

        passes, size = scaled(400), 50
        hop1, hop2 = frost.Channel(maxsize=8), frost.Channel()
        with frost.Pool(4) as pool:
            readers = [pool.submit(stresswork.read_rounds, shared.root, keys, rounds)
                       for _ in range(3)]
            producer = pool.submit(stresswork.freeze_and_pass, hop1, passes, size)
            relay = pool.submit(stresswork.relay_and_sum, hop1, hop2, passes)
            leases = [pool.submit(stresswork.attach_detach, shared, scaled(5000)) for _ in range(2)]
            # the main interpreter churns too: freeze and close stores while
            # the workers read
            for r in range(scaled(2000)):
                with frost.freeze({"r": r, "xs": [r] * 10}) as local:
                    self.assertEqual(local.root["xs"][9], r)
            received = 0
            for _ in range(passes):
                view = hop2.recv(timeout=120)
                received += view["v"] + sum(view["xs"])
                del view
            expected = producer.result(timeout=300)
            self.assertEqual(relay.result(timeout=300), expected)
            self.assertEqual(received, expected)
            for f in readers:
                self.assertEqual(f.result(timeout=300), want_read)
            for f in leases:
                self.assertEqual(f.result(timeout=300), len(shared.root) * scaled(5000))
        shared.close()
        del shared, hop1, hop2, readers, producer, relay, leases
        gc.collect()
        self.assertEqual(_frost._live_stores(), stores_before)
        self.assertEqual(_frost._live_arenas(), arenas_before)

    def test_many_pools_and_stores_leave_nothing_behind(self):
        gc.collect()
        arenas_before, stores_before = _frost._live_arenas(), _frost._live_stores()
        for cycle in range(scaled(20)):
            store = frost.freeze({"cycle": cycle, "data": list(range(1000))})
            with frost.Pool(3) as pool:
                got = list(pool.map(stresswork.attach_detach, [store] * 6, [scaled(50)] * 6))
            self.assertEqual(got, [2 * scaled(50)] * 6)
            store.close()
        gc.collect()
        self.assertEqual(_frost._live_stores(), stores_before)
        self.assertEqual(_frost._live_arenas(), arenas_before)


if __name__ == "__main__":
    unittest.main()
