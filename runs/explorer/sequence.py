"""A step's negotiation as a sequence diagram: lanes (agents) and arrows (messages).

The trace records events: a message *sent* (on the sender's host), *received* (on the
receiver's host, once per local receiver of a broadcast) or *dropped*. An arrow is one
delivery: a receive paired with its send (a broadcast's one send fans out to each of its
receives), a send that no receive answers (the receiver's shard holds none), a receive
whose send is not in the trace, or a drop. Every event of the step is kept, in the same
order and number as ``vpp trace messages RUN --step N`` lists them.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from vpp.agents.runtime.trace_reader import MessageRow

DROP, DECLINE, REAWARD, NO_RECEIVE, NO_SEND, BROADCAST = 1, 2, 4, 8, 16, 32
"""Arrow flags (bits)."""

DIRECTIONS = ("send", "recv", "drop")

UNDECODED = "(undecoded frame)"
"""The lane of a dropped frame whose envelope did not decode."""


def negotiation(step: int, rows: list[MessageRow]) -> dict[str, Any]:
    """The sequence of one step from its events (oldest first).

    Returns a dict with ``lanes`` (agent addresses, in order of first appearance),
    ``kinds``, ``hosts``, ``events`` (``[t_us, direction, kind, sender lane, receiver
    lane, round, size, host, sim_time]`` with t_us from the step's first event, indexes
    into the lists above, -1 for none), ``bodies`` (each event's decoded body, or its drop
    reason), ``arrows`` (``[t_us, send event, receive event, kind, from lane, to lane,
    round, flags]``, by time) and ``counts``.
    """
    lanes: dict[str, int] = {}
    kinds: dict[str, int] = {}
    hosts: dict[str, int] = {}
    direction_of = {d: i for i, d in enumerate(DIRECTIONS)}
    t0 = rows[0].wall_ns if rows else 0
    events, bodies = [], []
    for r in rows:
        sender = -1 if r.sender is None else lanes.setdefault(r.sender, len(lanes))
        receiver = (-1 if r.receiver is None or r.receiver.startswith("*")
                    else lanes.setdefault(r.receiver, len(lanes)))
        if r.direction == "drop" and sender < 0 and receiver < 0:
            receiver = lanes.setdefault(UNDECODED, len(lanes))
        kind = r.kind or "?"
        events.append([
            (r.wall_ns - t0) // 1000, direction_of.get(r.direction, 2),
            kinds.setdefault(kind, len(kinds)), sender, receiver, r.round, r.size,
            hosts.setdefault(r.host, len(hosts)), r.sim_time])
        bodies.append(r.error if r.direction == "drop" else r.body)
    arrows = _arrows(rows, events)
    counts = {d: sum(1 for r in rows if r.direction == d) for d in DIRECTIONS}
    return {
        "step": step, "lanes": list(lanes), "kinds": list(kinds), "hosts": list(hosts),
        "events": events, "bodies": bodies, "arrows": arrows,
        "rounds": sorted({r.round for r in rows if r.round is not None}),
        "counts": {"events": len(rows), **counts, "arrows": len(arrows)},
    }


def _arrows(rows: list[MessageRow], events: list[list]) -> list[list]:
    unicast: dict[tuple, deque[int]] = {}
    broadcast: dict[tuple, int] = {}
    fanned: set[int] = set()
    for i, r in enumerate(rows):
        if r.direction != "send":
            continue
        if r.receiver is not None and r.receiver.startswith("*"):
            broadcast.setdefault((r.kind, r.sender, r.conversation, r.round), i)
        else:
            unicast.setdefault((r.kind, r.sender, r.receiver, r.conversation, r.round),
                               deque()).append(i)
    arrows: list[list] = []

    def add(t_event: int, send: int, recv: int, flags: int) -> None:
        e = events[t_event]
        src, dst = (events[send][3], events[send][4]) if send >= 0 else (e[3], e[4])
        if recv >= 0:
            src, dst = events[recv][3], events[recv][4]
        arrows.append([e[0], send, recv, e[2], src, dst, e[5], flags])

    for i, r in enumerate(rows):
        if r.direction == "drop":
            add(i, -1, i, DROP)
        elif r.direction == "recv":
            queue = unicast.get((r.kind, r.sender, r.receiver, r.conversation, r.round))
            if queue:
                send = queue.popleft()
                add(send, send, i, 0)
                continue
            send = broadcast.get((r.kind, r.sender, r.conversation, r.round), -1)
            if send >= 0:
                fanned.add(send)
                add(send, send, i, BROADCAST)
            else:
                add(i, -1, i, NO_SEND)
    for queue in unicast.values():
        for send in queue:
            add(send, send, -1, NO_RECEIVE)
    for send in broadcast.values():
        if send not in fanned:
            add(send, send, -1, NO_RECEIVE | BROADCAST)
    award_rounds = [r.round for r in rows if r.kind == "Award" and r.round is not None]
    first_award = min(award_rounds) if award_rounds else None
    for a in arrows:
        kind = rows[a[1] if a[1] >= 0 else a[2]].kind
        if kind == "Decline":
            a[7] |= DECLINE
        elif kind == "Award" and first_award is not None and (a[6] or 0) > first_award:
            a[7] |= REAWARD
    arrows.sort(key=lambda a: (a[0], a[1], a[2]))
    return arrows
