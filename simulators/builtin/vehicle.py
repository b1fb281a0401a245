"""The built-in copter's brain: modes, arming, mission execution, failsafes, camera.

Behaviour follows ArduCopter (custom mode numbers, pre-arm texts, AUTO command semantics):

* DO commands placed after a NAV command run when that NAV command completes, i.e. while the
  copter heads for the next NAV item (AP_Mission's rule), so a QGC survey's
  ``WP, DO_SET_CAM_TRIGG_DIST d, WP, DO_SET_CAM_TRIGG_DIST 0`` photographs exactly the leg.
* DO_JUMP repeats ``param2`` times (-1 forever); counters reset when the mission restarts.
* AUTO cannot be armed in (unless AUTO_OPTIONS bit 0); arm in GUIDED/LOITER/STABILIZE, take
  off, then switch to AUTO, or switch to AUTO on the ground and send MAV_CMD_MISSION_START.
* Landing (LAND, RTL, NAV_LAND) ends with a disarm; an armed copter that sits on the ground for
  DISARM_DELAY seconds disarms itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from uav.geo import TangentPlane

from .flight import Battery, FenceShapes, Kinematics, Target, wind_vector
from .mission_protocol import ItemList
from .params import ParamTable
from .storage import NAV_COMMANDS, StoredItem

M = mavlink

# ArduCopter custom modes (Mode::Number)
MODES = {
    "STABILIZE": 0, "ACRO": 1, "ALT_HOLD": 2, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6,
    "CIRCLE": 7, "LAND": 9, "DRIFT": 11, "SPORT": 13, "FLIP": 14, "AUTOTUNE": 15,
    "POSHOLD": 16, "BRAKE": 17, "THROW": 18, "AVOID_ADSB": 19, "GUIDED_NOGPS": 20,
    "SMARTRTL": 21, "FLOWHOLD": 22, "FOLLOW": 23, "ZIGZAG": 24, "SYSTEMID": 25,
    "AUTOROTATE": 26, "AUTO_RTL": 27,
}
MODE_NAMES = {v: k for k, v in MODES.items()}
# modes this simulator flies; the others are refused as on a build without them
SUPPORTED_MODES = {0, 1, 2, 3, 4, 5, 6, 7, 9, 16, 17, 21}
POSITION_MODES = {3, 4, 5, 6, 7, 16, 17, 21}
ARMABLE_MODES = {0, 1, 2, 4, 5, 7, 16}
GUIDED_FLAG_MODES = {3, 27, 6, 5, 19, 23, 4, 7, 16, 17, 21}


@dataclass(frozen=True)
class CameraTrigger:
    """One camera shot, as CAMERA_FEEDBACK reports it."""

    img_idx: int
    time_usec: int
    lat: float
    lon: float
    alt_msl: float
    alt_rel: float
    roll: float
    pitch: float
    yaw: float


class Vehicle:
    """State and behaviour of one simulated copter.

    Parameters
    ----------
    home : (lat, lon, alt_amsl, heading)
    params : ParamTable
    now : callable returning simulated seconds since boot
    send_text : ``send_text(severity, text)``
    broadcast : ``broadcast(message)`` sends a MAVLink message to every GCS
    boot_time_s : simulated seconds before GPS/EKF are ready (home set, arming possible).
        The boot goes through ArduCopter's phases, scaled to this: BOOT heartbeats and
        "Arm: System not initialised" first, then inertial sensors settling ("Arm: Accels
        inconsistent", "Arm: Gyros inconsistent"), then "Arm: Need Position Estimate" until
        "EKF3 IMU0 is using GPS".  Real SITL takes about 40 s; the default 10 s is shorter on
        purpose (less to wait for at speed-up 1), and 0 skips the boot altogether.
    """

    def __init__(self, home, params: ParamTable, now: Callable[[], float],
                 send_text: Callable[[int, str], None], broadcast: Callable[[object], None],
                 boot_time_s: float = 10.0):
        lat, lon, alt, hdg = home
        self.home_lat, self.home_lon, self.home_alt = float(lat), float(lon), float(alt)
        self.params = params
        self.now = now
        self.send_text = send_text
        self.broadcast = broadcast
        self.boot_time_s = boot_time_s
        self.frame = TangentPlane(self.home_lon, self.home_lat)  # lon, lat in; east, north out
        self.k = Kinematics()
        self.k.yaw = float(hdg) % 360
        self.battery = Battery(params["BATT_CAPACITY"], params["SIM_BATT_VOLTAGE"])
        self.ready = False
        self.home_set = False
        self.armed = False
        self.mode = MODES["STABILIZE"]
        self.landed = True
        self.auto_armed = False
        self.mission = ItemList(M.MAV_MISSION_TYPE_MISSION, self.home_tuple)
        self.fence = ItemList(M.MAV_MISSION_TYPE_FENCE, self.home_tuple)
        self.rally = ItemList(M.MAV_MISSION_TYPE_RALLY, self.home_tuple)
        self.mission_current = 0
        self.mission_state = M.MISSION_STATE_NO_MISSION
        self.nav: dict | None = None   # the running NAV command's execution state
        self.jump_counts: dict[int, int] = {}
        self.paused = False
        self.guided_target: Target | None = None
        self.hold_point: tuple[float, float, float] | None = None
        self.rtl: dict | None = None
        self.speed_override: float | None = None
        self.cam_trigg_dist = 0.0
        self.cam_last: tuple[float, float] | None = None
        self.cam_last_time = -1e9
        self.image_count = 0
        self.camera_callbacks: list[Callable[[CameraTrigger], None]] = []
        self.fence_breached: list[str] = []
        self.fence_breach_count = 0
        self.batt_low_since: float | None = None
        self.batt_failsafe = False
        self.armed_on_ground_since: float | None = None
        self.reached: list[int] = []
        self._fence_version = -1
        self._fence_shapes: FenceShapes | None = None
        self.flight_time_s = 0.0
        self.max_alt_rel = 0.0
        self._prearm_reported = 0.0

    # --- positions -----------------------------------------------------------------------------
    def home_tuple(self) -> tuple[float, float, float]:
        if not self.home_set:
            return (0.0, 0.0, 0.0)
        return (self.home_lat, self.home_lon, self.home_alt)

    @property
    def lat_lon(self) -> tuple[float, float]:
        return self.frame.latlon_at(self.k.n, self.k.e)

    @property
    def alt_rel(self) -> float:
        return self.k.u

    @property
    def alt_msl(self) -> float:
        return self.home_alt + self.k.u

    def _item_target_up(self, item: StoredItem) -> float:
        if item.frame == M.MAV_FRAME_GLOBAL:
            return item.z - self.home_alt
        return item.z  # relative; terrain frames are treated as relative (flat world)

    def _item_ne(self, item: StoredItem) -> tuple[float, float]:
        if item.x == 0 and item.y == 0:
            return self.k.n, self.k.e
        e, n = self.frame.to_metric(item.lon, item.lat)
        return n, e

    # --- speeds ---------------------------------------------------------------------------------
    def wp_speed(self) -> float:
        if self.speed_override is not None:
            return self.speed_override
        return self.params["WPNAV_SPEED"] / 100.0

    def _target(self, n, e, up, arrive=0.0, speed=None) -> Target:
        p = self.params
        return Target(n, e, up, speed if speed is not None else self.wp_speed(),
                      p["WPNAV_SPEED_UP"] / 100.0, p["WPNAV_SPEED_DN"] / 100.0, arrive)

    # --- modes -------------------------------------------------------------------------------------
    def set_mode(self, mode: int, reason: str = "GCS") -> str | None:
        """Switch mode; returns None on success, else why not (already sent as STATUSTEXT)."""
        mode = int(mode)
        if mode not in SUPPORTED_MODES:
            msg = f"Mode change failed: mode {mode} not available"
            self.send_text(M.MAV_SEVERITY_WARNING, msg)
            return msg
        name = MODE_NAMES[mode]
        # Copter::set_mode: a disarmed copter may enter any mode (arming checks guard it);
        # armed, a mode needing GPS needs a position and AUTO's init needs a mission
        if self.armed and mode in POSITION_MODES and not self.ready:
            return self._mode_change_failed(name, "requires position")
        if self.armed and mode == MODES["AUTO"]:
            if self.mission.count() <= 1:
                return self._mode_change_failed(name, "init failed")
            if self.landed and not self._mission_starts_with_takeoff():
                self.send_text(M.MAV_SEVERITY_CRITICAL, "Auto: Missing Takeoff Cmd")
                return self._mode_change_failed(name, "init failed")
        prev = self.mode
        self.mode = mode
        self._enter_mode(prev)
        return None

    def _mode_change_failed(self, name: str, reason: str) -> str:
        msg = f"Mode change to {name} failed: {reason}"  # Copter::mode_change_failed
        self.send_text(M.MAV_SEVERITY_WARNING, msg)
        return msg

    def _enter_mode(self, prev: int) -> None:
        self.rtl = None
        self.paused = False
        if self.mode != MODES["GUIDED"]:
            self.guided_target = None
        self.hold_point = (self.k.n, self.k.e, self.k.u)
        if self.mode == MODES["AUTO"]:
            if not self.landed:
                self.auto_armed = True
            if self.armed and self.auto_armed:
                self._start_or_resume()
        elif self.mode in (MODES["RTL"], MODES["SMARTRTL"]):
            self._start_rtl()
        elif self.mode == MODES["LAND"]:
            self.rtl = {"phase": "land"}
        if self.mode != MODES["AUTO"] and self.mission_state == M.MISSION_STATE_ACTIVE:
            self.mission_state = M.MISSION_STATE_PAUSED

    def _mission_starts_with_takeoff(self) -> bool:
        for i in range(1, self.mission.count()):
            it = self.mission.get(i)
            if it.command in NAV_COMMANDS:
                return it.command == M.MAV_CMD_NAV_TAKEOFF
        return False

    # --- arming ---------------------------------------------------------------------------------
    def prearm_failures(self) -> list[str]:
        p = self.params
        out = []
        if not self.ready:
            out.extend(self.boot_refusals())
        if self.mode not in ARMABLE_MODES and not (
                self.mode == MODES["AUTO"] and int(p["AUTO_OPTIONS"]) & 1):
            out.append(f"{MODE_NAMES[self.mode]} mode not armable")
        if int(p["ARMING_CHECK"]) == 0:
            return out
        if p["BATT_ARM_VOLT"] > 0 and self.battery.voltage < p["BATT_ARM_VOLT"]:
            out.append("Battery 1 below minimum arming voltage")
        if p["BATT_ARM_MAH"] > 0 and self.battery.remaining_mah < p["BATT_ARM_MAH"]:
            out.append("Battery 1 below minimum arming capacity")
        if self.batt_failsafe or (p["BATT_LOW_MAH"] > 0
                                  and self.battery.remaining_mah < p["BATT_LOW_MAH"]):
            out.append("Battery 1 low capacity failsafe")
        elif p["BATT_LOW_VOLT"] > 0 and self.battery.voltage < p["BATT_LOW_VOLT"]:
            out.append("Battery 1 low voltage failsafe")
        if int(p["FENCE_ENABLE"]):
            fail = self._fence_prearm_failure()
            if fail:
                out.append(fail)
        return out

    def _fence_prearm_failure(self) -> str | None:
        """The first fence problem, worded and ordered as AC_Fence::pre_arm_check (4.7)."""
        p = self.params
        ftype = int(p["FENCE_TYPE"])
        present = ftype & (1 | 2 | 8)
        if self.fence.count() > 0:
            present |= ftype & 4
        if not present:
            return "Fences enabled, but none selected"
        if ftype & 6 and not self.ready:
            return "Fence requires position"
        if ftype & 4 and self.fence.count() > 0 and self.fence_shapes() is None:
            return "Polygon fence(s) invalid"
        margin, radius = p["FENCE_MARGIN"], p["FENCE_RADIUS"]
        if radius < 0:
            return "Invalid Circle FENCE_RADIUS value"
        if radius < margin:
            return "Circle FENCE_MARGIN is greater than FENCE_RADIUS"
        alt_max, alt_min = p["FENCE_ALT_MAX"], p["FENCE_ALT_MIN"]
        if alt_max < 0:
            return "Invalid FENCE_ALT_MAX value"
        if alt_min < -100:
            return "Invalid FENCE_ALT_MIN value"
        if self.ready:
            breaches = self._current_breaches()
            if breaches:
                return f"Vehicle breaching {fence_names(breaches)}"
        if margin < 0:
            return "Invalid FENCE_MARGIN value"
        if alt_max < alt_min:
            return "FENCE_ALT_MAX < FENCE_ALT_MIN"
        if alt_max - alt_min <= 2 * margin:
            return "FENCE_MARGIN too big"
        return None

    def arm(self, force: bool = False) -> list[str]:
        """Arm; returns the failure texts (already sent as PreArm:/Arm: STATUSTEXT)."""
        if self.armed:
            return []
        fails = [] if force else self.prearm_failures()
        if fails:
            for f in fails:
                # AP_Arming words every failure found while arming "Arm: ..."; "PreArm: ..."
                # is its periodic report while disarmed
                self.send_text(M.MAV_SEVERITY_CRITICAL, f"Arm: {f}")
            return fails
        self.armed = True
        self.send_text(M.MAV_SEVERITY_INFO, "Arming motors")
        self.auto_armed = False
        self.armed_on_ground_since = self.now()
        if self.mission.count() == 0 and self.home_set:
            self.mission.set_items([StoredItem(M.MAV_CMD_NAV_WAYPOINT)])
        if self.mode == MODES["AUTO"]:
            self.auto_armed = True
            self._start_or_resume()
        return []

    def disarm(self, force: bool = False) -> bool:
        if not self.armed:
            return True
        if not self.landed and not force:
            self.send_text(M.MAV_SEVERITY_CRITICAL, "Disarm: vehicle is flying")
            return False
        self.armed = False
        self.send_text(M.MAV_SEVERITY_INFO, "Disarming motors")
        self.auto_armed = False
        self.nav = None
        self.rtl = None
        self.guided_target = None
        if self.mission_state == M.MISSION_STATE_ACTIVE:
            self.mission_state = M.MISSION_STATE_PAUSED
        if not self.landed:  # forced in the air: it falls
            self.k.u = 0.0
            self.landed = True
        self.k.vn = self.k.ve = self.k.vu = 0.0
        return True

    # --- commands --------------------------------------------------------------------------------
    def takeoff(self, alt: float) -> bool:
        if self.mode != MODES["GUIDED"] or not self.armed or not self.landed or alt <= 0:
            return False
        self.guided_target = self._target(self.k.n, self.k.e, alt)
        self.landed = False
        self.auto_armed = True
        self.send_text(M.MAV_SEVERITY_INFO, f"Takeoff to {alt:.1f} m")
        return True

    def guided_goto(self, lat: float, lon: float, alt_rel: float) -> bool:
        if self.mode != MODES["GUIDED"] or not self.armed or self.landed:
            return False
        e, n = self.frame.to_metric(lon, lat)
        self.guided_target = self._target(n, e, alt_rel)
        return True

    def mission_start(self) -> bool:
        if self.mode != MODES["AUTO"] and self.set_mode(MODES["AUTO"]) is not None:
            return False
        self.auto_armed = True
        if self.armed and self.mission_state != M.MISSION_STATE_ACTIVE:
            self._start_or_resume()
        return True

    def pause(self, pause: bool) -> bool:
        if self.mode != MODES["AUTO"] or self.landed:
            return False
        self.paused = pause
        self.hold_point = (self.k.n, self.k.e, self.k.u)
        self.mission_state = M.MISSION_STATE_PAUSED if pause else M.MISSION_STATE_ACTIVE
        return True

    def set_mission_current(self, seq: int) -> bool:
        if not 0 <= seq < max(1, self.mission.count()):
            return False
        seq = max(1, seq) if self.mission.count() > 1 else 0
        self.mission_current = seq
        if self.mode == MODES["AUTO"] and self.mission_state == M.MISSION_STATE_ACTIVE:
            self._begin_from(seq)
        return True

    def change_speed(self, speed: float) -> bool:
        if speed <= 0:
            return False
        self.speed_override = float(speed)
        if self.nav and self.nav.get("target") is not None:
            self.nav["target"].speed = self.speed_override
        if self.guided_target is not None:
            self.guided_target.speed = self.speed_override
        return True

    def set_cam_trigg_dist(self, dist: float, trigger_now: bool = False) -> None:
        if int(self.params["CAM1_TYPE"]) == 0:
            return  # no camera configured: ArduPilot ignores camera commands
        self.cam_trigg_dist = max(0.0, float(dist))
        self.cam_last = None
        if trigger_now:
            self.take_picture()

    # --- camera ---------------------------------------------------------------------------------
    def take_picture(self, at: tuple[float, float, float] | None = None) -> None:
        if int(self.params["CAM1_TYPE"]) == 0:
            return
        t = self.now()
        if t - self.cam_last_time < self.params["CAM1_INTRVAL_MIN"]:
            return
        self.cam_last_time = t
        n, e, u = at if at is not None else (self.k.n, self.k.e, self.k.u)
        lon, lat = self.frame.to_lonlat(e, n)
        self.image_count += 1
        trig = CameraTrigger(self.image_count, int(t * 1e6), lat, lon, self.home_alt + u, u,
                             self.k.roll, self.k.pitch, self.k.yaw)
        self.cam_last = (n, e)
        self.broadcast(M.MAVLink_camera_feedback_message(
            trig.time_usec, 0, 0, trig.img_idx, int(round(lat * 1e7)), int(round(lon * 1e7)),
            trig.alt_msl, trig.alt_rel, trig.roll, trig.pitch, trig.yaw, 0.0,
            M.CAMERA_FEEDBACK_PHOTO, trig.img_idx))
        for cb in list(self.camera_callbacks):
            cb(trig)

    def _camera_distance(self, n0: float, e0: float) -> None:
        if self.cam_trigg_dist <= 0 or not self.armed or self.landed:
            return
        if int(self.params["CAM_AUTO_ONLY"]) and self.mode != MODES["AUTO"]:
            return
        if self.cam_last is None:
            self.cam_last = (n0, e0)
        d = self.cam_trigg_dist
        # several shots may fall inside one step at high speed: place each on the path
        while True:
            ln, le = self.cam_last
            dn, de = self.k.n - n0, self.k.e - e0
            seg = math.hypot(dn, de)
            if math.hypot(self.k.n - ln, self.k.e - le) < d or seg < 1e-9:
                return
            # solve |p0 + s*(p1-p0) - last| = d for s in [0,1]
            fx, fy = n0 - ln, e0 - le
            a = dn * dn + de * de
            b = 2 * (fx * dn + fy * de)
            c = fx * fx + fy * fy - d * d
            disc = max(0.0, b * b - 4 * a * c)
            s = (-b + math.sqrt(disc)) / (2 * a)
            s = min(1.0, max(0.0, s))
            pn, pe = n0 + s * dn, e0 + s * de
            before = self.image_count
            self.take_picture((pn, pe, self.k.u))
            if self.image_count == before:  # held back by the minimum interval
                self.cam_last = (pn, pe)
            n0, e0 = pn, pe

    # --- mission execution ---------------------------------------------------------------------
    def _start_or_resume(self) -> None:
        if self.mission.count() <= 1:
            return
        if self.mission_state in (M.MISSION_STATE_COMPLETE, M.MISSION_STATE_NO_MISSION,
                                  M.MISSION_STATE_NOT_STARTED) or self.mission_current < 1:
            self.jump_counts.clear()
            self._begin_from(1)
        else:
            self._begin_from(self.mission_current)

    def _begin_from(self, seq: int) -> None:
        self.mission_state = M.MISSION_STATE_ACTIVE
        idx = self._advance(seq)
        if idx is None:
            self._mission_complete()
        else:
            self._start_nav(idx)

    def _advance(self, start: int) -> int | None:
        """Run DO commands from ``start`` up to the next NAV command; return its index."""
        i = start
        guard = 0
        while i < self.mission.count():
            guard += 1
            if guard > 2000:
                return None
            it = self.mission.get(i)
            if it.command == M.MAV_CMD_DO_JUMP:
                target, times = int(it.param1), int(it.param2)
                if times < 0:
                    i = target
                    continue
                left = self.jump_counts.setdefault(i, times)
                if left > 0:
                    self.jump_counts[i] = left - 1
                    # as AP_Mission words it (SITL 4.7): "Mission: 4 Jump 1/2"
                    self.send_text(M.MAV_SEVERITY_INFO,
                                   f"Mission: {i} Jump {times - left + 1}/{times}")
                    i = target
                    continue
                i += 1
                continue
            if it.command in NAV_COMMANDS:
                return i
            self._do_command(it)
            i += 1
        return None

    def _do_command(self, it: StoredItem) -> None:
        c = it.command
        if c == M.MAV_CMD_DO_CHANGE_SPEED:
            self.change_speed(it.param2)
        elif c == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            self.set_cam_trigg_dist(it.param1, trigger_now=int(it.param3) == 1)
        elif c == M.MAV_CMD_DO_DIGICAM_CONTROL:
            if int(it.x) == 1:
                self.take_picture()
        elif c == M.MAV_CMD_IMAGE_START_CAPTURE:
            self.take_picture()
        elif c == M.MAV_CMD_DO_FENCE_ENABLE:
            self.params.set("FENCE_ENABLE", 1 if int(it.param1) == 1 else 0)

    def _start_nav(self, idx: int) -> None:
        it = self.mission.get(idx)
        self.mission_current = idx
        self.send_text(M.MAV_SEVERITY_INFO, f"Mission: {idx} {_cmd_short(it.command)}")
        self.broadcast_mission_current()
        c = it.command
        nav = {"index": idx, "item": it, "phase": "goto", "target": None, "t0": None}
        if c == M.MAV_CMD_NAV_TAKEOFF:
            up = max(self._item_target_up(it), 1.0) if it.z > 0 else 1.0
            if not self.landed and self.k.u >= up:
                up = self.k.u
            self.landed = False
            nav["target"] = self._target(self.k.n, self.k.e, up)
        elif c == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self._start_rtl()
            nav["phase"] = "rtl"
        elif c == M.MAV_CMD_NAV_LAND:
            n, e = self._item_ne(it)
            nav["target"] = self._target(n, e, self.k.u)
            nav["phase"] = "land_goto"
        else:
            n, e = self._item_ne(it)
            up = self._item_target_up(it) if (it.x or it.y or it.z) else self.k.u
            if c == M.MAV_CMD_NAV_LOITER_TURNS or c == M.MAV_CMD_NAV_LOITER_UNLIM:
                pass
            nav["target"] = self._target(n, e, up, arrive=self._arrive_speed(idx, n, e))
        self.nav = nav

    def _arrive_speed(self, idx: int, n: float, e: float) -> float:
        """Speed to pass a plain waypoint at: full on a straight line, less at a corner."""
        it = self.mission.get(idx)
        if it.command != M.MAV_CMD_NAV_WAYPOINT or it.param1 > 0:
            return 0.0
        j = idx + 1
        while j < self.mission.count():
            nxt = self.mission.get(j)
            if nxt.command in NAV_COMMANDS:
                break
            if nxt.command == M.MAV_CMD_DO_JUMP:
                return 0.0
            j += 1
        else:
            return 0.0
        if nxt.command != M.MAV_CMD_NAV_WAYPOINT:
            return 0.0
        n2, e2 = self._item_ne(nxt) if (nxt.x or nxt.y) else (n, e)
        a1 = math.atan2(e - self.k.e, n - self.k.n)
        a2 = math.atan2(e2 - e, n2 - n)
        turn = abs((a2 - a1 + math.pi) % (2 * math.pi) - math.pi)
        return self.wp_speed() * max(0.0, math.cos(turn)) if turn < math.pi / 2 else 0.0

    def _nav_done(self) -> None:
        idx = self.nav["index"]
        self.reached.append(idx)
        self.broadcast(M.MAVLink_mission_item_reached_message(idx))
        if self.mission.get(idx).command in (M.MAV_CMD_NAV_WAYPOINT,
                                             M.MAV_CMD_NAV_SPLINE_WAYPOINT):
            # ArduCopter says this for waypoints only (not takeoff, loiter, RTL)
            self.send_text(M.MAV_SEVERITY_INFO, f"Reached command #{idx}")
        self.nav = None
        nxt = self._advance(idx + 1)
        if nxt is None:
            self._mission_complete()
        else:
            self._start_nav(nxt)

    def _mission_complete(self) -> None:
        self.nav = None
        self.mission_state = M.MISSION_STATE_COMPLETE
        self.hold_point = (self.k.n, self.k.e, self.k.u)
        self.broadcast_mission_current()

    def broadcast_mission_current(self) -> None:
        self.broadcast(self.mission_current_message())

    def mission_current_message(self):
        total = max(0, self.mission.count() - 1)
        state = self.mission_state
        if self.mission.count() <= 1:
            state = M.MISSION_STATE_NO_MISSION
        elif state == M.MISSION_STATE_NO_MISSION:
            state = M.MISSION_STATE_NOT_STARTED
        return M.MAVLink_mission_current_message(
            self.mission_current, total, state, 1 if self.mode == MODES["AUTO"] else 0)

    # --- RTL / land ---------------------------------------------------------------------------
    def _start_rtl(self) -> None:
        rtl_alt = max(self.params["RTL_ALT"] / 100.0, self.k.u)
        self.rtl = {"phase": "climb", "alt": rtl_alt, "t0": None}

    def _rtl_target(self) -> tuple[Target | None, bool]:
        """Target for the RTL/LAND sequence, and whether it has landed."""
        r = self.rtl
        p = self.params
        speed = p["RTL_SPEED"] / 100.0 if p["RTL_SPEED"] > 0 else self.wp_speed()
        if r["phase"] == "climb":
            if self.k.u >= r["alt"] - 0.2 or self.landed:
                r["phase"] = "return"
            else:
                return self._target(self.k.n, self.k.e, r["alt"]), False
        if r["phase"] == "return":
            if math.hypot(self.k.n, self.k.e) < 1.0 and self.k.groundspeed < 0.5:
                r["phase"] = "loiter"
                r["t0"] = self.now()
            else:
                return self._target(0.0, 0.0, r["alt"], speed=speed), False
        if r["phase"] == "loiter":
            if self.now() - r["t0"] >= p["RTL_LOIT_TIME"] / 1000.0:
                final = p["RTL_ALT_FINAL"] / 100.0
                r["phase"] = "final" if final > 0 else "land"
            else:
                return self._target(0.0, 0.0, r["alt"]), False
        if r["phase"] == "final":
            return self._target(0.0, 0.0, p["RTL_ALT_FINAL"] / 100.0), False
        # land: straight down where we are
        low = p["LAND_ALT_LOW"] / 100.0
        high_speed = p["LAND_SPEED_HIGH"] / 100.0 or p["WPNAV_SPEED_DN"] / 100.0
        speed_dn = high_speed if self.k.u > low else p["LAND_SPEED"] / 100.0
        if self.k.u <= 0.02:
            return None, True
        t = self._target(self.k.n, self.k.e, -1.0)
        t.descent = speed_dn
        return t, False

    # --- failsafes --------------------------------------------------------------------------------
    def fence_shapes(self) -> FenceShapes | None:
        if self._fence_version == self.fence.version:
            return self._fence_shapes
        self._fence_version = self.fence.version
        shapes = FenceShapes([], [], [], [])
        items = self.fence.items
        i = 0
        ok = True
        while i < len(items):
            it = items[i]
            c = it.command
            if c in (M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                     M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                nv = int(it.param1)
                poly = [self.frame.to_metric(v.lon, v.lat)[::-1] for v in items[i:i + nv]]  # (n, e)
                if nv < 3 or len(poly) < nv:
                    ok = False
                    break
                (shapes.inclusion_polygons if c == M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
                 else shapes.exclusion_polygons).append(poly)
                i += nv
                continue
            e, n = self.frame.to_metric(it.lon, it.lat)
            if c == M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION:
                shapes.inclusion_circles.append((n, e, it.param1))
            elif c == M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION:
                shapes.exclusion_circles.append((n, e, it.param1))
            elif c == M.MAV_CMD_NAV_FENCE_RETURN_POINT:
                shapes.return_point = (n, e)
            i += 1
        self._fence_shapes = shapes if ok else None
        return self._fence_shapes

    def _current_breaches(self) -> list[str]:
        p = self.params
        ftype = int(p["FENCE_TYPE"])
        out = []
        if ftype & 1 and self.k.u > p["FENCE_ALT_MAX"]:
            out.append("Max Alt")
        if ftype & 2 and math.hypot(self.k.n, self.k.e) > p["FENCE_RADIUS"]:
            out.append("Circle")
        shapes = self.fence_shapes()
        if ftype & 4 and shapes is not None:
            for b in shapes.breaches(self.k.n, self.k.e):
                if b == "Circle" and "Circle" in out:
                    continue
                out.append(b)
        return out

    def _check_fence(self) -> None:
        if not int(self.params["FENCE_ENABLE"]) or not self.armed or self.landed:
            self.fence_breached = []
            return
        breaches = self._current_breaches()
        new = [b for b in breaches if b not in self.fence_breached]
        self.fence_breached = breaches
        if not new:
            return
        self.fence_breach_count += 1
        self.send_text(M.MAV_SEVERITY_NOTICE, f"{fence_names(new)} breached")
        action = int(self.params["FENCE_ACTION"])
        if action == 0 or self.mode in (MODES["RTL"], MODES["LAND"]):
            return
        if action == 2:
            self.set_mode(MODES["LAND"], "fence")
        elif action == 4:
            self.set_mode(MODES["BRAKE"], "fence")
        elif self.set_mode(MODES["RTL"], "fence") is not None:
            self.set_mode(MODES["LAND"], "fence")

    def _check_battery(self) -> None:
        p = self.params
        if self.batt_failsafe or not self.armed:
            return
        now = self.now()
        low_mah = p["BATT_LOW_MAH"] > 0 and self.battery.remaining_mah < p["BATT_LOW_MAH"]
        low_volt = False
        if p["BATT_LOW_VOLT"] > 0 and self.battery.voltage < p["BATT_LOW_VOLT"]:
            if self.batt_low_since is None:
                self.batt_low_since = now
            low_volt = now - self.batt_low_since >= p["BATT_LOW_TIMER"]
        else:
            self.batt_low_since = None
        if not (low_mah or low_volt):
            return
        self.batt_failsafe = True
        self.send_text(M.MAV_SEVERITY_CRITICAL,
                       f"Battery 1 is low {self.battery.voltage:.2f}V used "
                       f"{self.battery.consumed_mah:.0f} mAh")
        action = int(p["BATT_FS_LOW_ACT"])
        if action == 0 or self.landed:
            return
        if action in (1, 4, 7):
            self.set_mode(MODES["LAND"], "battery")
        elif action in (2, 3, 6):
            if self.set_mode(MODES["RTL"], "battery") is not None:
                self.set_mode(MODES["LAND"], "battery")

    # --- the step ---------------------------------------------------------------------------------
    def boot_phase(self) -> str:
        """"init", "imu" (sensors settling), "ekf" (waiting for GPS) or "ready"."""
        if self.ready:
            return "ready"
        t, boot = self.now(), self.boot_time_s
        if t < min(1.5, 0.05 * boot):
            return "init"
        return "imu" if t < 0.5 * boot else "ekf"

    def boot_refusals(self) -> list[str]:
        """Why a booting copter will not arm, in ArduCopter 4.7's words and order."""
        phase = self.boot_phase()
        if phase == "init":
            return ["System not initialised"]
        out = []
        t, boot = self.now(), self.boot_time_s
        if phase == "imu":
            out.append("Accels inconsistent" if t < 0.3 * boot else "Gyros inconsistent")
        # once the EKF has an origin (about 45 % into SITL's boot) a position mode asks for
        # a position estimate, until the EKF uses GPS
        if t >= 0.45 * boot and (self.mode in POSITION_MODES or not out):
            out.append("Need Position Estimate")
        return out

    def _report_prearm(self) -> None:
        """AP_Arming's periodic report while disarmed: the first failing check, every 30 s."""
        if self.armed or self.boot_phase() == "init" or self.now() - self._prearm_reported < 30:
            return
        self._prearm_reported = self.now()
        fails = self.prearm_failures()
        if fails:
            self.send_text(M.MAV_SEVERITY_CRITICAL, f"PreArm: {fails[0]}")

    def boot_check(self) -> None:
        if not self.ready and self.now() >= self.boot_time_s:
            self.ready = True
            self.home_set = True
            if self.mission.count() == 0:
                self.mission.set_items([StoredItem(M.MAV_CMD_NAV_WAYPOINT)])
            self.send_text(M.MAV_SEVERITY_INFO, "EKF3 IMU0 is using GPS")
            self.broadcast(self.home_position_message())

    def step(self, dt: float) -> None:
        """Advance the whole vehicle ``dt`` simulated seconds."""
        self.boot_check()
        self._report_prearm()
        p = self.params
        wind = wind_vector(p["SIM_WIND_SPD"], p["SIM_WIND_DIR"])
        target, yaw_target = self._navigate()
        n0, e0 = self.k.n, self.k.e
        if self.armed and not self.landed:
            self.k.step(dt, target, p["WPNAV_ACCEL"] / 100.0, p["WPNAV_ACCEL_Z"] / 100.0, wind,
                        yaw_target)
            if self.k.u <= 0.0 and self.k.vu <= 0.0:
                self.k.u = 0.0
                self.k.vn = self.k.ve = self.k.vu = 0.0
                self._touchdown()
            self.flight_time_s += dt
            self.max_alt_rel = max(self.max_alt_rel, self.k.u)
        air = self.k.air_velocity(wind) if not self.landed else (0.0, 0.0)
        self.battery.capacity_mah = p["BATT_CAPACITY"]
        self.battery.step(dt, self.armed, not self.landed, math.hypot(*air), self.k.vu)
        self._camera_distance(n0, e0)
        self._verify_nav()
        self._check_fence()
        self._check_battery()
        self._auto_disarm()

    def _touchdown(self) -> None:
        self.landed = True
        landing = (self.rtl is not None and self.rtl.get("phase") == "land") or (
            self.nav is not None and self.nav.get("phase") == "land")
        if landing or self.mode in (MODES["LAND"], MODES["RTL"]):
            if self.nav is not None and self.mode == MODES["AUTO"]:
                idx = self.nav["index"]
                if self.mission.get(idx).command == M.MAV_CMD_NAV_LAND:
                    # ArduCopter disarms on touchdown before its NAV_LAND is verified: no
                    # MISSION_ITEM_REACHED for it (an RTL item is reported; seen on SITL 4.7)
                    self.reached.append(idx)
                    self._mission_complete()
                else:
                    self._nav_done()
            self.disarm()  # "Disarming motors"; ArduCopter says nothing more
            if self.mode == MODES["AUTO"]:
                self.mission_state = M.MISSION_STATE_COMPLETE
                if self.mission.count() > 1:
                    # disarmed after a finished mission, ArduPilot rewinds it to item 1
                    self.mission_current = 1
                    self.broadcast_mission_current()

    def _auto_disarm(self) -> None:
        delay = self.params["DISARM_DELAY"]
        if not self.armed or not self.landed:
            self.armed_on_ground_since = None
            return
        if self.armed_on_ground_since is None:
            self.armed_on_ground_since = self.now()
        if delay > 0 and self.now() - self.armed_on_ground_since >= delay:
            self.disarm()

    def _navigate(self) -> tuple[Target | None, float | None]:
        if not self.armed or self.landed and not self._wants_takeoff():
            return None, None
        if self.mode == MODES["GUIDED"]:
            return self.guided_target or self._hold(), None
        if self.rtl is not None:
            t, done = self._rtl_target()
            return t, None
        if self.mode == MODES["AUTO"]:
            if self.paused or self.nav is None:
                return self._hold(), None
            nav = self.nav
            if nav["phase"] == "rtl":
                return None, None
            if nav["phase"] == "circle":
                return None, None
            if nav["phase"] == "land":
                t = self._target(self.k.n, self.k.e, -1.0)
                p = self.params
                low = p["LAND_ALT_LOW"] / 100.0
                t.descent = (p["LAND_SPEED_HIGH"] / 100.0 or p["WPNAV_SPEED_DN"] / 100.0) \
                    if self.k.u > low else p["LAND_SPEED"] / 100.0
                return t, None
            if nav["phase"] == "hold":
                tgt = nav["target"]
                return self._target(tgt.north, tgt.east, tgt.up), None
            return nav["target"], None
        return self._hold(), None

    def _wants_takeoff(self) -> bool:
        if self.mode == MODES["GUIDED"]:
            return self.guided_target is not None
        if self.mode == MODES["AUTO"] and self.nav is not None:
            return self.nav["item"].command == M.MAV_CMD_NAV_TAKEOFF
        return False

    def _hold(self) -> Target:
        if self.hold_point is None:
            self.hold_point = (self.k.n, self.k.e, self.k.u)
        n, e, u = self.hold_point
        return self._target(n, e, u)

    def _verify_nav(self) -> None:
        if self.rtl is not None and self.mode != MODES["AUTO"]:
            return
        if self.mode != MODES["AUTO"] or self.nav is None or not self.armed or self.paused:
            return
        nav = self.nav
        it = nav["item"]
        c = it.command
        t = self.now()
        radius = max(0.5, self.params["WPNAV_RADIUS"] / 100.0)
        if nav["phase"] == "rtl":
            # RTL inside a mission: handled by the RTL sequence; completes on touchdown
            return
        tgt = nav["target"]
        if nav["phase"] in ("goto", "land_goto"):
            dh, dv = self.k.distance_to(tgt)
            if c == M.MAV_CMD_NAV_TAKEOFF:
                if self.k.u >= tgt.up - 0.2:
                    self._nav_done()
                return
            arrived = dh <= radius and abs(dv) <= 1.0
            if tgt.arrive_speed == 0.0:
                arrived = arrived and self.k.groundspeed < max(1.0, 0.3 * self.wp_speed())
            if not arrived:
                return
            if nav["phase"] == "land_goto":
                nav["phase"] = "land"
                return
            if c == M.MAV_CMD_NAV_WAYPOINT and it.param1 > 0 or c == M.MAV_CMD_NAV_LOITER_TIME:
                nav["phase"] = "hold"
                nav["t0"] = t
                return
            if c == M.MAV_CMD_NAV_LOITER_TURNS:
                self._start_circle(nav)
                return
            if c == M.MAV_CMD_NAV_LOITER_UNLIM:
                nav["phase"] = "hold"
                nav["t0"] = math.inf
                return
            self._nav_done()
        elif nav["phase"] == "hold":
            if t - nav["t0"] >= it.param1:
                self._nav_done()
        elif nav["phase"] == "to_edge":
            dh, dv = self.k.distance_to(tgt)
            if dh <= radius and self.k.groundspeed < 1.0:
                nav.update(phase="circle", t_last=t)
        elif nav["phase"] == "circle":
            self._circle_step(nav)

    def _start_circle(self, nav: dict) -> None:
        """Arrived over the loiter centre: fly out to the circle's edge, then circle."""
        it = nav["item"]
        r = abs(it.param3) if it.param3 else self.params["CIRCLE_RADIUS"] / 100.0
        c = nav["target"]
        angle = math.radians(self.k.yaw)
        nav.update(center=(c.north, c.east, c.up), radius=max(r, 0.0), turned=0.0,
                   angle=angle, ccw=it.param3 < 0, turns=max(1.0, it.param1))
        if r <= 0:
            nav.update(phase="circle", t_last=self.now())
            return
        nav["phase"] = "to_edge"
        nav["target"] = self._target(c.north + r * math.cos(angle), c.east + r * math.sin(angle),
                                     c.up)

    def _circle_step(self, nav: dict) -> None:
        t = self.now()
        dt = t - nav["t_last"]
        nav["t_last"] = t
        r = nav["radius"]
        speed = self.wp_speed()
        omega = math.radians(self.params["CIRCLE_RATE"])
        if r > 0:
            omega = min(omega, speed / r)
        d = omega * dt
        nav["turned"] += d
        nav["angle"] += -d if nav["ccw"] else d
        cn, ce, _ = nav["center"]
        n0, e0 = self.k.n, self.k.e
        self.k.n = cn + r * math.cos(nav["angle"])
        self.k.e = ce + r * math.sin(nav["angle"])
        if dt > 0:
            self.k.vn, self.k.ve = (self.k.n - n0) / dt, (self.k.e - e0) / dt
        if nav["turned"] >= nav["turns"] * 2 * math.pi:
            self._nav_done()

    # --- telemetry builders ------------------------------------------------------------------
    def home_position_message(self):
        lat, lon, alt = self.home_tuple()
        return M.MAVLink_home_position_message(
            int(round(lat * 1e7)), int(round(lon * 1e7)), int(round(alt * 1000)), 0, 0, 0,
            [1.0, 0.0, 0.0, 0.0], 0, 0, 0, int(self.now() * 1e6))

    def base_mode(self) -> int:
        b = M.MAV_MODE_FLAG_STABILIZE_ENABLED | M.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED \
            | M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        if self.mode in GUIDED_FLAG_MODES:
            b |= M.MAV_MODE_FLAG_GUIDED_ENABLED
        if self.armed:
            b |= M.MAV_MODE_FLAG_SAFETY_ARMED
        return b

    def system_status(self) -> int:
        if self.boot_phase() == "init":
            return M.MAV_STATE_BOOT
        if self.batt_failsafe or self.fence_breached:
            return M.MAV_STATE_CRITICAL
        return M.MAV_STATE_ACTIVE if self.armed else M.MAV_STATE_STANDBY


FENCE_ORDER = ("Max Alt", "Circle", "Polygon", "Min Alt")  # AC_Fence's bit order


def fence_names(kinds: list[str]) -> str:
    """"Circle fence", "Max Alt and Polygon fences"... as AC_Fence::get_fence_names words it."""
    names = [k for k in FENCE_ORDER if k in kinds]
    if not names:
        return ""
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return text + (" fences" if len(names) > 1 else " fence")


def _cmd_short(cmd: int) -> str:
    entry = M.enums["MAV_CMD"].get(cmd)
    name = entry.name if entry else str(cmd)
    return name.removeprefix("MAV_CMD_NAV_").removeprefix("MAV_CMD_").title().replace("_", "")
