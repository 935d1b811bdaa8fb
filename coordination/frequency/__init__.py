"""Local frequency response: droop and trigger services, SoC and energy limits, staged
under-frequency load shedding, over-frequency curtailment, grid-code presets.

Transport-free: a site agent binds :class:`~coordination.frequency.rule.SiteFrequencyRule`
to the ``frequency`` topic (``agents/frequency/site.py``). See
``docs/protocols/frequency.md``. Nothing here imports numpy or cvxpy: a decision is a few
float operations.
"""
