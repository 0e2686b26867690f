"""``coldbench demo`` end to end on a tiny synthetic dataset (a smoke test; not timed)."""

from __future__ import annotations

from coldbench.methods import METHODS
from coldbench.studies.demo import demo_methods
from coldbench.testing import TINY_SYNTHETIC

TINY = [arg for key, value in TINY_SYNTHETIC.items() for arg in ("-o", f"{key}={value}")]


def test_demo_trains_every_method_reports_and_explains(tmp_path, cli):
    assert sorted(demo_methods()) == sorted(METHODS.names())
    args = ["--results-dir", str(tmp_path / "res"), "--data-dir", str(tmp_path / "data")]
    args += ["--out", str(tmp_path / "fig"), "--epochs", "1", "--seeds", "1", *TINY]
    code, out, err = cli("demo", *args)
    assert code == 0, err
    for method in demo_methods():
        assert f") {method} " in out  # one progress line per method
    assert "Main results — synthetic-demo" in out and "Major vs minor users — synthetic-demo" in out
    assert "What you just saw" in out and "Next steps" in out
    assert "prepare movielens --source ml-1m.zip --extras movies_extrainfos.dat" in out
    assert (tmp_path / "fig" / "boxplot.png").is_file()
    assert "**" not in out and "[bold]" not in out
    code, again, err = cli("demo", *args, "--methods", "global,bias", "--no-figure")
    assert code == 0, err
    assert again.count("earlier runs reused") == 2 and "Figure:" not in again


def test_demo_bad_input_is_one_line(tmp_path, cli):
    for args, words in (
        (["--methods", "pam"], "pam"),
        (["--seeds", "0"], "--seeds"),
        (["--threads", "0"], "--threads"),
        (["-o", "users=abc"], "users"),
        (["--set", "epochs"], "--set"),
    ):
        code, _, err = cli("demo", "--data-dir", str(tmp_path), *args)
        assert code == 1 and words in err and len(err.strip().splitlines()) == 1, (args, err)
