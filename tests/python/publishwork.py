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


def share_and_publish_from_worker(name, tag):
    """A store shared (format 2) and published in a worker outlives the
    worker's MappedStore and its task."""
    return frost.publish(name, frost.share({"tag": tag, "values": list(range(10))}))


def read_while_republished(name, rounds):
    """Read the published store `rounds` times while another interpreter
    replaces and withdraws it: each read must be one whole version ->
    (reads that found one, the tags seen)."""
    found, tags = 0, set()
    for _ in range(rounds):
        try:
            root = frost.published(name).root
        except KeyError:   # withdrawn just then
            continue
        tag = root["tag"]
        if sum(root["values"]) != int(tag[1:]) * 100 + 45:   # vK: values 10K .. 10K+9
            raise AssertionError(f"version {tag} reads {list(root['values'])}")
        found += 1
        tags.add(tag)
    return found, sorted(tags)


def published_type(name):
    return type(frost.published(name)).__name__
