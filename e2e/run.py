"""`make e2e`: deploy one environment to an emulated AWS with the project's own commands, prove it
works, prove a second plan is clean, and destroy it.

    python -m e2e.run [--config PATH] [--env NAME]

1. Starts the emulator (e2e/emulator.py: moto server plus the responders it lists) on a free
   loopback port and seeds what a fresh account and the configuration imply (e2e/seed.py).
2. Runs `main.py deploy --env NAME`: real `terraform init/plan/apply` of every stack of the
   environment in dependency order, with the review gate. The stacks are the ones a real deploy
   synthesizes; the only differences are in the environment: `AWS_ENDPOINT_URL` (which boto3 and
   the AWS provider honour) and test credentials. moto answers GetCallerIdentity and AssumeRole,
   so the providers' credential validation, account checks and role assumption run for real.
   State goes to a temporary folder (the configuration is copied with `[state]` pointing there),
   so an emulated run can never touch the state of a real deployment.
3. Stands up on loopback what an emulator cannot run, and says so: a real PostgreSQL for the
   writer region with the master credentials of the bootstrap secret the emulator holds, and for
   every replica region a streaming standby of it (the application's role logs in with `trust`
   from loopback: plain PostgreSQL cannot validate IAM tokens); the webapp, from the S3 bundle the
   user data of the launch template the stack created downloads, run by the instances' Python
   (3.9) with the instance role's credentials and its region's database; a TLS front for
   the load balancers and CloudFront (a throw-away CA, trusted through SSL_CERT_FILE). They are
   registered with the emulator: its SSM responder runs Run Command scripts against the region's
   webapp, its Route 53 responder requests health-check targets at the front. The Lambda runs
   through the emulator's own runner.
4. `main.py smoke --env NAME` with one `--resolve` entry: the viewer name (CloudFront's) at the
   front. Like an operator, smoke reaches nothing else directly.
5. `main.py plan` again: any change not in `EMULATOR_DRIFT` (what moto does not round-trip, each
   with its reason) fails. A `terraform plan` run by hand in a stack folder is reviewed with
   `main.py review`. `cdktf deploy` and `cdktf destroy` (cdktf-cli in .tools/) run on the edge stack.
6. `main.py drift`: the fresh deployment shows no drift beyond listed emulator noise
   (`EMULATOR_DRIFT`); an Auto Scaling group's max size changed with boto3 behind Terraform's
   back is then found, exactly that resource and attribute, with exit 4; the group is put back.
7. `main.py destroy --env NAME --allow-destroy`; every state must be empty afterwards.

The last line is `e2e: <N> stacks applied (<R> resources), smoke passed, destroyed in <S> s`;
exit 0 only when every step passed.
"""

from __future__ import annotations

import argparse
import base64
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import modules  # noqa: E402,F401  (the bundled Node and NODE_OPTIONS for every child, cdktf's included)
from config import model, naming  # noqa: E402
from config.facts import WEB_ROLE_KIND, WEB_SERVICE, DbRole, RegionalOutput, StackRole, role_arn  # noqa: E402
from e2e import frontend, seed  # noqa: E402
from e2e.emulator import Emulator, describe  # noqa: E402
from e2e.postgres import Postgres, free_port, standby_of  # noqa: E402
from e2e.runtimes import INSTANCE_PYTHON, RuntimeMissing, find_python  # noqa: E402
from modules import userdata  # noqa: E402
from ops import terraform, toolchain  # noqa: E402

