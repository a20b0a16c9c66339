"""Tasks that never end on their own, for test_pool_stop.py."""
import functools
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


# ---- tasks blocked in C calls that no async exception reaches ---------------
# (time.sleep, locks, queues, select: CPython checks for the KeyboardInterrupt
# of shutdown only between bytecodes, and these calls never return)

def _blocked(started, block):
    started.send(threading.get_native_id())   # wait_until_blocked watches this thread
    block()


def wait_until_blocked(started, timeout=60):
    """Receive a blocked task's start message, then wait until its thread is
    asleep in the kernel (state S for 50 ms in a row): an interrupt sent
    before it got there would land at a bytecode between send() and the
    blocking call, and stop it, which is not the case the tests mean."""
    tid = started.recv(timeout=timeout)
    deadline = time.monotonic() + timeout
    asleep = 0
    while asleep < 5:
        with open(f"/proc/self/task/{tid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        asleep = asleep + 1 if state == "S" else 0
        if time.monotonic() > deadline:
            raise TimeoutError(f"thread {tid} never blocked (state {state})")
        time.sleep(0.01)


def sleep_forever(started):
    _blocked(started, lambda: time.sleep(3600))


def wait_event_forever(started):
    _blocked(started, threading.Event().wait)


def acquire_forever(started):
    lock = threading.Lock()
    lock.acquire()
    _blocked(started, lock.acquire)


def queue_get_forever(started):
    import queue
    _blocked(started, queue.Queue().get)


def select_pipe_forever(started):
    import os
    import select
    r, w = os.pipe()
    _blocked(started, lambda: select.select([r], [], []))


def leave_a_sleeping_thread(started):
    threading.Thread(target=time.sleep, args=(3600,)).start()
    started.send("left it")
    return "left a sleeping thread"


def slow_initializer(how, started):
    """An initializer that takes forever: spinning, sleeping in short naps, or
    sleeping (only the first two can be interrupted)."""
    started.send(how)
    if how == "spin":
        spin()
    elif how == "sleep":
        time.sleep(3600)
    else:
        while True:
            time.sleep(0.05)


def square(x):
    return x * x


def keep(store, ch):
    """An initializer that keeps its arguments for the worker's lifetime."""
    global kept
    kept = (store, ch)
    ch.send(sum(store.root))


# ---- tasks waiting on a pool they started ------------------------------------

def wait_on_a_nested_pool(started, inner, how):
    """Start a frost.Pool inside this task and wait on the future of its one
    task, which never ends (inner: "spin", or "recv" from a channel nobody
    sends on); how: "result", "exception" or "result-timeout" (a long one)."""
    import frost
    with frost.Pool(1) as pool:
        if inner == "spin":
            future = pool.submit(spin, started)
        else:
            future = pool.submit(recv_forever, frost.Channel())
            started.send("submitted")
        if how == "exception":
            return future.exception()
        return future.result(timeout=3600 if how == "result-timeout" else None)


def nested_timeouts(seconds):
    """How result(timeout) and exception(timeout) end in a worker, on a
    future of a pool started here whose task outlasts the timeout:
    (exception name, seconds waited) for each."""
    import frost
    outcomes = []
    with frost.Pool(1) as pool:
        future = pool.submit(time.sleep, 4 * seconds)
        for wait in (future.result, future.exception):
            t0 = time.monotonic()
            try:
                wait(timeout=seconds)
                outcomes.append(("returned", time.monotonic() - t0))
            except Exception as e:
                outcomes.append((type(e).__name__, time.monotonic() - t0))
        outcomes.append(("result", future.result(timeout=60)))
    return outcomes


# ---- tasks in a long C walk of frost's ------------------------------------------

def _telling(started, reached):
    """Two record classes whose __shared__ and __from_shared__ send on a
    channel (C code: no bytecode runs)."""
    class Started:
        __shared__ = staticmethod(functools.partial(started.send, "started"))
        __from_shared__ = staticmethod(started.send)

    class Reached:
        __shared__ = staticmethod(functools.partial(reached.send, "reached"))
        __from_shared__ = staticmethod(reached.send)

    return Started, Reached


def long_walk(what, started, reached, items=1_000_000):
    """frost.freeze or frost.thaw (what: "freeze", "thaw", "thaw_mapped": of
    a frost.share image) of [a record telling `started` the walk has begun,
    `items` strs, a record telling `reached` the walk got to its end]. The
    records run C code only, so no bytecode runs during the walk: an
    exception the pool raises in this thread can land only where frost
    checks for one."""
    import frost
    if what == "freeze":
        Started, Reached = _telling(started, reached)
        return frost.freeze([Started(), [str(i) for i in range(items)], Reached()])
    sink = frost.Channel()   # what freezing the records sends
    Started, Reached = _telling(sink, sink)
    data = [Started(), [str(i) for i in range(items)], Reached()]
    store = (frost.freeze if what == "thaw" else frost.share)(data)
    return frost.thaw(store.root, classes=_telling(started, reached))
