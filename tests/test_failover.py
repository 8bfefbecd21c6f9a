"""ops/failover.py and `main.py failover`: against the e2e emulator (moto in server mode, reached through
AWS_ENDPOINT_URL exactly as AWS would be, with its Route 53 health-check responder probing a local
HTTPS stand-in), through the same CLI and code path a real run takes: a writer in one region and a
cross-region read replica in the other, health checks and failover records in the hosted zone,
replica lag in CloudWatch; promote, verify the writer, the DNS primary and the configuration file,
then fail back. The emulator supplies what moto 5.2.5 lacks (a promotion that clears the replica,
Aurora's SwitchoverGlobalCluster/FailoverGlobalCluster); stand-in clients only where a test needs a
state AWS reaches slowly (a promotion that never finishes) or the exact call parameters."""

from __future__ import annotations

import datetime
import itertools
import tomllib
import urllib.request
from pathlib import Path

import boto3
import pytest
from support.health_front import HealthFront, tls_health_front
from typer.testing import CliRunner

import webapp
from config import model
from config.errors import OperationFailed, SelectionError, UsageError
from config.facts import HEALTH_CHECK_SERVICE
from e2e.emulator import Emulator
from main import cli
from ops import failover
from ops.smoke import sessions

EAST, WEST, CENTRAL = "us-east-1", "us-west-2", "eu-central-1"
ACCOUNT = "111111111111"
ALB_ZONE = "Z35SXDOTRQ7X7K"  # the zone id AWS gives load balancers (any id does for Route 53 here)

CONFIG = """\
# A test configuration: the comments and layout below must survive `failover`.
[project]
name = "webapp"
suffix = "a1"
domain = "example.com"
owner = "platform"
cost_center = "cc-000"
external_id = "failover-test"
ci_account_id = "999999999999"

[environments.dev]   # the environment under test
account_id = "111111111111"
regions = ["us-east-1", "us-west-2"]   # first = primary
dns_routing_policy = "failover"
db_replica_max_lag_seconds = 30
"""


# --------------------------------------------------------------------------- the emulated AWS


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    """The regions' load balancers as Route 53's checkers reach them."""
    with tls_health_front(tmp_path_factory.mktemp("tls")) as (address, _):
        yield address


@pytest.fixture(scope="module")
def emulator():
    """moto with the e2e emulator's RDS patches: PromoteReadReplica clears the replica on both
    sides (moto alone keeps it naming its source), cross-region replicas and global clusters."""
    with Emulator() as running:
        yield running


@pytest.fixture
def aws(emulator, front, monkeypatch):
    monkeypatch.setattr(failover, "POLL_SECONDS", 0.05)  # moto reports 'modifying' once after a promotion
    urllib.request.urlopen(urllib.request.Request(f"{emulator.url}/moto-api/reset", method="POST"))
    emulator.stand_ins.endpoints.clear()
    HealthFront.statuses = {}
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)  # an operator's shell may have none
    return emulator