CDKTF = ROOT / ".tools" / "node_modules" / ".bin" / "cdktf"  # `make tools`; the Makefile passes its own path
# What moto 5.2.5 does not return after an apply, so Terraform plans it again every time:
# (resource type, attribute path) -> why. A path names an attribute or a nested block's attribute
# (`block.attribute`) and covers what lies below it. Any other difference in the second plan fails.
EMULATOR_DRIFT: dict[tuple[str, str], str] = {
    ("aws_autoscaling_group", "default_instance_warmup"): "moto does not store default_instance_warmup",
    (
        "aws_autoscaling_group",
        "capacity_reservation_specification.capacity_reservation_preference",
    ): "moto returns no preference (null) where the provider plans its empty default",
    ("aws_autoscaling_policy", "enabled"): "moto does not return the policy's enabled flag",
    ("aws_autoscaling_policy", "predictive_scaling_configuration"): "moto returns an empty predictive scaling block "
    "for target-tracking policies",
    ("aws_db_parameter_group", "parameter"): "moto does not return user-set parameters",
    ("aws_kms_key", "rotation_period_in_days"): "moto does not return the rotation period",
    ("aws_lambda_function", "dead_letter_config"): "moto does not return the dead-letter target",
    ("aws_lambda_function", "logging_config"): "moto does not return the logging configuration",
    ("aws_launch_template", "tag_specifications"): "moto does not return tag specifications as written",
    ("aws_vpc_security_group_ingress_rule", "description"): "moto drops security-group rule descriptions",
    ("aws_vpc_security_group_egress_rule", "description"): "moto drops security-group rule descriptions",
    ("aws_cloudfront_distribution", "default_cache_behavior.forwarded_values"): "moto returns legacy forwarded_values "
    "for a cache-policy behavior",
    ("aws_cloudfront_distribution", "ordered_cache_behavior.forwarded_values"): "moto returns legacy forwarded_values "
    "for a cache-policy behavior",
    ("aws_cloudfront_distribution", "viewer_certificate.cloudfront_default_certificate"): "moto reports the default "
    "certificate next to the "
    "ACM one",
}


class E2EFailure(RuntimeError):
    """A step failed; the message names it and what went wrong."""


def say(message: str) -> None:
    print(f"e2e: {message}", flush=True)


# --- configuration ---------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string accepts JSON's escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(data: dict[str, Any]) -> str:
    """Tables of scalars, lists and inline tables, and tables of such tables (the configuration's shape)."""
    lines: list[str] = []

    def table(path: list[str], body: dict[str, Any]) -> None:
        scalars = {
            k: v
            for k, v in body.items()
            if not isinstance(v, dict) or not all(isinstance(x, dict) for x in v.values()) or not v
        }
        nested = {k: v for k, v in body.items() if k not in scalars}
        if path:
            lines.append(f"[{'.'.join(json.dumps(p) for p in path)}]")
        lines.extend(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in scalars.items())
        lines.append("")
        for key, value in nested.items():
            table([*path, key], value)

    table([], data)
    return "\n".join(lines)


def emulated_config(source: Path, state_dir: Path, target: Path, changes: dict[str, dict] | None = None) -> Path:
    """The configuration as given, with local state in `state_dir`: an emulated run never reads or
    writes the state of a real deployment, whatever backend the configuration names. `changes`
    (table -> keys) are what the run itself must set, such as the emulator's hosted zone id."""
    data = tomllib.loads(source.read_text())
    for table, keys in (changes or {}).items():
        for key, value in keys.items():
            if isinstance(value, dict):
                data.setdefault(table, {}).setdefault(key, {}).update(value)
            else:
                data.setdefault(table, {})[key] = value
    data["state"] = {"backend": "local", "local_dir": str(state_dir)}
    text = f"# {source} for `make e2e`: state in {state_dir}\n" + dump_toml(data)
    target.write_text(text)
    return target


# --- running the project's own commands ------------------------------------------------------


class Session:
    def __init__(self, config_path: Path, env_name: str, work: Path, environ: dict[str, str]):
        self.config_path, self.env_name, self.work, self.environ = config_path, env_name, work, environ
        self.out = work / "cdktf.out"
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def main(
        self, *args: str, ok: tuple[int, ...] = (0,), extra_env: dict[str, str] | None = None, capture: bool = False
    ) -> str:
        """`python main.py ARGS --env NAME --config CONFIG --out OUT`; output logged, returned."""
        command = [
            sys.executable,
            str(ROOT / "main.py"),
            *args,
            "--env",
            self.env_name,
            "--config",
            str(self.config_path),
            "--out",
            str(self.out),
        ]
        return self.run(args[0], command, ok=ok, extra_env=extra_env, capture=capture)

    def run(
        self,
        name: str,
        command: list[str],
        ok: tuple[int, ...] = (0,),
        cwd: Path = ROOT,
        extra_env: dict[str, str] | None = None,
        capture: bool = False,
    ) -> str:
        """Run a command, its output streamed to a numbered log file; `capture` returns stdout instead."""
        log = self.logs / f"{len(list(self.logs.iterdir())):02d}-{name}.log"
        started = time.monotonic()
        with log.open("w") as sink:  # streamed, so a long step can be followed with tail -f
            sink.write(f"$ {' '.join(command)}\n")
            sink.flush()
            done = subprocess.run(
                command,
                cwd=cwd,
                stdout=subprocess.PIPE if capture else sink,
                stderr=sink,
                text=True,
                env={**self.environ, **(extra_env or {})},
                check=False,
            )
            if capture:
                sink.write(f"--- stdout ---\n{done.stdout}")
        say(f"{name}: exit {done.returncode} in {time.monotonic() - started:.0f} s (log: {log})")
        if done.returncode not in ok:
            tail = "\n".join(log.read_text().strip().splitlines()[-25:])
            raise E2EFailure(f"{name} exited {done.returncode}:\n{tail}")
        return done.stdout or ""


