"""amur-uav: fire-watch and anti-poaching drone missions for park rangers.

The ``uav`` package is the kernel: geodesy, camera/aircraft profiles, mission items and the
MAVLink link.  It imports nothing from ``missions``, ``processing`` or ``simulators``; only the
command-line layer (``uav.cli``) ties them together.
"""

from .errors import UavError

__version__ = "0.1.0"
__all__ = ["UavError", "__version__"]
