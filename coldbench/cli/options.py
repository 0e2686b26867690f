"""Options and parsing helpers shared by the CLI commands (every command module imports from here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from coldbench.choices import DEFAULT_DATASET
from coldbench.config import load_config_file
from coldbench.errors import ColdbenchError

DatasetOption = Annotated[
    str | None,
    typer.Option(help="Prepared dataset name or folder.", show_default=DEFAULT_DATASET),
]
SetOption = Annotated[list[str] | None, typer.Option("--set", help="Override a setting: key=value.")]
EpochsOption = Annotated[
    int | None,
    typer.Option(help="Most training epochs (early stopping usually ends sooner).", show_default="100"),
]
PresetOption = Annotated[
    str | None,
    typer.Option(
        help="Named settings: paper (20 epochs, no early stopping, the paper's rates) or recommended "
        "(the committed tuned study's best settings for this dataset, else the defaults)."
    ),
]
TunedOption = Annotated[
    bool, typer.Option("--tuned", help="Use the best settings of `coldbench tune`'s study.", metavar="")
]
BudgetOption = Annotated[
    int | None,
    typer.Option(
        help="With --tuned: the best of the study's first N finished trials (one budget for every "
        "method, also where a study ran longer)."
    ),
]
# help text is rich markup: a literal "[" is written "\\["
ExecutorOption = Annotated[
    str, typer.Option(help="local (processes) or ray (pip install 'coldbench\\[ray]').")
]
AddressOption = Annotated[str | None, typer.Option(help="Ray cluster address.", show_default="a local Ray")]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        help="Torch CPU threads per run. 1 keeps a busy machine's timings steady.",
        show_default="torch's own; sweep and tune: the cores shared among --workers",
    ),
]
StorageOption = Annotated[
    str | None,
    typer.Option(
        help="Optuna storage URL of the study.", show_default="results/<dataset>/<method>/tune/study.db"
    ),
]


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a malformed pair names the option."""
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ColdbenchError(f"option {option} {pair!r}: expected key=value")
        parsed[key.strip()] = value.strip()
    return parsed


def parse_ratio(text: str, option: str) -> tuple[float, float, float]:
    """``"7:1:2"`` → ``(7.0, 1.0, 2.0)``."""
    parts = text.split(":")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ColdbenchError(f"option {option} {text!r}: expected three numbers such as 7:1:2") from None
    if len(values) != 3:
        raise ColdbenchError(f"option {option} {text!r}: expected three numbers such as 7:1:2")
    return values  # type: ignore[return-value]


def collect_settings(
    config: Path | None, pairs: list[str] | None, epochs: int | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings from ``--config``, then ``--set``, then ``--epochs``, and where each came from."""
    overrides: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if config is not None:
        overrides = load_config_file(config)
        origins = dict.fromkeys(overrides, f"--config {config}")
    for key, value in parse_pairs(pairs, "--set").items():
        overrides[key], origins[key] = value, "--set"
    if epochs is not None:
        overrides["epochs"], origins["epochs"] = epochs, "--epochs"
    return overrides, origins


def check_threads(threads: int | None) -> None:
    """``--threads``: a whole number ≥ 1 when given."""
    if threads is not None and threads < 1:
        raise ColdbenchError(f"option --threads {threads}: must be at least 1")


def comma_names(text: str) -> list[str]:
    """Comma-separated names (``--methods a,b``), each once, in the order given."""
    return list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def examples(*lines: str) -> str:
    """A command's help epilog: its example command lines, one a paragraph."""
    return "Examples:\n\n" + "\n\n".join(lines)