class World:
    """What the stacks leave behind for one environment, created with boto3 in its account."""

    def __init__(self, config_path: Path, emulator: Emulator, front: tuple[str, int]):
        self.path, self.emulator, self.front = config_path, emulator, front
        self.config = model.load(config_path)
        self.env = self.config.environments["dev"]
        self.session, self.dns = sessions(self.config, self.env, boto3.Session())
        self.route53 = self.dns.client("route53", region_name="us-east-1")
        self.zone = self.route53.create_hosted_zone(Name="example.com", CallerReference="zone")["HostedZone"]["Id"]
        self.zone = self.zone.rsplit("/", 1)[-1]
        self.checks: dict[str, str] = {}

    def rds(self, region: str):
        return self.session.client("rds", region_name=region)

    def db_id(self, region: str) -> str:
        return self.config.namer(self.env, region).name("db", "rds")

    def instance(self, region: str) -> dict:
        return self.rds(region).describe_db_instances(DBInstanceIdentifier=self.db_id(region))["DBInstances"][0]

    def writer(self, region: str) -> None:
        self.rds(region).create_db_instance(
            DBInstanceIdentifier=self.db_id(region),
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20,
            MasterUsername="app_admin",
            MasterUserPassword="not-a-secret-1",
            BackupRetentionPeriod=7,
        )

    def replica(self, region: str, source: str) -> None:
        self.rds(region).create_db_instance_read_replica(
            DBInstanceIdentifier=self.db_id(region),
            SourceDBInstanceIdentifier=self.instance(source)["DBInstanceArn"],
            DBInstanceClass="db.t4g.micro",
        )

    def lag(self, region: str, seconds: float, minutes_ago: int = 1) -> None:
        self.session.client("cloudwatch", region_name=region).put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[
                {
                    "MetricName": "ReplicaLag",
                    "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": self.db_id(region)}],
                    "Timestamp": datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago),
                    "Value": seconds,
                    "Unit": "Seconds",
                }
            ],
        )

    def dns_region(self, region: str, role: str | None) -> None:
        """The region's health check (tagged as its stack tags it, its target answered by the
        stand-in), `<region>.origin` alias, and with `role` its member of the failover set."""
        name = self.env.regional_origin_domain(region)
        check = self.route53.create_health_check(
            CallerReference=f"check-{region}",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": name,
                "Port": 443,
                "ResourcePath": webapp.HEALTH_PATH,
                "EnableSNI": True,
                "RequestInterval": 10,
                "FailureThreshold": 3,
            },
        )["HealthCheck"]["Id"]
        self.route53.change_tags_for_resource(
            ResourceType="healthcheck",
            ResourceId=check,
            AddTags=[{"Key": "Name", "Value": self.config.namer(self.env, region).name(HEALTH_CHECK_SERVICE)}],
        )
        self.checks[region] = check
        self.emulator.stand_ins.endpoints[name] = self.front
        alias = {"HostedZoneId": ALB_ZONE, "DNSName": self.alb(region), "EvaluateTargetHealth": True}
        records = [{"Name": name, "Type": "A", "AliasTarget": alias}]
        if role:
            records.append(
                {
                    "Name": self.env.origin_domain,
                    "Type": "A",
                    "SetIdentifier": region,
                    "Failover": role,
                    "AliasTarget": alias,
                    "HealthCheckId": check,
                }
            )
        self.change(records)

    def alb(self, region: str) -> str:
        return f"dev-{region}-alb-a1-42.{region}.elb.amazonaws.com"

    def change(self, records: list[dict]) -> None:
        self.route53.change_resource_record_sets(
            HostedZoneId=self.zone,
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": r} for r in records]},
        )

    def failover_set(self) -> dict[tuple[str, str], tuple[str, str, str | None]]:
        """(name, set identifier) -> (role, alias target, health check) of every failover record."""
        found = {}
        for page in self.route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=self.zone):
            for r in page["ResourceRecordSets"]:
                if r.get("Failover"):
                    found[(r["Name"].rstrip("."), r["SetIdentifier"])] = (
                        r["Failover"],
                        r["AliasTarget"]["DNSName"].rstrip("."),
                        r.get("HealthCheckId"),
                    )
        return found

    def primary(self) -> str:
        return next(
            s for (n, s), (role, *_) in self.failover_set().items() if n == self.env.origin_domain and role == "PRIMARY"
        )

    def snapshot(self) -> tuple:
        return (
            {r: self.instance(r).get("ReadReplicaSourceDBInstanceIdentifier") for r in self.env.regions},
            self.failover_set(),
            self.path.read_text(),
        )


def two_regions(tmp_path: Path, aws: Emulator, front, text: str = CONFIG) -> World:
    """dev: the writer in us-east-1, a replica in us-west-2 lagging 2 s, both healthy."""
    path = tmp_path / "platform.toml"
    path.write_text(text)
    world = World(path, aws, front)
    world.writer(EAST)
    world.replica(WEST, EAST)
    world.lag(WEST, 2)
    world.dns_region(EAST, "PRIMARY")
    world.dns_region(WEST, "SECONDARY")
    return world


def run(world: World, *args: str):
    return CliRunner().invoke(cli, ["failover", "--env", "dev", "--config", str(world.path), *args])


# --------------------------------------------------------------------------- the command


