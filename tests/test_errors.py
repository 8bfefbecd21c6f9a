"""Errors carry their exit code (config/errors.py) and are caught once, in main.py.

Proves: each error class exits with the code the README documents; a PlatformError raised
anywhere under a command (even from code no command wraps in try/except) prints its `error:`
lines and nothing else, in-process and in a real process (no traceback); the closed sets are
enums that print and serialize exactly as the strings they replace."""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config import errors, model
from config.facts import StackRole
from main import cli
from ops import pipeline, review, saved_plans, terraform
from ops.pipeline import Action

ROOT = Path(__file__).resolve().parents[1]

# The README's exit-code contract, by class: what each kind of failure exits with.
DOCUMENTED = {
    errors.UsageError: 2,
    errors.ConfigError: 2,
    errors.SelectionError: 2,
    errors.NamingError: 2,
    errors.OutputDirError: 2,
    review.PlanError: 2,
    errors.EnvironmentProblem: 2,
    errors.OperationFailed: 1,
    errors.NodeMissingError: 1,
    errors.Refused: 3,
    errors.DriftFound: 4,
    errors.StalePlan: 5,
    saved_plans.BundleInvalid: 2,
}


def make(cls: type[errors.PlatformError], message: str = "something is wrong") -> errors.PlatformError:
    return cls([message]) if cls is errors.ConfigError else cls(message)


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda c: c.__name__)
def test_each_error_class_has_its_documented_exit_code(cls):
    assert issubclass(cls, errors.PlatformError)
    assert make(cls).exit_code == DOCUMENTED[cls]


def test_the_readme_documents_those_codes():
    text = " ".join((ROOT / "README.md").read_text().split())
    contract = text[text.index("Exit codes scripts can rely on") :][:700]
    for fragment in (
        "`0` success",
        "`2` bad input or a machine problem",
        "`1` a stack or check that failed",
        "a missing Node.js",
        "`3` a destructive plan",
        "`4` drift found by `drift`",
        "`5` a saved plan whose state moved",
        "`130` and `143`",
    ):
        assert fragment in contract, fragment


def test_operations_errors_subclass_the_right_kind():
    assert terraform.StackFailed("dev-us-east-1", "plan", "Error: x").exit_code == 1
    assert isinstance(terraform.StackFailed("s", "plan", "d"), errors.OperationFailed)
    assert terraform.EnvironmentProblem is errors.EnvironmentProblem
    refused = pipeline.DestructivePlan([terraform.StackResult("dev-us-east-1", plan_json=Path("p.json"))])
    assert refused.exit_code == 3 and "re-run with --allow-destroy" in str(refused)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_exits_128_plus_the_signal_and_prints_its_report(tmp_path, sig, code):
    cause = terraform.Interrupted("dev-us-east-1", "apply", False, [sig], False)
    exc = pipeline.Interrupted(cause, [], ["dev-us-east-1"], Action.DEPLOY, tmp_path, "python main.py deploy")
    assert exc.exit_code == code
    lines = exc.lines()
    assert lines[0] == f"error: interrupted by {sig.name} before terraform apply of dev-us-east-1"
    assert "applied: none" in lines and lines[-1].startswith("to resume, run the same command again: python main.py")


def test_several_problems_are_one_error_line_each():
    exc = errors.ConfigError(["a.toml: x: bad", "a.toml: y: bad"])
    assert exc.lines() == ["error: a.toml: x: bad", "error: a.toml: y: bad"]
    assert str(exc) == "a.toml: x: bad\na.toml: y: bad"


def test_a_usage_error_is_still_a_value_error():
    """parse_resolve and the naming helper kept their contract: callers catching ValueError still do."""
    with pytest.raises(ValueError):
        raise errors.NamingError("too long")


@pytest.mark.parametrize("cls", list(DOCUMENTED), ids=lambda c: c.__name__)
def test_an_error_raised_anywhere_under_a_command_is_one_line_and_its_code(monkeypatch, cls):
    """`list` has no try/except of its own: the one handler in main.py turns the error into
    its line and code."""

    def load(path):
        raise make(cls, f"{cls.__name__} from deep inside")

    monkeypatch.setattr(model, "load", load)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == DOCUMENTED[cls]
    assert result.stderr == f"error: {cls.__name__} from deep inside\n"
    assert result.stdout == ""
    assert isinstance(result.exception, SystemExit)  # the handler exited; the error did not escape


def test_in_a_real_process_the_error_is_one_line_without_traceback():
    probe = (
        "import sys; from config import model; from config.errors import OperationFailed\n"
        "def load(path): raise OperationFailed('the thing failed: fix it')\n"
        "model.load = load\n"
        "import main; sys.argv = ['main.py', 'list']; main.cli()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "error: the thing failed: fix it\n"
    assert "Traceback" not in done.stdout + done.stderr


def test_an_unknown_environment_from_the_real_cli_is_exit_2_and_one_line():
    done = subprocess.run(
        [sys.executable, "main.py", "list", "--env", "qa"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr == "error: unknown environment 'qa'; choose one of: dev, staging, prod, all\n"


def test_stack_roles_and_actions_are_the_strings_they_replace(default_config):
    specs = default_config.select("prod")
    assert [s.role for s in specs] == [StackRole.PRIMARY, StackRole.SECONDARY, StackRole.EDGE]
    assert json.dumps([s.role for s in specs]) == '["primary", "secondary", "edge"]'
    assert [f"{s.role}" for s in specs] == ["primary", "secondary", "edge"]
    assert [r.regional for r in StackRole] == [True, True, False]
    assert [str(a) for a in Action] == ["plan", "deploy", "destroy"]
    assert [a.done for a in Action] == ["planned", "applied", "destroyed"]


def test_list_json_spells_roles_as_before():
    result = CliRunner().invoke(cli, ["list", "--env", "dev", "--json"])
    assert result.exit_code == 0
    assert [r["role"] for r in json.loads(result.stdout)] == ["primary", "secondary", "edge"]
    assert re.search(r'"role": "edge"', result.stdout)
    # The keys scripts read, in their order: the account under the TOML's name (`account_id`).
    assert list(json.loads(result.stdout)[0]) == ["name", "environment", "region", "role", "account_id"]


def test_a_bug_is_not_disguised_as_an_error_of_the_handler(monkeypatch):
    """An exception that is no PlatformError (a bug) propagates as itself, with its traceback,
    instead of an AttributeError raised while matching it against Click's exceptions."""

    def load(path):
        raise KeyError("a bug")

    monkeypatch.setattr(model, "load", load)
    result = CliRunner().invoke(cli, ["list"])
    assert isinstance(result.exception, KeyError) and result.exit_code == 1


def test_main_py_leaves_every_failure_exit_code_to_the_errors():
    """A failing command raises a PlatformError subclass (its code lives in config/errors.py): no
    `typer.Exit(<number>)` other than 0, and no `typer.Exit(<expression>)` that computes one."""
    found = []
    for node in ast.walk(ast.parse((ROOT / "main.py").read_text())):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("typer.Exit", "Exit"):
            code = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), None)
            if code is not None and not (isinstance(code, ast.Constant) and code.value == 0):
                found.append(f"main.py:{node.lineno} {ast.unparse(node)}")
    assert not found, found
