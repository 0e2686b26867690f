"""A corpus of bad inputs for ``prepare`` and ``datasets``.

Each case must end with exactly one line on stderr (no traceback), a non-zero exit code, and
the data home unchanged: existing prepared data and raw downloads byte for byte the same.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from test_atomic import INTER, ITEM, USER
from test_atomic import write as write_atomic
from test_movielens import EXTRAS, MOVIES, RATINGS, USERS, write_zip

from coldbench.data.prepare import prepare

SMALL = ["-o", "users=300", "-o", "items=60"]
ENV_LIKE = "PATH=/usr/bin:/bin\tHOME=/root\tSECRET_TOKEN=" + "x" * 5000  # a file that is not a header


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home with one prepared dataset and a raw download, built once."""
    home = tmp_path_factory.mktemp("template-home")
    prepare("synthetic", options={"users": "300", "items": "60"}, data_dir=home)
    raw = home / "raw" / "movielens"
    raw.mkdir(parents=True)
    (raw / "ml-1m.zip").write_bytes(b"an earlier download")
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(template, copy)
    return copy


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (lock files aside: they hold no data)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix != ".lock"
    }


def ml_zip(folder: Path, ratings: str | bytes = RATINGS, users: str | bytes = USERS) -> Path:
    members = {"ml-1m/ratings.dat": ratings, "ml-1m/users.dat": users, "ml-1m/movies.dat": MOVIES}
    return write_zip(folder / "ml-1m.zip", members)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Bad (and good) source files the cases refer to as ``{key}``."""
    return {key: str(path) for key, path in inputs(tmp_path_factory.mktemp("inputs")).items()}


def inputs(folder: Path) -> dict[str, Path]:
    """Write the files of ``files`` into ``folder``."""
    extras = folder / "movies_extrainfos.dat"
    extras.write_text(EXTRAS)
    made = {"extras": extras}
    made["ml_ok"] = ml_zip(_sub(folder, "ok"))
    made["ml_superscript"] = ml_zip(_sub(folder, "a"), ratings=RATINGS.replace("9::20", "\u00b2::20"))
    made["ml_long_id"] = ml_zip(_sub(folder, "b"), ratings=RATINGS + "1" * 30 + "::10::4::\n")
    made["ml_huge_line"] = ml_zip(_sub(folder, "c"), ratings=RATINGS + "9" * (2 << 20) + "::10::4::\n")
    made["ml_blank_lines"] = ml_zip(_sub(folder, "d"), ratings=b"\n" * (4 << 20))
    made["ml_rating"] = ml_zip(_sub(folder, "e"), ratings=RATINGS.replace("::5::", "::1e308::"))
    made["ml_env"] = ml_zip(_sub(folder, "f"), users=ENV_LIKE)
    made["not_zip"] = folder / "not.zip"
    made["not_zip"].write_text(ENV_LIKE)
    for key, rating in (("big", "1e308"), ("neg", "-1e308"), ("inf", "inf"), ("text", "four")):
        made[f"atomic_{key}"] = write_atomic(
            _sub(folder, f"atomic-{key}"), inter=INTER.replace("\t4\t", f"\t{rating}\t", 1)
        )
    env_folder = _sub(folder, "atomic-env")
    (env_folder / "toy.inter").write_text(ENV_LIKE + "\n1\t2\t3\n")
    made["atomic_env"] = env_folder
    made["atomic_ok"] = write_atomic(_sub(folder, "atomic-ok"), inter=INTER, user=USER, item=ITEM)
    made["atomic_repeated"] = write_atomic(_sub(folder, "atomic-repeated"), inter=INTER + "u1\ti1\t3\t103\n")
    made["atomic_below_zero"] = write_atomic(
        _sub(folder, "atomic-below-zero"), inter=INTER.replace("\t4\t", "\t-2\t", 1)
    )
    made["atomic_age_token"] = write_atomic(
        _sub(folder, "atomic-age-token"),
        user=USER.replace("age:float", "age:token").replace("\t24\t", "\ta0\t"),
    )
    bx = _sub(folder, "bx")
    for name in ("BX-Book-Ratings.csv", "BX-Users.csv", "BX-Books.csv"):
        (bx / name).write_text(ENV_LIKE + "\n")
    made["bx_env"] = bx
    return made


def _sub(folder: Path, name: str) -> Path:
    path = folder / name
    path.mkdir()
    return path


NAME_CASES = [
    ["--name", "."],
    ["--name", ".", "--force"],
    ["--name", ".."],
    ["--name", "../raw", "--force"],
    ["--name", "../../x"],
    ["--name", "/srv/coldbench-abs"],
    ["--name", "a/b"],
    ["--name", ".hidden"],
    ["--name", ""],
    ["--name", "x" * 300],
    ["--name", "a b"],
    ["--name", "syn\u00b2"],
    ["--name", "a\nb"],
]
SYNTHETIC_OPTIONS = [
    "noise=nan",
    "noise=inf",
    "noise=-1",
    "purity=2",
    "purity=-0.1",
    "imbalance=-50",
    "imbalance=1e400",
    "users=0",
    "users=-5",
    "users=1.5",
    "users=abc",
    "users=" + "9" * 40,
    "users=\u00b2",
    "groups=0",
    "items=0",
    "mean_interactions=-3",
    "mean_interactions=0.5",
    "data_seed=-1",
    "noise=",
    "colour=red",
    "=5",
    "novalue",
]
PROTOCOL_CASES = [
    ["--task", "ctr", "--click-threshold", "nan"],
    ["--task", "ctr", "--click-threshold", "inf"],
    ["--split", "inf:1:2"],
    ["--split", "nan:1:2"],
    ["--split", "7:1"],
    ["--split", "-1:1:2"],
    ["--split", "0:0:0"],
    ["--split", "a:b:c"],
    ["--seed", "-1"],
    ["--cold-fraction", "nan"],
    ["--cold-fraction", "0"],
    ["--cold-fraction", "1.5"],
    ["--support-fraction", "1"],
    ["--major-fraction", "0"],
    ["--min-interactions", "1"],
    ["--major-min-features", "0"],
    ["--subset", "0"],
    ["--subset", "-3"],
    ["--major-basis", "everyone"],
    ["--task", "clicks"],
]
PREPARE_CASES = (
    [["synthetic", *SMALL, *case] for case in NAME_CASES]
    + [["synthetic", "-o", option] for option in SYNTHETIC_OPTIONS]
    + [["synthetic", *SMALL, *case] for case in PROTOCOL_CASES]
    + [
        ["movielns"],
        ["nosuch", "--force"],
        ["synthetic", "--no-verify", "true"],
        ["synthetic", "--source", "/nonexistent/ml-1m.zip"],
        ["movielens", "--source", "{ml_superscript}", "--extras", "/nonexistent/extras", "--no-verify"],
        ["movielens", "--source", "{ml_superscript}", "--extras", "{extras}", "--no-verify"],
        ["movielens", "--source", "{ml_long_id}", "--extras", "{extras}", "--no-verify"],
        ["movielens", "--source", "{ml_huge_line}", "--extras", "{extras}", "--no-verify"],
        ["movielens", "--source", "{ml_blank_lines}", "--extras", "{extras}", "--no-verify"],
        ["movielens", "--source", "{ml_rating}", "--extras", "{extras}", "--no-verify"],
        ["movielens", "--source", "{ml_env}", "--extras", "{extras}", "--no-verify"],
        ["movielens", "--source", "{not_zip}", "--extras", "{extras}", "--no-verify"],
        ["movielens", "--source", "{ml_rating}", "--extras", "{extras}", "-o", "rate_feature=maybe"],
        ["movielens", "--source", "{ml_rating}", "--extras", "{extras}", "--name", "../raw", "--force"],
        ["atomic", "{atomic_big}"],
        ["atomic", "{atomic_neg}"],
        ["atomic", "{atomic_inf}"],
        ["atomic", "{atomic_text}"],
        ["atomic", "{atomic_env}"],
        ["atomic", "{atomic_below_zero}"],
        ["atomic", "{atomic_age_token}"],
        ["atomic", "{atomic_ok}", "-o", "name=../escape"],
        ["atomic", "{atomic_ok}", "-o", "name=.."],
        ["atomic", "{atomic_ok}", "-o", "rating_field=nosuch"],
        ["bookcrossing", "{bx_env}"],
        ["taobao", "--task", "ctr"],
        ["taobao", "--task", "ctr", "-o", "sample_users=0"],
        ["taobao", "--task", "ctr", "-o", "sample_users=-1", "--source", "{bx_env}"],
    ]
)
DATASETS_CASES = [["datasets", "--data-dir"], ["datasets", "--bogus"]]


def _ids(cases: list[list[str]]) -> list[str]:
    return [" ".join(case)[:60].replace("\n", "\\n") for case in cases]


def check_one_line_failure(cli, args: list[str], home: Path) -> str:
    before = tree_digest(home)
    code, out, err = cli(*args)
    assert code != 0, out
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 or code == 2, err  # code 2: Typer's own usage error (usage + one message)
    assert len(err) < 1200, err  # echoed input is cut to a short excerpt
    assert "SECRET_TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" not in err
    assert tree_digest(home) == before
    assert not [p for p in home.rglob(".*.tmp")] and not [p for p in home.rglob(".*.old")]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("case", PREPARE_CASES, ids=_ids(PREPARE_CASES))
def test_prepare_bad_input(cli, home: Path, files: dict[str, str], case: list[str]) -> None:
    args = [part.format(**files) for part in case]
    line = check_one_line_failure(cli, ["prepare", *args, "--data-dir", str(home)], home)
    assert line.startswith("error:") or "Error" in line or "Usage" in line, line


@pytest.mark.parametrize("case", DATASETS_CASES, ids=_ids(DATASETS_CASES))
def test_datasets_bad_input(cli, home: Path, case: list[str]) -> None:
    check_one_line_failure(cli, case, home)


def test_corpus_size() -> None:
    """The corpus is large and each class is represented (reported in the hardening summary)."""
    assert len(PREPARE_CASES) + len(DATASETS_CASES) >= 80


# ---------------------------------------------------------------- tampered prepared data


def _flip_positions(size: int, count: int) -> list[int]:
    return sorted({int(size * (i + 0.5) / count) for i in range(count)})


@pytest.mark.parametrize("table", ["interactions", "users", "items"])
def test_bit_flips_are_refused(home: Path, table: str) -> None:
    """25 single-bit flips spread over each table: every one is refused, naming the file."""
    from coldbench.data.prepared import load_prepared
    from coldbench.errors import ColdbenchError

    file = home / "prepared" / "synthetic" / f"{table}.parquet"
    original = file.read_bytes()
    for position in _flip_positions(len(original), 25):
        flipped = bytearray(original)
        flipped[position] ^= 1 << (position % 8)
        file.write_bytes(bytes(flipped))
        with pytest.raises(
            ColdbenchError, match=rf"{table}\.parquet: .*prepare synthetic --name synthetic --force"
        ):
            load_prepared("synthetic", home)
    file.write_bytes(original)
    assert load_prepared("synthetic", home).manifest["name"] == "synthetic"


def test_changed_rating_is_refused_and_old_manifests_use_the_content_hash(home: Path) -> None:
    import json

    import pandas as pd

    from coldbench.data.prepared import load_prepared
    from coldbench.errors import ColdbenchError

    folder = home / "prepared" / "synthetic"
    frame = pd.read_parquet(folder / "interactions.parquet")
    frame.loc[0, "rating"] = 6 - frame.loc[0, "rating"]
    frame.to_parquet(folder / "interactions.parquet", index=False)
    with pytest.raises(ColdbenchError, match=r"interactions\.parquet: changed since it was prepared"):
        load_prepared("synthetic", home)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"]  # as written by an older coldbench: the content hash is recomputed
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ColdbenchError, match=r"do not match the manifest's content hash.*--force"):
        load_prepared("synthetic", home)
    (folder / "interactions.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(ColdbenchError, match=r"interactions\.parquet: not a readable parquet file"):
        load_prepared("synthetic", home)


def test_unknown_dataset_suggests_closest_name(home: Path) -> None:
    from coldbench.data.prepared import load_prepared
    from coldbench.errors import ColdbenchError

    with pytest.raises(ColdbenchError, match=r"'synthetc' is not prepared.*did you mean 'synthetic'\?"):
        load_prepared("synthetc", home)
    with pytest.raises(ColdbenchError, match=r"run `coldbench prepare movielens` first"):
        load_prepared("movielns", home)
    with pytest.raises(ColdbenchError, match=r"run `coldbench prepare movielens --task ctr` first"):
        load_prepared("movielens-ctr", home)
    for bad in ("../raw", ".", "/etc", "a/b", str(home / "raw")):
        with pytest.raises(ColdbenchError, match=r"option --dataset .*not a plain name"):
            load_prepared(bad, home)
    folder = home / "prepared" / "synthetic"  # an explicit prepared folder may be given as a path
    assert load_prepared(str(folder), home).path == folder


# ---------------------------------------------------------------- writing: locks, temps, modes, errors


def test_second_prepare_waits_for_the_lock_then_reuses(home: Path) -> None:
    import fcntl
    import threading
    import time

    from coldbench.atomic_io import lock_path

    dest = home / "prepared" / "synthetic"
    waited: list[Path] = []
    with open(lock_path(dest), "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result: list = []
        worker = threading.Thread(
            target=lambda: result.append(
                prepare(
                    "synthetic", options={"users": "300", "items": "60"}, data_dir=home, on_wait=waited.append
                )
            )
        )
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive() and waited == [lock_path(dest)]  # waiting, and said so once
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(10)
    assert result and result[0].reused is True


def test_stale_temporaries_are_removed_on_the_next_run(home: Path) -> None:
    root = home / "prepared"
    stale = [
        root / ".synthetic.abcd1234.tmp",
        root / ".synthetic.zz_09xyz.old",
        root / ".synthetic.q1w2e3r4.tmp",
    ]
    stale[0].mkdir()
    (stale[0] / "users.parquet").write_bytes(b"half")
    stale[1].mkdir()
    stale[2].write_bytes(b"half a file")
    other = root / ".synthetic-2.abcd1234.tmp"  # another dataset's temporary is left alone
    other.mkdir()
    prepare("synthetic", options={"users": "300", "items": "60"}, data_dir=home)
    assert not any(p.exists() for p in stale)
    assert other.exists()


def test_modes_follow_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    from coldbench.atomic_io import atomic_path

    old = os.umask(0o022)
    try:
        result = prepare("synthetic", options={"users": "300", "items": "60"}, data_dir=tmp_path)
        with atomic_path(tmp_path / "out.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o755
    for file in [*result.path.iterdir(), tmp_path / "out.json"]:
        assert stat.S_IMODE(file.stat().st_mode) == 0o644, file


@pytest.mark.parametrize(
    ("code", "words"), [(28, "no space left"), (30, "read-only"), (13, "permission denied")]
)
def test_write_failures_are_one_line_and_keep_earlier_data(
    cli, home: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    import os

    import pandas as pd

    original = pd.DataFrame.to_parquet

    def failing(self: pd.DataFrame, path: Path, *args: object, **kwargs: object) -> None:
        if Path(path).name == "users.parquet":
            raise OSError(code, os.strerror(code), str(path))
        original(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing)
    line = check_one_line_failure(
        cli, ["prepare", "synthetic", *SMALL, "--force", "--data-dir", str(home)], home
    )
    assert "cannot write" in line and "users.parquet" in line and words in line
    assert "nothing written before was changed" in line


# ---------------------------------------------------------------- output and helpers


def test_prepare_output_and_datasets_listing(cli, tmp_path: Path, files: dict[str, str]) -> None:
    code, out, err = cli(
        "prepare",
        "atomic",
        files["atomic_ok"],
        "--data-dir",
        str(tmp_path),
        "--cold-fraction",
        "1",
        "--split",
        "1:0:0",
    )
    assert code == 0, err
    assert "{" not in out and "dropped " in out  # a readable line, not a Python dict
    code, out, _ = cli("prepare", "synthetic", *SMALL, "--data-dir", str(tmp_path))
    assert code == 0
    args = ["--extras", files["extras"], "--no-verify", "--split", "1:0:0", "--cold-fraction", "1"]
    code, out, err = cli(
        "prepare", "movielens", "--source", files["ml_ok"], *args, "--data-dir", str(tmp_path)
    )
    assert code == 0, err
    assert "NOT verified (--no-verify)" in out
    code, out, _ = cli("datasets", "--data-dir", str(tmp_path))
    assert code == 0
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert "unverified (no checksum)" in rows["atomic-ok"]
    assert "unverified (--no-verify)" in rows["movielens"]
    assert "built-in" in rows["synthetic"]
    (tmp_path / "prepared" / "synthetic" / "manifest.json").write_text("{}")
    code, out, _ = cli("datasets", "--data-dir", str(tmp_path))
    assert code == 0 and "unreadable" in out


def test_flags_have_no_value_metavar(cli) -> None:
    code, out, _ = cli("prepare", "--help")
    assert code == 0
    for flag in ("--no-verify", "--force"):
        line = next(line for line in out.splitlines() if flag in line)
        assert "<bool>" not in line


def test_excerpt_is_short_and_printable() -> None:
    from coldbench.excerpt import excerpt

    assert excerpt("abc") == "'abc'"
    assert excerpt("a\nb\x00") == "'a\\nb\\x00'"
    long = excerpt("x" * 10_000)
    assert len(long) < 80 and long.endswith("(10,000 characters)")
    assert excerpt(b"\xff\n") == "'ÿ\\n'"


def test_option_specs() -> None:
    from coldbench.data.optspec import Spec
    from coldbench.errors import ColdbenchError

    assert Spec(int, 0, 0, 10).parse("k", " 7 ") == 7
    assert Spec(float, 0.0, 0, 1, open_low=True).parse("k", "1") == 1.0
    assert Spec(bool, False).parse("k", "Yes") is True
    for spec, text in [
        (Spec(int, 0, 0, 10), "1e1"),
        (Spec(int, 0, 0, 10), "٣"),  # an Arabic-Indic digit is not an ASCII integer
        (Spec(float, 0.0, 0, 1, open_low=True), "0"),
        (Spec(float, 0.0), "nan"),
        (Spec(float, 0.0), "-inf"),
        (Spec(float, 0.0), "1" * 100),
        (Spec(str, None, name=True), "../x"),
    ]:
        with pytest.raises(ColdbenchError, match=r"^option k"):
            spec.parse("k", text)


def test_a_write_goes_through_a_symbolic_link_and_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """Writing onto a link replaces the linked file, not the link; a pipe or folder is refused untouched."""
    import os

    from coldbench.atomic_io import atomic_path
    from coldbench.errors import ColdbenchError

    target = tmp_path / "real.md"
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    with atomic_path(link) as tmp:
        tmp.write_text("new")
    assert link.is_symlink() and target.read_text() == "new"
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    folder = tmp_path / "folder"
    folder.mkdir()
    for dest in (pipe, folder, tmp_path / "to-pipe"):
        if dest.name == "to-pipe":
            dest.symlink_to(pipe)
        with pytest.raises(ColdbenchError, match="not a regular file"):
            with atomic_path(dest) as tmp:
                tmp.write_text("x")
    assert pipe.exists() and not pipe.is_file() and folder.is_dir() and not any(folder.iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("atomic_below_zero", "rating -2.0 of user 'u1', item 'i1' (1 such ratings)"),
        ("atomic_age_token", "toy.user line 2: 'a0' is not a number (column 'age')"),
    ],
)
def test_bad_atomic_values_are_named_in_plain_words(
    cli, home: Path, files: dict[str, str], key, message
) -> None:
    line = check_one_line_failure(cli, ["prepare", "atomic", files[key], "--data-dir", str(home)], home)
    assert message in line and "np." not in line, line


def test_prepare_says_how_many_repeated_pairs_it_dropped(cli, tmp_path: Path, files: dict[str, str]) -> None:
    args = ["--data-dir", str(tmp_path), "--cold-fraction", "1", "--split", "1:0:0"]
    code, out, err = cli("prepare", "atomic", files["atomic_repeated"], *args)
    assert code == 0, err
    assert "repeated (user, item) pairs: 1 dropped (each pair keeps its last row in source order)" in out
    code, out, err = cli("prepare", "atomic", files["atomic_ok"], *args)
    assert code == 0 and "repeated" not in out, err
