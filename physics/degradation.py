"""Battery degradation with NREL's BLAST-Lite (the ``ageing`` extra:
``pip install 'vpp-swarm[ageing]'``; ``import blast``).

:class:`BlastDegradation` records (time, state of charge, cell temperature) samples as a
simulation runs (plain list appends, cheap enough for the battery's step) and every
``update_interval_h`` of simulated time hands the chunk to a BLAST-Lite life model
(``update_battery_state``), which advances calendar and cycle fade and resistance growth.
``capacity_fraction`` and ``resistance_fraction`` are the model's relative capacity ``q``
and relative resistance ``r`` (1.0 when new; ``r`` stays 1.0 for models without one).

:func:`cycle_fade_per_efc` and :func:`degradation_cost_per_kwh` turn the same model into
a marginal cost per kWh of throughput that optimizers can use.
"""

from __future__ import annotations

import functools
import logging
import math

from vpp.physics._validate import finite, fraction, non_negative, positive
from vpp.physics.extras import require

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Nmc111_Gr_Kokam75Ah_Battery"


def _model_class(name: str) -> type:
    blast_models = require("ageing", "battery ageing (a battery's degradation:)",
                           "blast.models")

    available = blast_models.available_models()
    if name not in available:
        raise ValueError(
            f"battery.degradation.model must be one of {sorted(available)}, got {name!r}"
        )
    return getattr(blast_models, name)


class BlastDegradation:
    """Degradation state of one battery, advanced by a BLAST-Lite life model.

    Parameters: ``model`` (a class name from ``blast.models.available_models()``),
    ``update_interval_h`` (simulated hours between model updates) and
    ``degradation_scalar`` (BLAST-Lite's multiplier on all fade rates).
    """

    __slots__ = ("model_name", "update_interval_h", "_model", "_t", "_soc", "_temp",
                 "_next_update_h", "capacity_fraction", "resistance_fraction")

    def __init__(self, model: str = DEFAULT_MODEL, update_interval_h: float = 24.0,
                 degradation_scalar: float = 1.0) -> None:
        cls = _model_class(model)
        self.model_name = model
        self.update_interval_h = positive("battery.degradation.update_interval_h",
                                          update_interval_h)
        positive("battery.degradation.degradation_scalar", degradation_scalar)
        self._model = cls(degradation_scalar=degradation_scalar)
        self._t: list[float] = []
        self._soc: list[float] = []
        self._temp: list[float] = []
        self._next_update_h = self.update_interval_h
        self.capacity_fraction = 1.0
        self.resistance_fraction = 1.0

    @property
    def blast_model(self) -> object:
        """The underlying BLAST-Lite model (its ``outputs``/``states`` hold the history)."""
        return self._model

    def record(self, t_h: float, soc: float, temperature_c: float) -> bool:
        """Record one sample at simulated time ``t_h`` hours; return True if an update ran."""
        self._t.append(t_h * 3600.0)
        self._soc.append(soc)
        self._temp.append(temperature_c)
        if t_h >= self._next_update_h:
            self.update()
            return True
        return False

    def update(self) -> None:
        """Hand the recorded chunk to BLAST-Lite and refresh capacity and resistance."""
        import numpy as np

        if len(self._t) >= 2 and self._t[-1] > self._t[0]:
            self._model.update_battery_state(
                np.asarray(self._t), np.asarray(self._soc), np.asarray(self._temp)
            )
            outputs = self._model.outputs
            # A model pushed past its range can extrapolate below zero, or to NaN: either
            # way the cell is dead and holds 0 (said in the log, never silently).
            q = float(outputs["q"][-1])
            if not math.isfinite(q):
                log.warning("%s left its range (capacity %r): the cell is taken as dead",
                            self.model_name, q)
                q = 0.0
            self.capacity_fraction = max(q, 0.0)
            if "r" in outputs:
                r = float(outputs["r"][-1])
                if math.isfinite(r):
                    self.resistance_fraction = r
                else:
                    log.warning("%s left its range (resistance %r): the last value is kept",
                                self.model_name, r)
            log.debug("%s: %d samples -> q=%.5f r=%.5f", self.model_name, len(self._t),
                      self.capacity_fraction, self.resistance_fraction)
            # The last sample starts the next chunk, so no time is lost between chunks.
            self._t = self._t[-1:]
            self._soc = self._soc[-1:]
            self._temp = self._temp[-1:]
        if self._t:
            self._next_update_h = self._t[-1] / 3600.0 + self.update_interval_h


@functools.lru_cache(maxsize=64)
def cycle_fade_per_efc(model: str = DEFAULT_MODEL, depth_of_discharge: float = 0.8,
                       temperature_c: float = 25.0, cycles_per_day: float = 1.0,
                       days: int = 60) -> float:
    """Capacity fraction lost per equivalent full cycle by cycling alone, per BLAST-Lite.

    Runs the model twice over ``days``: once cycling between ``0.5 ± dod/2`` at
    ``cycles_per_day`` and once resting at the same mean state of charge, and divides the
    difference in capacity by the equivalent full cycles done.
    """
    import numpy as np

    dod = fraction("battery.degradation.depth_of_discharge", depth_of_discharge,
                   open_low=True)
    finite("battery.degradation.temperature_c", temperature_c)
    positive("battery.degradation.cycles_per_day", cycles_per_day)
    cls = _model_class(model)
    steps_per_cycle = 24
    n = int(round(days * cycles_per_day * steps_per_cycle))
    t_s = np.arange(n + 1) * (86400.0 / cycles_per_day / steps_per_cycle)
    phase = 2.0 * np.pi * np.arange(n + 1) / steps_per_cycle
    soc = 0.5 + 0.5 * dod * np.cos(phase)
    temp = np.full(n + 1, float(temperature_c))
    cycled = cls().simulate_battery_life({"Time_s": t_s, "SOC": soc, "Temperature_C": temp})
    rest = cls().simulate_battery_life(
        {"Time_s": t_s, "SOC": np.full(n + 1, 0.5), "Temperature_C": temp}
    )
    efc = float(cycled.stressors["efc"][-1])
    if efc <= 0.0:
        raise ValueError("battery.degradation: reference profile produced no cycles")
    fade = float(rest.outputs["q"][-1]) - float(cycled.outputs["q"][-1])
    return max(fade, 0.0) / efc


def degradation_cost_per_kwh(capex_per_kwh: float, eol_capacity_fraction: float = 0.8,
                             model: str = DEFAULT_MODEL, depth_of_discharge: float = 0.8,
                             temperature_c: float = 25.0) -> float:
    """Marginal degradation cost per kWh of throughput (charged plus discharged).

    The battery is worth ``capex_per_kwh`` per kWh of capacity and is spent when its
    capacity falls to ``eol_capacity_fraction``. One equivalent full cycle moves twice the
    capacity through the terminals and costs ``cycle_fade_per_efc`` of capacity, so
    ``cost = capex_per_kwh * fade_per_efc / (2 * (1 - eol_capacity_fraction))``.
    """
    non_negative("battery.degradation.capex_per_kwh", capex_per_kwh)
    eol = fraction("battery.degradation.eol_capacity_fraction", eol_capacity_fraction)
    if eol >= 1.0:
        raise ValueError(
            f"battery.degradation.eol_capacity_fraction must be < 1, got {eol_capacity_fraction!r}"
        )
    fade = cycle_fade_per_efc(model, depth_of_discharge, temperature_c)
    return capex_per_kwh * fade / (2.0 * (1.0 - eol))
