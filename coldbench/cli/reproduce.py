"""``coldbench reproduce``: prepare, train every method and the ablation, write every table and figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from coldbench.choices import DEFAULT_DATASET
from coldbench.cli import app
from coldbench.cli.options import (
    AddressOption,
    EpochsOption,
    ExecutorOption,
    PresetOption,
    SetOption,
    collect_settings,
    examples,
)

console = Console()


@app.command(
    "reproduce",
    epilog=examples(
        "coldbench reproduce --dataset synthetic --seeds 3",
        "coldbench reproduce --dataset movielens --tuned --trials 6 --export out/",
    ),
)
def reproduce_cli(
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset to prepare (if needed) and study.", show_default=DEFAULT_DATASET),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per method: 0..N-1.")] = 3,
    splits: Annotated[
        int, typer.Option(help="Data splits (protocol seeds +0…N-1), pooled in table-splits.md.")
    ] = 1,
    epochs: EpochsOption = None,
    subset: Annotated[int | None, typer.Option(help="Prepare a seeded sample of N users.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for tables, figures and index.md.")] = None,
    source: Annotated[Path | None, typer.Option(help="Local raw data instead of downloading.")] = None,
    extras: Annotated[Path | None, typer.Option(help="MovieLens: MeLU's movies_extrainfos.dat.")] = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Accept a raw file with another checksum.", metavar="")
    ] = False,
    set_: SetOption = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    results_dir: Annotated[Path, typer.Option(help="Where runs go.")] = Path("results"),
    data_dir: Annotated[Path | None, typer.Option(help="Data home.")] = None,
    preset: PresetOption = None,
    executor: ExecutorOption = "local",
    workers: Annotated[int, typer.Option(help="Runs (and tuning workers) at once.")] = 1,
    address: AddressOption = None,
    tuned: Annotated[
        bool,
        typer.Option(
            "--tuned",
            help="Tune every method (floors too) with one budget first, then train its best settings.",
            metavar="",
        ),
    ] = False,
    trials: Annotated[int, typer.Option(help="With --tuned: finished trials per method's study.")] = 20,
    pruner: Annotated[str, typer.Option(help="With --tuned: median or hyperband.")] = "median",
    export: Annotated[
        Path | None, typer.Option(help="Also write the committable study here (as `report --export`).")
    ] = None,
    shots: Annotated[
        str | None,
        typer.Option(
            help="Then score every run at these support sizes and over the catalogue (as evaluate)."
        ),
    ] = None,
) -> None:
    """Prepare, train every method and the γ ablation, and write every table and figure."""
    from coldbench.cli.evaluate import parse_shots
    from coldbench.cli.sweep import sweep_progress

    wanted = parse_shots(shots) if shots is not None else None  # checked before anything runs
    from coldbench.studies.reproduce import reproduce

    name = dataset or DEFAULT_DATASET
    overrides, origins = collect_settings(None, set_, None)
    view, report = sweep_progress()
    try:
        index = reproduce(
            name,
            out or Path("paper") / name,
            seeds=seeds,
            epochs=epochs,
            subset=subset,
            overrides=overrides,
            origins=origins,
            results_dir=results_dir,
            data_dir=data_dir,
            device=device,
            progress=report,
            prepare_options={"source": source, "extras": extras, "verify": not no_verify},
            preset=preset,
            executor=executor,
            workers=workers,
            address=address,
            tuned=tuned,
            trials=trials,
            pruner=pruner,
            export=export,
            shots=wanted,
            splits=splits,
        )
    finally:
        view.close()
    console.print(f"[bold green]done[/]: {index}")
