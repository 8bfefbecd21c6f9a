"""A Terraform stand-in that shuts down the way Terraform does, for tests/test_signals.py (run as a script,
through the `terraform` wrapper that test writes; see support/terraform.py).

`version`, `init`, `plan`, `show` and `output` answer at once (a plan that creates one VPC).
`apply` writes the state where the synthesized backend says (cdk.tf.json, local backend), except
in the stacks named in $FAKE_TF_SLOW_APPLY (comma-separated): there it prints
`fake-terraform: applying <stack>` and keeps printing progress, as Terraform's "Still
creating..." lines do, until it is interrupted. Like Terraform, SIGINT and SIGTERM are both an
interrupt: the first one takes two seconds to finish, printing all the while, then saves the state
and exits 1 (0 with $FAKE_TF_FINISH_ON_INTERRUPT: what was in flight was all there was to do);
a second one exits at once without saving. Printing to a closed pipe kills it before
it saves, as it kills Terraform.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

interrupts: list[int] = []


def say(line: str) -> None:
    print(line, flush=True)


def save_state(stack: str) -> None:
    backend = json.loads(Path("cdk.tf.json").read_text())["terraform"]["backend"]["local"]
    path = Path(backend["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 4, "serial": 1, "lineage": stack, "resources": []}))


def on_interrupt(signum: int, frame: object) -> None:
    interrupts.append(signum)
    if len(interrupts) == 2:  # os.write: a print here could collide with the one it interrupted
        os.write(1, b"Two interrupts received. Exiting immediately. Note that data loss may have occurred.\n")
        os._exit(1)


def slow_apply(stack: str) -> int:
    signal.signal(signal.SIGINT, on_interrupt)
    signal.signal(signal.SIGTERM, on_interrupt)
    say(f"fake-terraform: applying {stack}")
    started = time.monotonic()
    while not interrupts:
        if time.monotonic() - started > 120:  # never interrupted: the apply completes
            save_state(stack)
            return 0
        say(f"aws_vpc.network: Still creating... [{time.monotonic() - started:.0f}s elapsed]")
        time.sleep(0.2)
    say("Interrupt received.\nPlease wait for Terraform to exit or data loss may occur.\nGracefully shutting down...")
    finish = time.monotonic() + 2
    while time.monotonic() < finish:
        say("Stopping operation...")
        time.sleep(0.2)
    save_state(stack)
    say(f"fake-terraform: saved the state of {stack}")
    if os.environ.get("FAKE_TF_FINISH_ON_INTERRUPT"):  # the operation in flight was the last one
        say("Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
        return 0
    say("Error: execution halted")
    return 1


def main() -> int:
    step, stack = sys.argv[1], Path.cwd().name
    if step == "version":
        say(json.dumps({"terraform_version": "1.11.0"}))
    elif step == "plan":
        Path("plan.tfplan").write_text("binary plan")
    elif step == "show":
        say(
            json.dumps(
                {
                    "format_version": "1.2",
                    "resource_changes": [
                        {"address": "aws_vpc.network", "type": "aws_vpc", "change": {"actions": ["create"]}}
                    ],
                }
            )
        )
    elif step == "output":
        say("{}")
    elif step == "apply":
        if stack in os.environ.get("FAKE_TF_SLOW_APPLY", "").split(","):
            return slow_apply(stack)
        save_state(stack)
        say("Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
