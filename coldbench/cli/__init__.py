"""The ``coldbench`` command line: thin Typer commands over library functions."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from coldbench.errors import ColdbenchError

app = typer.Typer(
    name="coldbench",
    help="Benchmark cold-start meta-learning recommenders under the PAML (AAAI 2021) protocol.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register_commands() -> None:
    from coldbench.cli import data, report, train  # noqa: F401  (each module adds its commands to ``app``)


def main() -> None:
    """Entry point: run the app; a ColdbenchError becomes one line on stderr and exit code 1."""
    _register_commands()
    try:
        app(standalone_mode=False)
    except ColdbenchError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("[bold red]aborted[/]")
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except Exception as error:  # click usage errors carry their own exit codes
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise
