"""Drive the Terraform CLI over synthesized stacks: init, validate, plan, show, apply, output.

Each stack runs in `<out>/stacks/<stack>`, with the environment `ops.toolchain` decides (shared
plugin cache, provider mirror when there is one). A stack's dependency lock file lives outside
the synth output, in `<locks_dir>/<stack>.terraform.lock.hcl` (synth replaces the output folder,
like state it must survive): it is copied in before `init`, so every init verifies the
provider's recorded checksums, and copied back after, so a new stack records them once. Lock
files and the plugin cache live beside the output folder (`terraform-locks/`, `.terraform.d/`).

Failures that are about the machine rather than the stack (no Terraform, an old one, providers
that cannot be downloaded, no AWS credentials) raise `EnvironmentProblem` with one actionable
sentence; a stack that fails raises `StackFailed` naming the stack and Terraform's own last
error lines. Tests drive this module with a `terraform` stand-in on PATH that records its
arguments and replays canned output (tests/test_pipeline.py).

Interrupts: inside `forwarding_interrupts()` (plan, deploy and destroy use it) Terraform runs in
its own session, so the terminal's Ctrl-C reaches only this process, and SIGINT or SIGTERM to this
process is forwarded to Terraform as exactly one SIGINT, Terraform's graceful stop (Terraform
treats SIGINT and SIGTERM alike: the first lets it finish the operations in flight, save state and
release the lock; a second makes it exit at once). Its output is drained until it exits: a
Terraform writing to a closed pipe dies before it saves state. The step then raises `Interrupted`.
A second interrupt is forwarded too (Terraform exits immediately, risking its state), and after
`FORCE_KILL_AFTER` seconds the CLI stops waiting and kills it. Tests: tests/test_signals.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config.errors import OperationFailed
from config.model import Config, StackSpec
from ops import toolchain
from ops.toolchain import EnvironmentProblem, find_terraform

__all__ = [
    "EnvironmentProblem",
    "Interrupted",
    "StackFailed",
    "StackResult",
    "Terraform",
    "check_version",
    "find_terraform",
]

MIN_VERSION = (1, 10)  # S3-native state locking (use_lockfile)
PLAN_FILE = "plan.tfplan"
PLAN_JSON = "plan.json"
DRIFT_PLAN = "drift.tfplan"  # `drift`'s refresh-only plan, beside (never over) the reviewed plan
DRIFT_JSON = "drift.json"
LOCK_FILE = ".terraform.lock.hcl"
LOCKS_DIR = "terraform-locks"  # beside the output folder
# After a second interrupt Terraform exits at once on its own; this long, and the CLI stops waiting.
FORCE_KILL_AFTER = 10.0

_PROVIDERS = re.compile(
    r"(Failed to query available provider packages|could not connect to registry|"
    r"Failed to install provider|dial tcp|no such host)",
    re.IGNORECASE,
)
_CHECKSUM = re.compile(r"(doesn't match any of the checksums|checksums previously recorded)", re.IGNORECASE)
_CREDENTIALS = re.compile(
    r"(No valid credential sources found|NoCredentialProviders|failed to refresh cached "
    r"credentials|InvalidClientTokenId|ExpiredToken|AccessDenied.*AssumeRole|"
    r"retrieving caller identity|get identity)",
    re.IGNORECASE,
)


class StackFailed(OperationFailed):
    """Terraform failed on a stack (exit 1); the message names the stack, the step and
    Terraform's own last error lines."""

    def __init__(self, stack: str, step: str, detail: str):
        super().__init__(f"{stack}: terraform {step} failed: {detail}")
        self.stack, self.step, self.detail = stack, step, detail


