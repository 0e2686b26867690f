"""The ``coldbench`` command line: thin Typer commands over the library, the top of the pipeline.

One module per group of commands (``data``: prepare and datasets; ``train``: methods and train;
``reproduce``, ``sweep``, ``tune``, ``report``, ``demo``), each adding its commands to ``app``;
``options`` holds the options they share. A command parses and checks its options, calls one
library function and prints; a ``ColdbenchError`` becomes one line on stderr and exit code 1.
Heavy libraries are imported inside the commands, so ``--help`` and ``datasets`` stay light.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from coldbench.errors import ColdbenchError


class _BareHelpFlag:
    """``--help`` is a flag: shown without a ``<bool>`` value, as every other flag here; and a default
    described in words (``show_default="0.8; paml only"``) reads ``[default: 0.8; paml only]``, as
    every other default, not in Click's parentheses."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - Click's own signature
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(getattr(param, "show_default", None), str):
                param._get_default_string = lambda *_, text=param.show_default, **__: text

    def get_help_option(self, ctx):  # noqa: ANN001, ANN201 - Click's own signature
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class _Command(_BareHelpFlag, typer.core.TyperCommand):
    pass


class _Group(_BareHelpFlag, typer.core.TyperGroup):
    pass


class _App(typer.Typer):
    """Every command of ``app`` is a ``_Command`` unless it asks for another class."""

    def command(self, *args, cls=None, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        return super().command(*args, cls=cls or _Command, **kwargs)


app = _App(
    cls=_Group,
    name="coldbench",
    help="Benchmark cold-start meta-learning recommenders under the PAML (AAAI 2021) protocol.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


COMMAND_MODULES = (
    "data",
    "demo",
    "report",
    "train",
    "reproduce",
    "sweep",
    "tune",
    "evaluate",
    "rerun",
)  # the order of --help


def _register_commands() -> None:
    for name in COMMAND_MODULES:  # each module adds its commands to ``app``
        importlib.import_module(f"coldbench.cli.{name}")


def main() -> None:
    """Entry point: run the app; a ColdbenchError becomes one line on stderr and exit code 1, and so
    does an OSError that names its file (``cannot write <path>: <reason>``, or ``cannot read``).

    Typer runs in standalone mode, so usage errors print the usage and exit with code 2.
    """
    _register_commands()
    for stream in (sys.stdout, sys.stderr):  # an ASCII or Latin-1 locale: '·' becomes '?', no crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        app()
    except OSError as error:
        if _output_failed(error):
            _quiet_stdout()
            message = f"cannot write to standard output: {error.strerror or error}"
        elif error.filename is not None:  # a path the user chose: a read-only disk, a file for a folder
            path = os.fsdecode(error.filename)
            message = (
                f"cannot {'read' if _reading(error, path) else 'write'} {path}: {error.strerror or error}"
            )
        else:  # no path to name: a bug, not bad input; its traceback stays
            raise
        err_console.print(
            f"[bold red]error:[/] {escape(message)}", highlight=False, emoji=False, soft_wrap=True
        )
        sys.exit(1)
    except ColdbenchError as error:
        message = " ".join(str(error).split("\n"))  # one line, whatever the message holds
        err_console.print(
            f"[bold red]error:[/] {escape(message)}", highlight=False, emoji=False, soft_wrap=True
        )
        sys.exit(1)


def _reading(error: OSError, path: str) -> bool:
    """Whether ``error`` came from reading ``path`` (a missing or unreadable file) rather than writing."""
    if error.errno == errno.ENOENT:
        return True
    return (
        error.errno in (errno.EACCES, errno.EPERM) and os.path.exists(path) and not os.access(path, os.R_OK)
    )


def _output_failed(error: OSError) -> bool:
    """Whether ``error`` was raised writing to standard output (a full device, a closed pipe)."""
    if isinstance(error, BrokenPipeError):
        return True
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    writer = tb.tb_frame.f_locals.get("self") if tb is not None else None
    if getattr(writer, "file", None) is sys.stdout:  # rich's console writing its buffer
        return True
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return False


def _quiet_stdout() -> None:
    """Point standard output at the null device, so that the exit's own flush fails no more."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
