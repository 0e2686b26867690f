"""``coldbench prepare`` and ``coldbench datasets``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from coldbench.choices import DEFAULT_PROTOCOL
from coldbench.cli import app
from coldbench.cli.options import examples, parse_pairs, parse_ratio
from coldbench.errors import ColdbenchError
from coldbench.excerpt import excerpt
from coldbench.paths import prepared_root

console = Console()
FLAG_WORDS = ("true", "false", "yes", "no", "1", "0")
VERIFIED = {True: "verified", False: "[yellow]unverified[/] (no checksum)", None: "built-in"}
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data home.", show_default="$COLDBENCH_HOME or ~/.cache/coldbench"),
]


@app.command(
    "prepare",
    epilog=examples(
        "coldbench prepare synthetic",
        "coldbench prepare movielens --source ml-1m.zip --extras movies_extrainfos.dat",
        "coldbench prepare atomic data/ml-100k --item-split year",
    ),
)
def prepare_cli(
    dataset: Annotated[str, typer.Argument(help="movielens, bookcrossing, atomic, synthetic, taobao")],
    path: Annotated[
        Path | None, typer.Argument(help="Local source (same as --source); required for atomic.")
    ] = None,
    source: Annotated[
        Path | None, typer.Option(help="Local archive or folder instead of downloading.")
    ] = None,
    extras: Annotated[
        Path | None, typer.Option(help="MovieLens: MeLU's movies_extrainfos.dat (file or folder).")
    ] = None,
    no_verify: Annotated[
        bool,
        typer.Option("--no-verify", metavar="", help="Accept files whose checksum differs (recorded)."),
    ] = False,
    protocol: Annotated[
        str,
        typer.Option(
            help="paml (the paper's, default) or melu (MeLU's code: users with 13–100 ratings, "
            "10 query items each, the rest support, users split 8:1:1)."
        ),
    ] = DEFAULT_PROTOCOL,
    seed: Annotated[int, typer.Option(help="Seed of the user split and support/query split.")] = 0,
    subset: Annotated[int | None, typer.Option(help="Keep a seeded sample of N users first.")] = None,
    cold_fraction: Annotated[
        float | None,
        typer.Option(help="Share of users (fewest interactions) kept (paml only).", show_default="0.8"),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="train:valid:test user ratio.", show_default="7:1:2; melu: 8:1:1")
    ] = None,
    min_interactions: Annotated[
        int | None, typer.Option(help="Drop users with fewer interactions (paml only).", show_default="2")
    ] = None,
    support_fraction: Annotated[
        float | None,
        typer.Option(help="Share of a user's interactions in support (paml only).", show_default="0.8"),
    ] = None,
    major_fraction: Annotated[
        float, typer.Option(help="Top share of a feature's values that are major.")
    ] = 0.3,
    major_min_features: Annotated[
        int, typer.Option(help="Major user: at least this many major features.")
    ] = 3,
    major_basis: Annotated[
        str, typer.Option(help="Count feature values over the 'prepared' users or all 'source' users.")
    ] = "prepared",
    task: Annotated[
        str | None,
        typer.Option(
            help="rating or ctr (a rating ≥ --click-threshold is a click).", show_default="the source's"
        ),
    ] = None,
    click_threshold: Annotated[
        float | None, typer.Option(help="CTR: rating counted as a click.", show_default="4 on 1–5, 7 on 1–10")
    ] = None,
    item_split: Annotated[
        str | None,
        typer.Option(
            help="Four cold-start states (warm, user-cold, item-cold, user-item-cold): split the items "
            "into existing and new at random, by release year or by first rating time (random, year, time)."
        ),
    ] = None,
    new_items: Annotated[
        float | None,
        typer.Option(help="With --item-split: the share of items that are new.", show_default="0.2"),
    ] = None,
    warm_fraction: Annotated[
        float | None,
        typer.Option(
            help="With --item-split: share of a training user's existing-item ratings held out as the "
            "warm state.",
            show_default="0.2",
        ),
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Source option key=value.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the prepared dataset.")] = None,
    force: Annotated[
        bool, typer.Option("--force", metavar="", help="Rebuild even if already prepared.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Download (or read), verify and prepare a dataset under a cold-start protocol (default: the paper's)."""
    from coldbench.data.prepare import prepare, source_spec
    from coldbench.data.protocol import protocol_config

    if path is not None and source is not None:
        raise ColdbenchError("give the source either as PATH or as --source, not both")
    if path is not None and not path.exists() and str(path).lower() in FLAG_WORDS:
        raise ColdbenchError(
            f"PATH {excerpt(str(path))}: no such file or folder (--no-verify and --force are flags "
            "and take no value)"
        )
    if item_split is None and (new_items is not None or warm_fraction is not None):
        raise ColdbenchError("--new-items and --warm-fraction need --item-split (random, year or time)")
    spec = source_spec(dataset)
    config = protocol_config(
        protocol,
        seed=seed,
        subset=subset,
        cold_fraction=cold_fraction,
        split=None if split is None else parse_ratio(split, "--split"),
        min_interactions=min_interactions,
        support_fraction=support_fraction,
        major_value_fraction=major_fraction,
        major_min_features=major_min_features,
        major_basis=major_basis,
        task=task or spec.task,
        click_threshold=click_threshold,
        item_split=item_split,
        new_item_fraction=new_items,
        warm_fraction=warm_fraction,
    )
    with console.status(f"preparing {dataset}…"):
        result = prepare(
            dataset,
            config=config,
            source=path or source,
            extras=extras,
            verify=not no_verify,
            options=parse_pairs(option, "--option"),
            name=name,
            force=force,
            data_dir=data_dir,
        )
    print_summary(result.manifest, result.path, reused=result.reused)


