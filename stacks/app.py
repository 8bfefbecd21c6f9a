"""Configuration -> cdktf App -> Terraform JSON on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from cdktf import App

from config.model import Config, StackSpec
from stacks import checkov
from stacks.edge import EdgeStack
from stacks.regional import RegionalStack

DEFAULT_OUT = Path("cdktf.out")


class OutputDirError(RuntimeError):
    """The output folder cannot be replaced safely."""


def build_app(config: Config, specs: list[StackSpec], out_dir: Path, write_to: Path | None = None) -> App:
    """An App holding the selected stacks; each edge stack deploys after its environment's
    regional stacks (DNS names are computed from configuration, so no cross-stack tokens).
    `out_dir` is where the stacks will live (relative paths in the JSON are computed from it);
    `write_to` where this synth writes them (default: out_dir)."""
    app = App(outdir=str(write_to or out_dir))
    regional: dict[str, list[RegionalStack]] = {}
    for spec in specs:
        env = config.environments[spec.environment]
        if spec.role == "edge":
            edge = EdgeStack(app, spec, config, env, out_dir)
            for stack in regional.get(spec.environment, []):
                edge.add_dependency(stack)
        else:
            regional.setdefault(spec.environment, []).append(RegionalStack(app, spec, config, env, out_dir))
    return app


def check_replaceable(out_dir: Path) -> None:
    """Refuse to replace a folder that is not a cdktf output, or one holding Terraform state."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise OutputDirError(f"{out_dir} exists and is not a folder; choose another --out")
    entries = list(out_dir.iterdir())
    # cdktf's App creates an empty stacks/ folder on construction: that alone is still ours.
    only_empty_stacks = [e.name for e in entries] == ["stacks"] and not any(entries[0].iterdir())
    if entries and not only_empty_stacks and not (out_dir / "manifest.json").exists():
        raise OutputDirError(f"refusing to replace {out_dir}: it is not empty and holds no cdktf "
                             "manifest.json; choose an empty or new folder with --out")
    states = sorted(out_dir.glob("stacks/*/*.tfstate*"))
    if states:
        raise OutputDirError(f"refusing to replace {out_dir}: it holds Terraform state ({states[0]}); "
                             "move the state to the configured [state] location first")


def synth(config: Config, specs: list[StackSpec], out_dir: Path = DEFAULT_OUT) -> dict[str, Path]:
    """Write `<out>/stacks/<stack>/cdk.tf.json` for every selected stack; return the paths.

    Synthesizes into a sibling staging folder and swaps it in only when synthesis succeeded, so
    a failure leaves the previous output untouched and never a half-written one."""
    check_replaceable(out_dir)  # refuse early, before any work
    staging = out_dir.with_name(f".{out_dir.name}.staging")
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
    except OSError as exc:
        raise OutputDirError(f"cannot create {out_dir}: {exc.strerror}; choose a writable folder with --out") from None
    try:
        build_app(config, specs, out_dir, staging).synth()
        checkov.write(config, specs, staging)  # checkov's skips for exactly these stacks
        check_replaceable(out_dir)
        if out_dir.exists():  # the whole previous output goes: stacks no longer selected cannot linger
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return {spec.name: out_dir / "stacks" / spec.name / "cdk.tf.json" for spec in specs}
