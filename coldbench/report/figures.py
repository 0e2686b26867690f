"""Figures from finished runs: per-user MSE boxes, learning-rate histograms, curves, CTR bars, t-SNE.

Every function takes a :class:`~coldbench.report.runs.Runs` already filtered to one dataset and an
output folder, writes ``<name>.png`` (150 dpi) and ``<name>.pdf`` there and returns the (closed)
matplotlib Figure. Figures read as well in grayscale as in colour: major and minor users are light
grey versus dark grey and hatched, and lines differ by marker and line style as well as colour.
Method variants appear in a fixed order (:func:`variant_order`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from coldbench.data.protocol import STATES  # noqa: E402
from coldbench.errors import ColdbenchError  # noqa: E402
from coldbench.report.runs import Runs  # noqa: E402
from coldbench.report.stats import t_interval  # noqa: E402
from coldbench.report.tables import FLOORS, METHOD_ORDER  # noqa: E402

DPI = 150

# Major vs minor users: light vs dark grey, and the minor one hatched.
GROUP_STYLE = {
    "major": {"facecolor": "#dcdcdc", "hatch": "", "label": "major users"},
    "minor": {"facecolor": "#7a7a7a", "hatch": "///", "label": "minor users"},
}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


# --------------------------------------------------------------------------- helpers


def variant_order(table: pd.DataFrame) -> list[str]:
    """Variants in the fixed method order (then others alphabetically), defaults before settings."""
    pairs = table[["method", "variant"]].drop_duplicates()

    def key(row: tuple[str, str]) -> tuple[int, str, int, str]:
        method, variant = row
        rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
        return (rank, method, 0 if variant == method else 1, variant)

    return [variant for _, variant in sorted(map(tuple, pairs.to_numpy()), key=key)]


def _wrap(variant: str) -> str:
    """``reg-paml (gamma=1e-05)`` on two lines for tick labels."""
    return variant.replace(" (", "\n(")


ROTATE_FROM = 7  # variants on one axis from which their labels are set at an angle, so they never overlap


def _variant_ticks(ax: Axes, variants: list[str]) -> None:
    """One tick per variant, labelled on two lines (method, then settings); at an angle when many."""
    ax.set_xticks(range(len(variants)))
    if len(variants) >= ROTATE_FROM:
        ax.set_xticklabels([_wrap(v) for v in variants], rotation=35, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticklabels([_wrap(v) for v in variants])


def _shorten(runs: Runs, dataset: str) -> tuple[Runs, str]:
    """Label variants only by what tells them apart; settings they all share go next to the dataset.

    ``melu (epochs=10)`` and ``paml (epochs=10)`` become ``melu`` and ``paml`` under a title that
    ends in ``synthetic (all: epochs=10)``, so tick labels stay short.
    """
    variants = list(runs.table["variant"].unique())
    settings = {v: v.split(" (", 1)[1].rstrip(")").split(", ") if " (" in v else [] for v in variants}
    common = set.intersection(*(set(s) for s in settings.values())) if settings else set()
    if not common:
        return runs, dataset
    short = {}
    for variant, values in settings.items():
        rest = [s for s in values if s not in common]
        method = variant.split(" (", 1)[0]
        short[variant] = f"{method} ({', '.join(rest)})" if rest else method
    table = runs.table.assign(variant=runs.table["variant"].map(short))
    shared = ", ".join(s for s in settings[variants[0]] if s in common)
    return Runs(table), f"{dataset} (all: {shared})"


def _one_dataset(runs: Runs) -> str:
    if len(runs) == 0:
        raise ColdbenchError("no finished runs to plot; train something first (or check --results-dir)")
    datasets = sorted(runs.table["dataset"].unique())
    if len(datasets) != 1:
        raise ColdbenchError(
            f"figures show one dataset at a time, got {', '.join(datasets)}; select one (--dataset)"
        )
    return datasets[0]


def _seed_note(table: pd.DataFrame) -> str:
    counts = table.groupby("variant")["seed"].nunique()
    low, high = int(counts.min()), int(counts.max())
    return (
        f"{low} seed{'s' if low != 1 else ''} per variant"
        if low == high
        else f"{low}–{high} seeds per variant"
    )


def _user_note(users: pd.DataFrame) -> str:
    """``120 test users (72 major, 48 minor)`` from a frame with one row per user and ``major``."""
    n_major = int(users["major"].sum())
    return f"{len(users)} test users ({n_major} major, {len(users) - n_major} minor)"


def _users(per_user: pd.DataFrame) -> pd.DataFrame:
    return per_user.drop_duplicates("user_id")[["user_id", "major"]]


def _header(fig: Figure, title: str, note: str, handles: list[Any] | None = None) -> float:
    """Title, a note line (users, seeds) and an optional legend above the panels; returns the panels' top.

    Spacing is fixed in inches, so it looks the same whatever the figure's height.
    """
    height = fig.get_figheight()
    extra = 0.17 * note.count("\n")  # each further note line pushes the legend and panels down
    fig.suptitle(title, fontsize=13, fontweight="bold", y=1 - 0.12 / height, va="top")
    fig.text(0.5, 1 - 0.42 / height, note, ha="center", va="top", fontsize=9, color="#333333")
    used = 0.72 + extra
    if handles:
        fig.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 1 - (0.62 + extra) / height),
            ncol=len(handles),
            frameon=False,
        )
        used = 1.0 + extra
    return 1 - used / height


@contextmanager
def _style() -> Iterator[None]:
    """Seaborn's white grid with print-friendly sizes, without touching global state."""
    with (
        sns.axes_style("whitegrid"),
        plt.rc_context(
            {
                "font.size": 10,
                "axes.titlesize": 11,
                "axes.labelsize": 10,
                "legend.fontsize": 9,
                "hatch.linewidth": 0.8,
                "pdf.fonttype": 42,
            }
        ),
    ):
        yield


