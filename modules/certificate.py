"""DNS-validated ACM certificates (F1): created by ACM, validated through Route 53.

Consumers get `arn` from the `aws_acm_certificate_validation`, never from the certificate,
so a listener or distribution cannot use the certificate before ACM has issued it.

One validation record per name known at synth time, read out of the certificate's
`domain_validation_options` by domain name (a for-expression map), so plans with several
names work. ACM's validation record for a name is the same for every certificate of that name
in an account: when several stacks certify the same name, exactly one of them owns the record
(`owned_names`); the others only wait for it, so destroying a secondary region never removes a
record the primary's renewals depend on.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformProvider, TerraformResourceLifecycle
from constructs import Construct

from config.naming import Namer
from modules import aws


@dataclass(frozen=True)
class CertificateProps:
    namer: Namer
    service: str  # the Name tag's service, e.g. "origin-cert"
    domain_name: str
    alternative_names: tuple[str, ...]
    zone_id: str
    owned_names: tuple[str, ...]  # names whose validation record this stack creates (and deletes)
    provider: TerraformProvider | None = None  # the certificate's region (us-east-1 for CloudFront)
    dns_provider: TerraformProvider | None = None  # Route 53, possibly in the DNS account

    @property
    def names(self) -> tuple[str, ...]:
        return (self.domain_name, *self.alternative_names)


class DnsValidatedCertificate(Construct):
    """Exposes `arn` (the validated certificate's), `certificate` and `validation_records`."""

    def __init__(self, scope: Construct, construct_id: str, props: CertificateProps):
        super().__init__(scope, construct_id)
        p = props
        unknown = set(p.owned_names) - set(p.names)
        if unknown:
            raise ValueError(f"owned_names {sorted(unknown)} are not names of the certificate {p.names}")
        self.certificate = aws.acm_certificate.AcmCertificate(
            self,
            "certificate",
            domain_name=p.domain_name,
            subject_alternative_names=list(p.alternative_names) or None,
            validation_method="DNS",
            key_algorithm="RSA_2048",
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            provider=p.provider,
            tags=p.namer.resource_tags(p.service),
        )
        self.validation_records = {}
        fqdns = []
        for index, name in enumerate(p.names):
            option = self._option(name)
            if name in p.owned_names:
                record = aws.route53_record.Route53Record(
                    self,
                    f"validation-{index}",
                    zone_id=p.zone_id,
                    name=f"${{{option}.resource_record_name}}",
                    type=f"${{{option}.resource_record_type}}",
                    records=[f"${{{option}.resource_record_value}}"],
                    ttl=60,
                    allow_overwrite=True,
                    provider=p.dns_provider,
                )
                self.validation_records[name] = record
                fqdns.append(record.fqdn)
            else:  # owned by another stack: wait for it, never create or delete it here
                fqdns.append(f'${{trimsuffix({option}.resource_record_name, ".")}}')
        self.validation = aws.acm_certificate_validation.AcmCertificateValidation(
            self, "validation", certificate_arn=self.certificate.arn, validation_record_fqdns=fqdns, provider=p.provider
        )
        self.arn: str = self.validation.certificate_arn

    def _option(self, name: str) -> str:
        """The HCL expression of `name`'s entry in domain_validation_options (without `${}`)."""
        return f'{{for o in {self.certificate.fqn}.domain_validation_options : o.domain_name => o}}["{name}"]'
