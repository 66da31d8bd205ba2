"""``python -m icon_registry`` runs the ``icon`` command line."""

import sys

from icon_registry.cli import main

sys.exit(main())
