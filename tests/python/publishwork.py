"""Worker bodies for test_publish.py (workers import them by name)."""
import frost


def hold_old_version(name, ready, go):
    """Take the published store, say so, wait until it was replaced, then read
    it all: the old version must still be whole -> (version tag, checksum)."""
    root = frost.published(name).root
    ready.send("holding")
    go.recv(timeout=120)
    return root["tag"], sum(root["values"])


def read_current(name):
    root = frost.published(name).root
    return root["tag"], sum(root["values"])


def publish_from_worker(name, tag):
    """A store frozen and published in a worker outlives that worker's handle."""
    store = frost.freeze({"tag": tag, "values": list(range(10))})
    return frost.publish(name, store)
