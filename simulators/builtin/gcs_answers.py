"""Answers of the built-in copter that a ground station shows its pilot, as ArduCopter 4.7 SITL
gives them: a part of :class:`~simulators.builtin.server.BuiltinVehicleServer` (a mixin).

* ``MIS_TOTAL`` is the mission's item count, home included (what MISSION_COUNT says), and
  cannot be set: a PARAM_SET of it gets "Param write denied (MIS_TOTAL)" and its value.
* A MISSION_ITEM or MISSION_ITEM_INT with ``current=2`` is a GUIDED "fly here" (QGC's and
  MAVProxy's click on the map), not part of an upload: MISSION_ACK ACCEPTED in GUIDED (even
  disarmed, where nothing moves), ERROR in any other mode or for a point beyond an enabled
  fence.
* MAVLink FTP is offered (SITL sets MAV_PROTOCOL_CAPABILITY_FTP) but this vehicle has no files:
  every request is refused quickly so a GCS falls back to the plain protocols.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from .modes import MODES

if TYPE_CHECKING:
    from .channel import Channel

M = mavlink

# MAVLink FTP (https://mavlink.io/en/services/ftp.html): opcodes and error codes used here
FTP_TERMINATE_SESSION, FTP_RESET_SESSIONS = 1, 2
FTP_OPENS = {4, 6, 11}  # OpenFileRO, CreateFile, OpenFileWO
FTP_ACK, FTP_NAK = 128, 129
FTP_ERR_UNKNOWN_COMMAND, FTP_ERR_FILE_NOT_FOUND = 7, 10

# parameters ArduPilot keeps itself and refuses to take from a GCS
READ_ONLY = frozenset({"MIS_TOTAL"})

GUIDED_FLY_HERE = 2  # MISSION_ITEM.current: ArduPilot's "guided mode request"


class GcsAnswers:
    """Read-only and live parameters, GUIDED "fly here" items and FTP refusals of
    :class:`BuiltinVehicleServer`."""

    def _live_value(self, p):
        """The parameter, its value brought up to date where the vehicle owns it."""
        if p is not None and p.name == "MIS_TOTAL":
            p.value = float(self.vehicle.mission.count())
        return p

    def _param_set(self, name: str, value: float) -> None:
        if name in READ_ONLY:
            # GCS_MAVLINK::handle_param_set: refused in words, then the value it keeps
            self.send_text(M.MAV_SEVERITY_WARNING, f"Param write denied ({name})")
            self.broadcast(self._param_value(self.params.get(name)))
            return
        p = self.params.set(name, value)
        if p is not None:
            self._param_changed(name)
            self.broadcast(self._param_value(p))

    @staticmethod
    def is_fly_here(msg) -> bool:
        return msg.get_type() in ("MISSION_ITEM", "MISSION_ITEM_INT") \
            and msg.current == GUIDED_FLY_HERE \
            and getattr(msg, "mission_type", 0) == M.MAV_MISSION_TYPE_MISSION

    def _fly_here(self, ch: Channel, msg) -> None:
        v = self.vehicle
        if msg.get_type() == "MISSION_ITEM_INT":
            lat, lon = msg.x / 1e7, msg.y / 1e7
        else:
            lat, lon = msg.x, msg.y
        alt = msg.z
        if msg.frame in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
            alt -= v.home_alt
        # terrain frames are taken as relative to home: the built-in copter's ground is flat
        e, n = v.frame.to_metric(lon, lat)
        ok = v.mode == MODES["GUIDED"] and not v.destination_outside_fence(n, e, alt)
        if ok and v.armed and not v.landed:
            ok = v.guided_goto(lat, lon, alt)
        ch.send(M.MAVLink_mission_ack_message(
            msg.get_srcSystem(), msg.get_srcComponent(),
            M.MAV_MISSION_ACCEPTED if ok else M.MAV_MISSION_ERROR, M.MAV_MISSION_TYPE_MISSION))

    def _ftp_refusal(self, msg):
        """Answer a MAVLink FTP request: this vehicle has no files.

        MAVProxy (and QGC with FTP parameter download on) first ask for ``@PARAM/param.pck`` by
        FTP; a NAK makes them fall back to PARAM_REQUEST_LIST at once instead of timing out.
        Session resets are ACKed, everything else NAKed (FileNotFound for opens).
        """
        req = bytes(msg.payload)
        seq = int.from_bytes(req[0:2], "little")
        session, opcode = req[2], req[3]
        out = bytearray(251)
        out[0:2] = ((seq + 1) & 0xFFFF).to_bytes(2, "little")
        out[2] = session
        out[5] = opcode
        if opcode in (FTP_TERMINATE_SESSION, FTP_RESET_SESSIONS):
            out[3] = FTP_ACK
        else:
            out[3] = FTP_NAK
            out[4] = 1
            out[12] = FTP_ERR_FILE_NOT_FOUND if opcode in FTP_OPENS else FTP_ERR_UNKNOWN_COMMAND
        return M.MAVLink_file_transfer_protocol_message(0, msg.get_srcSystem(),
                                                        msg.get_srcComponent(), list(out))
