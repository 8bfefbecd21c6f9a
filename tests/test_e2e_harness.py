"""The e2e harness's own logic (e2e/run.py, e2e/frontend.py), offline and fast: the emulated run
never touches real state, the second-plan check lets only listed emulator drift through, the
webapp is unpacked from the user data the stack really carries (its bundle downloaded as the boot
script does), the writer's stand-in PostgreSQL is built from the bootstrap secret and a replica's is
its streaming standby, the TLS front is trusted through its CA only. `make e2e` runs the whole
thing against the emulator."""

from __future__ import annotations

import hashlib
import json
import lzma
import ssl
import sys
import time
import tomllib

import pytest
from typer.testing import CliRunner

from config import facts, model
from e2e import frontend, run
from e2e.postgres import free_port
from main import cli
from modules import userdata
from ops.smoke import https_status, parse_resolve
from webapp import HEALTH_PATH


def test_the_emulated_configuration_keeps_everything_but_the_state(tmp_path):
    source = model.load().source
    copy = run.emulated_config(source, tmp_path / "state", tmp_path / "c.toml")
    original, emulated = tomllib.loads(source.read_text()), tomllib.loads(copy.read_text())
    assert emulated.pop("state") == {"backend": "local", "local_dir": str(tmp_path / "state")}
    original.pop("state", None)
    assert emulated == original
    assert model.load(copy).state.local_dir == str(tmp_path / "state")


def test_an_s3_backend_configuration_is_emulated_with_local_state(tmp_path):
    source = tmp_path / "s3.toml"
    source.write_text(
        model.load().source.read_text() + '\n[state]\nbackend = "s3"\nbucket = "acme-tf-state"\n'
        'region = "eu-central-1"\n[environments.dev.dns_weights]\n'
    )
    emulated = tomllib.loads(run.emulated_config(source, tmp_path / "st", tmp_path / "c.toml").read_text())
    assert emulated["state"] == {"backend": "local", "local_dir": str(tmp_path / "st")}


def test_toml_writer_round_trips_the_configuration_shapes():
    data = {
        "project": {"name": "x", "n": 3, "flag": True, "list": ["a", 'b"c']},
        "environments": {"dev": {"regions": ["us-east-1"], "dns_weights": {"us-east-1": 10}}},
    }
    assert tomllib.loads(run.dump_toml(data)) == data


def plan_with(tmp_path, *changes):
    stack = tmp_path / "stacks" / "dev-us-east-1"
    stack.mkdir(parents=True)
    (stack / "plan.json").write_text(json.dumps({"format_version": "1.2", "resource_changes": list(changes)}))
    return ["dev-us-east-1"]


def update(type_, before, after):
    return {
        "address": f"{type_}.x",
        "type": type_,
        "change": {"actions": ["update"], "before": before, "after": after, "after_unknown": {}},
    }


def test_listed_emulator_drift_passes_and_anything_else_fails(tmp_path):
    stacks = plan_with(
        tmp_path,
        update(
            "aws_kms_key",
            {"rotation_period_in_days": None, "tags_all": {}},
            {"rotation_period_in_days": 365, "tags_all": {}},
        ),
        update("aws_kms_key", {"description": "a"}, {"description": "b"}),
        {"address": "aws_s3_bucket.y", "type": "aws_s3_bucket", "change": {"actions": ["delete", "create"]}},
        {"address": "aws_vpc.z", "type": "aws_vpc", "change": {"actions": ["no-op"]}},
    )
    assert run.unexpected_changes(tmp_path, stacks) == [
        "dev-us-east-1: aws_kms_key.x changes description",
        "dev-us-east-1: aws_s3_bucket.y delete/create",
    ]


def test_nested_drift_is_matched_by_path_and_unknown_values_are_consequences(tmp_path):
    cdn = "aws_cloudfront_distribution"
    stacks = plan_with(
        tmp_path,
        update(
            cdn,
            {"default_cache_behavior": [{"forwarded_values": [{"a": 1}], "compress": True}]},
            {"default_cache_behavior": [{"forwarded_values": [], "compress": True}]},
        ),
        update(
            cdn,
            {"default_cache_behavior": [{"forwarded_values": [], "compress": True}]},
            {"default_cache_behavior": [{"forwarded_values": [], "compress": False}]},
        ),
        {
            "address": "aws_launch_template.t",
            "type": "aws_launch_template",
            "change": {
                "actions": ["update"],
                "before": {"latest_version": 1, "tag_specifications": []},
                "after": {"tag_specifications": [{"resource_type": "instance"}]},
                "after_unknown": {"latest_version": True},
            },
        },
    )
    assert run.unexpected_changes(tmp_path, stacks) == [
        f"dev-us-east-1: {cdn}.x changes default_cache_behavior.compress"
    ]


