"""Where a study's processes run: the ``local`` and ``ray`` executors, shared by ``sweep`` and ``tune``.

``local`` runs jobs in this process or in a pool of spawned processes; ``ray`` joins (or starts) a
Ray cluster (``pip install 'coldbench[ray]'``). Both study kinds check their options here before
anything is prepared or trained.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
    import signal
    import threading
    import time

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
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ColdbenchError(f"option --workers {workers}: must be at least 1")
    if address and executor != "ray":
        raise ColdbenchError("option --address: only with --executor ray")
    if address:
        check_reachable(address)
    cores = os.cpu_count() or 1
    if executor == "local" and workers > cores:
        raise ColdbenchError(
            f"option --workers {workers}: this machine has {cores} CPU core{'s' * (cores != 1)}; use at "
            f"most {cores} (more processes only compete for them; a cluster: --executor ray --address)"
        )


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
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ColdbenchError(f"--address {address}: cannot join the Ray cluster ({error})") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
