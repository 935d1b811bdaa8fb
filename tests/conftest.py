"""Shared fixtures."""

from __future__ import annotations

import itertools

import pytest
import zmq

from agents.kinds import default_registry

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
