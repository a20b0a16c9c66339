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
