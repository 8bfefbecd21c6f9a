"""Code this project ships runs on interpreters the project itself does not use: the webapp on
Amazon Linux 2023's Python 3.9 (the instances' system python3), the ingest function on Lambda's
Python 3.12. A syntax parse does not catch an API the older interpreter lacks (`datetime.UTC`,
3.11+, made /ready answer 500 on the instances), so their test modules run again here, whole,
on those real interpreters (found by e2e/runtimes.py; missing is a failure that says how to
install it, never a skip).

Each runtime gets a virtualenv under .venv-runtimes/ holding pytest and what its tests import
(boto3; moto for the function's tests), installed once from the pip cache or PyPI and reused
while the interpreter and the requirements stay the same. The tests' shared conftest (Python
3.11+) is left out (--noconftest): these modules bring their own fixtures, and the readiness
tests use this session's moto server (WEBAPP_TEST_MOTO_ENDPOINT).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from e2e.runtimes import INSTANCE_PYTHON, LAMBDA_PYTHON, RuntimeMissing, find_python

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venv-runtimes"


def dev_requirement(name: str) -> str:
    """The project's own pin for a test dependency (pyproject.toml), without extras."""
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    (found,) = [r for r in dev if re.match(rf"{name}\b", r)]
    return re.sub(r"\[[^]]*\]", "", found)


def runtime_python(version: str, packages: list[str]) -> str:
    """The interpreter of a virtualenv of Python `version` holding `packages`, built on first use."""
    try:
        base = find_python(version)
    except RuntimeMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    real = subprocess.run(
        [base, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    assert real.startswith(f"{version}."), f"{base} is Python {real.split()[0]}, not {version}"
    key = hashlib.sha256("\n".join([base, real, *packages]).encode()).hexdigest()[:12]
    venv = VENVS / f"python{version}-{key}"
    python = venv / "bin" / "python"
    VENVS.mkdir(exist_ok=True)
    with open(VENVS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, across concurrent test runs
        if (venv / ".ready").exists():
            return str(python)
        shutil.rmtree(venv, ignore_errors=True)  # a build that was interrupted
        for stale in VENVS.glob(f"python{version}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # an earlier interpreter or requirement set
        subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            pytest.fail(
                f"could not install {' '.join(packages)} for Python {version} (pip cache or PyPI): "
                f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}",
                pytrace=False,
            )
        (venv / ".ready").write_text("\n".join(packages) + "\n")
    return str(python)


def run_tests(python: str, modules: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest", *(f"tests/{m}" for m in modules)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )
    version = subprocess.run([python, "-V"], capture_output=True, text=True).stdout.strip()
    assert done.returncode == 0, f"{' '.join(modules)} on {version}:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    assert " passed" in done.stdout.splitlines()[-1], done.stdout[-2000:]


def test_the_webapp_tests_pass_on_the_instances_python_3_9(moto_endpoint):
    python = runtime_python(INSTANCE_PYTHON, [dev_requirement("pytest"), "boto3"])
    run_tests(python, ["test_webapp.py", "test_readiness.py"], {"WEBAPP_TEST_MOTO_ENDPOINT": moto_endpoint})


def test_the_ingest_function_tests_pass_on_the_lambda_runtime_python_3_12():
    python = runtime_python(LAMBDA_PYTHON, [dev_requirement("pytest"), dev_requirement("moto")])
    run_tests(python, ["test_ingest_handler.py"])


def test_a_missing_interpreter_fails_with_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"Python 3\.9 was not found .*pyenv install 3\.9"):
        runtime_python("3.9", ["pytest"])
