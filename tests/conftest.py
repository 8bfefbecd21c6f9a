"""One synthesized app per test session, shared by every test that reads Terraform JSON."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from tfjson import load_stacks

import modules  # noqa: F401  (the bundled Node first on PATH before any test imports cdktf)
from config import model


@dataclass
class Synthesized:
    config: model.Config
    out_dir: Path
    stacks: dict[str, dict]


def synthesize(config: model.Config, out_dir: Path, env: str | None = None) -> Synthesized:
    from stacks import app

    app.synth(config, config.select(env), out_dir)
    return Synthesized(config, out_dir, load_stacks(out_dir))


@pytest.fixture(scope="session")
def default_config() -> model.Config:
    return model.load()


@pytest.fixture(scope="session")
def synthesized(default_config, tmp_path_factory) -> Synthesized:
    return synthesize(default_config, tmp_path_factory.mktemp("synth") / "cdktf.out")


@pytest.fixture(scope="session")
def default_data() -> dict:
    """The default configuration as plain TOML data, for tests that vary it."""
    import tomllib

    return tomllib.loads(model.DEFAULT_CONFIG.read_text())


@pytest.fixture(scope="session")
def moto_endpoint():
    """One moto server (Secrets Manager, S3, SNS, CloudWatch, STS...) for the tests that need AWS
    over real HTTP; each test creates what it needs (or resets the server)."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def repository_stays_clean():
    """Tests write only into temporary folders: a stray ./cdktf.out would block the user's next
    `make synth` (it is not a complete synth output)."""
    root = Path(__file__).resolve().parents[1]
    existed = (root / "cdktf.out").exists()
    yield
    assert existed or not (root / "cdktf.out").exists(), "a test wrote ./cdktf.out; give App() an outdir"
