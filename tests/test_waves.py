"""ops/waves.py: dependency waves and the bounded, stoppable pool, with stand-in jobs (no Terraform).

Concurrency is proven with gates (threading.Event, Barrier) that only open when the jobs really
overlap, never with timings; GUARD only keeps a broken scheduler from hanging the test.
"""

from __future__ import annotations

import threading

import pytest

from config import model
from ops import waves
from stacks.app import deploys_after

GUARD = 60  # seconds: a liveness guard, never an expectation


def three_region_dev(default_data):
    from support.configs import variant

    data = variant(default_data, environments={"dev": {"regions": ["us-east-1", "us-west-2", "eu-west-1"]}})
    return model.parse(data, "three.toml")


def until(condition) -> None:
    """Wait for `condition` (a state, not a time); GUARD fails a test that would hang."""
    for _ in range(GUARD * 100):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the condition never held")


def names(grouped):
    return {env: [[s.name for s in wave] for wave in env_waves] for env, env_waves in grouped.items()}


def test_waves_are_primary_then_secondaries_together_then_edge_per_environment(default_data):
    config = three_region_dev(default_data)
    grouped = names(waves.waves(config.select("all"), deploys_after))
    assert grouped["dev"] == [["dev-us-east-1"], ["dev-us-west-2", "dev-eu-west-1"], ["dev-global"]]
    assert grouped["prod"] == [["prod-us-east-1"], ["prod-us-west-2"], ["prod-global"]]
    assert list(grouped) == ["dev", "staging", "prod"], "each environment has its own waves"


def test_destroy_waves_are_reversed(default_data):
    config = three_region_dev(default_data)
    grouped = names(waves.waves(config.select("dev"), deploys_after, reverse=True))
    assert grouped["dev"] == [["dev-global"], ["dev-us-west-2", "dev-eu-west-1"], ["dev-us-east-1"]]


def test_a_selection_without_the_primary_leaves_no_empty_wave(default_data):
    config = three_region_dev(default_data)
    grouped = names(waves.waves(config.select("dev", "us-west-2"), deploys_after))
    assert grouped == {"dev": [["dev-us-west-2"]]}


def test_a_dependency_cycle_is_named(default_data):
    specs = model.parse(default_data, "d.toml").select("dev")
    with pytest.raises(ValueError, match="cycle"):
        waves.waves(specs, lambda spec, all_specs: [s for s in all_specs if s is not spec])


def test_the_pool_runs_limit_jobs_at_once_and_never_more():
    limit = 3
    barrier = threading.Barrier(limit, timeout=GUARD)  # breaks unless `limit` jobs overlap
    lock = threading.Lock()
    running, most = [0], [0]

    def job():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            barrier.wait()
        finally:
            with lock:
                running[0] -= 1

    outcomes = waves.Pool(limit).run([waves.Job(f"j{i}", job) for i in range(limit * 3)])
    assert [o.error for o in outcomes] == [None] * (limit * 3), "every round of `limit` jobs met at the barrier"
    assert most[0] == limit


def test_a_stopped_pool_starts_nothing_more_and_running_jobs_finish():
    pool = waves.Pool(1)
    finished = []

    def first():
        pool.stop()  # e.g. another environment's failure while this job runs
        finished.append("first")

    outcomes = pool.run([waves.Job("first", first, (0,)), waves.Job("second", lambda: finished.append("x"), (1,))])
    assert finished == ["first"], "the running job finished; the waiting one never started"
    assert [(o.key, o.started) for o in outcomes] == [("first", True), ("second", False)]


def test_the_stopping_predicate_stops_waiting_jobs():
    received = []  # stands for Interrupts.received
    pool = waves.Pool(1, stopping=lambda: bool(received))
    outcomes = pool.run([waves.Job("a", lambda: received.append("SIGINT"), (0,)), waves.Job("b", lambda: None, (1,))])
    assert [o.started for o in outcomes] == [True, False]


def test_waiting_jobs_are_served_lowest_priority_first():
    order = []
    gate = threading.Event()
    pool = waves.Pool(1)

    def holder():
        gate.wait(GUARD)
        order.append("holder")

    def others():
        return pool.run([waves.Job(k, lambda k=k: order.append(k), (p,)) for k, p in (("c", 3), ("a", 1), ("b", 2))])

    thread = threading.Thread(target=lambda: pool.run([waves.Job("holder", holder, (0,))]))
    thread.start()
    waiter = threading.Thread(target=others)
    until(lambda: pool._running == 1)  # the holder has its slot
    waiter.start()
    until(lambda: len(pool._waiting) == 3)  # the three others queue behind it
    gate.set()
    thread.join(GUARD)
    waiter.join(GUARD)
    assert order == ["holder", "a", "b", "c"]


def test_a_failing_job_is_an_outcome_not_an_exception():
    def boom():
        raise RuntimeError("terraform failed")

    (outcome,) = waves.Pool(2).run([waves.Job("x", boom)])
    assert outcome.started and isinstance(outcome.error, RuntimeError)


def test_together_waits_for_all_and_reraises_the_first_error():
    done = []

    def fails():
        raise KeyError("first")

    with pytest.raises(KeyError):
        waves.together([fails, lambda: done.append(1), lambda: done.append(2)])
    assert sorted(done) == [1, 2], "the others ran to the end"
    assert waves.together([lambda: 1, lambda: 2]) == [1, 2]


def test_a_pool_needs_a_slot():
    with pytest.raises(ValueError):
        waves.Pool(0)
