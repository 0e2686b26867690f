"""Every registered claim (``tests/claims.py``) appears in its document with the numbers the
committed studies give; a claim whose prose or study changed alone fails."""

from __future__ import annotations

import re

import pytest
from claims import CLAIMS, ROOT, Claim, normalised, pval


def _id(claim: Claim) -> str:
    return f"{claim.doc}:{claim.text[:40]}"


@pytest.mark.parametrize("claim", CLAIMS, ids=_id)
def test_a_claim_reads_in_its_document_as_the_committed_data_give_it(claim):
    document = normalised((ROOT / claim.doc).read_text(encoding="utf-8"))
    rendered = normalised(claim.rendered())
    if rendered not in document:
        pattern = re.escape(normalised(claim.text.split("{")[0]))
        near = re.search(pattern + ".{0,160}", document) if pattern else None
        pytest.fail(f"{claim.doc}: expected «{rendered}»; the document has «{near.group() if near else '—'}»")


def test_editing_one_number_in_a_checked_sentence_fails_the_check():
    claim = next(c for c in CLAIMS if c.doc == "docs/results.md" and "minor/major gap" in c.text)
    document = normalised((ROOT / claim.doc).read_text(encoding="utf-8"))
    rendered = normalised(claim.rendered())
    assert rendered in document
    edited = document.replace(rendered, rendered.replace(claim.values()["high"], "0.996"))
    assert edited != document and rendered not in edited


def test_a_changed_study_changes_the_rendered_claim():
    claim = next(c for c in CLAIMS if "constant predictor scores here" in c.text)
    changed = Claim(claim.doc, claim.text, lambda: {"constant": "1.229"})
    assert changed.rendered() != claim.rendered()


@pytest.mark.parametrize(
    ("p", "text"), [(6.1e-6, "6e-6"), (0.0052, "0.0052"), (0.38, "0.38"), (0.052, "0.052"), (1.0, "1")]
)
def test_p_values_are_written_as_the_prose_writes_them(p, text):
    assert pval(p) == text