class Interrupted(RuntimeError):
    """SIGINT or SIGTERM stopped the run at `step` of `stack`. `started`: Terraform was running
    that step (and was waited for), else the run stopped before starting it. `forced`: a second
    interrupt made Terraform exit without finishing (its state may lack what it just did)."""

    def __init__(self, stack: str | None, step: str, started: bool, signals: list[signal.Signals], forced: bool):
        where = f"terraform {step} of {stack}" if stack else step
        super().__init__(f"interrupted by {signals[0].name} {'during' if started else 'before'} {where}")
        self.stack, self.step, self.started, self.signals, self.forced = stack, step, started, signals, forced


class Interrupts:
    """SIGINT/SIGTERM handling while Terraform runs (a context manager; main thread only, elsewhere
    it stays inactive and signals keep their usual effect).

    The handler only records the signal and forwards it: it never raises, so the read of
    Terraform's output simply continues (PEP 475) until Terraform exits. Each running Terraform
    gets at most as many SIGINTs as this process received, never more than two: one more than
    intended would turn Terraform's graceful stop into an immediate exit.

    Several Terraform processes may run at once (`--parallel`, one per worker thread): every one
    registered gets the signal. Forwarding happens under a lock; the handler (main thread) only
    takes it when free and otherwise leaves a note that whoever holds it forwards again before
    letting go, so a signal arriving while a thread registers its process is never lost nor sent twice."""

    def __init__(self) -> None:
        self.received: list[signal.Signals] = []
        self.active = False
        self._sent: dict[subprocess.Popen, int] = {}  # running Terraform processes -> SIGINTs sent
        self._lock = threading.Lock()  # held while forwarding; the handler never waits for it
        self._pending = False  # a signal arrived while the lock was held: its holder forwards again
        self._previous: dict[int, object] = {}
        self._killer: threading.Timer | None = None

    @property
    def forced(self) -> bool:
        return len(self.received) > 1

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
            self.active = True
        return self

    def __exit__(self, *exc_info) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        self.active = False
        if self._killer:
            self._killer.cancel()

    def _due(self) -> int:
        return min(len(self.received), 2)

    def _forward(self, process: subprocess.Popen) -> None:
        while process in self._sent and self._sent[process] < self._due() and process.poll() is None:
            self._sent[process] += 1
            process.send_signal(signal.SIGINT)

    def _forward_all(self) -> None:
        """Bring every tracked process up to the signals due, under the lock (class docstring)."""
        while True:
            with self._lock:
                self._pending = False  # what arrived before this line is forwarded just below
                for process in list(self._sent):
                    self._forward(process)
            if not self._pending:
                return

    def register(self, process: subprocess.Popen) -> None:
        """Track a Terraform just started; forward what arrived before it was tracked."""
        with self._lock:
            self._sent.setdefault(process, 0)
        self._forward_all()

    def unregister(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._sent.pop(process, None)
        if self._pending:
            self._forward_all()

    def _handle(self, signum: int, frame: object) -> None:
        self.received.append(signal.Signals(signum))
        self._pending = True  # before trying the lock: a holder that lets go after this forwards again
        running = [p for p in list(self._sent) if p.poll() is None]
        # Until no note is left, or the lock is held (by a thread, or by the code this handler
        # interrupted): its holder then sees the note when it lets go.
        while self._pending and self._lock.acquire(blocking=False):
            try:
                self._pending = False
                for process in list(self._sent):
                    self._forward(process)
            finally:
                self._lock.release()
        name = signal.Signals(signum).name
        if len(self.received) == 1:
            _say(
                f"{name} received: asked Terraform to stop gracefully; waiting for it to save its state "
                "(interrupt again to stop waiting, at the risk of losing state)"
                if running
                else f"{name} received: stopping before the next Terraform step"
            )
        elif len(self.received) == 2 and running:
            _say(
                f"second interrupt ({name}): Terraform was told to exit immediately, without finishing the "
                f"operations in flight; it is killed if still running in {FORCE_KILL_AFTER:.0f} s"
            )
            self._killer = threading.Timer(FORCE_KILL_AFTER, self._kill, [running])
            self._killer.daemon = True
            self._killer.start()

    @staticmethod
    def _kill(processes: list[subprocess.Popen]) -> None:
        for process in processes:
            if process.poll() is None:
                try:  # its own process group (start_new_session): its provider plugins too
                    os.killpg(process.pid, signal.SIGKILL)
                except OSError:
                    pass


def _say(message: str) -> None:
    """Write from a signal handler: unbuffered, so it cannot collide with a print it interrupted."""
    try:
        os.write(2, f"{message}\n".encode())
    except OSError:
        pass


@dataclass
class StackResult:
    stack: str
    status: str = "pending"
    plan_json: Path | None = None
    review: object | None = None
    log: Path | None = None  # its Terraform output (Terraform.log_dir)
    note: str = ""  # e.g. "planned after dev-us-east-1" (ops/pipeline.py's deferred plans)


@dataclass
class Diagnostic:
    severity: str  # error or warning
    summary: str
    detail: str
    address: str  # where Terraform points (resource address or file:line), may be empty


def check_version(terraform: str) -> str:
    try:
        done = subprocess.run([terraform, "version", "-json"], capture_output=True, text=True, timeout=60)
        found = json.loads(done.stdout)["terraform_version"]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        raise EnvironmentProblem(f"{terraform} did not report its version: is it a Terraform binary?") from None
    numbers = tuple(int(x) for x in re.findall(r"\d+", found)[:2])
    if numbers < MIN_VERSION:
        raise EnvironmentProblem(
            f"Terraform {found} is too old: install >= {'.'.join(map(str, MIN_VERSION))} (S3 state locking needs it)"
        )
    return found


class Terraform:
    """Runs terraform in one stack folder at a time. `echo` receives output lines (--verbose)."""

    def __init__(
        self,
        out_dir: Path,
        terraform: str | None = None,
        echo: Callable[[str], None] | None = None,
        chain: toolchain.Toolchain | None = None,
    ):
        self.out_dir = out_dir
        beside = out_dir.resolve().parent
        self.chain = chain or toolchain.resolve(beside / toolchain.TOOLS_DIR.name)
        self.terraform = terraform or self.chain.terraform
        self.echo = echo
        self.locks_dir = beside / LOCKS_DIR
        self.interrupts = Interrupts()
        # When set, each stack's Terraform output is appended to <log_dir>/<stack>.log (`log_path`):
        # with stacks running side by side (--parallel), one interleaved stream would be unreadable.
        self.log_dir: Path | None = None

    def log_path(self, stack: str) -> Path | None:
        return self.log_dir / f"{stack}.log" if self.log_dir else None

    def _log(self, stack: str, lines: list[str]) -> None:
        path = self.log_path(stack)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as log:
            log.writelines(f"{line}\n" for line in lines)

    def forwarding_interrupts(self) -> Interrupts:
        """`with terraform.forwarding_interrupts():` SIGINT/SIGTERM stop Terraform gracefully and
        make the current step raise `Interrupted` once Terraform has exited (module docstring)."""
        return self.interrupts

    def _interrupted(self, stack: str, step: str, started: bool) -> Interrupted:
        return Interrupted(stack, step, started, list(self.interrupts.received), self.interrupts.forced)

    def _run(self, stack: str, step: str, *args: str, check: bool = True, json_output: bool = False) -> str:
        """Run terraform in the stack folder. Returns its output; with `json_output`, stdout only
        (Terraform writes warnings, e.g. about the CLI configuration, to stderr)."""
        cwd = self.out_dir / "stacks" / stack
        command = [self.terraform, *args]
        if self.interrupts.received:
            raise self._interrupted(stack, step, started=False)
        try:
            # Its own session while we forward interrupts: the terminal's Ctrl-C must not reach it
            # too (two interrupts make Terraform exit without saving state).
            process = subprocess.Popen(
                command,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if json_output else subprocess.STDOUT,
                text=True,
                env={**os.environ, **self.chain.env},
                start_new_session=self.interrupts.active,
            )
        except OSError as exc:
            raise EnvironmentProblem(f"cannot run {self.terraform}: {exc.strerror}") from None
        self.interrupts.register(process)
        self._log(stack, [f"$ terraform {' '.join(args)}"])
        lines: list[str] = []
        try:  # read to the end, interrupted or not: Terraform dies writing to a closed pipe
            if json_output:
                out, err = process.communicate()
                lines = err.splitlines()
                self._log(stack, [*lines, f"({len(out)} characters of JSON on stdout)"])
            else:
                assert process.stdout is not None
                for line in process.stdout:
                    lines.append(line.rstrip("\n"))
                    if self.echo:
                        self.echo(f"{stack} | {line.rstrip()}" if self.log_dir else line.rstrip("\n"))
                    self._log(stack, lines[-1:])
                out = "\n".join(lines)
            code = process.wait()
        finally:
            self.interrupts.unregister(process)
        self._log(stack, [f"(exit {code})"])
        if self.interrupts.received and code != 0:
            raise self._interrupted(stack, step, started=True)
        if code != 0 and check:
            text = "\n".join([*lines, *([out] if json_output else [])])
            lines = text.splitlines()
            if _CHECKSUM.search(text):
                raise EnvironmentProblem(
                    f"{stack}: the AWS provider Terraform found does not match the checksums recorded in "
                    f"{self.locks_dir / (stack + LOCK_FILE)}; if the provider changed on purpose, delete that lock "
                    "file and run again (it is recorded anew), otherwise find out why the package differs"
                )
            if step == "init" and _PROVIDERS.search(text):  # later steps' network errors are about AWS
                raise EnvironmentProblem(toolchain.provider_problem())
            if _CREDENTIALS.search(text):
                raise EnvironmentProblem(
                    "AWS credentials are missing or cannot assume the deploy role: configure "
                    "credentials (AWS_PROFILE, SSO or OIDC) that may assume it; see README "
                    "'Credentials'"
                )
            errors = [ln.strip() for ln in lines if ln.strip().startswith("Error")] or lines[-3:]
            raise StackFailed(stack, step, " | ".join(errors)[:500] or "no output")
        return out

    def init(self, stack: str, backend: bool = True) -> None:
        """`terraform init` with the stack's lock file from `locks_dir` (and saved back there)."""
        kept = self.locks_dir / f"{stack}{LOCK_FILE}"
        here = self.out_dir / "stacks" / stack / LOCK_FILE
        with self._cache_lock():
            # A stack without its own lock file yet starts from a sibling's: every stack pins the same
            # provider, so it gets the same recorded checksums and the cached install is reused, not
            # installed again (which would also swap the cache under a stack running concurrently).
            seed = kept if kept.is_file() else next(iter(sorted(self.locks_dir.glob(f"*{LOCK_FILE}"))), None)
            if seed is not None:
                shutil.copyfile(seed, here)
            self._run(stack, "init", "init", "-input=false", "-no-color", *([] if backend else ["-backend=false"]))
            if here.is_file():
                self.locks_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(here, kept)

    @contextmanager
    def _cache_lock(self):
        """Terraform's plugin cache is not safe for concurrent installs: inits take turns, across
        threads (each opens the lock file anew, and flock locks per open file) and processes."""
        lock_path = Path(self.chain.env["TF_PLUGIN_CACHE_DIR"]) / ".platform-init.lock"
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def validate(self, stack: str) -> list[Diagnostic]:
        """`validate -json` after `init(stack, backend=False)`: Terraform's own diagnostics (no AWS call)."""
        text = self._run(stack, "validate", "validate", "-json", "-no-color", check=False, json_output=True)
        try:
            found = json.loads(text)["diagnostics"]
        except (ValueError, KeyError, TypeError):
            raise StackFailed(stack, "validate", f"validate -json did not return JSON: {text[-300:]}") from None
        return [
            Diagnostic(
                d.get("severity", "error"),
                d.get("summary", ""),
                d.get("detail", ""),
                d.get("address") or _where(d.get("range")),
            )
            for d in found
        ]

    def plan(self, stack: str, variables: dict[str, str] | None = None, destroy: bool = False) -> Path:
        args = ["plan", "-input=false", "-no-color", f"-out={PLAN_FILE}"]
        if destroy:
            args.append("-destroy")
        for key, value in sorted((variables or {}).items()):
            args.append(f"-var={key}={value}")
        self._run(stack, "plan", *args)
        return self.out_dir / "stacks" / stack / PLAN_FILE

    def show_json(self, stack: str) -> Path:
        text = self._run(stack, "show", "show", "-json", "-no-color", PLAN_FILE, json_output=True)
        path = self.out_dir / "stacks" / stack / PLAN_JSON
        path.write_text(text)
        return path

    def refresh_only_plan(self, stack: str) -> Path:
        """`plan -refresh-only` and its `show -json`: what changed outside Terraform (`drift`).
        Its own plan file, so a reviewed plan.tfplan stays; without the state lock (-lock=false):
        it writes no state, so a scheduled check never blocks a deploy waiting for the lock, and
        needs no write access to the state bucket."""
        self._run(
            stack, "plan", "plan", "-refresh-only", "-lock=false", "-input=false", "-no-color", f"-out={DRIFT_PLAN}"
        )
        text = self._run(stack, "show", "show", "-json", "-no-color", DRIFT_PLAN, json_output=True)
        path = self.out_dir / "stacks" / stack / DRIFT_JSON
        path.write_text(text)
        return path

    def apply(self, stack: str) -> None:
        self._run(stack, "apply", "apply", "-input=false", "-no-color", PLAN_FILE)

    def init_readonly(self, stack: str) -> None:
        """`terraform init -lockfile=readonly` with the lock file already in the stack folder (a
        saved-plan bundle brings its own, ops/saved_plans.py): the provider must match the recorded
        checksums and nothing is recorded anew, so what is applied uses what was planned."""
        with self._cache_lock():
            self._run(stack, "init", "init", "-input=false", "-no-color", "-lockfile=readonly")

    def state_pull(self, stack: str) -> str:
        """The stack's current state as JSON text (empty when it has none yet), from its backend."""
        return self._run(stack, "state", "state", "pull", json_output=True)

    def outputs(self, stack: str) -> dict:
        text = self._run(stack, "output", "output", "-json", "-no-color", json_output=True)
        try:
            return {k: v.get("value") for k, v in json.loads(text or "{}").items()}
        except (ValueError, AttributeError):
            raise StackFailed(stack, "output", "terraform output -json did not return JSON") from None


def _where(source_range: dict | None) -> str:
    if not source_range:
        return ""
    return f"{source_range.get('filename', '')}:{source_range.get('start', {}).get('line', '')}"


def validate_stacks(config: Config, specs: list[StackSpec], out_dir: Path) -> tuple[Terraform, dict]:
    """`validate`: synthesize `specs` into `out_dir`, then `terraform validate` each with the real
    provider (no backend, no AWS call). Returns the runner and each spec's diagnostics (empty: valid)."""
    from concurrent.futures import ThreadPoolExecutor

    from stacks import app  # starts cdktf and jsii

    app.synth(config, specs, out_dir)
    runner = Terraform(out_dir)
    check_version(runner.terraform)
    for spec in specs:  # one after the other: they share the plugin cache
        runner.init(spec.name, backend=False)
    # Stacks are independent and validation reads nothing remote: run them side by side.
    # Each validation runs a provider process of several hundred MB: at most four at once.
    with ThreadPoolExecutor(max_workers=min(4, max(2, os.cpu_count() or 2))) as pool:
        found = dict(zip(specs, pool.map(lambda s: runner.validate(s.name), specs), strict=True))
    return runner, found
