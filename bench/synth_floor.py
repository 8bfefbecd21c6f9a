#!/usr/bin/env python3
"""How close is `synth` to its floor? Measure, don't assert.

Five commands, each a fresh process, run in turn every round so machine noise hits them alike:

- floor: Python that only puts the virtualenv's Node on PATH, imports cdktf and loads the AWS
  provider's jsii assembly, exactly as a synth does before it creates its first construct:
      from modules import runtime; runtime.use_bundled_node(); import cdktf
      from modules import aws; aws._register_package()
- cold: `main.py synth --env all` into a folder removed before the run (worker processes, one per
  core: stacks/parallel.py);
- one process: the same synth with `workers=1` (app.synth in this process, as before the workers);
- 2 workers: the same synth with `workers=2`, whatever the machine's load (the cold synth counts
  idle cores, so on a busy machine it may use one process);
- no-op: `main.py synth --env all` again into the cold run's folder, nothing changed.

Prints each round, the medians, and the ratios to the floor (targets: cold within 1.5x of the
floor, no-op under 1 s), and checks that the cold and one-process outputs are byte-identical.

    .venv/bin/python bench/synth_floor.py [--rounds 5] [--config FILE]

`--profile` instead synthesizes once in this process and says where the time beyond the floor
goes: jsii round trips counted by request type (jsii's Node process is patched to count them),
the time building each stack (constructs: jsii calls and Python) and Node's synthesis.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from synth_bench import timed  # a sibling script: bench/ is first on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
FLOOR = (
    "from modules import runtime; runtime.use_bundled_node(); import cdktf; "
    "from modules import aws; aws._register_package()"
)
WORKERS = (  # imports main.py first, as the CLI does, so only the workers differ
    "import sys; from pathlib import Path; import main; from modules import runtime; runtime.use_bundled_node(); "
    "from config import model; from stacks import app; c = model.load(sys.argv[2] or None); "
    "app.synth(c, c.select('all'), Path(sys.argv[1]), force=True, workers=int(sys.argv[3]))"
)


def same_output(a: Path, b: Path) -> bool:
    def files(folder: Path) -> list[Path]:
        return sorted(
            p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and p.name != ".synth-fingerprint.json"
        )

    return files(a) == files(b) and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files(a))


def profile(config_file: str) -> None:
    """One in-process synth, measured stack by stack, jsii round trips counted."""
    import collections

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    start = time.perf_counter()
    from modules import runtime

    runtime.use_bundled_node()
    from jsii._kernel.providers import process

    counts: collections.Counter = collections.Counter()
    spent: collections.Counter = collections.Counter()
    send = process._NodeProcess.send

    def counted(self, request, response_type):
        began = time.perf_counter()
        try:
            return send(self, request, response_type)
        finally:
            counts[type(request).__name__] += 1
            spent[type(request).__name__] += time.perf_counter() - began

    process._NodeProcess.send = counted
    import cdktf  # part of the floor

    from modules import aws

    aws._register_package()
    floor = time.perf_counter() - start
    print(f"floor in this process: {floor:.2f} s ({sum(counts.values())} jsii round trips)")
    counts.clear()
    spent.clear()
    from config import model
    from stacks.edge import EdgeStack
    from stacks.regional import RegionalStack

    config = model.load(config_file or None)
    specs = config.select("all")
    with tempfile.TemporaryDirectory() as tmp:
        application = cdktf.App(outdir=str(Path(tmp) / "out"))
        for spec in specs:
            began, trips = time.perf_counter(), sum(counts.values())
            stack_class = EdgeStack if spec.role == "edge" else RegionalStack
            stack_class(application, spec, config, config.environments[spec.environment], Path(tmp) / "out")
            print(
                f"build {spec.name:<22} {spec.role:<9} {time.perf_counter() - began:5.2f} s"
                f"  {sum(counts.values()) - trips:5d} jsii round trips"
            )
        built = sum(counts.values())
        began = time.perf_counter()
        application.synth()
        print(f"node synthesis (one call)          {time.perf_counter() - began:5.2f} s")
    print(f"jsii round trips while building: {built}, by request type:")
    for name, count in counts.most_common():
        print(f"  {name:<22} {count:6d}  {spent[name]:5.2f} s")
    print(f"total {time.perf_counter() - start:.2f} s for {len(specs)} stacks (without checkov's file and the swap)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--config", default="")
    parser.add_argument("--profile", action="store_true", help="where the time goes (one in-process synth)")
    args = parser.parse_args()
    if args.profile:
        profile(args.config)
        return
    config = ["--config", args.config] if args.config else []
    with tempfile.TemporaryDirectory() as tmp:
        cold_out, one_out, two_out = Path(tmp) / "cold", Path(tmp) / "one", Path(tmp) / "two"
        synth = [sys.executable, "main.py", "synth", "--env", "all", *config, "--out", str(cold_out)]
        commands = {
            "floor": [sys.executable, "-c", FLOOR],
            "cold": synth,
            "one process": [sys.executable, "-c", WORKERS, str(one_out), args.config, "1"],
            "2 workers": [sys.executable, "-c", WORKERS, str(two_out), args.config, "2"],
            "no-op": synth,
        }
        timed(commands["floor"])  # warm the page cache and jsii's package cache; not counted
        times: dict[str, list[float]] = {name: [] for name in commands}
        sys.path.insert(0, str(ROOT))
        from config import model
        from stacks import parallel

        specs = model.load(args.config or None).select("all")
        for i in range(args.rounds):
            for name, command in commands.items():
                if name == "cold":
                    shutil.rmtree(cold_out, ignore_errors=True)
                    workers = parallel.worker_count(specs)  # what the synth will most likely choose
                times[name].append(timed(command))
            print(
                f"round {i + 1}: "
                + "   ".join(f"{n} {t[-1]:5.2f} s" for n, t in times.items())
                + f"   ({workers} workers)",
                flush=True,
            )
        identical = same_output(cold_out, one_out) and same_output(two_out, one_out)
    median = {name: statistics.median(values) for name, values in times.items()}
    floor = median["floor"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"median ({args.rounds} rounds, {cores} cores): " + "   ".join(f"{n} {t:5.2f} s" for n, t in median.items()))
    print(f"cold synth / floor       : {median['cold'] / floor:.2f}x (target <= 1.5x)")
    print(f"one process / floor      : {median['one process'] / floor:.2f}x")
    print(f"2 workers / floor        : {median['2 workers'] / floor:.2f}x (forced, whatever the load)")
    print(f"no-op synth / floor      : {median['no-op'] / floor:.2f}x ({median['no-op']:.2f} s, target < 1 s)")
    print(f"identical JSON (cold, 2 workers, one process): {'yes' if identical else 'NO'}")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
