"""Volt-VAR on a feeder: each inverter sets its reactive power from its own bus voltage,
the power flow moves the voltages, until they agree (a quasi-static fixed point).

The inverters act locally (each reads only its bus); the iteration stands for the curve's
open-loop response settling. A damped update (``q <- q + damping * (curve(v) - q)``)
keeps it from oscillating. If it does not settle within ``max_iterations`` the result says
so (``converged`` false) and carries the last iterate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vpp.coordination.voltage.volt_var import VoltVarCurve
from vpp.physics.feeder import Feeder, FeederResult


@dataclass(frozen=True)
class VoltVarResult:
    """The settled state: voltages, each inverter's reactive power (kvar, + inject) and
    whether its kVA limit cut it, iterations used and whether it converged."""

    feeder: FeederResult
    q_kvar: dict[str, float]
    kva_limited: dict[str, bool]
    iterations: int
    converged: bool


def solve_volt_var(feeder: Feeder, p_kw: Mapping[str, float],
                   curves: Mapping[str, VoltVarCurve], *, damping: float = 0.6,
                   tolerance_kvar: float = 0.05, max_iterations: int = 40,
                   inverter_p_kw: Mapping[str, float] | None = None) -> VoltVarResult:
    """Settle the Volt-VAR curves of ``curves`` (by site) with active power ``p_kw`` (by
    site, + injection) on ``feeder``.

    ``inverter_p_kw``: the active power through each site's inverter, which the kVA limit
    gives priority to, when it differs from the site's injection (a site whose own load
    takes part of its PV output); by default the injection ``p_kw``.

    Raises:
        ValueError: a curve for a site the feeder does not know, or bad settings.
    """
    if not 0.0 < damping <= 1.0:
        raise ValueError(f"volt_var.damping must be in (0, 1], got {damping!r}")
    for site in curves:
        if site not in feeder.sites:
            raise ValueError(f"volt_var.curves: unknown site {site!r}")
    through = p_kw if inverter_p_kw is None else inverter_p_kw
    q = {s: 0.0 for s in curves}
    limited = {s: False for s in curves}
    for it in range(1, max_iterations + 1):
        result = feeder.voltages({s: (p_kw.get(s, 0.0), q.get(s, 0.0))
                                  for s in set(p_kw) | set(q)})
        change = 0.0
        for site, curve in curves.items():
            target, limited[site] = curve.reactive_kvar(result.site_vm_pu[site],
                                                        through.get(site, 0.0))
            step = damping * (target - q[site])
            q[site] += step
            change = max(change, abs(target - q[site]) + abs(step))
        if change < tolerance_kvar:
            final = feeder.voltages({s: (p_kw.get(s, 0.0), q.get(s, 0.0))
                                     for s in set(p_kw) | set(q)})
            return VoltVarResult(final, dict(q), dict(limited), it, True)
    final = feeder.voltages({s: (p_kw.get(s, 0.0), q.get(s, 0.0)) for s in set(p_kw) | set(q)})
    return VoltVarResult(final, dict(q), dict(limited), max_iterations, False)
