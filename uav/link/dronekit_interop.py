"""DroneKit interop: our verified upload on a connected dronekit ``Vehicle``, and our missions
as dronekit ``Command`` objects (and back).

Which DroneKit: upstream ``dronekit`` 2.9.2 (2020) does not import on Python >= 3.10
(``collections.MutableMapping`` was removed); the maintained fork ``dronekit2`` (3.x, same
``import dronekit``) does, keeps the 2.x API, and adds ``CommandInt`` for centimetre-exact
positions.  The project depends on ``dronekit2``.

The upload reuses the vehicle's own MAVLink connection: dronekit's reader thread keeps reading
and hands us every message through a ``'*'`` message listener, and what we send goes out through
dronekit's writer.  No second connection, no fight over the socket.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from ..errors import InvalidInputError, LinkError
from ..items import Frame, Mission, MissionItem, MissionType, float_frame
from .connection import Link, VehicleInfo, _enum_name
from .mission_transfer import GLOBAL_FRAMES, decode_item
from .upload import UploadReport, upload_verified


def _dronekit():
    try:
        import dronekit
    except Exception as exc:  # upstream 2.9.2 raises AttributeError on Python >= 3.10
        raise InvalidInputError(
            "DroneKit is not usable here: install the maintained fork with "
            f"`pip install dronekit2` ({exc})") from exc
    return dronekit


def mission_to_commands(mission: Mission | Sequence[MissionItem], include_home: bool = False,
                        exact: bool = True) -> list:
    """dronekit commands for a mission, ready for ``vehicle.commands.add``.

    Parameters
    ----------
    mission : Mission or list of MissionItem
        For a Mission, item 0 is home, which dronekit manages itself and so is left out
        unless ``include_home``.
    exact : bool
        ``CommandInt`` (int32 * 1e7 positions, centimetre-exact) when True, float
        ``Command`` (what dronekit 2.x users know, ~0.1-0.7 m float32 error) when False.
    """
    dk = _dronekit()
    items = list(mission.items if isinstance(mission, Mission) else mission)
    if isinstance(mission, Mission) and not include_home:
        items = items[1:]
    out = []
    for seq, it in enumerate(items):
        frame = int(it.frame)
        glob = frame in GLOBAL_FRAMES
        if exact:
            x = int(round(it.lat * 1e7)) if glob else int(round(it.lat))
            y = int(round(it.lon * 1e7)) if glob else int(round(it.lon))
            cls = dk.CommandInt
        else:
            # float MISSION_ITEM has no _INT frames: use the float twin
            frame = float_frame(frame)
            x, y, cls = float(it.lat), float(it.lon), dk.Command
        out.append(cls(0, 0, seq, frame, int(it.command), 0, int(bool(it.autocontinue)),
                       float(it.param1), float(it.param2), float(it.param3), float(it.param4),
                       x, y, float(it.alt)))
    return out


def commands_to_items(commands, mission_type: int = MissionType.MISSION) -> list[MissionItem]:
    """MissionItems from dronekit ``Command``/``CommandInt`` objects (or any MISSION_ITEM*)."""
    return [decode_item(c).with_(mission_type=int(mission_type)) for c in commands]


def commands_to_mission(commands, home: MissionItem | None = None, name: str = "") -> Mission:
    """A Mission from dronekit commands; ``home`` (or a zero home) becomes item 0."""
    home = home or MissionItem(mavlink.MAV_CMD_NAV_WAYPOINT, Frame.GLOBAL)
    return Mission([home] + commands_to_items(commands), name=name)


class DronekitLink(Link):
    """A :class:`Link` riding on a connected dronekit ``Vehicle``'s MAVLink connection."""

    def __init__(self, vehicle):
        self._vehicle = vehicle
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        master = vehicle._master
        super().__init__(master, url=f"dronekit vehicle ({type(master).__name__})")
        vehicle.add_message_listener("*", self._enqueue)
        hb = vehicle._handler.master
        self.target_system = int(getattr(vehicle._handler, "target_system", 0) or
                                 hb.target_system or 1)
        self.target_component = int(getattr(hb, "target_component", 0) or 1)
        last = master.messages.get("HEARTBEAT")
        self.vehicle = VehicleInfo(
            self.target_system, self.target_component,
            _enum_name("MAV_AUTOPILOT", getattr(last, "autopilot", 3), "MAV_AUTOPILOT_"),
            _enum_name("MAV_TYPE", getattr(last, "type", 2), "MAV_TYPE_"))

    def _enqueue(self, _vehicle, _name, msg) -> None:
        self._queue.put(msg)

    def _read_one(self, timeout: float):
        try:
            if timeout <= 0:
                return self._queue.get_nowait()
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _keepalive(self) -> None:
        pass  # dronekit sends the ground station heartbeat itself

    def close(self) -> None:
        """Stop listening; the dronekit vehicle and its connection stay open."""
        try:
            self._vehicle.remove_message_listener("*", self._enqueue)
        except (ValueError, KeyError, LinkError):
            pass
        if getattr(self, "_original_send", None) is not None:
            self._vehicle._master.mav.send = self._original_send
            self._original_send = None
        self.master = None
        closers, self._closers = self._closers, []
        for fn in closers:
            fn()


def upload_to_dronekit(vehicle, mission: Mission, *, refresh: bool = True,
                       **kwargs) -> UploadReport:
    """Verified upload (fence, rally, mission; each read back) over a dronekit vehicle's link.

    Parameters
    ----------
    vehicle : dronekit.Vehicle
        A connected vehicle (``dronekit.connect(...)``).
    mission : uav.items.Mission
    refresh : bool
        Afterwards, re-download ``vehicle.commands`` so dronekit shows the new mission.
    **kwargs
        Passed to :func:`uav.link.upload.upload_verified` (fence, rally, settings, progress).
    """
    link = DronekitLink(vehicle)
    try:
        report = upload_verified(link, mission, **kwargs)
    finally:
        link.close()
    if refresh:
        cmds = vehicle.commands
        cmds.download()
        cmds.wait_ready(timeout=30)
    return report
