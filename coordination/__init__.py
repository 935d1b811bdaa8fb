"""Negotiation protocols and solvers, transport-free (no sockets, no runtime imports)."""
