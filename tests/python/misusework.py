"""Worker-side helpers for test_misuse_interp.py (workers import callables by
module)."""


def send_until_closed(channel, timeout):
    """Send into `channel` until a send blocks and is woken by close();
    returns the type name and message of the error that ended it."""
    n = 0
    try:
        while True:
            channel.send(n, timeout=timeout)
            n += 1
    except Exception as e:
        return type(e).__name__, n


def recv_until_closed(channel, timeout):
    try:
        channel.recv(timeout=timeout)
    except Exception as e:
        return type(e).__name__
    return "received"


_kept = []


def keep(view):
    """Hold `view` in a module global of this worker interpreter."""
    _kept.append(view)
    return len(_kept)


def read_kept():
    """Read every kept view again: (ok, detail) per view."""
    out = []
    for v in _kept:
        try:
            out.append(("ok", sum(v["k"])))
        except Exception as e:
            out.append((type(e).__name__, str(e)))
    return out


def spin_forever():
    while True:
        pass
