"""modules/dns.py: the hosted zone is looked up through the DNS account's provider, or taken from the configuration."""

from __future__ import annotations

from support.configs import variant
from support.synth import synthesize
from support.tfjson import resources

from config import model


def test_hosted_zone_is_read_through_the_dns_provider(synthesized):
    zone = synthesized.stacks["prod-us-east-1"]["data"]["aws_route53_zone"]["zone"]
    assert zone == {**zone, "name": "example.com", "private_zone": False, "provider": "aws.dns"}


def test_configured_zone_id_replaces_the_lookup(default_data, tmp_path):
    data = variant(default_data, project={"hosted_zone_id": "Z0123456789ABCDEFGHIJ"})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev").stacks["dev-us-east-1"]
    assert "aws_route53_zone" not in stack.get("data", {})
    assert {r["zone_id"] for r in resources(stack, "aws_route53_record").values()} == {"Z0123456789ABCDEFGHIJ"}
