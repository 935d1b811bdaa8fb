"""The merit-order contract net's agents: the aggregator and the site (the protocol itself,
transport-free, is ``vpp.coordination.merit_order``)."""
