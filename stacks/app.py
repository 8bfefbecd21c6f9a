"""Configuration -> cdktf App -> Terraform JSON on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from cdktf import App

from config.model import Config, StackSpec
from stacks.edge import EdgeStack
from stacks.regional import RegionalStack

DEFAULT_OUT = Path("cdktf.out")


class OutputDirError(RuntimeError):
    """The output folder cannot be replaced safely."""


def build_app(config: Config, specs: list[StackSpec], out_dir: Path) -> App:
    """An App holding the selected stacks; each edge stack deploys after its environment's
    regional stacks (DNS names are computed from configuration, so no cross-stack tokens)."""
    app = App(outdir=str(out_dir))
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


def prepare_out_dir(out_dir: Path) -> None:
    """Remove the previous synth output so stacks no longer selected cannot linger, but never
    a folder that is not a cdktf output, nor one holding Terraform state."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise OutputDirError(f"{out_dir} exists and is not a folder; choose another --out")
    if any(out_dir.iterdir()) and not (out_dir / "manifest.json").exists():
        raise OutputDirError(f"refusing to replace {out_dir}: it is not empty and holds no cdktf "
                             "manifest.json; choose an empty or new folder with --out")
    states = sorted(out_dir.glob("stacks/*/*.tfstate*"))
    if states:
        raise OutputDirError(f"refusing to replace {out_dir}: it holds Terraform state ({states[0]}); "
                             "move the state to the configured [state] location first")
    shutil.rmtree(out_dir)


def synth(config: Config, specs: list[StackSpec], out_dir: Path = DEFAULT_OUT) -> dict[str, Path]:
    """Write `<out>/stacks/<stack>/cdk.tf.json` for every selected stack; return the paths."""
    prepare_out_dir(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"cannot create {out_dir}: {exc.strerror}; choose a writable folder with --out") from None
    build_app(config, specs, out_dir).synth()
    return {spec.name: out_dir / "stacks" / spec.name / "cdk.tf.json" for spec in specs}
