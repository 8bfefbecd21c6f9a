"""The ingest pipeline of one region (R2, F4): a SecureBucket whose `incoming/` objects invoke a
Lambda function packaged from `lambda/ingest/`.

- Bucket: SecureBucket with the region's key and access logs; nothing about its security is
  written here.
- Function: Python 3.12 on arm64, memory/timeout/reserved concurrency from configuration, X-Ray
  active, environment encrypted with the key, in the private app subnets (egress HTTPS only),
  logging JSON into its own log group (retention, key), failed asynchronous invocations to an
  encrypted SQS dead-letter queue after Lambda's retries.
- Code: the `*.py` files of lambda/ingest are staged into a clean folder (no __pycache__, so the
  hash only changes with the code) and zipped as cdktf's ARCHIVE asset zips them, once per process
  (modules/asset_archive.py); source_code_hash follows it.
- IAM: exactly what the handler and Lambda call (tests/test_iam_grants.py runs the handler and
  checks every call against this policy, and that no grant is unused): read and delete
  `incoming/*`, write `processed/*` and `quarantine/*`, read those two and list the bucket (so a
  missing result is a 404, not a 403), publish to the error topic, send to the DLQ, use the key
  through S3, SNS and SQS, write its own log group's streams; the AWS-managed VPC-access and
  X-Ray policies because ENI and trace APIs have no resource-level permissions.
- Wiring: the invoke permission for S3 names the bucket and the account; the notification,
  filtered to `incoming/`, is created after it (S3 validates the destination).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cdktf import AssetType, TerraformAsset
from constructs import Construct

from config import groups
from config.naming import Namer
from modules import asset_archive, aws
from modules.bucket import Lifecycle, SecureBucket, SecureBucketProps
from modules.kms import EncryptionKey, ImportedKey
from modules.policy import Condition, Statement, attach_managed, document, trust

SOURCE = Path(__file__).resolve().parents[1] / "lambda" / "ingest"
RUNTIME = "python3.12"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
MANAGED_POLICIES = ("AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess")


@dataclass(frozen=True)
class IngestProps:
    namer: Namer
    region: str
    account_number: str  # configuration value (bucket name)
    account_token: str  # token (policies)
    kms_key: EncryptionKey | ImportedKey  # bucket, queue, logs, environment; Ingest grants itself their use
    log_bucket: SecureBucket  # the region's access log bucket; it admits this bucket's logs
    lifecycle: Lifecycle
    force_destroy: bool
    vpc_id: str
    subnet_ids: list[str]
    error_topic_arn: str
    settings: groups.Ingest  # the environment's ingest settings, whole: the function's size and what it accepts
    log_retention_days: int
    source: Path | None = None  # default: SOURCE (lambda/ingest)


class Ingest(Construct):
    """Exposes `bucket`, `function`, `dead_letter_queue`."""

    def __init__(self, scope: Construct, construct_id: str, props: IngestProps):
        super().__init__(scope, construct_id)
        self.props = p = props
        n = p.namer
        self.bucket = SecureBucket(
            self,
            "bucket",
            SecureBucketProps(
                namer=n,
                service="ingest",
                account_number=p.account_number,
                lifecycle=p.lifecycle,
                kms_key=p.kms_key,
                access_log_bucket=p.log_bucket,
                force_destroy=p.force_destroy,
            ),
        )
        self.dead_letter_queue = aws.sqs_queue.SqsQueue(
            self,
            "dlq",
            name=n.name("ingest-dlq", "sqs_queue"),
            kms_master_key_id=p.kms_key.arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=n.resource_tags("ingest-dlq", "sqs_queue"),
        )
        function_name = n.name("ingest", "lambda")
        # The queue, the function's environment and its log group; the role's use through S3 and SNS.
        p.kms_key.grant_via_service("sqs", "lambda", "s3", "sns")
        p.kms_key.admit_log_group(n.prefix)
        self.log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "logs",
            name=n.name("ingest", "log_group"),
            retention_in_days=p.log_retention_days,
            kms_key_id=p.kms_key.arn,
            tags=n.resource_tags("ingest", "log_group"),
        )
        self.role = self._role(function_name)  # needs the bucket, queue and log group above
        self.security_group = aws.security_group.SecurityGroup(
            self,
            "sg",
            name=n.name("ingest", "security_group"),
            vpc_id=p.vpc_id,
            description="Ingest function: HTTPS out to AWS APIs only",
            tags=n.resource_tags("ingest", "security_group"),
        )
        aws.vpc_security_group_egress_rule.VpcSecurityGroupEgressRule(
            self,
            "https-out",
            security_group_id=self.security_group.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to S3, SNS and KMS",
            tags=n.resource_tags("ingest-https-out"),
        )
        # An ARCHIVE asset of the staged *.py files, zipped once per process (modules/asset_archive.py).
        archive = asset_archive.packaged(p.source or SOURCE)
        asset = TerraformAsset(self, "code", path=str(archive.path), type=AssetType.FILE, asset_hash=archive.asset_hash)
        lf = aws.lambda_function
        self.function = lf.LambdaFunction(
            self,
            "function",
            function_name=function_name,
            description="Validates and catalogues incoming objects",
            runtime=RUNTIME,
            architectures=["arm64"],
            handler="handler.handler",
            filename=asset.path,
            source_code_hash=asset.asset_hash,
            role=self.role.arn,
            memory_size=p.settings.memory_mb,
            timeout=p.settings.timeout_s,
            reserved_concurrent_executions=p.settings.reserved_concurrency,
            kms_key_arn=p.kms_key.arn,
            tracing_config=lf.LambdaFunctionTracingConfig(mode="Active"),
            environment=lf.LambdaFunctionEnvironment(
                variables={
                    "ERROR_TOPIC_ARN": p.error_topic_arn,
                    "MAX_BYTES": str(p.settings.max_bytes),
                    "ALLOWED_TYPES": ",".join(p.settings.content_types),
                }
            ),
            vpc_config=lf.LambdaFunctionVpcConfig(subnet_ids=p.subnet_ids, security_group_ids=[self.security_group.id]),
            dead_letter_config=lf.LambdaFunctionDeadLetterConfig(target_arn=self.dead_letter_queue.arn),
            logging_config=lf.LambdaFunctionLoggingConfig(log_format="JSON", log_group=self.log_group.name),
            depends_on=[self.log_group],
            tags=n.resource_tags("ingest", "lambda"),
        )
        permission = aws.lambda_permission.LambdaPermission(
            self,
            "s3-invoke",
            statement_id="AllowS3Invoke",
            action="lambda:InvokeFunction",
            function_name=self.function.function_name,
            principal="s3.amazonaws.com",
            source_arn=self.bucket.arn,
            source_account=p.account_token,
        )
        notification = aws.s3_bucket_notification
        notification.S3BucketNotification(
            self,
            "notification",
            bucket=self.bucket.id,
            lambda_function=[
                notification.S3BucketNotificationLambdaFunction(
                    lambda_function_arn=self.function.arn, events=["s3:ObjectCreated:*"], filter_prefix="incoming/"
                )
            ],
            depends_on=[permission],
        )

    def _role(self, function_name: str):
        p, n = self.props, self.props.namer
        objects = f"{self.bucket.arn}/"
        via = tuple(f"{service}.{p.region}.amazonaws.com" for service in ("s3", "sns", "sqs"))
        role = aws.iam_role.IamRole(
            self,
            "role",
            name=n.name("ingest", "iam_role"),
            max_session_duration=3600,
            assume_role_policy=trust(self, "trust", "LambdaAssumes", "lambda.amazonaws.com").json,
            description=f"Execution role of {function_name}",
            tags=n.resource_tags("ingest", "iam_role"),
        )
        grants = document(
            self,
            "policy",
            [
                Statement(
                    "ReadAndMoveIncoming",
                    ("s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject"),
                    (f"{objects}incoming/*",),
                ),
                Statement("WriteResults", ("s3:PutObject",), (f"{objects}processed/*", f"{objects}quarantine/*")),
                Statement("CheckResults", ("s3:GetObject",), (f"{objects}processed/*", f"{objects}quarantine/*")),
                # The handler looks for processed/<name>.json and quarantine/<name> before doing any work
                # (replays). S3 answers a HeadObject of a missing key with 404 only if the caller may list
                # the bucket, else 403 (which the handler must treat as a failure: every new object would
                # end in the dead-letter queue). That check carries no s3:prefix, so an s3:prefix
                # condition can never admit it: ListBucket on this one bucket, whose every prefix the role
                # already reads or writes, so listing reveals no object it could not reach anyway.
                Statement("ListResults", ("s3:ListBucket",), (self.bucket.arn,)),
                Statement("PublishErrors", ("sns:Publish",), (p.error_topic_arn,)),
                Statement("DeadLetters", ("sqs:SendMessage",), (self.dead_letter_queue.arn,)),
                Statement(
                    "UseKeyThroughServices",
                    ("kms:Decrypt", "kms:GenerateDataKey"),
                    (p.kms_key.arn,),
                    conditions=(Condition("StringEquals", "kms:ViaService", via),),
                ),
                # Streams are authorized as log-group:<name>:log-stream:<stream>; the bare group ARN is
                # only for tagging actions, which the function never calls.
                Statement("WriteOwnLogs", ("logs:CreateLogStream", "logs:PutLogEvents"), (f"{self.log_group.arn}:*",)),
            ],
        )
        aws.iam_role_policy.IamRolePolicy(
            self, "grants", name=n.name("ingest", "iam_policy"), role=role.id, policy=grants.json
        )
        for policy in MANAGED_POLICIES:
            attach_managed(self, policy, role.name, policy)
        return role