def aws_environment(url: str) -> dict[str, str]:
    """The standard AWS settings, pointed at the emulator; nothing project-specific."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    environ.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return environ


# --- what the emulator cannot run -----------------------------------------------------------


def managed_resources(state_dir: Path, stacks: list[str]) -> dict[str, int]:
    """Managed resource instances per stack, from its local state file (a missing file counts -1)."""
    counts = {}
    for stack in stacks:
        path = state_dir / f"{stack}.tfstate"
        if not path.is_file() or not path.stat().st_size:
            counts[stack] = -1
            continue
        state = json.loads(path.read_text())
        counts[stack] = sum(
            len(r.get("instances", [])) for r in state.get("resources", []) if r.get("mode") == "managed"
        )
    return counts


def user_data_of(ec2: Any, autoscaling: Any, asg_name: str) -> str:
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])["AutoScalingGroups"]
    spec = group.get("LaunchTemplate") or group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    (version,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec.get("Version", "$Latest")]
    )["LaunchTemplateVersions"]
    return base64.b64decode(version["LaunchTemplateData"]["UserData"]).decode()


def unpack_webapp(script: str, into: Path, fetch: Callable[[str, str, str], bytes] | None = None) -> dict[str, str]:
    """What the instance's boot script (modules/userdata.py) installs: the webapp bundle (from S3
    through `fetch(region, bucket, key)`, checked against the script's SHA-256, or embedded)
    extracted under `into`; returns the environment file's settings."""
    try:
        return userdata.unpack(script, into, fetch)
    except (ValueError, OSError, tarfile.TarError, lzma.LZMAError) as exc:
        raise E2EFailure(f"the launch template's user data: {exc}") from None


def instance_python() -> str:
    """Amazon Linux 2023's Python (3.9), as the instances run the webapp."""
    try:
        return find_python(INSTANCE_PYTHON)
    except RuntimeMissing as exc:
        raise E2EFailure(str(exc)) from None


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def writers_first(env: model.Environment, outputs: dict[str, dict]) -> list[str]:
    """The environment's regions, those whose stack says db_role = writer first: a replica's
    stand-in is a standby of its writer's, so the writer's must exist first."""
    roles = {r: outputs[naming.stack_name(env.name, r)].get(RegionalOutput.DB_ROLE) for r in env.regions}
    unknown = {r: role for r, role in roles.items() if role not in tuple(DbRole)}
    if unknown:
        raise E2EFailure(f"the stacks' db_role output is not writer or replica: {unknown}")
    if DbRole.WRITER not in roles.values():
        raise E2EFailure("no region's stack has db_role = writer")
    return sorted(env.regions, key=lambda r: roles[r] != DbRole.WRITER)


