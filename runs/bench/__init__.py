"""Benchmarks behind ``vpp bench NAME --json``: each returns one flat dict.

Every benchmark also measures a baseline in the same run and reports the ratio, so a
figure means something on a machine other than the one that made it.
"""
