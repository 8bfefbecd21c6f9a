"""The deploy after a failover, with real Terraform against the e2e emulator (moto in server mode
with e2e/rds.py's patches): the round trip an operator's drill makes.

tests/test_failover.py proves `main.py failover` against databases made with boto3; here the
databases are what the project's own Database construct (modules/database.py) synthesizes, applied
by Terraform 1.11 with the pinned AWS provider through ops/terraform.py (the code `deploy` runs):

1. writer_region = us-east-1: the us-east-1 stack creates the writer, then the us-west-2 stack a
   cross-region read replica of it (named by ARN, as stacks/regional.py names it);
2. `main.py failover --env dev --to us-west-2` promotes the replica and records writer_region in
   the configuration file (the same CLI path a real run takes);
3. re-synthesized from that file and applied writer first: the us-west-2 instance becomes a writer
   in place (same DbiResourceId), the us-east-1 instance is replaced by a replica of it (its
   `terraform_data` source marker triggers the replacement);
4. failover back to us-east-1, re-synthesized and applied: the roles are back.

The stacks are minimal: what the Database construct needs (a VPC with two isolated subnets, the
region's key from modules/kms.py, the namer, the environment's database settings) around the real
RegionalStack._database, so the writer/replica choice is the platform's own code. A full regional
stack takes minutes against the emulator (e2e/run.py deploys those).
"""

from __future__ import annotations

import datetime
import json
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from typer.testing import CliRunner

from config import model
from config.facts import DATABASE_KIND, DATABASE_SERVICE, StackRole
from e2e.emulator import Emulator
from main import cli
from ops import failover
from ops import terraform as tf
from ops.smoke import sessions

EAST, WEST = "us-east-1", "us-west-2"
DEFAULT = Path(__file__).resolve().parents[1] / "config" / "default.toml"


@pytest.fixture(scope="module")
def emulator():
    with Emulator() as running:
        yield running