def _save(fig: Figure, out: Path, name: str, top: float) -> Figure:
    """Lay out the panels below ``top``, write ``<name>.png`` and ``<name>.pdf`` under ``out``, close."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0, 1, top))
    # tight_layout keeps room for the suptitle as well; move the panels up to just below the header.
    renderer = fig.canvas.get_renderer()
    highest = max(ax.get_tightbbox(renderer).y1 for ax in fig.axes) / fig.bbox.height
    fig.subplots_adjust(top=fig.subplotpars.top + (top - highest))
    for ext in ("png", "pdf"):
        fig.savefig(out / f"{name}.{ext}", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return fig


def _group_legend_handles() -> list[Patch]:
    return [
        Patch(facecolor=s["facecolor"], edgecolor="black", hatch=s["hatch"], label=s["label"])
        for s in GROUP_STYLE.values()
    ]


def _pick_metric(columns: Any, preferred: tuple[str, ...], what: str) -> str:
    for metric in preferred:
        if metric in columns:
            return metric
    raise ColdbenchError(f"no {' or '.join(preferred)} column in the runs' {what}")


# --------------------------------------------------------------------------- boxplot


def _draw_boxes(ax: Axes, data: pd.DataFrame, variants: list[str], metric: str, fliers: bool) -> None:
    width = 0.36
    for offset, group in ((-0.2, "major"), (0.2, "minor")):
        style = GROUP_STYLE[group]
        values = [
            data.loc[(data["variant"] == v) & (data["major"] == (group == "major")), metric]
            .dropna()
            .to_numpy()
            for v in variants
        ]
        positions = [i + offset for i, vals in enumerate(values) if len(vals)]
        values = [vals for vals in values if len(vals)]
        if not values:
            continue
        boxes = ax.boxplot(
            values,
            positions=positions,
            widths=width,
            patch_artist=True,
            showmeans=True,
            showfliers=fliers,
            manage_ticks=False,
            medianprops={"color": "black", "linewidth": 1.5},
            meanprops={
                "marker": "D",
                "markerfacecolor": "white",
                "markeredgecolor": "black",
                "markersize": 5,
            },
            flierprops={"marker": "o", "markersize": 2.5, "markerfacecolor": "none", "alpha": 0.6},
            whiskerprops={"color": "black"},
            capprops={"color": "black"},
        )
        for box in boxes["boxes"]:
            box.set_facecolor(style["facecolor"])
            box.set_edgecolor("black")
            box.set_hatch(style["hatch"])
    ax.set_xticks(range(len(variants)))
    _variant_ticks(ax, variants)
    ax.set_xlim(-0.6, len(variants) - 0.4)


def boxplot(runs: Runs, out: Path, metric: str | None = None, name: str = "boxplot") -> Figure:
    """Per-user test MSE per method variant, major vs minor users (paper Figs. 5, 6 and 10).

    Each user's MSE is averaged over seeds first. The top panel shows the full range with outliers,
    the bottom one zooms on the 5th–95th percentile of all per-user values (outliers hidden).
    ``metric`` defaults to ``mse`` (``nel`` for CTR runs, as in paper Fig. 3b).
    """
    dataset = _one_dataset(runs)
    runs, dataset = _shorten(runs, dataset)
    per_user = runs.per_user()
    metric = metric or _pick_metric(per_user.columns, ("mse", "nel"), "per-user results")
    if metric not in per_user.columns:
        raise ColdbenchError(f"per-user results have no {metric!r} column")
    data = per_user.groupby(["variant", "user_id", "major"], as_index=False)[metric].mean()
    variants = variant_order(runs.table)
    label = metric.upper()

    with _style():
        fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 1.25 * len(variants) + 2), 8.5))
        _draw_boxes(axes[0], data, variants, metric, fliers=True)
        _draw_boxes(axes[1], data, variants, metric, fliers=False)
        values = data[metric].dropna().to_numpy()
        if len(values):
            low, high = np.percentile(values, [5, 95])
            pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
            axes[1].set_ylim(low - pad, high + pad)
        axes[0].set_title("(a) full range, outliers as circles")
        axes[1].set_title("(b) zoomed on the 5th–95th percentile of all users' values, outliers hidden")
        for ax in axes:
            ax.set_ylabel(f"per-user test {label}\n(mean over seeds)")
            ax.set_xlabel("method variant")
            ax.grid(axis="x", visible=False)
            for boundary in np.arange(0.5, len(variants) - 1):
                ax.axvline(boundary, color="#cccccc", linewidth=0.8)
        top = _header(
            fig,
            f"Per-user test {label}, major vs minor users — {dataset}",
            f"{_user_note(_users(per_user))} · {_seed_note(runs.table)} · box: quartiles, whiskers: 1.5 IQR",
            handles=[
                *_group_legend_handles(),
                plt.Line2D([], [], color="black", linewidth=1.5, label="median"),
                plt.Line2D(
                    [],
                    [],
                    marker="D",
                    linestyle="",
                    markerfacecolor="white",
                    markeredgecolor="black",
                    label="mean",
                ),
            ],
        )
        return _save(fig, out, name, top)


# --------------------------------------------------------------------------- learning rates


def _is_constant(values: np.ndarray) -> bool:
    return len(values) > 0 and float(np.ptp(values)) <= 1e-9 * max(float(np.max(np.abs(values))), 1e-30)


# Learning-rate histograms: major users as light grey filled bars, minor users as a dark hatched
# outline drawn over them, so both stay visible where they overlap.
LR_STYLE = {
    "major": {"histtype": "stepfilled", "facecolor": "#d0d0d0", "edgecolor": "#808080", "linewidth": 0.8},
    "minor": {"histtype": "step", "fill": False, "hatch": "///", "edgecolor": "#202020", "linewidth": 1.5},
}


def _lr_handles() -> list[Patch]:
    return [
        Patch(facecolor="#d0d0d0", edgecolor="#808080", label=GROUP_STYLE["major"]["label"]),
        Patch(facecolor="none", edgecolor="#202020", hatch="///", linewidth=1.5, label="minor users"),
    ]


def _lr_panel(ax: Axes, frame: pd.DataFrame, variant: str) -> None:
    rates = frame["inner_lr"].dropna().to_numpy()
    groups = {
        g: frame.loc[frame["major"] == (g == "major"), "inner_lr"].dropna().to_numpy() for g in GROUP_STYLE
    }
    groups = {g: v for g, v in groups.items() if len(v)}
    ax.set_title(variant)
    ax.set_ylabel("share of the group's users")
    ax.set_xlabel("inner learning rate α")
    ax.grid(axis="x", visible=False)
    if len(rates) == 0:
        ax.text(0.5, 0.5, "no learning rates recorded", ha="center", va="center", transform=ax.transAxes)
        return
    if _is_constant(rates):
        alpha = float(rates[0])
        span = abs(alpha) * 0.5 or 1e-6
        for group, values in groups.items():
            ax.hist(
                values,
                bins=[alpha - span * 0.2, alpha + span * 0.2],
                weights=np.full(len(values), 1.0 / len(values)),
                **LR_STYLE[group],
            )
        ax.set_xlim(alpha - span, alpha + span)
        ax.set_ylim(0, 1.35)
        summary = f"constant α = {alpha:.3g}\n(every user, every seed)"
        ax.text(
            0.5,
            0.96,
            summary,
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=10,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#888888"},
        )
    else:
        bins = np.histogram_bin_edges(rates, bins=int(np.clip(np.sqrt(len(rates)), 10, 40)))
        tallest = 0.0
        for group, values in groups.items():
            weights = np.full(len(values), 1.0 / len(values))
            heights, _, _ = ax.hist(values, bins=bins, weights=weights, **LR_STYLE[group])
            tallest = max(tallest, float(np.max(heights)))
        ax.set_ylim(0, tallest * 1.45)
        lines = [
            f"{group}: mean {values.mean():.2e} ({len(values)} user-seeds)"
            for group, values in groups.items()
        ]
        ax.text(
            0.98,
            0.97,
            "\n".join(lines),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#bbbbbb", "alpha": 0.9},
        )
    negative = int((rates < 0).sum())
    if negative:
        ax.axvline(0.0, color="#b00020", linewidth=1.2)
        ax.text(
            0.02,
            0.97,
            f"⚠ {negative} negative rate(s), min {rates.min():.2e}:\nthese users stepped uphill",
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=8,
            color="#b00020",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#b00020"},
        )
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3), useMathText=True)


def lr_hist(runs: Runs, out: Path, name: str = "lr-hist") -> Figure:
    """Distribution of the per-user inner learning rate, major vs minor, one panel per variant.

    Corresponds to paper Figs. 4, 7 and 8. Every (user, seed) pair counts once; bar heights are
    the share of that group's users, so major and minor are comparable. Only variants whose
    users get different rates have a panel; the others (one rate for everyone: MeLU, transfer,
    the floors) are named, with their rate, in the figure's note.
    """
    dataset = _one_dataset(runs)
    runs, dataset = _shorten(runs, dataset)
    per_user = runs.per_user()
    if "inner_lr" not in per_user.columns:
        raise ColdbenchError("per-user results have no inner_lr column; re-evaluate the runs")
    variants, left = [], []
    for variant in variant_order(runs.table):
        rows = per_user[per_user["variant"] == variant]
        by_seed = [part["inner_lr"].to_numpy() for _, part in rows.groupby("seed")]
        if not by_seed:
            continue
        if all(_is_constant(values) for values in by_seed):  # no per-user distribution to draw
            low, high = min(v[0] for v in by_seed), max(v[0] for v in by_seed)
            shown = f"α = {low:.3g}" if low == high else f"one α per seed, {low:.3g}–{high:.3g}"
            left.append(f"{variant} ({shown})")
        else:
            variants.append(variant)
    if not variants:
        raise ColdbenchError(
            "no variant gives its users different inner learning rates: nothing to draw "
            f"(one rate each: {'; '.join(left) or 'none'})"
        )
    left_out = "; ".join(left)
    ncols = min(3, len(variants))
    nrows = -(-len(variants) // ncols)
    with _style():
        fig, grid = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.3 * nrows + 1.0), squeeze=False)
        for index, ax in enumerate(grid.flat):
            if index >= len(variants):
                fig.delaxes(ax)
                continue
            _lr_panel(ax, per_user[per_user["variant"] == variants[index]], variants[index])
        top = _header(
            fig,
            f"Per-user inner learning rate α, major vs minor users — {dataset}",
            f"{_user_note(_users(per_user))} · {_seed_note(runs.table)} (every user × seed counted)"
            + (
                "\n" + "\n".join(textwrap.wrap(f"not drawn, one rate for every user: {left_out}", 150))
                if left_out
                else ""
            ),
            handles=_lr_handles(),
        )
        return _save(fig, out, name, top)


# --------------------------------------------------------------------------- curves


def _line_style(index: int) -> dict[str, Any]:
    palette = sns.color_palette("colorblind", 10)
    return {
        "color": palette[index % len(palette)],
        "marker": MARKERS[index % len(MARKERS)],
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
    }


def curves(runs: Runs, out: Path, metric: str | None = None, name: str = "curves") -> Figure:
    """Validation metric per epoch per variant: mean over seeds, shaded min–max band.

    Training-dynamics view (the paper has no such figure; it supports model selection checks).
    ``metric`` defaults to ``mse`` (``nel`` or ``auc`` for CTR runs).
    """
    dataset = _one_dataset(runs)
    runs, dataset = _shorten(runs, dataset)
    epochs = runs.epochs()
    columns = [c.removeprefix("valid_") for c in epochs.columns if c.startswith("valid_")]
    metric = metric or _pick_metric(columns, ("mse", "nel", "auc"), "epochs.csv")
    column = f"valid_{metric}"
    if column not in epochs.columns:
        raise ColdbenchError(f"epochs.csv has no {column} column (has: {', '.join(columns) or 'none'})")
    stats = epochs.groupby(["variant", "epoch"])[column].agg(["mean", "min", "max"]).reset_index()
    variants = [v for v in variant_order(runs.table) if v in set(stats["variant"])]
    with _style():
        fig, ax = plt.subplots(figsize=(8.5, 5.2))
        for index, variant in enumerate(variants):
            rows = stats[stats["variant"] == variant]
            style = _line_style(index)
            ax.plot(rows["epoch"], rows["mean"], label=variant, markersize=5, linewidth=1.6, **style)
            ax.fill_between(
                rows["epoch"], rows["min"], rows["max"], color=style["color"], alpha=0.15, linewidth=0
            )
        epochs_seen = sorted(stats["epoch"].unique())
        if len(epochs_seen) <= 25:
            ax.set_xticks(epochs_seen)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric.upper()} (all validation users)")
        ax.set_title("line: mean over seeds, band: min–max over seeds")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8, title="variant")
        n_runs = len(runs.table)
        top = _header(
            fig,
            f"Validation {metric.upper()} per epoch — {dataset}",
            f"{len(variants)} variants, {n_runs} runs · {_seed_note(runs.table)} · "
            "each point: all validation users of a run",
        )
        return _save(fig, out, name, top)


# --------------------------------------------------------------------------- CTR


def ctr(runs: Runs, out: Path, name: str = "ctr") -> Figure:
    """Test AUC and NEL per variant for overall, major and minor users (paper Fig. 3a and 3c).

    Bars are means over seeds, error bars ±1 standard deviation, dots the individual seeds.
    """
    dataset = _one_dataset(runs)
    runs, dataset = _shorten(runs, dataset)
    table = runs.table
    if "overall_auc" not in table.columns or table["overall_auc"].isna().all():
        raise ColdbenchError(
            f"no run on {dataset!r} has an AUC: the CTR figure needs runs on a click dataset (task ctr)"
        )
    table = table[table["overall_auc"].notna()]
    variants = variant_order(table)
    groups = [g for g in ("overall", "major", "minor") if f"{g}_auc" in table.columns]
    styles = {"overall": {"facecolor": "#ffffff", "hatch": "..", "label": "all users"}, **GROUP_STYLE}
    width = 0.8 / len(groups)
    with _style():
        fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 1.5 * len(variants) * 2 + 2), 5.0))
        for ax, metric, better in ((axes[0], "auc", "higher"), (axes[1], "nel", "lower")):
            lows, highs = [], []
            for g_index, group in enumerate(groups):
                column = f"{group}_{metric}"
                if column not in table.columns:
                    continue
                style = styles[group]
                stats = table.groupby("variant")[column].agg(["mean", "std"]).reindex(variants)
                xs = np.arange(len(variants)) + (g_index - (len(groups) - 1) / 2) * width
                ax.bar(
                    xs,
                    stats["mean"],
                    width=width * 0.92,
                    yerr=stats["std"].fillna(0),
                    capsize=3,
                    color=style["facecolor"],
                    edgecolor="black",
                    hatch=style["hatch"],
                    label=style["label"],
                    error_kw={"elinewidth": 1, "ecolor": "black"},
                )
                for x, variant in zip(xs, variants):
                    seeds = table.loc[table["variant"] == variant, column].dropna().to_numpy()
                    ax.plot(
                        np.full(len(seeds), x), seeds, "o", markersize=3, color="black", alpha=0.7, zorder=3
                    )
                    if len(seeds):
                        lows.append(seeds.min())
                        highs.append(seeds.max())
                lows += list((stats["mean"] - stats["std"].fillna(0)).dropna())
                highs += list((stats["mean"] + stats["std"].fillna(0)).dropna())
            zoomed = ""
            if lows:
                low, high = min(lows), max(highs)
                pad = 0.25 * (high - low) or 0.05
                ax.set_ylim(max(0.0, low - pad), high + pad)
                zoomed = " (y-axis does not start at 0)" if low - pad > 0 else ""
            ax.set_xticks(range(len(variants)))
            _variant_ticks(ax, variants)
            ax.grid(axis="x", visible=False)
            ax.set_xlabel("method variant")
            ax.set_ylabel(f"test {metric.upper()} ({better} is better)")
            ax.set_title(f"({'a' if metric == 'auc' else 'b'}) {metric.upper()}{zoomed}")
        per_user = runs.per_user()
        users = _user_note(_users(per_user)) if len(per_user) else "users unknown"
        top = _header(
            fig,
            f"CTR test metrics per variant — {dataset}",
            f"{users} · {_seed_note(table)} · bar: mean, error bar: ±1 std, dots: seeds",
            handles=[
                Patch(
                    facecolor=styles[g]["facecolor"],
                    edgecolor="black",
                    hatch=styles[g]["hatch"],
                    label=styles[g]["label"],
                )
                for g in groups
            ],
        )
        return _save(fig, out, name, top)


# --------------------------------------------------------------------------- t-SNE


def _pick_run(runs: Runs, variant: str | None) -> pd.Series:
    variants = variant_order(runs.table)
    if variant is None:  # the paper's Fig. 11 shows its own method: prefer the PAML family
        preferred = [v for method in ("reg-paml", "at-paml", "paml") for v in variants if v == method]
        variant = (preferred or variants)[0]
    elif variant not in variants:
        raise ColdbenchError(f"variant {variant!r} has no finished run (have: {', '.join(variants)})")
    rows = runs.table[runs.table["variant"] == variant].sort_values(["seed", "config_id"])
    return rows.iloc[0]


def user_embeddings(
    run_path: Path, data_dir: Path | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Test users' embeddings from a run's selected checkpoint: ``(vectors, major, config)``."""
    import torch

    from coldbench.training.loaded import load_run

    run = load_run(run_path, data_dir)
    split = run.data.splits["test"]
    with torch.no_grad():
        users = torch.from_numpy(np.array(split.users, dtype=np.int64))
        vectors = run.model.user_embedding(users).double().numpy()
    return vectors, np.asarray(split.major, dtype=bool), run.config


