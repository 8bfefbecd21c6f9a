"""ops/pipeline.py's waves in-process: `execute` over stacks driven by a Terraform stand-in
(support.scripted_terraform) that records start/end events and holds steps at gates, so order,
overlap and stopping are proven without timings and without synthesizing.

The configuration is the default one with a third region in dev: dev has two secondaries.
"""

from __future__ import annotations

import threading

import pytest
from support.configs import variant
from support.scripted_terraform import GUARD, NO_CHANGES, ScriptedTerraform
from support.terraform import DESTROY_DB

from config import model
from ops import pipeline
from ops.pipeline import Action
from stacks.app import deploys_after

DEV = ["dev-us-east-1", "dev-us-west-2", "dev-eu-west-1", "dev-global"]


@pytest.fixture
def config(default_data):
    return model.parse(
        variant(default_data, environments={"dev": {"regions": ["us-east-1", "us-west-2", "eu-west-1"]}}), "three.toml"
    )


@pytest.fixture
def terraform(tmp_path):
    return ScriptedTerraform(tmp_path / "out")


def execute(config, terraform, env="all", action=Action.DEPLOY, parallel=4, **extra):
    """`pipeline.execute` over the stacks of `env` (a name, "all", or a list of names)."""
    specs = [
        s for s in config.select("all") if env == "all" or s.environment in ([env] if isinstance(env, str) else env)
    ]
    return pipeline.execute(specs, terraform.out_dir, action, terraform, deploys_after, parallel=parallel, **extra)


def open_when(gate: threading.Event, *started: threading.Event) -> threading.Thread:
    """Open `gate` once every one of `started` is set: a stack held at the gate is released only
    when the others really run at the same time (else the gate times out and the test fails)."""

    def wait():
        if all(event.wait(GUARD) for event in started):
            gate.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def test_deploy_plans_the_whole_environment_then_applies_wave_after_wave(config, terraform):
    # The two secondaries apply together: each is held until the other has started.
    for one, other in (("dev-us-west-2", "dev-eu-west-1"), ("dev-eu-west-1", "dev-us-west-2")):
        terraform.gates[(one, "apply")] = gate = threading.Event()
        open_when(gate, terraform.when_started(other, "apply"))
    results = execute(config, terraform, "dev")
    assert [r.stack for r in results] == DEV and {r.status for r in results} == {"applied"}
    last_show = max(terraform.index("end", s, "show") for s in DEV)
    first_apply = min(terraform.index("start", s, "apply") for s in DEV)
    assert last_show < first_apply, "the review gate saw every plan of dev before any apply of it"
    primary, secondaries, edge = DEV[0], DEV[1:3], DEV[3]
    for secondary in secondaries:
        assert terraform.index("end", primary, "apply") < terraform.index("start", secondary, "apply")
        assert terraform.index("end", secondary, "apply") < terraform.index("start", edge, "apply")


def test_environments_do_not_wait_for_each_other(config, terraform):
    """staging's primary stays in `plan` until dev's edge applies: dev's whole run happens meanwhile."""
    terraform.gates[("staging-us-east-1", "plan")] = gate = threading.Event()
    open_when(gate, terraform.when_started("dev-global", "apply"))
    results = execute(config, terraform, parallel=3)
    assert {r.status for r in results} == {"applied"}
    assert terraform.index("start", "dev-global", "apply") < terraform.index("end", "staging-us-east-1", "plan")


def test_never_more_than_n_terraform_steps_at_once(config, terraform):
    # Two at once at least: dev's and staging's primaries each wait in `init` until the other has
    # started it (one gate alone let the other finish first on a busy machine: never two at once).
    for one, other in (("dev-us-east-1", "staging-us-east-1"), ("staging-us-east-1", "dev-us-east-1")):
        terraform.gates[(one, "init")] = gate = threading.Event()
        open_when(gate, terraform.when_started(other, "init"))
    results = execute(config, terraform, parallel=2)
    assert len(results) == 10 and {r.status for r in results} == {"applied"}
    assert terraform.most_at_once == 2


