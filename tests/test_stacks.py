"""Stack assembly: which stacks exist, their providers, backends and the instance_count input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.configs import variant
from support.stack_names import REGIONAL
from support.synth import synthesize
from support.tfjson import only, providers, refers_to

from config import model
from stacks.base import PROJECT_ROOT

EXPECTED = ["dev-us-east-1", "dev-us-west-2", "dev-global", "staging-us-east-1", "staging-us-west-2",
            "staging-global", "prod-us-east-1", "prod-us-west-2", "prod-global"]


def test_one_regional_stack_per_environment_and_region_plus_one_edge_stack(default_config, synthesized):
    assert [s.name for s in default_config.stacks()] == EXPECTED
    assert sorted(synthesized.stacks) == sorted(EXPECTED)
    roles = {s.name: s.role for s in default_config.stacks()}
    assert roles["prod-us-east-1"] == "primary" and roles["prod-us-west-2"] == "secondary"
    assert roles["prod-global"] == "edge"


def test_selection_by_environment_and_region(default_config):
    assert [s.name for s in default_config.select("prod")] == ["prod-us-east-1", "prod-us-west-2", "prod-global"]
    assert [s.name for s in default_config.select("all", "us-west-2")] == [
        "dev-us-west-2", "staging-us-west-2", "prod-us-west-2"]
    assert [s.name for s in default_config.select("dev", "global")] == ["dev-global"]
    with pytest.raises(model.SelectionError, match="choose one of: dev, staging, prod, all"):
        default_config.select("qa")
    with pytest.raises(model.SelectionError, match="choose one of: us-east-1, us-west-2, global"):
        default_config.select("dev", "eu-west-1")


def stack_spec(config, name):
    return next(s for s in config.stacks() if s.name == name)


@pytest.mark.parametrize("name", EXPECTED)
def test_every_stack_has_a_locked_provider_assuming_the_deploy_role(default_config, synthesized, name):
    spec = stack_spec(default_config, name)
    env = default_config.environments[spec.environment]
    blocks = providers(synthesized.stacks[name])
    # Reads of what the primary region owns go through an alias for that region (provider 5 has
    # no per-resource region); the edge stack also has CloudFront's us-east-1.
    expected_aliases = {"edge": {None, "dns", "us_east_1"}, "primary": {None, "dns"},
                        "secondary": {None, "dns", env.primary_region.replace("-", "_")}}[spec.role]
    assert set(blocks) == expected_aliases
    default = blocks[None]
    assert default["region"] == (env.primary_region if spec.role == "edge" else spec.region)
    assert default["allowed_account_ids"] == [env.account_id]
    (assume,) = default["assume_role"]
    assert assume["role_arn"] == f"arn:aws:iam::{env.account_id}:role/{env.name}-global-deploy-a1"
    assert assume["session_name"]
    (tags,) = default["default_tags"]
    assert tags["tags"] == {"Environment": env.name, "Region": spec.region, "Project": "webapp",
                            "Owner": "platform", "CostCenter": "cc-000", "ManagedBy": "cdktf"}
    for alias, block in blocks.items():
        if alias not in (None, "dns"):
            assert block["region"] == alias.replace("_", "-")
            assert block["allowed_account_ids"] == [env.account_id]
    for block in blocks.values():
        assert block["assume_role"] and block["default_tags"], "every provider assumes a role and tags"


def test_dns_provider_assumes_the_dns_role_in_the_dns_account(default_data, tmp_path):
    data = variant(default_data, project={"dns_account_id": "999999999999", "dns_role_name": "route53-editor"})
    config = model.parse(data, "dns.toml")
    result = synthesize(config, tmp_path / "out", env="staging")
    for name, stack in result.stacks.items():
        dns = providers(stack)["dns"]
        assert dns["allowed_account_ids"] == ["999999999999"], name
        assert dns["assume_role"][0]["role_arn"] == "arn:aws:iam::999999999999:role/route53-editor"
        assert providers(stack)[None]["allowed_account_ids"] == ["222222222222"]


def test_dns_provider_defaults_to_the_environment_account(synthesized):
    dns = providers(synthesized.stacks["prod-us-west-2"])["dns"]
    assert dns["allowed_account_ids"] == ["333333333333"]


@pytest.mark.parametrize("name", EXPECTED)
def test_local_state_is_one_file_per_stack_outside_the_synth_output(synthesized, name):
    backend = synthesized.stacks[name]["terraform"]["backend"]
    assert set(backend) == {"local"}
    stack_dir = synthesized.out_dir / "stacks" / name
    state = (stack_dir / backend["local"]["path"]).resolve()
    assert state == PROJECT_ROOT / "terraform-state" / f"{name}.tfstate"
    assert synthesized.out_dir.resolve() not in state.parents, "synth replaces its output; state must not live there"


def test_s3_backend_option(default_data, tmp_path):
    data = variant(default_data, state={"backend": "s3", "bucket": "acme-terraform-state", "region": "eu-central-1",
                                        "key_prefix": "platform"})
    result = synthesize(model.parse(data, "s3.toml"), tmp_path / "out", env="dev")
    keys = set()
    for name, stack in result.stacks.items():
        s3 = stack["terraform"]["backend"]["s3"]
        assert s3["bucket"] == "acme-terraform-state" and s3["region"] == "eu-central-1"
        assert s3["encrypt"] is True and s3["use_lockfile"] is True
        assert s3["key"] == f"platform/{name}.tfstate"
        keys.add(s3["key"])
        assert "local" not in stack["terraform"]["backend"]
    assert len(keys) == 3, "one state object per stack"


@pytest.mark.parametrize("name", [n for n in EXPECTED if not n.endswith("global")])
def test_regional_stacks_declare_the_instance_count_variable(default_config, synthesized, name):
    env = default_config.environments[stack_spec(default_config, name).environment]
    variable = synthesized.stacks[name]["variable"]["instance_count"]
    assert variable["type"] == "number" and variable["default"] == 3 and variable["nullable"] is False
    (rule,) = variable["validation"]
    assert "var.instance_count >= 2" in rule["condition"]
    assert f"var.instance_count <= {env.scaling.max_capacity}" in rule["condition"]
    assert rule["error_message"][0].isupper() and rule["error_message"].endswith(".")


def test_edge_stacks_have_no_instance_count(synthesized):
    assert "variable" not in synthesized.stacks["prod-global"]


def test_instance_count_default_comes_from_configuration(default_data, tmp_path):
    data = variant(default_data, environments={"dev": {"instance_count": 4}})
    result = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev")
    assert result.stacks["dev-us-east-1"]["variable"]["instance_count"]["default"] == 4


def test_edge_stack_deploys_after_its_regional_stacks(synthesized):
    manifest = json.loads((synthesized.out_dir / "manifest.json").read_text())
    assert sorted(manifest["stacks"]["prod-global"]["dependencies"]) == ["prod-us-east-1", "prod-us-west-2"]
    assert manifest["stacks"]["prod-us-east-1"]["dependencies"] == []


def test_synth_is_deterministic(default_config, synthesized, tmp_path):
    """Two synths: identical JSON and identical packaged assets, byte for byte."""
    again = synthesize(default_config, tmp_path / "again")
    for name, stack in synthesized.stacks.items():
        assert again.stacks[name] == stack, name
    files = sorted(p.relative_to(synthesized.out_dir) for p in (synthesized.out_dir / "stacks").rglob("*")
                   if p.is_file())
    assert any(f.name == "archive.zip" for f in files)
    assert files == sorted(p.relative_to(again.out_dir) for p in (again.out_dir / "stacks").rglob("*") if p.is_file())
    for relative in files:
        assert (again.out_dir / relative).read_bytes() == (synthesized.out_dir / relative).read_bytes(), relative


def test_synth_removes_stacks_no_longer_selected(default_config, tmp_path):
    out = tmp_path / "out"
    synthesize(default_config, out, env="dev")
    result = synthesize(default_config, out, env="prod")
    assert sorted(result.stacks) == ["prod-global", "prod-us-east-1", "prod-us-west-2"]


def test_synth_refuses_to_replace_a_folder_that_is_not_its_output(default_config, tmp_path):
    from stacks import app

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(app.OutputDirError, match=r"not empty and holds no cdktf manifest\.json"):
        app.synth(default_config, default_config.select("dev"), precious)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_synth_refuses_to_delete_terraform_state(default_config, tmp_path):
    from stacks import app

    out = tmp_path / "out"
    synthesize(default_config, out, env="dev")
    state = out / "stacks" / "dev-us-east-1" / "terraform.dev-us-east-1.tfstate"
    state.write_text("{}")
    with pytest.raises(app.OutputDirError, match="holds Terraform state"):
        app.synth(default_config, default_config.select("dev"), out)
    assert state.exists()


def test_out_path_that_is_a_file_is_refused(default_config, tmp_path):
    from stacks import app

    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(app.OutputDirError, match="not a folder"):
        app.synth(default_config, default_config.select("dev"), Path(target))


def test_synth_replaces_the_empty_folder_cdktf_leaves_behind(default_config, tmp_path):
    """cdktf's App creates <out>/stacks on construction; a run that stopped there must not block
    the next synth."""
    from stacks import app

    out = tmp_path / "out"
    (out / "stacks").mkdir(parents=True)
    app.synth(default_config, default_config.select("dev", "global"), out)
    assert (out / "stacks" / "dev-global" / "cdk.tf.json").is_file()


@pytest.mark.parametrize("name", REGIONAL)
def test_web_tier_outputs(synthesized, name):
    outputs = synthesized.stacks[name]["output"]
    stack = synthesized.stacks[name]
    assert refers_to(outputs["alb_dns_name"]["value"], "aws_lb", only(stack, "aws_lb")[0], "dns_name")
    assert refers_to(outputs["asg_name"]["value"], "aws_autoscaling_group", only(stack, "aws_autoscaling_group")[0],
                     "name")
    assert refers_to(outputs["error_topic_arn"]["value"], "aws_sns_topic", only(stack, "aws_sns_topic")[0], "arn")


# ------------------------------------------------------------------ outputs (D3)

def test_every_deliverable_output_exists_with_a_description(synthesized):
    regional = {"alb_dns_name", "asg_name", "error_topic_arn", "db_endpoint", "db_secret_arn",
                "ingest_function_arn", "regional_origin_record"}
    edge = {"cloudfront_domain_name", "cloudfront_distribution_id", "viewer_records"}
    for name, stack in synthesized.stacks.items():
        outputs = stack["output"]
        assert (edge if name.endswith("-global") else regional) <= set(outputs), name
        for key, output in outputs.items():
            assert output.get("description"), f"{name}: output {key} has no description"
            assert "sensitive" not in output, "no secret value is ever an output"

