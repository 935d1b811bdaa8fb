"""Run modes of scenarios with a ``topology:``: negotiations through regional aggregators."""
