"""One CloudFront distribution per environment (R10, F8).

- Viewers: HTTPS only (HTTP redirects), TLSv1.2_2021 minimum, HTTP/2 and HTTP/3, IPv6, on
  `app.<env domain>` plus configured aliases, with the DNS-validated us-east-1 certificate.
- Default behavior: every method, to `origin.<env domain>`: the Route 53 name that answers with
  the closest or the surviving healthy region, so writes fail over too. Not cached
  (Managed-CachingDisabled); the viewer request is forwarded except its Host header
  (Managed-AllViewerExceptHostHeader), so the load balancer sees its own certificate's name.
- Read-only path patterns (`static_paths`, default /static/*): an origin group, the first region
  then, on 500/502/503/504, the second: a group has exactly two origins, so with a failover chain
  of three or more regions the second is the chain's `failover-1` name, which fails over through
  every other region in turn. Cached (Managed-CachingOptimized). Only GET/HEAD/OPTIONS:
  CloudFront rejects an origin group on a behavior that allows POST, PUT, PATCH or DELETE.
- Origins: HTTPS only, TLS 1.2, to names the regional certificates cover, each request carrying
  the origin-verify header the load balancers require.
- A response headers policy adds HSTS, nosniff, frame denial, a strict referrer policy.

The AWS-managed policies are attached by their fixed IDs rather than looked up by name: a
lookup lists the account's policies at plan time, which needs cloudfront:ListCachePolicies /
ListOriginRequestPolicies on the deploy role and which emulators such as moto do not answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from config.choices import PriceClass
from config.naming import Namer
from modules import aws
from modules.origin_verify import HEADER

ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
READ_METHODS = ["GET", "HEAD", "OPTIONS"]
CACHED_METHODS = ["GET", "HEAD"]
FAILOVER_STATUS_CODES = [500, 502, 503, 504]
DEFAULT_ORIGIN = "origin"
GROUP_ORIGIN = "regions"

# AWS-managed policy IDs are fixed and the same in every account. Source: Amazon CloudFront
# Developer Guide, "Use managed cache policies"
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html)
# and "Use managed origin request policies"
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html).
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # Managed-CachingOptimized
# Managed-AllViewerExceptHostHeader: every viewer header, cookie and query string except Host.
ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


@dataclass(frozen=True)
class DistributionProps:
    namer: Namer
    viewer_names: tuple[str, ...]  # app.<env domain> first
    origin_name: str  # origin.<env domain>
    # The origin group's members in failover order: the first region's own name, then the second
    # region's or the name failing over through the rest (one name: a single region, no group).
    group_origin_names: tuple[str, ...]
    static_paths: tuple[str, ...]
    certificate_arn: str  # the us-east-1 validation's ARN
    origin_verify_value: str
    price_class: PriceClass
    web_acl_arn: str | None


class Distribution(Construct):
    """Exposes `distribution`."""

    def __init__(self, scope: Construct, construct_id: str, props: DistributionProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        cf = aws.cloudfront_distribution
        headers = self._security_headers(n)

        def origin(origin_id: str, domain: str):
            return cf.CloudfrontDistributionOrigin(
                origin_id=origin_id,
                domain_name=domain,
                custom_origin_config=cf.CloudfrontDistributionOriginCustomOriginConfig(
                    http_port=80,
                    https_port=443,
                    origin_protocol_policy="https-only",
                    origin_ssl_protocols=["TLSv1.2"],
                    origin_read_timeout=30,
                    origin_keepalive_timeout=5,
                ),
                custom_header=[cf.CloudfrontDistributionOriginCustomHeader(name=HEADER, value=p.origin_verify_value)],
            )

        if not 1 <= len(p.group_origin_names) <= 2:
            raise ValueError(f"an origin group has one or two origins, got {p.group_origin_names}")
        origins = [origin(DEFAULT_ORIGIN, p.origin_name)]
        origins += [origin(self.regional_id(i), name) for i, name in enumerate(p.group_origin_names)]
        groups = []
        static_target = self.regional_id(0)
        if len(p.group_origin_names) == 2:
            groups = [
                cf.CloudfrontDistributionOriginGroup(
                    origin_id=GROUP_ORIGIN,
                    failover_criteria=cf.CloudfrontDistributionOriginGroupFailoverCriteria(
                        status_codes=FAILOVER_STATUS_CODES
                    ),
                    member=[
                        cf.CloudfrontDistributionOriginGroupMember(origin_id=self.regional_id(i)) for i in range(2)
                    ],
                )
            ]
            static_target = GROUP_ORIGIN
        self.distribution = cf.CloudfrontDistribution(
            self,
            "distribution",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            comment=f"{n.environment}: {p.viewer_names[0]}",
            aliases=list(p.viewer_names),
            price_class=p.price_class,
            web_acl_id=p.web_acl_arn,
            origin=origins,
            origin_group=groups or None,
            default_cache_behavior=cf.CloudfrontDistributionDefaultCacheBehavior(
                target_origin_id=DEFAULT_ORIGIN,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=ALL_METHODS,
                cached_methods=CACHED_METHODS,
                compress=True,
                cache_policy_id=CACHING_DISABLED_POLICY_ID,
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID,
                response_headers_policy_id=headers.id,
            ),
            ordered_cache_behavior=[
                cf.CloudfrontDistributionOrderedCacheBehavior(
                    path_pattern=path,
                    target_origin_id=static_target,
                    viewer_protocol_policy="redirect-to-https",
                    allowed_methods=READ_METHODS,
                    cached_methods=CACHED_METHODS,
                    compress=True,
                    cache_policy_id=CACHING_OPTIMIZED_POLICY_ID,
                    origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID,
                    response_headers_policy_id=headers.id,
                )
                for path in p.static_paths
            ]
            or None,
            restrictions=cf.CloudfrontDistributionRestrictions(
                geo_restriction=cf.CloudfrontDistributionRestrictionsGeoRestriction(restriction_type="none")
            ),
            viewer_certificate=cf.CloudfrontDistributionViewerCertificate(
                acm_certificate_arn=p.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            ),
            tags=n.resource_tags("cdn"),
        )

    @staticmethod
    def regional_id(index: int) -> str:
        """The origin id of the group's member at `index` (kept from when members were always
        regions, so existing distributions keep their origin ids)."""
        return f"region-{index + 1}"

    def _security_headers(self, n: Namer):
        rh = aws.cloudfront_response_headers_policy
        sec = rh.CloudfrontResponseHeadersPolicySecurityHeadersConfig
        return rh.CloudfrontResponseHeadersPolicy(
            self,
            "security-headers",
            name=n.name("security-headers"),
            comment="HSTS, nosniff, frame denial, strict referrer",
            security_headers_config=sec(
                strict_transport_security=rh.CloudfrontResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurity(
                    access_control_max_age_sec=63072000, include_subdomains=True, preload=True, override=True
                ),
                content_type_options=rh.CloudfrontResponseHeadersPolicySecurityHeadersConfigContentTypeOptions(
                    override=True
                ),
                frame_options=rh.CloudfrontResponseHeadersPolicySecurityHeadersConfigFrameOptions(
                    frame_option="DENY", override=True
                ),
                referrer_policy=rh.CloudfrontResponseHeadersPolicySecurityHeadersConfigReferrerPolicy(
                    referrer_policy="strict-origin-when-cross-origin", override=True
                ),
                xss_protection=rh.CloudfrontResponseHeadersPolicySecurityHeadersConfigXssProtection(
                    protection=True, mode_block=True, override=True
                ),
            ),
        )
