"""Recommended settings per dataset: the best settings of the committed tuned studies.

``recommended.json`` (shipped with the package, so the settings are versioned with the code) maps
a study (``movielens``, ``ml-100k``, ``synthetic``) and a method to the settings its tuned runs
used and where they came from. ``train --preset recommended`` looks a dataset up by its name, then
by its source (``movielens-states-year`` → ``movielens``), and falls back to the defaults where
there is none. ``python -m coldbench.studies.recommended results/reference`` rebuilds the file from the
committed studies; ``tests/test_recommended.py`` checks that it matches them.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

RECOMMENDED_FILE = Path(__file__).with_name("recommended.json")
PRESET = "recommended"
PROVENANCE_KEYS = ("study", "trial", "valid_value", "trials", "sampler", "pruner")


def build_recommended(reference: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """study → method → ``{"settings", "from", "study", "trial", …}`` from each committed study's
    tuned runs (``runs.jsonl``); every seed of a method shares its settings, seed 0 is read. Only a
    dataset's own study (the folder named as its runs' dataset) counts: a check study such as
    ``movielens-budget`` (movielens re-tuned to one budget) ships nothing of its own."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(Path(reference).glob("*/runs.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            tuned, config = record["config"].get("tuned"), record["config"]
            if not tuned or config["seed"] != 0 or config["dataset"] != path.parent.name:
                continue
            entry = {"settings": dict(tuned["settings"]), "from": f"results/reference/{path.parent.name}"}
            entry.update({key: tuned[key] for key in PROVENANCE_KEYS if key in tuned})
            out.setdefault(path.parent.name, {})[config["method"]] = entry
    return out


@cache
def _table() -> dict[str, dict[str, dict[str, Any]]]:
    return json.loads(RECOMMENDED_FILE.read_text(encoding="utf-8"))


def recommended_for(method: str, dataset: str, source: str | None = None) -> dict[str, Any] | None:
    """The recommended entry of ``method`` on ``dataset`` (or on its ``source``), or None."""
    for name in (dataset, source):
        entry = _table().get(name or "", {}).get(method)
        if entry is not None:
            return {**entry, "for": name}
    return None


def recommended_settings(
    method: str, dataset: str, source: str | None, overrides: dict[str, Any], origins: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any] | None]:
    """``--preset recommended``: (settings, their origins, the provenance a run records) — the
    committed study's settings under ``overrides``, or the overrides alone (and no provenance)
    where ``dataset`` and its ``source`` have none."""
    entry = recommended_for(method, dataset, source)
    if entry is None:
        return dict(overrides), dict(origins), None
    settings = {**entry["settings"], **overrides}
    origins = {**dict.fromkeys(entry["settings"], f"--preset {PRESET}"), **origins}
    provenance = {key: value for key, value in entry.items() if key != "for"}
    provenance.update(label=PRESET, recommended_for=entry["for"])
    return settings, origins, provenance


def engine_preset(preset: str | None) -> str | None:
    """The preset ``make_spec`` applies: ``recommended`` arrives as settings (above), not as a preset."""
    return None if preset == PRESET else preset


def main(argv: list[str]) -> None:
    reference = Path(argv[0]) if argv else Path("results/reference")
    text = json.dumps(build_recommended(reference), indent=2, sort_keys=True) + "\n"
    RECOMMENDED_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {RECOMMENDED_FILE} from {reference}")


if __name__ == "__main__":
    main(sys.argv[1:])
