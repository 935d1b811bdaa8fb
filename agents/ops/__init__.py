"""Operations: structured logs, metrics, alert rules and data feeds (``docs/operations.md``).

Everything here is transport-free or binds to the runtime only through public hooks; what
needs a scenario or files lives in ``runs/ops/``.
"""
