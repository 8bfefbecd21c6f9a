"""A small AWS emulator for the end-to-end test: moto's server application, wrapped by a WSGI
middleware that answers what moto 5.2.5 lacks, so real Terraform (AWS provider 5.100.0, pointed at
it with `AWS_ENDPOINT_URL`) can apply and destroy whole environments.

Several accounts: `MOTO_ACCOUNT_ID` must be unset. moto then puts a call in the account its access
key belongs to: plain keys (`test`) land in 123456789012, keys from `sts:AssumeRole` of
`arn:aws:iam::<account>:role/<name>` land in `<account>` (moto's `get_account_id_from`, which the
responders here reuse). The Terraform providers assume such roles, so each stack lands in its
environment's account.

    with Emulator() as emulator:          # or: python -m e2e.emulator --port 4566
        env = {"AWS_ENDPOINT_URL": emulator.url, ...}

moto's state is process-wide (its backends are module globals): run one emulator per process.
`RESPONDERS` says what is added to moto and why; `make e2e` prints it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from e2e import budgets, cloudfront, ec2, instances, rds, s3
from e2e.lambda_runner import Runner

log = logging.getLogger("e2e.emulator")  # invocations, gaps, what moto failed at
# One line per request (an apply makes thousands): only to the log file, or the console with --verbose.
http_log = logging.getLogger("e2e.emulator.http")
http_log.propagate = False


@dataclass(frozen=True)
class Responder:
    """One thing the emulator adds to moto, for `make e2e` to print."""

    api: str
    why: str  # the symptom with moto 5.2.5 alone
    what: str


RESPONDERS: tuple[Responder, ...] = (
    Responder(
        "CloudFront Create/Get/GetConfig/Update/Delete/ListResponseHeadersPolicies",
        "moto routes no /2020-05-31/response-headers-policy path: HTTP 404, the policy cannot be created",
        "stores each account's policies, echoes the configuration it received with Id, LastModifiedTime and "
        "an ETag; Update and Delete demand the current ETag in If-Match",
    ),
    Responder(
        "CloudFront ListCachePolicies/GetCachePolicy, ListOriginRequestPolicies/GetOriginRequestPolicy",
        "HTTP 404: data.aws_cloudfront_cache_policy and data.aws_cloudfront_origin_request_policy cannot "
        "find the AWS-managed policies by name",
        "answers the AWS-managed ones (CachingOptimized, CachingDisabled, AllViewer, "
        "AllViewerExceptHostHeader) with AWS's ids; read-only",
    ),
    Responder(
        "Budgets DescribeSubscribersForNotification",
        "not implemented (HTTP 500): aws_budgets_budget retries its read until 'Plugin did not respond'",
        "answers from the subscribers moto's budgets backend kept from CreateBudget's "
        "NotificationsWithSubscribers and CreateNotification",
    ),
    Responder(
        "Budgets ListTagsForResource, TagResource, UntagResource (and CreateBudget's ResourceTags)",
        "not implemented (HTTP 500; moto drops ResourceTags): the provider reads a budget's tags after "
        "creating it and retries until 'Plugin did not respond'",
        "keeps each budget's tags on moto's budget, so they go when it is deleted",
    ),
    Responder(
        "Budgets UpdateBudget",
        "not implemented (HTTP 500): any in-place change of a budget fails",
        "replaces the budget's definition in moto's backend, keeping its notifications and tags",
    ),
    Responder(
        "Lambda Invoke and S3 bucket notifications to Lambda",
        "moto runs functions in Docker, which this machine lacks: 'error running docker', S3 events dropped",
        "runs the handler from the function's zip in a python3.12 subprocess with boto3 on its path, the "
        "function's environment, AWS_ENDPOINT_URL = the emulator and the execution role's assumed "
        "credentials (calls land in the function's account); honours the timeout; logs each invocation; "
        "S3 events run in the background, as in AWS, instead of inside the PutObject",
    ),
    Responder(
        "S3 bucket policies on object requests (Get/Put/DeleteObject, DeleteObjects)",
        "moto evaluates only StringEquals conditions and treats others as met, so the usual 'deny "
        "aws:SecureTransport=false' and 's3:TlsVersion<1.2' statements deny every object request (403): "
        "uploads, a Lambda's writes, force_destroy",
        "judges statements whose conditions are only about transport as for a request over TLS 1.3 "
        "(dropped when they do not hold); every other statement is left to moto",
    ),
    Responder(
        "S3 DeleteObject(s) by version in a bucket whose versioning was suspended",
        "moto fails on delete markers ('FakeDeleteMarker' object has no attribute 'dispose'): HTTP 500, "
        "destroying a bucket that ever had an object deleted retries for many minutes",
        "gives delete markers the missing no-op dispose()",
    ),
    Responder(
        "S3 event notifications",
        "moto encodes the key's slashes (incoming%2Fa.txt) and sends no versionId or sequencer",
        "encodes the key as AWS does (incoming/a.txt) and adds the object's versionId and a sequencer",
    ),
    Responder(
        "SSM GetCommandInvocation (AWS-RunShellScript)",
        "SendCommand runs nothing: every invocation is 'Success' with empty output, so the smoke test's "
        "/ready probe through an instance could never fail (or report anything)",
        "runs the command's script with bash here, as the instance's agent would, with the instance's "
        "loopback service port pointed at the region's stand-in webapp (e2e/run.py); InProgress until it "
        "ends, then Success or Failed with its output and exit code, TimedOut after executionTimeout",
    ),
    Responder(
        "RDS CreateDBInstanceReadReplica across regions",
        "the replica's DB subnet group is looked up in the source's region (DBSubnetGroupNotFoundFault for "
        "region-specific names); the replica shares the source's lists and secret (a shallow copy); moto "
        "accepts a source whose master password RDS manages, which AWS refuses",
        "makes the replica in its own region before applying its parameters, with its own lists, tags, "
        "availability zone and DbiResourceId; refuses a managed-password source with AWS's error",
    ),
    Responder(
        "RDS PromoteReadReplica",
        "changes nothing visible: the replica keeps ReadReplicaSourceDBInstanceIdentifier, the source still "
        "lists it, so Terraform plans replicate_source_db back after a promotion",
        "clears both sides; the instance is 'modifying' for a second, then 'available'; promoting an "
        "instance that is not a replica is InvalidDBInstanceState, as on AWS",
    ),
    Responder(
        "RDS DeleteDBInstance of a cross-region replica or of a source",
        "HTTP 500 (list.remove: the source stored the replica's ARN, moto removes its identifier)",
        "removes whichever the source stored; deleting a source promotes its replicas, as AWS does",
    ),
    Responder(
        "RDS DbiResourceId, PerformanceInsightsEnabled/RetentionPeriod/KMSKeyId",
        "every instance has the same DbiResourceId (the id of aws_db_instance in the provider, and the "
        "rds-db:connect resource of IAM authentication); "
        "Performance Insights settings are dropped (a perpetual diff)",
        "a DbiResourceId per instance (db- and 26 upper-case letters and digits); returns the Performance "
        "Insights settings given, 7 days' retention by default when enabled",
    ),
    Responder(
        "RDS RemoveFromGlobalCluster, FailoverGlobalCluster, SwitchoverGlobalCluster",
        "RemoveFromGlobalCluster silently does nothing outside us-east-1; failover and switchover are not implemented",
        "removes the member (by ARN) from any region; failover and switchover make the target member the "
        "writer and the old writer a reader, at once",
    ),
    Responder(
        "EC2 RevokeSecurityGroupIngress/Egress by SecurityGroupRuleIds, for a rule the group no longer has",
        "InvalidPermission.NotFound, which the AWS provider reports as a failed delete (a retried revoke "
        "under load failed a destroy)",
        "answers AWS's InvalidSecurityGroupRuleId.NotFound, which the provider takes as already deleted",
    ),
    Responder(
        "Route 53 GetHealthCheckStatus",
        "every health check is reported 'Success' whatever its target does",
        "requests the health check's target (FQDN, port, path; HTTPS unverified with SNI, like Route 53's "
        "checkers) at the address of the stand-in answering that name (e2e/run.py's TLS front); no "
        "stand-in or a status outside 2xx/3xx is a Failure",
    ),
)


def describe() -> str:
    """`RESPONDERS` as text for a terminal."""
    return "\n".join(f"- {r.api}\n    moto alone: {r.why}\n    emulator: {r.what}" for r in RESPONDERS)


def account_of(request: Request) -> str:
    """The account moto would use for this request (`BaseResponse.get_current_account` without an instance):
    the x-moto-account-id header, else the owner of the signing access key, else the default account."""
    from moto.core.responses import BaseResponse
    from moto.iam.models import get_account_id_from

    if "x-moto-account-id" in request.headers:
        return request.headers["x-moto-account-id"]
    match = BaseResponse.access_key_regex.search(request.headers.get("Authorization", ""))
    return get_account_id_from(match.group(1) if match else "AKIAEXAMPLE")


def _signed_for(request: Request, service: str) -> bool:
    return f"/{service}/aws4_request" in request.headers.get("Authorization", "")


def _not_implemented(request: Request, message: str) -> Response:
    """HTTP 501 (not retried by the SDKs) in the request's protocol: JSON for X-Amz-Target APIs, else XML."""
    text = f"moto 5.2.5 (emulator): {message}"
    if "X-Amz-Target" in request.headers:
        return Response(
            json.dumps({"__type": "NotImplemented", "message": text}),
            501,
            {"x-amzn-ErrorType": "NotImplemented"},
            content_type="application/x-amz-json-1.1",
        )
    body = f"<ErrorResponse><Error><Code>NotImplemented</Code><Message>{text}</Message></Error></ErrorResponse>"
    return Response(body, 501, content_type="text/xml")


