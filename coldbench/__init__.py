"""coldbench: a benchmarking suite for cold-start meta-learning recommenders.

The package reads as its pipeline (docs/architecture.md): ``data`` → ``engine`` → ``methods`` →
``training`` → ``report`` → ``studies`` → ``cli``, over a few shared helpers at this level.
Modules that moved into those folders can still be imported by their old names (a plug-in's
``import coldbench.model``), with a DeprecationWarning naming the new one.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__version__ = "0.1.0"

# old module → where it lives now (a package's submodules follow it: coldbench.datasets.movielens)
MOVED = {
    "datasets": "data.sources",
    **{
        name: f"data.{name}" for name in ("protocol", "prepare", "prepared", "manifests", "features", "tasks")
    },
    "optspec": "data.optspec",
    "model": "engine.model",
    "memory": "engine.memory",
    "reference": "engine.reference",
    **{name: f"training.{name}" for name in ("trainer", "evaluate", "metrics", "stopping", "optim")},
    **{name: f"training.{name}" for name in ("run_files", "run_folder")},
    "stats": "report.stats",
    **{name: f"studies.{name}" for name in ("sweep", "tune", "reproduce", "demo")},
}


def moved_to(name: str) -> str | None:
    """The current name of a module imported by its old name (``coldbench.trainer``), else None."""
    head, _, rest = name.removeprefix(f"{__name__}.").partition(".")
    if not name.startswith(f"{__name__}.") or head not in MOVED:
        return None
    return f"{__name__}.{MOVED[head]}" + (f".{rest}" if rest else "")


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as a stand-in whose every name is the moved module's own."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001  (importlib's signature)
        return importlib.util.spec_from_loader(name, self) if moved_to(name) else None

    def exec_module(self, module) -> None:  # noqa: ANN001
        new = moved_to(module.__name__)
        warnings.warn(
            f"{module.__name__} moved to {new}; import it from there", DeprecationWarning, stacklevel=2
        )
        real = importlib.import_module(new)
        module.__getattr__ = lambda attribute: getattr(
            real, attribute
        )  # functions, classes: the same objects
        module.__doc__ = real.__doc__


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())  # before the path finder, which would load a file twice