def test_failover_promotes_moves_the_dns_primary_records_the_writer_and_fails_back(tmp_path, aws, front):
    world = two_regions(tmp_path, aws, front)
    assert world.instance(WEST)["ReadReplicaSourceDBInstanceIdentifier"].endswith(f":db:{world.db_id(EAST)}")

    result = run(world, "--to", WEST)

    assert result.exit_code == 0, result.output
    promoted = world.instance(WEST)
    assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted and promoted["DBInstanceStatus"] == "available"
    assert world.primary() == WEST
    records = world.failover_set()
    assert records[(world.env.origin_domain, WEST)] == ("PRIMARY", world.alb(WEST), world.checks[WEST])
    assert records[(world.env.origin_domain, EAST)] == ("SECONDARY", world.alb(EAST), world.checks[EAST])
    text = world.path.read_text()
    assert 'writer_region = "us-west-2"' in text
    assert text.replace('writer_region = "us-west-2"  # recorded by `main.py failover`\n', "") == CONFIG
    reloaded = model.load(world.path).environments["dev"]
    assert reloaded.writer_region == WEST and reloaded.failover_order == (WEST, EAST)
    for step in ("promote", "wait", "DNS", "record the writer"):
        assert step in result.stdout
    assert "PromoteReadReplica dev-us-west-2-db-a1 accepted" in result.stdout
    assert "OVERRIDDEN" not in result.stdout
    assert f"failover --env dev --to {EAST}" in " ".join(result.stdout.split())  # the way back

    # The next deploy rebuilds the old writer's region as a replica of the new writer: here by hand.
    world.rds(EAST).delete_db_instance(DBInstanceIdentifier=world.db_id(EAST), SkipFinalSnapshot=True)
    world.replica(EAST, WEST)
    world.lag(EAST, 1)
    back = run(world, "--to", EAST)

    assert back.exit_code == 0, back.output
    assert "ReadReplicaSourceDBInstanceIdentifier" not in world.instance(EAST)
    assert world.primary() == EAST
    assert world.failover_set()[(world.env.origin_domain, WEST)][0] == "SECONDARY"
    assert model.load(world.path).environments["dev"].writer_region == EAST
    assert world.path.read_text() == CONFIG.replace(
        "[environments.dev]   # the environment under test\n",
        "[environments.dev]   # the environment under test\n"
        'writer_region = "us-east-1"  # recorded by `main.py failover`\n',
    )


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path, aws, front):
    world = two_regions(tmp_path, aws, front)
    before = world.snapshot()

    result = run(world, "--to", WEST, "--dry-run")

    assert result.exit_code == 0, result.output
    assert world.snapshot() == before
    out = " ".join(result.stdout.split())
    assert "would promote the read replica dev-us-west-2-db-a1 in us-west-2" in out
    assert "would wait until dev-us-west-2-db-a1 is available" in out
    assert "would rewrite 2 failover records of origin.dev.example.com" in out
    assert 'would set writer_region = "us-west-2"' in out
    assert "ok: at most 2 s in the last 5 minutes (limit 30 s)" in out


@pytest.mark.parametrize(
    ("arrange", "args", "code", "message"),
    [
        (lambda w: HealthFront.statuses.update({w.env.regional_origin_domain(WEST): 503}), [], 3, "is unhealthy"),
        (lambda w: w.emulator.stand_ins.endpoints.pop(w.env.regional_origin_domain(WEST)), [], 3, "is unhealthy"),
        (
            lambda w: w.lag(WEST, 31),
            [],
            3,
            "ReplicaLag reached 31 s in the last 5 minutes, over db_replica_max_lag_seconds = 30",
        ),
        (
            lambda w: w.lag(WEST, -1, minutes_ago=3),  # a period of its own
            [],
            3,
            "ReplicaLag was negative in the last 5 minutes: replication was not running",
        ),
    ],
    ids=["unhealthy", "unreachable", "lagging", "replication-stopped"],
)
def test_refusals_say_why_and_change_nothing(tmp_path, aws, front, arrange, args, code, message):
    world = two_regions(tmp_path, aws, front)
    arrange(world)
    before = world.snapshot()

    result = run(world, *(args or ["--to", WEST]))

    assert result.exit_code == code, result.output
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output
    assert result.stderr.startswith("error: ")
    assert world.snapshot() == before
    if code == 3:
        assert "--force overrides this when the writer region is down" in " ".join(result.stderr.split())