def test_the_drift_step_lets_only_listed_emulator_drift_through():
    """`drift --json` findings that are listed emulator drift (matched without the block index)
    pass; any other change, and any deletion, is a finding of the e2e's drift step."""

    class Report:
        def main(self, *args, ok, capture):
            assert args == ("drift", "--json") and ok == (0, 4) and capture
            rule = {"address": "aws_vpc_security_group_ingress_rule.r", "type": "aws_vpc_security_group_ingress_rule"}
            group = {"address": "aws_autoscaling_group.g", "type": "aws_autoscaling_group"}
            changes = [
                {"path": "max_size", "before": 4, "after": 5},
                {"path": "default_instance_warmup", "before": 1, "after": None},
            ]
            return json.dumps(
                {
                    "stacks": [
                        {
                            "stack": "dev-us-east-1",
                            "resources": [
                                {
                                    **rule,
                                    "action": "update",
                                    "changes": [{"path": "description", "before": "x", "after": None}],
                                },
                                {**group, "action": "update", "changes": changes},
                                {
                                    "address": "aws_sns_topic.t",
                                    "type": "aws_sns_topic",
                                    "action": "delete",
                                    "changes": [],
                                },
                            ],
                        }
                    ]
                }
            )

    _, found = run.drift_report(Report(), ok=(0, 4))
    assert found == [
        ("dev-us-east-1", "aws_autoscaling_group.g", "max_size", 4, 5),
        ("dev-us-east-1", "aws_sns_topic.t", "deleted", None, None),
    ]


def test_every_allowed_drift_says_why():
    assert run.EMULATOR_DRIFT and all(len(why) > 20 for why in run.EMULATOR_DRIFT.values())


def s3_user_data():
    """The user data a regional stack renders: the bundle is an S3 object the script downloads."""
    data = userdata.bundle()
    digest = hashlib.sha256(data).hexdigest()
    location = userdata.BundleLocation("dev-us-east-1-artifacts", f"webapp/{digest}.tar.xz", digest, "us-east-1")
    script = userdata.render({"WEBAPP_ENVIRONMENT": "dev", "WEBAPP_REGION": "us-east-1"}, location)
    return script, data, location


def test_the_webapp_is_unpacked_from_the_s3_bundle_the_user_data_downloads(tmp_path):
    script, data, location = s3_user_data()
    asked = []
    environment = run.unpack_webapp(script, tmp_path, lambda *where: asked.append(where) or data)
    assert asked == [("us-east-1", location.bucket, location.key)]
    assert environment == {"WEBAPP_ENVIRONMENT": "dev", "WEBAPP_REGION": "us-east-1"}
    assert (tmp_path / "webapp" / "server.py").read_text() == (userdata.WEBAPP_DIR / "server.py").read_text()


def test_a_bundle_that_is_not_the_one_the_user_data_names_is_a_clear_failure(tmp_path):
    script, data, _ = s3_user_data()
    other = lzma.compress(lzma.decompress(data) + b"\0" * 512)
    with pytest.raises(run.E2EFailure, match="does not match the SHA-256"):
        run.unpack_webapp(script, tmp_path, lambda *where: other)
    with pytest.raises(run.E2EFailure, match="pass fetch to download it"):
        run.unpack_webapp(script, tmp_path)


def test_user_data_without_a_bundle_is_a_clear_failure(tmp_path):
    with pytest.raises(run.E2EFailure, match="no webapp bundle"):
        run.unpack_webapp("#!/bin/bash\necho hi\n", tmp_path)


def test_the_writer_region_stands_in_first_and_every_region_needs_a_role():
    env = model.load().environments["dev"]
    regions = list(env.regions)
    outputs = {f"dev-{r}": {"db_role": "replica" if r == regions[0] else "writer"} for r in regions}
    assert run.writers_first(env, outputs) == [*regions[1:], regions[0]]
    with pytest.raises(run.E2EFailure, match="no region's stack has db_role = writer"):
        run.writers_first(env, {f"dev-{r}": {"db_role": "replica"} for r in regions})
    with pytest.raises(run.E2EFailure, match="db_role output is not writer or replica"):
        run.writers_first(env, {f"dev-{r}": {} for r in regions})
    with pytest.raises(run.E2EFailure, match="not JSON with username and password"):
        run.writer_database({"username": "dbadmin"}, "app", "webapp")


def test_the_tls_front_serves_the_webapp_under_each_routed_name(tmp_path):
    log = tmp_path / "webapp.log"
    with (
        frontend.Process(
            [sys.executable, "-m", "webapp.server"],
            cwd=userdata.WEBAPP_DIR.parent,
            log=log,
            env={"WEBAPP_HOST": "127.0.0.1", "WEBAPP_PORT": str(free_port()), "PATH": "/usr/bin:/bin"},
        ) as port,
        frontend.TlsFront(tmp_path / "tls") as front,
    ):
        front.route("us-east-1.origin.dev.example.com", port)
        front.route("app.dev.example.com", port)
        front.start()
        trusted = ssl.create_default_context(cafile=str(front.ca_file))
        address = ("127.0.0.1", front.port)
        assert https_status("app.dev.example.com", HEALTH_PATH, address, trusted) == 200
        assert https_status("us-east-1.origin.dev.example.com", HEALTH_PATH, address, trusted) == 200
        with pytest.raises(ssl.SSLCertVerificationError):  # the system's CAs do not know the throw-away CA
            https_status("app.dev.example.com", HEALTH_PATH, address, ssl.create_default_context())
        with pytest.raises(RuntimeError, match="route every name before start"):
            front.route("late.example.com", port)


