"""Small scenarios for the operations tests."""

from __future__ import annotations

from pathlib import Path

import yaml

SMALL = {
    "name": "ops-small",
    "start": "2019-01-16T00:00:00Z",
    "step_minutes": 15,
    "steps": 8,
    "target": {"values_kw": [300.0] * 8},
    "negotiation": {"deadline_ms": 500, "max_rounds": 3},
    "sites": [
        {"name": "chp", "devices": [{"type": "flexible", "name": "engine", "p_max_kw": 400.0,
                                      "cost_eur_mwh": 80.0}]},
        {"name": "bess", "devices": [{"type": "battery", "name": "pack",
                                       "capacity_kwh": 500.0, "p_charge_kw": 250.0,
                                       "p_discharge_kw": 250.0, "state_of_charge": 0.5,
                                       "cost_eur_mwh": 20.0}]},
    ],
}


def write_small(path: Path, **changes) -> Path:
    """Write the small scenario (with top-level ``changes``) to ``path``."""
    data = {**SMALL, **changes}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
