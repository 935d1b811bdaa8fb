"""Frequency response's agents: the grid that publishes frequency (``grid``) and the sites
that answer it on their own (``site``); the rules are ``vpp.coordination.frequency``."""
