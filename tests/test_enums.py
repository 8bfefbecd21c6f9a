"""Closed sets are compared as enum members, never as strings. The enums are `StrEnum`s, so a
string literal equal to a member's value compares equal too, and nothing would fail when the
value is renamed or mistyped: the comparison would silently go false. Checked on the source with
`ast`: a string literal that equals a value of one of the project's enums, used as an operand of
`==`, `!=`, `in` or `not in` (alone or inside a literal tuple, list or set), is an offence."""

from __future__ import annotations

import ast
import inspect
from enum import StrEnum
from pathlib import Path

from config import choices, facts
from ops import pipeline

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("config", "modules", "stacks", "ops", "e2e")
COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
# Literals equal to an enum value that mean something else, each with what it is: (file, source text
# of the comparison) -> why.
NOT_AN_ENUM = {
    ("e2e/run.py", '"dev" in cfg.environments'): "an environment's name (the default one to run), not a Profile",
}


def enum_values() -> dict[str, str]:
    """Every value of the closed sets, with the enum members that hold it: config/choices.py's and
    config/facts.py's enums, and the pipeline's Action."""
    enums = [
        obj
        for module in (choices, facts)
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, StrEnum) and obj.__module__ == module.__name__
    ]
    enums.append(pipeline.Action)
    values: dict[str, str] = {}
    for enum in enums:
        for member in enum:
            member_name = f"{enum.__name__}.{member.name}"
            values[member.value] = f"{values[member.value]} or {member_name}" if member.value in values else member_name
    return values


def _literals(node: ast.AST) -> list[str]:
    """The string literals an operand spells: itself, or the elements of a literal tuple, list or set."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for element in node.elts for s in _literals(element) if isinstance(element, ast.Constant)]
    return []


def string_comparisons(source: str, values: dict[str, str]) -> list[tuple[int, str, str]]:
    """(line, source text of the comparison, the enum member to use) for each comparison of a
    string literal equal to an enum value."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare) or not any(isinstance(op, COMPARISONS) for op in node.ops):
            continue
        for operand in (node.left, *node.comparators):
            for literal in _literals(operand):
                if literal in values:
                    found.append((node.lineno, ast.get_source_segment(source, node), values[literal]))
    return found


def checked_files() -> list[Path]:
    return [ROOT / "main.py", *(p for folder in CHECKED for p in sorted((ROOT / folder).glob("*.py")))]


def test_the_walk_sees_every_form_of_comparison():
    """The check below would pass on nothing if the walk missed a form: prove it sees each, and
    leaves alone strings that are not enum values and comparisons that are not (in)equality."""
    values = {"per_az": "NatPolicy.PER_AZ", "edge": "StackRole.EDGE", "writer": "DbRole.WRITER"}
    source = (
        'a = p.nat_policy == "per_az"\n'
        'b = "edge" != role\n'
        'c = role in ("writer", "other")\n'
        'd = "writer" not in roles.values()\n'
        'e = x < "edge" or s.key == "profile"\n'
        'f = {"edge": 1}\n'
    )
    assert [(line, member) for line, _, member in string_comparisons(source, values)] == [
        (1, "NatPolicy.PER_AZ"),
        (2, "StackRole.EDGE"),
        (3, "DbRole.WRITER"),
        (4, "DbRole.WRITER"),
    ]


def test_the_values_include_every_closed_set():
    values = enum_values()
    assert values["per_az"] == "NatPolicy.PER_AZ"
    assert values["weighted"] == "RoutingPolicy.WEIGHTED"
    assert values["prod"] == "Profile.PROD"
    assert values["edge"] == "StackRole.EDGE"
    assert values["replica"] == "DatabaseTopology.REPLICA or DbRole.REPLICA"
    assert values["writer"] == "DbRole.WRITER"
    assert values["deploy"] == "Action.DEPLOY"


def test_no_closed_set_is_compared_as_a_string():
    values = enum_values()
    offences = []
    exempted = set()
    for path in checked_files():
        name = str(path.relative_to(ROOT))
        for line, text, member in string_comparisons(path.read_text(), values):
            if (name, text) in NOT_AN_ENUM:
                exempted.add((name, text))
            else:
                offences.append(f"{name}:{line}: {text} (use {member})")
    assert not offences, "compare against the enum member:\n" + "\n".join(offences)
    assert exempted == set(NOT_AN_ENUM), f"stale NOT_AN_ENUM entries: {set(NOT_AN_ENUM) - exempted}"
