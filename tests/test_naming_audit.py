"""F11/R17: every named resource and every `Name` tag in every stack follows the pattern.

Grows with each issue automatically: it reads whatever the stacks contain. A resource type
whose `name` is not an AWS resource name of ours (a DNS record, say) is listed in
NOT_OUR_NAMES with the reason."""

from __future__ import annotations

from support.tfjson import all_resources

from config import naming
from config.regions import GLOBAL

NAME_ATTRIBUTES = (
    "name",
    "name_prefix",
    "function_name",
    "bucket",
    "identifier",
    "db_subnet_group_name",
    "role_name",
    "topic_name",
    "queue_name",
    "alarm_name",
    "rule_name",
    "budget_name",
)
NOT_OUR_NAMES = {
    "aws_route53_record": "the name is a DNS name under the configured domain",
    "aws_route53_zone": "the name is the domain",
    "aws_acm_certificate": "certificates are named by their domain names",
    "aws_iam_role_policy_attachment": "attachments have no name",
}


def literal(value) -> bool:
    return isinstance(value, str) and "${" not in value


def namer_for(config, stack_name):
    spec = next(s for s in config.stacks() if s.name == stack_name)
    return config.namer(config.environments[spec.environment], spec.region), spec


def test_every_stack_name_comes_from_the_naming_helper(default_config, synthesized):
    for name in synthesized.stacks:
        _, spec = namer_for(default_config, name)
        assert name == naming.stack_name(spec.environment, spec.region if spec.role != "edge" else GLOBAL)


def audit(config, stacks: dict[str, dict]) -> tuple[int, list[str]]:
    """(how many names were checked, the ones that do not follow the pattern)."""
    audited, offenders = 0, []
    for stack_name, stack in stacks.items():
        namer, _ = namer_for(config, stack_name)
        for type_, logical, body in all_resources(stack):
            values = [] if type_ in NOT_OUR_NAMES else [body[a] for a in NAME_ATTRIBUTES if literal(body.get(a))]
            tags = body.get("tags") or {}
            if isinstance(tags, dict) and literal(tags.get("Name")):
                values.append(tags["Name"])
            for value in values:
                audited += 1
                value = naming.unwrap(value)
                if not namer.matches(value):
                    offenders.append(f"{stack_name}: {type_}.{logical}: {value!r}")
    return audited, offenders


def test_every_named_resource_and_name_tag_follows_the_pattern(default_config, synthesized):
    audited, offenders = audit(default_config, synthesized.stacks)
    assert audited >= 25 * 6, f"only {audited} names audited: is the audit still reading the stacks?"
    assert not offenders, "names that skip the naming helper:\n" + "\n".join(offenders)


def test_the_audit_catches_a_hand_written_name(default_config, synthesized):
    """Proves the audit above is not vacuous: it flags names and tags made without the helper."""
    stack = {"resource": {}}
    good = default_config.namer(default_config.environments["dev"], "us-east-1").name("web", "security_group")
    stack["resource"]["aws_security_group"] = {
        "good": {"name": good, "tags": {"Name": good}},
        "bad": {"name": "web-sg", "tags": {"Name": "dev-us-east-1-web"}},
        "token": {"name": "${var.x}"},
    }
    stack["resource"]["aws_route53_record"] = {"dns": {"name": "app.dev.example.com"}}
    audited, offenders = audit(default_config, {"dev-us-east-1": stack})
    assert audited == 4
    assert offenders == [
        "dev-us-east-1: aws_security_group.bad: 'web-sg'",
        "dev-us-east-1: aws_security_group.bad: 'dev-us-east-1-web'",
    ]


def taggable(resource_type: str) -> bool:
    """Whether the provider's binding for `resource_type` accepts `tags` (its schema has them).
    Terraform's built-in resources (terraform_data) belong to no provider and have no tags."""
    import inspect

    if resource_type.startswith("terraform_"):
        return False

    from modules import aws

    module = getattr(aws, resource_type.removeprefix("aws_"))
    from cdktf import TerraformResource

    classes = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, TerraformResource) and c.__module__ == module.__name__
    ]
    assert len(classes) == 1, resource_type
    return "tags" in inspect.signature(classes[0].__init__).parameters


def test_every_taggable_resource_is_tagged_with_a_name(synthesized):
    """Provider default_tags add the standard set; every resource whose schema has `tags` must
    also carry its own Name (and Service). ASGs take `tag` blocks instead: default_tags never
    reach them, so they carry the full set."""
    types = {t for stack in synthesized.stacks.values() for t, _, _ in all_resources(stack)}
    checked, missing = 0, []
    for stack_name, stack in synthesized.stacks.items():
        for type_, logical, body in all_resources(stack):
            if type_ == "aws_autoscaling_group":
                keys = {t["key"] for t in body["tag"]}
                if not {"Name", "Environment", "Project", "Owner", "CostCenter", "ManagedBy"} <= keys:
                    missing.append(f"{stack_name}: {type_}.{logical}")
                continue
            if not taggable(type_):
                continue
            checked += 1
            tags = body.get("tags") or {}
            if not (tags.get("Name") and tags.get("Service")):
                missing.append(f"{stack_name}: {type_}.{logical}")
    assert not missing, "taggable resources without Name/Service:\n" + "\n".join(missing)
    assert checked > 100 and len(types) > 30
