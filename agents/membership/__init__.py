"""Distributed operation: who is connected and alive. The aggregator's coordinator
(``coordinator``), a site process's link (``site_link``), the liveness bookkeeping
(``liveness``) and their messages (``messages``). See ``docs/protocols/distributed.md``."""
