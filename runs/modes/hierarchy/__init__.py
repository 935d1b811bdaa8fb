"""Run modes of scenarios with regional aggregators (a ``topology:`` section): merit order
(``merit.py``) and ADMM (``admm.py``) through regions. ``docs/protocols/hierarchy.md``."""
