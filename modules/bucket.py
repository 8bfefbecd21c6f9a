"""The one construct every S3 bucket of the platform is made with (R9, F15).

Secure by default and without opt-outs: versioning, all four public access blocks, object
ownership enforced (no ACLs), default encryption, a policy denying plain HTTP and TLS
below 1.2, server access logging, and lifecycle rules that keep old versions from
accumulating cost. What varies is explicit and has to be justified: SSE-S3 instead of the
region's KMS key needs a reason; a bucket without access logging needs a reason.

Access logging is wired the AWS CDK way: a bucket that logs asks its log bucket to admit it
(`admit_access_logs`), so the log bucket's policy names each source bucket and its own prefix
(`<log bucket ARN>/s3/<source name>/*`) instead of a wildcard over every bucket that might ever
log there, and the logging configuration waits for that policy: S3 refuses to enable logging
into a bucket whose policy does not yet admit the delivery.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from cdktf import TerraformProvider
from constructs import Construct

from config import groups
from config.naming import Namer
from modules import aws
from modules.kms import EncryptionKey, ImportedKey
from modules.policy import Condition, Statement, document


@dataclass(frozen=True)
class Lifecycle:
    """The lifecycle rules of one bucket: the environment's lifecycle settings (`of`) plus, for a
    log bucket, the expiry of current versions. No defaults: the settings table (config/settings.py)
    is the one source of these numbers, so every bucket takes them from the environment."""

    abort_multipart_days: int
    noncurrent_ia_days: int
    noncurrent_glacier_ir_days: int
    noncurrent_expire_days: int
    current_expire_days: int | None = None  # log buckets: the environment's retention

    @classmethod
    def of(cls, settings: groups.Lifecycle, current_expire_days: int | None = None) -> Lifecycle:
        """The rules from the environment's lifecycle settings, taken whole: a new lifecycle
        setting is a field here too (a TypeError names it until it is) and its use below."""
        return cls(**asdict(settings), current_expire_days=current_expire_days)


@dataclass(frozen=True)
class SecureBucketProps:
    namer: Namer
    service: str  # the [service] of the bucket name
    account_number: str  # configuration value: part of the globally unique name
    lifecycle: Lifecycle
    kms_key: EncryptionKey | ImportedKey | None = None  # the bucket grants itself its use through S3
    sse_s3_reason: str | None = None  # required when kms_key is None
    access_log_bucket: SecureBucket | None = None  # receives this bucket's access logs and admits them
    no_access_log_reason: str | None = None  # required when access_log_bucket is None
    force_destroy: bool = False
    provider: TerraformProvider | None = None  # another region's provider (the edge's us-east-1)


S3_ACCESS_LOG_PREFIX = "s3"  # server access logs land under s3/<source bucket name>/
S3_LOGGING_SERVICE = "logging.s3.amazonaws.com"
POLICY_DOCUMENT_ID = "policy-document"


class SecureBucket(Construct):
    """Exposes `bucket` (the aws_s3_bucket), `name`, `id`, `arn`, `policy` (the aws_s3_bucket_policy)
    and `logging` (the aws_s3_bucket_logging, or None)."""

    def __init__(self, scope: Construct, construct_id: str, props: SecureBucketProps):
        super().__init__(scope, construct_id)
        self.props = p = props
        if p.kms_key is None and not p.sse_s3_reason:
            raise ValueError(f"bucket {p.service}: SSE-S3 instead of the KMS key needs a reason")
        if p.access_log_bucket is None and not p.no_access_log_reason:
            raise ValueError(f"bucket {p.service}: a bucket without access logging needs a reason")
        n = p.namer
        self.name = n.bucket(p.service, p.account_number)
        self.bucket = aws.s3_bucket.S3Bucket(
            self,
            "bucket",
            bucket=self.name,
            force_destroy=p.force_destroy,
            tags=n.resource_tags(p.service, "s3_bucket"),
            provider=p.provider,
        )
        self.id: str = self.bucket.id
        self.arn: str = self.bucket.arn
        self.versioning = aws.s3_bucket_versioning.S3BucketVersioningA(
            self,
            "versioning",
            bucket=self.id,
            provider=p.provider,
            versioning_configuration=aws.s3_bucket_versioning.S3BucketVersioningVersioningConfiguration(
                status="Enabled"
            ),
        )
        self.public_access_block = aws.s3_bucket_public_access_block.S3BucketPublicAccessBlock(
            self,
            "public-access",
            bucket=self.id,
            provider=p.provider,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        aws.s3_bucket_ownership_controls.S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=self.id,
            provider=p.provider,
            rule=aws.s3_bucket_ownership_controls.S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        self._encryption()
        self._policy()
        self.logging = None
        if p.access_log_bucket is not None:
            target = p.access_log_bucket
            prefix = f"{S3_ACCESS_LOG_PREFIX}/{self.name}/"
            target.admit_access_logs(self, prefix)
            self.logging = aws.s3_bucket_logging.S3BucketLoggingA(
                self,
                "logging",
                bucket=self.id,
                provider=p.provider,
                target_bucket=target.id,
                target_prefix=prefix,
                # S3 checks the target's policy when logging is enabled: a race would fail the apply.
                depends_on=[target.policy],
            )
        self._lifecycle()

    def _encryption(self) -> None:
        p = self.props
        sse = aws.s3_bucket_server_side_encryption_configuration
        if p.kms_key is not None:
            p.kms_key.grant_via_service("s3")
            default = sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="aws:kms", kms_master_key_id=p.kms_key.arn
            )
        else:  # p.sse_s3_reason says why (e.g. AWS log delivery that cannot use a KMS key)
            default = sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="AES256"
            )
        sse.S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=self.id,
            provider=p.provider,
            rule=[
                sse.S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=default,
                    # Bucket keys cut KMS requests (and their cost) by ~99% for SSE-KMS.
                    bucket_key_enabled=p.kms_key is not None,
                )
            ],
        )

    def _policy(self) -> None:
        p = self.props
        everyone = {"AWS": ("*",)}
        objects = (self.arn, f"{self.arn}/*")
        # Deny statements may name "s3:*": they take away, they grant nothing.
        self._statements = [
            Statement(
                "DenyInsecureTransport",
                ("s3:*",),
                objects,
                everyone,
                (Condition("Bool", "aws:SecureTransport", ("false",)),),
                effect="Deny",
            ),
            Statement(
                "DenyTlsBelow12",
                ("s3:*",),
                objects,
                everyone,
                (Condition("NumericLessThan", "s3:TlsVersion", ("1.2",)),),
                effect="Deny",
            ),
        ]
        # One policy per bucket (S3 allows only one); applied after the public access block so
        # that an ordering race cannot briefly allow a public policy.
        self.policy = aws.s3_bucket_policy.S3BucketPolicy(
            self,
            "policy",
            bucket=self.id,
            provider=p.provider,
            policy=self._render_policy(),
            depends_on=[self.public_access_block],
        )

    def _render_policy(self) -> str:
        """(Re)builds the one `aws_iam_policy_document` of this bucket from its statements and
        returns its `.json`. A document's statements are fixed when it is constructed, so a grant
        added later replaces the document: same construct id, hence the same logical name in the
        synthesized JSON, and no stale copy left behind. Statements keep their order of arrival
        (construction order), so synthesis stays deterministic."""
        self.node.try_remove_child(POLICY_DOCUMENT_ID)
        return document(self, POLICY_DOCUMENT_ID, list(self._statements)).json

    def add_to_resource_policy(self, statement: Statement) -> None:
        """Adds a statement to the bucket policy after construction, for whoever delivers into this
        bucket (access logs, load balancer logs): each grant is added by the construct that needs
        it, so the policy admits exactly the deliveries that exist. The same name and contract as
        `EncryptionKey.add_to_resource_policy` (the AWS CDK's `addToResourcePolicy`). Statements keep
        their order of arrival after the two Deny statements: a construct that admits its deliveries
        right after creating the bucket gets the order the policy has always had."""
        if any(s.sid == statement.sid for s in self._statements):
            raise ValueError(f"bucket {self.props.service}: the policy already has a statement {statement.sid}")
        self._statements.append(statement)
        self.policy.policy = self._render_policy()

    def grant_read(self, objects: str, name: str, region: str) -> list[Statement]:
        """The statements a reader's role needs to read `objects` (a key or key pattern under this
        bucket): s3:GetObject on exactly `<bucket ARN>/<objects>` and, when the bucket encrypts with
        a KMS key, kms:Decrypt of that key through S3 in `region` (the bucket's) only. Named
        `Read<name>` and `Decrypt<name>` for the reader's policy document. The key's own policy
        already admits use through S3 (the bucket asked for it when it was encrypted with the key),
        so the grant is complete: the AWS CDK's `grantRead(identity, objectsKeyPattern)`."""
        if not objects or objects.startswith("/"):
            raise ValueError(
                f"bucket {self.props.service}: read {objects!r}: a key or key pattern, without a leading '/'"
            )
        statements = [Statement(f"Read{name}", ("s3:GetObject",), (f"{self.arn}/{objects}",))]
        if self.props.kms_key is not None:
            via_s3 = Condition("StringEquals", "kms:ViaService", (f"s3.{region}.amazonaws.com",))
            statements.append(
                Statement(f"Decrypt{name}", ("kms:Decrypt",), (self.props.kms_key.arn,), conditions=(via_s3,))
            )
        return statements

    def admit_access_logs(self, source: SecureBucket, prefix: str) -> None:
        """Lets S3 deliver `source`'s server access logs under `prefix` of this bucket, and nothing
        else: the exact `<this bucket>/<prefix>*` objects, only from that bucket in its account
        (the statement AWS documents for the logging service principal). S3 delivers server access
        logs only into a bucket of the same account and region that uses SSE-S3, so anything else
        is refused here rather than by S3 at apply time."""
        p = self.props
        if p.kms_key is not None:
            raise ValueError(f"bucket {p.service}: S3 server access logs cannot be delivered to an SSE-KMS bucket")
        if source.props.provider is not p.provider or source.props.account_number != p.account_number:
            raise ValueError(
                f"bucket {source.props.service}: S3 delivers access logs only within one account and "
                f"region, not into {p.service}"
            )
        if not prefix.endswith("/"):
            raise ValueError(f"bucket {source.props.service}: the access log prefix {prefix!r} must end with '/'")
        words = re.split(r"[^A-Za-z0-9]+", source.props.service)
        self.add_to_resource_policy(
            Statement(
                "S3ServerAccessLogsFrom" + "".join(w[:1].upper() + w[1:] for w in words),
                ("s3:PutObject",),
                (f"{self.arn}/{prefix}*",),
                {"Service": (S3_LOGGING_SERVICE,)},
                (
                    Condition("StringEquals", "aws:SourceAccount", (source.props.account_number,)),
                    Condition("ArnLike", "aws:SourceArn", (source.arn,)),
                ),
            )
        )

    def _lifecycle(self) -> None:
        """Data buckets keep old versions, moving them to cheaper classes, then expire them. Log
        buckets (current_expire_days set) expire logs after the retention and drop the expired
        versions a day later: a retention period that versioning silently extended by a year
        would be neither cheap nor honest."""
        life = self.props.lifecycle
        lc = aws.s3_bucket_lifecycle_configuration
        everything = [lc.S3BucketLifecycleConfigurationRuleFilter(prefix="")]
        abort = [
            lc.S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                days_after_initiation=life.abort_multipart_days
            )
        ]
        if life.current_expire_days is None:
            rules = [
                lc.S3BucketLifecycleConfigurationRule(
                    id="noncurrent-versions-and-uploads",
                    status="Enabled",
                    filter=everything,
                    abort_incomplete_multipart_upload=abort,
                    noncurrent_version_transition=[
                        lc.S3BucketLifecycleConfigurationRuleNoncurrentVersionTransition(
                            noncurrent_days=life.noncurrent_ia_days, storage_class="STANDARD_IA"
                        ),
                        lc.S3BucketLifecycleConfigurationRuleNoncurrentVersionTransition(
                            noncurrent_days=life.noncurrent_glacier_ir_days, storage_class="GLACIER_IR"
                        ),
                    ],
                    noncurrent_version_expiration=[
                        lc.S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=life.noncurrent_expire_days
                        )
                    ],
                )
            ]
        else:
            rules = [
                lc.S3BucketLifecycleConfigurationRule(
                    id="expire-after-retention",
                    status="Enabled",
                    filter=everything,
                    abort_incomplete_multipart_upload=abort,
                    expiration=[lc.S3BucketLifecycleConfigurationRuleExpiration(days=life.current_expire_days)],
                    noncurrent_version_expiration=[
                        lc.S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=1)
                    ],
                ),
                lc.S3BucketLifecycleConfigurationRule(
                    id="remove-expired-delete-markers",
                    status="Enabled",
                    filter=everything,
                    expiration=[lc.S3BucketLifecycleConfigurationRuleExpiration(expired_object_delete_marker=True)],
                ),
            ]
        # Noncurrent-version rules need versioning in place first (the provider documents the race).
        lc.S3BucketLifecycleConfiguration(
            self, "lifecycle", bucket=self.id, rule=rules, depends_on=[self.versioning], provider=self.props.provider
        )
