"""Interrupting `deploy` (Ctrl-C, a CI cancel) must not lose Terraform's state.

The real CLI runs `main.py deploy` in a subprocess against tests/support/fake_terraform.py, a stand-in
that, like Terraform, needs time after an interrupt to finish, prints all the while, and only then
saves its state. The first stack applies at once; the second blocks in `apply` until interrupted;
the third is never reached. The tests wait for the stand-in's own "applying" line (not for time to
pass) before they signal the CLI.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.configs import project_table
from support.terraform import INTERRUPTIBLE

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("dev-us-east-1", "dev-us-west-2", "dev-global")  # deploy order of the config below
SLOW = STACKS[1]
CONFIG = (
    project_table("webapp-interrupt-test")
    + """
[environments.dev]
account_id = "111111111111"
regions = {regions}

[state]
local_dir = "{state_dir}"
"""
)
WAIT = 300  # seconds: a guard against hanging forever (a synth takes 5-15 s), never an expectation


class Cli:
    """`main.py deploy` with its merged output read line by line on a thread."""

    def __init__(
        self,
        tmp_path: Path,
        regions: tuple[str, ...] = ("us-east-1", "us-west-2"),
        args: tuple[str, ...] = (),
        **extra_env: str,
    ):
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        terraform = bin_dir / "terraform"
        terraform.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{INTERRUPTIBLE}" "$@"\n')
        terraform.chmod(terraform.stat().st_mode | stat.S_IEXEC)
        self.state_dir = tmp_path / "state"
        config = tmp_path / "interrupt.toml"
        config.write_text(CONFIG.format(state_dir=self.state_dir, regions=json.dumps(list(regions))))
        self.command = [
            sys.executable,
            str(ROOT / "main.py"),
            "deploy",
            "--env",
            "dev",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "out"),
            "--verbose",
            *args,
        ]
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONUNBUFFERED": "1",
            "FAKE_TF_SLOW_APPLY": SLOW,
            **extra_env,
        }
        # Its own process group, like a job in a shell: killpg below is what the terminal's Ctrl-C does.
        self.process = subprocess.Popen(
            self.command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, marker: str) -> None:
        while True:
            line = self.lines.get(timeout=WAIT)
            if line is None:
                pytest.fail(f"the CLI ended before printing {marker!r}:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if marker in line:
                return

    def finish(self) -> tuple[int, str]:
        while (line := self.lines.get(timeout=WAIT)) is not None:
            self.seen.append(line)
        return self.process.wait(timeout=WAIT), "\n".join(self.seen)

    def state(self, stack: str) -> Path:
        return self.state_dir / f"{stack}.tfstate"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def cli(tmp_path):
    running = Cli(tmp_path)
    yield running
    running.stop()


def test_an_interrupt_the_last_apply_absorbs_still_ends_as_an_interrupt(tmp_path):
    """Terraform may finish what it had in flight and exit 0 after the interrupt: every stack is
    then applied, but the run was interrupted, so it says so and exits 130, not 0, with no traceback."""
    cli = Cli(tmp_path, FAKE_TF_SLOW_APPLY=STACKS[-1], FAKE_TF_FINISH_ON_INTERRUPT="1")
    try:
        cli.wait_for(f"fake-terraform: applying {STACKS[-1]}")
        os.killpg(cli.process.pid, signal.SIGINT)
        exit_code, output = cli.finish()
    finally:
        cli.stop()
    assert exit_code == 130, output
    assert "Traceback" not in output
    assert f"applied: {', '.join(STACKS)}" in output and "not started: none" in output
    assert all(cli.state(stack).is_file() for stack in STACKS)


@pytest.mark.parametrize(
    ("send", "code"),
    [
        # The terminal's Ctrl-C: SIGINT to the whole foreground process group.
        (lambda process: os.killpg(process.pid, signal.SIGINT), 130),
        # A CI cancel: SIGTERM to the CLI alone.
        (lambda process: os.kill(process.pid, signal.SIGTERM), 143),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_an_interrupted_deploy_waits_for_terraform_to_save_its_state(cli, send, code):
    cli.wait_for(f"fake-terraform: applying {SLOW}")
    send(cli.process)
    exit_code, output = cli.finish()
    assert cli.state(SLOW).is_file(), f"Terraform was not let to save its state:\n{output}"
    assert json.loads(cli.state(SLOW).read_text())["lineage"] == SLOW
    assert f"fake-terraform: saved the state of {SLOW}" in output, "Terraform's output was drained to the end"
    assert exit_code == code, output
    assert "Traceback" not in output
    assert f"applied: {STACKS[0]}" in output
    assert f"interrupted: {SLOW} (terraform apply stopped gracefully" in output
    assert str(cli.state(SLOW)) in output, "the report says where the state is"
    assert f"not started: {STACKS[2]}" in output
    assert "to resume, run the same command again: python main.py deploy --env dev --config" in output
    assert not cli.state(STACKS[2]).exists()
    assert output.count("Gracefully shutting down") == 1, "Terraform received exactly one interrupt"


def test_a_second_interrupt_stops_waiting_and_says_what_that_risks(cli):
    cli.wait_for(f"fake-terraform: applying {SLOW}")
    os.killpg(cli.process.pid, signal.SIGINT)
    cli.wait_for("Gracefully shutting down")
    os.killpg(cli.process.pid, signal.SIGINT)
    exit_code, output = cli.finish()
    assert "Two interrupts received. Exiting immediately" in output, "the second interrupt reached Terraform"
    assert not cli.state(SLOW).exists()
    assert exit_code == 130, output
    assert "Traceback" not in output
    assert f"applied: {STACKS[0]}" in output
    assert f"interrupted: {SLOW} (terraform apply was told to exit immediately and may not have saved" in output
    assert str(cli.state(SLOW)) in output and "terraform import" in output
    assert f"not started: {STACKS[2]}" in output


def test_an_interrupt_reaches_every_running_terraform_and_the_report_names_each(tmp_path):
    """With --parallel, dev's two secondaries apply at once: one Ctrl-C asks both to stop, the CLI
    waits for both to save their state, and the report has a line for each."""
    slow = ("dev-us-west-2", "dev-eu-west-1")
    cli = Cli(
        tmp_path,
        regions=("us-east-1", "us-west-2", "eu-west-1"),
        args=("--parallel", "2"),
        FAKE_TF_SLOW_APPLY=",".join(slow),
    )
    try:
        for stack in slow:  # the output is one stream: wait for both, in either order
            if not any(f"fake-terraform: applying {stack}" in line for line in cli.seen):
                cli.wait_for(f"fake-terraform: applying {stack}")
        os.killpg(cli.process.pid, signal.SIGINT)
        exit_code, output = cli.finish()
    finally:
        cli.stop()
    assert exit_code == 130, output
    assert "Traceback" not in output
    for stack in slow:
        assert json.loads(cli.state(stack).read_text())["lineage"] == stack, "each saved its state"
        assert f"fake-terraform: saved the state of {stack}" in output
        assert f"interrupted: {stack} (terraform apply stopped gracefully" in output
    assert output.count("Gracefully shutting down") == 2, "each Terraform received exactly one interrupt"
    assert "applied: dev-us-east-1" in output and "not started: dev-global" in output
    assert not cli.state("dev-global").exists()


# ------------------------------------------------------------------ the forwarding itself, in-process

COUNTER = """
import signal, sys, time
seen = []
signal.signal(signal.SIGINT, lambda *a: seen.append(1))  # counts them, stops for none
print("ready", flush=True)
for line in sys.stdin:  # the test says when to report
    print(len(seen), flush=True)
