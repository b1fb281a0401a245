"""A built-in ArduPilot-compatible copter for machines without a SITL binary.

>>> from simulators.builtin import BuiltinVehicleServer
>>> with BuiltinVehicleServer(home=(43.1, 131.9, 40.0, 0.0), speedup=20) as sim:
...     print(sim.connection_string)     # doctest: +SKIP
"""

from .server import BuiltinVehicleServer, SimClock
from .vehicle import MODES, CameraTrigger, Vehicle

__all__ = ["BuiltinVehicleServer", "SimClock", "Vehicle", "CameraTrigger", "MODES"]
