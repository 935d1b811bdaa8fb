"""The scenario package's error."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the field."""
