"""How much a scenario file may ask for: file sizes, YAML nodes, sites and steps.

A scenario is data that may come from someone else; these caps keep a bad or hostile file
from exhausting memory or time before anything useful happens. The defaults allow a
100,000-site fleet and a year of 15-minute steps (35,040; 35,136 in a leap year), but not
both at once (``max_site_steps``). Each cap can be raised by the person running the
command, with an environment variable (``VPP_MAX_SITES=200000 vpp run ...``); see
``docs/scenarios.md`` and ``docs/security.md``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Limits", "LimitsError"]

_MIB = 2 ** 20


class LimitsError(ValueError):
    """An environment variable that does not hold a positive whole number."""


@dataclass(frozen=True)
class Limits:
    """The caps, each overridable by ``VPP_<NAME upper-cased>`` (``VPP_MAX_SITES``).

    Attributes:
        max_file_bytes: a scenario, site or backtest file (YAML).
        max_yaml_nodes: YAML nodes counted with every alias expanded (an alias bomb is
            refused by this count, computed without expanding anything).
        max_yaml_depth: nesting of YAML collections.
        max_sites: sites, ``count`` expanded.
        max_steps: steps of a scenario.
        max_site_steps: sites times steps (what per-step, per-site state grows with).
        max_data_file_bytes: a CSV a scenario names.
    """

    max_file_bytes: int = 64 * _MIB
    max_yaml_nodes: int = 10_000_000
    max_yaml_depth: int = 50
    max_sites: int = 100_000
    max_steps: int = 35_136
    max_site_steps: int = 50_000_000
    max_data_file_bytes: int = 512 * _MIB

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The defaults, with any ``VPP_MAX_...`` variable of ``environ`` (default: this
        process's environment) applied.

        Raises:
            LimitsError: a variable that is not a positive whole number (named).
        """
        environ = os.environ if environ is None else environ
        given = {}
        for field in dataclasses.fields(cls):
            key = f"VPP_{field.name.upper()}"
            text = environ.get(key)
            if text is None:
                continue
            try:
                value = int(text.replace("_", ""))
            except ValueError:
                value = 0
            if value <= 0:
                raise LimitsError(f"{key}: expected a positive whole number, got {text[:40]!r}")
            given[field.name] = value
        return cls(**given)

    @staticmethod
    def variable(name: str) -> str:
        """The environment variable that sets the cap ``name``."""
        return f"VPP_{name.upper()}"
