"""Synthesize stacks in parallel worker processes and merge what they write into one output.

One process pays a fixed floor before it can create any construct: Python, cdktf and the AWS
provider's jsii assembly loaded into a Node process (about 1.6 s here); each stack then costs
jsii round trips and Node's synthesis. jsii is one Node process per Python process, driven
synchronously, so a single process uses one core. Here the stacks are split between worker
processes forked from this one before it loads jsii (a fork after would share jsii's Node pipe),
each loading its own jsii and synthesizing its share, all at once. Stacks share no tokens (names
are computed from configuration), so a stack's JSON does not depend on which other stacks its App
holds; only manifest.json lists them all, so it is rewritten here from the workers' manifests in
cdktf's own format (json-stable-stringify, two spaces), each stack's `dependencies` from
`deploys_after`, exactly as one App holding every stack writes it (tests/test_parallel.py).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from config.errors import PlatformError
from config.facts import StackRole
from config.model import StackSpec
from modules import asset_archive

MANIFEST = "manifest.json"
LOADAVG = Path("/proc/loadavg")  # Linux: load averages, then running/total scheduling entities
# Relative cost of a stack's synthesis, measured (bench/synth_floor.py --profile): a regional
# stack creates about four times the constructs of an edge stack.
WEIGHT = {StackRole.EDGE: 1}
DEFAULT_WEIGHT = 4


class SynthWorkerFailed(PlatformError):
    """A worker process died without saying why (killed, out of memory)."""


def worker_count(specs: list[StackSpec]) -> int:
    """One worker per idle core, no more than there are stacks; 1: no workers. Each worker pays
    the floor again (about 1.8 CPU seconds), which only pays off on cores nothing else is using:
    on a busy machine the workers are slower than one process (bench/synth_floor.py)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores - busy_cores(), len(specs)))


def busy_cores() -> int:
    """Cores other processes use: the most of what runs right now besides this process (the fewest
    of a few samples of /proc/loadavg's running count, which includes this process) and of the
    last minute's load average less one (this process's own share, as in a benchmark's loop),
    whole cores only: at a load average of about 2 on 2 cores (one other process besides a
    benchmark's loop), 2 workers measured 3.89 s against 4.37 s in one process (bench/synth_floor.py,
    5 rounds), so a fraction of a core in use does not count. Other processes come and go in
    bursts: a moment's sample alone misses them."""
    samples = []
    for _ in range(5):
        try:
            running = LOADAVG.read_text().split()[3].split("/")[0]
            samples.append(int(running) - 1)
        except (OSError, IndexError, ValueError):
            samples.append(0)
        time.sleep(0.002)
    try:
        recent = int(os.getloadavg()[0]) - 1
    except (AttributeError, OSError):  # not available on this system
        recent = 0
    return max(0, min(samples), recent)


def can_fork() -> bool:
    """Workers are forked, so this process must not have started jsii (its Node process and pipes
    would be shared with the children): true for the CLI, whose synth imports cdktf nowhere else."""
    return hasattr(os, "fork") and "jsii" not in sys.modules


def shares(specs: list[StackSpec], workers: int) -> list[list[StackSpec]]:
    """`specs` split into `workers` shares of about equal cost (heaviest first onto the lightest
    share), each share in the order of `specs`; no empty shares."""
    loads: list[list] = [[0, []] for _ in range(workers)]
    order = {spec.name: index for index, spec in enumerate(specs)}
    for spec in sorted(specs, key=lambda s: (-WEIGHT.get(s.role, DEFAULT_WEIGHT), order[s.name])):
        lightest = min(loads, key=lambda load: load[0])
        lightest[0] += WEIGHT.get(spec.role, DEFAULT_WEIGHT)
        lightest[1].append(spec)
    return [sorted(share, key=lambda s: order[s.name]) for _, share in loads if share]


