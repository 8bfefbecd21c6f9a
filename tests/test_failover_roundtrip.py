"""The deploy after a failover, with real Terraform against the e2e emulator (moto in server mode
with e2e/rds.py's patches): the drill an operator rehearses, twice.

tests/test_failover.py proves `main.py failover` against databases made with boto3; here the
databases are what the project's own Database construct (modules/database.py) synthesizes, applied
by Terraform 1.11 with the pinned AWS provider through `main.py deploy`'s engine
(ops/pipeline.execute: waves, reviewed plans, --allow-destroy), in dev of a three-region
configuration whose writer takes a final snapshot and is deletion-protected:

1. writer_region = us-east-1: the writer, then a cross-region read replica of it (named by ARN, as
   stacks/regional.py names it) in us-west-2 and eu-central-1;
2. `main.py failover --env dev --to us-west-2` promotes that replica and records writer_region in
   the configuration file; as its printed next steps say, deletion protection is turned off on the
   old writer, and the deploy is refused without --allow-destroy;
3. re-synthesized from that file and deployed: us-west-2's instance becomes a writer in place
   (same DbiResourceId, now protected), us-east-1's (taking its final snapshot) and eu-central-1's
   are replaced by unprotected replicas of it (their `terraform_data` source markers trigger it);
4. failover back to us-east-1 and deploy: the roles are back;
5. the second drill (failover to us-west-2 and deploy) deletes us-east-1's writer again: its final
   snapshot gets a new name (modules/db_support.py final_snapshot_name), where a fixed one would
   fail with DBSnapshotAlreadyExists half way through the rebuild.

The stacks are minimal: what the Database construct needs (a VPC with two isolated subnets, the
region's key from modules/kms.py, the namer, the environment's database settings) around the real
RegionalStack._database, so the writer/replica choice is the platform's own code; a full regional
stack takes minutes against the emulator (e2e/run.py deploys those). The time goes to the AWS
provider's fixed RDS waiter delays (about 80 s per create or modify, 60 s per delete), not to
moto: the whole drill takes 18 to 20 minutes here.
"""

from __future__ import annotations

import datetime
import json
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from support.configs import project_table
from typer.testing import CliRunner

from config import model
from config.facts import DATABASE_KIND, DATABASE_SERVICE, StackRole
from e2e.emulator import Emulator
from main import cli
from ops import failover, pipeline
from ops import terraform as tf
from ops.smoke import sessions
from stacks import app

pytestmark = pytest.mark.drill  # ~20 minutes: `make drill` (and CI, beside the tests)

EAST, WEST, CENTRAL = "us-east-1", "us-west-2", "eu-central-1"


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


CONFIG = (
    project_table("failover-drill").lstrip("\n")
    + """
[environments.dev]
account_id = "111111111111"
regions = ["us-east-1", "us-west-2", "eu-central-1"]
# What makes the deploy after a failover delicate, in dev: the writer takes a final snapshot when
# it is deleted, and is deletion-protected.
db_skip_final_snapshot = false
deletion_protection = true

[state]
backend = "local"
local_dir = "{state}"
"""
)


