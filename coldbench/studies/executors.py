"""Where a study's processes run: the ``local`` and ``ray`` executors, shared by ``sweep`` and ``tune``.

``local`` runs jobs in this process or in a pool of spawned processes; ``ray`` joins (or starts) a
Ray cluster (``pip install 'coldbench[ray]'``). Both study kinds check their options here before
anything is prepared or trained.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any

from coldbench.errors import ColdbenchError

EXECUTORS = ("local", "ray")


def exit_with_parent(parent: int) -> None:
    """Pool initializer: end this worker process when its parent ``parent`` is gone (``kill -9``
    of a sweep or tune), instead of training on and holding the run locks. A daemon thread checks
    the parent every second; its run stays resumable, as any killed run is."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle: no worker tracebacks

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes that end with their parent; on ^C (or any error) in
    the parent the workers are stopped at once rather than waited for (their runs resume later)."""
    pool = ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=exit_with_parent, initargs=(os.getpid(),)
    )
    try:
        yield pool
    except BaseException:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def check_executor(executor: str, workers: int, address: str | None) -> None:
    """The executor options, checked before anything is prepared or trained."""
    if executor not in EXECUTORS:
        raise ColdbenchError(f"option --executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    check_workers(workers, local=executor == "local", cluster_hint="; a cluster: --executor ray --address")
    if address and executor != "ray":
        raise ColdbenchError("option --address: only with --executor ray")
    if address:
        check_reachable(address)


def check_workers(workers: int, local: bool = True, cluster_hint: str = "") -> None:
    """``--workers``: a whole number ≥ 1 and, for processes on this machine (``local``), at most its
    CPU cores (more only compete for them)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ColdbenchError(f"option --workers {workers}: must be at least 1")
    cores = os.cpu_count() or 1
    if local and workers > cores:
        raise ColdbenchError(
            f"option --workers {workers}: this machine has {cores} CPU core{'s' * (cores != 1)}; use at "
            f"most {cores} (more processes only compete for them{cluster_hint})"
        )


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Torch threads for each of ``workers`` processes: ``threads`` if given, else the cores shared out."""
    return threads or max(1, (os.cpu_count() or 1) // workers)


PROBE_TIMEOUT_S = 10.0
RAY_DEFAULT_PORTS = {"ray": 10001, "": 6379}  # Ray Client's port; a head node's GCS port


def check_reachable(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Something answers at the Ray ``address`` (``host:port`` or ``ray://host:port``) within
    ``timeout`` seconds: a dead address fails here in one line, before Ray waits minutes on it.
    ``auto`` (a cluster Ray finds on this machine) is left to Ray."""
    import socket
    from urllib.parse import urlsplit

    if address.strip() == "auto":
        return
    scheme = address.split("://", 1)[0] if "://" in address else ""
    try:
        parts = urlsplit(address if scheme else f"//{address}")
        host, port = parts.hostname, parts.port or RAY_DEFAULT_PORTS.get(scheme, 6379)
    except ValueError as error:
        raise ColdbenchError(f"--address {address}: not host:port or ray://host:port ({error})") from None
    if not host:
        raise ColdbenchError(f"--address {address}: not host:port or ray://host:port")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        reason = "no answer" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ColdbenchError(
            f"--address {address}: nothing answers at {host}:{port} within {timeout:g} s ({reason}); "
            "is the Ray head running there (`ray start --head`)?"
        ) from None


RAY_JOIN_TIMEOUT_S = 60.0  # joining a running cluster takes seconds
RAY_START_TIMEOUT_S = 300.0  # starting a local Ray on a busy machine may take a minute
STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143}


def within_deadline(join: Callable[[], Any], what: str, timeout: float = RAY_JOIN_TIMEOUT_S) -> Any:
    """Call ``join`` (``ray.init``) so that it cannot hold the process: Ray waits on a cluster inside
    its own C++ code, where Python runs no signal handler, so a live address that is not a Ray head
    kept ``sweep`` for minutes and deaf to SIGTERM. A watcher thread ends the process in one line
    when ``timeout`` seconds pass, or at once on ^C or SIGTERM (seen through the wake-up fd that
    Python's C-level handler writes before any Python code runs); nothing was trained yet."""
    if threading.current_thread() is not threading.main_thread():
        return join()  # signals reach only the main thread's handlers; nothing to watch from here
    wakeup_read, wakeup_write = os.pipe()
    done_read, done_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    handlers = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number, handler in handlers.items():
        if handler in (signal.SIG_DFL, None):  # route it through Python's handler, hence the wake-up fd
            signal.signal(number, signal.default_int_handler)
    previous_fd = signal.set_wakeup_fd(wakeup_write, warn_on_full_buffer=False)

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([wakeup_read, done_read], [], [], left)
            if done_read in ready:
                return
            for number in os.read(wakeup_read, 64) if wakeup_read in ready else b"":
                if number in STOP_SIGNALS:
                    _exit_now(
                        f"{what}: stopped ({signal.Signals(number).name}) while joining Ray; "
                        "nothing was trained",
                        STOP_SIGNALS[number],
                    )
        _exit_now(
            f"{what}: Ray did not connect within {timeout:g} s (is this the address of a Ray head, "
            "and is its Ray version this one's?); nothing was trained",
            1,
        )

    watcher = threading.Thread(target=watch, name="ray-join-deadline", daemon=True)
    watcher.start()
    try:
        return join()
    finally:
        os.write(done_write, b"x")
        watcher.join()
        signal.set_wakeup_fd(previous_fd)
        for number, handler in handlers.items():  # put back what was there, unless Ray set its own
            if signal.getsignal(number) is signal.default_int_handler and handler is not None:
                signal.signal(number, handler)
        for fd in (wakeup_read, wakeup_write, done_read, done_write):
            os.close(fd)


def _exit_now(message: str, code: int) -> None:
    """One line on stderr and the process ends, from a thread, whatever the main thread is inside."""
    os.write(2, f"error: {message}\n".encode(errors="replace"))
    os._exit(code)


@contextmanager
def ray_session(cpus: int, address: str | None) -> Iterator[Any]:
    """The ``ray`` module, joined to the cluster at ``address`` or to a local Ray of ``cpus`` CPUs."""
    try:
        import ray
    except ImportError:
        raise ColdbenchError(
            "--executor ray needs Ray: pip install 'coldbench[ray]' (or pip install 'ray>=2,<3')"
        ) from None
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                within_deadline(
                    lambda: ray.init(address=address, log_to_driver=False), f"--address {address}"
                )
            else:
                within_deadline(
                    lambda: ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False),
                    "--executor ray",
                    timeout=RAY_START_TIMEOUT_S,
                )
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ColdbenchError(f"--address {address}: cannot join the Ray cluster ({error})") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
