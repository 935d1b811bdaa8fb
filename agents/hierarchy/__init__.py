"""Regional aggregators as agents: the hierarchy's state machines
(``coordination/hierarchy/``) bound to messages. ``docs/protocols/hierarchy.md``."""
