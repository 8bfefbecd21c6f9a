"""A writer's master credentials without a password in the configuration, state, plans or outputs:
the scheme modules/database.py (an RDS writer) and modules/aurora.py (an Aurora global database's
writer cluster) share.

Why not RDS-managed passwords (`manage_master_user_password`): AWS refuses to create a read
replica of an instance whose master password RDS manages, and Aurora global databases do not
support it either. So:
- An ephemeral `aws_secretsmanager_random_password` (Terraform 1.11) generates the password on
  every plan and apply; nothing records it. Only write-only attributes may reference it: the
  database's (`password_wo` / `master_password_wo`, given `password_ref`, with `version` as their
  `*_wo_version`) and the bootstrap secret's `secret_string_wo`.
- The bootstrap secret, in the writer's region and encrypted with its key, holds
  `{"username": MASTER_USERNAME, "password": ...}`: the writer region's instances read it once, to
  create the application's IAM-authenticated role. The application itself never uses it.
- Rotation: raise CREDENTIAL_VERSION. Write-only attributes are sent only when their version
  changes, so the next apply sets a new password on the database and in the secret, both from
  the same ephemeral value (one plan opens the ephemeral resource once).

cdktf 0.21 has no class for ephemeral resources: the block is written into the stack's JSON as an
override, named after the construct that owns the credentials (`<owner>_master_password`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformStack
from constructs import Construct

from config.naming import Namer
from modules import aws
from modules.kms import EncryptionKey, ImportedKey

MASTER_USERNAME = "app_admin"  # not a secret; break-glass and the application role's creation only
# The master password's generation: raising it makes the next apply set a new password on the
# writer and store it in the bootstrap secret (both write-only attributes follow their version).
CREDENTIAL_VERSION = 1
PASSWORD_LENGTH = 40  # letters and digits only (no quoting trouble in psql or a URI): ~238 bits
EPHEMERAL_GENERATOR = "aws_secretsmanager_random_password"
# The id the databases give this construct. cdktf leaves a "Default" path component out of
# logical ids, so the bootstrap secret keeps the Terraform address it had when each database
# construct created it itself: moving the code here moved no deployed resource.
CONSTRUCT_ID = "Default"


@dataclass(frozen=True)
class MasterCredentialsProps:
    namer: Namer  # the writer region's: the bootstrap secret's name and tags
    kms_key: EncryptionKey | ImportedKey  # the writer region's key; the secret grants itself its use


class MasterCredentials(Construct):
    """The writer's master credentials. Exposes `username`, `password_ref` (the `${...}`
    expression a write-only attribute takes), `version` (its `*_wo_version`), `secret` and
    `secret_arn` (the bootstrap secret). One per writer: create it in the database construct with
    CONSTRUCT_ID; the ephemeral block is named after that database construct."""

    def __init__(self, scope: Construct, construct_id: str, props: MasterCredentialsProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        self.username = MASTER_USERNAME
        self.version = CREDENTIAL_VERSION
        self.generator = f"{scope.node.id.replace('-', '_')}_master_password"
        TerraformStack.of(self).add_override(
            f"ephemeral.{EPHEMERAL_GENERATOR}.{self.generator}",
            {"password_length": PASSWORD_LENGTH, "exclude_punctuation": True, "require_each_included_type": True},
        )
        password = f"ephemeral.{EPHEMERAL_GENERATOR}.{self.generator}.random_password"
        self.password_ref = f"${{{password}}}"
        p.kms_key.grant_via_service("secretsmanager")
        self.secret = aws.secretsmanager_secret.SecretsmanagerSecret(
            self,
            "bootstrap",
            name=n.name("db-bootstrap", "secret"),
            description="PostgreSQL master credentials: the application creates its IAM-authenticated role with them",
            kms_key_id=p.kms_key.arn,
            # Deleted at once, whatever the environment: its value is write-only (nothing to recover),
            # and a writer that moves back to this region after a failover recreates it under the
            # same name, which Secrets Manager refuses while a deletion is pending.
            recovery_window_in_days=0,
            tags=n.resource_tags("db-bootstrap", "secret"),
        )
        aws.secretsmanager_secret_version.SecretsmanagerSecretVersion(
            self,
            "bootstrap-value",
            secret_id=self.secret.id,
            secret_string_wo=f'${{jsonencode({{"username" = "{MASTER_USERNAME}", "password" = {password}}})}}',
            secret_string_wo_version=CREDENTIAL_VERSION,
        )
        self.secret_arn: str = self.secret.arn
