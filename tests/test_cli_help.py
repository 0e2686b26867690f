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
