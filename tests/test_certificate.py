"""F1: modules/certificate.py, the regional origin certificate and its DNS validation records, in
every environment and region."""

from __future__ import annotations

import pytest
from support.stack_names import REGIONAL, env_of, region_of
from support.tfjson import only, refers_to, resources

# ------------------------------------------------------------------ certificates (F1)


@pytest.mark.parametrize("name", REGIONAL)
def test_regional_certificate_covers_the_origin_names_and_is_dns_validated(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    cert_name, cert = only(stack, "aws_acm_certificate")
    domain = "example.com" if env.name == "prod" else f"{env.name}.example.com"
    assert cert["domain_name"] == f"origin.{domain}"
    assert cert["subject_alternative_names"] == [f"{region_of(name)}.origin.{domain}"]
    assert cert["validation_method"] == "DNS"
    assert cert["lifecycle"]["create_before_destroy"] is True
    _, validation = only(stack, "aws_acm_certificate_validation")
    assert refers_to(validation["certificate_arn"], "aws_acm_certificate", cert_name, "arn")
    assert len(validation["validation_record_fqdns"]) == 2, "one entry per name of the certificate"


@pytest.mark.parametrize("name", REGIONAL)
def test_validation_records_one_per_name_and_the_shared_one_only_in_the_primary(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    cert_name, _ = only(stack, "aws_acm_certificate")
    records = {
        n: r for n, r in resources(stack, "aws_route53_record").items() if "domain_validation_options" in r["name"]
    }
    owned = sorted(
        n
        for n in (env.origin_domain, env.regional_origin_domain(region_of(name)))
        if any(f'["{n}"]' in r["name"] for r in records.values())
    )
    if env.is_primary(region_of(name)):
        assert owned == sorted([env.origin_domain, env.regional_origin_domain(region_of(name))])
    else:
        assert owned == [env.regional_origin_domain(region_of(name))], "secondaries never own the shared record"
    for record in records.values():
        assert record["provider"] == "aws.dns", "Route 53 changes go through the DNS account's provider"
        assert record["allow_overwrite"] is True and record["ttl"] == 60
        for key in ("name", "type"):
            assert f"{cert_name}.domain_validation_options : o.domain_name => o}}" in record[key]
        assert refers_to(record["zone_id"], "aws_route53_zone", "zone", "zone_id", data=True)
    _, validation = only(stack, "aws_acm_certificate_validation")
    fqdns = validation["validation_record_fqdns"]
    assert sum("aws_route53_record." in f for f in fqdns) == len(records)
    assert all(f'["{env.origin_domain}"]' in f for f in fqdns if "aws_route53_record." not in f)


def test_certificate_construct_rejects_owning_a_name_it_does_not_certify(tmp_path):
    from cdktf import App, TerraformStack

    from config.naming import Namer
    from modules.certificate import CertificateProps, DnsValidatedCertificate

    with pytest.raises(ValueError, match="not names of the certificate"):
        DnsValidatedCertificate(
            TerraformStack(App(outdir=str(tmp_path)), "s"),
            "c",
            CertificateProps(
                namer=Namer("dev", "us-east-1", "a1"),
                service="c",
                domain_name="a.example.com",
                alternative_names=(),
                zone_id="Z1",
                owned_names=("b.example.com",),
            ),
        )
