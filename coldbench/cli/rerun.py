"""``coldbench rerun``: train a committed study's runs again from their records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from coldbench.cli import app
from coldbench.cli.options import ThreadsOption, check_threads, comma_names, examples
from coldbench.paths import check_folder_writable
from coldbench.progress import TrainView
from coldbench.studies.rerun import SAME, Rerun, rerun_study, study_records, write_outcomes

console = Console()


class _RerunView:
    """One ``train`` progress view per run."""

    def __init__(self) -> None:
        self.view: TrainView | None = None

    def __call__(self, kind: str, info: dict) -> None:
        if kind == "run":
            self.close()
            self.view = TrainView(console, f"[{info['index'] + 1}/{info['total']}] {info['run']}")
        elif self.view is not None:
            self.view(kind, info)

    def close(self) -> None:
        if self.view is not None:
            self.view.close()


def outcome_line(outcome: Rerun) -> str:
    """One line per run: the same test means as recorded, or the largest difference."""
    where = "finished earlier, " if outcome.skipped else ""
    if outcome.same:
        return f"{outcome.run}: {where}same test means as recorded"
    return (
        f"{outcome.run}: {where}differs, {outcome.metric} {outcome.recorded:.6g} recorded → "
        f"{outcome.rerun:.6g} ({outcome.largest_difference:.1e} relative)"
    )


@app.command(
    "rerun",
    epilog=examples(
        "coldbench rerun results/reference/ml-100k --results-dir rerun --threads 1",
        "coldbench rerun results/reference/synthetic --methods bias,paml --results-dir rerun",
        "coldbench rerun results/reference/movielens --results-dir rerun --workers 2 --out rerun.csv",
    ),
)
def rerun_cli(
    study: Annotated[Path, typer.Argument(help="A committed study folder (it holds runs.jsonl).")],
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated methods.", show_default="every method of the study")
    ] = None,
    results_dir: Annotated[Path, typer.Option(help="Where the runs train.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Data home of prepared datasets.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "cpu",
    threads: ThreadsOption = None,
    workers: Annotated[
        int, typer.Option(help="Runs at once, each in its own process (threads: cores/workers by default).")
    ] = 1,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the comparison here as CSV (one row per run).", show_default="none"),
    ] = None,
) -> None:
    """Train a committed study's runs again from their recorded settings and seeds; compare test means.

    Every run is checked first (its settings give its config id, its dataset has its hash); finished
    runs in --results-dir are reused. Export the folder to commit them with per-user scores. With
    --workers N the runs train N at a time and report as they finish; --out keeps the study's order.
    """
    check_threads(threads)
    check_folder_writable(results_dir, "--results-dir")
    if out is not None:
        check_folder_writable(out.parent, "--out")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    names = comma_names(methods) if methods else None
    view = _RerunView()
    outcomes = []
    runs = rerun_study(study, results_dir, names, data_dir, device, view, workers, threads)
    try:
        for outcome in runs:
            view.close()
            console.print(outcome_line(outcome), highlight=False, markup=False, soft_wrap=True)
            outcomes.append(outcome)
    finally:
        runs.close()  # a pool's workers end here, not when the generator is collected
        view.close()
    if out is not None:
        order = {record["run"]: index for index, record in enumerate(study_records(study))}
        write_outcomes(sorted(outcomes, key=lambda o: order[o.run]), out)
    same = sum(o.same for o in outcomes)
    datasets = ",".join(dict.fromkeys(o.dataset for o in outcomes))
    console.print(
        f"{same} of {len(outcomes)} runs give their recorded test means (to {SAME:g} relative); "
        f"to commit the runs with per-user scores (and their own means): coldbench report "
        f"--results-dir {results_dir} --dataset {datasets} --export {study}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
