"""ops/toolchain.py: the provider version the stacks pin, where Terraform and the provider come
from (a local mirror or the registry, with a shared plugin cache), and one actionable line when
something is missing. No Terraform is run here (tests/test_terraform.py runs the real one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import toolchain


def test_every_stack_pins_the_provider_the_bindings_were_generated_from(synthesized):
    for name, stack in synthesized.stacks.items():
        assert stack["terraform"]["required_providers"]["aws"]["version"] == toolchain.PROVIDER_VERSION, name


def test_a_mirror_without_the_provider_is_named_with_the_layout_it_needs(tmp_path):
    with pytest.raises(toolchain.EnvironmentProblem) as caught:
        toolchain.resolve(tmp_path / "tools", {"PATH": "/usr/local/bin:/usr/bin", "TF_PROVIDER_MIRROR": str(tmp_path)})
    message = str(caught.value)
    assert f"hashicorp/aws {toolchain.PROVIDER_VERSION}" in message and "terraform providers mirror" in message


def test_a_mirror_holding_the_provider_gets_a_cli_configuration(tmp_path):
    mirror = tmp_path / "mirror"
    folder = mirror / toolchain.PROVIDER_SOURCE / toolchain.PROVIDER_VERSION / toolchain.platform_dir()
    folder.mkdir(parents=True)
    (folder / f"terraform-provider-aws_v{toolchain.PROVIDER_VERSION}_x5").write_text("")
    chain = toolchain.resolve(
        tmp_path / "tools",
        {
            "PATH": "/usr/local/bin:/usr/bin",
            "TF_PROVIDER_MIRROR": str(mirror),
            "TF_CLI_CONFIG_FILE": str(tmp_path / "missing.rc"),
        },
    )
    text = Path(chain.env["TF_CLI_CONFIG_FILE"]).read_text()
    assert f'path    = "{mirror}"' in text and f'exclude = ["{toolchain.PROVIDER_SOURCE}"]' in text
    assert chain.env["TF_PLUGIN_CACHE_DIR"] in text


def test_the_users_own_cli_configuration_is_respected(tmp_path):
    own = tmp_path / "own.rc"
    own.write_text("")
    chain = toolchain.resolve(tmp_path / "tools", {"PATH": "/usr/local/bin:/usr/bin", "TF_CLI_CONFIG_FILE": str(own)})
    assert "TF_CLI_CONFIG_FILE" not in chain.env


def test_no_terraform_is_one_actionable_line(tmp_path):
    with pytest.raises(toolchain.EnvironmentProblem, match="Terraform was not found on PATH: install"):
        toolchain.resolve(tmp_path / "tools", {"PATH": str(tmp_path)})


def test_a_cli_configuration_named_but_missing_is_replaced_also_without_a_mirror(tmp_path, monkeypatch):
    monkeypatch.setattr(toolchain, "MIRRORS", ())
    chain = toolchain.resolve(
        tmp_path / "tools", {"PATH": "/usr/local/bin:/usr/bin", "TF_CLI_CONFIG_FILE": str(tmp_path / "missing.rc")}
    )
    assert chain.mirror is None
    cache = chain.env["TF_PLUGIN_CACHE_DIR"]
    assert Path(chain.env["TF_CLI_CONFIG_FILE"]).read_text() == f'plugin_cache_dir = "{cache}"\n'


def test_the_toolchain_check_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert toolchain.main() == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Terraform was not found on PATH") and len(err.strip().splitlines()) == 1
