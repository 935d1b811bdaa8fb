"""Agents: the runtime they live on (``runtime``) and the agent kinds, by protocol
(``merit_order``, ``admm``, ``dispatch``, ``membership``, ``frequency``, ``markets``,
``ops``); ``kinds`` lists every built-in message kind."""
