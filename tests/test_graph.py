"""`graph` (ops/graph.py): the diagram drawn from the synthesized Terraform JSON of the default
configuration, the three- and four-region examples and an Aurora global variant; its two
renderers, determinism, the README block, and the command's bad-input paths."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from support.configs import variant
from support.synth import synthesize
from support.tfjson import resources

from config import model
from config.errors import UsageError
from config.facts import DATABASE_PORT
from ops import graph

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "config" / "examples"
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz dot is not installed (.ci/run installs it)"
)


def draw(synthesized, env: str) -> graph.Diagram:
    config = synthesized.config
    return graph.build(config.select(env, None), synthesized.stacks, f"{env} ({config.source.name})")


def only(stack: dict, type_: str) -> dict:
    (body,) = resources(stack, type_).values()
    return body


def edges(diagram: graph.Diagram, label: str) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in diagram.edges if e.label == label}


def region_id(region: str) -> str:
    return graph.slug(region)


def groups_by_id(diagram: graph.Diagram) -> dict[str, graph.Group]:
    found = {}

    def visit(group: graph.Group) -> None:
        found[group.id] = group
        for inner in group.groups:
            visit(inner)

    for group in diagram.groups:
        visit(group)
    return found


def text(node: graph.Node) -> str:
    return " ".join(node.lines)


@pytest.fixture(scope="module")
def three_regions(tmp_path_factory):
    config = model.load(EXAMPLES / "three-regions-latency.toml")
    return synthesize(config, tmp_path_factory.mktemp("graph3") / "out", env="prod")


@pytest.fixture(scope="module")
def four_regions(tmp_path_factory):
    config = model.load(EXAMPLES / "four-regions-failover.toml")
    return synthesize(config, tmp_path_factory.mktemp("graph4") / "out", env="dr")


@pytest.fixture(scope="module")
def aurora(default_data, tmp_path_factory):
    data = variant(
        default_data,
        environments={"dev": {"database_topology": "aurora_global", "db_instance_class": "db.r6g.large"}},
    )
    return synthesize(model.parse(data, "aurora.toml"), tmp_path_factory.mktemp("graph-aurora") / "out", env="dev")


CASES = [("synthesized", "prod"), ("three_regions", "prod"), ("four_regions", "dr")]


@pytest.fixture(params=CASES, ids=[f"{fixture}-{env}" for fixture, env in CASES])
def case(request):
    fixture, env = request.param
    synthesized = request.getfixturevalue(fixture)
    return synthesized, synthesized.config.environments[env], draw(synthesized, env)


def test_one_group_per_stack_with_the_vpc_and_its_three_tiers(case):
    """Each regional stack is a box holding its VPC (the CIDR from the JSON) and the public,
    app and isolated tiers with one subnet per zone; the edge stack is a box of its own."""
    synthesized, env, diagram = case
    assert [g.id for g in diagram.groups] == [*(region_id(r) for r in env.regions), "edge"]
    found = groups_by_id(diagram)
    for region in env.regions:
        stack = synthesized.stacks[f"{env.name}-{region}"]
        (vpc,) = found[region_id(region)].groups
        assert vpc.label == f"VPC {only(stack, 'aws_vpc')['cidr_block']}"
        nat = "NAT" if resources(stack, "aws_nat_gateway") else "isolated"
        assert [g.label for g in vpc.groups] == [
            f"public subnets ×{env.network.az_count} · internet gateway",
            f"app subnets ×{env.network.az_count} · {nat}",
            f"db subnets ×{env.network.az_count} · isolated",
        ]


def test_load_balancer_instances_and_database_sit_in_their_tiers(case):
    synthesized, env, diagram = case
    found = groups_by_id(diagram)
    for region in env.regions:
        stack, r = synthesized.stacks[f"{env.name}-{region}"], region_id(region)
        public = {n.id: n for n in found[f"{r}_public_subnets"].nodes}
        app = {n.id: n for n in found[f"{r}_app_subnets"].nodes}
        isolated = {n.id: n for n in found[f"{r}_db_subnets"].nodes}
        assert only(stack, "aws_lb")["name"] in text(public[f"{r}_web_lb_alb"])
        asg = text(app[f"{r}_web_asg"])
        assert f"{env.scaling.instance_count} × {env.scaling.instance_type} (max {env.scaling.max_capacity})" in asg
        assert f"{r}_ingest_function" in app
        assert only(stack, "aws_db_instance")["identifier"] in text(isolated[f"{r}_database_instance"])
        port = only(stack, "aws_lb_target_group")["port"]
        assert (f"{r}_web_lb_alb", f"{r}_web_asg") in edges(diagram, f"tcp/{port}")
        assert (f"{r}_web_asg", f"{r}_database_instance") in edges(diagram, f"tcp/{DATABASE_PORT}")


def test_replicas_have_an_edge_from_the_writer_region(case):
    _, env, diagram = case
    writer = f"{region_id(env.writer_region)}_database_instance"
    assert "writer" in text(diagram.node(writer))
    others = [r for r in env.regions if r != env.writer_region]
    assert edges(diagram, "replication") == {(writer, f"{region_id(r)}_database_instance") for r in others}
    for region in others:
        assert "read replica" in text(diagram.node(f"{region_id(region)}_database_instance"))


def test_a_health_check_per_region_probes_that_region(case):
    _, env, diagram = case
    for region in env.regions:
        r = region_id(region)
        check = diagram.node(f"{r}_regional_dns_health")
        assert env.regional_origin_domain(region) in text(check)
        assert (f"{r}_regional_dns_origin", check.id) in edges(diagram, "health check")
        assert (check.id, f"{r}_regional_dns_regional") in edges(diagram, "probes")
        assert (f"{r}_regional_dns_regional", f"{r}_web_lb_alb") in edges(diagram, "alias")


def test_cloudfront_waf_viewer_records_and_origins(case):
    """CloudFront has an edge to a record in every region (its origins' names), the viewer
    records alias it and, where the environment has one, the WAF filters it."""
    synthesized, env, diagram = case
    cdn = "edge_cdn_distribution"
    assert env.app_domain in text(diagram.node(cdn))
    reached, frontier = set(), {cdn}
    while frontier:  # along traffic edges: origins, then DNS aliases (failover chains included)
        reached |= frontier
        frontier = {e.target for e in diagram.edges if e.source in frontier and not e.dashed} - reached
    assert {f"{region_id(r)}_web_lb_alb" for r in env.regions} <= reached
    distribution = only(synthesized.stacks[f"{env.name}-global"], "aws_cloudfront_distribution")
    labels = {e.label for e in diagram.edges if e.source == cdn}
    assert {o["origin_id"] for o in distribution["origin"]} == {label.rpartition(": ")[2] for label in labels}
    assert ("edge_viewer_0_a", cdn) in edges(diagram, "alias")
    assert (("edge_waf_acl", cdn) in edges(diagram, "filters")) == env.waf


def test_ingest_bucket_to_function_to_dead_letter_queue(case):
    _, env, diagram = case
    for region in env.regions:
        r = region_id(region)
        notified = {(e.source, e.target) for e in diagram.edges if e.label.startswith("ObjectCreated")}
        assert (f"{r}_ingest_bucket_bucket", f"{r}_ingest_function") in notified
        assert (f"{r}_ingest_function", f"{r}_ingest_dlq") in edges(diagram, "failed events")


def test_failover_routing_is_labelled_on_the_records(four_regions):
    env = four_regions.config.environments["dr"]
    diagram = draw(four_regions, "dr")
    writer = diagram.node(f"{region_id(env.writer_region)}_regional_dns_origin")
    assert writer.lines == (env.origin_domain, "A failover PRIMARY")
    chain = [n for n in diagram.all_nodes() if n.id.endswith("_regional_dns_chain")]
    assert len(chain) == len(env.regions) - 2  # the nested failover sets between the first and the last
    assert all("failover SECONDARY" in text(n) for n in chain)


def test_aurora_global_database_and_its_clusters(aurora):
    env = aurora.config.environments["dev"]
    diagram = draw(aurora, "dev")
    global_db = diagram.node(graph.GLOBAL_DATABASE)
    assert only(aurora.stacks[f"dev-{env.writer_region}"], "aws_rds_global_cluster")["global_cluster_identifier"] in (
        text(global_db)
    )
    clusters = {f"{region_id(r)}_database_cluster" for r in env.regions}
    assert edges(diagram, "member") == {(global_db.id, c) for c in clusters}
    writer = f"{region_id(env.writer_region)}_database_cluster"
    assert edges(diagram, "storage replication") == {(writer, c) for c in clusters - {writer}}
    assert not edges(diagram, "replication")


def reversed_json(value):
    """The same document with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reversed_json(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_json(v) for v in value]
    return value


def test_the_output_is_deterministic_and_its_ids_stable(synthesized):
    """The same JSON, in any key order, draws the same text; ids carry neither cdktf's hashes nor
    the environment's name, so staging and prod (same shape) draw the same ids."""
    config = synthesized.config
    first, again = draw(synthesized, "prod"), draw(synthesized, "prod")
    shuffled = graph.build(
        config.select("prod", None), reversed_json(synthesized.stacks), f"prod ({config.source.name})"
    )
    assert graph.mermaid(first) == graph.mermaid(again) == graph.mermaid(shuffled)
    assert graph.dot(first) == graph.dot(shuffled)
    ids = [n.id for n in first.all_nodes()] + [g for g in groups_by_id(first)]
    assert not [i for i in ids if re.search(r"_[0-9a-f]{8}$", i) or "prod" in i]
    assert len(ids) == len(set(ids))
    assert {n.id for n in draw(synthesized, "staging").all_nodes()} <= {n.id for n in first.all_nodes()}


def test_both_renderers_show_the_same_model(synthesized):
    diagram = draw(synthesized, "prod")
    mermaid, dot = graph.mermaid(diagram), graph.dot(diagram)
    assert mermaid.startswith("flowchart ") and dot.startswith("digraph ")
    for node in diagram.all_nodes():
        assert re.search(rf"^\s*{node.id}\W", mermaid, re.M) and re.search(rf"^\s*{node.id} \[label=", dot, re.M)
    for e in diagram.edges:
        assert f'{e.source} {"-.->" if e.dashed else "-->"}|"{e.label}"| {e.target}' in mermaid
        assert f'{e.source} -> {e.target} [label="{e.label}"' in dot
    assert mermaid.count("subgraph ") == dot.count("subgraph cluster_") == len(groups_by_id(diagram))


def test_the_readme_diagram_is_current(synthesized):
    """`make diagram` output is what the README shows: synthesize, draw, compare."""
    env, shown = graph.readme_block((ROOT / "README.md").read_text())
    assert shown == graph.mermaid(draw(synthesized, env)), "the README's diagram is stale: run `make diagram`"


def test_embedding_replaces_only_the_block():
    begin = "<!-- diagram:begin env=dev (`make diagram` rewrites this block) -->"
    before = f"# Title\n\n{begin}\n```mermaid\nflowchart TB\n  old\n```\n{graph.README_END}\n\nafter\n"
    after = graph.embed(before, "flowchart TB\n  new\n")
    assert after == before.replace("  old", "  new")
    assert graph.readme_block(after) == ("dev", "flowchart TB\n  new\n")
    with pytest.raises(UsageError, match="no diagram block"):
        graph.embed("# no block\n", "flowchart TB\n")


def test_mermaid_files_plain_and_fenced(synthesized, tmp_path):
    diagram = draw(synthesized, "dev")
    graph.write(diagram, tmp_path / "dev.mmd")
    graph.write(diagram, tmp_path / "dev.md")
    assert (tmp_path / "dev.mmd").read_text() == graph.mermaid(diagram)
    assert (tmp_path / "dev.md").read_text() == f"```mermaid\n{graph.mermaid(diagram)}```\n"


@needs_dot
def test_png_through_graphviz(synthesized, tmp_path):
    graph.write(draw(synthesized, "dev"), tmp_path / "dev.png")
    assert (tmp_path / "dev.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "main.py", "graph", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


@needs_dot
def test_the_command_renders_svg_with_the_node_labels(synthesized, tmp_path):
    """End to end: synthesize dev, draw it, render SVG through dot; the names are the JSON's."""
    done = cli("--env", "dev", "--out", str(tmp_path / "dev.svg"), "--synth-out", str(tmp_path / "cdktf.out"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    root = ElementTree.parse(tmp_path / "dev.svg").getroot()  # a real SVG document
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    svg = "\n".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))  # every label line
    env = synthesized.config.environments["dev"]
    for region in env.regions:
        stack = synthesized.stacks[f"dev-{region}"]
        for label in (only(stack, "aws_lb")["name"], only(stack, "aws_db_instance")["identifier"]):
            assert label in svg
        assert env.regional_origin_domain(region) in svg
    assert "CloudFront" in svg and "Auto Scaling group" in svg


def test_the_command_synthesizes_into_synth_out_and_reuses_an_unchanged_synth(synthesized, tmp_path):
    """graph synthesizes as the other commands do (stacks.app.synth, fingerprint included), so a
    second diagram of unchanged code and configuration reuses the output: the folder is not
    replaced (same inode, same files) and the diagram is the same."""
    synth_out = tmp_path / "cdktf.out"
    first = cli("--env", "dev", "--synth-out", str(synth_out))
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("flowchart TB")
    manifest = json.loads((synth_out / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == sorted(s.name for s in synthesized.config.select("dev", None))
    assert (synth_out / ".synth-fingerprint.json").is_file()
    before = {p: p.stat().st_mtime_ns for p in synth_out.rglob("*") if p.is_file()}
    inode = synth_out.stat().st_ino
    again = cli("--env", "dev", "--synth-out", str(synth_out))
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert synth_out.stat().st_ino == inode
    assert {p: p.stat().st_mtime_ns for p in synth_out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "nope"], "unknown environment 'nope'"),
        (["--env", "all"], "one environment at a time"),
        (["--env", "dev", "--out", "no/such/folder/dev.svg"], "folder no/such/folder does not exist"),
        (["--env", "dev", "--out", "no/such/folder/dev.mmd"], "folder no/such/folder does not exist"),
        (["--env", "dev", "--out", "dev.txt"], "must end in one of .mmd, .md, .svg, .png"),
        (["--env", "dev", "--out", "dev.mmd", "--readme", "README.md"], "exclusive"),
        (["--env", "dev", "--readme", "README.md"], "is for --env prod, not dev"),
    ],
    ids=["unknown-env", "all", "missing-folder-svg", "missing-folder-mmd", "suffix", "out-and-readme", "readme-env"],
)
def test_bad_input_is_one_line_and_exit_2_before_any_synth(args, message):
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("error:") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (ROOT / "dev.mmd").exists()


def test_svg_without_graphviz_is_a_clear_error(tmp_path):
    """No `dot` on PATH: exit 2 and how to install it (or use Mermaid), before any synth."""
    bare = tmp_path / "bin"
    bare.mkdir()
    done = cli("--env", "dev", "--out", str(tmp_path / "dev.png"), env={**os.environ, "PATH": str(bare)})
    assert done.returncode == 2
    assert "Graphviz's `dot` is not installed" in done.stderr and "--out FILE.mmd" in done.stderr
    assert not (tmp_path / "dev.png").exists()
