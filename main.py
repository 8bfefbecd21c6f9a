"""Command-line front door: choose environments and regions; synthesize, list, plan, review,
deploy, destroy, smoke-test, check the machine (doctor) and read outputs.

Each command is a few lines that call into `config/` and `stacks/`. Bad input (configuration,
--env, --region, --out, a usage error Click detects) exits with code 2 and one `error:` line per
problem on stderr, never a traceback. `stacks` (and with it cdktf and Node) is imported only by commands that
synthesize, so `list` and `validate-config` answer instantly.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from config import model

try:  # typer 0.2x vendors Click as typer._click
    from typer._click import exceptions as click_errors
except ImportError:  # older typer: Click itself
    from click import exceptions as click_errors


class OneLineErrors(TyperGroup):
    """Click's usage errors (an unknown option, an option without its value, a folder given as
    --config, a file as --out) become one `error:` line and exit 2, like every other bad input
    (README: exit codes); Click alone prints a usage block and a multi-line message."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except getattr(click_errors, "NoArgsIsHelpError", ()) as exc:  # bare `main.py`: the help is the answer
            exc.show()
            sys.exit(exc.exit_code)
        except click_errors.ClickException as exc:
            message = " ".join(exc.format_message().split()).rstrip(".")
            context = getattr(exc, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            typer.echo(f"error: {message}{hint}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:  # Ctrl-C or end of input where Click was reading (typer.Abort is Click's)
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


cli = typer.Typer(
    cls=OneLineErrors,
    help="Synthesize and operate the multi-region web platform (CDK for Terraform).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is plain: "[default: ...]" is text, not Rich markup
)

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="TOML configuration file [default: config/default.toml].",
    metavar="PATH", dir_okay=False, show_default=False)]
EnvOption = Annotated[str, typer.Option(
    "--env", "-e", help="Environment name from the configuration, or 'all'.", metavar="NAME")]
OneEnvOption = Annotated[str, typer.Option(
    "--env", "-e", help="Environment name from the configuration.", metavar="NAME")]
RegionOption = Annotated[str | None, typer.Option(
    "--region", "-r", help="Only this region's stacks ('global' selects the edge stacks).",
    metavar="REGION", show_default=False)]
OutOption = Annotated[Path, typer.Option(
    "--out", "-o", help="Output folder; replaced on every synth (state never lives here).",
    metavar="DIR", file_okay=False)]
ReadOutOption = Annotated[Path, typer.Option(
    "--out", "-o", help="Your synth output folder; left as it is (this command synthesizes into a "
                        "private folder beside it and removes that).", metavar="DIR", file_okay=False)]

# Tables in a pipe or a CI log must not be truncated to 80 columns.
_probe = Console()
stdout = Console(highlight=False, width=None if _probe.is_terminal else 200)


def fail(lines: list[str], code: int = 2) -> NoReturn:
    for line in lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def load_config(path: Path | None) -> model.Config:
    try:
        return model.load(path)
    except model.ConfigError as exc:
        fail(exc.problems)


def select(config: model.Config, env: str, region: str | None) -> list[model.StackSpec]:
    try:
        return config.select(env, region)
    except model.SelectionError as exc:
        fail([str(exc)])


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    out = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        # Names never wrap; the last column (details, paths) wraps instead of truncating the others.
        out.add_column(column, no_wrap=index < len(columns) - 1, overflow="fold")
    for row in rows:
        out.add_row(*row)
    stdout.print(out)


# synth is also the cdktf CLI's app (cdktf.json): the CLI names its output folder (`--output`) in
# this variable and reads manifest.json there, so synth writes where it says (stacks/app.py, same name).
CDKTF_CLI_OUTDIR = "CDKTF_OUTDIR"
SynthOutOption = Annotated[Path, typer.Option(
    "--out", "-o", help="Output folder; replaced on every synth (state never lives here). Run by the "
                        "cdktf CLI: its output folder.", metavar="DIR", file_okay=False, envvar=CDKTF_CLI_OUTDIR,
    show_envvar=False)]


@cli.command()
def synth(env: EnvOption = "all", region: RegionOption = None, config: ConfigOption = None,
          out: SynthOutOption = Path("cdktf.out")) -> None:
    """Write Terraform JSON to <out>/stacks/<stack>/cdk.tf.json for the chosen stacks."""
    cfg = load_config(config)
    specs = select(cfg, env, region)
    from modules.naming import NamingError
    from modules.runtime import NodeMissingError, require_node

    try:
        require_node()
    except NodeMissingError as exc:
        fail([str(exc)], code=1)
    from stacks import app  # starts cdktf and jsii: only commands that synthesize pay for it

    try:
        paths = app.synth(cfg, specs, out)
    except (NamingError, app.OutputDirError) as exc:
        fail([str(exc)])
    table(f"Synthesized {len(specs)} stack(s) from {cfg.source}",
          ["Stack", "Environment", "Region", "Role", "Terraform JSON"],
          [[s.name, s.environment, s.region, s.role, str(paths[s.name])] for s in specs])