def test_resolve_entries_are_parsed_and_bad_ones_are_exit_2(tmp_path):
    assert parse_resolve(["db.x.rds.amazonaws.com=127.0.0.1:5433"]) == {"db.x.rds.amazonaws.com": ("127.0.0.1", 5433)}
    for bad in ("app.example.com", "app.example.com=127.0.0.1", "=1.2.3.4:5", "a=1.2.3.4:99999"):
        with pytest.raises(ValueError, match="expected NAME=ADDRESS:PORT"):
            parse_resolve([bad])
    result = CliRunner().invoke(cli, ["smoke", "--env", "dev", "--resolve", "nonsense", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "expected NAME=ADDRESS:PORT" in result.stderr


def test_the_testing_docs_name_every_emulator_responder():
    from pathlib import Path

    from e2e.emulator import RESPONDERS

    testing = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    for responder in RESPONDERS:
        assert f"| {responder.api} |" in testing, f"docs/testing.md's emulator table lacks {responder.api}"


def test_the_testing_docs_list_every_allowed_drift():
    from pathlib import Path

    testing = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    for (type_, path), why in run.EMULATOR_DRIFT.items():
        assert f"| `{type_}` | `{path}` | {why} |" in testing, f"docs/testing.md's drift table lacks {type_} {path}"


def test_the_stand_in_webapps_answer_ready_through_ssm_run_command(tmp_path):
    """What `make e2e`'s smoke step relies on, without a deploy: the webapps run as `stand_ins`
    runs them (the instances' Python 3.9, the instance role's assumed credentials, a real
    PostgreSQL) answer smoke's SSM probe of their /ready with 200 through the emulator: the
    writer's, which creates `webapp` with the bootstrap secret the emulator holds (the stand-in
    trusts it in place of an IAM token), then the replica's, on a streaming standby that got the
    role by replication."""
    import boto3

    from e2e import seed
    from e2e.emulator import Emulator
    from e2e.postgres import standby_of
    from ops.smoke import ready_script
    from webapp import PORT

    account, region = "210000000030", "us-east-1"
    master = {"username": "dbadmin", "password": "bootstrap'password"}
    answers = {}
    with Emulator() as emulator:
        writer = run.writer_database(master, "app", "webapp")
        try:
            with standby_of(writer) as replica:
                secret = seed.client(emulator.url, "secretsmanager", account, region).create_secret(
                    Name="dev-us-east-1-db-bootstrap", SecretString=json.dumps(master)
                )["ARN"]
                keys = seed.client(emulator.url, "sts", account, region).assume_role(
                    RoleArn=facts.role_arn(account, "dev-us-east-1-web-a1"), RoleSessionName="e2e-instance"
                )["Credentials"]
                session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test")
                ec2 = session.client("ec2", region_name=region, endpoint_url=emulator.url)
                image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
                instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
                ssm = seed.client(emulator.url, "ssm", account, region)
                for role, database, bootstrap in (("writer", writer, secret), ("replica", replica, None)):
                    environ = {
                        **({"WEBAPP_DB_BOOTSTRAP_SECRET_ARN": bootstrap} if bootstrap else {}),
                        "WEBAPP_DB_NAME": "app",
                        "WEBAPP_DB_USER": "webapp",
                        "WEBAPP_REGION": region,
                        "WEBAPP_HOST": "127.0.0.1",
                        "WEBAPP_PORT": str(free_port()),
                        "WEBAPP_DB_HOST": "127.0.0.1",
                        "WEBAPP_DB_PORT": str(database.port),
                        "WEBAPP_AWS_ENDPOINT_URL": emulator.url,
                        "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
                        "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
                        "AWS_SESSION_TOKEN": keys["SessionToken"],
                        "PATH": "/usr/bin:/bin",
                    }
                    with frontend.Process(
                        [run.instance_python(), "-m", "webapp.server"],
                        cwd=userdata.WEBAPP_DIR.parent,
                        log=tmp_path / f"webapp-{role}.log",
                        env=environ,
                    ) as port:
                        emulator.stand_ins.webapps[(account, region)] = (PORT, port)
                        command = ssm.send_command(
                            InstanceIds=[instance],
                            DocumentName="AWS-RunShellScript",
                            Parameters={"commands": [ready_script()]},
                        )["Command"]["CommandId"]
                        for _ in range(100):
                            result = ssm.get_command_invocation(CommandId=command, InstanceId=instance)
                            if result["Status"] != "InProgress":
                                break
                            time.sleep(0.1)
                    answers[role] = result
        finally:
            writer.stop()
    for role, result in answers.items():
        assert result["Status"] == "Success", result
        lines = result["StandardOutputContent"].strip().splitlines()
        assert lines[-1] == "HTTP 200", result["StandardOutputContent"]
        body = json.loads(lines[0])
        assert body["status"] == "ready" and body["checks"] == {"database": "ok"} and body["role"] == role, body
    assert answers.keys() == {"writer", "replica"}
