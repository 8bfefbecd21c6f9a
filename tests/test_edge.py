"""stacks/edge.py, `<env>-global`: no instance_count input (it runs no instances)."""

from __future__ import annotations


def test_edge_stacks_have_no_instance_count(synthesized):
    assert "variable" not in synthesized.stacks["prod-global"]
