"""The built-in copter's telemetry: streams at their asked rates and each message's builder,
a part of :class:`~simulators.builtin.server.BuiltinVehicleServer` (a mixin)."""

from __future__ import annotations

import functools
import math
import time
from typing import TYPE_CHECKING

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from .flight import wind_vector

if TYPE_CHECKING:
    pass

M = mavlink

MAX_STREAM_WALL_HZ = 50.0  # cap on any one stream in wall time
CAPABILITIES = (M.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | M.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                | M.MAV_PROTOCOL_CAPABILITY_MISSION_INT | M.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                | M.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                | M.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | M.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                | M.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
                # as SITL offers it; every request is refused (gcs_answers), so a GCS falls back
                | M.MAV_PROTOCOL_CAPABILITY_FTP)
FIRMWARE_VERSION = (4 << 24) | (7 << 16) | (0 << 8) | M.FIRMWARE_VERSION_TYPE_DEV


class Telemetry:
    """Streams and message builders of :class:`BuiltinVehicleServer`."""

    # --- telemetry -------------------------------------------------------------------------------
    def _telemetry(self) -> None:
        now_sim = self.sim_time
        wall = time.monotonic()
        min_wall = 1.0 / MAX_STREAM_WALL_HZ
        hb = None
        for ch in self.channels:
            last = self._last_hb_sim.get(ch.link_id, -1e9)
            if now_sim - last >= 1.0 and wall - ch.last_wall.get(0, 0) >= min_wall:
                hb = hb or self._heartbeat()
                ch.send(hb)
                self._last_hb_sim[ch.link_id] = now_sim
                ch.last_wall[0] = wall
            if ch.param_queue:
                batch, ch.param_queue = ch.param_queue[:40], ch.param_queue[40:]
                for i in batch:
                    ch.send(self._param_value(self.params.by_index(i)))
            built: dict[int, object] = {}
            for mid, iv in ch.intervals.items():
                if now_sim < ch.next_due.get(mid, 0.0) or \
                        wall - ch.last_wall.get(mid, 0.0) < min_wall:
                    continue
                ch.next_due[mid] = max(ch.next_due.get(mid, 0.0) + iv, now_sim - iv)
                ch.last_wall[mid] = wall
                if mid not in built:
                    b = self._builder(mid)
                    built[mid] = b() if b else None
                if built[mid] is not None:
                    ch.send(built[mid])

    def _builder(self, mid: int):
        return self._builders.get(mid)

    @functools.cached_property
    def _builders(self) -> dict:
        # built once: the telemetry loop looks a builder up for every message it sends
        return {
            M.MAVLINK_MSG_ID_HEARTBEAT: self._heartbeat,
            M.MAVLINK_MSG_ID_SYS_STATUS: self._sys_status,
            M.MAVLINK_MSG_ID_GPS_RAW_INT: self._gps_raw,
            M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: self._global_position,
            M.MAVLINK_MSG_ID_LOCAL_POSITION_NED: self._local_position,
            M.MAVLINK_MSG_ID_ATTITUDE: self._attitude,
            M.MAVLINK_MSG_ID_VFR_HUD: self._vfr_hud,
            M.MAVLINK_MSG_ID_BATTERY_STATUS: self._battery_status,
            M.MAVLINK_MSG_ID_MISSION_CURRENT: self.vehicle.mission_current_message,
            M.MAVLINK_MSG_ID_HOME_POSITION: self.vehicle.home_position_message,
            M.MAVLINK_MSG_ID_AUTOPILOT_VERSION: self._autopilot_version,
            M.MAVLINK_MSG_ID_EKF_STATUS_REPORT: self._ekf_status,
            M.MAVLINK_MSG_ID_SYSTEM_TIME: self._system_time,
            M.MAVLINK_MSG_ID_PARAM_VALUE: lambda: None,
        }

    def _boot_ms(self) -> int:
        return int(self.sim_time * 1000) & 0xFFFFFFFF

    def _heartbeat(self):
        v = self.vehicle
        return M.MAVLink_heartbeat_message(M.MAV_TYPE_QUADROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                           v.base_mode(), v.mode, v.system_status(), 3)

    def _sensors(self) -> tuple[int, int, int]:
        v = self.vehicle
        present = (M.MAV_SYS_STATUS_SENSOR_3D_GYRO | M.MAV_SYS_STATUS_SENSOR_3D_ACCEL
                   | M.MAV_SYS_STATUS_SENSOR_3D_MAG | M.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
                   | M.MAV_SYS_STATUS_SENSOR_GPS | M.MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
                   | M.MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
                   | M.MAV_SYS_STATUS_SENSOR_YAW_POSITION | M.MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
                   | M.MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
                   | M.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS | M.MAV_SYS_STATUS_AHRS
                   | M.MAV_SYS_STATUS_SENSOR_BATTERY | M.MAV_SYS_STATUS_GEOFENCE
                   | M.MAV_SYS_STATUS_PREARM_CHECK)
        enabled = present & ~M.MAV_SYS_STATUS_GEOFENCE
        if int(self.params["FENCE_ENABLE"]):
            enabled |= M.MAV_SYS_STATUS_GEOFENCE
        health = present
        if not v.ready:
            health &= ~(M.MAV_SYS_STATUS_SENSOR_GPS | M.MAV_SYS_STATUS_AHRS)
        if v.fence_breached:
            health &= ~M.MAV_SYS_STATUS_GEOFENCE
        if v.batt_failsafe:
            health &= ~M.MAV_SYS_STATUS_SENSOR_BATTERY
        if v.armed or v.prearm_failures():
            health &= ~M.MAV_SYS_STATUS_PREARM_CHECK
        return present, enabled, health

    def _sys_status(self):
        present, enabled, health = self._sensors()
        b = self.vehicle.battery
        return M.MAVLink_sys_status_message(
            present, enabled, health, 200, int(b.voltage * 1000), int(b.current_a * 100),
            int(b.remaining_fraction * 100), 0, 0, 0, 0, 0, 0)

    def _gps_raw(self):
        v = self.vehicle
        lat, lon = v.lat_lon
        course = v.k.yaw if v.k.groundspeed < 0.2 else \
            math.degrees(math.atan2(v.k.ve, v.k.vn)) % 360
        cog = int(course * 100)
        return M.MAVLink_gps_raw_int_message(
            int(self.sim_time * 1e6), 3 if v.ready else 1, int(round(lat * 1e7)),
            int(round(lon * 1e7)), int(v.alt_msl * 1000), 121, 200,
            int(v.k.groundspeed * 100), cog, 10 if v.ready else 0)

    def _global_position(self):
        v = self.vehicle
        lat, lon = v.lat_lon
        return M.MAVLink_global_position_int_message(
            self._boot_ms(), int(round(lat * 1e7)), int(round(lon * 1e7)), int(v.alt_msl * 1000),
            int(v.alt_rel * 1000), int(v.k.vn * 100), int(v.k.ve * 100), int(-v.k.vu * 100),
            int(v.k.yaw * 100) % 36000)

    def _local_position(self):
        k = self.vehicle.k
        return M.MAVLink_local_position_ned_message(self._boot_ms(), k.n, k.e, -k.u, k.vn, k.ve,
                                                    -k.vu)

    def _attitude(self):
        k = self.vehicle.k
        yaw = math.radians(k.yaw)
        yaw = yaw - 2 * math.pi if yaw > math.pi else yaw
        return M.MAVLink_attitude_message(self._boot_ms(), math.radians(k.roll),
                                          math.radians(k.pitch), yaw, 0.0, 0.0, 0.0)

    def _vfr_hud(self):
        v = self.vehicle
        wind = wind_vector(self.params["SIM_WIND_SPD"], self.params["SIM_WIND_DIR"])
        air = math.hypot(*v.k.air_velocity(wind)) if not v.landed else 0.0
        thr = 0 if not v.armed else (15 if v.landed else 50)
        return M.MAVLink_vfr_hud_message(air, v.k.groundspeed, int(v.k.yaw) % 360, thr,
                                         v.alt_msl, v.k.vu)

    def _battery_status(self):
        b = self.vehicle.battery
        cells = [int(b.voltage * 1000)] + [65535] * 9
        return M.MAVLink_battery_status_message(
            0, M.MAV_BATTERY_FUNCTION_ALL, M.MAV_BATTERY_TYPE_LIPO, 32767, cells,
            int(b.current_a * 100), int(b.consumed_mah), int(b.consumed_wh * 36),
            int(b.remaining_fraction * 100))

    def _ekf_status(self):
        flags = 0
        if self.vehicle.boot_phase() == "ekf":
            # what SITL reports after tilt/yaw alignment, before it uses GPS (0x00a7)
            flags = (M.EKF_ATTITUDE | M.EKF_VELOCITY_HORIZ | M.EKF_VELOCITY_VERT
                     | M.EKF_POS_VERT_ABS | M.EKF_CONST_POS_MODE)
        elif self.vehicle.ready:
            flags = (M.EKF_ATTITUDE | M.EKF_VELOCITY_HORIZ | M.EKF_VELOCITY_VERT
                     | M.EKF_POS_HORIZ_REL | M.EKF_POS_HORIZ_ABS | M.EKF_POS_VERT_ABS
                     | M.EKF_PRED_POS_HORIZ_REL | M.EKF_PRED_POS_HORIZ_ABS)
        return M.MAVLink_ekf_status_report_message(flags, 0.01, 0.01, 0.01, 0.01, 0.0)

    def _system_time(self):
        return M.MAVLink_system_time_message(int(time.time() * 1e6), self._boot_ms())

    def _autopilot_version(self):
        return M.MAVLink_autopilot_version_message(
            CAPABILITIES, FIRMWARE_VERSION, 0, 0, 0, list(b"amurblt\0"), [0] * 8, [0] * 8,
            0x1209, 0x5740, 0x414D5552, [0] * 18)