@pytest.fixture
def aws(emulator, monkeypatch):
    monkeypatch.setattr(failover, "POLL_SECONDS", 0.05)
    urllib.request.urlopen(urllib.request.Request(f"{emulator.url}/moto-api/reset", method="POST"))
    for key, value in {
        "AWS_ENDPOINT_URL": emulator.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    return emulator


def database_stack(scope, spec, config, env, out_dir):
    """A RegionalStack holding only the database and what it needs: PlatformStack's providers and
    backend, the region's key, a VPC with two isolated subnets, then RegionalStack._database (the
    writer in the writer region, a replica of it by ARN elsewhere)."""
    from modules import aws
    from modules.kms import EncryptionKey, EncryptionKeyProps
    from stacks.base import PlatformStack
    from stacks.regional import RegionalStack

    class DatabaseStack(RegionalStack):
        def __init__(self):  # RegionalStack's own __init__ would build the whole region
            PlatformStack.__init__(self, scope, spec, config, env, provider_region=spec.region, out_dir=out_dir)
            self.key = EncryptionKey(
                self,
                "kms",
                EncryptionKeyProps(
                    namer=self.namer,
                    region=spec.region,
                    account_token=self.account_token,
                    partition=self.partition,
                    deletion_window_days=env.key_deletion_window_days,
                ),
            )
            vpc = aws.vpc.Vpc(self, "vpc", cidr_block="10.20.0.0/16")
            subnets = [
                aws.subnet.Subnet(
                    self,
                    f"db-{zone}",
                    vpc_id=vpc.id,
                    cidr_block=f"10.20.{i}.0/24",
                    availability_zone=spec.region + zone,
                )
                for i, zone in enumerate(("a", "b"))
            ]
            self.network = SimpleNamespace(vpc_id=vpc.id, subnet_ids={"db": [s.id for s in subnets]})
            self.database = self._database()

    return DatabaseStack()


class Drill:
    """dev of the default configuration (two regions), its file in `folder` with local state there."""

    def __init__(self, folder: Path):
        self.path = folder / "platform.toml"
        self.path.write_text(DEFAULT.read_text() + f'\n[state]\nbackend = "local"\nlocal_dir = "{folder / "state"}"\n')
        self.out = folder / "out"
        self.runner = tf.Terraform(self.out)

    @property
    def config(self) -> model.Config:
        return model.load(self.path)

    def synth(self) -> dict[str, str]:
        """Synthesizes both regional stacks; {region: stack name}."""
        from cdktf import App

        config = self.config
        env = config.environments["dev"]
        app = App(outdir=str(self.out.absolute()))
        names = {}
        for spec in config.select("dev"):
            if spec.role != StackRole.EDGE:
                database_stack(app, spec, config, env, self.out)
                names[spec.region] = spec.name
        app.synth()
        return names

    def deploy(self) -> dict[str, dict[str, list[str]]]:
        """Synth, then init, plan and apply each stack, the writer region's first; returns each
        region's planned actions on its resources, by address."""
        names = self.synth()
        writer = self.config.environments["dev"].writer_region
        planned = {}
        for region in sorted(names, key=lambda r: r != writer):
            stack = names[region]
            self.runner.init(stack)
            self.runner.plan(stack)
            plan = json.loads(self.runner.show_json(stack).read_text())
            planned[region] = {c["address"]: c["change"]["actions"] for c in plan.get("resource_changes", [])}
            self.runner.apply(stack)
        return planned

    def sessions(self):
        config = self.config
        return sessions(config, config.environments["dev"], boto3.Session())[0]

    def identifier(self, region: str) -> str:
        config = self.config
        return config.namer(config.environments["dev"], region).name(DATABASE_SERVICE, DATABASE_KIND)

    def instance(self, region: str) -> dict:
        rds = self.sessions().client("rds", region_name=region)
        return rds.describe_db_instances(DBInstanceIdentifier=self.identifier(region))["DBInstances"][0]

    def source_of(self, region: str) -> str | None:
        return self.instance(region).get("ReadReplicaSourceDBInstanceIdentifier")

    def lag(self, region: str, seconds: float) -> None:
        self.sessions().client("cloudwatch", region_name=region).put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[
                {
                    "MetricName": "ReplicaLag",
                    "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": self.identifier(region)}],
                    "Timestamp": datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1),
                    "Value": seconds,
                    "Unit": "Seconds",
                }
            ],
        )

    def failover(self, to: str):
        self.lag(to, 1)
        # --force: these stacks have no Route 53 health check (tests/test_failover.py proves the
        # health refusal); the lag check runs and passes.
        return CliRunner().invoke(cli, ["failover", "--env", "dev", "--config", str(self.path), "--to", to, "--force"])


def instance_actions(planned: dict[str, list[str]]) -> list[str]:
    (address,) = [a for a in planned if a.startswith("aws_db_instance.")]
    return planned[address]


def test_deploys_after_failover_and_failback_turn_the_old_writer_into_a_replica(tmp_path, aws):
    drill = Drill(tmp_path)
    first = drill.deploy()
    assert instance_actions(first[EAST]) == ["create"] and instance_actions(first[WEST]) == ["create"]
    assert drill.source_of(EAST) is None
    assert drill.source_of(WEST).endswith(f":db:{drill.identifier(EAST)}")
    west_id = drill.instance(WEST)["DbiResourceId"]

    result = drill.failover(WEST)
    assert result.exit_code == 0, result.output
    assert drill.source_of(WEST) is None
    assert drill.config.environments["dev"].writer_region == WEST

    after = drill.deploy()
    assert instance_actions(after[WEST]) == ["update"], "the promoted replica stays, becomes a writer in place"
    assert instance_actions(after[EAST]) == ["delete", "create"], "the old writer is rebuilt as a replica"
    assert drill.source_of(WEST) is None and drill.instance(WEST)["DbiResourceId"] == west_id
    assert drill.source_of(EAST).endswith(f":db:{drill.identifier(WEST)}")

    back = drill.failover(EAST)
    assert back.exit_code == 0, back.output
    assert drill.config.environments["dev"].writer_region == EAST
    east_id = drill.instance(EAST)["DbiResourceId"]

    again = drill.deploy()
    assert instance_actions(again[EAST]) == ["update"]
    assert instance_actions(again[WEST]) == ["delete", "create"]
    assert drill.source_of(EAST) is None and drill.instance(EAST)["DbiResourceId"] == east_id
    assert drill.source_of(WEST).endswith(f":db:{drill.identifier(EAST)}")