def test_no_lag_data_is_unknown_not_zero(tmp_path, aws, front):
    path = tmp_path / "platform.toml"
    path.write_text(CONFIG)
    world = World(path, aws, front)
    world.writer(EAST)
    world.replica(WEST, EAST)
    world.lag(WEST, 0, minutes_ago=30)  # only older than the window
    world.dns_region(EAST, "PRIMARY")
    world.dns_region(WEST, "SECONDARY")

    refused = run(world, "--to", WEST)
    assert refused.exit_code == 3
    assert "no ReplicaLag data in the last 5 minutes, so the lag is unknown (not zero)" in " ".join(
        refused.stderr.split()
    )
    assert world.primary() == EAST


def test_force_overrides_health_and_lag_and_says_so(tmp_path, aws, front):
    """The writer region is down: its health check fails, the replica publishes no lag."""
    path = tmp_path / "platform.toml"
    path.write_text(CONFIG)
    world = World(path, aws, front)
    world.writer(EAST)
    world.replica(WEST, EAST)
    world.dns_region(EAST, "PRIMARY")
    world.dns_region(WEST, "SECONDARY")
    HealthFront.statuses[world.env.regional_origin_domain(WEST)] = 500

    result = run(world, "--to", WEST, "--force")

    assert result.exit_code == 0, result.output
    overrides = [line for line in result.stdout.splitlines() if line.startswith("--force overrode ")]
    assert len(overrides) == 2, result.stdout
    assert "replica lag of dev-us-west-2-db-a1: no ReplicaLag data in the last 5 minutes" in overrides[0]
    assert "when the writer region is down its replicas may publish no lag at all" in overrides[0]
    assert "health of us-west-2: Route 53 health check dev-us-west-2-origin-health-a1 is unhealthy" in overrides[1]
    assert "OVERRIDDEN by --force" in result.stdout
    assert "ReadReplicaSourceDBInstanceIdentifier" not in world.instance(WEST)
    assert world.primary() == WEST


def test_force_never_overrides_a_target_that_is_not_a_replica_of_the_writer(tmp_path, aws, front):
    path = tmp_path / "platform.toml"
    path.write_text(CONFIG)
    world = World(path, aws, front)
    world.writer(EAST)
    world.writer(WEST)  # an unrelated database: promoting nothing would carry the data
    world.dns_region(EAST, "PRIMARY")
    world.dns_region(WEST, "SECONDARY")
    before = world.snapshot()

    result = run(world, "--to", WEST, "--force")

    assert result.exit_code == 3, result.output
    assert "dev-us-west-2-db-a1 in us-west-2 is not a replica, not the writer dev-us-east-1-db-a1" in " ".join(
        result.stderr.split()
    )
    assert world.snapshot() == before


def test_an_independent_topology_has_nothing_to_fail_over(tmp_path, aws, front):
    path = tmp_path / "platform.toml"
    path.write_text(CONFIG + 'database_topology = "independent"\n')
    result = CliRunner().invoke(cli, ["failover", "--env", "dev", "--to", WEST, "--config", str(path)])
    assert result.exit_code == 2
    assert "database_topology = 'independent'" in result.stderr and "nothing to fail over" in result.stderr
    assert path.read_text().endswith('database_topology = "independent"\n')


def test_latency_routing_changes_no_record(tmp_path, aws, front):
    world = two_regions(tmp_path, aws, front, CONFIG.replace('"failover"', '"latency"'))
    records = world.failover_set()

    result = run(world, "--to", WEST)

    assert result.exit_code == 0, result.output
    assert "no change: latency routing already sends viewers to every healthy region" in " ".join(result.stdout.split())
    assert world.failover_set() == records
    assert model.load(world.path).environments["dev"].writer_region == WEST


