"""How values travel between interpreters (pool tasks, results, channels).

pickle, with one change: frost Stores, views and Channels travel *by
reference*, as tickets (views/xref.c): a ticket holds one count on its store
or channel while the message travels, so a store frozen in a worker stays
alive until the receiver has its own view of the same arena memory: no copy,
O(1) whatever the size. Everything else is pickled by pickle's C accelerator
(`_pickle`, what pickle.dumps is; not the pickle module, whose re and enum
imports were most of a pool worker's first task), at its own speed, protocol
-1 (the highest): no per-object hook runs (issue 17).

A mapped store or view (frost.share, frost.load of format 2) names its image
by the handle it pickles (frost._mapped._Handle): in a message that handle
becomes an fd ticket, a dup of the image's memfd (or its file, opened again)
that the message owns, so the image lives until the message is received or
discarded even if the sender drops it, or deletes the file, at once.

A message is bytes: the pickle, then its tickets. dumps and loads are one C
call each (views/xref.c, section 3): while dumps pickles, the by-reference
types' reducers export a ticket into the message being made on that thread
(a plain pickle.dumps elsewhere still pickles them by plain reference); while
loads unpickles, those tickets resolve against the message being loaded.

A message's life ends exactly once, and ending it releases its tickets:
loads() ends it after loading (also when unpickling fails half way); a
dumps() that fails (or is interrupted) half way ends what it made; discard()
ends one that will not be loaded. Ending it again is a no-op, so no path can
release a reference twice.
"""
from frost import _frost

dumps = _frost._dumps        # dumps(obj) -> message; TypeError names what cannot be sent
loads = _frost._loads        # loads(data, *, consume=True) -> obj
discard = _frost._discard_message   # discard(data): end a message that will not be loaded


def check_sendable(obj):
    """Raise TypeError if obj cannot be sent; holds no reference afterwards
    (also when interrupted: no Python call between making the message and
    the C call that ends it)."""
    message = None
    try:
        message = dumps(obj)
    finally:
        if message is not None:
            discard(message)