@cli.command("list")
def list_stacks(env: EnvOption = "all", region: RegionOption = None, config: ConfigOption = None,
                as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False) -> None:
    """List the stacks with their environment, region, account and role."""
    cfg = load_config(config)
    specs = select(cfg, env, region)
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in specs], indent=2))
        return
    table(f"Stacks in {cfg.source}", ["Stack", "Environment", "Region", "Account", "Role"],
          [[s.name, s.environment, s.region, s.account_id, s.role] for s in specs])


@cli.command("validate-config")
def validate_config(config: ConfigOption = None) -> None:
    """Check the configuration and show what it resolves to (defaults and CIDRs included)."""
    cfg = load_config(config)
    table(f"{cfg.source} is valid", ["Environment", "Profile", "Account", "Regions (primary first)",
                                     "VPC CIDRs", "Instances", "NAT"],
          [[e.name, e.profile, e.account_id, ", ".join(e.regions),
            ", ".join(e.cidrs[r] for r in e.regions),
            f"{e.instance_count} ({e.min_capacity}..{e.max_capacity}) {e.instance_type}", e.nat_policy]
           for e in cfg.environments.values()])


@cli.command()
def validate(env: EnvOption = "all", region: RegionOption = None, config: ConfigOption = None,
             out: OutOption = Path("cdktf.out")) -> None:
    """Synthesize, then `terraform validate` every chosen stack with the real provider (no AWS call).
    Exit 1 when Terraform reports an error or a warning."""
    from concurrent.futures import ThreadPoolExecutor

    from ops import terraform
    from stacks import app

    cfg = load_config(config)
    specs = select(cfg, env, region)
    try:
        app.synth(cfg, specs, out)
        runner = terraform.Terraform(out)
        terraform.check_version(runner.terraform)
        for spec in specs:  # one after the other: they share the plugin cache
            runner.init(spec.name, backend=False)
        # Stacks are independent and validation reads nothing remote: run them side by side.
        # Each validation runs a provider process of several hundred MB: at most four at once.
        with ThreadPoolExecutor(max_workers=min(4, max(2, os.cpu_count() or 2))) as pool:
            found = dict(zip(specs, pool.map(lambda s: runner.validate(s.name), specs), strict=True))
    except (terraform.EnvironmentProblem, app.OutputDirError) as exc:
        fail([str(exc)])
    except terraform.StackFailed as exc:
        fail([str(exc)], code=1)
    table(f"terraform validate ({runner.chain.describe()})", ["Stack", "Result", "Diagnostics"],
          [[s.name, "valid" if not d else "INVALID",
            "; ".join(f"{x.severity}: {x.summary} ({x.address}) {x.detail}".strip() for x in d) or "-"]
           for s, d in found.items()])
    if any(found.values()):
        raise typer.Exit(1)


VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Stream Terraform's own output.")]
CountOption = Annotated[list[str] | None, typer.Option(
    "--instance-count", help="The instance_count variable for that region's stacks, within each selected "
                             "environment's min_capacity..max_capacity (repeatable).",
    metavar="REGION=N", show_default=False)]
AllowDestroyOption = Annotated[bool, typer.Option(
    "--allow-destroy", help="Apply even when the plan deletes or replaces stateful resources.")]


def instance_counts(values: list[str] | None, cfg: model.Config, specs: list[model.StackSpec]) -> dict[str, int]:
    """REGION=N per region, checked before any work: the region must be one the selected stacks
    run in, and N within the capacity (min_capacity..max_capacity) of every selected environment
    there; Terraform would otherwise fail mid-run on the Auto Scaling group, or the variable's
    validation, after the stacks before it were applied."""
    counts: dict[str, int] = {}
    regions = list(dict.fromkeys(s.region for s in specs if s.role != "edge"))
    problems = []
    for value in values or []:
        region, _, number = value.partition("=")
        if not number.isdigit() or region not in regions:
            fail([f"--instance-count {value!r}: expected REGION=N with a region of the selected stacks "
                  f"({', '.join(regions) or 'none'})"])
        counts[region] = int(number)
        for env in dict.fromkeys(s.environment for s in specs if s.region == region):
            e = cfg.environments[env]
            if not e.min_capacity <= counts[region] <= e.max_capacity:
                problems.append(f"--instance-count {value}: environment {env} allows {e.min_capacity}.."
                                f"{e.max_capacity} instances (min_capacity..max_capacity); choose a count in "
                                f"that range or change those settings")
    if problems:
        fail(problems)
    return counts