def test_parallel_1_is_one_step_at_a_time(config, terraform):
    execute(config, terraform, "dev", parallel=1)
    assert terraform.most_at_once == 1
    events = terraform.events
    assert all(events[i][0] == "start" and events[i + 1][0] == "end" for i in range(0, len(events), 2))


def test_destroy_runs_the_waves_in_reverse(config, terraform):
    results = execute(config, terraform, "dev", action=Action.DESTROY)
    assert [r.stack for r in results] == ["dev-global", "dev-us-west-2", "dev-eu-west-1", "dev-us-east-1"]
    assert {r.status for r in results} == {"destroyed"}
    for secondary in ("dev-us-west-2", "dev-eu-west-1"):
        assert terraform.index("end", "dev-global", "apply") < terraform.index("start", secondary, "apply")
        assert terraform.index("end", secondary, "apply") < terraform.index("start", "dev-us-east-1", "apply")


def test_the_first_failure_stops_new_work_and_running_stacks_finish(config, terraform):
    """dev's primary is applying when staging's primary fails: dev's apply finishes, nothing new
    starts anywhere (dev's next wave, staging's and prod's stacks)."""
    terraform.fail[("staging-us-east-1", "apply")] = [True]
    terraform.gates[("dev-us-east-1", "apply")] = dev_applying = threading.Event()
    terraform.gates[("staging-us-east-1", "apply")] = staging_applying = threading.Event()
    open_when(staging_applying, terraform.when_started("dev-us-east-1", "apply"))  # fails while dev applies

    def progress(stack, state):
        if (stack, state) == ("staging-us-east-1", "failed"):  # after the run stopped new work
            dev_applying.set()

    with pytest.raises(pipeline.RunFailed) as failed:
        execute(config, terraform, ["dev", "staging"], parallel=2, progress=progress)
    statuses = {r.stack: r.status for r in failed.value.results}
    assert statuses["dev-us-east-1"] == "applied", "the running apply finished"
    assert statuses["staging-us-east-1"] == "failed"
    applied = [stack for stack, step in terraform.steps() if step == "apply"]
    assert sorted(applied) == ["dev-us-east-1", "staging-us-east-1"], "no new apply started"
    assert failed.value.exit_code == 1
    problems = "\n".join(failed.value.problems)
    assert "staging-us-east-1: terraform apply failed: Error: scripted failure of apply" in problems
    assert str(terraform.log_path("staging-us-east-1")) in problems, "the failure names its log"
    assert "not deployed" not in problems and "not applied: " in problems
    for stack in ("dev-us-west-2", "dev-global", "staging-global"):
        assert stack in problems.split("not applied: ")[1]


def test_a_destructive_plan_stops_its_environment_before_any_apply(config, terraform):
    terraform.plans["dev-global"] = DESTROY_DB  # the last wave's plan: found before the first apply
    with pytest.raises(pipeline.DestructivePlan) as refused:
        execute(config, terraform, ["dev", "staging"])
    applied = {stack for stack, step in terraform.steps() if step == "apply"}
    assert not applied & set(DEV), "nothing of dev was applied"
    assert applied == {"staging-us-east-1", "staging-us-west-2", "staging-global"}, "staging is independent"
    assert refused.value.exit_code == 3 and "dev-global: the plan deletes or replaces" in str(refused.value)
    statuses = {r.stack: r.status for r in refused.value.results}
    assert statuses["dev-global"] == "refused" and statuses["dev-us-east-1"] == "planned"


def test_allow_destroy_applies_the_destructive_plan(config, terraform):
    terraform.plans["dev-global"] = DESTROY_DB
    results = execute(config, terraform, "dev", allow_destroy=True)
    assert {r.status for r in results} == {"applied"}


