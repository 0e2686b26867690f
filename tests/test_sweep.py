"""`coldbench sweep`: the same bytes one job at a time, in a local pool or on Ray; skips; resumes."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.errors import ColdbenchError
from coldbench.report.runs import load_runs
from coldbench.studies.sweep import plan_sweep, run_sweep, summary
from coldbench.testing import TINY_SYNTHETIC
from coldbench.training.trainer import train

SMALL = {"hidden": "8,4", "embedding_dim": "4", "batch_size": "64", "epochs": "2"}
METHODS = ["melu", "reg-paml"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("sweep-data")
    prepare("synthetic", options=TINY_SYNTHETIC, data_dir=data_dir)
    return load_prepared("synthetic", data_dir)


def _jobs(dataset, results, methods=METHODS, seeds=2, **kwargs):
    return plan_sweep(
        methods, [str(dataset.path)], seeds, overrides=SMALL, results_dir=results, device="cpu", **kwargs
    )


def _digests(results) -> dict[tuple[str, int], str]:
    """Per (method, seed): the sha256 of the run's predictions.parquet."""
    out = {}
    for result in results:
        assert result.error is None, result.error
        data = (Path(result.path) / "predictions.parquet").read_bytes()
        out[(result.job.method, result.job.seed)] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture(scope="module")
def sequential(dataset, tmp_path_factory):
    """The reference: each job trained alone with `train`, one at a time."""
    results = tmp_path_factory.mktemp("sequential")
    digests = {}
    for method in METHODS:
        for run in train(method, dataset, [0, 1], SMALL, device="cpu", results_dir=results):
            digests[(method, run.seed)] = hashlib.sha256(
                (run.path / "predictions.parquet").read_bytes()
            ).hexdigest()
    return digests


def test_sweep_matches_one_job_at_a_time_and_skips_finished_jobs(dataset, tmp_path, sequential):
    jobs = _jobs(dataset, tmp_path)
    assert [(j.method, j.seed) for j in jobs] == [("melu", 0), ("melu", 1), ("reg-paml", 0), ("reg-paml", 1)]
    results = run_sweep(jobs, "local", workers=1, threads=1)
    assert _digests(results) == sequential and not any(r.skipped for r in results)
    again = run_sweep(_jobs(dataset, tmp_path), "local", workers=2)
    assert all(r.skipped for r in again) and _digests(again) == sequential
    table = summary(again)
    assert list(table["variant"]) == [jobs[0].label, jobs[2].label]
    assert list(table["skipped"]) == [2, 2] and table["mean"].notna().all()


def test_local_pool_gives_the_same_bytes(dataset, tmp_path, sequential):
    results = run_sweep(_jobs(dataset, tmp_path), "local", workers=2, threads=1)
    assert _digests(results) == sequential


def test_ray_gives_the_same_bytes(dataset, tmp_path, sequential):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = run_sweep(_jobs(dataset, tmp_path), "ray", workers=2, threads=1)
    finally:
        ray.shutdown()
    assert _digests(results) == sequential


