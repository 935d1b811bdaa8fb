"""Draw a fleet's hierarchy with each node's served and unserved energy (a PNG).

Takes the placed tree of :func:`vpp.coordination.hierarchy.layout.tree_view`; used by
``vpp trace plot RUN --topology`` once the runs record their hierarchy. Each node is a bar
split into served (green) and unserved (red, hatched) energy, its length the node's share
relative to the largest node of its level, labelled with the node's name and both figures.
"""

from __future__ import annotations

from pathlib import Path

from vpp.coordination.hierarchy.layout import TreeView
from vpp.physics.extras import require

SERVED, UNSERVED = "#2e8b57", "#d62728"


def _kwh(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.1f} MWh"
    return f"{value:,.1f} kWh"


def draw_topology(view: TreeView, out: Path | str, title: str = "") -> Path:
    """Write ``out`` (PNG): the tree of ``view``, served vs unserved energy per node."""
    matplotlib = require("plots", "drawing the topology PNG")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    out = Path(out)
    columns = view.width
    depth = 1 + max(n.level for n in view.nodes)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * columns), 1.9 * depth + 1.0))
    at = {n.name: n for n in view.nodes}
    for parent, child in view.edges:
        p, c = at[parent], at[child]
        ax.plot([p.x, c.x], [p.y - 0.42, c.y + 0.36], color="grey", lw=0.8, zorder=1)
    # bars on one level share a scale: the level's largest node fills the width
    scale: dict[int, float] = {}
    for n in view.nodes:
        scale[n.level] = max(scale.get(n.level, 1e-12), n.served_kwh + n.unserved_kwh)
    width = 0.8
    small = 6 if columns > 12 else 8
    for n in view.nodes:
        total = n.served_kwh + n.unserved_kwh
        length = width * max(total / scale[n.level], 0.02)
        left = n.x - length / 2
        share = n.served_kwh / total if total > 0 else 0.0
        ax.add_patch(Rectangle((left, n.y - 0.1), length * share, 0.2, facecolor=SERVED,
                               edgecolor="black", lw=0.5, zorder=2))
        ax.add_patch(Rectangle((left + length * share, n.y - 0.1), length * (1 - share), 0.2,
                               facecolor=UNSERVED, edgecolor="black", lw=0.5, hatch="///",
                               zorder=2))
        count = "" if n.kind == "site" else f" ({n.sites} site{'s' if n.sites != 1 else ''})"
        ax.text(n.x, n.y + 0.16, f"{n.name}{count}", ha="center", va="bottom",
                fontsize=small + 1, weight="bold" if n.kind != "site" else "normal")
        ax.text(n.x, n.y - 0.14, f"{_kwh(n.served_kwh)} served\n{_kwh(n.unserved_kwh)} unserved",
                ha="center", va="top", fontsize=small)
    ax.set_xlim(-0.7, columns - 0.3)
    ax.set_ylim(-depth + 0.35, 0.6)
    ax.axis("off")
    ax.legend(handles=[Patch(facecolor=SERVED, label="served"),
                       Patch(facecolor=UNSERVED, hatch="///", label="unserved")],
              loc="upper right", fontsize=8)
    hidden = "" if view.sites_shown else " (sites not drawn: too many)"
    ax.set_title((title + "\n" if title else "") + f"energy per node{hidden}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
