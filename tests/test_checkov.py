"""checkov over synthesized stacks: zero failed checks, zero parsing errors, with the
configuration `synth` writes to `<out>/.checkov.yaml` (stacks/checkov.py).

Skips are scoped by the environments' settings, never by their names: an environment called `qa`
on the dev profile gets dev's cost-lever skips, one called `live` on the prod profile gets none.
checkov runs from its own virtualenv (.venv-checkov, made by `make test`) because it pins packages
the test tools cannot share; it is slow, so it runs once, over the default configuration plus
those two environments."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.synth import synthesize

from config import model
from stacks import checkov

ROOT = Path(__file__).resolve().parents[1]

QA_AND_LIVE = """
[environments.qa]
account_id = "444444444444"
regions = ["us-east-1", "us-west-2"]

[environments.live]
profile = "prod"
account_id = "555555555555"
regions = ["us-east-1", "us-west-2"]
"""


def checkov_binary() -> str:
    local = ROOT / ".venv-checkov" / "bin" / "checkov"
    found = str(local) if local.exists() else shutil.which("checkov")
    if not found:
        pytest.fail("checkov not found: run `make setup-dev` (creates .venv-checkov)")
    return found


def config_with(tmp_path: Path, extra: str) -> model.Config:
    """The default configuration with more environments appended."""
    path = tmp_path / "config.toml"
    path.write_text(model.DEFAULT_CONFIG.read_text() + extra)
    return model.load(path)


def entries(text: str) -> list[str]:
    """The skip-check list of a generated file (a flat YAML list after `skip-check:`)."""
    return re.findall(r"^  - (\S+)$", text.partition("skip-check:\n")[2], re.MULTILINE)


def skips(out_dir: Path) -> list[str]:
    return entries((out_dir / ".checkov.yaml").read_text())


def scoped(entries: list[str]) -> dict[str, list[str]]:
    """check id -> the stacks its path regex names."""
    found: dict[str, list[str]] = {}
    for entry in entries:
        check, _, pattern = entry.partition(":")
        if pattern:
            names = re.fullmatch(r"\.\*/\((.*)\)/cdk\\\.tf\\\.json\$", pattern).group(1)
            found.setdefault(check, []).extend(n.replace("\\", "") for n in names.split("|"))
    return found


@pytest.fixture(scope="module")
def qa_and_live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qa")
    return synthesize(config_with(tmp, QA_AND_LIVE), tmp / "cdktf.out")


def test_synth_writes_skips_for_the_stacks_it_wrote(synthesized):
    """Default configuration: the cost levers of dev and staging are skipped for their stacks
    only, each with the setting in the reason; prod is checked for every one of them."""
    text = (synthesized.out_dir / ".checkov.yaml").read_text()
    found = scoped(skips(synthesized.out_dir))
    assert found["CKV_AWS_150"] == ["dev-us-east-1", "dev-us-west-2", "staging-us-east-1", "staging-us-west-2"]
    assert found["CKV_AWS_68"] == ["dev-global", "staging-global"]
    assert found["CKV_AWS_353"] == ["dev-us-east-1", "dev-us-west-2"], "staging has Performance Insights"
    # prod is checked for every lever; only its replica region skips database deletion protection,
    # by design (replicas are never protected), with its reason.
    assert [(c, n) for c, names in found.items() for n in names if n.startswith("prod-")] == [
        ("CKV_AWS_293", "prod-us-west-2")
    ]
    assert "  # Read replicas have no deletion protection" in text
    assert "  #   environments.dev.deletion_protection = false (profile dev)\n" in text
    assert "  #   environments.staging.log_retention_days = 30 (profile staging)\n" in text


def test_skips_follow_the_settings_not_the_names(qa_and_live):
    found = scoped(skips(qa_and_live.out_dir))
    for check in ("CKV_AWS_150", "CKV_AWS_293", "CKV_AWS_157", "CKV_AWS_353"):
        assert {"qa-us-east-1", "qa-us-west-2"} <= set(found[check]), check
    assert "qa-global" in found["CKV_AWS_68"] and "qa-global" in found["CKV_AWS_338"]
    live = [(c, n) for c, names in found.items() for n in names if n.startswith("live-")]
    assert live == [("CKV_AWS_293", "live-us-west-2")], "only the replica, by design"


def test_only_the_selected_stacks_are_named_and_a_prod_setting_turned_off_is_skipped(tmp_path):
    config = config_with(tmp_path, QA_AND_LIVE + "waf = false\n")
    text = checkov.render(config, config.select("live"))
    found = scoped(entries(text))
    assert found == {"CKV_AWS_68": ["live-global"], "CKV_AWS_293": ["live-us-west-2"]}, "the replica by design"
    assert "environments.live.waf = false (profile prod)\n  - CKV_AWS_68:" in text


def test_the_distinct_skipped_checks_do_not_grow(qa_and_live):
    """The global skips plus one entry per lever at most: a new environment adds stacks to a
    lever's pattern, never a new skipped check."""
    checks = [entry.partition(":")[0] for entry in skips(qa_and_live.out_dir)]
    assert len(set(checks)) == len(checks) == len(checkov.GLOBAL_SKIPS) + len(checkov.LEVERS) == 20


def test_checkov_passes_every_stack(qa_and_live):
    """The default environments plus `qa` (dev profile) and `live` (prod profile), checked with
    the file synth wrote: nothing fails, and live's protections were really checked."""
    out = qa_and_live.out_dir
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # offline: no Bridgecrew guideline download
    done = subprocess.run(
        [
            checkov_binary(),
            "--directory",
            str(out / "stacks"),
            "--framework",
            "terraform_json",
            "--config-file",
            str(out / ".checkov.yaml"),
            "--output",
            "json",
        ],  # not --quiet: it drops the passed checks
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = {k: sum(r["summary"][k] for r in reports) for k in ("passed", "failed", "parsing_errors")}
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})" for r in reports for c in r["results"]["failed_checks"]
    ]
    assert summary["parsing_errors"] == 0, "checkov could not parse a stack; it would silently check nothing"
    assert summary["failed"] == 0, "\n".join(failed)
    passed = {(c["check_id"], c["file_path"].split("/")[-2]) for r in reports for c in r["results"]["passed_checks"]}
    for check in ("CKV_AWS_150", "CKV_AWS_293", "CKV_AWS_157", "CKV_AWS_353"):
        assert (check, "live-us-east-1") in passed and (check, "prod-us-east-1") in passed, check
    assert ("CKV_AWS_157", "prod-us-west-2") in passed, "a replica is still checked for Multi-AZ"
    assert ("CKV_AWS_68", "live-global") in passed
    assert not {(c, s) for c, s in passed if s.startswith("qa-") and c in ("CKV_AWS_150", "CKV_AWS_157")}
    assert done.returncode == 0
