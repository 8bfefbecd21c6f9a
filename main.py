"""Command-line front door: choose environments and regions; synthesize, list, plan, review,
deploy, destroy, smoke-test, check the machine (doctor), read outputs, move a database writer (failover) and
draw an environment (graph).

Each command is a few lines that call into `config/`, `stacks/` and `ops/`. Errors are caught in
one place, `OneLineErrors.main`: a `PlatformError` raised anywhere (config/errors.py) prints its
`error:` lines on stderr and exits with its own code (2 bad input or machine, 1 a failed stack or
check, 3 a destructive plan, 130/143 an interrupt), never a traceback; Click's usage errors
become one `error:` line and exit 2 too. `stacks` (and with it cdktf and Node) is imported only
by commands that synthesize, so `list` and `validate-config` answer instantly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from config import model
from config.errors import OperationFailed, PlatformError, Refused, UsageError
from ops.pipeline import Action

try:  # typer 0.2x vendors Click as typer._click
    from typer._click import exceptions as click_errors
except ImportError:  # older typer: Click itself
    from click import exceptions as click_errors


class OneLineErrors(TyperGroup):
    """The one place errors become output and exit codes (README: exit codes). A `PlatformError`
    from any layer prints its `lines()` on stderr and exits with its `exit_code`. Click's usage
    errors (an unknown option, an option without its value, a folder given as --config, a file as
    --out) become one `error:` line and exit 2, like every other bad input; Click alone prints a
    usage block and a multi-line message."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except PlatformError as exc:
            for line in exc.lines():
                typer.echo(line, err=True)
            sys.exit(exc.exit_code)
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

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file [default: config/default.toml].",
        metavar="PATH",
        dir_okay=False,
        show_default=False,
    ),
]
EnvOption = Annotated[
    str, typer.Option("--env", "-e", help="Environment name from the configuration, or 'all'.", metavar="NAME")
]
OneEnvOption = Annotated[
    str, typer.Option("--env", "-e", help="Environment name from the configuration.", metavar="NAME")
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        "-r",
        help="Only this region's stacks ('global' selects the edge stacks).",
        metavar="REGION",
        show_default=False,
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        help="Output folder; replaced on every synth (state never lives here).",
        metavar="DIR",
        file_okay=False,
    ),
]
ReadOutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        help="Your synth output folder; left as it is (this command synthesizes into a "
        "private folder beside it and removes that).",
        metavar="DIR",
        file_okay=False,
    ),
]

# Tables in a pipe or a CI log must not be truncated to 80 columns.
_probe = Console()
stdout = Console(highlight=False, width=None if _probe.is_terminal else 200)


def one_environment(env: str, command: str) -> None:
    if env == "all":
        raise UsageError(f"{command} one environment at a time: pass --env NAME")


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
SynthOutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        help="Output folder; replaced on every synth (state never lives here). Run by the "
        "cdktf CLI: its output folder.",
        metavar="DIR",
        file_okay=False,
        envvar=CDKTF_CLI_OUTDIR,
        show_envvar=False,
    ),
]


@cli.command()
def synth(
    env: EnvOption = "all",
    region: RegionOption = None,
    config: ConfigOption = None,
    out: SynthOutOption = Path("cdktf.out"),
    force: Annotated[
        bool, typer.Option("--force", help="Synthesize even when the output is up to date with every input.")
    ] = False,
) -> None:
    """Write Terraform JSON to <out>/stacks/<stack>/cdk.tf.json for the chosen stacks (nothing to do,
    and no Node started, when configuration, code and dependencies are unchanged since the last
    synth into <out> and its files are intact)."""
    from modules.runtime import require_node

    cfg = model.load(config)
    specs = cfg.select(env, region)
    require_node()
    from stacks import app  # cdktf and jsii start only when something must be synthesized

    paths = app.synth(cfg, specs, out, force=force)
    done = "Unchanged (nothing to synthesize):" if paths.unchanged else "Synthesized"
    table(
        f"{done} {len(specs)} stack(s) from {cfg.source}",
        ["Stack", "Environment", "Region", "Role", "Terraform JSON"],
        [[s.name, s.environment, s.region, s.role, str(paths[s.name])] for s in specs],
    )