"""


def counting_child(interrupts):
    """A Terraform stand-in in its own session that counts the interrupts it receives, registered."""
    child = subprocess.Popen(
        [sys.executable, "-c", COUNTER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert child.stdout.readline() == "ready\n"
    interrupts.register(child)
    return child


def test_terraform_gets_at_most_two_interrupts():
    """Three interrupts to the CLI: Terraform gets two (one more than intended turns a graceful
    stop into an immediate exit; after two, Terraform is already exiting)."""
    from ops import terraform

    interrupts = terraform.Interrupts()
    with interrupts:
        child = counting_child(interrupts)
        for expected in ("1", "2", "2"):  # one at a time: pending signals of one kind coalesce
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs (and forwards) before kill() returns
            child.stdin.write("report\n")
            child.stdin.flush()
            assert child.stdout.readline() == f"{expected}\n"
        assert interrupts.forced and len(interrupts.received) == 3
        child.stdin.close()
        assert child.wait(timeout=WAIT) == 0
        interrupts.unregister(child)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the handlers are restored"


def test_a_terraform_still_running_after_the_second_interrupt_is_killed(monkeypatch):
    from ops import terraform

    monkeypatch.setattr(terraform, "FORCE_KILL_AFTER", 0.1)
    interrupts = terraform.Interrupts()
    with interrupts:
        child = counting_child(interrupts)
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        assert child.wait(timeout=WAIT) == -signal.SIGKILL, "it ignored both: killed, process group and all"
        interrupts.unregister(child)


def test_an_interrupt_that_came_before_terraform_was_tracked_is_forwarded_once():
    from ops import terraform

    interrupts = terraform.Interrupts()
    with interrupts:
        os.kill(os.getpid(), signal.SIGINT)  # between the check in _run and the start of Terraform
        child = counting_child(interrupts)
        interrupts.register(child)  # registering again sends nothing more
        child.stdin.write("report\n")
        child.stdin.flush()
        assert child.stdout.readline() == "1\n"
        child.stdin.close()
        assert child.wait(timeout=WAIT) == 0
        interrupts.unregister(child)
