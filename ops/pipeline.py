"""plan / deploy / destroy over the selected stacks, in dependency order, stopping at the first failure.

Synthesizes first, then per stack: `terraform init`, `plan -out`, `show -json`, the plan review,
and for deploy/destroy `apply` of exactly that saved plan. Deploy order is the configuration's:
each environment's primary region, its other regions, then its edge stack; destroy reverses it.
A deploy whose plan deletes or replaces stateful resources stops before applying anything of that
stack unless `allow_destroy`.

SIGINT or SIGTERM stops the run without losing state: Terraform is asked to stop gracefully and
waited for (ops.terraform, "Interrupts"), then `Interrupted` says which stacks were done, which
was interrupted (and where its state and lock are), which were not started, and exits 128 + the
signal's number (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from config.errors import PlatformError, Refused, UsageError
from config.facts import StackRole
from config.model import Config, StackSpec
from ops import review as plan_review
from ops import terraform as tf
from ops.terraform import StackResult, Terraform


class Action(StrEnum):
    """What a run does with each stack's reviewed plan. A `StrEnum`: messages and the resume
    command spell it as the command's name."""

    PLAN = "plan"  # init, plan, show and review only
    DEPLOY = "deploy"  # apply each reviewed plan, in deploy order
    DESTROY = "destroy"  # plan -destroy and apply, in reverse order

    @property
    def done(self) -> str:
        """The status of a stack this action finished with."""
        return {Action.PLAN: "planned", Action.DEPLOY: "applied", Action.DESTROY: "destroyed"}[self]


class DestructivePlan(Refused):
    """A deploy or destroy whose plan deletes or replaces stateful resources, without
    --allow-destroy (exit 3); nothing of that stack was applied."""

    def __init__(self, results: list[StackResult]):
        refused = results[-1]
        super().__init__(
            f"{refused.stack}: the plan deletes or replaces stateful resources; review it "
            f"({refused.plan_json}) and re-run with --allow-destroy if that is intended"
        )
        self.results = results  # every stack handled so far, the refused one last


class Interrupted(PlatformError):
    """The run was stopped by SIGINT/SIGTERM (exit 128 + the signal's number: the shell's
    convention, 130 SIGINT, 143 SIGTERM). `results`: the stacks handled, the interrupted one last
    (status "interrupted"); `not_started`: the stacks after it, in order; `resume`: the command
    that resumes the run (the CLI's own command line)."""

    def __init__(
        self,
        cause: tf.Interrupted,
        results: list[StackResult],
        not_started: list[str],
        action: Action,
        out_dir: Path,
        resume: str,
    ):
        super().__init__(str(cause), exit_code=128 + int(cause.signals[0]))
        self.cause, self.results, self.not_started, self.action = cause, results, not_started, action
        self.stack_dir = out_dir / "stacks" / cause.stack if cause.stack else None
        self.resume = resume

    def lines(self) -> list[str]:
        return self.report(self.resume)

    def report(self, resume: str) -> list[str]:
        """What the user needs after the interrupt: one `error:` line, then one line per fact."""
        cause, lines = self.cause, [f"error: {self.cause}"]
        done = self.action.done
        lines.append(f"{done}: {', '.join(r.stack for r in self.results if r.status == done) or 'none'}")
        if cause.stack and cause.started:
            state, lock = state_location(self.stack_dir)
            if cause.forced:
                lines.append(
                    f"interrupted: {cause.stack} (terraform {cause.step} was told to exit immediately and may not "
                    f"have saved what it did: resources it created can exist in AWS but be missing from the state "
                    f"{state}; run `terraform plan` in {self.stack_dir} and `terraform import` what it would "
                    f"create again. {lock})"
                )
            elif cause.step == "apply":
                lines.append(
                    f"interrupted: {cause.stack} (terraform {cause.step} stopped gracefully: it finished "
                    f"the operations in flight, saved the state {state} and released its lock)"
                )
            else:  # init, plan and show change nothing and write no state
                lines.append(
                    f"interrupted: {cause.stack} (terraform {cause.step} stopped; it changes nothing "
                    f"in AWS and wrote no state; the state is {state})"
                )
        elif cause.stack and cause.step != "init":
            lines.append(f"interrupted: {cause.stack} (before terraform {cause.step}; nothing of its plan was applied)")
        lines.append(f"not started: {', '.join(self.not_started) or 'none'}")
        lines.append(
            f"to resume, run the same command again: {resume} (it plans every stack anew; "
            f"stacks already {done} show no changes)"
        )
        return lines


def state_location(stack_dir: Path) -> tuple[str, str]:
    """Where the stack's state is and what to do about its lock, read from the synthesized
    backend (the one place that says it)."""
    try:
        backend = json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"]["backend"]
    except (OSError, ValueError, KeyError, TypeError):
        return "(backend unknown)", "If a state lock remains, `terraform force-unlock LOCK_ID` removes it."
    if "s3" in backend:
        where = f"s3://{backend['s3'].get('bucket')}/{backend['s3'].get('key')}"
        return where, (
            f"If the lock object {where}.tflock remains, `terraform force-unlock LOCK_ID` in "
            f"{stack_dir} removes it (the ID is in the lock error)."
        )
    path = (backend.get("local") or {}).get("path", "terraform.tfstate")
    return os.path.normpath(stack_dir / path), "Its local state lock ends with the Terraform process."


def variables_for(spec: StackSpec, instance_counts: dict[str, int]) -> dict[str, str]:
    if spec.role is StackRole.EDGE or spec.region not in instance_counts:
        return {}
    return {"instance_count": str(instance_counts[spec.region])}