@cli.command("list")
def list_stacks(
    env: EnvOption = "all",
    region: RegionOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List the stacks with their environment, region, account and role."""
    cfg = model.load(config)
    specs = cfg.select(env, region)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in specs], indent=2))
        return
    table(
        f"Stacks in {cfg.source}",
        ["Stack", "Environment", "Region", "Account", "Role"],
        [[s.name, s.environment, s.region, s.account_number, s.role] for s in specs],
    )


@cli.command("validate-config")
def validate_config(config: ConfigOption = None) -> None:
    """Check the configuration and show what it resolves to (defaults and CIDRs included)."""
    cfg = model.load(config)
    from config import settings  # the columns are the settings table's `view` entries

    table(f"{cfg.source} is valid", list(settings.VIEW_HEADINGS), [settings.view(e) for e in cfg.environments.values()])


@cli.command()
def validate(
    env: EnvOption = "all", region: RegionOption = None, config: ConfigOption = None, out: OutOption = Path("cdktf.out")
) -> None:
    """Synthesize, then `terraform validate` every chosen stack with the real provider (no AWS call).
    Exit 1 when Terraform reports an error or a warning."""
    from ops import terraform

    cfg = model.load(config)
    specs = cfg.select(env, region)
    runner, found = terraform.validate_stacks(cfg, specs, out)
    table(
        f"terraform validate ({runner.chain.describe()})",
        ["Stack", "Result", "Diagnostics"],
        [
            [
                s.name,
                "valid" if not d else "INVALID",
                "; ".join(f"{x.severity}: {x.summary} ({x.address}) {x.detail}".strip() for x in d) or "-",
            ]
            for s, d in found.items()
        ],
    )
    if invalid := [s.name for s, d in found.items() if d]:
        raise OperationFailed(f"terraform validate reported errors or warnings in {', '.join(invalid)}")


VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Stream Terraform's own output.")]
CountOption = Annotated[
    list[str] | None,
    typer.Option(
        "--instance-count",
        help="The instance_count variable for that region's stacks, within each selected "
        "environment's min_capacity..max_capacity (repeatable).",
        metavar="REGION=N",
        show_default=False,
    ),
]
AllowDestroyOption = Annotated[
    bool, typer.Option("--allow-destroy", help="Apply even when the plan deletes or replaces stateful resources.")
]
ParallelOption = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        help="At most N Terraform processes at once; stacks run in dependency waves, environments "
        "side by side [default: the number of cores, at least 2].",
        metavar="N",
        show_default=False,
    ),
]


def terraform_run(
    action: Action,
    env: str,
    region: str | None,
    config: Path | None,
    out: Path,
    verbose: bool,
    counts: list[str] | None,
    allow_destroy: bool,
    parallel: int | None = None,
) -> None:
    from ops import pipeline

    pipeline.command(
        action, env, region, config, out, verbose=verbose, counts=counts, allow_destroy=allow_destroy,
        parallel=parallel, console=stdout, echo=typer.echo, show=summary,
    )  # fmt: skip


def summary(results: list) -> None:
    rows = []
    for r in results:
        c = r.review.counts if r.review else {}
        rows.append(
            [
                r.stack,
                r.status,
                *(str(c.get(k, "-")) for k in ("create", "update", "replace", "delete")),
                "YES" if r.review and r.review.destructive else "no",
            ]
        )
    table("Stacks", ["Stack", "Status", "Create", "Update", "Replace", "Delete", "Destructive"], rows)
    for r in results:
        if r.review and r.review.notable:
            table(
                f"{r.stack}: changes that matter",
                ["Address", "Action", "Why"],
                [[c.address, c.action, c.why] for c in r.review.notable],
            )
    from ops import cost

    if line := cost.plan_delta_line(results):  # the monthly cost the planned change adds or removes
        stdout.print(line)


@cli.command()
def plan(
    env: EnvOption = "all",
    region: RegionOption = None,
    config: ConfigOption = None,
    out: OutOption = Path("cdktf.out"),
    verbose: VerboseOption = False,
    instance_count: CountOption = None,
    bundle: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            file_okay=False,
            help="After a plan without errors or destructive changes, save what `apply --plans DIR` needs "
            "to apply exactly these plans elsewhere (saved plans, stacks, lock files, manifest).",
        ),
    ] = None,
    parallel: ParallelOption = None,
) -> None:
    """Synthesize, then terraform init/plan/show every stack and review the plans (exit 3: destructive)."""
    if bundle:
        one_environment(env, "plan --bundle works on")
    terraform_run(Action.PLAN, env, region, config, out, verbose, instance_count, False, parallel)
    if bundle:
        from ops import saved_plans

        saved_plans.save(model.load(config).select(env, region), out, bundle)
        stdout.print(f"plan bundle: {bundle}")


@cli.command()
def deploy(
    env: EnvOption = "all",
    region: RegionOption = None,
    config: ConfigOption = None,
    out: OutOption = Path("cdktf.out"),
    verbose: VerboseOption = False,
    instance_count: CountOption = None,
    allow_destroy: AllowDestroyOption = False,
    parallel: ParallelOption = None,
) -> None:
    """Plan and review every stack, then apply them in dependency waves; the first failure stops the run."""
    terraform_run(Action.DEPLOY, env, region, config, out, verbose, instance_count, allow_destroy, parallel)


@cli.command()
def apply(
    env: OneEnvOption,
    plans: Annotated[
        Path, typer.Option(metavar="DIR", file_okay=False, help="The folder `plan --bundle` wrote (a CI artifact).")
    ],
    verbose: VerboseOption = False,
    allow_destroy: AllowDestroyOption = False,
) -> None:
    """Apply exactly the saved plans of a bundle, in deploy order, after verifying it (exit 2: changed or
    foreign bundle, 5: state moved since the plan)."""
    from ops import saved_plans, terraform

    runner = terraform.Terraform(plans, echo=(lambda line: typer.echo(f"    {line}")) if verbose else None)
    results = saved_plans.apply(
        plans, env, runner, allow_destroy, progress=lambda stack, step: stdout.print(f"[bold]{stack}[/bold]: {step}")
    )
    summary(results)


@cli.command()
def destroy(
    env: Annotated[str, typer.Option("--env", "-e", help="The environment to destroy.", metavar="NAME")],
    region: RegionOption = None,
    config: ConfigOption = None,
    out: OutOption = Path("cdktf.out"),
    verbose: VerboseOption = False,
    allow_destroy: AllowDestroyOption = False,
    parallel: ParallelOption = None,
) -> None:
    """Plan -destroy and apply, edge stack first; refuses stateful deletes without --allow-destroy."""
    one_environment(env, "destroy works on")
    terraform_run(Action.DESTROY, env, region, config, out, verbose, None, allow_destroy, parallel)


@cli.command("review")
def review_plan(
    plan_json: Annotated[
        Path, typer.Argument(help="`terraform show -json` output.", dir_okay=False, metavar="PLAN.json")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Summarize a Terraform JSON plan; exit 3 when it deletes or replaces stateful resources."""
    from ops import review
    from ops.terraform import StackResult

    result = review.review(review.load(plan_json), plan_json.parent.name)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        summary([StackResult(result.stack, "reviewed", review=result)])
    if result.destructive:
        raise Refused(f"{plan_json}: the plan deletes or replaces stateful resources")


@cli.command()
def drift(
    env: EnvOption = "all",
    region: RegionOption = None,
    config: ConfigOption = None,
    out: OutOption = Path("cdktf.out"),
    verbose: VerboseOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Synthesize, then a refresh-only plan of each stack: the resources changed outside Terraform.
    Exit 4 when drift is found, 1 when a stack's check failed, 0 when everything matches."""
    from ops import drift as drifting
    from ops import terraform

    cfg = model.load(config)
    specs = cfg.select(env, region)
    # Progress and Terraform's own output go to stderr: stdout is the report (or the JSON).
    runner = terraform.Terraform(out, echo=(lambda line: typer.echo(f"    {line}", err=True)) if verbose else None)
    terraform.check_version(runner.terraform)
    results = drifting.run(
        cfg, specs, out, runner, progress=lambda stack, step: typer.echo(f"{stack}: {step}", err=True)
    )
    if as_json:
        typer.echo(json.dumps(drifting.as_dict(results), indent=2))
    else:
        table(
            "Drift: resources changed outside Terraform", ["Stack", "Address", "What changed"], drifting.rows(results)
        )
    drifting.verdict(results)


@cli.command()
def outputs(
    env: OneEnvOption,
    region: RegionOption = None,
    config: ConfigOption = None,
    out: ReadOutOption = Path("cdktf.out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The stacks' outputs from Terraform state (the output folder is left as it is)."""
    from ops import outputs as stack_outputs

    cfg = model.load(config)
    values = stack_outputs.read(cfg, cfg.select(env, region), out)
    if as_json:
        typer.echo(json.dumps(values, indent=2, sort_keys=True))
        return
    table(
        "Outputs",
        ["Stack", "Output", "Value"],
        [
            [stack, key, json.dumps(value) if not isinstance(value, str) else value]
            for stack, items in values.items()
            for key, value in sorted(items.items())
        ],
    )


@cli.command()
def smoke(
    env: OneEnvOption,
    region: RegionOption = None,
    config: ConfigOption = None,
    out: ReadOutOption = Path("cdktf.out"),
    timeout: Annotated[
        int, typer.Option(metavar="SECONDS", help="Seconds to wait for the ingest manifest and for the SSM command.")
    ] = 120,
    resolve: Annotated[
        list[str] | None,
        typer.Option(
            "--resolve",
            metavar="NAME=ADDRESS:PORT",
            help="NAME=ADDRESS:PORT: connect there for NAME (TLS still checks NAME), like curl's "
            "--connect-to; e.g. to point the viewer name at a test front (repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Post-deployment checks from outside the VPC: ingest, Route 53 health checks, the database through an
    instance's /ready (SSM Run Command), HTTPS health through CloudFront, alarms. Exit 1 on any failure.
    TLS trusts the system's CAs (SSL_CERT_FILE adds a bundle); AWS calls honour AWS_ENDPOINT_URL."""
    import boto3

    from ops.smoke import parse_resolve, smoke_test

    connect_to = parse_resolve(resolve or [])
    cfg = model.load(config)
    one_environment(env, "smoke tests")
    checks = smoke_test(cfg, env, region, out, boto3.Session(), resolve=connect_to, timeout=timeout)
    table(
        f"Smoke test of {env}",
        ["Check", "Result", "Detail"],
        [[c.name, "PASS" if c.ok else "FAIL", c.detail] for c in checks],
    )
    if failed := [c.name for c in checks if not c.ok]:
        raise OperationFailed(
            f"smoke test of {env}: {len(failed)} of {len(checks)} check(s) failed: {', '.join(failed)}"
        )


@cli.command()
def doctor(config: ConfigOption = None) -> None:
    """Check this machine: packages, Node, Terraform, AWS credentials and roles, state backend."""
    import boto3

    from ops import doctor as checks

    cfg = model.load(config)
    results = checks.run(cfg, boto3.Session(), Path(__file__).resolve().parent)
    table("doctor", ["Check", "Result", "Detail"], [[c.name, "OK" if c.ok else "FIX", c.detail] for c in results])
    checks.verdict(results)


@cli.command()
def failover(
    env: OneEnvOption,
    to: Annotated[str, typer.Option("--to", help="The region whose replica becomes the writer.", metavar="REGION")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and print the plan; change nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Override the health and lag refusals (the writer region is down).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Promote REGION's replica (or switch the Aurora global writer), make it the DNS primary and record
    writer_region in the configuration (docs/operations.md 'Regional failover'). Refuses (exit 3) when
    the target is unhealthy or lagging; exit 2 on bad input. Nothing changes on a refusal."""
    import boto3

    from ops import failover as failing_over

    cfg = model.load(config)
    one_environment(env, "failover moves")
    plan = failing_over.prepare(cfg, env, to, boto3.Session(), force=force)
    table(f"Failover of {env} to {to}: checks", ["Check", "Result"], [[c.name, c.result] for c in plan.checks])
    table(
        f"Failover of {env} to {to}" + (" (dry run)" if dry_run else ""),
        ["Step", "Result"],
        [list(row) for row in (plan.describe() if dry_run else plan.run())],
    )
    for overridden in plan.overridden:
        typer.echo(f"--force overrode {overridden}")
    if not dry_run:
        typer.echo(failing_over.next_steps(plan, cfg))


@cli.command()
def graph(
    env: OneEnvOption,
    config: ConfigOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write here instead of stdout: FILE.mmd or FILE.md (Mermaid), FILE.svg or FILE.png (Graphviz dot).",
            metavar="FILE",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    readme: Annotated[
        Path | None,
        typer.Option(
            "--readme",
            help="Rewrite the diagram block of this Markdown file (`make diagram`).",
            metavar="FILE",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    synth_out: Annotated[
        Path,
        typer.Option(
            "--synth-out",
            help="Synth output folder (the other commands' --out): an unchanged synth there is reused.",
            metavar="DIR",
            file_okay=False,
        ),
    ] = Path("cdktf.out"),
) -> None:
    """Draw one environment from its synthesized Terraform JSON: regions, VPC tiers, load balancer,
    instances, databases and replicas, CloudFront, WAF, DNS and health checks, ingest. Mermaid text
    by default; SVG or PNG through Graphviz (exit 2 when `dot` is missing)."""
    from ops import graph as drawing

    one_environment(env, "graph draws")
    text = drawing.run(model.load(config), env, out, readme, synth_out)
    if text is not None:
        typer.echo(text, nl=False)


@cli.command("cost")
def cost_estimate(
    env: EnvOption = "all",
    config: ConfigOption = None,
    out: OutOption = Path("cdktf.out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Synthesize, then estimate each stack's and environment's monthly cost from the Terraform JSON and
    the cited price table (ops/prices/aws.json); usage-priced charges are listed with their unit rate."""
    from ops import cost

    cfg = model.load(config)
    estimate = cost.estimate(cfg, cfg.select(env), out)
    if as_json:
        typer.echo(json.dumps(estimate.as_dict(), indent=2))
        return
    for stack in estimate.stacks:
        table(
            f"{stack.stack}: {cost.money(stack.monthly)}/month",
            ["Resource", "Count", "Unit price", "Monthly"],
            cost.rows(stack),
        )
    table("Monthly cost", ["Environment", "Fixed charges", "Resources without a price"], cost.totals(estimate))
    for line in cost.footnotes(estimate):
        stdout.print(line, soft_wrap=True)


if __name__ == "__main__":
    cli()
