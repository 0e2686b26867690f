"""A bytes progress bar on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


@contextmanager
def byte_progress(description: str, total: int | None, completed: int = 0) -> Iterator[Callable[[int], None]]:
    """A bar counting bytes towards ``total`` (None: unknown), starting at ``completed``.

    Yields ``advance(n)``, which adds n bytes. Rich prints the bar once at the end when stderr is
    no terminal.
    """
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total, completed=completed)
        yield lambda n: progress.update(task, advance=n)
