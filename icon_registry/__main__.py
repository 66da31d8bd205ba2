"""``python -m icon_registry`` runs the ``icon`` command line."""

from icon_registry.cli import run

run()
