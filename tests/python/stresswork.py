"""Worker bodies for test_stress.py (module-level: workers import them by name).

Every function returns a checksum the test compares with one computed in
the main interpreter, so a torn or stale read shows up as a wrong number.
"""
import frost


def read_rounds(view, keys, rounds):
    """Read one shared FrozenDict over and over: sum of the ints behind `keys`."""
    total = 0
    for _ in range(rounds):
        for k in keys:
            entry = view[k]
            total += entry[0] + len(entry[1])
    return total


def freeze_and_pass(channel, rounds, size):
    """Freeze small stores here, send their views away, close the stores.

    The views outlive the closed handles (each message holds its store) and
    this interpreter may end before anyone reads them.
    """
    expected = 0
    for r in range(rounds):
        store = frost.freeze({"v": r, "xs": list(range(size))})
        channel.send(store.root)
        store.close()
        expected += r + sum(range(size))
    return expected


def relay_and_sum(inbox, outbox, count):
    """Receive `count` views, read each, pass it on."""
    total = 0
    for _ in range(count):
        view = inbox.recv(timeout=120)
        total += view["v"] + sum(view["xs"])
        outbox.send(view)
    return total


def attach_detach(store, rounds):
    """Take and drop this interpreter's lease on `store` over and over."""
    total = 0
    for _ in range(rounds):
        root = store.root          # first view: takes the lease
        total += len(root)
        del root                   # last view gone: returns the lease
    return total
