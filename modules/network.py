"""The region's VPC (R1): three subnet tiers, NAT per policy, endpoints, flow logs (F12).

Subnet plan: the VPC block is cut into 16 equal parts; tier t in availability zone i takes
part 4*t + i (public 0-3, app 4-7, database 8-11; 12-15 stay free for a future tier). With
the default /17 every subnet is a /21. The database tier's route table has no route at all
beyond the VPC: it cannot reach or be reached from the internet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cdktf import Fn
from constructs import Construct

from config import groups
from config.choices import NatPolicy
from config.naming import Namer
from modules import aws
from modules.kms import EncryptionKey, ImportedKey
from modules.policy import Condition, Statement, document, trust

TIERS = ("public", "app", "db")
MAX_AZS = 4
SUBNET_SPLIT_BITS = 4  # 16 parts: 3 tiers x 4 zones + 4 spare
GATEWAY_ENDPOINTS = ("s3", "dynamodb")
# What the instances (SSM agent, app) and Lambda call: Systems Manager (three endpoints for
# Session Manager), Secrets Manager, CloudWatch Logs, KMS, SNS, STS.
INTERFACE_ENDPOINTS = ("ssm", "ssmmessages", "ec2messages", "secretsmanager", "logs", "kms", "sns", "sts")


@dataclass(frozen=True)
class NetworkProps:
    namer: Namer
    region: str
    cidr: str
    settings: groups.Network  # zones, NAT policy, interface endpoints
    log_retention_days: int
    kms_key: EncryptionKey | ImportedKey  # the flow log group; the network admits it itself
    account_token: str  # token
    partition: str  # token


def subnet_plan(cidr: str, az_count: int) -> dict[str, list[str]]:
    """CIDR of every subnet by tier, computed at synth time so reviewers see real blocks."""
    if not 2 <= az_count <= MAX_AZS:
        raise ValueError(f"az_count {az_count} outside 2..{MAX_AZS}")
    parts = list(ipaddress.IPv4Network(cidr).subnets(prefixlen_diff=SUBNET_SPLIT_BITS))
    return {tier: [str(parts[MAX_AZS * t + i]) for i in range(az_count)] for t, tier in enumerate(TIERS)}


class Network(Construct):
    """VPC, subnets, gateways, route tables, endpoints, locked default SG and flow logs.

    Exposes `vpc`, `subnet_ids` (by tier), `route_tables` (by tier) and `cidr`."""

    def __init__(self, scope: Construct, construct_id: str, props: NetworkProps):
        super().__init__(scope, construct_id)
        self.props = p = props
        n = p.namer
        self.cidr = p.cidr
        az_count = p.settings.az_count
        plan = subnet_plan(p.cidr, az_count)
        zones = aws.data_aws_availability_zones.DataAwsAvailabilityZones(
            self,
            "zones",
            state="available",
            filter=[
                aws.data_aws_availability_zones.DataAwsAvailabilityZonesFilter(
                    name="opt-in-status", values=["opt-in-not-required"]
                )
            ],
        )  # no Local/Wavelength zones
        self.vpc = aws.vpc.Vpc(
            self,
            "vpc",
            cidr_block=p.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=n.resource_tags("vpc"),
        )
        # element() would wrap around silently in a region with fewer zones: fail the plan instead.
        self.vpc.add_override(
            "lifecycle.precondition",
            [
                {
                    "condition": f"${{length({zones.fqn}.names) >= {az_count}}}",
                    "error_message": f"The region {p.region} offers fewer than az_count = {az_count} availability "
                    "zones; lower az_count for this environment.",
                }
            ],
        )
        # Each attribute read is a jsii round trip that returns the same token: read once.
        self.vpc_id: str = self.vpc.id
        zone_names = zones.names
        self.subnets: dict[str, list] = {}
        for tier in TIERS:
            self.subnets[tier] = [
                aws.subnet.Subnet(
                    self,
                    f"{tier}-{i}",
                    vpc_id=self.vpc_id,
                    cidr_block=block,
                    availability_zone=Fn.element(zone_names, i),
                    map_public_ip_on_launch=False,  # nothing public runs on instances
                    tags=n.resource_tags(f"{tier}-{i + 1}"),
                )
                for i, block in enumerate(plan[tier])
            ]
        self.subnet_ids = {tier: [s.id for s in subnets] for tier, subnets in self.subnets.items()}
        self._routing(zones)
        self._endpoints()
        # With no ingress or egress blocks, Terraform strips every rule from the default group.
        aws.default_security_group.DefaultSecurityGroup(
            self, "default-sg", vpc_id=self.vpc_id, tags=n.resource_tags("default", "security_group")
        )
        self._flow_logs()

    def _routing(self, zones) -> None:
        p, n = self.props, self.props.namer
        igw = aws.internet_gateway.InternetGateway(self, "igw", vpc_id=self.vpc_id, tags=n.resource_tags("igw"))
        nat_count = p.settings.az_count if p.settings.nat_policy == NatPolicy.PER_AZ else 1
        self.nat_gateways = []
        for i in range(nat_count):
            eip = aws.eip.Eip(
                self, f"nat-eip-{i}", domain="vpc", tags=n.resource_tags(f"nat-{i + 1}"), depends_on=[igw]
            )
            self.nat_gateways.append(
                aws.nat_gateway.NatGateway(
                    self,
                    f"nat-{i}",
                    allocation_id=eip.allocation_id,
                    subnet_id=self.subnets["public"][i].id,
                    connectivity_type="public",
                    tags=n.resource_tags(f"nat-{i + 1}"),
                    depends_on=[igw],
                )
            )

        public = aws.route_table.RouteTable(self, "rt-public", vpc_id=self.vpc_id, tags=n.resource_tags("public"))
        aws.route.Route(
            self, "public-internet", route_table_id=public.id, destination_cidr_block="0.0.0.0/0", gateway_id=igw.id
        )
        # One app route table per zone, so switching the NAT policy only changes routes.
        app = []
        for i in range(p.settings.az_count):
            table = aws.route_table.RouteTable(
                self, f"rt-app-{i}", vpc_id=self.vpc_id, tags=n.resource_tags(f"app-{i + 1}")
            )
            nat = self.nat_gateways[i if p.settings.nat_policy == NatPolicy.PER_AZ else 0]
            aws.route.Route(
                self,
                f"app-{i}-internet",
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
            )
            app.append(table)
        database = aws.route_table.RouteTable(self, "rt-db", vpc_id=self.vpc_id, tags=n.resource_tags("db"))
        self.route_tables = {"public": [public], "app": app, "db": [database]}
        for tier, subnets in self.subnets.items():
            for i, subnet in enumerate(subnets):
                table = self.route_tables[tier][i if tier == "app" else 0]
                aws.route_table_association.RouteTableAssociation(
                    self, f"{tier}-{i}-rt", subnet_id=subnet.id, route_table_id=table.id
                )

    def _endpoints(self) -> None:
        p, n = self.props, self.props.namer
        app_tables = [t.id for t in self.route_tables["app"]]
        for service in GATEWAY_ENDPOINTS:  # free: S3 and DynamoDB traffic skips the NAT gateways
            aws.vpc_endpoint.VpcEndpoint(
                self,
                f"endpoint-{service}",
                vpc_id=self.vpc_id,
                service_name=f"com.amazonaws.{p.region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=app_tables,
                tags=n.resource_tags(f"{service}-endpoint"),
            )
        self.endpoint_security_group = None
        if not p.settings.interface_endpoints:
            return
        sg = aws.security_group.SecurityGroup(
            self,
            "endpoints-sg",
            name=n.name("endpoints", "security_group"),
            vpc_id=self.vpc_id,
            description="Interface endpoints: HTTPS from inside the VPC only",
            tags=n.resource_tags("endpoints", "security_group"),
        )
        aws.vpc_security_group_ingress_rule.VpcSecurityGroupIngressRule(
            self,
            "endpoints-https",
            security_group_id=sg.id,
            cidr_ipv4=p.cidr,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to AWS APIs from the VPC",
            tags=n.resource_tags("endpoints-https"),
        )
        self.endpoint_security_group = sg
        for service in INTERFACE_ENDPOINTS:
            aws.vpc_endpoint.VpcEndpoint(
                self,
                f"endpoint-{service}",
                vpc_id=self.vpc_id,
                service_name=f"com.amazonaws.{p.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.subnet_ids["app"],
                security_group_ids=[sg.id],
                tags=n.resource_tags(f"{service}-endpoint"),
            )

    def _flow_logs(self) -> None:
        p, n = self.props, self.props.namer
        p.kms_key.admit_log_group(n.prefix)
        self.flow_log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "flow-logs",
            name=n.name("flow-logs", "log_group"),
            retention_in_days=p.log_retention_days,
            kms_key_id=p.kms_key.arn,
            tags=n.resource_tags("flow-logs", "log_group"),
        )
        trust_policy = trust(
            self,
            "flow-logs-trust",
            "VpcFlowLogsOnly",
            "vpc-flow-logs.amazonaws.com",
            (
                Condition("StringEquals", "aws:SourceAccount", (p.account_token,)),
                Condition(
                    "ArnLike", "aws:SourceArn", (f"arn:{p.partition}:ec2:{p.region}:{p.account_token}:vpc-flow-log/*",)
                ),
            ),
        )
        self.flow_log_role = aws.iam_role.IamRole(
            self,
            "flow-logs-role",
            name=n.name("flow-logs", "iam_role"),
            assume_role_policy=trust_policy.json,
            description="Lets VPC Flow Logs write to its own log group",
            max_session_duration=3600,
            tags=n.resource_tags("flow-logs", "iam_role"),
        )
        group = self.flow_log_group.arn
        permissions = document(
            self,
            "flow-logs-write",
            [
                Statement(
                    "WriteFlowLogGroupOnly",
                    ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
                    (group, f"{group}:*"),
                )
            ],
        )
        aws.iam_role_policy.IamRolePolicy(
            self,
            "flow-logs-policy",
            name=n.name("flow-logs", "iam_policy"),
            role=self.flow_log_role.id,
            policy=permissions.json,
        )
        self.flow_log = aws.flow_log.FlowLog(
            self,
            "flow-log",
            vpc_id=self.vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group,
            iam_role_arn=self.flow_log_role.arn,
            max_aggregation_interval=60,
            tags=n.resource_tags("flow-log"),
        )
