"""ops/doctor.py: every role checked exactly as the providers assume it, and the exit codes the
README promises (2 for a machine problem such as missing credentials, 1 for any other failure)."""

from __future__ import annotations

import pytest
from support.sts import RecordingSession
from support.tfjson import providers
from typer.testing import CliRunner

from config import model
from config.errors import OperationFailed, PlatformError
from ops import doctor


@pytest.mark.parametrize("which", ["default", "shared"])
def test_doctor_assumes_every_role_exactly_as_the_providers_do(synthesized, shared_account, which):
    result = synthesized if which == "default" else shared_account
    session = RecordingSession()
    checks = doctor.aws(result.config, session)
    assert all(c.ok for c in checks), checks
    seen = {(c["RoleArn"], c["ExternalId"], c["RoleSessionName"], c["region"]) for c in session.calls}
    expected = set()
    for env in result.config.environments.values():
        primary = result.stacks[f"{env.name}-{env.primary_region}"]
        for block in providers(primary).values():  # the default provider and the `dns` alias
            (assume,) = block["assume_role"]
            expected.add((assume["role_arn"], assume["external_id"], assume["session_name"], block["region"]))
    assert seen == expected
    if which == "shared":
        assert any(":role/platform-dns" in arn for arn, *_ in seen), "the DNS account's role is checked too"


def test_doctor_exits_2_without_credentials(tmp_path, monkeypatch):
    from main import cli

    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = tmp_path / "c.toml"
    config.write_text(model.DEFAULT_CONFIG.read_text() + f'\n[state]\nlocal_dir = "{tmp_path / "state"}"\n')
    result = CliRunner().invoke(cli, ["doctor", "--config", str(config)])
    assert "AWS credentials" in result.output and "Traceback" not in result.output
    assert result.exit_code == 2, result.output


def exit_code(results: list) -> int:
    try:
        doctor.verdict(results)
    except PlatformError as exc:
        assert exc.lines() == [
            f"error: doctor: {sum(not c.ok for c in results)} check(s) to fix: "
            + ", ".join(c.name for c in results if not c.ok)
        ]
        return exc.exit_code
    return 0


def test_doctor_exit_code_rule():
    ok, bad = doctor.Check("x", True, ""), doctor.Check

    assert exit_code([ok]) == 0
    assert exit_code([ok, bad("prod: deploy role", False, "")]) == OperationFailed.exit_code == 1
    assert exit_code([bad("Node.js", False, "")]) == 1, "README: a missing Node.js exits 1"
    for machine in ("AWS credentials", "Terraform", "Python packages"):
        assert exit_code([bad("prod: deploy role", False, ""), bad(machine, False, "")]) == 2, machine
