"""The built-in copter's answers to COMMAND_LONG / COMMAND_INT, as ArduCopter gives them:
a part of :class:`~simulators.builtin.server.BuiltinVehicleServer` (a mixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from .vehicle import MODES

if TYPE_CHECKING:
    from .channel import Channel
    pass

M = mavlink



class Commands:
    """COMMAND_LONG/COMMAND_INT handling of :class:`BuiltinVehicleServer`."""

    def _command(self, ch: Channel, msg, cmd: int, p: list[float], is_int: bool,
                 frame: int = 0) -> int | None:
        v = self.vehicle
        A, F = M.MAV_RESULT_ACCEPTED, M.MAV_RESULT_FAILED
        if cmd == M.MAV_CMD_COMPONENT_ARM_DISARM:
            force = int(round(p[1])) in (2989, 21196)
            if p[0] == 1:
                # ArduPilot acks first and its "Arm: ..." texts follow the ack
                said: list[tuple[int, str]] = []
                v.send_text = lambda sev, text: said.append((sev, text))
                try:
                    refused = v.arm(force=force)
                finally:
                    v.send_text = self.send_text
                ch.send(M.MAVLink_command_ack_message(cmd, F if refused else A, 0, 0,
                                                      msg.get_srcSystem(),
                                                      msg.get_srcComponent()))
                for sev, text in said:
                    self.send_text(sev, text)
                return None
            if p[0] == 0:
                return A if v.disarm(force=force) else F
            return M.MAV_RESULT_DENIED
        if cmd == M.MAV_CMD_DO_SET_MODE:
            if not int(p[0]) & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
                return M.MAV_RESULT_UNSUPPORTED
            return A if v.set_mode(int(p[1])) is None else F
        if cmd == M.MAV_CMD_NAV_TAKEOFF:
            return A if v.takeoff(p[6]) else F
        if cmd == M.MAV_CMD_MISSION_START:
            return A if v.mission_start() else F
        if cmd == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            return A if v.set_mode(MODES["RTL"]) is None else F
        if cmd == M.MAV_CMD_NAV_LAND:
            return A if v.set_mode(MODES["LAND"]) is None else F
        if cmd == M.MAV_CMD_DO_PAUSE_CONTINUE:
            return A if v.pause(int(p[0]) == 0) else F
        if cmd == M.MAV_CMD_DO_CHANGE_SPEED:
            return A if v.change_speed(p[1]) else F
        if cmd == M.MAV_CMD_DO_SET_MISSION_CURRENT:
            if v.set_mission_current(int(p[0])):
                self.broadcast(v.mission_current_message())
                return A
            return F
        if cmd == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            v.set_cam_trigg_dist(p[0], trigger_now=int(p[2]) == 1)
            return A
        if cmd == M.MAV_CMD_DO_DIGICAM_CONTROL:
            if int(p[4]) == 1:
                v.take_picture()
            return A
        if cmd == M.MAV_CMD_DO_FENCE_ENABLE:
            self.params.set("FENCE_ENABLE", 1 if int(p[0]) == 1 else 0)
            return A
        if cmd == M.MAV_CMD_DO_REPOSITION:
            lat = p[4] / 1e7 if is_int else p[4]
            lon = p[5] / 1e7 if is_int else p[5]
            alt = p[6]
            if frame in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
                alt -= v.home_alt
            if v.mode != MODES["GUIDED"] and v.set_mode(MODES["GUIDED"]) is not None:
                return F
            return A if v.guided_goto(lat, lon, alt) else F
        if cmd == M.MAV_CMD_SET_MESSAGE_INTERVAL:
            mid, interval_us = int(p[0]), p[1]
            if interval_us < 0:
                ch.intervals.pop(mid, None)
            else:
                if self._builder(mid) is None:
                    return F
                ch.intervals[mid] = (interval_us / 1e6) if interval_us > 0 else 0.25
                ch.next_due[mid] = self.sim_time
            return A
        if cmd == M.MAV_CMD_GET_MESSAGE_INTERVAL:
            mid = int(p[0])
            iv = ch.intervals.get(mid)
            ch.send(M.MAVLink_message_interval_message(mid, int(iv * 1e6) if iv else -1))
            return A
        if cmd == M.MAV_CMD_REQUEST_MESSAGE:
            build = self._builder(int(p[0]))
            if build is None:
                return F
            ch.send(M.MAVLink_command_ack_message(cmd, A, 0, 0, msg.get_srcSystem(),
                                                  msg.get_srcComponent()))
            if int(p[0]) == M.MAVLINK_MSG_ID_PARAM_VALUE:
                return None
            ch.send(build())
            return None
        if cmd == M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
            ch.send(M.MAVLink_command_ack_message(cmd, A, 0, 0, msg.get_srcSystem(),
                                                  msg.get_srcComponent()))
            ch.send(self._autopilot_version())
            return None
        if cmd == M.MAV_CMD_DO_SET_HOME:
            return M.MAV_RESULT_ACCEPTED if v.ready else F
        return M.MAV_RESULT_UNSUPPORTED