def terraform_run(action: str, env: str, region: str | None, config: Path | None, out: Path, verbose: bool,
                  counts: list[str] | None, allow_destroy: bool) -> None:
    from ops import pipeline, review, terraform
    from stacks import app

    cfg = load_config(config)
    specs = select(cfg, env, region)
    variables = instance_counts(counts, cfg, specs)
    results: list = []
    try:
        runner = terraform.Terraform(out, echo=(lambda line: typer.echo(f"    {line}")) if verbose else None)
        terraform.check_version(runner.terraform)
        results = pipeline.run(cfg, specs, out, action, runner, variables, allow_destroy,
                               progress=lambda stack, step: stdout.print(f"[bold]{stack}[/bold]: {step}"))
    except terraform.EnvironmentProblem as exc:
        fail([str(exc)])
    except (app.OutputDirError, review.PlanError) as exc:
        fail([str(exc)])
    except pipeline.DestructivePlan as exc:
        summary(exc.results)
        fail([str(exc)], code=3)
    except terraform.StackFailed as exc:
        fail([str(exc), "stopped: the stacks after it were not touched"], code=1)
    except pipeline.Interrupted as exc:  # SIGINT/SIGTERM: Terraform was stopped gracefully and waited for
        import shlex

        if exc.results:
            summary(exc.results)
        resume = shlex.join(["python", "main.py", action, "--env", env, *(["--region", region] if region else []),
                             *(["--config", str(config)] if config else []), "--out", str(out),
                             *(a for c in counts or [] for a in ("--instance-count", c)),
                             *(["--allow-destroy"] if allow_destroy else [])])
        for line in exc.report(resume):
            typer.echo(line, err=True)
        raise typer.Exit(exc.exit_code) from None
    summary(results)
    if action == "plan" and any(r.review and r.review.destructive for r in results):
        raise typer.Exit(3)


def summary(results: list) -> None:
    rows = []
    for r in results:
        c = r.review.counts if r.review else {}
        rows.append([r.stack, r.status, *(str(c.get(k, "-")) for k in ("create", "update", "replace", "delete")),
                     "YES" if r.review and r.review.destructive else "no"])
    table("Stacks", ["Stack", "Status", "Create", "Update", "Replace", "Delete", "Destructive"], rows)
    for r in results:
        if r.review and r.review.notable:
            table(f"{r.stack}: changes that matter", ["Address", "Action", "Why"],
                  [[c.address, c.action, c.why] for c in r.review.notable])


@cli.command()
def plan(env: EnvOption = "all", region: RegionOption = None, config: ConfigOption = None,
         out: OutOption = Path("cdktf.out"), verbose: VerboseOption = False,
         instance_count: CountOption = None) -> None:
    """Synthesize, then terraform init/plan/show each stack in order and review the plans (exit 3: destructive)."""
    terraform_run("plan", env, region, config, out, verbose, instance_count, False)


@cli.command()
def deploy(env: EnvOption = "all", region: RegionOption = None, config: ConfigOption = None,
           out: OutOption = Path("cdktf.out"), verbose: VerboseOption = False, instance_count: CountOption = None,
           allow_destroy: AllowDestroyOption = False) -> None:
    """Plan, review and apply each stack in dependency order; the first failure stops the run."""
    terraform_run("deploy", env, region, config, out, verbose, instance_count, allow_destroy)


@cli.command()
def destroy(env: Annotated[str, typer.Option("--env", "-e", help="The environment to destroy.", metavar="NAME")],
            region: RegionOption = None, config: ConfigOption = None, out: OutOption = Path("cdktf.out"),
            verbose: VerboseOption = False, allow_destroy: AllowDestroyOption = False) -> None:
    """Plan -destroy and apply, edge stack first; refuses stateful deletes without --allow-destroy."""
    if env == "all":
        fail(["destroy works on one environment at a time: pass --env NAME"])
    terraform_run("destroy", env, region, config, out, verbose, None, allow_destroy)


@cli.command("review")
def review_plan(plan_json: Annotated[Path, typer.Argument(help="`terraform show -json` output.", dir_okay=False,
                                                          metavar="PLAN.json")],
                as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False) -> None:
    """Summarize a Terraform JSON plan; exit 3 when it deletes or replaces stateful resources."""
    from ops import review

    try:
        result = review.review(review.load(plan_json), plan_json.parent.name)
    except review.PlanError as exc:
        fail([str(exc)])
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        from ops.terraform import StackResult

        summary([StackResult(result.stack, "reviewed", review=result)])
    if result.destructive:
        raise typer.Exit(3)


