"""plan / deploy / destroy over the selected stacks, in dependency order, stopping at the first failure.

Synthesizes first, then per stack: `terraform init`, `plan -out`, `show -json`, the plan review,
and for deploy/destroy `apply` of exactly that saved plan. Deploy order is the configuration's:
each environment's primary region, its other regions, then its edge stack; destroy reverses it.
A deploy whose plan deletes or replaces stateful resources stops before applying anything of that
stack unless `allow_destroy`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from config.model import Config, StackSpec
from ops import review as plan_review
from ops.terraform import StackResult, Terraform


class DestructivePlan(RuntimeError):
    def __init__(self, results: list[StackResult]):
        refused = results[-1]
        super().__init__(f"{refused.stack}: the plan deletes or replaces stateful resources; review it "
                         f"({refused.plan_json}) and re-run with --allow-destroy if that is intended")
        self.results = results  # every stack handled so far, the refused one last


def variables_for(spec: StackSpec, instance_counts: dict[str, int]) -> dict[str, str]:
    if spec.role == "edge" or spec.region not in instance_counts:
        return {}
    return {"instance_count": str(instance_counts[spec.region])}


def run(config: Config, specs: list[StackSpec], out_dir: Path, action: str, terraform: Terraform,
        instance_counts: dict[str, int] | None = None, allow_destroy: bool = False,
        progress: Callable[[str, str], None] | None = None) -> list[StackResult]:
    """`action` is plan, deploy or destroy. Returns one result per stack handled."""
    from stacks import app

    app.synth(config, specs, out_dir)
    ordered = list(reversed(specs)) if action == "destroy" else list(specs)
    results = []
    for spec in ordered:
        result = StackResult(spec.name)
        results.append(result)
        say = (lambda step, s=spec.name: progress(s, step)) if progress else (lambda step: None)
        say("init")
        terraform.init(spec.name)
        say("plan")
        terraform.plan(spec.name, variables_for(spec, instance_counts or {}), destroy=action == "destroy")
        result.plan_json = terraform.show_json(spec.name)
        result.review = plan_review.review(plan_review.load(result.plan_json), spec.name)
        result.status = "planned"
        if action == "plan":
            continue
        if result.review.destructive and not allow_destroy:
            result.status = "refused"
            raise DestructivePlan(results)
        say("apply")
        terraform.apply(spec.name)
        result.status = "applied" if action == "deploy" else "destroyed"
    return results