def writer_database(secret: dict[str, str], database: str, app_user: str) -> Postgres:
    """The writer's stand-in, started: the master role of the bootstrap secret (LOGIN, CREATEROLE
    and rds_iam with its admin option, as RDS's master user holds through rds_superuser), owning
    `database`; `app_user` trusted from loopback over TLS in place of IAM authentication. The
    application's role itself is left for the webapp's bootstrap to create, as on RDS."""
    if not isinstance(secret, dict) or not secret.get("username") or not secret.get("password"):
        raise E2EFailure("the bootstrap secret is not JSON with username and password")
    server = Postgres()
    server.start()
    try:
        master = sql_identifier(secret["username"])
        server.sql(f"CREATE ROLE {master} LOGIN CREATEROLE PASSWORD {sql_literal(secret['password'])}")
        server.sql("CREATE ROLE rds_iam")  # RDS's role for IAM logins; a plain PostgreSQL lacks it
        server.sql(f"GRANT rds_iam TO {master} WITH ADMIN OPTION")
        server.sql(f"CREATE DATABASE {sql_identifier(database)} OWNER {master}")
        server.trust(app_user)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def stand_ins(
    session: Session, cfg: model.Config, env: model.Environment, emulator: Emulator, outputs: dict[str, dict]
) -> Iterator[tuple[list[str], Path]]:
    """Per region: the webapp from its user data (the bundle downloaded from the emulator's S3 with
    the instance role's credentials, as the boot script does), with those credentials and a real
    PostgreSQL: in a writer region one holding the master credentials of the bootstrap secret the
    emulator holds, in a replica region a streaming standby of the writer's; one TLS front for
    every load balancer name and the viewer name. Registers them with the emulator (SSM Run
    Command reaches the webapp, Route 53 health checks the front). Yields the --resolve entry of
    the viewer name, the only name an operator connects to, and the CA file that makes the front
    trusted."""
    url = emulator.url
    with ExitStack() as stack:
        front = stack.enter_context(frontend.TlsFront(session.work / "tls"))
        resolve: list[str] = []
        databases: dict[str, Postgres] = {}
        for region in writers_first(env, outputs):
            values = outputs[naming.stack_name(env.name, region)]

            def aws(service: str, region: str = region) -> Any:
                return seed.client(url, service, env.account_number, region)

            role = cfg.namer(env, region).name(WEB_SERVICE, WEB_ROLE_KIND)  # the instance profile's role
            keys = aws("sts").assume_role(RoleArn=role_arn(env.account_number, role), RoleSessionName="e2e-instance")[
                "Credentials"
            ]
            instance = {
                "aws_access_key_id": keys["AccessKeyId"],
                "aws_secret_access_key": keys["SecretAccessKey"],
                "aws_session_token": keys["SessionToken"],
            }

            def download(bucket_region: str, bucket: str, key: str, instance: dict = instance) -> bytes:
                s3 = boto3.client("s3", endpoint_url=url, region_name=bucket_region, **instance)
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

            folder = session.work / "webapp" / region
            folder.mkdir(parents=True)
            app_env = unpack_webapp(
                user_data_of(aws("ec2"), aws("autoscaling"), values[RegionalOutput.ASG_NAME]), folder, download
            )
            missing = [k for k in ("WEBAPP_DB_NAME", "WEBAPP_DB_USER", "WEBAPP_PORT") if not app_env.get(k)]
            if missing:
                raise E2EFailure(f"{region}: the user data's environment lacks {', '.join(missing)}")
            db_host = values[RegionalOutput.DB_ENDPOINT].rpartition(":")[0]
            if values[RegionalOutput.DB_ROLE] == DbRole.WRITER:
                if not values.get(RegionalOutput.DB_BOOTSTRAP_SECRET_ARN):
                    raise E2EFailure(f"{region}: the writer's stack has no db_bootstrap_secret_arn output")
                secret = aws("secretsmanager").get_secret_value(SecretId=values[RegionalOutput.DB_BOOTSTRAP_SECRET_ARN])
                database = writer_database(
                    json.loads(secret["SecretString"]), app_env["WEBAPP_DB_NAME"], app_env["WEBAPP_DB_USER"]
                )
                stack.callback(database.stop)
                what = (
                    f"the writer: database {app_env['WEBAPP_DB_NAME']}, master credentials from the bootstrap "
                    "secret the emulator holds"
                )
            else:
                writer_region = env.writer_region
                if writer_region not in databases:
                    raise E2EFailure(f"{region} is a replica but its writer region {writer_region} has no writer")
                database = stack.enter_context(standby_of(databases[writer_region]))
                what = f"a replica: a streaming standby of {writer_region}'s (pg_basebackup -R)"
            databases[region] = database
            say(f"{region}: PostgreSQL {database.port} on loopback stands in for {db_host} ({what})")
            say(
                f"{region}: the stand-in does not validate IAM tokens: {app_env['WEBAPP_DB_USER']} logs in from "
                "127.0.0.1 over TLS with `trust` (pg_hba.conf); tests/test_iam_grants.py proves the policy "
                "that lets the instance role sign them"
            )
            port = stack.enter_context(
                frontend.Process(
                    [instance_python(), "-m", "webapp.server"],
                    cwd=folder,
                    log=session.logs / f"webapp-{region}.log",
                    env={
                        **app_env,
                        "WEBAPP_HOST": "127.0.0.1",
                        "WEBAPP_PORT": str(free_port()),
                        "WEBAPP_DB_HOST": "127.0.0.1",
                        "WEBAPP_DB_PORT": str(database.port),
                        "WEBAPP_AWS_ENDPOINT_URL": url,
                        "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
                        "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
                        "AWS_SESSION_TOKEN": keys["SessionToken"],
                        "PATH": os.environ["PATH"],
                    },
                )
            )
            emulator.stand_ins.webapps[(env.account_number, region)] = (int(app_env["WEBAPP_PORT"]), port)
            front.route(env.regional_origin_domain(region), port)
            if env.is_primary(region):
                front.route(env.origin_domain, port)
                front.route(env.app_domain, port)  # CloudFront sends viewers to the closest healthy region
            say(
                f"{region}: webapp from the S3 bundle the launch template's user data fetches, on 127.0.0.1:{port} "
                "(Python 3.9, the instance role's credentials)"
            )
        front.start()
        emulator.stand_ins.endpoints.update({name: ("127.0.0.1", front.port) for name in front.names()})
        resolve.append(f"{env.app_domain}=127.0.0.1:{front.port}")
        say(
            f"TLS front on 127.0.0.1:{front.port} for {', '.join(front.names())} (CA {front.ca_file}); "
            "Route 53 health checks reach it, smoke only by the viewer name"
        )
        try:
            yield resolve, front.ca_file
        finally:
            emulator.stand_ins.webapps.clear()
            emulator.stand_ins.endpoints.clear()


