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

from uav.geo import TangentPlane

from .failsafes import Failsafes
from .flight import Battery, FenceShapes, Kinematics, Target, wind_vector
from .mission_protocol import ItemList
from .mission_runner import MissionRunner
from .modes import (  # noqa: F401 - the names the rest of the package imports from here
    ARMABLE_MODES,
    FENCE_ORDER,
    GUIDED_FLAG_MODES,
    MODE_NAMES,
    MODES,
    POSITION_MODES,
    SUPPORTED_MODES,
    CameraTrigger,
    M,
    fence_names,
)
from .params import ParamTable
from .storage import NAV_COMMANDS, StoredItem


class Vehicle(MissionRunner, Failsafes):
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
        if self.destination_outside_fence(n, e, alt_rel):
            return False
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
