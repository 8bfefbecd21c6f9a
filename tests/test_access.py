"""ops/access.py: operations enter an environment's account exactly as its providers do (the
same role, external id and session name; the `dns` providers' role for the hosted zone)."""

from __future__ import annotations

from support.sts import RecordingSession
from support.tfjson import providers

from ops import access


def test_smoke_and_doctor_share_one_way_in(synthesized):
    """`environment_session` (smoke's way in) asks STS for the same thing the default provider does."""
    env = synthesized.config.environments["staging"]
    session = RecordingSession()
    access.environment_session(synthesized.config, env, session)
    (call,) = session.calls
    (assume,) = providers(synthesized.stacks["staging-us-east-1"])[None]["assume_role"]
    assert (call["RoleArn"], call["ExternalId"], call["RoleSessionName"]) == (
        assume["role_arn"],
        assume["external_id"],
        assume["session_name"],
    )


def test_the_dns_session_uses_the_dns_providers_role(synthesized, shared_account):
    environment = object()
    env = synthesized.config.environments["dev"]
    assert access.dns_session(synthesized.config, env, RecordingSession(), environment) is environment, (
        "same role as the environment: no second AssumeRole"
    )
    session = RecordingSession()
    env = shared_account.config.environments["dev"]
    access.dns_session(shared_account.config, env, session, environment)
    (call,) = session.calls
    (assume,) = providers(shared_account.stacks["dev-us-east-1"])["dns"]["assume_role"]
    assert (call["RoleArn"], call["ExternalId"], call["RoleSessionName"]) == (
        assume["role_arn"],
        assume["external_id"],
        assume["session_name"],
    )
