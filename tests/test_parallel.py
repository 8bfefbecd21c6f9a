"""Synthesis in worker processes (stacks/parallel.py): the same bytes as one process writes,
manifest.json included; a worker's failure is the synth's failure, with its own error."""

from __future__ import annotations

import dataclasses
import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import model
from config.errors import ConfigError
from stacks import fingerprint, parallel

ROOT = Path(__file__).resolve().parents[1]

# Parallel first: a process that has started jsii (the sequential synth) cannot fork workers.
BOTH = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from config import model
from stacks import app
config = model.load({config!r})
specs = config.select("all")
app.synth(config, specs, Path({out!r}) / "parallel", workers=2)
app.synth(config, specs, Path({out!r}) / "sequential", workers=1)
"""


def files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != fingerprint.RECORD
    )


@pytest.mark.parametrize("config", [None, "config/examples/four-regions-failover.toml"], ids=["default", "four"])
def test_parallel_synth_writes_exactly_what_one_process_writes(tmp_path, config):
    code = BOTH.format(root=str(ROOT), config=str(ROOT / config) if config else None, out=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    par, seq = tmp_path / "parallel", tmp_path / "sequential"
    assert files(par) == files(seq)
    assert "manifest.json" in files(par) and len(files(par)) > 3
    different = [name for name in files(par) if not filecmp.cmp(par / name, seq / name, shallow=False)]
    assert different == []
    assert not [p for p in par.iterdir() if p.name.startswith(".worker-")]


# ------------------------------------------------------------------ shares and failures


SPECS = model.load().select("dev") + model.load().select("prod")


def test_shares_cover_every_stack_once_in_order_with_about_equal_cost():
    shares = parallel.shares(SPECS, 2)
    assert sorted(s.name for share in shares for s in share) == sorted(s.name for s in SPECS)
    for share in shares:
        assert share == [s for s in SPECS if s in share], "each share keeps the stacks' order"
    costs = [sum(parallel.WEIGHT.get(s.role, parallel.DEFAULT_WEIGHT) for s in share) for share in shares]
    assert max(costs) - min(costs) <= parallel.DEFAULT_WEIGHT
    assert len(parallel.shares(SPECS[:1], 2)) == 1, "no empty share"


def fake_build(share, folder: Path) -> None:
    """A stand-in for build_app(...).synth(): fails for the prod stacks, dies for 'die'."""
    if any(s.name == "die" for s in share):
        os._exit(3)
    if any(s.environment == "prod" for s in share):
        raise ConfigError(["prod.toml: environments.prod: broken in the worker"])
    (folder / "stacks").mkdir(parents=True)


def test_a_workers_error_is_raised_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    specs = [s for s in SPECS if s.environment == "dev"] + [SPECS[-1]]
    with pytest.raises(ConfigError, match="broken in the worker") as raised:
        parallel.synthesize(fake_build, specs, lambda s: [], tmp_path, 2)
    assert raised.value.exit_code == 2


def test_a_worker_that_dies_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "can_fork", lambda: True)
    with pytest.raises(parallel.SynthWorkerFailed, match="exited with code 3"):
        parallel.synthesize(
            fake_build, [dataclasses.replace(SPECS[0], name="die"), SPECS[1]], lambda s: [], tmp_path, 2
        )


def test_one_stack_or_one_worker_is_built_in_this_process(tmp_path):
    built = []
    parallel.synthesize(lambda share, folder: built.append((share, folder)), SPECS, lambda s: [], tmp_path, 1)
    assert built == [(SPECS, tmp_path)]


def test_cdktf_manifest_format_is_reproduced():
    """json-stable-stringify with two spaces: sorted keys, empty lists over two lines."""
    text = parallel.stable_stringify({"b": [], "a": {"x": ["1", "2"], "n": 1, "t": True}})
    assert (
        text
        == '{\n  "a": {\n    "n": 1,\n    "t": true,\n    "x": [\n      "1",\n      "2"\n    ]\n  },\n  "b": [\n  ]\n}'
    )


def test_one_worker_per_idle_core_and_none_when_the_machine_is_busy(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(parallel, "busy_cores", lambda: 0)
    assert parallel.worker_count(SPECS) == min(cores, len(SPECS))
    assert parallel.worker_count(SPECS[:1]) == 1
    monkeypatch.setattr(parallel, "busy_cores", lambda: cores)
    assert parallel.worker_count(SPECS) == 1


def test_busy_cores_reads_the_running_count_and_the_load_average(monkeypatch, tmp_path):
    assert 0 <= parallel.busy_cores() < 10_000
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (6.2, 5.0, 4.0))
    assert parallel.busy_cores() >= 5, "a minute of load from other processes"
    monkeypatch.setattr(parallel.os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("1.20 1.00 1.00 1/200 9123\n")  # the format of Linux's /proc/loadavg
    monkeypatch.setattr(parallel, "LOADAVG", loadavg)
    assert parallel.busy_cores() == 0, "this process alone"
    loadavg.write_text("1.20 1.00 1.00 3/200 9123\n")
    assert parallel.busy_cores() == 2, "two others running right now"