def test_three_regions_rewrite_the_failover_chain_in_the_stacks_order(tmp_path, aws, front):
    """us-east-1 > us-west-2 > eu-central-1 becomes eu-central-1 > us-east-1 > us-west-2: records
    move between origin and failover-1, in one change batch."""
    path = tmp_path / "platform.toml"
    path.write_text(CONFIG.replace('["us-east-1", "us-west-2"]', '["us-east-1", "us-west-2", "eu-central-1"]'))
    world = World(path, aws, front)
    world.writer(EAST)
    world.replica(WEST, EAST)
    world.replica(CENTRAL, EAST)
    world.lag(CENTRAL, 0)
    for region in (EAST, WEST, CENTRAL):
        world.dns_region(region, None)
    origin, chain = world.env.origin_domain, f"failover-1.{world.env.origin_domain}"
    start = failover.failover_records(
        (EAST, WEST, CENTRAL),
        origin,
        world.zone,
        {r: failover.Target(world.alb(r), ALB_ZONE, world.checks[r]) for r in (EAST, WEST, CENTRAL)},
    )
    world.change(start)

    result = run(world, "--to", CENTRAL)

    assert result.exit_code == 0, result.output
    assert world.failover_set() == {
        (origin, CENTRAL): ("PRIMARY", world.alb(CENTRAL), world.checks[CENTRAL]),
        (chain, EAST): ("PRIMARY", world.alb(EAST), world.checks[EAST]),
        (origin, EAST): ("SECONDARY", chain, None),
        (chain, WEST): ("SECONDARY", world.alb(WEST), world.checks[WEST]),
    }
    assert model.load(path).environments["dev"].failover_order == (CENTRAL, EAST, WEST)


@pytest.mark.parametrize("force", [False, True])
def test_aurora_global_moves_the_writer_of_the_global_cluster(tmp_path, aws, front, force):
    path = tmp_path / "platform.toml"
    path.write_text(
        CONFIG.replace('"failover"', '"latency"')
        + 'database_topology = "aurora_global"\ndb_instance_class = "db.r6g.large"\n'
    )
    world = World(path, aws, front)
    global_id = world.config.namer(world.env, "global").name("db", "rds")
    aurora = {"Engine": "aurora-postgresql", "EngineVersion": "16.4", "GlobalClusterIdentifier": global_id}
    world.rds(EAST).create_global_cluster(GlobalClusterIdentifier=global_id, Engine="aurora-postgresql")
    world.rds(EAST).create_db_cluster(
        DBClusterIdentifier=world.db_id(EAST), MasterUsername="dbadmin", MasterUserPassword="not-a-secret-1", **aurora
    )
    secondary = world.rds(WEST).create_db_cluster(DBClusterIdentifier=world.db_id(WEST), **aurora)["DBCluster"]
    for region in (EAST, WEST):
        world.dns_region(region, None)
    if not force:
        world.session.client("cloudwatch", region_name=WEST).put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[
                {
                    "MetricName": "AuroraGlobalDBReplicationLag",
                    "Dimensions": [
                        {"Name": "DBClusterIdentifier", "Value": world.db_id(WEST)},
                        {"Name": "SourceRegion", "Value": EAST},
                    ],
                    "Timestamp": datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1),
                    "Value": 250,
                    "Unit": "Milliseconds",
                }
            ],
        )

    result = run(world, "--to", WEST, *(["--force"] if force else []))

    assert result.exit_code == 0, result.output
    (found,) = world.rds(WEST).describe_global_clusters(GlobalClusterIdentifier=global_id)["GlobalClusters"]
    writers = [m["DBClusterArn"] for m in found["GlobalClusterMembers"] if m["IsWriter"]]
    assert writers == [secondary["DBClusterArn"]]
    assert ("FailoverGlobalCluster" if force else "SwitchoverGlobalCluster") in result.stdout
    if force:
        assert "--force overrode replica lag of dev-us-west-2-db-a1: no AuroraGlobalDBReplicationLag data" in (
            " ".join(result.stdout.split())
        )
    else:
        assert "at most 0.25 s" in result.stdout
    assert model.load(path).environments["dev"].writer_region == WEST


# --------------------------------------------------------------------------- the parts


@pytest.mark.parametrize("count", [2, 3, 4])
def test_failover_records_are_the_records_the_stacks_write(count):
    """ops cannot import modules/dns_failover.py (cdktf): the chain rule is stated twice, so every
    order of two to four regions must give the same (name, role, target) per region."""
    from modules.dns_failover import HEALTH_CHECK_INTERVAL, chain_name, failover_members  # noqa: F401

    regions = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")[:count]
    origin = "origin.dev.example.com"
    for order in itertools.permutations(regions):
        targets = {r: failover.Target(f"{r}.alb", ALB_ZONE, f"check-{r}") for r in order}
        ours = {
            (r["Name"].rstrip("."), r["SetIdentifier"]): (r["Failover"], r["AliasTarget"]["DNSName"].rstrip("."))
            for r in failover.failover_records(order, origin, "ZONE", targets)
        }
        theirs = {}
        for region in order:
            member, chain = failover_members(order, region, origin)
            theirs[(member.name, region)] = (member.role, f"{region}.alb")
            if chain is not None:
                theirs[(chain.name, region)] = (chain.role, chain_name(origin, order.index(region)))
        assert ours == theirs, order


