"""Both sides of the ADMM negotiation driven in one process, message by message.

No sockets and no deadlines: every message the aggregation emits is handed to the site
it names, and each answer goes straight back. ``silent`` names sites that never answer
(from a given round on), to exercise the deadline path the way a lost site would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vpp.coordination.admm.messages import AdmmDone, AdmmRound
from vpp.coordination.admm.model import Coupling, SiteModel
from vpp.coordination.admm.protocol import (
    AdmmAggregation,
    AdmmResult,
    AdmmSettings,
    Outgoing,
)
from vpp.coordination.admm.reference import check_instance
from vpp.coordination.admm.site import DIRECT, AdmmSiteSolver


def negotiate(sites: Sequence[SiteModel], coupling: Coupling,
              settings: AdmmSettings | None = None, *, solver: str = DIRECT,
              silent: Mapping[str, int] | None = None,
              ) -> tuple[AdmmResult, AdmmAggregation, dict[str, AdmmSiteSolver]]:
    """Run a whole negotiation; ``silent`` maps a site name to the first round it misses."""
    horizon, dt_h = check_instance(sites, coupling)
    silent = dict(silent or {})
    solvers = {s.name: AdmmSiteSolver(s, solver) for s in sites}
    aggregation = AdmmAggregation([s.name for s in sites], coupling, horizon, dt_h, settings)
    queue: list[Outgoing] = aggregation.start()
    while queue:
        batch, queue = queue, []
        for out in batch:
            site = solvers[out.receiver]
            if isinstance(out.body, AdmmDone):
                site.on_done(out.body)
                continue
            assert isinstance(out.body, AdmmRound)
            if out.receiver in silent and out.round >= silent[out.receiver]:
                continue
            queue += aggregation.on_schedule(out.receiver, site.on_round(out.body))
        if not queue and not aggregation.done:
            queue = aggregation.on_deadline()
    return aggregation.result(), aggregation, solvers