def instance_counts(values: list[str] | None, config: Config, specs: list[StackSpec]) -> dict[str, int]:
    """REGION=N per region (--instance-count), checked before any work: the region must be one the
    selected stacks run in, and N within the capacity (min_capacity..max_capacity) of every selected
    environment there; Terraform would otherwise fail mid-run on the Auto Scaling group, or the
    variable's validation, after the stacks before it were applied. Raises UsageError."""
    counts: dict[str, int] = {}
    regions = list(dict.fromkeys(s.region for s in specs if s.role.regional))
    problems = []
    for value in values or []:
        region, _, number = value.partition("=")
        if not number.isdigit() or region not in regions:
            raise UsageError(
                f"--instance-count {value!r}: expected REGION=N with a region of the selected stacks "
                f"({', '.join(regions) or 'none'})"
            )
        counts[region] = int(number)
        for env in dict.fromkeys(s.environment for s in specs if s.region == region):
            scaling = config.environments[env].scaling
            if not scaling.min_capacity <= counts[region] <= scaling.max_capacity:
                problems.append(
                    f"--instance-count {value}: environment {env} allows {scaling.min_capacity}.."
                    f"{scaling.max_capacity} instances (min_capacity..max_capacity); choose a count in "
                    f"that range or change those settings"
                )
    if problems:
        raise UsageError(problems)
    return counts


def run(
    config: Config,
    specs: list[StackSpec],
    out_dir: Path,
    action: Action,
    terraform: Terraform,
    instance_counts: dict[str, int] | None = None,
    allow_destroy: bool = False,
    progress: Callable[[str, str], None] | None = None,
    resume: str = "",
) -> list[StackResult]:
    """Plan, deploy or destroy `specs` (`action`). Returns one result per stack handled. Raises
    DestructivePlan, Interrupted (which tells to run `resume` again), or StackFailed with the
    line that the stacks after the failed one were not touched."""
    from stacks import app

    ordered = list(reversed(specs)) if action is Action.DESTROY else list(specs)
    results: list[StackResult] = []
    with terraform.forwarding_interrupts() as interrupts:
        try:
            app.synth(config, specs, out_dir)
        except Exception:
            if not interrupts.received:
                raise
            # The terminal's Ctrl-C also reached the synth's own child processes; nothing was touched.
            _forget_dead_synth_runtime()
            cause = tf.Interrupted(None, "synth", True, list(interrupts.received), interrupts.forced)
            raise Interrupted(cause, results, [s.name for s in ordered], action, out_dir, resume) from None
        for index, spec in enumerate(ordered):
            result = StackResult(spec.name)
            results.append(result)
            try:
                _one_stack(spec, result, results, action, terraform, instance_counts, allow_destroy, progress)
            except tf.Interrupted as exc:
                untouched = not exc.started and exc.step == "init"
                if untouched:
                    results.pop()
                else:
                    result.status = "interrupted"
                later = [s.name for s in ordered[index + (0 if untouched else 1) :]]
                _forget_dead_synth_runtime()
                raise Interrupted(exc, results, later, action, out_dir, resume) from None
            except tf.StackFailed as exc:
                exc.problems.append("stopped: the stacks after it were not touched")
                if interrupts.received:
                    _forget_dead_synth_runtime()
                raise
            except Exception:
                if interrupts.received:
                    _forget_dead_synth_runtime()
                raise
        if interrupts.received:
            # Terraform finished what it had in flight and exited 0: every stack is done, but the
            # run was interrupted, so it ends as one (130/143), never as a plain success.
            _forget_dead_synth_runtime()
            cause = tf.Interrupted(
                None, "the last stack, which finished anyway", True, list(interrupts.received), interrupts.forced
            )
            raise Interrupted(cause, results, [], action, out_dir, resume)
    return results


def _forget_dead_synth_runtime() -> None:
    """The terminal's Ctrl-C also reaches the Node process cdktf synthesizes in (jsii's, in this
    process's group), and it exits. At our exit jsii would say goodbye to it through its closed
    pipe and print a BrokenPipeError traceback; closing our end first (nothing is buffered) makes
    jsii skip that."""
    try:
        from jsii._runtime import kernel

        node = kernel.provider._process._process  # ProcessProvider -> _NodeProcess -> Popen
    except (ImportError, AttributeError):  # no synth ran in this process, or jsii changed
        return
    if not isinstance(node, subprocess.Popen):
        return
    if node.poll() is not None and node.stdin is not None and not node.stdin.closed:
        try:
            node.stdin.close()
        except OSError:
            pass


def _one_stack(
    spec: StackSpec,
    result: StackResult,
    results: list[StackResult],
    action: Action,
    terraform: Terraform,
    instance_counts: dict[str, int] | None,
    allow_destroy: bool,
    progress: Callable[[str, str], None] | None,
) -> None:
    say = (lambda step: progress(spec.name, step)) if progress else (lambda step: None)
    say("init")
    terraform.init(spec.name)
    say("plan")
    terraform.plan(spec.name, variables_for(spec, instance_counts or {}), destroy=action is Action.DESTROY)
    result.plan_json = terraform.show_json(spec.name)
    result.review = plan_review.review(plan_review.load(result.plan_json), spec.name)
    result.status = "planned"
    if action is Action.PLAN:
        return
    if result.review.destructive and not allow_destroy:
        result.status = "refused"
        raise DestructivePlan(results)
    say("apply")
    terraform.apply(spec.name)
    result.status = action.done
