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