def tsne(
    runs: Runs,
    out: Path,
    data_dir: Path | None = None,
    variant: str | None = None,
    max_users: int = 2000,
    name: str = "tsne",
) -> Figure:
    """t-SNE of test users' embeddings from one run's selected checkpoint, major vs minor (paper Fig. 11).

    Uses the lowest seed of ``variant`` (default: ``reg-paml``, else ``at-paml``, else ``paml``, each
    with default settings, else the first variant in method order; ``report --help`` says so). At most
    ``max_users`` test users are shown (a fixed random subset). Needs the prepared dataset.
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ColdbenchError("the t-SNE figure needs scikit-learn: pip install scikit-learn") from None

    dataset = _one_dataset(runs)
    row = _pick_run(runs, variant)
    vectors, major, _ = user_embeddings(Path(row["path"]), data_dir)
    n_total = len(vectors)
    if n_total > max_users:
        keep = np.sort(np.random.default_rng(0).choice(n_total, size=max_users, replace=False))
        vectors, major = vectors[keep], major[keep]
    if len(vectors) < 5:
        raise ColdbenchError(f"t-SNE needs at least 5 test users, {dataset!r} has {len(vectors)}")
    perplexity = float(min(30.0, (len(vectors) - 1) / 3))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=0).fit_transform(vectors)
    with _style():
        fig, ax = plt.subplots(figsize=(7.0, 6.2))
        ax.scatter(
            points[major, 0],
            points[major, 1],
            s=14,
            marker="o",
            facecolors="#9ecae1",
            edgecolors="#08306b",
            linewidths=0.4,
            alpha=0.8,
            label=f"major users ({int(major.sum())})",
        )
        ax.scatter(
            points[~major, 0],
            points[~major, 1],
            s=22,
            marker="^",
            facecolors="#e6550d",
            edgecolors="black",
            linewidths=0.4,
            alpha=0.85,
            label=f"minor users ({int((~major).sum())})",
        )
        ax.set_xlabel("t-SNE dimension 1")
        ax.set_ylabel("t-SNE dimension 2")
        epoch = row.get("selected_epoch")
        at_epoch = f", epoch {int(epoch)}" if epoch is not None and not pd.isna(epoch) else ""
        ax.set_title(f"{row['variant']}, seed {row['seed']} (selected checkpoint{at_epoch})")
        ax.legend(loc="best", frameon=True)
        shown = f"{len(vectors)} of {n_total}" if n_total > len(vectors) else f"{n_total}"
        distinct = len(np.unique(vectors, axis=0))
        overlap = (
            f" ({distinct} distinct embeddings; identical users overlap)" if distinct < len(vectors) else ""
        )
        top = _header(
            fig,
            f"t-SNE of test users' embeddings — {dataset}",
            f"{shown} test users{overlap} · 1 run: {row['variant']}, seed {row['seed']} · "
            f"perplexity {perplexity:.3g}, PCA init",
        )
        return _save(fig, out, name, top)


def _means_and_intervals(groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group of values (NaNs dropped): the mean and its 95% t-interval, as three arrays."""
    rows = []
    for group in groups:
        values = np.asarray(group, dtype=float)
        values = values[~np.isnan(values)]
        rows.append((values.mean() if len(values) else np.nan, *t_interval(values, 0.95)))
    means, lows, highs = (np.array(column) for column in zip(*rows))
    return means, lows, highs


