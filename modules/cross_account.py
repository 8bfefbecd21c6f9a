"""Cross-account roles of one environment's account (R6, F6), created once, in its edge stack.

- `<env>-global-ops-readonly-<suffix>`: for people and tools of the other environments' accounts
  (and `trusted_accounts`, the CI account, the deployers) to look without touching: AWS's
  ViewOnlyAccess (lists and describes, no data reads) plus CloudWatch read access. Its trust names
  other accounts only (configuration rejects the environment's own, F6).
- the deploy role (`deploy_role_name`): what every provider of the environment assumes, so one CI
  identity deploys every environment. PowerUserAccess for the services, plus IAM limited to roles,
  policies and instance profiles whose names start with this environment's prefix. It trusts only
  the deployers (`Config.deployers_of`: the CI account and `deployer_account_ids`, else the
  environment's own account), never the other environments: an administrator of dev must not be
  able to deploy prod, and the external id sits in the repository, so it cannot be the barrier.

Both trust policies require the configured external id and, with `require_mfa`, MFA; sessions
last at most an hour.
Bootstrap: the first apply of an account runs with an administrator role (`bootstrap_role_name`),
since the providers cannot assume a role that does not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from config.naming import Namer
from modules import aws
from modules.policy import Condition, Statement, attach_managed, document

SESSION_SECONDS = 3600
READONLY_POLICIES = ("ViewOnlyAccess", "CloudWatchReadOnlyAccess")
DEPLOY_POLICIES = ("PowerUserAccess",)
IAM_ACTIONS = (
    "iam:AddRoleToInstanceProfile",
    "iam:AttachRolePolicy",
    "iam:CreateInstanceProfile",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:CreateRole",
    "iam:DeleteInstanceProfile",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:GetInstanceProfile",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListPolicyVersions",
    "iam:ListRolePolicies",
    "iam:ListRoleTags",
    "iam:PassRole",
    "iam:PutRolePolicy",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:TagPolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)


@dataclass(frozen=True)
class CrossAccountProps:
    namer: Namer
    environment: str
    account_number: str  # the environment's own account (configuration), never trusted by the read-only role
    trusted_accounts: tuple[str, ...]  # who may assume the read-only role (Config.trusted_by)
    deployer_accounts: tuple[str, ...]  # who may assume the deploy role (Config.deployers_of)
    external_id: str
    require_mfa: bool  # people must use MFA; the CI account (machine identities) is exempt
    ci_account: str | None  # the CI account (configuration), trusted without MFA
    deploy_role_name: str
    partition: str  # token
    account_token: str  # token


class CrossAccountRoles(Construct):
    """Exposes `readonly` and `deploy` (aws_iam_role)."""

    def __init__(self, scope: Construct, construct_id: str, props: CrossAccountProps):
        super().__init__(scope, construct_id)
        self._props = p = props
        n = p.namer
        if p.account_number in p.trusted_accounts:
            raise ValueError("the read-only cross-account role must not trust its own account")
        if not p.deployer_accounts:
            raise ValueError("the deploy role needs at least one deployer account")
        self.readonly = self._role(
            "ops-readonly",
            n.name("ops-readonly", "iam_role"),
            "Read-only operations access from the other environments",
            READONLY_POLICIES,
            p.trusted_accounts,
            "OtherAccountsAssume",
        )
        self.deploy = self._role(
            "deploy",
            p.deploy_role_name,
            "Deploys this environment (assumed by the providers)",
            DEPLOY_POLICIES,
            p.deployer_accounts,
            "DeployersAssume",
        )
        prefix = f"{p.environment}-"
        iam = document(
            self,
            "deploy-iam",
            [
                Statement(
                    "ManageOwnIamOnly",
                    IAM_ACTIONS,
                    tuple(
                        f"arn:{p.partition}:iam::{p.account_token}:{kind}/{prefix}*"
                        for kind in ("role", "policy", "instance-profile")
                    ),
                )
            ],
        )
        aws.iam_role_policy.IamRolePolicy(
            self, "deploy-iam-policy", name=n.name("deploy-iam", "iam_policy"), role=self.deploy.id, policy=iam.json
        )

    def _role(
        self, service: str, name: str, description: str, managed: tuple[str, ...], accounts: tuple[str, ...], sid: str
    ):
        n = self.props.namer
        trust = document(self, f"{service}-trust", self._trust_statements(sid, accounts))
        role = aws.iam_role.IamRole(
            self,
            service,
            name=name,
            assume_role_policy=trust.json,
            max_session_duration=SESSION_SECONDS,
            description=description,
            tags=n.resource_tags(service, "iam_role"),
        )
        for policy in managed:
            attach_managed(self, f"{service}-{policy}", role.name, policy)
        return role

    def _trust_statements(self, sid: str, accounts: tuple[str, ...]) -> list[Statement]:
        """Every principal needs the external id. With `require_mfa`, people need MFA too, but the
        CI account is trusted in a statement of its own without it: CI identities (OIDC, role
        sessions) never carry MFA, so requiring it would lock the pipeline out of the deploy role."""
        p = self.props
        external_id = Condition("StringEquals", "sts:ExternalId", (p.external_id,))

        def allow(statement_sid: str, who: tuple[str, ...], conditions: tuple[Condition, ...]) -> Statement:
            return Statement(
                statement_sid,
                ("sts:AssumeRole",),
                (),
                {"AWS": tuple(f"arn:{p.partition}:iam::{a}:root" for a in who)},
                conditions,
            )

        if not p.require_mfa:
            return [allow(sid, accounts, (external_id,))]
        people = tuple(a for a in accounts if a != p.ci_account)
        mfa = Condition("Bool", "aws:MultiFactorAuthPresent", ("true",))
        statements = [allow(sid, people, (external_id, mfa))] if people else []
        if p.ci_account in accounts:
            statements.append(allow("CiAssumes", (p.ci_account,), (external_id,)))
        return statements

    @property
    def props(self) -> CrossAccountProps:
        return self._props
