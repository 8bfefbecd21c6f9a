"""plan / deploy / destroy over the selected stacks, in dependency waves, stopping at the first failure.

Synthesizes first, then per stack: `terraform init`, `plan -out`, `show -json`, the plan review,
and for deploy/destroy `apply` of exactly that saved plan. Stacks run in waves (ops/waves.py):
per environment its primary region, then its other regions together, then its edge stack;
destroy reverses them. Environments do not wait for each other. At most `parallel` Terraform
processes run at once; each stack's output goes to <out>/logs/<stack>.log.

The review gate sees every plan of an environment before any apply of it: deploy and destroy
first plan and review every stack of the environment, then apply wave after wave. A plan that
deletes or replaces stateful resources anywhere in the environment stops all of its applies
(unless `allow_destroy`; exit 3 at the end). One exception to "plan first": on a first deploy a
later wave's plan can need what an earlier wave creates (a secondary region's data source reads
the primary's database). So a stack whose plan fails while an earlier wave of its environment
has changes to apply is planned again once that wave is applied, reviewed, and only then
applied (its result notes "planned after <stack>"); any other failure is a failure.

The first failure stops new work in every environment; stacks already running finish; then
`RunFailed` names the failed stacks (with their logs) and what was not done (exit 1).

SIGINT or SIGTERM stops the run without losing state: every running Terraform is asked to stop
gracefully and waited for (ops.terraform, "Interrupts"), then `Interrupted` says which stacks were
done, which were interrupted (and where their state and lock are), which were not started, and
exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from rich.console import Console

from config.choices import Backend
from config.errors import OperationFailed, PlatformError, Refused, UsageError
from config.facts import StackRole
from config.model import Config, StackSpec
from ops import review as plan_review
from ops import terraform as tf
from ops import waves
from ops.terraform import StackResult, Terraform

LOGS_DIR = "logs"  # <out>/logs/<stack>.log: each stack's Terraform output
NODE_EXIT_WAIT = 2.0  # seconds an interrupted run gives jsii's Node process to finish exiting


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

    def __init__(self, results: list[StackResult], refused: list[str] | None = None):
        plans = {r.stack: r.plan_json for r in results}
        super().__init__(
            [
                f"{stack}: the plan deletes or replaces stateful resources; review it "
                f"({plans[stack]}) and re-run with --allow-destroy if that is intended"
                for stack in refused or [results[-1].stack]
            ]
        )
        self.results = results  # every stack with its status; without `refused`, the refused one last


class Interrupted(PlatformError):
    """The run was stopped by SIGINT/SIGTERM (exit 128 + the signal's number: the shell's
    convention, 130 SIGINT, 143 SIGTERM). `results`: the stacks (status "interrupted" for those
    Terraform was running for); `cause` and `more`: one per interrupted stack (several with
    --parallel); `not_started`: the stacks whose step never started, in order; `resume`: the
    command that resumes the run (the CLI's own command line)."""

    def __init__(
        self,
        cause: tf.Interrupted,
        results: list[StackResult],
        not_started: list[str],
        action: Action,
        out_dir: Path,
        resume: str,
        more: list[tf.Interrupted] | None = None,
    ):
        super().__init__(str(cause), exit_code=128 + int(cause.signals[0]))
        self.cause, self.results, self.not_started, self.action = cause, results, not_started, action
        self.causes = [cause, *(more or [])]
        self.out_dir = out_dir
        self.stack_dir = out_dir / "stacks" / cause.stack if cause.stack else None
        self.resume = resume

    def lines(self) -> list[str]:
        return self.report(self.resume)

    def report(self, resume: str) -> list[str]:
        """What the user needs after the interrupt: one `error:` line, then one line per fact."""
        lines = [f"error: {self.cause}"]
        done = self.action.done
        lines.append(f"{done}: {', '.join(r.stack for r in self.results if r.status == done) or 'none'}")
        for cause in self.causes:
            lines.extend(self._interrupted(cause))
        lines.append(f"not started: {', '.join(self.not_started) or 'none'}")
        lines.append(
            f"to resume, run the same command again: {resume} (it plans every stack anew; "
            f"stacks already {done} show no changes)"
        )
        return lines

    def _interrupted(self, cause: tf.Interrupted) -> list[str]:
        """The line about one interrupted stack: what Terraform was doing and where its state is."""
        lines: list[str] = []
        stack_dir = self.out_dir / "stacks" / cause.stack if cause.stack else None
        if cause.stack and cause.started:
            state, lock = state_location(stack_dir)
            if cause.forced:
                lines.append(
                    f"interrupted: {cause.stack} (terraform {cause.step} was told to exit immediately and may not "
                    f"have saved what it did: resources it created can exist in AWS but be missing from the state "
                    f"{state}; run `terraform plan` in {stack_dir} and `terraform import` what it would "
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
        return lines


def state_location(stack_dir: Path) -> tuple[str, str]:
    """Where the stack's state is and what to do about its lock, read from the synthesized
    backend (the one place that says it)."""
    try:
        backend = json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"]["backend"]
    except (OSError, ValueError, KeyError, TypeError):
        return "(backend unknown)", "If a state lock remains, `terraform force-unlock LOCK_ID` removes it."
    if Backend.S3 in backend:  # the backend block is keyed by its type
        where = f"s3://{backend[Backend.S3].get('bucket')}/{backend[Backend.S3].get('key')}"
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


def default_parallel() -> int:
    """--parallel's default: the machine's cores, at least 2 (a primary's apply and another
    environment's plans overlap even on one core: Terraform mostly waits for AWS)."""
    return max(2, os.cpu_count() or 1)


def check_parallel(value: int) -> int:
    if value < 1:
        raise UsageError(f"--parallel {value}: expected a number of Terraform processes of at least 1")
    return value


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
    parallel: int = 1,
) -> list[StackResult]:
    """Synthesize `specs`, then plan, deploy or destroy them (`action`) in waves, at most
    `parallel` Terraform processes at once (`execute`). Each stack's Terraform output goes to
    <out>/logs/<stack>.log. Returns one result per stack, in the action's order."""
    from stacks import app

    with terraform.forwarding_interrupts() as interrupts:
        try:
            app.synth(config, specs, out_dir)
        except Exception:
            if not interrupts.received:
                raise
            # The terminal's Ctrl-C also reached the synth's own child processes; nothing was touched.
            _forget_dead_synth_runtime()
            cause = tf.Interrupted(None, "synth", True, list(interrupts.received), interrupts.forced)
            ordered = list(reversed(specs)) if action is Action.DESTROY else list(specs)
            raise Interrupted(cause, [], [s.name for s in ordered], action, out_dir, resume) from None
        terraform.log_dir = out_dir / LOGS_DIR
        try:
            return execute(
                specs, out_dir, action, terraform, app.deploys_after, instance_counts, allow_destroy, progress,
                resume, parallel,
            )  # fmt: skip
        except BaseException:
            if interrupts.received:
                _forget_dead_synth_runtime()
            raise


def execute(
    specs: list[StackSpec],
    out_dir: Path,
    action: Action,
    terraform: Terraform,
    deploys_after: Callable[[StackSpec, list[StackSpec]], list[StackSpec]],
    instance_counts: dict[str, int] | None = None,
    allow_destroy: bool = False,
    progress: Callable[[str, str], None] | None = None,
    resume: str = "",
    parallel: int = 1,
) -> list[StackResult]:
    """Run `action` over the synthesized `specs` (module docstring: waves, the review gate,
    deferred plans, stopping). Raises Interrupted, RunFailed, DestructivePlan or a machine
    problem (EnvironmentProblem) once every running stack has finished."""
    counts = instance_counts or {}
    run = _Run(specs, out_dir, action, terraform, deploys_after, counts, allow_destroy, progress, parallel)
    waves.together([lambda env_waves=env_waves: run.environment(env_waves) for env_waves in run.waves.values()])
    return run.finish(resume)


class _Run:
    """The shared state of one run: every stack's result, the failures so far, the worker pool."""

    def __init__(
        self,
        specs: list[StackSpec],
        out_dir: Path,
        action: Action,
        terraform: Terraform,
        deploys_after: Callable[[StackSpec, list[StackSpec]], list[StackSpec]],
        counts: dict[str, int],
        allow_destroy: bool,
        progress: Callable[[str, str], None] | None,
        parallel: int,
    ):
        self.out_dir, self.action, self.terraform = out_dir, action, terraform
        self.counts, self.allow_destroy = counts, allow_destroy
        self.progress = progress or (lambda stack, state: None)
        self.interrupts = terraform.forwarding_interrupts()
        self.waves = waves.waves(specs, deploys_after, reverse=action is Action.DESTROY)
        self.ordered = [s for env_waves in self.waves.values() for wave in env_waves for s in wave]
        self.priority = {s.name: (index,) for index, s in enumerate(self.ordered)}
        self.results = {s.name: StackResult(s.name, "not started", log=terraform.log_path(s.name)) for s in specs}
        self.errors: list[tuple[str, BaseException]] = []  # (stack, error), in the order they happened
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self.pool = waves.Pool(parallel, stopping=lambda: bool(self.interrupts.received))

    def say(self, stack: str, state: str) -> None:
        self.progress(stack, state)

    def fail(self, stack: str, error: BaseException) -> None:
        """The first failure stops new work in every environment; running stacks finish."""
        result = self.results[stack]
        result.status = "interrupted" if isinstance(error, tf.Interrupted) else "failed"
        if isinstance(error, tf.Interrupted) and not error.started and error.step == "init":
            result.status = "not started"  # stopped before it touched anything
        with self._lock:
            self.errors.append((stack, error))
        self.pool.stop()
        self.say(stack, result.status)

    # ---------------------------------------------------------------- one environment

    def environment(self, env_waves: list[list[StackSpec]]) -> None:
        """Plan (and review) every stack of the environment, then apply wave after wave."""
        stacks = [s for wave in env_waves for s in wave]
        wave_of = {s.name: index for index, wave in enumerate(env_waves) for s in wave}
        outcomes = self.pool.run([self._job(s, lambda s=s: self._plan_job(s, wave_of[s.name] > 0)) for s in stacks])
        if any(isinstance(o.error, _Failed) for o in outcomes):
            return
        # On a first deploy a later wave's plan reads what an earlier wave creates (a secondary's
        # data source reads the primary's database): such a plan is made again once that is applied.
        # Only then: a stack already deployed, or any destroy, plans without the earlier waves, so
        # its failure is real and stops the run before anything is applied.
        deferred: dict[str, list[str]] = {}
        for spec, outcome in zip(stacks, outcomes, strict=True):
            if outcome.error is None:
                continue
            pending = [s.name for s in stacks if wave_of[s.name] < wave_of[spec.name] and self._changes(s.name)]
            if not pending or self.action is not Action.DEPLOY or self._deployed(spec.name):
                self.fail(spec.name, outcome.error)
                return
            deferred[spec.name] = pending
            self.results[spec.name].status = "deferred"
            self.say(spec.name, f"deferred: plans again after {', '.join(pending)} applied")
        if any(not o.started for o in outcomes) or self.pool.stopped or self.action is Action.PLAN:
            return
        if not self.allow_destroy and self._refuse([s.name for s in stacks]):
            return
        for wave in env_waves:
            if self.pool.stopped:
                return
            outcomes = self.pool.run([self._job(s, lambda s=s: self._apply_job(s, deferred.get(s.name))) for s in wave])
            if any(o.error or not o.started for o in outcomes):
                return

    def _plan_job(self, spec: StackSpec, may_defer: bool) -> None:
        """Plan one stack. A failure stops the run at once, unless the plan may be deferred (a
        later wave of a deploy or destroy): the environment decides once all its plans are made."""
        try:
            self.plan(spec)
        except tf.StackFailed as exc:
            if may_defer and self.action is not Action.PLAN:
                raise
            self.fail(spec.name, exc)
            raise _Failed() from None
        except BaseException as exc:
            self.fail(spec.name, exc)
            raise _Failed() from None

    def _apply_job(self, spec: StackSpec, after: list[str] | None) -> None:
        try:
            self.apply(spec, after)
        except DestructivePlan:
            raise
        except BaseException as exc:
            self.fail(spec.name, exc)
            raise _Failed() from None

    def _deployed(self, stack: str) -> bool:
        """Whether the stack's state holds resources (a state that cannot be read counts as
        deployed: then its plan failure is not deferred, it stops the run)."""
        try:
            state = json.loads(self.terraform.state_pull(stack) or "{}")
        except (tf.StackFailed, ValueError):
            return True
        return bool(isinstance(state, dict) and state.get("resources"))

    def _changes(self, stack: str) -> bool:
        """Whether the stack has changes to apply: its reviewed plan creates, updates, replaces or
        deletes something, or its own plan was deferred (it will change something, or fail)."""
        result = self.results[stack]
        return result.status == "deferred" or (
            result.status == "planned"
            and result.review is not None
            and any(result.review.counts.get(k) for k in ("create", "update", "replace", "delete"))
        )

    def _job(self, spec: StackSpec, work: Callable[[], None]) -> waves.Job:
        self.say(spec.name, "waiting")
        return waves.Job(spec.name, work, self.priority[spec.name])

    def _refuse(self, stacks: list[str]) -> bool:
        """The review gate: a destructive plan anywhere in the environment stops all of its applies."""
        refused = [name for name in stacks if (review := self.results[name].review) and review.destructive]
        for name in refused:
            self.results[name].status = "refused"
            self.say(name, "refused: destructive plan")
        with self._lock:
            self.refused.extend(refused)
        return bool(refused)

    # ---------------------------------------------------------------- one stack

    def plan(self, spec: StackSpec, again: bool = False) -> None:
        result, terraform = self.results[spec.name], self.terraform
        if not again:
            self.say(spec.name, "init")
            terraform.init(spec.name)
        self.say(spec.name, "plan")
        terraform.plan(spec.name, variables_for(spec, self.counts), destroy=self.action is Action.DESTROY)
        result.plan_json = terraform.show_json(spec.name)
        result.review = plan_review.review(plan_review.load(result.plan_json), spec.name)
        result.status = "planned"
        self.say(spec.name, result.note or "planned")

    def apply(self, spec: StackSpec, after: list[str] | None) -> None:
        result = self.results[spec.name]
        if after:
            result.note = f"planned after {', '.join(after)}"
            self.plan(spec, again=True)
            if result.review.destructive and not self.allow_destroy:
                self._refuse([spec.name])
                raise DestructivePlan([result])
        self.say(spec.name, "apply")
        result.status = "applying"
        self.terraform.apply(spec.name)
        result.status = self.action.done
        self.say(spec.name, result.status)

    # ---------------------------------------------------------------- the end

    def finish(self, resume: str) -> list[StackResult]:
        results = [self.results[s.name] for s in self.ordered]
        interrupted = [e for _, e in self.errors if isinstance(e, tf.Interrupted)]
        if interrupted or self.interrupts.received:
            causes = [e for e in interrupted if e.started] or interrupted
            if not causes:
                # Terraform finished what it had in flight and exited 0: the run was interrupted
                # nevertheless, so it ends as one (130/143), never as a plain success.
                causes = [
                    tf.Interrupted(
                        None,
                        "the last stack, which finished anyway",
                        True,
                        list(self.interrupts.received),
                        self.interrupts.forced,
                    )
                ]
            for result in results:
                if result.status == "deferred":  # its plan is to be made again, its apply never started
                    result.status = "not started"
            waiting = ("not started", "planned")  # a deploy's planned stack: its apply never started
            not_started = [r.stack for r in results if r.status in waiting and r.status != self.action.done]
            raise Interrupted(causes[0], results, not_started, self.action, self.out_dir, resume, more=causes[1:])
        other = [e for _, e in self.errors if not isinstance(e, tf.StackFailed)]
        if other:
            raise other[0]
        failed = [(stack, e) for stack, e in self.errors if isinstance(e, tf.StackFailed)]
        if failed:
            raise RunFailed(failed, results, self.action)
        if self.refused:
            raise DestructivePlan(results, self.refused)
        return results


def outcome(results: list[StackResult], action: Action) -> list[str]:
    """The summary's lines under the table: what was done, what failed (with its log), what was
    refused or interrupted, what was not started, and where the logs are."""
    done = action.done
    ended = (done, "failed", "refused", "interrupted")
    lines = [f"{done}: {', '.join(r.stack for r in results if r.status == done) or 'none'}"]
    lines += [f"failed: {r.stack} (log: {r.log})" for r in results if r.status == "failed"]
    lines += [f"refused: {r.stack} (destructive plan: {r.plan_json})" for r in results if r.status == "refused"]
    lines += [f"interrupted: {r.stack} (log: {r.log})" for r in results if r.status == "interrupted"]
    if any(r.status not in ended for r in results):
        lines.append(f"not started: {', '.join(r.stack for r in results if r.status not in ended)}")
    lines += [f"{r.stack}: {r.note}" for r in results if r.note]
    logs = sorted({str(r.log.parent) for r in results if r.log})
    if logs:
        lines.append(f"logs: {', '.join(logs)} (one <stack>.log per stack)")
    return lines


class _Failed(Exception):
    """A stack's failure, already recorded in the run (`_Run.fail`)."""


class RunFailed(OperationFailed):
    """A stack failed (exit 1). New work stopped at the first failure; the stacks running then
    finished. One problem line per failed stack (Terraform's error and its log), then what was
    left undone; `results`: every stack with its status."""

    def __init__(self, failed: list[tuple[str, tf.StackFailed]], results: list[StackResult], action: Action):
        logs = {r.stack: r.log for r in results}
        problems = [f"{error}" + (f" (log: {logs[stack]})" if logs.get(stack) else "") for stack, error in failed]
        undone = [r.stack for r in results if r.status not in (action.done, "failed")]
        problems.append(
            f"stopped: new work stopped at the first failure; not {action.done}: {', '.join(undone) or 'none'}"
        )
        super().__init__(problems)
        self.results = results


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
    try:  # the Ctrl-C that reached it may still be ending it (a busy machine); a live one answers jsii
        node.wait(timeout=NODE_EXIT_WAIT)
    except subprocess.TimeoutExpired:
        return
    if node.stdin is not None and not node.stdin.closed:
        try:
            node.stdin.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- the commands


def resume_command(
    action: Action,
    env: str,
    region: str | None,
    config_path: Path | None,
    out_dir: Path,
    counts: list[str] | None,
    allow_destroy: bool,
    parallel: int,
) -> str:
    """The command line that runs the same command again (what an interrupted run prints): every
    option spelled out, --parallel resolved, so resuming never depends on the machine's defaults."""
    return shlex.join(
        [
            "python",
            "main.py",
            action,
            "--env",
            env,
            *(["--region", region] if region else []),
            *(["--config", str(config_path)] if config_path else []),
            "--out",
            str(out_dir),
            *(a for c in counts or [] for a in ("--instance-count", c)),
            *(["--allow-destroy"] if allow_destroy else []),
            "--parallel",
            str(parallel),
        ]
    )


def command(
    action: Action,
    env: str,
    region: str | None,
    config_path: Path | None,
    out_dir: Path,
    *,
    verbose: bool,
    counts: list[str] | None,
    allow_destroy: bool,
    parallel: int | None,
    console: Console,
    echo: Callable[[str], None],
    show: Callable[[list[StackResult]], None],
) -> list[StackResult]:
    """`plan`, `deploy` and `destroy`: load the configuration, check --parallel, the instance
    counts and Terraform, run `action` with a status board on `console` (each stack's state; with
    `verbose`, Terraform's own lines through `echo` instead of a live table), then report the
    stacks (`show`, the CLI's tables) and the outcome lines, also when the run failed, was refused
    or interrupted (its error follows, from main.py's handler). A plan that would delete or replace
    stateful resources is Refused (exit 3) after its review is shown."""
    from config.loader import load
    from ops.status import StatusBoard

    parallel = check_parallel(default_parallel() if parallel is None else parallel)
    config = load(config_path)
    specs = config.select(env, region)
    variables = instance_counts(counts, config, specs)
    resume = resume_command(action, env, region, config_path, out_dir, counts, allow_destroy, parallel)
    terraform = Terraform(out_dir, echo=(lambda line: echo(f"    {line}")) if verbose else None)
    tf.check_version(terraform.terraform)
    ordered = list(reversed(specs)) if action is Action.DESTROY else specs

    def report(results: list[StackResult]) -> None:
        show(results)
        for line in outcome(results, action):
            echo(line)

    try:
        with StatusBoard(console, [s.name for s in ordered], live=None if not verbose else False) as board:
            results = run(config, specs, out_dir, action, terraform, variables, allow_destroy, board, resume, parallel)
    except (DestructivePlan, Interrupted, RunFailed) as exc:  # the stacks, then the error
        if exc.results:
            report(exc.results)
        raise
    report(results)
    if action is Action.PLAN and (destructive := [r.stack for r in results if r.review and r.review.destructive]):
        raise Refused(
            f"{', '.join(destructive)}: the plan deletes or replaces stateful resources "
            "(deploy refuses it without --allow-destroy)"
        )
    return results
