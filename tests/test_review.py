"""D1: ops/review.py through `review`: what a saved plan changes, what matters in it, and a clear
error for a file that is not a Terraform JSON plan."""

from __future__ import annotations

import json

import pytest
from support.terraform import CREATE, DESTROY_DB
from typer.testing import CliRunner

from main import cli

runner = CliRunner()


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_review_counts_and_flags_what_matters(tmp_path):
    result = runner.invoke(cli, ["review", write(tmp_path, "plan.json", CREATE), "--json"])
    assert result.exit_code == 0
    review = json.loads(result.stdout)
    assert review["counts"] == {"create": 1, "update": 1, "replace": 0, "delete": 0}
    assert [c["address"] for c in review["notable"]] == ["aws_security_group.web"]
    assert review["destructive"] is False


def test_review_exits_3_on_destructive_changes(tmp_path):
    result = runner.invoke(cli, ["review", write(tmp_path, "plan.json", DESTROY_DB)])
    assert result.exit_code == 3
    assert "aws_db_instance.db" in result.stdout and "replace" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format_version": "1.2", "resource_cha', "not valid JSON"),
        ("", "not valid JSON"),
        ('{"Resources": {}}', "not a Terraform JSON plan"),
        ("[1, 2]", "not a Terraform JSON plan"),
        ('{"format_version": "1.2", "resource_changes": [{"type": 1}]}', "malformed resource change"),
    ],
)
def test_review_rejects_corrupt_truncated_or_foreign_json(tmp_path, content, message):
    result = runner.invoke(cli, ["review", write(tmp_path, "bad.json", content)])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


def test_review_of_a_missing_file(tmp_path):
    result = runner.invoke(cli, ["review", str(tmp_path / "none.json")])
    assert result.exit_code == 2 and "file not found" in result.stderr
