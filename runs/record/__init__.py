"""The run record: what every run writes into its directory, whatever its mode and placement.

- ``manifest.json``: the mode, the placement, the fully resolved scenario (defaults filled),
  the seed, the versions of what ran, when it started and ended, and how it ended
  (:mod:`vpp.runs.record.manifest`);
- ``steps.csv`` (one row per step) and ``sites.csv`` (one row per site and step), both
  numbered from step 0 with each step's start instant in UTC, streamed to disk as the run
  goes (:mod:`vpp.runs.record.tables`);
- ``summary.json``: the totals;
- ``trace/``: every message, one SQLite shard per process (:mod:`vpp.agents.runtime.trace`).

See ``docs/architecture.md`` ("The run record").
"""

from vpp.runs.record.manifest import MANIFEST, Manifest, read_manifest
from vpp.runs.record.tables import RecordError, RunRecord, StepTable

__all__ = ["MANIFEST", "Manifest", "RecordError", "RunRecord", "StepTable", "read_manifest"]
