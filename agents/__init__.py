"""The runtime: messages, codec, transport host, clock, trace, and the agent kinds."""