# --- second plan ------------------------------------------------------------------------------


def differences(before: Any, after: Any, unknown: Any, path: str = "") -> list[str]:
    """Attribute paths whose known values differ. Values Terraform will only know after the apply
    are skipped: they are consequences, and what causes them differs in a known value somewhere."""
    if unknown is True:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        mask = unknown if isinstance(unknown, dict) else {}
        return [
            d
            for key in sorted(set(before) | set(after))
            for d in differences(before.get(key), after.get(key), mask.get(key), f"{path}.{key}" if path else key)
        ]
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and all(isinstance(item, dict) for item in before + after)
    ):  # nested blocks, item by item
        mask = unknown if isinstance(unknown, list) else []
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for d in differences(b, a, mask[i] if i < len(mask) else None, path)
        ]
    return [] if before == after else [path]


def allowed(type_: str, path: str) -> bool:
    return any(t == type_ and (path == p or path.startswith(f"{p}.")) for t, p in EMULATOR_DRIFT)


def unexpected_changes(out: Path, stacks: list[str]) -> list[str]:
    """Second-plan changes that are not listed emulator drift: anything but an in-place update,
    and any update of an attribute path not in EMULATOR_DRIFT."""
    found = []
    for stack in stacks:
        plan = json.loads((out / "stacks" / stack / terraform.PLAN_JSON).read_text())
        for change in plan.get("resource_changes", []):
            actions = change["change"]["actions"]
            if actions in (["no-op"], ["read"]):
                continue
            if actions != ["update"]:
                found.append(f"{stack}: {change['address']} {'/'.join(actions)}")
                continue
            paths = differences(
                change["change"].get("before") or {},
                change["change"].get("after") or {},
                change["change"].get("after_unknown") or {},
            )
            odd = sorted({p for p in paths if not allowed(change["type"], p)})
            if odd:
                found.append(f"{stack}: {change['address']} changes {', '.join(odd)}")
    return found


# --- drift ------------------------------------------------------------------------------------


def drift_report(session: Session, ok: tuple[int, ...]) -> tuple[dict, list[tuple[str, str, str, Any, Any]]]:
    """`main.py drift --json`: the report, and its findings that are not listed emulator noise as
    (stack, address, attribute path or "deleted", before, after)."""
    report = json.loads(session.main("drift", "--json", ok=ok, capture=True))
    found = []
    for stack in report["stacks"]:
        for resource in stack["resources"]:
            if resource["action"] == "delete":
                found.append((stack["stack"], resource["address"], "deleted", None, None))
            for change in resource["changes"]:
                if not allowed(resource["type"], re.sub(r"\[\d+\]", "", change["path"])):
                    found.append(
                        (stack["stack"], resource["address"], change["path"], change["before"], change["after"])
                    )
    return report, found


