"""Worker-side helpers for test_buffers_adversarial.py (imported by pool workers)."""


def array_facts(view):
    """What a worker interpreter reads from a frost.Array: its layout, its
    bytes, its items, and whether writing through memoryview is refused."""
    m = memoryview(view)
    try:
        m.cast("B")[0] = 0
        refused = False
    except TypeError:
        refused = True
    facts = (m.format, m.shape, m.readonly, m.tobytes(), view.tolist(), list(view), refused)
    m.release()
    return facts
