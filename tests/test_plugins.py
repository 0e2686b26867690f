"""Methods from other packages: the ``coldbench.methods`` entry points, loaded by the real code.

Instead of a pip install, each test puts a temporary ``*.dist-info`` folder on ``sys.path`` that
declares the entry point (what pip would write), so ``importlib.metadata`` finds it as it would
an installed package; the example package itself is ``tests/plugin_example``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from coldbench.data.prepare import prepare
from coldbench.data.prepared import load_prepared
from coldbench.data.protocol import ProtocolConfig
from coldbench.errors import ColdbenchError
from coldbench.methods import ENTRY_POINT_GROUP, METHODS
from coldbench.testing import TINY_SYNTHETIC
from coldbench.training.trainer import train

EXAMPLE = Path(__file__).parent / "plugin_example"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Declare entry points ``{name: target}`` of a fake installed package; fresh registry state."""
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    monkeypatch.setattr(METHODS, "_plugins_loaded", METHODS._plugins_loaded)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delitem(sys.modules, "coldbench_example_plugin", raising=False)

    def declare(points: dict[str, str], package: str = "coldbench-example-plugin") -> None:
        site = tmp_path / f"site-{package}"
        info = site / f"{package.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1.0\n")
        lines = "".join(f"{name} = {target}\n" for name, target in points.items())
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
        monkeypatch.syspath_prepend(str(site))
        METHODS.use_entry_points(ENTRY_POINT_GROUP, METHODS._check)

    yield declare
    sys.modules.pop("coldbench_example_plugin", None)


def test_example_plugin_is_listed_and_trains_end_to_end(plugin, tmp_path):
    plugin({"example-learned-lr": "coldbench_example_plugin:LearnedRate"})
    assert "example-learned-lr" in METHODS.names()
    cls = METHODS.get("example-learned-lr")
    assert cls.__module__ == "coldbench_example_plugin" and cls.search_space["init_lr"][0] == "log"
    prepare("synthetic", config=ProtocolConfig(), options=TINY_SYNTHETIC, data_dir=tmp_path)
    dataset = load_prepared("synthetic", tmp_path)
    settings = {"epochs": "1", "hidden": "16,8", "embedding_dim": "4"}
    run = train("example-learned-lr", dataset, [0], settings, device="cpu", results_dir=tmp_path / "res")[0]
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert run.path.parts[-3] == "example-learned-lr" and "mse" in metrics["test"]["overall"]


def test_plugins_load_lazily_once(plugin):
    plugin({"example-learned-lr": "coldbench_example_plugin:LearnedRate"})
    assert "coldbench_example_plugin" not in sys.modules  # declaring imports nothing
    assert "example-learned-lr" in METHODS
    assert "coldbench_example_plugin" in sys.modules
    METHODS.names()  # a second lookup does not register it twice


def test_missing_plugin_module_is_one_clear_error(plugin):
    plugin({"ghost": "coldbench_ghost_plugin:Ghost"}, package="ghost-package")
    with pytest.raises(ColdbenchError) as error:
        METHODS.get("melu")
    message = str(error.value)
    assert "\n" not in message
    assert "'ghost'" in message and "ghost-package" in message and "coldbench_ghost_plugin:Ghost" in message
    assert "ModuleNotFoundError" in message


def test_plugin_that_is_not_a_method_is_refused(plugin):
    plugin({"not-a-method": "coldbench_example_plugin:LearnedRateConfig"})
    with pytest.raises(ColdbenchError, match="not-a-method.*not a subclass of coldbench.methods.Method"):
        METHODS.names()


def test_plugin_name_clash_names_the_plugin(plugin, tmp_path):
    plugin({"clash": "coldbench.methods.melu:MeLU"}, package="clash-package")
    METHODS.names()  # the very class already registered: nothing to do
    module = tmp_path / "clash_plugin.py"
    module.write_text("from coldbench.methods.melu import MeLU\n\nclass Other(MeLU):\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        plugin({"clash2": "clash_plugin:Other"}, package="clash2-package")
        with pytest.raises(ColdbenchError, match="clash2-package.*'melu' is registered twice"):
            METHODS.names()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("clash_plugin", None)


def test_old_import_paths_keep_working():
    """What plug-ins import: the method contract from coldbench.methods, and modules by their old names."""
    import subprocess
    import sys

    code = """
import warnings
warnings.simplefilter("error")  # the new paths warn about nothing
from coldbench.methods import Method, MethodConfig, RecModel, TrainConfig, register_method
from coldbench.methods.base import METHODS, Method as BaseMethod
assert Method is BaseMethod and register_method.__module__ == "coldbench.methods.base"
from coldbench.engine.model import RecModel as Model
from coldbench.training.trainer import make_spec
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from coldbench.model import RecModel as OldModel
    from coldbench.datasets.movielens import read_users
    import coldbench.trainer as old_trainer
assert OldModel is Model is RecModel and old_trainer.make_spec is make_spec
from coldbench.data.sources.movielens import read_users as new_read_users
assert read_users is new_read_users
moved = [str(w.message) for w in caught if w.category is DeprecationWarning]
assert "coldbench.model moved to coldbench.engine.model; import it from there" in moved, moved
assert any(m.startswith("coldbench.trainer moved to coldbench.training.trainer") for m in moved), moved
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("import sys\nsys.exit(3)\n", "SystemExit"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
        (
            "from coldbench.methods.melu import MeLU\n\nclass Escape(MeLU):\n    name = '../escape'\n",
            "not a plain name",
        ),
    ],
    ids=["sys.exit", "KeyboardInterrupt", "name with ../"],
)
def test_a_plugin_that_exits_interrupts_or_names_a_path_is_one_clear_error(
    plugin, tmp_path, cli, body, shown
):
    """methods/train never exit silently because of a plug-in, and a plug-in's name is checked as a
    typed name is, so it cannot lead a run outside --results-dir."""
    module = tmp_path / "hostile_plugin.py"
    module.write_text(body)
    sys.path.insert(0, str(tmp_path))
    try:
        target = "hostile_plugin:Escape" if "Escape" in body else "hostile_plugin"
        plugin({"hostile": target}, package="hostile-package")
        with pytest.raises(ColdbenchError, match=shown) as error:
            METHODS.names()
        assert "hostile-package" in str(error.value) and "\n" not in str(error.value)
        METHODS._plugins_loaded = False  # as in a fresh process (the fixture restores the state)
        code, out, err = cli("methods")
        assert code != 0 and shown in err and "hostile-package" in err and "Traceback" not in err
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("hostile_plugin", None)
