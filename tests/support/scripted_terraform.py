"""An in-process stand-in for ops.terraform.Terraform, for the scheduling tests of
ops/pipeline.py (tests/test_pipeline_waves.py): the same methods the pipeline calls (init, plan,
show_json, apply, forwarding_interrupts, log_path), no process, no AWS.

Every step records a ("start", stack, step) and an ("end", stack, step) event, in the order they
happen, and counts how many steps run at once (`most_at_once`). A test makes steps fail
(`fail[(stack, step)] = [True, False]`: the first call fails, the second succeeds), show a given
plan (`plans[stack]`), or wait at a gate (`gates[(stack, step)]`: a threading.Event the step waits
for, so a test can hold a stack running while it checks what else runs) without any timing.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ops import terraform as tf
from support.terraform import CREATE

GUARD = 60  # seconds: a gate never opened fails the test instead of hanging it; never an expectation

NO_CHANGES = {"format_version": "1.2", "resource_changes": []}


class ScriptedTerraform:
    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.log_dir = out_dir / "logs"
        self.interrupts = tf.Interrupts()
        self.events: list[tuple[str, str, str]] = []
        self.fail: dict[tuple[str, str], list[bool]] = {}
        self.plans: dict[str, dict] = {}
        self.states: dict[str, dict] = {}  # a stack's state (`state_pull`); none: not deployed yet
        self.gates: dict[tuple[str, str], threading.Event] = {}
        self.started: dict[tuple[str, str], threading.Event] = {}  # set when that step starts
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------ what tests read

    def steps(self, kind: str = "start") -> list[tuple[str, str]]:
        return [(stack, step) for k, stack, step in self.events if k == kind]

    def index(self, kind: str, stack: str, step: str) -> int:
        return self.events.index((kind, stack, step))

    def when_started(self, stack: str, step: str) -> threading.Event:
        with self._lock:
            return self.started.setdefault((stack, step), threading.Event())

    # ------------------------------------------------------------ Terraform's interface

    def forwarding_interrupts(self) -> tf.Interrupts:
        return self.interrupts

    def log_path(self, stack: str) -> Path:
        return self.log_dir / f"{stack}.log"

    def _step(self, stack: str, step: str) -> None:
        with self._lock:
            self.events.append(("start", stack, step))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            started = self.started.setdefault((stack, step), threading.Event())
        started.set()
        try:
            gate = self.gates.get((stack, step))
            if gate is not None and not gate.wait(GUARD):
                raise AssertionError(f"the gate of {stack} {step} was never opened")
            failures = self.fail.get((stack, step), [])
            if failures and failures.pop(0):
                raise tf.StackFailed(stack, step, f"Error: scripted failure of {step}")
        finally:
            with self._lock:
                self.running -= 1
                self.events.append(("end", stack, step))

    def init(self, stack: str, backend: bool = True) -> None:
        self._step(stack, "init")

    def plan(self, stack: str, variables: dict[str, str] | None = None, destroy: bool = False) -> Path:
        self._step(stack, "plan")
        return self.out_dir / "stacks" / stack / tf.PLAN_FILE

    def show_json(self, stack: str) -> Path:
        self._step(stack, "show")
        path = self.out_dir / "stacks" / stack / tf.PLAN_JSON
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.plans.get(stack, CREATE)))
        return path

    def apply(self, stack: str) -> None:
        self._step(stack, "apply")

    def state_pull(self, stack: str) -> str:
        self._step(stack, "state")
        return json.dumps(self.states[stack]) if stack in self.states else ""
