"""``python -m uav``: the same as the ``uav`` command."""

import sys

from .cli import main

sys.exit(main())
