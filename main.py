"""Command-line front door: choose environments and regions, synthesize, list.

Each command is a few lines that call into `config/` and `stacks/`. Bad input (configuration,
--env, --region, --out) exits with code 2 and one `error:` line per problem on stderr, never
a traceback. `stacks` (and with it cdktf and Node) is imported only by commands that
synthesize, so `list` and `validate-config` answer instantly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from config import model

cli = typer.Typer(
    help="Synthesize and operate the multi-region web platform (CDK for Terraform).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="TOML configuration file [default: config/default.toml].",
    dir_okay=False, show_default=False)]
EnvOption = Annotated[str, typer.Option(
    "--env", "-e", help="Environment name from the configuration, or 'all'.")]
RegionOption = Annotated[str | None, typer.Option(
    "--region", "-r", help="Only this region's stacks ('global' selects the edge stacks).",
    show_default=False)]
OutOption = Annotated[Path, typer.Option(
    "--out", "-o", help="Output folder; replaced on every synth (state never lives here).",
    file_okay=False)]

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
    for column in columns:
        out.add_column(column, no_wrap=True)
    for row in rows:
        out.add_row(*row)
    stdout.print(out)


@cli.command()
def synth(env: EnvOption = "all", region: RegionOption = None, config: ConfigOption = None,
          out: OutOption = Path("cdktf.out")) -> None:
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


if __name__ == "__main__":
    cli()