# --------------------------------------------------------------------------- four states


def states(runs: Runs, out: Path, metric: str | None = None, name: str = "states") -> Figure:
    """Each variant's test metric in the four cold-start states, with its 95% CI over the state's users.

    The picture of ``report --table states``: states on the x axis (warm, user-cold, item-cold,
    user-item-cold), one line per variant, floors dashed. Each user's value is averaged over seeds
    first; warm and item-cold are training users, user-cold and user-item-cold test users.
    """
    dataset = _one_dataset(runs)
    runs, dataset = _shorten(runs, dataset)
    per_user = runs.per_user(state=None)
    if per_user.empty or not per_user["state"].isin(["warm", "item-cold"]).any():
        raise ColdbenchError(
            f"{dataset}: no runs of the four-state protocol (prepare the data with --item-split)"
        )
    metric = metric or _pick_metric(per_user.columns, ("mse", "auc"), "per-user results")
    users = per_user.groupby(["variant", "state", "user_id"], as_index=False)[metric].mean()
    variants = variant_order(runs.table)
    offsets = np.linspace(-0.3, 0.3, len(variants)) if len(variants) > 1 else np.zeros(1)
    colors = sns.color_palette("tab20" if len(variants) > 10 else "tab10", len(variants))
    with _style():
        fig, ax = plt.subplots(figsize=(9.0, 5.5))
        for index, variant in enumerate(variants):
            method = variant.split(" ")[0]
            part = users[users["variant"] == variant]
            means, lows, highs = _means_and_intervals(part.loc[part["state"] == s, metric] for s in STATES)
            x = np.arange(len(STATES)) + offsets[index]
            ax.errorbar(
                x,
                means,
                yerr=[means - lows, highs - means],
                marker=MARKERS[index % len(MARKERS)],
                linestyle="--" if method in FLOORS else "-",
                linewidth=0.8,
                capsize=3,
                color=colors[index],
                label=variant,
            )
        ax.set_xticks(range(len(STATES)))
        ax.set_xticklabels(
            [
                "warm\n(training users,\nexisting items)",
                "user-cold\n(test users,\nexisting items)",
                "item-cold\n(training users,\nnew items)",
                "user-item-cold\n(test users,\nnew items)",
            ]
        )
        ax.set_ylabel(f"test {metric.upper()} (mean over users, 95% CI)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        top = _header(
            fig,
            f"Four cold-start states — {dataset}",
            f"{_seed_note(runs.table)} · each user's value averaged over seeds · floors dashed",
        )
        return _save(fig, out, name, top)


