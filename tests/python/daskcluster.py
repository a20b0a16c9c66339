"""A real Dask cluster on 127.0.0.1 for test_dask.py and bench/dask_bench.py:
one `dask scheduler` process and `dask worker` process groups, each group a
"node" with its own node-local directory ($FROST_DASK_DIR). Every process is
started in its own session and ended by its process group id in close(), so
nothing outlives the test. Every wait has a deadline."""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# short connect timeouts: a dead worker is noticed in seconds, not 30 s
DASK_ENV = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s",
            "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "warning",
            # frost.dask.pool() needs it off (frost.dask._check_no_profiler)
            "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


def _package_dir():
    import frost
    return os.path.dirname(os.path.dirname(os.path.abspath(frost.__file__)))


class LocalNodes:
    def __init__(self, root, pythonpath=(), connect_timeout="5s"):
        self.root = root
        self.scheduler_file = os.path.join(root, "scheduler.json")
        self.procs = {}   # label -> Popen
        self.logs = {}    # label -> log path
        self.env = dict(os.environ, **DASK_ENV)
        self.env["DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"] = connect_timeout
        self.env["PYTHONPATH"] = os.pathsep.join([HERE, _package_dir(), *pythonpath])

    def _spawn(self, label, argv, env, preexec_fn=None):
        log = os.path.join(self.root, f"{label}.log")
        with open(log, "wb") as out:
            self.procs[label] = subprocess.Popen(
                [sys.executable, "-m"] + argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.root,
                preexec_fn=preexec_fn)
        self.logs[label] = log
        return self.procs[label]

    def start_scheduler(self, timeout=60):
        self._spawn("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--no-dashboard", "--scheduler-file",
                                  self.scheduler_file], self.env)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.scheduler_file):
            if time.monotonic() > deadline or self.procs["scheduler"].poll() is not None:
                raise RuntimeError("dask scheduler did not start:\n" + self.log_tail("scheduler"))
            time.sleep(0.05)
        time.sleep(0.1)   # the file is written in one go, but give it a moment

    def start_node(self, label, nworkers, nthreads=2, directory=None, preexec_fn=None,
                   extra_env=None):
        """Start `nworkers` worker processes (each under a nanny) sharing the
        node-local directory `directory` (default <root>/<label>)."""
        directory = directory or os.path.join(self.root, label)
        os.makedirs(directory, exist_ok=True)
        env = dict(self.env, FROST_DASK_DIR=directory, **(extra_env or {}))
        self._spawn(label, ["distributed.cli.dask_worker", "--scheduler-file",
                            self.scheduler_file, "--nworkers", str(nworkers), "--nthreads",
                            str(nthreads), "--host", "127.0.0.1", "--no-dashboard",
                            "--local-directory", os.path.join(self.root, f"{label}-space"),
                            "--memory-limit", "0"], env, preexec_fn)
        return directory

    def stop(self, label, timeout=20):
        proc = self.procs.pop(label, None)
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:   # the group's children (the worker processes of the nannies)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self):
        for label in [k for k in self.procs if k != "scheduler"] + ["scheduler"]:
            self.stop(label)

    def log_tail(self, label, n=3000):
        try:
            with open(self.logs[label], "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except (KeyError, OSError):
            return ""

    def all_logs(self):
        return "\n".join(f"--- {label}\n{self.log_tail(label)}" for label in self.logs)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


def wait_workers(client, n, timeout=90):
    """Addresses of the workers once exactly `n` are connected."""
    return wait_for(lambda: (len(client.nthreads()) == n and sorted(client.nthreads())),
                    timeout, f"{n} workers")
