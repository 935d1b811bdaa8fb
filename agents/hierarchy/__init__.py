"""Regional aggregator agents: the hierarchy's state machines bound to messages."""
