"""D2: the README stays true: every configuration key and every command is documented there."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import model
from main import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


@pytest.mark.parametrize("key", sorted({*model.ENV_KEYS, *model.PROJECT_KEYS, *model.STATE_KEYS}))
def test_every_configuration_key_is_documented(key):
    assert f"`{key}`" in README or f"{key} =" in README, f"README does not document {key}"


@pytest.mark.parametrize("command", sorted(c.name or c.callback.__name__ for c in cli.registered_commands))
def test_every_command_is_documented(command):
    assert f"`{command}" in README, f"README does not document the {command} command"


def test_the_quick_start_commands_exist():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "make synth" in README and "make test" in README
    assert "\nsynth:" in makefile and "\ntest:" in makefile
