"""When stacks run: dependency waves per environment, and a bounded, stoppable pool of workers.

ops/pipeline.py decides what happens to a stack (plan, review, apply); this module decides when,
so the scheduling rules can be proven with stand-in jobs and no Terraform at all
(tests/test_waves.py):

- `waves`: per environment, its stacks grouped so that each stack comes one wave after the last
  stack it deploys after (stacks/app.py `deploys_after`): the primary region, then the other
  regions together, then the edge. Destroy runs the waves in reverse. Environments share no
  stack, so each has its own waves and they do not wait for each other.
- `Pool`: at most `limit` jobs at once across every thread that submits to it (each job runs one
  Terraform process at a time, so this bounds Terraform processes: each runs a provider of
  several hundred MB). Once stopped (the first failure, or an interrupt), a job that has not
  started never starts; jobs already running finish. Waiting jobs are served lowest priority
  first (then in submission order), so with `--parallel 1` the run is as predictable as a
  sequential one.
- `together`: run a few callables side by side (one per environment) and wait for all.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from config.model import StackSpec

T = TypeVar("T")
# While waiting for a slot, re-check `stopping` this often even when no job ends (an interrupt
# sets it without waking anyone). A liveness guard, not a pace: job ends wake waiters at once.
RECHECK_SECONDS = 0.5


def waves(
    specs: list[StackSpec],
    deploys_after: Callable[[StackSpec, list[StackSpec]], list[StackSpec]],
    reverse: bool = False,
) -> dict[str, list[list[StackSpec]]]:
    """Per environment (in the order of `specs`), its stacks in waves: a stack's wave is one
    after the latest wave of the selected stacks it deploys after (none: wave 0). Within a wave,
    stacks keep the order of `specs`. `reverse` (destroy): the waves in reverse order."""
    depth: dict[str, int] = {}

    def level(spec: StackSpec, seen: tuple[str, ...] = ()) -> int:
        if spec.name in seen:
            raise ValueError(f"stacks depend on each other in a cycle: {' -> '.join([*seen, spec.name])}")
        if spec.name not in depth:
            before = deploys_after(spec, specs)
            depth[spec.name] = 1 + max((level(b, (*seen, spec.name)) for b in before), default=-1)
        return depth[spec.name]

    grouped: dict[str, list[list[StackSpec]]] = {}
    for spec in specs:
        env_waves = grouped.setdefault(spec.environment, [])
        index = level(spec)
        while len(env_waves) <= index:
            env_waves.append([])
        env_waves[index].append(spec)
    for env, env_waves in grouped.items():
        kept = [wave for wave in env_waves if wave]  # a selection without the primary leaves no gap
        grouped[env] = list(reversed(kept)) if reverse else kept
    return grouped


@dataclass(frozen=True)
class Job:
    key: str  # the stack's name
    run: Callable[[], None]
    priority: tuple = ()  # lower first among the waiting jobs


@dataclass(frozen=True)
class Outcome:
    key: str
    started: bool  # False: the pool was stopped before the job got a slot
    error: BaseException | None = None


class Pool:
    """At most `limit` jobs at once, across every caller thread (module docstring)."""

    def __init__(self, limit: int, stopping: Callable[[], bool] = lambda: False):
        if limit < 1:
            raise ValueError(f"a pool needs at least one slot, not {limit}")
        self.limit = limit
        self._stopping = stopping
        self._stopped = False
        self._running = 0
        self._waiting: list[tuple[tuple, int]] = []  # (priority, ticket) of the jobs waiting for a slot
        self._tickets = itertools.count()
        self._condition = threading.Condition()

    @property
    def stopped(self) -> bool:
        return self._stopped or self._stopping()

    def stop(self) -> None:
        """No job starts from now on; running ones finish."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def _acquire(self, priority: tuple) -> bool:
        with self._condition:
            mine = (priority, next(self._tickets))
            self._waiting.append(mine)
            try:
                while True:
                    if self.stopped:
                        return False
                    if self._running < self.limit and min(self._waiting) == mine:
                        self._running += 1
                        return True
                    self._condition.wait(RECHECK_SECONDS)
            finally:
                self._waiting.remove(mine)
                self._condition.notify_all()  # the next best waiter may go now

    def _release(self) -> None:
        with self._condition:
            self._running -= 1
            self._condition.notify_all()

    def _one(self, job: Job) -> Outcome:
        if not self._acquire(job.priority):
            return Outcome(job.key, started=False)
        try:
            job.run()
        except BaseException as exc:  # the caller decides what a failure means
            return Outcome(job.key, started=True, error=exc)
        finally:
            self._release()
        return Outcome(job.key, started=True)

    def run(self, jobs: Iterable[Job]) -> list[Outcome]:
        """Run `jobs` side by side within the limit; wait for all. One outcome per job, in order."""
        return together([lambda job=job: self._one(job) for job in jobs])


def together(tasks: list[Callable[[], T]]) -> list[T]:
    """Run `tasks` each on its own thread and wait for all; their results in order. A task's
    exception is re-raised here (the first, by position) once every task has ended."""
    results: list = [None] * len(tasks)
    errors: list[BaseException | None] = [None] * len(tasks)

    def call(index: int) -> None:
        try:
            results[index] = tasks[index]()
        except BaseException as exc:
            errors[index] = exc

    if len(tasks) == 1:  # no thread for one: the common single-environment, single-stack case
        call(0)
    else:
        threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(len(tasks))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # interruptible: the main thread's signal handlers run meanwhile
    for error in errors:
        if error is not None:
            raise error
    return results
