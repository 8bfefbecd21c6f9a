"""The instances behind the load balancer and how their number follows traffic (R7, R14, R15, F10).

Capacity model, so that Terraform and the scaling policies never fight:
- `min_size` is the Terraform variable `instance_count` (validated >= 2, <= max): the
  per-region baseline. Changing it (`-var instance_count=5`) changes only `min_size`; the
  group immediately launches up to the new minimum, or lets target tracking scale in towards
  a lower one.
- `desired_capacity` is never set by Terraform. The group starts at its minimum and the
  target-tracking policies own the desired count between min and max from then on, so a plan
  after a scale-out shows no drift and an apply never resets capacity in the middle of a peak.
- `max_size` comes from the environment's `max_capacity`.

Scaling: target tracking on ALBRequestCountPerTarget (the real traffic signal, R14), plus CPU
target tracking as a guard for expensive requests. With two target-tracking policies the group
scales out when either asks and in only when both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import Token
from constructs import Construct

import webapp
from config import groups
from config.facts import WEB_ROLE_KIND, WEB_SERVICE
from config.naming import Namer
from modules import aws, userdata
from modules.bucket import SecureBucket
from modules.connections import Connections
from modules.kms import THIS_KEY, USE_ACTIONS, EncryptionKey, ImportedKey
from modules.policy import Condition, Statement, attach_managed, document, trust

AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{architecture}"
ROOT_DEVICE = "/dev/xvda"
GRACE_PERIOD = 300
WARMUP = 180
# The SSM agent ships with Amazon Linux 2023 (operators and `smoke` reach the instances through it).
# No CloudWatch agent runs (user data installs none), so its policy is not attached: see
# tests/test_iam_grants.py, which derives each managed policy from what the instances run.
MANAGED_POLICIES = ("AmazonSSMManagedInstanceCore",)


@dataclass(frozen=True)
class ComputeProps:
    namer: Namer
    environment: str
    region: str
    vpc_id: str
    app_subnet_ids: list[str]
    target_group_arn: str
    alb_arn_suffix: str
    target_group_arn_suffix: str
    scaling: groups.Scaling  # the environment's scaling settings, whole (the architecture follows the type)
    instance_count: float  # the Terraform variable's value (a token), bounded by the scaling settings
    kms_key: EncryptionKey | ImportedKey  # volumes and the secret; Compute grants itself their use
    secret_arns: tuple[str, ...] = ()  # Secrets Manager secrets the application reads
    # `rds-db:connect` ARNs (arn:...:rds-db:<region>:<account>:dbuser:<resource id>/<user>): the
    # database users the application may sign IAM authentication tokens for
    db_connect_arns: tuple[str, ...] = ()
    app_environment: dict[str, str] | None = None  # extra service settings (may hold tokens)
    # the region's bucket the webapp bundle is uploaded to (modules/userdata.py WebappBundle); it
    # grants the instances' read of the bundle. None embeds the bundle in user data, which it has outgrown
    bundle_bucket: SecureBucket | None = None


def grant_volume_encryption(key: EncryptionKey | ImportedKey) -> None:
    """What encrypted instance volumes need in the key policy: use through EC2, and the Auto
    Scaling service-linked role encrypting the volumes of the instances it launches. That role
    exists once Auto Scaling has been used in the account; a key policy may not name a missing
    principal, so it is matched by ARN instead."""
    key.grant_via_service("ec2")
    if isinstance(key, ImportedKey):
        return
    k = key.props
    asg_role = (
        f"arn:{k.partition}:iam::{k.account_token}:role/aws-service-role/"
        "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
    this_role = (
        Condition("StringEquals", "aws:PrincipalArn", (asg_role,)),
        Condition("StringEquals", "kms:CallerAccount", (k.account_token,)),
    )
    key.add_to_resource_policy(
        Statement("AutoScalingEncryptsInstanceVolumes", USE_ACTIONS, THIS_KEY, {"AWS": ("*",)}, this_role)
    )
    key.add_to_resource_policy(
        Statement(
            "AutoScalingGrantsForVolumes",
            ("kms:CreateGrant",),
            THIS_KEY,
            {"AWS": ("*",)},
            (*this_role, Condition("Bool", "kms:GrantIsForAWSResource", ("true",))),
        )
    )


class Compute(Construct):
    """Exposes `security_group`, `connections` (its group, for `allow_from`), `port` (the service
    port), `role`, `launch_template`, `asg`."""

    def __init__(self, scope: Construct, construct_id: str, props: ComputeProps):
        super().__init__(scope, construct_id)
        self.props = props
        self.port = webapp.PORT
        grant_volume_encryption(props.kms_key)
        if props.secret_arns:
            props.kms_key.grant_via_service("secretsmanager")
        self.bundle = None
        if props.bundle_bucket is not None:
            self.bundle = userdata.WebappBundle(
                self, "bundle", userdata.WebappBundleProps(props.namer, props.region, props.bundle_bucket)
            )
        self._security_group()
        self._role()
        self._launch_template()
        self._group()
        self._scaling()

    def _security_group(self) -> None:
        p, n = self.props, self.props.namer
        self.security_group = aws.security_group.SecurityGroup(
            self,
            "sg",
            name=n.name("web", "security_group"),
            vpc_id=p.vpc_id,
            description="Instances: the service port from the load balancer only",
            tags=n.resource_tags("web", "security_group"),
        )
        sg = self.security_group.id
        # Who may reach the service port (the load balancer), and what the instances may reach
        # besides AWS APIs (the database), is wired by the stack through `connections`: each
        # connection writes the ingress and the matching egress together.
        self.connections = Connections(self, n, "web", sg)
        # HTTPS out: OS packages (S3-hosted repositories via the gateway endpoint), SSM, Secrets
        # Manager, KMS, CloudWatch. AWS APIs have no fixed addresses to narrow this to.
        aws.vpc_security_group_egress_rule.VpcSecurityGroupEgressRule(
            self,
            "https-out",
            security_group_id=sg,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to AWS APIs and package repositories",
            tags=n.resource_tags("web-https-out"),
        )

    def _role(self) -> None:
        p, n = self.props, self.props.namer
        trust_policy = trust(self, "trust", "Ec2Assumes", "ec2.amazonaws.com")
        self.role = aws.iam_role.IamRole(
            self,
            "role",
            name=n.name(WEB_SERVICE, WEB_ROLE_KIND),
            assume_role_policy=trust_policy.json,
            max_session_duration=3600,
            description="Web instances: SSM, their database user and the application's own secret",
            tags=n.resource_tags(WEB_SERVICE, WEB_ROLE_KIND),
        )
        for policy in MANAGED_POLICIES:
            attach_managed(self, policy, self.role.name, policy)
        statements = []
        if self.bundle:
            statements += self.bundle.statements
        if p.db_connect_arns:
            statements.append(Statement("ConnectToDatabase", ("rds-db:connect",), p.db_connect_arns))
        if p.secret_arns:
            statements += [
                Statement("ReadOwnSecret", ("secretsmanager:GetSecretValue",), p.secret_arns),
                Statement(
                    "DecryptOwnSecret",
                    ("kms:Decrypt",),
                    (p.kms_key.arn,),
                    conditions=(
                        Condition("StringEquals", "kms:ViaService", (f"secretsmanager.{p.region}.amazonaws.com",)),
                    ),
                ),
            ]
        if statements:
            grant = document(self, "app-policy", statements)
            aws.iam_role_policy.IamRolePolicy(
                self, "app", name=n.name("web-app", "iam_policy"), role=self.role.id, policy=grant.json
            )
        self.instance_profile = aws.iam_instance_profile.IamInstanceProfile(
            self,
            "profile",
            name=n.name("web", "instance_profile"),
            role=self.role.name,
            tags=n.resource_tags("web", "instance_profile"),
        )

    def _launch_template(self) -> None:
        p, n = self.props, self.props.namer
        lt = aws.launch_template
        ami = aws.data_aws_ssm_parameter.DataAwsSsmParameter(
            self, "ami", name=AMI_PARAMETER.format(architecture=p.scaling.architecture)
        )
        tags = n.tags("web")
        self.launch_template = lt.LaunchTemplate(
            self,
            "template",
            name=n.name("web", "launch_template"),
            description="Web instances (Amazon Linux 2023)",
            # a new version (and its instance refresh) only once the bundle its user data fetches is there
            depends_on=[self.bundle.object] if self.bundle else None,
            image_id=ami.insecure_value,  # a public parameter: not a secret, and the plan should show it
            instance_type=p.scaling.instance_type,
            update_default_version=True,
            iam_instance_profile=lt.LaunchTemplateIamInstanceProfile(arn=self.instance_profile.arn),
            metadata_options=lt.LaunchTemplateMetadataOptions(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            network_interfaces=[
                lt.LaunchTemplateNetworkInterfaces(
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[self.security_group.id],
                )
            ],
            block_device_mappings=[
                lt.LaunchTemplateBlockDeviceMappings(
                    device_name=ROOT_DEVICE,
                    ebs=lt.LaunchTemplateBlockDeviceMappingsEbs(
                        volume_type="gp3",
                        volume_size=20,
                        encrypted="true",
                        kms_key_id=p.kms_key.arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            monitoring=lt.LaunchTemplateMonitoring(enabled=True),
            user_data=userdata.encoded(
                {
                    "WEBAPP_ENVIRONMENT": p.environment,
                    "WEBAPP_REGION": p.region,
                    "WEBAPP_PORT": str(webapp.PORT),
                    **(p.app_environment or {}),
                },
                self.bundle.location if self.bundle else None,
            ),
            tag_specifications=[
                lt.LaunchTemplateTagSpecifications(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=n.resource_tags("web", "launch_template"),
        )

    def _group(self) -> None:
        p, n = self.props, self.props.namer
        asg = aws.autoscaling_group
        self.asg = asg.AutoscalingGroup(
            self,
            "asg",
            name=n.name("web", "asg"),
            min_size=p.instance_count,  # the baseline; desired capacity belongs to the policies
            max_size=p.scaling.max_capacity,
            vpc_zone_identifier=p.app_subnet_ids,
            target_group_arns=[p.target_group_arn],
            health_check_type="ELB",
            health_check_grace_period=GRACE_PERIOD,
            default_instance_warmup=WARMUP,
            launch_template=asg.AutoscalingGroupLaunchTemplate(
                id=self.launch_template.id, version=Token.as_string(self.launch_template.latest_version)
            ),
            instance_refresh=asg.AutoscalingGroupInstanceRefresh(
                strategy="Rolling",
                # Launch a replacement before terminating: capacity never drops during a refresh.
                preferences=asg.AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=100, max_healthy_percentage=150, instance_warmup=str(WARMUP)
                ),
            ),
            enabled_metrics=[
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupMinSize",
                "GroupMaxSize",
                "GroupPendingInstances",
                "GroupTerminatingInstances",
                "GroupTotalInstances",
            ],
            tag=[
                asg.AutoscalingGroupTag(key=k, value=v, propagate_at_launch=False)
                for k, v in n.tags("web", "asg").items()
            ],
        )  # default_tags never reach ASGs

    def _scaling(self) -> None:
        p, n = self.props, self.props.namer
        ap = aws.autoscaling_policy
        aws_tt = ap.AutoscalingPolicyTargetTrackingConfiguration
        metric = ap.AutoscalingPolicyTargetTrackingConfigurationPredefinedMetricSpecification
        self.request_scaling = ap.AutoscalingPolicy(
            self,
            "requests-per-target",
            name=n.name("requests-per-target"),
            autoscaling_group_name=self.asg.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=aws_tt(
                target_value=p.scaling.requests_per_target,
                predefined_metric_specification=metric(
                    predefined_metric_type="ALBRequestCountPerTarget",
                    resource_label=f"{p.alb_arn_suffix}/{p.target_group_arn_suffix}",
                ),
            ),
        )
        self.cpu_scaling = ap.AutoscalingPolicy(
            self,
            "cpu",
            name=n.name("cpu-target"),
            autoscaling_group_name=self.asg.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=aws_tt(
                target_value=p.scaling.cpu_target,
                predefined_metric_specification=metric(predefined_metric_type="ASGAverageCPUUtilization"),
            ),
        )
