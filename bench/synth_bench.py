#!/usr/bin/env python3
"""Is the lazy provider import still paying for itself? Measure, don't assert.

Runs `python main.py synth --env all` (lazy import, as shipped) and the same synth with
`cdktf_cdktf_provider_aws` imported the ordinary way first (its `__init__` imports all
2,212 submodules), alternating the two so machine noise hits both alike. Prints each
round, the medians and the ratio, and checks that both produced identical JSON.

    .venv/bin/python bench/synth_bench.py [--rounds 5] [--env all]
"""

from __future__ import annotations

import argparse
import filecmp
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDINARY = (
    "import runpy, sys; import cdktf_cdktf_provider_aws; "
    "sys.argv = ['main.py', *sys.argv[1:]]; runpy.run_path('main.py', run_name='__main__')"
)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    return elapsed


def same_tree(a: Path, b: Path) -> bool:
    files_a = sorted(p.relative_to(a) for p in a.rglob("cdk.tf.json"))
    files_b = sorted(p.relative_to(b) for p in b.rglob("cdk.tf.json"))
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--env", default="all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lazy_out, ordinary_out = Path(tmp) / "lazy", Path(tmp) / "ordinary"
        synth_args = ["synth", "--env", args.env]
        lazy_cmd = [sys.executable, "main.py", *synth_args, "--out", str(lazy_out)]
        ordinary_cmd = [sys.executable, "-c", ORDINARY, *synth_args, "--out", str(ordinary_out)]
        timed(lazy_cmd)  # warm the page cache for both; not counted
        lazy, ordinary = [], []
        for i in range(args.rounds):
            lazy.append(timed(lazy_cmd))
            ordinary.append(timed(ordinary_cmd))
            print(f"round {i + 1}: lazy {lazy[-1]:6.2f} s   ordinary {ordinary[-1]:6.2f} s", flush=True)
        identical = same_tree(lazy_out, ordinary_out)
    lazy_median, ordinary_median = statistics.median(lazy), statistics.median(ordinary)
    print(f"median  : lazy {lazy_median:6.2f} s   ordinary {ordinary_median:6.2f} s")
    print(f"speed-up: {ordinary_median / lazy_median:.1f}x (target >= 3x)")
    print(f"identical JSON: {'yes' if identical else 'NO'}")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
