"""ADMM consensus's agents: the negotiating aggregator and sites (``negotiation``), the same
with a step-by-step delivery of the plan (``dispatch``), and a site in another process
(``remote``). The protocol itself, transport-free, is ``vpp.coordination.admm``."""
