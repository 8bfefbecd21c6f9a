"""A boto3 session stand-in whose STS client records every AssumeRole (tests of ops/access.py and
ops/doctor.py: they must assume roles exactly as the providers do)."""

from __future__ import annotations


class RecordingSTS:
    """Stands in for boto3's STS client: records every AssumeRole, returns fake keys."""

    def __init__(self, calls: list, region: str | None):
        self.calls, self.region = calls, region

    def get_caller_identity(self):
        return {"Arn": "arn:aws:iam::123456789012:user/operator"}

    def assume_role(self, **kwargs):
        self.calls.append({**kwargs, "region": self.region})
        return {"Credentials": {"AccessKeyId": "AKIA", "SecretAccessKey": "s", "SessionToken": "t"}}


class RecordingSession:
    def __init__(self):
        self.calls: list[dict] = []

    def client(self, service: str, region_name: str | None = None):
        assert service == "sts", service
        return RecordingSTS(self.calls, region_name)
