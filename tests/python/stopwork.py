"""Tasks that never end on their own, for test_pool_stop.py."""
import threading
import time


def recv_forever(ch):
    return ch.recv()


def send_forever(ch):            # ch is full (maxsize=1, one message queued)
    ch.send("never fits")


def spin(started=None):
    if started is not None:
        started.send("spinning")
    while True:
        pass


def spin_catching_interrupts(started):
    started.send("spinning")
    for _ in range(3):           # swallows two interruptions, then gives in
        try:
            while True:
                pass
        except KeyboardInterrupt:
            pass


def leave_threads(ch):
    """Start threads that outlive the task: one spinning in Python, one blocked
    in a frost Channel.recv, one sleeping in short naps."""
    def nap():
        while True:
            time.sleep(0.05)
    threading.Thread(target=spin).start()
    threading.Thread(target=ch.recv).start()
    threading.Thread(target=nap).start()
    return "left 3 threads"
