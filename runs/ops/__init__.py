"""Operations built from a scenario: a live run's metrics, hot reload of its YAML and
alerts (``docs/operations.md``). The transport-free parts live in ``agents/ops/``."""
