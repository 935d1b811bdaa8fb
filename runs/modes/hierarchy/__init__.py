"""Run modes of scenarios with regional aggregators (a ``topology:`` section).
``docs/protocols/hierarchy.md``."""
