"""What a store costs in resident memory (issue 14, item 18).

A store of K bytes must cost about K plus a few pages, however small it is, and
a closed store must give its memory back to the system. Each scenario runs in a
fresh child process that reads its own resident set from /proc/self/statm, so
the numbers are not blurred by what earlier tests left in this process. The
bounds are generous (several times what frost needs) yet far below what the
defect cost: 2,000 tiny stores took ~3 GB and kept it after closing.
"""
import json
import os
import unittest

from frostcheck import run_child

MIB = 1 << 20
# AddressSanitizer keeps one shadow byte per 8 bytes the arena ever touched,
# even after the chunk is unmapped: allowed for in the asan build only.
SHADOW = 1 / 8 if "ASAN_OPTIONS" in os.environ else 0

# Prints {"live": bytes added by the live stores, "closed": bytes still added
# after closing them and dropping every view}, measured around `make(i)`.
PROBE = r"""
import gc, json, os, frost
PAGE = os.sysconf("SC_PAGE_SIZE")
def rss():
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE
def make(i):
    %s
BLOB = bytes(range(256)) * 4000                # 1,024,000 bytes, made before `base`
frost.freeze([1]).close()                      # warm up: first-use allocations
base = rss()
stores = [make(i) for i in range(%d)]
roots = [s.root for s in stores]               # a view each: a lease per store
live = rss() - base
del roots
for s in stores:
    s.close()
del stores
closed = rss() - base
print(json.dumps({"live": live, "closed": closed}))
"""


def measure(make_body, count):
    env = dict(os.environ)
    if "ASAN_OPTIONS" in env:   # the asan build: no quarantine holding freed memory
        env["ASAN_OPTIONS"] += (":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
                                ":allocator_release_to_os_interval_ms=0")
    proc = run_child(PROBE % (make_body, count), timeout=300, env=env)
    if proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ThreadSanitizer maps shadow memory for every application byte (and keeps
# its metadata after an unmap), so RSS there measures TSan, not frost: the dev
# and asan builds check these bounds.
@unittest.skipIf("TSAN_OPTIONS" in os.environ, "RSS under ThreadSanitizer is its shadow memory")
class StoreMemoryTest(unittest.TestCase):
    def test_small_stores_cost_pages_not_megabytes(self):
        m = measure("return frost.freeze({'id': i, 'tags': ['a', 'b'], 'w': 0.5})", 2000)
        # ~one page of arena per store plus the Store, Lease and view objects
        self.assertLess(m["live"], 40 * MIB, m)

    def test_closed_stores_give_their_memory_back(self):
        m = measure("return frost.freeze({'id': i, 'text': 'x' * 40000})", 1000)
        self.assertGreater(m["live"], 30 * MIB, m)   # 40 KB of text each: the probe sees it
        self.assertLess(m["closed"], m["live"] / 4, m)

    def test_a_store_costs_about_its_size(self):
        # 200 stores of 1 MB each: ~200 MB, not double, and back after close
        m = measure("return frost.freeze([BLOB])", 200)
        self.assertGreater(m["live"], 200 * 1_024_000, m)
        self.assertLess(m["live"], 200 * 1_024_000 * (1.1 + SHADOW), m)
        self.assertLess(m["closed"], 20 * MIB + SHADOW * m["live"], m)

    def test_small_loaded_snapshots_cost_pages_not_megabytes(self):
        body = ("global saved\n"
                "    if i == 0:\n"
                "        import atexit, tempfile\n"
                "        saved = tempfile.mkstemp(suffix='.frost')[1]\n"
                "        atexit.register(os.unlink, saved)\n"
                "        frost.freeze({'k': [1, 2, 3], 's': 'v'}).save(saved, format=1)\n"
                "    return frost.load(saved, lifetime='scoped')")
        m = measure(body, 1000)
        self.assertLess(m["live"], 40 * MIB, m)
        self.assertLess(m["closed"], 20 * MIB, m)


if __name__ == "__main__":
    unittest.main()
