"""Progress of a plan/deploy/destroy run with stacks running side by side, kept readable.

Several stacks change state at once (--parallel), so a stream of interleaved lines is hard to
follow in a terminal: there a live table shows one row per stack with its current state (rich's
Live, redrawn in place). A CI log cannot redraw, so anywhere else each state change is one line,
`<stack>: <state>`, which reads well in order and greps well. Terraform's own output never comes
here: it goes to each stack's log file (ops/terraform.py `log_dir`).

`StatusBoard` is the pipeline's `progress` callback; worker threads call it, so it serializes.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.live import Live
from rich.table import Table

# Not worth a line in a CI log: every stack waits for a slot or a wave before it starts.
QUIET_STATES = ("waiting",)


class StatusBoard:
    """`board(stack, state)` records a stack's new state and shows it (module docstring). Use as a
    context manager around the run; `live` (default: the console is a terminal) picks the table."""

    def __init__(self, console: Console, stacks: list[str], live: bool | None = None):
        self.console = console
        self.states = dict.fromkeys(stacks, "waiting")
        self.live = console.is_terminal if live is None else live
        self._lock = threading.Lock()
        self._display: Live | None = None

    def table(self) -> Table:
        table = Table(title="Stacks", title_justify="left")
        table.add_column("Stack", no_wrap=True)
        table.add_column("State", overflow="fold")
        for stack, state in self.states.items():
            table.add_row(stack, state)
        return table

    def __call__(self, stack: str, state: str) -> None:
        with self._lock:
            self.states[stack] = state
            if self._display is not None:
                self._display.update(self.table(), refresh=True)
            elif state not in QUIET_STATES:
                self.console.print(f"[bold]{stack}[/bold]: {state}", highlight=False)

    def __enter__(self) -> StatusBoard:
        if self.live:
            self._display = Live(self.table(), console=self.console, auto_refresh=False, transient=False)
            self._display.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            if self._display is not None:
                self._display.update(self.table(), refresh=True)
                self._display.__exit__(*exc_info)
                self._display = None
