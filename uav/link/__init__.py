"""The link to the aircraft: connect, mission/fence/rally transfer with verification,
parameters, flight control, telemetry recording, MAVLink2 signing, DroneKit interop.

``from uav.link import connect`` gives a :class:`Link`; the other modules take a ``Link``.
"""

from .connection import Link, VehicleInfo, connect, parse_connection_string

__all__ = ["Link", "VehicleInfo", "connect", "parse_connection_string"]
