"""``python -m runs.cli`` runs the ``vpp`` command line (handy from a source checkout)."""

from runs.cli import app

app()
