"""The `vpp` command line, scenarios, the swarm builder and the benchmarks."""
