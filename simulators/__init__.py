"""Vehicles for rehearsal and tests: ArduPilot SITL launcher and the built-in copter.

Start here: :func:`start_vehicle` (a copter to connect to, built-in or real SITL),
:func:`rehearse` (fly a plan's sorties and report), :class:`Scene` and :class:`SimCamera` (a
made-up landscape and a camera that photographs it), :class:`FaultyLink` (a lossy radio).
``rehearsal`` reads a :class:`missions.Plan`: simulators may import ``missions``, never
``processing``.
"""

from uav.lazy import lazy_exports

_WHERE = {
    "start_vehicle": ".backend", "find_sitl": ".backend", "BuiltinVehicle": ".backend",
    "ArduPilotSITL": ".sitl", "find_sitl_binary": ".sitl",
    "BuiltinVehicleServer": ".builtin", "Vehicle": ".builtin",
    "rehearse": ".rehearsal", "RehearsalReport": ".rehearsal_report", "SortieReport": ".rehearsal_report",
    "Scene": ".scene", "PlantedObject": ".scene", "SimCamera": ".camera",
    "FrameCollector": ".frames", "write_frame": ".frames",
    "Faults": ".faults", "FaultyLink": ".faults",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
