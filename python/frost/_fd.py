"""Fd: one file descriptor, owned by an object from the instant it exists.

`fd = os.open(path, flags)` leaves a window: a signal handler that raises
(SIGINT's KeyboardInterrupt, a SIGALRM handler) may run after os.open
returns and before the int is stored, and the fd leaks, so do `try/finally:
os.close(fd)` blocks, and handing an int from one owner to another can close
it twice. Fd(make, *args) calls make (a C function: os.open,
os.memfd_create, fcntl.fcntl, _frost._ticket_fd) through _frost._own_fd,
which stores the result in self.fd with no Python code in between: an
interrupt lands before the fd exists or after this object holds it.

Invariants: an Fd's fd is closed exactly once -- by close() (a `with` block),
or when the last reference goes (__del__, in C: no interrupt lands before it). Owners share an Fd by reference (a handle
and the function that made it), never by copying the int.
"""

from frost import _frost

__all__ = ["Fd"]


class Fd:
    __slots__ = ("fd",)

    def __init__(self, make, *args):
        self.fd = None
        _frost._own_fd(self, make, *args)

    # close(): self.fd closed (if not None) and set to None; __del__ the same,
    # reporting no error. Both in C (views/xref.c, fd_owner_close), which the
    # finalizer calls with no Python frame: a Python __del__ let a Ctrl-C land
    # at its first instruction, before the close, and the fd stayed open.
    close = _frost._fd_close
    __del__ = _frost._fd_del

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return f"<frost fd {self.fd}>" if self.fd is not None else "<frost fd (closed)>"
