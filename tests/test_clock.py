"""Clocks: the simulated one moves only when told, and never backwards."""

from datetime import datetime, timedelta, timezone

import pytest
from vpp.agents.runtime.clock import Clock, SimulatedClock, WallClock


def test_simulated_clock_moves_when_told():
    start = datetime(2019, 1, 16, tzinfo=timezone.utc)
    clock = SimulatedClock(start)
    assert clock.now() == 0.0
    clock.advance_to(900.0)
    clock.advance(900.0)
    assert clock.now() == 1800.0
    assert clock.datetime() == start + timedelta(minutes=30)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(10.0)


def test_both_clocks_meet_the_protocol():
    assert isinstance(SimulatedClock(), Clock)
    wall = WallClock()
    assert isinstance(wall, Clock)
    a = wall.now()
    assert wall.now() >= a >= 0.0