def drift_check(session: Session, env: model.Environment, outputs: dict[str, dict], url: str) -> None:
    """`drift` on the deployed environment: nothing but listed emulator noise, then exactly the one
    change made with boto3 behind Terraform's back (exit 4), which is then put back."""
    _, noise = drift_report(session, ok=(0, 4))
    if noise:
        raise E2EFailure("drift reports a fresh deployment as changed:\n  " + "\n  ".join(map(str, noise)))
    say("drift: the fresh deployment shows no drift (beyond the listed emulator noise)")
    stack = naming.stack_name(env.name, env.primary_region)
    group_name = outputs[stack][RegionalOutput.ASG_NAME]
    autoscaling = seed.client(url, "autoscaling", env.account_number, env.primary_region)
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
    size = group["MaxSize"]
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=group_name, MaxSize=size + 1)
    say(f"drift: {group_name} max size {size} -> {size + 1} with boto3, behind Terraform's back")
    try:
        report, found = drift_report(session, ok=(4,))
    finally:
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=group_name, MaxSize=size)
    addresses = {r["address"] for s in report["stacks"] if s["stack"] == stack for r in s["resources"]}
    ours = [a for a in addresses if a.startswith("aws_autoscaling_group.")]
    if len(ours) != 1 or found != [(stack, ours[0], "max_size", size, size + 1)]:
        raise E2EFailure(
            f"drift should find exactly {stack} aws_autoscaling_group max_size {size} -> {size + 1}: {found}"
        )
    say(f"drift: found exactly {stack} {ours[0]} max_size {size} -> {size + 1} (exit 4); put back to {size}")


# --- the run ----------------------------------------------------------------------------------


def run(config_path: Path, env_name: str | None, cdktf: Path = CDKTF) -> str:
    started = time.monotonic()
    cfg = model.load(config_path)
    env_name = env_name or ("dev" if "dev" in cfg.environments else next(iter(cfg.environments)))
    if env_name not in cfg.environments:
        raise E2EFailure(f"--env {env_name!r}: the configuration has {', '.join(cfg.environments)}")
    env = cfg.environments[env_name]
    specs = cfg.select(env_name)
    stacks = [s.name for s in specs]
    work = Path(tempfile.mkdtemp(prefix=f"e2e-{env_name}-"))
    state_dir = work / "state"
    config_copy = emulated_config(cfg.source, state_dir, work / "config.toml")
    say(f"{cfg.source} environment {env_name}: {len(stacks)} stacks ({', '.join(stacks)}); work folder {work}")
    with Emulator(log_path=work / "logs-emulator.log") as emulator:
        say(f"emulator on {emulator.url}; what it adds to moto:")
        for line in describe().splitlines():
            say(f"  {line}")
        environ = aws_environment(emulator.url)
        # One provider install for every run on this machine: the project's cache unless you chose one.
        environ.setdefault("TF_PLUGIN_CACHE_DIR", str(toolchain.TOOLS_DIR / "plugin-cache"))
        session = Session(config_copy, env_name, work, environ)
        accounts_regions = {(env.account_number, r) for r in env.regions}
        for line in seed.seed(
            emulator.url,
            dns_account=cfg.dns_account_id(env),
            domain=cfg.project.domain,
            accounts_regions=sorted(accounts_regions),
        ):
            say(f"seeded {line}")
        if cfg.project.hosted_zone_id:  # the emulator chose the seeded zone's id: the copy names that one
            zone_id = seed.zone_id(emulator.url, cfg.dns_account_id(env), cfg.project.domain)
            emulated_config(cfg.source, state_dir, config_copy, {"project": {"hosted_zone_id": zone_id}})
            say(f"project.hosted_zone_id {cfg.project.hosted_zone_id} is {zone_id} in the emulator")
        deploy_started = time.monotonic()
        session.main("deploy", "--verbose")
        counts = managed_resources(state_dir, stacks)
        if min(counts.values()) <= 0:
            raise E2EFailure(f"deploy reported success but a stack has no resources in state: {counts}")
        resources = sum(counts.values())
        say(f"deployed {len(stacks)} stacks, {resources} resources in {time.monotonic() - deploy_started:.0f} s")
        outputs = json.loads(session.main("outputs", "--json", capture=True))
        with stand_ins(session, cfg, env, emulator, outputs) as (resolve, ca_file):
            session.main(
                "smoke",
                *[arg for entry in resolve for arg in ("--resolve", entry)],
                extra_env={"SSL_CERT_FILE": str(ca_file)},
            )
        session.main("plan", "--verbose", ok=(0, 3))
        odd = unexpected_changes(session.out, stacks)
        say(f"second plan: {len(odd)} unexpected change(s); allowed emulator drift:")
        for (type_, attribute), why in sorted(EMULATOR_DRIFT.items()):
            say(f"  {type_}.{attribute}: {why}")
        if odd:
            raise E2EFailure("the second plan changes what it should not:\n  " + "\n  ".join(odd))
        drift_check(session, env, outputs, emulator.url)
        hand_plan_and_review(session, specs[0].name)
        cdktf_deploy_and_destroy(session, cdktf, next(s for s in specs if s.role == StackRole.EDGE).name)
        if env.deletion_protection:  # as an operator must: switch protection off, apply, then destroy
            say(f"{env_name} has deletion_protection: applying it switched off before destroying")
            emulated_config(
                session.config_path,
                state_dir,
                config_copy,
                {"environments": {env_name: {"deletion_protection": False}}},
            )
            session.main("deploy", "--verbose")
        destroy_started = time.monotonic()
        session.main("destroy", "--allow-destroy", "--verbose")
        destroyed_in = time.monotonic() - destroy_started
        left = {stack: n for stack, n in managed_resources(state_dir, stacks).items() if n > 0}
        if left:
            raise E2EFailure(f"destroy left resources in state ({state_dir}): {left}")
    say(f"all steps passed in {time.monotonic() - started:.0f} s; removing {work}")
    shutil.rmtree(work, ignore_errors=True)
    return f"e2e: {len(stacks)} stacks applied ({resources} resources), smoke passed, destroyed in {destroyed_in:.0f} s"