def test_record_changes_delete_what_the_new_order_drops_and_upsert_the_rest():
    targets = {r: failover.Target(f"{r}.alb", ALB_ZONE, f"check-{r}") for r in (EAST, WEST, CENTRAL)}
    old = failover.failover_records((EAST, WEST, CENTRAL), "origin.x", "Z", targets)
    new = failover.failover_records((CENTRAL, EAST, WEST), "origin.x", "Z", targets)
    changes = failover.record_changes(old, new)
    deletes = [
        (c["ResourceRecordSet"]["Name"], c["ResourceRecordSet"]["SetIdentifier"])
        for c in changes
        if c["Action"] == "DELETE"
    ]
    assert deletes == [("origin.x.", WEST), ("failover-1.origin.x.", CENTRAL)]
    assert [c["Action"] for c in changes] == ["DELETE"] * len(deletes) + ["UPSERT"] * (len(changes) - len(deletes))
    upserts = [c["ResourceRecordSet"] for c in changes if c["Action"] == "UPSERT"]
    assert "HealthCheckId" not in upserts[-1]  # the chain alias after the members it points at
    assert failover.record_changes(new, new) == []


def test_the_configuration_edit_keeps_everything_but_the_writer(tmp_path):
    path = tmp_path / "c.toml"
    text = CONFIG.replace(
        "db_replica_max_lag_seconds = 30\n",
        "db_replica_max_lag_seconds = 30\n  writer_region   =   'us-east-1'   # moved by failover\n\n"
        "[environments.prod]\n"
        'account_id = "333333333333"\nregions = ["us-east-1", "us-west-2"]\nwriter_region = "us-east-1"\n',
    ).replace("\n", "\r\n")
    path.write_bytes(text.encode())
    edited = failover.recorded_writer(path, "dev", WEST)
    assert edited == text.replace("=   'us-east-1'   # moved", '=   "us-west-2"   # moved')
    assert path.read_bytes().decode() == text  # only computed, not written
    failover.write_config(path, edited, "dev", WEST)
    assert path.read_bytes().decode() == edited
    config = model.load(path)
    assert config.environments["dev"].writer_region == WEST and config.environments["prod"].writer_region == EAST

    quoted = tmp_path / "q.toml"
    quoted.write_text(CONFIG.replace("[environments.dev]", '[ environments . "dev" ]'))
    assert 'writer_region = "us-west-2"' in failover.recorded_writer(quoted, "dev", WEST)


def test_a_configuration_it_cannot_edit_safely_is_refused_before_anything_changes(tmp_path):
    inline = tmp_path / "inline.toml"
    inline.write_text(
        CONFIG.split("[environments.dev]")[0]
        + '[environments]\ndev = { account_id = "111111111111", regions = ["us-east-1", "us-west-2"] }\n'
    )
    with pytest.raises(
        UsageError, match=r'no \[environments.dev\] table .* set writer_region = "us-west-2" there by hand'
    ):
        failover.recorded_writer(inline, "dev", WEST)
    assert tomllib.loads(inline.read_text())["environments"]["dev"].get("writer_region") is None


class Stub:
    """A session whose clients are the given objects (by service name)."""

    def __init__(self, **clients):
        self.clients = clients

    def client(self, service, region_name=None):
        return self.clients[service]


class Lag:
    def __init__(self, points):
        self.points, self.calls = points, []

    def get_metric_statistics(self, **kwargs):
        self.calls.append(kwargs)
        return {"Datapoints": [{"Maximum": p} for p in self.points]}


class Route53Healthy:
    """Route 53 with one healthy, tagged health check per region and no failover routing to do."""

    def __init__(self, config, env):
        self.names = {f"id-{r}": config.namer(env, r).name(HEALTH_CHECK_SERVICE) for r in env.regions}

    def get_paginator(self, name):
        ids = list(self.names)
        return type("P", (), {"paginate": lambda self: [{"HealthChecks": [{"Id": i} for i in ids]}]})()

    def list_tags_for_resources(self, ResourceType, ResourceIds):
        return {
            "ResourceTagSets": [
                {"ResourceId": i, "Tags": [{"Key": "Name", "Value": self.names[i]}]} for i in ResourceIds
            ]
        }

    def get_health_check_status(self, HealthCheckId):
        return {"HealthCheckObservations": [{"StatusReport": {"Status": "Success: HTTP Status Code 200"}}] * 3}


