"""Renderers: a ``ReportTable`` as a rich table, Markdown, LaTeX (booktabs) or CSV."""

from __future__ import annotations

import csv
import io
import re

from rich.markup import escape
from rich.table import Table

from coldbench.report.tables.base import Cell, ReportTable
from coldbench.report.tables.paper import SETTING_SPLIT


def _group_starts(report: ReportTable) -> set[int]:
    """Indices of rows that start a new group (after the first)."""
    groups = report.groups
    return {i for i in range(1, len(groups)) if groups[i] != groups[i - 1]}


_MARKDOWN_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _rich_text(text: str) -> str:
    """Plain text as rich markup: brackets escaped, Markdown ``**bold**`` turned into bold."""
    return _MARKDOWN_BOLD.sub(r"[bold]\1[/bold]", escape(text))


LABEL_WIDTH = 15  # a label is packed into lines of about this many characters


def _rich_label(text: str) -> str:
    """A row label: the method, then its settings (dimmed), packed into lines of ``LABEL_WIDTH``
    characters (a longer single setting gets a line of its own): the column stays narrow enough
    for the numbers at 80 columns, and a label with a setting or two takes two lines."""
    method, sep, rest = text.partition(" (")
    if not sep:
        return escape(text)
    settings = SETTING_SPLIT.split("(" + rest)
    parts = [f"{part}{',' if i < len(settings) - 1 else ''}" for i, part in enumerate(settings)]
    lines: list[list[str]] = [[method]]
    for part in parts:
        if len(" ".join(lines[-1])) + 1 + len(part) <= LABEL_WIDTH:
            lines[-1].append(part)
        else:
            lines.append([part])
    first, *settings_only = lines
    head = " ".join([escape(first[0]), *(f"[dim]{escape(part)}[/dim]" for part in first[1:])])
    return "\n".join([head, *(f"[dim]{escape(' '.join(line))}[/dim]" for line in settings_only)])


def to_rich(report: ReportTable) -> Table:
    """A rich table that never cuts a cell: the label column keeps its width, other cells wrap.

    Labels never wrap (``no_wrap``): a variant's settings follow its method, packed into short
    lines, so the column stays narrow. Other cells wrap at spaces and fold rather than end in an
    ellipsis.
    """
    caption = "\n".join(_rich_text(line) for line in report.caption)
    table = Table(title=_rich_text(report.title), caption=caption, caption_justify="left", show_edge=False)
    for index, column in enumerate(report.columns):
        first = index == 0
        words = [word for row in report.rows for word in row[index].text.split()] if not first else []
        table.add_column(
            _rich_text(column),
            justify="left" if first else "right",
            no_wrap=first,
            overflow="fold",
            min_width=max(map(len, words), default=None),  # a number is never folded across lines
        )
    starts = _group_starts(report)
    for i, row in enumerate(report.rows):
        cells = []
        for index, c in enumerate(row):
            text = _rich_label(c.text) if index == 0 else escape(c.text)
            cells.append(f"[bold]{text}[/]" if c.bold else f"[italic]{text}[/]" if c.italic else text)
        table.add_row(*cells, end_section=i + 1 in starts)
    return table


def to_markdown(report: ReportTable) -> str:
    """A Markdown table; a row with the group's name in italics starts each group after the first."""

    def cell(c: Cell) -> str:  # a significance star is escaped: it must not read as emphasis
        text = c.text.replace("*", r"\*")
        return f"**{text}**" if c.bold else f"*{text}*" if c.italic else text

    lines = [
        f"**{report.title}**",
        "",
        "| " + " | ".join(report.columns) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(report.columns) - 1)) + "|",
    ]
    starts = _group_starts(report)
    for i, row in enumerate(report.rows):
        if i in starts:
            lines.append(f"| *{report.groups[i]}* |" + " |" * (len(report.columns) - 1))
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    lines += [""] + [f"- {_markdown_note(note)}" for note in report.caption]
    return "\n".join(lines) + "\n"


def _markdown_note(note: str) -> str:
    """A caption line; a leading ``* `` (the star's legend) escaped so that it is no nested bullet."""
    return "\\" + note if note.startswith("* ") else note


def _latex_escape(text: str) -> str:
    for old, new in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(old, new)
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("γ", r"$\gamma$").replace("–", "--")


def to_latex(report: ReportTable) -> str:
    """A booktabs ``table``; ``\\midrule`` between groups."""

    def cell(c: Cell) -> str:
        text = _latex_escape(c.text)
        return rf"\textbf{{{text}}}" if c.bold else rf"\textit{{{text}}}" if c.italic else text

    spec = "l" + "r" * (len(report.columns) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in report.columns) + r" \\",
        r"\midrule",
    ]
    starts = _group_starts(report)
    for i, row in enumerate(report.rows):
        if i in starts:
            lines.append(r"\midrule")
        lines.append(" & ".join(cell(c) for c in row) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{_latex_escape(report.title)}. {_latex_escape('; '.join(report.caption))}}}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def to_csv(report: ReportTable) -> str:
    """Cell text, plus a last column ``group`` naming each row's group (``methods``, ``floors``...)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    groups = report.groups or [""] * len(report.rows)
    writer.writerow([*report.columns, "group"])
    writer.writerows([*(c.text for c in row), group] for row, group in zip(report.rows, groups))
    return buffer.getvalue()


RENDERERS = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv}