def test_missing_ray_is_one_line_naming_the_extra(dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(ColdbenchError, match=r"coldbench\[ray\]"):
        run_sweep(_jobs(dataset, tmp_path, methods=["melu"], seeds=1), "ray")


def test_worker_that_dies_mid_job_leaves_a_run_that_resumes(dataset, tmp_path, sequential):
    script = textwrap.dedent(
        f"""
        import os, sys
        import coldbench.training.trainer as trainer
        from coldbench.studies.sweep import plan_sweep, run_sweep
        real = trainer.train_epoch
        def dying(*args, **kwargs):
            if args[6] == 1:  # the second epoch of the first job: die as a killed worker would
                os._exit(9)
            return real(*args, **kwargs)
        trainer.train_epoch = dying
        jobs = plan_sweep(["melu"], [{str(dataset.path)!r}], 1, overrides={SMALL!r},
                          results_dir={str(tmp_path)!r}, device="cpu")
        run_sweep(jobs, "local", workers=1, threads=1)
        """
    )
    died = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert died.returncode == 9, died.stderr
    assert list(tmp_path.rglob("last.pt")) and not list(tmp_path.rglob("metrics.json"))
    events = []
    results = run_sweep(
        _jobs(dataset, tmp_path, methods=["melu"], seeds=1),
        "local",
        threads=1,
        progress=lambda kind, info: events.append(kind),
    )
    assert "resume" in events and events.count("epoch") == 1
    assert _digests(results) == {("melu", 0): sequential[("melu", 0)]}


def test_sweep_cli_prints_a_summary_and_checks_its_options(dataset, tmp_path, cli):
    settings = [x for key, value in SMALL.items() for x in ("--set", f"{key}={value}")]
    common = ["--datasets", str(dataset.path), "--results-dir", str(tmp_path), "--device", "cpu", *settings]
    code, out, err = cli("sweep", "--methods", "melu,bias", "--seeds", "1", *common)
    assert code == 0, err
    assert "sweep: 2 jobs" in out and "sweep summary" in out and "[2/2]" in out
    code, out, err = cli("sweep", "--methods", "melu,bias", "--seeds", "1", *common)
    assert code == 0 and out.count("skipped (finished before)") == 2
    for args, message in (
        (["--methods", "nosuch"], "Unknown method 'nosuch'"),
        (["--methods", "melu", "--executor", "nosuch"], "--executor 'nosuch'"),
        (["--methods", "melu", "--tuned", "--preset", "paper"], "either --tuned or --preset"),
        (["--methods", "melu", "--tuned"], "no study of melu"),
        (["--methods", "melu", "--address", "x:1"], "--address: only with --executor ray"),
    ):
        code, out, err = cli("sweep", *args, *common)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err


def test_sweep_with_preset_and_tuned_labels(dataset, tmp_path):
    from coldbench.studies.tune import tune

    paper = _jobs(dataset, tmp_path, methods=["melu"], seeds=1, preset="paper")
    assert paper[0].label.startswith("melu (") and "patience=0" in paper[0].label  # SMALL sets epochs=2
    tune("melu", dataset, trials=1, overrides=SMALL, device="cpu", results_dir=tmp_path)
    jobs = _jobs(dataset, tmp_path, methods=["melu", "constant"], seeds=1, tuned=True)
    assert jobs[0].label.startswith("melu [tuned]") and jobs[0].tuned["trial"] == 0
    assert jobs[1].label == "constant" and jobs[1].tuned is None  # nothing to tune: runs as is


def test_sweep_output_and_help_keep_square_brackets(dataset, tmp_path, cli):
    """Labels such as ``[tuned]`` and help such as ``coldbench[ray]`` are text, not rich markup."""
    from coldbench.studies.tune import tune

    tune("bias", dataset, trials=1, device="cpu", results_dir=tmp_path)
    common = ["--datasets", str(dataset.path), "--results-dir", str(tmp_path), "--device", "cpu"]
    code, out, err = cli("sweep", "--methods", "bias", "--seeds", "1", "--tuned", *common)
    assert code == 0, err
    assert "bias [tuned] on" in out  # the job line
    assert " · bias [tuned]: 1 seed" in out  # the summary
    code, out, err = cli("report", "--results-dir", str(tmp_path))
    assert code == 0 and "│ bias [tuned] " in out, err  # the inventory of finished runs
    code, out, _ = cli("sweep", "--help")
    assert code == 0 and "coldbench[ray]" in " ".join(out.split())
    code, out, _ = cli("report", "--help")
    assert code == 0 and "[paper] or [tuned]" in " ".join(out.split())


def test_a_method_or_dataset_given_twice_is_one_set_of_jobs(dataset, tmp_path):
    twice = plan_sweep(
        ["melu", "bias", "melu"],
        [str(dataset.path)] * 2,
        1,
        overrides=SMALL,
        results_dir=tmp_path,
        device="cpu",
    )
    once = _jobs(dataset, tmp_path, methods=["melu", "bias"], seeds=1)
    assert [(j.label, j.seed) for j in twice] == [(j.label, j.seed) for j in once] and len(once) == 2
    by_name_and_folder = plan_sweep(
        ["bias", "bias"],
        [dataset.name, dataset.name, str(dataset.path), f"{dataset.path}/."],
        1,
        results_dir=tmp_path,
        data_dir=dataset.path.parent.parent,
        device="cpu",
    )
    assert [(j.label, j.dataset, j.seed) for j in by_name_and_folder] == [("bias", "synthetic", 0)]


def test_more_local_workers_than_cores_is_refused_before_anything_runs(dataset, tmp_path, cli, monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    common = ["--datasets", str(dataset.path), "--results-dir", str(tmp_path), "--device", "cpu"]
    code, _, err = cli("sweep", "--methods", "bias", "--workers", "7", *common)
    assert code == 1 and "--workers 7: this machine has 2 CPU cores; use at most 2" in err
    assert not list(tmp_path.rglob("metrics.json"))


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGINT"])
def test_pool_workers_end_with_a_killed_or_interrupted_parent(tmp_path, signal_name):
    """kill -9 of a sweep or tune parent: its workers stop within seconds instead of training on
    and holding run locks; ^C: the parent stops them at once and exits, without waiting for the job."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import os, time\n"
        "from coldbench.studies.executors import worker_pool\n"
        "def work(path):\n"
        "    open(path, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    with worker_pool(1) as pool:\n"
        f"        pool.submit(work, {str(tmp_path / 'child')!r}).result()\n"
    )
    script = tmp_path / "parent.py"
    script.write_text(code)
    # as a shell starts it: ^C not ignored (a test run before, Ray's say, may leave SIGINT ignored here,
    # and an ignored signal stays ignored in a child)
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    parent = subprocess.Popen(
        [sys.executable, str(script)], stderr=subprocess.DEVNULL, preexec_fn=default_sigint
    )
    try:
        for _ in range(600):
            if (tmp_path / "child").is_file() and (tmp_path / "child").read_text():
                break
            time.sleep(0.1)
        child = int((tmp_path / "child").read_text())
        time.sleep(1.0)  # the parent is now waiting on the job, as a sweep or tune does
        os.kill(parent.pid, getattr(signal, signal_name))
        parent.wait(45)  # ^C: no waiting for the 120 s job
        for _ in range(100):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail(f"the worker outlived its parent ({signal_name}) by 10 s")
    finally:
        parent.kill()


def test_a_ray_address_where_nothing_answers_fails_at_once_in_one_line(dataset, tmp_path, cli):
    import socket

    with socket.socket() as probe:  # a port nothing listens on: bound, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    common = ["--datasets", str(dataset.path), "--results-dir", str(tmp_path), "--executor", "ray"]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        code, _, err = cli("sweep", "--methods", "bias", "--address", address, *common)
        assert code == 1 and f"nothing answers at 127.0.0.1:{port}" in err and "Traceback" not in err
    code, _, err = cli("sweep", "--methods", "bias", "--address", "ray://[::1", *common)
    assert code == 1 and "not host:port or ray://host:port" in err
    assert not list(tmp_path.rglob("metrics.json"))


def test_a_ray_join_that_hangs_ends_at_once_on_sigterm_in_one_line(dataset, tmp_path):
    """Something answers at the address but is not a Ray head: Ray waits inside its C++ code, where no
    Python handler runs; SIGTERM (and ^C) still end the sweep at once, in one line, before any run."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    pytest.importorskip("ray")
    with socket.socket() as listener:  # accepts connections (the kernel's backlog), never speaks Ray
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        command = [sys.executable, "-c", "from coldbench.cli import main; main()", "sweep", "--methods",
                   "bias", "--datasets", str(dataset.path), "--results-dir", str(tmp_path),
                   "--executor", "ray", "--address", f"127.0.0.1:{port}"]  # fmt: skip
        sweep = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        try:
            time.sleep(12)  # past the probe and Ray's import: Ray is now waiting for a cluster
            assert sweep.poll() is None, sweep.stderr.read()
            sent = time.monotonic()
            sweep.send_signal(signal.SIGTERM)
            _, err = sweep.communicate(timeout=60)
            waited = time.monotonic() - sent
        finally:
            sweep.kill()
    assert sweep.returncode == 143 and "Traceback" not in err, err
    assert f"--address 127.0.0.1:{port}: stopped (SIGTERM) while joining Ray" in err
    assert waited < 10, f"SIGTERM took {waited:.0f} s"  # Ray's own retries take 30 s a round
    assert not list(tmp_path.rglob("metrics.json"))


def test_a_ray_join_past_its_deadline_ends_in_one_line(tmp_path):
    import subprocess
    import sys

    code = (
        "import time\n"
        "from coldbench.studies.executors import within_deadline\n"
        "within_deadline(lambda: time.sleep(60), '--address h:1', timeout=1.0)\n"
        "print('returned')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=50)
    assert done.returncode == 1 and "returned" not in done.stdout
    assert done.stderr.strip().splitlines() == [
        "error: --address h:1: Ray did not connect within 1 s (is this the address of a Ray head, and is "
        "its Ray version this one's?); nothing was trained"
    ]


def test_a_ray_join_in_time_returns_its_value_and_leaves_signals_as_they_were():
    import signal

    from coldbench.studies.executors import within_deadline

    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    assert within_deadline(lambda: 42, "--executor ray", timeout=30) == 42
    assert {number: signal.getsignal(number) for number in before} == before
    assert signal.set_wakeup_fd(-1) == -1  # no wake-up fd left behind


def test_a_run_whose_config_is_not_an_object_is_damaged_not_finished(dataset, tmp_path, cli):
    """Its checksums recomputed, so only the content is wrong: sweep says so, as report does."""
    import json

    from coldbench.training.run_files import record_files, write_metrics

    run = train("bias", dataset, [0], {}, device="cpu", results_dir=tmp_path)[0]
    (run.path / "config.json").write_text(json.dumps(["bias", "synthetic"]))
    metrics = json.loads((run.path / "metrics.json").read_text())
    metrics["files"] = record_files(run.path)
    write_metrics(run.path, metrics)
    common = ["--datasets", str(dataset.path), "--results-dir", str(tmp_path), "--device", "cpu"]
    code, out, err = cli("sweep", "--methods", "bias", "--seeds", "1", *common)
    assert code == 1 and "skipped (finished before)" not in out, out
    assert "failed · " in out and "corrupt run (config.json holds a JSON list, not an object)" in out
    assert "1 of 1 jobs failed" in err and "Traceback" not in err


def test_the_sweep_summary_fits_80_columns_without_cutting_a_name(dataset, tmp_path, cli, monkeypatch):
    import io

    from rich.console import Console

    import coldbench.cli.sweep as sweep_cli

    settings = [x for key, value in SMALL.items() for x in ("--set", f"{key}={value}")]
    common = ["--datasets", str(dataset.path), "--results-dir", str(tmp_path), "--device", "cpu", *settings]
    code, _, err = cli("sweep", "--methods", "melu,bias", "--seeds", "2", "--epochs", "1", *common)
    assert code == 0, err
    narrow = io.StringIO()
    monkeypatch.setattr(sweep_cli, "console", Console(file=narrow, width=80))
    code, _, err = cli("sweep", "--methods", "melu,bias", "--seeds", "2", "--epochs", "1", *common)
    assert code == 0, err
    text = narrow.getvalue()
    text = text[text.index("sweep summary") :]
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    joined = " ".join(text.split())  # undo the wrapping: every label and number is there whole
    for variant, mse in (("melu", r"\d+\.\d{4}"), ("bias", r"\d\.\d{4}")):
        label = next(v for v in load_runs(tmp_path).table["variant"] if v.startswith(variant))
        pattern = rf"{dataset.name} · {re.escape(label)}: 2 seeds \(2 reused\) · MSE {mse} ± \d\.\d{{4}}"
        assert re.search(pattern, joined), joined