class Drill:
    """The configuration file in `folder` (local state there too), the synth output and the
    Terraform runner; every deploy re-reads the file, as `main.py deploy` would."""

    def __init__(self, folder: Path):
        self.path = folder / "platform.toml"
        self.path.write_text(CONFIG.format(state=folder / "state"))
        self.out = folder / "out"
        self.runner = tf.Terraform(self.out)
        self.runner.log_dir = folder / "logs"  # each stack's Terraform output, for a failure's reader

    @property
    def config(self) -> model.Config:
        return model.load(self.path)

    @property
    def env(self) -> model.Environment:
        return self.config.environments["dev"]

    def synth(self) -> list:
        """Synthesizes every regional stack of dev; returns their specs."""
        from cdktf import App

        config = self.config
        env = config.environments["dev"]
        cdk_app = App(outdir=str(self.out.absolute()))
        specs = [spec for spec in config.select("dev") if spec.role != StackRole.EDGE]
        for spec in specs:
            database_stack(cdk_app, spec, config, env, self.out)
        cdk_app.synth()
        return specs

    def deploy(self, allow_destroy: bool = True) -> dict[str, list[str]]:
        """Synth, then `main.py deploy`'s engine (ops/pipeline.execute: the home region's stack,
        then the others side by side, each plan reviewed; replacements need `allow_destroy`);
        returns each region's planned actions on its DB instance."""
        specs = self.synth()
        results = pipeline.execute(
            specs, self.out, pipeline.Action.DEPLOY, self.runner, app.deploys_after, allow_destroy=allow_destroy,
            parallel=len(specs),
        )  # fmt: skip
        planned = {}
        for spec, result in zip(specs, sorted(results, key=lambda r: [s.name for s in specs].index(r.stack))):
            plan = json.loads(result.plan_json.read_text())
            (actions,) = [c["change"]["actions"] for c in plan["resource_changes"] if c["type"] == "aws_db_instance"]
            planned[spec.region] = actions
        return planned

    def session(self):
        return sessions(self.config, self.env, boto3.Session())[0]

    def rds(self, region: str):
        return self.session().client("rds", region_name=region)

    def identifier(self, region: str) -> str:
        return self.config.namer(self.env, region).name(DATABASE_SERVICE, DATABASE_KIND)

    def instance(self, region: str) -> dict:
        return self.rds(region).describe_db_instances(DBInstanceIdentifier=self.identifier(region))["DBInstances"][0]

    def sources(self) -> dict[str, str | None]:
        """{region: the identifier its instance replicates (None: a writer)}."""
        found = {}
        for region in self.env.regions:
            source = self.instance(region).get("ReadReplicaSourceDBInstanceIdentifier")
            found[region] = source.rsplit(":", 1)[-1] if source else None
        return found

    def roles(self) -> dict[str, str | None]:
        """`sources`, after checking that each writer is deletion-protected and each replica is not
        (a protected replica would stop the next deploy after a failover half way)."""
        for region in self.env.regions:
            instance = self.instance(region)
            writer = "ReadReplicaSourceDBInstanceIdentifier" not in instance
            assert instance["DeletionProtection"] is writer, (region, instance["DeletionProtection"])
        return self.sources()

    def final_snapshots(self, region: str) -> list[str]:
        found = self.rds(region).describe_db_snapshots(DBInstanceIdentifier=self.identifier(region))["DBSnapshots"]
        return sorted(s["DBSnapshotIdentifier"] for s in found if s["SnapshotType"] == "manual")

    def lag(self, region: str, seconds: float) -> None:
        self.session().client("cloudwatch", region_name=region).put_metric_data(
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

    def failover(self, to: str) -> None:
        """`main.py failover --env dev --to REGION --force`, then what its printed next steps ask
        before the deploy: turn deletion protection off on the old writer (which the deploy
        replaces)."""
        old = self.env.writer_region
        self.lag(to, 1)
        # --force: these stacks have no Route 53 health check (tests/test_failover.py proves that
        # refusal); the replica and lag checks run and pass.
        result = CliRunner().invoke(
            cli, ["failover", "--env", "dev", "--config", str(self.path), "--to", to, "--force"]
        )
        assert result.exit_code == 0, result.output
        assert self.env.writer_region == to
        said = " ".join(result.stdout.split())
        assert f"turn it off on {self.identifier(old)} first" in said, said
        self.rds(old).modify_db_instance(
            DBInstanceIdentifier=self.identifier(old), DeletionProtection=False, ApplyImmediately=True
        )


def test_deploys_after_failover_and_failback_rebuild_every_other_region_from_the_new_writer(tmp_path, aws):
    drill = Drill(tmp_path)
    east, west = drill.identifier(EAST), drill.identifier(WEST)
    first = drill.deploy()
    assert first == {EAST: ["create"], WEST: ["create"], CENTRAL: ["create"]}
    assert drill.roles() == {EAST: None, WEST: east, CENTRAL: east}
    promoted = drill.instance(WEST)["DbiResourceId"]

    drill.failover(WEST)
    with pytest.raises(pipeline.DestructivePlan) as refused:  # the review gate: --allow-destroy is needed
        drill.deploy(allow_destroy=False)
    assert "dev-us-east-1: the plan deletes or replaces stateful resources" in str(refused.value)
    assert drill.sources() == {EAST: None, WEST: None, CENTRAL: east}, "nothing was applied"
    after = drill.deploy()
    # The promoted replica becomes the writer in place (password, protection); every other region,
    # the old writer and the other replica alike, is rebuilt as a replica of it.
    assert after == {WEST: ["update"], EAST: ["delete", "create"], CENTRAL: ["delete", "create"]}
    assert drill.roles() == {EAST: west, WEST: None, CENTRAL: west}
    assert drill.instance(WEST)["DbiResourceId"] == promoted
    (first_life,) = drill.final_snapshots(EAST)  # the old writer's data, kept when it was replaced
    assert first_life.startswith(f"{drill.config.namer(drill.env, EAST).name('db-final', 'db_snapshot')}-")

    drill.failover(EAST)
    back = drill.deploy()
    assert back == {EAST: ["update"], WEST: ["delete", "create"], CENTRAL: ["delete", "create"]}
    assert drill.roles() == {EAST: None, WEST: east, CENTRAL: east}
    assert len(drill.final_snapshots(WEST)) == 1

    # The second drill deletes us-east-1's writer again: its final snapshot needs a name of its own.
    drill.failover(WEST)
    again = drill.deploy()
    assert again == {WEST: ["update"], EAST: ["delete", "create"], CENTRAL: ["delete", "create"]}
    assert drill.roles() == {EAST: west, WEST: None, CENTRAL: west}
    lives = drill.final_snapshots(EAST)
    assert len(lives) == 2 and first_life in lives
