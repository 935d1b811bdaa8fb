"""The message kinds a host knows out of the box."""

from __future__ import annotations

from vpp.agents.ops.feeds import FEED_KINDS
from vpp.agents.ops.messages import OPS_KINDS
from vpp.agents.runtime.messages import KindRegistry
from vpp.coordination.admm.messages import ADMM_KINDS
from vpp.coordination.dispatch import DISPATCH_KINDS
from vpp.coordination.frequency.messages import FREQUENCY_KINDS
from vpp.coordination.hierarchy.messages import HIERARCHY_KINDS
from vpp.coordination.merit_order.messages import MERIT_ORDER_KINDS
from vpp.markets.messages import MARKET_KINDS


def default_registry() -> KindRegistry:
    """A registry with every built-in protocol's kinds; plug-ins may register more."""
    return KindRegistry((*MERIT_ORDER_KINDS, *DISPATCH_KINDS, *ADMM_KINDS, *MARKET_KINDS, *FREQUENCY_KINDS,
                         *OPS_KINDS, *FEED_KINDS, *HIERARCHY_KINDS))
