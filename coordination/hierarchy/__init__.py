"""Regional aggregators: a fleet's hierarchy and the protocols through it, transport-free
(DESIGN.md "Hierarchy", ``docs/protocols/hierarchy.md``).

- :mod:`.spec`: the ``topology:`` section of a scenario (msgspec Structs).
- :mod:`.topology`: the validated ``networkx`` tree (``Topology``, ``build_topology``).
- :mod:`.messages`: the message kinds between an aggregator and a region below it.
- :mod:`.curve`: aggregate bid curves as columns (merge, split, the flat allocation).
- :mod:`.gather`: one step's bids gathered from an aggregator's children.
- :mod:`.merit_region`: a regional aggregator's merit-order step (``RegionalAuction``).
- :mod:`.merit_root`: the portfolio aggregator's merit-order step (``PortfolioAuction``).
- :mod:`.merit_driver`: a merit-order step through a hierarchy, in one process; the flat
  reference run with the same script.
- :mod:`.admm_region`, :mod:`.admm_root`, :mod:`.admm_driver`: ADMM in the hierarchical
  sharing form (regions pass sums up).
- :mod:`.layout`: the tree's drawing data (positions per level, served and unserved
  energy per node).
"""
