"""Every command's --help ends with examples of itself."""

from __future__ import annotations

import os

import pytest

from coldbench.cli import COMMAND_MODULES, _register_commands, app

_register_commands()
COMMANDS = [command.name for command in app.registered_commands]


def test_every_command_module_registered_something():
    assert len(COMMAND_MODULES) == 9 and len(COMMANDS) >= 10


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples_of_the_command(cli, command):
    code, out, _ = cli(command, "--help")
    assert code == 0
    tail = out[out.index("Examples:") :]  # after every option
    assert "Options" not in tail
    assert f"coldbench {command}" in tail
    flag_lines = [line for line in out.splitlines() if "--help" in line or "<bool>" in line]
    assert len(flag_lines) == 1 and "<bool>" not in flag_lines[0]  # a flag shows no value


def test_the_top_level_help_flag_shows_no_value(cli):
    code, out, _ = cli("--help")
    assert code == 0 and "<bool>" not in out and "--help" in out


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


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("args", [["methods"], ["--help"], ["report", "--help"]])
def test_standard_output_on_a_full_device_is_one_line_not_a_traceback(args):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", "from coldbench.cli import main; main()", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err and "Exception ignored" not in err, err
    assert err.strip() == "error: cannot write to standard output: No space left on device"


def test_a_closed_pipe_on_standard_output_is_quiet():
    import subprocess
    import sys

    reader = subprocess.Popen(
        [sys.executable, "-c", "from coldbench.cli import main; main()", "methods"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reader.stdout.close()  # as `coldbench methods | head -0` does
    _, err = reader.communicate(timeout=120)
    assert reader.returncode == 1 and b"Traceback" not in err, err


@pytest.mark.parametrize("command", COMMANDS)
def test_every_default_is_shown_one_way(cli, command, monkeypatch):
    """`[default: X]` at the end of an option's help, never "(default X)" inside it, and no Click
    parentheses around a default given in words."""
    monkeypatch.setenv("COLUMNS", "250")  # one line per option
    code, out, _ = cli(command, "--help")
    options = [line for line in out.splitlines() if line.startswith("│ ") and " --" in line]
    assert code == 0 and options
    for line in options:
        assert "(default" not in line and "default:" not in line.replace("[default:", ""), line
        assert "[default: (" not in line, line