def hand_plan_and_review(session: Session, stack: str) -> None:
    """What a user does by hand in a synthesized stack folder, then `main.py review` of its JSON."""
    folder = session.out / "stacks" / stack
    chain = toolchain.resolve(session.out.parent / toolchain.TOOLS_DIR.name, session.environ)
    environ = {**session.environ, **chain.env}
    session.run(
        "terraform-plan-by-hand",
        [chain.terraform, "plan", "-input=false", "-no-color", "-out=hand.tfplan"],
        cwd=folder,
        extra_env=environ,
    )
    text = session.run(
        "terraform-show", [chain.terraform, "show", "-json", "hand.tfplan"], cwd=folder, extra_env=environ, capture=True
    )
    (folder / "hand.json").write_text(text)
    session.run("review", [sys.executable, str(ROOT / "main.py"), "review", str(folder / "hand.json")])


def cdktf_deploy_and_destroy(session: Session, cdktf: Path, stack: str) -> None:
    """`cdktf deploy STACK` and `cdktf destroy STACK` with the cdktf CLI, synthesizing through main.py.
    The stacks it depends on are deployed already (by `main.py deploy`), hence
    --ignore-missing-stack-dependencies; --skip-provider-lock because `terraform providers lock`
    asks the registry for every platform's checksums."""
    if not cdktf.is_file():
        raise E2EFailure(f"{cdktf} is missing: run `make tools` (installs cdktf-cli into .tools/)")
    chain = toolchain.resolve(session.out.parent / toolchain.TOOLS_DIR.name, session.environ)
    app = (
        f"{sys.executable} {ROOT / 'main.py'} synth --env {session.env_name} --config {session.config_path} "
        f"--out {session.out}"
    )
    from modules.runtime import bundled_node_bin

    node_bin = bundled_node_bin()
    environ = {
        **chain.env,
        "CHECKPOINT_DISABLE": "1",
        "CI": "1",
        "PATH": f"{node_bin}{os.pathsep}{session.environ['PATH']}" if node_bin else session.environ["PATH"],
    }
    for action in ("deploy", "destroy"):
        session.run(
            f"cdktf-{action}",
            [
                str(cdktf),
                action,
                stack,
                "--app",
                app,
                "--output",
                str(session.out),
                "--auto-approve",
                "--skip-provider-lock",
                "--ignore-missing-stack-dependencies",
            ],
            extra_env=environ,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "default.toml")
    parser.add_argument("--env", default=None, help="default: dev, or the configuration's first environment")
    parser.add_argument("--cdktf", type=Path, default=CDKTF, help="the cdktf CLI (make tools installs it)")
    args = parser.parse_args(argv)
    try:
        print(run(args.config.resolve(), args.env, args.cdktf.resolve()), flush=True)
    except (E2EFailure, model.ConfigError, terraform.EnvironmentProblem) as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:
            print(f"e2e: FAILED: {line}", file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # anything else is still one line (the logs named above have the detail)
        print(f"e2e: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
