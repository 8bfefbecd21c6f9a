"""EC2 security-group rules as AWS answers for them, where moto differs in a way Terraform notices.

Revoking a rule by its id (`SecurityGroupRuleIds`, how the AWS provider deletes
aws_vpc_security_group_ingress_rule and _egress_rule) when the group no longer has that rule: AWS
answers `InvalidSecurityGroupRuleId.NotFound`, which the provider takes as "already gone"; moto
answers `InvalidPermission.NotFound`, which the provider reports as a failed delete. That happens
when the SDK retries a revoke whose first attempt succeeded but answered slowly (a loaded emulator),
and it failed a whole `destroy` once, half way through a region.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def revoke_by_known_ids(original: Callable[..., None], egress: bool) -> Callable[..., None]:
    """`SecurityGroupBackend.revoke_security_group_ingress`/`_egress` that refuses an unknown rule
    id with AWS's error code before moto looks at it."""
    from moto.ec2.exceptions import InvalidSecurityGroupRuleIdNotFoundError

    def revoke(self: Any, group_name_or_id: str, *args: Any, **kwargs: Any) -> None:
        ids = kwargs.get("security_rule_ids") or []
        group = self.get_security_group_by_name_or_id(group_name_or_id, kwargs.get("vpc_id")) if ids else None
        if group is not None:
            known = {rule.id for rule in (group.egress_rules if egress else group.ingress_rules)}
            for rule_id in ids:
                if rule_id not in known:
                    raise InvalidSecurityGroupRuleIdNotFoundError(rule_id)
        return original(self, group_name_or_id, *args, **kwargs)

    return revoke