def synthesize(
    build: Callable[[list[StackSpec], Path], None],
    specs: list[StackSpec],
    dependencies: Callable[[StackSpec], list[StackSpec]],
    write_to: Path,
    workers: int,
) -> None:
    """Write manifest.json and stacks/ for `specs` into `write_to`. `build(share, folder)` builds
    and synthesizes one App holding `share` into `folder`; with `workers` > 1 (and a process that
    may fork) each share is built in its own worker process and the results merged."""
    if workers <= 1 or len(specs) <= 1 or not can_fork():
        build(specs, write_to)
        return
    parts = shares(specs, workers)
    folders = [write_to / f".worker-{index}" for index in range(len(parts))]
    context = multiprocessing.get_context("fork")
    running = []
    for share, folder in zip(parts, folders, strict=True):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(build, share, folder, send), daemon=True)
        process.start()
        send.close()
        running.append((process, receive))
    failure: BaseException | None = None
    for process, receive in running:
        try:
            outcome = receive.recv()
        except EOFError:
            process.join()
            outcome = SynthWorkerFailed(f"a synth worker process exited with code {process.exitcode} and no error")
        process.join()
        if isinstance(outcome, tuple) and failure is None:
            failure = _rebuilt(outcome)
        elif isinstance(outcome, BaseException) and failure is None:
            failure = outcome
    if failure is not None:
        raise failure
    merge(folders, specs, dependencies, write_to)


def _work(build, share: list[StackSpec], folder: Path, send) -> None:
    """In the worker: synthesize `share`; send None, or the error to re-raise (`_portable`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent's handlers record into its own state
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        build(share, folder)
        send.send(None)
    except BaseException as exc:  # every failure goes to the parent, which raises it
        if not isinstance(exc, PlatformError):  # a bug: keep where it happened, in this process
            exc.add_note(f"in synth worker process {os.getpid()}:\n{traceback.format_exc()}")
        send.send(_portable(exc))
    finally:
        send.close()
        asset_archive.remove_scratch()  # a forked process ends without running atexit


def _portable(exc: BaseException) -> tuple:
    """The error as (class, args, attributes): unpickling an exception calls its class with its
    args, which a class with its own __init__ (ConfigError takes a list of problems) misreads.
    Not picklable (a local class, an odd attribute): a RuntimeError saying what it was."""
    portable = (type(exc), exc.args, dict(vars(exc)))
    try:
        pickle.dumps(portable)
    except Exception:  # anything unpicklable becomes text
        return (RuntimeError, (f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",), {})
    return portable


def _rebuilt(portable: tuple) -> BaseException:
    cls, args, attributes = portable
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(attributes)
    return exc


def merge(
    folders: list[Path], specs: list[StackSpec], dependencies: Callable[[StackSpec], list[StackSpec]], into: Path
) -> None:
    """Move each worker's stack folders into `into` and write the one manifest.json listing them."""
    entries: dict[str, dict] = {}
    version = None
    (into / "stacks").mkdir(parents=True, exist_ok=True)
    for folder in folders:
        manifest = json.loads((folder / MANIFEST).read_text())
        version = manifest["version"]
        entries.update(manifest["stacks"])
        for stack in sorted((folder / "stacks").iterdir()):
            stack.rename(into / "stacks" / stack.name)
        shutil.rmtree(folder)
    for spec in specs:
        entries[spec.name]["dependencies"] = [d.name for d in dependencies(spec)]
    (into / MANIFEST).write_text(stable_stringify({"stacks": entries, "version": version}))


def stable_stringify(value: object, level: int = 0) -> str:
    """JSON as npm's json-stable-stringify writes it with `space: 2` (cdktf's manifest.json): keys
    sorted, and an empty list or object still broken over two lines."""
    indent = "\n" + "  " * level
    inner = "\n" + "  " * (level + 1)
    if isinstance(value, dict):
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {stable_stringify(value[k], level + 1)}"
            for k in sorted(value)
        ]
        return "{" + ",".join(items) + indent + "}"
    if isinstance(value, list):
        return "[" + ",".join(inner + stable_stringify(v, level + 1) for v in value) + indent + "]"
    return json.dumps(value, ensure_ascii=False)
