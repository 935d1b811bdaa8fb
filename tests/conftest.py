"""Shared fixtures."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import zmq

from vpp.agents.kinds import default_registry

_ids = itertools.count()


@pytest.fixture
def context():
    """A private ZeroMQ context, terminated after the test."""
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def registry():
    """The built-in message kinds."""
    return default_registry()


@pytest.fixture
def endpoint():
    """A factory of unique inproc endpoints."""
    return lambda name: f"inproc://test-{name}-{next(_ids)}"


_ROOT_OUTPUT = Path(__file__).resolve().parent.parent / "vpp-output"


@pytest.fixture(autouse=True, scope="session")
def _nothing_written_into_the_checkout():
    """No test leaves run output in the checkout (``vpp-output/`` where pytest runs):
    every run goes under the test's ``tmp_path``."""
    existed = _ROOT_OUTPUT.exists()
    yield
    if not existed and _ROOT_OUTPUT.exists():
        found = sorted(str(p.relative_to(_ROOT_OUTPUT)) for p in _ROOT_OUTPUT.rglob("*"))
        pytest.fail(f"tests wrote into {_ROOT_OUTPUT}: {found[:10]}")


_BARE = ("agents", "coordination", "markets", "physics", "runs")


@pytest.fixture(autouse=True, scope="session")
def _only_the_vpp_import_root():
    """Nothing imports the repository's folders by their bare names (``import agents``
    works inside the checkout only: installed, everything is ``vpp.*``)."""
    yield
    import sys

    bare = sorted(m for m in sys.modules if m.split(".")[0] in _BARE)
    if bare:
        pytest.fail(f"imported by a bare name instead of vpp.*: {bare[:10]}")
