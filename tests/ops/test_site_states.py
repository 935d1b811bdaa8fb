"""Every site's state for ``vpp_site_state`` read in one pass over the liveness events:
the same as asking :func:`site_state` per site, whatever the events' order."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from vpp.agents.membership.members import LivenessEvent
from vpp.runs.ops.swarm_metrics import SITE_STATES, site_state, site_states

EVENTS = ("joined", "lost", "rejoined", "stopped")


@pytest.mark.parametrize("seed", range(20))
def test_one_pass_gives_each_sites_state_as_asked_one_by_one(seed):
    rng = np.random.default_rng(seed)
    names = [f"s{i}" for i in range(40)]
    hosts = {f"h{k}": names[k * 8:(k + 1) * 8] for k in range(5)}  # s0..s39 on 5 hosts
    events = []
    for step in range(int(rng.integers(0, 12))):
        host = f"h{int(rng.integers(0, 5))}"
        sites = [s for s in hosts[host] if rng.random() < 0.8]
        events.append(LivenessEvent(str(rng.choice(EVENTS)), host, sites, step, float(step)))
    holder = {s: "h0" for s in hosts["h0"] if rng.random() < 0.5}
    coord = SimpleNamespace(events=events, holder=holder, site_names=names)
    states = site_states(coord)
    assert list(states) == names
    assert states == {s: site_state(coord, s) for s in names}
    assert set(states.values()) <= set(SITE_STATES)


def test_the_last_event_naming_a_site_decides_when_its_host_is_not_joined():
    events = [LivenessEvent("joined", "h", ["a", "b"], 0, 0.0),
              LivenessEvent("lost", "h", ["a", "b"], 3, 1.0),
              LivenessEvent("rejoined", "h", ["a"], 4, 2.0),
              LivenessEvent("stopped", "h", ["a"], 9, 3.0)]
    coord = SimpleNamespace(events=events, holder={"c": "h2"}, site_names=["a", "b", "c", "d"])
    assert site_states(coord) == {"a": "stopped", "b": "lost", "c": "up", "d": "waiting"}
