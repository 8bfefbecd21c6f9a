"""Every error that reaches the user: its message and its exit code, in one place.

`main.py` catches `PlatformError` once (the click pattern) and prints `lines()` to stderr, one
`error:` line per problem and never a traceback, then exits with `exit_code`. Code anywhere
(configuration, naming, synth, operations) raises the subclass that says what went wrong, so the
exit code of a failure is decided where the failure is understood, not by a chain of
try/except in the command. The codes are the README's contract ("Exit codes scripts can rely on"):

- 2 `UsageError` (`ConfigError`, `SelectionError`, `NamingError`, `OutputDirError`): bad input,
  i.e. the command line, the configuration, the output folder, a plan file;
- 2 `EnvironmentProblem`: the machine (Terraform missing or old, providers, AWS credentials);
- 1 `OperationFailed` (`NodeMissingError`): a stack or a check that failed, a missing Node.js;
- 3 `Refused`: a destructive plan, not applied;
- 4 `DriftFound`: `drift` found resources changed outside Terraform (a finding, not a failure of the run);
- 5 `StalePlan`: a saved plan whose state moved since it was made, not applied;
- 130, 143 `PlatformError(..., exit_code=128 + signal)`: a run stopped by SIGINT or SIGTERM.

Without cdktf imports: the CLI answers bad input without starting jsii.
"""

from __future__ import annotations

from collections.abc import Iterable


class PlatformError(Exception):
    """An error for the user: `problems` holds one human-readable line per problem (the message
    is one problem, or several joined by newlines), `exit_code` what the process exits with."""

    exit_code: int = 1

    def __init__(self, message: str | Iterable[str], exit_code: int | None = None):
        self.problems = [message] if isinstance(message, str) else list(message)
        super().__init__("\n".join(self.problems))
        if exit_code is not None:
            self.exit_code = exit_code

    def lines(self) -> list[str]:
        """What the CLI prints on stderr: one `error:` line per problem."""
        return [f"error: {problem}" for problem in self.problems]


class UsageError(PlatformError, ValueError):
    """Bad input the user can correct: an option's value, a plan file (exit 2). A ValueError too,
    so callers that check values (`parse_resolve`) keep their usual contract."""

    exit_code = 2


class ConfigError(UsageError):
    """Invalid configuration: `problems` holds one line per problem, each naming the file and key."""

    def __init__(self, problems: Iterable[str]):
        super().__init__(list(problems))


class SelectionError(UsageError):
    """An --env or --region that the configuration does not define."""


class NamingError(UsageError):
    """A name AWS would reject; the message says which part to shorten."""


class OutputDirError(UsageError):
    """The output folder cannot be replaced safely."""


class EnvironmentProblem(PlatformError):
    """The machine cannot run Terraform for us (no Terraform, no provider, no credentials); the
    message says how to fix it (exit 2, like bad input: nothing ran)."""

    exit_code = 2


class OperationFailed(PlatformError):
    """A stack or a check that ran and failed (exit 1)."""

    exit_code = 1


class NodeMissingError(OperationFailed):
    """Neither the bundled nor a system Node.js is available (README: exit 1)."""


class Refused(PlatformError):
    """A run stopped on purpose before doing harm (exit 3): a plan that deletes or replaces
    stateful resources, or a failover whose target is unhealthy, lagging or not a replica."""

    exit_code = 3


class DriftFound(PlatformError):
    """`drift` ran on every stack and found resources changed outside Terraform (exit 4): distinct
    from 1, a stack whose check failed, so a scheduled job can tell "the platform drifted" from
    "the check broke". The message counts what drifted; the report (table or --json) names it."""

    exit_code = 4


class StalePlan(PlatformError):
    """A saved plan whose stack's state changed after it was made (another apply ran in between):
    applying it could undo that change, so `apply` refuses (exit 5). The plan job must run again."""

    exit_code = 5
