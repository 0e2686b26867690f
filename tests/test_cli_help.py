"""Every command's --help ends with examples of itself."""

from __future__ import annotations

import pytest

from coldbench.cli import COMMAND_MODULES, _register_commands, app

_register_commands()
COMMANDS = [command.name for command in app.registered_commands]


def test_every_command_module_registered_something():
    assert len(COMMAND_MODULES) == 8 and len(COMMANDS) >= 10


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples_of_the_command(cli, command):
    code, out, _ = cli(command, "--help")
    assert code == 0
    tail = out[out.index("Examples:") :]  # after every option
    assert "Options" not in tail
    assert f"coldbench {command}" in tail


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_output_in_an_ascii_or_latin1_locale_does_not_crash(encoding):
    """Characters the locale cannot show ('·', '≥', '…') become '?', they do not raise."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONIOENCODING": encoding, "LC_ALL": "C", "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", "from coldbench.cli import main; main()", "methods"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(encoding, "replace")
    assert b"Traceback" not in done.stderr and b"melu" in done.stdout


def test_an_interrupt_exits_130_without_a_traceback(cli, monkeypatch):
    import coldbench.data.prepared as prepared

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepared, "load_prepared", interrupted)
    code, out, err = cli("train", "bias")
    assert code == 130 and "Traceback" not in err + out  # Typer's exit for ^C: no traceback