def test_a_plan_that_needs_the_earlier_wave_is_made_again_after_it_is_applied(config, terraform):
    terraform.fail[("dev-us-west-2", "plan")] = [True, False]  # the primary's database does not exist yet
    terraform.fail[("dev-global", "plan")] = [True, False]  # it reads the primary's secret
    terraform.plans["dev-eu-west-1"] = NO_CHANGES  # nothing pending there: not waited for
    results = {r.stack: r for r in execute(config, terraform, "dev")}
    assert results["dev-us-west-2"].status == "applied"
    assert results["dev-us-west-2"].note == "planned after dev-us-east-1"
    assert results["dev-global"].note == "planned after dev-us-east-1, dev-us-west-2", "a deferred one is pending"
    assert results["dev-eu-west-1"].note == "" and results["dev-global"].status == "applied"
    plans = [i for i, event in enumerate(terraform.events) if event == ("start", "dev-us-west-2", "plan")]
    assert len(plans) == 2
    assert (
        terraform.index("end", "dev-us-east-1", "apply") < plans[1] < terraform.index("start", "dev-us-west-2", "apply")
    )
    assert terraform.index("end", "dev-us-west-2", "show") < terraform.index("start", "dev-us-west-2", "apply")
    assert [line for line in pipeline.outcome(list(results.values()), Action.DEPLOY) if "planned after" in line] == [
        "dev-us-west-2: planned after dev-us-east-1",
        "dev-global: planned after dev-us-east-1, dev-us-west-2",
    ]


def test_a_plan_failure_with_nothing_pending_before_it_is_a_failure(config, terraform):
    terraform.plans["dev-us-east-1"] = NO_CHANGES
    terraform.fail[("dev-us-west-2", "plan")] = [True, False]
    with pytest.raises(pipeline.RunFailed, match="dev-us-west-2: terraform plan failed"):
        execute(config, terraform, "dev")
    assert not [s for s in terraform.steps() if s[1] == "apply"]


def test_a_deployed_stacks_plan_failure_is_never_deferred(config, terraform):
    """A secondary already deployed plans without the primary's apply: its failure (permissions, a
    bad variable) is real, so nothing is applied, not even the primary with pending changes."""
    terraform.states["dev-us-west-2"] = {"version": 4, "resources": [{"type": "aws_vpc", "name": "network"}]}
    terraform.fail[("dev-us-west-2", "plan")] = [True, False]
    with pytest.raises(pipeline.RunFailed, match="dev-us-west-2: terraform plan failed"):
        execute(config, terraform, "dev")
    assert not [s for s in terraform.steps() if s[1] == "apply"]


def test_destroy_never_defers_a_plan_failure(config, terraform):
    """The edge is destroyed first and always has changes: a regional plan failure must not let it
    go before the failure is seen."""
    terraform.fail[("dev-us-west-2", "plan")] = [True, False]
    with pytest.raises(pipeline.RunFailed, match="dev-us-west-2: terraform plan failed"):
        execute(config, terraform, "dev", action=Action.DESTROY)
    assert not [s for s in terraform.steps() if s[1] == "apply"]


def test_a_deferred_plan_that_turns_out_destructive_is_refused(config, terraform):
    terraform.fail[("dev-us-west-2", "plan")] = [True, False]
    terraform.plans["dev-us-west-2"] = DESTROY_DB  # what its second plan, after the primary's apply, shows
    with pytest.raises(pipeline.DestructivePlan, match="dev-us-west-2"):
        execute(config, terraform, "dev")
    applied = [stack for stack, step in terraform.steps() if step == "apply"]
    assert "dev-us-west-2" not in applied and "dev-global" not in applied


def test_plan_only_never_defers_a_failure(config, terraform):
    terraform.fail[("dev-us-west-2", "plan")] = [True]
    with pytest.raises(pipeline.RunFailed):
        execute(config, terraform, "dev", action=Action.PLAN)
    assert not [s for s in terraform.steps() if s[1] == "apply"]


@pytest.mark.parametrize(("cores", "expected"), [(None, 2), (1, 2), (2, 2), (8, 8)])
def test_parallel_defaults_to_the_cores_and_at_least_two(monkeypatch, cores, expected):
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: cores)
    assert pipeline.default_parallel() == expected
