"""ops/status.py: the run's progress, a live table in a terminal and one line per change elsewhere."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from ops.status import StatusBoard


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    text = io.StringIO()
    return Console(file=text, force_terminal=terminal, width=100, color_system=None), text


def test_a_ci_log_gets_one_line_per_state_change_without_the_waiting():
    out, text = console(terminal=False)
    with StatusBoard(out, ["dev-us-east-1", "dev-global"]) as board:
        board("dev-us-east-1", "waiting")
        board("dev-us-east-1", "plan")
        board("dev-global", "failed")
    assert text.getvalue().splitlines() == ["dev-us-east-1: plan", "dev-global: failed"]


def test_a_terminal_gets_a_live_table_with_every_stacks_latest_state():
    out, text = console(terminal=True)
    with StatusBoard(out, ["dev-us-east-1", "dev-us-west-2", "dev-global"]) as board:
        assert board.live
        board("dev-us-east-1", "applied")
        board("dev-us-west-2", "apply")
    final = text.getvalue().split("Stacks")[-1]  # the last drawing of the table
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in final.splitlines() if "│" in line}
    assert rows == {"dev-us-east-1": "applied", "dev-us-west-2": "apply", "dev-global": "waiting"}


def test_lines_from_many_threads_never_interleave():
    out, text = console(terminal=False)
    stacks = [f"stack-{i}" for i in range(8)]
    board = StatusBoard(out, stacks)

    def report(stack):
        for step in ("init", "plan", "show", "apply", "applied"):
            board(stack, step)

    threads = [threading.Thread(target=report, args=(s,)) for s in stacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = text.getvalue().splitlines()
    assert sorted(lines) == sorted(
        f"{s}: {step}" for s in stacks for step in ("init", "plan", "show", "apply", "applied")
    )
    assert board.states == dict.fromkeys(stacks, "applied")
