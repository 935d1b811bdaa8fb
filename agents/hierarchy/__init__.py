"""Regional aggregators as agents: the hierarchy's state machines
(``coordination/hierarchy/``) bound to messages, for merit order (``merit_*``) and ADMM
(``admm_*``). ``docs/protocols/hierarchy.md``."""
