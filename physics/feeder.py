"""Feeder voltages with pandapower on its bundled CIGRE test feeders.

Each site is mapped to a bus of the feeder by the bus's name (e.g. ``"Bus R18"`` at the end
of CIGRE LV's residential feeder). :meth:`Feeder.voltages` places each site's active and
reactive injection (positive = into the grid, kW / kvar) as a static generator and runs
an AC power flow (Newton-Raphson); it returns the voltage magnitude (pu) at each site's
bus and at every bus. The feeder's own loads stay, scaled by ``base_load_scale``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vpp.physics._validate import finite, non_negative
from vpp.physics.extras import require

if TYPE_CHECKING:
    import pandas as pd

NETWORKS = ("cigre_lv", "cigre_mv")


@dataclass(frozen=True, slots=True)
class FeederResult:
    """Voltages (pu) after one power flow, by site and by bus name."""

    site_vm_pu: dict[str, float]
    bus_vm_pu: "pd.Series"
    max_line_loading_percent: float

    @property
    def min_vm_pu(self) -> float:
        """Lowest bus voltage."""
        return float(self.bus_vm_pu.min())

    @property
    def max_vm_pu(self) -> float:
        """Highest bus voltage."""
        return float(self.bus_vm_pu.max())


def _create(network: str):
    pn = require("grid", "the feeder power flow (a scenario's grid:)", "pandapower.networks")

    if network == "cigre_lv":
        return pn.create_cigre_network_lv()
    if network == "cigre_mv":
        return pn.create_cigre_network_mv(with_der=False)
    raise ValueError(f"feeder.network must be one of {NETWORKS}, got {network!r}")


class Feeder:
    """A pandapower feeder with sites attached to named buses."""

    __slots__ = ("network", "sites", "_net", "_sgen")

    def __init__(self, sites: Mapping[str, str], network: str = "cigre_lv",
                 base_load_scale: float = 1.0) -> None:
        self._net = _create(network)     # first: it says so when pandapower is missing
        import pandapower as pp

        self.network = network
        non_negative("feeder.base_load_scale", base_load_scale)
        self._net.load["scaling"] = float(base_load_scale)
        names = self._net.bus["name"].tolist()
        self.sites = dict(sites)
        if not self.sites:
            raise ValueError("feeder.sites must map at least one site to a bus")
        self._sgen: dict[str, int] = {}
        for site, bus_name in self.sites.items():
            if bus_name not in names:
                raise ValueError(
                    f"feeder.sites[{site!r}]: bus {bus_name!r} is not in {network} "
                    f"(buses: {', '.join(names)})")
            bus = int(self._net.bus.index[self._net.bus["name"] == bus_name][0])
            self._sgen[site] = int(pp.create_sgen(self._net, bus, p_mw=0.0, q_mvar=0.0,
                                                  name=f"site {site}"))

    def set_load_scale(self, base_load_scale: float) -> None:
        """Scale the feeder's own loads (their rated P and Q) by ``base_load_scale``."""
        non_negative("feeder.base_load_scale", base_load_scale)
        self._net.load["scaling"] = float(base_load_scale)

    @property
    def bus_names(self) -> list[str]:
        """The feeder's bus names."""
        return self._net.bus["name"].tolist()

    def voltages(self, injections: Mapping[str, tuple[float, float]]) -> FeederResult:
        """Run a power flow with each site's (P kW, Q kvar) injection; sites not given inject 0."""
        import pandapower as pp

        for site in injections:
            if site not in self._sgen:
                raise ValueError(f"feeder.injections: unknown site {site!r}")
        for site, idx in self._sgen.items():
            p_kw, q_kvar = injections.get(site, (0.0, 0.0))
            self._net.sgen.at[idx, "p_mw"] = finite(f"feeder.injections[{site!r}].p_kw", p_kw) / 1e3
            self._net.sgen.at[idx, "q_mvar"] = (
                finite(f"feeder.injections[{site!r}].q_kvar", q_kvar) / 1e3)
        try:
            pp.runpp(self._net, algorithm="nr", numba=False)
        except pp.LoadflowNotConverged as err:
            raise ValueError(f"feeder: power flow did not converge for {dict(injections)}") from err
        vm = self._net.res_bus["vm_pu"].copy()
        vm.index = self._net.bus["name"].to_numpy()
        site_vm = {s: float(vm[self.sites[s]]) for s in self.sites}
        loading = float(self._net.res_line["loading_percent"].max())
        return FeederResult(site_vm, vm, loading)
