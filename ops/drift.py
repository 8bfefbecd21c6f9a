"""`drift`: what changed in AWS behind Terraform's back, per stack, from a refresh-only plan.

Synthesizes like `plan`, then per stack `terraform init` and `plan -refresh-only` (its own plan
file, no state lock: ops.terraform `refresh_only_plan`) and reads the plan's `resource_drift`:
Terraform refreshed every resource in the state and lists those whose live attributes differ
from what the state recorded, and those that are gone ("delete"). Nothing is applied and no state
is written, so the check is safe to run on a schedule against production.

Attribute paths name a nested attribute with dots and a nested block's item with its index
(`tags.team`, `ingress[0].cidr_blocks`); values Terraform marks sensitive are never shown; null
on one side and an empty map or list on the other is no change (the provider reads an unset
`tags` back as `{}`, so every untagged resource would otherwise drift).

Only attributes the code sets count (the plan's `configuration` names them per resource), and
`tags_all` (the provider's default tags): a refresh also reports computed attributes that other
resources of the same stack or AWS itself fill in after the apply, such as a bucket's `policy`
and `versioning` (set by aws_s3_bucket_policy and aws_s3_bucket_versioning), a security group's
rules, a role's attached policies, a route table's routes, a certificate's `status` or a
database's `latest_restorable_time`. That is not drift from the code (a deploy would change
nothing for them), and it would bury the real finding; a change to one of those separate
resources is reported on that resource.

A stack whose check fails does not stop the others (nothing is changed, and the rest of the
report is still worth having); the verdict is exit 1 when any stack failed, else exit 4
(`DriftFound`) when anything drifted, else 0. Plan JSON format:
https://developer.hashicorp.com/terraform/internals/json-format
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from config.errors import DriftFound, OperationFailed, PlatformError
from config.model import Config, StackSpec
from ops import review
from ops import terraform as tf

SENSITIVE = "(sensitive)"
DELETED = "deleted outside Terraform"
SHOWN_VALUE = 40  # characters of a value in the table; --json has them whole
SHOWN_CHANGES = 6  # attribute changes per resource in the table, then "+N more"
# Compared even though no resource sets it: the provider's default_tags land there.
ALWAYS_COMPARED = frozenset({"tags_all"})


class Status(StrEnum):
    CLEAN = "no drift"
    DRIFTED = "drifted"
    FAILED = "failed"


@dataclass(frozen=True)
class AttributeChange:
    """One attribute whose live value differs from the state's (`SENSITIVE` stands in for values
    Terraform marks sensitive, before and after alike)."""

    path: str
    before: Any
    after: Any

    def describe(self) -> str:
        return f"{self.path}: {_short(self.before)} -> {_short(self.after)}"


@dataclass(frozen=True)
class DriftedResource:
    address: str
    type: str
    action: str  # "update": changed outside Terraform; "delete": gone
    changes: tuple[AttributeChange, ...] = ()

    def describe(self) -> str:
        if self.action == "delete":
            return DELETED
        shown = [c.describe() for c in self.changes[:SHOWN_CHANGES]]
        more = len(self.changes) - SHOWN_CHANGES
        return "; ".join(shown + ([f"+{more} more (--json lists them)"] if more > 0 else []))


@dataclass
class StackDrift:
    stack: str
    status: Status = Status.CLEAN
    resources: list[DriftedResource] = field(default_factory=list)
    plan_json: Path | None = None
    error: str = ""


def _short(value: Any) -> str:
    text = value if value == SENSITIVE else json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN_VALUE else text[: SHOWN_VALUE - 1] + "…"


def attribute_changes(
    before: Any, after: Any, before_sensitive: Any = None, after_sensitive: Any = None, path: str = ""
) -> list[AttributeChange]:
    """The attribute paths whose values differ, down to the leaves: maps and objects by key, nested
    blocks (lists of objects, same length) item by item; anything else is compared whole."""
    if before_sensitive is True or after_sensitive is True:
        return [] if before == after else [AttributeChange(path, SENSITIVE, SENSITIVE)]
    if _unset(before) and _unset(after):  # the provider reads an unset map or list back as empty
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            change
            for key in sorted(set(before) | set(after))
            for change in attribute_changes(
                before.get(key),
                after.get(key),
                before_sensitive.get(key) if isinstance(before_sensitive, dict) else None,
                after_sensitive.get(key) if isinstance(after_sensitive, dict) else None,
                f"{path}.{key}" if path else key,
            )
        ]
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and any(isinstance(item, dict | list) for item in before + after)
    ):
        return [
            change
            for index, (b, a) in enumerate(zip(before, after, strict=True))
            for change in attribute_changes(
                b,
                a,
                _item(before_sensitive, index),
                _item(after_sensitive, index),
                f"{path}[{index}]",
            )
        ]
    return [] if before == after else [AttributeChange(path, before, after)]


def _unset(value: Any) -> bool:
    return value is None or value == {} or value == []


def _item(mask: Any, index: int) -> Any:
    return mask[index] if isinstance(mask, list) and index < len(mask) else None


def configured_attributes(plan: dict) -> dict[tuple[str, str], set[str]]:
    """(type, name) -> the attributes and blocks the code sets on that resource, from the plan's
    `configuration` (root module: the synthesized stacks have no child modules)."""
    try:
        resources = plan.get("configuration", {}).get("root_module", {}).get("resources", [])
        return {
            (r["type"], r["name"]): set(r.get("expressions", {})) | ALWAYS_COMPARED
            for r in resources
            if r.get("mode") == "managed"
        }
    except (AttributeError, KeyError, TypeError):
        raise review.PlanError("malformed configuration section: not a Terraform JSON plan") from None


def parse(plan: dict) -> list[DriftedResource]:
    """The drifted resources of a refresh-only plan (`terraform show -json`), in plan order: those
    gone, and those whose attributes the code sets changed (module docstring: why only those)."""
    drift = plan.get("resource_drift", [])
    if not isinstance(drift, list):
        raise review.PlanError("resource_drift is not a list: not a Terraform JSON plan")
    configured = configured_attributes(plan)
    found = []
    for entry in drift:
        try:
            address, type_, change = entry["address"], entry["type"], entry["change"]
            actions = change["actions"]
        except (KeyError, TypeError):
            raise review.PlanError(f"malformed resource_drift entry: {str(entry)[:120]}") from None
        if actions in (["no-op"], ["read"]):
            continue
        if "delete" in actions and not change.get("after"):
            found.append(DriftedResource(address, type_, "delete"))
            continue
        changes = attribute_changes(
            change.get("before"),
            change.get("after"),
            change.get("before_sensitive"),
            change.get("after_sensitive"),
        )
        owned = None if entry.get("module_address") else configured.get((type_, entry.get("name")))
        if owned is not None:  # a resource of a child module (none here) keeps every change
            changes = [c for c in changes if re.split(r"[.\[]", c.path, maxsplit=1)[0] in owned]
        if changes:  # none left: only unset values (null vs empty) or attributes the code leaves alone
            found.append(DriftedResource(address, type_, "update", tuple(changes)))
    return found


def check(
    stacks: list[str], terraform: tf.Terraform, progress: Callable[[str, str], None] | None = None
) -> list[StackDrift]:
    """init and a refresh-only plan of each synthesized stack in `terraform.out_dir`. A stack that
    fails is recorded (status FAILED, Terraform's error) and the next one checked; problems of the
    machine (EnvironmentProblem) and interrupts stop the run."""
    results = []
    for stack in stacks:
        if progress:
            progress(stack, "init, refresh-only plan")
        result = StackDrift(stack)
        results.append(result)
        try:
            terraform.init(stack)
            result.plan_json = terraform.refresh_only_plan(stack)
        except tf.StackFailed as exc:
            result.status, result.error = Status.FAILED, f"terraform {exc.step} failed: {exc.detail}"
            continue
        try:
            result.resources = parse(review.load(result.plan_json))
        except review.PlanError as exc:  # Terraform's own output: say whose
            raise review.PlanError(f"{stack}: {exc}") from None
        result.status = Status.DRIFTED if result.resources else Status.CLEAN
    return results


def run(
    config: Config,
    specs: list[StackSpec],
    out_dir: Path,
    terraform: tf.Terraform,
    progress: Callable[[str, str], None] | None = None,
) -> list[StackDrift]:
    """Synthesize `specs` into `out_dir` (as `plan` does), then `check` them. SIGINT/SIGTERM stop
    Terraform gracefully and end the run with 128 + the signal's number; nothing needs resuming."""
    from stacks import app

    with terraform.forwarding_interrupts() as interrupts:
        try:
            app.synth(config, specs, out_dir)
            return check([s.name for s in specs], terraform, progress)
        except tf.Interrupted as exc:
            raise _interrupted(str(exc), exc.signals[0]) from None
        except Exception:
            if not interrupts.received:
                raise
            raise _interrupted("interrupted during synth", interrupts.received[0]) from None


def _interrupted(what: str, sig: int) -> PlatformError:
    return PlatformError(f"{what}; drift changes nothing in AWS or in the state: run it again", exit_code=128 + sig)


def rows(results: list[StackDrift]) -> list[list[str]]:
    """Table rows (stack, address, what changed): every drifted resource, and one row for each
    stack without drift or whose check failed, so every stack checked is named."""
    out = []
    for result in results:
        if result.status is Status.FAILED:
            out.append([result.stack, "-", f"check failed: {result.error}"])
        elif not result.resources:
            out.append([result.stack, "-", Status.CLEAN.value])
        out.extend([result.stack, r.address, r.describe()] for r in result.resources)
    return out


def as_dict(results: list[StackDrift]) -> dict:
    """--json: every stack's status and drifted resources with every attribute change, whole."""
    return {
        "drift_found": any(r.resources for r in results),
        "failed": [r.stack for r in results if r.status is Status.FAILED],
        "stacks": [
            {
                "stack": r.stack,
                "status": r.status.value,
                "error": r.error or None,
                "plan_json": str(r.plan_json) if r.plan_json else None,
                "resources": [
                    {
                        "address": d.address,
                        "type": d.type,
                        "action": d.action,
                        "changes": [c.__dict__ for c in d.changes],
                    }
                    for d in r.resources
                ],
            }
            for r in results
        ],
    }


def verdict(results: list[StackDrift]) -> None:
    """Raise the run's outcome: OperationFailed (exit 1) when any stack's check failed, DriftFound
    (exit 4) when a resource drifted; return (exit 0) when every stack matches its state."""
    failed = [r for r in results if r.status is Status.FAILED]
    drifted = [r for r in results if r.resources]
    count = sum(len(r.resources) for r in drifted)
    found = f"; drift found in the others: {count} resource(s)" if drifted else ""
    if failed:
        raise OperationFailed(
            [f"{r.stack}: {r.error}" for r in failed]
            + [f"the drift check failed for {len(failed)} of {len(results)} stack(s){found}"]
        )
    if drifted:
        raise DriftFound(
            f"drift found: {count} resource(s) changed outside Terraform in {', '.join(r.stack for r in drifted)}; "
            "`deploy` puts the code's values back, or change the code to keep them"
        )
