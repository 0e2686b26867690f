"""``coldbench evaluate``: score finished runs again, with each test user's support cut to k ratings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from coldbench.cli import app
from coldbench.cli.options import examples
from coldbench.errors import ColdbenchError

console = Console()


def run_folders(paths: list[Path]) -> list[Path]:
    """Each path's run folder, or every finished run below it (hidden folders skipped), in order."""
    found: list[Path] = []
    for path in paths:
        if (path / "metrics.json").is_file():
            found.append(path)
        elif path.is_dir():
            below = sorted(p.parent for p in path.rglob("metrics.json"))
            found += [p for p in below if not any(part.startswith(".") for part in p.relative_to(path).parts)]
        else:
            raise ColdbenchError(f"{path}: no such run folder")
    if not found:
        raise ColdbenchError(f"no finished runs under {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def parse_shots(text: str) -> tuple[int, ...]:
    """``"0,1,2,4"`` → ``(0, 1, 2, 4)``; each a whole number ≥ 0."""
    try:
        shots = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ColdbenchError(f"option --shots {text!r}: expected whole numbers such as 0,1,2,4,8") from None
    if not shots or min(shots) < 0:
        raise ColdbenchError(f"option --shots {text!r}: expected whole numbers ≥ 0 such as 0,1,2,4,8")
    return shots


@app.command(
    "evaluate",
    epilog=examples(
        "coldbench evaluate results/movielens",
        "coldbench evaluate results/movielens/melu --shots 0,1,4,16 --no-catalogue",
    ),
)
def evaluate_cli(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (seed-k), or folders holding runs.")],
    shots: Annotated[
        str, typer.Option(help="Support sizes k to score, comma-separated.")
    ] = "0,1,2,4,8,16,32",
    seed: Annotated[
        int, typer.Option(help="Seed of each user's support order (the same for every run).")
    ] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Data home of the runs' prepared datasets.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Score again runs that hold these results.", metavar="")
    ] = False,
    catalogue: Annotated[
        bool,
        typer.Option(help="Also rank the whole catalogue per user (Recall@10/20, NDCG@10/20).", metavar=""),
    ] = True,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Catalogue: a query rating at least this is relevant.", show_default="4 of 5, 7 of 10"
        ),
    ] = None,
) -> None:
    """Score finished runs with each test user's support cut to k ratings (k-shot curves), and
    rank the whole catalogue for each test user (top-N metrics).

    The results go into each run folder (shots.parquet, catalogue.parquet, and metrics.json's
    shots and catalogue), checksummed.
    """
    from coldbench.training.catalogue import rescore

    wanted = parse_shots(shots)
    folders = run_folders(runs)
    for index, folder in enumerate(folders, 1):
        status = rescore(
            folder,
            wanted,
            catalogue=catalogue,
            threshold=threshold,
            seed=seed,
            data_dir=data_dir,
            force=force,
        )
        console.print(f"[{index}/{len(folders)}] {escape(str(folder))}: {status}", highlight=False)
