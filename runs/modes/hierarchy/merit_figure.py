"""A run's hierarchy drawn from its record: ``topology.png``, each node's served and
unserved energy (``vpp trace plot RUN --topology``; a ``merit_hierarchy`` run draws it
with its dispatch figure).

Read from the record only: the manifest's resolved scenario gives the tree (its
``topology:``; a run without one is drawn flat, every site under the aggregator) and the
step length; ``sites.csv`` each site's power per step; ``steps.csv`` the fleet's
unserved power. A site's *served* energy is ``sum |power_kw| x step hours``, what it ran
(injected or absorbed); a region's is the sum over its sites. The fleet's unserved energy
(``sum unserved_kw x step hours``) is not any one site's doing (the aggregator re-awards a
decline or a silent site's share to others when it can): it is booked at the root.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from vpp.coordination.hierarchy.layout import TreeView, tree_view
from vpp.coordination.hierarchy.topology import Topology, build_topology
from vpp.runs.record.manifest import read_manifest
from vpp.runs.scenario.schema import Scenario

FLAT_ROOT = "aggregator"
"""The root's name when a run without ``topology:`` is drawn."""


def run_tree(run_dir: Path | str) -> tuple[Topology, Scenario]:
    """The run's hierarchy (nodes by name) and its scenario, from the manifest."""
    manifest = read_manifest(run_dir)
    if not isinstance(manifest.scenario, dict) or "sites" not in manifest.scenario:
        raise ValueError(f"{run_dir}: the manifest holds no scenario with sites (a "
                         f"{manifest.mode} run has no fleet to draw)")
    scenario = msgspec.convert(manifest.scenario, Scenario, strict=False)
    names = scenario.site_names()
    if scenario.topology is None:
        return Topology.flat(names, root=FLAT_ROOT), scenario
    return build_topology(scenario.topology, names), scenario


def energy_by_site(run_dir: Path | str, dt_h: float) -> tuple[dict[str, float], float]:
    """Each site's served energy (kWh, ``|power_kw|`` summed over ``sites.csv``) and the
    fleet's unserved energy (kWh, ``unserved_kw`` summed over ``steps.csv``)."""
    import pandas as pd

    run_dir = Path(run_dir)
    paths = [run_dir / "sites.csv", run_dir / "steps.csv"]
    for path in paths:
        if not path.is_file() or path.stat().st_size == 0:
            raise ValueError(f"{run_dir}: no {path.name}: the run recorded no step")
    sites = pd.read_csv(paths[0], usecols=["site", "power_kw"])
    served = (sites["power_kw"].abs() * dt_h).groupby(sites["site"], sort=False).sum()
    steps = pd.read_csv(paths[1], usecols=["unserved_kw"])
    unserved = float((steps["unserved_kw"] * dt_h).sum())
    return {str(s): float(v) for s, v in served.items()}, unserved


def topology_view(run_dir: Path | str, max_sites: int = 40) -> TreeView:
    """The run's tree placed for drawing, with every node's served and unserved energy."""
    tree, scenario = run_tree(run_dir)
    served, unserved = energy_by_site(run_dir, scenario.dt_h)
    unknown = sorted(set(served) - set(tree.sites))
    if unknown:
        raise ValueError(f"{run_dir}: sites.csv names sites the scenario does not: "
                         f"{', '.join(unknown[:5])}")
    return tree_view(tree, served, node_unserved_kwh={tree.root: max(unserved, 0.0)},
                     max_sites=max_sites)


def plot_topology(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Write ``topology.png`` (or ``out``): the run's tree, served and unserved energy per
    node. Returns the file written."""
    from vpp.runs.topology_plot import draw_topology

    view = topology_view(run_dir)
    name = read_manifest(run_dir).scenario_name
    return draw_topology(view, Path(out) if out else Path(run_dir) / "topology.png",
                         title=f"run {name}")