def latency_config(tmp_path, **settings) -> model.Config:
    path = tmp_path / "c.toml"
    extra = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in settings.items())
    path.write_text(CONFIG.replace('"failover"', '"latency"') + extra)
    return model.load(path)


def test_a_promotion_that_does_not_finish_fails_naming_what_was_done(tmp_path):
    config = latency_config(tmp_path)
    env = config.environments["dev"]

    class Rds:
        promoted = False

        def describe_db_instances(self, DBInstanceIdentifier):
            source = {"ReadReplicaSourceDBInstanceIdentifier": f"arn:aws:rds:{EAST}:{ACCOUNT}:db:dev-us-east-1-db-a1"}
            return {"DBInstances": [{"DBInstanceStatus": "modifying" if self.promoted else "available", **source}]}

        def promote_read_replica(self, **kwargs):
            self.promoted = True
            assert kwargs == {
                "DBInstanceIdentifier": "dev-us-west-2-db-a1",
                "BackupRetentionPeriod": env.database.backup_retention_days,
            }

    ticks = itertools.count(0, 100)
    slept = []
    plan = failover.Failover(
        config,
        env,
        WEST,
        Stub(rds=Rds(), cloudwatch=Lag([1.0])),
        Stub(route53=Route53Healthy(config, env)),
        timeout=250,
        poll=7,
        sleep=slept.append,
        clock=lambda: next(ticks),
    ).prepare()
    with pytest.raises(OperationFailed) as failed:
        plan.run()
    message = str(failed.value)
    assert "failover step 'wait' failed" in message and "still 'modifying', still replicating" in message
    assert "done before it: promote: PromoteReadReplica dev-us-west-2-db-a1 accepted" in message
    assert slept == [7, 7]
    assert model.load(config.source).environments["dev"].writer_region == EAST  # not recorded


def test_a_configuration_that_cannot_be_written_after_the_promotion_says_what_was_done(tmp_path, monkeypatch):
    config = latency_config(tmp_path)
    env = config.environments["dev"]
    source = {"ReadReplicaSourceDBInstanceIdentifier": f"arn:aws:rds:{EAST}:{ACCOUNT}:db:dev-us-east-1-db-a1"}

    class Rds:
        promoted = False

        def describe_db_instances(self, DBInstanceIdentifier):
            return {"DBInstances": [{"DBInstanceStatus": "available", **({} if self.promoted else source)}]}

        def promote_read_replica(self, **kwargs):
            self.promoted = True

    plan = failover.Failover(
        config, env, WEST, Stub(rds=Rds(), cloudwatch=Lag([0.0])), Stub(route53=Route53Healthy(config, env))
    ).prepare()
    monkeypatch.setattr(failover.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OperationFailed) as failed:
        plan.run()
    message = str(failed.value)
    assert "failover step 'record the writer' failed (OSError: [Errno 28] No space left)" in message
    assert "promote: PromoteReadReplica dev-us-west-2-db-a1 accepted; wait: 'available', standalone" in message
    assert model.load(config.source).environments["dev"].writer_region == EAST
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]  # no temporary file left behind


class Aurora:
    """Aurora global database calls (moto 5.2.5 has no Switchover/FailoverGlobalCluster): the
    writer moves when asked; `calls` records what was asked."""

    def __init__(self, config, env):
        self.global_id = config.namer(env, "global").name("db", "rds")
        self.arns = {
            r: f"arn:aws:rds:{r}:{ACCOUNT}:cluster:{config.namer(env, r).name('db', 'rds')}" for r in env.regions
        }
        self.writer, self.calls = EAST, []

    def describe_db_clusters(self, DBClusterIdentifier):
        region = next(r for r, arn in self.arns.items() if arn.endswith(f":{DBClusterIdentifier}"))
        return {"DBClusters": [{"DBClusterArn": self.arns[region], "Status": "available"}]}

    def describe_global_clusters(self, GlobalClusterIdentifier):
        assert GlobalClusterIdentifier == self.global_id
        members = [{"DBClusterArn": arn, "IsWriter": r == self.writer} for r, arn in self.arns.items()]
        return {"GlobalClusters": [{"GlobalClusterMembers": members}]}

    def switchover_global_cluster(self, **kwargs):
        self.calls.append(("switchover", kwargs))
        self.writer = WEST

    def failover_global_cluster(self, **kwargs):
        self.calls.append(("failover", kwargs))
        self.writer = WEST


