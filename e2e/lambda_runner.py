"""Run Lambda functions without Docker.

moto 5.2.5 runs a function (Invoke, and S3 bucket notifications, which call the same
`LambdaFunction.invoke`) in a Docker container; these machines have no Docker, so moto answers
`error running docker` and S3 events are silently dropped. `run` replaces
`LambdaFunction._invoke_lambda`: it extracts the deployment package moto keeps (`code_bytes`) into a
temporary folder and runs the handler in a subprocess of the matching Python (the function's
`python3.X`, found by e2e/runtimes.py; missing is an error), with

- `PYTHONPATH` = the package + a folder linking this interpreter's boto3, botocore and their
  pure-Python dependencies (the Lambda runtime provides boto3; nothing is installed at run time);
- the function's environment variables, `AWS_ENDPOINT_URL` = the emulator, the region, and
  credentials from sts:AssumeRole of the function's execution role (moto's STS backend, in
  process), so the function's own AWS calls land in the function's account;
- the function's timeout (killed after it, like Lambda's `Task timed out`).

It returns `(payload, errored, logs)` as moto's `invoke` expects, saves the logs to the function's
log group like moto does, and logs each invocation to the `e2e.emulator` logger. Python runtimes
only; layers, VPC settings and asynchronous retries / dead-letter queues are not emulated.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import subprocess
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from e2e.runtimes import find_python

log = logging.getLogger("e2e.emulator")

# The Lambda runtime's boto3 and what it imports; all pure Python, so 3.11's copies run on 3.12.
RUNTIME_MODULES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "six", "urllib3")

# Runs in the subprocess: argv = handler, function name, ARN, memory, request id, timeout, result file.
DRIVER = """
import importlib, json, sys, time, traceback
handler, name, arn, memory, request_id, timeout, result_file = sys.argv[1:8]
deadline = time.monotonic() + float(timeout)

class Context:
    function_name, invoked_function_arn, aws_request_id = name, arn, request_id
    memory_limit_in_mb, function_version = int(memory), "$LATEST"
    log_group_name = "/aws/lambda/" + name

    @staticmethod
    def get_remaining_time_in_millis():
        return max(0, int((deadline - time.monotonic()) * 1000))

module_name, _, function_name = handler.replace("/", ".").rpartition(".")
try:
    function = getattr(importlib.import_module(module_name), function_name)
    result, code = function(json.load(sys.stdin), Context()), 0
except Exception as error:
    traceback.print_exc()
    result, code = {"errorMessage": str(error), "errorType": type(error).__name__,
                    "stackTrace": traceback.format_tb(error.__traceback__)}, 1
with open(result_file, "w") as out:
    json.dump(result, out, default=str)
sys.exit(code)
"""


class Runner:
    """What every invocation shares: the emulator's URL and a work folder for packages."""

    def __init__(self, endpoint_url: str, workdir: Path):
        self.endpoint_url = endpoint_url
        self.workdir = workdir
        self.libs = workdir / "runtime-libs"
        self.libs.mkdir(parents=True, exist_ok=True)
        for name in RUNTIME_MODULES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise RuntimeError(f"{name} is not importable here; the Lambda runner needs it")
            origin = Path(spec.origin)
            source = origin.parent if origin.name == "__init__.py" else origin
            link = self.libs / source.name
            if not link.exists():
                link.symlink_to(source, target_is_directory=source.is_dir())

    @staticmethod
    def interpreter(runtime: str | None) -> str:
        """The function's Python (`python3.X`, e2e/runtimes.py); missing is an error, not a fallback."""
        return find_python((runtime or "").removeprefix("python"))

    def credentials(self, fn: Any) -> dict[str, str]:
        """AssumeRole of the execution role in moto's STS, as Lambda does: the keys map to the role's account."""
        from moto.sts.models import sts_backends

        role = sts_backends[fn.account_id][fn.partition].assume_role(
            region_name=fn.region,
            role_session_name=fn.function_name[:64],
            role_arn=fn.role,
            policy=None,
            duration=max(900, int(fn.timeout) + 60),
            external_id=None,
        )
        return {
            "AWS_ACCESS_KEY_ID": role.access_key_id,
            "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
            "AWS_SESSION_TOKEN": role.session_token,
        }

    def run(self, fn: Any, event: Any = None) -> tuple[str, bool, str]:
        """Replacement for `LambdaFunction._invoke_lambda(self, event)`: (payload, errored, logs)."""
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        started, request_id = time.monotonic(), str(uuid.uuid4())
        with tempfile.TemporaryDirectory(prefix="lambda-", dir=self.workdir) as tmp:
            task, result_file = Path(tmp, "task"), Path(tmp, "result.json")
            zipfile.ZipFile(io.BytesIO(fn.code_bytes)).extractall(task)
            env = {
                **{k: str(v) for k, v in (fn.environment_vars or {}).items()},
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "TZ": ":UTC",
                "PYTHONPATH": f"{task}{os.pathsep}{self.libs}",
                "PYTHONDONTWRITEBYTECODE": "1",
                "LAMBDA_TASK_ROOT": str(task),
                "_HANDLER": fn.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
                "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
                "AWS_REGION": fn.region,
                "AWS_DEFAULT_REGION": fn.region,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                # never the host's ~/.aws: only the role's keys
                "AWS_CONFIG_FILE": f"{tmp}/no-config",
                "AWS_SHARED_CREDENTIALS_FILE": f"{tmp}/no-credentials",
                **self.credentials(fn),
            }
            command = [
                self.interpreter(fn.run_time),
                "-c",
                DRIVER,
                fn.handler,
                fn.function_name,
                fn.function_arn,
                str(fn.memory_size),
                request_id,
                str(fn.timeout),
                str(result_file),
            ]
            try:
                done = subprocess.run(
                    command,
                    input=json.dumps(event),
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=task,
                    timeout=float(fn.timeout),
                    check=False,
                )
                code, logs = done.returncode, done.stdout + done.stderr
                payload = (
                    result_file.read_text()
                    if result_file.exists()
                    else json.dumps(
                        {
                            "errorMessage": f"Runtime exited with error: exit status {code}",
                            "errorType": "Runtime.ExitError",
                        }
                    )
                )
            except subprocess.TimeoutExpired as expired:
                code = -1
                logs = "".join(
                    x.decode(errors="replace") if isinstance(x, bytes) else x or ""
                    for x in (expired.stdout, expired.stderr)
                )
                payload = json.dumps(
                    {
                        "errorMessage": f"Task timed out after {float(fn.timeout):.2f} seconds",
                        "errorType": "Sandbox.Timedout",
                    }
                )
        duration = time.monotonic() - started
        log.info(
            "lambda %s (%s %s) request %s: exit %s in %.2f s",
            fn.function_name,
            fn.account_id,
            fn.region,
            request_id,
            code,
            duration,
        )
        if code != 0:
            log.warning("lambda %s failed: %s\n%s", fn.function_name, payload, logs.strip())
        fn.logs_backend.ensure_log_group(fn.logs_group_name)
        fn.save_logs(
            f"START RequestId: {request_id}\n{logs}END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id} Duration: {duration * 1000:.2f} ms"
        )
        return payload, code != 0, logs
