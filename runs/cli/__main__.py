"""``python -m vpp.runs.cli`` runs the ``vpp`` command line (handy from a source checkout)."""

from vpp.runs.cli import main

main()
