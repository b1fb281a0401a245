"""The link to the aircraft: connect, mission/fence/rally transfer with verification,
parameters, flight control, telemetry recording, MAVLink2 signing, DroneKit interop.

``from uav.link import connect`` gives a :class:`Link`; the other modules take a ``Link``.
"""

from .connection import Link, VehicleInfo
from .endpoints import parse_connection_string
from .handshake import connect

__all__ = ["Link", "VehicleInfo", "connect", "parse_connection_string"]
