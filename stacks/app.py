"""Configuration -> cdktf App -> Terraform JSON on disk.

Importing this module starts nothing: cdktf (and with it jsii and Node) is imported by
`build_app`, so a synth that finds its output unchanged (stacks/fingerprint.py) returns without
it, and a synth that builds forks its worker processes (stacks/parallel.py) before jsii starts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from config.errors import OutputDirError
from config.facts import StackRole
from config.model import Config, StackSpec
from stacks import checkov, fingerprint, parallel

if TYPE_CHECKING:
    from cdktf import App

DEFAULT_OUT = Path("cdktf.out")
CDKTF_CLI_OUTDIR = "CDKTF_OUTDIR"  # set by the cdktf CLI for the app it runs: its output folder


def deploys_after(spec: StackSpec, specs: list[StackSpec]) -> list[StackSpec]:
    """The stacks among `specs` that `spec` reads from by name, so must deploy after (stacks
    share no tokens: names are computed from configuration, and a reader's data source or
    wait fails if the owner is not deployed yet). A secondary region reads the primary's
    origin-verify secret, waits on the validation records of the names it shares with the
    primary, and (db_backup_replication) replicates the primary's database backups. The edge
    stack reads the primary's secret and error topic and fronts every region's origin names."""
    same_env = [s for s in specs if s.environment == spec.environment and s is not spec]
    if spec.role == StackRole.EDGE:
        return [s for s in same_env if s.role != StackRole.EDGE]
    if spec.role == StackRole.SECONDARY:
        return [s for s in same_env if s.role == StackRole.PRIMARY]
    return []


def build_app(config: Config, specs: list[StackSpec], out_dir: Path, write_to: Path | None = None) -> App:
    """An App holding the selected stacks, each depending on the selected stacks it deploys
    after (`deploys_after`), so manifest.json orders `cdktf deploy` and its parallel runs.
    `out_dir` is where the stacks will live (relative paths in the JSON are computed from it);
    `write_to` where this synth writes them (default: out_dir)."""
    from cdktf import App

    from stacks.edge import EdgeStack
    from stacks.regional import RegionalStack

    # Absolute: jsii's Node process resolves a relative folder against its own working directory,
    # the one the process had when jsii started, not the current one.
    app = App(outdir=str((write_to or out_dir).absolute()))
    built = {}
    for spec in specs:
        env = config.environments[spec.environment]
        stack_class = EdgeStack if spec.role == StackRole.EDGE else RegionalStack
        built[spec.name] = stack_class(app, spec, config, env, out_dir)
    for spec in specs:
        for dependency in deploys_after(spec, specs):
            built[spec.name].add_dependency(built[dependency.name])
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
        raise OutputDirError(
            f"refusing to replace {out_dir}: it is not empty and holds no cdktf "
            "manifest.json; choose an empty or new folder with --out"
        )
    states = sorted(out_dir.glob("stacks/*/*.tfstate*"))
    if states:
        raise OutputDirError(
            f"refusing to replace {out_dir}: it holds Terraform state ({states[0]}); "
            "move the state to the configured [state] location first"
        )


def run_by_cdktf_cli(out_dir: Path) -> bool:
    """True when the cdktf CLI runs this synth as its app, writing into the CLI's output folder."""
    cli_out = os.environ.get(CDKTF_CLI_OUTDIR)
    return bool(cli_out) and Path(cli_out).resolve() == out_dir.resolve()


def keep_stack_folders_for_the_cli(previous: Path, staging: Path) -> None:
    """The cdktf CLI (0.21) lists `<out>/stacks/*` before it runs the app and afterwards deletes
    the folders of the stacks the new manifest.json does not list; a folder that has vanished
    meanwhile makes it fail (`ENOENT ... lstat`). So when the CLI drives the synth, every earlier
    stack folder the new output lacks is left as an empty folder, listed nowhere: the CLI
    removes it right after, and the output ends as the manifest says."""
    stacks = previous / "stacks"
    for folder in sorted(stacks.iterdir()) if stacks.is_dir() else []:
        if folder.is_dir() and not folder.is_symlink():
            (staging / "stacks" / folder.name).mkdir(parents=True, exist_ok=True)


class SynthPaths(dict):
    """Stack name -> its cdk.tf.json; `unchanged` when the output was already up to date."""

    unchanged: bool = False


def synth(
    config: Config,
    specs: list[StackSpec],
    out_dir: Path = DEFAULT_OUT,
    force: bool = False,
    workers: int | None = None,
) -> SynthPaths:
    """Write `<out>/stacks/<stack>/cdk.tf.json` for every selected stack; return the paths.

    When `out_dir` already holds the output of a synth with the same inputs, every file of it
    intact (stacks/fingerprint.py), nothing is synthesized: Terraform's working files are removed
    so the folder is as a synth leaves it, and the result says `unchanged`. `force` synthesizes
    anyway. Otherwise synthesizes into a sibling staging folder, in `workers` processes (default:
    one per core, stacks/parallel.py), and swaps it in only when synthesis succeeded, so a failure
    leaves the previous output untouched and never a half-written one."""
    check_replaceable(out_dir)  # refuse early, before any work
    paths = SynthPaths({spec.name: out_dir / "stacks" / spec.name / "cdk.tf.json" for spec in specs})
    by_cli = run_by_cdktf_cli(out_dir)
    digest = fingerprint.inputs(config, specs, out_dir)
    if not force and not by_cli and fingerprint.matches(out_dir, digest):
        fingerprint.remove_unrecorded(out_dir)
        paths.unchanged = True
        return paths
    staging = out_dir.with_name(f".{out_dir.name}.staging")
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
    except OSError as exc:
        raise OutputDirError(f"cannot create {out_dir}: {exc.strerror}; choose a writable folder with --out") from None
    try:
        parallel.synthesize(
            lambda share, folder: build_app(config, share, out_dir, folder).synth(),
            specs,
            lambda spec: deploys_after(spec, specs),
            staging,
            parallel.worker_count(specs) if workers is None else workers,
        )
        checkov.write(config, specs, staging)  # checkov's skips for exactly these stacks
        fingerprint.record(staging, digest)
        if by_cli:
            keep_stack_folders_for_the_cli(out_dir, staging)
        check_replaceable(out_dir)
        if out_dir.exists():  # the whole previous output goes: stacks no longer selected cannot linger
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return paths
