"""One synthesized app per test session, shared by every test that reads Terraform JSON; the
helpers behind these fixtures live in tests/support/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.configs import variant
from support.moto import moto_server
from support.synth import Synthesized, synthesize
from support.terraform import FakeTerraform

import modules  # noqa: F401  (the bundled Node first on PATH before any test imports cdktf)
from config import model


@pytest.fixture(scope="session")
def default_config() -> model.Config:
    return model.load()


@pytest.fixture(scope="session")
def synthesized(default_config, tmp_path_factory) -> Synthesized:
    return synthesize(default_config, tmp_path_factory.mktemp("synth") / "cdktf.out")


@pytest.fixture(scope="session")
def default_data() -> dict:
    """The default configuration as plain TOML data, shared by the session: vary a copy of it
    (support.configs.variant), never the data itself."""
    import tomllib

    return tomllib.loads(model.DEFAULT_CONFIG.read_text())


@pytest.fixture(scope="session")
def shared(default_data, tmp_path_factory) -> Synthesized:
    """staging shares dev's account; the hosted zone lives in a separate DNS account (read by the
    recorder, cross-account role and budget tests)."""
    data = variant(
        default_data,
        environments={"staging": {"account_id": "111111111111"}},
        project={"dns_account_id": "444444444444"},
    )
    config = model.parse(data, "shared.toml")
    return synthesize(config, tmp_path_factory.mktemp("shared") / "out")


@pytest.fixture(scope="session")
def shared_account(tmp_path_factory) -> Synthesized:
    """The example with a separate DNS account and role: its `dns` providers assume another role
    (tests/test_trust.py, tests/test_access.py, tests/test_doctor.py)."""
    config = model.load(model.DEFAULT_CONFIG.parent / "examples" / "shared-account-dns-account.toml")
    return synthesize(config, tmp_path_factory.mktemp("shared") / "out")


@pytest.fixture
def fake(tmp_path, monkeypatch) -> FakeTerraform:
    """A `terraform` stand-in first on PATH for this test (support.terraform.FakeTerraform)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    terraform = FakeTerraform(folder)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return terraform


@pytest.fixture(scope="session")
def moto_endpoint():
    """One moto server (Secrets Manager, S3, SNS, CloudWatch, STS...) for the tests that need AWS
    over real HTTP; each test creates what it needs (or resets the server)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session", autouse=True)
def repository_stays_clean():
    """Tests write only into temporary folders: a stray ./cdktf.out would block the user's next
    `make synth` (it is not a complete synth output)."""
    root = Path(__file__).resolve().parents[1]
    existed = (root / "cdktf.out").exists()
    yield
    assert existed or not (root / "cdktf.out").exists(), "a test wrote ./cdktf.out; give App() an outdir"