@pytest.mark.parametrize("force", [False, True])
def test_aurora_global_switches_over_or_with_force_fails_over_with_data_loss(tmp_path, force):
    config = latency_config(tmp_path, database_topology="aurora_global", db_instance_class="db.r6g.large")
    env = config.environments["dev"]
    rds, lag = Aurora(config, env), Lag([] if force else [12.0])  # milliseconds
    plan = failover.Failover(
        config, env, WEST, Stub(rds=rds, cloudwatch=lag), Stub(route53=Route53Healthy(config, env)), force=force
    ).prepare()

    assert lag.calls[0]["MetricName"] == "AuroraGlobalDBReplicationLag"
    assert lag.calls[0]["Dimensions"] == [  # the series of this secondary cluster, replicating from the writer's region
        {"Name": "DBClusterIdentifier", "Value": "dev-us-west-2-db-a1"},
        {"Name": "SourceRegion", "Value": EAST},
    ]
    rows = dict(plan.run())

    expected = {"GlobalClusterIdentifier": rds.global_id, "TargetDbClusterIdentifier": rds.arns[WEST]}
    if force:
        assert rds.calls == [("failover", {**expected, "AllowDataLoss": True})]
        assert plan.overridden and "no AuroraGlobalDBReplicationLag data" in plan.overridden[0]
    else:
        assert rds.calls == [("switchover", expected)]
        assert any("at most 0.012 s" in c.result for c in plan.checks)
    assert "writer here: True" in rows["wait"]
    assert model.load(config.source).environments["dev"].writer_region == WEST


def test_bad_input_is_refused_before_any_aws_call(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: any call would fail
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    for env, to, message in (
        ("nope", WEST, "unknown environment 'nope'; choose one of: dev, all"),
        ("all", WEST, "failover moves one environment at a time: pass --env NAME"),
        (
            "dev",
            EAST,
            "us-east-1 already holds environment dev's writer: nothing to fail over (other regions: us-west-2)",
        ),
        ("dev", CENTRAL, "region 'eu-central-1' is not one of environment dev's regions; choose one of: us-west-2"),
    ):
        result = CliRunner().invoke(cli, ["failover", "--env", env, "--to", to, "--config", str(path)])
        assert result.exit_code == 2 and result.stderr == f"error: {message}\n", result.output
    assert path.read_text() == CONFIG
    with pytest.raises(SelectionError):
        failover.Failover.validate(model.load(path).environments["dev"], "mars-1")


# --------------------------------------------------------------------------- the runbook


def test_the_runbook_states_the_detection_time_of_the_health_checks():
    from modules.dns_failover import FAILURE_THRESHOLD, HEALTH_CHECK_INTERVAL

    text = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    section = text.split("## Regional failover", 1)[1].split("\n## ", 1)[0]
    detection = HEALTH_CHECK_INTERVAL * FAILURE_THRESHOLD
    assert f"{HEALTH_CHECK_INTERVAL} s x {FAILURE_THRESHOLD} = {detection} s" in section
    for words in ("RPO", "RTO", "--dry-run", "failover --env", "--to", "smoke", "deletion protection", "--force"):
        assert words in section, words
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "docs/operations.md#regional-failover" in readme


def test_the_writer_is_recorded_before_dns(tmp_path):
    """Once the database moved, the configuration must say so even if the DNS step then fails: a
    deploy from the old configuration would try to make the promoted writer a replica again."""
    config = latency_config(tmp_path, database_topology="aurora_global", db_instance_class="db.r6g.large")
    env = config.environments["dev"]
    plan = failover.Failover(
        config,
        env,
        WEST,
        Stub(rds=Aurora(config, env), cloudwatch=Lag([12.0])),
        Stub(route53=Route53Healthy(config, env)),
    ).prepare()
    names = [step.name for step in plan.steps]
    assert names[-2:] == ["record the writer", "DNS"], names
