"""What a real organisation has before any stack runs, created on the emulator with boto3.

- The public hosted zone of the configured domain, in the DNS account (`data.aws_route53_zone`).
- In every (account, region): the AWS-managed prefix list `com.amazonaws.<region>.route53-healthchecks`
  (`data.aws_ec2_managed_prefix_list`; moto 5.2.5 lacks it: `no matching EC2 Managed Prefix List
  found`), and `com.amazonaws.global.cloudfront.origin-facing` should moto ever lack it (5.2.5 makes it
  in every account and region).

Each account is reached the way the Terraform providers reach it: sts:AssumeRole into
`arn:aws:iam::<account>:role/<name>`, whose keys moto maps to that account. Idempotent: what exists
is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import boto3

from config.facts import role_arn

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
SEED_ROLE = "e2e-seed"
ROUTE53_HEALTHCHECKS = "com.amazonaws.{region}.route53-healthchecks"
CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
# Route 53 health checkers' ranges (AWS ip-ranges.json, service ROUTE53_HEALTHCHECKS)
HEALTH_CHECKER_CIDRS = (
    "107.23.255.0/26",
    "54.243.31.192/26",
    "54.244.52.192/26",
    "54.245.168.0/26",
    "176.34.159.192/26",
    "54.228.16.0/26",
)
ORIGIN_FACING_CIDRS = ("130.176.0.0/18", "15.158.0.0/16", "64.252.64.0/18", "70.132.0.0/18")


def client(url: str, service: str, account: str | None = None, region: str = "us-east-1") -> Any:
    """A boto3 client on the emulator: in moto's default account, or in `account` through an assumed role."""
    settings: dict[str, Any] = {"endpoint_url": url, "region_name": region, **CREDENTIALS}
    if account is not None:
        sts = boto3.client("sts", **settings)
        keys = sts.assume_role(RoleArn=role_arn(account, SEED_ROLE), RoleSessionName="e2e-seed")["Credentials"]
        settings.update(
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys["SessionToken"],
        )
    return boto3.client(service, **settings)


def _hosted_zone(route53: Any, domain: str) -> tuple[str, bool]:
    """(zone id, created) for the public zone of `domain`."""
    name = domain.rstrip(".") + "."
    for zone in route53.list_hosted_zones_by_name(DNSName=name)["HostedZones"]:
        if zone["Name"] == name and not zone.get("Config", {}).get("PrivateZone"):
            return zone["Id"].rsplit("/", 1)[-1], False
    zone = route53.create_hosted_zone(
        Name=name,
        CallerReference=f"e2e-seed-{uuid.uuid4()}",
        HostedZoneConfig={"Comment": "seeded by the e2e test", "PrivateZone": False},
    )
    return zone["HostedZone"]["Id"].rsplit("/", 1)[-1], True


def _prefix_list(ec2: Any, name: str, cidrs: Iterable[str], description: str) -> tuple[str, bool]:
    """(prefix list id, created) for the managed prefix list called `name`."""
    found = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [name]}])
    if found["PrefixLists"]:
        return found["PrefixLists"][0]["PrefixListId"], False
    entries = [{"Cidr": cidr, "Description": description} for cidr in cidrs]
    made = ec2.create_managed_prefix_list(
        PrefixListName=name, AddressFamily="IPv4", MaxEntries=len(entries), Entries=entries
    )
    return made["PrefixList"]["PrefixListId"], True


def seed(url: str, *, dns_account: str, domain: str, accounts_regions: Iterable[tuple[str, str]]) -> list[str]:
    """Create what the stacks read but do not make; returns one line per item, for printing."""
    done: list[str] = []
    zone_id, created = _hosted_zone(client(url, "route53", dns_account), domain)
    done.append(f"hosted zone {domain} ({zone_id}) in {dns_account}: {'created' if created else 'present'}")
    for account, region in sorted(set(accounts_regions)):
        ec2 = client(url, "ec2", account, region)
        for name, cidrs, description in (
            (ROUTE53_HEALTHCHECKS.format(region=region), HEALTH_CHECKER_CIDRS, "Route 53 health checkers"),
            (CLOUDFRONT_ORIGIN_FACING, ORIGIN_FACING_CIDRS, "CloudFront origin-facing servers"),
        ):
            list_id, created = _prefix_list(ec2, name, cidrs, description)
            done.append(f"prefix list {name} ({list_id}) in {account} {region}: {'created' if created else 'present'}")
    return done


def zone_id(url: str, dns_account: str, domain: str) -> str:
    """The id of the public zone of `domain` in `dns_account` (seeded first, so it exists)."""
    return _hosted_zone(client(url, "route53", dns_account), domain)[0]