def stack_outputs(cfg: model.Config, specs: list[model.StackSpec], out: Path) -> dict[str, dict]:
    """Each stack's outputs from its state. Reading must not replace what the user synthesized (or
    a saved plan), so this synthesizes into a private folder beside `out` (the same lock files,
    plugin cache and relative state paths), runs `terraform init` and `output` there, and removes it."""
    import shutil
    import tempfile

    from ops import terraform
    from stacks import app

    beside = out.resolve().parent
    try:
        beside.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f".{out.name}.read-", dir=beside))
    except OSError as exc:
        fail([f"cannot create a private folder in {beside}: {exc.strerror}; choose a writable --out"])
    try:
        app.synth(cfg, specs, private)
        runner = terraform.Terraform(private)
        values = {}
        for spec in specs:
            runner.init(spec.name)
            values[spec.name] = runner.outputs(spec.name)
        return values
    except terraform.EnvironmentProblem as exc:
        fail([str(exc)])
    except app.OutputDirError as exc:
        fail([str(exc)])
    except terraform.StackFailed as exc:
        fail([str(exc)], code=1)
    finally:
        shutil.rmtree(private, ignore_errors=True)


@cli.command()
def outputs(env: OneEnvOption, region: RegionOption = None,
            config: ConfigOption = None, out: ReadOutOption = Path("cdktf.out"),
            as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False) -> None:
    """The stacks' outputs from Terraform state (the output folder is left as it is)."""
    cfg = load_config(config)
    values = stack_outputs(cfg, select(cfg, env, region), out)
    if as_json:
        typer.echo(json.dumps(values, indent=2, sort_keys=True))
        return
    table("Outputs", ["Stack", "Output", "Value"],
          [[stack, key, json.dumps(value) if not isinstance(value, str) else value]
           for stack, items in values.items() for key, value in sorted(items.items())])


@cli.command()
def smoke(env: OneEnvOption, region: RegionOption = None,
          config: ConfigOption = None, out: ReadOutOption = Path("cdktf.out"),
          timeout: Annotated[int, typer.Option(
              metavar="SECONDS", help="Seconds to wait for the ingest manifest and for the SSM command.")] = 120,
          resolve: Annotated[list[str] | None, typer.Option(
              "--resolve", metavar="NAME=ADDRESS:PORT",
              help="NAME=ADDRESS:PORT: connect there for NAME (TLS still checks NAME), like curl's "
                   "--connect-to; e.g. to point the viewer name at a test front (repeatable).",
              show_default=False)] = None) -> None:
    """Post-deployment checks from outside the VPC: ingest, Route 53 health checks, the database through an
    instance's /ready (SSM Run Command), HTTPS health through CloudFront, alarms. Exit 1 on any failure.
    TLS trusts the system's CAs (SSL_CERT_FILE adds a bundle); AWS calls honour AWS_ENDPOINT_URL."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from ops.access import dns_session, environment_session
    from ops.smoke import Smoke, parse_resolve

    try:
        connect_to = parse_resolve(resolve or [])
    except ValueError as exc:
        fail([str(exc)])
    cfg = load_config(config)
    if env == "all":
        fail(["smoke tests one environment at a time: pass --env NAME"])
    specs = [s for s in select(cfg, env, region) if s.role != "edge"]
    values = stack_outputs(cfg, specs, out)
    try:
        session = environment_session(cfg, cfg.environments[env], boto3.Session())
    except (BotoCoreError, ClientError) as exc:
        fail([f"cannot assume {cfg.provider_role_arn(cfg.environments[env])} ({type(exc).__name__}): configure "
              "credentials that may assume it (README 'Credentials')"])
    try:
        zone_session = dns_session(cfg, cfg.environments[env], boto3.Session(), session)
    except (BotoCoreError, ClientError) as exc:
        fail([f"cannot assume the DNS role in account {cfg.dns_account_id(cfg.environments[env])} "
              f"({type(exc).__name__}): configure credentials that may assume it (README 'Credentials')"])
    checks = Smoke(cfg, cfg.environments[env], [s.region for s in specs], values, session,
                   resolve=connect_to, timeout=timeout, dns_session=zone_session).run()
    table(f"Smoke test of {env}", ["Check", "Result", "Detail"],
          [[c.name, "PASS" if c.ok else "FAIL", c.detail] for c in checks])
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@cli.command()
def doctor(config: ConfigOption = None) -> None:
    """Check this machine: packages, Node, Terraform, AWS credentials and roles, state backend."""
    import boto3

    from ops import doctor as checks

    cfg = load_config(config)
    results = checks.run(cfg, boto3.Session(), Path(__file__).resolve().parent)
    table("doctor", ["Check", "Result", "Detail"], [[c.name, "OK" if c.ok else "FIX", c.detail] for c in results])
    if not all(c.ok for c in results):
        raise typer.Exit(checks.exit_code(results))


if __name__ == "__main__":
    cli()