def dropped_line(dropped: dict[str, int]) -> str:
    """``{"invalid_features": 3, "too_few_interactions": 0}`` → ``dropped 3: invalid features 3, …``."""
    total = sum(dropped.values())
    parts = ", ".join(f"{reason.replace('_', ' ')} {count:,}" for reason, count in dropped.items())
    return f"dropped {total:,}: {parts}" if parts else "dropped 0"


def states_table(counts: dict) -> Table:
    """The four-state protocol's counts: what meta-training sees and each evaluation set."""
    table = Table(
        title=f"four states: {counts['existing_items']:,} existing items, {counts['new_items']:,} new items"
    )
    for column in ("set", "users", "interactions", "what it is"):
        table.add_column(column, justify="left" if column in ("set", "what it is") else "right")
    meaning = {
        "train": "training users × existing items: all meta-training sees",
        "support": "validation and test users' support (existing items)",
        "warm": "training users × existing items, held out",
        "user-cold": "test and validation users × existing items (query)",
        "item-cold": "training users × new items",
        "user-item-cold": "test and validation users × new items (query)",
    }
    for name, what in meaning.items():
        table.add_row(name, f"{counts[name]['users']:,}", f"{counts[name]['interactions']:,}", what)
    return table


def print_summary(manifest: dict, path: Path, reused: bool = False) -> None:
    """A rich summary of a prepared dataset's manifest."""
    from coldbench.data.protocol import SPLITS, describe_recorded

    stats = manifest["stats"]
    state = "reused" if reused else "prepared"
    console.print(f"[bold green]{state}[/] [bold]{manifest['name']}[/] → {path}")
    if manifest.get("verified") is False:
        asked = (manifest.get("request") or {}).get("verify", True)
        why = "--no-verify" if asked is False else "no published checksum for these files"
        console.print(f"[yellow]source checksum NOT verified ({why})[/]")
    console.print(describe_recorded(manifest.get("protocol") or {}), highlight=False)
    console.print(
        f"users in source {stats['users_in_source']:,} → cold-start users {stats['cold_start_users']:,} "
        f"→ kept {stats['users']:,} ({dropped_line(stats['dropped_users'])}); "
        f"items {stats['items']:,}; interactions {stats['interactions']:,}"
    )
    if stats.get("repeated_pairs_dropped"):
        console.print(
            f"repeated (user, item) pairs: {stats['repeated_pairs_dropped']:,} dropped "
            "(each pair keeps its last row in source order)",
            highlight=False,
        )
    if "click_threshold" in stats:
        console.print(
            f"task ctr: rating ≥ {stats['click_threshold']:g} is a click; "
            f"click rate {stats['click_rate']:.1%}"
        )
    table = Table(title="splits")
    for column in ("split", "users", "major", "minor", "interactions", "support", "query"):
        table.add_column(column, justify="right")
    for split in SPLITS:
        row = stats["splits"][split]
        table.add_row(
            split,
            *(
                f"{row[k]:,}"
                for k in ("users", "major_users", "minor_users", "interactions", "support", "query")
            ),
        )
    console.print(table)
    if "states" in stats:
        console.print(states_table(stats["states"]))
    major = stats["major"]
    shares = Table(title="users holding a major value (top ceil(30%) of a feature's values)")
    shares.add_column("feature")
    shares.add_column("major values", justify="right")
    shares.add_column("share of users", justify="right")
    for feature, share in major["feature_share"].items():
        shares.add_row(feature, str(major["n_major_values"][feature]), f"{share:.1%}")
    shares.add_row("[bold]major users[/]", "", f"[bold]{major['major_share']:.1%}[/]")
    console.print(shares)
    console.print(f"content hash {manifest['content_hash'][:16]}")


def verified_label(manifest: dict) -> str:
    """How the source files were checked: verified, unverified (--no-verify or no checksum), built-in."""
    if (manifest.get("request") or {}).get("verify") is False and manifest.get("verified") is False:
        return "[yellow]unverified[/] (--no-verify)"
    return VERIFIED[manifest.get("verified")]


@app.command(
    "datasets",
    epilog=examples(
        "coldbench datasets",
        "coldbench datasets --data-dir ~/.cache/coldbench",
    ),
)
def datasets_cli(data_dir: DataDir = None) -> None:
    """List prepared datasets."""
    from coldbench.data.manifests import list_prepared, read_manifest

    names = list_prepared(data_dir)
    if not names:
        console.print(f"no prepared datasets in {prepared_root(data_dir)}; try `coldbench prepare synthetic`")
        return
    table = Table(title=f"prepared datasets in {prepared_root(data_dir)}")
    for column in ("name", "users", "items", "ratings", "major", "source", "hash"):
        table.add_column(column, no_wrap=True)
    for name in names:
        try:
            manifest = read_manifest(prepared_root(data_dir) / name)
            stats = manifest["stats"]
            row = (
                f"{stats['users']:,}",
                f"{stats['items']:,}",
                f"{stats['interactions']:,}",
                f"{stats['major']['major_share']:.0%}",
                verified_label(manifest),
                str(manifest["content_hash"])[:8],
            )
        except (ColdbenchError, KeyError, TypeError, ValueError) as error:
            row = ("", "", "", "", "[red]unreadable[/]", excerpt(str(error), 60))
        table.add_row(name, *row)
    console.print(table)
