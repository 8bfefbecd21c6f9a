#!/usr/bin/env python3
"""What does `--parallel` buy? Deploy to the emulated AWS one stack at a time, then in waves.

Starts the emulator (e2e/emulator.py) and seeds what the accounts hold before a deploy
(e2e/seed.py), with a copy of the configuration whose state is local in a temporary folder (the
e2e harness's `emulated_config`: a benchmark never touches a real deployment's state). Then:

1. `main.py deploy --env ENV --parallel 1` (one Terraform process at a time, the old sequential
   run), timed; then `destroy --allow-destroy` of every environment (not timed);
2. on a fresh emulator (its own process) and state, `main.py deploy --env ENV --parallel N` (N: the CLI's default,
   the number of cores, at least 2), timed; then destroy again.

Prints both wall times, their ratio, and where the logs are (each command's output, and each
stack's Terraform log under the run's output folder). The whole default configuration (nine
stacks, twice) takes 40 minutes and more on a 2-core machine; `--env dev` measures one environment.

    .venv/bin/python bench/deploy_bench.py [--config PATH] [--env all|NAME] [--parallel N] [--no-destroy]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import modules  # noqa: E402,F401  (the bundled Node for every child, cdktf's included)
from config import model  # noqa: E402
from config.errors import PlatformError  # noqa: E402
from e2e import seed  # noqa: E402
from e2e.emulator import Emulator  # noqa: E402
from e2e.run import E2EFailure, Session, aws_environment, emulated_config  # noqa: E402
from ops import pipeline, toolchain  # noqa: E402

ROUND = "round seconds: "  # the child's last line, read by the parent


def prepare(cfg: model.Config, envs: list[str], url: str, state_dir: Path, config_copy: Path) -> None:
    """Seed what every selected environment reads but does not create; point the copy at the
    emulator's hosted zone when the configuration names one."""
    for name in envs:
        env = cfg.environments[name]
        seed.seed(
            url,
            dns_account=cfg.dns_account_id(env),
            domain=cfg.project.domain,
            accounts_regions=sorted((env.account_number, r) for r in env.regions),
        )
    if cfg.project.hosted_zone_id:
        zone = seed.zone_id(url, cfg.dns_account_id(cfg.environments[envs[0]]), cfg.project.domain)
        emulated_config(cfg.source, state_dir, config_copy, {"project": {"hosted_zone_id": zone}})


def timed_round(cfg: model.Config, env: str, parallel: int, work: Path, destroy: bool = True) -> float:
    """On a fresh emulator (nothing left from the other round: names AWS keeps reserved after a
    delete cannot collide), with fresh local state: deploy with `--parallel` (timed), then
    destroy every environment (not timed; `destroy=False` skips it: the round's emulator and
    state are thrown away with its process anyway)."""
    work.mkdir(parents=True)
    envs = list(dict.fromkeys(s.environment for s in cfg.select(env)))
    state_dir = work / "state"
    config_copy = emulated_config(cfg.source, state_dir, work / "config.toml")
    with Emulator(log_path=work / "logs-emulator.log") as emulator:
        environ = aws_environment(emulator.url)
        environ.setdefault("TF_PLUGIN_CACHE_DIR", str(toolchain.TOOLS_DIR / "plugin-cache"))
        prepare(cfg, envs, emulator.url, state_dir, config_copy)
        session = Session(config_copy, env, work, environ)
        started = time.monotonic()
        session.main("deploy", "--parallel", str(parallel))
        elapsed = time.monotonic() - started
        print(f"deploy bench: --parallel {parallel}: deployed in {elapsed:.0f} s", flush=True)
        for name in reversed(envs) if destroy else ():
            Session(config_copy, name, work, environ).main("destroy", "--allow-destroy", "--parallel", str(parallel))
    return elapsed


def one_round(config_path: Path, env: str, parallel: int, work: Path, destroy: bool = True) -> float:
    """Run one round in a child process: moto's state is process-wide (e2e/emulator.py), so a
    second emulator in this process would start with what the first one left behind."""
    command = [sys.executable, __file__, "--config", str(config_path), "--env", env]
    command += ["--round", str(parallel), str(work), *([] if destroy else ["--no-destroy"])]
    last = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:  # its progress, shown as it comes
            last = line.strip()
            if not last.startswith(ROUND):
                print(line, end="", flush=True)
    if child.returncode != 0 or not last.startswith(ROUND):
        raise E2EFailure(f"the --parallel {parallel} round failed (exit {child.returncode}); logs in {work}")
    return float(last.removeprefix(ROUND))


def run(config_path: Path, env: str, parallel: int, destroy: bool = True) -> list[str]:
    cfg = model.load(config_path)
    stacks = len(cfg.select(env))
    work = Path(tempfile.mkdtemp(prefix="deploy-bench-"))
    print(f"deploy bench: {cfg.source} --env {env}: {stacks} stacks; work folder {work}", flush=True)
    sequential = one_round(config_path, env, 1, work / "parallel-1", destroy)
    side_by_side = one_round(config_path, env, parallel, work / f"parallel-{parallel}", destroy)
    return [
        f"deploy --env {env} ({stacks} stacks) to the emulated AWS, {os.cpu_count()} cores:",
        f"  --parallel 1: {sequential:.0f} s",
        f"  --parallel {parallel}: {side_by_side:.0f} s",
        f"  ratio: {sequential / side_by_side:.2f}x",
        f"  logs: {work}/parallel-*/logs (each command) and {work}/parallel-*/cdktf.out/{pipeline.LOGS_DIR} "
        "(each stack's Terraform output, of the round's last command)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "default.toml")
    parser.add_argument("--env", default="all", help="an environment, or 'all' (default)")
    parser.add_argument("--parallel", type=int, default=pipeline.default_parallel(), help="N for the second run")
    parser.add_argument(
        "--no-destroy", dest="destroy", action="store_false", help="skip the destroy after each round (not timed)"
    )
    parser.add_argument("--round", nargs=2, metavar=("N", "WORK"), help=argparse.SUPPRESS)  # one_round's child
    args = parser.parse_args(argv)
    if args.round:
        try:
            elapsed = timed_round(
                model.load(args.config.resolve()), args.env, int(args.round[0]), Path(args.round[1]), args.destroy
            )
        except (E2EFailure, PlatformError) as exc:
            print(f"deploy bench: FAILED: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"{ROUND}{elapsed:.3f}", flush=True)
        return 0
    if args.parallel < 2:
        parser.error("--parallel: the second run needs at least 2 to compare with the sequential one")
    try:
        lines = run(args.config.resolve(), args.env, args.parallel, args.destroy)
    except (E2EFailure, PlatformError) as exc:
        print(f"deploy bench: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