# --------------------------------------------------------------------------- k-shot curves


def shots(runs: Runs, out: Path, metric: str | None = None, name: str = "shots") -> Figure:
    """Each variant's test metric against the support size k (``coldbench evaluate``), log2 axis.

    Two panels: (a) every test user with at least k support ratings at each k; (b) only the users
    with at least the largest k, the same users at every k. A line per variant with its 95% CI over
    users as a band (each user's value averaged over seeds first); floors dashed; k = 0 (no
    adaptation) sits one step left of k = 1.
    """
    from coldbench.report.tables.shots import shot_users

    dataset = _one_dataset(runs)
    runs, dataset = _shorten(runs, dataset)
    frame = runs.shots()
    if frame.empty:
        raise ColdbenchError(
            f"{dataset}: no k-shot results; score the runs first: coldbench evaluate RESULTS"
        )
    metric = metric or _pick_metric(frame.columns, ("mse", "auc"), "k-shot results")
    variants = [v for v in variant_order(runs.table) if v in set(frame["variant"])]
    colors = sns.color_palette("tab20" if len(variants) > 10 else "tab10", len(variants))
    with _style():
        fig, axes = plt.subplots(1, 2, figsize=(12.0, 5.0), sharey=True)
        for ax, users, title in zip(
            axes,
            ("all", "fixed"),
            ("(a) every user with at least k ratings", "(b) the same users at every k"),
        ):
            part = shot_users(frame, users)
            part = part[part["k"] >= 0]
            for index, variant in enumerate(variants):
                rows = part[part["variant"] == variant]
                per_user = rows.groupby(["k", "user_id"])[metric].mean()
                ks = sorted(rows["k"].unique())
                x = np.array([np.log2(k) if k > 0 else -1.0 for k in ks])
                means, lows, highs = _means_and_intervals(per_user.loc[k] for k in ks)
                style = "--" if variant.split(" ")[0] in FLOORS else "-"
                ax.plot(
                    x,
                    means,
                    linestyle=style,
                    marker=MARKERS[index % len(MARKERS)],
                    color=colors[index],
                    label=variant,
                )
                ax.fill_between(x, lows, highs, color=colors[index], alpha=0.12, linewidth=0)
            ks_all = sorted(part["k"].unique())
            ax.set_xticks([np.log2(k) if k > 0 else -1.0 for k in ks_all])
            ax.set_xticklabels([str(k) for k in ks_all])
            ax.set_xlabel("support ratings k (log2 axis; 0: no adaptation)")
            n = part.loc[part["variant"] == variants[0]].groupby("k")["user_id"].nunique()
            sizes = ", ".join(f"{k}: {count}" for k, count in n.items())
            ax.set_title(f"{title}\nusers per k: {sizes}", fontsize=9)
        axes[0].set_ylabel(f"test {metric.upper()} (mean over users, 95% CI band)")
        axes[1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        top = _header(
            fig,
            f"How much support a user needs — {dataset}",
            f"{_seed_note(runs.table)} · supports cut to a seeded random k of each user's ratings, nested · "
            "floors dashed",
        )
        return _save(fig, out, name, top)


FIGURES: dict[str, Callable[..., Figure]] = {
    "boxplot": boxplot,
    "lr-hist": lr_hist,
    "tsne": tsne,
    "ctr": ctr,
    "curves": curves,
    "states": states,
    "shots": shots,
}
