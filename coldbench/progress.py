"""Progress bars: bytes of a download (stderr) and the epochs of ``train``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
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


class TrainView:
    """``train``'s progress: an epoch bar (seed k/N, ETA) and a meta-batch bar, plus notes.

    Call it with the trainer's progress events. Nothing is drawn before a seed starts training,
    so an error raised earlier leaves no empty bar behind. ``close()`` stops the bars.
    """

    def __init__(self, console: Console, method: str) -> None:
        self.console = console
        self.method = method
        self.bars: Progress | None = None
        self.seed_label = ""
        self.note = ""

    def _open(self) -> Progress:
        if self.bars is None:
            self.bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.bars.start()
            self.epoch_bar = self.bars.add_task("", total=None, info="")
            self.batch_bar = self.bars.add_task("  meta-batches", total=None, info="")
        return self.bars

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "seed":
            self.seed_label = f"seed {info['seed']} ({info['index'] + 1}/{info['total']})"
            self.note = ""
        elif kind == "skip":
            label = self.seed_label or f"seed {info['seed']}"
            self.console.print(
                f"{label} already finished — skipped (use --force to train it again)",
                highlight=False,
                soft_wrap=True,
            )
        elif kind == "resume":
            self.note = f"resumed after epoch {info['epoch']}"
        elif kind == "start":
            bars = self._open()
            bars.reset(self.epoch_bar, total=info["epochs"], completed=info["done"], info=self.note)
            bars.update(self.epoch_bar, description=f"{self.method} {self.seed_label}")
            bars.reset(self.batch_bar, total=None, info="")
        elif self.bars is not None:
            self._update(self.bars, kind, info)

    def _update(self, bars: Progress, kind: str, info: dict) -> None:
        if kind == "batch":
            loss = info["loss"]
            text = f"loss {loss:.4f}" if loss == loss else ""  # NaN: a closed-form fit
            bars.update(self.batch_bar, completed=info["batch"], total=info["batches"], info=text)
        elif kind == "epoch":
            bars.update(self.epoch_bar, advance=1, info=f"valid {info['selection']} {info['value']:.4f}")
        elif kind == "test":
            bars.update(self.batch_bar, info="evaluating test users")

    def close(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None
