"""Placements: where a run's agents live. One process (``local``), site processes from a
warm fork server (``processes``, ``spawn``), or ``vpp aggregator`` with ``vpp site``
processes on other machines (``remote``, ``site_process``)."""