class Middleware:
    """WSGI middleware: our responders first, moto for everything else. Logs what moto fails at (5xx)
    so a failing apply points at the API behind it, and turns moto's "not implemented" into an
    immediate 501 instead of a 500 the SDKs retry for minutes."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.response_headers_policies = cloudfront.ResponseHeadersPolicies()
        self.stand_ins = instances.StandIns()

    def respond(self, request: Request) -> Response | None:
        if _signed_for(request, "cloudfront") and request.path.startswith(cloudfront.PREFIX):
            response = self.response_headers_policies.handle(request, account_of(request))
            return response if response is not None else cloudfront.managed_policy(request)
        if _signed_for(request, "ssm") and request.headers.get("X-Amz-Target") == "AmazonSSM.GetCommandInvocation":
            return self.stand_ins.command_invocation(request, account_of(request))
        if _signed_for(request, "route53") and request.path.endswith("/status"):
            return self.stand_ins.health_check_status(request, account_of(request))
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.respond(request)
        if response is not None:
            http_log.debug("%s %s %s (emulator)", request.method, request.path, response.status_code)
            return response(environ, start_response)

        def recording_start_response(status: str, headers: Any, *args: Any) -> Any:
            if status.startswith("5"):
                target = environ.get("HTTP_X_AMZ_TARGET", "")
                log.warning("moto answered %s to %s %s %s", status, request.method, request.path, target)
            return start_response(status, headers, *args)

        try:
            return self.app(environ, recording_start_response)
        except NotImplementedError as missing:
            # moto's answer would be a 500, which SDKs retry for minutes: fail fast and say what is missing
            log.warning(
                "moto lacks %s %s %s: %s", request.method, request.path, environ.get("HTTP_X_AMZ_TARGET", ""), missing
            )
            return _not_implemented(request, str(missing))(environ, start_response)


class Emulator:
    """moto server + responders on 127.0.0.1, a free port unless given, in a background thread (threaded:
    Terraform calls concurrently). Installs the moto patches (Budgets, Lambda, S3 bucket policies, RDS) on
    `start` and removes them on `stop`; moto's stored state stays for the process. `log_path`: a file
    for our log and one line per request."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None):
        self.host, self.port, self.log_path = host, port, log_path
        self._server: Any = None
        self._app: Middleware | None = None
        self._thread: threading.Thread | None = None
        self._undo: list[Callable[[], None]] = []
        self._workdir: Path | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self._server.server_port}"

    @property
    def stand_ins(self) -> instances.StandIns:
        """Where the loopback stand-ins listen (the instances' webapp per account and region, the names
        health checks target): e2e/run.py fills it in; the SSM and Route 53 responders read it."""
        if self._app is None:
            raise RuntimeError("the emulator is not started")
        return self._app.stand_ins

    def start(self) -> Emulator:
        if "MOTO_ACCOUNT_ID" in os.environ:
            raise RuntimeError("MOTO_ACCOUNT_ID is set: moto would put every account's calls into that one account")
        try:
            self._start()
        except BaseException:
            self.stop()  # undo what was done (environment, patches, log handler)
            raise
        log.info("emulator serving on %s", self.url)
        return self

    def _start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        if self.log_path:
            self._log_to(self.log_path)
        # data.aws_iam_policy lookups need AWS's managed policies; read when an account's IAM backend is made
        self._set_env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

        class Quiet(MotoRequestHandler):
            """Request lines to `http_log` (werkzeug would print each one, coloured, to stderr)."""

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                http_log.debug("%s %s %s", self.command, self.path, getattr(code, "value", code))

        app = self._app = Middleware(DomainDispatcherApplication(create_backend_app))
        try:
            self._server = make_server(self.host, self.port, app, threaded=True, request_handler=Quiet)
        except SystemExit as exit_:  # werkzeug exits when the port is taken
            raise OSError(f"cannot listen on {self.host}:{self.port} (in use?)") from exit_
        self._set_env("MOTO_PORT", str(self._server.server_port))  # moto builds some self-URLs from it
        self._workdir = Path(tempfile.mkdtemp(prefix="e2e-emulator-"))
        self._install_patches(Runner(self.url, self._workdir))
        self._thread = threading.Thread(target=self._server.serve_forever, name="e2e-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a loop that never ran
            self._server.shutdown()
            self._thread.join(timeout=10)
        if self._server is not None:
            self._server.server_close()
        while self._undo:
            self._undo.pop()()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        self._server = self._thread = self._workdir = self._app = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_to(self, path: Path) -> None:
        """Everything to `path`: our INFO and up, and every request line."""
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        ours = logging.getLogger("e2e")
        self._undo.append(
            lambda levels=(ours.level, http_log.level): (ours.setLevel(levels[0]), http_log.setLevel(levels[1]))
        )
        if ours.getEffectiveLevel() > logging.INFO:
            ours.setLevel(logging.INFO)
        http_log.setLevel(logging.DEBUG)
        for logger in (ours, http_log):
            logger.addHandler(handler)
            self._undo.append(lambda logger=logger: logger.removeHandler(handler))
        self._undo.append(handler.close)

    def _set_env(self, name: str, value: str) -> None:
        previous = os.environ.get(name)
        os.environ[name] = value
        self._undo.append(
            lambda: os.environ.__setitem__(name, previous) if previous is not None else os.environ.pop(name, None)
        )

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        previous = owner.__dict__.get(name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, previous) if previous is not None else delattr(owner, name))

    def _install_patches(self, runner: Runner) -> None:
        from moto.awslambda.models import LambdaFunction
        from moto.budgets.responses import BudgetsResponse
        from moto.ec2.models.security_groups import SecurityGroupBackend
        from moto.rds.models import DBInstance, RDSBackend
        from moto.rds.responses import RDSResponse
        from moto.s3 import notifications
        from moto.s3.models import FakeBucket, FakeDeleteMarker

        for name, method in budgets.METHODS.items():
            self._patch(BudgetsResponse, name, method)
        self._patch(BudgetsResponse, "create_budget", budgets.keeping_tags(BudgetsResponse.create_budget))
        self._patch(LambdaFunction, "_invoke_lambda", lambda fn, event=None: runner.run(fn, event))
        self._patch(FakeBucket, "get_permission", s3.permission)
        self._patch(FakeDeleteMarker, "dispose", s3.dispose_delete_marker)
        self._patch(notifications, "_get_s3_event", s3.event_like_aws(notifications._get_s3_event))
        # S3 invokes Lambda asynchronously; moto would hold the PutObject until the function ends
        invoke = notifications._invoke_awslambda
        self._patch(
            notifications,
            "_invoke_awslambda",
            lambda *args: threading.Thread(target=invoke, args=args, name="s3-to-lambda", daemon=True).start(),
        )
        for name, egress in (("revoke_security_group_ingress", False), ("revoke_security_group_egress", True)):
            self._patch(
                SecurityGroupBackend, name, ec2.revoke_by_known_ids(getattr(SecurityGroupBackend, name), egress)
            )
        self._patch(DBInstance, "__init__", rds.instance_init(DBInstance.__init__))
        self._patch(DBInstance, "performance_insights_enabled", property(rds.performance_insights_enabled))
        self._patch(DBInstance, "performance_insights_retention_period", rds.RETENTION_PERIOD)
        self._patch(DBInstance, "remove_replica", rds.remove_replica)
        self._patch(RDSBackend, "create_db_instance_read_replica", rds.create_db_instance_read_replica)
        self._patch(RDSBackend, "promote_read_replica", rds.promote_read_replica)
        self._patch(RDSBackend, "delete_db_instance", rds.delete_db_instance(RDSBackend.delete_db_instance))
        self._patch(RDSBackend, "remove_from_global_cluster", rds.remove_from_global_cluster)
        self._patch(RDSResponse, "failover_global_cluster", rds.failover_global_cluster)
        self._patch(RDSResponse, "switchover_global_cluster", rds.switchover_global_cluster)


def main(argv: list[str] | None = None) -> None:
    """`python -m e2e.emulator --port N`: serve until Ctrl-C, for trying Terraform or boto3 by hand."""
    parser = argparse.ArgumentParser(prog="python -m e2e.emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.verbose:
        http_log.setLevel(logging.DEBUG)
        http_log.propagate = True
    with Emulator(port=args.port) as emulator:
        print(f"AWS emulator on {emulator.url}  (AWS_ENDPOINT_URL={emulator.url}); Ctrl-C stops it", flush=True)
        print(describe(), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
