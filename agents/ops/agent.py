"""The operations agent: announces reloads and alerts on the bus, so each is traced."""

from __future__ import annotations

import logging

import msgspec
from vpp.agents.ops.messages import OPS_KINDS, OPS_TOPIC
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope

log = logging.getLogger(__name__)


class OpsAgent(Agent):
    """Broadcasts :mod:`vpp.agents.ops.messages` on the ``ops`` topic (or, on a host without a
    PUB socket, sends them to itself), so that every reload and alert is in the trace.

    ``announced`` keeps what it said, oldest first.
    """

    role = "ops"

    def __init__(self, name: str = "ops") -> None:
        super().__init__(name)
        self.announced: list[msgspec.Struct] = []
        for kind in OPS_KINDS:
            self.on(kind, self._heard)

    def announce(self, body: msgspec.Struct) -> None:
        """Put ``body`` on the bus (and in the trace)."""
        self.announced.append(body)
        if self.host is not None and self.host.pub is not None:
            self.publish(OPS_TOPIC, body)
        else:
            self.send(self.address, body)

    def _heard(self, envelope: Envelope, body: msgspec.Struct) -> None:
        log.debug("%s: %s", envelope.kind, body)
