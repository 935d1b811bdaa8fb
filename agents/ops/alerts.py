"""Alert rules over metrics, with thresholds and hold times (``docs/operations.md``).

A rule compares one metric's samples (optionally only those whose labels match, or
their per-second rate) with a threshold. Each labelled sample is a *subject*: a rule
fires for a subject once its condition has held for ``hold_s`` seconds, and clears when
the condition stops holding. :class:`AlertEngine` is transport-free: it is given the
samples and the time, and returns what was raised and cleared.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from vpp.agents.ops.messages import AlertCleared, AlertRaised

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class AlertRule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One rule: ``metric`` (a sample name, e.g. ``vpp_site_up``) ``op`` ``threshold``,
    held for ``hold_s`` seconds. ``labels`` keeps only samples whose labels include these;
    with ``rate``, the per-second increase of a counter is compared instead (e.g. drops
    or solver fallbacks a second)."""

    name: str
    metric: str
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: float
    hold_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    labels: dict[str, str] = {}
    rate: bool = False
    severity: Literal["info", "warning", "critical"] = "warning"
    message: str = ""


class AlertsSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The rules and where alerts go: a webhook URL (JSON POST) and/or a command (argv;
    the alert as JSON on its standard input)."""

    rules: list[AlertRule] = []
    webhook: str | None = None
    command: list[str] | None = None
    evaluate_every_s: Annotated[float, msgspec.Meta(gt=0)] = 0.25


Samples = Callable[[str], Iterable[tuple[dict[str, str], float]]]
"""Gives every sample of a metric name now: (labels, value) pairs."""


def subject_of(labels: dict[str, str]) -> str:
    """A stable name for a labelled sample: ``site=bess,device=pack`` (``-`` if none)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


@dataclass
class _State:
    since: float | None = None
    firing: bool = False
    last_value: float | None = None
    last_t: float | None = None


class AlertEngine:
    """Evaluates rules; remembers, per rule and subject, since when a condition holds.

    Args:
        rules: the rules (replace them live with :meth:`set_rules`).
    """

    def __init__(self, rules: Iterable[AlertRule] = ()) -> None:
        self.rules: list[AlertRule] = list(rules)
        self._state: dict[tuple[str, str], _State] = {}

    def set_rules(self, rules: Iterable[AlertRule]) -> list[AlertCleared]:
        """Use ``rules`` from now on; alerts of rules that are gone or changed clear."""
        new = {r.name: r for r in rules}
        cleared = []
        for (name, subject), state in list(self._state.items()):
            old = next((r for r in self.rules if r.name == name), None)
            if new.get(name) != old:
                if state.firing and old is not None:
                    cleared.append(AlertCleared(name, subject, old.metric,
                                                state.last_value or math.nan))
                del self._state[(name, subject)]
        self.rules = list(new.values())
        return cleared

    @property
    def firing(self) -> list[tuple[str, str]]:
        """(rule, subject) of every alert firing now."""
        return [key for key, s in self._state.items() if s.firing]

    def evaluate(self, samples: Samples, now: float) -> list[AlertRaised | AlertCleared]:
        """Compare every rule with the samples at time ``now`` (seconds); return the alerts
        raised and cleared. A subject whose sample disappeared clears."""
        out: list[AlertRaised | AlertCleared] = []
        for rule in self.rules:
            seen = set()
            test = _OPS[rule.op]
            for labels, raw in samples(rule.metric):
                if any(labels.get(k) != v for k, v in rule.labels.items()):
                    continue
                subject = subject_of(labels)
                seen.add(subject)
                state = self._state.setdefault((rule.name, subject), _State())
                value = raw
                if rule.rate:
                    prev_v, prev_t = state.last_value, state.last_t
                    state.last_value, state.last_t = raw, now
                    if prev_v is None or prev_t is None or now <= prev_t:
                        continue
                    value = (raw - prev_v) / (now - prev_t)
                else:
                    state.last_value = raw
                holds = math.isfinite(value) and test(value, rule.threshold)
                out.extend(self._update(rule, subject, state, holds, value, now))
            for (name, subject), state in list(self._state.items()):
                if name == rule.name and subject not in seen and state.firing:
                    state.firing, state.since = False, None
                    out.append(AlertCleared(rule.name, subject, rule.metric, math.nan))
        return out

    @staticmethod
    def _update(rule: AlertRule, subject: str, state: _State, holds: bool, value: float,
                now: float) -> list[AlertRaised | AlertCleared]:
        if not holds:
            state.since = None
            if state.firing:
                state.firing = False
                return [AlertCleared(rule.name, subject, rule.metric, value)]
            return []
        if state.since is None:
            state.since = now
        if not state.firing and now - state.since >= rule.hold_s:
            state.firing = True
            text = rule.message or (f"{rule.metric} {rule.op} {rule.threshold:g} for "
                                    f"{rule.hold_s:g} s")
            return [AlertRaised(rule.name, subject, rule.metric, value, rule.threshold,
                                rule.severity, text)]
        return []
