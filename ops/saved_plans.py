"""Saved-plan bundles: apply exactly the plans that were reviewed, from another checkout.

`plan --bundle DIR` (after a successful plan) copies, per stack, everything Terraform needs to
apply its saved plan later somewhere else: the synthesized stack (cdk.tf.json and its assets),
the saved plan (plan.tfplan), its JSON rendering (plan.json, what reviewers read) and the
dependency lock file. `manifest.json` names the stacks with their environment and wave (primary
region, other regions, edge: the deploy order), the SHA-256 of every file, and the Terraform
version that planned them (a saved plan applies only with that version).

`apply --env NAME --plans DIR` verifies the bundle before touching anything (a changed, missing or
extra file, a manifest that does not parse, another environment's bundle, another Terraform
version: `BundleInvalid`, exit 2), refuses destructive plans without --allow-destroy like deploy
(exit 3), compares each stack's current state with the state its plan was made from and refuses
every stack if any moved (`StalePlan`, exit 5: an apply in between would be undone or
collide), then per stack in wave order runs `terraform init -lockfile=readonly` (the provider
must match the planned lock file) and `terraform apply plan.tfplan`. Terraform checks staleness
itself too: a state that moves between our check and its apply is reported the same way.

The bundle is applied where it lies (`DIR/stacks/<stack>`, the synth output's layout), so its
relative asset paths resolve as they did at plan time; `.terraform/` folders that init creates
there are not part of the bundle. The state must be in S3 (with its lock file), shared by the plan
job and the deploy job: a stack with local state is refused when the bundle is written and when it
is applied. docs/operations.md ("CI: apply what was reviewed") shows the flow.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config.choices import Backend
from config.errors import PlatformError, Refused, StalePlan, UsageError
from config.model import StackSpec
from ops import review as plan_review
from ops import terraform as tf
from ops.terraform import StackResult, Terraform

MANIFEST = "manifest.json"
FORMAT = 1  # the manifest's layout; bumped when it changes incompatibly
SKIPPED = frozenset({".terraform"})  # what `init` makes in a stack folder; never bundled or checked
REQUIRED = (tf.PLAN_FILE, tf.PLAN_JSON, tf.LOCK_FILE)  # in every stack of a bundle
_STALE = ("Saved plan is stale", "Saved plan does not match the given state")


class BundleInvalid(UsageError):
    """A plan bundle that cannot be trusted or used: nothing was applied (exit 2)."""


@dataclass(frozen=True)
class BundleStack:
    """One stack of a bundle: `wave` orders the apply (lower first)."""

    name: str
    environment: str
    wave: int


@dataclass(frozen=True)
class Manifest:
    environments: tuple[str, ...]
    terraform_version: str
    stacks: tuple[BundleStack, ...]  # in apply order
    files: dict[str, dict[str, str]]  # stack -> relative path -> sha256


def stacks_of(specs: list[StackSpec]) -> list[BundleStack]:
    """The planned stacks in deploy order (by wave, the configuration's order within a wave): the
    waves `deploy` applies in (ops/waves.py over the stacks' dependencies, stacks/app.py)."""
    from ops import waves
    from stacks import app

    stacks = [
        BundleStack(spec.name, env, index)
        for env, env_waves in waves.waves(specs, app.deploys_after).items()
        for index, wave in enumerate(env_waves)
        for spec in wave
    ]
    return sorted(stacks, key=lambda s: (s.environment, s.wave))


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _files(stack_dir: Path) -> dict[str, str]:
    """Every file of a stack folder but init's `.terraform/`: relative path -> sha256."""
    found = {}
    for path in sorted(stack_dir.rglob("*")):
        relative = path.relative_to(stack_dir)
        if relative.parts[0] in SKIPPED or path.is_dir():
            continue
        found[relative.as_posix()] = _digest(path)
    return found


def _shared_state(stack_dir: Path, stack: str) -> None:
    """A bundle is applied on another machine, in another folder: its stacks' state must live
    where both reach it. The local backend's path is relative to the stack folder (stacks/base.py),
    so from elsewhere it names another file: apply would plan against no state and create
    everything again. Raises BundleInvalid unless the stack's backend is S3."""
    try:
        backend = json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"].get("backend", {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise BundleInvalid(f"{stack}: {stack_dir / 'cdk.tf.json'} is not a synthesized stack") from None
    if Backend.S3 not in backend:  # the backend block is keyed by its type
        raise BundleInvalid(
            f"{stack}: its state is {' '.join(backend) or 'local'}, not S3; saved plans are applied on another "
            'machine and need shared state: set [state] backend = "s3" with a bucket (README "State")'
        )


def write(stacks: list[BundleStack], out_dir: Path, bundle_dir: Path, terraform_version: str) -> Manifest:
    """Copy each planned stack of `out_dir` into `bundle_dir/stacks/<stack>` and write the
    manifest. `bundle_dir` must be absent, empty or an earlier bundle (replaced); each stack must
    be planned, with its state in S3."""
    if bundle_dir.exists():
        if not bundle_dir.is_dir() or (any(bundle_dir.iterdir()) and not (bundle_dir / MANIFEST).is_file()):
            raise BundleInvalid(f"{bundle_dir} exists and is not a plan bundle; choose an empty or new --bundle folder")
        shutil.rmtree(bundle_dir)
    for stack in stacks:
        source = out_dir / "stacks" / stack.name
        for needed in REQUIRED:
            if not (source / needed).is_file():
                raise BundleInvalid(f"{stack.name}: {source / needed} is missing; run plan for this stack first")
        _shared_state(source, stack.name)
    files = {}
    for stack in stacks:
        target = bundle_dir / "stacks" / stack.name
        shutil.copytree(out_dir / "stacks" / stack.name, target, ignore=shutil.ignore_patterns(*SKIPPED))
        files[stack.name] = _files(target)
    manifest = Manifest(tuple(dict.fromkeys(s.environment for s in stacks)), terraform_version, tuple(stacks), files)
    document = {
        "format": FORMAT,
        "environments": list(manifest.environments),
        "terraform_version": terraform_version,
        "stacks": [
            {"name": s.name, "environment": s.environment, "wave": s.wave, "files": files[s.name]} for s in stacks
        ],
    }
    (bundle_dir / MANIFEST).write_text(json.dumps(document, indent=2) + "\n")
    return manifest


def save(specs: list[StackSpec], out_dir: Path, bundle_dir: Path) -> Manifest:
    """`plan --bundle`: the bundle of the stacks `specs` just planned in `out_dir`."""
    version = tf.check_version(Terraform(out_dir).terraform)
    return write(stacks_of(specs), out_dir, bundle_dir, version)


def read(bundle_dir: Path) -> Manifest:
    """The bundle's manifest, after checking every file against it (BundleInvalid otherwise)."""
    path = bundle_dir / MANIFEST
    if not path.is_file():
        raise BundleInvalid(f"{path} not found: --plans must name the folder `plan --bundle` wrote")
    try:
        document = json.loads(path.read_text())
        if document["format"] != FORMAT:
            raise BundleInvalid(f"{path}: format {document['format']!r}, this tool reads {FORMAT}; re-run the plan")
        stacks = tuple(BundleStack(s["name"], s["environment"], int(s["wave"])) for s in document["stacks"])
        files = {s["name"]: dict(s["files"]) for s in document["stacks"]}
        manifest = Manifest(tuple(document["environments"]), str(document["terraform_version"]), stacks, files)
        names = [s.name for s in stacks] + [f for listed in files.values() for f in listed]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BundleInvalid(f"{path} is not a plan bundle manifest; re-run the plan job") from None
    if any(name.startswith("/") or ".." in Path(name).parts for name in names):
        raise BundleInvalid(f"{path} names a file outside the bundle; re-run the plan job")
    problems = []
    listed = {s.name for s in stacks}
    present = {p.name for p in (bundle_dir / "stacks").iterdir()} if (bundle_dir / "stacks").is_dir() else set()
    problems += [f"{bundle_dir / 'stacks' / name}: not in the manifest" for name in sorted(present - listed)]
    for stack in stacks:
        stack_dir = bundle_dir / "stacks" / stack.name
        found = _files(stack_dir) if stack_dir.is_dir() else {}
        expected = files[stack.name]
        for name in sorted(expected.keys() | found.keys()):
            if name not in found:
                problems.append(f"{stack_dir / name}: missing")
            elif name not in expected:
                problems.append(f"{stack_dir / name}: not in the manifest")
            elif found[name] != expected[name]:
                problems.append(f"{stack_dir / name}: changed since the plan (checksum differs)")
        for needed in REQUIRED:
            if needed not in expected:
                problems.append(f"{stack.name}: the manifest lists no {needed}")
    if problems:
        raise BundleInvalid([*problems, "nothing was applied: re-run the plan job and apply its bundle"])
    return manifest


def _serial(state_text: str) -> tuple[str, int] | None:
    """(lineage, serial) of a state file's text; None when there is no state yet. Terraform
    refuses a saved plan whose prior state differs from the current one in either (its "Saved
    plan is stale" check); comparing them first lets apply refuse before any stack is applied."""
    if not state_text.strip():
        return None
    state = json.loads(state_text)
    found = str(state.get("lineage", "")), int(state.get("serial", 0))
    return None if found == ("", 0) else found  # Terraform's empty state, in a plan or pulled


def planned_from(plan_file: Path) -> tuple[str, int] | None:
    """(lineage, serial) of the state a saved plan was made from (the plan file is a zip that
    carries it as `tfstate`); None when the stack had no state then."""
    try:
        with zipfile.ZipFile(plan_file) as archive:
            if "tfstate" not in archive.namelist():
                return None
            return _serial(archive.read("tfstate").decode())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise BundleInvalid(f"{plan_file} is not a Terraform saved plan; re-run the plan job") from None


def stale_message(stack: str, applied: list[str]) -> str:
    before = f"applied before it: {', '.join(applied)}" if applied else "nothing was applied"
    return (
        f"{stack}: the saved plan is stale: the stack's state changed after the plan was made (another "
        f"apply ran since); {before}; re-run the plan job for this environment, review and apply the new plan"
    )


def apply(
    bundle_dir: Path,
    environment: str,
    terraform: Terraform,
    allow_destroy: bool = False,
    progress: Callable[[str, str], None] | None = None,
) -> list[StackResult]:
    """Verify the bundle in `bundle_dir` (`terraform` must run in it: Terraform(bundle_dir)) and
    apply its saved plans in wave order. Raises BundleInvalid, Refused, StalePlan or StackFailed, and
    on SIGINT/SIGTERM (Terraform stopped gracefully) a PlatformError exiting 128 + the signal."""
    manifest = read(bundle_dir)
    if manifest.environments != (environment,):
        raise BundleInvalid(
            f"{bundle_dir} holds the plans of {', '.join(manifest.environments) or 'no environment'}, "
            f"not {environment}: apply each environment's own bundle"
        )
    for stack in manifest.stacks:
        _shared_state(bundle_dir / "stacks" / stack.name, stack.name)
    version = tf.check_version(terraform.terraform)
    if version != manifest.terraform_version:
        raise BundleInvalid(
            f"the plans were made with Terraform {manifest.terraform_version} and this is {version}: "
            "a saved plan applies only with the Terraform that made it; install that version"
        )
    say = progress or (lambda stack, step: None)
    results = []
    for stack in manifest.stacks:
        result = StackResult(stack.name, "planned", bundle_dir / "stacks" / stack.name / tf.PLAN_JSON)
        result.review = plan_review.review(plan_review.load(result.plan_json), stack.name)
        results.append(result)
    destructive = [r.stack for r in results if r.review and r.review.destructive]
    if destructive and not allow_destroy:
        raise Refused(
            f"{', '.join(destructive)}: the saved plan deletes or replaces stateful resources; nothing was "
            "applied; review plan.json in the bundle and re-run with --allow-destroy if that is intended"
        )
    applied: list[str] = []
    try:
        _apply(bundle_dir, manifest, results, terraform, say, applied)
    except tf.Interrupted as exc:
        raise PlatformError(
            [
                str(exc),
                f"applied: {', '.join(applied) or 'none'}",
                "its state (and lock) are in the S3 backend; re-run the plan job, review and apply its new "
                "bundle (this one's plans of the stacks that changed are stale now)",
            ],
            exit_code=128 + int(exc.signals[0]),
        ) from None
    return results


def _apply(
    bundle_dir: Path,
    manifest: Manifest,
    results: list[StackResult],
    terraform: Terraform,
    say: Callable[[str, str], None],
    applied: list[str],
) -> None:
    with terraform.forwarding_interrupts():
        for stack in manifest.stacks:  # every stack checked before any is applied
            say(stack.name, "init")
            terraform.init_readonly(stack.name)
            say(stack.name, "check state")
            planned = planned_from(bundle_dir / "stacks" / stack.name / tf.PLAN_FILE)
            try:
                current = _serial(terraform.state_pull(stack.name))
            except ValueError:
                raise tf.StackFailed(stack.name, "state pull", "the state is not JSON") from None
            if planned != current:
                raise StalePlan(stale_message(stack.name, []))
        for stack, result in zip(manifest.stacks, results, strict=True):
            say(stack.name, "apply")
            try:
                terraform.apply(stack.name)
            except tf.StackFailed as exc:
                if any(marker in exc.detail for marker in _STALE):
                    raise StalePlan(stale_message(stack.name, applied)) from None
                exc.problems.append(
                    f"stopped: applied before it: {', '.join(applied) or 'none'}; the stacks after it were not touched"
                )
                raise
            result.status = "applied"
            applied.append(stack.name)
