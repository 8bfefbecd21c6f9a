"""modules/policy.py: IAM statements refuse wildcard actions in Allow statements."""

from __future__ import annotations

import pytest


def test_allow_statements_with_wildcard_actions_are_refused():
    from modules.policy import Statement

    with pytest.raises(ValueError, match="specific actions"):
        Statement("Bad", ("kms:*",), ("*",))
    Statement("DenyIsFine", ("s3:*",), ("*",), effect="Deny")
