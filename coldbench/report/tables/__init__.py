"""The tables from finished runs: main (Table 2), ablation (3), minor-major (4/5), ctr, states, shots, splits.

One module per table (``main``, ``ablation``, ``minor_major``, ``ctr``, ``states``, ``shots``,
``splits``), each
a builder that returns a ``ReportTable`` (cells with bold/italic marks, row groups and a caption); beside them
what they share: ``base`` (cells, row order, metrics, one dataset's runs), ``measure`` (values,
intervals and tests of one preparation's runs, with ``coldbench.report.stats``), ``compare``
(which rows are tested against which, as one family for the multiple-comparison correction),
``metric_table`` (the builder of the metric tables), ``paper`` (the paper's reported numbers,
labelled as such) and ``render`` (rich, Markdown, LaTeX, CSV). A value is the mean over seeds
with its 95% confidence interval (over test users, or over seeds with ``test="seeds"``).
A new table is one module here and one entry in ``TABLES`` (and its name in ``choices``).
"""

from coldbench.report.tables.ablation import ablation_table
from coldbench.report.tables.base import (
    FLOORS,
    METHOD_ORDER,
    Cell,
    ReportTable,
    check_options,
    metric_label,
    one_dataset,
    ordered_variants,
)
from coldbench.report.tables.ctr import ctr_table
from coldbench.report.tables.main import main_table
from coldbench.report.tables.measure import Measurements
from coldbench.report.tables.minor_major import minor_major_table
from coldbench.report.tables.paper import paper_match, paper_numbers
from coldbench.report.tables.render import RENDERERS, to_csv, to_latex, to_markdown, to_rich
from coldbench.report.tables.shots import shots_table
from coldbench.report.tables.splits import splits_table
from coldbench.report.tables.states import states_table

TABLES = {
    "main": main_table,
    "ablation": ablation_table,
    "minor-major": minor_major_table,
    "ctr": ctr_table,
    "states": states_table,
    "shots": shots_table,
    "splits": splits_table,
}

__all__ = [
    "FLOORS",
    "METHOD_ORDER",
    "RENDERERS",
    "TABLES",
    "Cell",
    "Measurements",
    "ReportTable",
    "ablation_table",
    "check_options",
    "ctr_table",
    "main_table",
    "metric_label",
    "minor_major_table",
    "one_dataset",
    "shots_table",
    "splits_table",
    "states_table",
    "ordered_variants",
    "paper_match",
    "paper_numbers",
    "to_csv",
    "to_latex",
    "to_markdown",
    "to_rich",
]
