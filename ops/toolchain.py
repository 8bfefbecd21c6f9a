"""Where Terraform and the AWS provider come from, for every command that runs Terraform.

The provider the stacks pin is the one the bindings were generated from (`PROVIDER_VERSION`:
cdktf writes it, exactly, into every stack). Terraform installs it once per machine into a
shared plugin cache and links it into each stack folder (one 700 MB install, not one per stack):

- from a filesystem mirror when one holds that version (offline machines, air-gapped CI):
  `$TF_PROVIDER_MIRROR`, else the machine-wide mirrors in `MIRRORS`; a CLI configuration file
  that installs hashicorp/aws from the mirror (everything else directly) is written for it;
- else from registry.terraform.io (a machine with network).

A CLI configuration of the user's own (`TF_CLI_CONFIG_FILE` naming a file that exists) and a plugin cache of their own
(`TF_PLUGIN_CACHE_DIR`) are respected as they are. `python -m ops.toolchain` prints where
Terraform and the provider will come from, or one line saying how to supply them (exit 1).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from config.errors import EnvironmentProblem

PROVIDER_SOURCE = "registry.terraform.io/hashicorp/aws"
# The AWS provider cdktf-cdktf-provider-aws 20.1.0 was generated from (pyproject.toml pins it);
# a test proves every synthesized stack requires exactly this version.
PROVIDER_VERSION = "5.100.0"
MIRROR_ENV = "TF_PROVIDER_MIRROR"
MIRRORS = (Path("/opt/tf-plugins"), Path("/usr/local/share/terraform/plugins"), Path("/usr/share/terraform/plugins"))
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Tool state of this checkout (plugin cache, generated CLI config); never committed.
TOOLS_DIR = PROJECT_ROOT / ".terraform.d"


def platform_dir() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def mirror_holds(mirror: Path, version: str = PROVIDER_VERSION) -> bool:
    """True when `mirror` (Terraform's filesystem-mirror layout, packed or unpacked) has the provider."""
    base = mirror / PROVIDER_SOURCE
    unpacked = base / version / platform_dir()
    packed = base / f"terraform-provider-aws_{version}_{platform_dir()}.zip"
    return (unpacked.is_dir() and any(unpacked.glob("terraform-provider-aws*"))) or packed.is_file()


def find_mirror(environ: dict[str, str] | None = None) -> Path | None:
    """The first mirror holding PROVIDER_VERSION: $TF_PROVIDER_MIRROR (which must hold it), then MIRRORS."""
    environ = os.environ if environ is None else environ
    if environ.get(MIRROR_ENV):
        chosen = Path(environ[MIRROR_ENV])
        if not mirror_holds(chosen):
            raise EnvironmentProblem(
                f"{MIRROR_ENV}={chosen} does not hold hashicorp/aws {PROVIDER_VERSION} for {platform_dir()}: "
                f"expected {chosen / PROVIDER_SOURCE / PROVIDER_VERSION / platform_dir()}/terraform-provider-aws_* "
                "(`terraform providers mirror` writes this layout)"
            )
        return chosen
    return next((m for m in MIRRORS if mirror_holds(m)), None)


def user_cli_config(environ: dict[str, str] | os._Environ) -> Path | None:
    """The user's own CLI configuration file, when TF_CLI_CONFIG_FILE names one that exists."""
    path = environ.get("TF_CLI_CONFIG_FILE")
    return Path(path) if path and Path(path).is_file() else None


def cli_config_text(mirror: Path, cache_dir: Path) -> str:
    return (
        f'plugin_cache_dir = "{cache_dir}"\n'
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["{PROVIDER_SOURCE}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{PROVIDER_SOURCE}"]\n  }}\n'
        "}\n"
    )


@dataclass(frozen=True)
class Toolchain:
    terraform: str
    mirror: Path | None  # None: the provider comes from the registry
    env: dict[str, str]  # what to add to Terraform's environment

    def describe(self) -> str:
        source = f"filesystem mirror {self.mirror}" if self.mirror else "registry.terraform.io (needs network)"
        if "TF_CLI_CONFIG_FILE" not in self.env and user_cli_config(os.environ):
            source = f"your CLI configuration {os.environ['TF_CLI_CONFIG_FILE']}"
        return f"terraform {self.terraform}; hashicorp/aws {PROVIDER_VERSION} from {source}"


def find_terraform(path: str | None = None) -> str:
    """The terraform binary on PATH (or on `path`), or one line saying how to install it."""
    found = shutil.which("terraform", path=path)
    if found is None:
        raise EnvironmentProblem(
            "Terraform was not found on PATH: install Terraform >= 1.10 "
            "(https://developer.hashicorp.com/terraform/install)"
        )
    return found


def resolve(tools_dir: Path = TOOLS_DIR, environ: dict[str, str] | None = None) -> Toolchain:
    """Find Terraform and decide where the provider comes from; writes the CLI config if needed."""
    environ = dict(os.environ if environ is None else environ)
    terraform = find_terraform(environ.get("PATH"))
    extra: dict[str, str] = {"TF_IN_AUTOMATION": "1"}
    cache = Path(environ.get("TF_PLUGIN_CACHE_DIR") or tools_dir / "plugin-cache")
    tools_dir.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    extra["TF_PLUGIN_CACHE_DIR"] = str(cache)
    mirror = find_mirror(environ)
    if not user_cli_config(environ):
        # Ours, also without a mirror: a TF_CLI_CONFIG_FILE naming a missing file makes Terraform
        # warn on every command (and a warning on stderr is not what `-json` callers expect).
        config = tools_dir / "terraform.rc"
        text = cli_config_text(mirror, cache) if mirror else f'plugin_cache_dir = "{cache}"\n'
        if not config.is_file() or config.read_text() != text:
            config.write_text(text)
        extra["TF_CLI_CONFIG_FILE"] = str(config)
    return Toolchain(terraform, mirror, extra)


def provider_problem() -> str:
    """What to say when Terraform could not install the provider."""
    return (
        f"Terraform could not install the AWS provider hashicorp/aws {PROVIDER_VERSION} (the version the "
        f"bindings were generated from): give the machine access to registry.terraform.io, or put the provider "
        f"in a filesystem mirror (`terraform providers mirror DIR` on a machine with network) and set "
        f"{MIRROR_ENV}=DIR"
    )


def check(tools_dir: Path = TOOLS_DIR) -> str:
    """One line: where Terraform and the provider come from. Raises EnvironmentProblem when they cannot."""
    chain = resolve(tools_dir)
    if chain.mirror is None and not user_cli_config(os.environ) and not _registry_reachable():
        raise EnvironmentProblem(provider_problem() + " (no mirror found, and the registry is unreachable)")
    return chain.describe()


def _registry_reachable() -> bool:
    """Can this machine reach the registry? Asks it over HTTPS with a short timeout."""
    import urllib.request

    try:
        with urllib.request.urlopen("https://registry.terraform.io/.well-known/terraform.json", timeout=5):
            return True
    except OSError:
        return False


def main() -> int:
    try:
        print(check())
    except EnvironmentProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
