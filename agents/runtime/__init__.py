"""The runtime: how agents live and talk, whatever they negotiate.

Messages and their registry (``messages``), the codec (``codec``), the host that owns a
process's sockets and its inbox (``host``, ``inbox``), the event loop (``loop``), the clock
and timers (``clock``, ``timers``), the trace (``trace``, ``trace_reader``), and security
(``security``, ``allow_list``, ``curve``, ``limits``). Nothing here knows a protocol; the
agent kinds (``vpp.agents.merit_order``, ``vpp.agents.admm``, ...) build on it. See
``docs/runtime.md``.
"""
