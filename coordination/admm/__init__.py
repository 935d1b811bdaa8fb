"""ADMM consensus in the exchange (sharing) form (DESIGN.md protocol 2,
``docs/protocols/admm.md``). cvxpy is imported only by the modules that solve.

- :mod:`.messages`: the message kinds (``AdmmRound``, ``AdmmSchedule``, ``AdmmDone``).
- :mod:`.model`: a site's private model and the aggregator's coupling, as values.
- :mod:`.formulation`: a site's cost and constraints in cvxpy (shared by both solvers).
- :mod:`.local`: a site's proximal step in cvxpy, compiled once (DPP), re-solved each round.
- :mod:`.qp`: the same step as a hand-built QP for OSQP, updated and warm-started (default).
- :mod:`.solution`: what a local step returns and how it fails (no solver imported).
- :mod:`.protocol`: the aggregator's side as a state machine (``AdmmAggregation``).
- :mod:`.site`: a site's side (``AdmmSiteSolver``).
- :mod:`.reference`: the centralized solve of the same problem.
- :mod:`.driver`: both sides driven in one process, without sockets.
- :mod:`.instances`: random feasible instances.
"""
