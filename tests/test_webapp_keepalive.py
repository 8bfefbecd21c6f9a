"""The webapp keeps idle connections open longer than the load balancers in front of it do.

AWS advises a target's keep-alive timeout above the load balancer's idle timeout: a target that
closes an idle connection first races the load balancer's next request on it, which the client
sees as a 502. Read from the synthesized stacks, so changing either side alone fails here.
"""

from __future__ import annotations

from support.tfjson import resources

from webapp import server


def test_the_webapp_outlasts_every_load_balancers_idle_timeout(synthesized):
    timeouts = {
        name: lb["idle_timeout"]
        for stack in synthesized.stacks.values()
        for name, lb in resources(stack, "aws_lb").items()
    }
    assert timeouts, "the regional stacks have load balancers"
    assert all(server.IDLE_TIMEOUT > t for t in timeouts.values()), (server.IDLE_TIMEOUT, timeouts)
