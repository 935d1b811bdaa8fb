"""Grid-code presets, chosen by name in a scenario.

Figures from the grid codes (thresholds, deadbands, fractions); delays and restoration
points that the codes leave to the operator are this project's choices and are marked.
Each preset's characteristic and its source (``docs/protocols/frequency.md`` has more):

- ``gb-dc`` (50 Hz): 0 within +-0.015 Hz, from the deadband's edge linearly to 5 % at
  +-0.2 Hz, then to 100 % at +-0.5 Hz. NGESO Dynamic Containment service terms.
- ``ce-fcr`` (50 Hz): a line through nominal, 100 % at +-200 mHz (``deviation / 0.2``);
  the +-10 mHz deadband is an insensitivity: 0 inside, 5 % at its edge. SO GL (EU)
  2017/1485 Annex V: full activation at 200 mHz, at most 10 mHz of insensitivity and
  deadband combined.
- ``ce-fcr-deadband`` (50 Hz): the other reading of the same figures: 0 at +-10 mHz, from
  there linearly to 100 % at +-200 mHz.
- ``ercot-ffr`` (60 Hz): full power at 59.85 Hz. ERCOT Nodal Protocols (FFR).
- ``ercot-ufls`` (60 Hz): 59.3 / 59.1 / 58.9 / 58.7 / 58.5 Hz, 5 % each, 0.1 s. ERCOT Nodal
  Operating Guide 2.6.1 as revised by NOGRR247.
- ``de-ufls`` (50 Hz): 49.0 / 48.8 / 48.6 / 48.4 Hz, 12.5 % each. A project simplification
  of the German scheme (see the docs).
- ``lfsm-o-50`` (50 Hz): curtail 40 %/Hz above 50.2 Hz (5 % droop). RfG (EU) 2016/631
  art. 13(2); VDE-AR-N 4105.
- ``lfsm-o-60`` (60 Hz): 5 % droop above 60.036 Hz. IEEE 1547-2018 default over-frequency
  droop.
"""

from __future__ import annotations

from vpp.coordination.frequency.specs import (
    CurtailmentSpec,
    DroopSpec,
    ServiceSpec,
    SheddingSpec,
    StageSpec,
    TriggerSpec,
)

UFLS_DELAY_S = 0.1
"""Relay plus breaker time of a UFLS stage (a project figure)."""
UFLS_RESTORE_BELOW_NOMINAL_HZ = 0.2
"""A shed stage restores at ``f0 - 0.2 Hz`` (a project choice; operators restore by hand)."""
UFLS_RESTORE_DELAY_S = 10.0
"""... once that has held this long (a project choice)."""


def _ufls(f0_hz: float, trips: tuple[float, ...], fraction: float) -> SheddingSpec:
    restore = f0_hz - UFLS_RESTORE_BELOW_NOMINAL_HZ
    return SheddingSpec(f0_hz=f0_hz, stages=[
        StageSpec(trip_hz=t, fraction=fraction, delay_s=UFLS_DELAY_S, restore_hz=restore,
                  restore_delay_s=UFLS_RESTORE_DELAY_S) for t in trips])


SERVICES: dict[str, ServiceSpec] = {
    "gb-dc": DroopSpec(f0_hz=50.0, deadband_hz=0.015, knee_hz=0.2, knee_fraction=0.05,
                       full_hz=0.5, duration_min=15.0),
    # the usual reading of the FCR characteristic: a line through 50 Hz, the deadband an
    # insensitivity (1,000 kW at 15 mHz: 75 kW); and the reading that ramps from its edge
    "ce-fcr": DroopSpec(f0_hz=50.0, deadband_hz=0.010, full_hz=0.200, duration_min=15.0,
                        ramp_from="nominal"),
    "ce-fcr-deadband": DroopSpec(f0_hz=50.0, deadband_hz=0.010, full_hz=0.200,
                                 duration_min=15.0, ramp_from="deadband"),
    # released once at or above 59.98 Hz for 10 s: a project choice (ERCOT recalls FFR by
    # instruction); a quicker release re-triggers on the governors' overshoot and fall back
    "ercot-ffr": TriggerSpec(f0_hz=60.0, trigger_hz=59.85, restore_hz=59.98, delay_s=0.0,
                             restore_delay_s=10.0, duration_min=15.0),
}
"""Frequency services a site can be contracted for."""

SHEDDING: dict[str, SheddingSpec] = {
    "ercot-ufls": _ufls(60.0, (59.3, 59.1, 58.9, 58.7, 58.5), 0.05),
    "de-ufls": _ufls(50.0, (49.0, 48.8, 48.6, 48.4), 0.125),
}
"""Under-frequency load-shedding schemes."""

CURTAILMENT: dict[str, CurtailmentSpec] = {
    "lfsm-o-50": CurtailmentSpec(f0_hz=50.0, start_hz=50.2, gradient_per_hz=0.4,
                                 release_hz=50.05),
    "lfsm-o-60": CurtailmentSpec(f0_hz=60.0, start_hz=60.036, gradient_per_hz=1.0 / (0.05 * 60.0),
                                 release_hz=60.036),
}
"""Over-frequency curtailment curves for PV and wind."""


def _pick(table: dict, what: str, choice, f0_hz: float, field: str):
    if isinstance(choice, str):
        if choice not in table:
            raise ValueError(f"{field}: unknown {what} preset {choice!r} "
                             f"(known: {', '.join(sorted(table))})")
        spec = table[choice]
        label = f"preset {choice!r}"
    else:
        spec, label = choice, what
    if spec.f0_hz != f0_hz:
        raise ValueError(f"{field}: {label} is for {spec.f0_hz:g} Hz grids, the grid is "
                         f"{f0_hz:g} Hz")
    return spec


def service(choice: str | ServiceSpec, f0_hz: float, field: str = "service") -> ServiceSpec:
    """A service by preset name (or a spec as is), checked against the grid's nominal."""
    return _pick(SERVICES, "service", choice, f0_hz, field)


def shedding(choice: str | SheddingSpec, f0_hz: float, field: str = "shedding") -> SheddingSpec:
    """A UFLS scheme by preset name (or a spec as is), checked against the grid's nominal."""
    return _pick(SHEDDING, "shedding", choice, f0_hz, field)


def curtailment(choice: str | CurtailmentSpec, f0_hz: float,
                field: str = "curtailment") -> CurtailmentSpec:
    """A curtailment curve by preset name (or a spec as is), checked against the nominal."""
    return _pick(CURTAILMENT, "curtailment", choice, f0_hz, field)
